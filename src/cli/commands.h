// The `tfgrpo` command line: each subcommand registers itself on the CLI11 app and runs when
// selected. Private to the cli module.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tfgrpo/config.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/progress.h"

namespace tfgrpo::cli {

struct GlobalOptions {
  bool quiet = false;
  bool verbose = false;
  std::string prompts_dir;  // --prompts DIR ("" = built-in templates)
  std::optional<std::filesystem::path> prompts() const {
    if (prompts_dir.empty()) return std::nullopt;
    return std::filesystem::path(prompts_dir);
  }
  Verbosity verbosity() const {
    return quiet ? Verbosity::kQuiet : verbose ? Verbosity::kVerbose : Verbosity::kNormal;
  }
};

// A subcommand's body: returns the process exit code. Fatal errors print one line
// "error: <what and where>" on stderr and return non-zero.
using CommandRunner = std::function<int()>;

// Each Add* registers a subcommand and sets `*runner` when it is selected on the command line.
void AddTrainCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);
void AddEvalCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);
void AddSimCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);
void AddDemoCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);
void AddExperiencesCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);
void AddServeCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);
void AddRewardCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);  // reward_command.cpp
void AddDataCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);    // data_command.cpp
void AddIndexCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);   // index_command.cpp
void AddReportCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);  // report_command.cpp
void AddAgentCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner);   // agent_command.cpp: agent try

// Rewrites RUN_DIR/report.html (report.h) for `train` and `demo`: with a meta refresh while
// `finished` is false; a failure to write is a warning, never the run's failure.
void WriteLiveReport(const Config& config, const std::filesystem::path& run_dir, bool finished,
                     const std::string& status, const std::vector<std::filesystem::path>& evals = {});

// Prints "error: <message>" to stderr and returns the exit code for that failure.
int Fail(const std::string& message);
// Exit status of a run stopped by its budget (budget.max_usd, budget.max_tokens).
inline constexpr int kExitBudget = 3;
// "error: <message>"; returns kExitBudget for kBudgetExhausted, else 1.
int Fail(const Status& status);

// The HTTP client settings a config asks for, with the key read from its environment variable.
HttpClientOptions ClientOptionsFrom(const Config& config);

// Server commands call BlockTerminationSignals() before starting any thread (so every thread
// inherits the mask), then WaitForTerminationSignal(), which returns on SIGINT or SIGTERM and
// calls `on_hup` (when set) for each SIGHUP.
void BlockTerminationSignals();
void WaitForTerminationSignal(const std::function<void()>& on_hup = nullptr);

}  // namespace tfgrpo::cli
