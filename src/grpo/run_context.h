// What the stages of a training run share: the configuration, the client every call goes
// through, the run store, progress, the prompts, the run's fatal flag and the count of stage
// failures; and StepState, what one step counts as its stages run. Private to the grpo module.
// Thread-safe: the stages call it from pool workers. Every reference must outlive it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "grpo/group.h"
#include "grpo/run_state.h"
#include "tfgrpo/config.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/progress.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/status.h"
#include "tfgrpo/store.h"

namespace tfgrpo::grpo_internal {

// Learner calls (summaries, advantages) get a little diversity; library edits are made as
// deterministic as the provider allows.
inline constexpr double kLearnerTemperature = 0.3;
inline constexpr double kUpdateTemperature = 0.0;

// The stage failure reason of a learner reply that could not be parsed because it was cut short.
inline constexpr std::string_view kTruncatedReason = "truncated (raise model.max_tokens)";

// Everything one step counts and collects. A fresh one is made for every step, so nothing is
// reset by hand. Thread-safe.
struct StepState {
  std::atomic<int64_t> rollouts_failed{0}, stages_failed{0}, informative{0};
  StepTally tally;
  std::mutex mu;  // guards the fields below
  double reward_sum = 0;
  int64_t reward_count = 0;
  std::vector<Credit> credit;  // in arrival order

  void AddReward(double r);
  double MeanReward();
  void AddCredit(const std::vector<Credit>& votes);
};

class RunContext {
 public:
  RunContext(const Config& config, Progress& progress, RunStore& store, ChatClient& client, const PromptSet& prompts)
      : config_(config), progress_(progress), store_(store), client_(client), prompts_(prompts) {}

  const Config& config() const { return config_; }
  Progress& progress() { return progress_; }
  RunStore& store() { return store_; }
  ChatClient& client() { return client_; }

  // The first fatal status stops the run: no new work starts, and WaitUntil returns.
  void SetFatal(const Status& status);
  bool aborted() const { return fatal_flag_.load(); }
  Status fatal() const;
  // Blocks until `done()` holds or the run is aborted; Notify() wakes it to check again.
  void WaitUntil(const std::function<bool()>& done);
  void Notify();

  // One learner call: the template named after `role` (summary, advantage, group_update,
  // batch_update) rendered into a single user message. A template that cannot be rendered stops
  // the run; a failed call is recorded as a failure of that stage for `task_id` (a fatal one
  // stops the run). The progress stage `progress_stage` advances either way.
  Result<ChatResponse> AskLearner(StepState& st, Role role, const PromptVars& vars, double temperature,
                                  std::string call_id, int step, const std::string& task_id,
                                  const std::string& progress_stage);
  // A failed stage: counted for the step and the run, logged, and recorded in the run store.
  void RecordStageFailure(StepState& st, int step, const std::string& task_id, const std::string& stage,
                          const Status& status, std::string_view reason = {});
  // A learner reply that did not parse: recorded as a failure of `stage`, and named as truncated
  // when the reply was cut at max_tokens (the likely reason it did not parse).
  void RecordUnparseableReply(StepState& st, int step, const std::string& task_id, const std::string& stage,
                              const ChatResponse& reply, const Status& parse_error);
  // Records `failure` in the run store; a store that cannot be written stops the run.
  void RecordFailure(const FailureRecord& failure);
  // "advantage: invalid argument" -> count, over this invocation.
  std::map<std::string, int64_t> stage_reasons() const;

 private:
  const Config& config_;
  Progress& progress_;
  RunStore& store_;
  ChatClient& client_;
  const PromptSet& prompts_;

  std::atomic<bool> fatal_flag_{false};
  mutable std::mutex mu_;  // guards fatal_ and stage_reasons_; the wait's mutex
  std::condition_variable cv_;
  Status fatal_;
  std::map<std::string, int64_t> stage_reasons_;
};

}  // namespace tfgrpo::grpo_internal
