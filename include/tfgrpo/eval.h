// Evaluation: k samples per held-out task with (or without) a library, scored by the reward;
// Mean@k is the mean reward over all samples and Pass@k the unbiased estimator over tasks.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/agent.h"
#include "tfgrpo/config.h"
#include "tfgrpo/data.h"
#include "tfgrpo/library.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/progress.h"
#include "tfgrpo/reward.h"

namespace tfgrpo {

// What stops a whole run, training or eval: a rejected key (401/403), a run store or cache that
// cannot be written (I/O), a bug (internal). Anything else fails only the sample or stage.
bool IsFatalForRun(const Status& status);
// A failure that trying again later could fix: network, timeout, 5xx, 429 (retries exhausted).
bool IsRetryableFailure(const Status& status);

// One sample of a task: a rollout, then its reply scored. Shared by training and eval so both
// treat failures the same way.
struct ScoredSample {
  bool ok = false;                        // rolled out and scored
  std::optional<RolloutOutcome> rollout;  // set when the rollout itself succeeded
  RewardResult reward;                    // when ok
  Status error;                           // when !ok: why (the rollout's or the reward's status)
  bool reward_failed = false;             // the rollout succeeded, scoring it did not
};
// `leaf` names the sample within the task ("r2" in training, "k4" in eval): the rollout's call id
// is CallId(scope, task.id, leaf), the judge's CallId(scope, task.id, leaf + "/judge").
ScoredSample SampleAndScore(ChatClient& client, RewardFn& reward, const Task& task, const TaskConfig& task_config,
                            const ToolRegistry* tools, const std::string& system_prompt, double temperature,
                            std::string_view scope, std::string_view leaf);

// Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k).
double PassAtK(int n, int c, int k);

struct TaskEval {
  std::string task_id;
  int samples = 0;
  int successes = 0;  // reward >= 0.5
  int errors = 0;     // samples whose call failed (scored 0)
  double mean_reward = 0;
  // The reward's reasoning for this task's lowest-scoring sample that has one ("" when the reward
  // gives none): why the task is being missed, in the grader's words.
  std::string critique;
};

struct EvalReport {
  int k = 0;
  int tasks = 0;
  double mean_at_k = 0;
  double pass_at_k = 0;
  int64_t samples = 0;
  int64_t errors = 0;
  std::map<std::string, int64_t> truncated;  // role -> replies cut at max_tokens
  Usage usage;
  double wall_s = 0;
  int library_size = 0;
  std::vector<TaskEval> per_task;
  // {"k","tasks","mean_at_k","pass_at_k","prompt_tokens","completion_tokens","cached_tokens",
  //  "samples","errors","wall_s","library_size","per_task":[...]}
  nlohmann::json ToJson() const;
};

struct EvalOptions {
  int k = 32;
  double temperature = 0.3;
  std::optional<std::filesystem::path> prompts_dir;
  Progress* progress = nullptr;
};

// Fatal errors (401/403) stop with a non-OK status; any other failed sample scores 0 and counts
// as an error.
Result<EvalReport> Evaluate(const Config& config, const std::vector<Task>& tasks,
                            const Library& library, const EvalOptions& options, ChatClient& client);

}  // namespace tfgrpo
