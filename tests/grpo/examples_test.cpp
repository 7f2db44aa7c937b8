// examples/code and examples/classify train offline against the simulator: a python reward
// scores every rollout through the sandboxed workers, and the learned library must raise
// held-out Mean@k, as the examples' README promises.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/sim.h"

namespace tfgrpo {
namespace {

using testing::TempDir;

void TrainAndCompare(const std::string& example, double min_gain) {
  SimServer sim(SimOptions{.seed = 5});
  ASSERT_TRUE(sim.Start(0).ok());
  auto config = LoadConfig(std::string(TFGRPO_SOURCE_DIR) + "/examples/" + example + "/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  Config c = *config;
  c.model.base_url = sim.base_url();
  c.model.concurrency = 16;
  c.task.reward_workers = 2;
  HttpClientOptions o;
  o.base_url = c.model.base_url;
  o.model = c.model.name;
  o.concurrency = c.model.concurrency;
  o.timeout_s = 10;
  auto client = MakeHttpChatClient(o);

  TempDir dir;
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, *client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_EQ(trained->rollouts_failed, 0);
  EXPECT_GT(trained->library.size(), 0u);

  auto tasks = LoadTasks(c.data.eval, c.data.problem_key, c.data.answer_key);
  ASSERT_TRUE(tasks.ok());
  EvalOptions eo;
  eo.k = 4;
  auto baseline = Evaluate(c, *tasks, Library(), eo, *client);
  auto learned = Evaluate(c, *tasks, trained->library, eo, *client);
  ASSERT_TRUE(baseline.ok() && learned.ok());
  EXPECT_EQ(baseline->errors, 0);
  EXPECT_EQ(learned->errors, 0);
  EXPECT_GE(learned->mean_at_k - baseline->mean_at_k, min_gain)
      << example << ": baseline " << baseline->mean_at_k << " learned " << learned->mean_at_k;
  // The reward's reasoning is kept per task.
  bool any_critique = false;
  for (const auto& t : baseline->per_task) any_critique = any_critique || !t.critique.empty();
  EXPECT_TRUE(any_critique);
}

TEST(Examples, CodeTrainsOfflineAgainstTheSimulator) { TrainAndCompare("code", 0.3); }

TEST(Examples, ClassifyTrainsOfflineAgainstTheSimulator) { TrainAndCompare("classify", 0.3); }

}  // namespace
}  // namespace tfgrpo
