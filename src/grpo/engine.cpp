#include "tfgrpo/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <charconv>
#include <set>
#include <sstream>

#include "grpo/group.h"
#include "grpo/run_dir.h"
#include "tfgrpo/agent.h"
#include "tfgrpo/budget.h"
#include "tfgrpo/recording_client.h"
#include "tfgrpo/data.h"
#include "tfgrpo/leak_guard.h"
#include "tfgrpo/external_sampling.h"
#include "tfgrpo/json.h"
#include "tfgrpo/learner.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/sampler.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/store.h"
#include "tfgrpo/thread_pool.h"
#include "tfgrpo/util.h"
#include "tfgrpo/version.h"

namespace tfgrpo {
namespace {

using grpo_internal::Attempt;
using grpo_internal::Credit;
using grpo_internal::RunDir;
using Clock = std::chrono::steady_clock;

// Learner calls (summaries, advantages) get a little diversity; library edits are made as
// deterministic as the provider allows.
constexpr double kLearnerTemperature = 0.3;
constexpr double kUpdateTemperature = 0.0;

// The stage failure reason of a learner reply that could not be parsed because it was cut short.
constexpr std::string_view kTruncatedReason = "truncated (raise model.max_tokens)";

// How each stage of one step went: items run, items failed, and the first failure of each kind.
// A step in which every rollout failed, for any reason, or a learner stage whose every item
// failed for a reason a retry could fix, did not really happen: it must not be recorded as done,
// and the run stops saying why (a re-run that fails the same way says so again).
class StepTally {
 public:
  void Ran(std::string_view stage) {
    std::lock_guard lock(mu_);
    ++counts_[std::string(stage)].ran;
  }
  // `in_reward`: the rollout itself succeeded and its scoring failed.
  void Failed(std::string_view stage, const Status& why, bool in_reward = false) {
    std::lock_guard lock(mu_);
    Counts& c = counts_[std::string(stage)];
    ++c.failed;
    if (IsRetryableFailure(why)) {
      if (!c.retryable) c.retryable = why;
    } else if (!c.permanent) {
      c.permanent = why;
      c.permanent_in_reward = in_reward;
    }
  }
  // "every rollout failed: unavailable: ..." for the first such stage in pipeline order.
  std::optional<std::string> EveryItemFailed() {
    std::lock_guard lock(mu_);
    for (const char* stage : {"rollout", "summary", "advantage", "group_update", "batch_update", "validation"}) {
      auto it = counts_.find(stage);
      if (it == counts_.end()) continue;
      const Counts& c = it->second;
      if (c.ran == 0 || c.failed < c.ran) continue;
      const std::string every = "every " + std::string(stage) + " failed: ";
      if (c.retryable) return every + EveryFailureReason(*c.retryable, false);
      // A learner stage refused for good (a reply that does not parse, a prompt too long) costs
      // that stage's lessons, not the run; rollouts refused for good mean nothing can be learned.
      if (std::string_view(stage) == "rollout" && c.permanent)
        return every + EveryFailureReason(*c.permanent, c.permanent_in_reward);
    }
    return std::nullopt;
  }

 private:
  struct Counts {
    int64_t ran = 0, failed = 0;
    std::optional<Status> retryable, permanent;
    bool permanent_in_reward = false;
  };
  std::mutex mu_;
  std::map<std::string, Counts> counts_;
};

// Everything one step counts and collects. A fresh one is made for every step, so nothing is
// reset by hand.
struct StepState {
  std::atomic<int64_t> rollouts_failed{0}, stages_failed{0}, informative{0};
  StepTally tally;
  std::mutex mu;  // guards the fields below
  double reward_sum = 0;
  int64_t reward_count = 0;
  std::vector<Credit> credit;  // in arrival order

  void AddReward(double r) {
    std::lock_guard lock(mu);
    reward_sum += r;
    ++reward_count;
  }
  double MeanReward() {
    std::lock_guard lock(mu);
    return reward_count ? reward_sum / reward_count : 0;
  }
};

// practice.validation's verdict on one candidate library.
struct Verdict {
  double current = 0;
  double candidate = 0;
  bool accepted = false;
  int64_t samples = 0;
  int64_t failed = 0;
  std::string reason;
};

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Rollout {
  bool ok = false;
  std::string reply;
  double reward = 0;
  std::string critique;  // the reward's reasoning, shown to the summary stage with ground truth
  std::string summary;
  bool summary_ok = false;
  std::vector<uint64_t> applied;  // experiences the summary says the attempt applied (uids)
};

struct Group {
  const Task* task = nullptr;
  std::vector<Rollout> rollouts;
  std::atomic<int> pending{0};
  std::vector<Operation> operations;  // proposed by this group's update call
  // retrieval: the rollouts' system prompt and the library positions it shows (all of them
  // with top_k 0); credit goes only to those.
  std::string system_prompt;
  std::vector<size_t> seen;
};

// A batch_update reply that does not parse is asked again, up to this many calls in all.
constexpr int kConsolidationAttempts = 3;

using Proposal = BatchUpdateStage::Proposal;

// What a step's consolidation did.
struct Consolidation {
  int64_t proposed = 0;
  int chunks = 0, chunks_failed = 0;
  int64_t leaks_dropped = 0;
  // Per proposing group, the proposals of failed chunks: "ADD: text", "UPDATE G3: text".
  std::map<std::string, std::vector<std::string>> not_applied;
  std::string why_failed;  // the last failed chunk's reason
};

// Runs the whole practice loop for one `tfgrpo train` invocation.
class Trainer {
 public:
  Trainer(const Config& config, const TrainOptions& options, ChatClient& client)
      : config_(config), options_(options), raw_client_(client),
        progress_(options.progress ? *options.progress : NullProgress()) {}
  ~Trainer() {
    pool_.reset();  // jobs reference everything else
  }

  Result<TrainSummary> Run();

 private:
  Status Prepare();
  // Runs one step and adds its counts to `totals`.
  Status RunStep(int step, const std::vector<const Task*>& batch, TrainSummary& totals);

  // Dataflow stages. Each runs on a pool worker; the last finisher of a stage starts the next.
  void RolloutJob(int step, Group& g, int sample, const std::string& system_prompt);
  void OnRolloutsDone(int step, Group& g);
  void SummaryJob(int step, Group& g, int sample);
  void OnSummariesDone(int step, Group& g);
  void FinishGroup();

  // Merges the groups' proposals into `library` (the step's candidate) with batch_update calls,
  // practice.max_proposals_per_call proposals at a time, each call against the library the
  // previous one produced. A chunk whose reply does not parse after kConsolidationAttempts leaves
  // the library as it was and its proposals are recorded as failures: never applied raw.
  Consolidation Consolidate(int step, const std::vector<Group>& groups, Library& library);
  // One chunk; false when it changed nothing because no reply could be used.
  bool ConsolidateChunk(int step, int chunk, std::vector<Proposal> proposals, Library& library,
                        Consolidation& outcome);
  // One learner call: the template named after `role` (summary, advantage, group_update,
  // batch_update) rendered into a single user message. A template that cannot be rendered stops
  // the run; a failed call is recorded as a failure of that stage for `task_id`. On success the
  // progress stage `progress_stage` advances.
  Result<ChatResponse> AskLearner(Role role, const PromptVars& vars, double temperature, std::string call_id,
                                  int step, const std::string& task_id, const std::string& progress_stage);
  // The library as the learner prompts show it (the consolidation prompt adds credit and the
  // proposals aimed at each experience).
  std::string LibraryForPrompt() const { return library_.empty() ? "(empty)" : library_.RenderLines(); }
  // Credit from one group's summaries: rollouts above the group's mean reward credit what they
  // applied as helpful, below it as harmful. Collected during the step, applied at its end.
  void CreditGroup(const Group& g);
  // Drops ADD/UPDATE operations that leak a task's answer or problem text, recording each.
  std::vector<Operation> DropLeaks(int step, std::vector<Operation> ops, int64_t* dropped);
  Status LoadInitialLibrary();
  // Splits off the validation tasks (practice.validation): its data file, or train tasks held
  // out with the seed.
  Status PrepareValidation();
  // Mean reward of `library` on the validation tasks; version names the calls (s<version>/val).
  // Sets `failed`/`samples`. Fatal failures stop the run; every sample failing for a retryable
  // reason is an error (the step is not recorded as done).
  Result<double> ValidationScore(const Library& library, int version, int64_t* samples, int64_t* failed);
  // The score of the library in force: recorded (resume), or computed for version 0.
  Status LoadOrScoreCurrentLibrary(int done_steps);
  Result<Verdict> Validate(int step, const Library& candidate);
  nlohmann::json Provenance(int steps_done) const;
  void RecordStageFailure(int step, const std::string& task_id, const std::string& stage,
                          const Status& status, std::string_view reason = {});
  // A learner reply that did not parse: recorded as a failure of `stage`, and named as truncated
  // when the reply was cut at max_tokens (the likely reason it did not parse).
  void RecordUnparseableReply(int step, const std::string& task_id, const std::string& stage,
                              const ChatResponse& reply, const Status& parse_error);
  void SetFatal(const Status& status);
  bool aborted() const { return fatal_flag_.load(); }
  Status WriteLibraryFiles(int step);
  Status FinishWithBudget(const Status& status);
  // Tokens per role of every call the run dir has recorded, over all invocations.
  SpendByRole SpendInStore() const;

  const Config& config_;
  const TrainOptions& options_;
  ChatClient& raw_client_;
  Progress& progress_;

  std::vector<Task> tasks_;
  std::vector<Task> validation_tasks_;
  PromptSet prompts_;
  std::unique_ptr<RunDir> run_dir_;
  std::unique_ptr<RunStore> store_;
  std::unique_ptr<BudgetGate> budget_;  // wraps raw_client_: no new call once the budget is spent
  std::unique_ptr<RecordingClient> recording_;
  std::unique_ptr<TruncationCountingClient> client_;  // wraps recording_; every call goes through it
  std::unique_ptr<ExternalAgents> external_;  // task.mode external: the gateway and agent runner
  std::unique_ptr<RewardFn> reward_;
  ToolRegistry tools_;  // empty in prompt mode
  std::unique_ptr<ThreadPool> pool_;
  Library library_;
  std::unique_ptr<EmbeddingCache> embedding_cache_;  // retrieval: vectors in the run store
  std::unique_ptr<Retriever> retriever_;             // null with retrieval.top_k 0
  LeakGuard leak_guard_;
  std::string train_data_sha256_;
  std::optional<double> current_score_;  // practice.validation: the library in force's score
  int64_t validations_accepted_ = 0, validations_rejected_ = 0;

  // Per-step coordination.
  std::mutex step_mu_;
  std::condition_variable step_cv_;
  int groups_remaining_ = 0;
  std::unique_ptr<StepState> step_;  // the step in progress

  std::atomic<bool> fatal_flag_{false};
  std::mutex fatal_mu_;
  Status fatal_;

  std::mutex reasons_mu_;
  std::map<std::string, int64_t> stage_reasons_;
  int64_t leaks_dropped_ = 0, evicted_ = 0;
};

Status Trainer::Prepare() {
  if (config_.data.train.empty())
    return Status::InvalidArgument(config_.source.string() + ": missing required key 'data.train'");
  auto tasks = LoadTasks(config_.data.train, config_.data.problem_key, config_.data.answer_key,
                         config_.data.max_task_bytes);
  if (!tasks.ok()) return tasks.status();
  tasks_ = std::move(tasks).value();
  {
    auto bytes = ReadFile(config_.data.train);
    if (!bytes.ok()) return bytes.status();
    train_data_sha256_ = Sha256Hex(*bytes);
  }
  if (Status s = PrepareValidation(); !s.ok()) return s;
  {
    // Validation tasks' answers must not leak into lessons either.
    std::vector<LeakSource> sources;
    sources.reserve(tasks_.size() + validation_tasks_.size());
    for (const auto* list : {&tasks_, &validation_tasks_})
      for (const Task& t : *list) sources.push_back({t.id, t.problem, t.answer});
    leak_guard_ = LeakGuard(sources);
  }

  auto prompts = PromptSet::Load(options_.prompts_dir);
  if (!prompts.ok()) return prompts.status();
  prompts_ = std::move(prompts).value();
  // A --prompts override that names a variable its stage does not fill, or leaves out the one
  // it needs, stops here, before any call is paid for.
  if (Status s = CheckPromptContracts(prompts_, config_.task.reward == RewardKind::kJudge); !s.ok()) return s;

  auto run_dir = RunDir::Open(options_.run_dir);
  if (!run_dir.ok()) return run_dir.status();
  run_dir_ = std::move(run_dir).value();
  auto store = RunStore::Open(run_dir_->db_path());
  if (!store.ok()) return store.status();
  store_ = std::move(store).value();
  Status s = store_->BeginOrResume(ConfigFingerprintJson(config_).dump());
  if (!s.ok()) return s;

  // What earlier invocations spent counts against the budget too.
  budget_ = std::make_unique<BudgetGate>(raw_client_, config_.budget, PricingOf(config_), SpendInStore());
  recording_ = std::make_unique<RecordingClient>(*budget_, *store_, config_.model.name, config_.model.max_tokens);
  client_ = std::make_unique<TruncationCountingClient>(*recording_);
  auto reward = MakeRewardFor(config_, client_.get(), prompts_);
  if (!reward.ok()) return reward.status();
  reward_ = std::move(reward).value();
  if (config_.task.mode == TaskMode::kExternal) {  // the gateway listens while this train runs
    auto agents = ExternalAgents::Start(config_, *client_, store_.get());
    if (!agents.ok()) return agents.status();
    external_ = std::move(agents).value();
  }
  auto tools = MakeToolsFor(config_, client_.get());
  if (!tools.ok()) return tools.status();
  tools_ = std::move(tools).value();
  pool_ = std::make_unique<ThreadPool>(config_.model.concurrency);
  embedding_cache_ = MakeRunStoreEmbeddingCache(*store_);
  retriever_ = Retriever::FromConfig(config_, DefaultHttpTransport(), embedding_cache_.get());
  return Status::Ok();
}

Status Trainer::PrepareValidation() {
  const ValidationConfig& v = config_.practice.validation;
  if (!v.enabled) return Status::Ok();
  const size_t wanted = static_cast<size_t>(v.tasks);
  // Chosen with the seed, kept in file order.
  auto choose = [&](size_t n) {
    std::vector<size_t> order = ShuffledIndices(n, Fnv1a64("validation", config_.practice.seed));
    order.resize(std::min(n, wanted));
    std::sort(order.begin(), order.end());
    return order;
  };
  if (!v.data.empty()) {
    auto loaded = LoadTasks(v.data, config_.data.problem_key, config_.data.answer_key, config_.data.max_task_bytes);
    if (!loaded.ok()) return loaded.status().WithContext("practice.validation.data");
    for (size_t i : choose(loaded->size())) validation_tasks_.push_back((*loaded)[i]);
    if (validation_tasks_.empty())
      return Status::InvalidArgument(v.data.string() + ": practice.validation.data holds no task");
    return Status::Ok();
  }
  if (tasks_.size() <= wanted) {
    return Status::InvalidArgument(config_.source.string() + ": practice.validation.tasks (" + std::to_string(wanted) +
                                   ") would hold out every one of the " + std::to_string(tasks_.size()) +
                                   " train tasks; lower it or give practice.validation.data");
  }
  std::vector<size_t> held = choose(tasks_.size());
  std::vector<Task> train;
  size_t next = 0;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    if (next < held.size() && held[next] == i) {
      validation_tasks_.push_back(std::move(tasks_[i]));
      ++next;
    } else {
      train.push_back(std::move(tasks_[i]));
    }
  }
  tasks_ = std::move(train);
  return Status::Ok();
}

void Trainer::SetFatal(const Status& status) {
  std::lock_guard lock(fatal_mu_);
  if (!fatal_flag_.load()) {
    fatal_ = status;
    fatal_flag_ = true;
  }
  step_cv_.notify_all();
}

void Trainer::RecordStageFailure(int step, const std::string& task_id, const std::string& stage,
                                 const Status& status, std::string_view reason) {
  ++step_->stages_failed;
  step_->tally.Failed(stage, status);
  {
    std::lock_guard lock(reasons_mu_);
    ++stage_reasons_[stage + ": " + (reason.empty() ? ShortReason(status) : std::string(reason))];
  }
  // Steps are numbered from 1 in messages, as in the info lines; the store keeps them 0-based.
  spdlog::warn("step {} task {}: {} failed: {}", step + 1, task_id, stage, status.ToString());
  Status s = store_->RecordFailure({step, task_id, stage, status.ToString()});
  if (!s.ok()) SetFatal(s);
}

void Trainer::RecordUnparseableReply(int step, const std::string& task_id, const std::string& stage,
                                     const ChatResponse& reply, const Status& parse_error) {
  if (!IsTruncated(reply)) return RecordStageFailure(step, task_id, stage, parse_error);
  RecordStageFailure(step, task_id, stage,
                     Status::InvalidArgument("reply cut at the token limit (finish_reason \"length\"; raise "
                                             "model.max_tokens): " + parse_error.message()),
                     kTruncatedReason);
}

Result<ChatResponse> Trainer::AskLearner(Role role, const PromptVars& vars, double temperature,
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
  step_->tally.Ran(stage);
  auto r = client_->Complete(req);
  // A failed call is done with too: progress counts it, or the line would stop short ("9/10").
  progress_.Advance(progress_stage, r.ok() ? r->usage.prompt_tokens + r->usage.completion_tokens : 0);
  if (r.ok()) return r;
  const Status& st = r.status();
  if (IsFatalForRun(st)) {
    SetFatal(st);
  } else if (st.code() != Status::Code::kCancelled) {
    RecordStageFailure(step, task_id, stage, st);
  }
  return r;
}

void Trainer::FinishGroup() {
  std::lock_guard lock(step_mu_);
  if (--groups_remaining_ == 0) step_cv_.notify_all();
}

void Trainer::RolloutJob(int step, Group& g, int sample, const std::string& system_prompt) {
  Rollout& ro = g.rollouts[sample];
  if (!aborted()) {
    RolloutRecord rec;
    rec.step = step;
    rec.task_id = g.task->id;
    rec.sample = sample;
    rec.library_version = step;
    rec.experiences_seen = SeenIdsJson(g.seen);
    step_->tally.Ran("rollout");
    const ExternalSampling external{external_.get(), &library_, g.seen};
    ScoredSample scored = SampleAndScore(*client_, *reward_, *g.task, config_.task, &tools_, system_prompt,
                                         config_.practice.rollout_temperature, StepScope(step),
                                         "r" + std::to_string(sample), Role::kRollout,
                                         TranscriptLimits{static_cast<size_t>(config_.practice.tool_output_chars),
                                                          static_cast<size_t>(config_.practice.trajectory_chars)},
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
      if (IsFatalForRun(scored.error)) SetFatal(scored.error);
      step_->tally.Failed("rollout", scored.error, scored.reward_failed);
    }
    if (!ro.ok) {
      ++step_->rollouts_failed;
      if (!aborted())
        spdlog::warn("step {} task {} sample {}: rollout failed: {}", step + 1, g.task->id, sample, rec.error);
    } else {
      step_->AddReward(ro.reward);
    }
    if (!aborted()) {
      Status s = store_->RecordRollout(rec);
      if (!s.ok()) SetFatal(s);
    }
    progress_.Advance("rollouts", rec.prompt_tokens + rec.completion_tokens);
  }
  if (--g.pending == 0) OnRolloutsDone(step, g);
}

void Trainer::OnRolloutsDone(int step, Group& g) {
  if (aborted()) return FinishGroup();
  std::vector<double> rewards;
  for (const auto& ro : g.rollouts)
    if (ro.ok) rewards.push_back(ro.reward);
  if (!grpo_internal::IsInformative(rewards, config_.practice.given_ground_truth)) return FinishGroup();
  ++step_->informative;
  g.pending = static_cast<int>(rewards.size());
  progress_.AddTotal("summaries", static_cast<int64_t>(rewards.size()));
  progress_.AddTotal("advantages", 1);
  progress_.AddTotal("updates", 1);
  for (int i = 0; i < static_cast<int>(g.rollouts.size()); ++i)
    if (g.rollouts[i].ok) pool_->SubmitFirst([this, step, &g, i] { SummaryJob(step, g, i); });
}

void Trainer::SummaryJob(int step, Group& g, int sample) {
  Rollout& ro = g.rollouts[sample];
  if (!aborted()) {
    SummaryStage::Input in{g.task->problem, LibraryForPrompt(), ro.reply, config_.practice.given_ground_truth,
                           g.task->answer, ro.reward, ro.critique, config_.practice.agent_objective};
    auto r = AskLearner(SummaryStage::kRole, SummaryStage::Vars(in), kLearnerTemperature, CallId(StepScope(step), g.task->id, "summary" + std::to_string(sample)),
                        step, g.task->id, "summaries");
    if (r.ok()) {
      ro.summary = r->content;
      ro.summary_ok = true;
      ro.applied = grpo_internal::UidsAt(
          library_, CreditableExperiences(SummaryStage::Parse(r->content, library_.size()), g.seen));
    }
  }
  if (--g.pending == 0) OnSummariesDone(step, g);
}

void Trainer::OnSummariesDone(int step, Group& g) {
  if (aborted()) return FinishGroup();
  const bool gt = config_.practice.given_ground_truth;
  AdvantageStage::Input adv{g.task->problem, LibraryForPrompt(), gt, g.task->answer, {},
                            config_.practice.experiences_per_group, config_.practice.agent_objective,
                            config_.practice.learning_objective};
  for (const auto& ro : g.rollouts)
    if (ro.summary_ok) adv.summaries.push_back({ro.reward, ro.summary});
  if (gt) CreditGroup(g);
  // A lost summary costs one attempt, not the group, as long as a comparison is still possible.
  if (adv.summaries.size() < 2) {  // the failed summaries were recorded as they failed
    progress_.Advance("advantages");  // skipped stages are done too, or progress stops short
    progress_.Advance("updates");
    return FinishGroup();
  }
  const std::string scope = StepScope(step);

  auto adv_reply = AskLearner(AdvantageStage::kRole, AdvantageStage::Vars(adv), kLearnerTemperature,
                              CallId(scope, g.task->id, "advantage"), step, g.task->id, "advantages");
  if (!adv_reply.ok()) {
    progress_.Advance("updates");
    return FinishGroup();
  }
  auto experiences = AdvantageStage::Parse(adv_reply->content, config_.practice.experiences_per_group);
  if (!experiences.ok()) {
    RecordUnparseableReply(step, g.task->id, "advantage", *adv_reply, experiences.status());
    progress_.Advance("updates");
    return FinishGroup();
  }

  GroupUpdateStage::Input upd{LibraryForPrompt(), std::move(experiences).value(), config_.practice.agent_objective,
                              config_.practice.learning_objective};
  auto upd_reply = AskLearner(GroupUpdateStage::kRole, GroupUpdateStage::Vars(upd), kUpdateTemperature, CallId(scope, g.task->id, "group_update"), step, g.task->id,
                              "updates");
  if (!upd_reply.ok()) return FinishGroup();
  auto ops = GroupUpdateStage::Parse(upd_reply->content, g.task->id);
  if (!ops.ok()) {
    RecordUnparseableReply(step, g.task->id, "group_update", *upd_reply, ops.status());
    return FinishGroup();
  }
  g.operations = std::move(ops).value();
  FinishGroup();
}

void Trainer::CreditGroup(const Group& g) {
  std::vector<Attempt> attempts;
  for (const auto& ro : g.rollouts) attempts.push_back({ro.ok, ro.reward, ro.summary_ok, ro.applied});
  std::vector<Credit> credit = grpo_internal::GroupCredit(attempts);
  std::lock_guard lock(step_->mu);
  step_->credit.insert(step_->credit.end(), credit.begin(), credit.end());
}

std::vector<Operation> Trainer::DropLeaks(int step, std::vector<Operation> ops, int64_t* dropped) {
  std::vector<Operation> kept;
  for (Operation& op : ops) {
    if (op.kind == OpKind::kAdd || op.kind == OpKind::kUpdate) {
      if (auto leak = leak_guard_.Find(op.content)) {
        ++*dropped;
        spdlog::warn("step {}: dropped {} from group {}: {}", step + 1, OpKindName(op.kind),
                     op.group.empty() ? "(unknown)" : op.group, leak->Describe());
        Status s = store_->RecordFailure({step, op.group, "leak", leak->Describe() + ": " + op.content});
        if (!s.ok()) SetFatal(s);
        continue;
      }
    }
    kept.push_back(std::move(op));
  }
  return kept;
}

Consolidation Trainer::Consolidate(int step, const std::vector<Group>& groups, Library& library) {
  Consolidation outcome;
  std::vector<Proposal> proposals;
  for (const auto& g : groups) {  // batch order, not completion order: the prompt is deterministic
    for (const auto& op : g.operations) {
      if (op.kind == OpKind::kNone) continue;
      Proposal p{op, std::nullopt};
      // The group saw the library as it was when the step began, which `library` still is.
      if (op.id) {
        if (auto index = ExperienceIndex(*op.id); index && *index < library.size())
          p.target = library.items()[*index].uid;
      }
      proposals.push_back(std::move(p));
    }
  }
  outcome.proposed = static_cast<int64_t>(proposals.size());
  if (proposals.empty()) return outcome;
  const size_t per_call = static_cast<size_t>(std::max(1, config_.practice.max_proposals_per_call));
  const int chunks = static_cast<int>((proposals.size() + per_call - 1) / per_call);
  progress_.Begin("consolidation", chunks);
  for (int c = 0; c < chunks && !aborted(); ++c) {
    const size_t begin = c * per_call, end = std::min(proposals.size(), begin + per_call);
    ++outcome.chunks;
    if (!ConsolidateChunk(step, c, {proposals.begin() + begin, proposals.begin() + end}, library, outcome))
      ++outcome.chunks_failed;
  }
  progress_.End("consolidation");
  // The store keeps one failure per step, task and stage: a group's proposals go in one record.
  for (const auto& [group, ops] : outcome.not_applied) {
    std::string listed;
    for (const std::string& op : ops) listed += (listed.empty() ? "" : " | ") + op;
    Status s = store_->RecordFailure({step, group, "batch_update",
                                      outcome.why_failed + "; library unchanged, proposals not applied: " + listed});
    if (!s.ok()) SetFatal(s);
  }
  return outcome;
}

bool Trainer::ConsolidateChunk(int step, int chunk, std::vector<Proposal> proposals, Library& library,
                               Consolidation& outcome) {
  BatchUpdateStage::Prompt prompt = BatchUpdateStage::Build(
      {&library, std::move(proposals), config_.practice.max_experiences, config_.practice.agent_objective,
       config_.practice.learning_objective});
  const std::vector<Proposal>& numbered = prompt.numbered;
  if (numbered.empty()) {
    progress_.Advance("consolidation");  // nothing left to ask
    return true;
  }

  // s<n>/batch_update, s<n>/batch_update/try2, ...; a later chunk's ids carry its number (c2).
  std::string base = "batch_update";
  if (chunk > 0) base += "/c" + std::to_string(chunk + 1);
  std::string why = "no reply";
  int attempts = 0;
  for (int attempt = 1; attempt <= kConsolidationAttempts && !aborted(); ++attempt) {
    ++attempts;
    const std::string leaf = attempt == 1 ? base : base + "/try" + std::to_string(attempt);
    if (attempt > 1) progress_.AddTotal("consolidation", 1);  // each call advances it, failed or not
    // A provider that is deterministic at temperature 0 would repeat a bad reply word for word.
    auto reply = AskLearner(BatchUpdateStage::kRole, prompt.vars, attempt == 1 ? kUpdateTemperature : kLearnerTemperature,
                            CallId(StepScope(step), "", leaf), step, "", "consolidation");
    if (!reply.ok()) {  // already retried by the client and recorded; asking again will not help
      why = reply.status().ToString();
      break;
    }
    auto ops = BatchUpdateStage::Parse(reply->content, numbered);
    if (!ops.ok()) {
      RecordUnparseableReply(step, "", "batch_update", *reply, ops.status());
      why = IsTruncated(*reply) ? std::string(kTruncatedReason) : ops.status().message();
      continue;
    }
    library.Apply(DropLeaks(step, std::move(ops).value(), &outcome.leaks_dropped), step);
    return true;
  }
  if (aborted()) return false;
  outcome.why_failed = "consolidation failed after " + std::to_string(attempts) +
                       (attempts == 1 ? " call" : " calls") + " (" + why + ")";
  for (const Proposal& p : numbered) {
    outcome.not_applied[p.op.group].push_back(std::string(OpKindName(p.op.kind)) + (p.op.id ? " " + *p.op.id : "") +
                                              ": " + p.op.content);
  }
  return false;
}

// "https://user:secret@api.example.com:8443/v1" -> "api.example.com:8443": where the library was
// learned, never with credentials.
std::string EndpointHost(std::string_view url) {
  size_t start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  std::string_view rest = url.substr(start);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  return std::string(rest);
}

nlohmann::json Trainer::Provenance(int steps_done) const {
  char created[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  nlohmann::json validation = nullptr;
  if (const ValidationConfig& v = config_.practice.validation; v.enabled) {
    nlohmann::json history = nlohmann::json::array();
    for (const ValidationRecord& r : store_->Validations()) {
      if (r.step > steps_done) continue;  // a re-run step's leftover
      history.push_back({{"step", r.step}, {"current", r.current_score}, {"candidate", r.candidate_score},
                         {"accepted", r.accepted}});
    }
    validation = {{"tasks", validation_tasks_.size()},
                  {"k", v.k},
                  {"tolerance", v.tolerance},
                  {"score", current_score_ ? nlohmann::json(*current_score_) : nlohmann::json()},
                  {"history", history}};
  }
  nlohmann::json provenance = {{"model", config_.model.name},
          {"endpoint_host", EndpointHost(config_.model.base_url)},
          {"tfgrpo_version", std::string(kVersion)},
          {"created_at", created},
          {"train_data_sha256", train_data_sha256_},
          {"config_fingerprint", Fingerprint(ConfigFingerprintJson(config_).dump())},
          {"steps_run", steps_done},
          {"validation", validation}};
  // A library learned by one model for another says so.
  if (config_.learner_given && config_.learner.name != config_.model.name)
    provenance["learner_model"] = config_.learner.name;
  if (config_.judge_given && config_.judge.name != config_.model.name) provenance["judge_model"] = config_.judge.name;
  return provenance;
}

Status Trainer::WriteLibraryFiles(int step) { return run_dir_->WriteLibrary(step, library_, Provenance(step)); }

Result<double> Trainer::ValidationScore(const Library& library, int version, int64_t* samples, int64_t* failed) {
  const ValidationConfig& v = config_.practice.validation;
  std::vector<std::string> queries;
  for (const Task& t : validation_tasks_) queries.push_back(t.problem);
  SamplerSetup setup{*client_,
                           *reward_,
                           config_.task,
                           &tools_,
                           AppendLibrary(RolloutInstructions(config_.task, &tools_), library),
                           config_.eval.temperature,
                           Role::kValidation,
                           StepScope(version) + "/val"};
  ExternalSampling external{external_.get(), &library};
  if (retriever_) {
    RolloutPrompts prompts = PromptsForTasks(retriever_.get(), RolloutInstructions(config_.task, &tools_), library, queries);
    setup.task_prompts = std::move(prompts.system_prompts);
    external.task_positions = std::move(prompts.seen);
  }
  if (external_) setup.external = &external;
  progress_.Begin("validation", static_cast<int64_t>(validation_tasks_.size()) * v.k);
  SampleGrid grid = SampleTasks(*pool_, setup, validation_tasks_, v.k, [this](size_t, int, const ScoredSample& sample) {
    int64_t tokens = 0;
    if (sample.rollout) tokens += sample.rollout->usage.prompt_tokens + sample.rollout->usage.completion_tokens;
    progress_.Advance("validation", tokens);
  });
  progress_.End("validation");
  if (grid.fatal) {
    SetFatal(*grid.fatal);
    return fatal_;
  }
  double sum = 0;
  int64_t ok = 0;
  for (const auto& task_samples : grid.samples)
    for (const ScoredSample& sample : task_samples)
      if (sample.ok) sum += sample.reward.score, ++ok;
  *samples = ok + grid.failed;
  *failed = grid.failed;
  if (ok == 0) {
    const std::string why = grid.retryable ? grid.retryable->ToString() : "no sample could be scored";
    return Status::Unavailable("step " + std::to_string(version) + ": every validation sample failed: " + why);
  }
  if (grid.failed > 0)
    spdlog::warn("validation of library version {}: {} of {} samples failed (left out of the mean)", version,
                 grid.failed, *samples);
  // A failed sample says nothing about the library, so it is left out rather than scored 0.
  return sum / static_cast<double>(ok);
}

Status Trainer::LoadOrScoreCurrentLibrary(int done_steps) {
  if (!config_.practice.validation.enabled) return Status::Ok();
  for (const ValidationRecord& r : store_->Validations()) {
    if (r.step <= done_steps && r.accepted) current_score_ = r.candidate_score;
    if (r.step > 0 && r.step <= done_steps) ++(r.accepted ? validations_accepted_ : validations_rejected_);
  }
  if (current_score_) return Status::Ok();
  int64_t samples = 0, failed = 0;
  auto score = ValidationScore(library_, done_steps, &samples, &failed);
  if (!score.ok()) return score.status();
  current_score_ = *score;
  ValidationRecord rec;
  rec.step = done_steps;
  rec.current_score = rec.candidate_score = *score;
  rec.accepted = true;
  rec.samples = samples;
  rec.failed = failed;
  rec.reason = "the starting library";
  rec.candidate_json = library_.ToArtifactJson().dump();
  spdlog::info("validation: the starting library scores {:.3f} on {} tasks x {}", *score, validation_tasks_.size(),
               config_.practice.validation.k);
  return store_->RecordValidation(rec);
}

Result<Verdict> Trainer::Validate(int step, const Library& candidate) {
  const ValidationConfig& v = config_.practice.validation;
  Verdict verdict;
  verdict.current = current_score_.value_or(0);
  auto score = ValidationScore(candidate, step + 1, &verdict.samples, &verdict.failed);
  if (!score.ok()) return score.status();
  verdict.candidate = *score;
  verdict.accepted = verdict.candidate >= verdict.current - v.tolerance;
  char reason[160];
  std::snprintf(reason, sizeof reason, "candidate %.4f %s current %.4f - tolerance %g", verdict.candidate,
                verdict.accepted ? ">=" : "<", verdict.current, v.tolerance);
  verdict.reason = reason;
  ValidationRecord rec;
  rec.step = step + 1;
  rec.current_score = verdict.current;
  rec.candidate_score = verdict.candidate;
  rec.accepted = verdict.accepted;
  rec.samples = verdict.samples;
  rec.failed = verdict.failed;
  rec.reason = verdict.reason;
  rec.candidate_json = candidate.ToArtifactJson().dump();
  if (Status s = store_->RecordValidation(rec); !s.ok()) return s;
  nlohmann::json file = {{"step", step + 1},          {"current_score", verdict.current},
                         {"candidate_score", verdict.candidate}, {"accepted", verdict.accepted},
                         {"tolerance", v.tolerance},  {"samples", verdict.samples},
                         {"failed", verdict.failed},  {"reason", verdict.reason}};
  if (!verdict.accepted) file["rejected_candidate"] = candidate.ToArtifactJson();
  if (Status s = run_dir_->WriteStepJson(step + 1, "validation.json", file); !s.ok()) return s;
  return verdict;
}

Status Trainer::RunStep(int step, const std::vector<const Task*>& batch, TrainSummary& totals) {
  const auto start = Clock::now();
  const ExternalCounts agents_before = external_ ? external_->counts() : ExternalCounts{};
  const int G = config_.practice.group_size;
  std::vector<Group> groups(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    groups[i].task = batch[i];
    groups[i].rollouts.resize(G);
    groups[i].pending = G;
  }
  step_ = std::make_unique<StepState>();
  StepState& st = *step_;
  groups_remaining_ = static_cast<int>(groups.size());

  // Byte-identical for every rollout of the step, so provider prefix caches hit; with
  // retrieval.top_k, the instructions stay that prefix and each group's experiences follow.
  {
    std::vector<std::string> queries;
    for (const Task* t : batch) queries.push_back(t->problem);
    RolloutPrompts prompts =
        PromptsForTasks(retriever_.get(), RolloutInstructions(config_.task, &tools_), library_, queries);
    for (size_t i = 0; i < groups.size(); ++i) {
      groups[i].system_prompt = std::move(prompts.system_prompts[i]);
      groups[i].seen = std::move(prompts.seen[i]);
    }
  }
  progress_.Begin("rollouts", static_cast<int64_t>(batch.size()) * G);
  progress_.Begin("summaries", 0);
  progress_.Begin("advantages", 0);
  progress_.Begin("updates", 0);
  for (auto& g : groups)
    for (int i = 0; i < G; ++i) pool_->Submit([this, step, &g, i] { RolloutJob(step, g, i, g.system_prompt); });
  {
    std::unique_lock lock(step_mu_);
    step_cv_.wait(lock, [this] { return groups_remaining_ == 0 || aborted(); });
  }
  pool_->Wait();  // nothing may still reference `groups` once we return
  for (auto stage : {"rollouts", "summaries", "advantages", "updates"}) progress_.End(stage);
  if (aborted()) return fatal_;
  // Not recorded as done, so a re-run does this step again; what was recorded stays (the calls
  // that succeeded are replayed, the failed ones sent again).
  auto step_failed = [step](const std::string& what) {
    return Status::Unavailable("step " + std::to_string(step + 1) + ": " + what);
  };
  if (auto what = st.tally.EveryItemFailed()) return step_failed(*what);

  // Credit first, so the consolidation prompt shows what the step's rollouts learned about the
  // experiences they applied.
  grpo_internal::ApplyCredit(library_, st.credit);

  const size_t size_before = library_.size();
  Library candidate = library_;
  const Consolidation consolidation = Consolidate(step, groups, candidate);
  if (aborted()) return fatal_;
  if (auto what = st.tally.EveryItemFailed()) return step_failed(*what);
  const int64_t step_leaks = consolidation.leaks_dropped;
  std::vector<Experience> evicted =
      candidate.EvictOverCap(static_cast<size_t>(std::max(0, config_.practice.max_experiences)));

  std::optional<Verdict> verdict;
  if (config_.practice.validation.enabled) {
    auto v = Validate(step, candidate);
    if (aborted()) return fatal_;
    if (!v.ok()) return v.status();
    verdict = *v;
  }
  if (!verdict || verdict->accepted) {
    library_ = std::move(candidate);
    if (verdict) {
      current_score_ = verdict->candidate;
      ++validations_accepted_;
    }
    for (const Experience& e : evicted) {
      Status rs = store_->RecordFailure({step, e.origin_task, "eviction",
                                         "library over practice.max_experiences (" +
                                             std::to_string(config_.practice.max_experiences) + "): evicted helpful=" +
                                             std::to_string(e.helpful) + " harmful=" + std::to_string(e.harmful) +
                                             ": " + e.text});
      if (!rs.ok()) return rs;
    }
  } else {
    ++validations_rejected_;
    evicted.clear();  // the library in force lost nothing
  }
  leaks_dropped_ += step_leaks;
  evicted_ += static_cast<int64_t>(evicted.size());

  std::vector<ExperienceOrigin> origins;
  for (size_t i = 0; i < library_.size(); ++i) {
    const auto& e = library_.items()[i];
    origins.push_back({"G" + std::to_string(i), e.text, e.step, e.group});
  }
  Status s = store_->RecordLibrary(step + 1, library_.ToArtifactJson().dump(), origins);
  if (!s.ok()) return s;
  s = WriteLibraryFiles(step + 1);
  if (!s.ok()) return s;

  int64_t proposed = 0;
  for (const auto& g : groups) proposed += static_cast<int64_t>(g.operations.size());
  const bool consolidation_failed = consolidation.chunks_failed > 0;
  const double mean_reward = st.MeanReward();
  nlohmann::json stats = {{"tasks", batch.size()},
                          {"rollouts", batch.size() * G},
                          {"rollouts_failed", st.rollouts_failed.load()},
                          {"mean_reward", mean_reward},
                          {"informative_groups", st.informative.load()},
                          {"stages_failed", st.stages_failed.load()},
                          {"proposed_operations", proposed},
                          {"consolidation_failed", consolidation_failed},
                          {"consolidation_calls", consolidation.chunks},
                          {"consolidation_calls_failed", consolidation.chunks_failed},
                          {"leaks_dropped", step_leaks},
                          {"evicted", evicted.size()},
                          {"library_size", library_.size()},
                          {"wall_s", Seconds(start)}};
  if (external_) stats["agent"] = (external_->counts() - agents_before).ToJson();
  if (verdict) {
    stats["validation"] = {{"current_score", verdict->current}, {"candidate_score", verdict->candidate},
                           {"accepted", verdict->accepted}, {"samples", verdict->samples},
                           {"failed", verdict->failed}};
  }
  const int steps_per_epoch =
      (static_cast<int>(tasks_.size()) + config_.practice.batch_size - 1) / config_.practice.batch_size;
  s = store_->RecordStep({step, step / steps_per_epoch, step % steps_per_epoch, stats.dump()});
  if (!s.ok()) return s;
  totals.rollouts += static_cast<int64_t>(batch.size()) * G;
  totals.rollouts_failed += st.rollouts_failed;
  totals.stages_failed += st.stages_failed;
  totals.informative_groups += st.informative;
  std::string notes;
  if (step_leaks) notes += ", " + std::to_string(step_leaks) + " leaking operation(s) dropped";
  if (!evicted.empty()) notes += ", " + std::to_string(evicted.size()) + " evicted over the cap";
  if (consolidation_failed && consolidation.chunks_failed == consolidation.chunks) {
    notes += ", consolidation failed: library unchanged";
  } else if (consolidation_failed) {
    notes += ", consolidation failed for " + std::to_string(consolidation.chunks_failed) + " of " +
             std::to_string(consolidation.chunks) + " chunks: their proposals not applied";
  }
  if (verdict) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "; validation %.3f -> %.3f: %s", verdict->current, verdict->candidate,
                  verdict->accepted ? "accepted" : "rejected, library kept");
    notes += buf;
  }
  spdlog::info("step {} (epoch {}): mean reward {:.3f}, {}/{} groups informative, library {} -> {} experiences{}",
               step + 1, step / steps_per_epoch + 1, mean_reward, st.informative.load(), batch.size(),
               size_before, library_.size(), notes);
  return Status::Ok();
}

Status Trainer::LoadInitialLibrary() {
  if (!options_.init_experiences) return Status::Ok();
  auto given = Library::Load(*options_.init_experiences);
  if (!given.ok()) return given.status().WithContext("--init-experiences");
  library_ = std::move(given).value();
  spdlog::info("starting from {} ({} experiences)", options_.init_experiences->string(), library_.size());
  return Status::Ok();
}

Result<TrainSummary> Trainer::Run() {
  const auto start = Clock::now();
  Status s = Prepare();
  if (!s.ok()) return s;

  int done_steps = 0;
  auto latest = store_->LatestLibrary();
  if (!latest.ok()) return latest.status();
  if (latest->has_value()) {
    done_steps = (*latest)->first;
    if (options_.init_experiences) {
      // A resumed run must start from the library it was created with.
      auto given = Library::Load(*options_.init_experiences);
      if (!given.ok()) return given.status();
      auto initial = store_->LibraryAt(0);
      if (!initial.ok()) return initial.status();
      auto recorded = Library::FromJson(ParseUntrustedJson(initial->value_or("{}")));
      if (!recorded.ok() || recorded->RenderLines() != given->RenderLines())
        return Status::InvalidArgument("--init-experiences " + options_.init_experiences->string() +
                                       " differs from the library " + options_.run_dir.string() +
                                       " was started with; resume with the same file or none");
    }
    nlohmann::json j = ParseUntrustedJson((*latest)->second);
    if (j.is_discarded()) {
      return Status::InvalidArgument((options_.run_dir / "run.db").string() +
                                     " holds an unreadable library for step " + std::to_string(done_steps) +
                                     " (not JSON, or nested more than " + std::to_string(kMaxJsonDepth) +
                                     " levels deep)");
    }
    auto lib = Library::FromJson(j);
    if (!lib.ok()) return lib.status().WithContext("run.db library of step " + std::to_string(done_steps));
    library_ = std::move(lib).value();
    if (done_steps > 0) spdlog::info("resuming {}: {} steps already done, library has {} experiences",
                                     options_.run_dir.string(), done_steps, library_.size());
  } else {
    s = LoadInitialLibrary();
    if (!s.ok()) return s;
    s = store_->RecordLibrary(0, library_.ToArtifactJson().dump(), {});
    if (!s.ok()) return s;
  }
  // The step this invocation picks up was not recorded as done; if it stopped because every
  // rollout was refused, replaying those refusals would stop it again however the setup changed.
  recording_->ResendRefusalsUnder(StepScope(done_steps) + "/");
  s = LoadOrScoreCurrentLibrary(done_steps);
  if (!s.ok()) return FinishWithBudget(s);
  s = WriteLibraryFiles(done_steps);
  if (!s.ok()) return s;

  const int batch_size = config_.practice.batch_size;
  const int n = static_cast<int>(tasks_.size());
  const int steps_per_epoch = (n + batch_size - 1) / batch_size;
  const int total_steps = steps_per_epoch * config_.practice.epochs;

  TrainSummary summary;
  summary.steps_total = total_steps;
  for (int step = done_steps; step < total_steps; ++step) {
    if (options_.max_steps >= 0 && summary.steps_run >= options_.max_steps) break;
    const int epoch = step / steps_per_epoch;
    const int b = step % steps_per_epoch;
    // Same seed, same order: each epoch's permutation depends only on (seed, epoch).
    const auto order = ShuffledIndices(tasks_.size(), Fnv1a64(std::to_string(epoch), config_.practice.seed));
    std::vector<const Task*> batch;
    for (int i = b * batch_size; i < std::min(n, (b + 1) * batch_size); ++i) batch.push_back(&tasks_[order[i]]);
    s = RunStep(step, batch, summary);
    if (!s.ok()) return FinishWithBudget(s);
    ++summary.steps_run;
    if (options_.after_step) options_.after_step(step + 1, total_steps);
  }

  summary.llm_calls = recording_->sent() + recording_->replayed();
  summary.llm_calls_replayed = recording_->replayed();
  summary.llm_calls_failed = recording_->failed();
  summary.llm_retries = recording_->retries();
  summary.call_failure_reasons = recording_->failure_reasons();
  summary.stage_failure_reasons = stage_reasons_;
  summary.leaks_dropped = leaks_dropped_;
  summary.evicted = evicted_;
  summary.truncated_replies = client_->truncated();
  summary.usage = recording_->sent_usage();
  summary.wall_s = Seconds(start);
  summary.library = library_;
  summary.validation_enabled = config_.practice.validation.enabled;
  summary.validations_accepted = validations_accepted_;
  summary.validations_rejected = validations_rejected_;
  if (external_) summary.external = external_->counts();
  summary.validation_score = current_score_;
  summary.pricing = PricingOf(config_);
  summary.spend = SpendInStore();
  if (retriever_) {
    summary.retrieval_top_k = retriever_->top_k();
    summary.retrieval_fallbacks = retriever_->stats().fallbacks;
  }
  return summary;
}

SpendByRole Trainer::SpendInStore() const {
  SpendByRole spend;
  for (const auto& [role, t] : store_->TokensByRole()) spend[role] = {t.prompt_tokens, t.completion_tokens, t.cached_tokens};
  return spend;
}

Status Trainer::FinishWithBudget(const Status& status) {
  if (status.code() != Status::Code::kBudgetExhausted) return status;
  // The status that stopped the run carries the context of the call that hit the limit; the
  // user wants the figures, as of now that the calls in flight have finished.
  spdlog::info("spend of {} so far: {}", options_.run_dir.string(),
               FormatSpend(SpendInStore(), PricingOf(config_)));
  return budget_->ExhaustedStatus();
}

}  // namespace

Result<TrainSummary> Train(const Config& config, const TrainOptions& options, ChatClient& client) {
  Trainer trainer(config, options, client);
  return trainer.Run();
}

std::string FormatTrainSummary(const TrainSummary& s) {
  std::ostringstream out;
  out << s.steps_run << " of " << s.steps_total << " steps run, " << s.llm_calls << " LLM calls ("
      << s.llm_calls_replayed << " replayed from the run store, " << s.llm_retries << " retried, "
      << s.llm_calls_failed << " failed), "
      << s.rollouts << " rollouts (" << s.rollouts_failed << " failed), " << s.informative_groups
      << " informative groups, " << s.stages_failed << " learner stages failed, ";
  if (s.leaks_dropped) out << s.leaks_dropped << " leaking operations dropped, ";
  if (s.evicted) out << s.evicted << " experiences evicted over the cap, ";
  out << s.usage.prompt_tokens
      << " prompt tokens (" << s.usage.cached_tokens << " cached), " << s.usage.completion_tokens
      << " completion tokens, " << s.library.size() << " experiences, " << std::fixed;
  out.precision(1);
  out << s.wall_s << " s";
  auto list = [&out](const char* label, const std::map<std::string, int64_t>& reasons) {
    if (reasons.empty()) return;
    out << "; " << label << ":";
    bool first = true;
    for (const auto& [reason, count] : reasons) {
      out << (first ? " " : ", ") << count << " x " << reason;
      first = false;
    }
  };
  list("failed calls", s.call_failure_reasons);
  list("failed stages", s.stage_failure_reasons);
  list("truncated replies (finish_reason length)", s.truncated_replies);
  if (s.validation_enabled) {
    out << "; validation: " << s.validations_accepted << " accepted, " << s.validations_rejected << " rejected";
    if (s.validation_score) {
      out.precision(3);
      out << ", library in force scores " << *s.validation_score;
    }
  }
  if (!s.spend.empty()) {
    out << "; spend: " << FormatSpend(s.spend, s.pricing);
    out << "; spend by model: " << FormatSpendByModel(s.spend, s.pricing);
  }
  if (s.external) out << "; agents: " << s.external->Line();
  if (s.retrieval_top_k > 0) {
    out << "; retrieval: top " << s.retrieval_top_k << " experiences per prompt";
    if (s.retrieval_fallbacks) out << ", " << s.retrieval_fallbacks << " queries ranked by bm25 after embeddings failed";
  }
  return out.str();
}

}  // namespace tfgrpo
