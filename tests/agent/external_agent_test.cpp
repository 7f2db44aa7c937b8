// The external agent runner against small agent programs the tests write (python and sh) and a
// fake gateway: the environment contract, stdin, the answer contract, URL agents, and hostile
// agents (crash, hang with a child left running, 20 MB of output, wrong tokens, calls after the
// rollout ended, endless calls).
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "agent/external_internal.h"
#include "fake_gateway.h"
#include "local_http_server.h"
#include "test_util.h"
#include "tfgrpo/external_agent.h"
#include "tfgrpo/library.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::FakeGateway;
using testing::LocalHttpServer;
using testing::TempDir;

constexpr const char* kProviderKey = "sk-provider-SECRET-0123456789abcdef";
constexpr const char* kOtherKey = "sk-learner-SECRET-fedcba9876543210";

// The calls python agents make, without any SDK (and without proxies from the environment).
constexpr const char* kPythonPrelude = R"PY(
import json, os, sys, urllib.request, urllib.error
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def chat(messages, key=None, base=None):
    base = base or os.environ["OPENAI_BASE_URL"]
    req = urllib.request.Request(base + "/chat/completions",
        data=json.dumps({"model": "gpt-x", "messages": messages, "temperature": 0}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": "Bearer " + (key or os.environ["OPENAI_API_KEY"])})
    try:
        with _opener.open(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
def answer(obj):
    with open(os.environ["TFGRPO_ANSWER_FILE"], "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
)PY";

// Sets an environment variable for the test's lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

class ExternalAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.source = dir_ / "tfgrpo.yaml";
    config_.model.name = "policy-model";
    config_.model.api_key_env = "MY_PROVIDER_KEY";
    config_.model.concurrency = 4;
    config_.model.max_retries = 2;
    config_.learner.api_key_env = "MY_LEARNER_KEY";
    config_.task.mode = TaskMode::kExternal;
    config_.agent.given = true;
    config_.agent.timeout_s = 20;
    task_.id = "t7";
    task_.problem = "What is 6 * 7?";
    task_.answer = "42";
    task_.record = {{"id", "t7"}, {"problem", "What is 6 * 7?"}, {"groundtruth", "42"}, {"extra", {1, 2}}};
    spec_.rollout_id = "s3/t7/r2";
    spec_.temperature = 0.9;
  }

  // Writes agent.py (the prelude, then `body`) in the config's folder and runs it with python3.
  void PythonAgent(const std::string& body) {
    std::ofstream(dir_ / "agent.py") << kPythonPrelude << body;
    config_.agent.command = {"/usr/bin/python3", "agent.py"};
  }
  void ShellAgent(const std::string& body) {
    std::ofstream(dir_ / "agent.sh") << "#!/bin/sh\n" << body;
    std::filesystem::permissions(dir_ / "agent.sh", std::filesystem::perms::owner_all);
    config_.agent.command = {"./agent.sh"};
  }
  ExternalRun RunOnce(FakeGateway& gateway) {
    auto runner = MakeExternalAgentRunner(config_, gateway);
    return runner->Run(task_, spec_);
  }
  std::string Read(const std::string& name) {
    auto text = ReadFile(dir_ / name);
    return text.ok() ? *text : "";
  }

  TempDir dir_;
  Config config_;
  Task task_;
  ExternalRolloutSpec spec_;
};

// /proc/<pid>/stat's state letter; 0 when there is no such process.
char ProcessState(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  const size_t close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? 0 : line[close + 2];
}

// True once `pid` is gone or a zombie (a dead child our container's init may never reap).
bool GoneWithin(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    const char state = ProcessState(pid);
    if (state == 0 || state == 'Z' || state == 'X') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST_F(ExternalAgentTest, TheEnvironmentHasTheGatewayAndTheTaskButNoProviderKey) {
  ScopedEnv provider("MY_PROVIDER_KEY", kProviderKey);
  ScopedEnv learner("MY_LEARNER_KEY", kOtherKey);
  ScopedEnv openai("OPENAI_API_KEY", "sk-openai-SECRET-00000000");
  ScopedEnv tfgrpo_key("TFGRPO_API_KEY", "sk-tfgrpo-SECRET-11111111");
  ScopedEnv copied("SOME_COPY_OF_THE_KEY", kProviderKey);  // the key under another name
  ScopedEnv harmless("HARMLESS_SETTING", "kept");
  FakeGateway gateway;
  Library library(std::vector<Experience>{{"Check units before answering."}, {"Prefer exact fractions."}});
  spec_.library = &library;
  PythonAgent(R"PY(
with open("env.json", "w") as f:
    json.dump({"env": dict(os.environ), "cwd": os.getcwd(), "stdin": sys.stdin.read()}, f)
status, reply = chat([{"role": "user", "content": os.environ["TFGRPO_PROBLEM"]}])
print(reply["choices"][0]["message"]["content"])
)PY");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply, "42");
  const nlohmann::json seen = nlohmann::json::parse(Read("env.json"));
  const nlohmann::json& env = seen["env"];
  ASSERT_EQ(gateway.tickets().size(), 1u);
  const std::string base = env.value("OPENAI_BASE_URL", "");
  const std::string token = env.value("OPENAI_API_KEY", "");
  EXPECT_GE(token.size(), 32u);  // 128 bits, hex
  EXPECT_EQ(base, gateway.url() + "/r/" + token + "/v1");
  EXPECT_EQ(env.value("OPENAI_API_BASE", ""), base);
  EXPECT_FALSE(gateway.IsOpen(token)) << "the lease must be closed when the rollout ends";
  EXPECT_EQ(env.value("TFGRPO_ROLLOUT_ID", ""), "s3/t7/r2");
  EXPECT_EQ(env.value("TFGRPO_TASK_ID", ""), "t7");
  EXPECT_EQ(env.value("TFGRPO_PROBLEM", ""), "What is 6 * 7?");
  EXPECT_EQ(env.value("TFGRPO_LIBRARY", ""), AppendLibrary("", library));
  EXPECT_NE(env.value("TFGRPO_LIBRARY", "").find("Prefer exact fractions."), std::string::npos);
  const std::string answer_file = env.value("TFGRPO_ANSWER_FILE", "");
  EXPECT_FALSE(answer_file.empty());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(answer_file).parent_path()))
      << "the rollout's private directory is removed afterwards";
  EXPECT_EQ(env.value("HARMLESS_SETTING", ""), "kept");
  for (const char* name : {"MY_PROVIDER_KEY", "MY_LEARNER_KEY", "TFGRPO_API_KEY", "SOME_COPY_OF_THE_KEY"})
    EXPECT_FALSE(env.contains(name)) << name;
  const std::string everything = seen.dump();
  for (const char* secret : {kProviderKey, kOtherKey, "sk-openai-SECRET-00000000", "sk-tfgrpo-SECRET-11111111"})
    EXPECT_EQ(everything.find(secret), std::string::npos) << secret;
  EXPECT_EQ(std::filesystem::path(seen["cwd"].get<std::string>()), std::filesystem::canonical(dir_.path()));
  EXPECT_EQ(nlohmann::json::parse(seen["stdin"].get<std::string>()), task_.record);
  EXPECT_EQ(seen["stdin"].get<std::string>().back(), '\n');
  // The ticket says what the gateway injects and at which temperature.
  const RolloutTicket ticket = gateway.tickets()[0];
  EXPECT_EQ(ticket.rollout_id, "s3/t7/r2");
  EXPECT_EQ(ticket.library, &library);
  EXPECT_DOUBLE_EQ(ticket.temperature, 0.9);
  EXPECT_EQ(run.outcome.turns, 1);
  EXPECT_EQ(run.calls_sent, 1);
  EXPECT_EQ(run.outcome.usage.prompt_tokens, 10);
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(ExternalAgentTest, ABaselineHasAnEmptyLibraryAndInjectNoneShowsNone) {
  FakeGateway gateway;
  PythonAgent("print(repr(os.environ['TFGRPO_LIBRARY']))\n");
  EXPECT_EQ(RunOnce(gateway).outcome.final_reply, "''");
  Library library(std::vector<Experience>{{"A lesson."}});
  spec_.library = &library;
  config_.agent.inject = InjectMode::kNone;
  EXPECT_EQ(RunOnce(gateway).outcome.final_reply, "''");
}

TEST_F(ExternalAgentTest, TheAnswerFileGivesAnswerRewardAndReasoning) {
  FakeGateway gateway;
  PythonAgent(R"PY(answer({"answer": "  x = 3 ", "reward": 0.75, "reasoning": "2 of 3 tests pass"})
print("stdout is ignored when the file is written")
)PY");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply, "x = 3");
  ASSERT_TRUE(run.self_reward.has_value());
  EXPECT_DOUBLE_EQ(run.self_reward->score, 0.75);
  EXPECT_EQ(run.self_reward->reasoning, "2 of 3 tests pass");
  EXPECT_NE(run.outcome.trajectory.find("Final answer:\nx = 3"), std::string::npos) << run.outcome.trajectory;
}

TEST_F(ExternalAgentTest, APlainTextAnswerFileIsTheAnswer) {
  FakeGateway gateway;
  PythonAgent("answer('\\n  The answer is \\\\boxed{42}.\\n')\n");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply, "The answer is \\boxed{42}.");
  EXPECT_FALSE(run.self_reward.has_value());
}

TEST_F(ExternalAgentTest, AnAnswerFileThatIsNotUtf8FailsTheRolloutAsABadAnswer) {
  FakeGateway gateway;
  PythonAgent(R"PY(open(os.environ["TFGRPO_ANSWER_FILE"], "wb").write(b"caf\xe9 \xff")
)PY");
  ExternalRun run = RunOnce(gateway);
  EXPECT_FALSE(run.status.ok());
  EXPECT_EQ(AgentFailureReason(run.status), "bad answer");
  EXPECT_NE(run.status.message().find("not valid UTF-8"), std::string::npos) << run.status.message();
}

TEST_F(ExternalAgentTest, AnAnswerFileThatIsASymlinkIsNotFollowed) {
  ScopedEnv provider("MY_PROVIDER_KEY", kProviderKey);
  FakeGateway gateway;
  // Our own environment holds the key: an agent must not make us read it into the answer.
  PythonAgent("os.symlink('/proc/%d/environ' % os.getppid(), os.environ['TFGRPO_ANSWER_FILE'])\n");
  ExternalRun run = RunOnce(gateway);
  EXPECT_EQ(AgentFailureReason(run.status), "bad answer");
  EXPECT_EQ(run.outcome.final_reply.find(kProviderKey), std::string::npos);
  EXPECT_EQ(run.status.message().find(kProviderKey), std::string::npos);
}

TEST_F(ExternalAgentTest, AKeyInTheAnswerIsRedacted) {
  ScopedEnv provider("MY_PROVIDER_KEY", kProviderKey);
  FakeGateway gateway;
  std::ofstream(dir_ / "leak.txt") << kProviderKey;
  ShellAgent("echo \"the key is $(cat leak.txt)\"\n");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply, "the key is [redacted]");
}

TEST_F(ExternalAgentTest, ARewardOutsideZeroToOneIsABadAnswer) {
  FakeGateway gateway;
  PythonAgent("answer({'answer': '42', 'reward': 1.5})\n");
  ExternalRun run = RunOnce(gateway);
  EXPECT_EQ(AgentFailureReason(run.status), "bad answer");
  EXPECT_NE(run.status.message().find("[0, 1]"), std::string::npos) << run.status.message();
  PythonAgent("answer({'answer': '42', 'reward': 'high'})\n");
  EXPECT_EQ(AgentFailureReason(RunOnce(gateway).status), "bad answer");
}

TEST_F(ExternalAgentTest, StandardOutputTrimmedIsTheAnswerWithoutAFile) {
  FakeGateway gateway;
  ShellAgent("read line\necho\necho '  \\\\boxed{7}  '\necho >&2 'some log line'\n");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply, "\\boxed{7}");
  EXPECT_EQ(run.stderr_tail, "some log line\n");
  EXPECT_EQ(run.outcome.turns, 0);  // an agent that never calls the gateway is no failure
  EXPECT_EQ(run.calls_sent, 0);
}

TEST_F(ExternalAgentTest, NothingAnsweredIsNoAnswer) {
  FakeGateway gateway;
  ShellAgent("echo '   '\n");
  ExternalRun run = RunOnce(gateway);
  EXPECT_EQ(AgentFailureReason(run.status), "no answer");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(ExternalAgentTest, ANonZeroExitFailsWithTheStderrTailRedacted) {
  ScopedEnv provider("MY_PROVIDER_KEY", kProviderKey);
  FakeGateway gateway;
  // The agent cannot see the key; it prints it from a file the test left, as a leaky tool might.
  std::ofstream(dir_ / "leak.txt") << kProviderKey;
  ShellAgent("echo 'the answer'\necho \"Traceback: key $(cat leak.txt) rejected\" >&2\nexit 3\n");
  ExternalRun run = RunOnce(gateway);
  EXPECT_EQ(run.status.code(), Status::Code::kProviderError);
  EXPECT_EQ(AgentFailureReason(run.status), "exit 3");
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.stderr_tail.find("Traceback"), std::string::npos);
  EXPECT_EQ(run.stderr_tail.find(kProviderKey), std::string::npos) << run.stderr_tail;
  EXPECT_EQ(run.status.message().find(kProviderKey), std::string::npos) << run.status.message();
  EXPECT_NE(run.status.message().find("Traceback"), std::string::npos) << run.status.message();
}

TEST_F(ExternalAgentTest, AProgramThatCannotRunFailsTheRolloutNotTheRunner) {
  FakeGateway gateway;
  config_.agent.command = {"./no-such-agent"};
  ExternalRun run = RunOnce(gateway);
  EXPECT_EQ(AgentFailureReason(run.status), "not started");
  EXPECT_NE(run.status.message().find("no-such-agent"), std::string::npos) << run.status.message();
  EXPECT_EQ(run.exit_code, -1);
}

TEST_F(ExternalAgentTest, AHungAgentIsKilledAtTheTimeoutWithTheChildItLeftRunning) {
  FakeGateway gateway;
  config_.agent.timeout_s = 1;
  // A background child that would run for a minute, its pid written down; then the agent hangs.
  ShellAgent("sleep 60 &\necho $! > child.pid\necho $$ > agent.pid\necho started >&2\nsleep 60\n");
  ExternalRun run = RunOnce(gateway);
  EXPECT_EQ(run.status.code(), Status::Code::kTimeout);
  EXPECT_EQ(AgentFailureReason(run.status), "timeout");
  EXPECT_EQ(run.exit_code, -1);
  EXPECT_NE(run.stderr_tail.find("started"), std::string::npos);
  const pid_t child = std::stoi(Read("child.pid")), agent = std::stoi(Read("agent.pid"));
  EXPECT_TRUE(GoneWithin(child, std::chrono::milliseconds(3000))) << "the agent's child " << child << " is still running";
  EXPECT_TRUE(GoneWithin(agent, std::chrono::milliseconds(3000)));
}

TEST_F(ExternalAgentTest, AChildLeftRunningByAnAgentThatAnsweredIsKilledToo) {
  FakeGateway gateway;
  ShellAgent("sleep 60 &\necho $! > child.pid\necho done\n");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply, "done");
  EXPECT_TRUE(GoneWithin(std::stoi(Read("child.pid")), std::chrono::milliseconds(3000)));
}

TEST_F(ExternalAgentTest, TwentyMegabytesOfOutputKeepOneMebibyteOfStdoutAndTwoKibibytesOfStderr) {
  FakeGateway gateway;
  PythonAgent(R"PY(
chunk = "x" * 65536
for i in range(320):          # 20 MiB on each stream, interleaved
    sys.stdout.write(chunk)
    sys.stderr.write(chunk)
sys.stderr.write("THE END")
)PY");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply.size(), size_t{1} << 20);
  EXPECT_EQ(run.stderr_tail.size(), 2048u);
  EXPECT_EQ(run.stderr_tail.substr(2048 - 7), "THE END");
}

TEST_F(ExternalAgentTest, TheTokenWorksOnlyWhileTheRolloutRuns) {
  FakeGateway gateway;
  // The agent tries a made-up token first, then its own; a child that left the agent's process
  // group (setsid) calls again after the rollout ended.
  PythonAgent(R"PY(
status, body = chat([{"role": "user", "content": "hi"}], key="sk-made-up",
                    base=os.environ["OPENAI_BASE_URL"].replace(os.environ["OPENAI_API_KEY"], "0" * 32))
assert status == 401 and body["error"]["code"] == "invalid_api_key", (status, body)
status, body = chat([{"role": "user", "content": "hi"}])
assert status == 200, status
import subprocess
subprocess.Popen(["/usr/bin/python3", "-c", """
import os, sys, time, json, urllib.request, urllib.error
time.sleep(1.5)
o = urllib.request.build_opener(urllib.request.ProxyHandler({}))
req = urllib.request.Request(sys.argv[1] + "/chat/completions", data=b'{"messages": []}',
                             headers={"Content-Type": "application/json"})
try:
    o.open(req, timeout=5); code = 200
except urllib.error.HTTPError as e:
    code = e.code
open("late.txt", "w").write(str(code))
""", os.environ["OPENAI_BASE_URL"]], start_new_session=True)
print("ok")
)PY");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.turns, 1);
  for (int i = 0; i < 100 && Read("late.txt").empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Read("late.txt"), "401");
  EXPECT_EQ(gateway.refused_401(), 2);
}

TEST_F(ExternalAgentTest, EndlessCallsStopAtMaxTurnsAndTheRolloutStillCounts) {
  FakeGateway gateway(/*max_turns=*/5);
  PythonAgent(R"PY(
n = 0
for i in range(10000):
    status, body = chat([{"role": "user", "content": "again %d" % i}])
    if status != 200:
        break
    n += 1
print("made %d calls, then %d %s" % (n, status, body["error"]["code"]))
)PY");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply, "made 5 calls, then 400 max_turns_exceeded");
  EXPECT_EQ(run.calls_sent, 5);
  EXPECT_EQ(run.outcome.usage.prompt_tokens, 50);
}

TEST_F(ExternalAgentTest, BudgetExhaustedSeenByTheAgentStopsTheRun) {
  FakeGateway gateway;
  gateway.budget_exhausted = true;
  PythonAgent(R"PY(
status, body = chat([{"role": "user", "content": "hi"}])
sys.exit(1 if status != 200 else 0)
)PY");
  ExternalRun run = RunOnce(gateway);
  EXPECT_EQ(run.status.code(), Status::Code::kBudgetExhausted) << run.status.ToString();
}

TEST_F(ExternalAgentTest, ALeaseTheGatewayRefusesFailsTheRollout) {
  FakeGateway gateway;
  gateway.refuse_open = true;
  PythonAgent("print('never run')\n");
  ExternalRun run = RunOnce(gateway);
  EXPECT_FALSE(run.status.ok());
  EXPECT_NE(run.status.message().find("gateway"), std::string::npos);
}

TEST_F(ExternalAgentTest, TheTrajectoryShowsEachCallsNewMessagesAndReplyThenTheAnswer) {
  FakeGateway gateway(50, [](const nlohmann::json& body) {
    const size_t n = body["messages"].size();
    if (n <= 2)
      return nlohmann::json{{"role", "assistant"},
                            {"content", nullptr},
                            {"tool_calls",
                             {{{"id", "call_1"},
                               {"type", "function"},
                               {"function", {{"name", "calculator"}, {"arguments", "{\"expr\": \"6*7\"}"}}}}}}};
    return nlohmann::json{{"role", "assistant"}, {"content", "It is 42."}};
  });
  spec_.transcript = {40, 0};
  PythonAgent(R"PY(
msgs = [{"role": "system", "content": "You are a careful calculator agent."},
        {"role": "user", "content": os.environ["TFGRPO_PROBLEM"]}]
status, body = chat(msgs)
reply = body["choices"][0]["message"]
msgs.append(reply)
msgs.append({"role": "tool", "tool_call_id": "call_1", "content": "42" + " padding" * 50})
status, body = chat(msgs)
print(body["choices"][0]["message"]["content"])
)PY");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  const std::string& t = run.outcome.trajectory;
  EXPECT_EQ(run.outcome.turns, 2);
  EXPECT_EQ(run.outcome.tool_calls, 1);
  // Call 1: the agent's system message (named, not repeated), the problem, the tool call.
  const size_t call1 = t.find("Call 1:"), call2 = t.find("Call 2:"), final_at = t.find("Final answer:");
  ASSERT_NE(call1, std::string::npos) << t;
  ASSERT_NE(call2, std::string::npos) << t;
  ASSERT_NE(final_at, std::string::npos) << t;
  EXPECT_LT(call1, call2);
  EXPECT_LT(call2, final_at);
  EXPECT_NE(t.find("[system message"), std::string::npos) << t;
  EXPECT_EQ(t.find("careful calculator"), std::string::npos) << t;
  EXPECT_NE(t.find("What is 6 * 7?"), std::string::npos) << t;
  EXPECT_NE(t.find("Tool call: calculator (call_1)"), std::string::npos) << t;
  // Call 2 shows only what is new: the tool output (elided to 40 characters), not the problem again.
  const std::string second = t.substr(call2, final_at - call2);
  EXPECT_EQ(second.find("What is 6 * 7?"), std::string::npos) << second;
  EXPECT_NE(second.find("[tool output for call_1]"), std::string::npos) << second;
  EXPECT_NE(second.find("characters omitted"), std::string::npos) << second;
  EXPECT_NE(second.find("It is 42."), std::string::npos) << second;
  EXPECT_NE(t.find("Final answer:\nIt is 42."), std::string::npos) << t;
  // messages: one conversation, each message once.
  ASSERT_EQ(run.outcome.messages.size(), 5u) << run.outcome.messages.dump(1);
  EXPECT_EQ(run.outcome.messages[4]["content"], "It is 42.");
}

TEST_F(ExternalAgentTest, TheWholeTrajectoryKeepsItsHeadAndTailWithinTheLimit) {
  FakeGateway gateway;
  spec_.transcript = {0, 300};
  PythonAgent(R"PY(
for i in range(20):
    chat([{"role": "user", "content": "question number %d" % i}])
print("final")
)PY");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  const std::string& t = run.outcome.trajectory;
  EXPECT_NE(t.find("Call 1:"), std::string::npos);
  EXPECT_NE(t.find("Final answer:\nfinal"), std::string::npos);
  EXPECT_NE(t.find("characters omitted"), std::string::npos);
  EXPECT_LT(t.size(), 400u);
}

TEST_F(ExternalAgentTest, AtMostAgentConcurrencyAgentsRunAtOnce) {
  FakeGateway gateway;
  config_.agent.concurrency = 2;
  // Each agent adds its marker file, counts the markers present, waits, and removes its own.
  PythonAgent(R"PY(
import glob, time
me = "running.%d" % os.getpid()
open(me, "w").close()
n = len(glob.glob("running.*"))
time.sleep(0.3)
os.remove(me)
print(n)
)PY");
  auto runner = MakeExternalAgentRunner(config_, gateway);
  std::vector<std::thread> threads;
  std::vector<std::string> answers(6);
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&, i] { answers[i] = runner->Run(task_, spec_).outcome.final_reply; });
  for (auto& t : threads) t.join();
  for (const std::string& a : answers) {
    ASSERT_FALSE(a.empty());
    EXPECT_LE(std::stoi(a), 2);
  }
}

TEST_F(ExternalAgentTest, UnderBubblewrapTheAgentReachesTheGatewayButCannotWriteItsFolder) {
  if (::access("/usr/bin/bwrap", X_OK) != 0) GTEST_SKIP() << "bubblewrap is not installed";
  FakeGateway gateway;
  config_.agent.sandbox = SandboxMode::kBwrap;
  PythonAgent(R"PY(
try:
    open("written-by-agent.txt", "w").write("x")
    wrote = "yes"
except OSError:
    wrote = "no"
open(os.path.join(os.environ["TMPDIR"], "scratch.txt"), "w").write("scratch is writable")
status, body = chat([{"role": "user", "content": "hi"}])
answer({"answer": "wrote=%s status=%d home=%s" % (wrote, status, os.environ["HOME"] == os.environ["TMPDIR"])})
)PY");
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply, "wrote=no status=200 home=True");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "written-by-agent.txt"));
  EXPECT_EQ(run.outcome.turns, 1);
}

// URL agents: one POST per rollout to a local service.
class UrlAgentTest : public ExternalAgentTest {
 protected:
  void SetUp() override {
    ExternalAgentTest::SetUp();
    service_.server().Post("/run", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      bodies_.push_back(nlohmann::json::parse(req.body));
      handler_(static_cast<int>(bodies_.size()), res);
    });
    ASSERT_TRUE(service_.Start());
    config_.agent.url = "http://127.0.0.1:" + std::to_string(service_.port()) + "/run";
  }
  std::mutex mu_;
  std::vector<nlohmann::json> bodies_;
  std::function<void(int, httplib::Response&)> handler_;
  LocalHttpServer service_;
};

TEST_F(UrlAgentTest, ThePostCarriesTheRolloutAndTheReplyIsTheAnswer) {
  FakeGateway gateway;
  Library library(std::vector<Experience>{{"Show your work."}});
  spec_.library = &library;
  handler_ = [](int, httplib::Response& res) {
    res.set_content(R"({"answer": "42", "reward": 1, "reasoning": "tests pass"})", "application/json");
  };
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply, "42");
  ASSERT_TRUE(run.self_reward);
  EXPECT_DOUBLE_EQ(run.self_reward->score, 1.0);
  ASSERT_EQ(bodies_.size(), 1u);
  const nlohmann::json& b = bodies_[0];
  EXPECT_EQ(b["rollout_id"], "s3/t7/r2");
  EXPECT_EQ(b["task"], task_.record);
  EXPECT_EQ(b["problem"], task_.problem);
  EXPECT_EQ(b["library"], AppendLibrary("", library));
  const std::string key = b["api_key"];
  EXPECT_EQ(b["base_url"], gateway.url() + "/r/" + key + "/v1");
  EXPECT_FALSE(gateway.IsOpen(key));
}

TEST_F(UrlAgentTest, A503IsRetriedWithTheSameLease) {
  FakeGateway gateway;
  handler_ = [](int n, httplib::Response& res) {
    if (n == 1) {
      res.status = 503;
      res.set_header("Retry-After", "0");
      res.set_content("busy", "text/plain");
      return;
    }
    res.set_content(R"({"answer": "ok"})", "application/json");
  };
  ExternalRun run = RunOnce(gateway);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_EQ(run.outcome.final_reply, "ok");
  ASSERT_EQ(bodies_.size(), 2u);
  EXPECT_EQ(bodies_[0]["api_key"], bodies_[1]["api_key"]);
  EXPECT_EQ(gateway.tickets().size(), 1u);
}

TEST_F(UrlAgentTest, AReplyThatIsNotTheExpectedJsonIsABadAnswer) {
  FakeGateway gateway;
  handler_ = [](int, httplib::Response& res) { res.set_content("<html>oops</html>", "text/html"); };
  ExternalRun run = RunOnce(gateway);
  EXPECT_EQ(AgentFailureReason(run.status), "bad answer");
  handler_ = [](int, httplib::Response& res) { res.set_content(R"({"answer": 42, "reward": 7})", "application/json"); };
  EXPECT_EQ(AgentFailureReason(RunOnce(gateway).status), "bad answer");
}

TEST_F(UrlAgentTest, AFinalErrorStatusAndAnUnreachableServiceFailTheRollout) {
  FakeGateway gateway;
  handler_ = [](int, httplib::Response& res) {
    res.status = 400;
    res.set_content("no such task", "text/plain");
  };
  ExternalRun run = RunOnce(gateway);
  EXPECT_EQ(AgentFailureReason(run.status), "http 400");
  EXPECT_NE(run.status.message().find("no such task"), std::string::npos);
  config_.agent.url = "http://127.0.0.1:" + std::to_string(testing::ClosedPort()) + "/run";
  config_.model.max_retries = 0;
  run = RunOnce(gateway);
  EXPECT_EQ(AgentFailureReason(run.status), "unreachable");
  EXPECT_EQ(run.status.code(), Status::Code::kUnavailable);
}

TEST(AgentFailureReasonTest, ReadsTheReasonBackAndIgnoresOtherStatuses) {
  EXPECT_EQ(AgentFailureReason(external_internal::AgentFailure("exit 1", "x", "tail")), "exit 1");
  EXPECT_EQ(AgentFailureReason(external_internal::AgentFailure("timeout", "", "", Status::Code::kTimeout)), "timeout");
  EXPECT_EQ(AgentFailureReason(Status::Unavailable("cannot reach upstream")), "");
  EXPECT_EQ(AgentFailureReason(Status::Ok()), "");
}

}  // namespace
}  // namespace tfgrpo
