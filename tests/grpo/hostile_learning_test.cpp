// The learning loop against a hostile simulated learner, over HTTP: it proposes a harmful lesson
// now and then (rollouts that see it fail), copies answers into lessons and pads the library.
// Without validation the harmful lesson gets in and stays; with it, it never survives, and the
// held-out Mean@k ends at least 0.2 higher. Either way no lesson holds a task's answer or problem
// text and the library never exceeds its cap.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "test_util.h"
#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/json.h"
#include "tfgrpo/leak_guard.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::TempDir;

constexpr int kCap = 12;

void WriteTasks(const std::filesystem::path& path, int n, uint64_t seed) {
  std::ofstream out(path);
  for (const auto& t : GenerateSimTasks(n, seed)) out << t.dump() << "\n";
}

Config HostileConfig(const TempDir& dir, const std::string& base_url, bool validation) {
  WriteTasks(dir / "train.jsonl", 24, 101);
  WriteTasks(dir / "val.jsonl", 16, 303);
  WriteTasks(dir / "eval.jsonl", 24, 202);
  Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = base_url;
  c.model.name = "sim";
  c.model.concurrency = 16;
  c.data.train = dir / "train.jsonl";
  c.data.eval = dir / "eval.jsonl";
  c.task.reward = RewardKind::kMath;
  c.practice.epochs = 3;
  c.practice.batch_size = 8;
  c.practice.group_size = 5;
  c.practice.seed = 5;
  c.practice.max_experiences = kCap;
  c.practice.validation.enabled = validation;
  c.practice.validation.data = dir / "val.jsonl";
  c.practice.validation.tasks = 16;
  c.practice.validation.k = 2;
  return c;
}

std::unique_ptr<ChatClient> FastClient(const Config& c) {
  HttpClientOptions o;
  o.base_url = c.model.base_url;
  o.model = c.model.name;
  o.concurrency = c.model.concurrency;
  o.timeout_s = 10;
  o.backoff_initial_s = 0.001;
  o.backoff_max_s = 0.01;
  return MakeHttpChatClient(o);
}

bool HoldsHarmful(const Library& library) {
  for (const auto& e : library.items())
    if (e.text.find(kSimHarmfulLesson) != std::string::npos) return true;
  return false;
}

struct Outcome {
  TrainSummary trained;
  double mean_at_k = 0;
  size_t largest_library = 0;  // over every steps/<n>/library.json
};

Outcome TrainAndEvaluate(bool validation) {
  SimOptions options;
  options.seed = 17;
  options.hostile = {true, true, true};
  SimServer sim(options);
  EXPECT_TRUE(sim.Start(0).ok());
  TempDir dir;
  Config c = HostileConfig(dir, sim.base_url(), validation);
  auto client = FastClient(c);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, *client);
  EXPECT_TRUE(trained.ok()) << trained.status().ToString();
  if (!trained.ok()) return {};
  Outcome out{std::move(trained).value()};
  for (const auto& entry : std::filesystem::directory_iterator(dir / "run" / "steps")) {
    nlohmann::json j = ParseUntrustedJson(ReadFile(entry.path() / "library.json").value());
    out.largest_library = std::max(out.largest_library, j["experiences"].size());
  }
  auto tasks = LoadTasks(c.data.eval, c.data.problem_key, c.data.answer_key);
  EvalOptions eo;
  eo.k = 4;
  auto report = Evaluate(c, *tasks, out.trained.library, eo, *client);
  EXPECT_TRUE(report.ok());
  if (report.ok()) out.mean_at_k = report->mean_at_k;

  // No lesson, kept or not, holds any task's answer or an 8-word run of its problem.
  std::vector<LeakSource> sources;
  for (const auto& file : {c.data.train, c.practice.validation.data}) {
    auto loaded = LoadTasks(file, "problem", "groundtruth");
    EXPECT_TRUE(loaded.ok());
    if (!loaded.ok()) continue;
    for (const Task& t : *loaded) sources.push_back({t.id, t.problem, t.answer});
  }
  LeakGuard guard(sources);
  for (const auto& e : out.trained.library.items()) EXPECT_FALSE(guard.Find(e.text).has_value()) << e.text;
  return out;
}

TEST(HostileLearning, ValidationKeepsTheHarmfulLessonOutAndWinsOnHeldOutTasks) {
  Outcome plain = TrainAndEvaluate(false);
  Outcome validated = TrainAndEvaluate(true);

  EXPECT_TRUE(HoldsHarmful(plain.trained.library)) << plain.trained.library.RenderLines();
  EXPECT_FALSE(HoldsHarmful(validated.trained.library)) << validated.trained.library.RenderLines();
  EXPECT_GT(validated.trained.validations_rejected, 0);
  EXPECT_GT(validated.trained.validations_accepted, 0);
  EXPECT_GE(validated.mean_at_k - plain.mean_at_k, 0.2)
      << "without validation " << plain.mean_at_k << ", with it " << validated.mean_at_k;

  // The copying learner was caught, and the padding learner was held to the cap.
  EXPECT_GT(plain.trained.leaks_dropped + validated.trained.leaks_dropped, 0);
  EXPECT_GT(plain.trained.evicted, 0);
  EXPECT_LE(plain.largest_library, static_cast<size_t>(kCap));
  EXPECT_LE(validated.largest_library, static_cast<size_t>(kCap));
}

// A consolidator that replies cut-off JSON about two calls in three: each bad reply is asked
// again; a step whose three replies were all bad keeps its library as it was. No library version
// ever holds the raw proposals (the groups propose the same generic lesson, so raw proposals
// would put duplicates in), and the library still learns.
TEST(HostileLearning, AGarbageConsolidatorIsRetriedAndNeverFloodsTheLibrary) {
  SimOptions options;
  options.seed = 1;  // its draws give steps 3 and 7 three bad replies in a row, the other steps a usable one
  options.hostile.garbage = true;
  options.hostile.pad = true;  // filler every step, so every step has something to consolidate
  SimServer sim(options);
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  Config c = HostileConfig(dir, sim.base_url(), /*validation=*/false);
  auto client = FastClient(c);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, *client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();

  auto store = RunStore::Open(dir / "run" / "run.db");
  ASSERT_TRUE(store.ok());
  int unchanged_steps = 0;
  std::set<int> steps_with_unchanged;
  for (const FailureRecord& f : testing::Must((*store)->Failures()))
    if (f.stage == "batch_update" && f.error.find("library unchanged") != std::string::npos)
      steps_with_unchanged.insert(f.step);
  unchanged_steps = static_cast<int>(steps_with_unchanged.size());
  EXPECT_GT(unchanged_steps, 0);  // some step had three bad replies
  EXPECT_LT(unchanged_steps, 9);  // and most got a usable one on a retry

  for (int step = 1; step <= 9; ++step) {
    auto lib = Library::Load(dir / "run" / "steps" / std::to_string(step) / "library.json");
    ASSERT_TRUE(lib.ok()) << step;
    std::set<std::string> texts;
    for (const auto& e : lib->items()) EXPECT_TRUE(texts.insert(e.text).second) << "step " << step << ": " << e.text;
    if (steps_with_unchanged.count(step - 1)) {
      auto before = Library::Load(dir / "run" / "steps" / std::to_string(step - 1) / "library.json");
      ASSERT_TRUE(before.ok());
      EXPECT_EQ(lib->RenderLines(), before->RenderLines()) << "step " << step;
    }
  }

  auto tasks = LoadTasks(c.data.eval, c.data.problem_key, c.data.answer_key);
  ASSERT_TRUE(tasks.ok());
  EvalOptions eo;
  eo.k = 4;
  auto baseline = Evaluate(c, *tasks, Library(), eo, *client);
  auto learned = Evaluate(c, *tasks, trained->library, eo, *client);
  ASSERT_TRUE(baseline.ok() && learned.ok());
  EXPECT_GE(learned->mean_at_k - baseline->mean_at_k, 0.3)
      << "baseline " << baseline->mean_at_k << ", learned " << learned->mean_at_k;
}

}  // namespace
}  // namespace tfgrpo
