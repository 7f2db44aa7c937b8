// The practice loop against a scripted client: which calls are made, what the learner sees,
// and how failures are contained.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>

#include "test_util.h"
#include "train_config.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/library.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::Reply;
using testing::ScriptedClient;
using testing::TempDir;

Config MakeConfig(const TempDir& dir, int n_tasks, int group_size = 4, int batch_size = 10, int epochs = 1) {
  return testing::MakeTrainConfig(dir, n_tasks, group_size, batch_size, epochs);
}

// The task a request is about: its problem text, or the lesson learned from it.
std::string TaskNumber(const ChatRequest& r) {
  static const std::regex re("(?:Problem number|Lesson from task) (\\d+)");
  return testing::FirstCapture(r, re);
}

// Samples 0 and 1 answer correctly, the rest wrongly; the learner replies are well-formed.
Result<ChatResponse> MixedScript(const ChatRequest& r) {
  switch (r.role) {
    case Role::kRollout: {
      bool good = EndsWith(r.call_id, "/r0") || EndsWith(r.call_id, "/r1");
      return Reply(good ? "\\boxed{ANS" + TaskNumber(r) + "}" : "\\boxed{WRONG}");
    }
    case Role::kSummary: return Reply("1. The attempt did things.");
    case Role::kAdvantage:
      return Reply("Reasoning.\n<Experiences>\n1. Lesson from task " + TaskNumber(r) +
                   ".\n2. Second lesson.\n3. Third lesson beyond the cap.\n</Experiences>");
    case Role::kGroupUpdate:
      return Reply("```json\n[{\"operation\":\"ADD\",\"id\":null,\"content\":\"Lesson from task " + TaskNumber(r) +
                   ".\"}]\n```");
    case Role::kBatchUpdate: return testing::KeepEveryProposal(r);
    default: return Status::Internal("unexpected role");
  }
}

TEST(Engine, RunsEveryStageAndWritesVersionedLibraries) {
  TempDir dir;
  Config c = MakeConfig(dir, 3, /*group_size=*/4);
  ScriptedClient client(MixedScript);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();

  EXPECT_EQ(client.requests(Role::kRollout).size(), 12u);
  EXPECT_EQ(client.requests(Role::kSummary).size(), 12u);
  EXPECT_EQ(client.requests(Role::kAdvantage).size(), 3u);
  EXPECT_EQ(client.requests(Role::kGroupUpdate).size(), 3u);
  EXPECT_EQ(client.requests(Role::kBatchUpdate).size(), 1u);
  EXPECT_EQ(s->steps_total, 1);
  EXPECT_EQ(s->informative_groups, 3);
  EXPECT_EQ(s->library.size(), 3u);

  // The advantage cap: "at most experiences_per_group" reaches the group update prompt.
  for (const auto& r : client.requests(Role::kGroupUpdate)) {
    EXPECT_NE(r.messages.back().content.find("Second lesson"), std::string::npos);
    EXPECT_EQ(r.messages.back().content.find("Third lesson"), std::string::npos);
  }
  auto final_lib = Library::Load(dir / "run" / "experiences.json");
  ASSERT_TRUE(final_lib.ok());
  EXPECT_EQ(final_lib->ToJson(), s->library.ToJson());
  auto step0 = Library::Load(dir / "run" / "steps" / "0" / "experiences.json");
  auto step1 = Library::Load(dir / "run" / "steps" / "1" / "experiences.json");
  ASSERT_TRUE(step0.ok() && step1.ok());
  EXPECT_TRUE(step0->empty());
  EXPECT_EQ(step1->size(), 3u);
  EXPECT_TRUE(std::filesystem::exists(dir / "run" / "run.db"));
}

TEST(Engine, SystemPromptIsIdenticalForEveryCallOfAStepAndCarriesTheLibrary) {
  TempDir dir;
  Config c = MakeConfig(dir, 4, 3, /*batch_size=*/2, /*epochs=*/1);  // two steps
  ScriptedClient client(MixedScript);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ASSERT_TRUE(Train(c, opt, client).ok());
  std::map<std::string, std::set<std::string>> systems_by_step;
  for (const auto& r : client.requests(Role::kRollout)) {
    ASSERT_EQ(r.messages.size(), 2u);
    EXPECT_EQ(r.messages[0].role, "system");
    EXPECT_EQ(r.messages[1].role, "user");
    EXPECT_EQ(r.messages[0].content.find("Problem number"), std::string::npos) << "task text leaked into system";
    systems_by_step[r.call_id.substr(0, r.call_id.find('/'))].insert(r.messages[0].content);
  }
  ASSERT_EQ(systems_by_step.size(), 2u);
  for (const auto& [step, systems] : systems_by_step) EXPECT_EQ(systems.size(), 1u) << step;
  EXPECT_EQ(*systems_by_step["s0"].begin(), "Answer.");
  const std::string& second = *systems_by_step["s1"].begin();
  EXPECT_TRUE(StartsWith(second, "Answer.\n\n" + std::string(kLibraryHeading) + "\n[G0]. ")) << second;
}

TEST(Engine, UninformativeGroupsAreSkipped) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 4);
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kRollout) return Reply("\\boxed{ANS" + TaskNumber(r) + "}");  // all correct
    return MixedScript(r);
  });
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->informative_groups, 0);
  EXPECT_TRUE(client.requests(Role::kSummary).empty());
  EXPECT_TRUE(client.requests(Role::kBatchUpdate).empty());
  EXPECT_TRUE(s->library.empty());
}

TEST(Engine, WithGroundTruthTheLearnerSeesAnswerAndRewards) {
  TempDir dir;
  Config c = MakeConfig(dir, 1, 4);
  ScriptedClient client(MixedScript);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ASSERT_TRUE(Train(c, opt, client).ok());
  auto adv = client.requests(Role::kAdvantage);
  ASSERT_EQ(adv.size(), 1u);
  EXPECT_NE(adv[0].messages.back().content.find("ANS0"), std::string::npos);
  EXPECT_NE(adv[0].messages.back().content.find("(reward 1)"), std::string::npos);
  EXPECT_NE(adv[0].messages.back().content.find("(reward 0)"), std::string::npos);
}

TEST(Engine, WithoutGroundTruthEveryGroupIsUsedAndNothingLeaks) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 3);
  c.practice.given_ground_truth = false;
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kRollout) return Reply("\\boxed{WRONG}");  // all equal rewards
    return MixedScript(r);
  });
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->informative_groups, 2);
  ASSERT_EQ(client.requests(Role::kSummary).size(), 6u);
  for (Role role : {Role::kSummary, Role::kAdvantage, Role::kGroupUpdate, Role::kBatchUpdate}) {
    for (const auto& r : client.requests(role)) {
      const std::string& p = r.messages.back().content;
      EXPECT_EQ(p.find("ANS"), std::string::npos) << RoleName(role) << ": ground truth leaked";
      EXPECT_EQ(ToLower(p).find("reward"), std::string::npos) << RoleName(role) << ": reward leaked\n" << p;
      EXPECT_EQ(p.find("Reference answer"), std::string::npos) << RoleName(role);
    }
  }
}

TEST(Engine, AFailedRolloutIsLeftOutAndCounted) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 4);
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kRollout && TaskNumber(r) == "0" && EndsWith(r.call_id, "/r2"))
      return Status::ProviderError("HTTP 400 from http://x/v1/chat/completions: context length exceeded");
    return MixedScript(r);
  });
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->rollouts, 8);
  EXPECT_EQ(s->rollouts_failed, 1);
  EXPECT_EQ(client.requests(Role::kSummary).size(), 7u);  // the failed one is not summarised
  EXPECT_EQ(s->call_failure_reasons.at("HTTP 400"), 1);
  EXPECT_NE(FormatTrainSummary(*s).find("1 x HTTP 400"), std::string::npos);
}

TEST(Engine, AnUnparseableLearnerReplyFailsOnlyThatGroupsStage) {
  TempDir dir;
  Config c = MakeConfig(dir, 3, 4);
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kAdvantage && TaskNumber(r) == "1") return Reply("I have no idea what format you want.");
    if (r.role == Role::kGroupUpdate && TaskNumber(r) == "2") return Reply("[{\"operation\": \"ADD\", \"content\": ");
    return MixedScript(r);
  });
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->stages_failed, 2);
  EXPECT_EQ(s->library.size(), 1u);  // only task 0's lesson got through
  EXPECT_EQ(s->library.items()[0].text, "Lesson from task 0.");
  auto store = RunStore::Open(dir / "run" / "run.db");
  ASSERT_TRUE(store.ok());
  auto failures = testing::Must((*store)->Failures());
  ASSERT_EQ(failures.size(), 2u);
  std::set<std::string> stages;
  for (auto& f : failures) stages.insert(f.stage);
  EXPECT_EQ(stages, (std::set<std::string>{"advantage", "group_update"}));
}

TEST(Engine, UnauthorizedStopsTheRunWithAClearError) {
  TempDir dir;
  Config c = MakeConfig(dir, 3, 4);
  ScriptedClient client([](const ChatRequest&) -> Result<ChatResponse> {
    return Status::Unauthorized("HTTP 401 from http://x/v1/chat/completions: the API key was rejected");
  });
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kUnauthorized);
  EXPECT_NE(s.status().message().find("401"), std::string::npos);
  EXPECT_LT(client.requests().size(), 12u + 1);  // no learner calls after the refusal
}

TEST(Engine, ResumeReplaysRecordedCallsAndSkipsFinishedSteps) {
  TempDir dir;
  Config c = MakeConfig(dir, 4, 3, /*batch_size=*/2, /*epochs=*/2);  // 4 steps
  TrainOptions opt;
  opt.run_dir = dir / "run";

  ScriptedClient reference(MixedScript);
  TempDir ref_dir;
  TrainOptions ref_opt;
  ref_opt.run_dir = ref_dir / "run";
  auto full = Train(c, ref_opt, reference);
  ASSERT_TRUE(full.ok());

  ScriptedClient first(MixedScript);
  opt.max_steps = 2;
  auto part = Train(c, opt, first);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->steps_run, 2);

  ScriptedClient second(MixedScript);
  opt.max_steps = -1;
  auto rest = Train(c, opt, second);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->steps_run, 2);
  EXPECT_EQ(rest->library.ToJson(), full->library.ToJson());
  EXPECT_EQ(first.requests().size() + second.requests().size(), reference.requests().size());
  std::set<std::string> first_ids;
  for (auto& r : first.requests()) first_ids.insert(r.call_id);
  for (auto& r : second.requests()) EXPECT_EQ(first_ids.count(r.call_id), 0u) << r.call_id << " sent twice";

  // A third run has nothing left to do and sends nothing.
  ScriptedClient third(MixedScript);
  auto again = Train(c, opt, third);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->steps_run, 0);
  EXPECT_TRUE(third.requests().empty());
  EXPECT_EQ(again->library.ToJson(), full->library.ToJson());
}

TEST(Engine, ShuffleOrderDependsOnlyOnSeed) {
  auto first_step_tasks = [](uint64_t seed) {
    TempDir dir;
    Config c = MakeConfig(dir, 10, 2, /*batch_size=*/3);
    c.practice.seed = seed;
    ScriptedClient client(MixedScript);
    TrainOptions opt;
    opt.run_dir = dir / "run";
    opt.max_steps = 1;
    EXPECT_TRUE(Train(c, opt, client).ok());
    std::set<std::string> ids;
    for (auto& r : client.requests(Role::kRollout)) ids.insert(TaskNumber(r));
    return ids;
  };
  auto a = first_step_tasks(42), b = first_step_tasks(42);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 3u);
  bool differs = false;
  for (uint64_t seed : {1, 2, 3, 4, 5}) differs |= first_step_tasks(seed) != a;
  EXPECT_TRUE(differs);
}

TEST(Engine, ChangedConfigOnResumeIsRejected) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 3);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ScriptedClient client(MixedScript);
  ASSERT_TRUE(Train(c, opt, client).ok());
  c.practice.group_size = 5;
  auto s = Train(c, opt, client);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("group_size"), std::string::npos) << s.status().message();
}

const Status kDown = Status::Unavailable("cannot reach http://127.0.0.1:9/v1/chat/completions (7 attempts): Connection refused");

// Steps recorded as done in the run store.
size_t StepsRecorded(const TempDir& dir) {
  auto store = RunStore::Open(dir / "run" / "run.db");
  return store.ok() ? testing::Must((*store)->Steps()).size() : 0;
}

TEST(Engine, AStepWhoseEveryRolloutFailedForATransientReasonIsNotRecordedAsDone) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 3);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ScriptedClient down([](const ChatRequest&) -> Result<ChatResponse> { return kDown; });
  auto s = Train(c, opt, down);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "step 1: every rollout failed: " + kDown.ToString());
  EXPECT_EQ(StepsRecorded(dir), 0u);
  {
    auto store = RunStore::Open(dir / "run" / "run.db");
    ASSERT_TRUE(store.ok());
    EXPECT_EQ(testing::Must((*store)->CountRollouts()), 6);  // what was tried stays on record
    auto latest = (*store)->LatestLibrary();
    ASSERT_TRUE(latest.ok() && latest->has_value());
    EXPECT_EQ((*latest)->step, 0);  // no library version for the failed step
  }

  // The endpoint is back: the same step runs, and all of it is sent (nothing was learned).
  ScriptedClient up(MixedScript);
  auto resumed = Train(c, opt, up);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->steps_run, 1);
  EXPECT_EQ(up.requests(Role::kRollout).size(), 6u);
  EXPECT_EQ(resumed->library.size(), 2u);
  EXPECT_EQ(StepsRecorded(dir), 1u);
}

TEST(Engine, AStepWhoseEveryRolloutWasRefusedForGoodStopsTheRunNamingTheCauseAndAFixedSetupResumesIt) {
  // llama-server without --jinja: the same 500 on every call. Nothing can be learned from such a
  // step, and a "done" step with an empty library would read as "learned nothing".
  TempDir dir;
  Config c = MakeConfig(dir, 2, 3);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  const Status refusal = Status::ProviderError(
      "HTTP 500 from u: tools param requires --jinja flag (the same reply 3 times in a row; not retrying)");
  ScriptedClient refusing([&refusal](const ChatRequest&) -> Result<ChatResponse> { return refusal; });
  auto s = Train(c, opt, refusing);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "step 1: every rollout failed: permanent: " + refusal.message() +
                                      " on every call; check model.name / the server's options");
  EXPECT_EQ(StepsRecorded(dir), 0u);

  // Run again unchanged: the same error again, not an empty step replayed as done.
  ScriptedClient still_refusing([&refusal](const ChatRequest&) -> Result<ChatResponse> { return refusal; });
  auto again = Train(c, opt, still_refusing);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().message(), s.status().message());
  EXPECT_EQ(StepsRecorded(dir), 0u);

  // The server restarted with the option: the refusals are sent again, not replayed.
  ScriptedClient fixed(MixedScript);
  auto resumed = Train(c, opt, fixed);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(fixed.requests(Role::kRollout).size(), 6u);
  EXPECT_EQ(resumed->library.size(), 2u);
  EXPECT_EQ(StepsRecorded(dir), 1u);
}

TEST(Engine, AStepWhoseEveryRewardFailedStopsTheRunNamingTheReward) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 3);
  c.task.reward = RewardKind::kJudge;
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kJudge) return Status::ProviderError("HTTP 400 from u: unknown model 'judgy'");
    return MixedScript(r);
  });
  auto s = Train(c, opt, client);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().rfind("step 1: every rollout failed: permanent: reward: ", 0), 0u)
      << s.status().message();
  EXPECT_NE(s.status().message().find("unknown model 'judgy'"), std::string::npos) << s.status().message();
  EXPECT_EQ(StepsRecorded(dir), 0u);
}

TEST(Engine, SomeRolloutsRefusedForGoodStillMakeADoneStep) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 3);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ScriptedClient partly([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kRollout && EndsWith(r.call_id, "/r2"))
      return Status::ProviderError("HTTP 400 from u: context length exceeded");
    return MixedScript(r);
  });
  auto s = Train(c, opt, partly);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->rollouts_failed, 2);
  EXPECT_EQ(StepsRecorded(dir), 1u);
}

TEST(Engine, AStepWhoseEverySummaryFailedIsResumedWithItsRolloutsReplayed) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 4);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ScriptedClient flaky([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kSummary) return Status::Timeout("HTTP request timed out after 600 s");
    return MixedScript(r);
  });
  auto s = Train(c, opt, flaky);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "step 1: every summary failed: timeout: HTTP request timed out after 600 s");
  EXPECT_EQ(StepsRecorded(dir), 0u);

  ScriptedClient up(MixedScript);
  auto resumed = Train(c, opt, up);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_TRUE(up.requests(Role::kRollout).empty());  // replayed from the run store
  EXPECT_EQ(up.requests(Role::kSummary).size(), 8u);  // the transient failures are sent again
  EXPECT_EQ(resumed->library.size(), 2u);
}

TEST(Engine, AFailedConsolidationCallForATransientReasonLeavesTheStepUndone) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 4);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ScriptedClient flaky([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kBatchUpdate) return Status::Unavailable("POST u failed after 7 attempts; last error: HTTP 503");
    return MixedScript(r);
  });
  auto s = Train(c, opt, flaky);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "step 1: every batch_update failed: unavailable: POST u failed after 7 attempts; last error: HTTP 503");
  ScriptedClient up(MixedScript);
  auto resumed = Train(c, opt, up);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(up.requests().size(), 1u);  // only the consolidation is asked again
  EXPECT_EQ(resumed->library.size(), 2u);
}

TEST(Engine, TruncatedRepliesAreCountedPerRoleAndNamedWhenTheyDoNotParse) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 4);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    auto reply = MixedScript(r);
    if (r.role == Role::kRollout && EndsWith(r.call_id, "/r3")) reply->finish_reason = "length";
    if (r.role == Role::kAdvantage && TaskNumber(r) == "1") {
      ChatResponse cut = Reply("Comparing attempt 1 with attempt 2, the first one went wrong where it");
      cut.finish_reason = "length";
      return cut;
    }
    return reply;
  });
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->truncated_replies.at("rollout"), 2);
  EXPECT_EQ(s->truncated_replies.at("advantage"), 1);
  EXPECT_EQ(s->stage_failure_reasons.at("advantage: truncated (raise model.max_tokens)"), 1);
  const std::string line = FormatTrainSummary(*s);
  EXPECT_NE(line.find("truncated replies (finish_reason length): 1 x advantage, 2 x rollout"), std::string::npos)
      << line;
  EXPECT_NE(line.find("1 x advantage: truncated (raise model.max_tokens)"), std::string::npos) << line;
  // The finish reason of every call is in the run store.
  auto store = RunStore::Open(dir / "run" / "run.db");
  ASSERT_TRUE(store.ok());
  auto failures = testing::Must((*store)->Failures());
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_NE(failures[0].error.find("raise model.max_tokens"), std::string::npos) << failures[0].error;
}

TEST(Engine, CallIdsHaveOneTPrefixAndOtherIdsAreUnchanged) {
  TempDir dir;
  Config c = MakeConfig(dir, 1, 3);  // task "t0"
  {
    std::ofstream out(dir / "train.jsonl", std::ios::app);
    out << "{\"id\":\"7\",\"problem\":\"Problem number 7\",\"groundtruth\":\"ANS7\"}\n";
  }
  ScriptedClient client(MixedScript);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ASSERT_TRUE(Train(c, opt, client).ok());
  std::set<std::string> ids;
  for (const auto& r : client.requests()) ids.insert(r.call_id);
  std::set<std::string> expected = {"s0/batch_update"};
  for (std::string task : {"s0/t0/", "s0/t7/"}) {  // ids "t0" and "7" alike
    for (std::string leaf : {"r0", "r1", "r2", "summary0", "summary1", "summary2", "advantage", "group_update"})
      expected.insert(task + leaf);
  }
  EXPECT_EQ(ids, expected);
}

TEST(Engine, WarningsNumberStepsFromOneLikeTheInfoLines) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 4, /*batch_size=*/1);  // two steps of one task
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kRollout && StartsWith(r.call_id, "s1/")) {  // the library names task 0: go by id
      if (EndsWith(r.call_id, "/r2")) return Status::ProviderError("HTTP 400 from u: no");
      const std::string task = r.call_id.substr(4, r.call_id.find('/', 3) - 4);  // "s1/t1/r0" -> "1"
      return Reply(EndsWith(r.call_id, "/r3") ? "\\boxed{WRONG}" : "\\boxed{ANS" + task + "}");
    }
    if (r.role == Role::kAdvantage && StartsWith(r.call_id, "s1/")) return Reply("no block here");
    return MixedScript(r);
  });
  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("engine_test", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  logger->set_level(spdlog::level::info);
  spdlog::set_default_logger(logger);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string log = captured.str();
  // The second step (s1 in call ids and the store) is "step 2" in every line a person reads.
  EXPECT_NE(log.find("step 2 (epoch 1)"), std::string::npos) << log;
  EXPECT_NE(log.find("step 2 task t"), std::string::npos) << log;
  EXPECT_NE(log.find("sample 2: rollout failed"), std::string::npos) << log;
  EXPECT_NE(log.find(": advantage failed"), std::string::npos) << log;
  EXPECT_EQ(log.find("step 1 task"), std::string::npos) << log;  // nothing failed in the first step
}

// Counts every Begin/AddTotal/Advance per stage.
class CountingProgress : public Progress {
 public:
  void Begin(const std::string& stage, int64_t total) override {
    std::lock_guard lock(mu_);
    total_[stage] += total;
  }
  void AddTotal(const std::string& stage, int64_t n) override {
    std::lock_guard lock(mu_);
    total_[stage] += n;
  }
  void Advance(const std::string& stage, int64_t) override {
    std::lock_guard lock(mu_);
    ++done_[stage];
  }
  void End(const std::string&) override {}
  std::map<std::string, int64_t> total_, done_;

 private:
  std::mutex mu_;
};

TEST(Engine, FailedItemsAdvanceProgressToo) {
  TempDir dir;
  Config c = MakeConfig(dir, 3, 4);
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kRollout && EndsWith(r.call_id, "/r3")) return Status::ProviderError("HTTP 400 from u: no");
    if (r.role == Role::kSummary && EndsWith(r.call_id, "/summary2"))
      return Status::ProviderError("HTTP 400 from u: no");
    if (r.role == Role::kAdvantage && TaskNumber(r) == "1") return Status::ProviderError("HTTP 400 from u: no");
    return MixedScript(r);
  });
  CountingProgress progress;
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.progress = &progress;
  ASSERT_TRUE(Train(c, opt, client).ok());
  for (const char* stage : {"rollouts", "summaries", "advantages", "updates", "consolidation"}) {
    EXPECT_GT(progress.total_[stage], 0) << stage;
    EXPECT_EQ(progress.done_[stage], progress.total_[stage]) << stage;
  }
}

}  // namespace
}  // namespace tfgrpo
