// `tfgrpo sim serve|tasks` and `tfgrpo demo`.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/report.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"
#include "tfgrpo/web.h"

namespace tfgrpo::cli {
namespace {

struct SimServeArgs {
  int port = 8000;
  uint64_t seed = 0;
  double latency_ms = 0;
  double fault_rate = 0;
  std::string hostile;  // "harmful,copy,pad" | "all"
};

int RunSimServe(const GlobalOptions& global, const SimServeArgs& args) {
  BlockTerminationSignals();
  SimOptions options;
  options.seed = args.seed;
  options.latency_ms_mean = args.latency_ms;
  options.fault_rate = args.fault_rate;
  auto hostile = ParseSimHostility(args.hostile);
  if (!hostile.ok()) return Fail(hostile.status().message());
  options.hostile = *hostile;
  SimServer server(options);
  Status s = server.Start(args.port);
  if (!s.ok()) return Fail(s.message());
  std::printf("simulated LLM listening on %s (seed %llu, mean latency %.0f ms, fault rate %.2f)\n",
              server.base_url().c_str(), static_cast<unsigned long long>(args.seed), args.latency_ms,
              args.fault_rate);
  std::fflush(stdout);
  WaitForTerminationSignal();
  server.Stop();
  return 0;
}

struct SimTasksArgs {
  int n = 24;
  uint64_t seed = 1;
  std::string out;
};

std::string TasksJsonl(int n, uint64_t seed) {
  std::string text;
  for (const auto& t : GenerateSimTasks(n, seed)) text += t.dump() + "\n";
  return text;
}

int RunSimTasks(const SimTasksArgs& args) {
  std::string text = TasksJsonl(args.n, args.seed);
  if (args.out.empty() || args.out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  Status s = WriteFileAtomic(args.out, text);
  return s.ok() ? 0 : Fail(s.message());
}

struct DemoArgs {
  std::string dir = "demo-run";
  double latency_ms = 20;
  double fault_rate = 0.05;
  int train_tasks = 24;
  int eval_tasks = 30;
  int k = 8;
  bool hostile = false;  // --hostile: a learner that is wrong, with and without the defences
  bool web = false;      // --web: the web-research setting (search and browse over a local index)
  bool topics = false;   // --topics: many task types, the whole library vs retrieval.top_k 4
  std::string agent;     // --agent [NAME]: one of examples/agents' agents, trained unchanged
  bool k_given = false;  // --k was on the command line (the agent demo's default is smaller)
};

// The simulator every demo runs against: one seed, the latency and faults asked for.
SimOptions DemoSimOptions(const DemoArgs& args) {
  SimOptions options;
  options.seed = 7;
  options.latency_ms_mean = args.latency_ms;
  options.fault_rate = args.fault_rate;
  return options;
}

// `validation`: "" or a practice.validation section's body; `cap`: practice.max_experiences.
// The model and data sections every demo config starts with, under a comment line.
std::string DemoHeaderYaml(const std::string& comment, const std::string& base_url) {
  return "# " + comment + "\n"
         "model:\n"
         "  base_url: \"" + base_url + "\"\n"
         "  name: \"tfgrpo-sim\"\n"
         "  max_retries: 6\n"
         "  concurrency: 32\n"
         "data:\n"
         "  train: \"train.jsonl\"\n"
         "  eval: \"eval.jsonl\"\n";
}

std::string DemoConfigYaml(const std::string& base_url, int k, int epochs = 2, int cap = 64,
                           const std::string& validation = "") {
  return DemoHeaderYaml("Written by `tfgrpo demo`: the offline demo against the simulated LLM.", base_url) +
         "task:\n"
         "  reward: \"math\"\n"
         "practice:\n"
         "  epochs: " + std::to_string(epochs) + "\n"
         "  max_experiences: " + std::to_string(cap) + "\n" +
         (validation.empty() ? std::string() : "  validation:\n" + validation) +
         "  batch_size: 8\n"
         "  group_size: 5\n"
         "  experiences_per_group: 2\n"
         "  seed: 42\n"
         "eval:\n"
         "  k: " + std::to_string(k) + "\n"
         "  temperature: 0.3\n";
}

// True when some experience of `library` holds the simulator's harmful lesson.
bool HoldsHarmfulLesson(const Library& library) {
  for (const Experience& e : library.items())
    if (e.text.find(kSimHarmfulLesson) != std::string::npos) return true;
  return false;
}
// Experiences that state one of `tasks`' answers the way the copying learner writes them.
int AnswersIn(const Library& library, const std::vector<Task>& tasks) {
  int n = 0;
  for (const Experience& e : library.items())
    for (const Task& t : tasks)
      if (ContainsCaseInsensitive(e.text, "the answer is " + t.answer)) ++n;
  return n;
}

// What `demo` and `demo --agent` both end with: baseline.json and learned.json in `dir`, then the
// train summary and the learned library on stdout.
Status WriteReportsAndPrintLibrary(const std::filesystem::path& dir, const TrainSummary& trained,
                                   const EvalReport& baseline, const EvalReport& learned) {
  for (auto [name, report] : {std::pair{"baseline.json", &baseline}, {"learned.json", &learned}}) {
    Status s = WriteFileAtomic(dir / name, report->ToJson().dump(2) + "\n");
    if (!s.ok()) return s;
  }
  std::printf("\ntrain: %s\n\n", FormatTrainSummary(trained).c_str());
  std::printf("Learned library (%zu experiences):\n%s\n\n", trained.library.size(),
              trained.library.RenderLines().c_str());
  return Status::Ok();
}

// `tfgrpo demo --hostile`: the simulated learner proposes a harmful lesson now and then, copies
// answers into lessons and pads the library. The same practice runs twice, without and with
// practice.validation, and both libraries are evaluated on held-out tasks.
int RunHostileDemo(const GlobalOptions& global, const DemoArgs& args) {
  const auto start = std::chrono::steady_clock::now();
  namespace fs = std::filesystem;
  const fs::path dir = args.dir;
  std::error_code ec;
  for (const char* run : {"run-plain", "run-validated"}) fs::remove_all(dir / run, ec);
  fs::create_directories(dir, ec);
  if (ec) return Fail("cannot create " + dir.string() + ": " + ec.message());

  SimOptions sim_options = DemoSimOptions(args);
  sim_options.hostile = {true, true, true};
  SimServer sim(sim_options);
  Status s = sim.Start(0);
  if (!s.ok()) return Fail(s.message());
  std::printf("hostile simulated LLM on %s: its learner sometimes proposes a harmful lesson, copies answers "
              "into lessons and pads the library with filler\n",
              sim.base_url().c_str());
  for (auto [name, n, seed] : {std::tuple{"train.jsonl", args.train_tasks, 1}, {"eval.jsonl", args.eval_tasks, 2},
                               {"val.jsonl", 16, 3}}) {
    s = WriteFileAtomic(dir / name, TasksJsonl(n, seed));
    if (!s.ok()) return Fail(s.message());
  }
  constexpr int kEpochs = 3, kCap = 12;
  const std::string validation = "    data: \"val.jsonl\"\n    tasks: 16\n    k: 2\n    tolerance: 0.0\n";
  s = WriteFileAtomic(dir / "config-plain.yaml", DemoConfigYaml(sim.base_url(), args.k, kEpochs, kCap));
  if (s.ok())
    s = WriteFileAtomic(dir / "config-validated.yaml", DemoConfigYaml(sim.base_url(), args.k, kEpochs, kCap, validation));
  if (!s.ok()) return Fail(s.message());

  auto progress = MakeProgress(global.verbosity());
  struct Arm {
    const char* name;
    const char* config;
    const char* run;
    std::optional<TrainSummary> trained;
    std::optional<EvalReport> report;
  } arms[] = {{"without validation", "config-plain.yaml", "run-plain", {}, {}},
              {"with validation", "config-validated.yaml", "run-validated", {}, {}}};
  std::vector<Task> eval_tasks, train_tasks;
  std::optional<EvalReport> baseline;
  for (Arm& arm : arms) {
    auto config = LoadConfig(dir / arm.config);
    if (!config.ok()) return Fail(config.status().message());
    auto client = MakeHttpChatClient(ClientOptionsFrom(*config));
    std::printf("training %s (%s) ...\n", arm.name, arm.config);
    std::fflush(stdout);
    TrainOptions train_options;
    train_options.run_dir = dir / arm.run;
    train_options.prompts_dir = global.prompts();
    train_options.progress = progress.get();
    auto trained = Train(*config, train_options, *client);
    if (!trained.ok()) return Fail(trained.status());
    WriteLiveReport(*config, train_options.run_dir, true, "complete (tfgrpo demo --hostile)");
    arm.trained = std::move(trained).value();
    if (eval_tasks.empty()) {
      auto loaded = LoadTasks(config->data.eval, config->data.problem_key, config->data.answer_key);
      if (!loaded.ok()) return Fail(loaded.status().message());
      eval_tasks = std::move(loaded).value();
      auto train = LoadTasks(config->data.train, config->data.problem_key, config->data.answer_key);
      if (!train.ok()) return Fail(train.status().message());
      train_tasks = std::move(train).value();
    }
    EvalOptions eval_options;
    eval_options.k = args.k;
    eval_options.temperature = config->eval.temperature;
    eval_options.prompts_dir = global.prompts();
    eval_options.progress = progress.get();
    if (!baseline) {
      auto b = Evaluate(*config, eval_tasks, Library(), eval_options, *client);
      if (!b.ok()) return Fail(b.status());
      baseline = std::move(b).value();
    }
    auto report = Evaluate(*config, eval_tasks, arm.trained->library, eval_options, *client);
    if (!report.ok()) return Fail(report.status());
    arm.report = std::move(report).value();
  }
  progress.reset();
  sim.Stop();

  for (const Arm& arm : arms) {
    std::printf("\n%s: %s\n", arm.name, FormatTrainSummary(*arm.trained).c_str());
    std::printf("library (%zu experiences):\n%s\n", arm.trained->library.size(),
                arm.trained->library.RenderLinesWithCredit().c_str());
  }
  std::printf("\nHeld-out evaluation: %d tasks x %d samples\n", baseline->tasks, baseline->k);
  std::printf("  %-20s %10s %12s %8s %8s %8s\n", "", ("Mean@" + std::to_string(args.k)).c_str(),
              ("Pass@" + std::to_string(args.k)).c_str(), "harmful", "answers", "size");
  std::printf("  %-20s %10.3f %12.3f\n", "no library", baseline->mean_at_k, baseline->pass_at_k);
  for (const Arm& arm : arms) {
    const Library& lib = arm.trained->library;
    std::printf("  %-20s %10.3f %12.3f %8s %8d %5zu/%d\n", arm.name, arm.report->mean_at_k, arm.report->pass_at_k,
                HoldsHarmfulLesson(lib) ? "yes" : "no", AnswersIn(lib, train_tasks), lib.size(), kCap);
  }
  std::printf("\nvalidation's gain: %+.3f Mean@%d; demo total %.1f s\n",
              arms[1].report->mean_at_k - arms[0].report->mean_at_k, args.k,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  std::printf("files: %s/{config-plain.yaml,config-validated.yaml,train.jsonl,val.jsonl,eval.jsonl,run-plain/,"
              "run-validated/}\n",
              dir.string().c_str());
  std::printf("reports: %s/run-plain/report.html, %s/run-validated/report.html\n", dir.string().c_str(),
              dir.string().c_str());
  return 0;
}

int CountLines(std::string_view text) {
  int n = 0;
  for (const std::string& line : SplitLines(text)) n += !Trim(line).empty();
  return n;
}

// `tfgrpo demo --web`: examples/web's corpus (compiled in) indexed into DIR/INDEX.db, its
// questions, and a practice config in the recipe's shape (agent mode, search and browse, judge
// reward, groups of 4 at temperature 0.7, 3 epochs).
Status WriteWebDemoFiles(const std::filesystem::path& dir, const std::string& base_url, int k) {
  const SimWebExample& example = BuiltinWebExample();
  for (auto [name, text] : {std::pair{"corpus.jsonl", example.corpus}, {"train.jsonl", example.train},
                            {"eval.jsonl", example.eval}}) {
    if (Status s = WriteFileAtomic(dir / name, text); !s.ok()) return s;
  }
  IndexBuildOptions index;
  index.corpus = dir / "corpus.jsonl";
  index.out = dir / "INDEX.db";
  auto built = BuildIndex(index);
  if (!built.ok()) return built.status().WithContext("demo index");
  std::printf("indexed %lld pages of the offline web corpus into %s\n", static_cast<long long>(built->pages),
              index.out.c_str());
  const std::string yaml =
      DemoHeaderYaml("Written by `tfgrpo demo --web`: the web-research recipe (examples/web) against the simulated LLM.",
                     base_url) +
      "task:\n"
      "  mode: agent\n"
      "  reward: judge\n"
      "  max_turns: 8\n"
      "  instructions: \"Answer the question about the Tessaly Archipelago. A search tool finds pages of a corpus "
      "and a browse tool reads one. End with a line \\\"Final answer: ...\\\".\"\n"
      "practice:\n"
      "  epochs: 3\n"
      "  batch_size: 8\n"
      "  group_size: 4\n"
      "  rollout_temperature: 0.7\n"
      "  experiences_per_group: 2\n"
      "  seed: 42\n"
      "eval:\n"
      "  k: " + std::to_string(k) + "\n"
      "  temperature: 0.3\n"
      "tools:\n"
      "  enabled: [search, browse]\n"
      "  search:\n"
      "    backend: local\n"
      "    index: \"INDEX.db\"\n"
      "    top_k: 5\n"
      "  browse:\n"
      "    max_chars: 20000\n";
  return WriteFileAtomic(dir / "config.yaml", yaml);
}

// The before/after table of a demo's held-out evaluation; `extra` rows are printed after the
// standard ones.
void PrintComparison(const EvalReport& b, const EvalReport& l,
                     const std::vector<std::tuple<std::string, double, double>>& extra = {}) {
  std::printf("Held-out evaluation: %d tasks x %d samples\n", b.tasks, b.k);
  std::printf("  %-22s %12s %12s %10s\n", "", "baseline", "learned", "change");

  std::printf("  %-22s %12.3f %12.3f %+10.3f\n", ("Mean@" + std::to_string(b.k)).c_str(), b.mean_at_k,
              l.mean_at_k, l.mean_at_k - b.mean_at_k);
  std::printf("  %-22s %12.3f %12.3f %+10.3f\n", ("Pass@" + std::to_string(b.k)).c_str(), b.pass_at_k,
              l.pass_at_k, l.pass_at_k - b.pass_at_k);
  std::printf("  %-22s %12lld %12lld\n", "prompt tokens", (long long)b.usage.prompt_tokens,
              (long long)l.usage.prompt_tokens);
  std::printf("  %-22s %12lld %12lld\n", "  of which cached", (long long)b.usage.cached_tokens,
              (long long)l.usage.cached_tokens);
  std::printf("  %-22s %12lld %12lld\n", "completion tokens", (long long)b.usage.completion_tokens,
              (long long)l.usage.completion_tokens);
  std::printf("  %-22s %12lld %12lld\n", "failed samples", (long long)b.errors, (long long)l.errors);
  std::printf("  %-22s %12.1f %12.1f\n", "wall time (s)", b.wall_s, l.wall_s);
  for (const auto& [name, before, after] : extra)
    std::printf("  %-22s %12.2f %12.2f %+10.2f\n", name.c_str(), before, after, after - before);
}

// Prompt tokens per rollout sample, and the share of them the provider's prefix cache served.
double PromptTokensPerSample(const EvalReport& r) {
  auto it = r.usage_by_role.find("rollout");
  return it == r.usage_by_role.end() || r.samples == 0 ? 0 : static_cast<double>(it->second.prompt_tokens) / r.samples;
}
double CachedShare(const EvalReport& r) {
  auto it = r.usage_by_role.find("rollout");
  if (it == r.usage_by_role.end() || it->second.prompt_tokens == 0) return 0;
  return static_cast<double>(it->second.cached_tokens) / static_cast<double>(it->second.prompt_tokens);
}

// `tfgrpo demo --topics`: 24 task types, each helped by its own experience, and a simulated
// model that finds the one that matters less often the more it is shown. One library is learned;
// held-out tasks are then run with the whole library in every prompt and with retrieval.top_k 4.
int RunTopicsDemo(const GlobalOptions& global, const DemoArgs& args) {
  const auto start = std::chrono::steady_clock::now();
  namespace fs = std::filesystem;
  const fs::path dir = args.dir;
  std::error_code ec;
  fs::remove_all(dir / "run", ec);
  fs::create_directories(dir, ec);
  if (ec) return Fail("cannot create " + dir.string() + ": " + ec.message());
  SimServer sim(DemoSimOptions(args));
  Status s = sim.Start(0);
  if (!s.ok()) return Fail(s.message());
  std::printf("simulated LLM on %s: %zu task types; with more than %.0f experiences in a prompt it finds the "
              "right one less often\n",
              sim.base_url().c_str(), SimTopicPitfalls().size(), kSimTopicAttention);
  for (auto [name, n, seed] : {std::tuple{"train.jsonl", 48, 1}, {"eval.jsonl", 48, 2}}) {
    std::string text;
    for (const auto& t : GenerateSimTopicTasks(n, seed)) text += t.dump() + "\n";
    s = WriteFileAtomic(dir / name, text);
    if (!s.ok()) return Fail(s.message());
  }
  s = WriteFileAtomic(dir / "config.yaml", DemoConfigYaml(sim.base_url(), args.k, /*epochs=*/2));
  if (!s.ok()) return Fail(s.message());
  auto config = LoadConfig(dir / "config.yaml");
  if (!config.ok()) return Fail(config.status().message());
  auto progress = MakeProgress(global.verbosity());
  auto client = MakeHttpChatClient(ClientOptionsFrom(*config));
  std::printf("training on 48 tasks of 24 types (whole library in every rollout prompt) ...\n");
  std::fflush(stdout);
  TrainOptions train_options;
  train_options.run_dir = dir / "run";
  train_options.prompts_dir = global.prompts();
  train_options.progress = progress.get();
  auto trained = Train(*config, train_options, *client);
  if (!trained.ok()) return Fail(trained.status().message());
  auto eval_tasks = LoadTasks(config->data.eval, config->data.problem_key, config->data.answer_key);
  if (!eval_tasks.ok()) return Fail(eval_tasks.status().message());
  EvalOptions eval_options;
  eval_options.k = args.k;
  eval_options.temperature = config->eval.temperature;
  eval_options.prompts_dir = global.prompts();
  eval_options.progress = progress.get();
  std::vector<std::pair<int, EvalReport>> reports;
  for (int top_k : {0, 4}) {
    Config c = *config;
    c.retrieval.top_k = top_k;
    auto report = Evaluate(c, *eval_tasks, trained->library, eval_options, *client);
    if (!report.ok()) return Fail(report.status().message());
    s = WriteFileAtomic(dir / ("top_k-" + std::to_string(top_k) + ".json"), report->ToJson().dump(2) + "\n");
    if (!s.ok()) return Fail(s.message());
    reports.emplace_back(top_k, std::move(report).value());
  }
  progress.reset();
  sim.Stop();
  std::printf("\ntrain: %s\n", FormatTrainSummary(*trained).c_str());
  std::printf("\nHeld-out evaluation on the same learned library (%zu experiences): %d tasks x %d samples\n",
              trained->library.size(), reports[0].second.tasks, args.k);
  std::printf("  %-16s %10s %12s %22s %14s\n", "", ("Mean@" + std::to_string(args.k)).c_str(),
              ("Pass@" + std::to_string(args.k)).c_str(), "prompt tokens/sample", "cached share");
  for (const auto& [top_k, r] : reports) {
    const std::string label = top_k == 0 ? "top_k: 0 (all)" : "top_k: " + std::to_string(top_k);
    std::printf("  %-16s %10.3f %12.3f %22.1f %13.1f%%\n", label.c_str(), r.mean_at_k, r.pass_at_k,
                PromptTokensPerSample(r), 100 * CachedShare(r));
  }
  std::printf("\nretrieval's gain: %+.3f Mean@%d at %.0f%% of the prompt tokens; demo total %.1f s\n",
              reports[1].second.mean_at_k - reports[0].second.mean_at_k, args.k,
              100 * PromptTokensPerSample(reports[1].second) / std::max(1.0, PromptTokensPerSample(reports[0].second)),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  std::printf("files: %s/{config.yaml,train.jsonl,eval.jsonl,run/,top_k-0.json,top_k-4.json}\n", dir.string().c_str());
  return 0;
}

bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "";
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const std::string folder(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (!folder.empty() && ::access((std::filesystem::path(folder) / program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// `tfgrpo demo --agent [NAME]`: one of examples/agents' agents (compiled in; `python` by default,
// which needs only python3) trained unchanged with task.mode external against the simulator,
// which calls the agent's tool once and then answers; held-out Mean@k before and after.
int RunAgentDemo(const GlobalOptions& global, const DemoArgs& args) {
  const auto start = std::chrono::steady_clock::now();
  namespace fs = std::filesystem;
  const SimAgentExample* example = nullptr;
  std::string names;
  for (const SimAgentExample& e : BuiltinAgentExamples()) {
    names += std::string(names.empty() ? "" : ", ") + e.name;
    if (args.agent == e.name) example = &e;
  }
  if (example == nullptr) return Fail("demo --agent: unknown agent '" + args.agent + "'; one of: " + names);
  const int k = args.k_given ? args.k : 4;  // every sample is a run of the agent program
  if (!OnPath(example->interpreter)) {
    return Fail(std::string("demo --agent ") + example->name + ": needs " + example->interpreter + " on PATH");
  }
  const fs::path dir = args.dir;
  std::error_code ec;
  fs::remove_all(dir / "run", ec);
  fs::create_directories(dir, ec);
  if (ec) return Fail("cannot create " + dir.string() + ": " + ec.message());
  SimServer sim(DemoSimOptions(args));
  Status s = sim.Start(0);
  if (!s.ok()) return Fail(s.message());
  std::printf("simulated LLM on %s; the agent is examples/agents/%s (%s %s), run once per rollout\n",
              sim.base_url().c_str(), example->name, example->interpreter, example->file);
  if (std::string(example->interpreter) == "node" && std::getenv("NODE_PATH") == nullptr &&
      !fs::exists(dir / "node_modules")) {
    std::printf("note: the node agents need their npm packages: `npm install` them in %s (see "
                "examples/agents/%s/package.json) or set NODE_PATH\n",
                dir.string().c_str(), example->name);
  }
  // The tasks of examples/agents/tasks: `tfgrpo sim tasks --n 18 --seed 11` and `--n 12 --seed 12`.
  for (auto [name, text] : {std::pair{std::string("train.jsonl"), TasksJsonl(18, 11)},
                            {std::string("eval.jsonl"), TasksJsonl(12, 12)},
                            {std::string(example->file), std::string(example->source)}}) {
    s = WriteFileAtomic(dir / name, text);
    if (!s.ok()) return Fail(s.message());
  }
  const std::string yaml =
      DemoHeaderYaml("Written by `tfgrpo demo --agent`: your own agent (examples/agents/" + std::string(example->name) +
                         "), trained unchanged against the simulated LLM.",
                     sim.base_url()) +
      "task:\n"
      "  mode: external\n"
      "  reward: \"math\"\n"
      "  max_turns: 8\n"
      "agent:\n"
      "  command: [\"" + std::string(example->interpreter) + "\", \"" + example->file + "\"]\n"
      "  timeout_s: 120\n"
      "  concurrency: 8\n"
      "practice:\n"
      "  epochs: 2\n"
      "  batch_size: 6\n"
      "  group_size: 4\n"
      "  experiences_per_group: 2\n"
      "  seed: 42\n"
      "eval:\n"
      "  k: " + std::to_string(k) + "\n"
      "  temperature: 0.3\n";
  s = WriteFileAtomic(dir / "config.yaml", yaml);
  if (!s.ok()) return Fail(s.message());
  auto config = LoadConfig(dir / "config.yaml");
  if (!config.ok()) return Fail(config.status().message());

  auto progress = MakeProgress(global.verbosity());
  auto client = MakeHttpChatClient(ClientOptionsFrom(*config));
  std::printf("training on 18 tasks: %d epoch(s), batches of %d, groups of %d agent runs ...\n",
              config->practice.epochs, config->practice.batch_size, config->practice.group_size);
  std::fflush(stdout);
  TrainOptions train_options;
  train_options.run_dir = dir / "run";
  train_options.prompts_dir = global.prompts();
  train_options.progress = progress.get();
  auto trained = Train(*config, train_options, *client);
  if (!trained.ok()) return Fail(trained.status().message());
  WriteLiveReport(*config, train_options.run_dir, true, "complete (tfgrpo demo --agent)");
  auto eval_tasks = LoadTasks(config->data.eval, config->data.problem_key, config->data.answer_key);
  if (!eval_tasks.ok()) return Fail(eval_tasks.status().message());
  EvalOptions eval_options;
  eval_options.k = k;
  eval_options.temperature = config->eval.temperature;
  eval_options.prompts_dir = global.prompts();
  eval_options.progress = progress.get();
  auto baseline = Evaluate(*config, *eval_tasks, Library(), eval_options, *client);
  if (!baseline.ok()) return Fail(baseline.status().message());
  auto learned = Evaluate(*config, *eval_tasks, trained->library, eval_options, *client);
  if (!learned.ok()) return Fail(learned.status().message());
  progress.reset();
  sim.Stop();
  s = WriteReportsAndPrintLibrary(dir, *trained, *baseline, *learned);
  if (!s.ok()) return Fail(s.message());
  PrintComparison(*baseline, *learned);
  std::printf("\ndemo total %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  std::printf("files: %s/{config.yaml,%s,train.jsonl,eval.jsonl,run/,baseline.json,learned.json}\n",
              dir.string().c_str(), example->file);
  std::printf("in production: tfgrpo serve --experiences %s --upstream <provider /v1> and point the agent's "
              "OPENAI_BASE_URL at it\n",
              (dir / "run" / "experiences.json").string().c_str());
  return 0;
}

int RunDemo(const GlobalOptions& global, const DemoArgs& args) {
  if (!args.agent.empty()) return RunAgentDemo(global, args);
  if (args.hostile) return RunHostileDemo(global, args);
  if (args.topics) return RunTopicsDemo(global, args);
  const auto start = std::chrono::steady_clock::now();
  namespace fs = std::filesystem;
  const fs::path dir = args.dir;
  std::error_code ec;
  fs::remove_all(dir / "run", ec);  // a demo starts from scratch; a real run would resume
  fs::create_directories(dir, ec);
  if (ec) return Fail("cannot create " + dir.string() + ": " + ec.message());

  SimServer sim(DemoSimOptions(args));
  Status s = sim.Start(0);
  if (!s.ok()) return Fail(s.message());
  std::printf("simulated LLM on %s (mean latency %.0f ms, %.0f%% of requests fail and are retried)\n",
              sim.base_url().c_str(), args.latency_ms, args.fault_rate * 100);

  if (args.web) {
    s = WriteWebDemoFiles(dir, sim.base_url(), args.k);
  } else {
    for (auto [name, n, seed] : {std::tuple{"train.jsonl", args.train_tasks, 1}, {"eval.jsonl", args.eval_tasks, 2}}) {
      s = WriteFileAtomic(dir / name, TasksJsonl(n, seed));
      if (!s.ok()) break;
    }
    if (s.ok()) s = WriteFileAtomic(dir / "config.yaml", DemoConfigYaml(sim.base_url(), args.k));
  }
  if (!s.ok()) return Fail(s.message());
  auto config = LoadConfig(dir / "config.yaml");
  if (!config.ok()) return Fail(config.status().message());
  const int train_tasks = args.web ? CountLines(BuiltinWebExample().train) : args.train_tasks;

  auto progress = MakeProgress(global.verbosity());
  auto client = MakeHttpChatClient(ClientOptionsFrom(*config));
  std::printf("training on %d %s: %d epochs, batches of %d, groups of %d ...\n", train_tasks,
              args.web ? "questions with the search and browse tools" : "tasks",
              config->practice.epochs, config->practice.batch_size, config->practice.group_size);
  std::fflush(stdout);
  TrainOptions train_options;
  train_options.run_dir = dir / "run";
  train_options.prompts_dir = global.prompts();
  train_options.progress = progress.get();
  train_options.after_step = [&](int done, int total) {
    WriteLiveReport(*config, train_options.run_dir, false,
                    "training: " + std::to_string(done) + " of " + std::to_string(total) + " steps done");
  };
  auto trained = Train(*config, train_options, *client);
  if (!trained.ok()) return Fail(trained.status().message());
  WriteLiveReport(*config, train_options.run_dir, true, "complete");

  auto eval_tasks = LoadTasks(config->data.eval, config->data.problem_key, config->data.answer_key);
  if (!eval_tasks.ok()) return Fail(eval_tasks.status().message());
  EvalOptions eval_options;
  eval_options.k = args.k;
  eval_options.temperature = config->eval.temperature;
  eval_options.prompts_dir = global.prompts();
  eval_options.progress = progress.get();
  // The web agent's tool use: model turns per sample beyond the first are tool calls.
  size_t logged = sim.RequestLog().size();
  auto tool_calls_per_sample = [&](const EvalReport& report) {
    const std::vector<SimRequestLog> log = sim.RequestLog();
    int64_t turns = 0;
    for (size_t i = logged; i < log.size(); ++i) turns += log[i].role == "rollout" && log[i].status == 200;
    logged = log.size();
    return report.samples > 0 ? static_cast<double>(turns) / report.samples - 1 : 0.0;
  };
  auto baseline = Evaluate(*config, *eval_tasks, Library(), eval_options, *client);
  if (!baseline.ok()) return Fail(baseline.status().message());
  const double baseline_tool_calls = tool_calls_per_sample(*baseline);
  auto learned = Evaluate(*config, *eval_tasks, trained->library, eval_options, *client);
  if (!learned.ok()) return Fail(learned.status().message());
  const double learned_tool_calls = tool_calls_per_sample(*learned);
  progress.reset();
  sim.Stop();

  s = WriteReportsAndPrintLibrary(dir, *trained, *baseline, *learned);
  if (!s.ok()) return Fail(s.message());
  if (args.web) {
    PrintComparison(*baseline, *learned, {{"tool calls per answer", baseline_tool_calls, learned_tool_calls}});
  } else {
    PrintComparison(*baseline, *learned);
  }
  std::printf("\ntraining: %lld prompt + %lld completion tokens in %.1f s; demo total %.1f s\n",
              (long long)trained->usage.prompt_tokens, (long long)trained->usage.completion_tokens,
              trained->wall_s,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  std::printf("files: %s/{config.yaml,train.jsonl,eval.jsonl,%srun/,baseline.json,learned.json,report.html}\n",
              dir.string().c_str(), args.web ? "corpus.jsonl,INDEX.db," : "");
  ReportOptions report_options;
  report_options.evals = {dir / "baseline.json", dir / "learned.json"};
  report_options.prices = config->budget.price_per_mtok;
  report_options.learner_prices = config->learner_price_per_mtok;
  report_options.judge_prices = config->judge_price_per_mtok;
  report_options.status = "complete (tfgrpo demo)";
  s = WriteRunReport(dir / "run", dir / "report.html", report_options);
  if (!s.ok()) return Fail(s.message());
  std::printf("report: %s\n", (dir / "report.html").string().c_str());
  return 0;
}

}  // namespace

void AddSimCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto* sim = app.add_subcommand("sim", "The simulated OpenAI-compatible LLM (offline testing)");
  sim->require_subcommand(1);

  auto serve_args = std::make_shared<SimServeArgs>();
  auto* serve = sim->add_subcommand("serve", "Serve the simulated LLM on 127.0.0.1");
  serve->add_option("--port", serve_args->port, "TCP port (0: any free port)")->check(CLI::Range(0, 65535));
  serve->add_option("--seed", serve_args->seed, "Seed: same seed and request, same answer");
  serve->add_option("--latency-ms", serve_args->latency_ms, "Mean latency per request (heavy-tailed)")
      ->check(CLI::NonNegativeNumber);
  serve->add_option("--fault-rate", serve_args->fault_rate, "Fraction of requests answered with a fault")
      ->check(CLI::Range(0.0, 1.0));
  serve->add_option("--hostile", serve_args->hostile,
                    "Learner failure modes to switch on: harmful,copy,pad,garbage (all: the first three)");
  serve->callback([&global, serve_args, runner] {
    *runner = [&global, serve_args] { return RunSimServe(global, *serve_args); };
  });

  auto tasks_args = std::make_shared<SimTasksArgs>();
  auto* tasks = sim->add_subcommand("tasks", "Write simulated tasks as JSONL");
  tasks->add_option("--n", tasks_args->n, "Number of tasks")->check(CLI::PositiveNumber);
  tasks->add_option("--seed", tasks_args->seed, "Seed");
  tasks->add_option("-o,--out", tasks_args->out, "Output file (default: stdout)");
  tasks->callback([tasks_args, runner] { *runner = [tasks_args] { return RunSimTasks(*tasks_args); }; });
}

void AddDemoCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto args = std::make_shared<DemoArgs>();
  auto* cmd = app.add_subcommand("demo", "Offline end-to-end demo: simulated LLM, train, evaluate before/after");
  cmd->add_option("--dir", args->dir, "Working directory for the demo's files");
  cmd->add_option("--latency-ms", args->latency_ms, "Simulated mean latency")->check(CLI::NonNegativeNumber);
  cmd->add_option("--fault-rate", args->fault_rate, "Simulated fault rate")->check(CLI::Range(0.0, 1.0));
  auto* k = cmd->add_option("--k", args->k, "Evaluation samples per task (default 8; 4 with --agent)")
                ->check(CLI::PositiveNumber);
  auto* web = cmd->add_flag("--web", args->web,
                "The web-research setting: an agent with search and browse over an offline corpus, judge reward");
  auto* hostile = cmd->add_flag("--hostile", args->hostile,
                "A learner that is wrong (harmful lessons, copied answers, padding): train without and with "
                "practice.validation and compare");
  web->excludes(hostile);
  auto* topics = cmd->add_flag("--topics", args->topics,
                "Many task types: one learned library evaluated with the whole library in every prompt "
                "and with retrieval.top_k 4");
  topics->excludes(web);
  topics->excludes(hostile);
  auto* agent = cmd->add_option("--agent", args->agent,
                                "Your own agent: one of examples/agents' agents (python, the default, needs only "
                                "python3; openai-sdk, openai-agents, langgraph, ai-sdk need node and their npm "
                                "packages) trained unchanged with task.mode external")
                    ->expected(0, 1);
  for (CLI::Option* other : {web, hostile, topics}) agent->excludes(other);
  cmd->callback([&global, args, agent, k, runner] {
    if (agent->count() > 0 && args->agent.empty()) args->agent = "python";
    args->k_given = k->count() > 0;
    *runner = [&global, args] { return RunDemo(global, *args); };
  });
}

}  // namespace tfgrpo::cli
