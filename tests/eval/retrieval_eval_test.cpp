// Evaluate with retrieval.top_k: each task's samples see only that task's most relevant
// experiences; with embeddings, a cache store (eval --cache) keeps the vectors for the next eval.
#include <gtest/gtest.h>

#include <atomic>
#include <regex>

#include "local_http_server.h"
#include "test_util.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::Reply;
using testing::ScriptedClient;

std::vector<Task> Tasks() {
  std::vector<Task> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(Task{"t" + std::to_string(i), "Task about topic" + std::to_string(i), "A"});
  return tasks;
}

Library Lessons() {
  std::vector<Experience> items;
  for (int i = 0; i < 6; ++i) items.push_back(Experience{"A lesson for topic" + std::to_string(i) + "."});
  return Library(std::move(items));
}

// Answers right only when its own topic's lesson is in the system message.
Result<ChatResponse> Script(const ChatRequest& r) {
  static const std::regex topic("Task about (topic\\d)");
  std::smatch m;
  const std::string& user = r.messages.back().content;
  if (!std::regex_search(user, m, topic)) return Status::Internal("no topic");
  return Reply(r.messages[0].content.find("A lesson for " + m[1].str()) != std::string::npos ? "\\boxed{A}" : "\\boxed{B}");
}

TEST(RetrievalEval, EachTaskSeesItsTopKAndTheReportSaysSo) {
  Config c;
  c.model.base_url = "http://unused";
  c.model.name = "scripted";
  c.task.reward = RewardKind::kExact;
  c.task.instructions = "Answer.";
  c.retrieval.top_k = 1;
  ScriptedClient client(Script);
  EvalOptions options;
  options.k = 2;
  auto r = Evaluate(c, Tasks(), Lessons(), options, client);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->mean_at_k, 1.0);
  for (const auto& req : client.requests()) {
    const std::string& system = req.messages[0].content;
    EXPECT_EQ(std::count(system.begin(), system.end(), '\n'), 3) << system;  // blank line, heading, one lesson
  }
  EXPECT_EQ(r->ToJson()["retrieval"]["top_k"], 1);
}

TEST(RetrievalEval, EmbeddingsKeptInTheCacheStoreAreNotPaidForAgain) {
  testing::LocalHttpServer server;
  std::atomic<int> inputs{0};
  server.server().Post("/v1/embeddings", [&](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json body = nlohmann::json::parse(req.body), data = nlohmann::json::array();
    for (const auto& text : body["input"]) {
      ++inputs;
      std::vector<double> v(6, 0.01);
      const std::string t = text;
      for (int i = 0; i < 6; ++i)
        if (t.find("topic" + std::to_string(i)) != std::string::npos) v[i] = 1;
      data.push_back({{"embedding", v}});
    }
    res.set_content(nlohmann::json{{"data", data}}.dump(), "application/json");
  });
  ASSERT_TRUE(server.Start());
  Config c;
  c.model.base_url = "http://unused";
  c.model.name = "scripted";
  c.task.reward = RewardKind::kExact;
  c.retrieval.top_k = 1;
  c.retrieval.method = RetrievalMethod::kEmbeddings;
  c.retrieval.embeddings.base_url = server.base_url();
  testing::TempDir dir;
  for (int run = 0; run < 2; ++run) {
    auto store = RunStore::Open(dir / "cache.db");
    ASSERT_TRUE(store.ok());
    auto cache = MakeRunStoreEmbeddingCache(**store);
    ScriptedClient client(Script);
    EvalOptions options;
    options.k = 1;
    options.embedding_cache = cache.get();
    auto r = Evaluate(c, Tasks(), Lessons(), options, client);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->mean_at_k, 1.0);
    EXPECT_EQ(r->retrieval_fallbacks, 0);
    EXPECT_EQ(inputs.load(), 6 + 3) << "run " << run;  // six lessons and three tasks, once
  }
}

}  // namespace
}  // namespace tfgrpo
