// MCP over stdio against hostile servers (issue 16): one that prints the provider key it was
// given and dies, one that leaves a child behind, one that floods us with requests of its own,
// and tools/list replies too large or nested too deep.
#include <dirent.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "mcp_test_util.h"
#include "tfgrpo/json.h"
#include "tfgrpo/mcp.h"
#include "tfgrpo/process.h"
#include "tfgrpo/secrets.h"

namespace tfgrpo {
namespace {

using nlohmann::json;
using testing::FakeServer;

constexpr const char* kProviderKey = "sk-tfgrpo-test-provider-key-0123456789abcdef";

McpOptions Options() {
  McpOptions o;
  o.call_timeout_s = 10;
  o.startup_timeout_s = 20;
  o.stop_grace_s = 0.5;
  return o;
}

std::shared_ptr<McpClient> ConnectOrDie(const McpServerConfig& config, const McpOptions& options = Options()) {
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

// Gone: no such process, or a zombie nobody has reaped yet (it runs nothing any more).
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

// Waits (at most 10 s) for `pid` to be gone.
bool EventuallyGone(pid_t pid) {
  for (int i = 0; i < 200; ++i) {
    if (ProcessGone(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ProcessGone(pid);
}

class ProviderKeySet {
 public:
  ProviderKeySet() { ::setenv("TFGRPO_API_KEY", kProviderKey, 1); }
  ~ProviderKeySet() { ::unsetenv("TFGRPO_API_KEY"); }
};

TEST(McpStdioHostile, ServerEnvironmentHoldsNoProviderKeyUnlessPassedByName) {
  ProviderKeySet key;
  ::setenv("TFGRPO_MCP_HARMLESS", "still-inherited", 1);
  auto client = ConnectOrDie(FakeServer("clean"));
  ASSERT_TRUE(client);
  json env = ParseUntrustedJson(CallText(*client, "envdump"));
  ASSERT_TRUE(env.is_object()) << env.dump();
  EXPECT_FALSE(env.contains("TFGRPO_API_KEY"));
  EXPECT_EQ(env.value("TFGRPO_MCP_HARMLESS", ""), "still-inherited");
  for (const auto& [name, value] : env.items())
    EXPECT_EQ(value.get<std::string>().find("sk-tfgrpo-test"), std::string::npos) << name;

  // The config passes it by name: then (and only then) the server has it.
  McpServerConfig passed = FakeServer("passed");
  passed.env = {{"TFGRPO_API_KEY", kProviderKey}};
  auto with_key = ConnectOrDie(passed);
  ASSERT_TRUE(with_key);
  auto out = with_key->CallTool("env", {{"name", "TFGRPO_API_KEY"}});
  ASSERT_TRUE(out.ok());
  // It reached the server, and even then its output shows it redacted.
  EXPECT_EQ(out->text, "[redacted]");
  ::unsetenv("TFGRPO_MCP_HARMLESS");
}

TEST(McpStdioHostile, AServerPrintingTheKeyOnStderrAndDyingLeaksItIntoNoError) {
  ProviderKeySet key;
  McpServerConfig config = FakeServer("leaky");
  config.env = {{"LEAKED_KEY", kProviderKey}};
  auto client = ConnectOrDie(config);
  ASSERT_TRUE(client);
  auto out = client->CallTool("leak", {{"name", "LEAKED_KEY"}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->is_error);
  // The stderr tail is quoted (the server's death explained), the key is not.
  EXPECT_NE(out->text.find("fatal: cannot use key [redacted]"), std::string::npos) << out->text;
  EXPECT_EQ(out->text.find("sk-tfgrpo"), std::string::npos) << out->text;
  EXPECT_EQ(client->stderr_tail().find("sk-tfgrpo"), std::string::npos) << client->stderr_tail();
}

TEST(McpStdioHostile, JsonRpcErrorTextIsRedacted) {
  ProviderKeySet key;
  // A prefix of the key (cut by the server's own truncation) is redacted as well.
  const std::string prefix = std::string(kProviderKey).substr(0, 12);
  EXPECT_EQ(RedactRunSecrets("unknown tool " + prefix + "!"), "unknown tool [redacted]!");
  auto client = ConnectOrDie(FakeServer("rpc"));
  ASSERT_TRUE(client);
  auto out = client->CallTool(std::string("no-such-") + kProviderKey, json::object());
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->is_error);
  EXPECT_NE(out->text.find("unknown tool no-such-[redacted]"), std::string::npos) << out->text;
}

TEST(McpStdioHostile, ChildrenOfADeadServerAreSignalledWithItsGroup) {
  auto client = ConnectOrDie(FakeServer("parent"));
  ASSERT_TRUE(client);
  const pid_t child = static_cast<pid_t>(std::stol(CallText(*client, "spawn")));
  ASSERT_GT(child, 0);
  EXPECT_FALSE(ProcessGone(child));
  auto crashed = client->CallTool("crash", json::object());
  ASSERT_TRUE(crashed.ok());
  EXPECT_TRUE(crashed->is_error);
  EXPECT_TRUE(EventuallyGone(child)) << "the server's child " << child << " outlived it";
  if (!ProcessGone(child)) ::kill(child, SIGKILL);
}

TEST(McpStdioHostile, ChildrenOfAStoppedServerAreSignalledWithItsGroup) {
  auto client = ConnectOrDie(FakeServer("stopper"));
  ASSERT_TRUE(client);
  const pid_t child = static_cast<pid_t>(std::stol(CallText(*client, "spawn")));
  ASSERT_GT(child, 0);
  client->Stop();  // the server exits politely on EOF; its child would not
  EXPECT_TRUE(EventuallyGone(child)) << "the server's child " << child << " outlived Stop";
  if (!ProcessGone(child)) ::kill(child, SIGKILL);
}

TEST(McpStdioHostile, AFloodOfServerRequestsDoesNotStallOurCalls) {
  auto client = ConnectOrDie(FakeServer("flood"));
  ASSERT_TRUE(client);
  // 5000 pings while the server reads none of our answers: answering them on the reader thread
  // stopped it reading the server's stdout, so the reply never arrived within 10 s.
  EXPECT_EQ(CallText(*client, "flood", {{"count", 5000}}), "flooded 5000");
  EXPECT_EQ(CallText(*client, "echo", {{"text", "after"}}), "flood echo: after");
}

long MaxRssKb() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST(McpStdioHostile, AHugeToolListFailsNamingTheServerInBoundedMemory) {
  auto client = ConnectOrDie(FakeServer("huge", {"--tools", "echo", "--schema-bytes", "53000000"}));
  ASSERT_TRUE(client);
  const long before = MaxRssKb();
  auto tools = client->ListTools();
  ASSERT_FALSE(tools.ok());
  EXPECT_NE(tools.status().message().find("mcp server 'huge'"), std::string::npos) << tools.status().message();
  EXPECT_NE(tools.status().message().find("larger than 16 MiB"), std::string::npos) << tools.status().message();
  // Holding a 51 MB line and parsing it took over 1 GB; now at most one 16 MiB buffer is held.
  EXPECT_LT(MaxRssKb() - before, 200 * 1024) << "KiB";
  // The server is fine otherwise.
  EXPECT_EQ(CallText(*client, "echo", {{"text", "ok"}}), "huge echo: ok");
}

TEST(McpStdioHostile, ToolDefinitionsPastTheTotalCapFailNamingTheServer) {
  // One 5 MB definition: the message is within 16 MiB, the list is past its 4 MiB.
  auto client = ConnectOrDie(FakeServer("wide", {"--tools", "echo", "--schema-bytes", "5300000"}));
  ASSERT_TRUE(client);
  auto tools = client->ListTools();
  ASSERT_FALSE(tools.ok());
  EXPECT_NE(tools.status().message().find("mcp server 'wide'"), std::string::npos) << tools.status().message();
  EXPECT_NE(tools.status().message().find("larger than 4 MiB"), std::string::npos) << tools.status().message();
}

TEST(McpStdioHostile, ASchemaNestedTooDeepFailsAtOnceWithAClearError) {
  McpOptions options = Options();
  options.startup_timeout_s = 60;
  auto deep = ConnectOrDie(FakeServer("deep200", {"--tools", "echo", "--schema-depth", "200"}), options);
  ASSERT_TRUE(deep);
  auto tools = deep->ListTools();
  ASSERT_FALSE(tools.ok());
  const std::string& message = tools.status().message();
  EXPECT_NE(message.find("mcp server 'deep200'"), std::string::npos) << message;
  EXPECT_NE(message.find("nested deeper than 128 levels"), std::string::npos) << message;
  EXPECT_EQ(message.find("no reply"), std::string::npos) << message;

  // Parseable, but deeper than a tool schema may be.
  auto deepish = ConnectOrDie(FakeServer("deep100", {"--tools", "echo", "--schema-depth", "100"}), options);
  ASSERT_TRUE(deepish);
  auto listed = deepish->ListTools();
  ASSERT_FALSE(listed.ok());
  EXPECT_NE(listed.status().message().find("mcp server 'deep100'"), std::string::npos) << listed.status().message();
  EXPECT_NE(listed.status().message().find("tool 'deep' is nested deeper than 64 levels"), std::string::npos)
      << listed.status().message();

  auto shallow = ConnectOrDie(FakeServer("deep60", {"--tools", "echo", "--schema-depth", "60"}), options);
  ASSERT_TRUE(shallow);
  auto fine = shallow->ListTools();
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  EXPECT_EQ(fine->size(), 2u);
}

int OpenFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

// Issue 18: every way a stdio server can fail to start closes every descriptor it opened.
TEST(McpStdioHostile, ServersThatCannotStartLeakNoDescriptors) {
  McpServerConfig missing_path;
  missing_path.name = "ghost";
  missing_path.command = {"./tfgrpo-no-such-mcp-server"};
  McpServerConfig missing_name = missing_path;
  missing_name.command = {"tfgrpo-no-such-mcp-server"};
  McpServerConfig not_executable = missing_path;
  not_executable.command = {"/etc/hostname"};
  const int before = OpenFds();
  for (int i = 0; i < 20; ++i) {
    for (const auto* config : {&missing_path, &missing_name, &not_executable}) {
      auto client = McpClient::Connect(*config, Options());
      ASSERT_FALSE(client.ok());
      EXPECT_NE(client.status().message().find("mcp server 'ghost'"), std::string::npos) << client.status().message();
    }
    EXPECT_FALSE(McpClient::Connect(FakeServer("quitter", {"--exit-at-start"}), Options()).ok());
  }
  EXPECT_EQ(OpenFds(), before);
}

TEST(McpStdioHostile, ExecFailureNamesTheErrnoNotExit127) {
  McpServerConfig missing;
  missing.name = "ghost";
  missing.command = {"./tfgrpo-no-such-mcp-server"};
  auto client = McpClient::Connect(missing, Options());
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find("No such file or directory"), std::string::npos)
      << client.status().message();
}

// The launcher seam: a fake sees the spec (scrubbed environment, own process group) and its
// failure reaches the caller.
class RefusingLauncher : public Launcher {
 public:
  Result<std::unique_ptr<Process>> Spawn(const SpawnSpec& spec) override {
    specs.push_back(spec);
    return Status::Unavailable("refused by the test launcher");
  }
  std::vector<SpawnSpec> specs;
};

TEST(McpStdioHostile, StdioServersStartThroughTheGivenLauncher) {
  ::setenv("OPENAI_API_KEY", kProviderKey, 1);
  RefusingLauncher launcher;
  McpOptions options = Options();
  options.launcher = &launcher;
  auto client = McpClient::Connect(FakeServer("fake"), options);
  ::unsetenv("OPENAI_API_KEY");
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find("refused by the test launcher"), std::string::npos)
      << client.status().message();
  ASSERT_FALSE(launcher.specs.empty());
  EXPECT_TRUE(launcher.specs[0].new_process_group);
  for (const auto& entry : launcher.specs[0].env) EXPECT_EQ(entry.find(kProviderKey), std::string::npos) << entry;
}

}  // namespace
}  // namespace tfgrpo
