// Agent mode end to end: the simulated LLM over HTTP, the real bubblewrap python sandbox, both
// tool protocols; the learner's chain on agent transcripts; and agent-mode train + eval whose
// learned library raises held-out Mean@k.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "test_util.h"
#include "tfgrpo/agent.h"
#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/library.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using json = nlohmann::json;
using testing::TempDir;

// The sandbox proves itself once (Create runs a probe script); skipped where bubblewrap cannot
// create namespaces.
const ToolRegistry* SharedTools() {
  static std::unique_ptr<ToolRegistry> tools;
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    ToolsConfig config;
    config.sandbox = SandboxMode::kBwrap;
    config.timeout_s = 10;
    auto made = MakePythonTool(config);
    if (made.ok()) {
      tools = std::make_unique<ToolRegistry>();
      if (Status s = tools->Add(std::move(made).value()); !s.ok()) error = s.ToString(), tools.reset();
    } else {
      error = made.status().ToString();
    }
  }
  if (!tools) std::fprintf(stderr, "python sandbox unavailable: %s\n", error.c_str());
  return tools.get();
}

#define REQUIRE_SANDBOX()                                                           \
  do {                                                                              \
    if (SharedTools() == nullptr) GTEST_SKIP() << "bubblewrap sandbox unavailable"; \
  } while (0)

std::unique_ptr<ChatClient> FastClient(const std::string& base_url, int concurrency = 8) {
  HttpClientOptions o;
  o.base_url = base_url;
  o.model = "sim";
  o.max_retries = 8;
  o.concurrency = concurrency;
  o.timeout_s = 10;
  o.backoff_initial_s = 0.001;
  o.backoff_max_s = 0.01;
  return MakeHttpChatClient(o);
}

TaskConfig AgentTask(ToolProtocol protocol) {
  TaskConfig t;
  t.mode = TaskMode::kAgent;
  t.tool_protocol = protocol;
  t.reward = RewardKind::kMath;
  return t;
}
// The suites are parametrised by the YAML spelling.
TaskConfig AgentTask(const std::string& protocol) {
  return AgentTask(protocol == "native" ? ToolProtocol::kNative : ToolProtocol::kText);
}

// The last \boxed{...} of a reply (the simulator's answers have no nested braces).
std::string Boxed(const std::string& text) {
  size_t pos = text.rfind("\\boxed{");
  if (pos == std::string::npos) return "";
  size_t end = text.find('}', pos);
  return end == std::string::npos ? "" : text.substr(pos + 7, end - pos - 7);
}

bool SameNumber(const std::string& a, const std::string& b) {
  char* end_a = nullptr;
  char* end_b = nullptr;
  std::string ta = Trim(a), tb = Trim(b);
  double va = std::strtod(ta.c_str(), &end_a), vb = std::strtod(tb.c_str(), &end_b);
  return !ta.empty() && !tb.empty() && *end_a == '\0' && *end_b == '\0' && std::abs(va - vb) < 1e-6;
}

// What the python tool printed in a finished rollout's conversation.
std::string ToolOutputIn(const json& messages, const std::string& protocol) {
  const json& m = messages[3];
  std::string content = m["content"];
  if (protocol == "native") return content;
  // "Python output:\n```\n<output>\n```"
  size_t open = content.find("```\n");
  size_t close = content.rfind("\n```");
  return open == std::string::npos || close <= open ? ""
                                                    : content.substr(open + 4, close - open - 4);
}

class AgentSim : public ::testing::TestWithParam<std::string> {};

TEST_P(AgentSim, RolloutsCallTheRealSandboxAndAnswerConsistently) {
  REQUIRE_SANDBOX();
  const std::string protocol = GetParam();
  SimServer sim(SimOptions{.seed = 7, .p_success_without = 0.5});
  ASSERT_TRUE(sim.Start(0).ok());
  auto client = FastClient(sim.base_url());
  TaskConfig task = AgentTask(protocol);

  int right = 0, wrong = 0;
  for (const auto& t : GenerateSimTasks(12, 5)) {
    RolloutSpec spec;
    spec.system_prompt = RolloutInstructions(task, SharedTools());
    spec.problem = t["problem"];
    spec.call_id = "t/" + t["id"].get<std::string>();
    auto out = RunRollout(*client, spec, task, SharedTools());
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->stop_reason, "answer");
    EXPECT_EQ(out->turns, 2);
    EXPECT_EQ(out->tool_calls, 1);
    std::string answer = Boxed(out->final_reply);
    ASSERT_FALSE(answer.empty()) << out->final_reply;
    ASSERT_EQ(out->messages.size(), 5u) << out->messages.dump(1);
    EXPECT_EQ(out->messages[2]["role"], "assistant");
    if (protocol == "native") {
      EXPECT_EQ(out->messages[2]["tool_calls"][0]["function"]["name"], "python");
      EXPECT_EQ(out->messages[3]["role"], "tool");
      EXPECT_EQ(out->messages[3]["tool_call_id"], out->messages[2]["tool_calls"][0]["id"]);
    } else {
      EXPECT_NE(out->messages[2]["content"].get<std::string>().find("```python"),
                std::string::npos);
      EXPECT_EQ(out->messages[3]["role"], "user");
    }
    // Python really ran the simulated code: it printed the answer the final reply gives, the
    // right one on the sound path and the pitfall's on the other.
    std::string printed = ToolOutputIn(out->messages, protocol);
    EXPECT_TRUE(SameNumber(printed, answer))
        << "python printed '" << printed << "', answer " << answer;
    (answer == t["groundtruth"].get<std::string>() ? right : wrong)++;
    EXPECT_NE(out->trajectory.find("Tool output 1"), std::string::npos);
  }
  EXPECT_GT(right, 0);
  EXPECT_GT(wrong, 0);

  // Every turn carried its own call id; the server accepted every history (no 400s).
  int turn0 = 0, turn1 = 0;
  for (const auto& entry : sim.RequestLog()) {
    EXPECT_EQ(entry.status, 200) << entry.call_id;
    turn0 += EndsWith(entry.call_id, "/turn0");
    turn1 += EndsWith(entry.call_id, "/turn1");
  }
  EXPECT_EQ(turn0, 12);
  EXPECT_EQ(turn1, 12);
}

INSTANTIATE_TEST_SUITE_P(Protocols, AgentSim, ::testing::Values("native", "text"));

// The learner's chain reads agent transcripts: summaries keep the pitfall and the verdict, and
// the advantage distils the pitfall's experience from a winner and a loser.
TEST(AgentSimLearner, SummariesAndAdvantageWorkOnAgentTranscripts) {
  REQUIRE_SANDBOX();
  SimServer sim(SimOptions{.seed = 3, .p_success_without = 0.5});
  ASSERT_TRUE(sim.Start(0).ok());
  auto client = FastClient(sim.base_url());
  auto prompts = PromptSet::Load(std::nullopt);
  ASSERT_TRUE(prompts.ok());
  TaskConfig task = AgentTask(ToolProtocol::kNative);
  json t = GenerateSimTasks(1, 9)[0];
  const std::string truth = t["groundtruth"];
  const SimPitfall* pitfall = nullptr;
  for (const auto& p : SimPitfalls())
    if (p.name == t["pitfall"]) pitfall = &p;
  ASSERT_NE(pitfall, nullptr);

  std::string summaries;
  bool seen[2] = {false, false};
  for (int r = 0; r < 16 && !(seen[0] && seen[1]); ++r) {
    RolloutSpec spec;
    spec.system_prompt = RolloutInstructions(task, SharedTools());
    spec.problem = t["problem"];
    spec.call_id = "learn/r" + std::to_string(r);
    auto out = RunRollout(*client, spec, task, SharedTools());
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    bool correct = Boxed(out->final_reply) == truth;
    if (seen[correct]) continue;
    seen[correct] = true;
    auto prompt = prompts->Render("summary", {{"problem", t["problem"]},
                                              {"trajectory", out->trajectory},
                                              {"ground_truth", truth},
                                              {"reward", correct ? "1" : "0"},
                                              {"critique", ""},
                 {"library", "(empty)"},
                                              {"agent_objective", ""}});
    ASSERT_TRUE(prompt.ok());
    ChatRequest req;
    req.role = Role::kSummary;
    req.messages = {{"user", *prompt}};
    auto summary = client->Complete(req);
    ASSERT_TRUE(summary.ok());
    EXPECT_TRUE(ContainsCaseInsensitive(summary->content, pitfall->keyword)) << summary->content;
    EXPECT_EQ(ContainsCaseInsensitive(summary->content, "mistake"), !correct) << summary->content;
    summaries += "### Attempt (reward " + std::string(correct ? "1" : "0") + ")\n" +
                 summary->content + "\n\n";
  }
  ASSERT_TRUE(seen[0] && seen[1]) << "need a winner and a loser";
  auto adv = prompts->Render("advantage", {{"problem", t["problem"]},
                                                {"library", "(empty)"},
                                           {"ground_truth", truth},
                                           {"summaries", summaries},
                                           {"max_experiences", "2"},
                                           {"agent_objective", ""},
                                           {"learning_objective", ""}});
  ASSERT_TRUE(adv.ok());
  ChatRequest req;
  req.role = Role::kAdvantage;
  req.messages = {{"user", *adv}};
  auto lessons = client->Complete(req);
  ASSERT_TRUE(lessons.ok());
  EXPECT_NE(lessons->content.find(pitfall->experience), std::string::npos) << lessons->content;
}

void WriteTasks(const std::filesystem::path& path, int n, uint64_t seed) {
  std::ofstream out(path);
  for (const auto& t : GenerateSimTasks(n, seed)) out << t.dump() << "\n";
}

struct TrainEvalResult {
  TrainSummary trained;
  EvalReport baseline, learned;
};

// Agent-mode training on `train_n` tasks, then held-out Mean@k without and with the library.
void TrainAndEvaluate(const std::string& protocol, int train_n, int epochs, int eval_n, int k,
                      TrainEvalResult* result) {
  SimServer sim(SimOptions{.seed = 11});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  WriteTasks(dir / "train.jsonl", train_n, 101);
  WriteTasks(dir / "eval.jsonl", eval_n, 202);
  Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = sim.base_url();
  c.model.name = "sim";
  c.model.concurrency = 8;
  c.model.max_retries = 8;
  c.data.train = dir / "train.jsonl";
  c.data.eval = dir / "eval.jsonl";
  c.task = AgentTask(protocol);
  c.tools.sandbox = SandboxMode::kBwrap;
  c.tools.timeout_s = 10;
  c.practice.epochs = epochs;
  c.practice.batch_size = 6;
  c.practice.group_size = 5;
  c.practice.seed = 3;
  auto client = FastClient(c.model.base_url, c.model.concurrency);

  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, *client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  result->trained = *trained;

  auto tasks = LoadTasks(c.data.eval, c.data.problem_key, c.data.answer_key);
  ASSERT_TRUE(tasks.ok());
  EvalOptions eo;
  eo.k = k;
  auto baseline = Evaluate(c, *tasks, Library(), eo, *client);
  auto learned = Evaluate(c, *tasks, trained->library, eo, *client);
  ASSERT_TRUE(baseline.ok()) << baseline.status().ToString();
  ASSERT_TRUE(learned.ok()) << learned.status().ToString();
  result->baseline = *baseline;
  result->learned = *learned;

  // Every rollout was a two-turn agent conversation; no history was refused.
  for (const auto& entry : sim.RequestLog()) EXPECT_EQ(entry.status, 200) << entry.call_id;
}

TEST(AgentSimEndToEnd, NativeAgentTrainingRaisesHeldOutMeanAtK) {
  REQUIRE_SANDBOX();
  TrainEvalResult r;
  TrainAndEvaluate("native", 12, 2, 12, 4, &r);
  if (HasFatalFailure()) return;
  EXPECT_EQ(r.trained.rollouts, 12 * 5 * 2);
  EXPECT_EQ(r.trained.rollouts_failed, 0);
  EXPECT_EQ(r.trained.stages_failed, 0);
  EXPECT_GT(r.trained.library.size(), 0u);
  EXPECT_EQ(r.baseline.samples, 12 * 4);
  for (const auto& te : r.learned.per_task) EXPECT_EQ(te.errors, 0) << te.task_id;
  EXPECT_GE(r.learned.mean_at_k - r.baseline.mean_at_k, 0.3)
      << "baseline " << r.baseline.mean_at_k << " learned " << r.learned.mean_at_k;
  EXPECT_GE(r.learned.pass_at_k, r.baseline.pass_at_k);
}

TEST(AgentSimEndToEnd, TextProtocolAgentTrainingRaisesHeldOutMeanAtK) {
  REQUIRE_SANDBOX();
  TrainEvalResult r;
  TrainAndEvaluate("text", 12, 1, 12, 2, &r);
  if (HasFatalFailure()) return;
  EXPECT_EQ(r.trained.rollouts_failed, 0);
  EXPECT_GT(r.trained.library.size(), 0u);
  EXPECT_GE(r.learned.mean_at_k - r.baseline.mean_at_k, 0.3)
      << "baseline " << r.baseline.mean_at_k << " learned " << r.learned.mean_at_k;
}

// tools.enabled: [] (no built-in tool, no MCP server): an agent-mode run whose model is offered
// nothing answers every rollout in one turn, and training and eval still work. Needs no sandbox.
TEST(AgentSimEndToEnd, AnAgentWithNoToolsAnswersDirectly) {
  SimServer sim(SimOptions{.seed = 5});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  WriteTasks(dir / "train.jsonl", 4, 31);
  Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = sim.base_url();
  c.model.name = "sim";
  c.model.concurrency = 4;
  c.data.train = dir / "train.jsonl";
  c.task = AgentTask(ToolProtocol::kNative);
  c.tools.enabled = {};
  c.practice.epochs = 1;
  c.practice.batch_size = 4;
  c.practice.group_size = 3;
  auto client = FastClient(c.model.base_url, c.model.concurrency);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, *client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_EQ(trained->rollouts, 4 * 3);
  EXPECT_EQ(trained->rollouts_failed, 0);
  int rollout_turns = 0;
  for (const auto& entry : sim.RequestLog()) {
    EXPECT_EQ(entry.status, 200) << entry.call_id;
    if (entry.role != "rollout") continue;
    ++rollout_turns;
    EXPECT_TRUE(EndsWith(entry.call_id, "/turn0")) << entry.call_id << " (a second turn means a tool call)";
  }
  EXPECT_EQ(rollout_turns, 4 * 3);
}

// What the learner sees of a long tool output: a rollout's python call prints 10,000 characters;
// the summary prompt gets its head and its end (the value printed last) with the middle elided
// and counted, within practice.tool_output_chars (6,000 by default).
TEST(AgentTranscript, ALongToolOutputReachesTheSummaryPromptWithItsMiddleElidedAndItsEndIntact) {
  REQUIRE_SANDBOX();
  TempDir dir;
  {
    std::ofstream out(dir / "train.jsonl");
    out << "{\"id\":\"t0\",\"problem\":\"Problem number 0\",\"groundtruth\":\"42\"}\n";
  }
  Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = "http://unused";
  c.model.name = "scripted";
  c.model.concurrency = 4;
  c.data.train = dir / "train.jsonl";
  c.task.mode = TaskMode::kAgent;
  c.task.tool_protocol = ToolProtocol::kNative;
  c.task.reward = RewardKind::kExact;
  c.tools.enabled = {"python"};
  c.tools.sandbox = SandboxMode::kBwrap;
  c.tools.timeout_s = 20;
  c.practice.epochs = 1;
  c.practice.batch_size = 1;
  c.practice.group_size = 2;
  const std::string code = "print('HEAD-' + 'x' * 5000 + 'y' * 4990 + '-TAIL')";
  testing::ScriptedClient client([&code](const ChatRequest& r) -> Result<ChatResponse> {
    switch (r.role) {
      case Role::kRollout:
        if (EndsWith(r.call_id, "/turn0")) {
          ChatResponse call;
          call.finish_reason = "tool_calls";
          call.message = {{"role", "assistant"},
                          {"content", nullptr},
                          {"tool_calls", json::array({{{"id", "c1"},
                                                       {"type", "function"},
                                                       {"function", {{"name", "python"},
                                                                     {"arguments", json{{"code", code}}.dump()}}}}})}};
          return call;
        }
        return testing::Reply(r.call_id.find("/r0/") != std::string::npos ? "\\boxed{42}" : "\\boxed{7}");
      case Role::kSummary: return testing::Reply("1. It printed.\nApplied: none");
      case Role::kAdvantage: return testing::Reply("<Experiences>\n1. When printing, read the end.\n</Experiences>");
      case Role::kGroupUpdate:
        return testing::Reply("```json\n[{\"operation\":\"ADD\",\"id\":null,\"content\":\"Read the end.\"}]\n```");
      case Role::kBatchUpdate:
        return testing::Reply("```json\n[{\"operation\":\"ADD\",\"id\":null,\"content\":\"Read the end.\"}]\n```");
      default: return Status::Internal("unexpected role");
    }
  });
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  auto summaries = client.requests(Role::kSummary);
  ASSERT_EQ(summaries.size(), 2u);
  const std::string& prompt = summaries[0].messages.back().content;
  EXPECT_NE(prompt.find("HEAD-" + std::string(2995, 'x') + "\n[... "), std::string::npos) << prompt.substr(0, 3000);
  EXPECT_NE(prompt.find(" characters omitted ...]\n"), std::string::npos);
  EXPECT_NE(prompt.find(std::string(2900, 'y') + "-TAIL"), std::string::npos);  // the end intact
  EXPECT_EQ(prompt.find(std::string(3001, 'x')), std::string::npos);             // the middle not
  EXPECT_EQ(prompt.find("more bytes not shown"), std::string::npos);
}

}  // namespace
}  // namespace tfgrpo
