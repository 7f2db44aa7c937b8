// `tfgrpo index build`: the program end to end on a small corpus and on bad input, and the web
// example's corpus answering each of its questions with the top search hit.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tfgrpo/util.h"
#include "tfgrpo/web.h"

namespace tfgrpo {
namespace {

using testing::TempDir;

struct IndexRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

IndexRun IndexBuildCli(const TempDir& dir, const std::string& args) {
  const auto out = dir / "out.txt", err = dir / "err.txt";
  const std::string cmd = std::string(TFGRPO_BINARY) + " index build " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  IndexRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out).value();
  r.err = ReadFile(err).value();
  return r;
}

TEST(IndexBuildCli, IndexesPagesNamesBadLinesAndPrintsTheRate) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "c.jsonl",
                              "{\"url\":\"u1\",\"title\":\"One\",\"text\":\"first page\"}\n"
                              "{\"url\":\"u2\",\"title\":2,\"text\":\"bad\"}\n"
                              "{\"url\":\"u3\",\"title\":\"Three\",\"text\":\"third page\"}\n")
                  .ok());
  IndexRun r = IndexBuildCli(dir, (dir / "c.jsonl").string() + " -o " + (dir / "i.db").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("index: 2 pages -> "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pages/s"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("c.jsonl:2: field \"title\" is not a string"), std::string::npos) << r.err;
  auto index = SearchIndex::Open(dir / "i.db");
  ASSERT_TRUE(index.ok());
  EXPECT_EQ((*index)->page_count(), 2);
}

TEST(IndexBuildCli, AMissingCorpusFailsWithOneErrorLine) {
  TempDir dir;
  IndexRun r = IndexBuildCli(dir, (dir / "none.jsonl").string() + " -o " + (dir / "i.db").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("none.jsonl"), std::string::npos) << r.err;
}

IndexRun IndexSearchCli(const TempDir& dir, const std::string& args) {
  const auto out = dir / "sout.txt", err = dir / "serr.txt";
  const std::string cmd = std::string(TFGRPO_BINARY) + " index search " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  IndexRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out).value();
  r.err = ReadFile(err).value();
  return r;
}

TEST(IndexBuildCli, SkipsAndNamesSymlinksUnlessFollowSymlinksIsGiven) {
  TempDir dir;
  namespace fs = std::filesystem;
  fs::create_directories(dir / "corpus");
  fs::create_directories(dir / "elsewhere");
  ASSERT_TRUE(WriteFileAtomic(dir / "corpus" / "page.html", "<title>Page</title><p>harbour tides</p>").ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "elsewhere" / "private.html", "<p>root bash private notes</p>").ok());
  fs::create_symlink(dir / "elsewhere" / "private.html", dir / "corpus" / "private.html");
  const bool passwd = fs::exists("/etc/passwd");
  if (passwd) fs::create_symlink("/etc/passwd", dir / "corpus" / "passwd.html");
  const std::string index = (dir / "i.db").string();

  IndexRun built = IndexBuildCli(dir, (dir / "corpus").string() + " -o " + index);
  ASSERT_EQ(built.exit_code, 0) << built.err;
  EXPECT_NE(built.out.find("index: 1 pages -> "), std::string::npos) << built.out;
  EXPECT_NE(built.err.find("index: skipped symlink " + (dir / "corpus" / "private.html").string()), std::string::npos)
      << built.err;
  if (passwd) EXPECT_NE(built.err.find("skipped symlink " + (dir / "corpus" / "passwd.html").string()), std::string::npos);
  EXPECT_NE(built.err.find("--follow-symlinks"), std::string::npos) << built.err;
  IndexRun none = IndexSearchCli(dir, index + " 'root bash'");
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "No results for: root bash\n");

  IndexRun followed = IndexBuildCli(dir, (dir / "corpus").string() + " -o " + index + " --follow-symlinks");
  ASSERT_EQ(followed.exit_code, 0) << followed.err;
  EXPECT_EQ(followed.err.find("skipped symlink"), std::string::npos) << followed.err;
  IndexRun found = IndexSearchCli(dir, index + " 'root bash'");
  ASSERT_EQ(found.exit_code, 0) << found.err;
  EXPECT_NE(found.out.find("private.html"), std::string::npos) << found.out;
  if (passwd) EXPECT_NE(found.out.find("passwd.html"), std::string::npos) << found.out;
}

TEST(IndexSearchCli, APageRepeatingTheQueryWordIsSearchedAndASlowQueryTimesOut) {
  TempDir dir;
  std::string corpus = nlohmann::json{{"url", "u-bat"}, {"title", "Bats"}, {"text", [] {
                                         std::string t;
                                         for (int i = 0; i < 262144; ++i) t += "bat ";
                                         return t;
                                       }()}}.dump() + "\n";
  for (int i = 0; i < 3000; ++i) {
    corpus += nlohmann::json{{"url", "u" + std::to_string(i)}, {"title", "T"}, {"text", "a bat and a ball"}}.dump() + "\n";
  }
  ASSERT_TRUE(WriteFileAtomic(dir / "c.jsonl", corpus).ok());
  const std::string index = (dir / "i.db").string();
  IndexRun built = IndexBuildCli(dir, (dir / "c.jsonl").string() + " -o " + index);
  ASSERT_EQ(built.exit_code, 0) << built.err;
  // Snippets come from a bounded start of each hit's text (FTS5's snippet() took minutes here).
  IndexRun r = IndexSearchCli(dir, index + " bat --top-k 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1. Bats\n   u-bat\n   bat bat"), std::string::npos) << r.out;
  // A query past its time limit is interrupted with a clear error.
  IndexRun late = IndexSearchCli(dir, index + " bat --timeout-s 0.000001");
  EXPECT_EQ(late.exit_code, 1);
  EXPECT_NE(late.err.find("error: search timed out after 1e-06 s"), std::string::npos) << late.err;
}

// The recipe promises that searching a question's words puts a page holding its answer first.
TEST(WebExample, TheTopSearchHitOfEveryQuestionHoldsItsAnswer) {
  TempDir dir;
  const std::filesystem::path example = std::filesystem::path(TFGRPO_SOURCE_DIR) / "examples" / "web";
  IndexBuildOptions o;
  o.corpus = example / "corpus.jsonl";
  o.out = dir / "INDEX.db";
  ASSERT_TRUE(BuildIndex(o).ok());
  auto index = SearchIndex::Open(o.out);
  ASSERT_TRUE(index.ok());
  int questions = 0;
  for (const char* split : {"train.jsonl", "eval.jsonl"}) {
    std::ifstream in(example / split);
    std::string line;
    while (std::getline(in, line)) {
      auto task = nlohmann::json::parse(line);
      const std::string question = task["problem"];
      std::string answer = task["groundtruth"];
      auto hits = (*index)->Search(question, 1);
      ASSERT_TRUE(hits.ok() && !hits->empty()) << question;
      auto page = (*index)->FindPage((*hits)[0].url);
      ASSERT_TRUE(page.ok() && page->has_value());
      std::string text = (*page)->text;
      std::erase(text, ',');  // "1,284 metres" holds "1284"
      auto lower = [](std::string s) {
        for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
      };
      EXPECT_NE(lower(text).find(lower(answer)), std::string::npos) << question << " -> " << (*hits)[0].url;
      ++questions;
    }
  }
  EXPECT_EQ(questions, 40);
}

}  // namespace
}  // namespace tfgrpo
