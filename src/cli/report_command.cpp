// `tfgrpo report RUN_DIR [--eval BASELINE.json --eval LEARNED.json ...] -o report.html`, and
// the live report `tfgrpo train` rewrites after every step.
#include <cstdio>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "tfgrpo/report.h"

namespace tfgrpo::cli {
namespace {

struct ReportArgs {
  std::string run_dir;
  std::vector<std::string> evals;
  std::string out;
  std::string config;  // optional: prices spend, and its key is redacted from failure examples
};

int RunReport(const ReportArgs& args) {
  ReportOptions options;
  for (const std::string& e : args.evals) options.evals.emplace_back(e);
  if (!args.config.empty()) {
    auto config = LoadConfig(args.config);
    if (!config.ok()) return Fail(config.status().message());
    options.prices = config->budget.price_per_mtok;
    options.learner_prices = config->learner_price_per_mtok;
    options.judge_prices = config->judge_price_per_mtok;
    options.api_key = config->ApiKey();
  }
  options.status = "report of the run as recorded";
  Status s = WriteRunReport(args.run_dir, args.out, options);
  if (!s.ok()) return Fail(s.message());
  std::printf("report: %s\n", args.out.c_str());
  return 0;
}

}  // namespace

void WriteLiveReport(const Config& config, const std::filesystem::path& run_dir, bool finished,
                     const std::string& status, const std::vector<std::filesystem::path>& evals) {
  ReportOptions options;
  options.finished = finished;
  options.status = status;
  options.prices = config.budget.price_per_mtok;
  options.learner_prices = config.learner_price_per_mtok;
  options.judge_prices = config.judge_price_per_mtok;
  options.api_key = config.ApiKey();
  options.evals = evals;
  // A report that cannot be written costs the user a view, not the run: warn and go on.
  Status s = WriteRunReport(run_dir, run_dir / "report.html", options);
  if (!s.ok()) spdlog::warn("cannot write {}: {}", (run_dir / "report.html").string(), s.message());
}

void AddReportCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto args = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "Write a self-contained HTML report of a run (charts, library history, "
                                           "failures; eval reports compared)");
  cmd->add_option("RUN_DIR", args->run_dir, "Run directory of tfgrpo train")->required();
  cmd->add_option("--eval", args->evals,
                  "An eval report (tfgrpo eval --out); repeat: the first is the baseline the others are compared with")
      ->allow_extra_args(false);  // one file per --eval, so RUN_DIR may follow it
  cmd->add_option("-o,--out", args->out, "Where to write the HTML report")->required();
  cmd->add_option("--config", args->config,
                  "The run's YAML config: prices spend (budget., learner. and judge.price_per_mtok) and redacts its key from examples")
      ->check(CLI::ExistingFile);
  cmd->callback([args, runner] { *runner = [args] { return RunReport(*args); }; });
}

}  // namespace tfgrpo::cli
