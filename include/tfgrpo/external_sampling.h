// task.mode external in the sampler that train, validation and eval share: the gateway and agent
// runner of one train or eval (started when it starts, stopped when it ends), the branch of
// SampleAndScore that runs the user's agent instead of RunRollout, and what those runs count.
//
// Contract:
//  - A sample runs the agent once (ExternalAgentRunner::Run) with the rollout's call id, role and
//    temperature and the library under test (null: a baseline, nothing injected). When the agent
//    gave its own reward in [0, 1], that reward (and its reasoning) is the sample's score and the
//    configured reward is not called; otherwise the configured reward scores the answer.
//  - A failed agent fails that sample (ScoredSample::error, its reason readable with
//    AgentFailureReason); a fatal status met by its calls (budget, key) is the sample's error too
//    and stops the run by the sampler's one fatal rule (IsFatalForRun). ScoredSample::rollout is
//    set whenever the agent ran, failed or not (its calls cost tokens), and ScoredSample::external
//    keeps its exit code, stderr tail and call counts.
//  - Counts (ExternalCounts) are kept per ExternalAgents across all its samples; callers take
//    differences for a step.
//
// Threading: samples may run on many threads at once (the runner caps agents at
// agent.concurrency). Lifetime: ExternalAgents must outlive every sample that uses it; the
// upstream client must outlive it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/sampler.h"
#include "tfgrpo/external_agent.h"
#include "tfgrpo/gateway.h"

namespace tfgrpo {

class RunStore;

// The gateway and the runner of one train or eval.
class ExternalAgents {
 public:
  // Starts the gateway (agent.gateway.listen; upstream = `upstream`, the run's client stack;
  // `store`: the run store, for the call ids of resumed rollouts, null for none) and the runner of
  // config.agent. Errors: the gateway cannot listen (the message names the address).
  static Result<std::unique_ptr<ExternalAgents>> Start(const Config& config, ChatClient& upstream, RunStore* store);
  // With a gateway of the caller's (tests, a fake) and an optional process launcher.
  ExternalAgents(const Config& config, std::unique_ptr<AgentGateway> gateway, Launcher* launcher = nullptr);

  AgentGateway& gateway() { return *gateway_; }
  ExternalAgentRunner& runner() { return *runner_; }
  void Count(const ExternalRun& run);
  ExternalCounts counts() const;

 private:
  std::unique_ptr<AgentGateway> gateway_;
  std::unique_ptr<ExternalAgentRunner> runner_;
  mutable std::mutex mu_;
  ExternalCounts counts_;
};

// What the samples of a set of tasks run their agent with (SamplerSetup::external,
// SampleAndScore's `external`).
struct ExternalSampling {
  ExternalAgents* agents = nullptr;
  const Library* library = nullptr;  // what the gateway injects; null: baseline
  std::vector<size_t> positions;     // retrieval.top_k: the experiences this task sees; empty: all
  // SamplerSetup: per task (retrieval.top_k), in the order of the tasks sampled; empty: `positions`.
  std::vector<std::vector<size_t>> task_positions;

  ExternalSampling ForTask(size_t task) const;
};

// SampleAndScore's branch for task.mode external (see the contract above).
ScoredSample SampleExternal(const ExternalSampling& external, RewardFn& reward, const Task& task, double temperature,
                            std::string_view scope, std::string_view leaf, Role role, TranscriptLimits transcript);

}  // namespace tfgrpo
