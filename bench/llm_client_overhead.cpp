// CPU the HTTP chat client spends per call (body serialisation, libcurl transfer, response
// parsing), measured on the calling thread against a local server that answers at once.
// Usage: bench_llm_client_overhead [calls=2000] [threads=4]

#include <httplib.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tfgrpo/llm.h"

namespace {

double ThreadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

tfgrpo::ChatRequest RealisticRequest(int i) {
  tfgrpo::ChatRequest req;
  req.role = tfgrpo::Role::kRollout;
  req.call_id = "e0/s1/t" + std::to_string(i) + "/r0";
  std::string system = "Solve the problem. Useful experiences:\n";
  for (int e = 0; e < 30; ++e) {
    system += "[G" + std::to_string(e) +
              "] When a geometry problem gives a ratio of areas, convert it to a ratio of "
              "lengths before setting up equations.\n";
  }
  req.messages.push_back({"system", system, nlohmann::json::object()});
  req.messages.push_back({"user", "Find all real x with x^2 - 5x + 6 = 0. Problem #" +
                                      std::to_string(i),
                          nlohmann::json::object()});
  return req;
}

}  // namespace

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2000;
  const int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 4;

  const std::string reply =
      nlohmann::json{{"choices", nlohmann::json::array({{{"finish_reason", "stop"},
                                                         {"message",
                                                          {{"role", "assistant"},
                                                           {"content", std::string(1200, 'x') +
                                                                           " \\boxed{2, 3}"}}}}})},
                     {"usage", {{"prompt_tokens", 1100}, {"completion_tokens", 310},
                                {"prompt_cache_hit_tokens", 1024}}}}
          .dump();
  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.Post(".*", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(reply, "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread server_thread([&] { server.listen_after_bind(); });
  for (int i = 0; i < 500 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  tfgrpo::HttpClientOptions options;
  options.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  options.model = "bench";
  options.concurrency = threads;
  options.max_retries = 0;
  int failures = 0;
  {
    auto client = tfgrpo::MakeHttpChatClient(options);

    // Sequential: client CPU per call on the calling thread, and round-trip latency.
    for (int i = 0; i < 50; ++i) (void)client->Complete(RealisticRequest(i));  // warm up
    std::vector<double> cpu_us;
    std::vector<double> wall_us;
    cpu_us.reserve(calls);
    wall_us.reserve(calls);
    for (int i = 0; i < calls; ++i) {
      tfgrpo::ChatRequest req = RealisticRequest(i);
      const double cpu0 = ThreadCpuMicros();
      const auto wall0 = std::chrono::steady_clock::now();
      if (!client->Complete(req).ok()) ++failures;
      wall_us.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - wall0)
              .count());
      cpu_us.push_back(ThreadCpuMicros() - cpu0);
    }
    auto pct = [](std::vector<double> v, double p) {
      std::sort(v.begin(), v.end());
      return v[static_cast<size_t>(p * (v.size() - 1))];
    };
    std::printf("sequential, %d calls: client CPU/call p50 %.1f us p99 %.1f us; "
                "round trip p50 %.1f us p99 %.1f us\n",
                calls, pct(cpu_us, 0.5), pct(cpu_us, 0.99), pct(wall_us, 0.5), pct(wall_us, 0.99));

    // Concurrent: throughput with `threads` callers and the same cap.
    std::atomic<int> next{0};
    std::atomic<int> concurrent_failures{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i = next++; i < calls; i = next++) {
          if (!client->Complete(RealisticRequest(i)).ok()) ++concurrent_failures;
        }
      });
    }
    for (auto& w : workers) w.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("concurrent, %d threads: %.0f calls/s (client and server share the machine)\n",
                threads, calls / seconds);
    failures += concurrent_failures.load();
  }
  server.stop();
  server_thread.join();
  if (failures > 0) {
    std::fprintf(stderr, "%d calls failed\n", failures);
    return 1;
  }
  return 0;
}
