// `tfgrpo agent try`: one run of the user's agent on one task through the gateway, against the
// simulator; each call printed with the messages as sent upstream (library injected), the answer,
// the reward and the reasoning; a non-zero exit status when the agent failed.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <fstream>

#include "test_util.h"
#include "tfgrpo/sim.h"
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
  auto out_text = ReadFile(out), err_text = ReadFile(err);
  r.out = out_text.ok() ? *out_text : "";
  r.err = err_text.ok() ? *err_text : "";
  return r;
}

constexpr const char* kAgent = R"PY(
import json, os, sys, urllib.request
task = json.loads(sys.stdin.readline())
if task["id"] == "broken":
    sys.stderr.write("Traceback: something broke\n")
    sys.exit(4)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions",
    data=json.dumps({"model": "any", "messages": [
        {"role": "system", "content": "You are a math agent."},
        {"role": "user", "content": task["problem"]}]}).encode(),
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]})
with opener.open(req, timeout=30) as r:
    print(json.load(r)["choices"][0]["message"]["content"])
)PY";

class AgentTryCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sim_.Start(0).ok());
    std::ofstream train(dir_ / "train.jsonl");
    for (const auto& t : GenerateSimTasks(3, 7)) train << t.dump() << "\n";
    train << R"({"id": "broken", "problem": "1+1", "groundtruth": "2"})" << "\n";
    train.close();
    std::ofstream(dir_ / "agent.py") << kAgent;
    std::ofstream(dir_ / "config.yaml") << "model:\n  base_url: \"" << sim_.base_url()
                                        << "\"\n  name: sim\ndata:\n  train: train.jsonl\n"
                                           "task:\n  mode: external\n  reward: math\n"
                                           "agent:\n  command: [\"/usr/bin/python3\", \"agent.py\"]\n  timeout_s: 30\n";
    const std::string lesson = SimPitfalls()[0].experience;
    std::ofstream(dir_ / "experiences.json") << nlohmann::json::array({lesson}).dump();
  }
  SimServer sim_{SimOptions{.seed = 5}};
  TempDir dir_;
};

TEST_F(AgentTryCli, PrintsEachCallWithTheInjectedLibraryTheAnswerAndTheReward) {
  CliRun r = Tfgrpo(dir_, "agent try --config " + (dir_ / "config.yaml").string() + " --experiences " +
                              (dir_ / "experiences.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("call 1 (try/"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/r0/a1, sent, HTTP 200)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("You are a math agent."), std::string::npos) << r.out;
  // The system message as sent upstream holds the library.
  EXPECT_NE(r.out.find(SimPitfalls()[0].experience.substr(0, 40)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("answer:\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reward: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(task.reward math)"), std::string::npos) << r.out;
}

TEST_F(AgentTryCli, AFailingAgentExitsNonZeroWithItsReasonAndStderr) {
  CliRun r = Tfgrpo(dir_, "agent try --config " + (dir_ / "config.yaml").string() + " --task broken");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("agent failed (exit 4)"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("Traceback: something broke"), std::string::npos) << r.out;
}

TEST_F(AgentTryCli, AnUnknownTaskAndANonExternalConfigAreErrors) {
  CliRun r = Tfgrpo(dir_, "agent try --config " + (dir_ / "config.yaml").string() + " --task nope");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--task nope"), std::string::npos) << r.err;
  std::ofstream(dir_ / "prompt.yaml") << "model:\n  base_url: \"" << sim_.base_url()
                                      << "\"\n  name: sim\ndata:\n  train: train.jsonl\n";
  r = Tfgrpo(dir_, "agent try --config " + (dir_ / "prompt.yaml").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("task.mode: external"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tfgrpo
