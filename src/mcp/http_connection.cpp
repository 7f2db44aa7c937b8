// The streamable HTTP transport: each JSON-RPC message is a POST to the server's URL; a request's
// reply comes back as a JSON body or as an SSE stream whose events may carry notifications and
// server requests before the response. The session id from initialize is sent on every later
// POST; a 404 for it means the session is gone (McpClient re-initializes and resends).
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "mcp/connection.h"
#include "tfgrpo/http.h"
#include "tfgrpo/secrets.h"

namespace tfgrpo::mcp_internal {
namespace {

using nlohmann::json;

constexpr size_t kMaxReplyBytes = kMaxMessageBytes;
// Longest wait for the server to take our answer to one of its requests (never past the call's
// own deadline).
constexpr double kAnswerTimeoutS = 5;

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

class HttpConnection : public Connection {
 public:
  HttpConnection(McpServerConfig config, McpOptions options, std::vector<HttpHeader> headers,
                 std::vector<std::string> secrets)
      : config_(std::move(config)), options_(options), headers_(std::move(headers)), secrets_(std::move(secrets)) {}

  Result<RpcReply> Request(const std::string& method, const json& params, Clock::time_point deadline,
                           int64_t* sent_id) override;
  Status Notify(const std::string& method, const json& params) override;
  bool Alive() const override { return !dead_.load(); }
  // Ends the session: a client that no longer needs it SHOULD send DELETE with its
  // Mcp-Session-Id (spec, "Session Management"). Best effort: any answer (405 from a server that
  // does not let clients end sessions, say) and any failure are ignored, and it waits at most
  // stop_grace_s. Not sent when the server said the session is gone (404) or there is none.
  void Close() override;
  void Initialized(const std::string& protocol_version) override {
    std::lock_guard lock(mu_);
    protocol_version_ = protocol_version;
  }
  int64_t GarbageLines() const override { return garbage_.load(); }
  std::string Describe() const override { return "url " + config_.url; }

 private:
  HttpRequest MakePost(const json& message, Clock::time_point deadline) const;
  std::string Redact(std::string text) const {
    for (const auto& s : secrets_) text = RedactSecret(std::move(text), s);
    return RedactRunSecrets(std::move(text));
  }
  // What one call has received so far: our response, or why a reply to us is unusable.
  struct CallState {
    int64_t id = 0;
    Clock::time_point deadline;
    std::optional<RpcReply> reply;
    std::optional<std::string> unusable;
    bool done() const { return reply.has_value() || unusable.has_value(); }
  };
  // Handles one message from the server; true when it is the response to the call.
  bool Dispatch(const json& message, CallState* call);
  void DispatchText(std::string_view text, CallState* call);
  // Answers a server request within the call's deadline; false once the deadline has passed.
  bool Answer(const json& request, Clock::time_point deadline);

  McpServerConfig config_;
  McpOptions options_;
  std::vector<HttpHeader> headers_;
  std::vector<std::string> secrets_;
  mutable std::mutex mu_;  // session_id_, protocol_version_
  std::string session_id_;
  std::string protocol_version_;
  std::atomic<bool> dead_{false};
  std::atomic<bool> closed_{false};
  bool session_gone_ = false;  // under mu_: the server answered 404 for it
  std::atomic<int64_t> next_id_{1};
  std::atomic<int64_t> garbage_{0};
};

HttpRequest HttpConnection::MakePost(const json& message, Clock::time_point deadline) const {
  HttpRequest r;
  r.method = "POST";
  r.url = config_.url;
  r.body = message.dump();
  r.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}};
  {
    std::lock_guard lock(mu_);
    if (!session_id_.empty()) r.headers.push_back({"Mcp-Session-Id", session_id_});
    if (!protocol_version_.empty()) r.headers.push_back({"MCP-Protocol-Version", protocol_version_});
  }
  for (const auto& h : headers_) r.headers.push_back(h);
  r.timeout_s = std::chrono::duration<double>(deadline - Clock::now()).count();
  if (r.timeout_s < 0.001) r.timeout_s = 0.001;
  r.connect_timeout_s = std::min(r.timeout_s, 30.0);
  r.user_agent = "tfgrpo-mcp";
  if (!secrets_.empty()) r.secret = secrets_.front();
  return r;
}

bool HttpConnection::Dispatch(const json& message, CallState* call) {
  switch (Classify(message)) {
    case MessageKind::kResponse:
      if (message["id"].is_number_integer() && message["id"].get<int64_t>() == call->id) {
        RpcReply reply = ToReply(message);
        if (reply.is_error) reply.error_message = Redact(std::move(reply.error_message));
        call->reply = std::move(reply);
        return true;
      }
      return false;
    case MessageKind::kRequest:
      if (!Answer(message, call->deadline)) call->unusable = "no reply within the deadline";
      return false;
    case MessageKind::kNotification:
      return false;
    case MessageKind::kInvalid:
      ++garbage_;
      return false;
  }
  return false;
}

void HttpConnection::DispatchText(std::string_view text, CallState* call) {
  if (call->done()) return;
  if (ForEachMessage(text, [&](const json& m) {
        if (!call->done()) Dispatch(m, call);
      }))
    return;
  ++garbage_;
  if (LeadingResponseId(text) == call->id) call->unusable = "the reply cannot be parsed: " + WhyUnparseable(text);
}

bool HttpConnection::Answer(const json& request, Clock::time_point deadline) {
  const Clock::time_point answer_by = std::min(deadline, After(kAnswerTimeoutS));
  if (Clock::now() >= answer_by) return false;
  (void)DefaultHttpTransport().Send(MakePost(AnswerServerRequest(request), answer_by));
  return Clock::now() < deadline;
}

Result<RpcReply> HttpConnection::Request(const std::string& method, const json& params,
                                         Clock::time_point deadline, int64_t* sent_id) {
  if (dead_) return Status::Unavailable("the session was closed");
  const int64_t id = next_id_++;
  if (sent_id) *sent_id = id;
  HttpRequest post = MakePost(MakeRequest(id, method, params), deadline);
  CallState call;
  call.id = id;
  call.deadline = deadline;
  std::optional<RpcReply>& reply = call.reply;
  std::string body;
  bool sse = false, sniffed = false, too_big = false;
  SseParser parser(kMaxReplyBytes);
  // Our response ends the wait even if the stream stays open, except for initialize, whose
  // response headers (Mcp-Session-Id) only come with a transfer that completes.
  const bool stop_at_reply = method != "initialize";
  post.on_body = [&](std::string_view chunk) {
    if (!sniffed) {
      // The body's first byte tells JSON from an event stream (on_body comes before we see the
      // response headers).
      size_t i = 0;
      while (i < chunk.size() && std::isspace(static_cast<unsigned char>(chunk[i]))) ++i;
      if (i == chunk.size()) {
        body.append(chunk);
        return true;
      }
      sniffed = true;
      sse = chunk[i] != '{' && chunk[i] != '[';
      if (sse) {
        std::string head = std::move(body);
        body.clear();
        head.append(chunk);
        return parser.Feed(head, [&](const std::string& data) {
          DispatchText(data, &call);
          return !call.unusable && !(stop_at_reply && reply.has_value());
        });
      }
    }
    if (sse)
      return parser.Feed(chunk, [&](const std::string& data) {
        DispatchText(data, &call);
        return !call.unusable && !(stop_at_reply && reply.has_value());
      });
    body.append(chunk);
    if (body.size() > kMaxReplyBytes) {
      too_big = true;
      return false;
    }
    return true;
  };
  auto response = DefaultHttpTransport().Send(post);
  if (!response.ok()) {
    if (reply && stop_at_reply) return std::move(*reply);  // we stopped the stream ourselves
    const Status& s = response.status();
    // The deadline covers the whole call, the answers to the server's own requests included.
    if (s.code() == Status::Code::kTimeout || Clock::now() >= deadline)
      return Status::Timeout(method + ": no reply within the deadline");
    if (call.unusable) return Status::ProviderError(method + ": " + *call.unusable);
    if (too_big || parser.overflowed())
      return Status::ProviderError(method + ": reply (or one event of its stream) larger than " +
                                   std::to_string(kMaxReplyBytes >> 20) + " MiB");
    dead_ = true;  // the next call starts a fresh session
    return Status::Unavailable(Redact(s.message()));
  }
  if (response->status == 404) {
    bool had_session;
    {
      std::lock_guard lock(mu_);
      had_session = !session_id_.empty();
    }
    if (had_session) {
      {
        std::lock_guard lock(mu_);
        session_gone_ = true;
      }
      dead_ = true;
      return Status::NotFound("the server no longer knows our session (HTTP 404)");
    }
  }
  if (response->status < 200 || response->status >= 300) {
    std::string excerpt = response->body.substr(0, 300);
    return Status::Unavailable(Redact("HTTP " + std::to_string(response->status) + " from " + config_.url +
                                      (excerpt.empty() ? "" : ": " + excerpt)));
  }
  if (method == "initialize") {
    if (auto session = response->Header("Mcp-Session-Id")) {
      std::lock_guard lock(mu_);
      session_id_ = *session;
    }
  }
  if (!reply) {
    const std::string type = response->Header("Content-Type").value_or("");
    if (sse || StartsWithNoCase(type, "text/event-stream")) {
      if (!sse) parser.Feed(body, [&](const std::string& data) {
        DispatchText(data, &call);
        return !call.done();
      });
      parser.Finish([&](const std::string& data) {
        DispatchText(data, &call);
        return !call.done();
      });
    } else if (!body.empty()) {
      DispatchText(body, &call);
    }
  }
  if (!reply && call.unusable) {
    if (Clock::now() >= deadline) return Status::Timeout(method + ": no reply within the deadline");
    return Status::ProviderError(method + ": " + *call.unusable);
  }
  if (!reply) {
    if (response->status == 202) return Status::Unavailable(method + ": the server accepted the request (202) but sent no response");
    return Status::Unavailable(method + ": the reply (HTTP " + std::to_string(response->status) +
                               ") holds no response to our request");
  }
  return std::move(*reply);
}

void HttpConnection::Close() {
  dead_ = true;
  if (closed_.exchange(true)) return;
  HttpRequest r;
  r.method = "DELETE";
  r.url = config_.url;
  {
    std::lock_guard lock(mu_);
    if (session_id_.empty() || session_gone_) return;
    r.headers.push_back({"Mcp-Session-Id", session_id_});
    if (!protocol_version_.empty()) r.headers.push_back({"MCP-Protocol-Version", protocol_version_});
  }
  for (const auto& h : headers_) r.headers.push_back(h);
  r.timeout_s = std::max(0.001, options_.stop_grace_s);
  r.connect_timeout_s = r.timeout_s;
  r.max_response_bytes = 64 << 10;
  r.truncate_at_max = true;
  r.user_agent = "tfgrpo-mcp";
  if (!secrets_.empty()) r.secret = secrets_.front();
  (void)DefaultHttpTransport().Send(r);
}

Status HttpConnection::Notify(const std::string& method, const json& params) {
  if (dead_) return Status::Unavailable("the session was closed");
  auto response = DefaultHttpTransport().Send(MakePost(MakeNotification(method, params), After(10)));
  if (!response.ok()) return Status::Unavailable(Redact(response.status().message()));
  if (response->status < 200 || response->status >= 300)
    return Status::Unavailable("HTTP " + std::to_string(response->status) + " for " + method);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Connection>> OpenHttpConnection(const McpServerConfig& config, const McpOptions& options) {
  std::vector<HttpHeader> headers;
  std::vector<std::string> secrets;
  for (const auto& [header, var] : config.headers_env) {
    const char* value = std::getenv(var.c_str());
    if (value == nullptr || *value == '\0')
      return Status::InvalidArgument("headers_env: header " + header + " reads environment variable " + var +
                                     ", which is not set");
    headers.push_back({header, value});
    secrets.emplace_back(value);
  }
  return std::unique_ptr<Connection>(new HttpConnection(config, options, std::move(headers), std::move(secrets)));
}

}  // namespace tfgrpo::mcp_internal
