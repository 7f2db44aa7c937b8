// MCP over stdio against the misbehaving fake server (tests/mcp/fake_mcp_server.py): handshake,
// pagination, garbage, server requests, errors, crash and restart, timeouts, stop.
#include <sys/wait.h>

#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "mcp_test_util.h"
#include "tfgrpo/json.h"
#include "tfgrpo/mcp.h"
#include "tfgrpo/version.h"

namespace tfgrpo {
namespace {

using nlohmann::json;
using testing::FakeServer;

McpOptions FastOptions() {
  McpOptions o;
  o.call_timeout_s = 10;
  o.startup_timeout_s = 20;
  o.stop_grace_s = 0.5;
  return o;
}

std::shared_ptr<McpClient> ConnectOrDie(const McpServerConfig& config, const McpOptions& options = FastOptions()) {
  auto client = McpClient::Connect(config, options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? *client : nullptr;
}

std::string CallText(McpClient& client, const std::string& tool, const json& args = json::object()) {
  auto out = client.CallTool(tool, args);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_FALSE(out.ok() && out->is_error) << out->text;
  return out.ok() ? out->text : "";
}

pid_t ServerPid(McpClient& client) { return static_cast<pid_t>(std::stol(CallText(client, "pid"))); }

TEST(McpStdio, HandshakeSendsOurVersionAndClientInfoThenInitialized) {
  auto client = ConnectOrDie(FakeServer("hs"));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->protocol_version(), "2025-06-18");
  json info = ParseUntrustedJson(CallText(*client, "info"));
  ASSERT_TRUE(info.is_object());
  EXPECT_EQ(info["init"]["protocolVersion"], "2025-06-18");
  EXPECT_EQ(info["init"]["clientInfo"]["name"], "tfgrpo");
  EXPECT_EQ(info["init"]["clientInfo"]["version"], std::string(kVersion));
  EXPECT_TRUE(info["initialized"].get<bool>());
  EXPECT_EQ(client->stats().starts, 1);
}

TEST(McpStdio, AcceptsAnOlderSupportedVersionRefusesAnUnknownOne) {
  auto older = ConnectOrDie(FakeServer("old", {"--protocol", "2025-03-26"}));
  ASSERT_TRUE(older);
  EXPECT_EQ(older->protocol_version(), "2025-03-26");

  auto unknown = McpClient::Connect(FakeServer("future", {"--protocol", "2999-01-01"}), FastOptions());
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("mcp server 'future'"), std::string::npos) << unknown.status().message();
  EXPECT_NE(unknown.status().message().find("2999-01-01"), std::string::npos) << unknown.status().message();
}

TEST(McpStdio, ListToolsFollowsCursorsAcrossPages) {
  auto client = ConnectOrDie(FakeServer("pages", {"--tools", "echo", "--extra-tools", "6", "--page-size", "2"}));
  ASSERT_TRUE(client);
  auto tools = client->ListTools();
  ASSERT_TRUE(tools.ok()) << tools.status().ToString();
  ASSERT_EQ(tools->size(), 7u);
  EXPECT_EQ((*tools)[0].name, "echo");
  for (int i = 0; i < 6; ++i) EXPECT_EQ((*tools)[i + 1].name, "tool_" + std::to_string(i));
  EXPECT_EQ((*tools)[0].description, "echo tool of pages");
  EXPECT_EQ((*tools)[0].input_schema["required"], json::array({"text"}));
}

TEST(McpStdio, GarbageLinesAreSkippedAndCountedAndServerRequestsAnswered) {
  auto client = ConnectOrDie(FakeServer("chatty", {"--garbage-at-start"}));
  ASSERT_TRUE(client);
  const int64_t at_start = client->stats().garbage_lines;
  EXPECT_EQ(at_start, 2);  // two non-JSON lines before the initialize reply
  json answers = ParseUntrustedJson(CallText(*client, "chatty"));
  ASSERT_TRUE(answers.is_object()) << answers.dump();
  // not json, a half object, a bare array element that is no message
  EXPECT_GE(client->stats().garbage_lines - at_start, 3);
  bool saw_ping = false, saw_sampling = false;
  for (const auto& [id, a] : answers.items()) {
    if (a["method"] == "ping") {
      saw_ping = true;
      EXPECT_EQ(a["answer"], json({{"result", json::object()}})) << a.dump();
    } else {
      saw_sampling = true;
      EXPECT_EQ(a["answer"]["error"]["code"], -32601) << a.dump();
    }
  }
  EXPECT_TRUE(saw_ping && saw_sampling) << answers.dump();
  EXPECT_EQ(CallText(*client, "echo", {{"text", "still fine"}}), "chatty echo: still fine");
}

TEST(McpStdio, IsErrorAndJsonRpcErrorsReachTheModelAsToolErrors) {
  auto client = ConnectOrDie(FakeServer("errs"));
  ASSERT_TRUE(client);
  auto failed = client->CallTool("fail", json::object());
  ASSERT_TRUE(failed.ok());
  EXPECT_TRUE(failed->is_error);
  EXPECT_EQ(failed->text, "the tool failed on purpose");

  auto rpc = client->CallTool("rpc_error", json::object());
  ASSERT_TRUE(rpc.ok());
  EXPECT_TRUE(rpc->is_error);
  EXPECT_NE(rpc->text.find("-32000"), std::string::npos) << rpc->text;
  EXPECT_NE(rpc->text.find("deliberate failure extra detail"), std::string::npos) << rpc->text;

  auto image = client->CallTool("image", json::object());
  ASSERT_TRUE(image.ok());
  EXPECT_FALSE(image->is_error);
  EXPECT_EQ(image->text, "a picture:\n[image: image/png, 6 bytes]");
}

TEST(McpStdio, CrashMidCallIsAToolErrorAndTheNextCallRestartsTheServer) {
  auto client = ConnectOrDie(FakeServer("crashy"));
  ASSERT_TRUE(client);
  const pid_t first = ServerPid(*client);
  auto crashed = client->CallTool("crash", json::object());
  ASSERT_TRUE(crashed.ok()) << crashed.status().ToString();
  EXPECT_TRUE(crashed->is_error);
  EXPECT_NE(crashed->text.find("exited with status 3"), std::string::npos) << crashed->text;
  EXPECT_NE(crashed->text.find("crashing on purpose"), std::string::npos) << crashed->text;

  EXPECT_EQ(CallText(*client, "echo", {{"text", "back"}}), "crashy echo: back");
  const pid_t second = ServerPid(*client);
  EXPECT_NE(first, second);
  EXPECT_FALSE(testing::ProcessExists(first));  // reaped, not a zombie
  EXPECT_EQ(client->stats().starts, 2);
  json info = ParseUntrustedJson(CallText(*client, "info"));
  EXPECT_TRUE(info["initialized"].get<bool>());  // the restart ran the handshake again
}

TEST(McpStdio, HungCallTimesOutIsCancelledAndTheToolKeepsWorking) {
  McpOptions options = FastOptions();
  options.call_timeout_s = 0.3;
  auto client = ConnectOrDie(FakeServer("hung"), options);
  ASSERT_TRUE(client);
  auto slow = client->CallTool("slow", {{"seconds", 3}});
  ASSERT_TRUE(slow.ok());
  EXPECT_TRUE(slow->is_error);
  EXPECT_NE(slow->text.find("no reply within 0.3s"), std::string::npos) << slow->text;
  EXPECT_EQ(client->stats().timeouts, 1);

  EXPECT_EQ(CallText(*client, "echo", {{"text", "after"}}), "hung echo: after");
  json info = ParseUntrustedJson(CallText(*client, "info"));
  ASSERT_EQ(info["cancelled"].size(), 1u) << info.dump();
  EXPECT_TRUE(info["cancelled"][0].is_number_integer());
  EXPECT_EQ(client->stats().starts, 1);  // a slow reply is not a reason to restart
}

TEST(McpStdio, ConcurrentCallsAreMultiplexedByRequestId) {
  auto client = ConnectOrDie(FakeServer("mux"));
  ASSERT_TRUE(client);
  // The slow call is answered after the fast ones sent later: replies arrive out of order.
  auto slow = std::async(std::launch::async, [&] { return client->CallTool("slow", {{"seconds", 0.5}, {"text", "S"}}); });
  std::vector<std::future<Result<ToolOutput>>> fast;
  for (int i = 0; i < 16; ++i)
    fast.push_back(std::async(std::launch::async, [&, i] { return client->CallTool("echo", {{"text", std::to_string(i)}}); }));
  for (int i = 0; i < 16; ++i) {
    auto out = fast[i].get();
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->text, "mux echo: " + std::to_string(i));
  }
  auto s = slow.get();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->text, "slow done: S");
}

TEST(McpStdio, StderrIsDrainedAndOnlyItsTailKept) {
  McpOptions options = FastOptions();
  options.call_timeout_s = 5;
  auto client = ConnectOrDie(FakeServer("noisy"), options);
  ASSERT_TRUE(client);
  EXPECT_EQ(CallText(*client, "spew"), "spewed");  // ~1 MiB of stderr did not block the server
  // stdout and stderr are separate pipes: the reply can be read before the last stderr bytes.
  std::string tail = client->stderr_tail();
  for (int i = 0; i < 200 && tail.find("spew done") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    tail = client->stderr_tail();
  }
  EXPECT_LE(tail.size(), 8192u);
  EXPECT_NE(tail.find("spew done"), std::string::npos);
  EXPECT_EQ(tail.find("spew line 0000"), std::string::npos);
}

TEST(McpStdio, CrashDuringConcurrentCallsRestartsOnceForAllCallers) {
  auto client = ConnectOrDie(FakeServer("shared"));
  ASSERT_TRUE(client);
  // Calls in flight when the process dies fail as tool errors; none fails the rollout.
  std::vector<std::future<Result<ToolOutput>>> inflight;
  for (int i = 0; i < 6; ++i)
    inflight.push_back(std::async(std::launch::async, [&] { return client->CallTool("slow", {{"seconds", 1}}); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto crashed = client->CallTool("crash", json::object());
  ASSERT_TRUE(crashed.ok());
  EXPECT_TRUE(crashed->is_error);
  for (auto& f : inflight) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->is_error) << r->text;
  }
  // Many callers find the server dead at once: one restart serves them all.
  std::vector<std::future<Result<ToolOutput>>> after;
  for (int i = 0; i < 8; ++i)
    after.push_back(std::async(std::launch::async, [&, i] { return client->CallTool("echo", {{"text", std::to_string(i)}}); }));
  for (int i = 0; i < 8; ++i) {
    auto r = after[i].get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->text, "shared echo: " + std::to_string(i));
  }
  EXPECT_EQ(client->stats().starts, 2);
}

TEST(McpStdio, ServerGetsOurEnvironmentPlusConfiguredEnv) {
  ::setenv("TFGRPO_MCP_PARENT_VAR", "from-parent", 1);
  McpServerConfig config = FakeServer("envy");
  config.env = {{"TFGRPO_MCP_EXTRA", "from-config"}};
  auto client = ConnectOrDie(config);
  ASSERT_TRUE(client);
  EXPECT_EQ(CallText(*client, "env", {{"name", "TFGRPO_MCP_EXTRA"}}), "from-config");
  EXPECT_EQ(CallText(*client, "env", {{"name", "TFGRPO_MCP_PARENT_VAR"}}), "from-parent");
}

TEST(McpStdio, ServerThatCannotStartIsAClearErrorNamingServerAndCommand) {
  McpServerConfig missing;
  missing.name = "ghost";
  missing.command = {"tfgrpo-no-such-mcp-server", "--flag"};
  auto client = McpClient::Connect(missing, FastOptions());
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(client.status().message().find("mcp server 'ghost'"), std::string::npos) << client.status().message();
  EXPECT_NE(client.status().message().find("tfgrpo-no-such-mcp-server --flag"), std::string::npos);

  auto exits = McpClient::Connect(FakeServer("quitter", {"--exit-at-start"}), FastOptions());
  ASSERT_FALSE(exits.ok());
  EXPECT_NE(exits.status().message().find("mcp server 'quitter'"), std::string::npos) << exits.status().message();
  EXPECT_NE(exits.status().message().find("refusing to start"), std::string::npos) << exits.status().message();

  auto set = ConnectMcpServers({FakeServer("fine"), FakeServer("quitter", {"--exit-at-start"})}, {}, FastOptions());
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.status().message().find("'quitter'"), std::string::npos) << set.status().message();
}

TEST(McpStdio, StopReapsTheServerEvenWhenItIgnoresEofAndSigterm) {
  McpOptions options = FastOptions();
  options.stop_grace_s = 0.2;
  auto polite = ConnectOrDie(FakeServer("polite"), options);
  ASSERT_TRUE(polite);
  const pid_t polite_pid = ServerPid(*polite);
  polite->Stop();
  EXPECT_FALSE(testing::ProcessExists(polite_pid));

  auto stubborn = ConnectOrDie(FakeServer("stubborn", {"--ignore-term"}), options);
  ASSERT_TRUE(stubborn);
  const pid_t stubborn_pid = ServerPid(*stubborn);
  stubborn->Stop();
  EXPECT_FALSE(testing::ProcessExists(stubborn_pid));
  // Stopped is not broken: the next call starts it again.
  EXPECT_EQ(CallText(*stubborn, "echo", {{"text", "again"}}), "stubborn echo: again");
  EXPECT_EQ(stubborn->stats().starts, 2);
}

TEST(McpStdio, ToolsetPrefixesOnlyNamesTwoServersShareAndRoutesCalls) {
  auto set = ConnectMcpServers({FakeServer("alpha", {"--tools", "echo,pid"}), FakeServer("beta", {"--tools", "echo,info"})},
                               {"python"}, FastOptions());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  std::map<std::string, std::shared_ptr<Tool>> by_name;
  for (auto& t : set->tools) by_name[t->spec().name] = t;
  ASSERT_EQ(by_name.size(), 4u);
  ASSERT_TRUE(by_name.count("alpha_echo") && by_name.count("beta_echo") && by_name.count("pid") && by_name.count("info"));
  auto a = by_name["alpha_echo"]->Run({{"text", "x"}});
  auto b = by_name["beta_echo"]->Run({{"text", "y"}});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->text, "alpha echo: x");
  EXPECT_EQ(b->text, "beta echo: y");
  EXPECT_EQ(by_name["alpha_echo"]->spec().parameters["required"], json::array({"text"}));
  EXPECT_EQ(by_name["info"]->spec().description, "info tool of beta");
  set->Stop();
}

TEST(McpStdio, AllowListFiltersAndAnUnofferedNameIsAnError) {
  McpServerConfig config = FakeServer("picky");
  config.allow = {"echo", "fail"};
  auto set = ConnectMcpServers({config}, {}, FastOptions());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->tools.size(), 2u);
  EXPECT_EQ(set->tools[0]->spec().name, "echo");
  EXPECT_EQ(set->tools[1]->spec().name, "fail");

  config.allow = {"echo", "nope"};
  auto bad = ConnectMcpServers({config}, {}, FastOptions());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'nope'"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("it offers: echo, slow"), std::string::npos) << bad.status().message();
}

TEST(McpStdio, BuiltInNameIsPrefixed) {
  auto set = ConnectMcpServers({FakeServer("srv", {"--tools", "python,echo"})}, {"python"}, FastOptions());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->tools.size(), 2u);
  EXPECT_EQ(set->tools[0]->spec().name, "srv_python");
  EXPECT_EQ(set->tools[1]->spec().name, "echo");
}

}  // namespace
}  // namespace tfgrpo
