#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include "test_util.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class RunStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tfgrpo_store_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    db_path_ = dir_ / "nested" / "run" / "run.db";  // parents do not exist yet
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<RunStore> OpenStore() {
    auto r = RunStore::Open(db_path_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // Reads the database behind the store's back, as a person with the sqlite3 shell would.
  std::vector<std::vector<std::string>> Query(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::vector<std::vector<std::string>> rows;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const unsigned char* t = sqlite3_column_text(st, i);
        row.push_back(t ? reinterpret_cast<const char*>(t) : "NULL");
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rows;
  }

  static CallRecord Call(int i) {
    CallRecord c;
    c.fingerprint = Fingerprint("call " + std::to_string(i));
    c.call_id = "e0/s1/t" + std::to_string(i) + "/r0/rollout";
    c.role = "rollout";
    c.ok = true;
    c.attempts = 1 + i % 3;
    c.prompt_tokens = 100 + i;
    c.completion_tokens = 50 + i;
    c.cached_tokens = i;
    c.latency_ms = 12.5 + i;
    c.response_json = "{\"content\":\"answer " + std::to_string(i) + "\"}";
    return c;
  }

  fs::path dir_;
  fs::path db_path_;
};

TEST_F(RunStoreTest, OpenCreatesDirectoriesSchemaAndWal) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_TRUE(fs::exists(db_path_));
  std::set<std::string> tables;
  for (auto& row : Query("SELECT name FROM sqlite_master WHERE type = 'table'")) tables.insert(row[0]);
  for (const char* t : {"runs", "steps", "rollouts", "llm_calls", "libraries", "experiences", "failures"}) {
    EXPECT_TRUE(tables.count(t)) << "missing table " << t;
  }
  EXPECT_EQ(Query("PRAGMA user_version")[0][0], "6");
  EXPECT_EQ(Query("PRAGMA journal_mode")[0][0], "wal");
  // Reopening an existing store keeps working.
  store.reset();
  EXPECT_TRUE(OpenStore());
}

TEST_F(RunStoreTest, ForeignFileIsAClearError) {
  ASSERT_TRUE(WriteFileAtomic(db_path_, std::string(4096, 'x')).ok());
  auto r = RunStore::Open(db_path_);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(db_path_.string()));
  EXPECT_THAT(r.status().message(), HasSubstr("is not a tfgrpo run database"));

  // Another program's SQLite database is refused rather than extended with our tables.
  fs::path other = dir_ / "other.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE users(name TEXT)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto o = RunStore::Open(other);
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.status().message(), HasSubstr("not a tfgrpo run database (it has a table 'users')"));

  auto d = RunStore::Open(dir_);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("is a directory"));
}

TEST_F(RunStoreTest, CallRoundTripsAndIsReplaced) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->FindCall("no-such-fingerprint").has_value());

  CallRecord c = Call(7);
  ASSERT_TRUE(store->RecordCall(c).ok());
  auto found = store->FindCall(c.fingerprint);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->fingerprint, c.fingerprint);
  EXPECT_EQ(found->call_id, c.call_id);
  EXPECT_EQ(found->role, "rollout");
  EXPECT_TRUE(found->ok);
  EXPECT_EQ(found->attempts, c.attempts);
  EXPECT_EQ(found->prompt_tokens, c.prompt_tokens);
  EXPECT_EQ(found->completion_tokens, c.completion_tokens);
  EXPECT_EQ(found->cached_tokens, c.cached_tokens);
  EXPECT_DOUBLE_EQ(found->latency_ms, c.latency_ms);
  EXPECT_EQ(found->response_json, c.response_json);
  EXPECT_EQ(found->finish_reason, "");

  c.finish_reason = "length";
  ASSERT_TRUE(store->RecordCall(c).ok());
  EXPECT_EQ(store->FindCall(c.fingerprint)->finish_reason, "length");
  EXPECT_EQ(Query("SELECT finish_reason FROM llm_calls")[0][0], "length");

  CallRecord failed = c;
  failed.ok = false;
  failed.error = "HTTP 500: overloaded";
  failed.attempts = 6;
  failed.response_json.clear();
  ASSERT_TRUE(store->RecordCall(failed).ok());
  EXPECT_EQ(testing::Must(store->CountCalls()), 1);
  found = store->FindCall(c.fingerprint);
  ASSERT_TRUE(found.has_value());
  EXPECT_FALSE(found->ok);
  EXPECT_EQ(found->error, "HTTP 500: overloaded");
  EXPECT_EQ(found->attempts, 6);
  EXPECT_EQ(found->response_json, "");
}

TEST_F(RunStoreTest, RolloutsAreStoredAndReplacedPerSample) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  RolloutRecord r;
  r.step = 3;
  r.task_id = "train:12";
  r.sample = 1;
  r.library_version = 3;
  r.messages_json = R"([{"role":"user","content":"1+1"}])";
  r.answer = "2";
  r.reward = 1.0;
  r.prompt_tokens = 40;
  r.completion_tokens = 9;
  r.latency_ms = 3.5;
  ASSERT_TRUE(store->RecordRollout(r).ok());
  RolloutRecord other = r;
  other.sample = 2;
  other.answer = "3";
  other.reward = 0;
  other.error = "timeout";
  ASSERT_TRUE(store->RecordRollout(other).ok());
  r.answer = "two";  // re-recording the same (step, task, sample) replaces it
  ASSERT_TRUE(store->RecordRollout(r).ok());
  EXPECT_EQ(testing::Must(store->CountRollouts()), 2);

  auto rows = Query(
      "SELECT step, task_id, sample, library_version, messages_json, answer, reward, prompt_tokens, "
      "completion_tokens, latency_ms, error FROM rollouts ORDER BY sample");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"3", "train:12", "1", "3", r.messages_json, "two", "1.0", "40",
                                               "9", "3.5", ""}));
  EXPECT_EQ(rows[1][5], "3");
  EXPECT_EQ(rows[1][10], "timeout");
}

TEST_F(RunStoreTest, FailuresAndStepsRoundTrip) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->RecordFailure({2, "t1", "summary", "no reply"}).ok());
  ASSERT_TRUE(store->RecordFailure({1, "t9", "rollout", "HTTP 503"}).ok());
  ASSERT_TRUE(store->RecordFailure({2, "t1", "summary", "still no reply"}).ok());  // replaces
  ASSERT_TRUE(store->RecordFailure({2, "t1", "advantage", "unparseable"}).ok());
  auto failures = testing::Must(store->Failures());
  ASSERT_EQ(failures.size(), 3u);
  EXPECT_EQ(failures[0].step, 1);
  EXPECT_EQ(failures[0].task_id, "t9");
  EXPECT_EQ(failures[0].error, "HTTP 503");
  std::set<std::pair<std::string, std::string>> step2;
  for (size_t i = 1; i < failures.size(); ++i) step2.insert({failures[i].stage, failures[i].error});
  EXPECT_EQ(step2, (std::set<std::pair<std::string, std::string>>{{"summary", "still no reply"},
                                                                  {"advantage", "unparseable"}}));

  ASSERT_TRUE(store->RecordStep({2, 0, 1, R"({"groups":4})"}).ok());
  ASSERT_TRUE(store->RecordStep({1, 0, 0, R"({"groups":5})"}).ok());
  ASSERT_TRUE(store->RecordStep({2, 0, 1, R"({"groups":6})"}).ok());
  auto steps = testing::Must(store->Steps());
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].step, 1);
  EXPECT_EQ(steps[0].stats_json, R"({"groups":5})");
  EXPECT_EQ(steps[1].step, 2);
  EXPECT_EQ(steps[1].epoch, 0);
  EXPECT_EQ(steps[1].batch, 1);
  EXPECT_EQ(steps[1].stats_json, R"({"groups":6})");
  EXPECT_FALSE(Query("SELECT finished_at FROM steps WHERE step = 2")[0][0].empty());
}

TEST_F(RunStoreTest, TheLatestLibraryComesBackTypedWithCreditAndUids) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  Library library({{"check units", 2, "t4"}, {"verify", 3, "t9"}});
  library.AddCredit(1, true);
  library.AddCredit(1, false);
  ASSERT_TRUE(store->RecordLibrary(3, library.ToArtifactJson().dump(), {}).ok());
  auto latest = store->LatestLibrary();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->step, 3);
  const Library& back = (*latest)->library;
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back.items()[1].text, "verify");
  EXPECT_EQ(back.items()[1].uid, library.items()[1].uid);
  EXPECT_EQ(back.items()[1].helpful, 1);
  EXPECT_EQ(back.items()[1].harmful, 1);
  auto at = store->LibraryAt(3);
  ASSERT_TRUE(at.ok() && at->has_value());
  EXPECT_EQ((*at)->RenderLines(), library.RenderLines());
  auto missing = store->LibraryAt(7);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(RunStoreTest, AnUnreadableRecordedLibraryIsAnErrorNamingTheFileAndStep) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->RecordLibrary(0, "{}", {}).ok());
  ASSERT_TRUE(store->RecordLibrary(2, "{\"G0\": \"cut sh", {}).ok());  // a hand-edited or damaged row
  auto latest = store->LatestLibrary();
  ASSERT_FALSE(latest.ok());
  EXPECT_THAT(latest.status().message(), HasSubstr(db_path_.string()));
  EXPECT_THAT(latest.status().message(), HasSubstr("unreadable library for step 2"));
  // JSON, but not a library: the field is named.
  ASSERT_TRUE(store->RecordLibrary(3, R"({"G0": 5})", {}).ok());
  latest = store->LatestLibrary();
  ASSERT_FALSE(latest.ok());
  EXPECT_THAT(latest.status().message(), HasSubstr("run.db library of step 3"));
  EXPECT_THAT(latest.status().message(), HasSubstr("G0"));
  // The earlier, readable version still reads.
  auto first = store->LibraryAt(0);
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_TRUE((*first)->empty());
}

TEST_F(RunStoreTest, LibrariesKeepProvenanceAndLatestWins) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto none = store->LatestLibrary();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  ASSERT_TRUE(store->RecordLibrary(0, "{}", {}).ok());
  ASSERT_TRUE(store->RecordLibrary(1, R"({"G0":"check units","G1":"verify"})",
                                   {{"G0", "check units", 1, "train:4"}, {"G1", "verify", 1, "train:9"}})
                  .ok());
  ASSERT_TRUE(store->RecordLibrary(2, R"({"G0":"check units"})", {{"G0", "check units", 1, "train:4"}}).ok());

  auto latest = store->LatestLibrary();
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->step, 2);
  ASSERT_EQ((*latest)->library.size(), 1u);
  EXPECT_EQ((*latest)->library.items()[0].text, "check units");

  auto rows = Query("SELECT step, id, text, origin_step, origin_group FROM experiences ORDER BY step, id");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"1", "G0", "check units", "1", "train:4"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"1", "G1", "verify", "1", "train:9"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"2", "G0", "check units", "1", "train:4"}));

  // Re-recording a step replaces its experiences as a whole.
  ASSERT_TRUE(store->RecordLibrary(1, R"({"G0":"new"})", {{"G0", "new", 1, "train:2"}}).ok());
  rows = Query("SELECT id, text, origin_group FROM experiences WHERE step = 1");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"G0", "new", "train:2"}));
}

TEST_F(RunStoreTest, ResumeAcceptsTheSameConfigAndNamesDifferences) {
  const std::string config =
      R"({"model":{"name":"m","max_tokens":null},"practice":{"group_size":5,"epochs":3},"task":{"mode":"prompt"}})";
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->BeginOrResume(config).ok());
  }
  auto store = OpenStore();
  ASSERT_TRUE(store);
  // Same values, other key order and spacing: still the same run.
  EXPECT_TRUE(store
                  ->BeginOrResume(R"({"task": {"mode": "prompt"}, "practice": {"epochs": 3, "group_size": 5},
                                      "model": {"max_tokens": null, "name": "m"}})")
                  .ok());
  Status s = store->BeginOrResume(
      R"({"model":{"name":"m","max_tokens":null},"practice":{"group_size":8,"epochs":3},"task":{"mode":"agent"}})");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), db_path_.string() +
                             " was created with a different configuration (practice.group_size: 5 vs 8; "
                             "task.mode: \"prompt\" vs \"agent\"); use a new --run-dir or restore the "
                             "original config");
  Status added = store->BeginOrResume(
      R"({"model":{"name":"m","max_tokens":null},"practice":{"group_size":5,"epochs":3},"task":{"mode":"prompt"},"x":1})");
  EXPECT_THAT(added.message(), HasSubstr("(x: absent vs 1)"));
  EXPECT_EQ(Query("SELECT COUNT(*) FROM runs")[0][0], "1");
  EXPECT_FALSE(store->BeginOrResume("{not json").ok());
}

TEST_F(RunStoreTest, ConcurrentRecordCallsAreAllKept) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  constexpr int kThreads = 8, kPerThread = 200;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        int n = t * kPerThread + i;
        if (!store->RecordCall(Call(n)).ok()) ++failures;
        if (!store->FindCall(Call(n).fingerprint)) ++failures;  // readers interleave with writers
      }
    });
  }
  for (auto& th : threads) th.join();
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ measure  ] %d RecordCall+FindCall pairs from %d threads: %.1f us per pair\n",
              kThreads * kPerThread, kThreads, us / (kThreads * kPerThread));
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(testing::Must(store->CountCalls()), kThreads * kPerThread);
  for (int n : {0, 199, 200, 1599}) {
    auto c = store->FindCall(Call(n).fingerprint);
    ASSERT_TRUE(c.has_value()) << n;
    EXPECT_EQ(c->call_id, Call(n).call_id);
  }
}

TEST_F(RunStoreTest, AVersion1StoreIsMigratedInPlaceAndKeepsItsRecords) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->BeginOrResume(R"({"k":1})").ok());
    ASSERT_TRUE(store->RecordCall(Call(1)).ok());
    ASSERT_TRUE(store->RecordLibrary(1, R"({"G0":"x"})", {{"G0", "x", 0, "t"}}).ok());
  }
  // Turn it back into exactly what version 1 wrote: no finish_reason, reasoning or experiences_seen column,
  // user_version 1.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE llm_calls DROP COLUMN finish_reason; ALTER TABLE rollouts DROP COLUMN reasoning; DROP TABLE validations; "
                               "ALTER TABLE rollouts DROP COLUMN experiences_seen; DROP TABLE embeddings; "
                               "ALTER TABLE rollouts DROP COLUMN exit_code; ALTER TABLE rollouts DROP COLUMN agent_stderr_tail; "
                               "PRAGMA user_version=1;", nullptr,
                           nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(Query("PRAGMA user_version")[0][0], "6");
  EXPECT_TRUE(store->BeginOrResume(R"({"k":1})").ok());  // the same run resumes
  auto old_call = store->FindCall(Call(1).fingerprint);
  ASSERT_TRUE(old_call.has_value());
  EXPECT_EQ(old_call->response_json, Call(1).response_json);
  EXPECT_EQ(old_call->finish_reason, "");
  CallRecord fresh = Call(2);
  fresh.finish_reason = "length";
  ASSERT_TRUE(store->RecordCall(fresh).ok());
  EXPECT_EQ(store->FindCall(fresh.fingerprint)->finish_reason, "length");
  auto lib = store->LatestLibrary();
  ASSERT_TRUE(lib.ok() && lib->has_value());
  EXPECT_EQ((*lib)->step, 1);
  // Version 4's validations table exists after the migration and round-trips.
  ValidationRecord v;
  v.step = 2;
  v.current_score = 0.5;
  v.candidate_score = 0.25;
  v.samples = 8;
  v.failed = 1;
  v.reason = "rejected";
  v.candidate_json = "{}";
  ASSERT_TRUE(store->RecordValidation(v).ok());
  auto validations = testing::Must(store->Validations());
  ASSERT_EQ(validations.size(), 1u);
  EXPECT_EQ(validations[0].step, 2);
  EXPECT_FALSE(validations[0].accepted);
  EXPECT_DOUBLE_EQ(validations[0].candidate_score, 0.25);
  EXPECT_EQ(validations[0].failed, 1);
  // Spend per role comes from the successful calls kept in the store.
  auto spend = testing::Must(store->TokensByRole());
  ASSERT_FALSE(spend.empty());
  int64_t prompt = 0;
  for (const auto& [role, t] : spend) prompt += t.prompt_tokens;
  EXPECT_EQ(prompt, Call(1).prompt_tokens + fresh.prompt_tokens);
  // A newer schema than this build knows is refused, not downgraded.
  store.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto newer = RunStore::Open(db_path_);
  ASSERT_FALSE(newer.ok());
  EXPECT_THAT(newer.status().message(), HasSubstr("schema version 99"));
}

// Opens `db_path` as a user who may not write `shm` (root ignores file modes, so a root test
// drops to nobody in a child) and returns the error message, or "" when it opened.
std::string OpenWithUnwritableShm(const fs::path& db_path, const fs::path& shm) {
  fs::permissions(shm, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  if (::geteuid() != 0) {
    auto r = RunStore::Open(db_path);
    return r.ok() ? std::string() : r.status().message();
  }
  // Everything but the -shm file is writable by nobody.
  for (const fs::path& p : {db_path.parent_path(), db_path, fs::path(db_path.string() + "-wal")}) {
    if (fs::exists(p)) fs::permissions(p, fs::perms::all, fs::perm_options::add);
  }
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(7);
    auto r = RunStore::Open(db_path);
    const std::string message = r.ok() ? std::string() : r.status().message();
    (void)!::write(fds[1], message.data(), message.size());
    _exit(r.ok() ? 0 : 1);
  }
  ::close(fds[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  if (WIFSIGNALED(wstatus)) return "child killed by signal " + std::to_string(WTERMSIG(wstatus));
  if (WEXITSTATUS(wstatus) == 7) return "could not drop privileges";
  return message;
}

TEST_F(RunStoreTest, AnUnwritableShmFileIsAClearErrorAtOpen) {
  // A run killed mid-write leaves run.db-wal and run.db-shm behind.
  fs::create_directories(db_path_.parent_path());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto r = RunStore::Open(db_path_);
    if (!r.ok() || !(*r)->RecordCall(Call(1)).ok()) _exit(2);
    raise(SIGKILL);
    _exit(3);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus));
  const fs::path shm = db_path_.string() + "-shm";
  ASSERT_TRUE(fs::exists(shm));

  const std::string message = OpenWithUnwritableShm(db_path_, shm);
  EXPECT_THAT(message, HasSubstr(shm.string() + " is not writable")) << message;
  fs::permissions(shm, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(OpenStore());  // fixed: opens again
}

TEST_F(RunStoreTest, RecordsSurviveAKillWithoutClose) {
  constexpr int kCalls = 300;
  fs::create_directories(db_path_.parent_path());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child opens its own connection (never share one across fork) and dies mid-run.
    auto r = RunStore::Open(db_path_);
    if (!r.ok()) _exit(2);
    auto& store = *r;
    if (!store->BeginOrResume(R"({"k":1})").ok()) _exit(3);
    for (int i = 0; i < kCalls; ++i) {
      if (!store->RecordCall(Call(i)).ok()) _exit(4);
    }
    if (!store->RecordLibrary(1, R"({"G0":"x"})", {{"G0", "x", 1, "t"}}).ok()) _exit(5);
    raise(SIGKILL);
    _exit(6);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);
  EXPECT_EQ(WTERMSIG(wstatus), SIGKILL);

  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(testing::Must(store->CountCalls()), kCalls);
  auto last = store->FindCall(Call(kCalls - 1).fingerprint);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->response_json, Call(kCalls - 1).response_json);
  auto lib = store->LatestLibrary();
  ASSERT_TRUE(lib.ok() && lib->has_value());
  EXPECT_EQ((*lib)->step, 1);
  EXPECT_TRUE(store->BeginOrResume(R"({"k":1})").ok());
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST(RunStoreSchema, CallStatusAndRolloutGroupAreQueryable) {
  auto dir = std::filesystem::temp_directory_path() / ("tfgrpo-schema-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    auto store = RunStore::Open(dir / "run.db");
    ASSERT_TRUE(store.ok());
    CallRecord ok_call;
    ok_call.fingerprint = "a";
    ok_call.role = "rollout";
    ok_call.ok = true;
    CallRecord failed_call = ok_call;
    failed_call.fingerprint = "b";
    failed_call.ok = false;
    failed_call.error = "provider error: HTTP 400";
    ASSERT_TRUE((*store)->RecordCall(ok_call).ok());
    ASSERT_TRUE((*store)->RecordCall(failed_call).ok());
    RolloutRecord r;
    r.step = 3;
    r.task_id = "t7";
    ASSERT_TRUE((*store)->RecordRollout(r).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "run.db").c_str(), &db), SQLITE_OK);
  auto scalar = [db](const char* sql) {
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  };
  EXPECT_EQ(scalar("SELECT status FROM llm_calls WHERE fingerprint = 'a'"), "ok");
  EXPECT_EQ(scalar("SELECT status FROM llm_calls WHERE fingerprint = 'b'"), "error");
  EXPECT_EQ(scalar("SELECT group_id FROM rollouts"), "s3/t7");
  sqlite3_close(db);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tfgrpo
