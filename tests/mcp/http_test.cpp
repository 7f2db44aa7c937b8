// MCP over streamable HTTP: a purpose-built server on 127.0.0.1 (JSON and SSE replies, session
// ids, 202s, a session that expires, headers from env vars, a hung call) and the real
// @modelcontextprotocol/server-everything in its streamableHttp mode.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "local_http_server.h"
#include "mcp_test_util.h"
#include "tfgrpo/json.h"
#include "tfgrpo/mcp.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

std::string Sse(const std::vector<json>& messages) {
  std::string out = ": keep-alive comment\n\n";
  for (const auto& m : messages) out += "event: message\nid: e" + std::to_string(out.size()) + "\ndata: " + m.dump() + "\n\n";
  return out;
}

json TextResult(const std::string& text) { return {{"content", json::array({{{"type", "text"}, {"text", text}}})}}; }

// An MCP server over HTTP with just enough behaviour to check the client against the spec.
class FakeHttpMcp {
 public:
  FakeHttpMcp() : http_(8) {
    http_.server().Post("/mcp", [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); });
    http_.server().Delete("/mcp", [this](const httplib::Request& req, httplib::Response& res) {
      std::unique_lock lock(mu);
      deleted.push_back(req.get_header_value("Mcp-Session-Id"));
      if (delete_delay_ms > 0) {
        const int delay = delete_delay_ms;
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        lock.lock();
      }
      delete_authorization.push_back(req.get_header_value("Authorization"));
      if (delete_status != 200) {
        res.status = delete_status;
        return;
      }
      if (deleted.back() == session && !session.empty()) session.clear();
    });
    EXPECT_TRUE(http_.Start());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(http_.port()) + "/mcp"; }
  void ExpireSession() {
    std::lock_guard lock(mu);
    session.clear();
  }

  std::mutex mu;
  std::string session;           // the live session id ("" = none)
  int initializes = 0;
  std::vector<std::string> protocol_headers;  // MCP-Protocol-Version of each non-initialize POST
  std::vector<std::string> authorization;     // Authorization of each POST
  std::vector<std::string> notifications;     // methods
  std::vector<json> client_answers;           // responses the client POSTed to our requests
  std::vector<int64_t> cancelled;
  std::vector<std::string> deleted;               // Mcp-Session-Id of each DELETE
  std::vector<std::string> delete_authorization;  // Authorization of each DELETE
  int delete_status = 200;                        // what DELETE answers (405: not allowed)
  int delete_delay_ms = 0;                        // how long DELETE takes to answer
  int answer_delay_ms = 0;                        // how long we take to accept the client's answers

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    json m = json::parse(req.body);
    std::unique_lock lock(mu);
    authorization.push_back(req.get_header_value("Authorization"));
    const std::string method = m.value("method", "");
    if (method != "initialize") protocol_headers.push_back(req.get_header_value("MCP-Protocol-Version"));
    if (method == "initialize") {
      ++initializes;
      session = "session-" + std::to_string(initializes);
      res.set_header("Mcp-Session-Id", session);
      // As an event stream, the way the SDK servers answer: the session id must still be kept.
      res.set_content(Sse({{{"jsonrpc", "2.0"}, {"id", m["id"]},
                            {"result", {{"protocolVersion", m["params"]["protocolVersion"]},
                                        {"capabilities", {{"tools", json::object()}}},
                                        {"serverInfo", {{"name", "fake-http"}, {"version", "1"}}}}}}}),
                      "text/event-stream");
      return;
    }
    if (req.get_header_value("Mcp-Session-Id") != session || session.empty()) {
      res.status = 404;
      res.set_content("unknown session", "text/plain");
      return;
    }
    if (!m.contains("method")) {  // the client's answer to one of our requests
      client_answers.push_back(m);
      res.status = 202;
      if (answer_delay_ms > 0) {
        const int delay = answer_delay_ms;
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      }
      return;
    }
    if (!m.contains("id")) {
      notifications.push_back(method);
      if (method == "notifications/cancelled") cancelled.push_back(m["params"]["requestId"].get<int64_t>());
      res.status = 202;
      return;
    }
    const json id = m["id"];
    if (method == "tools/list") {
      // Page 1 as JSON, page 2 as an event stream with a notification and a ping first.
      const bool second = m.contains("params") && m["params"].contains("cursor");
      if (!second) {
        json tools = json::array({{{"name", "echo"}, {"description", "echo over http"},
                                   {"inputSchema", {{"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}}}}});
        res.set_content(json({{"jsonrpc", "2.0"}, {"id", id}, {"result", {{"tools", tools}, {"nextCursor", "p2"}}}}).dump(),
                        "application/json");
      } else {
        json tools = json::array({{{"name", "streamed"}, {"description", "answers over SSE"}},
                                  {{"name", "hang"}, {"description", "never answers in time"}}});
        res.set_content(Sse({{{"jsonrpc", "2.0"}, {"method", "notifications/message"}, {"params", {{"level", "info"}}}},
                             {{"jsonrpc", "2.0"}, {"id", "srv-ping"}, {"method", "ping"}},
                             {{"jsonrpc", "2.0"}, {"id", id}, {"result", {{"tools", tools}}}}}),
                        "text/event-stream");
      }
      return;
    }
    if (method == "tools/call") {
      const std::string tool = m["params"]["name"];
      const std::string text = m["params"]["arguments"].value("text", "");
      if (tool == "echo") {
        res.set_content(json({{"jsonrpc", "2.0"}, {"id", id}, {"result", TextResult("http echo: " + text)}}).dump(),
                        "application/json");
      } else if (tool == "streamed") {
        res.set_content(Sse({{{"jsonrpc", "2.0"}, {"method", "notifications/progress"}, {"params", {{"progress", 1}}}},
                             {{"jsonrpc", "2.0"}, {"id", 424242}, {"result", TextResult("not ours")}},
                             {{"jsonrpc", "2.0"}, {"id", id}, {"result", TextResult("streamed: " + text)}}}),
                        "text/event-stream");
      } else if (tool == "whoami") {
        // A JSON-RPC error quoting the credential it was sent.
        res.set_content(json({{"jsonrpc", "2.0"}, {"id", id},
                              {"error", {{"code", -32001}, {"message", "bad token " + req.get_header_value("Authorization")}}}})
                            .dump(),
                        "application/json");
      } else if (tool == "needy") {
        // 30 requests of our own before the response: each answer takes answer_delay_ms to accept.
        std::vector<json> events;
        for (int i = 0; i < 30; ++i) events.push_back({{"jsonrpc", "2.0"}, {"id", "srv-" + std::to_string(i)}, {"method", "ping"}});
        events.push_back({{"jsonrpc", "2.0"}, {"id", id}, {"result", TextResult("needy done")}});
        res.set_content(Sse(events), "text/event-stream");
      } else if (tool == "hang") {
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        res.set_content(json({{"jsonrpc", "2.0"}, {"id", id}, {"result", TextResult("late")}}).dump(), "application/json");
      } else {
        res.set_content(json({{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", -32602}, {"message", "no tool " + tool}}}}).dump(),
                        "application/json");
      }
      return;
    }
    res.set_content(json({{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", -32601}, {"message", "no " + method}}}}).dump(),
                    "application/json");
  }

  testing::LocalHttpServer http_;
};

McpServerConfig Remote(const std::string& url) {
  McpServerConfig c;
  c.name = "remote";
  c.url = url;
  return c;
}

TEST(McpHttp, SessionHeadersPagesOverJsonAndSseAndServerRequests) {
  FakeHttpMcp server;
  auto client = McpClient::Connect(Remote(server.url()));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->protocol_version(), "2025-06-18");
  auto tools = (*client)->ListTools();
  ASSERT_TRUE(tools.ok()) << tools.status().ToString();
  ASSERT_EQ(tools->size(), 3u);
  EXPECT_EQ((*tools)[0].name, "echo");
  EXPECT_EQ((*tools)[1].name, "streamed");
  EXPECT_EQ((*tools)[2].name, "hang");

  auto echoed = (*client)->CallTool("echo", {{"text", "hi"}});
  ASSERT_TRUE(echoed.ok());
  EXPECT_EQ(echoed->text, "http echo: hi");
  auto streamed = (*client)->CallTool("streamed", {{"text", "s"}});
  ASSERT_TRUE(streamed.ok());
  EXPECT_FALSE(streamed->is_error) << streamed->text;
  EXPECT_EQ(streamed->text, "streamed: s");

  std::lock_guard lock(server.mu);
  EXPECT_EQ(server.initializes, 1);
  ASSERT_FALSE(server.protocol_headers.empty());
  for (const auto& h : server.protocol_headers) EXPECT_EQ(h, "2025-06-18");
  EXPECT_EQ(server.notifications, std::vector<std::string>{"notifications/initialized"});
  ASSERT_EQ(server.client_answers.size(), 1u);  // the ping inside the SSE stream
  EXPECT_EQ(server.client_answers[0]["id"], "srv-ping");
  EXPECT_EQ(server.client_answers[0]["result"], json::object());
}

TEST(McpHttp, ExpiredSessionIsReinitializedAndTheCallResent) {
  FakeHttpMcp server;
  auto client = McpClient::Connect(Remote(server.url()));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  server.ExpireSession();
  auto out = (*client)->CallTool("echo", {{"text", "again"}});
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->is_error) << out->text;
  EXPECT_EQ(out->text, "http echo: again");
  EXPECT_EQ((*client)->stats().starts, 2);
  std::lock_guard lock(server.mu);
  EXPECT_EQ(server.initializes, 2);
}

TEST(McpHttp, StopEndsTheSessionWithADeleteCarryingItsId) {
  FakeHttpMcp server;
  ::setenv("TFGRPO_TEST_MCP_DELETE_TOKEN", "Bearer sk-delete-token-456", 1);
  McpServerConfig config = Remote(server.url());
  config.headers_env = {{"Authorization", "TFGRPO_TEST_MCP_DELETE_TOKEN"}};
  auto client = McpClient::Connect(config);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_TRUE((*client)->CallTool("echo", {{"text", "x"}}).ok());
  {
    std::lock_guard lock(server.mu);
    EXPECT_TRUE(server.deleted.empty());  // not while the session is in use
  }
  (*client)->Stop();
  (*client)->Stop();  // idempotent: one DELETE
  {
    std::lock_guard lock(server.mu);
    EXPECT_EQ(server.deleted, std::vector<std::string>{"session-1"});
    EXPECT_EQ(server.delete_authorization, std::vector<std::string>{"Bearer sk-delete-token-456"});
    EXPECT_TRUE(server.session.empty());
  }
  // A later call opens a new session, which the client's end deletes too.
  auto again = (*client)->CallTool("echo", {{"text", "y"}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->text, "http echo: y");
  client->reset();
  ::unsetenv("TFGRPO_TEST_MCP_DELETE_TOKEN");
  std::lock_guard lock(server.mu);
  EXPECT_EQ(server.deleted, (std::vector<std::string>{"session-1", "session-2"}));
}

TEST(McpHttp, ASessionTheServerDroppedIsNotDeletedAndA405IsIgnored) {
  FakeHttpMcp server;
  auto client = McpClient::Connect(Remote(server.url()));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  server.ExpireSession();  // the next POST gets a 404: the client re-initializes
  ASSERT_TRUE((*client)->CallTool("echo", {{"text", "again"}}).ok());
  {
    std::lock_guard lock(server.mu);
    EXPECT_TRUE(server.deleted.empty());  // session-1 is gone already
    server.delete_status = 405;
  }
  (*client)->Stop();
  auto after = (*client)->CallTool("echo", {{"text", "still"}});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->text, "http echo: still");
  std::lock_guard lock(server.mu);
  EXPECT_EQ(server.deleted, std::vector<std::string>{"session-2"});
}

TEST(McpHttp, AnUnansweredDeleteWaitsAtMostTheStopGrace) {
  FakeHttpMcp server;
  server.delete_delay_ms = 1000;
  McpOptions options;
  options.stop_grace_s = 0.2;
  auto client = McpClient::Connect(Remote(server.url()), options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  const auto start = std::chrono::steady_clock::now();
  (*client)->Stop();
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, 0.8);  // the stop grace (0.2 s), not the server's 1 s
  std::lock_guard lock(server.mu);
  EXPECT_EQ(server.deleted, std::vector<std::string>{"session-1"});
}

TEST(McpHttp, HeaderValueComesFromTheNamedEnvVarAndIsNeverPrinted) {
  FakeHttpMcp server;
  McpServerConfig config = Remote(server.url());
  config.headers_env = {{"Authorization", "TFGRPO_TEST_MCP_TOKEN"}};
  ::unsetenv("TFGRPO_TEST_MCP_TOKEN");
  auto missing = McpClient::Connect(config);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("TFGRPO_TEST_MCP_TOKEN"), std::string::npos) << missing.status().message();
  EXPECT_NE(missing.status().message().find("'remote'"), std::string::npos) << missing.status().message();

  ::setenv("TFGRPO_TEST_MCP_TOKEN", "Bearer sk-very-secret-token-123", 1);
  auto client = McpClient::Connect(config);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_TRUE((*client)->CallTool("echo", {{"text", "x"}}).ok());
  {
    std::lock_guard lock(server.mu);
    ASSERT_FALSE(server.authorization.empty());
    for (const auto& a : server.authorization) EXPECT_EQ(a, "Bearer sk-very-secret-token-123");
  }
  ::unsetenv("TFGRPO_TEST_MCP_TOKEN");
}

TEST(McpHttp, ErrorsNeverCarryTheHeaderValue) {
  testing::LocalHttpServer echoing;
  // A server that echoes the Authorization header back in its error body.
  echoing.server().Post("/mcp", [](const httplib::Request& req, httplib::Response& res) {
    res.status = 500;
    res.set_content("bad token " + req.get_header_value("Authorization"), "text/plain");
  });
  ASSERT_TRUE(echoing.Start());
  ::setenv("TFGRPO_TEST_MCP_TOKEN2", "sk-leaky-secret-value-987", 1);
  McpServerConfig config = Remote("http://127.0.0.1:" + std::to_string(echoing.port()) + "/mcp");
  config.headers_env = {{"Authorization", "TFGRPO_TEST_MCP_TOKEN2"}};
  auto client = McpClient::Connect(config);
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find("HTTP 500"), std::string::npos) << client.status().message();
  EXPECT_EQ(client.status().message().find("sk-leaky"), std::string::npos) << client.status().message();
  ::unsetenv("TFGRPO_TEST_MCP_TOKEN2");
}

TEST(McpHttp, AJsonRpcErrorEchoingTheHeaderValueIsRedacted) {
  FakeHttpMcp server;
  McpServerConfig config = Remote(server.url());
  config.headers_env = {{"Authorization", "TFGRPO_TEST_MCP_TOKEN3"}};
  ::setenv("TFGRPO_TEST_MCP_TOKEN3", "Bearer sk-echoed-secret-token-4242", 1);
  auto client = McpClient::Connect(config);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto out = (*client)->CallTool("whoami", json::object());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->is_error);
  EXPECT_NE(out->text.find("bad token [redacted]"), std::string::npos) << out->text;
  EXPECT_EQ(out->text.find("sk-echoed"), std::string::npos) << out->text;
  ::unsetenv("TFGRPO_TEST_MCP_TOKEN3");
}

TEST(McpHttp, AnswersToServerRequestsStayWithinTheCallDeadline) {
  FakeHttpMcp server;
  server.answer_delay_ms = 4000;
  McpOptions options;
  options.call_timeout_s = 1;
  auto client = McpClient::Connect(Remote(server.url()), options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  const auto start = std::chrono::steady_clock::now();
  auto out = (*client)->CallTool("needy", json::object());
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->is_error);
  EXPECT_NE(out->text.find("no reply within 1s"), std::string::npos) << out->text;
  // Each answer was posted with a deadline of its own: 30 x 4 s = 120 s. Now the call's deadline
  // holds; the bound is loose so a loaded machine does not fail it.
  EXPECT_LT(took, 20.0);
}

TEST(McpHttp, HungCallTimesOutIsCancelledAndLaterCallsWork) {
  FakeHttpMcp server;
  McpOptions options;
  options.call_timeout_s = 0.3;
  auto client = McpClient::Connect(Remote(server.url()), options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto hung = (*client)->CallTool("hang", json::object());
  ASSERT_TRUE(hung.ok());
  EXPECT_TRUE(hung->is_error);
  EXPECT_NE(hung->text.find("no reply within 0.3s"), std::string::npos) << hung->text;
  auto after = (*client)->CallTool("echo", {{"text", "ok"}});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->text, "http echo: ok");
  std::lock_guard lock(server.mu);
  ASSERT_EQ(server.cancelled.size(), 1u);
  EXPECT_EQ(server.initializes, 1);
}

TEST(McpHttp, UnreachableServerFailsConnectNamingServerAndUrl) {
  auto client = McpClient::Connect(Remote("http://127.0.0.1:" + std::to_string(testing::ClosedPort()) + "/mcp"));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(client.status().message().find("mcp server 'remote' (url http://127.0.0.1:"), std::string::npos)
      << client.status().message();
}

// The real server-everything, started in its streamable HTTP mode on a free port.
class EverythingOverHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string skip;
    const std::string dir = testing::NpmServersDir(&skip);
    if (dir.empty()) GTEST_SKIP() << skip;
    port_ = testing::ClosedPort();
    const std::string bin = dir + "/node_modules/.bin/mcp-server-everything";
    const std::string port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::setenv("PORT", port.c_str(), 1);
      FILE* quiet = std::freopen("/dev/null", "w", stdout);
      (void)quiet;
      ::execlp("node", "node", bin.c_str(), "streamableHttp", static_cast<char*>(nullptr));
      _exit(127);
    }
    // Listening once a POST gets any HTTP answer.
    httplib::Client probe("127.0.0.1", port_);
    for (int i = 0; i < 200; ++i) {
      if (auto r = probe.Get("/mcp")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "server-everything streamableHttp did not listen on port " << port_;
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST_F(EverythingOverHttp, ListsAndCallsToolsConcurrentlyInOneSession) {
  McpServerConfig config = Remote(url());
  config.allow = {"get-sum", "echo"};
  auto set = ConnectMcpServers({config}, {}, McpOptions{});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->tools.size(), 2u);
  EXPECT_EQ(set->clients[0]->protocol_version(), "2025-06-18");
  auto sum = set->tools[0];
  auto echo = set->tools[1];
  auto out = sum->Run({{"a", 19}, {"b", 23}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_FALSE(out->is_error) << out->text;
  EXPECT_NE(out->text.find("42"), std::string::npos) << out->text;

  std::vector<std::future<Result<ToolOutput>>> calls;
  for (int i = 0; i < 8; ++i)
    calls.push_back(std::async(std::launch::async, [&, i] { return echo->Run({{"message", "m" + std::to_string(i)}}); }));
  for (int i = 0; i < 8; ++i) {
    auto r = calls[i].get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->text, "Echo: m" + std::to_string(i));
  }
  EXPECT_EQ(set->clients[0]->stats().starts, 1);
  auto bad = sum->Run({{"a", "x"}});
  ASSERT_TRUE(bad.ok());
  EXPECT_TRUE(bad->is_error) << bad->text;
}

}  // namespace
}  // namespace tfgrpo
