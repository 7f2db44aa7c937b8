// The `tfgrpo` binary as users and scripts drive it: exit codes, error lines, files written, and
// resuming after SIGKILL at several points.
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

#include <httplib.h>

#include "local_http_server.h"
#include "test_util.h"
#include "tfgrpo/library.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::TempDir;

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

// Runs the binary with `args` (a shell-quoted string), capturing stdout and stderr.
Outcome RunTfgrpo(const TempDir& dir, const std::string& args, const std::string& env = "") {
  const auto out = dir / "stdout.txt", err = dir / "stderr.txt";
  std::string cmd = env + " " + std::string(TFGRPO_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  int status = std::system(cmd.c_str());
  Outcome o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.out = ReadFile(out).value();
  o.err = ReadFile(err).value();
  return o;
}

// The last non-empty line of `text`, without its newline.
std::string LastLine(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

void Write(const std::filesystem::path& p, const std::string& text) { ASSERT_TRUE(WriteFileAtomic(p, text).ok()); }

void WriteSimTasks(const std::filesystem::path& p, int n, uint64_t seed) {
  std::string text;
  for (const auto& t : GenerateSimTasks(n, seed)) text += t.dump() + "\n";
  Write(p, text);
}

std::string Yaml(const std::string& base_url, const std::string& extra_practice = "") {
  return "model:\n  base_url: \"" + base_url +
         "\"\n  name: \"sim\"\n  concurrency: 8\n  max_retries: 2\n  timeout_s: 5\n"
         "data:\n  train: \"train.jsonl\"\n  eval: \"eval.jsonl\"\n"
         "practice:\n  epochs: 1\n  batch_size: 4\n  group_size: 4\n  seed: 5\n" + extra_practice +
         "eval:\n  k: 4\n";
}

TEST(Cli, MalformedJsonlNamesFileAndLine) {
  TempDir dir;
  Write(dir / "train.jsonl", "{\"problem\":\"a\",\"groundtruth\":\"1\"}\n{\"problem\": oops}\n");
  Write(dir / "config.yaml", Yaml("http://127.0.0.1:9/v1"));
  auto o = RunTfgrpo(dir, "train --config " + (dir / "config.yaml").string() + " --run-dir " + (dir / "run").string());
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(o.err.find("train.jsonl:2"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("error: "), std::string::npos);
}

TEST(Cli, UnknownConfigKeyIsNamed) {
  TempDir dir;
  Write(dir / "config.yaml", Yaml("http://127.0.0.1:9/v1", "  group_sise: 3\n"));
  auto o = RunTfgrpo(dir, "train --config " + (dir / "config.yaml").string() + " --run-dir " + (dir / "run").string());
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(o.err.find("group_sise"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("config.yaml"), std::string::npos) << o.err;
}

TEST(Cli, UnreachableEndpointStopsTheStepUndoneAndAResumeRunsIt) {
  TempDir dir;
  WriteSimTasks(dir / "train.jsonl", 4, 1);
  Write(dir / "config.yaml", Yaml("http://127.0.0.1:9/v1"));  // discard port: nothing listens
  const std::string train =
      "--quiet train --config " + (dir / "config.yaml").string() + " --run-dir " + (dir / "run").string();
  auto o = RunTfgrpo(dir, train);
  // Not a done step with an empty library: an error, one line, and nothing marked as done.
  EXPECT_NE(o.exit_code, 0) << o.out;
  // The warnings name each failed rollout; the last line says why the run stopped.
  EXPECT_EQ(LastLine(o.err).rfind("error: step 1: every rollout failed: unavailable: cannot reach http://127.0.0.1:9/v1", 0),
            0u)
      << o.err;
  EXPECT_EQ(o.err.find("error: "), o.err.rfind("error: ")) << o.err;  // one error line
  EXPECT_EQ(o.out.find("train: "), std::string::npos) << o.out;

  // The endpoint comes back: the same run dir does the step.
  SimServer sim(SimOptions{.seed = 3});
  ASSERT_TRUE(sim.Start(0).ok());
  Write(dir / "config.yaml", Yaml(sim.base_url()));
  auto resumed = RunTfgrpo(dir, train);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("1 of 1 steps run"), std::string::npos) << resumed.out;
  EXPECT_NE(ReadFile(dir / "run" / "experiences.json").value(), "{}\n");
}

TEST(Cli, AReplyNestedAHundredThousandLevelsDeepIsAnErrorNotACrash) {
  const std::string deep = R"({"choices":[{"finish_reason":"stop","message":{"role":"assistant","content":"x","x":)" +
                           std::string(100000, '[') + std::string(100000, ']') + "}}]}";
  httplib::Server server;
  server.Post("/v1/chat/completions", [&deep](const httplib::Request&, httplib::Response& res) {
    res.set_content(deep, "application/json");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  TempDir dir;
  WriteSimTasks(dir / "train.jsonl", 4, 1);
  WriteSimTasks(dir / "eval.jsonl", 2, 1);
  Write(dir / "config.yaml", Yaml("http://127.0.0.1:" + std::to_string(port) + "/v1"));
  auto train = RunTfgrpo(dir, "--quiet train --config " + (dir / "config.yaml").string() + " --run-dir " +
                                  (dir / "run").string());
  auto eval = RunTfgrpo(dir, "--quiet eval --config " + (dir / "config.yaml").string() + " --k 1 --out " +
                                 (dir / "e.json").string());
  server.stop();
  thread.join();
  for (const Outcome* o : {&train, &eval}) {
    EXPECT_EQ(o->exit_code, 1) << o->err;
    EXPECT_NE(o->err.find("response body is JSON nested more than 128 levels deep"), std::string::npos) << o->err;
  }
}

TEST(Cli, EvalAgainstAnUnreachableEndpointIsAnErrorAndWritesNoReport) {
  TempDir dir;
  WriteSimTasks(dir / "eval.jsonl", 3, 1);
  Write(dir / "config.yaml", Yaml("http://127.0.0.1:9/v1"));
  auto o = RunTfgrpo(dir, "--quiet eval --config " + (dir / "config.yaml").string() + " --k 2 --out " +
                              (dir / "e.json").string());
  EXPECT_NE(o.exit_code, 0);
  EXPECT_EQ(LastLine(o.err).rfind("error: every eval sample failed: unavailable: cannot reach http://127.0.0.1:9/v1", 0),
            0u)
      << o.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "e.json"));
}

// A server that answers every chat call with the same error: `status` and an OpenAI-style body.
struct RefusingServer {
  RefusingServer(int status, const std::string& message) {
    server.server().Post("/v1/chat/completions", [status, message](const httplib::Request&, httplib::Response& res) {
      res.status = status;
      res.set_content(nlohmann::json({{"error", {{"message", message}, {"type", "server_error"}}}}).dump(),
                      "application/json");
    });
    started = server.Start();
  }
  testing::LocalHttpServer server;
  bool started = false;
};

// llama-server without --jinja (the same 500 every time) and a server that does not know the
// model (the same 400): not "trained, learned nothing" nor "the model scores 0", but an error
// naming the cause, and no report.
TEST(Cli, AServerRefusingEveryCallForGoodStopsTrainAndEvalNamingTheCause) {
  struct Case {
    int status;
    std::string message;
  };
  for (const Case& c : {Case{500, "tools param requires --jinja flag"}, Case{400, "model 'nope' not found"}}) {
    SCOPED_TRACE(c.status);
    RefusingServer refusing(c.status, c.message);
    ASSERT_TRUE(refusing.started);
    TempDir dir;
    WriteSimTasks(dir / "train.jsonl", 2, 1);
    WriteSimTasks(dir / "eval.jsonl", 2, 1);
    Write(dir / "config.yaml", Yaml(refusing.server.base_url()));
    const std::string train =
        "--quiet train --config " + (dir / "config.yaml").string() + " --run-dir " + (dir / "run").string();
    const std::string expected = "error: step 1: every rollout failed: permanent: HTTP " + std::to_string(c.status) +
                                 " from " + refusing.server.base_url() + "/chat/completions: " + c.message;
    for (int run = 0; run < 2; ++run) {  // a re-run that fails the same way says so again
      auto o = RunTfgrpo(dir, train);
      EXPECT_EQ(o.exit_code, 1) << o.err;
      EXPECT_EQ(LastLine(o.err).rfind(expected, 0), 0u) << o.err;
      EXPECT_NE(LastLine(o.err).find("on every call; check model.name / the server's options"), std::string::npos)
          << o.err;
      EXPECT_EQ(o.out.find("train: "), std::string::npos) << o.out;
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "run" / "steps" / "1"));

    auto eval = RunTfgrpo(dir, "--quiet eval --config " + (dir / "config.yaml").string() + " --k 2 --out " +
                                   (dir / "e.json").string());
    EXPECT_EQ(eval.exit_code, 1) << eval.err;
    EXPECT_EQ(LastLine(eval.err).rfind("error: every eval sample failed: permanent: HTTP " + std::to_string(c.status), 0),
              0u)
        << eval.err;
    EXPECT_NE(LastLine(eval.err).find(c.message), std::string::npos) << eval.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "e.json"));
  }
}

// A model per role: the policy, the learner and the judge on three simulator ports, each of which
// sees only its roles; library.json names the learner and judge models.
TEST(Cli, LearnerAndJudgeSectionsSendEachRoleToItsOwnEndpoint) {
  SimServer policy(SimOptions{.seed = 3}), learner(SimOptions{.seed = 3}), judge(SimOptions{.seed = 3});
  ASSERT_TRUE(policy.Start(0).ok() && learner.Start(0).ok() && judge.Start(0).ok());
  TempDir dir;
  WriteSimTasks(dir / "train.jsonl", 4, 1);
  WriteSimTasks(dir / "eval.jsonl", 2, 1);
  Write(dir / "config.yaml", Yaml(policy.base_url()) + "task:\n  reward: judge\n" +
                                 "learner:\n  base_url: \"" + learner.base_url() + "\"\n  name: \"sim-learner\"\n" +
                                 "judge:\n  base_url: \"" + judge.base_url() + "\"\n  name: \"sim-judge\"\n");
  auto o = RunTfgrpo(dir, "--quiet train --config " + (dir / "config.yaml").string() + " --run-dir " +
                              (dir / "run").string());
  ASSERT_EQ(o.exit_code, 0) << o.err;
  auto roles = [](const SimServer& s) {
    std::set<std::string> seen;
    for (const auto& e : s.RequestLog()) seen.insert(e.role);
    return seen;
  };
  EXPECT_EQ(roles(policy), (std::set<std::string>{"rollout"}));
  EXPECT_EQ(roles(learner), (std::set<std::string>{"summary", "advantage", "group_update", "batch_update"}));
  EXPECT_EQ(roles(judge), (std::set<std::string>{"judge"}));
  const nlohmann::json lib = nlohmann::json::parse(ReadFile(dir / "run" / "library.json").value());
  EXPECT_EQ(lib["provenance"]["model"], "sim");
  EXPECT_EQ(lib["provenance"]["learner_model"], "sim-learner");
  EXPECT_EQ(lib["provenance"]["judge_model"], "sim-judge");

  // eval sends the judge's calls to the judge too.
  const auto judged_before = judge.RequestLog().size();
  auto e = RunTfgrpo(dir, "--quiet eval --config " + (dir / "config.yaml").string() + " --k 1 --out " +
                              (dir / "e.json").string());
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_GT(judge.RequestLog().size(), judged_before);
  EXPECT_EQ(roles(policy), (std::set<std::string>{"rollout"}));

  // A resume with another learner is refused, naming the key.
  Write(dir / "config.yaml", Yaml(policy.base_url()) + "task:\n  reward: judge\n" +
                                 "learner:\n  base_url: \"" + learner.base_url() + "\"\n  name: \"other\"\n" +
                                 "judge:\n  base_url: \"" + judge.base_url() + "\"\n  name: \"sim-judge\"\n");
  auto resumed = RunTfgrpo(dir, "--quiet train --config " + (dir / "config.yaml").string() + " --run-dir " +
                                    (dir / "run").string());
  EXPECT_NE(resumed.exit_code, 0);
  EXPECT_NE(resumed.err.find("learner"), std::string::npos) << resumed.err;
}

// Issue 17: a model grading its own answers is lenient exactly where it matters. The policy's
// port runs a judge that calls every answer CORRECT; the judge port grades truthfully. Trained
// with task.reward: judge, only the run whose `judge:` section points at the truthful port finds
// informative groups and learns; both libraries are then scored on held-out tasks by the
// truthful judge.
TEST(Cli, OnlyASeparateTruthfulJudgeLetsTheLibraryImproveHeldOutMeanAtK) {
  SimServer policy(SimOptions{.seed = 3, .lenient_judge = true}), judge(SimOptions{.seed = 3});
  ASSERT_TRUE(policy.Start(0).ok() && judge.Start(0).ok());
  TempDir dir;
  WriteSimTasks(dir / "train.jsonl", 16, 1);
  WriteSimTasks(dir / "eval.jsonl", 12, 2);
  const std::string self_judged = Yaml(policy.base_url()) + "task:\n  reward: judge\n";
  const std::string judge_section = "judge:\n  base_url: \"" + judge.base_url() + "\"\n  name: \"sim-judge\"\n";
  Write(dir / "self.yaml", self_judged);
  Write(dir / "separate.yaml", self_judged + judge_section);
  for (const char* name : {"self", "separate"}) {
    auto o = RunTfgrpo(dir, "--quiet train --config " + (dir / (std::string(name) + ".yaml")).string() +
                                " --run-dir " + (dir / name).string());
    ASSERT_EQ(o.exit_code, 0) << name << ": " << o.err;
  }
  // The self-judged run sent its judge calls to the policy's port, the other run to the judge's.
  size_t policy_judged = 0;
  for (const auto& e : policy.RequestLog()) policy_judged += e.role == "judge";
  EXPECT_GT(policy_judged, 0u);
  EXPECT_GT(judge.RequestLog().size(), 0u);

  // Held-out Mean@k, graded by the truthful judge.
  auto mean_at_k = [&](const std::string& experiences, const std::string& out) {
    auto o = RunTfgrpo(dir, "--quiet eval --config " + (dir / "separate.yaml").string() + experiences +
                                " --k 4 --out " + (dir / out).string());
    EXPECT_EQ(o.exit_code, 0) << o.err;
    auto text = ReadFile(dir / out);
    if (!text.ok()) return -1.0;
    auto report = nlohmann::json::parse(text.value(), nullptr, false);
    return report.is_object() ? report.value("mean_at_k", -1.0) : -1.0;
  };
  const double baseline = mean_at_k("", "baseline.json");
  const double self = mean_at_k(" --experiences " + (dir / "self" / "library.json").string(), "self.json");
  const double separate = mean_at_k(" --experiences " + (dir / "separate" / "library.json").string(), "separate.json");
  EXPECT_LT(self - baseline, 0.1) << "baseline " << baseline << ", self-judged " << self;
  EXPECT_GE(separate - baseline, 0.3) << "baseline " << baseline << ", separate judge " << separate;
  EXPECT_GE(separate - self, 0.3);

  // Spend per model: the eval's rollouts on the policy, its judge calls on the judge model.
  auto report = nlohmann::json::parse(ReadFile(dir / "separate.json").value());
  EXPECT_GT(report["spend_by_model"]["sim"]["tokens"].get<int64_t>(), 0) << report["spend_by_model"].dump();
  EXPECT_GT(report["spend_by_model"]["sim-judge"]["tokens"].get<int64_t>(), 0) << report["spend_by_model"].dump();
}

TEST(Cli, RejectedApiKeyStopsWithOneClearLineAndNeverShowsTheKey) {
  TempDir dir;
  httplib::Server refusing;
  std::atomic<int> requests{0};
  refusing.Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++requests;
    res.status = 401;
    res.set_content(R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}})",
                    "application/json");
  });
  int port = refusing.bind_to_any_port("127.0.0.1");
  std::thread server([&] { refusing.listen_after_bind(); });
  WriteSimTasks(dir / "train.jsonl", 4, 1);
  Write(dir / "config.yaml", Yaml("http://127.0.0.1:" + std::to_string(port) + "/v1"));
  auto o = RunTfgrpo(dir, "--quiet train --config " + (dir / "config.yaml").string() + " --run-dir " + (dir / "run").string(),
               "TFGRPO_API_KEY=sk-secret-123456");
  refusing.stop();
  server.join();
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(o.err.find("401"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_EQ(o.err.find("sk-secret"), std::string::npos);
  EXPECT_EQ(o.out.find("sk-secret"), std::string::npos);
  EXPECT_LE(requests.load(), 16);  // at most the step's rollouts, each tried once
}

TEST(Cli, EvalWritesTheContractFields) {
  TempDir dir;
  SimServer sim(SimOptions{.seed = 3});
  ASSERT_TRUE(sim.Start(0).ok());
  WriteSimTasks(dir / "eval.jsonl", 5, 9);
  Write(dir / "config.yaml", Yaml(sim.base_url()));
  auto o = RunTfgrpo(dir, "--quiet eval --config " + (dir / "config.yaml").string() + " --k 3 --out " + (dir / "e.json").string());
  ASSERT_EQ(o.exit_code, 0) << o.err;
  auto j = nlohmann::json::parse(ReadFile(dir / "e.json").value());
  EXPECT_EQ(j["k"], 3);
  EXPECT_EQ(j["tasks"], 5);
  for (auto key : {"mean_at_k", "pass_at_k", "prompt_tokens", "completion_tokens"}) EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_GE(j["mean_at_k"].get<double>(), 0.0);
  EXPECT_LE(j["mean_at_k"].get<double>(), j["pass_at_k"].get<double>() + 1e-9);
  EXPECT_GT(j["prompt_tokens"].get<int64_t>(), 0);
}

TEST(Cli, ExperiencesShowAndExport) {
  TempDir dir;
  Write(dir / "lib.json", "{\"G0\": \"Check the endpoints.\", \"G1\": \"Convert units first.\"}");
  auto md = RunTfgrpo(dir, "experiences show " + (dir / "lib.json").string());
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("**G1** (helpful 0, harmful 0): Convert units first."), std::string::npos) << md.out;
  auto prompt = RunTfgrpo(dir, "experiences export " + (dir / "lib.json").string() + " --format prompt");
  ASSERT_EQ(prompt.exit_code, 0);
  EXPECT_EQ(prompt.out, std::string(kLibraryHeading) + "\n[G0]. Check the endpoints.\n[G1]. Convert units first.\n");
  auto json = RunTfgrpo(dir, "experiences export " + (dir / "lib.json").string() + " -o " + (dir / "copy.json").string());
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_EQ(Library::Load(dir / "copy.json")->ToJson(), Library::Load(dir / "lib.json")->ToJson());
  auto bad = RunTfgrpo(dir, "experiences show " + (dir / "missing.json").string());
  EXPECT_NE(bad.exit_code, 0);
}

// A library is text from a model (or from anyone): `show` must not hand its terminal escape
// sequences to the terminal (recolouring, clearing the screen, retitling the window, CR
// overwriting the line, the one-byte C1 CSI), while `export` keeps the data exact.
TEST(Cli, ExperiencesShowEscapesControlCharacters) {
  TempDir dir;
  Write(dir / "lib.json",
        R"({"G0": "Check \u001b[31mRED\u001b[0m\u001b]0;owned\u0007 sums\rfake\u009b2J and\ta tab", "G1": "Plain."})");
  for (const char* format : {"md", "prompt", "json"}) {
    SCOPED_TRACE(format);
    auto shown = RunTfgrpo(dir, "experiences show " + (dir / "lib.json").string() + " --format " + format);
    ASSERT_EQ(shown.exit_code, 0) << shown.err;
    for (std::string raw : {"\x1b", "\x07", "\r", "\xc2\x9b"}) EXPECT_EQ(shown.out.find(raw), std::string::npos);
    EXPECT_NE(shown.out.find("Plain."), std::string::npos);
    if (std::string(format) == "json") {
      // The escapes are JSON's own, so the shown text still reads back as the same library.
      Write(dir / "shown.json", shown.out);
      auto reread = Library::Load(dir / "shown.json");
      ASSERT_TRUE(reread.ok()) << reread.status().ToString();
      EXPECT_EQ(reread->ToJson(), Library::Load(dir / "lib.json")->ToJson());
    } else {
      EXPECT_NE(shown.out.find("Check \\u001b[31mRED\\u001b[0m\\u001b]0;owned\\u0007 sums\\u000dfake\\u009b2J and\ta tab"),
                std::string::npos)
          << shown.out;
    }
  }
  auto exported = RunTfgrpo(dir, "experiences export " + (dir / "lib.json").string() + " --format md");
  ASSERT_EQ(exported.exit_code, 0);
  EXPECT_NE(exported.out.find("\x1b[31mRED"), std::string::npos);
}

// The call ids the run store holds as successfully answered (read-only, beside a live writer).
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
    while (sqlite3_step(stmt) == SQLITE_ROW)
      ids.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(conn);
  return ids;
}

TEST(Cli, SigkillAtSeveralPointsThenResumeEndsInTheSameLibraryWithoutResending) {
  SimServer sim(SimOptions{.seed = 21, .latency_ms_mean = 3});
  ASSERT_TRUE(sim.Start(0).ok());
  TempDir dir;
  WriteSimTasks(dir / "train.jsonl", 12, 4);  // 3 steps of 4 tasks x 4 samples
  Write(dir / "config.yaml", Yaml(sim.base_url()));
  const std::string config = (dir / "config.yaml").string();

  auto reference = RunTfgrpo(dir, "--quiet train --config " + config + " --run-dir " + (dir / "ref").string());
  ASSERT_EQ(reference.exit_code, 0) << reference.err;
  const std::string expected = ReadFile(dir / "ref" / "experiences.json").value();
  ASSERT_NE(expected, "{}\n");

  const auto run_dir = dir / "killed";
  for (int64_t kill_after_calls : {2, 30, 70, 110}) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execl(TFGRPO_BINARY, TFGRPO_BINARY, "--quiet", "train", "--config", config.c_str(), "--run-dir",
            run_dir.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Kill once the store holds at least `kill_after_calls` calls (or the run ends first).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int status = 0;
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      if (static_cast<int64_t>(RecordedCallIds(run_dir / "run.db").size()) >= kill_after_calls) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!exited) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    if (kill_after_calls < 100) {
      EXPECT_FALSE(exited) << "the run ended before it could be killed";
    }
    const size_t log_mark = sim.RequestLog().size();
    const auto recorded = RecordedCallIds(run_dir / "run.db");
    SCOPED_TRACE("killed after " + std::to_string(recorded.size()) + " recorded calls");

    auto resumed = RunTfgrpo(dir, "--quiet train --config " + config + " --run-dir " + run_dir.string());
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_EQ(ReadFile(run_dir / "experiences.json").value(), expected);
    auto log = sim.RequestLog();
    for (size_t i = log_mark; i < log.size(); ++i)
      EXPECT_EQ(recorded.count(log[i].call_id), 0u) << "re-sent recorded call " << log[i].call_id;
    std::filesystem::remove_all(run_dir);
  }
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST(Cli, EvalCacheReplaysEveryCallOnARerun) {
  SimServer sim(SimOptions{.seed = 4});
  ASSERT_TRUE(sim.Start(0).ok());
  testing::TempDir dir;
  std::string tasks;
  for (const auto& t : GenerateSimTasks(4, 3)) tasks += t.dump() + "\n";
  ASSERT_TRUE(WriteFileAtomic(dir / "eval.jsonl", tasks).ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "config.yaml",
                              "model:\n  base_url: \"" + sim.base_url() + "\"\n  name: sim\ndata:\n  eval: eval.jsonl\n")
                  .ok());
  const std::string cmd = std::string(TFGRPO_BINARY) + " --quiet eval --config " + (dir / "config.yaml").string() +
                          " --k 3 --cache " + (dir / "cache.db").string() + " --out ";
  ASSERT_EQ(std::system((cmd + (dir / "a.json").string() + " >/dev/null").c_str()), 0);
  const int64_t after_first = sim.requests();
  EXPECT_EQ(after_first, 12);
  ASSERT_EQ(std::system((cmd + (dir / "b.json").string() + " >/dev/null").c_str()), 0);
  EXPECT_EQ(sim.requests(), after_first);  // nothing sent the second time
  auto a = nlohmann::json::parse(ReadFile(dir / "a.json").value());
  auto b = nlohmann::json::parse(ReadFile(dir / "b.json").value());
  EXPECT_EQ(a["mean_at_k"], b["mean_at_k"]);
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST(Cli, DemoUsesPromptOverrides) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "prompts");
  // An override with a variable no caller provides: if the demo reads it, it must stop on it.
  ASSERT_TRUE(WriteFileAtomic(dir / "prompts" / "summary.txt", "Summarise {{no_such_variable}}").ok());
  const std::string cmd = std::string(TFGRPO_BINARY) + " --quiet --prompts " + (dir / "prompts").string() +
                          " demo --latency-ms 0 --fault-rate 0 --k 1 --dir " + (dir / "demo").string() + " >" +
                          (dir / "out.txt").string() + " 2>" + (dir / "err.txt").string();
  int status = std::system(cmd.c_str());
  EXPECT_NE(status, 0);
  EXPECT_NE(ReadFile(dir / "err.txt").value().find("no_such_variable"), std::string::npos)
      << ReadFile(dir / "err.txt").value();
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST(Cli, BudgetStopsTrainWithExitThreeAndARaisedBudgetFinishes) {
  TempDir dir;
  SimServer sim(SimOptions{.seed = 3});
  ASSERT_TRUE(sim.Start(0).ok());
  WriteSimTasks(dir / "train.jsonl", 4, 1);
  WriteSimTasks(dir / "eval.jsonl", 2, 1);
  auto config = [&](const std::string& max_usd) {
    Write(dir / "config.yaml", Yaml(sim.base_url()) + "budget:\n  max_usd: " + max_usd +
                                   "\n  price_per_mtok: {prompt: 0.27, cached_prompt: 0.07, completion: 1.10}\n");
  };
  const std::string train =
      "--quiet train --config " + (dir / "config.yaml").string() + " --run-dir " + (dir / "run").string();
  config("0.0001");
  auto stopped = RunTfgrpo(dir, train);
  EXPECT_EQ(stopped.exit_code, 3) << stopped.err;
  EXPECT_TRUE(std::regex_search(
      LastLine(stopped.err),
      std::regex(R"(^error: budget reached: \$[0-9.]+ of \$0\.0001 \(raise budget\.max_usd and re-run to continue\)$)")))
      << stopped.err;
  config("50");
  auto finished = RunTfgrpo(dir, train);
  ASSERT_EQ(finished.exit_code, 0) << finished.err;
  EXPECT_NE(finished.out.find("spend: "), std::string::npos) << finished.out;
  EXPECT_NE(finished.out.find("rollout "), std::string::npos) << finished.out;

  auto eval = RunTfgrpo(dir, "--quiet eval --config " + (dir / "config.yaml").string() + " --k 2 --out " +
                                 (dir / "e.json").string());
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  nlohmann::json report = nlohmann::json::parse(ReadFile(dir / "e.json").value());
  ASSERT_TRUE(report.contains("usd")) << report.dump();
  EXPECT_GT(report["usd"].get<double>(), 0);
  EXPECT_TRUE(report["spend"]["by_role"].contains("rollout"));
  EXPECT_NE(eval.out.find("eval: spend: rollout"), std::string::npos) << eval.out;
  // One model in every section: spend per model is that model's, priced like the total.
  EXPECT_NE(eval.out.find("eval: spend by model: sim "), std::string::npos) << eval.out;
  EXPECT_NE(finished.out.find("spend by model: sim "), std::string::npos) << finished.out;
  ASSERT_TRUE(report["spend_by_model"].contains("sim")) << report.dump();
  EXPECT_EQ(report["spend_by_model"].size(), 1u);
  EXPECT_DOUBLE_EQ(report["spend_by_model"]["sim"]["usd"].get<double>(), report["usd"].get<double>());
  EXPECT_EQ(report["spend_by_model"]["sim"]["tokens"], report["spend"]["tokens"]);

  config("0.000001");
  auto eval_stopped = RunTfgrpo(dir, "--quiet eval --config " + (dir / "config.yaml").string() + " --k 8 --out " +
                                         (dir / "e2.json").string());
  EXPECT_EQ(eval_stopped.exit_code, 3) << eval_stopped.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "e2.json"));
}

TEST(Cli, EvalReportHasNoUsdWithoutPrices) {
  TempDir dir;
  SimServer sim(SimOptions{.seed = 3});
  ASSERT_TRUE(sim.Start(0).ok());
  WriteSimTasks(dir / "eval.jsonl", 2, 1);
  Write(dir / "config.yaml", Yaml(sim.base_url()));
  auto eval = RunTfgrpo(dir, "--quiet eval --config " + (dir / "config.yaml").string() + " --k 2 --out " +
                                 (dir / "e.json").string());
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  nlohmann::json report = nlohmann::json::parse(ReadFile(dir / "e.json").value());
  EXPECT_FALSE(report.contains("usd"));
  EXPECT_GT(report["spend"]["tokens"].get<int64_t>(), 0);
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST(Cli, DemoWebLearnsToSearchAndBrowseOffline) {
  TempDir dir;
  auto o = RunTfgrpo(dir, "--quiet demo --web --latency-ms 0 --fault-rate 0 --k 2 --dir " + (dir / "demo").string());
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("indexed 51 pages"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("tool calls per answer"), std::string::npos) << o.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "demo" / "INDEX.db"));
  auto baseline = nlohmann::json::parse(ReadFile(dir / "demo" / "baseline.json").value());
  auto learned = nlohmann::json::parse(ReadFile(dir / "demo" / "learned.json").value());
  EXPECT_GE(learned["mean_at_k"].get<double>() - baseline["mean_at_k"].get<double>(), 0.3) << o.out;
  EXPECT_EQ(learned["errors"], 0);

  auto both = RunTfgrpo(dir, "demo --web --hostile --dir " + (dir / "x").string());
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;
}

TEST(Cli, IndexSearchQueriesAnIndexAsTheSearchToolDoes) {
  TempDir dir;
  Write(dir / "corpus.jsonl",
        "{\"url\":\"https://a.example/1\",\"title\":\"Kell Lighthouse\",\"text\":\"A red and white tower, 38 metres tall.\"}\n"
        "{\"url\":\"https://a.example/2\",\"title\":\"Orn\",\"text\":\"A village with a Thursday cheese market.\"}\n");
  ASSERT_EQ(RunTfgrpo(dir, "index build " + (dir / "corpus.jsonl").string() + " -o " + (dir / "i.db").string()).exit_code, 0);
  auto o = RunTfgrpo(dir, "index search " + (dir / "i.db").string() + " \"how tall is the lighthouse\" --top-k 1");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "1. Kell Lighthouse\n   https://a.example/1\n   A red and white tower, 38 metres tall.\n") << o.out;
  auto missing = RunTfgrpo(dir, "index search " + (dir / "none.db").string() + " x");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("none.db"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace tfgrpo
