// The defences of the learning loop against a learner that is wrong: the learner prompts see
// the library, experiences earn credit from the rollouts that applied them, operations that
// leak answers are dropped, the library stays under its cap, and runs can start from a library.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

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

Config MakeConfig(const TempDir& dir, int n_tasks, int group_size = 4, int batch_size = 10, int epochs = 1) {
  return testing::MakeTrainConfig(dir, n_tasks, group_size, batch_size, epochs);
}

std::string TaskNumber(const ChatRequest& r) {
  static const std::regex re("(?:Problem number|A lesson from task) (\\d+)");
  return testing::FirstCapture(r, re);
}

int SampleOf(const std::string& call_id) {  // ".../summary3" -> 3
  return std::stoi(call_id.substr(call_id.find_last_not_of("0123456789") + 1));
}

// Samples 0 and 1 of every group are right, the rest wrong. The summaries of right attempts say
// they applied G0, those of wrong ones G1 (and a G9 that does not exist). The learner proposes
// `proposal(task)` as an ADD; consolidation keeps every proposal.
struct Learner {
  std::function<std::string(const std::string&)> proposal = [](const std::string& t) {
    return "Lesson learned on a task of kind " + std::string(t.size(), 'x') + " number " + t;
  };
  Result<ChatResponse> operator()(const ChatRequest& r) const {
    switch (r.role) {
      case Role::kRollout: {
        bool good = EndsWith(r.call_id, "/r0") || EndsWith(r.call_id, "/r1");
        return Reply(good ? "\\boxed{ANS" + TaskNumber(r) + "}" : "\\boxed{WRONG}");
      }
      case Role::kSummary:
        return Reply(SampleOf(r.call_id) < 2 ? "1. Did it right.\nApplied: G0" : "1. Went wrong.\nApplied: [G1], G9");
      case Role::kAdvantage: return Reply("<Experiences>\n1. A lesson from task " + TaskNumber(r) + ".\n</Experiences>");
      case Role::kGroupUpdate: {
        nlohmann::json ops = nlohmann::json::array(
            {{{"operation", "ADD"}, {"id", nullptr}, {"content", proposal(TaskNumber(r))}}});
        return Reply("```json\n" + ops.dump() + "\n```");
      }
      case Role::kBatchUpdate: return testing::KeepEveryProposal(r);
      default: return Status::Internal("unexpected role");
    }
  }
};

void WriteInitialLibrary(const std::filesystem::path& path) {
  std::ofstream(path) << R"({"G0": "Always check the units.", "G1": "Guess quickly without checking."})";
}

TEST(Learning, SummaryAndAdvantagePromptsCarryTheLibrary) {
  TempDir dir;
  Config c = MakeConfig(dir, 2);
  WriteInitialLibrary(dir / "init.json");
  ScriptedClient client(Learner{});
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.init_experiences = dir / "init.json";
  ASSERT_TRUE(Train(c, opt, client).ok());
  for (Role role : {Role::kSummary, Role::kAdvantage}) {
    auto reqs = client.requests(role);
    ASSERT_FALSE(reqs.empty());
    for (const auto& r : reqs) {
      EXPECT_NE(r.messages.back().content.find("[G0]. Always check the units.\n[G1]. Guess quickly"),
                std::string::npos)
          << RoleName(role);
      EXPECT_EQ(r.messages.back().content.find("helpful="), std::string::npos) << "credit is for consolidation only";
    }
  }
  // Rollouts never see the credit either.
  for (const auto& r : client.requests(Role::kRollout))
    EXPECT_EQ(r.messages[0].content.find("helpful"), std::string::npos);
}

TEST(Learning, CreditGoesToWhatRolloutsAboveAndBelowTheMeanApplied) {
  TempDir dir;
  Config c = MakeConfig(dir, 3, /*group_size=*/4, /*batch_size=*/3, /*epochs=*/2);  // two steps
  WriteInitialLibrary(dir / "init.json");
  ScriptedClient client(Learner{});
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.init_experiences = dir / "init.json";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  // Step 1: 3 groups x 2 right attempts credit G0, 2 wrong ones blame G1; G9 does not exist.
  auto batch = client.requests(Role::kBatchUpdate);
  ASSERT_EQ(batch.size(), 2u);
  const std::string& first = batch[0].messages.back().content;
  EXPECT_NE(first.find("[G0]. Always check the units. (helpful=6 harmful=0)"), std::string::npos) << first;
  EXPECT_NE(first.find("[G1]. Guess quickly without checking. (helpful=0 harmful=6)"), std::string::npos);
  // Step 2: the counts grew on the same experiences, though three ADDs came after them.
  const std::string& second = batch[1].messages.back().content;
  EXPECT_NE(second.find("(helpful=12 harmful=0)"), std::string::npos) << second;
  EXPECT_NE(second.find("(helpful=0 harmful=12)"), std::string::npos);

  auto lib = Library::Load(dir / "run" / "library.json");
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  EXPECT_EQ(lib->items()[0].helpful, 12);
  EXPECT_EQ(lib->items()[1].harmful, 12);
}

TEST(Learning, CreditSurvivesResume) {
  TempDir a, b;
  for (TempDir* d : {&a, &b}) WriteInitialLibrary(*d / "init.json");
  Config ca = MakeConfig(a, 3, 4, 3, 3), cb = MakeConfig(b, 3, 4, 3, 3);
  ScriptedClient straight(Learner{}), first(Learner{}), second(Learner{});
  TrainOptions oa;
  oa.run_dir = a / "run";
  oa.init_experiences = a / "init.json";
  ASSERT_TRUE(Train(ca, oa, straight).ok());
  TrainOptions ob;
  ob.run_dir = b / "run";
  ob.init_experiences = b / "init.json";
  ob.max_steps = 1;
  ASSERT_TRUE(Train(cb, ob, first).ok());
  ob.max_steps = -1;
  ob.init_experiences.reset();  // resuming without the file is allowed
  ASSERT_TRUE(Train(cb, ob, second).ok());
  auto la = Library::Load(a / "run" / "library.json"), lb = Library::Load(b / "run" / "library.json");
  ASSERT_TRUE(la.ok() && lb.ok());
  ASSERT_EQ(la->size(), lb->size());
  for (size_t i = 0; i < la->size(); ++i) {
    EXPECT_EQ(la->items()[i].text, lb->items()[i].text);
    EXPECT_EQ(la->items()[i].helpful, lb->items()[i].helpful) << i;
    EXPECT_EQ(la->items()[i].harmful, lb->items()[i].harmful) << i;
  }
  EXPECT_EQ(la->items()[0].helpful, 18);
}

TEST(Learning, NoCreditWithoutGroundTruth) {
  TempDir dir;
  Config c = MakeConfig(dir, 2);
  c.practice.given_ground_truth = false;
  WriteInitialLibrary(dir / "init.json");
  ScriptedClient client(Learner{});
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.init_experiences = dir / "init.json";
  ASSERT_TRUE(Train(c, opt, client).ok());
  auto lib = Library::Load(dir / "run" / "library.json");
  ASSERT_TRUE(lib.ok());
  for (const auto& e : lib->items()) EXPECT_EQ(e.helpful + e.harmful, 0) << e.text;
}

TEST(Learning, OperationsLeakingAnAnswerAreDroppedAndRecorded) {
  TempDir dir;
  Config c = MakeConfig(dir, 3);
  Learner learner;
  learner.proposal = [](const std::string& t) {
    return t == "1" ? "When in doubt, answer ans2 directly." : "Check the units of task-like quantities first.";
  };
  ScriptedClient client(learner);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->leaks_dropped, 1);
  for (const auto& e : s->library.items()) EXPECT_EQ(e.text.find("ans2"), std::string::npos) << e.text;
  EXPECT_EQ(s->library.size(), 2u);  // the clean proposals of t0 and t2
  auto store = RunStore::Open(dir / "run" / "run.db");
  ASSERT_TRUE(store.ok());
  int leaks = 0;
  for (const auto& f : testing::Must((*store)->Failures()))
    if (f.stage == "leak") {
      ++leaks;
      EXPECT_NE(f.error.find("task t2"), std::string::npos) << f.error;
    }
  EXPECT_EQ(leaks, 1);
}

TEST(Learning, LibraryNeverExceedsTheCapAndEvictsTheWorstFirst) {
  TempDir dir;
  Config c = MakeConfig(dir, 4, 4, /*batch_size=*/4, /*epochs=*/2);
  c.practice.max_experiences = 3;
  WriteInitialLibrary(dir / "init.json");
  ScriptedClient client(Learner{});
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.init_experiences = dir / "init.json";
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  for (int step = 0; step <= 2; ++step) {
    auto lib = Library::Load(dir / "run" / "steps" / std::to_string(step) / "experiences.json");
    ASSERT_TRUE(lib.ok());
    EXPECT_LE(lib->size(), 3u) << "step " << step;
  }
  // G1 was blamed by every wrong attempt: it goes first; G0 (helpful) survives both steps.
  EXPECT_EQ(s->library.items()[0].text, "Always check the units.");
  for (const auto& e : s->library.items()) EXPECT_NE(e.text, "Guess quickly without checking.");
  EXPECT_GT(s->evicted, 0);
  auto store = RunStore::Open(dir / "run" / "run.db");
  ASSERT_TRUE(store.ok());
  bool recorded = false;
  for (const auto& f : testing::Must((*store)->Failures()))
    if (f.stage == "eviction" && f.error.find("Guess quickly") != std::string::npos) recorded = true;
  EXPECT_TRUE(recorded);
  // The consolidation prompt states the limit.
  EXPECT_NE(client.requests(Role::kBatchUpdate)[0].messages.back().content.find("at most 3 experiences"),
            std::string::npos);
}

TEST(Learning, InitExperiencesBecomeStepZeroAndMustMatchOnResume) {
  TempDir dir;
  Config c = MakeConfig(dir, 2, 4, 1, 1);  // two steps
  WriteInitialLibrary(dir / "init.json");
  ScriptedClient client(Learner{});
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.init_experiences = dir / "init.json";
  opt.max_steps = 1;
  ASSERT_TRUE(Train(c, opt, client).ok());
  auto step0 = Library::Load(dir / "run" / "steps" / "0" / "experiences.json");
  ASSERT_TRUE(step0.ok());
  EXPECT_EQ(step0->RenderLines(), "[G0]. Always check the units.\n[G1]. Guess quickly without checking.");

  std::ofstream(dir / "other.json") << R"(["Something else entirely."])";
  opt.init_experiences = dir / "other.json";
  opt.max_steps = -1;
  auto refused = Train(c, opt, client);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--init-experiences"), std::string::npos) << refused.status().message();

  // The same library in the artifact format is the same library.
  ASSERT_TRUE(step0->SaveArtifact(dir / "same.json", nlohmann::json::object()).ok());
  opt.init_experiences = dir / "same.json";
  auto resumed = Train(c, opt, client);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->steps_run, 1);
}

TEST(Learning, LibraryArtifactRecordsProvenanceWithoutCredentials) {
  TempDir dir;
  Config c = MakeConfig(dir, 2);
  c.model.base_url = "https://user:s3cretpass@llm.example.com:8443/v1";
  ScriptedClient client(Learner{});
  TrainOptions opt;
  opt.run_dir = dir / "run";
  ASSERT_TRUE(Train(c, opt, client).ok());
  auto text = ReadFile(dir / "run" / "library.json");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->find("s3cretpass"), std::string::npos);
  auto j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["format"], "tfgrpo-library/1");
  const auto& p = j["provenance"];
  EXPECT_EQ(p["model"], "scripted");
  EXPECT_EQ(p["endpoint_host"], "llm.example.com:8443");
  EXPECT_EQ(p["steps_run"], 1);
  EXPECT_EQ(p["train_data_sha256"], Sha256Hex(*ReadFile(dir / "train.jsonl")));
  EXPECT_EQ(p["train_data_sha256"].get<std::string>().size(), 64u);
  for (auto key : {"tfgrpo_version", "created_at", "config_fingerprint"}) EXPECT_TRUE(p.contains(key)) << key;
  EXPECT_EQ(j["experiences"].size(), 2u);
  EXPECT_EQ(j["experiences"][0]["id"], "G0");
  EXPECT_EQ(j["experiences"][0]["created_step"], 1);
  EXPECT_TRUE(std::filesystem::exists(dir / "run" / "steps" / "1" / "library.json"));
}

}  // namespace
}  // namespace tfgrpo
