// task.mode external in the sampler: Evaluate runs the user's agent (a small python program)
// through a fake gateway instead of RunRollout; its answer is scored by the configured reward, or
// by its own reward when it gives one; failures are counted by reason, never fatal unless the
// budget or key is.
#include <fstream>

#include <gtest/gtest.h>

#include "agent/fake_gateway.h"
#include "test_util.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/external_sampling.h"

namespace tfgrpo {
namespace {

using testing::FakeGateway;
using testing::ScriptedClient;
using testing::TempDir;

class ExternalSamplingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.source = dir_ / "tfgrpo.yaml";
    config_.model.name = "policy";
    config_.model.concurrency = 4;
    config_.task.mode = TaskMode::kExternal;
    config_.task.reward = RewardKind::kExact;
    config_.agent.given = true;
    config_.agent.timeout_s = 20;
    config_.agent.command = {"/usr/bin/python3", "agent.py"};
    for (int i = 0; i < 3; ++i) {
      Task t;
      t.id = "t" + std::to_string(i);
      t.problem = "problem " + std::to_string(i);
      t.answer = "A" + std::to_string(i);
      t.record = {{"id", t.id}, {"problem", t.problem}, {"groundtruth", t.answer}};
      tasks_.push_back(t);
    }
  }
  void Agent(const std::string& python) { std::ofstream(dir_ / "agent.py") << python; }
  Result<EvalReport> Run(const Library& library = Library()) {
    auto gateway = std::make_unique<FakeGateway>();
    gateway_ = gateway.get();
    agents_ = std::make_unique<ExternalAgents>(config_, std::move(gateway));
    EvalOptions options;
    options.k = 2;
    options.external_agents = agents_.get();
    return Evaluate(config_, tasks_, library, options, client_);
  }

  TempDir dir_;
  Config config_;
  std::vector<Task> tasks_;
  // The model is reached only through the gateway: nothing may call the run's client directly.
  ScriptedClient client_{[](const ChatRequest&) -> Result<ChatResponse> {
    ADD_FAILURE() << "the sampler called the model itself";
    return Status::Internal("unexpected");
  }};
  FakeGateway* gateway_ = nullptr;
  std::unique_ptr<ExternalAgents> agents_;
};

TEST_F(ExternalSamplingTest, TheAgentsAnswerIsScoredByTheConfiguredReward) {
  // Right on t0 and t1, wrong on t2.
  Agent(R"PY(
import json, os, sys
task = json.loads(sys.stdin.readline())
print(task["groundtruth"] if task["id"] != "t2" else "no idea")
)PY");
  auto report = Run();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_NEAR(report->mean_at_k, 4.0 / 6.0, 1e-9);
  EXPECT_EQ(report->errors, 0);
  ASSERT_TRUE(report->agent.has_value());
  EXPECT_EQ(report->agent->rollouts, 6);
  EXPECT_EQ(report->agent->calls, 0);
  EXPECT_TRUE(report->agent->failures.empty());
  EXPECT_TRUE(report->ToJson().contains("agent"));
  // Each sample's rollout id is its eval call id; eval samples keep the rollout role.
  std::set<std::string> ids;
  for (const RolloutTicket& t : gateway_->tickets()) {
    ids.insert(t.rollout_id);
    EXPECT_EQ(t.role, Role::kRollout);
    EXPECT_DOUBLE_EQ(t.temperature, 0.3);
  }
  EXPECT_EQ(ids, (std::set<std::string>{"eval/t0/k0", "eval/t0/k1", "eval/t1/k0", "eval/t1/k1", "eval/t2/k0",
                                        "eval/t2/k1"}));
}

TEST_F(ExternalSamplingTest, TheAgentsOwnRewardReplacesTheConfiguredOne) {
  // Always the wrong answer, but it grades itself 1 on t0.
  Agent(R"PY(
import json, os, sys
task = json.loads(sys.stdin.readline())
out = {"answer": "wrong", "reasoning": "my tests pass"}
if task["id"] == "t0":
    out["reward"] = 1.0
open(os.environ["TFGRPO_ANSWER_FILE"], "w").write(json.dumps(out))
)PY");
  auto report = Run();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_NEAR(report->mean_at_k, 2.0 / 6.0, 1e-9);
  EXPECT_EQ(report->agent->self_rewarded, 2);
}

TEST_F(ExternalSamplingTest, FailedAgentsAreCountedByReasonAndScoreZero) {
  Agent(R"PY(
import json, os, sys
task = json.loads(sys.stdin.readline())
if task["id"] == "t1":
    sys.exit(1)
if task["id"] == "t2":
    print("   ")
    sys.exit(0)
print(task["groundtruth"])
)PY");
  auto report = Run();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_NEAR(report->mean_at_k, 2.0 / 6.0, 1e-9);
  EXPECT_EQ(report->errors, 4);
  EXPECT_EQ(report->agent->failures, (std::map<std::string, int64_t>{{"exit 1", 2}, {"no answer", 2}}));
  EXPECT_NE(report->agent->Line().find("2 exit 1"), std::string::npos) << report->agent->Line();
}

TEST_F(ExternalSamplingTest, EveryAgentFailingIsAnErrorThatPointsAtTheAgent) {
  Agent("import sys\nsys.exit(2)\n");
  auto report = Run();
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("agent failed (exit 2)"), std::string::npos) << report.status().message();
  EXPECT_NE(report.status().message().find("agent try"), std::string::npos) << report.status().message();
}

TEST_F(ExternalSamplingTest, BudgetExhaustedMetByAnAgentStopsTheEval) {
  Agent(R"PY(
import json, os, urllib.request, urllib.error
o = urllib.request.build_opener(urllib.request.ProxyHandler({}))
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions",
                             data=b'{"messages": [{"role": "user", "content": "hi"}]}',
                             headers={"Content-Type": "application/json"})
try:
    o.open(req, timeout=10)
    print("A0")
except urllib.error.HTTPError as e:
    raise SystemExit(1)
)PY");
  auto gateway = std::make_unique<FakeGateway>();
  gateway->budget_exhausted = true;
  agents_ = std::make_unique<ExternalAgents>(config_, std::move(gateway));
  EvalOptions options;
  options.k = 2;
  options.external_agents = agents_.get();
  auto report = Evaluate(config_, tasks_, Library(), options, client_);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Status::Code::kBudgetExhausted) << report.status().ToString();
}

TEST_F(ExternalSamplingTest, TheLibraryUnderTestIsWhatTheGatewayInjects) {
  Agent("import os\nprint('A0' if 'Always answer A0' in os.environ['TFGRPO_LIBRARY'] else 'none')\n");
  Library library(std::vector<Experience>{{"Always answer A0."}});
  auto report = Run(library);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_NEAR(report->mean_at_k, 2.0 / 6.0, 1e-9);  // right on t0 only
  for (const RolloutTicket& t : gateway_->tickets()) EXPECT_EQ(t.library, &library);
}

}  // namespace
}  // namespace tfgrpo
