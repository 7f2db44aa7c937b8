// The per-call context the ReAct loop hands to tools (ToolCallContext), and what browse makes of
// it: its summarizing call's id is tied to the tool call, so a resumed run replays it from the run
// store and two identical runs use the same ids.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>

#include "agent_test_util.h"
#include "grpo/train_config.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/util.h"
#include "tfgrpo/web.h"

namespace tfgrpo {
namespace {

using agenttest::AgentTask;
using agenttest::Call;
using agenttest::Spec;
using agenttest::ToolCallReply;
using agenttest::Turns;
using testing::Reply;
using testing::ScriptedClient;
using testing::TempDir;

// A tool that records the context of every call.
class ContextRecordingTool : public Tool {
 public:
  explicit ContextRecordingTool(std::string name) { spec_.name = std::move(name); }
  const ToolSpec& spec() const override { return spec_; }
  Result<ToolOutput> Run(const nlohmann::json&) override { return ToolOutput{"without context"}; }
  Result<ToolOutput> Run(const nlohmann::json&, const ToolCallContext& context) override {
    ids.push_back(context.call_id);
    deadlines.push_back(context.deadline);
    return ToolOutput{"ok"};
  }
  std::vector<std::string> ids;
  std::vector<std::chrono::steady_clock::time_point> deadlines;

 private:
  ToolSpec spec_;
};

TEST(ToolCallContext, EachCallGetsItsTurnAndPositionInBothProtocols) {
  auto tool = std::make_shared<ContextRecordingTool>("probe");
  ToolRegistry registry;
  ASSERT_TRUE(registry.Add(tool).ok());

  ScriptedClient native(Turns({[] { return Result<ChatResponse>(ToolCallReply({Call("a", "{}", "probe")})); },
                               [] {
                                 return Result<ChatResponse>(
                                     ToolCallReply({Call("b", "{}", "probe"), Call("c", "{}", "probe")}));
                               },
                               [] { return Result<ChatResponse>(Reply("done")); }}));
  auto out = RunRollout(native, Spec("s0/tA/r1"), AgentTask(), &registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(tool->ids, (std::vector<std::string>{"s0/tA/r1/turn0/call0", "s0/tA/r1/turn1/call0",
                                                 "s0/tA/r1/turn1/call1"}));

  tool->ids.clear();
  const std::string block = "```tool\n{\"name\": \"probe\", \"arguments\": {}}\n```\n";
  ScriptedClient text(Turns({[&] { return Result<ChatResponse>(Reply(block + block)); },
                             [] { return Result<ChatResponse>(Reply("done")); }}));
  out = RunRollout(text, Spec("s2/tB/r0"), AgentTask(ToolProtocol::kText), &registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(tool->ids, (std::vector<std::string>{"s2/tB/r0/turn0/call0", "s2/tB/r0/turn0/call1"}));
}

TEST(ToolCallContext, EveryCallCarriesTheRolloutsDeadline) {
  // A tool that can stop early (the local search) stops when task.timeout_s runs out: the loop
  // hands every call the moment the rollout's time ends.
  auto tool = std::make_shared<ContextRecordingTool>("probe");
  ToolRegistry registry;
  ASSERT_TRUE(registry.Add(tool).ok());
  ScriptedClient client(Turns({[] { return Result<ChatResponse>(ToolCallReply({Call("a", "{}", "probe")})); },
                               [] { return Result<ChatResponse>(ToolCallReply({Call("b", "{}", "probe")})); },
                               [] { return Result<ChatResponse>(Reply("done")); }}));
  TaskConfig task = AgentTask();
  task.timeout_s = 120;
  const auto before = std::chrono::steady_clock::now();
  auto out = RunRollout(client, Spec("s0/tA/r1"), task, &registry);
  const auto after = std::chrono::steady_clock::now();
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(tool->deadlines.size(), 2u);
  for (auto deadline : tool->deadlines) {
    EXPECT_GE(deadline, before + std::chrono::seconds(120));
    EXPECT_LE(deadline, after + std::chrono::seconds(120));
  }
  EXPECT_EQ(tool->deadlines[0], tool->deadlines[1]);  // one deadline for the whole rollout
}

// ---- browse's summarizing call under training, resumed ----

constexpr const char* kPage = "https://example.org/owls";

std::string TaskNumber(const ChatRequest& r) {
  static const std::regex re("(?:Problem number|Lesson from task) (\\d+)");
  return testing::FirstCapture(r, re);
}

// Every rollout browses the same page for the same goal, then answers (r0 right, the rest
// wrong); the learner replies are well-formed.
Result<ChatResponse> BrowsingScript(const ChatRequest& r) {
  switch (r.role) {
    case Role::kRollout:
      if (EndsWith(r.call_id, "/turn0")) {
        return ToolCallReply(
            {Call("c1", nlohmann::json{{"url", kPage}, {"goal", "what owls do"}}.dump(), "browse")});
      }
      return Reply(r.call_id.find("/r0/") != std::string::npos ? "\\boxed{ANS" + TaskNumber(r) + "}"
                                                               : "\\boxed{WRONG}");
    case Role::kBrowse: return Reply("Owls hunt at night.");
    case Role::kSummary: return Reply("1. The attempt browsed a page.");
    case Role::kAdvantage:
      return Reply("<Experiences>\n1. Lesson from task " + TaskNumber(r) + ".\n</Experiences>");
    case Role::kGroupUpdate:
      return Reply("```json\n[{\"operation\":\"ADD\",\"id\":null,\"content\":\"Lesson from task " + TaskNumber(r) +
                   ".\"}]\n```");
    case Role::kBatchUpdate: return testing::KeepEveryProposal(r);
    default: return Status::Internal("unexpected role");
  }
}

Config BrowsingConfig(const TempDir& dir) {
  Config c = testing::MakeTrainConfig(dir, 2, /*group_size=*/3);
  std::ofstream(dir / "corpus.jsonl") << R"({"url": ")" << kPage
                                      << R"(", "title": "Owls", "text": "Owls hunt at night."})" << "\n";
  IndexBuildOptions build;
  build.corpus = dir / "corpus.jsonl";
  build.out = dir / "index.db";
  EXPECT_TRUE(BuildIndex(build).ok());
  c.task.mode = TaskMode::kAgent;
  c.tools.enabled = {"browse"};
  c.tools.search.index = dir / "index.db";
  c.tools.browse.summarize = true;
  return c;
}

std::set<std::string> CallIds(const std::vector<ChatRequest>& requests) {
  std::set<std::string> ids;
  for (const auto& r : requests) ids.insert(r.call_id);
  return ids;
}

TEST(BrowseUnderTraining, EverySummaryHasItsToolCallsIdAndAResumedRunSendsNoneAgain) {
  TempDir dir;
  Config c = BrowsingConfig(dir);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  // The step fails after its rollouts (every summary times out), so a resumed run redoes it.
  ScriptedClient flaky([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kSummary) return Status::Timeout("HTTP request timed out after 600 s");
    return BrowsingScript(r);
  });
  auto failed = Train(c, opt, flaky);
  ASSERT_FALSE(failed.ok());

  const auto browses = flaky.requests(Role::kBrowse);
  ASSERT_EQ(browses.size(), 6u);  // 2 tasks x 3 samples, one browse each
  std::set<std::string> expected;
  for (const auto& r : flaky.requests(Role::kRollout)) {
    if (EndsWith(r.call_id, "/turn0")) expected.insert(r.call_id + "/call0/browse");
  }
  ASSERT_EQ(expected.size(), 6u);
  EXPECT_EQ(CallIds(browses), expected);  // one id per tool call, none shared
  for (const auto& id : expected) EXPECT_TRUE(std::regex_match(id, std::regex(R"(s0/t\d/r\d/turn0/call0/browse)"))) << id;

  ScriptedClient up(BrowsingScript);
  auto resumed = Train(c, opt, up);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_TRUE(up.requests(Role::kRollout).empty());  // replayed from the run store
  EXPECT_TRUE(up.requests(Role::kBrowse).empty()) << up.requests(Role::kBrowse)[0].call_id;
  EXPECT_EQ(up.requests(Role::kSummary).size(), 6u);

  // An identical run in another run dir uses the same ids for the same requests.
  TempDir other;
  Config c2 = BrowsingConfig(other);
  TrainOptions opt2;
  opt2.run_dir = other / "run";
  ScriptedClient again(BrowsingScript);
  ASSERT_TRUE(Train(c2, opt2, again).ok());
  EXPECT_EQ(CallIds(again.requests(Role::kBrowse)), expected);
}

}  // namespace
}  // namespace tfgrpo
