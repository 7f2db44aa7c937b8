// `tfgrpo train` and `tfgrpo eval`.
#include <cstdio>
#include <map>
#include <memory>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "tfgrpo/budget.h"
#include "tfgrpo/compare.h"
#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/json.h"
#include "tfgrpo/library.h"
#include "tfgrpo/recording_client.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/role_router.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo::cli {
namespace {

// "0 truncated" or "3 truncated (2 x rollout, 1 x judge)": replies cut at model.max_tokens.
std::string FormatTruncated(const std::map<std::string, int64_t>& by_role) {
  int64_t total = 0;
  std::string roles;
  for (const auto& [role, n] : by_role) {
    total += n;
    roles += (roles.empty() ? "" : ", ") + std::to_string(n) + " x " + role;
  }
  return std::to_string(total) + " truncated" + (roles.empty() ? "" : " (" + roles + ")");
}


struct TrainArgs {
  std::string config;
  std::string run_dir;
  int max_steps = -1;
  std::string init_experiences;
};

int RunTrain(const GlobalOptions& global, const TrainArgs& args) {
  auto config = LoadConfig(args.config);
  if (!config.ok()) return Fail(config.status().message());
  auto progress = MakeProgress(global.verbosity());
  RoutedClients clients(*config);  // model, learner and judge sections, each its own endpoint
  ChatClient* client = &clients.client();
  TrainOptions options;
  options.run_dir = args.run_dir;
  options.prompts_dir = global.prompts();
  options.progress = progress.get();
  options.max_steps = args.max_steps;
  if (!args.init_experiences.empty()) options.init_experiences = args.init_experiences;
  // RUN_DIR/report.html follows the run: rewritten after every step (reloading itself while the
  // run goes on) and once more, without the reload, when this process is done with it.
  options.after_step = [&config, &args](int done, int total) {
    WriteLiveReport(*config, args.run_dir, false,
                    "training: " + std::to_string(done) + " of " + std::to_string(total) + " steps done");
  };
  auto summary = Train(*config, options, *client);
  progress.reset();
  const std::filesystem::path report = std::filesystem::path(args.run_dir) / "report.html";
  const bool have_run = std::filesystem::exists(std::filesystem::path(args.run_dir) / "run.db");
  if (have_run) {
    std::string status = "complete";
    if (!summary.ok()) status = "stopped: " + summary.status().message();
    else if (options.max_steps >= 0 && summary->steps_run >= options.max_steps)
      status = "paused after --max-steps (re-run train to continue)";
    WriteLiveReport(*config, args.run_dir, true, status);
  }
  if (!summary.ok()) return Fail(summary.status());
  std::printf("train: %s\n", FormatTrainSummary(*summary).c_str());
  std::printf("library: %s\n", (std::filesystem::path(args.run_dir) / "experiences.json").string().c_str());
  std::printf("report: %s\n", report.string().c_str());
  return 0;
}

struct EvalArgs {
  std::string config;
  std::string experiences;
  int k = 0;
  std::string out;
  bool per_task = false;
  std::vector<std::string> compare;  // A.json B.json
  std::string json_out;              // --json: the comparison as JSON
  int resamples = 10000;
  std::string cache;                 // --cache FILE: record calls, replay them on a re-run
};

int RunCompare(const EvalArgs& args) {
  EvalReport reports[2];
  for (int i = 0; i < 2; ++i) {
    const std::string& path = args.compare[i];
    auto text = ReadFile(path);
    if (!text.ok()) return Fail(text.status().message());
    nlohmann::json j = ParseUntrustedJson(*text);
    if (j.is_discarded())
      return Fail(path + ": not valid JSON, or nested more than " + std::to_string(kMaxJsonDepth) +
                  " levels deep (expected an eval report written by tfgrpo eval)");
    auto report = EvalReportFromJson(j);
    if (!report.ok()) return Fail(path + ": " + report.status().message());
    reports[i] = std::move(report).value();
  }
  CompareOptions options;
  options.resamples = args.resamples;
  auto comparison = CompareReports(reports[0], reports[1], options);
  if (!comparison.ok()) {
    return Fail(comparison.status().message() + " (A = " + args.compare[0] + ", B = " + args.compare[1] + ")");
  }
  if (!args.json_out.empty()) {
    nlohmann::json j = comparison->ToJson();
    j["a"] = args.compare[0];
    j["b"] = args.compare[1];
    Status s = WriteFileAtomic(args.json_out, j.dump(2) + "\n");
    if (!s.ok()) return Fail(s.message());
  }
  std::fputs(FormatComparison(*comparison, args.compare[0], args.compare[1], args.per_task).c_str(), stdout);
  return 0;
}

int RunEval(const GlobalOptions& global, const EvalArgs& args) {
  if (!args.compare.empty()) {
    if (!args.config.empty() || !args.experiences.empty() || args.k > 0 || !args.out.empty() ||
        !args.cache.empty()) {
      return Fail("--compare reads two existing reports; --config, --experiences, --k, --out and --cache do "
                  "not apply "
                  "(use --json OUT to save the comparison)");
    }
    return RunCompare(args);
  }
  if (!args.json_out.empty()) return Fail("--json writes a comparison; it needs --compare A.json B.json");
  if (args.config.empty()) return Fail("eval needs --config (or --compare A.json B.json to compare two reports)");
  if (args.out.empty()) return Fail("eval needs --out FILE for the JSON report");
  auto config = LoadConfig(args.config);
  if (!config.ok()) return Fail(config.status().message());
  if (config->data.eval.empty())
    return Fail(config->source.string() + ": missing required key 'data.eval'");
  auto tasks = LoadTasks(config->data.eval, config->data.problem_key, config->data.answer_key,
                         config->data.max_task_bytes);
  if (!tasks.ok()) return Fail(tasks.status().message());
  Library library;
  if (!args.experiences.empty()) {
    auto loaded = Library::Load(args.experiences);
    if (!loaded.ok()) return Fail(loaded.status().message());
    library = std::move(loaded).value();
  }
  EvalOptions options;
  options.k = args.k > 0 ? args.k : config->eval.k;
  options.temperature = config->eval.temperature;
  options.prompts_dir = global.prompts();
  auto progress = MakeProgress(global.verbosity());
  options.progress = progress.get();
  RoutedClients clients(*config);  // the judge section serves task.reward: judge
  BudgetGate budget(clients.client(), config->budget, PricingOf(*config));
  ChatClient* client = &budget;
  std::unique_ptr<RunStore> cache_store;
  std::unique_ptr<RecordingClient> cached;
  if (!args.cache.empty()) {
    // Every call is keyed by its id and exact request (library included), so one cache file can
    // serve the baseline and the learned runs without mixing them up.
    auto store = RunStore::Open(args.cache);
    if (!store.ok()) return Fail(store.status().message());
    cache_store = std::move(store).value();
    cached = std::make_unique<RecordingClient>(budget, *cache_store, config->model.name, config->model.max_tokens);
    client = cached.get();
  }
  // retrieval.method embeddings: the vectors are kept in the --cache store too.
  std::unique_ptr<EmbeddingCache> embedding_cache;
  if (cache_store) {
    embedding_cache = MakeRunStoreEmbeddingCache(*cache_store);
    options.embedding_cache = embedding_cache.get();
    options.call_store = cache_store.get();
  }
  auto report = Evaluate(*config, *tasks, library, options, *client);
  progress.reset();
  if (!report.ok()) {
    if (report.status().code() == Status::Code::kBudgetExhausted) {
      std::printf("eval: spend: %s\n", FormatSpend(budget.spent(), PricingOf(*config)).c_str());
      std::printf("eval: spend by model: %s\n", FormatSpendByModel(budget.spent(), PricingOf(*config)).c_str());
      return Fail(budget.ExhaustedStatus());
    }
    return Fail(report.status());
  }
  if (cached && cached->replayed() > 0)
    std::printf("eval: %lld calls replayed from %s, %lld sent\n", static_cast<long long>(cached->replayed()),
                args.cache.c_str(), static_cast<long long>(cached->sent()));
  Status s = WriteFileAtomic(args.out, report->ToJson().dump(2) + "\n");
  if (!s.ok()) return Fail(s.message());
  std::printf("eval: %d tasks x %d samples, library of %d experiences: Mean@%d %.4f, Pass@%d %.4f, "
              "%lld errors, %s, %lld prompt tokens (%lld cached), %lld completion tokens, %.1f s -> %s\n",
              report->tasks, report->k, report->library_size, report->k, report->mean_at_k, report->k,
              report->pass_at_k, static_cast<long long>(report->errors), FormatTruncated(report->truncated).c_str(),
              static_cast<long long>(report->usage.prompt_tokens),
              static_cast<long long>(report->usage.cached_tokens),
              static_cast<long long>(report->usage.completion_tokens), report->wall_s, args.out.c_str());
  std::printf("eval: spend: %s\n", FormatSpend(report->usage_by_role, report->pricing).c_str());
  std::printf("eval: spend by model: %s\n", FormatSpendByModel(report->usage_by_role, report->pricing).c_str());
  if (report->agent) std::printf("eval: agents: %s\n", report->agent->Line().c_str());
  if (args.per_task) std::fputs(FormatPerTaskTable(*report).c_str(), stdout);
  return 0;
}

}  // namespace

void AddTrainCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Learn an experience library (resumes when DIR already holds a run)");
  cmd->add_option("--config", args->config, "YAML run configuration")->required()->check(CLI::ExistingFile);
  cmd->add_option("--run-dir", args->run_dir, "Run directory (run.db, experiences.json, steps/)")->required();
  cmd->add_option("--max-steps", args->max_steps, "Stop after this many steps in this invocation");
  cmd->add_option("--init-experiences", args->init_experiences,
                  "Start a new run from this library (experiences.json or library.json)")
      ->check(CLI::ExistingFile);
  cmd->callback([&global, args, runner] { *runner = [&global, args] { return RunTrain(global, *args); }; });
}

void AddEvalCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Evaluate on the eval split (Mean@k, Pass@k), or compare two reports");
  cmd->add_option("--config", args->config, "YAML run configuration (required unless --compare)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--experiences", args->experiences, "Library JSON (absent: no library, the baseline)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--k", args->k, "Samples per task (default: eval.k)")->check(CLI::PositiveNumber);
  cmd->add_option("--out", args->out, "Where to write the JSON report (required unless --compare)");
  cmd->add_option("--cache", args->cache,
                  "SQLite file recording every call; re-running the same eval replays them instead of resending");
  cmd->add_flag("--per-task", args->per_task, "Also print a table per task (k, successes, mean reward)");
  cmd->add_option("--compare", args->compare,
                  "Compare two eval reports A.json B.json: B-A for Mean@k and Pass@k with a bootstrap 95% "
                  "interval over tasks")
      ->expected(2)
      ->check(CLI::ExistingFile);
  cmd->add_option("--json", args->json_out, "With --compare: also write the comparison as JSON here");
  cmd->add_option("--resamples", args->resamples, "With --compare: bootstrap resamples")
      ->check(CLI::Range(100, 10000000));
  cmd->callback([&global, args, runner] { *runner = [&global, args] { return RunEval(global, *args); }; });
}

}  // namespace tfgrpo::cli
