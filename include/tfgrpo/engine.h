// Training-Free GRPO: the practice loop. For each step it samples a group of rollouts per task
// with the current library in the system prompt, scores them, and for informative groups asks the
// LLM for summaries, a semantic advantage and library operations; one consolidation call per step
// merges them into the next library version. Scheduled as a dataflow, recorded in the run store,
// resumable after any interruption.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "tfgrpo/budget.h"
#include "tfgrpo/config.h"
#include "tfgrpo/external_sampling.h"
#include "tfgrpo/library.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/progress.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

struct TrainOptions {
  std::filesystem::path run_dir;
  std::optional<std::filesystem::path> prompts_dir;
  Progress* progress = nullptr;  // NullProgress() when null
  // Stop after this many steps have completed in this invocation (tests of resume); -1 = all.
  int max_steps = -1;
  // A library (experiences.json or library.json) to start a new run from; it becomes steps/0. A
  // resumed run must be given the same library or none.
  std::optional<std::filesystem::path> init_experiences;
  // Called on the training thread after each step is recorded in the run store (steps done so
  // far, steps in the run); the CLI rewrites RUN_DIR/report.html there. Optional.
  std::function<void(int steps_done, int steps_total)> after_step;
};

struct TrainSummary {
  int steps_total = 0;
  int steps_run = 0;           // executed in this invocation (not skipped as already done)
  int64_t llm_calls = 0;       // calls answered in this invocation (sent or replayed)
  int64_t llm_calls_replayed = 0;  // answered from the run store, not sent
  int64_t llm_calls_failed = 0;
  int64_t llm_retries = 0;     // extra HTTP attempts after transient errors
  int64_t rollouts = 0;
  int64_t rollouts_failed = 0;
  int64_t stages_failed = 0;
  int64_t informative_groups = 0;
  int64_t leaks_dropped = 0;   // ADD/UPDATE refused for holding a task's answer or problem text
  int64_t evicted = 0;         // experiences removed to respect practice.max_experiences
  std::map<std::string, int64_t> call_failure_reasons;   // "HTTP 400" -> count
  std::map<std::string, int64_t> stage_failure_reasons;  // "advantage: invalid argument" -> count
  std::map<std::string, int64_t> truncated_replies;      // role -> replies cut at max_tokens
  Usage usage;
  double wall_s = 0;
  Library library;
  // practice.validation: candidates accepted and rejected (over the whole run dir), and the
  // score of the library in force.
  bool validation_enabled = false;
  int64_t validations_accepted = 0;
  int64_t validations_rejected = 0;
  std::optional<double> validation_score;
  // What the run dir's calls have used, per role, over every invocation, and the model and
  // prices behind each role (budget., learner. and judge.price_per_mtok).
  std::map<std::string, Usage> spend;
  SpendPricing pricing;
  // retrieval: experiences per rollout prompt (0: the whole library) and queries ranked by BM25
  // because the embeddings endpoint failed.
  int retrieval_top_k = 0;
  int64_t retrieval_fallbacks = 0;
  // task.mode external: agent runs, calls per run, failures by reason, sent vs replayed calls
  // (this invocation).
  std::optional<ExternalCounts> external;
};

// `client` talks to the model (HTTP in production, anything in tests). Fatal errors (401/403,
// run store failures, bad data) stop the run with a non-OK status; everything already recorded
// stays recorded. Reaching the budget stops it with kBudgetExhausted ("budget reached: $X of $Y
// (raise budget.max_usd and re-run to continue)"); a re-run with a larger budget continues.
Result<TrainSummary> Train(const Config& config, const TrainOptions& options, ChatClient& client);

// One line: "12 steps, 4800 calls (3 failed: 2 x HTTP 400 ...), ..."
std::string FormatTrainSummary(const TrainSummary& s);

}  // namespace tfgrpo
