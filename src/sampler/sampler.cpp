#include "tfgrpo/sampler.h"

#include "tfgrpo/external_agent.h"
#include "tfgrpo/external_sampling.h"

#include <algorithm>
#include <atomic>
#include <mutex>

namespace tfgrpo {

bool IsFatalForRun(const Status& status) {
  return status.code() == Status::Code::kUnauthorized || status.code() == Status::Code::kIoError ||
         status.code() == Status::Code::kInternal || status.code() == Status::Code::kBudgetExhausted;
}

bool IsRetryableFailure(const Status& status) {
  return status.code() == Status::Code::kUnavailable || status.code() == Status::Code::kTimeout;
}

std::string EveryFailureReason(const Status& failure, bool in_reward) {
  if (IsRetryableFailure(failure)) return failure.ToString();
  if (!AgentFailureReason(failure).empty())  // the user's agent, not the model: see `tfgrpo agent try`
    return "permanent: " + failure.message() + " on every rollout; check agent.command / agent.url (tfgrpo agent try)";
  if (in_reward) return "permanent: reward: " + failure.message() + " on every sample; check task.reward";
  return "permanent: " + failure.message() + " on every call; check model.name / the server's options";
}

ScoredSample SampleAndScore(ChatClient& client, RewardFn& reward, const Task& task, const TaskConfig& task_config,
                            const ToolRegistry* tools, const std::string& system_prompt, double temperature,
                            std::string_view scope, std::string_view leaf, Role role, TranscriptLimits transcript,
                            const ExternalSampling* external) {
  if (external) return SampleExternal(*external, reward, task, temperature, scope, leaf, role, transcript);
  ScoredSample out;
  RolloutSpec spec;
  spec.role = role;
  spec.system_prompt = system_prompt;
  spec.problem = task.problem;
  spec.temperature = temperature;
  spec.call_id = CallId(scope, task.id, leaf);
  spec.transcript = transcript;
  auto rollout = RunRollout(client, spec, task_config, tools);
  if (!rollout.ok()) {
    out.error = rollout.status();
    return out;
  }
  out.rollout = std::move(rollout).value();
  auto score = reward.Score(task, out.rollout->final_reply, CallId(scope, task.id, std::string(leaf) + "/judge"));
  if (!score.ok()) {
    out.error = score.status();
    out.reward_failed = true;
    return out;
  }
  out.reward = std::move(score).value();
  out.ok = true;
  return out;
}

SampleGrid SampleTasks(ThreadPool& pool, const SamplerSetup& setup, const std::vector<Task>& tasks, int k,
                       const std::function<void(size_t task, int j, const ScoredSample&)>& on_sample) {
  SampleGrid grid;
  grid.samples.assign(tasks.size(), std::vector<ScoredSample>(std::max(k, 0)));
  std::mutex mu;
  std::atomic<bool> aborted{false};
  for (size_t t = 0; t < tasks.size(); ++t) {
    for (int j = 0; j < k; ++j) {
      pool.Submit([&, t, j] {
        ScoredSample& out = grid.samples[t][j];
        if (aborted) {
          out.error = Status::Cancelled("not started: the run stopped");
        } else {
          std::optional<ExternalSampling> external;
          if (setup.external) external = setup.external->ForTask(t);
          out = SampleAndScore(setup.client, setup.reward, tasks[t], setup.task_config, setup.tools,
                               setup.task_prompts.empty() ? setup.system_prompt : setup.task_prompts[t],
                               setup.temperature, setup.scope, "k" + std::to_string(j),
                               setup.role, {}, external ? &*external : nullptr);
        }
        if (!out.ok) {
          std::lock_guard lock(mu);
          ++grid.failed;
          if (IsFatalForRun(out.error)) {
            if (!grid.fatal) grid.fatal = out.error;
            aborted = true;
          } else if (IsRetryableFailure(out.error)) {
            if (!grid.retryable) grid.retryable = out.error;
          } else if (!grid.permanent && out.error.code() != Status::Code::kCancelled) {
            grid.permanent = out.error;
            grid.permanent_in_reward = out.reward_failed;
          }
        }
        if (on_sample) on_sample(t, j, out);
      });
    }
  }
  pool.Wait();
  return grid;
}

}  // namespace tfgrpo
