// Train and evaluate end to end over HTTP against the simulated LLM: the learned library must
// raise held-out Mean@k, and injected faults must not change what is learned.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"
#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/sim.h"

namespace tfgrpo {
namespace {

using testing::TempDir;

void WriteTasks(const std::filesystem::path& path, int n, uint64_t seed) {
  std::ofstream out(path);
  for (const auto& t : GenerateSimTasks(n, seed)) out << t.dump() << "\n";
}

Config SimConfig(const TempDir& dir, const std::string& base_url) {
  WriteTasks(dir / "train.jsonl", 18, 101);
  WriteTasks(dir / "eval.jsonl", 24, 202);
  Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = base_url;
  c.model.name = "sim";
  c.model.concurrency = 16;
  c.model.max_retries = 8;
  c.data.train = dir / "train.jsonl";
  c.data.eval = dir / "eval.jsonl";
  c.task.reward = RewardKind::kMath;
  c.practice.epochs = 2;
  c.practice.batch_size = 6;
  c.practice.group_size = 5;
  c.practice.seed = 3;
  return c;
}

std::unique_ptr<ChatClient> FastClient(const Config& c) {
  HttpClientOptions o;
  o.base_url = c.model.base_url;
  o.model = c.model.name;
  o.max_retries = c.model.max_retries;
  o.concurrency = c.model.concurrency;
  o.timeout_s = 10;
  o.backoff_initial_s = 0.001;
  o.backoff_max_s = 0.01;
  return MakeHttpChatClient(o);
}

TEST(SimEndToEnd, LearnedLibraryRaisesHeldOutMeanAtK) {
  SimServer sim(SimOptions{.seed = 11});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  Config c = SimConfig(dir, sim.base_url());
  auto client = FastClient(c);

  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, *client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_GT(trained->library.size(), 0u);
  EXPECT_EQ(trained->rollouts_failed, 0);

  auto tasks = LoadTasks(c.data.eval, c.data.problem_key, c.data.answer_key);
  ASSERT_TRUE(tasks.ok());
  EvalOptions eo;
  eo.k = 8;
  auto baseline = Evaluate(c, *tasks, Library(), eo, *client);
  auto learned = Evaluate(c, *tasks, trained->library, eo, *client);
  ASSERT_TRUE(baseline.ok() && learned.ok());
  EXPECT_EQ(baseline->samples, 24 * 8);
  EXPECT_GE(learned->mean_at_k - baseline->mean_at_k, 0.3)
      << "baseline " << baseline->mean_at_k << " learned " << learned->mean_at_k;
  EXPECT_GE(learned->pass_at_k, baseline->pass_at_k);
  EXPECT_GT(learned->usage.prompt_tokens, baseline->usage.prompt_tokens);  // the library costs tokens
  EXPECT_GT(learned->usage.cached_tokens, 0);  // the shared system prefix is cached
}

TEST(SimEndToEnd, TwentyPercentFaultsEndInTheSameLibrary) {
  auto train_with = [](double fault_rate) {
    SimServer sim(SimOptions{.seed = 11, .fault_rate = fault_rate});
    EXPECT_TRUE(sim.Start(0).ok());
    TempDir dir;
    Config c = SimConfig(dir, sim.base_url());
    c.practice.epochs = 1;
    auto client = FastClient(c);
    TrainOptions opt;
    opt.run_dir = dir / "run";
    auto trained = Train(c, opt, *client);
    EXPECT_TRUE(trained.ok()) << trained.status().ToString();
    EXPECT_EQ(trained->rollouts_failed, 0);
    EXPECT_EQ(trained->stages_failed, 0);
    if (fault_rate == 0) {
      EXPECT_EQ(sim.requests(), trained->llm_calls);  // one request per call
    }
    return std::pair{trained->library.ToJson(), sim.requests()};
  };
  auto [clean, clean_requests] = train_with(0.0);
  auto [faulty, faulty_requests] = train_with(0.2);
  EXPECT_FALSE(clean.empty());
  EXPECT_EQ(clean, faulty);
  EXPECT_GT(faulty_requests, clean_requests);  // the faults were real and were retried
}

}  // namespace
}  // namespace tfgrpo
