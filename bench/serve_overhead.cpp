// What `tfgrpo serve` adds to a chat completion: a zero-latency upstream (fixed reply) is driven
// directly and through the proxy, in two phases: one connection (the latency a single caller
// sees, unqueued) and N connections (throughput at saturation; latency there is mostly queueing).
// Uses wrk when it is on PATH (wrk -t2 -cN -d5s --latency), else an in-process client loop.
// Everything (driver, proxy, upstream) shares the machine's cores.
//
//   build/bench_serve_overhead [--duration S] [--connections N] [--no-wrk]
#include <httplib.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tfgrpo/library.h"
#include "tfgrpo/serve.h"
#include "tfgrpo/util.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double p50_ms = 0;
  double p99_ms = 0;
  double rps = 0;
  int64_t errors = 0;
};

const char kReply[] =
    R"({"id":"chatcmpl-bench","object":"chat.completion","created":0,"model":"bench",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"The answer is \\boxed{4}."},)"
    R"("finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":8,)"
    R"("total_tokens":128,"prompt_tokens_details":{"cached_tokens":96}}})";

const char kRequest[] =
    R"({"model":"bench","messages":[{"role":"system","content":"You are a careful solver."},)"
    R"({"role":"user","content":"What is 2+2? Put the final answer in \\boxed{}."}],"temperature":0.3})";

std::optional<std::string> FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::string p = path;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::filesystem::path candidate = std::filesystem::path(p.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return std::nullopt;
}

// "123.45us" / "1.20ms" / "2.00s" -> milliseconds.
double ParseDurationMs(const std::string& text) {
  double v = std::atof(text.c_str());
  if (tfgrpo::EndsWith(text, "us")) return v / 1000;
  if (tfgrpo::EndsWith(text, "ms")) return v;
  if (tfgrpo::EndsWith(text, "s")) return v * 1000;
  return v;
}

std::optional<Figures> RunWrk(const std::string& wrk, const std::string& url,
                              const std::filesystem::path& script, int seconds, int connections) {
  int threads = std::min(2, connections);
  std::string cmd = wrk + " -t" + std::to_string(threads) + " -c" +
                    std::to_string(connections) + " -d" + std::to_string(seconds) +
                    "s --latency -s " + script.string() + " " + url + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  if (std::getenv("BENCH_SHOW_WRK") != nullptr) std::fprintf(stderr, "%s\n", out.c_str());
  Figures f;
  bool have_p50 = false, have_rps = false;
  for (const std::string& raw : tfgrpo::SplitLines(out)) {
    std::string line = tfgrpo::Trim(raw);
    char value[64];
    double number = 0;
    if (std::sscanf(line.c_str(), "50%% %63s", value) == 1) {
      f.p50_ms = ParseDurationMs(value);
      have_p50 = true;
    } else if (std::sscanf(line.c_str(), "99%% %63s", value) == 1) {
      f.p99_ms = ParseDurationMs(value);
    } else if (std::sscanf(line.c_str(), "Requests/sec: %lf", &number) == 1) {
      f.rps = number;
      have_rps = true;
    } else if (line.rfind("Non-2xx or 3xx responses:", 0) == 0) {
      f.errors += std::atoll(line.c_str() + 25);
    } else if (line.rfind("Socket errors:", 0) == 0) {
      int c = 0, r = 0, w = 0, t = 0;
      std::sscanf(line.c_str(), "Socket errors: connect %d, read %d, write %d, timeout %d", &c, &r,
                  &w, &t);
      f.errors += c + r + w + t;
    }
  }
  if (!have_p50 || !have_rps) {
    std::fprintf(stderr, "could not read wrk's output:\n%s\n", out.c_str());
    return std::nullopt;
  }
  return f;
}

// Fallback driver: `connections` threads, each with one keep-alive connection, for `seconds`.
Figures RunInProcess(int port, int seconds, int connections) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> errors{0};
  std::vector<std::vector<double>> latencies(connections);
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);  // else each POST waits ~40 ms for a delayed ACK
      while (!stop) {
        auto start = Clock::now();
        auto r = client.Post("/v1/chat/completions", kRequest, "application/json");
        if (!r || r->status != 200) {
          ++errors;
          continue;
        }
        latencies[c].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Figures f;
  f.errors = errors;
  if (!all.empty()) {
    f.p50_ms = all[all.size() / 2];
    f.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
    f.rps = all.size() / elapsed;
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 5;
  int connections = 32;
  bool use_wrk = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--duration" && i + 1 < argc) {
      seconds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--connections" && i + 1 < argc) {
      connections = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--no-wrk") {
      use_wrk = false;
    } else {
      std::fprintf(stderr, "usage: %s [--duration S] [--connections N] [--no-wrk]\n", argv[0]);
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(spdlog::level::warn);

  httplib::Server upstream;
  upstream.new_task_queue = [] { return new httplib::ThreadPool(64); };
  upstream.set_tcp_nodelay(true);
  upstream.set_keep_alive_max_count(1000000);
  int upstream_socket = -1;
  upstream.set_socket_options([&upstream_socket](socket_t sock) {
    httplib::default_socket_options(sock);
    upstream_socket = sock;
  });
  upstream.Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kReply, "application/json");
  });
  int upstream_port = upstream.bind_to_any_port("127.0.0.1");
  // As the proxy does: httplib's backlog of 5 drops SYNs when 32 connections open at once.
  if (upstream_socket >= 0) ::listen(upstream_socket, SOMAXCONN);
  std::thread upstream_thread([&] { upstream.listen_after_bind(); });
  while (!upstream.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  std::string tmpl = (std::filesystem::temp_directory_path() / "tfgrpo-bench-XXXXXX").string();
  std::filesystem::path dir = ::mkdtemp(tmpl.data());
  std::vector<tfgrpo::Experience> items;
  for (int i = 0; i < 12; ++i) {
    items.push_back({"Experience number " + std::to_string(i) +
                         ": when a problem has a trap of kind " + std::to_string(i) +
                         ", check it explicitly before committing to an answer.",
                     -1, ""});
  }
  tfgrpo::Library library(items);
  if (auto s = library.Save(dir / "experiences.json"); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 1;
  }

  tfgrpo::ServeOptions options;
  options.experiences = dir / "experiences.json";
  options.upstream = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  options.listen_port = 0;
  options.threads = std::max(64, connections + 8);
  tfgrpo::ProxyServer proxy(options);
  if (auto s = proxy.Start(); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 1;
  }

  std::optional<std::string> wrk = use_wrk ? FindOnPath("wrk") : std::nullopt;
  std::filesystem::path script = dir / "post.lua";
  if (wrk) {
    std::string lua =
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        "wrk.body = [[" + std::string(kRequest) + "]]\n";
    if (!tfgrpo::WriteFileAtomic(script, lua).ok()) wrk.reset();
  }
  std::string direct_url = "http://127.0.0.1:" + std::to_string(upstream_port) +
                           "/v1/chat/completions";
  std::string proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port()) +
                          "/v1/chat/completions";
  std::printf("serve overhead: %d s per run, %u hardware threads, driver: %s\n", seconds,
              std::thread::hardware_concurrency(), wrk ? "wrk" : "in-process client loop");

  auto measure = [&](int conns, const char* label) {
    std::optional<Figures> direct, through;
    if (wrk) {
      direct = RunWrk(*wrk, direct_url, script, seconds, conns);
      through = RunWrk(*wrk, proxy_url, script, seconds, conns);
    }
    if (!direct || !through) {
      direct = RunInProcess(upstream_port, seconds, conns);
      through = RunInProcess(proxy.port(), seconds, conns);
    }
    std::printf("\n%s (%d connection%s)\n", label, conns, conns == 1 ? "" : "s");
    std::printf("  %-10s %10s %10s %12s %8s\n", "target", "p50 ms", "p99 ms", "req/s", "errors");
    std::printf("  %-10s %10.3f %10.3f %12.0f %8lld\n", "upstream", direct->p50_ms,
                direct->p99_ms, direct->rps, static_cast<long long>(direct->errors));
    std::printf("  %-10s %10.3f %10.3f %12.0f %8lld\n", "proxy", through->p50_ms, through->p99_ms,
                through->rps, static_cast<long long>(through->errors));
    std::printf("  added by the proxy: p50 %+.3f ms, p99 %+.3f ms\n",
                through->p50_ms - direct->p50_ms, through->p99_ms - direct->p99_ms);
    return *through;
  };
  Figures single = measure(1, "latency, one caller");
  Figures loaded = measure(connections, "throughput, saturated");
  (void)single;
  std::printf("\nproxy throughput %.0f req/s (targets: p50 < 1 ms added, >= 5000 req/s)\n",
              loaded.rps);
  std::string metrics = proxy.MetricsText();
  for (const std::string& line : tfgrpo::SplitLines(metrics)) {
    if (line.rfind("tfgrpo_serve_injections_total ", 0) == 0 ||
        line.rfind("tfgrpo_serve_requests_total{", 0) == 0) {
      std::printf("  %s\n", line.c_str());
    }
  }

  proxy.Stop();
  upstream.stop();
  upstream_thread.join();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
