#include "grpo/run_context.h"

#include <spdlog/spdlog.h>

#include "tfgrpo/recording_client.h"
#include "tfgrpo/sampler.h"

namespace tfgrpo::grpo_internal {

void StepState::AddReward(double r) {
  std::lock_guard lock(mu);
  reward_sum += r;
  ++reward_count;
}

double StepState::MeanReward() {
  std::lock_guard lock(mu);
  return reward_count ? reward_sum / reward_count : 0;
}

void StepState::AddCredit(const std::vector<Credit>& votes) {
  std::lock_guard lock(mu);
  credit.insert(credit.end(), votes.begin(), votes.end());
}

void RunContext::SetFatal(const Status& status) {
  {
    std::lock_guard lock(mu_);
    if (!fatal_flag_.load()) {
      fatal_ = status;
      fatal_flag_ = true;
    }
  }
  cv_.notify_all();
}

Status RunContext::fatal() const {
  std::lock_guard lock(mu_);
  return fatal_;
}

void RunContext::WaitUntil(const std::function<bool()>& done) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return done() || aborted(); });
}

void RunContext::Notify() {
  // Taking the lock orders this wake-up after a waiter's check of its condition.
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

void RunContext::RecordFailure(const FailureRecord& failure) {
  Status s = store_.RecordFailure(failure);
  if (!s.ok()) SetFatal(s);
}

void RunContext::RecordStageFailure(StepState& st, int step, const std::string& task_id, const std::string& stage,
                                    const Status& status, std::string_view reason) {
  ++st.stages_failed;
  st.tally.Failed(stage, status);
  {
    std::lock_guard lock(mu_);
    ++stage_reasons_[stage + ": " + (reason.empty() ? ShortReason(status) : std::string(reason))];
  }
  // Steps are numbered from 1 in messages, as in the info lines; the store keeps them 0-based.
  spdlog::warn("step {} task {}: {} failed: {}", step + 1, task_id, stage, status.ToString());
  RecordFailure({step, task_id, stage, status.ToString()});
}

void RunContext::RecordUnparseableReply(StepState& st, int step, const std::string& task_id,
                                        const std::string& stage, const ChatResponse& reply,
                                        const Status& parse_error) {
  if (!IsTruncated(reply)) return RecordStageFailure(st, step, task_id, stage, parse_error);
  RecordStageFailure(st, step, task_id, stage,
                     Status::InvalidArgument("reply cut at the token limit (finish_reason \"length\"; raise "
                                             "model.max_tokens): " + parse_error.message()),
                     kTruncatedReason);
}

Result<ChatResponse> RunContext::AskLearner(StepState& st, Role role, const PromptVars& vars, double temperature,
                                            std::string call_id, int step, const std::string& task_id,
                                            const std::string& progress_stage) {
  const std::string stage(RoleName(role));
  auto prompt = prompts_.Render(stage, vars);
  if (!prompt.ok()) {
    SetFatal(prompt.status());
    return prompt.status();
  }
  ChatRequest req;
  req.role = role;
  req.messages = {{"user", std::move(prompt).value()}};
  req.temperature = temperature;
  req.call_id = std::move(call_id);
  st.tally.Ran(stage);
  auto r = client_.Complete(req);
  // A failed call is done with too: progress counts it, or the line would stop short ("9/10").
  progress_.Advance(progress_stage, r.ok() ? r->usage.prompt_tokens + r->usage.completion_tokens : 0);
  if (r.ok()) return r;
  const Status& failure = r.status();
  if (IsFatalForRun(failure)) {
    SetFatal(failure);
  } else if (failure.code() != Status::Code::kCancelled) {
    RecordStageFailure(st, step, task_id, stage, failure);
  }
  return r;
}

std::map<std::string, int64_t> RunContext::stage_reasons() const {
  std::lock_guard lock(mu_);
  return stage_reasons_;
}

}  // namespace tfgrpo::grpo_internal
