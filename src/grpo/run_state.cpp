#include "grpo/run_state.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>

#include "tfgrpo/sampler.h"
#include "tfgrpo/util.h"
#include "tfgrpo/version.h"

namespace tfgrpo::grpo_internal {

Result<ResumePoint> ResumeOrStart(RunStore& store, const std::filesystem::path& run_dir,
                                  const std::optional<std::filesystem::path>& init_experiences) {
  ResumePoint point;
  auto latest = store.LatestLibrary();
  if (!latest.ok()) return latest.status();
  if (latest->has_value()) {
    point.done_steps = (*latest)->step;
    if (init_experiences) {
      // A resumed run must start from the library it was created with.
      auto given = Library::Load(*init_experiences);
      if (!given.ok()) return given.status();
      auto initial = store.LibraryAt(0);
      if (!initial.ok()) return initial.status();
      if (initial->value_or(Library()).RenderLines() != given->RenderLines())
        return Status::InvalidArgument("--init-experiences " + init_experiences->string() +
                                       " differs from the library " + run_dir.string() +
                                       " was started with; resume with the same file or none");
    }
    point.library = std::move((*latest)->library);
    if (point.done_steps > 0)
      spdlog::info("resuming {}: {} steps already done, library has {} experiences", run_dir.string(),
                   point.done_steps, point.library.size());
    return point;
  }
  if (init_experiences) {
    auto given = Library::Load(*init_experiences);
    if (!given.ok()) return given.status().WithContext("--init-experiences");
    point.library = std::move(given).value();
    spdlog::info("starting from {} ({} experiences)", init_experiences->string(), point.library.size());
  }
  if (Status s = store.RecordLibrary(0, point.library.ToArtifactJson().dump(), {}); !s.ok()) return s;
  return point;
}

std::string EndpointHost(std::string_view url) {
  size_t start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  std::string_view rest = url.substr(start);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  return std::string(rest);
}

nlohmann::json Provenance(const Config& config, const std::string& train_data_sha256, int steps_done,
                          nlohmann::json validation) {
  char created[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  nlohmann::json provenance = {{"model", config.model.name},
                               {"endpoint_host", EndpointHost(config.model.base_url)},
                               {"tfgrpo_version", std::string(kVersion)},
                               {"created_at", created},
                               {"train_data_sha256", train_data_sha256},
                               {"config_fingerprint", Fingerprint(ConfigFingerprintJson(config).dump())},
                               {"steps_run", steps_done},
                               {"validation", std::move(validation)}};
  // A library learned by one model for another says so.
  if (config.learner_given && config.learner.name != config.model.name)
    provenance["learner_model"] = config.learner.name;
  if (config.judge_given && config.judge.name != config.model.name) provenance["judge_model"] = config.judge.name;
  return provenance;
}

Status RecordLibraryVersion(RunStore& store, int version, const Library& library) {
  std::vector<ExperienceOrigin> origins;
  for (size_t i = 0; i < library.size(); ++i) {
    const auto& e = library.items()[i];
    origins.push_back({"G" + std::to_string(i), e.text, e.step, e.group});
  }
  return store.RecordLibrary(version, library.ToArtifactJson().dump(), origins);
}

void StepTally::Ran(std::string_view stage) {
  std::lock_guard lock(mu_);
  ++counts_[std::string(stage)].ran;
}

void StepTally::Failed(std::string_view stage, const Status& why, bool in_reward) {
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

std::optional<std::string> StepTally::EveryItemFailed() {
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

nlohmann::json StepStatsJson(const StepReport& r) {
  nlohmann::json stats = {{"tasks", r.tasks},
                          {"rollouts", r.rollouts},
                          {"rollouts_failed", r.rollouts_failed},
                          {"mean_reward", r.mean_reward},
                          {"informative_groups", r.informative},
                          {"stages_failed", r.stages_failed},
                          {"proposed_operations", r.proposed},
                          {"consolidation_failed", r.consolidation_calls_failed > 0},
                          {"consolidation_calls", r.consolidation_calls},
                          {"consolidation_calls_failed", r.consolidation_calls_failed},
                          {"leaks_dropped", r.leaks_dropped},
                          {"evicted", r.evicted},
                          {"library_size", r.library_after},
                          {"wall_s", r.wall_s}};
  if (r.agents) stats["agent"] = *r.agents;
  if (r.validation) {
    stats["validation"] = {{"current_score", r.validation->current}, {"candidate_score", r.validation->candidate},
                           {"accepted", r.validation->accepted}, {"samples", r.validation->samples},
                           {"failed", r.validation->failed}};
  }
  return stats;
}

std::string StepLogLine(const StepReport& r) {
  std::string notes;
  if (r.leaks_dropped) notes += ", " + std::to_string(r.leaks_dropped) + " leaking operation(s) dropped";
  if (r.evicted) notes += ", " + std::to_string(r.evicted) + " evicted over the cap";
  if (r.consolidation_calls_failed > 0 && r.consolidation_calls_failed == r.consolidation_calls) {
    notes += ", consolidation failed: library unchanged";
  } else if (r.consolidation_calls_failed > 0) {
    notes += ", consolidation failed for " + std::to_string(r.consolidation_calls_failed) + " of " +
             std::to_string(r.consolidation_calls) + " chunks: their proposals not applied";
  }
  if (r.validation) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "; validation %.3f -> %.3f: %s", r.validation->current, r.validation->candidate,
                  r.validation->accepted ? "accepted" : "rejected, library kept");
    notes += buf;
  }
  char head[200];
  std::snprintf(head, sizeof head, "step %d (epoch %d): mean reward %.3f, %lld/%lld groups informative, ", r.step + 1,
                r.step / r.steps_per_epoch + 1, r.mean_reward, static_cast<long long>(r.informative),
                static_cast<long long>(r.tasks));
  return std::string(head) + "library " + std::to_string(r.library_before) + " -> " +
         std::to_string(r.library_after) + " experiences" + notes;
}

}  // namespace tfgrpo::grpo_internal
