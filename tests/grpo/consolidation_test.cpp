// The batch_update stage against a scripted learner: a reply that does not parse is asked again
// and at worst leaves the library as it was (never the raw proposals), many proposals are merged
// in chunks, and the reply's "from" names where each experience came from.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "test_util.h"
#include "train_config.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/library.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::Reply;
using testing::ScriptedClient;
using testing::TempDir;

std::string TaskNumber(const ChatRequest& r) {
  static const std::regex re("(?:Problem number|Lesson from task) (\\d+)");
  return testing::FirstCapture(r, re);
}

// Samples 0 and 1 right, the rest wrong; each group proposes `per_group` distinct ADDs; the
// consolidation is `batch`.
ScriptedClient::Script Learner(int per_group, ScriptedClient::Script batch) {
  return [per_group, batch](const ChatRequest& r) -> Result<ChatResponse> {
    switch (r.role) {
      case Role::kRollout: {
        const bool good = EndsWith(r.call_id, "/r0") || EndsWith(r.call_id, "/r1");
        return Reply(good ? "\\boxed{ANS" + TaskNumber(r) + "}" : "\\boxed{WRONG}");
      }
      case Role::kSummary: return Reply("1. The attempt did things.");
      case Role::kAdvantage:
        return Reply("<Experiences>\n1. Lesson from task " + TaskNumber(r) + ".\n</Experiences>");
      case Role::kGroupUpdate: {
        nlohmann::json ops = nlohmann::json::array();
        for (int i = 0; i < per_group; ++i)
          ops.push_back({{"operation", "ADD"},
                         {"id", nullptr},
                         {"content", "Lesson " + std::to_string(i) + " from task " + TaskNumber(r) + "."}});
        return Reply("```json\n" + ops.dump() + "\n```");
      }
      case Role::kBatchUpdate: return batch(r);
      default: return Status::Internal("unexpected role");
    }
  };
}

// The proposals listed in a batch_update prompt (the JSON array after "## Proposals").
nlohmann::json ProposalsIn(const ChatRequest& r) {
  const std::string& p = r.messages.back().content;
  const size_t start = p.find("\n[\n", p.find("## Proposals"));
  const size_t end = p.find("\n]", start);
  return nlohmann::json::parse(p.substr(start + 1, end + 1 - start));
}

// Keeps every proposal, saying which one each came from.
Result<ChatResponse> KeepWithFrom(const ChatRequest& r) {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& p : ProposalsIn(r))
    ops.push_back({{"operation", p["operation"]}, {"id", p["id"]}, {"content", p["content"]},
                   {"from", {p["proposal"]}}});
  return Reply("```json\n" + ops.dump() + "\n```");
}

const char* const kGarbage = "Merged:\n```json\n[{\"operation\": \"ADD\", \"content\": \"Chec";

std::vector<FailureRecord> Failures(const TempDir& dir) {
  auto store = RunStore::Open(dir / "run" / "run.db");
  return store.ok() ? testing::Must((*store)->Failures()) : std::vector<FailureRecord>{};
}

// Captures the info lines of a training run.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(Consolidation, AGarbageReplyIsAskedAgainWithItsOwnCallIdAndAUsableRetryApplies) {
  TempDir dir;
  Config c = testing::MakeTrainConfig(dir, 2, 4);
  ScriptedClient client(Learner(1, [](const ChatRequest& r) -> Result<ChatResponse> {
    if (!EndsWith(r.call_id, "/try3")) return Reply(kGarbage);
    return testing::KeepEveryProposal(r);
  }));
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::vector<std::string> ids;
  for (const auto& r : client.requests(Role::kBatchUpdate)) ids.push_back(r.call_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"s0/batch_update", "s0/batch_update/try2", "s0/batch_update/try3"}));
  EXPECT_EQ(s->library.size(), 2u);
  EXPECT_EQ(s->stages_failed, 2);  // the two garbage replies
}

TEST(Consolidation, ThreeGarbageRepliesLeaveTheLibraryExactlyAsItWasAndRecordEveryProposal) {
  TempDir dir;
  Config c = testing::MakeTrainConfig(dir, 3, 4);
  const Library start({Experience("Read the question twice."), Experience("Check the units.")});
  ASSERT_TRUE(start.Save(dir / "init.json").ok());
  ScriptedClient client(Learner(2, [](const ChatRequest&) -> Result<ChatResponse> { return Reply(kGarbage); }));
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.init_experiences = dir / "init.json";
  LogCapture log;
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(client.requests(Role::kBatchUpdate).size(), 3u);
  // Not the six raw proposals: the two experiences it started with, and nothing else.
  EXPECT_EQ(s->library.RenderLines(), start.RenderLines());
  auto saved = Library::Load(dir / "run" / "experiences.json");
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->RenderLines(), start.RenderLines());
  EXPECT_NE(log.text().find("consolidation failed: library unchanged"), std::string::npos) << log.text();

  // Every proposal is on record with the group it came from (one record per group).
  std::map<std::string, std::string> recorded;
  for (const FailureRecord& f : Failures(dir))
    if (f.stage == "batch_update" && !f.task_id.empty()) recorded[f.task_id] = f.error;
  ASSERT_EQ(recorded.size(), 3u);
  EXPECT_EQ(recorded["t1"].rfind("consolidation failed after 3 calls (", 0), 0u) << recorded["t1"];
  EXPECT_NE(recorded["t1"].find("library unchanged, proposals not applied: ADD: Lesson 0 from task 1. | ADD: Lesson 1 "
                                "from task 1."),
            std::string::npos)
      << recorded["t1"];
}

TEST(Consolidation, ATransientFailureOfTheCallIsNotRetriedHereAndLeavesTheStepUndone) {
  TempDir dir;
  Config c = testing::MakeTrainConfig(dir, 2, 4);
  ScriptedClient client(Learner(1, [](const ChatRequest&) -> Result<ChatResponse> {
    return Status::Unavailable("POST u failed after 7 attempts; last error: HTTP 503");
  }));
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(client.requests(Role::kBatchUpdate).size(), 1u);  // the client already retried it
}

TEST(Consolidation, ManyProposalsAreMergedInChunksEachAgainstTheLibraryThePreviousMade) {
  TempDir dir;
  Config c = testing::MakeTrainConfig(dir, 30, 4, /*batch_size=*/30);  // 30 groups x 4 = 120 proposals
  c.practice.max_experiences = 0;
  ScriptedClient client(Learner(4, testing::KeepEveryProposal));
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto batch = client.requests(Role::kBatchUpdate);
  ASSERT_EQ(batch.size(), 3u);  // practice.max_proposals_per_call: 40
  EXPECT_EQ(batch[0].call_id, "s0/batch_update");
  EXPECT_EQ(batch[1].call_id, "s0/batch_update/c2");
  EXPECT_EQ(batch[2].call_id, "s0/batch_update/c3");
  for (size_t i = 0; i < batch.size(); ++i) {
    const nlohmann::json proposals = ProposalsIn(batch[i]);
    ASSERT_EQ(proposals.size(), 40u);
    EXPECT_EQ(proposals[0]["proposal"], "P1");
    EXPECT_EQ(proposals[39]["proposal"], "P40");
    // Each call sees what the calls before it added.
    const std::string& prompt = batch[i].messages.back().content;
    EXPECT_EQ(prompt.find("[G" + std::to_string(40 * i) + "]"), std::string::npos);
    if (i > 0) EXPECT_NE(prompt.find("[G" + std::to_string(40 * i - 1) + "]"), std::string::npos) << prompt;
  }
  EXPECT_EQ(s->library.size(), 120u);

  // A smaller cap makes more, smaller calls.
  TempDir dir2;
  Config c2 = testing::MakeTrainConfig(dir2, 30, 4, 30);
  c2.practice.max_experiences = 0;
  c2.practice.max_proposals_per_call = 50;
  ScriptedClient client2(Learner(4, testing::KeepEveryProposal));
  TrainOptions opt2;
  opt2.run_dir = dir2 / "run";
  ASSERT_TRUE(Train(c2, opt2, client2).ok());
  auto batch2 = client2.requests(Role::kBatchUpdate);
  ASSERT_EQ(batch2.size(), 3u);
  EXPECT_EQ(ProposalsIn(batch2[2]).size(), 20u);
}

TEST(Consolidation, FromNamesTheOriginInLibraryJsonAndAReplyWithoutItStillApplies) {
  TempDir dir;
  Config c = testing::MakeTrainConfig(dir, 3, 4);
  // One merged experience from the second and third proposals: its origin is the second's group.
  ScriptedClient client(Learner(1, [](const ChatRequest& r) -> Result<ChatResponse> {
    const nlohmann::json proposals = ProposalsIn(r);
    EXPECT_EQ(proposals.size(), 3u);
    nlohmann::json ops = nlohmann::json::array();
    ops.push_back({{"operation", "ADD"}, {"id", nullptr}, {"content", "A merged lesson."}, {"from", {"P2", "P3"}}});
    ops.push_back({{"operation", "ADD"}, {"id", nullptr}, {"content", "A lesson of unknown origin."}});
    ops.push_back({{"operation", "ADD"}, {"id", nullptr}, {"content", "Bad provenance."}, {"from", "P1"}});
    return Reply("```json\n" + ops.dump() + "\n```");
  }));
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto text = ReadFile(dir / "run" / "library.json");
  ASSERT_TRUE(text.ok());
  const nlohmann::json lib = nlohmann::json::parse(*text);
  ASSERT_EQ(lib["experiences"].size(), 3u);
  // The proposals are listed in batch order: P2 is task t1's.
  EXPECT_EQ(lib["experiences"][0]["origin_task"], "t1");
  EXPECT_EQ(lib["experiences"][1]["origin_task"], "");
  EXPECT_EQ(lib["experiences"][2]["origin_task"], "");
}

TEST(Consolidation, ThePromptListsEachExperienceWithTheProposalsAimedAtItThenTheNewOnes) {
  TempDir dir;
  Config c = testing::MakeTrainConfig(dir, 1, 4);
  c.practice.agent_objective = "Solve arithmetic word problems.";
  c.practice.learning_objective = "Lessons about checking work.";
  const Library start({Experience("Read the question twice."), Experience("Check the units.")});
  ASSERT_TRUE(start.Save(dir / "init.json").ok());
  auto script = Learner(1, KeepWithFrom);
  ScriptedClient client([script](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role != Role::kGroupUpdate) return script(r);
    return Reply(R"(```json
[{"operation": "ADD", "id": null, "content": "New idea."},
 {"operation": "UPDATE", "id": "G1", "content": "Check the units on both sides."},
 {"operation": "DELETE", "id": "G1", "content": ""}]
```)");
  });
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.init_experiences = dir / "init.json";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto batch = client.requests(Role::kBatchUpdate);
  ASSERT_EQ(batch.size(), 1u);
  const std::string& prompt = batch[0].messages.back().content;
  EXPECT_NE(prompt.find("[G1]. Check the units. (helpful=0 harmful=0)\n    proposals aimed at it: P1 UPDATE, P2 DELETE"),
            std::string::npos)
      << prompt;
  const nlohmann::json proposals = ProposalsIn(batch[0]);
  ASSERT_EQ(proposals.size(), 3u);
  EXPECT_EQ(proposals[0]["operation"], "UPDATE");
  EXPECT_EQ(proposals[2]["operation"], "ADD");
  EXPECT_EQ(proposals[2]["proposal"], "P3");
  EXPECT_NE(prompt.find("Solve arithmetic word problems."), std::string::npos);
  EXPECT_NE(prompt.find("Lessons about checking work."), std::string::npos);
  // requests() returns a copy: keep the text, not a reference into the temporary.
  const std::string group_prompt = client.requests(Role::kGroupUpdate)[0].messages.back().content;
  EXPECT_NE(group_prompt.find("Solve arithmetic word problems."), std::string::npos);
  EXPECT_NE(group_prompt.find("Lessons about checking work."), std::string::npos);
}

TEST(LearnerPrompts, AnOverrideWithAnUnknownOrMissingVariableStopsTheRunBeforeTheFirstCall) {
  TempDir dir;
  Config c = testing::MakeTrainConfig(dir, 2, 4);
  std::filesystem::create_directories(dir / "prompts");
  ASSERT_TRUE(WriteFileAtomic(dir / "prompts" / "batch_update.txt", "Merge {{operations}} into {{libary}}.").ok());
  ScriptedClient client(Learner(1, testing::KeepEveryProposal));
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.prompts_dir = dir / "prompts";
  auto s = Train(c, opt, client);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find((dir / "prompts" / "batch_update.txt").string()), std::string::npos)
      << s.status().message();
  EXPECT_NE(s.status().message().find("'libary'"), std::string::npos) << s.status().message();
  EXPECT_TRUE(client.requests().empty());  // not one rollout paid for
}

}  // namespace
}  // namespace tfgrpo
