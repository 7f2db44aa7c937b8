// examples/agents' agents trained as users train them: `tfgrpo train` and `tfgrpo eval` with
// task.mode external against the simulator, each agent unchanged; the held-out Mean@k rises by at
// least 0.3, and the same agent then runs through `serve` with the learned library. Then a
// framework agent's training killed with SIGKILL and resumed: only the calls in flight at the
// kill reach the model again. Framework agents are skipped loudly without node/npm.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "example_agents.h"
#include "test_util.h"
#include "tfgrpo/serve.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;
using testing::ExampleAgent;
using testing::TempDir;

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

Outcome RunTfgrpo(const TempDir& dir, const std::string& args, const std::string& env) {
  const auto out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string cmd =
      "env " + env + " " + std::string(TFGRPO_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  Outcome o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.out = ReadFile(out).value();
  o.err = ReadFile(err).value();
  return o;
}

std::vector<std::string> TaskLines(const std::string& file, size_t n) {
  std::ifstream in(testing::ExampleAgentsDir() / "tasks" / file);
  std::vector<std::string> lines;
  for (std::string line; lines.size() < n && std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string LastBoxed(const std::string& text) {
  const size_t at = text.rfind("\\boxed{");
  if (at == std::string::npos) return "";
  const size_t end = text.find('}', at);
  return end == std::string::npos ? "" : text.substr(at + 7, end - at - 7);
}

// A short practice of `agent` over the first `train_tasks` tasks of examples/agents/tasks.
void WriteRunFiles(const TempDir& dir, const ExampleAgent& agent, const std::string& base_url, size_t train_tasks) {
  std::string train, eval;
  for (const auto& l : TaskLines("train.jsonl", train_tasks)) train += l + "\n";
  for (const auto& l : TaskLines("eval.jsonl", 12)) eval += l + "\n";
  ASSERT_TRUE(WriteFileAtomic(dir / "train.jsonl", train).ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "eval.jsonl", eval).ok());
  const auto program = testing::ExampleAgentsDir() / agent.name / (agent.needs_node ? "agent.cjs" : "agent.py");
  const std::string yaml = "model:\n  base_url: \"" + base_url +
                           "\"\n  name: \"sim-1\"\n  concurrency: 4\n  max_retries: 2\n"
                           "data:\n  train: \"train.jsonl\"\n  eval: \"eval.jsonl\"\n"
                           "task:\n  mode: external\n  reward: math\n  max_turns: 8\n"
                           "agent:\n  command: [\"" + std::string(agent.needs_node ? "node" : "python3") + "\", \"" +
                           program.string() + "\"]\n  timeout_s: 120\n  concurrency: 4\n"
                           "practice:\n  epochs: 1\n  batch_size: 6\n  group_size: 4\n  experiences_per_group: 2\n"
                           "  seed: 42\n"
                           "eval:\n  k: 1\n  temperature: 0.3\n";
  ASSERT_TRUE(WriteFileAtomic(dir / "tfgrpo.yaml", yaml).ok());
}

// Whether `agent` can run here; for a node agent, *node_modules is where its packages are.
bool AgentRunnable(const ExampleAgent& agent, std::string* node_modules, std::string* skip) {
  if (!testing::ProgramOnPath("python3")) {
    *skip = "python3 not found on PATH: the example agents did NOT run";
    return false;
  }
  if (!agent.needs_node) return true;
  const std::string npm = testing::ExampleNpmDir(skip);
  if (npm.empty()) return false;
  *node_modules = npm + "/node_modules";
  return true;
}

// The environment tfgrpo runs with (the agents inherit it): NODE_PATH for node agents.
std::string EnvFor(const std::string& node_modules) {
  return node_modules.empty() ? "TFGRPO_TEST=1" : "NODE_PATH=" + testing::ShellQuote(node_modules);
}

class AgentExampleTraining : public ::testing::TestWithParam<ExampleAgent> {};

TEST_P(AgentExampleTraining, TrainsUnchangedRaisesHeldOutMeanAtKAndRunsThroughServe) {
  const ExampleAgent& agent = GetParam();
  std::string node_modules, skip;
  if (!AgentRunnable(agent, &node_modules, &skip)) GTEST_SKIP() << skip;
  const std::string env = EnvFor(node_modules);
  SimServer sim(SimOptions{.seed = 11});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  WriteRunFiles(dir, agent, sim.base_url(), 12);
  const std::string config = (dir / "tfgrpo.yaml").string();

  auto trained = RunTfgrpo(dir, "--quiet train --config " + config + " --run-dir " + (dir / "run").string(), env);
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_NE(trained.out.find("48 rollouts (0 failed)"), std::string::npos) << trained.out;
  // Every rollout was one run of the agent: its tool call, then its answer, as calls a1 and a2.
  int first = 0, second = 0, more = 0;
  for (const auto& entry : sim.RequestLog()) {
    if (entry.role != "rollout") continue;
    EXPECT_EQ(entry.status, 200) << entry.call_id;
    first += EndsWith(entry.call_id, "/a1");
    second += EndsWith(entry.call_id, "/a2");
    more += !EndsWith(entry.call_id, "/a1") && !EndsWith(entry.call_id, "/a2");
  }
  EXPECT_EQ(first, 48);
  EXPECT_EQ(second, 48);
  EXPECT_EQ(more, 0);

  auto baseline = RunTfgrpo(dir, "--quiet eval --config " + config + " --out " + (dir / "baseline.json").string(), env);
  ASSERT_EQ(baseline.exit_code, 0) << baseline.err;
  auto learned = RunTfgrpo(dir,
                           "--quiet eval --config " + config + " --experiences " +
                               (dir / "run" / "experiences.json").string() + " --out " + (dir / "learned.json").string(),
                           env);
  ASSERT_EQ(learned.exit_code, 0) << learned.err;
  const json b = json::parse(ReadFile(dir / "baseline.json").value());
  const json l = json::parse(ReadFile(dir / "learned.json").value());
  EXPECT_EQ(b["errors"], 0);
  EXPECT_EQ(l["errors"], 0);
  EXPECT_GE(l["mean_at_k"].get<double>() - b["mean_at_k"].get<double>(), 0.3)
      << agent.name << ": baseline " << b["mean_at_k"] << ", learned " << l["mean_at_k"];

  // Production: the same program against `serve` with the learned library.
  ServeOptions options;
  options.experiences = dir / "run" / "experiences.json";
  options.upstream = sim.base_url();
  options.listen_host = "127.0.0.1";
  options.listen_port = 0;
  ProxyServer proxy(options);
  ASSERT_TRUE(proxy.Start().ok());
  std::map<std::string, std::string> run_env = {{"OPENAI_BASE_URL", proxy.base_url()}, {"OPENAI_API_KEY", "unused"}};
  if (agent.needs_node) run_env["NODE_PATH"] = node_modules;
  // A task whose pitfall the learned library names is answered right with p 0.9 (0.15 otherwise).
  const std::string learned_text = ReadFile(dir / "run" / "experiences.json").value();
  int covered = 0, right = 0;
  for (const std::string& line : TaskLines("eval.jsonl", 12)) {
    const json task = json::parse(line);
    std::string keyword;
    for (const auto& p : SimPitfalls()) {
      if (p.name == task["pitfall"]) keyword = p.keyword;
    }
    if (keyword.empty() || !ContainsCaseInsensitive(learned_text, keyword)) continue;
    const auto run = testing::RunExampleAgent(agent, run_env, line, dir.path());
    ASSERT_EQ(run.exit_code, 0) << run.err;
    ++covered;
    right += LastBoxed(run.out) == task["groundtruth"].get<std::string>();
    if (covered == 6) break;
  }
  ASSERT_GE(covered, 4) << "the learned library names too few pitfalls: " << learned_text;
  EXPECT_GE(right, covered - 2) << "through serve with the learned library, " << right << " of " << covered
                                << " tasks whose pitfall it names were right";
  std::fprintf(stderr, "%s: held-out Mean@1 %.3f -> %.3f; through serve %d of %d right\n", agent.name.c_str(),
               b["mean_at_k"].get<double>(), l["mean_at_k"].get<double>(), right, covered);
}

std::string AgentName(const ::testing::TestParamInfo<ExampleAgent>& info) {
  std::string name = info.param.name;
  for (char& c : name) c = c == '-' ? '_' : c;
  return name;
}

INSTANTIATE_TEST_SUITE_P(Examples, AgentExampleTraining, ::testing::ValuesIn(testing::ExampleAgents()), AgentName);

// eval --cache with the user's agent: a second eval answers every agent call from the cache store
// through the gateway (any order), and its report counts them as replayed, none sent.
TEST(AgentExampleEvalCache, ASecondEvalWithTheSameCacheReplaysEveryAgentCall) {
  ExampleAgent python{"", false};
  for (const ExampleAgent& a : testing::ExampleAgents())
    if (a.name == "python") python = a;
  ASSERT_EQ(python.name, "python");
  std::string node_modules, skip;
  if (!AgentRunnable(python, &node_modules, &skip)) GTEST_SKIP() << skip;
  SimServer sim(SimOptions{.seed = 11});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  WriteRunFiles(dir, python, sim.base_url(), 1);
  const std::string config = (dir / "tfgrpo.yaml").string();
  const std::string cache = (dir / "cache.db").string();
  json reports[2];
  for (int i = 0; i < 2; ++i) {
    const std::string out = (dir / ("r" + std::to_string(i) + ".json")).string();
    auto ran = RunTfgrpo(dir, "--quiet eval --config " + config + " --cache " + cache + " --out " + out, EnvFor(""));
    ASSERT_EQ(ran.exit_code, 0) << ran.err;
    reports[i] = json::parse(ReadFile(out).value());
  }
  const int64_t calls = reports[0]["agent"]["calls"].get<int64_t>();
  EXPECT_EQ(calls, 24);  // 12 tasks x k 1, a tool call and an answer each
  EXPECT_EQ(reports[0]["agent"]["calls_sent"], calls);
  EXPECT_EQ(reports[1]["agent"]["calls_replayed"], calls);
  EXPECT_EQ(reports[1]["agent"]["calls_sent"], 0);
  EXPECT_EQ(reports[1]["mean_at_k"], reports[0]["mean_at_k"]);
}

TEST(AgentExampleDemo, DemoAgentTrainsThePythonExampleAndPrintsBaselineAndLearned) {
  if (!testing::ProgramOnPath("python3")) GTEST_SKIP() << "python3 not found on PATH: demo --agent did NOT run";
  TempDir dir;
  auto o = RunTfgrpo(dir, "--quiet demo --agent --dir " + (dir / "demo").string() + " --k 2 --latency-ms 0 --fault-rate 0",
                     "TFGRPO_TEST=1");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("examples/agents/python (python3 agent.py)"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("agents: 144 agent runs, 2.0 calls each"), std::string::npos) << o.out;
  const std::regex row(R"(Mean@2\s+([0-9.]+)\s+([0-9.]+)\s+([-+][0-9.]+))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(o.out, m, row)) << o.out;
  EXPECT_GE(std::stod(m[3].str()), 0.3) << "baseline " << m[1] << ", learned " << m[2];
  const std::regex failed(R"(failed samples\s+0\s+0)");
  EXPECT_TRUE(std::regex_search(o.out, failed)) << o.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "demo" / "agent.py"));
  const json learned = json::parse(ReadFile(dir / "demo" / "learned.json").value());
  EXPECT_EQ(learned["k"], 2);

  auto unknown = RunTfgrpo(dir, "demo --agent nope --dir " + (dir / "demo2").string(), "TFGRPO_TEST=1");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("unknown agent 'nope'; one of: python, openai-sdk, openai-agents, langgraph, ai-sdk"),
            std::string::npos)
      << unknown.err;
}

// call_id of every call the run store holds.
std::set<std::string> RecordedCallIds(const std::filesystem::path& db) {
  std::set<std::string> ids;
  sqlite3* conn = nullptr;
  if (sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(conn);
    return ids;
  }
  sqlite3_busy_timeout(conn, 2000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(conn, "SELECT call_id FROM llm_calls WHERE ok = 1", -1, &stmt, nullptr) == SQLITE_OK) {
    while (sqlite3_step(stmt) == SQLITE_ROW) ids.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(conn);
  return ids;
}

TEST(AgentExampleResume, SigkillDuringTrainingThenResumeSendsAgainOnlyTheCallsInFlight) {
  const ExampleAgent agent = testing::ExampleAgents()[0];  // openai-sdk: streamed, its own tool loop
  ASSERT_EQ(agent.name, "openai-sdk");
  std::string node_modules, skip;
  if (!AgentRunnable(agent, &node_modules, &skip)) GTEST_SKIP() << skip;
  const std::string env = EnvFor(node_modules);
  // Some latency, so that calls are in flight when the kill comes.
  SimServer sim(SimOptions{.seed = 5, .latency_ms_mean = 300});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  WriteRunFiles(dir, agent, sim.base_url(), 12);
  const std::string config = (dir / "tfgrpo.yaml").string();
  const auto run_dir = dir / "run";

  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    setenv("NODE_PATH", node_modules.c_str(), 1);
    execl(TFGRPO_BINARY, TFGRPO_BINARY, "--quiet", "train", "--config", config.c_str(), "--run-dir", run_dir.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill once the store holds 30 of the agents' calls, while rollouts are running.
  auto agent_calls = [](const std::set<std::string>& ids) {
    return std::count_if(ids.begin(), ids.end(), [](const std::string& id) { return id.find("/a") != std::string::npos; });
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int status = 0;
  bool exited = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    if (agent_calls(RecordedCallIds(run_dir / "run.db")) >= 30) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  ASSERT_FALSE(exited) << "the run ended before it could be killed";
  // The killed run's agents die with it (parent-death signal), so nothing more reaches the sim;
  // the requests it was still answering are logged once their latency has passed.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int i = 0; i < 1000 && static_cast<int64_t>(sim.RequestLog().size()) < sim.requests(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::vector<SimRequestLog> before = sim.RequestLog();
  const std::set<std::string> recorded = RecordedCallIds(run_dir / "run.db");
  std::set<std::string> sent_before;
  for (const auto& e : before) {
    if (e.status == 200) sent_before.insert(e.call_id);
  }
  std::set<std::string> in_flight;  // answered by the sim, not (yet) in the store at the kill
  for (const auto& id : sent_before) {
    if (!recorded.count(id)) in_flight.insert(id);
  }
  SCOPED_TRACE("killed with " + std::to_string(recorded.size()) + " calls recorded, " +
               std::to_string(in_flight.size()) + " in flight");

  auto resumed = RunTfgrpo(dir, "--quiet train --config " + config + " --run-dir " + run_dir.string(), env);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::vector<SimRequestLog> after = sim.RequestLog();
  int sent_again = 0, fresh = 0;
  for (size_t i = before.size(); i < after.size(); ++i) {
    const std::string& id = after[i].call_id;
    EXPECT_EQ(recorded.count(id), 0u) << "re-sent the recorded call " << id;
    if (sent_before.count(id)) {
      ++sent_again;
      EXPECT_EQ(in_flight.count(id), 1u) << id;
    } else {
      ++fresh;
    }
  }
  std::fprintf(stderr, "killed with %zu calls recorded and %zu in flight; after resume %d sent again, %d new\n",
               recorded.size(), in_flight.size(), sent_again, fresh);
  EXPECT_LE(sent_again, static_cast<int>(in_flight.size()));
  EXPECT_GT(fresh, 0) << "the resumed run did the rest of the work";
  EXPECT_NE(ReadFile(run_dir / "experiences.json").value(), "{}\n");
}

}  // namespace
}  // namespace tfgrpo
