// MCP call overhead over stdio: tools/call round trips through McpClient to a minimal echo
// server (this same binary run with --echo-server, C++, so the figures measure the client and the
// pipe, not a slow peer). Prints p50/p99 latency in microseconds and calls/s, sequential and with
// several threads sharing the one server process.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/mcp.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int EchoServer() {
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    json m = json::parse(line, nullptr, false);
    if (m.is_discarded() || !m.contains("id")) continue;
    json reply = {{"jsonrpc", "2.0"}, {"id", m["id"]}};
    const std::string method = m.value("method", "");
    if (method == "initialize") {
      reply["result"] = {{"protocolVersion", m["params"]["protocolVersion"]},
                         {"capabilities", {{"tools", json::object()}}},
                         {"serverInfo", {{"name", "bench-echo"}, {"version", "1"}}}};
    } else if (method == "tools/list") {
      reply["result"] = {{"tools", json::array({{{"name", "echo"}, {"description", "echo"},
                                                 {"inputSchema", {{"type", "object"}}}}})}};
    } else if (method == "tools/call") {
      reply["result"] = {{"content", json::array({{{"type", "text"}, {"text", m["params"]["arguments"].value("text", "")}}})}};
    } else {
      reply["error"] = {{"code", -32601}, {"message", "no"}};
    }
    std::cout << reply.dump() << '\n' << std::flush;
  }
  return 0;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--echo-server") return EchoServer();
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = '\0';
  tfgrpo::McpServerConfig config;
  config.name = "bench";
  config.command = {self, "--echo-server"};
  auto client = tfgrpo::McpClient::Connect(config);
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.status().ToString().c_str());
    return 1;
  }
  const json args = {{"text", std::string(200, 'x')}};  // a short tool argument, like a query
  for (int i = 0; i < 200; ++i) (void)(*client)->CallTool("echo", args);  // warm up

  const int calls = 5000;
  std::vector<double> us;
  us.reserve(calls);
  auto start = Clock::now();
  for (int i = 0; i < calls; ++i) {
    auto t0 = Clock::now();
    auto out = (*client)->CallTool("echo", args);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (!out.ok() || out->is_error) {
      std::fprintf(stderr, "call failed\n");
      return 1;
    }
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("mcp stdio tools/call, 1 thread:  p50 %.1f us  p99 %.1f us  %.0f calls/s  (%d calls)\n",
              Percentile(us, 0.5), Percentile(us, 0.99), calls / seconds, calls);

  for (int threads : {4, 16}) {
    std::vector<std::vector<double>> per(threads);
    const int each = calls / threads;
    start = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        per[t].reserve(each);
        for (int i = 0; i < each; ++i) {
          auto t0 = Clock::now();
          (void)(*client)->CallTool("echo", args);
          per[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        }
      });
    for (auto& th : pool) th.join();
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<double> all;
    for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
    std::printf("mcp stdio tools/call, %d threads: p50 %.1f us  p99 %.1f us  %.0f calls/s  (one server process)\n",
                threads, Percentile(all, 0.5), Percentile(all, 0.99), all.size() / seconds);
  }
  (*client)->Stop();
  return 0;
}
