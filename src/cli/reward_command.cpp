// `tfgrpo reward math --jsonl FILE`: scores {"gold", "pred"} lines with the math verifier and
// writes one {"score", "gold_parsed", "pred_parsed"} line per input on stdout (see math_verify.h).
// `tfgrpo reward python|command --config C --jsonl FILE`: scores recorded replies
// {"problem", "answer", "response", "task"} with the config's python or command reward and writes
// one {"score", "reasoning"} or {"error"} line per input, in order.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "tfgrpo/json.h"
#include "tfgrpo/math_verify.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/util.h"

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

struct RewardScriptArgs {
  std::string config;
  std::string jsonl;
};

// A number as the JSONL loader shows it (LoadTasks turns numeric answers into their JSON text).
std::string TextOf(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// One input line as a task and a response, or the error line to print for it.
struct ScriptInput {
  Task task;
  std::string response;
  std::string error;
};

ScriptInput ParseScriptLine(const std::string& line, int64_t number, const Config& config) {
  ScriptInput in;
  const std::string where = "line " + std::to_string(number) + ": ";
  nlohmann::json j = ParseUntrustedJson(line);
  if (!j.is_object()) {
    in.error = where + "not a JSON object (expected {\"problem\", \"answer\", \"response\", \"task\"})";
    return in;
  }
  auto text_field = [&](const char* key, std::string* out) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return true;
    if (it->is_string() || it->is_number() || it->is_boolean()) {
      *out = TextOf(*it);
      return true;
    }
    in.error = where + "field '" + key + "' must be text";
    return false;
  };
  if (!j.contains("response")) {
    in.error = where + "missing field 'response'";
    return in;
  }
  if (!text_field("problem", &in.task.problem) || !text_field("answer", &in.task.answer) ||
      !text_field("response", &in.response)) {
    return in;
  }
  auto task = j.find("task");
  if (task != j.end() && !task->is_null() && !task->is_object()) {
    in.error = where + "field 'task' must be an object (the task's JSONL record)";
    return in;
  }
  if (task != j.end() && task->is_object()) {
    in.task.record = *task;
  } else {
    in.task.record = {{config.data.problem_key, in.task.problem}, {config.data.answer_key, in.task.answer}};
  }
  in.task.id = in.task.record.contains("id") ? TextOf(in.task.record["id"]) : "line" + std::to_string(number);
  in.task.line = static_cast<int>(number);
  return in;
}

int RunRewardScript(const GlobalOptions& global, const RewardScriptArgs& args, const std::string& kind) {
  auto config = LoadConfig(args.config);
  if (!config.ok()) return Fail(config.status().message());
  auto reward = MakeScriptReward(ScriptRewardOptionsFrom(*config, kind));
  if (!reward.ok()) return Fail(reward.status().message());
  std::ifstream file;
  std::istream* in = &std::cin;
  if (args.jsonl != "-") {
    file.open(args.jsonl);
    if (!file) return Fail(args.jsonl + ": cannot open for reading");
    in = &file;
  }
  const int threads = std::max(1, config->task.reward_workers > 0 ? config->task.reward_workers
                                                                  : static_cast<int>(std::thread::hardware_concurrency()));
  // Lines are scored a chunk at a time by all workers at once, then written in input order.
  constexpr size_t kChunk = 1024;
  int64_t lines = 0, errors = 0;
  double score_sum = 0;
  std::string line;
  bool eof = false;
  while (!eof) {
    std::vector<ScriptInput> inputs;
    while (inputs.size() < kChunk) {
      if (!std::getline(*in, line)) {
        eof = true;
        break;
      }
      ++lines;
      if (Trim(line).empty()) {
        --lines;
        continue;
      }
      inputs.push_back(ParseScriptLine(line, lines, *config));
    }
    std::vector<nlohmann::ordered_json> outputs(inputs.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next++) < inputs.size();) {
        if (!inputs[i].error.empty()) {
          outputs[i] = {{"error", inputs[i].error}};
          continue;
        }
        auto r = (*reward)->Score(inputs[i].task, inputs[i].response, "reward/" + inputs[i].task.id);
        if (r.ok()) {
          outputs[i] = {{"score", r->score}, {"reasoning", r->reasoning}};
        } else {
          outputs[i] = {{"error", r.status().message()}};
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < std::min<int>(threads, static_cast<int>(inputs.size())); ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
    for (const auto& out : outputs) {
      if (out.contains("error")) {
        ++errors;
      } else {
        score_sum += out["score"].get<double>();
      }
      std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    std::cout.flush();
  }
  if (in->bad()) return Fail(args.jsonl + ": read error after line " + std::to_string(lines));
  if (!global.quiet) {
    std::fprintf(stderr, "reward %s: %lld lines, %lld errors, mean score %.4f\n", kind.c_str(),
                 static_cast<long long>(lines), static_cast<long long>(errors),
                 lines > errors ? score_sum / static_cast<double>(lines - errors) : 0.0);
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

  for (const char* kind : {"python", "command"}) {
    auto script_args = std::make_shared<RewardScriptArgs>();
    auto* sub = reward->add_subcommand(
        kind, std::string("Try the config's ") + kind +
                  " reward on recorded replies: JSONL lines {\"problem\", \"answer\", \"response\", \"task\"} in, "
                  "one {\"score\", \"reasoning\"} or {\"error\"} line out per input, in order");
    sub->add_option("--config", script_args->config, "YAML run configuration (its task.reward_* keys)")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--jsonl", script_args->jsonl, "Input JSONL file ('-' for stdin)")->required();
    const std::string name = kind;
    sub->callback([&global, script_args, runner, name] {
      *runner = [&global, script_args, name] { return RunRewardScript(global, *script_args, name); };
    });
  }
}

}  // namespace tfgrpo::cli
