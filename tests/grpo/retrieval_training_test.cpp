// retrieval.top_k in training: each group's rollouts see only the experiences most relevant to
// its task (after the byte-identical instructions), the ids they saw are recorded with each
// rollout, learner prompts still see the whole library, and credit goes only to what was seen.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <regex>

#include "local_http_server.h"
#include "test_util.h"
#include "train_config.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/library.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::Reply;
using testing::ScriptedClient;
using testing::TempDir;

std::string TaskNumber(const ChatRequest& r) {
  static const std::regex re("Problem number (\\d+)");
  return testing::FirstCapture(r, re);
}

// Samples 0 and 1 are right; every summary claims to have applied its task's experience and G9.
Result<ChatResponse> Script(const ChatRequest& r) {
  switch (r.role) {
    case Role::kRollout: {
      bool good = EndsWith(r.call_id, "/r0") || EndsWith(r.call_id, "/r1");
      return Reply(good ? "\\boxed{ANS" + TaskNumber(r) + "}" : "\\boxed{WRONG}");
    }
    case Role::kSummary: return Reply("I applied [G" + TaskNumber(r) + "] and [G9].");
    case Role::kAdvantage: return Reply("<Experiences>\n1. Nothing new.\n</Experiences>");
    case Role::kGroupUpdate: return Reply("```json\n[]\n```");
    case Role::kBatchUpdate: return Reply("```json\n[]\n```");
    default: return Status::Internal("unexpected role");
  }
}

// Ten experiences, each naming one task number: BM25 finds task n's as the best match.
std::filesystem::path WriteLibrary(const TempDir& dir) {
  nlohmann::json lib = nlohmann::json::object();
  for (int i = 0; i < 10; ++i) lib["G" + std::to_string(i)] = "For number " + std::to_string(i) + " check twice.";
  std::ofstream(dir / "init.json") << lib.dump();
  return dir / "init.json";
}

std::vector<std::string> Column(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> out;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) return out;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      out.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

Result<TrainSummary> RunWithTopK(const TempDir& dir, int top_k, ScriptedClient& client) {
  Config c = testing::MakeTrainConfig(dir, 4, /*group_size=*/4);
  c.retrieval.top_k = top_k;
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.init_experiences = WriteLibrary(dir);
  return Train(c, opt, client);
}

TEST(RetrievalTraining, RolloutsSeeTheirTopKAfterTheInstructionsAndLearnersSeeAll) {
  TempDir dir;
  ScriptedClient client(Script);
  auto s = RunWithTopK(dir, 2, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(client.requests(Role::kRollout).size(), 16u);
  for (const auto& r : client.requests(Role::kRollout)) {
    const std::string n = TaskNumber(r);
    const std::string& system = r.messages[0].content;
    EXPECT_TRUE(StartsWith(system, "Answer.\n\n" + std::string(kLibraryHeading) + "\n")) << system;
    EXPECT_NE(system.find("[G" + n + "]. For number " + n + " check twice."), std::string::npos) << system;
    int lines = 0;
    for (size_t p = system.find("\n[G"); p != std::string::npos; p = system.find("\n[G", p + 1)) ++lines;
    EXPECT_EQ(lines, 2) << system;
    EXPECT_EQ(system.find("[G9]"), std::string::npos) << system;
  }
  for (const auto& r : client.requests(Role::kSummary))
    EXPECT_NE(r.messages.back().content.find("[G9]. For number 9"), std::string::npos) << "learner saw the whole library";
  // The ids each rollout saw, with the rollout: its task's experience and the best of the rest.
  const auto seen = Column(dir / "run" / "run.db", "SELECT task_id || ' ' || experiences_seen FROM rollouts ORDER BY task_id, sample");
  ASSERT_EQ(seen.size(), 16u);
  EXPECT_EQ(seen[0], R"(t0 ["G0","G1"])");
  EXPECT_EQ(seen[12], R"(t3 ["G0","G3"])");
  EXPECT_NE(FormatTrainSummary(*s).find("retrieval: top 2 experiences per prompt"), std::string::npos);
}

TEST(RetrievalTraining, CreditCountsOnlyExperiencesTheRolloutSaw) {
  TempDir dir;
  ScriptedClient client(Script);
  auto s = RunWithTopK(dir, 2, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const auto& items = s->library.items();
  ASSERT_EQ(items.size(), 10u);
  // Every summary names G9, which no rollout saw: no credit either way.
  EXPECT_EQ(items[9].helpful, 0);
  EXPECT_EQ(items[9].harmful, 0);
  // Task 3's two right and two wrong samples saw and named G3.
  EXPECT_EQ(items[3].helpful, 2);
  EXPECT_EQ(items[3].harmful, 2);

  // The same run showing the whole library: G9 was seen, so it is credited.
  TempDir whole_dir;
  ScriptedClient whole_client(Script);
  auto whole = RunWithTopK(whole_dir, 0, whole_client);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->library.items()[9].helpful, 8);
  const auto seen = Column(whole_dir / "run" / "run.db", "SELECT experiences_seen FROM rollouts LIMIT 1");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], R"(["G0","G1","G2","G3","G4","G5","G6","G7","G8","G9"])");
}

// An embeddings endpoint: one dimension per digit 0-9 named as "number N" / "Problem number N";
// counts the texts it was asked to embed. `fail` makes it answer 500 forever.
struct FakeEmbedder {
  testing::LocalHttpServer server;
  std::atomic<int> inputs{0};
  std::atomic<int> requests{0};
  bool fail = false;
  FakeEmbedder() {
    server.server().Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      if (fail) {
        res.status = 500;
        res.set_content("down", "text/plain");
        return;
      }
      nlohmann::json body = nlohmann::json::parse(req.body);
      nlohmann::json data = nlohmann::json::array();
      static const std::regex digit("number (\\d+)", std::regex::icase);
      for (const auto& text : body["input"]) {
        ++inputs;
        std::vector<double> v(10, 0.01);
        std::smatch m;
        const std::string t = text;
        if (std::regex_search(t, m, digit)) v[std::stoi(m[1].str()) % 10] = 1;
        data.push_back({{"embedding", v}});
      }
      res.set_content(nlohmann::json{{"data", data}}.dump(), "application/json");
    });
    EXPECT_TRUE(server.Start());
  }
};

Config EmbeddingsConfig(const TempDir& dir, const FakeEmbedder& fake) {
  Config c = testing::MakeTrainConfig(dir, 4, /*group_size=*/4, /*batch_size=*/2);
  c.retrieval.top_k = 2;
  c.retrieval.method = RetrievalMethod::kEmbeddings;
  c.retrieval.embeddings.base_url = fake.server.base_url();
  c.model.max_retries = 0;
  return c;
}

TEST(RetrievalTraining, EmbeddingsAreComputedOnceAndReusedWhenTheRunIsResumed) {
  FakeEmbedder fake;
  TempDir dir;
  Config c = EmbeddingsConfig(dir, fake);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.init_experiences = WriteLibrary(dir);
  opt.max_steps = 1;
  {
    ScriptedClient client(Script);
    auto s = Train(c, opt, client);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->retrieval_fallbacks, 0);
  }
  EXPECT_EQ(fake.inputs.load(), 10 + 2);  // the library's ten experiences, the step's two tasks
  opt.max_steps = -1;  // resumed: the second step
  ScriptedClient client(Script);
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(fake.inputs.load(), 10 + 2 + 2);  // only the new step's two task texts
  // Ranked by the embeddings: each task's own experience is in its prompt.
  for (const auto& r : client.requests(Role::kRollout))
    EXPECT_NE(r.messages[0].content.find("[G" + TaskNumber(r) + "]. For number " + TaskNumber(r)), std::string::npos);
}

TEST(RetrievalTraining, AnEmbeddingsEndpointFailingForeverFallsBackToBm25AndIsCounted) {
  FakeEmbedder fake;
  fake.fail = true;
  TempDir dir;
  Config c = EmbeddingsConfig(dir, fake);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  opt.init_experiences = WriteLibrary(dir);
  ScriptedClient client(Script);
  auto s = Train(c, opt, client);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->retrieval_fallbacks, 4);  // every group's query, ranked by bm25
  EXPECT_GT(fake.requests.load(), 0);
  EXPECT_NE(FormatTrainSummary(*s).find("4 queries ranked by bm25 after embeddings failed"), std::string::npos);
  for (const auto& r : client.requests(Role::kRollout))
    EXPECT_NE(r.messages[0].content.find("[G" + TaskNumber(r) + "]. For number " + TaskNumber(r)), std::string::npos);
}

}  // namespace
}  // namespace tfgrpo
