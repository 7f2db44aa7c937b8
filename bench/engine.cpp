// Engine benchmarks (figures printed, not asserted):
//   1. engine CPU time per LLM call against a zero-latency simulator (target < 100 us);
//   2. peak RSS for one step of 100 tasks x 5 samples (target < 200 MB);
//   3. one step with 64 calls in flight and 200 ms mean heavy-tailed latency: wall time over the
//      critical-path bound (target < 1.2).
// The simulator runs in a forked child so that its CPU and memory are not counted as the engine's.
//
// Usage: bench_engine [tasks=100] [latency_ms=200] [concurrency=64]
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>

#include "tfgrpo/engine.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

using namespace tfgrpo;

namespace {

struct SimProcess {
  pid_t pid = -1;
  int port = 0;
  ~SimProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

// Forks a child serving the simulator and returns once it listens.
SimProcess StartSim(double latency_ms) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  SimProcess p;
  p.pid = fork();
  if (p.pid == 0) {
    close(fds[0]);
    SimServer server(SimOptions{.seed = 1, .latency_ms_mean = latency_ms});
    if (!server.Start(0).ok()) _exit(1);
    int port = server.port();
    if (write(fds[1], &port, sizeof port) != sizeof port) _exit(1);
    close(fds[1]);
    pause();  // until SIGTERM
    _exit(0);
  }
  close(fds[1]);
  if (read(fds[0], &p.port, sizeof p.port) != sizeof p.port) std::abort();
  close(fds[0]);
  return p;
}

struct CpuTimes {
  double user = 0, sys = 0;
};

CpuTimes Cpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return {u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6, u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6};
}

Config MakeConfig(const std::filesystem::path& dir, int port, int tasks, int batch, int epochs, int concurrency) {
  std::ofstream out(dir / "train.jsonl");
  for (const auto& t : GenerateSimTasks(tasks, 5)) out << t.dump() << "\n";
  out.close();
  Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  c.model.name = "sim";
  c.model.concurrency = concurrency;
  c.data.train = dir / "train.jsonl";
  c.practice.epochs = epochs;
  c.practice.batch_size = batch;
  c.practice.group_size = 5;
  return c;
}

std::unique_ptr<ChatClient> Client(const Config& c) {
  HttpClientOptions o;
  o.base_url = c.model.base_url;
  o.model = c.model.name;
  o.concurrency = c.model.concurrency;
  return MakeHttpChatClient(o);
}

// Critical path of step 0 from the latencies recorded in run.db: for each group the slowest
// rollout, then its slowest summary, its advantage and its update; the slowest group; then the
// consolidation. Also the throughput bound: total call time over the concurrency.
std::pair<double, double> Bounds(const std::filesystem::path& db, int concurrency) {
  sqlite3* conn = nullptr;
  sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(conn, "SELECT call_id, latency_ms FROM llm_calls WHERE call_id LIKE 's0/%'", -1, &st, nullptr);
  std::map<std::string, std::map<std::string, double>> per_group;  // task -> stage -> max latency
  double batch_update = 0, total = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string id = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    double ms = sqlite3_column_double(st, 1);
    total += ms;
    if (id == "s0/batch_update") {
      batch_update = ms;
      continue;
    }
    auto slash = id.rfind('/');
    std::string task = id.substr(0, slash), leaf = id.substr(slash + 1);
    std::string stage = leaf.rfind("summary", 0) == 0 ? "summary" : leaf[0] == 'r' ? "rollout" : leaf;
    auto& m = per_group[task][stage];
    m = std::max(m, ms);
  }
  sqlite3_finalize(st);
  sqlite3_close(conn);
  double critical = 0;
  for (auto& [task, stages] : per_group) {
    double path = 0;
    for (auto& [stage, ms] : stages) path += ms;
    critical = std::max(critical, path);
  }
  return {(critical + batch_update) / 1000.0, total / concurrency / 1000.0};
}

double StepWallSeconds(const std::filesystem::path& db) {
  sqlite3* conn = nullptr;
  sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(conn, "SELECT stats_json FROM steps WHERE step = 0", -1, &st, nullptr);
  double wall = 0;
  if (sqlite3_step(st) == SQLITE_ROW)
    wall = nlohmann::json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)))["wall_s"];
  sqlite3_finalize(st);
  sqlite3_close(conn);
  return wall;
}

long PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  const int tasks = argc > 1 ? std::atoi(argv[1]) : 100;
  const double latency_ms = argc > 2 ? std::atof(argv[2]) : 200;
  const int concurrency = argc > 3 ? std::atoi(argv[3]) : 64;
  auto root = std::filesystem::temp_directory_path() / ("tfgrpo-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(root);

  {  // 1 and 2: zero latency, one step of `tasks` x 5.
    SimProcess sim = StartSim(0);
    auto dir = root / "zero";
    std::filesystem::create_directories(dir);
    Config c = MakeConfig(dir, sim.port, tasks, tasks, 1, concurrency);
    auto client = Client(c);
    TrainOptions opt;
    opt.run_dir = dir / "run";
    const CpuTimes cpu0 = Cpu();
    const auto t0 = std::chrono::steady_clock::now();
    auto s = Train(c, opt, *client);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const CpuTimes cpu1 = Cpu();
    const double user = cpu1.user - cpu0.user, sys = cpu1.sys - cpu0.sys;
    if (!s.ok()) {
      std::fprintf(stderr, "train failed: %s\n", s.status().ToString().c_str());
      return 1;
    }
    std::printf("zero-latency step: %d tasks x 5, %lld LLM calls in %.2f s wall\n", tasks,
                static_cast<long long>(s->llm_calls), wall);
    std::printf("  engine CPU per LLM call:  %.1f us   (target < 100 us; user %.1f + system %.1f; includes HTTP "
                "client, JSON, run store)\n",
                (user + sys) / s->llm_calls * 1e6, user / s->llm_calls * 1e6, sys / s->llm_calls * 1e6);
    std::printf("  peak RSS:                 %ld MB    (target < 200 MB)\n", PeakRssMb());
  }

  {  // 3: 64 in flight, heavy-tailed latency.
    SimProcess sim = StartSim(latency_ms);
    auto dir = root / "latency";
    std::filesystem::create_directories(dir);
    Config c = MakeConfig(dir, sim.port, tasks, tasks, 1, concurrency);
    auto client = Client(c);
    TrainOptions opt;
    opt.run_dir = dir / "run";
    auto s = Train(c, opt, *client);
    if (!s.ok()) {
      std::fprintf(stderr, "train failed: %s\n", s.status().ToString().c_str());
      return 1;
    }
    auto [critical, throughput] = Bounds(dir / "run" / "run.db", c.model.concurrency);
    const double wall = StepWallSeconds(dir / "run" / "run.db");
    const double bound = std::max(critical, throughput);
    std::printf("step with %d in flight, %.0f ms mean log-normal latency: %lld calls\n", c.model.concurrency,
                latency_ms, static_cast<long long>(s->llm_calls));
    std::printf("  critical path %.2f s, throughput bound %.2f s, wall %.2f s\n", critical, throughput, wall);
    std::printf("  wall / bound:             %.3f   (target < 1.2)\n", wall / bound);
  }
  std::filesystem::remove_all(root);
  return 0;
}
