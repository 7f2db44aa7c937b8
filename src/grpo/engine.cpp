#include "tfgrpo/engine.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>

#include "tfgrpo/recording_client.h"
#include "tfgrpo/agent.h"
#include "tfgrpo/data.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/store.h"
#include "tfgrpo/thread_pool.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using Clock = std::chrono::steady_clock;

// Learner calls (summaries, advantages) get a little diversity; library edits are made as
// deterministic as the provider allows.
constexpr double kLearnerTemperature = 0.3;
constexpr double kUpdateTemperature = 0.0;

// A bad key, or a run store that cannot be written, stops the whole run; anything else fails only
// the rollout or stage it happened in.
bool IsFatal(const Status& s) {
  return s.code() == Status::Code::kUnauthorized || s.code() == Status::Code::kIoError ||
         s.code() == Status::Code::kInternal;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string FormatReward(double r) {
  std::ostringstream ss;
  ss << r;
  return ss.str();
}

struct Rollout {
  bool ok = false;
  std::string reply;
  double reward = 0;
  std::string summary;
  bool summary_ok = false;
};

struct Group {
  const Task* task = nullptr;
  std::vector<Rollout> rollouts;
  std::atomic<int> pending{0};
  std::vector<Operation> operations;  // proposed by this group's update call
};

// Runs the whole practice loop for one `tfgrpo train` invocation.
class Trainer {
 public:
  Trainer(const Config& config, const TrainOptions& options, ChatClient& client)
      : config_(config), options_(options), raw_client_(client),
        progress_(options.progress ? *options.progress : NullProgress()) {}
  ~Trainer() {
    pool_.reset();  // jobs reference everything else
    if (lock_fd_ >= 0) ::close(lock_fd_);
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

  std::vector<Operation> Consolidate(int step, const std::vector<Group>& groups, bool* failed);
  // One learner call: the template named after `role` (summary, advantage, group_update,
  // batch_update) rendered into a single user message. A template that cannot be rendered stops
  // the run; a failed call is recorded as a failure of that stage for `task_id`. On success the
  // progress stage `progress_stage` advances.
  Result<ChatResponse> AskLearner(Role role, const PromptVars& vars, double temperature, std::string call_id,
                                  int step, const std::string& task_id, const std::string& progress_stage);
  // The library as the learner prompts show it.
  std::string LibraryForPrompt() const { return library_.empty() ? "(empty)" : library_.RenderLines(); }
  void RecordStageFailure(int step, const std::string& task_id, const std::string& stage,
                          const Status& status);
  void SetFatal(const Status& status);
  bool aborted() const { return fatal_flag_.load(); }
  Status WriteLibraryFiles(int step);

  const Config& config_;
  const TrainOptions& options_;
  ChatClient& raw_client_;
  Progress& progress_;

  std::vector<Task> tasks_;
  PromptSet prompts_;
  std::unique_ptr<RunStore> store_;
  std::unique_ptr<RecordingClient> client_;
  std::unique_ptr<RewardFn> reward_;
  std::unique_ptr<ToolRunner> tools_;  // agent mode only
  std::unique_ptr<ThreadPool> pool_;
  Library library_;
  int lock_fd_ = -1;

  // Per-step coordination.
  std::mutex step_mu_;
  std::condition_variable step_cv_;
  int groups_remaining_ = 0;

  std::atomic<bool> fatal_flag_{false};
  std::mutex fatal_mu_;
  Status fatal_;

  // Counts for the step in progress; RunStep adds them to the run's totals when the step ends.
  std::atomic<int64_t> step_rollouts_failed_{0}, step_stages_failed_{0}, step_informative_{0};
  std::mutex reward_mu_;
  double step_reward_sum_ = 0;
  int64_t step_reward_count_ = 0;
  std::mutex reasons_mu_;
  std::map<std::string, int64_t> stage_reasons_;
};

Status Trainer::Prepare() {
  if (config_.data.train.empty())
    return Status::InvalidArgument(config_.source.string() + ": missing required key 'data.train'");
  auto tasks = LoadTasks(config_.data.train, config_.data.problem_key, config_.data.answer_key);
  if (!tasks.ok()) return tasks.status();
  tasks_ = std::move(tasks).value();

  auto prompts = PromptSet::Load(options_.prompts_dir);
  if (!prompts.ok()) return prompts.status();
  prompts_ = std::move(prompts).value();

  std::error_code ec;
  std::filesystem::create_directories(options_.run_dir, ec);
  if (ec) return Status::IoError("cannot create run dir " + options_.run_dir.string() + ": " + ec.message());
  // Two processes training into one run dir would interleave their records; the kernel drops the
  // lock when a process dies, so a killed run never blocks its own resume.
  lock_fd_ = ::open((options_.run_dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return Status::IoError("run dir " + options_.run_dir.string() +
                           " is in use by another tfgrpo process (or its lock file cannot be opened)");
  auto store = RunStore::Open(options_.run_dir / "run.db");
  if (!store.ok()) return store.status();
  store_ = std::move(store).value();
  Status s = store_->BeginOrResume(ConfigFingerprintJson(config_).dump());
  if (!s.ok()) return s;

  client_ = std::make_unique<RecordingClient>(raw_client_, *store_, config_.model.name, config_.model.max_tokens);
  auto reward = MakeReward(config_.task.reward, client_.get(), prompts_, config_.task.math_precision);
  if (!reward.ok()) return reward.status();
  reward_ = std::move(reward).value();
  auto tools = MakeToolsFor(config_);
  if (!tools.ok()) return tools.status();
  tools_ = std::move(tools).value();
  pool_ = std::make_unique<ThreadPool>(config_.model.concurrency);
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
                                 const Status& status) {
  ++step_stages_failed_;
  {
    std::lock_guard lock(reasons_mu_);
    ++stage_reasons_[stage + ": " + ShortReason(status)];
  }
  spdlog::warn("step {} task {}: {} failed: {}", step, task_id, stage, status.ToString());
  Status s = store_->RecordFailure({step, task_id, stage, status.ToString()});
  if (!s.ok()) SetFatal(s);
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
  auto r = client_->Complete(req);
  if (r.ok()) {
    progress_.Advance(progress_stage, r->usage.prompt_tokens + r->usage.completion_tokens);
    return r;
  }
  const Status& st = r.status();
  if (IsFatal(st)) {
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
    RolloutSpec spec;
    spec.system_prompt = system_prompt;
    spec.problem = g.task->problem;
    spec.temperature = config_.practice.rollout_temperature;
    spec.call_id = "s" + std::to_string(step) + "/t" + g.task->id + "/r" + std::to_string(sample);

    RolloutRecord rec;
    rec.step = step;
    rec.task_id = g.task->id;
    rec.sample = sample;
    rec.library_version = step;
    auto r = RunRollout(*client_, spec, config_.task, tools_.get());
    if (r.ok()) {
      rec.prompt_tokens = r->usage.prompt_tokens;
      rec.completion_tokens = r->usage.completion_tokens;
      rec.latency_ms = r->latency_ms;
      rec.messages_json = r->messages.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      auto score = reward_->Score(*g.task, r->final_reply, spec.call_id + "/judge");
      if (score.ok()) {
        ro.ok = true;
        ro.reply = std::move(r->trajectory);
        ro.reward = score->score;
        rec.reward = score->score;
        rec.answer = score->extracted;
      } else {
        rec.error = "reward: " + score.status().ToString();
        if (IsFatal(score.status())) SetFatal(score.status());
      }
    } else {
      rec.error = r.status().ToString();
      if (IsFatal(r.status())) SetFatal(r.status());
    }
    if (!ro.ok) {
      ++step_rollouts_failed_;
      if (!aborted()) spdlog::warn("step {} task {} sample {}: rollout failed: {}", step, g.task->id, sample, rec.error);
    } else {
      std::lock_guard lock(reward_mu_);
      step_reward_sum_ += ro.reward;
      ++step_reward_count_;
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
  bool informative = rewards.size() >= 2;
  if (informative && config_.practice.given_ground_truth) {
    // Standard deviation > 0, i.e. the rewards are not all equal: only then is there a
    // winner/loser contrast to learn from.
    double mean = 0;
    for (double r : rewards) mean += r;
    mean /= rewards.size();
    double var = 0;
    for (double r : rewards) var += (r - mean) * (r - mean);
    informative = var > 0;
  }
  if (!informative) return FinishGroup();
  ++step_informative_;
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
    const bool gt = config_.practice.given_ground_truth;
    auto r = AskLearner(Role::kSummary,
                        {{"problem", g.task->problem},
                         {"trajectory", ro.reply},
                         {"ground_truth", gt ? g.task->answer : ""},
                         {"reward", gt ? FormatReward(ro.reward) : ""},
                         {"agent_objective", config_.practice.agent_objective}},
                        kLearnerTemperature,
                        "s" + std::to_string(step) + "/t" + g.task->id + "/summary" + std::to_string(sample), step,
                        g.task->id, "summaries");
    if (r.ok()) {
      ro.summary = r->content;
      ro.summary_ok = true;
    }
  }
  if (--g.pending == 0) OnSummariesDone(step, g);
}

void Trainer::OnSummariesDone(int step, Group& g) {
  if (aborted()) return FinishGroup();
  const bool gt = config_.practice.given_ground_truth;
  std::string summaries;
  int n = 0;
  for (const auto& ro : g.rollouts) {
    if (!ro.summary_ok) continue;
    ++n;
    summaries += "### Attempt " + std::to_string(n);
    if (gt) summaries += " (reward " + FormatReward(ro.reward) + ")";
    summaries += "\n" + Trim(ro.summary) + "\n\n";
  }
  // A lost summary costs one attempt, not the group, as long as a comparison is still possible.
  if (n < 2) return FinishGroup();  // the failed summaries were recorded as they failed
  const std::string tag = "s" + std::to_string(step) + "/t" + g.task->id;

  auto adv_reply = AskLearner(Role::kAdvantage,
                              {{"problem", g.task->problem},
                               {"ground_truth", gt ? g.task->answer : ""},
                               {"summaries", Trim(summaries)},
                               {"max_experiences", std::to_string(config_.practice.experiences_per_group)},
                               {"agent_objective", config_.practice.agent_objective},
                               {"learning_objective", config_.practice.learning_objective}},
                              kLearnerTemperature, tag + "/advantage", step, g.task->id, "advantages");
  if (!adv_reply.ok()) return FinishGroup();
  auto experiences = ParseExperiences(adv_reply->content, config_.practice.experiences_per_group);
  if (!experiences.ok()) {
    RecordStageFailure(step, g.task->id, "advantage", experiences.status());
    return FinishGroup();
  }

  std::string numbered;
  for (size_t i = 0; i < experiences->size(); ++i)
    numbered += std::to_string(i + 1) + ". " + (*experiences)[i] + "\n";
  auto upd_reply = AskLearner(Role::kGroupUpdate,
                              {{"library", LibraryForPrompt()},
                               {"experiences", Trim(numbered)},
                               {"learning_objective", config_.practice.learning_objective}},
                              kUpdateTemperature, tag + "/group_update", step, g.task->id, "updates");
  if (!upd_reply.ok()) return FinishGroup();
  auto ops = ParseOperations(upd_reply->content);
  if (!ops.ok()) {
    RecordStageFailure(step, g.task->id, "group_update", ops.status());
    return FinishGroup();
  }
  for (auto& op : *ops) op.group = g.task->id;
  g.operations = std::move(ops).value();
  FinishGroup();
}

// Which proposing group an operation of the consolidated set came from: the proposal with the
// same content, else the one sharing the most words.
std::string OriginGroup(const Operation& op, const std::vector<Operation>& proposed) {
  std::set<std::string> words;
  std::istringstream in(ToLower(op.content));
  for (std::string w; in >> w;) words.insert(w);
  std::string best;
  size_t best_overlap = 0;
  for (const auto& p : proposed) {
    if (Trim(p.content) == Trim(op.content)) return p.group;
    std::istringstream pin(ToLower(p.content));
    size_t overlap = 0;
    for (std::string w; pin >> w;) overlap += words.count(w);
    if (overlap > best_overlap) {
      best_overlap = overlap;
      best = p.group;
    }
  }
  return best;
}

std::vector<Operation> Trainer::Consolidate(int step, const std::vector<Group>& groups, bool* failed) {
  *failed = false;
  std::vector<Operation> proposed;
  for (const auto& g : groups)  // batch order, not completion order: the prompt is deterministic
    for (const auto& op : g.operations)
      if (op.kind != OpKind::kNone) proposed.push_back(op);
  if (proposed.empty()) return {};

  progress_.Begin("consolidation", 1);
  auto reply = AskLearner(Role::kBatchUpdate,
                          {{"library", LibraryForPrompt()}, {"operations", OperationsToJson(proposed).dump(2)}},
                          kUpdateTemperature, "s" + std::to_string(step) + "/batch_update", step, "", "consolidation");
  progress_.End("consolidation");
  if (aborted()) return {};
  Result<std::vector<Operation>> ops = reply.ok() ? ParseOperations(reply->content) : reply.status();
  if (reply.ok() && !ops.ok()) RecordStageFailure(step, "", "batch_update", ops.status());
  if (!ops.ok()) {
    // The groups' work is not thrown away: apply their proposals as they are, minus exact
    // duplicates, which is what a consolidation would at least have done.
    *failed = true;
    std::vector<Operation> fallback;
    std::set<std::string> seen;
    for (const auto& op : proposed)
      if (seen.insert(std::string(OpKindName(op.kind)) + "\n" + op.id.value_or("") + "\n" + Trim(op.content)).second)
        fallback.push_back(op);
    return fallback;
  }
  for (auto& op : *ops) op.group = OriginGroup(op, proposed);
  return std::move(ops).value();
}

Status Trainer::WriteLibraryFiles(int step) {
  std::error_code ec;
  std::filesystem::create_directories(options_.run_dir / "steps" / std::to_string(step), ec);
  Status s = library_.Save(options_.run_dir / "steps" / std::to_string(step) / "experiences.json");
  if (!s.ok()) return s;
  return library_.Save(options_.run_dir / "experiences.json");
}

Status Trainer::RunStep(int step, const std::vector<const Task*>& batch, TrainSummary& totals) {
  const auto start = Clock::now();
  const int G = config_.practice.group_size;
  std::vector<Group> groups(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    groups[i].task = batch[i];
    groups[i].rollouts.resize(G);
    groups[i].pending = G;
  }
  step_rollouts_failed_ = step_stages_failed_ = step_informative_ = 0;
  step_reward_sum_ = 0;
  step_reward_count_ = 0;
  groups_remaining_ = static_cast<int>(groups.size());

  // Byte-identical for every rollout of the step, so provider prefix caches hit.
  const std::string system_prompt = AppendLibrary(RolloutInstructions(config_.task), library_);
  progress_.Begin("rollouts", static_cast<int64_t>(batch.size()) * G);
  progress_.Begin("summaries", 0);
  progress_.Begin("advantages", 0);
  progress_.Begin("updates", 0);
  for (auto& g : groups)
    for (int i = 0; i < G; ++i) pool_->Submit([this, step, &g, i, &system_prompt] { RolloutJob(step, g, i, system_prompt); });
  {
    std::unique_lock lock(step_mu_);
    step_cv_.wait(lock, [this] { return groups_remaining_ == 0 || aborted(); });
  }
  pool_->Wait();  // nothing may still reference `groups` once we return
  for (auto stage : {"rollouts", "summaries", "advantages", "updates"}) progress_.End(stage);
  if (aborted()) return fatal_;

  bool consolidation_failed = false;
  const size_t size_before = library_.size();
  std::vector<Operation> ops = Consolidate(step, groups, &consolidation_failed);
  if (aborted()) return fatal_;
  library_.Apply(ops, step);

  std::vector<ExperienceOrigin> origins;
  for (size_t i = 0; i < library_.size(); ++i) {
    const auto& e = library_.items()[i];
    origins.push_back({"G" + std::to_string(i), e.text, e.step, e.group});
  }
  Status s = store_->RecordLibrary(step + 1, library_.ToJson().dump(), origins);
  if (!s.ok()) return s;
  s = WriteLibraryFiles(step + 1);
  if (!s.ok()) return s;

  int64_t proposed = 0;
  for (const auto& g : groups) proposed += static_cast<int64_t>(g.operations.size());
  const double mean_reward = step_reward_count_ ? step_reward_sum_ / step_reward_count_ : 0;
  nlohmann::json stats = {{"tasks", batch.size()},
                          {"rollouts", batch.size() * G},
                          {"rollouts_failed", step_rollouts_failed_.load()},
                          {"mean_reward", mean_reward},
                          {"informative_groups", step_informative_.load()},
                          {"stages_failed", step_stages_failed_.load()},
                          {"proposed_operations", proposed},
                          {"consolidation_failed", consolidation_failed},
                          {"library_size", library_.size()},
                          {"wall_s", Seconds(start)}};
  const int steps_per_epoch =
      (static_cast<int>(tasks_.size()) + config_.practice.batch_size - 1) / config_.practice.batch_size;
  s = store_->RecordStep({step, step / steps_per_epoch, step % steps_per_epoch, stats.dump()});
  if (!s.ok()) return s;
  totals.rollouts += static_cast<int64_t>(batch.size()) * G;
  totals.rollouts_failed += step_rollouts_failed_;
  totals.stages_failed += step_stages_failed_;
  totals.informative_groups += step_informative_;
  spdlog::info("step {} (epoch {}): mean reward {:.3f}, {}/{} groups informative, library {} -> {} experiences{}",
               step + 1, step / steps_per_epoch + 1, mean_reward, step_informative_.load(), batch.size(),
               size_before, library_.size(), consolidation_failed ? " (consolidation failed; proposals applied as-is)" : "");
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
    nlohmann::json j;
    try {
      j = nlohmann::json::parse((*latest)->second);
    } catch (const std::exception& e) {
      return Status::Internal("run.db holds an unreadable library for step " + std::to_string(done_steps));
    }
    auto lib = Library::FromJson(j);
    if (!lib.ok()) return lib.status().WithContext("run.db library of step " + std::to_string(done_steps));
    library_ = std::move(lib).value();
    if (done_steps > 0) spdlog::info("resuming {}: {} steps already done, library has {} experiences",
                                     options_.run_dir.string(), done_steps, library_.size());
  } else {
    s = store_->RecordLibrary(0, library_.ToJson().dump(), {});
    if (!s.ok()) return s;
  }
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
    if (!s.ok()) return s;
    ++summary.steps_run;
  }

  summary.llm_calls = client_->sent() + client_->replayed();
  summary.llm_calls_replayed = client_->replayed();
  summary.llm_calls_failed = client_->failed();
  summary.llm_retries = client_->retries();
  summary.call_failure_reasons = client_->failure_reasons();
  summary.stage_failure_reasons = stage_reasons_;
  summary.usage = client_->sent_usage();
  summary.wall_s = Seconds(start);
  summary.library = library_;
  return summary;
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
      << " informative groups, " << s.stages_failed << " learner stages failed, " << s.usage.prompt_tokens
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
  return out.str();
}

}  // namespace tfgrpo
