// Retrieval benchmark: BM25 ranking latency of one query (the top_k selection included) for
// libraries of 100, 1,000 and 10,000 experiences (target: under 1 ms at 10,000), and the prompt
// tokens per rollout sample with retrieval.top_k 0 and 4 in the simulator's many-topics world
// (one learned library, held-out tasks; Mean@k and the prefix-cached share alongside).
// Usage: bench_retrieval [queries]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <ctime>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/sim.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Lessons and task texts from a 5,000-word vocabulary, common words much more frequent than rare.
struct TextMaker {
  std::mt19937_64 rng{4242};
  std::vector<std::string> vocab;
  TextMaker() {
    const char* syl[] = {"ka", "lo", "mi", "ren", "to", "va", "sel", "dor", "in", "qu", "bar", "es"};
    for (int i = 0; i < 5000; ++i) {
      std::string w;
      for (int k = 0, n = 2 + static_cast<int>(rng() % 3); k < n; ++k) w += syl[rng() % 12];
      vocab.push_back(w + std::to_string(i % 89));
    }
  }
  std::string Text(int words) {
    std::string out;
    for (int i = 0; i < words; ++i) {
      double u = std::uniform_real_distribution<double>(0, 1)(rng);
      out += (i ? " " : "") + vocab[static_cast<size_t>(u * u * u * (vocab.size() - 1))];
    }
    return out;
  }
};

double ThreadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

void RankingLatency(int queries) {
  std::printf("BM25 ranking, one query (40 words) against a library of lessons (30 words), top_k 6:\n");
  // Wall time is what a caller waits; CPU time of the thread is the ranking's own cost, without
  // the preemption a shared machine adds to the tail.
  std::printf("  %12s %12s %10s %10s %10s %12s\n", "experiences", "index ms", "p50 us", "p99 us", "mean us",
              "cpu mean us");
  for (int n : {100, 1000, 10000}) {
    TextMaker maker;
    std::vector<tfgrpo::Experience> items;
    for (int i = 0; i < n; ++i) items.push_back(tfgrpo::Experience{maker.Text(30)});
    tfgrpo::Library library(std::move(items));
    std::vector<std::string> query_texts;
    for (int q = 0; q < queries; ++q) query_texts.push_back(maker.Text(40));
    tfgrpo::Retriever retriever(6, tfgrpo::RetrievalMethod::kBm25);
    const auto t0 = Clock::now();
    retriever.SetLibrary(library);
    const double index_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::vector<double> us;
    size_t checksum = 0;
    const double cpu_start = ThreadCpuMicros();
    for (const std::string& q : query_texts) {
      const auto s = Clock::now();
      checksum += retriever.Select(q).front();
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
    }
    const double cpu_mean = (ThreadCpuMicros() - cpu_start) / static_cast<double>(query_texts.size());
    std::sort(us.begin(), us.end());
    double mean = 0;
    for (double v : us) mean += v;
    mean /= static_cast<double>(us.size());
    std::printf("  %12d %12.1f %10.1f %10.1f %10.1f %12.1f%s\n", n, index_ms, us[us.size() / 2],
                us[us.size() * 99 / 100], mean, cpu_mean, checksum == 0 ? " " : "");
  }
}

int TopicsTokens() {
  spdlog::set_level(spdlog::level::warn);
  tfgrpo::SimServer sim(tfgrpo::SimOptions{.seed = 7});
  if (!sim.Start(0).ok()) return 1;
  const fs::path dir = fs::temp_directory_path() / ("tfgrpo-bench-retrieval-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (auto [name, seed] : {std::pair{"train.jsonl", 1}, {"eval.jsonl", 2}}) {
    std::ofstream out(dir / name);
    for (const auto& t : tfgrpo::GenerateSimTopicTasks(48, seed)) out << t.dump() << "\n";
  }
  tfgrpo::Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = sim.base_url();
  c.model.name = "sim";
  c.model.concurrency = 16;
  c.data.train = dir / "train.jsonl";
  c.data.eval = dir / "eval.jsonl";
  c.task.reward = tfgrpo::RewardKind::kMath;
  c.practice.epochs = 2;
  c.practice.batch_size = 8;
  c.practice.group_size = 5;
  tfgrpo::HttpClientOptions o;
  o.base_url = c.model.base_url;
  o.model = c.model.name;
  o.concurrency = 16;
  auto client = tfgrpo::MakeHttpChatClient(o);
  tfgrpo::TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = tfgrpo::Train(c, opt, *client);
  if (!trained.ok()) {
    std::fprintf(stderr, "training failed: %s\n", trained.status().ToString().c_str());
    return 1;
  }
  auto tasks = tfgrpo::LoadTasks(c.data.eval, c.data.problem_key, c.data.answer_key);
  if (!tasks.ok()) return 1;
  std::printf("\nmany-topics world (%zu task types), one learned library of %zu experiences, 48 held-out tasks x 8:\n",
              tfgrpo::SimTopicPitfalls().size(), trained->library.size());
  std::printf("  %8s %22s %10s %14s\n", "top_k", "prompt tokens/sample", "Mean@8", "cached share");
  for (int top_k : {0, 4}) {
    tfgrpo::Config e = c;
    e.retrieval.top_k = top_k;
    tfgrpo::EvalOptions eo;
    eo.k = 8;
    auto report = tfgrpo::Evaluate(e, *tasks, trained->library, eo, *client);
    if (!report.ok()) return 1;
    const auto& rollout = report->usage_by_role.at("rollout");
    std::printf("  %8d %22.1f %10.3f %13.1f%%\n", top_k,
                static_cast<double>(rollout.prompt_tokens) / static_cast<double>(report->samples), report->mean_at_k,
                rollout.prompt_tokens ? 100.0 * rollout.cached_tokens / rollout.prompt_tokens : 0.0);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int queries = argc > 1 ? std::max(100, std::atoi(argv[1])) : 2000;
  RankingLatency(queries);
  return TopicsTokens();
}
