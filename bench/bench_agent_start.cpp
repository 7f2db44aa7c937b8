// What starting one command agent costs (issue 18, "Benchmark"). The real runner
// (MakeExternalAgentRunner) and gateway run agents against an upstream that answers at once; for
// each agent the figures are
//   first call: the runner's Run() starting -> the agent's first call reaching the upstream
//               (lease, environment, spawn, the interpreter's start, the agent's imports, the
//               HTTP call through the gateway)
//   whole run:  Run() start -> Run() returned (the answer read, the process group stopped)
// next to the interpreter's own start-up spawned bare (`python3 -c pass`, `node -e 0`) through
// process.h, which no runner can go below. The difference is what the runner adds.
//
//   build/bench_agent_start [--runs N]
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tfgrpo/config.h"
#include "tfgrpo/external_agent.h"
#include "tfgrpo/gateway.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/process.h"
#include "tfgrpo/secrets.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Answers every call at once and remembers when the first one of a run arrived.
class InstantUpstream : public tfgrpo::ChatClient {
 public:
  tfgrpo::Result<tfgrpo::ChatResponse> Complete(const tfgrpo::ChatRequest&) override {
    {
      std::lock_guard lock(mu_);
      if (!first_) first_ = Clock::now();
    }
    tfgrpo::ChatResponse r;
    r.content = "The answer is \\boxed{4}.";
    r.finish_reason = "stop";
    r.message = {{"role", "assistant"}, {"content", r.content}};
    r.usage.prompt_tokens = 20;
    r.usage.completion_tokens = 8;
    return r;
  }
  void Reset() {
    std::lock_guard lock(mu_);
    first_.reset();
  }
  std::optional<Clock::time_point> first() const {
    std::lock_guard lock(mu_);
    return first_;
  }

 private:
  mutable std::mutex mu_;
  std::optional<Clock::time_point> first_;
};

struct Figures {
  std::vector<double> first_call, whole;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

void Print(const char* name, const Figures& f) {
  if (f.first_call.empty()) {
    std::printf("%-38s %10s %10s   %10.1f %10.1f\n", name, "-", "-", Percentile(f.whole, 0.5),
                Percentile(f.whole, 0.9));
  } else {
    std::printf("%-38s %10.1f %10.1f   %10.1f %10.1f\n", name, Percentile(f.first_call, 0.5),
                Percentile(f.first_call, 0.9), Percentile(f.whole, 0.5), Percentile(f.whole, 0.9));
  }
}

// The interpreter alone: spawned through process.h, waited for.
Figures Bare(const std::vector<std::string>& argv, int runs) {
  Figures f;
  for (int i = 0; i < runs; ++i) {
    tfgrpo::SpawnSpec spec;
    spec.Argv(argv).Env(tfgrpo::ChildEnvironment({})).StdoutTo(tfgrpo::Stdio::Null()).StderrTo(tfgrpo::Stdio::Null());
    const auto start = Clock::now();
    auto child = tfgrpo::Spawn(spec);
    if (!child.ok()) {
      std::fprintf(stderr, "%s: %s\n", argv[0].c_str(), child.status().ToString().c_str());
      return {};
    }
    (*child)->Wait();
    f.whole.push_back(Ms(Clock::now() - start));
  }
  return f;
}

// The agent through the runner and the gateway.
Figures ThroughRunner(tfgrpo::Config config, tfgrpo::AgentGateway& gateway, InstantUpstream& upstream, int runs,
                      bool expect_call) {
  Figures f;
  auto runner = tfgrpo::MakeExternalAgentRunner(config, gateway);
  tfgrpo::Task task;
  task.id = "t0";
  task.problem = "What is 2 + 2?";
  task.record = {{"id", "t0"}, {"problem", task.problem}};
  for (int i = 0; i < runs; ++i) {
    tfgrpo::ExternalRolloutSpec spec;
    spec.rollout_id = "s0/t0/r" + std::to_string(i);
    upstream.Reset();
    const auto start = Clock::now();
    tfgrpo::ExternalRun run = runner->Run(task, spec);
    const auto end = Clock::now();
    if (!run.status.ok()) {
      std::fprintf(stderr, "agent %s failed: %s\n", config.agent.command[0].c_str(), run.status.ToString().c_str());
      return {};
    }
    f.whole.push_back(Ms(end - start));
    if (expect_call) {
      auto first = upstream.first();
      if (!first) {
        std::fprintf(stderr, "the agent made no call\n");
        return {};
      }
      f.first_call.push_back(Ms(*first - start));
    }
  }
  return f;
}

std::string Which(const std::string& name) {
  for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin"}) {
    std::string p = std::string(dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 20;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--runs") == 0) runs = std::max(1, std::atoi(argv[i + 1]));
  spdlog::set_level(spdlog::level::warn);

  const fs::path dir = fs::temp_directory_path() / ("tfgrpo-bench-agent-start-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "agent.py") << R"PY(import json, os, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions",
    data=json.dumps({"model": "m", "messages": [{"role": "user", "content": os.environ["TFGRPO_TASK_ID"]}]}).encode(),
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]})
with opener.open(req, timeout=10) as r:
    print(json.load(r)["choices"][0]["message"]["content"])
)PY";
  std::ofstream(dir / "agent.mjs") << R"JS(const r = await fetch(process.env.OPENAI_BASE_URL + "/chat/completions", {
  method: "POST",
  headers: {"Content-Type": "application/json", Authorization: "Bearer " + process.env.OPENAI_API_KEY},
  body: JSON.stringify({model: "m", messages: [{role: "user", content: process.env.TFGRPO_TASK_ID}]}),
});
console.log((await r.json()).choices[0].message.content);
)JS";

  InstantUpstream upstream;
  tfgrpo::GatewayOptions options;
  options.model_name = "bench";
  auto gateway = tfgrpo::StartGateway(options, upstream);
  if (!gateway.ok()) {
    std::fprintf(stderr, "%s\n", gateway.status().ToString().c_str());
    return 1;
  }
  tfgrpo::Config config;
  config.source = dir / "tfgrpo.yaml";
  config.model.name = "bench";
  config.task.mode = tfgrpo::TaskMode::kExternal;
  config.agent.given = true;
  config.agent.timeout_s = 30;

  const std::string python = Which("python3");
  const std::string node = Which("node");
  std::printf("%-38s %21s   %21s\n", ("agent start-up, ms, " + std::to_string(runs) + " runs").c_str(), "first call p50/p90", "whole run p50/p90");
  config.agent.command = {"/bin/echo", "4"};
  Print("runner: /bin/echo 4 (no call)", ThroughRunner(config, **gateway, upstream, runs, false));
  if (!python.empty()) {
    Print("bare: python3 -c pass", Bare({python, "-c", "pass"}, runs));
    config.agent.command = {python, "-c", "print(4)"};
    Print("runner: python3 -c 'print(4)'", ThroughRunner(config, **gateway, upstream, runs, false));
    Print("bare: python3 importing urllib", Bare({python, "-c", "import json, urllib.request"}, runs));
    config.agent.command = {python, "agent.py"};
    Print("runner: python agent, one call", ThroughRunner(config, **gateway, upstream, runs, true));
  } else {
    std::printf("python3 not found: its rows skipped\n");
  }
  if (!node.empty()) {
    Print("bare: node -e 0", Bare({node, "-e", "0"}, runs));
    config.agent.command = {node, "agent.mjs"};
    Print("runner: node agent (fetch), one call", ThroughRunner(config, **gateway, upstream, runs, true));
  } else {
    std::printf("node not found: its rows skipped\n");
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
