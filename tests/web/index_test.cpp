// The local index: building from JSONL and from an HTML folder, bm25 ranking, query escaping.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"
#include "tfgrpo/web.h"

namespace tfgrpo {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string Line(const std::string& url, const std::string& title, const std::string& text) {
  return nlohmann::json{{"url", url}, {"title", title}, {"text", text}}.dump() + "\n";
}

std::shared_ptr<SearchIndex> Build(const TempDir& dir, const std::string& jsonl, IndexBuildSummary* out = nullptr) {
  Write(dir / "corpus.jsonl", jsonl);
  IndexBuildOptions o;
  o.corpus = dir / "corpus.jsonl";
  o.out = dir / "index.db";
  o.batch_pages = 2;  // several transactions even for a tiny corpus
  auto summary = BuildIndex(o);
  EXPECT_TRUE(summary.ok()) << summary.status().ToString();
  if (!summary.ok()) return nullptr;
  if (out) *out = *summary;
  auto index = SearchIndex::Open(o.out);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return index.ok() ? *index : nullptr;
}

std::vector<std::string> Urls(const std::vector<SearchHit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.url);
  return out;
}

TEST(IndexBuild, FromJsonlCountsPagesSkipsBadLinesWithFileLineAndKeepsTheFirstDuplicate) {
  TempDir dir;
  const std::string jsonl = Line("https://a.example/1", "Lighthouses of Varn", "The Varn lighthouse is red.") +
                            "\n" +  // blank lines are ignored
                            "{not json\n" + "[1,2]\n" + "{\"url\":\"u\",\"title\":\"t\"}\n" +
                            Line("https://a.example/2", "Second", "Another page about ferries.") +
                            Line("https://a.example/1", "Duplicate", "should not replace the first");
  IndexBuildSummary summary;
  auto index = Build(dir, jsonl, &summary);
  ASSERT_TRUE(index);
  EXPECT_EQ(summary.pages, 2);
  EXPECT_EQ(index->page_count(), 2);
  EXPECT_EQ(summary.skipped_bad, 3);
  EXPECT_EQ(summary.skipped_duplicate, 1);
  EXPECT_NE(summary.first_bad.find("corpus.jsonl:3: not valid JSON"), std::string::npos) << summary.first_bad;
  EXPECT_NE(summary.first_bad.find("corpus.jsonl:4: not a JSON object"), std::string::npos);
  EXPECT_NE(summary.first_bad.find("corpus.jsonl:5: field \"text\" is missing"), std::string::npos);
  auto page = index->FindPage("https://a.example/1");
  ASSERT_TRUE(page.ok());
  ASSERT_TRUE(page->has_value());
  EXPECT_EQ((*page)->title, "Lighthouses of Varn");
  EXPECT_FALSE(fs::exists(dir / "index.db.partial"));
}

TEST(IndexBuild, ACorpusWithoutAnyPageIsAnErrorAndLeavesNoFile) {
  TempDir dir;
  Write(dir / "corpus.jsonl", "{\"url\": 3}\n");
  IndexBuildOptions o;
  o.corpus = dir / "corpus.jsonl";
  o.out = dir / "index.db";
  auto summary = BuildIndex(o);
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.status().message().find("corpus.jsonl:1"), std::string::npos) << summary.status().message();
  EXPECT_FALSE(fs::exists(o.out));
  o.corpus = dir / "missing.jsonl";
  EXPECT_EQ(BuildIndex(o).status().code(), Status::Code::kNotFound);
}

TEST(IndexBuild, AnOverlongLineIsSkippedNotHeld) {
  TempDir dir;
  Write(dir / "corpus.jsonl", Line("u1", "Short", "fine") + Line("u2", "Long", std::string(5000, 'x')));
  IndexBuildOptions o;
  o.corpus = dir / "corpus.jsonl";
  o.out = dir / "index.db";
  o.max_line_bytes = 1000;
  auto summary = BuildIndex(o);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->pages, 1);
  EXPECT_NE(summary->first_bad.find("corpus.jsonl:2: line longer than 1000 bytes"), std::string::npos);
}

TEST(IndexBuild, FromAnHtmlFolderTakesTitleTextAndRelativeIds) {
  TempDir dir;
  Write(dir / "site" / "index.html",
        "<html><head><title>Harbour guide</title><script>var secret='x';</script></head>"
        "<body><nav>Home | About</nav><h1>Harbour</h1><p>The harbour master is Ilse Brand.</p></body></html>");
  Write(dir / "site" / "sub" / "page.htm", "<p>No title here, about tides.</p>");
  Write(dir / "site" / "canon.html",
        "<html><head><title>C</title><link rel=canonical href=\"https://harbour.example/c\"></head><body>canonical body</body></html>");
  Write(dir / "site" / "notes.txt", "not html, not indexed");
  IndexBuildOptions o;
  o.corpus = dir / "site";
  o.out = dir / "index.db";
  auto summary = BuildIndex(o);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->pages, 3);
  auto index = SearchIndex::Open(o.out);
  ASSERT_TRUE(index.ok());
  auto page = (*index)->FindPage("index.html");
  ASSERT_TRUE(page.ok() && page->has_value());
  EXPECT_EQ((*page)->title, "Harbour guide");
  EXPECT_NE((*page)->text.find("The harbour master is Ilse Brand."), std::string::npos);
  EXPECT_EQ((*page)->text.find("secret"), std::string::npos);
  EXPECT_EQ((*page)->text.find("About"), std::string::npos);
  auto sub = (*index)->FindPage("sub/page.htm");
  ASSERT_TRUE(sub.ok() && sub->has_value());
  EXPECT_EQ((*sub)->title, "page");
  auto canon = (*index)->FindPage("https://harbour.example/c");
  ASSERT_TRUE(canon.ok() && canon->has_value());
  auto hits = (*index)->Search("harbour master", 5);
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].url, "index.html");
}

TEST(IndexSearch, TitleMatchRanksAboveABodyOnlyMatch) {
  TempDir dir;
  auto index = Build(dir, Line("body", "Fishing boats", "Notes on the marlowe festival and nets and other things.") +
                              Line("title", "Marlowe festival", "Notes on nets and other things, kept short here.") +
                              Line("none", "Unrelated", "Nothing to see here at all."));
  ASSERT_TRUE(index);
  auto hits = index->Search("marlowe", 10);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  EXPECT_EQ(Urls(*hits), (std::vector<std::string>{"title", "body"}));
  EXPECT_GT((*hits)[0].score, (*hits)[1].score);
}

TEST(IndexSearch, MoreQueryTermsMatchedRankHigher) {
  TempDir dir;
  auto index = Build(dir, Line("one", "Page one", "The copper bridge spans the river.") +
                              Line("three", "Page three", "The copper bridge at Tollan was built in 1871.") +
                              Line("two", "Page two", "A copper bridge, somewhere else.") +
                              Line("zero", "Page zero", "Ferries and harbours."));
  ASSERT_TRUE(index);
  auto hits = index->Search("When was the copper bridge at Tollan built?", 10);
  ASSERT_TRUE(hits.ok());
  ASSERT_GE(hits->size(), 3u);
  EXPECT_EQ((*hits)[0].url, "three");
  for (const auto& h : *hits) EXPECT_NE(h.url, "zero");  // stop words alone match nothing
  EXPECT_NE((*hits)[0].snippet.find("1871"), std::string::npos) << (*hits)[0].snippet;
  auto top1 = index->Search("copper", 1);
  ASSERT_TRUE(top1.ok());
  EXPECT_EQ(top1->size(), 1u);
}

TEST(IndexSearch, Fts5SyntaxInAQueryIsSearchedAsWordsAndNeverErrors) {
  TempDir dir;
  auto index = Build(dir, Line("p", "Quote page", "He said \"near\" and NOT far; title: none (really) *star*"));
  ASSERT_TRUE(index);
  for (const char* q : {"\"unbalanced", "NOT", "a AND", "near(", "title: none", "col:term*", "^start",
                        "x OR OR y", "-minus +plus", "{curly} [square]", "NEAR(a b, 3)", "star*"}) {
    auto hits = index->Search(q, 5);
    EXPECT_TRUE(hits.ok()) << q << ": " << hits.status().ToString();
  }
  auto hits = index->Search("title: none", 5);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(Urls(*hits), std::vector<std::string>{"p"});
  EXPECT_EQ(index->Search("  ?! ... ", 5).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(index->Search("\"\"\"", 5).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Fts5QueryFor("say \"hi\" NEAR bye*"), "\"say\" OR \"hi\" OR \"NEAR\" OR \"bye\"");
  EXPECT_EQ(Fts5QueryFor("the of"), "\"the\" OR \"of\"");  // only stop words: they are kept
}

TEST(IndexOpen, RefusesAFileThatIsNotOurIndex) {
  TempDir dir;
  Write(dir / "x.db", "garbage that is not sqlite at all, padded out to look like a file........");
  EXPECT_FALSE(SearchIndex::Open(dir / "x.db").ok());
  EXPECT_EQ(SearchIndex::Open(dir / "none.db").status().code(), Status::Code::kNotFound);
}

TEST(SearchTool, LocalBackendFormatsNumberedResultsAndRejectsEmptyQueries) {
  TempDir dir;
  auto index = Build(dir, Line("https://w.example/a", "Alpha page", "alpha beta gamma") +
                              Line("https://w.example/b", "Beta page", "beta only"));
  ASSERT_TRUE(index);
  SearchOptions o;
  o.top_k = 10;
  SearchTool tool(o, index);
  EXPECT_EQ(tool.spec().name, "search");
  EXPECT_TRUE(tool.spec().parameters["properties"].contains("query"));
  auto out = tool.Run({{"query", "beta"}});
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->is_error);
  EXPECT_EQ(out->text.rfind("1. Beta page\n   https://w.example/b\n", 0), 0u) << out->text;
  EXPECT_NE(out->text.find("\n2. Alpha page\n   https://w.example/a\n   alpha beta gamma"), std::string::npos) << out->text;
  auto empty = tool.Run({{"query", "   "}});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->is_error);
  auto missing = tool.Run(nlohmann::json::object());
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->is_error);
  auto none = tool.Run({{"query", "zebra"}});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->is_error);
  EXPECT_EQ(none->text, "No results for: zebra");
}

TEST(SearchTool, CreateChecksTheBackendAndItsSettings) {
  SearchOptions o;
  o.backend = "bing";
  EXPECT_NE(SearchTool::Create(o).status().message().find("\"bing\""), std::string::npos);
  o.backend = "local";
  EXPECT_NE(SearchTool::Create(o).status().message().find("tools.search.index"), std::string::npos);
  o.backend = "searxng";
  EXPECT_NE(SearchTool::Create(o).status().message().find("tools.search.url"), std::string::npos);
  o.backend = "serper";
  o.api_key_env = "TFGRPO_TEST_SERPER_KEY_UNSET";
  ::unsetenv("TFGRPO_TEST_SERPER_KEY_UNSET");
  EXPECT_NE(SearchTool::Create(o).status().message().find("TFGRPO_TEST_SERPER_KEY_UNSET"), std::string::npos);
}

}  // namespace
}  // namespace tfgrpo
