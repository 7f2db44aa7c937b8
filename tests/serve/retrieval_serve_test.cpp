// `tfgrpo serve --top-k`: each request gets only the experiences most relevant to its user
// messages, rendered with their own ids after the client's system text; with embeddings the
// vectors are kept next to the library, so a restarted proxy does not pay for them again.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "serve_test_util.h"
#include "tfgrpo/retrieval.h"

namespace tfgrpo {
namespace {

using namespace serve_testing;
using json = nlohmann::json;

Library Topics() {
  return MakeLibrary({"For probability questions, count the complement of at least one.",
                      "In geometry, draw the altitude of an isosceles triangle.",
                      "Check modular arithmetic by reducing every term modulo n.",
                      "Re-read the question for the unit it asks for."});
}

std::string SystemSent(const Received& r) { return json::parse(r.body)["messages"][0]["content"]; }

struct Fixture {
  TempDir dir;
  std::filesystem::path library_path = dir.path() / "library.json";
  EchoUpstream upstream;
  std::atomic<int> embedding_inputs{0};
  Fixture() {
    EXPECT_TRUE(Topics().Save(library_path).ok());
    // Embeddings: one dimension per topic word.
    upstream.server().Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
      json body = json::parse(req.body);
      json data = json::array();
      for (const auto& text : body["input"]) {
        const std::string t = text;
        embedding_inputs++;
        std::vector<double> v;
        for (const char* w : {"probab", "geometr", "modul", "unit"}) v.push_back(t.find(w) != std::string::npos ? 1 : 0.01);
        data.push_back({{"embedding", v}});
      }
      res.set_content(json{{"data", data}}.dump(), "application/json");
    });
    EXPECT_TRUE(upstream.Start());
  }
  std::unique_ptr<ProxyServer> Proxy(int top_k, RetrievalMethod method) {
    ServeOptions o = OptionsFor(library_path, upstream.base_url());
    o.top_k = top_k;
    o.retrieval_method = method;
    o.embeddings_model = "fake-embed";
    auto proxy = std::make_unique<ProxyServer>(o);
    Status s = proxy->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return s.ok() ? std::move(proxy) : nullptr;
  }
};

TEST(ServeRetrieval, TopKInjectsOnlyTheExperiencesRelevantToTheUserMessages) {
  Fixture f;
  auto proxy = f.Proxy(1, RetrievalMethod::kBm25);
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  auto r = client->Post("/v1/chat/completions", ChatBody("What is the probability of at least one six?", "Be careful."),
                        "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  r = client->Post("/v1/chat/completions", ChatBody("Which unit does the answer need?", "Be careful."), "application/json");
  ASSERT_TRUE(r);
  auto got = f.upstream.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(SystemSent(got[0]), AppendLibrary("Be careful.", Topics(), {0}));
  EXPECT_EQ(SystemSent(got[1]), "Be careful.\n\n" + std::string(kLibraryHeading) + "\n[G3]. " + Topics().items()[3].text);
  EXPECT_EQ(MetricValue(proxy->MetricsText(), "tfgrpo_serve_retrieval_queries"), 2);
  EXPECT_EQ(MetricValue(proxy->MetricsText(), "tfgrpo_serve_retrieval_fallbacks"), 0);
}

TEST(ServeRetrieval, WithoutTopKTheWholeLibraryIsInjectedAsBefore) {
  Fixture f;
  auto proxy = f.Proxy(0, RetrievalMethod::kBm25);
  ASSERT_TRUE(proxy);
  auto r = ClientFor(*proxy)->Post("/v1/chat/completions", ChatBody("probability?", "Be careful."), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(f.upstream.received().size(), 1u);
  EXPECT_EQ(SystemSent(f.upstream.received()[0]), AppendLibrary("Be careful.", Topics()));
  EXPECT_EQ(MetricValue(proxy->MetricsText(), "tfgrpo_serve_retrieval_queries"), -1);
}

TEST(ServeRetrieval, EmbeddingsAreKeptNextToTheLibraryAndReusedByARestartedProxy) {
  Fixture f;
  {
    auto proxy = f.Proxy(1, RetrievalMethod::kEmbeddings);
    ASSERT_TRUE(proxy);
    auto r = ClientFor(*proxy)->Post("/v1/chat/completions", ChatBody("a modular question", "S."), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(f.upstream.received().size(), 1u);
    // "modular" shares no BM25 term with G2's "modulo": the embedding found it.
    EXPECT_EQ(SystemSent(f.upstream.received()[0]), AppendLibrary("S.", Topics(), {2}));
  }
  EXPECT_EQ(f.embedding_inputs.load(), 5);  // four experiences and one query
  EXPECT_TRUE(std::filesystem::exists(EmbeddingCacheFileFor(f.library_path)));
  {
    // The user's message is not kept in the file: only the experiences' vectors are.
    std::ifstream in(EmbeddingCacheFileFor(f.library_path));
    int lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    EXPECT_EQ(lines, 4);
  }
  auto proxy = f.Proxy(1, RetrievalMethod::kEmbeddings);
  ASSERT_TRUE(proxy);
  auto r = ClientFor(*proxy)->Post("/v1/chat/completions", ChatBody("a modular question", "S."), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(f.embedding_inputs.load(), 6);  // only the query again, not the experiences
  EXPECT_EQ(MetricValue(proxy->MetricsText(), "tfgrpo_serve_retrieval_fallbacks"), 0);
}

TEST(ServeRetrieval, UserMessagesAreTheQuery) {
  nlohmann::ordered_json body = nlohmann::ordered_json::parse(R"({"messages":[
    {"role":"system","content":"sys"},
    {"role":"user","content":"first"},
    {"role":"assistant","content":"reply"},
    {"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"second"}]}]})");
  EXPECT_EQ(UserMessagesText(body), "first\nsecond");
  EXPECT_EQ(UserMessagesText(nlohmann::ordered_json::parse(R"({"messages":"x"})")), "");
}

}  // namespace
}  // namespace tfgrpo
