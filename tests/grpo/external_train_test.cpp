// task.mode external end to end: Train and Evaluate run a small python agent (plain HTTP, no SDK)
// through the real gateway against the simulated LLM. The library is learned from the agent's
// runs and injected into its calls; hostile agents (a crash, a hang with a child left running,
// 20 MB of output, no gateway call, a wrong token, endless calls) fail only their own rollouts,
// and nothing of the provider key reaches them.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <fstream>

#include "test_util.h"
#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/external_sampling.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::TempDir;

constexpr const char* kSimKey = "sk-sim-SECRET-5d41402abc4b2a76b9719d911017c592";

// A plain-HTTP agent: its own system prompt, the problem as the user message, the model's reply
// printed. Hostile on the task ids named in HOSTILE (see the suite below).
constexpr const char* kAgent = R"PY(
import json, os, subprocess, sys, time, urllib.request, urllib.error
task = json.loads(sys.stdin.readline())
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def chat(content, key=None):
    base = os.environ["OPENAI_BASE_URL"]
    if key:  # a made-up token, in the path and as the bearer
        base = base.replace(os.environ["OPENAI_API_KEY"], key)
    req = urllib.request.Request(base + "/chat/completions",
        data=json.dumps({"model": "gpt-4o-mini", "temperature": 0, "messages": [
            {"role": "system", "content": "You are a math agent. Put the final answer in \\boxed{}."},
            {"role": "user", "content": content}]}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": "Bearer " + (key or os.environ["OPENAI_API_KEY"])})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
hostile = json.loads(os.environ.get("HOSTILE", "{}")).get(task["id"])
env = json.dumps(dict(os.environ))
open("env-%s.json" % os.environ["TFGRPO_ROLLOUT_ID"].replace("/", "_"), "w").write(env)
sys.stderr.write("env: " + env + "\n")
if hostile == "exit":
    sys.exit(1)
if hostile == "hang":
    subprocess.Popen(["sleep", "60"])
    time.sleep(60)
if hostile == "flood":
    chunk = "y" * 65536
    for i in range(320):
        sys.stdout.write(chunk)
    sys.exit(0)
if hostile == "silent":
    print("\\boxed{0}")
    sys.exit(0)
if hostile == "wrong-token":
    status, body = chat(task["problem"], key="0" * 48)
    print("%d %s" % (status, body.get("error", {}).get("code")))
    sys.exit(0)
if hostile == "loop":
    for i in range(10000):
        status, body = chat(task["problem"] + " #%d" % i)
        if status != 200:
            break
    print("stopped after %d calls: %d %s" % (i, status, body["error"]["code"]))
    sys.exit(0)
status, body = chat(task["problem"])
if status != 200:
    sys.exit("gateway said %d: %s" % (status, body))
print(body["choices"][0]["message"]["content"])
)PY";

void WriteTasks(const std::filesystem::path& path, int n, uint64_t seed) {
  std::ofstream out(path);
  for (const auto& t : GenerateSimTasks(n, seed)) out << t.dump() << "\n";
}

Config ExternalConfig(const TempDir& dir, const std::string& base_url) {
  WriteTasks(dir / "train.jsonl", 12, 101);
  WriteTasks(dir / "eval.jsonl", 12, 202);
  std::ofstream(dir / "agent.py") << kAgent;
  Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = base_url;
  c.model.name = "sim";
  c.model.api_key_env = "SIM_PROVIDER_KEY";
  c.model.concurrency = 8;
  c.model.max_retries = 8;
  c.data.train = dir / "train.jsonl";
  c.data.eval = dir / "eval.jsonl";
  c.task.mode = TaskMode::kExternal;
  c.task.reward = RewardKind::kMath;
  c.task.max_turns = 5;
  c.agent.given = true;
  c.agent.command = {"/usr/bin/python3", "agent.py"};
  c.agent.timeout_s = 30;
  c.practice.epochs = 1;
  c.practice.batch_size = 6;
  c.practice.group_size = 4;
  c.practice.seed = 3;
  return c;
}

std::unique_ptr<ChatClient> FastClient(const Config& c) {
  HttpClientOptions o;
  o.base_url = c.model.base_url;
  o.model = c.model.name;
  o.api_key = kSimKey;
  o.max_retries = c.model.max_retries;
  o.concurrency = c.model.concurrency;
  o.timeout_s = 10;
  o.backoff_initial_s = 0.001;
  o.backoff_max_s = 0.01;
  return MakeHttpChatClient(o);
}

// Rows of one text column.
std::vector<std::string> Column(const std::filesystem::path& db_path, const std::string& sql) {
  std::vector<std::string> out;
  sqlite3* db = nullptr;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) return out;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      out.push_back(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

class ScopedKey {
 public:
  ScopedKey() { ::setenv("SIM_PROVIDER_KEY", kSimKey, 1); }
  ~ScopedKey() { ::unsetenv("SIM_PROVIDER_KEY"); }
};

TEST(ExternalTrain, APythonAgentLearnsThroughTheGatewayAgainstTheSimulator) {
  ScopedKey key;
  SimServer sim(SimOptions{.seed = 11});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  Config c = ExternalConfig(dir, sim.base_url());
  auto client = FastClient(c);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, *client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_GT(trained->library.size(), 0u);
  EXPECT_EQ(trained->rollouts_failed, 0);
  ASSERT_TRUE(trained->external.has_value());
  EXPECT_EQ(trained->external->rollouts, 48);
  EXPECT_EQ(trained->external->calls, 48);
  EXPECT_EQ(trained->external->calls_sent, 48);
  EXPECT_TRUE(trained->external->failures.empty());
  const auto db = dir / "run" / "run.db";
  EXPECT_EQ(Column(db, "SELECT count(*) FROM rollouts WHERE exit_code = 0"), std::vector<std::string>{"48"});
  for (const std::string& stats : Column(db, "SELECT stats_json FROM steps"))
    EXPECT_EQ(nlohmann::json::parse(stats)["agent"]["rollouts"], 24) << stats;
  // The gateway's upstream calls are the rollouts' own: "<rollout id>/a1".
  EXPECT_EQ(Column(db, "SELECT count(*) FROM llm_calls WHERE role = 'rollout' AND call_id LIKE '%/a1'"),
            std::vector<std::string>{"48"});

  auto tasks = LoadTasks(c.data.eval, c.data.problem_key, c.data.answer_key);
  ASSERT_TRUE(tasks.ok());
  EvalOptions eo;
  eo.k = 4;
  eo.temperature = c.eval.temperature;
  auto baseline = Evaluate(c, *tasks, Library(), eo, *client);
  auto learned = Evaluate(c, *tasks, trained->library, eo, *client);
  ASSERT_TRUE(baseline.ok()) << baseline.status().ToString();
  ASSERT_TRUE(learned.ok()) << learned.status().ToString();
  ASSERT_TRUE(learned->agent.has_value());
  EXPECT_EQ(learned->agent->rollouts, 48);
  std::printf("external agent, held-out Mean@4: baseline %.3f, learned %.3f (%zu experiences); %s\n",
              baseline->mean_at_k, learned->mean_at_k, trained->library.size(), trained->external->Line().c_str());
  EXPECT_GT(learned->mean_at_k, baseline->mean_at_k + 0.2)
      << "baseline " << baseline->mean_at_k << " learned " << learned->mean_at_k;
}

// Exec'ing SQL for the test's own edits of a run store.
bool Exec(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) return false;
  const bool ok = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_close(db);
  return ok;
}

TEST(ExternalTrain, AResumedStepsAgentCallsAreAnsweredFromTheRunStore) {
  ScopedKey key;
  SimServer sim(SimOptions{.seed = 11});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  Config c = ExternalConfig(dir, sim.base_url());
  auto client = FastClient(c);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto first = Train(c, opt, *client);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // As if killed after the last step's calls were recorded but before the step was: its agents
  // run again and send the same bodies.
  ASSERT_TRUE(Exec(dir / "run" / "run.db", "DELETE FROM steps WHERE step = 1; DELETE FROM libraries WHERE step = 2; "
                                           "DELETE FROM rollouts WHERE step = 1"));
  const int64_t sim_requests = sim.requests();
  auto resumed = Train(c, opt, *client);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  ASSERT_TRUE(resumed->external.has_value());
  EXPECT_EQ(resumed->external->rollouts, 24);
  EXPECT_EQ(resumed->external->calls_replayed, 24) << resumed->external->Line();
  EXPECT_EQ(resumed->external->calls_sent, 0) << resumed->external->Line();
  EXPECT_EQ(sim.requests(), sim_requests) << "nothing is sent again: learner calls replay too";
  EXPECT_EQ(Column(dir / "run" / "run.db", "SELECT count(*) FROM rollouts"), std::vector<std::string>{"48"});
}

TEST(ExternalTrain, HostileAgentsFailOnlyTheirOwnRolloutsAndNeverSeeTheKey) {
  ScopedKey key;
  SimServer sim(SimOptions{.seed = 11});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  Config c = ExternalConfig(dir, sim.base_url());
  c.agent.timeout_s = 10;  // the hung agents wait this long; the others finish far sooner even on a busy machine
  c.practice.group_size = 2;
  c.practice.batch_size = 12;
  auto tasks = LoadTasks(c.data.train, c.data.problem_key, c.data.answer_key);
  ASSERT_TRUE(tasks.ok());
  nlohmann::json hostile = nlohmann::json::object();
  const char* kinds[] = {"exit", "hang", "flood", "silent", "wrong-token", "loop"};
  for (int i = 0; i < 6; ++i) hostile[(*tasks)[i].id] = kinds[i];
  ::setenv("HOSTILE", hostile.dump().c_str(), 1);
  auto client = FastClient(c);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, *client);
  ::unsetenv("HOSTILE");
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  ASSERT_TRUE(trained->external.has_value());
  const ExternalCounts& n = *trained->external;
  EXPECT_EQ(n.rollouts, 24);
  EXPECT_EQ(n.failures, (std::map<std::string, int64_t>{{"exit 1", 2}, {"timeout", 2}})) << n.Line();
  EXPECT_EQ(trained->rollouts_failed, 4);
  const auto db = dir / "run" / "run.db";
  EXPECT_EQ(Column(db, "SELECT count(*) FROM rollouts"), std::vector<std::string>{"24"});
  const auto answer_of = [&](const std::string& id) {
    return Column(db, "SELECT answer || '|' || error FROM rollouts WHERE task_id = '" + id + "' ORDER BY sample");
  };
  // The wrong token was refused; the loop stopped at task.max_turns.
  for (const std::string& a : Column(db, "SELECT messages_json FROM rollouts WHERE task_id = '" + (*tasks)[4].id + "'"))
    EXPECT_EQ(a, "[]");
  EXPECT_EQ(Column(db, "SELECT count(*) FROM llm_calls WHERE call_id LIKE '" + CallId(StepScope(0), (*tasks)[5].id, "r0") +
                           "/a%'"),
            std::vector<std::string>{"5"});
  EXPECT_EQ(Column(db, "SELECT exit_code FROM rollouts WHERE task_id = '" + (*tasks)[1].id + "'"),
            (std::vector<std::string>{"-1", "-1"}));
  for (const std::string& tail : Column(db, "SELECT agent_stderr_tail FROM rollouts"))
    EXPECT_EQ(tail.find(kSimKey), std::string::npos);
  // Every agent's whole environment, as it dumped it: the gateway token, never the provider key.
  int dumps = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().filename().string().rfind("env-", 0) != 0) continue;
    ++dumps;
    auto text = ReadFile(entry.path());
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(text->find(kSimKey), std::string::npos) << entry.path();
    EXPECT_EQ(text->find("SIM_PROVIDER_KEY"), std::string::npos) << entry.path();
  }
  EXPECT_EQ(dumps, 24);
  // The silent agent's answer is its stdout; the wrong-token one printed what the gateway said.
  EXPECT_EQ(answer_of((*tasks)[4].id).size(), 2u);
}

}  // namespace
}  // namespace tfgrpo
