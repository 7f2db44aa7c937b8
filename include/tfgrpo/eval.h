// Evaluation: k samples per held-out task with (or without) a library, scored by the reward;
// Mean@k is the mean reward over all samples and Pass@k the unbiased estimator over tasks.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/agent.h"
#include "tfgrpo/budget.h"
#include "tfgrpo/config.h"
#include "tfgrpo/data.h"
#include "tfgrpo/library.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/progress.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/sampler.h"
#include "tfgrpo/thread_pool.h"

namespace tfgrpo {

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
  std::map<std::string, Usage> usage_by_role;  // "rollout", "judge"
  SpendPricing pricing;  // each role's model and prices (PricingOf the config)
  double wall_s = 0;
  int library_size = 0;
  std::vector<TaskEval> per_task;
  // retrieval.top_k > 0: experiences per prompt, and queries ranked by BM25 after the embeddings
  // endpoint failed ("retrieval" in ToJson only then).
  int retrieval_top_k = 0;
  int64_t retrieval_fallbacks = 0;
  // task.mode external: agent runs, calls per run, failures by reason, sent vs replayed calls
  // ("agent" in ToJson only then).
  std::optional<ExternalCounts> agent;
  // US dollars the samples cost, each role at its section's prices; nullopt when not priced.
  std::optional<double> usd() const;
  // {"k","tasks","mean_at_k","pass_at_k","prompt_tokens","completion_tokens","cached_tokens",
  //  "samples","errors","wall_s","library_size","spend":{...},"spend_by_model":{...},["usd",]"per_task":[...],
  //  ["agent":{"rollouts","calls","calls_per_rollout","calls_sent","calls_replayed","self_rewarded","failures"}]}
  nlohmann::json ToJson() const;
};

class EmbeddingCache;
class RunStore;
struct EvalOptions {
  int k = 32;
  double temperature = 0.3;
  std::optional<std::filesystem::path> prompts_dir;
  Progress* progress = nullptr;
  // retrieval.method embeddings: where vectors are kept between evals (eval --cache's store);
  // null: computed for this eval only.
  EmbeddingCache* embedding_cache = nullptr;
  // eval --cache's run store: the agent gateway of task.mode external looks resumed and retried
  // agents' calls up in it (any order, counted as replayed); null: no store.
  RunStore* call_store = nullptr;
  // task.mode external: the gateway and runner to use (agent try, tests); null: Evaluate starts
  // its own for the eval and stops it at the end.
  ExternalAgents* external_agents = nullptr;
};

// Fatal errors (401/403) stop with a non-OK status; any other failed sample scores 0 and counts
// as an error.
Result<EvalReport> Evaluate(const Config& config, const std::vector<Task>& tasks,
                            const Library& library, const EvalOptions& options, ChatClient& client);

}  // namespace tfgrpo
