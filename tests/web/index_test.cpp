// The local index: building from JSONL and from an HTML folder, bm25 ranking, query escaping.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
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

TEST(IndexBuild, SymlinksInACorpusFolderAreSkippedAndNamedUnlessFollowed) {
  TempDir dir;
  Write(dir / "site" / "real.html", "<title>Real</title><p>harbour tides</p>");
  // Outside the corpus: a file of our own, a folder, and the system's user list.
  Write(dir / "outside" / "secret.html", "<title>Secret</title><p>root bash outside secret</p>");
  Write(dir / "outside_dir" / "inner.html", "<title>Inner</title><p>root bash inner</p>");
  fs::create_symlink(dir / "outside" / "secret.html", dir / "site" / "secret.html");
  fs::create_directory_symlink(dir / "outside_dir", dir / "site" / "linked_dir");
  const bool passwd = fs::exists("/etc/passwd");
  if (passwd) fs::create_symlink("/etc/passwd", dir / "site" / "passwd.html");
  // A link to the corpus folder itself: followed, it must not be walked forever.
  fs::create_directory_symlink(dir / "site", dir / "site" / "loop");

  IndexBuildOptions o;
  o.corpus = dir / "site";
  o.out = dir / "index.db";
  auto summary = BuildIndex(o);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->pages, 1);
  std::vector<std::string> skipped = summary->skipped_symlinks;
  std::sort(skipped.begin(), skipped.end());
  std::vector<std::string> expected = {(dir / "site" / "linked_dir").string(), (dir / "site" / "loop").string(),
                                       (dir / "site" / "secret.html").string()};
  if (passwd) expected.push_back((dir / "site" / "passwd.html").string());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(skipped, expected);
  {
    auto index = SearchIndex::Open(o.out);
    ASSERT_TRUE(index.ok());
    auto hits = (*index)->Search("root bash", 10);
    ASSERT_TRUE(hits.ok());
    EXPECT_TRUE(hits->empty()) << (*hits)[0].url;
  }

  o.follow_symlinks = true;
  auto followed = BuildIndex(o);
  ASSERT_TRUE(followed.ok()) << followed.status().ToString();
  EXPECT_TRUE(followed->skipped_symlinks.empty());
  auto index = SearchIndex::Open(o.out);
  ASSERT_TRUE(index.ok());
  auto hits = (*index)->Search("root bash", 10);
  ASSERT_TRUE(hits.ok());
  std::vector<std::string> urls = Urls(*hits);
  std::sort(urls.begin(), urls.end());
  std::vector<std::string> want = {"linked_dir/inner.html", "secret.html"};
  if (passwd) want.insert(want.begin() + 1, "passwd.html");  // /etc/passwd names root
  EXPECT_EQ(urls, want);
  // The loop link was walked once at most: real.html is indexed once, as itself.
  auto real = (*index)->FindPage("real.html");
  ASSERT_TRUE(real.ok() && real->has_value());
}

TEST(IndexBuild, ACorpusOfOnlySymlinksNamesThemInItsError) {
  TempDir dir;
  Write(dir / "outside" / "a.html", "<p>text</p>");
  fs::create_directories(dir / "site");
  fs::create_symlink(dir / "outside" / "a.html", dir / "site" / "a.html");
  IndexBuildOptions o;
  o.corpus = dir / "site";
  o.out = dir / "index.db";
  auto summary = BuildIndex(o);
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.status().message().find("1 symlink skipped (" + (dir / "site" / "a.html").string() +
                                            "): --follow-symlinks"),
            std::string::npos)
      << summary.status().message();
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  out.reserve(s.size() * n);
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(IndexSearch, APageRepeatingTheQueryWordGetsItsSnippetFromABoundedText) {
  // 1 MiB: the query word 262,144 times. FTS5's snippet() took minutes over it.
  TempDir dir;
  auto index = Build(dir, Line("https://w.example/bat", "Page", Repeat("bat ", 262144)) +
                              Line("https://w.example/other", "Other", "a bat and a ball"));
  ASSERT_TRUE(index);
  auto hits = index->Search("bat", 5);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 2u);
  for (const SearchHit& h : *hits) {
    if (h.url == "https://w.example/bat") {
      EXPECT_EQ(h.snippet, Repeat("bat ", 29) + "bat…");
    } else {
      EXPECT_EQ(h.snippet, "a bat and a ball");
    }
  }
}

TEST(IndexSearch, AQueryPastItsDeadlineIsInterruptedWithAClearError) {
  TempDir dir;
  std::string corpus;
  for (int i = 0; i < 3000; ++i) {
    corpus += Line("https://w.example/" + std::to_string(i), "Page " + std::to_string(i), "alpha " + Repeat("word ", 50));
  }
  auto index = Build(dir, corpus);
  ASSERT_TRUE(index);
  // 1 microsecond: the query (bm25 over 3,000 matches) is interrupted by the progress handler.
  auto hits = index->Search("alpha", 10, 1e-6);
  ASSERT_FALSE(hits.ok());
  EXPECT_EQ(hits.status().code(), Status::Code::kTimeout);
  EXPECT_EQ(hits.status().message(), "search timed out after 1e-06 s");
  // The connection is usable again afterwards, without a deadline.
  auto again = index->Search("alpha", 10);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->size(), 10u);
}

TEST(SearchTool, StopsAtTheRolloutsDeadlineOrItsOwnTimeout) {
  TempDir dir;
  std::string corpus;
  for (int i = 0; i < 3000; ++i) corpus += Line("https://w.example/" + std::to_string(i), "T", "alpha beta");
  auto index = Build(dir, corpus);
  ASSERT_TRUE(index);
  SearchOptions o;
  o.timeout_s = 30;
  SearchTool tool(o, index);
  ToolCallContext late;
  late.call_id = "s0/t0/r0/turn0/call0";
  late.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);  // task.timeout_s already passed
  auto out = tool.Run({{"query", "alpha"}}, late);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->is_error);
  EXPECT_EQ(out->text.rfind("search timed out after ", 0), 0u) << out->text;
  EXPECT_NE(out->text.find("(the rollout's task.timeout_s)"), std::string::npos) << out->text;

  SearchOptions quick;
  quick.timeout_s = 1e-6;  // tools.timeout_s
  SearchTool impatient(quick, index);
  auto cut = impatient.Run({{"query", "alpha"}}, ToolCallContext{});
  ASSERT_TRUE(cut.ok());
  EXPECT_TRUE(cut->is_error);
  EXPECT_EQ(cut->text, "search timed out after 1e-06 s (tools.timeout_s)");
  // A far deadline changes nothing.
  ToolCallContext early;
  early.deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
  auto fine = tool.Run({{"query", "alpha"}}, early);
  ASSERT_TRUE(fine.ok());
  EXPECT_FALSE(fine->is_error) << fine->text;
}

TEST(SnippetFor, PicksTheStretchWithMostQueryWordsAndMarksWhatIsLeftOut) {
  std::string text = Repeat("filler ", 100) + "the old bridge crossed\nthe   bridges of the river" + Repeat(" filler", 100);
  const std::string s = SnippetFor(text, "bridge river", 10);
  EXPECT_EQ(s.rfind("…", 0), 0u) << s;
  EXPECT_NE(s.find("bridge crossed the bridges of the river"), std::string::npos) << s;
  EXPECT_EQ(s.substr(s.size() - std::string("…").size()), "…") << s;
  // No match: the first words. A short text: all of it, no marks.
  EXPECT_EQ(SnippetFor("one two three four", "zebra", 2), "one two…");
  EXPECT_EQ(SnippetFor("  one\ttwo  ", "two", 30), "one two");
  EXPECT_EQ(SnippetFor("", "two", 30), "");
  // Punctuation attached to the ends stays.
  EXPECT_EQ(SnippetFor("A red tower, 38 metres tall.", "tall", 30), "A red tower, 38 metres tall.");
  EXPECT_EQ(SnippetFor("x \"(quoted word)\" y z", "quoted word", 2), "…\"(quoted word)\"…");
  EXPECT_EQ(SnippetFor("!!! ???", "two", 30), "");
  // Case and a short ending do not matter; unrelated longer words do not match.
  EXPECT_EQ(SnippetFor(Repeat("x ", 50) + "Searched" + Repeat(" y", 50), "search", 1), "…Searched…");
  EXPECT_EQ(SnippetFor("a research b", "search", 1), "a…");
  // A match past kSnippetTextBytes is not looked for.
  const std::string far = Repeat("w ", kSnippetTextBytes / 2) + "needle";
  EXPECT_EQ(SnippetFor(far, "needle", 2), "w w…");
  // Non-ASCII words stay whole and the result is valid UTF-8.
  const std::string u = SnippetFor("caf\xC3\xA9 na\xC3\xAFve \xFF bad", "na\xC3\xAFve", 2);
  EXPECT_EQ(SanitizeUtf8(u), u);
  EXPECT_EQ(u, "caf\xC3\xA9 na\xC3\xAFve…");
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
