// The run's state (grpo/run_state.h) and the validation gate's rules (grpo/validation_gate.h), on
// plain data and a run store in a scratch directory: no simulator, no calls.
#include "grpo/run_state.h"

#include <gtest/gtest.h>

#include <fstream>

#include "grpo/validation_gate.h"
#include "test_util.h"
#include "train_config.h"

namespace tfgrpo::grpo_internal {
namespace {

using tfgrpo::testing::Must;
using tfgrpo::testing::TempDir;

std::unique_ptr<RunStore> OpenStore(const TempDir& dir) {
  auto store = RunStore::Open(dir / "run.db");
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

TEST(ResumeOrStart, ANewRunStartsFromTheGivenLibraryAndRecordsItAsVersionZero) {
  TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  ASSERT_TRUE(Library({{"check units"}}).Save(dir / "init.json").ok());
  auto point = ResumeOrStart(*store, dir.path(), dir / "init.json");
  ASSERT_TRUE(point.ok()) << point.status().ToString();
  EXPECT_EQ(point->done_steps, 0);
  EXPECT_EQ(point->library.RenderLines(), "[G0]. check units");
  auto recorded = Must(store->LibraryAt(0));
  ASSERT_TRUE(recorded.has_value());
  EXPECT_EQ(recorded->RenderLines(), "[G0]. check units");
}

TEST(ResumeOrStart, AResumedRunPicksUpItsLatestLibraryAndRefusesAnotherStartingLibrary) {
  TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  ASSERT_TRUE(Library({{"check units"}}).Save(dir / "init.json").ok());
  ASSERT_TRUE(ResumeOrStart(*store, dir.path(), dir / "init.json").ok());
  Library after_two({{"check units"}, {"re-read the question", 1, "t3"}});
  ASSERT_TRUE(RecordLibraryVersion(*store, 2, after_two).ok());

  auto same = ResumeOrStart(*store, dir.path(), dir / "init.json");
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(same->done_steps, 2);
  EXPECT_EQ(same->library.RenderLines(), after_two.RenderLines());
  auto none_given = ResumeOrStart(*store, dir.path(), std::nullopt);
  ASSERT_TRUE(none_given.ok());
  EXPECT_EQ(none_given->done_steps, 2);

  ASSERT_TRUE(Library({{"something else"}}).Save(dir / "other.json").ok());
  auto other = ResumeOrStart(*store, dir.path(), dir / "other.json");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("other.json differs from the library"), std::string::npos)
      << other.status().message();
}

TEST(ResumeOrStart, AnUnreadableStartingLibraryNamesTheFlag) {
  TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  std::ofstream(dir / "bad.json") << "{not json";
  auto point = ResumeOrStart(*store, dir.path(), dir / "bad.json");
  ASSERT_FALSE(point.ok());
  EXPECT_NE(point.status().message().find("--init-experiences"), std::string::npos) << point.status().message();
  EXPECT_FALSE(Must(store->LatestLibrary()).has_value());  // nothing recorded for a run that did not start
}

TEST(RecordLibraryVersion, EachExperienceKeepsItsOrigin) {
  TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store);
  std::vector<Experience> items = {{"a", 0, "t1"}, {"b", 2, "t7"}};
  items[1].origin_task = "t7";
  ASSERT_TRUE(RecordLibraryVersion(*store, 3, Library(items)).ok());
  auto latest = Must(store->LatestLibrary());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 3);
  ASSERT_EQ(latest->library.size(), 2u);
  EXPECT_EQ(latest->library.items()[1].origin_task, "t7");
  EXPECT_EQ(latest->library.items()[1].step, 2);
}

TEST(Provenance, NamesTheModelsAndTheHostNeverTheCredentials) {
  TempDir dir;
  Config config = tfgrpo::testing::MakeTrainConfig(dir, 3);
  config.model.base_url = "https://user:secret@api.example.com:8443/v1?key=x";
  nlohmann::json p = Provenance(config, "abc123", 4, nullptr);
  EXPECT_EQ(p["model"], "scripted");
  EXPECT_EQ(p["endpoint_host"], "api.example.com:8443");
  EXPECT_EQ(p["train_data_sha256"], "abc123");
  EXPECT_EQ(p["steps_run"], 4);
  EXPECT_TRUE(p["validation"].is_null());
  EXPECT_FALSE(p.contains("learner_model"));
  EXPECT_EQ(p.dump().find("secret"), std::string::npos);
  config.learner_given = true;
  config.learner.name = "strong-learner";
  config.judge_given = true;
  config.judge.name = "scripted";  // the same as the policy: not repeated
  p = Provenance(config, "abc123", 4, nullptr);
  EXPECT_EQ(p["learner_model"], "strong-learner");
  EXPECT_FALSE(p.contains("judge_model"));
  EXPECT_EQ(EndpointHost("localhost:8000"), "localhost:8000");
}

TEST(StepTally, EveryRolloutFailingStopsTheStepAnyLearnerStageOnlyForARetryableReason) {
  StepTally refused_rollouts;
  refused_rollouts.Ran("rollout");
  refused_rollouts.Failed("rollout", Status::ProviderError("HTTP 400: bad model"));
  auto why = refused_rollouts.EveryItemFailed();
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->rfind("every rollout failed: permanent: HTTP 400: bad model", 0), 0u) << *why;

  StepTally unparseable_summaries;
  unparseable_summaries.Ran("rollout");
  unparseable_summaries.Ran("summary");
  unparseable_summaries.Failed("summary", Status::InvalidArgument("no list"));
  EXPECT_FALSE(unparseable_summaries.EveryItemFailed().has_value());  // costs lessons, not the run

  StepTally unreachable_learner;
  unreachable_learner.Ran("rollout");
  unreachable_learner.Ran("advantage");
  unreachable_learner.Failed("advantage", Status::Unavailable("cannot reach learner"));
  why = unreachable_learner.EveryItemFailed();
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "every advantage failed: unavailable: cannot reach learner");

  StepTally one_of_two;
  one_of_two.Ran("rollout");
  one_of_two.Ran("rollout");
  one_of_two.Failed("rollout", Status::Timeout("slow"));
  EXPECT_FALSE(one_of_two.EveryItemFailed().has_value());
}

TEST(StepReport, StatsAndLogLineSayWhatTheStepDid) {
  StepReport r;
  r.step = 4;
  r.steps_per_epoch = 3;
  r.tasks = 4;
  r.rollouts = 16;
  r.informative = 2;
  r.proposed = 5;
  r.consolidation_calls = 2;
  r.consolidation_calls_failed = 2;
  r.leaks_dropped = 1;
  r.library_before = 3;
  r.library_after = 3;
  r.mean_reward = 0.5;
  nlohmann::json stats = StepStatsJson(r);
  EXPECT_EQ(stats["consolidation_failed"], true);
  EXPECT_EQ(stats["proposed_operations"], 5);
  EXPECT_EQ(stats["library_size"], 3);
  EXPECT_FALSE(stats.contains("validation"));
  EXPECT_EQ(StepLogLine(r),
            "step 5 (epoch 2): mean reward 0.500, 2/4 groups informative, library 3 -> 3 experiences, 1 leaking "
            "operation(s) dropped, consolidation failed: library unchanged");
  r.consolidation_calls_failed = 1;
  r.leaks_dropped = 0;
  r.validation = StepReport::Validation{0.5, 0.25, false, 8, 0};
  EXPECT_EQ(StepLogLine(r),
            "step 5 (epoch 2): mean reward 0.500, 2/4 groups informative, library 3 -> 3 experiences, consolidation "
            "failed for 1 of 2 chunks: their proposals not applied; validation 0.500 -> 0.250: rejected, library kept");
  EXPECT_EQ(StepStatsJson(r)["validation"]["accepted"], false);
}

TEST(ValidationGate, ACandidateWithinTheToleranceIsAccepted) {
  EXPECT_TRUE(Decide(0.6, 0.6, 0).accepted);
  EXPECT_TRUE(Decide(0.6, 0.55, 0.1).accepted);
  Verdict worse = Decide(0.6, 0.4, 0.1);
  EXPECT_FALSE(worse.accepted);
  EXPECT_EQ(worse.reason, "candidate 0.4000 < current 0.6000 - tolerance 0.1");
  EXPECT_EQ(Decide(0.5, 0.75, 0).reason, "candidate 0.7500 >= current 0.5000 - tolerance 0");
}

TEST(ValidationGate, TrainTasksAreHeldOutWithTheSeedInFileOrder) {
  TempDir dir;
  Config config = tfgrpo::testing::MakeTrainConfig(dir, 10);
  auto tasks = LoadTasks(config.data.train, config.data.problem_key, config.data.answer_key, config.data.max_task_bytes);
  ASSERT_TRUE(tasks.ok());
  std::vector<Task> train = *tasks, validation;
  ASSERT_TRUE(SplitValidationTasks(config, train, validation).ok());  // off: nothing held out
  EXPECT_EQ(train.size(), 10u);
  EXPECT_TRUE(validation.empty());

  config.practice.validation.enabled = true;
  config.practice.validation.tasks = 3;
  ASSERT_TRUE(SplitValidationTasks(config, train, validation).ok());
  EXPECT_EQ(train.size(), 7u);
  ASSERT_EQ(validation.size(), 3u);
  EXPECT_LT(std::stoi(validation[0].id.substr(1)), std::stoi(validation[1].id.substr(1)));
  for (const Task& v : validation)
    for (const Task& t : train) EXPECT_NE(v.id, t.id);
  // The same seed holds out the same tasks.
  std::vector<Task> again = *tasks, validation_again;
  ASSERT_TRUE(SplitValidationTasks(config, again, validation_again).ok());
  for (size_t i = 0; i < validation.size(); ++i) EXPECT_EQ(validation[i].id, validation_again[i].id);

  config.practice.validation.tasks = 10;
  std::vector<Task> all = *tasks, none;
  Status s = SplitValidationTasks(config, all, none);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("practice.validation.tasks (10) would hold out every one of the 10"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace tfgrpo::grpo_internal
