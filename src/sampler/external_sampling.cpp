// task.mode external in the sampler (external_sampling.h): the agent run as one sample, its own
// reward or the configured one, and the counts of all runs.
#include "tfgrpo/external_sampling.h"

namespace tfgrpo {

ExternalAgents::ExternalAgents(const Config& config, std::unique_ptr<AgentGateway> gateway, Launcher* launcher)
    : gateway_(std::move(gateway)), runner_(MakeExternalAgentRunner(config, *gateway_, launcher)) {}

void ExternalAgents::Count(const ExternalRun& run) {
  std::lock_guard lock(mu_);
  ++counts_.rollouts;
  counts_.calls += run.outcome.turns;
  counts_.calls_sent += run.calls_sent;
  counts_.calls_replayed += run.calls_replayed;
  if (run.status.ok() && run.self_reward) ++counts_.self_rewarded;
  if (!run.status.ok()) {
    const std::string reason = AgentFailureReason(run.status);
    ++counts_.failures[reason.empty() ? std::string(Status::CodeName(run.status.code())) : reason];
  }
}

ExternalCounts ExternalAgents::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

ExternalSampling ExternalSampling::ForTask(size_t task) const {
  ExternalSampling one;
  one.agents = agents;
  one.library = library;
  one.positions = task < task_positions.size() ? task_positions[task] : positions;
  return one;
}

ScoredSample SampleExternal(const ExternalSampling& external, RewardFn& reward, const Task& task, double temperature,
                            std::string_view scope, std::string_view leaf, Role role, TranscriptLimits transcript) {
  ScoredSample out;
  ExternalRolloutSpec spec;
  spec.rollout_id = CallId(scope, task.id, leaf);
  spec.role = role;
  spec.temperature = temperature;
  spec.library = external.library;
  spec.positions = external.positions;
  spec.transcript = transcript;
  ExternalRun run = external.agents->runner().Run(task, spec);
  external.agents->Count(run);
  out.rollout = std::move(run.outcome);
  run.outcome = RolloutOutcome{};
  if (!run.status.ok()) {
    out.error = run.status;
    out.external = std::move(run);
    return out;
  }
  if (run.self_reward) {
    out.reward = *run.self_reward;
    out.ok = true;
  } else {
    auto score = reward.Score(task, out.rollout->final_reply, CallId(scope, task.id, std::string(leaf) + "/judge"));
    if (score.ok()) {
      out.reward = std::move(score).value();
      out.ok = true;
    } else {
      out.error = score.status();
      out.reward_failed = true;
    }
  }
  out.external = std::move(run);
  return out;
}

}  // namespace tfgrpo
