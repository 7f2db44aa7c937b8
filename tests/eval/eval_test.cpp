// Evaluate against a scripted client: what counts as a failed sample, when an eval is an error
// rather than a report, and what the report counts.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::Reply;
using testing::ScriptedClient;

Config EvalConfig(RewardKind reward = RewardKind::kExact) {
  Config c;
  c.model.base_url = "http://unused";
  c.model.name = "scripted";
  c.model.concurrency = 4;
  c.task.reward = reward;
  c.task.instructions = "Answer.";
  return c;
}

// Tasks "t0", "1", ...: answers "A0", "A1", ...
std::vector<Task> Tasks(int n) {
  std::vector<Task> tasks;
  for (int i = 0; i < n; ++i) {
    Task t;
    t.id = i == 0 ? "t0" : std::to_string(i);
    t.problem = "Problem " + std::to_string(i);
    t.answer = "A" + std::to_string(i);
    tasks.push_back(t);
  }
  return tasks;
}

Result<EvalReport> RunEval(ChatClient& client, int n_tasks = 2, int k = 3, RewardKind reward = RewardKind::kExact) {
  EvalOptions options;
  options.k = k;
  return Evaluate(EvalConfig(reward), Tasks(n_tasks), Library(), options, client);
}

TEST(Evaluate, EverySampleFailingForATransientReasonIsAnErrorNotAScoreOfZero) {
  const Status down = Status::Unavailable("cannot reach http://127.0.0.1:9/v1/chat/completions (7 attempts): refused");
  ScriptedClient client([&down](const ChatRequest&) -> Result<ChatResponse> { return down; });
  auto r = RunEval(client);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "every eval sample failed: " + down.ToString());
  EXPECT_EQ(client.requests().size(), 6u);
}

TEST(Evaluate, SomeFailedSamplesOrPermanentRefusalsStillGiveAReport) {
  ScriptedClient partly([](const ChatRequest& r) -> Result<ChatResponse> {
    if (EndsWith(r.call_id, "/k0")) return Status::Unavailable("503");
    return Reply("\\boxed{A0}");
  });
  auto r = RunEval(partly);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->errors, 2);
  EXPECT_EQ(r->samples, 6);
}

TEST(Evaluate, EverySampleRefusedForGoodIsAnErrorNamingTheCauseNotAScoreOfZero) {
  const Status refusal = Status::ProviderError("HTTP 400 from u: model 'nope' does not exist");
  ScriptedClient refusing([&refusal](const ChatRequest&) -> Result<ChatResponse> { return refusal; });
  auto all = RunEval(refusing);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().message(), "every eval sample failed: permanent: " + refusal.message() +
                                        " on every call; check model.name / the server's options");
}

TEST(Evaluate, EveryRewardFailingIsAnErrorNamingTheReward) {
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kJudge) return Status::ProviderError("HTTP 400 from u: unknown model 'judgy'");
    return Reply("\\boxed{A0}");
  });
  auto r = RunEval(client, 2, 3, RewardKind::kJudge);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("every eval sample failed: permanent: reward: ", 0), 0u) << r.status().message();
  EXPECT_NE(r.status().message().find("HTTP 400 from u: unknown model 'judgy' on every sample; check task.reward"),
            std::string::npos)
      << r.status().message();
}

TEST(Evaluate, AJudgeThatRejectsTheKeyStopsEvalAsItStopsTraining) {
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kJudge) return Status::Unauthorized("HTTP 401 from u: the API key was rejected");
    return Reply("\\boxed{A0}");
  });
  auto r = RunEval(client, 2, 3, RewardKind::kJudge);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnauthorized);
}

TEST(Evaluate, TruncatedRepliesAreCountedPerRoleAndCallIdsHaveOneT) {
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    ChatResponse reply = Reply("\\boxed{A1}");
    if (EndsWith(r.call_id, "/k1")) reply.finish_reason = "length";
    return reply;
  });
  auto r = RunEval(client);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->truncated.at("rollout"), 2);
  EXPECT_EQ(r->ToJson()["truncated"]["rollout"], 2);
  std::set<std::string> ids;
  for (const auto& req : client.requests()) ids.insert(req.call_id);
  EXPECT_EQ(ids, (std::set<std::string>{"eval/t0/k0", "eval/t0/k1", "eval/t0/k2", "eval/t1/k0", "eval/t1/k1",
                                        "eval/t1/k2"}));
}

}  // namespace
}  // namespace tfgrpo
