// Throughput of `task.reward: python` through its long-lived sandboxed workers: a trivial
// verify() scored from many threads at once, as the engine does. Prints scores per second, the
// per-score overhead (worker-time per score: everything but the function itself, which is
// near-free here) and the pool's start-up time. Target: at least 2,000 scores/s on 2 cores.
// Usage: bench_python_reward [scores=20000] [workers=2] [threads=16] [sandbox=bwrap|none]

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tfgrpo/reward.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

}  // namespace

int main(int argc, char** argv) {
  const int scores = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20000;
  const int workers = argc > 2 ? std::max(1, std::atoi(argv[2])) : 2;
  const int threads = argc > 3 ? std::max(1, std::atoi(argv[3])) : 16;
  const std::string sandbox = argc > 4 ? argv[4] : "bwrap";

  namespace fs = std::filesystem;
  char templ[] = "/tmp/tfgrpo-bench-reward-XXXXXX";
  if (!::mkdtemp(templ)) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path dir = templ;
  ::chmod(dir.c_str(), 0755);  // readable by the sandbox's uid when run as root
  const fs::path file = dir / "verify.py";
  std::ofstream(file) << "def verify(problem, answer, response, task):\n"
                         "    return response.strip().endswith(answer)\n";
  ::chmod(file.c_str(), 0644);

  tfgrpo::ScriptRewardOptions options;
  options.kind = "python";
  options.file = file;
  options.workers = workers;
  options.sandbox = sandbox;
  const auto start_begin = Clock::now();
  auto made = tfgrpo::MakeScriptReward(options);
  const double startup_s = Seconds(start_begin);
  if (!made.ok()) {
    std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
    fs::remove_all(dir);
    return 1;
  }
  auto& reward = *made;

  tfgrpo::Task task;
  task.id = "bench";
  task.problem = "What is 6 x 7?";
  task.answer = "42";
  task.record = {{"problem", task.problem}, {"groundtruth", task.answer}, {"id", "bench"}};
  const std::string response = "Six sevens are forty-two.\n\n42";

  // Warm-up: every worker has imported and run the function once.
  for (int i = 0; i < workers * 4; ++i) (void)reward->Score(task, response, "warm");

  std::atomic<int> next{0}, failed{0}, correct{0};
  const auto begin = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      while (next++ < scores) {
        auto r = reward->Score(task, response, "bench");
        if (!r.ok()) {
          ++failed;
        } else if (r->score == 1.0) {
          ++correct;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  const double wall = Seconds(begin);
  reward.reset();
  fs::remove_all(dir);

  const double rate = scores / wall;
  std::printf("python reward, trivial verify(), %d scores, %d workers (%s), %d calling threads, %u cores\n", scores,
              workers, sandbox.c_str(), threads, std::thread::hardware_concurrency());
  std::printf("  throughput            %10.0f scores/s   (target >= 2000/s on 2 cores)\n", rate);
  std::printf("  per-score overhead    %10.1f us of worker time (wall x workers / scores)\n",
              wall * 1e6 * workers / scores);
  std::printf("  mean latency          %10.1f us per score with %d threads waiting\n", wall * 1e6 * threads / scores,
              threads);
  std::printf("  pool start-up         %10.1f ms (sandbox probe + %d workers loading verify.py)\n", startup_s * 1e3,
              workers);
  std::printf("  failed %d, scored 1.0 %d\n", failed.load(), correct.load());
  return failed.load() == 0 && correct.load() == scores ? 0 : 1;
}
