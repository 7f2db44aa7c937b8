#include "grpo/validation_gate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "tfgrpo/agent.h"
#include "tfgrpo/sampler.h"
#include "tfgrpo/util.h"

namespace tfgrpo::grpo_internal {

Status SplitValidationTasks(const Config& config, std::vector<Task>& train, std::vector<Task>& validation) {
  const ValidationConfig& v = config.practice.validation;
  if (!v.enabled) return Status::Ok();
  const size_t wanted = static_cast<size_t>(v.tasks);
  // Chosen with the seed, kept in file order.
  auto choose = [&](size_t n) {
    std::vector<size_t> order = ShuffledIndices(n, Fnv1a64("validation", config.practice.seed));
    order.resize(std::min(n, wanted));
    std::sort(order.begin(), order.end());
    return order;
  };
  if (!v.data.empty()) {
    auto loaded = LoadTasks(v.data, config.data.problem_key, config.data.answer_key, config.data.max_task_bytes);
    if (!loaded.ok()) return loaded.status().WithContext("practice.validation.data");
    for (size_t i : choose(loaded->size())) validation.push_back((*loaded)[i]);
    if (validation.empty())
      return Status::InvalidArgument(v.data.string() + ": practice.validation.data holds no task");
    return Status::Ok();
  }
  if (train.size() <= wanted) {
    return Status::InvalidArgument(config.source.string() + ": practice.validation.tasks (" + std::to_string(wanted) +
                                   ") would hold out every one of the " + std::to_string(train.size()) +
                                   " train tasks; lower it or give practice.validation.data");
  }
  std::vector<size_t> held = choose(train.size());
  std::vector<Task> kept;
  size_t next = 0;
  for (size_t i = 0; i < train.size(); ++i) {
    if (next < held.size() && held[next] == i) {
      validation.push_back(std::move(train[i]));
      ++next;
    } else {
      kept.push_back(std::move(train[i]));
    }
  }
  train = std::move(kept);
  return Status::Ok();
}

Verdict Decide(double current, double candidate, double tolerance) {
  Verdict verdict;
  verdict.current = current;
  verdict.candidate = candidate;
  verdict.accepted = candidate >= current - tolerance;
  char reason[160];
  std::snprintf(reason, sizeof reason, "candidate %.4f %s current %.4f - tolerance %g", candidate,
                verdict.accepted ? ">=" : "<", current, tolerance);
  verdict.reason = reason;
  return verdict;
}

Result<double> ValidationGate::Score(const Library& library, int version, int64_t* samples, int64_t* failed) {
  const Config& config = ctx_.config;
  const ValidationConfig& v = config.practice.validation;
  std::vector<std::string> queries;
  for (const Task& t : tasks_) queries.push_back(t.problem);
  SamplerSetup setup{ctx_.client,
                     ctx_.reward,
                     config.task,
                     ctx_.tools,
                     AppendLibrary(RolloutInstructions(config.task, ctx_.tools), library),
                     config.eval.temperature,
                     Role::kValidation,
                     StepScope(version) + "/val",
                     {},
                     nullptr};
  ExternalSampling external{ctx_.external, &library};
  if (ctx_.retriever) {
    RolloutPrompts prompts = PromptsForTasks(ctx_.retriever, RolloutInstructions(config.task, ctx_.tools), library, queries);
    setup.task_prompts = std::move(prompts.system_prompts);
    external.task_positions = std::move(prompts.seen);
  }
  if (ctx_.external) setup.external = &external;
  ctx_.progress.Begin("validation", static_cast<int64_t>(tasks_.size()) * v.k);
  SampleGrid grid = SampleTasks(ctx_.pool, setup, tasks_, v.k, [this](size_t, int, const ScoredSample& sample) {
    int64_t tokens = 0;
    if (sample.rollout) tokens += sample.rollout->usage.prompt_tokens + sample.rollout->usage.completion_tokens;
    ctx_.progress.Advance("validation", tokens);
  });
  ctx_.progress.End("validation");
  if (grid.fatal) return *grid.fatal;
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

Status ValidationGate::LoadOrScoreCurrent(const Library& library, int done_steps) {
  if (!enabled()) return Status::Ok();
  auto records = ctx_.store.Validations();
  if (!records.ok()) return records.status();
  for (const ValidationRecord& r : *records) {
    if (r.step <= done_steps && r.accepted) score_ = r.candidate_score;
    if (r.step > 0 && r.step <= done_steps) ++(r.accepted ? accepted_ : rejected_);
  }
  if (score_) return Status::Ok();
  int64_t samples = 0, failed = 0;
  auto score = Score(library, done_steps, &samples, &failed);
  if (!score.ok()) return score.status();
  score_ = *score;
  ValidationRecord rec;
  rec.step = done_steps;
  rec.current_score = rec.candidate_score = *score;
  rec.accepted = true;
  rec.samples = samples;
  rec.failed = failed;
  rec.reason = "the starting library";
  rec.candidate_json = library.ToArtifactJson().dump();
  spdlog::info("validation: the starting library scores {:.3f} on {} tasks x {}", *score, tasks_.size(),
               ctx_.config.practice.validation.k);
  return ctx_.store.RecordValidation(rec);
}

Result<Verdict> ValidationGate::Judge(int step, const Library& candidate) {
  const ValidationConfig& v = ctx_.config.practice.validation;
  int64_t samples = 0, failed = 0;
  auto score = Score(candidate, step + 1, &samples, &failed);
  if (!score.ok()) return score.status();
  Verdict verdict = Decide(score_.value_or(0), *score, v.tolerance);
  verdict.samples = samples;
  verdict.failed = failed;
  ValidationRecord rec;
  rec.step = step + 1;
  rec.current_score = verdict.current;
  rec.candidate_score = verdict.candidate;
  rec.accepted = verdict.accepted;
  rec.samples = verdict.samples;
  rec.failed = verdict.failed;
  rec.reason = verdict.reason;
  rec.candidate_json = candidate.ToArtifactJson().dump();
  if (Status s = ctx_.store.RecordValidation(rec); !s.ok()) return s;
  nlohmann::json file = {{"step", step + 1},          {"current_score", verdict.current},
                         {"candidate_score", verdict.candidate}, {"accepted", verdict.accepted},
                         {"tolerance", v.tolerance},  {"samples", verdict.samples},
                         {"failed", verdict.failed},  {"reason", verdict.reason}};
  if (!verdict.accepted) file["rejected_candidate"] = candidate.ToArtifactJson();
  if (Status s = ctx_.run_dir.WriteStepJson(step + 1, "validation.json", file); !s.ok()) return s;
  if (verdict.accepted) {
    score_ = verdict.candidate;
    ++accepted_;
  } else {
    ++rejected_;
  }
  return verdict;
}

nlohmann::json ValidationGate::Provenance(int steps_done) const {
  if (!enabled()) return nullptr;
  const ValidationConfig& v = ctx_.config.practice.validation;
  nlohmann::json history = nlohmann::json::array();
  auto records = ctx_.store.Validations();
  if (records.ok()) {  // a store that cannot be read leaves the history out, not the library
    for (const ValidationRecord& r : *records) {
      if (r.step > steps_done) continue;  // a re-run step's leftover
      history.push_back({{"step", r.step}, {"current", r.current_score}, {"candidate", r.candidate_score},
                         {"accepted", r.accepted}});
    }
  }
  return {{"tasks", tasks_.size()},
          {"k", v.k},
          {"tolerance", v.tolerance},
          {"score", score_ ? nlohmann::json(*score_) : nlohmann::json()},
          {"history", history}};
}

}  // namespace tfgrpo::grpo_internal
