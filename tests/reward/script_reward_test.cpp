// Python and command rewards: scoring, start-up validation, per-score failures (exceptions, bad
// values, hangs, crashes) and the sandbox. These run real python3 and bubblewrap processes.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "test_util.h"
#include "tfgrpo/reward.h"

namespace tfgrpo {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

Task MakeTask(std::string problem, std::string answer, nlohmann::json record = nlohmann::json::object()) {
  Task t;
  t.id = "t1";
  t.problem = std::move(problem);
  t.answer = std::move(answer);
  t.record = std::move(record);
  return t;
}

// A folder the sandbox can read even when the tests run as root (the sandbox then runs as
// uid 65534).
class RewardDir {
 public:
  RewardDir() { ::chmod(dir_.path().c_str(), 0755); }
  std::filesystem::path Write(const std::string& name, const std::string& text, bool executable = false) {
    std::filesystem::path p = dir_ / name;
    std::ofstream(p) << text;
    ::chmod(p.c_str(), executable ? 0755 : 0644);
    return p;
  }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  testing::TempDir dir_;
};

ScriptRewardOptions PythonOptions(const std::filesystem::path& file, std::string sandbox = "bwrap") {
  ScriptRewardOptions o;
  o.kind = "python";
  o.file = file;
  o.workers = 2;
  o.timeout_s = 5;
  o.sandbox = std::move(sandbox);
  return o;
}

std::unique_ptr<RewardFn> MustMake(const ScriptRewardOptions& o) {
  auto r = MakeScriptReward(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

constexpr const char* kExactVerify = R"(
def verify(problem, answer, response, task):
    return 1.0 if response.strip() == answer else 0.0
)";

TEST(PythonReward, PlainFunctionScoresEachResponse) {
  RewardDir dir;
  auto reward = MustMake(PythonOptions(dir.Write("verify.py", kExactVerify)));
  ASSERT_TRUE(reward);
  auto right = reward->Score(MakeTask("2+2?", "4"), " 4\n", "c1");
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_EQ(right->score, 1.0);
  EXPECT_EQ(right->reasoning, "");
  auto wrong = reward->Score(MakeTask("2+2?", "4"), "5", "c2");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->score, 0.0);
}

TEST(PythonReward, BoolAndFractionAndDictWithReasoning) {
  RewardDir dir;
  auto reward = MustMake(PythonOptions(dir.Write("verify.py", R"(
def verify(problem, answer, response, task):
    if problem == "bool":
        return response == answer
    if problem == "fraction":
        return 0.25
    return {"reward": 0.5, "reasoning": "half right: expected " + answer + ", got " + response}
)")));
  ASSERT_TRUE(reward);
  auto b = reward->Score(MakeTask("bool", "x"), "x", "c");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->score, 1.0);
  auto f = reward->Score(MakeTask("fraction", "x"), "y", "c");
  ASSERT_TRUE(f.ok());
  EXPECT_DOUBLE_EQ(f->score, 0.25);
  auto d = reward->Score(MakeTask("dict", "7"), "8", "c");
  ASSERT_TRUE(d.ok());
  EXPECT_DOUBLE_EQ(d->score, 0.5);
  EXPECT_EQ(d->reasoning, "half right: expected 7, got 8");
}

TEST(PythonReward, AsyncFunctionIsAwaited) {
  RewardDir dir;
  auto reward = MustMake(PythonOptions(dir.Write("verify.py", R"(
import asyncio
async def verify(problem, answer, response, task):
    await asyncio.sleep(0.001)
    return {"reward": 1.0 if response == answer else 0.0, "reasoning": "awaited"}
)")));
  ASSERT_TRUE(reward);
  auto r = reward->Score(MakeTask("p", "a"), "a", "c");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->score, 1.0);
  EXPECT_EQ(r->reasoning, "awaited");
}

TEST(PythonReward, FunctionReadsAnExtraTaskField) {
  RewardDir dir;
  auto reward = MustMake(PythonOptions(dir.Write("verify.py", R"(
def verify(problem, answer, response, task):
    return abs(float(response) - float(answer)) <= task["tolerance"]
)")));
  ASSERT_TRUE(reward);
  nlohmann::json loose = {{"problem", "p"}, {"groundtruth", "3.14"}, {"tolerance", 0.01}};
  nlohmann::json tight = {{"problem", "p"}, {"groundtruth", "3.14"}, {"tolerance", 0.0001}};
  auto a = reward->Score(MakeTask("p", "3.14", loose), "3.141", "c");
  auto b = reward->Score(MakeTask("p", "3.14", tight), "3.141", "c");
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << b.status().ToString();
  EXPECT_EQ(a->score, 1.0);
  EXPECT_EQ(b->score, 0.0);
}

TEST(PythonReward, SyntaxErrorStopsStartUpNamingFileAndLine) {
  RewardDir dir;
  auto file = dir.Write("verify.py", "import os\n\ndef verify(problem, answer, response, task)\n    return 1\n");
  auto r = MakeScriptReward(PythonOptions(file));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr(file.string() + ":3:"), HasSubstr("syntax error")));
}

TEST(PythonReward, MissingFunctionStopsStartUp) {
  RewardDir dir;
  auto file = dir.Write("verify.py", "def check(problem, answer, response, task):\n    return 1\n");
  auto r = MakeScriptReward(PythonOptions(file));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              AllOf(HasSubstr(file.string()), HasSubstr("no function 'verify'"),
                    HasSubstr("verify(problem, answer, response, task)"), HasSubstr("check")));
  // The configured name is the one looked up.
  auto options = PythonOptions(file);
  options.function = "check";
  EXPECT_TRUE(MakeScriptReward(options).ok());
}

TEST(PythonReward, WrongSignatureStopsStartUpWithTheDefLine) {
  RewardDir dir;
  auto file = dir.Write("verify.py", "\n\ndef verify(problem, answer):\n    return 1\n");
  auto r = MakeScriptReward(PythonOptions(file));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              AllOf(HasSubstr(file.string() + ":3:"), HasSubstr("verify(problem, answer)"),
                    HasSubstr("cannot be called as verify(problem, answer, response, task)")));
}

TEST(PythonReward, ErrorWhileLoadingNamesTheLine) {
  RewardDir dir;
  auto file = dir.Write("verify.py", "x = 1\nimport no_such_module_here\n");
  auto r = MakeScriptReward(PythonOptions(file));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr(file.string() + ":2:"), HasSubstr("no_such_module_here")));
}

TEST(PythonReward, BadReturnValuesAreClearPerScoreErrors) {
  RewardDir dir;
  auto reward = MustMake(PythonOptions(dir.Write("verify.py", R"(
def verify(problem, answer, response, task):
    return {"text": "yes", "big": 1.5, "nokey": {"score": 1}, "list": [1, 2], "badreason": {"reward": 1, "reasoning": 3}}[problem]
)")));
  ASSERT_TRUE(reward);
  auto text = reward->Score(MakeTask("text", "a"), "a", "c");
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(text.status().message(), AllOf(HasSubstr("verify returned str 'yes'"), HasSubstr("expected a number")));
  auto big = reward->Score(MakeTask("big", "a"), "a", "c");
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(big.status().message(), HasSubstr("1.5, outside [0, 1]"));
  auto nokey = reward->Score(MakeTask("nokey", "a"), "a", "c");
  ASSERT_FALSE(nokey.ok());
  EXPECT_THAT(nokey.status().message(), AllOf(HasSubstr("without \"reward\""), HasSubstr("'score'")));
  auto list = reward->Score(MakeTask("list", "a"), "a", "c");
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(list.status().message(), HasSubstr("returned list [1, 2]"));
  auto badreason = reward->Score(MakeTask("badreason", "a"), "a", "c");
  ASSERT_FALSE(badreason.ok());
  EXPECT_THAT(badreason.status().message(), HasSubstr("\"reasoning\" is int, expected text"));
  // A bad value is the function's fault, not the worker's: it keeps scoring.
  EXPECT_FALSE(reward->Score(MakeTask("text", "a"), "a", "c").ok());
}

TEST(PythonReward, ExceptionFailsOnlyThatScoreWithTracebackTail) {
  RewardDir dir;
  auto file = dir.Write("verify.py", R"(
def helper(x):
    raise ValueError("boom " + x)

def verify(problem, answer, response, task):
    if problem == "raise":
        helper(response)
    return 1.0
)");
  auto reward = MustMake(PythonOptions(file));
  ASSERT_TRUE(reward);
  auto bad = reward->Score(MakeTask("raise", "a"), "zzz", "c");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().code(), Status::Code::kInternal);  // never fatal for a run
  EXPECT_THAT(bad.status().message(), AllOf(HasSubstr("verify raised ValueError: boom zzz"), HasSubstr("line 3"),
                                            HasSubstr("in helper")));
  auto good = reward->Score(MakeTask("fine", "a"), "a", "c");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->score, 1.0);
}

TEST(PythonReward, HangPastTheTimeoutFailsThatScoreAndTheWorkerIsReplaced) {
  RewardDir dir;
  auto options = PythonOptions(dir.Write("verify.py", R"(
import time
def verify(problem, answer, response, task):
    if problem == "hang":
        print("about to hang")
        time.sleep(600)
    return 1.0
)"));
  options.timeout_s = 0.5;
  options.workers = 1;  // the next score must use a replacement, not a second worker
  auto reward = MustMake(options);
  ASSERT_TRUE(reward);
  const auto start = std::chrono::steady_clock::now();
  auto hung = reward->Score(MakeTask("hang", "a"), "a", "c");
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.status().code(), Status::Code::kTimeout);
  EXPECT_THAT(hung.status().message(), AllOf(HasSubstr("longer than 0.5 s"), HasSubstr("about to hang")));
  EXPECT_LT(waited, 5.0);
  auto next = reward->Score(MakeTask("fine", "a"), "a", "c");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->score, 1.0);
}

TEST(PythonReward, CrashFailsThatScoreAndTheWorkerIsReplaced) {
  RewardDir dir;
  auto options = PythonOptions(dir.Write("verify.py", R"(
import os, sys
def verify(problem, answer, response, task):
    if problem == "crash":
        sys.stderr.write("going down\n")
        sys.stderr.flush()
        os._exit(3)
    return 1.0
)"));
  options.workers = 1;
  auto reward = MustMake(options);
  ASSERT_TRUE(reward);
  auto crashed = reward->Score(MakeTask("crash", "a"), "a", "c");
  ASSERT_FALSE(crashed.ok());
  EXPECT_THAT(crashed.status().message(), AllOf(HasSubstr("exited with code 3"), HasSubstr("going down")));
  EXPECT_NE(crashed.status().code(), Status::Code::kInternal);
  for (int i = 0; i < 3; ++i) {
    auto next = reward->Score(MakeTask("fine", "a"), "a", "c");
    ASSERT_TRUE(next.ok()) << next.status().ToString();
  }
}

TEST(PythonReward, PrintsDoNotCorruptTheProtocol) {
  RewardDir dir;
  auto reward = MustMake(PythonOptions(dir.Write("verify.py", R"(
import sys
def verify(problem, answer, response, task):
    print("0.0")
    print('{"reward": 0.0}')
    sys.stdout.write("noise\n")
    return 1.0
)")));
  ASSERT_TRUE(reward);
  for (int i = 0; i < 3; ++i) {
    auto r = reward->Score(MakeTask("p", "a"), "a", "c");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->score, 1.0);
  }
}

// A loopback listener counting the connections it accepts.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 8);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

constexpr const char* kNetworkVerify = R"(
import socket
def verify(problem, answer, response, task):
    try:
        socket.create_connection(("127.0.0.1", int(problem)), timeout=2).close()
        return {"reward": 1.0, "reasoning": "connected"}
    except OSError as e:
        return {"reward": 0.0, "reasoning": "refused: " + str(e)}
)";

TEST(PythonReward, SandboxRefusesTheNetwork) {
  Listener listener;
  RewardDir dir;
  auto file = dir.Write("verify.py", kNetworkVerify);
  auto sandboxed = MustMake(PythonOptions(file));
  ASSERT_TRUE(sandboxed);
  auto r = sandboxed->Score(MakeTask(std::to_string(listener.port()), "a"), "a", "c");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->score, 0.0) << r->reasoning;
  EXPECT_THAT(r->reasoning, HasSubstr("refused"));
  // The same function does connect without the sandbox, so the refusal is the sandbox's doing.
  auto plain = MustMake(PythonOptions(file, "none"));
  ASSERT_TRUE(plain);
  auto p = plain->Score(MakeTask(std::to_string(listener.port()), "a"), "a", "c");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->reasoning, "connected");
}

TEST(PythonReward, SandboxRefusesWritesOutsideTheScratchDir) {
  RewardDir dir;
  const std::string outside = (dir.path() / "escaped.txt").string();
  auto file = dir.Write("verify.py", R"(
import os
def verify(problem, answer, response, task):
    results = []
    for path in [")" + outside + R"(", "/reward/escaped.txt", "/tmp/tfgrpo-escaped.txt", "/etc/tfgrpo-escaped"]:
        try:
            with open(path, "w") as f:
                f.write("x")
            results.append("wrote " + path)
        except OSError as e:
            results.append("refused " + path)
    with open(os.path.join(os.environ["TMPDIR"], "scratch.txt"), "w") as f:
        f.write("ok")
    results.append("scratch ok")
    return {"reward": 1.0, "reasoning": "; ".join(results)}
)");
  auto reward = MustMake(PythonOptions(file));
  ASSERT_TRUE(reward);
  auto r = reward->Score(MakeTask("p", "a"), "a", "c");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(r->reasoning, AllOf(Not(HasSubstr("wrote")), HasSubstr("refused " + outside), HasSubstr("scratch ok")));
  EXPECT_FALSE(std::filesystem::exists(outside));
  EXPECT_FALSE(std::filesystem::exists("/tmp/tfgrpo-escaped.txt"));
}

TEST(PythonReward, ManyThreadsShareTheWorkers) {
  RewardDir dir;
  auto reward = MustMake(PythonOptions(dir.Write("verify.py", R"(
def verify(problem, answer, response, task):
    return {"reward": 1.0 if response == answer else 0.0, "reasoning": problem}
)")));
  ASSERT_TRUE(reward);
  std::atomic<int> right{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string id = std::to_string(t) + "/" + std::to_string(i);
        auto r = reward->Score(MakeTask(id, "x"), i % 2 ? "x" : "y", "c");
        if (r.ok() && r->reasoning == id && r->score == (i % 2 ? 1.0 : 0.0)) {
          ++right;
        } else {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(right.load(), 400);
  EXPECT_EQ(wrong.load(), 0);
}

TEST(PythonReward, MissingFileAndBadSandboxModeAreStartUpErrors) {
  auto r = MakeScriptReward(PythonOptions("/nonexistent/verify.py"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/verify.py"));
  RewardDir dir;
  auto bad = MakeScriptReward(PythonOptions(dir.Write("verify.py", kExactVerify), "docker"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("tools.sandbox"));
}

// ---- command rewards --------------------------------------------------------------------------

constexpr const char* kScoreScript = R"(#!/usr/bin/python3
import json, os, sys, time, socket
for line in sys.stdin:
    req = json.loads(line)
    p = req["problem"]
    if p == "hang":
        time.sleep(600)
    if p == "crash":
        sys.stderr.write("score.py: crashing\n"); sys.stderr.flush()
        os._exit(4)
    if p == "garbage":
        print("this is not a score", flush=True)
        continue
    if p == "big":
        print("2.5", flush=True)
        continue
    if p == "net":
        try:
            socket.create_connection(("127.0.0.1", int(req["task"]["port"])), timeout=2).close()
            out = "connected"
        except OSError:
            out = "refused"
        print(json.dumps({"reward": 0, "reasoning": out}), flush=True)
        continue
    if p == "write":
        results = []
        for path in [req["task"]["outside"], "/reward/escaped.txt", "/tmp/tfgrpo-cmd-escaped.txt"]:
            try:
                open(path, "w").write("x")
                results.append("wrote " + path)
            except OSError:
                results.append("refused " + path)
        open(os.path.join(os.environ["TMPDIR"], "ok.txt"), "w").write("ok")
        print(json.dumps({"reward": 1, "reasoning": "; ".join(results) + "; scratch ok"}), flush=True)
        continue
    if p == "dict":
        print(json.dumps({"reward": 0.5, "reasoning": "strict: " + " ".join(sys.argv[1:]) + " tol=" + str(req["task"].get("tol"))}), flush=True)
        continue
    print(1 if req["response"] == req["answer"] else 0, flush=True)
)";

ScriptRewardOptions CommandOptions(const RewardDir& dir, std::string sandbox = "bwrap") {
  ScriptRewardOptions o;
  o.kind = "command";
  o.command = {"./score.py", "--strict"};
  o.base_dir = dir.path();
  o.workers = 1;
  o.timeout_s = 5;
  o.sandbox = std::move(sandbox);
  return o;
}

TEST(CommandReward, NumbersAndDictsWithReasoning) {
  RewardDir dir;
  dir.Write("score.py", kScoreScript, /*executable=*/true);
  auto reward = MustMake(CommandOptions(dir));
  ASSERT_TRUE(reward);
  auto right = reward->Score(MakeTask("p", "a"), "a", "c");
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_EQ(right->score, 1.0);
  auto wrong = reward->Score(MakeTask("p", "a"), "b", "c");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->score, 0.0);
  auto dict = reward->Score(MakeTask("dict", "a", {{"tol", 3}}), "b", "c");
  ASSERT_TRUE(dict.ok()) << dict.status().ToString();
  EXPECT_DOUBLE_EQ(dict->score, 0.5);
  EXPECT_EQ(dict->reasoning, "strict: --strict tol=3");
}

TEST(CommandReward, BadLinesHangsAndCrashesFailOnlyTheirScore) {
  RewardDir dir;
  dir.Write("score.py", kScoreScript, /*executable=*/true);
  auto options = CommandOptions(dir);
  options.timeout_s = 0.5;
  auto reward = MustMake(options);
  ASSERT_TRUE(reward);
  auto garbage = reward->Score(MakeTask("garbage", "a"), "a", "c");
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(garbage.status().message(), AllOf(HasSubstr("this is not a score"), HasSubstr("a number in [0, 1]")));
  auto big = reward->Score(MakeTask("big", "a"), "a", "c");
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(big.status().message(), HasSubstr("2.5, outside [0, 1]"));
  auto hung = reward->Score(MakeTask("hang", "a"), "a", "c");
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.status().code(), Status::Code::kTimeout);
  auto crashed = reward->Score(MakeTask("crash", "a"), "a", "c");
  ASSERT_FALSE(crashed.ok());
  EXPECT_THAT(crashed.status().message(), AllOf(HasSubstr("exited with code 4"), HasSubstr("score.py: crashing")));
  auto after = reward->Score(MakeTask("p", "a"), "a", "c");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->score, 1.0);
}

TEST(CommandReward, SandboxRefusesTheNetwork) {
  Listener listener;
  RewardDir dir;
  dir.Write("score.py", kScoreScript, /*executable=*/true);
  nlohmann::json record = {{"port", listener.port()}};
  auto sandboxed = MustMake(CommandOptions(dir));
  ASSERT_TRUE(sandboxed);
  auto r = sandboxed->Score(MakeTask("net", "a", record), "a", "c");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->reasoning, "refused");
  auto plain = MustMake(CommandOptions(dir, "none"));
  ASSERT_TRUE(plain);
  auto p = plain->Score(MakeTask("net", "a", record), "a", "c");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->reasoning, "connected");
}

TEST(CommandReward, SandboxRefusesWritesOutsideTheScratchDir) {
  RewardDir dir;
  dir.Write("score.py", kScoreScript, /*executable=*/true);
  const std::string outside = (dir.path() / "escaped.txt").string();
  auto reward = MustMake(CommandOptions(dir));
  ASSERT_TRUE(reward);
  auto r = reward->Score(MakeTask("write", "a", {{"outside", outside}}), "a", "c");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(r->reasoning, AllOf(Not(HasSubstr("wrote")), HasSubstr("refused " + outside), HasSubstr("scratch ok")));
  EXPECT_FALSE(std::filesystem::exists(outside));
}

TEST(PythonReward, AHugeRequestReachesTheFunction) {
  RewardDir dir;
  auto reward = MustMake(PythonOptions(dir.Write("verify.py", R"(
def verify(problem, answer, response, task):
    if problem == "long":
        return {"reward": 1.0, "reasoning": "why " * 10000}
    return {"reward": 1.0, "reasoning": str(len(response))}
)")));
  ASSERT_TRUE(reward);
  std::string response(3 << 20, 'x');  // far beyond a pipe's buffer
  auto r = reward->Score(MakeTask("p", "a"), response, "c");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->reasoning, std::to_string(response.size()));
  // A reasoning goes into prompts, so a runaway one is cut.
  auto long_reason = reward->Score(MakeTask("long", "a"), "a", "c");
  ASSERT_TRUE(long_reason.ok());
  EXPECT_LT(long_reason->reasoning.size(), 8300u);
  EXPECT_THAT(long_reason->reasoning, HasSubstr("[reasoning cut at 8192 bytes]"));
}

TEST(CommandReward, MissingProgramIsAStartUpError) {
  RewardDir dir;
  auto options = CommandOptions(dir);
  options.command = {"./nothing.sh"};
  auto r = MakeScriptReward(options);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr("./nothing.sh"), HasSubstr("not an executable")));
  options.command = {"no-such-program-anywhere"};
  auto bare = MakeScriptReward(options);
  ASSERT_FALSE(bare.ok());
  EXPECT_THAT(bare.status().message(), HasSubstr("not found"));
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

// Reward workers run under the tool sandbox's seccomp filter: no new processes (so RLIMIT_AS
// bounds a worker as it bounds a tool call) and no ptrace, in both sandbox modes.
TEST(PythonReward, WorkersCannotStartProcessesOrPtrace) {
  for (const char* mode : {"bwrap", "none"}) {
    SCOPED_TRACE(mode);
    RewardDir dir;
    auto reward = MustMake(PythonOptions(dir.Write("verify.py", R"(
import ctypes, os
def verify(problem, answer, response, task):
    notes = []
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        notes.append("fork worked")
    except OSError as e:
        notes.append("fork refused: " + type(e).__name__)
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.ptrace(0, 0, None, None)  # PTRACE_TRACEME
    notes.append("ptrace " + ("refused" if rc != 0 else "worked"))
    return {"reward": 1.0, "reasoning": "; ".join(notes)}
)"), mode));
    ASSERT_TRUE(reward);
    auto r = reward->Score(MakeTask("p", "a"), "x", "c1");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_THAT(r->reasoning, HasSubstr("fork refused: PermissionError"));
    EXPECT_THAT(r->reasoning, HasSubstr("ptrace refused"));
  }
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

// ---- replies matched to their requests (issue 16) -------------------------------------------

// Scores input N with its own record's "score"; input 3 also prints a stray number first, in the
// same write (as a buffered print followed by the flushed score does). Read one line per input,
// inputs 3-6 used to get 0.0, 0.3, 0.4, 0.5 instead of their own 0.3-0.6.
constexpr const char* kStrayLineScript = R"(#!/usr/bin/python3
import json, sys, time
for line in sys.stdin:
    req = json.loads(line)
    score = req["task"]["score"]
    if req["problem"] == "stray":
        sys.stdout.write("0.0\n%s\n" % score)
    elif req["problem"] == "late":
        print(score, flush=True)
        time.sleep(0.2)  # past the reply's grace: the check before the next request must see it
        print("0.0", flush=True)
        open(req["task"]["marker"], "w").close()  # the stray line is on the pipe now
    else:
        sys.stdout.write("%s\n" % score)
    sys.stdout.flush()
)";

TEST(CommandReward, AnExtraLineVoidsThatScoreAndEveryOtherInputGetsItsOwn) {
  RewardDir dir;
  dir.Write("score.py", kStrayLineScript, /*executable=*/true);
  auto reward = MustMake(CommandOptions(dir));
  ASSERT_TRUE(reward);
  for (int i = 1; i <= 6; ++i) {
    SCOPED_TRACE(i);
    const double own = i / 10.0;
    auto r = reward->Score(MakeTask(i == 3 ? "stray" : "p", "a", {{"score", own}}), "a", "c");
    if (i == 3) {
      ASSERT_FALSE(r.ok()) << "scored " << r->score;
      EXPECT_THAT(r.status().message(),
                  AllOf(HasSubstr("more than one line for one input"), HasSubstr("'0.0'"), HasSubstr("'0.3'"),
                        HasSubstr("worker was replaced")));
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_DOUBLE_EQ(r->score, own);
  }
}

// A stray number printed after the reply, in a write of its own: that reply may stand (it was the
// input's own), but the stray line is never taken as the next input's reply. The grader marks
// when the stray line is on the pipe (a file; sandbox none so the test can see it), and the next
// input is sent only then, so the test does not depend on timing.
TEST(CommandReward, ALineAfterTheReplyIsNeverTheNextInputsReply) {
  RewardDir dir;
  dir.Write("score.py", kStrayLineScript, /*executable=*/true);
  const std::filesystem::path marker = dir.path() / "stray-line-written";
  auto reward = MustMake(CommandOptions(dir, "none"));
  ASSERT_TRUE(reward);
  for (int i = 1; i <= 6; ++i) {
    SCOPED_TRACE(i);
    const double own = i / 10.0;
    auto r = reward->Score(MakeTask(i == 2 ? "late" : "p", "a", {{"score", own}, {"marker", marker.string()}}), "a",
                           "c");
    if (i == 2) {
      for (int wait = 0; wait < 3000 && !std::filesystem::exists(marker); ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      ASSERT_TRUE(std::filesystem::exists(marker));
      if (r.ok()) {  // the reply came alone, so it stands (unless this thread stalled 0.2 s)
        EXPECT_DOUBLE_EQ(r->score, own);
      }
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_DOUBLE_EQ(r->score, own);
  }
}

// A command may echo the request's "id" in a reply object; a reply naming another request fails.
TEST(CommandReward, AReplyNamingAnotherRequestIdFails) {
  RewardDir dir;
  dir.Write("score.py", R"(#!/usr/bin/python3
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    rid = req["id"] + (1 if req["problem"] == "wrong id" else 0)
    print(json.dumps({"id": rid, "reward": req["task"]["score"]}), flush=True)
)", /*executable=*/true);
  auto reward = MustMake(CommandOptions(dir));
  ASSERT_TRUE(reward);
  auto good = reward->Score(MakeTask("p", "a", {{"score", 0.25}}), "a", "c");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_DOUBLE_EQ(good->score, 0.25);
  auto bad = reward->Score(MakeTask("wrong id", "a", {{"score", 0.5}}), "a", "c");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), AllOf(HasSubstr("for request id 3"), HasSubstr("request id 2 was waiting")));
  auto after = reward->Score(MakeTask("p", "a", {{"score", 0.75}}), "a", "c");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_DOUBLE_EQ(after->score, 0.75);
}

// A hostile reward function writes a forged reply straight onto the protocol pipe (print()
// cannot: it goes to stderr). The forgery names no request id, so only that score fails, and the
// next input gets its own score.
TEST(PythonReward, AReplyForgedOnTheProtocolPipeFailsOnlyItsScore) {
  RewardDir dir;
  auto options = PythonOptions(dir.Write("verify.py", R"(
import os
def verify(problem, answer, response, task):
    if problem == "forge":
        for fd in range(3, 64):
            try:
                os.write(fd, b'{"reward": 0.0}\n')
            except OSError:
                pass
    return task["score"]
)"));
  options.workers = 1;
  auto reward = MustMake(options);
  ASSERT_TRUE(reward);
  auto forged = reward->Score(MakeTask("forge", "a", {{"score", 0.5}}), "a", "c");
  ASSERT_FALSE(forged.ok()) << "scored " << forged->score;
  for (double own : {0.25, 0.75}) {
    auto r = reward->Score(MakeTask("p", "a", {{"score", own}}), "a", "c");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_DOUBLE_EQ(r->score, own);
  }
}

// The timeout error quotes what the timed-out call printed, not what an earlier score printed.
TEST(PythonReward, ATimeoutQuotesOnlyItsOwnOutput) {
  RewardDir dir;
  auto options = PythonOptions(dir.Write("verify.py", R"(
import time
def verify(problem, answer, response, task):
    if problem == "loud":
        print("OUTPUT OF AN EARLIER SCORE")
        return 1.0
    print("this call hangs")
    time.sleep(600)
)"));
  options.workers = 1;
  options.timeout_s = 0.5;
  auto reward = MustMake(options);
  ASSERT_TRUE(reward);
  auto loud = reward->Score(MakeTask("loud", "a"), "a", "c");
  ASSERT_TRUE(loud.ok()) << loud.status().ToString();
  auto hung = reward->Score(MakeTask("hang", "a"), "a", "c");
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.status().code(), Status::Code::kTimeout);
  EXPECT_THAT(hung.status().message(), AllOf(HasSubstr("this call hangs"), Not(HasSubstr("EARLIER"))));
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

// ---- rewards in private folders (issue 16) --------------------------------------------------

// A folder only its owner may enter, as `mktemp -d` makes and root's home is. The tests run as
// root, so the workers run as uid 65534, which has no right to it.
class PrivateRewardDir {
 public:
  PrivateRewardDir() { ::chmod(dir_.path().c_str(), 0700); }
  std::filesystem::path Write(const std::string& name, const std::string& text, mode_t mode) {
    std::filesystem::path p = dir_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  testing::TempDir dir_;
};

TEST(PythonReward, AFileInAPrivateFolderIsReadWithItsHelpersAndData) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the workers drop to uid 65534 only when tfgrpo runs as root";
  PrivateRewardDir dir;
  auto file = dir.Write("verify.py", R"(
import os
import helper
def verify(problem, answer, response, task):
    here = os.path.dirname(__file__)
    table = open(os.path.join(here, "data", "table.txt")).read().strip()
    try:
        open(os.path.join(here, "secret.txt")).read()
        secret = "secret read"
    except OSError:
        secret = "secret kept"
    hidden = "hidden seen" if os.path.exists(os.path.join(here, ".env")) else "hidden kept"
    return {"reward": helper.half(), "reasoning": "table %s; %s; %s; uid %d" % (table, secret, hidden, os.getuid())}
)",
                        0600);
  dir.Write("helper.py", "def half():\n    return 0.5\n", 0644);
  dir.Write("data/table.txt", "0.25\n", 0644);
  dir.Write("secret.txt", "TFGRPO_API_KEY=sk-live\n", 0600);
  dir.Write(".env", "TFGRPO_API_KEY=sk-live\n", 0644);
  auto reward = MustMake(PythonOptions(file));
  ASSERT_TRUE(reward);
  auto r = reward->Score(MakeTask("p", "a"), "a", "c");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->score, 0.5);
  EXPECT_EQ(r->reasoning, "table 0.25; secret kept; hidden kept; uid 65534");
  // The host folder was neither opened up nor changed.
  struct stat st {};
  ASSERT_EQ(::stat(dir.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(CommandReward, AProgramInAPrivateFolderRunsAndReadsItsFiles) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the workers drop to uid 65534 only when tfgrpo runs as root";
  PrivateRewardDir dir;
  // Shell builtins only: the sandbox lets a worker start no processes.
  dir.Write("score.sh", "#!/bin/sh\nwhile read -r line; do read -r score < ./answer.txt; echo \"$score\"; done\n", 0700);
  dir.Write("answer.txt", "0.75\n", 0644);
  ScriptRewardOptions o;
  o.kind = "command";
  o.command = {"./score.sh"};
  o.base_dir = dir.path();
  o.workers = 1;
  o.timeout_s = 5;
  o.sandbox = "bwrap";
  auto reward = MustMake(o);
  ASSERT_TRUE(reward);
  for (int i = 0; i < 2; ++i) {
    auto r = reward->Score(MakeTask("p", "a"), "a", "c");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_DOUBLE_EQ(r->score, 0.75);
  }
  // An open folder whose program only its owner may run: copied in too.
  RewardDir open_dir;
  open_dir.Write("score.sh", "#!/bin/sh\nwhile read -r line; do echo 0.5; done\n");
  ::chmod((open_dir.path() / "score.sh").c_str(), 0700);
  o.base_dir = open_dir.path();
  auto owner_only = MustMake(o);
  ASSERT_TRUE(owner_only);
  auto r = owner_only->Score(MakeTask("p", "a"), "a", "c");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->score, 0.5);
}

}  // namespace
}  // namespace tfgrpo
