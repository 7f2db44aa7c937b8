// The sampler: one task's rollout scored by the reward, k samples of a set of tasks on a pool, and
// the run's fatal-error rule; shared by training (grpo) and evaluation (eval) so both treat
// failures the same way.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tfgrpo/agent.h"
#include "tfgrpo/config.h"
#include "tfgrpo/data.h"
#include "tfgrpo/external_agent.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/status.h"
#include "tfgrpo/thread_pool.h"

namespace tfgrpo {

// What stops a whole run, training or eval: a rejected key (401/403), a run store or cache that
// cannot be written (I/O), a bug (internal), the budget reached. Anything else fails only the sample or stage.
bool IsFatalForRun(const Status& status);
// A failure that trying again later could fix: network, timeout, 5xx, 429 (retries exhausted).
bool IsRetryableFailure(const Status& status);
// Why every sample or rollout of a step or eval failed, worded so the user knows what to change:
// a failure a re-run could fix as its ToString() ("unavailable: cannot reach ..."), any other as
// "permanent: <what> on every call; check model.name / the server's options" (a reward failure:
// "permanent: reward: <what> on every sample; check task.reward"). Retrying such a run as it is
// would fail the same way, so it is an error, never a step or report scored 0.
std::string EveryFailureReason(const Status& failure, bool in_reward);

struct ExternalSampling;  // external_sampling.h
class ExternalAgents;

// One sample of a task: a rollout, then its reply scored. Shared by training and eval so both
// treat failures the same way.
struct ScoredSample {
  bool ok = false;                        // rolled out and scored
  // Set when the rollout itself succeeded, and whenever an external agent ran (its calls cost
  // tokens even when it failed).
  std::optional<RolloutOutcome> rollout;
  RewardResult reward;                    // when ok
  Status error;                           // when !ok: why (the rollout's or the reward's status)
  bool reward_failed = false;             // the rollout succeeded, scoring it did not
  std::optional<ExternalRun> external;    // task.mode external: the agent's run (outcome moved to rollout)
};
// `leaf` names the sample within the task ("r2" in training, "k4" in eval): the rollout's call id
// is CallId(scope, task.id, leaf), the judge's CallId(scope, task.id, leaf + "/judge"). `role` is
// the rollout calls' role (rollout; validation for practice.validation's samples). `external`
// (task.mode external): the sample runs the user's agent instead (SampleExternal).
ScoredSample SampleAndScore(ChatClient& client, RewardFn& reward, const Task& task, const TaskConfig& task_config,
                            const ToolRegistry* tools, const std::string& system_prompt, double temperature,
                            std::string_view scope, std::string_view leaf, Role role = Role::kRollout,
                            TranscriptLimits transcript = {}, const ExternalSampling* external = nullptr);

// What every sample of a set of tasks runs with.
struct SamplerSetup {
  ChatClient& client;
  RewardFn& reward;
  const TaskConfig& task_config;
  const ToolRegistry* tools = nullptr;
  std::string system_prompt;  // instructions + the library under test
  double temperature = 0.3;
  Role role = Role::kRollout;
  std::string scope;          // "eval", "s3/val"; sample j of a task is leaf "k<j>"
  // retrieval.top_k: one system prompt per task (its retrieved experiences); empty: every task
  // uses system_prompt.
  std::vector<std::string> task_prompts;
  const ExternalSampling* external = nullptr;  // task.mode external: the agent and library
};

// k samples of each task, run on `pool`, all with one fatal rule: after a failure that
// IsFatalForRun, no further sample starts (those not started stay !ok with a kCancelled error).
struct SampleGrid {
  std::vector<std::vector<ScoredSample>> samples;  // [task][j]
  std::optional<Status> fatal;                      // the first fatal failure
  std::optional<Status> retryable;                  // the first failure a re-run could fix
  std::optional<Status> permanent;                  // the first other failure (not fatal, not cancelled)
  bool permanent_in_reward = false;                 // ... and it was the reward that failed
  int64_t failed = 0;                               // samples not ok (fatal and cancelled included)
};
// `on_sample` (optional) is called from the worker after each sample, with its task and index.
SampleGrid SampleTasks(ThreadPool& pool, const SamplerSetup& setup, const std::vector<Task>& tasks, int k,
                       const std::function<void(size_t task, int j, const ScoredSample&)>& on_sample = {});

}  // namespace tfgrpo
