#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "tfgrpo/json.h"
#include "tfgrpo/secrets.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

// PRAGMA user_version of a database this code writes. Version n is reached from version n-1 by
// kMigrations[n-1]; a new column or table is a new entry, never an edit of an old one, so every
// run.db ever written can be brought up to date in place.
constexpr int kSchemaVersion = 6;

// Version 1: the original tables.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS runs(
  id INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL,
  config_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps(
  step INTEGER PRIMARY KEY,
  epoch INTEGER NOT NULL,
  batch INTEGER NOT NULL,
  stats_json TEXT NOT NULL,
  finished_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rollouts(
  id INTEGER PRIMARY KEY,
  step INTEGER NOT NULL,
  task_id TEXT NOT NULL,
  sample INTEGER NOT NULL,
  library_version INTEGER NOT NULL,
  messages_json TEXT NOT NULL,
  answer TEXT NOT NULL,
  reward REAL NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  error TEXT NOT NULL,
  -- The group a rollout belongs to: one task within one step.
  group_id TEXT GENERATED ALWAYS AS ('s' || step || '/' || task_id) VIRTUAL,
  UNIQUE(step, task_id, sample));
CREATE TABLE IF NOT EXISTS llm_calls(
  fingerprint TEXT PRIMARY KEY,
  call_id TEXT NOT NULL,
  role TEXT NOT NULL,
  ok INTEGER NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  response_json TEXT NOT NULL,
  created_at TEXT NOT NULL,
  status TEXT GENERATED ALWAYS AS (CASE ok WHEN 1 THEN 'ok' ELSE 'error' END) VIRTUAL);
CREATE TABLE IF NOT EXISTS libraries(
  step INTEGER PRIMARY KEY,
  json TEXT NOT NULL,
  created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiences(
  step INTEGER NOT NULL,
  id TEXT NOT NULL,
  text TEXT NOT NULL,
  origin_step INTEGER NOT NULL,
  origin_group TEXT NOT NULL,
  PRIMARY KEY(step, id));
CREATE TABLE IF NOT EXISTS failures(
  id INTEGER PRIMARY KEY,
  step INTEGER NOT NULL,
  task_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  error TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE(step, task_id, stage));
)sql";

// Version 2: each call's finish_reason ("length" = cut at max_tokens).
constexpr const char* kMigrationV2 = R"sql(
ALTER TABLE llm_calls ADD COLUMN finish_reason TEXT NOT NULL DEFAULT '';
)sql";

// Version 3: what the reward said about each attempt (python/command "reasoning", the judge's
// explanation), given to the summary stage as the grader's critique.
constexpr const char* kMigrationV3 = R"sql(
ALTER TABLE rollouts ADD COLUMN reasoning TEXT NOT NULL DEFAULT '';
)sql";

// Version 4: practice.validation's verdict on each step's candidate library (step 0: the score of
// the starting library).
constexpr const char* kMigrationV4 = R"sql(
CREATE TABLE IF NOT EXISTS validations(
  step INTEGER PRIMARY KEY,
  current_score REAL NOT NULL,
  candidate_score REAL NOT NULL,
  accepted INTEGER NOT NULL,
  samples INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  reason TEXT NOT NULL,
  candidate_json TEXT NOT NULL,
  created_at TEXT NOT NULL);
)sql";

// Version 5 (retrieval.top_k): the ids ("G3") of the experiences each rollout's prompt held, so
// credit goes only to what it saw; and embedding vectors (little-endian float32) by model and
// SHA-256 of the text, so a resumed run does not pay for them again.
constexpr const char* kMigrationV5 = R"sql(
ALTER TABLE rollouts ADD COLUMN experiences_seen TEXT NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS embeddings(
  model TEXT NOT NULL,
  text_sha256 TEXT NOT NULL,
  vector BLOB NOT NULL,
  PRIMARY KEY(model, text_sha256));
)sql";

// Version 6 (task.mode external): how the user's agent program ended (its exit code; NULL for
// built-in rollouts and URL agents' failures, -1 when it was killed or never started) and the
// last 2 KiB of what it wrote to stderr, secrets redacted.
constexpr const char* kMigrationV6 = R"sql(
ALTER TABLE rollouts ADD COLUMN exit_code INTEGER;
ALTER TABLE rollouts ADD COLUMN agent_stderr_tail TEXT NOT NULL DEFAULT '';
)sql";

constexpr const char* kMigrations[] = {kSchemaV1, kMigrationV2, kMigrationV3, kMigrationV4, kMigrationV5,
                                       kMigrationV6};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

#define TFGRPO_NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

// A prepared statement reused for the store's lifetime; Reset() readies it for the next use.
class Statement {
 public:
  Statement() = default;
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  int Prepare(sqlite3* db, const char* sql) { return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr); }
  sqlite3_stmt* get() const { return stmt_; }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  // Every text is redacted on its way in: the last guard that no key reaches run.db, whatever
  // outside text (a tool's output, a server's error) a row quotes.
  void Bind(int i, const std::string& s) {
    const std::string text = RedactRunSecrets(s);
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, int v) { sqlite3_bind_int(stmt_, i, v); }
  void Bind(int i, bool v) { sqlite3_bind_int(stmt_, i, v ? 1 : 0); }
  void Bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  void BindBlob(int i, const void* data, size_t bytes) {
    sqlite3_bind_blob(stmt_, i, data, static_cast<int>(bytes), SQLITE_STATIC);
  }

  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : std::string();
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets the statement on scope exit, so bound SQLITE_STATIC buffers are never read later.
struct ResetOnExit {
  Statement& s;
  ~ResetOnExit() { s.Reset(); }
};

std::string Show(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() > 60 ? std::string(Utf8Prefix(s, 57)) + "..." : s;
}

// SQLite maps run.db-shm into memory; if it opens that file read-only (someone else's, or a
// read-only file system), the first write can end in SIGBUS rather than an error. So an existing
// -wal/-shm file must be writable, and so must the folder (SQLite creates them there).
Status CheckWalFilesWritable(const std::filesystem::path& db_path) {
  const std::filesystem::path dir =
      db_path.has_parent_path() ? db_path.parent_path() : std::filesystem::path(".");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return Status::IoError("cannot write in " + dir.string() + " (" + std::strerror(errno) +
                           "): the run database needs its -wal and -shm files there");
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string file = db_path.string() + suffix;
    if (::access(file.c_str(), F_OK) != 0) continue;
    if (::access(file.c_str(), R_OK | W_OK) != 0) {
      return Status::IoError(file + " is not writable (" + std::strerror(errno) +
                             "); SQLite needs it to open " + db_path.string() +
                             " (fix its owner or mode, or remove it if no tfgrpo process is running)");
    }
  }
  return Status::Ok();
}

// Dotted paths where two configs differ: "practice.group_size: 5 vs 8".
void Diff(const nlohmann::json& was, const nlohmann::json& now, const std::string& path,
          std::vector<std::string>* out) {
  if (was.is_object() && now.is_object()) {
    std::set<std::string> keys;
    for (auto it = was.begin(); it != was.end(); ++it) keys.insert(it.key());
    for (auto it = now.begin(); it != now.end(); ++it) keys.insert(it.key());
    for (const std::string& k : keys) {
      const std::string sub = path.empty() ? k : path + "." + k;
      auto a = was.find(k), b = now.find(k);
      if (a == was.end()) {
        out->push_back(sub + ": absent vs " + Show(*b));
      } else if (b == now.end()) {
        out->push_back(sub + ": " + Show(*a) + " vs absent");
      } else {
        Diff(*a, *b, sub, out);
      }
    }
    return;
  }
  if (was != now) out->push_back((path.empty() ? "config" : path) + ": " + Show(was) + " vs " + Show(now));
}

}  // namespace

// Owns the connection; declared before the statements so it closes after they are finalized.
struct Connection {
  sqlite3* db = nullptr;
  ~Connection() {
    if (db) sqlite3_close_v2(db);
  }
};

struct RunStore::Impl {
  std::filesystem::path path;
  std::mutex mu;
  Connection connection;
  sqlite3*& db = connection.db;

  Statement find_call, record_call, record_rollout, record_failure, record_step;
  Statement record_library, delete_experiences, record_experience;
  Statement latest_library, library_at, steps, failures, count_calls, count_rollouts, call_fingerprints, calls_under;
  Statement record_validation, validations, tokens_by_role;
  Statement libraries, failed_calls, run_config;
  Statement find_embedding, record_embedding;
  Statement begin, commit, rollback;

  Status Error(const std::string& what) const {
    return Status::IoError(path.string() + ": " + what + ": " + sqlite3_errmsg(db));
  }

  Status Exec(const char* sql, const std::string& what) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string message = err ? err : sqlite3_errmsg(db);
      sqlite3_free(err);
      return Status::IoError(path.string() + ": " + what + ": " + message);
    }
    return Status::Ok();
  }

  Result<int> UserVersion() {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    const int version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return Error("cannot read schema version");
    return version;
  }

  // Brings the schema to kSchemaVersion in one transaction. The version is read again once the
  // write lock is held, so two processes opening an old file at once migrate it only once.
  Status Migrate() {
    if (Status s = Exec("BEGIN IMMEDIATE", "cannot start schema migration"); !s.ok()) return s;
    auto version = UserVersion();
    if (!version.ok()) return version.status();
    for (int v = *version; v < kSchemaVersion; ++v) {
      const std::string what = v == 0 ? std::string("cannot create schema")
                                      : "cannot migrate schema from version " + std::to_string(v) + " to " +
                                            std::to_string(v + 1);
      if (Status s = Exec(kMigrations[v], what); !s.ok()) return s;
    }
    const std::string set_version = "PRAGMA user_version=" + std::to_string(kSchemaVersion);
    if (Status s = Exec(set_version.c_str(), "cannot set schema version"); !s.ok()) return s;
    return Exec("COMMIT", "cannot commit schema migration");
  }

  // Runs a write statement to completion; with autocommit on, it is its own durable transaction.
  Status Run(Statement& s, const char* what) {
    int rc = sqlite3_step(s.get());
    if (rc != SQLITE_DONE) return Error(what);
    return Status::Ok();
  }
};

Result<std::unique_ptr<RunStore>> RunStore::Open(const std::filesystem::path& db_path) {
  const std::string name = db_path.string();
  std::error_code ec;
  if (db_path.has_parent_path()) {
    std::filesystem::create_directories(db_path.parent_path(), ec);
    if (ec) return Status::IoError("cannot create " + db_path.parent_path().string() + ": " + ec.message());
  }
  if (std::filesystem::is_directory(db_path, ec)) {
    return Status::IoError(name + ": is a directory, expected a run database file");
  }

  if (Status s = CheckWalFilesWritable(db_path); !s.ok()) return s;

  std::unique_ptr<RunStore> store(new RunStore());
  store->impl_ = std::make_unique<Impl>();
  Impl& im = *store->impl_;
  im.path = db_path;
  // NOMUTEX: the store's own mutex serialises every use of the connection.
  int rc = sqlite3_open_v2(name.c_str(), &im.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string message = im.db ? sqlite3_errmsg(im.db) : sqlite3_errstr(rc);
    return Status::IoError("cannot open run database " + name + ": " + message);
  }
  sqlite3_extended_result_codes(im.db, 1);
  sqlite3_busy_timeout(im.db, 5000);

  // The first real read of the file happens here, so a foreign file is caught at this point.
  int user_version = 0;
  {
    sqlite3_stmt* st = nullptr;
    rc = sqlite3_prepare_v2(im.db, "PRAGMA user_version", -1, &st, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) user_version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
      int primary = sqlite3_errcode(im.db) & 0xff;
      if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
        return Status::IoError(name + " is not a tfgrpo run database (not a SQLite file: " +
                               sqlite3_errmsg(im.db) + ")");
      }
      return im.Error("cannot read");
    }
  }
  if (user_version == 0) {
    // Version 0 with tables of its own is some other program's database: leave it untouched.
    sqlite3_stmt* st = nullptr;
    rc = sqlite3_prepare_v2(im.db,
                            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
                            "('runs','steps','rollouts','llm_calls','libraries','experiences','failures') "
                            "AND name NOT LIKE 'sqlite_%' LIMIT 1",
                            -1, &st, nullptr);
    std::string foreign;
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      foreign = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) return im.Error("cannot read schema");
    if (!foreign.empty()) {
      return Status::IoError(name + " is a SQLite database but not a tfgrpo run database (it has a table '" +
                             foreign + "')");
    }
  }
  if (user_version > kSchemaVersion) {
    return Status::IoError(name + " has schema version " + std::to_string(user_version) +
                           ", newer than this tfgrpo understands (" + std::to_string(kSchemaVersion) + ")");
  }

  if (Status s = im.Exec("PRAGMA journal_mode=WAL", "cannot enable WAL"); !s.ok()) return s;
  if (Status s = im.Exec("PRAGMA synchronous=NORMAL", "cannot set synchronous"); !s.ok()) return s;
  // Checkpoints (the only fsyncs under synchronous=NORMAL) run inside a writer's commit; every
  // 4000 pages instead of 1000 makes them rarer at the price of a WAL of up to ~16 MB.
  if (Status s = im.Exec("PRAGMA wal_autocheckpoint=4000", "cannot set checkpoint interval"); !s.ok()) return s;
  // A write needs the -shm file writable; find out now, with the file named, rather than at the
  // first record of a run (or as a SIGBUS inside SQLite's shared-memory mapping).
  if (Status s = im.Exec("BEGIN IMMEDIATE", "cannot take the write lock (" + name + "-wal and " + name +
                                                "-shm must be writable)");
      !s.ok()) {
    return s;
  }
  if (Status s = im.Exec("ROLLBACK", "cannot release the write lock"); !s.ok()) return s;
  if (user_version < kSchemaVersion) {
    if (Status s = im.Migrate(); !s.ok()) {
      sqlite3_exec(im.db, "ROLLBACK", nullptr, nullptr, nullptr);
      return s;
    }
  }
  struct {
    Statement* stmt;
    const char* sql;
  } statements[] = {
      {&im.find_call,
       "SELECT fingerprint, call_id, role, ok, error, attempts, prompt_tokens, completion_tokens, cached_tokens, "
       "latency_ms, response_json, finish_reason FROM llm_calls WHERE fingerprint = ?1"},
      {&im.record_call,
       "INSERT OR REPLACE INTO llm_calls(fingerprint, call_id, role, ok, error, attempts, prompt_tokens, "
       "completion_tokens, cached_tokens, latency_ms, response_json, finish_reason, created_at) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, " TFGRPO_NOW ")"},
      {&im.record_rollout,
       "INSERT OR REPLACE INTO rollouts(step, task_id, sample, library_version, messages_json, answer, reward, "
       "prompt_tokens, completion_tokens, latency_ms, error, reasoning, experiences_seen, exit_code, "
       "agent_stderr_tail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"},
      {&im.record_failure,
       "INSERT OR REPLACE INTO failures(step, task_id, stage, error, created_at) "
       "VALUES(?1, ?2, ?3, ?4, " TFGRPO_NOW ")"},
      {&im.record_step,
       "INSERT OR REPLACE INTO steps(step, epoch, batch, stats_json, finished_at) "
       "VALUES(?1, ?2, ?3, ?4, " TFGRPO_NOW ")"},
      {&im.record_library,
       "INSERT OR REPLACE INTO libraries(step, json, created_at) VALUES(?1, ?2, " TFGRPO_NOW ")"},
      {&im.delete_experiences, "DELETE FROM experiences WHERE step = ?1"},
      {&im.record_experience,
       "INSERT OR REPLACE INTO experiences(step, id, text, origin_step, origin_group) VALUES(?1, ?2, ?3, ?4, ?5)"},
      {&im.latest_library, "SELECT step, json FROM libraries ORDER BY step DESC LIMIT 1"},
      {&im.library_at, "SELECT json FROM libraries WHERE step = ?1"},
      {&im.steps, "SELECT step, epoch, batch, stats_json FROM steps ORDER BY step"},
      {&im.failures, "SELECT step, task_id, stage, error FROM failures ORDER BY step, id"},
      {&im.count_calls, "SELECT COUNT(*) FROM llm_calls"},
      {&im.call_fingerprints, "SELECT fingerprint FROM llm_calls"},
      {&im.calls_under,
       "SELECT call_id, fingerprint, ok FROM llm_calls WHERE substr(call_id, 1, length(?1)) = ?1 ORDER BY call_id"},
      {&im.count_rollouts, "SELECT COUNT(*) FROM rollouts"},
      {&im.record_validation,
       "INSERT OR REPLACE INTO validations(step, current_score, candidate_score, accepted, samples, failed, reason, "
       "candidate_json, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, " TFGRPO_NOW ")"},
      {&im.validations,
       "SELECT step, current_score, candidate_score, accepted, samples, failed, reason, candidate_json "
       "FROM validations ORDER BY step"},
      {&im.tokens_by_role,
       "SELECT role, SUM(prompt_tokens), SUM(cached_tokens), SUM(completion_tokens) FROM llm_calls "
       "WHERE ok = 1 GROUP BY role ORDER BY role"},
      {&im.libraries, "SELECT step, json FROM libraries ORDER BY step"},
      {&im.failed_calls, "SELECT call_id, role, error, attempts FROM llm_calls WHERE ok = 0 ORDER BY call_id"},
      {&im.run_config, "SELECT config_json FROM runs ORDER BY id LIMIT 1"},
      {&im.find_embedding, "SELECT vector FROM embeddings WHERE model = ?1 AND text_sha256 = ?2"},
      {&im.record_embedding, "INSERT OR REPLACE INTO embeddings(model, text_sha256, vector) VALUES(?1, ?2, ?3)"},
      {&im.begin, "BEGIN IMMEDIATE"},
      {&im.commit, "COMMIT"},
      {&im.rollback, "ROLLBACK"},
  };
  for (auto& [stmt, sql] : statements) {
    if (stmt->Prepare(im.db, sql) != SQLITE_OK) return im.Error("cannot prepare statement");
  }
  return store;
}

RunStore::~RunStore() = default;

Status RunStore::BeginOrResume(const std::string& config_json) {
  nlohmann::json now = ParseUntrustedJson(config_json);
  if (now.is_discarded()) return Status::InvalidArgument("run configuration is not valid JSON");

  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& im = *impl_;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(im.db, "SELECT config_json FROM runs ORDER BY id LIMIT 1", -1, &st, nullptr) != SQLITE_OK) {
    return im.Error("cannot read run");
  }
  int rc = sqlite3_step(st);
  std::string stored;
  if (rc == SQLITE_ROW) {
    const unsigned char* p = sqlite3_column_text(st, 0);
    stored = p ? reinterpret_cast<const char*>(p) : "";
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return im.Error("cannot read run");

  if (rc == SQLITE_DONE) {
    if (sqlite3_prepare_v2(im.db, "INSERT INTO runs(created_at, config_json) VALUES(" TFGRPO_NOW ", ?1)", -1, &st,
                           nullptr) != SQLITE_OK) {
      return im.Error("cannot record run");
    }
    const std::string config_text = RedactRunSecrets(config_json);
    sqlite3_bind_text(st, 1, config_text.data(), static_cast<int>(config_text.size()), SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? Status::Ok() : im.Error("cannot record run");
  }

  nlohmann::json was = ParseUntrustedJson(stored);
  if (was.is_discarded()) {
    return Status::InvalidArgument(im.path.string() + " holds a run configuration that is not valid JSON");
  }
  if (was == now) return Status::Ok();
  std::vector<std::string> differences;
  Diff(was, now, "", &differences);
  std::string list;
  const size_t shown = std::min<size_t>(differences.size(), 6);
  for (size_t i = 0; i < shown; ++i) list += (i ? "; " : "") + differences[i];
  if (differences.size() > shown) list += "; and " + std::to_string(differences.size() - shown) + " more";
  return Status::InvalidArgument(im.path.string() + " was created with a different configuration (" + list +
                                 "); use a new --run-dir or restore the original config");
}

std::optional<CallRecord> RunStore::FindCall(const std::string& fingerprint) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->find_call;
  ResetOnExit reset{s};
  s.Bind(1, fingerprint);
  if (sqlite3_step(s.get()) != SQLITE_ROW) return std::nullopt;
  CallRecord r;
  r.fingerprint = s.Text(0);
  r.call_id = s.Text(1);
  r.role = s.Text(2);
  r.ok = s.Int(3) != 0;
  r.error = s.Text(4);
  r.attempts = static_cast<int>(s.Int(5));
  r.prompt_tokens = s.Int(6);
  r.completion_tokens = s.Int(7);
  r.cached_tokens = s.Int(8);
  r.latency_ms = s.Double(9);
  r.response_json = s.Text(10);
  r.finish_reason = s.Text(11);
  return r;
}

Status RunStore::RecordCall(const CallRecord& r) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->record_call;
  ResetOnExit reset{s};
  s.Bind(1, r.fingerprint);
  s.Bind(2, r.call_id);
  s.Bind(3, r.role);
  s.Bind(4, r.ok);
  s.Bind(5, r.error);
  s.Bind(6, r.attempts);
  s.Bind(7, r.prompt_tokens);
  s.Bind(8, r.completion_tokens);
  s.Bind(9, r.cached_tokens);
  s.Bind(10, r.latency_ms);
  s.Bind(11, r.response_json);
  s.Bind(12, r.finish_reason);
  return impl_->Run(s, "cannot record LLM call");
}

Status RunStore::RecordRollout(const RolloutRecord& r) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->record_rollout;
  ResetOnExit reset{s};
  s.Bind(1, r.step);
  s.Bind(2, r.task_id);
  s.Bind(3, r.sample);
  s.Bind(4, r.library_version);
  s.Bind(5, r.messages_json);
  s.Bind(6, r.answer);
  s.Bind(7, r.reward);
  s.Bind(8, r.prompt_tokens);
  s.Bind(9, r.completion_tokens);
  s.Bind(10, r.latency_ms);
  s.Bind(11, r.error);
  s.Bind(12, r.reasoning);
  s.Bind(13, r.experiences_seen);
  if (r.exit_code) {
    s.Bind(14, *r.exit_code);
  } else {
    s.BindNull(14);
  }
  s.Bind(15, r.agent_stderr_tail);
  return impl_->Run(s, "cannot record rollout");
}

Status RunStore::RecordFailure(const FailureRecord& r) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->record_failure;
  ResetOnExit reset{s};
  s.Bind(1, r.step);
  s.Bind(2, r.task_id);
  s.Bind(3, r.stage);
  s.Bind(4, r.error);
  return impl_->Run(s, "cannot record failure");
}

Status RunStore::RecordStep(const StepRecord& r) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->record_step;
  ResetOnExit reset{s};
  s.Bind(1, r.step);
  s.Bind(2, r.epoch);
  s.Bind(3, r.batch);
  s.Bind(4, r.stats_json);
  return impl_->Run(s, "cannot record step");
}

Status RunStore::RecordLibrary(int step, const std::string& library_json,
                               const std::vector<ExperienceOrigin>& origins) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& im = *impl_;
  {
    ResetOnExit reset{im.begin};
    if (Status s = im.Run(im.begin, "cannot begin library transaction"); !s.ok()) return s;
  }
  auto body = [&]() -> Status {
    {
      ResetOnExit reset{im.record_library};
      im.record_library.Bind(1, step);
      im.record_library.Bind(2, library_json);
      if (Status s = im.Run(im.record_library, "cannot record library"); !s.ok()) return s;
    }
    {
      // A re-recorded step replaces its experiences entirely, not just the ids it still has.
      ResetOnExit reset{im.delete_experiences};
      im.delete_experiences.Bind(1, step);
      if (Status s = im.Run(im.delete_experiences, "cannot replace experiences"); !s.ok()) return s;
    }
    for (const ExperienceOrigin& o : origins) {
      ResetOnExit reset{im.record_experience};
      im.record_experience.Bind(1, step);
      im.record_experience.Bind(2, o.id);
      im.record_experience.Bind(3, o.text);
      im.record_experience.Bind(4, o.origin_step);
      im.record_experience.Bind(5, o.origin_group);
      if (Status s = im.Run(im.record_experience, "cannot record experience"); !s.ok()) return s;
    }
    ResetOnExit reset{im.commit};
    return im.Run(im.commit, "cannot commit library");
  };
  Status s = body();
  if (!s.ok() && !sqlite3_get_autocommit(im.db)) {
    ResetOnExit reset{im.rollback};
    sqlite3_step(im.rollback.get());
  }
  return s;
}

// A recorded library's JSON read back as a Library; errors name the file and the step.
static Result<Library> ParseRecordedLibrary(const std::filesystem::path& path, int step, const std::string& text) {
  nlohmann::json j = ParseUntrustedJson(text);
  if (j.is_discarded()) {
    return Status::InvalidArgument(path.string() + " holds an unreadable library for step " + std::to_string(step) +
                                   " (not JSON, or nested more than " + std::to_string(kMaxJsonDepth) +
                                   " levels deep)");
  }
  auto library = Library::FromJson(j);
  if (!library.ok()) return library.status().WithContext("run.db library of step " + std::to_string(step));
  return library;
}

Result<std::optional<StoredLibrary>> RunStore::LatestLibrary() {
  int step = 0;
  std::string text;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    Statement& s = impl_->latest_library;
    ResetOnExit reset{s};
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return std::optional<StoredLibrary>();
    if (rc != SQLITE_ROW) return impl_->Error("cannot read libraries");
    step = static_cast<int>(s.Int(0));
    text = s.Text(1);
  }
  auto library = ParseRecordedLibrary(impl_->path, step, text);
  if (!library.ok()) return library.status();
  return std::optional<StoredLibrary>(StoredLibrary{step, std::move(library).value()});
}

Result<std::optional<Library>> RunStore::LibraryAt(int step) {
  std::string text;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    Statement& s = impl_->library_at;
    ResetOnExit reset{s};
    s.Bind(1, static_cast<int64_t>(step));
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return std::optional<Library>();
    if (rc != SQLITE_ROW) return impl_->Error("cannot read libraries");
    text = s.Text(0);
  }
  auto library = ParseRecordedLibrary(impl_->path, step, text);
  if (!library.ok()) return library.status();
  return std::optional<Library>(std::move(library).value());
}

Result<std::vector<StepRecord>> RunStore::Steps() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->steps;
  ResetOnExit reset{s};
  std::vector<StepRecord> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    out.push_back({static_cast<int>(s.Int(0)), static_cast<int>(s.Int(1)), static_cast<int>(s.Int(2)), s.Text(3)});
  }
  if (rc != SQLITE_DONE) return impl_->Error("cannot read steps");
  return out;
}

Result<std::vector<FailureRecord>> RunStore::Failures() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->failures;
  ResetOnExit reset{s};
  std::vector<FailureRecord> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    out.push_back({static_cast<int>(s.Int(0)), s.Text(1), s.Text(2), s.Text(3)});
  }
  if (rc != SQLITE_DONE) return impl_->Error("cannot read failures");
  return out;
}

Result<int64_t> RunStore::CountCalls() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->count_calls;
  ResetOnExit reset{s};
  if (sqlite3_step(s.get()) != SQLITE_ROW) return impl_->Error("cannot count calls");
  return s.Int(0);
}

Result<std::vector<std::string>> RunStore::CallFingerprints() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->call_fingerprints;
  ResetOnExit reset{s};
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0)));
  if (rc != SQLITE_DONE) return impl_->Error("cannot read calls");
  return out;
}

Result<std::vector<CallRecord>> RunStore::CallsUnder(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->calls_under;
  ResetOnExit reset{s};
  s.Bind(1, prefix);
  std::vector<CallRecord> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    CallRecord r;
    r.call_id = s.Text(0);
    r.fingerprint = s.Text(1);
    r.ok = s.Int(2) != 0;
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return impl_->Error("cannot read calls");
  return out;
}

Status RunStore::RecordValidation(const ValidationRecord& r) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->record_validation;
  ResetOnExit reset{s};
  s.Bind(1, r.step);
  s.Bind(2, r.current_score);
  s.Bind(3, r.candidate_score);
  s.Bind(4, r.accepted);
  s.Bind(5, r.samples);
  s.Bind(6, r.failed);
  s.Bind(7, r.reason);
  s.Bind(8, r.candidate_json);
  return impl_->Run(s, "cannot record validation");
}

Result<std::vector<ValidationRecord>> RunStore::Validations() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->validations;
  ResetOnExit reset{s};
  std::vector<ValidationRecord> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    ValidationRecord r;
    r.step = static_cast<int>(s.Int(0));
    r.current_score = s.Double(1);
    r.candidate_score = s.Double(2);
    r.accepted = s.Int(3) != 0;
    r.samples = s.Int(4);
    r.failed = s.Int(5);
    r.reason = s.Text(6);
    r.candidate_json = s.Text(7);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return impl_->Error("cannot read validations");
  return out;
}

std::optional<std::vector<float>> RunStore::FindEmbedding(const std::string& model, const std::string& text_sha256) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->find_embedding;
  ResetOnExit reset{s};
  s.Bind(1, model);
  s.Bind(2, text_sha256);
  if (sqlite3_step(s.get()) != SQLITE_ROW) return std::nullopt;
  const std::string bytes = s.Blob(0);
  // A row of another shape (not whole floats, or empty) is treated as missing: recomputed.
  if (bytes.empty() || bytes.size() % sizeof(float) != 0) return std::nullopt;
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

Status RunStore::RecordEmbedding(const std::string& model, const std::string& text_sha256,
                                 const std::vector<float>& vector) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->record_embedding;
  ResetOnExit reset{s};
  s.Bind(1, model);
  s.Bind(2, text_sha256);
  s.BindBlob(3, vector.data(), vector.size() * sizeof(float));
  return impl_->Run(s, "cannot record embedding");
}

Result<std::map<std::string, TokenCounts>> RunStore::TokensByRole() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->tokens_by_role;
  ResetOnExit reset{s};
  std::map<std::string, TokenCounts> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out[s.Text(0)] = {s.Int(1), s.Int(2), s.Int(3)};
  if (rc != SQLITE_DONE) return impl_->Error("cannot read calls");
  return out;
}

Result<int64_t> RunStore::CountRollouts() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->count_rollouts;
  ResetOnExit reset{s};
  if (sqlite3_step(s.get()) != SQLITE_ROW) return impl_->Error("cannot count rollouts");
  return s.Int(0);
}

Result<std::vector<LibraryVersion>> RunStore::Libraries() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->libraries;
  ResetOnExit reset{s};
  std::vector<LibraryVersion> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back({static_cast<int>(s.Int(0)), s.Text(1)});
  if (rc != SQLITE_DONE) return impl_->Error("cannot read libraries");
  return out;
}

Result<std::vector<CallFailure>> RunStore::FailedCalls() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->failed_calls;
  ResetOnExit reset{s};
  std::vector<CallFailure> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back({s.Text(0), s.Text(1), s.Text(2), static_cast<int>(s.Int(3))});
  if (rc != SQLITE_DONE) return impl_->Error("cannot read calls");
  return out;
}

Result<std::optional<std::string>> RunStore::RunConfigJson() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement& s = impl_->run_config;
  ResetOnExit reset{s};
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return impl_->Error("cannot read the run's config");
  return std::optional<std::string>(s.Text(0));
}

}  // namespace tfgrpo
