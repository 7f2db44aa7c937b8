#include "tfgrpo/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "grpo/consolidation.h"
#include "grpo/group.h"
#include "grpo/run_context.h"
#include "grpo/run_dir.h"
#include "grpo/run_state.h"
#include "grpo/step_pipeline.h"
#include "grpo/validation_gate.h"
#include "tfgrpo/agent.h"
#include "tfgrpo/budget.h"
#include "tfgrpo/data.h"
#include "tfgrpo/external_sampling.h"
#include "tfgrpo/leak_guard.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/recording_client.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/store.h"
#include "tfgrpo/thread_pool.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using namespace grpo_internal;  // NOLINT: the engine is assembled from the grpo module's parts
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// Runs the whole practice loop for one `tfgrpo train` invocation: sets up the run (Prepare),
// resumes it where it stopped, and runs its remaining steps.
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
  // Adopts the step's candidate library unless the validation gate rejected it; the experiences
  // evicted over the cap are recorded only when adopted (a rejected candidate evicted nothing).
  Status Adopt(int step, Library candidate, std::vector<Experience>& evicted, const std::optional<Verdict>& verdict);
  // The step's stats row in the run store and its log line.
  Status Report(int step, size_t tasks, size_t library_before, StepState& st, size_t proposed,
                const Consolidation& consolidation, size_t evicted, const std::optional<Verdict>& verdict,
                std::optional<nlohmann::json> agents, Clock::time_point start, TrainSummary& totals);
  Status WriteLibraryFiles(int step);
  Status FinishWithBudget(const Status& status);
  // Tokens per role of every call the run dir has recorded, over all invocations.
  Result<SpendByRole> SpendInStore() const;
  int StepsPerEpoch() const {
    return (static_cast<int>(tasks_.size()) + config_.practice.batch_size - 1) / config_.practice.batch_size;
  }

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
  std::unique_ptr<RunContext> ctx_;
  std::unique_ptr<StepPipeline> pipeline_;
  std::unique_ptr<ValidationGate> validation_;  // practice.validation (does nothing when off)
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
  if (Status s = grpo_internal::SplitValidationTasks(config_, tasks_, validation_tasks_); !s.ok()) return s;
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
  auto spent = SpendInStore();
  if (!spent.ok()) return spent.status();
  budget_ = std::make_unique<BudgetGate>(raw_client_, config_.budget, PricingOf(config_), *spent);
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
  ctx_ = std::make_unique<RunContext>(config_, progress_, *store_, *client_, prompts_);
  pipeline_ = std::make_unique<StepPipeline>(*ctx_, *pool_, *reward_, tools_, retriever_.get(), external_.get());
  validation_ = std::make_unique<ValidationGate>(
      ValidationGate::Context{config_, *client_, *reward_, &tools_, retriever_.get(), *pool_, progress_, *store_,
                              *run_dir_, external_.get()},
      validation_tasks_);
  return Status::Ok();
}

Status Trainer::RunStep(int step, const std::vector<const Task*>& batch, TrainSummary& totals) {
  const auto start = Clock::now();
  const ExternalCounts agents_before = external_ ? external_->counts() : ExternalCounts{};
  StepState st;
  // Not recorded as done, so a re-run does this step again; what was recorded stays (the calls
  // that succeeded are replayed, the failed ones sent again).
  auto step_failed = [&st, step]() -> std::optional<Status> {
    if (auto what = st.tally.EveryItemFailed())
      return Status::Unavailable("step " + std::to_string(step + 1) + ": " + *what);
    return std::nullopt;
  };

  // 1. Each task's group: rollouts scored; for informative groups, summaries, a semantic
  //    advantage and the group's proposed operations.
  const std::vector<Operation> proposed = pipeline_->Run(step, batch, library_, st);
  if (ctx_->aborted()) return ctx_->fatal();
  if (auto failed = step_failed()) return *failed;

  // 2. Credit first, so the consolidation prompt shows what the step's rollouts learned about
  //    the experiences they applied.
  ApplyCredit(library_, st.credit);

  // 3. The proposals merged into a candidate library, which then keeps to the cap.
  const size_t size_before = library_.size();
  Library candidate = library_;
  const Consolidation consolidation = Consolidate(*ctx_, st, leak_guard_, step, proposed, candidate);
  if (ctx_->aborted()) return ctx_->fatal();
  if (auto failed = step_failed()) return *failed;
  std::vector<Experience> evicted =
      candidate.EvictOverCap(static_cast<size_t>(std::max(0, config_.practice.max_experiences)));

  // 4. practice.validation: the candidate must score no worse than the library in force.
  std::optional<Verdict> verdict;
  if (validation_->enabled()) {
    auto judged = validation_->Judge(step, candidate);
    if (!judged.ok()) return judged.status();
    verdict = *judged;
  }

  // 5. The library in force after the step, recorded with the step's stats.
  if (Status s = Adopt(step, std::move(candidate), evicted, verdict); !s.ok()) return s;
  leaks_dropped_ += consolidation.leaks_dropped;
  evicted_ += static_cast<int64_t>(evicted.size());
  if (Status s = RecordLibraryVersion(*store_, step + 1, library_); !s.ok()) return s;
  if (Status s = WriteLibraryFiles(step + 1); !s.ok()) return s;
  std::optional<nlohmann::json> agents;
  if (external_) agents = (external_->counts() - agents_before).ToJson();
  return Report(step, batch.size(), size_before, st, proposed.size(), consolidation, evicted.size(), verdict,
                std::move(agents), start, totals);
}

Status Trainer::Adopt(int step, Library candidate, std::vector<Experience>& evicted,
                      const std::optional<Verdict>& verdict) {
  if (verdict && !verdict->accepted) {
    evicted.clear();  // the library in force lost nothing
    return Status::Ok();
  }
  library_ = std::move(candidate);
  for (const Experience& e : evicted) {
    Status s = store_->RecordFailure({step, e.origin_task, "eviction",
                                      "library over practice.max_experiences (" +
                                          std::to_string(config_.practice.max_experiences) + "): evicted helpful=" +
                                          std::to_string(e.helpful) + " harmful=" + std::to_string(e.harmful) +
                                          ": " + e.text});
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Trainer::Report(int step, size_t tasks, size_t library_before, StepState& st, size_t proposed,
                       const Consolidation& consolidation, size_t evicted, const std::optional<Verdict>& verdict,
                       std::optional<nlohmann::json> agents, Clock::time_point start, TrainSummary& totals) {
  StepReport report;
  report.step = step;
  report.steps_per_epoch = StepsPerEpoch();
  report.tasks = static_cast<int64_t>(tasks);
  report.rollouts = static_cast<int64_t>(tasks) * config_.practice.group_size;
  report.rollouts_failed = st.rollouts_failed;
  report.informative = st.informative;
  report.stages_failed = st.stages_failed;
  report.proposed = static_cast<int64_t>(proposed);
  report.consolidation_calls = consolidation.chunks;
  report.consolidation_calls_failed = consolidation.chunks_failed;
  report.leaks_dropped = consolidation.leaks_dropped;
  report.evicted = static_cast<int64_t>(evicted);
  report.library_before = library_before;
  report.library_after = library_.size();
  report.mean_reward = st.MeanReward();
  report.wall_s = Seconds(start);
  report.agents = std::move(agents);
  if (verdict)
    report.validation = {verdict->current, verdict->candidate, verdict->accepted, verdict->samples, verdict->failed};
  Status s = store_->RecordStep({step, step / report.steps_per_epoch, step % report.steps_per_epoch,
                                 StepStatsJson(report).dump()});
  if (!s.ok()) return s;
  totals.rollouts += report.rollouts;
  totals.rollouts_failed += report.rollouts_failed;
  totals.stages_failed += report.stages_failed;
  totals.informative_groups += report.informative;
  spdlog::info("{}", StepLogLine(report));
  return Status::Ok();
}

Status Trainer::WriteLibraryFiles(int step) {
  return run_dir_->WriteLibrary(step, library_,
                                Provenance(config_, train_data_sha256_, step, validation_->Provenance(step)));
}

Result<TrainSummary> Trainer::Run() {
  const auto start = Clock::now();
  Status s = Prepare();
  if (!s.ok()) return s;

  auto resume = ResumeOrStart(*store_, options_.run_dir, options_.init_experiences);
  if (!resume.ok()) return resume.status();
  const int done_steps = resume->done_steps;
  library_ = std::move(resume->library);
  // The step this invocation picks up was not recorded as done; if it stopped because every
  // rollout was refused, replaying those refusals would stop it again however the setup changed.
  recording_->ResendRefusalsUnder(StepScope(done_steps) + "/");
  s = validation_->LoadOrScoreCurrent(library_, done_steps);
  if (!s.ok()) return FinishWithBudget(s);
  s = WriteLibraryFiles(done_steps);
  if (!s.ok()) return s;

  const int batch_size = config_.practice.batch_size;
  const int n = static_cast<int>(tasks_.size());
  const int steps_per_epoch = StepsPerEpoch();
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

  auto spend = SpendInStore();
  if (!spend.ok()) return spend.status();
  summary.llm_calls = recording_->sent() + recording_->replayed();
  summary.llm_calls_replayed = recording_->replayed();
  summary.llm_calls_failed = recording_->failed();
  summary.llm_retries = recording_->retries();
  summary.call_failure_reasons = recording_->failure_reasons();
  summary.stage_failure_reasons = ctx_->stage_reasons();
  summary.leaks_dropped = leaks_dropped_;
  summary.evicted = evicted_;
  summary.truncated_replies = client_->truncated();
  summary.usage = recording_->sent_usage();
  summary.wall_s = Seconds(start);
  summary.library = library_;
  summary.validation_enabled = config_.practice.validation.enabled;
  summary.validations_accepted = validation_->accepted();
  summary.validations_rejected = validation_->rejected();
  summary.validation_score = validation_->score();
  if (external_) summary.external = external_->counts();
  summary.pricing = PricingOf(config_);
  summary.spend = std::move(spend).value();
  if (retriever_) {
    summary.retrieval_top_k = retriever_->top_k();
    summary.retrieval_fallbacks = retriever_->stats().fallbacks;
  }
  return summary;
}

Result<SpendByRole> Trainer::SpendInStore() const {
  auto tokens = store_->TokensByRole();
  if (!tokens.ok()) return tokens.status();
  SpendByRole spend;
  for (const auto& [role, t] : *tokens) spend[role] = {t.prompt_tokens, t.completion_tokens, t.cached_tokens};
  return spend;
}

Status Trainer::FinishWithBudget(const Status& status) {
  if (status.code() != Status::Code::kBudgetExhausted) return status;
  // The status that stopped the run carries the context of the call that hit the limit; the
  // user wants the figures, as of now that the calls in flight have finished.
  if (auto spend = SpendInStore(); spend.ok())
    spdlog::info("spend of {} so far: {}", options_.run_dir.string(), FormatSpend(*spend, PricingOf(config_)));
  return budget_->ExhaustedStatus();
}

}  // namespace

Result<TrainSummary> Train(const Config& config, const TrainOptions& options, ChatClient& client) {
  Trainer trainer(config, options, client);
  return trainer.Run();
}

}  // namespace tfgrpo
