// `tfgrpo report` and the reports `demo` and `train` write, through the program itself.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::TempDir;

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

CliRun Tfgrpo(const TempDir& dir, const std::string& args) {
  const auto out = dir / "out.txt", err = dir / "err.txt";
  const std::string cmd = std::string(TFGRPO_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out).value();
  r.err = ReadFile(err).value();
  return r;
}

std::string Slurp(const std::filesystem::path& p) {
  auto text = ReadFile(p);
  return text.ok() ? *text : std::string();
}

nlohmann::json DataBlock(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"report-data\">";
  const size_t start = html.find(open);
  if (start == std::string::npos) return nlohmann::json(nlohmann::json::value_t::discarded);
  const size_t end = html.find("</script>", start);
  return nlohmann::json::parse(html.substr(start + open.size(), end - start - open.size()), nullptr, false);
}

TEST(ReportCli, DemoWritesItsReportAndReportComparesEvals) {
  TempDir dir;
  const auto demo = dir / "demo";
  CliRun r = Tfgrpo(dir, "-q demo --dir " + demo.string() + " --k 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("report: " + (demo / "report.html").string()), std::string::npos) << r.out;
  const nlohmann::json data = DataBlock(Slurp(demo / "report.html"));
  ASSERT_FALSE(data.is_discarded());
  EXPECT_EQ(data["evals"]["reports"].size(), 2u);
  EXPECT_EQ(data["evals"]["comparisons"].size(), 1u);
  EXPECT_GT(data["steps"].size(), 0u);
  // The run dir's own report, rewritten after every step, is final and no longer reloads.
  const std::string live = Slurp(demo / "run" / "report.html");
  ASSERT_FALSE(live.empty());
  EXPECT_EQ(live.find("http-equiv=\"refresh\""), std::string::npos);

  // --eval may come before RUN_DIR; each takes one file.
  r = Tfgrpo(dir, "report --eval " + (demo / "baseline.json").string() + " " + (demo / "run").string() + " --eval " +
                      (demo / "learned.json").string() + " -o " + (dir / "r.html").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("report: " + (dir / "r.html").string()), std::string::npos);
  const nlohmann::json again = DataBlock(Slurp(dir / "r.html"));
  ASSERT_FALSE(again.is_discarded());
  ASSERT_EQ(again["evals"]["comparisons"].size(), 1u);
  EXPECT_EQ(again["evals"]["comparisons"][0]["a"], "baseline.json");
  EXPECT_EQ(again["evals"]["comparisons"][0]["b"], "learned.json");
  EXPECT_EQ(again["steps"], data["steps"]);

  ASSERT_TRUE(WriteFileAtomic(dir / "bad.json", "{\"k\": 2}").ok());
  r = Tfgrpo(dir, "report " + (demo / "run").string() + " --eval " + (dir / "bad.json").string() + " -o " +
                      (dir / "x.html").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("error: --eval " + (dir / "bad.json").string()), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "x.html"));
}

TEST(ReportCli, AMissingRunDirIsNamed) {
  TempDir dir;
  CliRun r = Tfgrpo(dir, "report " + (dir / "none").string() + " -o " + (dir / "x.html").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("error: run dir " + (dir / "none").string() + " does not exist"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "none"));
}

}  // namespace
}  // namespace tfgrpo
