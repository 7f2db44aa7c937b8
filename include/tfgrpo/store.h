// The run store: one SQLite database (WAL mode) per run directory holding the run's config,
// every LLM call result (the resume cache), rollouts, step summaries, failures and each library
// version with where every experience came from. Each write commits on its own, so a run killed
// at any moment keeps everything recorded before the kill. Never stores API keys.
// Threading: every member may be called from any thread at any time; one connection per store,
// its calls serialized by a mutex (readers and writers interleave, each call sees every write that
// returned before it). Lifetime: the store closes its connection when destroyed. Reads return a
// Result: an IoError naming run.db when SQLite cannot read it; the two cache lookups (FindCall,
// FindEmbedding) read a failure as "not recorded", so the call or vector is computed again.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tfgrpo/library.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

struct CallRecord {
  std::string fingerprint;   // unique key: hash of call id + request body
  std::string call_id;       // logical identity, e.g. "e0/s3/t17/r2/rollout"
  std::string role;          // rollout | summary | ...
  bool ok = false;
  std::string error;         // provider/transport message when !ok
  int attempts = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
  double latency_ms = 0;
  std::string response_json;  // ChatResponseToJson(...) when ok
  std::string finish_reason;  // the reply's finish_reason ("stop", "length", ...) when ok
};

struct RolloutRecord {
  int step = 0;
  std::string task_id;
  int sample = 0;
  int library_version = 0;    // step whose library was in force (= step)
  std::string messages_json;  // the conversation, as a JSON array
  std::string answer;         // extracted final answer
  double reward = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double latency_ms = 0;
  std::string error;          // non-empty when the rollout failed
  std::string reasoning;      // the reward's reasoning (RewardResult::reasoning), often empty
  // JSON array of the ids ("G3") of the experiences the rollout's prompt held, in the numbering
  // of library_version (retrieval.top_k > 0 shows a subset); "" when not recorded.
  std::string experiences_seen;
  // task.mode external: how the agent program ended (-1: killed or never started; nullopt for
  // built-in rollouts and URL agents) and the last 2 KiB of its stderr (secrets redacted).
  std::optional<int> exit_code;
  std::string agent_stderr_tail;
};

struct FailureRecord {
  int step = 0;
  std::string task_id;  // group
  std::string stage;    // rollout | reward | summary | advantage | group_update | batch_update
  std::string error;
};

struct StepRecord {
  int step = 0;
  int epoch = 0;
  int batch = 0;
  std::string stats_json;  // counts, tokens, wall time
};

// practice.validation's verdict on one step's candidate library. `step` is the library version
// scored: n for the candidate made by step n (1-based, as steps/<n>/), 0 for the starting library
// (its score is the first "current" one; accepted is true).
struct ValidationRecord {
  int step = 0;
  double current_score = 0;    // mean reward of the library in force
  double candidate_score = 0;  // mean reward of the candidate
  bool accepted = false;
  int64_t samples = 0;         // validation samples scored for the candidate
  int64_t failed = 0;          // of which failed (left out of the mean)
  std::string reason;          // why it was accepted or rejected, in words
  std::string candidate_json;  // the candidate library (artifact JSON)
};

// Tokens of the successful calls of one role, summed over the whole run dir.
struct TokenCounts {
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t completion_tokens = 0;
};

// One recorded library version: the artifact JSON (Library::ToArtifactJson) after `step` steps.
struct LibraryVersion {
  int step = 0;
  std::string library_json;
};

// A call that failed for good (after its retries), as the run store recorded it.
struct CallFailure {
  std::string call_id;
  std::string role;
  std::string error;  // as recorded (HttpChatClient errors are already redacted of the key)
  int attempts = 0;
};

// The library recorded after `step` steps, read back (credit, steps, origins and uids kept).
struct StoredLibrary {
  int step = 0;
  Library library;
};

struct ExperienceOrigin {
  std::string id;      // G0...
  std::string text;
  int origin_step = -1;
  std::string origin_group;
};

class RunStore {
 public:
  // Creates the file and schema when missing, migrates an older schema (PRAGMA user_version) in
  // place, enables WAL. An existing -wal/-shm file (or a run dir) we cannot write is an IoError
  // naming it, found here rather than as a SIGBUS on the first write.
  static Result<std::unique_ptr<RunStore>> Open(const std::filesystem::path& db_path);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  // First open records the config; later opens compare: a different config is an error
  // naming the run dir (resuming a run with other settings would mix two experiments).
  Status BeginOrResume(const std::string& config_json);

  // nullopt when not recorded, or when it cannot be read (the call is then sent again).
  std::optional<CallRecord> FindCall(const std::string& fingerprint);
  // Every recorded call's fingerprint, read once at the start of a run so that a fresh run's
  // calls need no lookup at all.
  Result<std::vector<std::string>> CallFingerprints();
  // The recorded calls whose call id starts with `prefix` (the agent gateway's "<rollout id>/a"),
  // in call id order, with only call_id, fingerprint and ok filled (FindCall has the rest).
  Result<std::vector<CallRecord>> CallsUnder(const std::string& prefix);
  Status RecordCall(const CallRecord& record);  // insert or replace
  Status RecordRollout(const RolloutRecord& record);
  Status RecordFailure(const FailureRecord& record);
  Status RecordStep(const StepRecord& record);
  // The library after `step` steps (step 0 = the initial library), with provenance.
  Status RecordLibrary(int step, const std::string& library_json,
                       const std::vector<ExperienceOrigin>& origins);

  // The library of the highest step with one recorded; nullopt for a new run. A recorded library
  // that is not JSON, or not a library, is an InvalidArgument naming run.db and the step.
  Result<std::optional<StoredLibrary>> LatestLibrary();
  // The library recorded after `step` steps; nullopt when none was. Errors as LatestLibrary's.
  Result<std::optional<Library>> LibraryAt(int step);
  Result<std::vector<StepRecord>> Steps();
  Result<std::vector<FailureRecord>> Failures();
  Status RecordValidation(const ValidationRecord& record);  // insert or replace, by step
  Result<std::vector<ValidationRecord>> Validations();      // by step
  // Role -> tokens of every successful call recorded (what the run dir has spent).
  Result<std::map<std::string, TokenCounts>> TokensByRole();
  // Embedding vectors (retrieval.method embeddings) by model and SHA-256 (hex) of the text;
  // nullopt when none was recorded (or it cannot be read: it is computed again). Stored as
  // host-order float32 (x86/ARM: little-endian).
  std::optional<std::vector<float>> FindEmbedding(const std::string& model, const std::string& text_sha256);
  Status RecordEmbedding(const std::string& model, const std::string& text_sha256, const std::vector<float>& vector);
  Result<int64_t> CountCalls();
  Result<int64_t> CountRollouts();

  // Readers for reports (report.h).
  // Every recorded library version, by step (0 = the starting library).
  Result<std::vector<LibraryVersion>> Libraries();
  // Every recorded call that failed (ok = 0), in call id order.
  Result<std::vector<CallFailure>> FailedCalls();
  // The configuration the run was created with (ConfigFingerprintJson); nullopt before
  // BeginOrResume. Holds no key (the fingerprint leaves the endpoint and key variable out).
  Result<std::optional<std::string>> RunConfigJson();

 private:
  RunStore() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tfgrpo
