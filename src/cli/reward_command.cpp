// `tfgrpo reward math --jsonl FILE`: scores {"gold", "pred"} lines with the math verifier and
// writes one {"score", "gold_parsed", "pred_parsed"} line per input on stdout (see math_verify.h).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "tfgrpo/math_verify.h"

namespace tfgrpo::cli {
namespace {

struct RewardMathArgs {
  std::string jsonl;
  double timeout_s = MathVerifyOptions().timeout_s;
  int precision = MathVerifyOptions().precision;
};

int RunRewardMath(const GlobalOptions& global, const RewardMathArgs& args) {
  MathVerifyOptions options;
  options.timeout_s = args.timeout_s;
  options.precision = args.precision;
  std::ifstream file;
  std::istream* in = &std::cin;
  if (args.jsonl != "-") {
    file.open(args.jsonl);
    if (!file) return Fail(args.jsonl + ": cannot open for reading");
    in = &file;
  }
  MathJsonlSummary summary = VerifyMathJsonl(*in, std::cout, options);
  if (in->bad()) return Fail(args.jsonl + ": read error after line " + std::to_string(summary.lines));
  if (!global.quiet) {
    std::fprintf(stderr, "reward math: %lld lines, %lld malformed, %lld timed out, mean score %.4f\n",
                 static_cast<long long>(summary.lines), static_cast<long long>(summary.errors),
                 static_cast<long long>(summary.timeouts),
                 summary.lines > summary.errors ? summary.score_sum / (summary.lines - summary.errors) : 0.0);
  }
  return 0;
}

}  // namespace

void AddRewardCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto* reward = app.add_subcommand("reward", "Score answers with a reward function, outside a run");
  reward->require_subcommand(1);
  auto args = std::make_shared<RewardMathArgs>();
  auto* math = reward->add_subcommand(
      "math", "Check math answers: JSONL lines {\"gold\", \"pred\"} in, {\"score\", \"gold_parsed\", "
              "\"pred_parsed\"} lines out (pred may be a whole model reply)");
  math->add_option("--jsonl", args->jsonl, "Input JSONL file ('-' for stdin)")->required();
  math->add_option("--timeout-s", args->timeout_s, "Time limit per comparison in seconds (then score 0)")
      ->check(CLI::PositiveNumber);
  math->add_option("--precision", args->precision,
                   "Significant digits a decimal answer must agree to (task.math.precision; default 6)")
      ->check(CLI::Range(1, 15));
  math->callback([&global, args, runner] { *runner = [&global, args] { return RunRewardMath(global, *args); }; });
}

}  // namespace tfgrpo::cli
