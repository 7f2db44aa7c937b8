// The gateway driven by the real `openai` npm package (pinned in scripts/install-test-npm.sh)
// through tests/gateway/openai_sdk_client.mjs: what the official SDK makes of our chat
// completions, our chunk stream (tool calls included), our Responses and our 401. Skipped loudly
// without node/npm.
#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "gateway/gateway_test_util.h"

namespace tfgrpo {
namespace {

using testing::ScriptedClient;
using testing::TestOptions;
using testing::Ticket;

bool OnPath(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

std::string NpmDir(std::string* skip) {
  if (!OnPath("node") || !OnPath("npm")) {
    *skip = "node/npm not found on PATH: the gateway tests with the real openai SDK did NOT run";
    return "";
  }
  std::string dir;
  if (const char* env = std::getenv("TFGRPO_MCP_NPM_DIR"); env && *env) {
    dir = env;
  } else {
    const char* home = std::getenv("HOME");
    dir = std::string(home && *home ? home : "/tmp") + "/.cache/tfgrpo-npm";
  }
  if (!std::filesystem::exists(dir + "/node_modules/openai/package.json")) {
    const std::string cmd = std::string(TFGRPO_SOURCE_DIR) + "/scripts/install-test-npm.sh '" + dir + "' >&2";
    if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "installing the npm test packages failed: " << cmd;
  }
  return dir;
}

TEST(GatewayOpenAiSdk, TheSdkReadsOurCompletionsChunksResponsesModelsAnd401) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string skip;
  const std::string npm = NpmDir(&skip);
  if (npm.empty()) GTEST_SKIP() << skip;

  ScriptedClient upstream([](const ChatRequest&) -> Result<ChatResponse> {
    ChatResponse r;
    r.content = "Searching.";
    r.finish_reason = "tool_calls";
    r.message = nlohmann::json::parse(R"({"role":"assistant","content":"Searching.","tool_calls":[
        {"id":"call_7","type":"function","function":{"name":"search","arguments":"{\"q\":\"answer\"}"}}]})");
    r.usage.prompt_tokens = 11;
    r.usage.completion_tokens = 4;
    return r;
  });
  auto gateway = StartGateway(TestOptions(), upstream);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(Ticket());
  ASSERT_TRUE(lease.ok());

  const std::string cmd = "OPENAI_BASE_URL='" + (*lease)->base_url() + "' OPENAI_API_KEY='" + (*lease)->token() +
                          "' TFGRPO_NPM_DIR='" + npm + "' timeout 120 node '" + TFGRPO_SOURCE_DIR +
                          "/tests/gateway/openai_sdk_client.mjs'";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  ASSERT_EQ(::pclose(pipe), 0) << "the node client failed: " << out;
  nlohmann::json got = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(got.is_object()) << out;

  const nlohmann::json calls = nlohmann::json::parse(
      R"([{"id":"call_7","type":"function","function":{"name":"search","arguments":"{\"q\":\"answer\"}"}}])");
  EXPECT_EQ(got["plain_message"]["content"], "Searching.");
  EXPECT_EQ(got["plain_message"]["tool_calls"], calls);
  EXPECT_EQ(got["plain_finish"], "tool_calls");
  EXPECT_EQ(got["streamed_message"]["content"], "Searching.");
  EXPECT_EQ(got["streamed_message"]["tool_calls"], calls);
  EXPECT_EQ(got["streamed_finish"], "tool_calls");
  EXPECT_EQ(got["streamed_usage"]["total_tokens"], 15);
  EXPECT_EQ(got["response_status"], "completed");
  EXPECT_EQ(got["response_calls"], nlohmann::json::array({"search"}));
  EXPECT_EQ(got["models"], nlohmann::json::array({"run-model"}));
  EXPECT_EQ(got["refusal"]["status"], 401);
  EXPECT_EQ(got["refusal"]["code"], "invalid_api_key");
  // Three calls answered, each through the lease; the plain and streamed chat are one body.
  auto sent = upstream.requests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].call_id, "s0/t1/r0/a1");
  EXPECT_EQ(sent[2].call_id, "s0/t1/r0/a2");
}

}  // namespace
}  // namespace tfgrpo
