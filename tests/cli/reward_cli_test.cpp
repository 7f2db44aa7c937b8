// `tfgrpo reward math --jsonl` as scripts drive it: one JSON line out per line in, in order,
// malformed lines reported in place, stdin via "-", and usage errors.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::TempDir;

struct CliRun {
  int exit_code = -1;
  std::vector<std::string> lines;  // stdout
  std::string err;
};

CliRun RewardMath(const TempDir& dir, const std::string& args) {
  const auto out = dir / "out.txt", err = dir / "err.txt";
  std::string cmd = std::string(TFGRPO_BINARY) + " reward math " + args + " >" + out.string() + " 2>" + err.string();
  int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.lines = SplitLines(ReadFile(out).value());
  while (!r.lines.empty() && r.lines.back().empty()) r.lines.pop_back();
  r.err = ReadFile(err).value();
  return r;
}

const char* kInput =
    "{\"gold\": \"\\\\frac{1}{2}\", \"pred\": \"Half. So the answer is $\\\\boxed{0.5}$.\"}\n"
    "{\"gold\": \"\\\\{1,2\\\\}\", \"pred\": \"<answer>2, 1</answer>\"}\n"
    "{\"gold\": oops}\n"
    "{\"gold\": \"[0, 1)\", \"pred\": \"[0, 1]\"}\n";

TEST(RewardMathCli, OneResultPerLineInOrder) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "pairs.jsonl", kInput).ok());
  CliRun r = RewardMath(dir, "--jsonl " + (dir / "pairs.jsonl").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 4u);
  auto first = nlohmann::json::parse(r.lines[0]);
  EXPECT_EQ(first["score"], 1.0);
  EXPECT_EQ(first["gold_parsed"], "1/2");
  EXPECT_EQ(first["pred_parsed"], "0.5");
  EXPECT_EQ(nlohmann::json::parse(r.lines[1])["score"], 1.0);
  auto bad = nlohmann::json::parse(r.lines[2]);
  ASSERT_TRUE(bad.contains("error"));
  EXPECT_NE(bad["error"].get<std::string>().find("line 3"), std::string::npos);
  auto last = nlohmann::json::parse(r.lines[3]);
  EXPECT_EQ(last["score"], 0.0);
  EXPECT_EQ(last["pred_parsed"], "[0, 1]");
}

TEST(RewardMathCli, ReadsStdinWithDash) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "pairs.jsonl", kInput).ok());
  CliRun r = RewardMath(dir, "--jsonl - --timeout-s 1 <" + (dir / "pairs.jsonl").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(r.lines[0])["score"], 1.0);
}

TEST(RewardMathCli, MissingFileAndBadTimeoutFail) {
  TempDir dir;
  CliRun missing = RewardMath(dir, "--jsonl " + (dir / "nope.jsonl").string());
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("nope.jsonl"), std::string::npos) << missing.err;
  ASSERT_TRUE(WriteFileAtomic(dir / "pairs.jsonl", kInput).ok());
  CliRun zero = RewardMath(dir, "--jsonl " + (dir / "pairs.jsonl").string() + " --timeout-s 0");
  EXPECT_NE(zero.exit_code, 0);
  EXPECT_TRUE(zero.lines.empty());
}

TEST(RewardMathCli, PrecisionSetsSignificantDigits) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "pairs.jsonl", "{\"gold\": \"\\\\frac{2}{3}\", \"pred\": \"0.667\"}\n").ok());
  CliRun three = RewardMath(dir, "--jsonl " + (dir / "pairs.jsonl").string() + " --precision 3");
  ASSERT_EQ(three.exit_code, 0) << three.err;
  ASSERT_EQ(three.lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(three.lines[0])["score"], 1.0);
  CliRun six = RewardMath(dir, "--jsonl " + (dir / "pairs.jsonl").string());
  ASSERT_EQ(six.lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(six.lines[0])["score"], 0.0);
  CliRun bad = RewardMath(dir, "--jsonl " + (dir / "pairs.jsonl").string() + " --precision 0");
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace tfgrpo
