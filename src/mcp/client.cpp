// McpClient: the MCP lifecycle (initialize, notifications/initialized, restart on death) over a
// Connection, tools/list and tools/call; the Tool adapter, name resolution and ConnectMcpServers.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

#include "mcp/connection.h"
#include "tfgrpo/mcp.h"
#include "tfgrpo/secrets.h"
#include "tfgrpo/version.h"

namespace tfgrpo {

using mcp_internal::Clock;
using mcp_internal::Connection;
using mcp_internal::RpcReply;
using nlohmann::json;

namespace {

bool IsToolNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

std::string SafeToolName(const std::string& name) {
  std::string out;
  for (char c : name) out += IsToolNameChar(c) ? c : '_';
  if (out.empty()) out = "_";
  if (out.size() > 64) out.resize(64);
  return out;
}

// Nesting depth of `value` (a scalar is 0), counting stops past `limit`.
int JsonDepth(const json& value, int limit) {
  if (!value.is_structured() || limit < 0) return 0;
  int deepest = 0;
  for (const auto& child : value) {
    deepest = std::max(deepest, JsonDepth(child, limit - 1));
    if (deepest >= limit) break;
  }
  return deepest + 1;
}

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

// Base64 text's decoded size, for describing binary content without decoding it.
size_t Base64DecodedSize(const std::string& data) {
  size_t chars = 0;
  for (char c : data)
    if (c != '=' && c != '\n' && c != '\r' && c != ' ') ++chars;
  return chars * 3 / 4;
}

std::string StringField(const json& object, const char* key) {
  if (object.is_object() && object.contains(key) && object[key].is_string()) return object[key].get<std::string>();
  return "";
}

std::string DescribeContent(const json& item) {
  const std::string type = StringField(item, "type");
  if (type == "text") return StringField(item, "text");
  if (type == "image" || type == "audio") {
    std::string mime = StringField(item, "mimeType");
    return "[" + type + ": " + (mime.empty() ? "unknown type" : mime) + ", " +
           std::to_string(Base64DecodedSize(StringField(item, "data"))) + " bytes]";
  }
  if (type == "resource_link") {
    std::string out = "[resource link: " + StringField(item, "uri");
    if (!StringField(item, "name").empty()) out += " (" + StringField(item, "name") + ")";
    return out + "]";
  }
  if (type == "resource" && item.contains("resource") && item["resource"].is_object()) {
    const json& resource = item["resource"];
    const std::string uri = StringField(resource, "uri");
    if (resource.contains("text") && resource["text"].is_string())
      return "[resource: " + uri + "]\n" + resource["text"].get<std::string>();
    std::string mime = StringField(resource, "mimeType");
    return "[resource: " + uri + ", " + (mime.empty() ? "binary" : mime) + ", " +
           std::to_string(Base64DecodedSize(StringField(resource, "blob"))) + " bytes]";
  }
  return "[" + (type.empty() ? std::string("unknown") : type) + " content]";
}

}  // namespace

Status ValidateMcpServerConfig(const McpServerConfig& c) {
  const std::string where = "tools.mcp server '" + c.name + "': ";
  if (c.name.empty()) return Status::InvalidArgument("tools.mcp: a server has no name");
  if (c.name.size() > 64 || !std::all_of(c.name.begin(), c.name.end(), IsToolNameChar))
    return Status::InvalidArgument("tools.mcp: server name '" + c.name + "' must match [A-Za-z0-9_-]{1,64}");
  const bool stdio = !c.command.empty(), http = !c.url.empty();
  if (stdio == http)
    return Status::InvalidArgument(where + "set exactly one of command (stdio) and url (streamable HTTP)");
  if (stdio && c.command[0].empty()) return Status::InvalidArgument(where + "command[0] is empty");
  if (http && c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0)
    return Status::InvalidArgument(where + "url must start with http:// or https://, got '" + c.url + "'");
  if (stdio && !c.headers_env.empty()) return Status::InvalidArgument(where + "headers_env needs url");
  if (http && !c.env.empty()) return Status::InvalidArgument(where + "env needs command (stdio)");
  for (const auto& [header, var] : c.headers_env)
    if (header.empty() || var.empty())
      return Status::InvalidArgument(where + "headers_env needs a header name and an env var name");
  for (const auto& [key, value] : c.env)
    if (key.empty() || key.find('=') != std::string::npos)
      return Status::InvalidArgument(where + "env key '" + key + "' is not a variable name");
  return Status::Ok();
}

ToolOutput RenderMcpToolResult(const json& result, size_t max_output_bytes) {
  ToolOutput out;
  out.is_error = result.is_object() && result.contains("isError") && result["isError"].is_boolean() &&
                 result["isError"].get<bool>();
  bool first = true;
  if (result.is_object() && result.contains("content") && result["content"].is_array()) {
    for (const auto& item : result["content"]) {
      if (!first) out.text += '\n';
      out.text += DescribeContent(item);
      first = false;
    }
  }
  if (first && result.is_object() && result.contains("structuredContent"))
    out.text = result["structuredContent"].dump();
  if (out.text.size() > max_output_bytes) {
    out.text.resize(max_output_bytes);
    out.text += "\n[output cut at " + std::to_string(max_output_bytes) + " bytes]";
  }
  return out;
}

struct McpClient::Impl {
  McpServerConfig config;
  McpOptions options;
  std::mutex mu;  // connection, protocol_version, last_stderr
  std::shared_ptr<Connection> connection;
  std::string protocol_version;
  std::string last_stderr;
  std::atomic<int64_t> starts{0}, calls{0}, timeouts{0}, garbage_of_dead{0};

  std::string Where() const {
    std::string where = "mcp server '" + config.name + "' (";
    where += config.url.empty() ? "command `" + mcp_internal::JoinCommand(config.command) + "`" : "url " + config.url;
    return where + ")";
  }

  static std::string WithStderr(std::string message, const std::string& tail) {
    std::string t = tail;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    if (!t.empty()) message += "; its stderr ends: " + t;
    return message;
  }

  Status Initialize(Connection& c) {
    json params = {{"protocolVersion", kMcpProtocolVersions[0]},
                   {"capabilities", json::object()},
                   {"clientInfo", {{"name", "tfgrpo"}, {"version", std::string(kVersion)}}}};
    auto reply = c.Request("initialize", params, mcp_internal::After(options.startup_timeout_s), nullptr);
    if (!reply.ok()) {
      if (reply.status().code() == Status::Code::kTimeout)
        return Status::Unavailable("no reply to initialize within " + FormatSeconds(options.startup_timeout_s) + "s");
      return Status::Unavailable("initialize failed: " + reply.status().message());
    }
    if (reply->is_error)
      return Status::Unavailable("initialize was refused: " + std::to_string(reply->error_code) + " " +
                                 reply->error_message);
    const std::string version = StringField(reply->result, "protocolVersion");
    const bool supported = std::any_of(std::begin(kMcpProtocolVersions), std::end(kMcpProtocolVersions),
                                       [&](const char* v) { return version == v; });
    if (!supported) {
      std::string ours;
      for (const char* v : kMcpProtocolVersions) ours += (ours.empty() ? "" : ", ") + std::string(v);
      return Status::Unavailable("the server speaks MCP protocol version '" + version + "'; tfgrpo speaks " + ours);
    }
    c.Initialized(version);
    Status notified = c.Notify("notifications/initialized", nullptr);
    if (!notified.ok()) return Status::Unavailable("sending notifications/initialized: " + notified.message());
    protocol_version = version;
    return Status::Ok();
  }

  // The live, initialized connection, (re)starting the server when there is none.
  Result<std::shared_ptr<Connection>> Ready() {
    std::lock_guard lock(mu);
    if (connection && connection->Alive()) return connection;
    const bool restarting = connection != nullptr;
    if (connection) {
      garbage_of_dead += connection->GarbageLines();
      last_stderr = connection->StderrTail();
      connection->Close();
      connection.reset();
    }
    auto opened = config.url.empty() ? mcp_internal::StartStdioConnection(config, options)
                                     : mcp_internal::OpenHttpConnection(config, options);
    if (!opened.ok()) {
      Status s = opened.status();
      if (s.code() == Status::Code::kInvalidArgument) return s.WithContext(Where());
      return Status::Unavailable(Where() + ": " + s.message());
    }
    std::shared_ptr<Connection> fresh = std::move(*opened);
    Status initialized = Initialize(*fresh);
    if (!initialized.ok()) {
      std::string tail = fresh->StderrTail();
      garbage_of_dead += fresh->GarbageLines();
      fresh->Close();
      if (tail.empty()) tail = fresh->StderrTail();
      return Status::Unavailable(WithStderr(Where() + ": " + initialized.message(), tail));
    }
    ++starts;
    if (restarting) spdlog::warn("{}: the connection was lost; restarted and re-initialized", Where());
    connection = fresh;
    return connection;
  }
};

McpClient::McpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
McpClient::~McpClient() { Stop(); }

Result<std::shared_ptr<McpClient>> McpClient::Connect(const McpServerConfig& config, const McpOptions& options) {
  Status valid = ValidateMcpServerConfig(config);
  if (!valid.ok()) return valid;
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->options = options;
  std::shared_ptr<McpClient> client(new McpClient(std::move(impl)));
  auto ready = client->impl_->Ready();
  if (!ready.ok()) return ready.status();
  return client;
}

const McpServerConfig& McpClient::config() const { return impl_->config; }

std::string McpClient::protocol_version() const {
  std::lock_guard lock(impl_->mu);
  return impl_->protocol_version;
}

Result<std::vector<McpToolInfo>> McpClient::ListTools() {
  std::vector<McpToolInfo> tools;
  std::string cursor;
  size_t total_bytes = 0;
  for (int page = 0;; ++page) {
    if (page >= 1000) return Status::ProviderError(impl_->Where() + ": tools/list went on past 1000 pages");
    auto connection = impl_->Ready();
    if (!connection.ok()) return connection.status();
    json params = cursor.empty() ? json::object() : json{{"cursor", cursor}};
    auto reply = (*connection)->Request("tools/list", params, mcp_internal::After(impl_->options.startup_timeout_s), nullptr);
    if (!reply.ok()) {
      if (reply.status().code() == Status::Code::kNotFound && page == 0) continue;  // session renewed
      return Status::Unavailable(Impl::WithStderr(impl_->Where() + ": tools/list: " + reply.status().message(),
                                                  (*connection)->StderrTail()));
    }
    if (reply->is_error) {
      if (reply->error_code == -32601 && tools.empty()) return tools;  // offers no tools at all
      return Status::ProviderError(impl_->Where() + ": tools/list failed: " + std::to_string(reply->error_code) +
                                   " " + reply->error_message);
    }
    const json& result = reply->result;
    if (!result.is_object() || !result.contains("tools") || !result["tools"].is_array())
      return Status::ProviderError(impl_->Where() + ": tools/list result has no tools array");
    for (const auto& t : result["tools"]) {
      total_bytes += t.dump().size();
      if (total_bytes > kMaxMcpToolListBytes)
        return Status::ProviderError(impl_->Where() + ": tools/list: the tool definitions are larger than " +
                                     std::to_string(kMaxMcpToolListBytes >> 20) + " MiB");
      McpToolInfo info;
      info.name = StringField(t, "name");
      if (info.name.empty())
        return Status::ProviderError(impl_->Where() + ": tools/list offers a tool without a name");
      info.description = StringField(t, "description");
      if (info.description.empty()) info.description = StringField(t, "title");
      if (t.contains("inputSchema") && t["inputSchema"].is_object()) info.input_schema = t["inputSchema"];
      if (JsonDepth(info.input_schema, kMaxMcpSchemaDepth) > kMaxMcpSchemaDepth)
        return Status::ProviderError(impl_->Where() + ": tools/list: the inputSchema of tool '" + info.name +
                                     "' is nested deeper than " + std::to_string(kMaxMcpSchemaDepth) + " levels");
      if (!info.input_schema.contains("type")) info.input_schema["type"] = "object";
      tools.push_back(std::move(info));
    }
    cursor = StringField(result, "nextCursor");
    if (cursor.empty()) break;
  }
  return tools;
}

Result<ToolOutput> McpClient::CallTool(const std::string& name, const json& arguments) {
  const std::string what = "mcp server '" + impl_->config.name + "', tool '" + name + "'";
  for (int attempt = 0;; ++attempt) {
    auto connection = impl_->Ready();
    if (!connection.ok()) return connection.status();
    ++impl_->calls;
    int64_t id = 0;
    json params = {{"name", name}, {"arguments", arguments.is_object() ? arguments : json::object()}};
    auto reply = (*connection)->Request("tools/call", params, mcp_internal::After(impl_->options.call_timeout_s), &id);
    if (reply.ok()) {
      if (reply->is_error)
        return ToolOutput{what + ": error " + std::to_string(reply->error_code) + ": " + reply->error_message, true};
      ToolOutput out = RenderMcpToolResult(reply->result, impl_->options.max_output_bytes);
      out.text = RedactRunSecrets(std::move(out.text));
      return out;
    }
    const Status& s = reply.status();
    if (s.code() == Status::Code::kTimeout) {
      ++impl_->timeouts;
      (void)(*connection)->Notify("notifications/cancelled",
                                  {{"requestId", id}, {"reason", "timed out after " + FormatSeconds(impl_->options.call_timeout_s) + "s"}});
      return ToolOutput{what + ": no reply within " + FormatSeconds(impl_->options.call_timeout_s) +
                            "s (tools.timeout_s); the call was cancelled",
                        true};
    }
    // An expired HTTP session: the request was not processed, so it is safe to send again.
    if (s.code() == Status::Code::kNotFound && attempt == 0) continue;
    return ToolOutput{Impl::WithStderr(what + ": the call failed: " + RedactRunSecrets(s.message()) +
                                           " (the server is restarted on the next call)",
                                       (*connection)->StderrTail()),
                      true};
  }
}

void McpClient::Stop() {
  std::shared_ptr<Connection> connection;
  {
    std::lock_guard lock(impl_->mu);
    connection = std::move(impl_->connection);
  }
  if (connection) {
    impl_->garbage_of_dead += connection->GarbageLines();
    connection->Close();
    std::lock_guard lock(impl_->mu);
    impl_->last_stderr = connection->StderrTail();
  }
}

McpStats McpClient::stats() const {
  McpStats s;
  s.starts = impl_->starts.load();
  s.calls = impl_->calls.load();
  s.timeouts = impl_->timeouts.load();
  std::lock_guard lock(impl_->mu);
  s.garbage_lines = impl_->garbage_of_dead.load() + (impl_->connection ? impl_->connection->GarbageLines() : 0);
  return s;
}

std::string McpClient::stderr_tail() const {
  std::lock_guard lock(impl_->mu);
  return impl_->connection ? impl_->connection->StderrTail() : impl_->last_stderr;
}

Result<std::vector<std::string>> ResolveMcpToolNames(const std::vector<McpOfferedTool>& offered,
                                                     const std::set<std::string>& taken) {
  std::map<std::string, std::set<std::string>> servers_by_name;
  for (const auto& o : offered) servers_by_name[SafeToolName(o.tool)].insert(o.server);
  std::vector<std::string> names;
  std::map<std::string, size_t> owner;  // final name -> index in offered
  for (size_t i = 0; i < offered.size(); ++i) {
    std::string name = SafeToolName(offered[i].tool);
    if (servers_by_name[name].size() > 1 || taken.count(name)) name = SafeToolName(offered[i].server + "_" + offered[i].tool);
    auto describe = [&](size_t j) { return "'" + offered[j].tool + "' of mcp server '" + offered[j].server + "'"; };
    if (taken.count(name))
      return Status::InvalidArgument("mcp tool " + describe(i) + " would be named '" + name +
                                     "', which a built-in tool already has");
    auto [it, inserted] = owner.emplace(name, i);
    if (!inserted)
      return Status::InvalidArgument("mcp tools " + describe(it->second) + " and " + describe(i) +
                                     " would both be named '" + name + "'; drop one with `allow`");
    names.push_back(name);
  }
  return names;
}

namespace {

class McpTool : public Tool {
 public:
  McpTool(std::shared_ptr<McpClient> client, std::string server_tool_name, ToolSpec spec)
      : client_(std::move(client)), server_tool_name_(std::move(server_tool_name)), spec_(std::move(spec)) {}
  const ToolSpec& spec() const override { return spec_; }
  Result<ToolOutput> Run(const json& arguments) override { return client_->CallTool(server_tool_name_, arguments); }

 private:
  std::shared_ptr<McpClient> client_;
  std::string server_tool_name_;
  ToolSpec spec_;
};

}  // namespace

void McpToolset::Stop() {
  for (auto& client : clients) client->Stop();
}

Result<McpToolset> ConnectMcpServers(const std::vector<McpServerConfig>& servers,
                                     const std::set<std::string>& taken, const McpOptions& options) {
  std::set<std::string> server_names;
  for (const auto& server : servers) {
    Status valid = ValidateMcpServerConfig(server);
    if (!valid.ok()) return valid;
    if (!server_names.insert(server.name).second)
      return Status::InvalidArgument("tools.mcp: two servers are named '" + server.name + "'");
  }
  McpToolset set;
  auto fail = [&](Status s) -> Result<McpToolset> {
    set.Stop();
    return s;
  };
  std::vector<McpOfferedTool> offered;
  std::vector<std::pair<size_t, McpToolInfo>> infos;  // client index, tool
  for (const auto& server : servers) {
    auto client = McpClient::Connect(server, options);
    if (!client.ok()) return fail(client.status());
    set.clients.push_back(*client);
    auto tools = (*client)->ListTools();
    if (!tools.ok()) return fail(tools.status());
    std::map<std::string, const McpToolInfo*> by_name;
    for (const auto& t : *tools) by_name[t.name] = &t;
    std::vector<const McpToolInfo*> chosen;
    if (server.allow.empty()) {
      for (const auto& t : *tools) chosen.push_back(&t);
    } else {
      for (const auto& name : server.allow) {
        auto it = by_name.find(name);
        if (it == by_name.end()) {
          std::string offers;
          for (const auto& t : *tools) offers += (offers.empty() ? "" : ", ") + t.name;
          return fail(Status::InvalidArgument("tools.mcp server '" + server.name + "': allow names '" + name +
                                              "', which the server does not offer (it offers: " +
                                              (offers.empty() ? "nothing" : offers) + ")"));
        }
        if (std::find(chosen.begin(), chosen.end(), it->second) == chosen.end()) chosen.push_back(it->second);
      }
    }
    if (chosen.empty()) {
      set.warnings.push_back("mcp server '" + server.name + "' offers no tools");
      spdlog::warn("{}", set.warnings.back());
    }
    for (const McpToolInfo* t : chosen) {
      offered.push_back({server.name, t->name});
      infos.emplace_back(set.clients.size() - 1, *t);
    }
  }
  auto names = ResolveMcpToolNames(offered, taken);
  if (!names.ok()) return fail(names.status());
  for (size_t i = 0; i < infos.size(); ++i) {
    ToolSpec spec{(*names)[i], infos[i].second.description, infos[i].second.input_schema};
    set.tools.push_back(std::make_shared<McpTool>(set.clients[infos[i].first], infos[i].second.name, std::move(spec)));
  }
  return set;
}

}  // namespace tfgrpo
