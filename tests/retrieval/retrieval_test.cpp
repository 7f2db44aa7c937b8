// Retrieval: BM25 ranking, the top_k selection and its rendering, credit restricted to what a
// rollout saw, and the embeddings method against a fake endpoint on loopback (friendly, failing
// forever, and hostile), with its vectors kept across a resume.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "local_http_server.h"
#include "test_util.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/store.h"

namespace tfgrpo {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Library Topics() {
  return Library(std::vector<Experience>{
      {"When integrating by parts, pick u as the factor that simplifies when differentiated."},
      {"For probability questions, count the complement when 'at least one' appears."},
      {"In geometry, draw the altitude to split an isosceles triangle into right triangles."},
      {"Check modular arithmetic answers by reducing every term modulo n first."},
      {"For sequences, write out the first five terms before guessing a closed form."},
  });
}

TEST(Bm25, RanksTheExperienceThatSharesTheQuerysRareTerms) {
  const Library lib = Topics();
  std::vector<std::string> docs;
  for (const Experience& e : lib.items()) docs.push_back(e.text);
  Bm25Index index(docs);
  EXPECT_THAT(index.TopK("What is the probability that at least one die shows six?", 1), ElementsAre(1u));
  EXPECT_THAT(index.TopK("Find the area of the isosceles triangle with base 6.", 1), ElementsAre(2u));
  EXPECT_EQ(index.TopK("Compute 7^100 modulo 13.", 2).front(), 3u);
}

TEST(Bm25, TermsAreCaseFoldedAndUtf8WordsStayWhole) {
  EXPECT_THAT(Bm25Terms("Hello, WORLD! x2 naïve"), ElementsAre("hello", "world", "x2", "naïve"));
  EXPECT_TRUE(Bm25Terms(" ,.;").empty());
}

TEST(Bm25, NoMatchAndTiesKeepLibraryOrder) {
  Bm25Index index({"alpha beta", "gamma delta", "epsilon zeta"});
  EXPECT_THAT(index.TopK("nothing in common", 2), ElementsAre(0u, 1u));
  EXPECT_THAT(index.TopK("anything", 10), ElementsAre(0u, 1u, 2u));
  Bm25Index empty(std::vector<std::string>{});
  EXPECT_TRUE(empty.TopK("query", 4).empty());
  EXPECT_TRUE(empty.Scores("query").empty());
}

TEST(Retriever, TopKZeroOrLargerThanTheLibraryShowsEveryExperience) {
  Retriever all(0, RetrievalMethod::kBm25);
  all.SetLibrary(Topics());
  EXPECT_THAT(all.Select("probability"), ElementsAre(0u, 1u, 2u, 3u, 4u));
  Retriever big(50, RetrievalMethod::kBm25);
  big.SetLibrary(Topics());
  EXPECT_THAT(big.Select("probability"), ElementsAre(0u, 1u, 2u, 3u, 4u));
  EXPECT_EQ(big.stats().queries, 0);  // nothing was ranked
}

TEST(Retriever, AnEmptyLibraryShowsNothingAndThePromptIsTheInstructionsAlone) {
  Retriever r(4, RetrievalMethod::kBm25);
  r.SetLibrary(Library());
  std::vector<size_t> seen = r.Select("anything");
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(AppendLibrary("Solve it.", Library(), seen), "Solve it.");
  EXPECT_EQ(SeenIdsJson(seen), "[]");
}

TEST(Retriever, SelectsTopKInLibraryOrderAndRendersTheirOwnIds) {
  Retriever r(2, RetrievalMethod::kBm25);
  const Library lib = Topics();
  r.SetLibrary(lib);
  std::vector<size_t> seen = r.Select("Probability that at least one coin of a triangle... isosceles altitude");
  ASSERT_THAT(seen, ElementsAre(1u, 2u));
  const std::string instructions = "Solve the problem. Put the final answer in \\boxed{}.";
  const std::string prompt = AppendLibrary(instructions, lib, seen);
  EXPECT_EQ(prompt, instructions + "\n\n" + std::string(kLibraryHeading) + "\n[G1]. " + lib.items()[1].text +
                        "\n[G2]. " + lib.items()[2].text);
  // The instructions stay a byte-identical prefix of the whole-library prompt too.
  EXPECT_EQ(AppendLibrary(instructions, lib).substr(0, instructions.size()), instructions);
  // Every position, in order: exactly the whole-library text.
  EXPECT_EQ(AppendLibrary(instructions, lib, AllPositions(lib.size())), AppendLibrary(instructions, lib));
  EXPECT_EQ(SeenIdsJson(seen), R"(["G1","G2"])");
  EXPECT_EQ(r.stats().queries, 1);
}

TEST(Credit, OnlyExperiencesTheRolloutSawAreCreditable) {
  // The summary names G0, G3 and G4; the prompt held G1, G3 and G4.
  EXPECT_THAT(CreditableExperiences({0, 3, 4}, {1, 3, 4}), ElementsAre(3u, 4u));
  EXPECT_TRUE(CreditableExperiences({0, 2}, {1, 3}).empty());
  EXPECT_TRUE(CreditableExperiences({0, 2}, {}).empty());
  EXPECT_THAT(CreditableExperiences({2, 0}, AllPositions(5)), ElementsAre(2u, 0u));
}

// ---- Embeddings ---------------------------------------------------------------------------------

// One dimension per topic word: the vector counts the words of each topic in the text.
const std::vector<std::string> kTopicWords = {"integrating", "probability", "geometry", "modular", "sequences"};

std::vector<float> FakeVector(const std::string& text) {
  std::vector<float> v(kTopicWords.size() + 1, 0.01f);
  for (size_t i = 0; i < kTopicWords.size(); ++i)
    if (text.find(kTopicWords[i]) != std::string::npos || text.find(kTopicWords[i].substr(0, 5)) != std::string::npos)
      v[i] += 1;
  return v;
}

struct FakeEmbeddings {
  testing::LocalHttpServer server;
  std::atomic<int> requests{0};
  std::atomic<int> inputs{0};
  std::string last_auth;
  std::function<void(const nlohmann::json& body, httplib::Response& res)> reply;

  FakeEmbeddings() {
    reply = [this](const nlohmann::json& body, httplib::Response& res) {
      nlohmann::json data = nlohmann::json::array();
      int i = 0;
      for (const auto& text : body["input"]) data.push_back({{"index", i++}, {"embedding", FakeVector(text.get<std::string>())}});
      res.set_content(nlohmann::json{{"data", data}, {"model", body["model"]}}.dump(), "application/json");
    };
    server.server().Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      last_auth = req.get_header_value("Authorization");
      nlohmann::json body = nlohmann::json::parse(req.body);
      inputs += static_cast<int>(body["input"].size());
      reply(body, res);
    });
    EXPECT_TRUE(server.Start());
  }
  std::unique_ptr<EmbeddingsClient> Client(HttpTransport& transport, int max_retries = 2) {
    EmbeddingsEndpoint e;
    e.base_url = server.base_url();
    e.model = "fake-embed";
    e.api_key = "sk-embed-secret-1234567890";
    e.max_retries = max_retries;
    e.backoff_initial_s = 0.001;
    e.timeout_s = 10;
    return std::make_unique<EmbeddingsClient>(std::move(e), transport);
  }
};

TEST(Embeddings, RanksByCosineAgainstAFakeEndpoint) {
  FakeEmbeddings fake;
  HttpTransport transport;
  Retriever r(1, RetrievalMethod::kEmbeddings, fake.Client(transport));
  r.SetLibrary(Topics());
  // No word in common with G3's text but its topic word: BM25 alone would not find it.
  EXPECT_THAT(r.Select("a modular question"), ElementsAre(3u));
  EXPECT_THAT(r.Select("geometry of circles"), ElementsAre(2u));
  EXPECT_EQ(r.stats().fallbacks, 0);
  EXPECT_EQ(fake.last_auth, "Bearer sk-embed-secret-1234567890");
}

TEST(Embeddings, VectorsAreKeptInTheRunStoreAndReusedOnResume) {
  FakeEmbeddings fake;
  HttpTransport transport;
  testing::TempDir dir;
  {
    auto store = RunStore::Open(dir / "run.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto cache = MakeRunStoreEmbeddingCache(**store);
    Retriever r(2, RetrievalMethod::kEmbeddings, fake.Client(transport), cache.get());
    r.SetLibrary(Topics());
    r.SelectMany({"modular question", "probability question"});
  }
  EXPECT_EQ(fake.inputs.load(), 7);  // five experiences and two queries, once each
  const int requests_before = fake.requests.load();
  {
    auto store = RunStore::Open(dir / "run.db");  // the run is resumed
    ASSERT_TRUE(store.ok());
    auto cache = MakeRunStoreEmbeddingCache(**store);
    Retriever r(2, RetrievalMethod::kEmbeddings, fake.Client(transport), cache.get());
    r.SetLibrary(Topics());
    EXPECT_THAT(r.Select("modular question"), ::testing::Contains(3u));
    EXPECT_EQ(fake.requests.load(), requests_before);  // nothing paid again
    r.Select("a new sequences question");
    EXPECT_EQ(fake.inputs.load(), 8);  // only the new query
  }
}

TEST(Embeddings, AFileCacheNextToAServedLibraryIsReusedAndToleratesAGarbledLine) {
  FakeEmbeddings fake;
  HttpTransport transport;
  testing::TempDir dir;
  const auto file = EmbeddingCacheFileFor(dir / "library.json");
  EXPECT_EQ(file.filename(), "library.json.embeddings.jsonl");
  {
    auto cache = MakeFileEmbeddingCache(file);
    ASSERT_TRUE(cache.ok());
    Retriever r(2, RetrievalMethod::kEmbeddings, fake.Client(transport), cache->get());
    r.SetLibrary(Topics());
  }
  { std::ofstream(file, std::ios::app) << "{not json\n{\"model\":\"fake-embed\",\"sha256\":\"x\",\"vector\":[\"a\"]}\n"; }
  const int before = fake.requests.load();
  auto cache = MakeFileEmbeddingCache(file);  // the proxy restarted
  ASSERT_TRUE(cache.ok());
  Retriever r(2, RetrievalMethod::kEmbeddings, fake.Client(transport), cache->get());
  r.SetLibrary(Topics());
  EXPECT_EQ(fake.requests.load(), before);
}

TEST(Embeddings, AnEndpointFailingForeverFallsBackToBm25Counted) {
  for (int status : {500, 400}) {
    SCOPED_TRACE(status);
    FakeEmbeddings fake;
    fake.reply = [status](const nlohmann::json&, httplib::Response& res) {
      res.status = status;
      res.set_content(R"({"error":{"message":"no"}})", "application/json");
    };
    HttpTransport transport;
    Retriever r(1, RetrievalMethod::kEmbeddings, fake.Client(transport, /*max_retries=*/2));
    r.SetLibrary(Topics());
    // The retry rule: a 500 is tried max_retries + 1 times, a 400 once.
    EXPECT_EQ(fake.requests.load(), status == 500 ? 3 : 1);
    EXPECT_THAT(r.SelectMany({"probability of at least one", "isosceles triangle altitude"}),
                ElementsAre(ElementsAre(1u), ElementsAre(2u)));  // BM25's answer
    EXPECT_EQ(r.stats().fallbacks, 2);
    EXPECT_THAT(r.stats().last_fallback_reason, HasSubstr(std::to_string(status)));
    EXPECT_THAT(r.stats().last_fallback_reason, ::testing::Not(HasSubstr("sk-embed-secret")));
  }
}

TEST(Embeddings, AQueryCallThatFailsFallsBackForThoseQueriesOnly) {
  FakeEmbeddings fake;
  HttpTransport transport;
  Retriever r(1, RetrievalMethod::kEmbeddings, fake.Client(transport, 0));
  r.SetLibrary(Topics());  // the experiences embed fine
  fake.reply = [](const nlohmann::json&, httplib::Response& res) { res.status = 503; };
  EXPECT_THAT(r.Select("probability of at least one"), ElementsAre(1u));
  EXPECT_EQ(r.stats().fallbacks, 1);
  EXPECT_EQ(r.stats().queries, 1);
}

TEST(Embeddings, AHostileEndpointIsRefusedWithAClearErrorAndBm25Ranks) {
  struct Case {
    const char* name;
    std::function<void(const nlohmann::json&, httplib::Response&)> reply;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"one vector too few",
       [](const nlohmann::json& body, httplib::Response& res) {
         nlohmann::json data = nlohmann::json::array();
         for (size_t i = 1; i < body["input"].size(); ++i) data.push_back({{"embedding", {1, 2}}});
         res.set_content(nlohmann::json{{"data", data}}.dump(), "application/json");
       },
       "vectors for"},
      {"dimensions differ",
       [](const nlohmann::json& body, httplib::Response& res) {
         nlohmann::json data = nlohmann::json::array();
         for (size_t i = 0; i < body["input"].size(); ++i)
           data.push_back({{"embedding", i == 0 ? nlohmann::json{1, 2} : nlohmann::json{1, 2, 3}}});
         res.set_content(nlohmann::json{{"data", data}}.dump(), "application/json");
       },
       "dimensions, the first vector has 2"},
      {"NaN and infinity",
       [](const nlohmann::json& body, httplib::Response& res) {
         std::string data;
         for (size_t i = 0; i < body["input"].size(); ++i) data += std::string(i ? "," : "") + R"({"embedding":[3.5e38,"NaN"]})";
         res.set_content(R"({"data":[)" + data + "]}", "application/json");
       },
       "not a finite number"},
      {"a huge reply",
       [](const nlohmann::json&, httplib::Response& res) {
         res.set_content(std::string(3u << 20, ' ') + "{}", "application/json");
       },
       "1048576"},
      {"not JSON", [](const nlohmann::json&, httplib::Response& res) { res.set_content("<html>", "text/html"); },
       "not JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeEmbeddings fake;
    fake.reply = c.reply;
    HttpTransport transport;
    EmbeddingsEndpoint e;
    e.base_url = fake.server.base_url();
    e.model = "fake-embed";
    e.max_retries = 1;
    e.backoff_initial_s = 0.001;
    e.max_reply_bytes = 1u << 20;
    EmbeddingsClient client(e, transport);
    auto direct = client.Embed({"a", "b", "c"});
    ASSERT_FALSE(direct.ok());
    EXPECT_THAT(direct.status().message(), HasSubstr(c.error));
    EXPECT_EQ(fake.requests.load(), 1);  // the server's answer, not a hiccup: no retry
    Retriever r(1, RetrievalMethod::kEmbeddings, std::make_unique<EmbeddingsClient>(e, transport));
    r.SetLibrary(Topics());
    EXPECT_THAT(r.Select("probability of at least one"), ElementsAre(1u));
    EXPECT_EQ(r.stats().fallbacks, 1);
  }
}

TEST(Embeddings, RepliesAreReadStrictly) {
  EXPECT_TRUE(ParseEmbeddingsReply(R"({"data":[{"index":1,"embedding":[3]},{"index":0,"embedding":[4]}]})", 2).ok());
  auto swapped = ParseEmbeddingsReply(R"({"data":[{"index":1,"embedding":[3]},{"index":0,"embedding":[4]}]})", 2);
  EXPECT_EQ((*swapped)[0], std::vector<float>{4});
  EXPECT_THAT(ParseEmbeddingsReply(R"({"data":[{"index":0,"embedding":[3]},{"index":0,"embedding":[4]}]})", 2)
                  .status().message(), HasSubstr("given twice"));
  EXPECT_THAT(ParseEmbeddingsReply(R"({"data":[{"index":5,"embedding":[3]}]})", 1).status().message(),
              HasSubstr("index"));
  EXPECT_THAT(ParseEmbeddingsReply(R"({"data":[{"embedding":[]}]})", 1).status().message(), HasSubstr("empty"));
  EXPECT_THAT(ParseEmbeddingsReply(R"({"data":{}})", 1).status().message(), HasSubstr("\"data\" array"));
  EXPECT_THAT(ParseEmbeddingsReply(R"([1,2])", 1).status().message(), HasSubstr("\"data\" array"));
  std::string too_long = R"({"data":[{"embedding":[)";
  for (size_t i = 0; i <= kMaxEmbeddingDimension; ++i) too_long += i ? ",0" : "0";
  EXPECT_THAT(ParseEmbeddingsReply(too_long + "]}]}", 1).status().message(), HasSubstr("more than"));
  EXPECT_EQ(ParseEmbeddingsReply("{}", 1).status().code(), Status::Code::kProviderError);
}

TEST(RetrievalConfig, KeysParseAndBadValuesNameTheKey) {
  const std::string base = "model:\n  base_url: http://x/v1\n  name: m\n";
  auto c = ParseConfig(base + "retrieval:\n  top_k: 6\n  method: embeddings\n  embeddings:\n    model: e5\n"
                              "    base_url: null\n    api_key_env: null\n",
                       "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->retrieval.top_k, 6);
  EXPECT_EQ(c->retrieval.method, RetrievalMethod::kEmbeddings);
  EXPECT_EQ(c->retrieval.embeddings.model, "e5");
  EXPECT_TRUE(c->retrieval.embeddings.base_url.empty());
  EXPECT_EQ(ParseConfig(base, "c.yaml")->retrieval.top_k, 0);  // the paper's behaviour by default
  EXPECT_FALSE(ConfigFingerprintJson(*ParseConfig(base, "c.yaml")).contains("retrieval"));
  EXPECT_EQ(ConfigFingerprintJson(*c)["retrieval"]["top_k"], 6);
  auto bad = ParseConfig(base + "retrieval:\n  method: tfidf\n", "c.yaml");
  EXPECT_THAT(bad.status().message(), HasSubstr("c.yaml:5: retrieval.method: expected one of bm25, embeddings"));
  EXPECT_THAT(ParseConfig(base + "retrieval:\n  top_k: -1\n", "c.yaml").status().message(),
              HasSubstr("retrieval.top_k"));
  EXPECT_THAT(ParseConfig(base + "retrieval:\n  embeddings:\n    api_key_env: sk-abc-def\n", "c.yaml").status().message(),
              HasSubstr("not the key itself"));
  EXPECT_THAT(ParseConfig(base + "retrieval:\n  topk: 3\n", "c.yaml").status().message(), HasSubstr("did you mean 'top_k'"));
}

}  // namespace
}  // namespace tfgrpo
