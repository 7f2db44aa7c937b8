#include "grpo/step_pipeline.h"

#include <spdlog/spdlog.h>

#include "tfgrpo/agent.h"
#include "tfgrpo/learner.h"
#include "tfgrpo/sampler.h"

namespace tfgrpo::grpo_internal {

struct StepPipeline::Group {
  struct Rollout {
    bool ok = false;
    std::string reply;
    double reward = 0;
    std::string critique;  // the reward's reasoning, shown to the summary stage with ground truth
    std::string summary;
    bool summary_ok = false;
    std::vector<uint64_t> applied;  // experiences the summary says the attempt applied (uids)
  };
  const Task* task = nullptr;
  std::vector<Rollout> rollouts;
  std::atomic<int> pending{0};
  std::vector<Operation> operations;  // proposed by this group's update call
  // retrieval: the rollouts' system prompt and the library positions it shows (all of them
  // with top_k 0); credit goes only to those.
  std::string system_prompt;
  std::vector<size_t> seen;
};

std::string StepPipeline::LibraryForPrompt() const {
  return library_->empty() ? "(empty)" : library_->RenderLines();
}

std::vector<Operation> StepPipeline::Run(int step, const std::vector<const Task*>& batch, const Library& library,
                                         StepState& st) {
  const Config& config = ctx_.config();
  Progress& progress = ctx_.progress();
  const int G = config.practice.group_size;
  library_ = &library;
  st_ = &st;
  std::vector<Group> groups(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    groups[i].task = batch[i];
    groups[i].rollouts.resize(G);
    groups[i].pending = G;
  }
  groups_remaining_ = static_cast<int>(groups.size());

  // Byte-identical for every rollout of the step, so provider prefix caches hit; with
  // retrieval.top_k, the instructions stay that prefix and each group's experiences follow.
  {
    std::vector<std::string> queries;
    for (const Task* t : batch) queries.push_back(t->problem);
    RolloutPrompts prompts = PromptsForTasks(retriever_, RolloutInstructions(config.task, &tools_), library, queries);
    for (size_t i = 0; i < groups.size(); ++i) {
      groups[i].system_prompt = std::move(prompts.system_prompts[i]);
      groups[i].seen = std::move(prompts.seen[i]);
    }
  }
  progress.Begin("rollouts", static_cast<int64_t>(batch.size()) * G);
  progress.Begin("summaries", 0);
  progress.Begin("advantages", 0);
  progress.Begin("updates", 0);
  for (auto& g : groups)
    for (int i = 0; i < G; ++i) pool_.Submit([this, step, &g, i] { RolloutJob(step, g, i); });
  ctx_.WaitUntil([this] { return groups_remaining_.load() == 0; });
  pool_.Wait();  // nothing may still reference `groups` once we return
  for (auto stage : {"rollouts", "summaries", "advantages", "updates"}) progress.End(stage);
  std::vector<Operation> proposed;
  for (Group& g : groups)
    for (Operation& op : g.operations) proposed.push_back(std::move(op));
  library_ = nullptr;
  st_ = nullptr;
  return proposed;
}

void StepPipeline::FinishGroup() {
  if (--groups_remaining_ == 0) ctx_.Notify();
}

void StepPipeline::RolloutJob(int step, Group& g, int sample) {
  Group::Rollout& ro = g.rollouts[sample];
  StepState& st = *st_;
  if (!ctx_.aborted()) {
    const PracticeConfig& practice = ctx_.config().practice;
    RolloutRecord rec;
    rec.step = step;
    rec.task_id = g.task->id;
    rec.sample = sample;
    rec.library_version = step;
    rec.experiences_seen = SeenIdsJson(g.seen);
    st.tally.Ran("rollout");
    const ExternalSampling external{external_, library_, g.seen};
    ScoredSample scored = SampleAndScore(ctx_.client(), reward_, *g.task, ctx_.config().task, &tools_, g.system_prompt,
                                         practice.rollout_temperature, StepScope(step), "r" + std::to_string(sample),
                                         Role::kRollout,
                                         TranscriptLimits{static_cast<size_t>(practice.tool_output_chars),
                                                          static_cast<size_t>(practice.trajectory_chars)},
                                         external_ ? &external : nullptr);
    if (scored.external) {
      rec.exit_code = scored.external->exit_code;
      rec.agent_stderr_tail = scored.external->stderr_tail;
    }
    if (scored.rollout) {
      const RolloutOutcome& r = *scored.rollout;
      rec.prompt_tokens = r.usage.prompt_tokens;
      rec.completion_tokens = r.usage.completion_tokens;
      rec.latency_ms = r.latency_ms;
      rec.messages_json = r.messages.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    if (scored.ok) {
      ro.ok = true;
      ro.reply = std::move(scored.rollout->trajectory);
      ro.reward = scored.reward.score;
      rec.reward = scored.reward.score;
      rec.answer = scored.reward.extracted;
      rec.reasoning = scored.reward.reasoning;
      ro.critique = std::move(scored.reward.reasoning);
    } else {
      rec.error = (scored.reward_failed ? "reward: " : "") + scored.error.ToString();
      if (IsFatalForRun(scored.error)) ctx_.SetFatal(scored.error);
      st.tally.Failed("rollout", scored.error, scored.reward_failed);
    }
    if (!ro.ok) {
      ++st.rollouts_failed;
      if (!ctx_.aborted())
        spdlog::warn("step {} task {} sample {}: rollout failed: {}", step + 1, g.task->id, sample, rec.error);
    } else {
      st.AddReward(ro.reward);
    }
    if (!ctx_.aborted()) {
      Status s = ctx_.store().RecordRollout(rec);
      if (!s.ok()) ctx_.SetFatal(s);
    }
    ctx_.progress().Advance("rollouts", rec.prompt_tokens + rec.completion_tokens);
  }
  if (--g.pending == 0) OnRolloutsDone(step, g);
}

void StepPipeline::OnRolloutsDone(int step, Group& g) {
  if (ctx_.aborted()) return FinishGroup();
  std::vector<double> rewards;
  for (const auto& ro : g.rollouts)
    if (ro.ok) rewards.push_back(ro.reward);
  if (!IsInformative(rewards, ctx_.config().practice.given_ground_truth)) return FinishGroup();
  ++st_->informative;
  g.pending = static_cast<int>(rewards.size());
  ctx_.progress().AddTotal("summaries", static_cast<int64_t>(rewards.size()));
  ctx_.progress().AddTotal("advantages", 1);
  ctx_.progress().AddTotal("updates", 1);
  for (int i = 0; i < static_cast<int>(g.rollouts.size()); ++i)
    if (g.rollouts[i].ok) pool_.SubmitFirst([this, step, &g, i] { SummaryJob(step, g, i); });
}

void StepPipeline::SummaryJob(int step, Group& g, int sample) {
  Group::Rollout& ro = g.rollouts[sample];
  if (!ctx_.aborted()) {
    const PracticeConfig& practice = ctx_.config().practice;
    SummaryStage::Input in{g.task->problem, LibraryForPrompt(), ro.reply, practice.given_ground_truth,
                           g.task->answer,  ro.reward,          ro.critique, practice.agent_objective};
    auto r = ctx_.AskLearner(*st_, SummaryStage::kRole, SummaryStage::Vars(in), kLearnerTemperature,
                             CallId(StepScope(step), g.task->id, "summary" + std::to_string(sample)), step,
                             g.task->id, "summaries");
    if (r.ok()) {
      ro.summary = r->content;
      ro.summary_ok = true;
      ro.applied =
          UidsAt(*library_, CreditableExperiences(SummaryStage::Parse(r->content, library_->size()), g.seen));
    }
  }
  if (--g.pending == 0) OnSummariesDone(step, g);
}

void StepPipeline::OnSummariesDone(int step, Group& g) {
  if (ctx_.aborted()) return FinishGroup();
  const PracticeConfig& practice = ctx_.config().practice;
  StepState& st = *st_;
  Progress& progress = ctx_.progress();
  const bool gt = practice.given_ground_truth;
  AdvantageStage::Input adv{g.task->problem,          LibraryForPrompt(),       gt, g.task->answer, {},
                            practice.experiences_per_group, practice.agent_objective, practice.learning_objective};
  for (const auto& ro : g.rollouts)
    if (ro.summary_ok) adv.summaries.push_back({ro.reward, ro.summary});
  if (gt) {
    // Credit from the summaries: attempts above the group's mean reward credit what they applied
    // as helpful, below it as harmful. Collected during the step, applied at its end.
    std::vector<Attempt> attempts;
    for (const auto& ro : g.rollouts) attempts.push_back({ro.ok, ro.reward, ro.summary_ok, ro.applied});
    st.AddCredit(GroupCredit(attempts));
  }
  // A lost summary costs one attempt, not the group, as long as a comparison is still possible.
  if (adv.summaries.size() < 2) {     // the failed summaries were recorded as they failed
    progress.Advance("advantages");  // skipped stages are done too, or progress stops short
    progress.Advance("updates");
    return FinishGroup();
  }
  const std::string scope = StepScope(step);
  auto adv_reply = ctx_.AskLearner(st, AdvantageStage::kRole, AdvantageStage::Vars(adv), kLearnerTemperature,
                                   CallId(scope, g.task->id, "advantage"), step, g.task->id, "advantages");
  if (!adv_reply.ok()) {
    progress.Advance("updates");
    return FinishGroup();
  }
  auto experiences = AdvantageStage::Parse(adv_reply->content, practice.experiences_per_group);
  if (!experiences.ok()) {
    ctx_.RecordUnparseableReply(st, step, g.task->id, "advantage", *adv_reply, experiences.status());
    progress.Advance("updates");
    return FinishGroup();
  }
  GroupUpdateStage::Input upd{LibraryForPrompt(), std::move(experiences).value(), practice.agent_objective,
                              practice.learning_objective};
  auto upd_reply = ctx_.AskLearner(st, GroupUpdateStage::kRole, GroupUpdateStage::Vars(upd), kUpdateTemperature,
                                   CallId(scope, g.task->id, "group_update"), step, g.task->id, "updates");
  if (!upd_reply.ok()) return FinishGroup();
  auto ops = GroupUpdateStage::Parse(upd_reply->content, g.task->id);
  if (!ops.ok()) {
    ctx_.RecordUnparseableReply(st, step, g.task->id, "group_update", *upd_reply, ops.status());
    return FinishGroup();
  }
  g.operations = std::move(ops).value();
  FinishGroup();
}

}  // namespace tfgrpo::grpo_internal
