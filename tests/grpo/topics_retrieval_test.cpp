// The many-topics world end to end over HTTP against the simulator: one library is learned, then
// held-out tasks run with the whole library in every prompt and with retrieval.top_k 4. Retrieval
// must raise Mean@k by at least 0.2 at no more than half the prompt tokens per sample.
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

void WriteTopicTasks(const std::filesystem::path& path, int n, uint64_t seed) {
  std::ofstream out(path);
  for (const auto& t : GenerateSimTopicTasks(n, seed)) out << t.dump() << "\n";
}

double PromptTokensPerSample(const EvalReport& r) {
  return r.samples ? static_cast<double>(r.usage_by_role.at("rollout").prompt_tokens) / r.samples : 0;
}

TEST(TopicsRetrieval, TopK4BeatsTheWholeLibraryOnTheSameLearnedLibraryAtHalfThePromptTokens) {
  SimServer sim(SimOptions{.seed = 7});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  WriteTopicTasks(dir / "train.jsonl", 48, 1);
  WriteTopicTasks(dir / "eval.jsonl", 48, 2);
  Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = sim.base_url();
  c.model.name = "sim";
  c.model.concurrency = 16;
  c.data.train = dir / "train.jsonl";
  c.data.eval = dir / "eval.jsonl";
  c.task.reward = RewardKind::kMath;
  c.practice.epochs = 2;
  c.practice.batch_size = 8;
  c.practice.group_size = 5;
  HttpClientOptions o;
  o.base_url = c.model.base_url;
  o.model = c.model.name;
  o.concurrency = 16;
  o.timeout_s = 10;
  o.backoff_initial_s = 0.001;
  auto client = MakeHttpChatClient(o);

  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, *client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  ASSERT_GT(trained->library.size(), 8u) << "a library of many topics was learned";

  auto tasks = LoadTasks(c.data.eval, c.data.problem_key, c.data.answer_key);
  ASSERT_TRUE(tasks.ok());
  EvalOptions eo;
  eo.k = 8;
  auto whole = Evaluate(c, *tasks, trained->library, eo, *client);
  Config retrieving = c;
  retrieving.retrieval.top_k = 4;
  auto top4 = Evaluate(retrieving, *tasks, trained->library, eo, *client);
  ASSERT_TRUE(whole.ok() && top4.ok());
  EXPECT_GE(top4->mean_at_k - whole->mean_at_k, 0.2) << "whole " << whole->mean_at_k << " top_k 4 " << top4->mean_at_k;
  EXPECT_LE(PromptTokensPerSample(*top4), 0.5 * PromptTokensPerSample(*whole))
      << PromptTokensPerSample(*top4) << " vs " << PromptTokensPerSample(*whole);
  EXPECT_EQ(top4->ToJson()["retrieval"]["top_k"], 4);
  EXPECT_EQ(top4->ToJson()["retrieval"]["fallbacks"], 0);
  EXPECT_FALSE(whole->ToJson().contains("retrieval"));
}

TEST(TopicsRetrieval, TheModelFindsTheRightExperienceLessOftenAmongMany) {
  // Same task, the right experience always present, more of the others around it.
  const auto& topics = SimTopicPitfalls();
  ASSERT_EQ(topics.size(), 24u);
  const std::string task = GenerateSimTopicTasks(1, 5)[0]["problem"];
  const std::string answer = GenerateSimTopicTasks(1, 5)[0]["groundtruth"];
  std::string pitfall = GenerateSimTopicTasks(1, 5)[0]["pitfall"];
  size_t right = 0;
  while (topics[right].name != pitfall) ++right;
  auto success_rate = [&](size_t shown) {
    std::vector<Experience> items = {Experience{topics[right].experience}};
    for (size_t i = 0; items.size() < shown; ++i)
      if (i != right) items.push_back(Experience{topics[i].experience});
    SimModel model(SimOptions{.seed = 3});
    int ok = 0;
    for (int j = 0; j < 200; ++j) {
      nlohmann::json body = {{"model", "sim"},
                             {"temperature", 0.7},
                             {"messages", {{{"role", "system"}, {"content", AppendLibrary("Answer.", Library(items))}},
                                           {{"role", "user"}, {"content", task}}}}};
      auto reply = model.Respond(body, "rollout", "t/r" + std::to_string(j));
      const std::string text = reply["choices"][0]["message"]["content"];
      ok += text.find("\\boxed{" + answer + "}") != std::string::npos;
    }
    return ok / 200.0;
  };
  const double few = success_rate(4), many = success_rate(24);
  EXPECT_GT(few, 0.8);
  EXPECT_LT(many, 0.45);
}

}  // namespace
}  // namespace tfgrpo
