// practice.validation: the held-out validation tasks, the score of the library in force, and the
// gate every step's candidate library must pass (its mean reward on those tasks no worse than the
// current one's minus practice.validation.tolerance). Private to the grpo module. Not
// thread-safe: the training thread calls it between steps; its samples run on the given pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grpo/run_dir.h"
#include "tfgrpo/config.h"
#include "tfgrpo/data.h"
#include "tfgrpo/external_sampling.h"
#include "tfgrpo/library.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/progress.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/status.h"
#include "tfgrpo/store.h"
#include "tfgrpo/thread_pool.h"
#include "tfgrpo/tool.h"

namespace tfgrpo::grpo_internal {

// The validation tasks: practice.validation.data's, or `train`'s held out (and removed from
// `train`); either way chosen with practice.seed and kept in file order. Nothing when validation
// is off. InvalidArgument naming the file or key when the data holds no task, or when holding
// out would leave no train task.
Status SplitValidationTasks(const Config& config, std::vector<Task>& train, std::vector<Task>& validation);

// practice.validation's verdict on one candidate library.
struct Verdict {
  double current = 0;
  double candidate = 0;
  bool accepted = false;
  int64_t samples = 0;
  int64_t failed = 0;
  std::string reason;
};

// Accepted when candidate >= current - tolerance; the reason in words
// ("candidate 0.5000 >= current 0.6000 - tolerance 0.1").
Verdict Decide(double current, double candidate, double tolerance);

class ValidationGate {
 public:
  // What the validation samples run with; every reference must outlive the gate.
  struct Context {
    const Config& config;
    ChatClient& client;
    RewardFn& reward;
    const ToolRegistry* tools;
    Retriever* retriever;  // null with retrieval.top_k 0
    ThreadPool& pool;
    Progress& progress;
    RunStore& store;
    const RunDir& run_dir;
    ExternalAgents* external = nullptr;  // task.mode external: the user's agent runs each sample
  };
  ValidationGate(Context context, const std::vector<Task>& tasks) : ctx_(context), tasks_(tasks) {}

  bool enabled() const { return ctx_.config.practice.validation.enabled; }
  // The score of the library in force after `done_steps` steps: the recorded one (a resumed run),
  // or `library` scored now and recorded as version `done_steps`. Counts the verdicts recorded
  // for those steps. Nothing to do when validation is off.
  Status LoadOrScoreCurrent(const Library& library, int done_steps);
  // Scores the candidate library made by `step` (0-based) against the library in force, records
  // the verdict (run store and steps/<step+1>/validation.json, with the candidate when rejected)
  // and counts it; the caller keeps the candidate only when accepted. A fatal failure, or every
  // sample failing, is an error (the step is not recorded as done).
  Result<Verdict> Judge(int step, const Library& candidate);

  std::optional<double> score() const { return score_; }  // of the library in force
  int64_t accepted() const { return accepted_; }
  int64_t rejected() const { return rejected_; }
  // library.json's "validation" provenance as of `steps_done` steps; null when validation is off.
  nlohmann::json Provenance(int steps_done) const;

 private:
  // Mean reward of `library` on the validation tasks; `version` names the calls (s<version>/val).
  // Failed samples are left out of the mean (they say nothing about the library).
  Result<double> Score(const Library& library, int version, int64_t* samples, int64_t* failed);

  Context ctx_;
  const std::vector<Task>& tasks_;
  std::optional<double> score_;
  int64_t accepted_ = 0, rejected_ = 0;
};

}  // namespace tfgrpo::grpo_internal
