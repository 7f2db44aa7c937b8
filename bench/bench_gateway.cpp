// What the agent gateway adds to an agent's call. A local HTTP upstream answers a fixed chat
// completion at once; agents (threads, one lease and one keep-alive connection each) call it
//   direct:    POST upstream/v1/chat/completions (the baseline)
//   chat:      POST gateway/r/<token>/v1/chat/completions (gateway -> HTTP client -> upstream)
//   streamed:  the same with "stream": true (the gateway writes the chunks itself)
//   responses: POST gateway/r/<token>/v1/responses (translated both ways)
// with 1 and with N agents calling at once, and prints p50/p99 of each and the difference from
// direct at the same concurrency (what the gateway adds; target under 1 ms at p50 with 1 agent).
// Everything shares the machine's cores, so with N agents the figures include queueing.
//
//   build/bench_gateway [--calls N] [--agents N]
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tfgrpo/gateway.h"
#include "tfgrpo/library.h"
#include "tfgrpo/llm.h"

namespace {

using Clock = std::chrono::steady_clock;

const char kReply[] =
    R"({"id":"chatcmpl-bench","object":"chat.completion","created":0,"model":"bench",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"The answer is \\boxed{4}."},)"
    R"("finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":8,)"
    R"("total_tokens":128,"prompt_tokens_details":{"cached_tokens":96}}})";

// A distinct user message per call, so every call gets its own id (as an agent's turns do).
std::string ChatRequest(int agent, int call, bool stream) {
  std::string body =
      R"({"model":"bench","messages":[{"role":"system","content":"You are a careful solver."},)"
      R"({"role":"user","content":"Agent )" +
      std::to_string(agent) + " call " + std::to_string(call) +
      R"(: what is 2+2? Put the final answer in \\boxed{}."}],"temperature":0.3)";
  if (stream) body += R"(,"stream":true,"stream_options":{"include_usage":true})";
  return body + "}";
}

std::string ResponsesRequest(int agent, int call) {
  return R"({"model":"bench","instructions":"You are a careful solver.","input":"Agent )" + std::to_string(agent) +
         " call " + std::to_string(call) + R"(: what is 2+2?"})";
}

enum class Mode { kDirect, kChat, kStreamed, kResponses };
const char* Name(Mode m) {
  switch (m) {
    case Mode::kDirect: return "direct";
    case Mode::kChat: return "chat";
    case Mode::kStreamed: return "streamed";
    case Mode::kResponses: return "responses";
  }
  return "?";
}

struct Figures {
  double p50_ms = 0;
  double p99_ms = 0;
  int64_t errors = 0;
};

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1));
  return v[i];
}

Figures Run(Mode mode, int agents, int calls, int upstream_port, tfgrpo::AgentGateway& gateway) {
  std::vector<std::vector<double>> latencies(agents);
  std::atomic<int64_t> errors{0};
  std::vector<std::unique_ptr<tfgrpo::GatewayLease>> leases;
  static std::atomic<int> rollout{0};
  for (int a = 0; a < agents; ++a) {
    tfgrpo::RolloutTicket ticket;
    ticket.rollout_id = "bench/t" + std::to_string(rollout++) + "/r0";
    auto lease = gateway.Open(ticket);
    if (!lease.ok()) {
      std::fprintf(stderr, "open: %s\n", lease.status().ToString().c_str());
      std::exit(1);
    }
    leases.push_back(std::move(lease).value());
  }
  std::vector<std::thread> threads;
  for (int a = 0; a < agents; ++a) {
    threads.emplace_back([&, a] {
      const bool direct = mode == Mode::kDirect;
      httplib::Client client(direct ? "http://127.0.0.1:" + std::to_string(upstream_port) : gateway.url());
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);  // else each POST waits ~40 ms for a delayed ACK
      client.set_read_timeout(30, 0);
      const std::string base = direct ? "/v1" : "/r/" + leases[a]->token() + "/v1";
      latencies[a].reserve(calls);
      for (int i = 0; i < calls + 5; ++i) {  // the first 5 warm the connection up
        std::string path = base + (mode == Mode::kResponses ? "/responses" : "/chat/completions");
        std::string body = mode == Mode::kResponses ? ResponsesRequest(a, i) : ChatRequest(a, i, mode == Mode::kStreamed);
        auto start = Clock::now();
        auto r = client.Post(path, body, "application/json");
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!r || r->status != 200) {
          ++errors;
          continue;
        }
        if (i >= 5) latencies[a].push_back(ms);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  Figures f;
  f.p50_ms = Percentile(all, 0.50);
  f.p99_ms = Percentile(all, 0.99);
  f.errors = errors;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 400;
  int many = 32;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--calls") == 0) calls = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--agents") == 0) many = std::atoi(argv[++i]);
  }
  spdlog::set_level(spdlog::level::warn);

  httplib::Server upstream;
  upstream.set_tcp_nodelay(true);
  upstream.set_keep_alive_max_count(1000000);  // httplib closes after 5 requests by default
  upstream.new_task_queue = [many] { return new httplib::ThreadPool(static_cast<size_t>(many) + 8); };
  upstream.Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kReply, "application/json");
  });
  const int upstream_port = upstream.bind_to_any_port("127.0.0.1");
  std::thread upstream_thread([&] { upstream.listen_after_bind(); });
  while (!upstream.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  tfgrpo::HttpClientOptions http;
  http.base_url = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  http.model = "bench";
  http.concurrency = many + 8;
  auto client = tfgrpo::MakeHttpChatClient(http);
  tfgrpo::GatewayOptions options;
  options.model_name = "bench";
  options.max_turns = calls + 10;
  auto gateway = tfgrpo::StartGateway(options, *client);
  if (!gateway.ok()) {
    std::fprintf(stderr, "%s\n", gateway.status().ToString().c_str());
    return 1;
  }

  std::printf("gateway overhead: %d calls per agent after 5 warm-up calls; local upstream answers at once\n", calls);
  std::printf("%-8s %-10s %10s %10s %14s %14s %7s\n", "agents", "route", "p50 ms", "p99 ms", "added p50 ms",
              "added p99 ms", "errors");
  for (int agents : {1, many}) {
    const int per_agent = agents == 1 ? calls : std::max(20, calls / 4);
    Figures direct = Run(Mode::kDirect, agents, per_agent, upstream_port, **gateway);
    for (Mode mode : {Mode::kDirect, Mode::kChat, Mode::kStreamed, Mode::kResponses}) {
      Figures f = mode == Mode::kDirect ? direct : Run(mode, agents, per_agent, upstream_port, **gateway);
      std::printf("%-8d %-10s %10.3f %10.3f %14.3f %14.3f %7lld\n", agents, Name(mode), f.p50_ms, f.p99_ms,
                  f.p50_ms - direct.p50_ms, f.p99_ms - direct.p99_ms, static_cast<long long>(f.errors));
    }
  }
  gateway->reset();
  upstream.stop();
  upstream_thread.join();
  return 0;
}
