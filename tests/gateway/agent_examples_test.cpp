// examples/agents' agents against the gateway in front of the simulator, one lease per run as the
// runner opens them: each agent (the openai SDK streamed, the Agents SDK and the AI SDK on
// /responses, LangGraph, plain python) reaches the model with the lease's base URL and token only,
// makes its tool call and its answer as calls a1 and a2 with its own tool in the request, and
// gets the library injected into its own system prompt. Framework agents skip loudly without npm.
#include <csignal>
#include <fstream>
#include <thread>

#include "example_agents.h"
#include "gateway/gateway_test_util.h"
#include "tfgrpo/sim.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

std::string LastBoxed(const std::string& text) {
  const size_t at = text.rfind("\\boxed{");
  if (at == std::string::npos) return "";
  const size_t end = text.find('}', at);
  return end == std::string::npos ? "" : text.substr(at + 7, end - at - 7);
}

TEST(GatewayAgentExamples, EachAgentRunsThroughALeaseWithItsToolAndTheLibraryInjected) {
  std::signal(SIGPIPE, SIG_IGN);
  if (!testing::ProgramOnPath("python3")) GTEST_SKIP() << "python3 not found on PATH: the examples did NOT run";
  std::string skip;
  const std::string npm = testing::ExampleNpmDir(&skip);
  if (npm.empty()) std::fprintf(stderr, "SKIPPED in part: %s\n", skip.c_str());

  SimServer sim(SimOptions{.seed = 4});
  ASSERT_TRUE(sim.Start(0).ok());
  HttpClientOptions http;
  http.base_url = sim.base_url();
  http.model = "sim-1";
  http.max_retries = 1;
  auto upstream = MakeHttpChatClient(http);
  GatewayOptions options = testing::TestOptions();
  options.model_name = "sim-1";
  options.max_turns = 8;
  auto gateway = StartGateway(options, *upstream);
  ASSERT_TRUE(gateway.ok()) << gateway.status().ToString();
  std::vector<Experience> lessons;
  for (const auto& p : SimPitfalls()) lessons.push_back(Experience{p.experience, -1, ""});
  const Library library(std::move(lessons));

  std::ifstream in(testing::ExampleAgentsDir() / "tasks" / "eval.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const json task = json::parse(line);
  testing::TempDir dir;
  for (const testing::ExampleAgent& agent : testing::ExampleAgents()) {
    if (agent.needs_node && npm.empty()) continue;
    SCOPED_TRACE(agent.name);
    for (bool with_library : {false, true}) {
      auto lease = (*gateway)->Open(testing::Ticket("eval/t0/k" + std::to_string(with_library), with_library ? &library : nullptr));
      ASSERT_TRUE(lease.ok());
      std::map<std::string, std::string> env = {{"OPENAI_BASE_URL", (*lease)->base_url()},
                                                {"OPENAI_API_BASE", (*lease)->base_url()},
                                                {"OPENAI_API_KEY", (*lease)->token()}};
      if (agent.needs_node) env["NODE_PATH"] = npm + "/node_modules";
      const testing::ExampleRun run = testing::RunExampleAgent(agent, env, task.dump(), dir.path());
      const std::vector<GatewayCall> calls = (*lease)->Calls();
      (*lease)->Close();
      ASSERT_EQ(run.exit_code, 0) << run.err;
      EXPECT_FALSE(LastBoxed(run.out).empty()) << run.out;
      ASSERT_EQ(calls.size(), 2u) << "the tool call, then the answer";
      EXPECT_EQ(calls[0].call_id, "eval/t0/k" + std::to_string(with_library) + "/a1");
      EXPECT_EQ(calls[1].call_id, "eval/t0/k" + std::to_string(with_library) + "/a2");
      ASSERT_TRUE(calls[0].reply.contains("tool_calls")) << calls[0].reply.dump();
      EXPECT_EQ(calls[0].reply["tool_calls"][0]["function"]["name"], "find_numbers");
      // The agent's own system prompt, with the library appended when the lease has one.
      const std::string system = calls[1].messages[0].value("content", "");
      EXPECT_NE(system.find("careful math assistant"), std::string::npos) << system;
      EXPECT_EQ(system.find(SimPitfalls()[0].keyword) != std::string::npos, with_library) << system;
      // The tool's result came back to the model in the second call.
      bool tool_result = false;
      for (const auto& m : calls[1].messages) tool_result |= m.value("role", "") == "tool";
      EXPECT_TRUE(tool_result) << calls[1].messages.dump();
    }
  }
  if (npm.empty()) GTEST_SKIP() << skip << " (the python example ran and passed)";
}

}  // namespace
}  // namespace tfgrpo
