// `tfgrpo train` and `tfgrpo eval`.
#include <cstdio>
#include <memory>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/library.h"
#include "tfgrpo/util.h"

namespace tfgrpo::cli {
namespace {

std::optional<std::filesystem::path> PromptsDir(const GlobalOptions& g) {
  if (g.prompts_dir.empty()) return std::nullopt;
  return std::filesystem::path(g.prompts_dir);
}

struct TrainArgs {
  std::string config;
  std::string run_dir;
  int max_steps = -1;
};

int RunTrain(const GlobalOptions& global, const TrainArgs& args) {
  InitLogging(global.verbosity());
  auto config = LoadConfig(args.config);
  if (!config.ok()) return Fail(config.status().message());
  auto progress = MakeProgress(global.verbosity());
  auto client = MakeHttpChatClient(ClientOptionsFrom(*config));
  TrainOptions options;
  options.run_dir = args.run_dir;
  options.prompts_dir = PromptsDir(global);
  options.progress = progress.get();
  options.max_steps = args.max_steps;
  auto summary = Train(*config, options, *client);
  progress.reset();
  if (!summary.ok()) return Fail(summary.status().message());
  std::printf("train: %s\n", FormatTrainSummary(*summary).c_str());
  std::printf("library: %s\n", (std::filesystem::path(args.run_dir) / "experiences.json").string().c_str());
  return 0;
}

struct EvalArgs {
  std::string config;
  std::string experiences;
  int k = 0;
  std::string out;
};

int RunEval(const GlobalOptions& global, const EvalArgs& args) {
  InitLogging(global.verbosity());
  auto config = LoadConfig(args.config);
  if (!config.ok()) return Fail(config.status().message());
  if (config->data.eval.empty())
    return Fail(config->source.string() + ": missing required key 'data.eval'");
  auto tasks = LoadTasks(config->data.eval, config->data.problem_key, config->data.answer_key);
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
  options.prompts_dir = PromptsDir(global);
  auto progress = MakeProgress(global.verbosity());
  options.progress = progress.get();
  auto client = MakeHttpChatClient(ClientOptionsFrom(*config));
  auto report = Evaluate(*config, *tasks, library, options, *client);
  progress.reset();
  if (!report.ok()) return Fail(report.status().message());
  Status s = WriteFileAtomic(args.out, report->ToJson().dump(2) + "\n");
  if (!s.ok()) return Fail(s.message());
  std::printf("eval: %d tasks x %d samples, library of %d experiences: Mean@%d %.4f, Pass@%d %.4f, "
              "%lld errors, %lld prompt tokens (%lld cached), %lld completion tokens, %.1f s -> %s\n",
              report->tasks, report->k, report->library_size, report->k, report->mean_at_k, report->k,
              report->pass_at_k, static_cast<long long>(report->errors),
              static_cast<long long>(report->usage.prompt_tokens),
              static_cast<long long>(report->usage.cached_tokens),
              static_cast<long long>(report->usage.completion_tokens), report->wall_s, args.out.c_str());
  return 0;
}

}  // namespace

void AddTrainCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Learn an experience library (resumes when DIR already holds a run)");
  cmd->add_option("--config", args->config, "YAML run configuration")->required()->check(CLI::ExistingFile);
  cmd->add_option("--run-dir", args->run_dir, "Run directory (run.db, experiences.json, steps/)")->required();
  cmd->add_option("--max-steps", args->max_steps, "Stop after this many steps in this invocation");
  cmd->callback([&global, args, runner] { *runner = [&global, args] { return RunTrain(global, *args); }; });
}

void AddEvalCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Evaluate on the eval split: Mean@k and Pass@k");
  cmd->add_option("--config", args->config, "YAML run configuration")->required()->check(CLI::ExistingFile);
  cmd->add_option("--experiences", args->experiences, "Library JSON (absent: no library, the baseline)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--k", args->k, "Samples per task (default: eval.k)")->check(CLI::PositiveNumber);
  cmd->add_option("--out", args->out, "Where to write the JSON report")->required();
  cmd->callback([&global, args, runner] { *runner = [&global, args] { return RunEval(global, *args); }; });
}

}  // namespace tfgrpo::cli
