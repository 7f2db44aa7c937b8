// The grader's reasoning as a critique: a python reward's "reasoning" reaches the summary prompt
// (with ground truth only) and the run store's rollouts.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>

#include "test_util.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::Reply;
using testing::ScriptedClient;
using testing::TempDir;

Config CritiqueConfig(const TempDir& dir) {
  ::chmod(dir.path().c_str(), 0755);  // the sandbox runs as another uid when the tests run as root
  std::ofstream(dir / "train.jsonl") << "{\"id\":\"t0\",\"problem\":\"Problem number 0\",\"groundtruth\":\"ANS0\","
                                        "\"hint\":\"H0\"}\n";
  std::ofstream(dir / "verify.py") << "def verify(problem, answer, response, task):\n"
                                      "    ok = answer in response\n"
                                      "    return {'reward': 1.0 if ok else 0.0,\n"
                                      "            'reasoning': 'GRADER-SAYS ' + ('fine' if ok else 'missed ' + "
                                      "task['hint'])}\n";
  ::chmod((dir / "verify.py").c_str(), 0644);
  Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = "http://unused";
  c.model.name = "scripted";
  c.model.concurrency = 4;
  c.data.train = dir / "train.jsonl";
  c.task.reward = RewardKind::kPython;
  c.task.reward_file = dir / "verify.py";
  c.task.reward_workers = 1;
  c.task.instructions = "Answer.";
  c.practice.epochs = 1;
  c.practice.batch_size = 1;
  c.practice.group_size = 2;
  return c;
}

Result<ChatResponse> Script(const ChatRequest& r) {
  switch (r.role) {
    case Role::kRollout: return Reply(EndsWith(r.call_id, "/r0") ? "\\boxed{ANS0}" : "\\boxed{WRONG}");
    case Role::kSummary: return Reply("1. The attempt did things.");
    case Role::kAdvantage: return Reply("<Experiences>\n1. A lesson.\n</Experiences>");
    case Role::kGroupUpdate:
      return Reply("```json\n[{\"operation\":\"ADD\",\"id\":null,\"content\":\"A lesson.\"}]\n```");
    case Role::kBatchUpdate:
      return Reply("```json\n[{\"operation\":\"ADD\",\"id\":null,\"content\":\"A lesson.\"}]\n```");
    default: return Status::Internal("unexpected role");
  }
}

std::vector<std::string> StoredReasonings(const std::filesystem::path& db_path) {
  sqlite3* db = nullptr;
  std::vector<std::string> out;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT reasoning FROM rollouts ORDER BY sample", -1, &st, nullptr);
  while (st && sqlite3_step(st) == SQLITE_ROW) out.push_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

TEST(Critique, PythonRewardReasoningReachesTheSummaryPromptAndTheStore) {
  TempDir dir;
  Config c = CritiqueConfig(dir);
  ScriptedClient client(Script);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto summaries = client.requests(Role::kSummary);
  ASSERT_EQ(summaries.size(), 2u);
  bool saw_fine = false, saw_missed = false;
  for (const auto& r : summaries) {
    const std::string& p = r.messages.back().content;
    EXPECT_NE(p.find("## The grader's critique of this attempt"), std::string::npos) << p;
    saw_fine = saw_fine || p.find("GRADER-SAYS fine") != std::string::npos;
    saw_missed = saw_missed || p.find("GRADER-SAYS missed H0") != std::string::npos;
  }
  EXPECT_TRUE(saw_fine && saw_missed);
  EXPECT_EQ(StoredReasonings(dir / "run" / "run.db"),
            (std::vector<std::string>{"GRADER-SAYS fine", "GRADER-SAYS missed H0"}));
}

TEST(Critique, WithoutGroundTruthTheCritiqueIsNotShown) {
  TempDir dir;
  Config c = CritiqueConfig(dir);
  c.practice.given_ground_truth = false;
  ScriptedClient client(Script);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ASSERT_TRUE(Train(c, opt, client).ok());
  auto summaries = client.requests(Role::kSummary);
  ASSERT_FALSE(summaries.empty());
  for (const auto& r : summaries) {
    EXPECT_EQ(r.messages.back().content.find("GRADER-SAYS"), std::string::npos);
    EXPECT_EQ(r.messages.back().content.find("critique"), std::string::npos);
  }
}

TEST(Critique, ABrokenRewardFileStopsTheRunBeforeAnyLlmCall) {
  TempDir dir;
  Config c = CritiqueConfig(dir);
  std::ofstream(dir / "verify.py") << "def verify(problem, answer, response, task)\n    return 1\n";
  ScriptedClient client(Script);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("verify.py:1: syntax error"), std::string::npos) << s.status().ToString();
  EXPECT_TRUE(client.requests().empty());
}

}  // namespace
}  // namespace tfgrpo
