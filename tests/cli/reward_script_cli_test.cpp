// `tfgrpo reward python|command --config C --jsonl FILE`: recorded replies in, one
// {"score","reasoning"} or {"error"} line out per input, in order; a broken file stops it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::TempDir;

struct CliRun {
  int exit_code = -1;
  std::vector<std::string> lines;
  std::string err;
};

CliRun RunReward(const TempDir& dir, const std::string& args) {
  const auto out = dir / "out.txt", err = dir / "err.txt";
  std::string cmd = std::string(TFGRPO_BINARY) + " reward " + args + " >" + out.string() + " 2>" + err.string();
  int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.lines = SplitLines(ReadFile(out).value());
  while (!r.lines.empty() && r.lines.back().empty()) r.lines.pop_back();
  r.err = ReadFile(err).value();
  return r;
}

void WriteReadable(const std::filesystem::path& p, const std::string& text, mode_t mode = 0644) {
  ASSERT_TRUE(WriteFileAtomic(p, text).ok());
  ::chmod(p.c_str(), mode);
}

const char* kInput =
    "{\"problem\": \"p1\", \"answer\": \"4\", \"response\": \"4\", \"task\": {\"id\": \"a\", \"unit\": \"cm\"}}\n"
    "not json\n"
    "{\"problem\": \"p2\", \"answer\": \"4\", \"response\": \"5\"}\n"
    "{\"problem\": \"raise\", \"answer\": \"4\", \"response\": \"4\"}\n";

TEST(RewardPythonCli, OneLinePerInputInOrder) {
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  WriteReadable(dir / "verify.py",
                "def verify(problem, answer, response, task):\n"
                "    if problem == 'raise':\n"
                "        raise RuntimeError('nope')\n"
                "    return {'reward': float(response == answer), 'reasoning': task.get('unit', 'no unit')}\n");
  WriteReadable(dir / "c.yaml",
                "model: {base_url: \"http://127.0.0.1:9/v1\", name: \"m\"}\n"
                "task: {reward: \"python\", reward_file: \"verify.py\", reward_workers: 2}\n");
  WriteReadable(dir / "in.jsonl", kInput);
  CliRun r = RunReward(dir, "python --config " + (dir / "c.yaml").string() + " --jsonl " + (dir / "in.jsonl").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 4u);
  EXPECT_EQ(r.lines[0], "{\"score\":1.0,\"reasoning\":\"cm\"}");
  EXPECT_NE(nlohmann::json::parse(r.lines[1])["error"].get<std::string>().find("line 2"), std::string::npos);
  EXPECT_EQ(r.lines[2], "{\"score\":0.0,\"reasoning\":\"no unit\"}");
  EXPECT_NE(nlohmann::json::parse(r.lines[3])["error"].get<std::string>().find("RuntimeError: nope"),
            std::string::npos);
}

TEST(RewardPythonCli, ABrokenFileStopsWithFileAndLine) {
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  WriteReadable(dir / "verify.py", "def verify(problem, answer, response, task):\n    return (1\n");
  WriteReadable(dir / "c.yaml",
                "model: {base_url: \"http://127.0.0.1:9/v1\", name: \"m\"}\n"
                "task: {reward: \"python\", reward_file: \"verify.py\"}\n");
  WriteReadable(dir / "in.jsonl", kInput);
  CliRun r = RunReward(dir, "python --config " + (dir / "c.yaml").string() + " --jsonl " + (dir / "in.jsonl").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.lines.empty());
  EXPECT_NE(r.err.find("verify.py:2: syntax error"), std::string::npos) << r.err;
}

TEST(RewardCommandCli, ScoresThroughTheCommand) {
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  WriteReadable(dir / "score.sh",
                "#!/bin/sh\n"
                "while read -r line; do\n"
                "  case \"$line\" in *'\"response\":\"4\"'*) echo '{\"reward\": 1, \"reasoning\": \"four\"}';; "
                "*) echo 0;; esac\n"
                "done\n",
                0755);
  WriteReadable(dir / "c.yaml",
                "model: {base_url: \"http://127.0.0.1:9/v1\", name: \"m\"}\n"
                "task:\n  reward: \"command\"\n  reward_command: [\"./score.sh\", \"--strict\"]\n");
  WriteReadable(dir / "in.jsonl", kInput);
  CliRun r = RunReward(dir, "command --config " + (dir / "c.yaml").string() + " --jsonl " + (dir / "in.jsonl").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 4u);
  EXPECT_EQ(r.lines[0], "{\"score\":1.0,\"reasoning\":\"four\"}");
  EXPECT_EQ(r.lines[2], "{\"score\":0.0,\"reasoning\":\"\"}");
}

// A grader that prints one extra line for one input: that input's line is an error naming the
// extra line, and every other input gets its own score (before, inputs 3-6 got 0.0, 0.3, 0.4, 0.5).
TEST(RewardCommandCli, AnExtraLineFailsItsInputAndShiftsNoScore) {
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  WriteReadable(dir / "score.py",
                "#!/usr/bin/python3\n"
                "import json, sys\n"
                "for line in sys.stdin:\n"
                "    req = json.loads(line)\n"
                "    extra = '0.0\\n' if req['problem'] == 'p3' else ''\n"
                "    sys.stdout.write(extra + str(req['task']['score']) + '\\n')\n"
                "    sys.stdout.flush()\n",
                0755);
  WriteReadable(dir / "c.yaml",
                "model: {base_url: \"http://127.0.0.1:9/v1\", name: \"m\"}\n"
                "task:\n  reward: \"command\"\n  reward_command: [\"./score.py\"]\n  reward_workers: 1\n");
  std::string input;
  for (int i = 1; i <= 6; ++i) {
    input += "{\"problem\": \"p" + std::to_string(i) + "\", \"answer\": \"4\", \"response\": \"4\", \"task\": {\"score\": 0." +
             std::to_string(i) + "}}\n";
  }
  WriteReadable(dir / "in.jsonl", input);
  CliRun r = RunReward(dir, "command --config " + (dir / "c.yaml").string() + " --jsonl " + (dir / "in.jsonl").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 6u);
  for (int i = 1; i <= 6; ++i) {
    SCOPED_TRACE(i);
    auto line = nlohmann::json::parse(r.lines[i - 1]);
    if (i == 3) {
      ASSERT_TRUE(line.contains("error")) << r.lines[i - 1];
      EXPECT_NE(line["error"].get<std::string>().find("more than one line for one input"), std::string::npos);
    } else {
      ASSERT_TRUE(line.contains("score")) << r.lines[i - 1];
      EXPECT_DOUBLE_EQ(line["score"].get<double>(), i / 10.0);
    }
  }
}

// Run as root (as here), the workers drop to uid 65534; a reward in a folder only root may enter
// (mktemp -d, root's home) is still read, and the folder is left as it was.
TEST(RewardPythonCli, AFileInAPrivateFolderIsRead) {
  if (::geteuid() != 0) GTEST_SKIP() << "the workers drop to uid 65534 only when tfgrpo runs as root";
  TempDir dir;
  ::chmod(dir.path().c_str(), 0700);
  WriteReadable(dir / "verify.py",
                "def verify(problem, answer, response, task):\n"
                "    return {'reward': float(response == answer), 'reasoning': 'read'}\n",
                0600);
  WriteReadable(dir / "c.yaml",
                "model: {base_url: \"http://127.0.0.1:9/v1\", name: \"m\"}\n"
                "task: {reward: \"python\", reward_file: \"verify.py\", reward_workers: 1}\n",
                0600);
  WriteReadable(dir / "in.jsonl", "{\"problem\": \"p\", \"answer\": \"4\", \"response\": \"4\"}\n", 0600);
  CliRun r = RunReward(dir, "python --config " + (dir / "c.yaml").string() + " --jsonl " + (dir / "in.jsonl").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "{\"score\":1.0,\"reasoning\":\"read\"}");
  struct stat st {};
  ASSERT_EQ(::stat(dir.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

}  // namespace
}  // namespace tfgrpo
