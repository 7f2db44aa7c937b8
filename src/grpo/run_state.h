// The run's state in its run dir: where a run picks up (resume), the provenance its library
// files carry, each library version recorded (run store and files), and each step's tally and
// stats. Private to the grpo module. StepTally is thread-safe; the rest runs on the training
// thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "grpo/run_dir.h"
#include "tfgrpo/config.h"
#include "tfgrpo/library.h"
#include "tfgrpo/status.h"
#include "tfgrpo/store.h"

namespace tfgrpo::grpo_internal {

// Where a run picks up: the steps already done and the library in force after them.
struct ResumePoint {
  int done_steps = 0;
  Library library;
};

// A new run (nothing recorded) starts from `init_experiences` (or an empty library), recorded as
// version 0; a run dir with recorded libraries resumes from the latest. A resumed run given
// `init_experiences` must be given the library it started with: another is an InvalidArgument
// naming both. Errors of the file carry "--init-experiences".
Result<ResumePoint> ResumeOrStart(RunStore& store, const std::filesystem::path& run_dir,
                                  const std::optional<std::filesystem::path>& init_experiences);

// "https://user:secret@api.example.com:8443/v1" -> "api.example.com:8443": where the library was
// learned, never with credentials.
std::string EndpointHost(std::string_view url);

// library.json's provenance: the policy model, its endpoint's host, this version, the time, the
// train data's SHA-256, the config fingerprint, the steps run, `validation` (null when off), and
// the learner and judge models when they differ from the policy.
nlohmann::json Provenance(const Config& config, const std::string& train_data_sha256, int steps_done,
                          nlohmann::json validation);

// Records `library` as the version after `version` steps in the run store, with each
// experience's origin (its step and group).
Status RecordLibraryVersion(RunStore& store, int version, const Library& library);

// How each stage of one step went: items run, items failed, and the first failure of each kind.
// A step in which every rollout failed, for any reason, or a learner stage whose every item
// failed for a reason a retry could fix, did not really happen: it must not be recorded as done,
// and the run stops saying why (a re-run that fails the same way says so again). Thread-safe.
class StepTally {
 public:
  void Ran(std::string_view stage);
  // `in_reward`: the rollout itself succeeded and its scoring failed.
  void Failed(std::string_view stage, const Status& why, bool in_reward = false);
  // "every rollout failed: unavailable: ..." for the first such stage in pipeline order.
  std::optional<std::string> EveryItemFailed();

 private:
  struct Counts {
    int64_t ran = 0, failed = 0;
    std::optional<Status> retryable, permanent;
    bool permanent_in_reward = false;
  };
  std::mutex mu_;
  std::map<std::string, Counts> counts_;
};

// What one step did, for its stats row in the run store and its log line.
struct StepReport {
  int step = 0;  // 0-based
  int steps_per_epoch = 1;
  int64_t tasks = 0, rollouts = 0, rollouts_failed = 0, informative = 0, stages_failed = 0;
  int64_t proposed = 0;
  int consolidation_calls = 0, consolidation_calls_failed = 0;
  int64_t leaks_dropped = 0, evicted = 0;
  size_t library_before = 0, library_after = 0;
  double mean_reward = 0, wall_s = 0;
  struct Validation {
    double current = 0, candidate = 0;
    bool accepted = false;
    int64_t samples = 0, failed = 0;
  };
  std::optional<Validation> validation;
  std::optional<nlohmann::json> agents;  // task.mode external: the step's agent counts
};

// The stats JSON recorded for the step (StepRecord::stats_json).
nlohmann::json StepStatsJson(const StepReport& report);
// "step 3 (epoch 1): mean reward 0.500, 2/4 groups informative, library 3 -> 5 experiences, ..."
std::string StepLogLine(const StepReport& report);

}  // namespace tfgrpo::grpo_internal
