// rollouts.reasoning: new run stores have it, and a run dir created before it existed (schema version 2)
// gets the column on open, so resuming an old run records reasoning too.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "test_util.h"
#include "tfgrpo/store.h"

namespace tfgrpo {
namespace {

std::string Query(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) return "(cannot open)";
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    for (int row = 0; sqlite3_step(st) == SQLITE_ROW; ++row) {
      const unsigned char* text = sqlite3_column_text(st, 0);
      out += (row == 0 ? "" : "|") + std::string(text ? reinterpret_cast<const char*>(text) : "NULL");
    }
  } else {
    out = std::string("(error: ") + sqlite3_errmsg(db) + ")";
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

RolloutRecord Rollout(int sample, std::string reasoning) {
  RolloutRecord r;
  r.task_id = "t0";
  r.sample = sample;
  r.messages_json = "[]";
  r.answer = "4";
  r.reward = 1;
  r.reasoning = std::move(reasoning);
  return r;
}

TEST(RolloutReasoning, IsStoredWithTheRollout) {
  testing::TempDir dir;
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->RecordRollout(Rollout(0, "2 of 5 tests pass")).ok());
  store->reset();
  EXPECT_EQ(Query(dir / "run.db", "SELECT reasoning FROM rollouts"), "2 of 5 tests pass");
}

TEST(RolloutReasoning, AnOlderRunStoreGainsTheColumn) {
  testing::TempDir dir;
  {
    auto store = RunStore::Open(dir / "run.db");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->RecordRollout(Rollout(0, "")).ok());
  }
  // As written by a tfgrpo from before the column.
  ASSERT_EQ(Query(dir / "run.db", "ALTER TABLE rollouts DROP COLUMN reasoning"), "");
  ASSERT_EQ(Query(dir / "run.db", "ALTER TABLE rollouts DROP COLUMN experiences_seen"), "");  // version 5
  ASSERT_EQ(Query(dir / "run.db", "ALTER TABLE rollouts DROP COLUMN exit_code"), "");  // version 6
  ASSERT_EQ(Query(dir / "run.db", "ALTER TABLE rollouts DROP COLUMN agent_stderr_tail"), "");
  ASSERT_EQ(Query(dir / "run.db", "DROP TABLE embeddings"), "");
  ASSERT_EQ(Query(dir / "run.db", "PRAGMA user_version=2"), "");
  ASSERT_NE(Query(dir / "run.db", "SELECT reasoning FROM rollouts").find("no such column"), std::string::npos);
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->RecordRollout(Rollout(1, "accepted a wrong answer")).ok());
  store->reset();
  EXPECT_EQ(Query(dir / "run.db", "SELECT reasoning FROM rollouts ORDER BY sample"), "|accepted a wrong answer");
}

TEST(RolloutExperiencesSeen, AreStoredWithTheRolloutAndAVersion4StoreGainsTheColumn) {
  testing::TempDir dir;
  {
    auto store = RunStore::Open(dir / "run.db");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->RecordRollout(Rollout(0, "")).ok());
  }
  ASSERT_EQ(Query(dir / "run.db", "ALTER TABLE rollouts DROP COLUMN experiences_seen"), "");
  ASSERT_EQ(Query(dir / "run.db", "DROP TABLE embeddings"), "");
  ASSERT_EQ(Query(dir / "run.db", "ALTER TABLE rollouts DROP COLUMN exit_code"), "");
  ASSERT_EQ(Query(dir / "run.db", "ALTER TABLE rollouts DROP COLUMN agent_stderr_tail"), "");
  ASSERT_EQ(Query(dir / "run.db", "PRAGMA user_version=4"), "");
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  RolloutRecord r = Rollout(1, "");
  r.experiences_seen = R"(["G2","G7"])";
  ASSERT_TRUE((*store)->RecordRollout(r).ok());
  ASSERT_TRUE((*store)->RecordEmbedding("m", "abc", {0.5f, -1.0f}).ok());
  EXPECT_EQ((*store)->FindEmbedding("m", "abc"), (std::vector<float>{0.5f, -1.0f}));
  EXPECT_FALSE((*store)->FindEmbedding("other-model", "abc"));
  store->reset();
  EXPECT_EQ(Query(dir / "run.db", "SELECT experiences_seen FROM rollouts ORDER BY sample"), R"(|["G2","G7"])");
}

TEST(RolloutAgentExit, IsStoredWithTheRolloutAndAVersion5StoreGainsTheColumns) {
  testing::TempDir dir;
  {
    auto store = RunStore::Open(dir / "run.db");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->RecordRollout(Rollout(0, "")).ok());
  }
  // As written by a tfgrpo from before external agents.
  ASSERT_EQ(Query(dir / "run.db", "ALTER TABLE rollouts DROP COLUMN exit_code"), "");
  ASSERT_EQ(Query(dir / "run.db", "ALTER TABLE rollouts DROP COLUMN agent_stderr_tail"), "");
  ASSERT_EQ(Query(dir / "run.db", "PRAGMA user_version=5"), "");
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  RolloutRecord failed = Rollout(1, "");
  failed.error = "agent failed (exit 3): the agent exited with status 3";
  failed.exit_code = 3;
  failed.agent_stderr_tail = "Traceback: boom";
  ASSERT_TRUE((*store)->RecordRollout(failed).ok());
  RolloutRecord killed = Rollout(2, "");
  killed.exit_code = -1;
  ASSERT_TRUE((*store)->RecordRollout(killed).ok());
  store->reset();
  // The rollout recorded before the migration (and any built-in one) has no exit code.
  EXPECT_EQ(Query(dir / "run.db", "SELECT ifnull(exit_code, 'null') || ':' || agent_stderr_tail FROM rollouts ORDER BY sample"),
            "null:|3:Traceback: boom|-1:");
  EXPECT_EQ(Query(dir / "run.db", "PRAGMA user_version"), "6");
}

}  // namespace
}  // namespace tfgrpo
