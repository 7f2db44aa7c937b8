// A stdio MCP server that prints the provider key on stderr and dies (issue 16): the key reaches
// neither the tool error, the rollout's messages, the transcript, the next LLM request, nor
// run.db.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/agent_test_util.h"
#include "test_util.h"
#include "tfgrpo/agent.h"
#include "tfgrpo/secrets.h"
#include "tfgrpo/store.h"

namespace tfgrpo {
namespace {

using namespace agenttest;  // NOLINT
using json = nlohmann::json;
using testing::Reply;
using testing::ScriptedClient;

constexpr const char* kKey = "sk-tfgrpo-agent-test-key-9876543210fedcba";

std::string FileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SecretsInTheAgent, AKeyPrintedByADyingMcpServerReachesNoHistoryRequestOrRunStore) {
  ::setenv("TFGRPO_API_KEY", kKey, 1);
  Config config;
  config.task.mode = TaskMode::kAgent;
  config.tools.timeout_s = 10;
  config.tools.enabled = {};
  McpServerConfig server;
  server.name = "leaky";
  server.command = {"python3", std::string(TFGRPO_SOURCE_DIR) + "/tests/mcp/fake_mcp_server.py", "--tools", "leak"};
  // Passed by name: the only way the server gets the key at all.
  server.env = {{"LEAKED_KEY", kKey}};
  config.tools.mcp.push_back(server);
  InstallRunSecrets(CollectSecrets(config));
  auto tools = MakeToolsFor(config);
  ASSERT_TRUE(tools.ok()) << tools.status().ToString();

  const json calls = json::array({Call("call_a", json{{"name", "LEAKED_KEY"}}.dump(), "leak")});
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
                               [] { return Result<ChatResponse>(Reply("\\boxed{1}")); }}));
  auto out = RunRollout(client, Spec(), AgentTask(), &*tools);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->tool_calls, 1);

  const std::string tool_message = out->messages.size() > 3 ? out->messages[3].dump() : "";
  EXPECT_NE(tool_message.find("[redacted]"), std::string::npos) << tool_message;  // its stderr was quoted
  const std::string prefix = std::string(kKey).substr(0, kRedactedPrefixBytes);
  EXPECT_EQ(json(out->messages).dump().find(prefix), std::string::npos);
  EXPECT_EQ(out->trajectory.find(prefix), std::string::npos) << out->trajectory;
  EXPECT_EQ(Body(client, 1).dump().find(prefix), std::string::npos);

  // The run store's last guard: even a text that still held the key is stored redacted.
  testing::TempDir dir;
  {
    auto store = RunStore::Open(dir.path() / "run.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    RolloutRecord record;
    record.task_id = "t1";
    record.messages_json = json(out->messages).dump();
    record.error = std::string("a rollout error quoting ") + kKey;
    record.answer = std::string(kKey).substr(0, 12);  // a cut-off prefix
    ASSERT_TRUE((*store)->RecordRollout(record).ok());
  }
  std::string bytes;
  for (const char* name : {"run.db", "run.db-wal"})
    if (std::filesystem::exists(dir.path() / name)) bytes += FileBytes(dir.path() / name);
  ASSERT_FALSE(bytes.empty());
  EXPECT_NE(bytes.find("a rollout error quoting [redacted]"), std::string::npos);
  EXPECT_EQ(bytes.find(prefix), std::string::npos);
  ::unsetenv("TFGRPO_API_KEY");
}

}  // namespace
}  // namespace tfgrpo
