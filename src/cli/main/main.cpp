// tfgrpo: Training-Free GRPO from the command line. See README.md for the commands.
#include "tfgrpo/version.h"
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "tfgrpo/math_verify.h"

int main(int argc, char** argv) {
  using namespace tfgrpo::cli;
  // A peer closing a socket must surface as an error on that call, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"tfgrpo: learn an experience library for a frozen LLM (Training-Free GRPO)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tfgrpo " + std::string(tfgrpo::kVersion));
  GlobalOptions global;
  app.add_flag("-q,--quiet", global.quiet, "Only warnings and errors")->configurable(false);
  app.add_flag("-v,--verbose", global.verbose, "Debug logging (retries, per-call detail)");
  app.add_option("--prompts", global.prompts_dir, "Directory of prompt templates overriding the built-in ones")
      ->check(CLI::ExistingDirectory);
  app.fallthrough();

  CommandRunner runner;
  AddTrainCommand(app, global, &runner);
  AddEvalCommand(app, global, &runner);
  AddSimCommand(app, global, &runner);
  AddDemoCommand(app, global, &runner);
  AddExperiencesCommand(app, global, &runner);
  AddServeCommand(app, global, &runner);
  AddDataCommand(app, global, &runner);
  AddRewardCommand(app, global, &runner);
  AddIndexCommand(app, global, &runner);
  AddReportCommand(app, global, &runner);
  AddAgentCommand(app, global, &runner);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  tfgrpo::InitLogging(global.verbosity());
  const int code = runner ? runner() : 0;
  if (tfgrpo::MathVerifyTimeouts() > 0) {
    // A timed-out GiNaC computation may still be running on its own thread (it cannot be
    // interrupted); exiting without static destructors keeps GiNaC from being torn down under it.
    std::cout.flush();
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}
