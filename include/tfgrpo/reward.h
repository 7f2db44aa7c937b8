// Rewards: turn a model's final reply into a score in [0, 1] against a task's ground truth.
// math: VerifyMath (math_verify.h), symbolic equivalence of the extracted answer; exact: normalised string equality;
// judge: an LLM call (role judge) that ends with GRADE: CORRECT or GRADE: INCORRECT;
// python: a user's function run by long-lived sandboxed Python workers; command: a user's
// long-lived program speaking one JSON line per score (script_reward.cpp).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tfgrpo/config.h"
#include "tfgrpo/data.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

struct RewardResult {
  double score = 0;
  std::string extracted;  // what was compared (the boxed answer, say)
  Usage usage;            // tokens spent deciding (judge only)
  // Why the grader decided so: a python/command reward's "reasoning", the judge's explanation
  // (its reply before the GRADE line); empty for math and exact. Given to the summary stage as
  // the grader's critique.
  std::string reasoning;
};

class RewardFn {
 public:
  virtual ~RewardFn() = default;
  // `call_id` identifies the judge call within the run (so it can be recorded and resumed).
  // A non-OK result means the reward could not be decided (judge call failed for good; a python
  // or command reward that raised, crashed, hung past its timeout or returned a bad value). Safe
  // to call from many threads at once.
  virtual Result<RewardResult> Score(const Task& task, std::string_view response,
                                     const std::string& call_id) = 0;
};

// kind: "math" | "exact" | "judge" (python and command need MakeRewardFor). `judge_client` is required
// for "judge" and ignored otherwise. `judge_prompt` is the judge template (from the prompt set) for
// "judge". `math_precision` (task.math.precision) is the significant digits a decimal answer must
// agree to under "math".
Result<std::unique_ptr<RewardFn>> MakeReward(const std::string& kind, ChatClient* judge_client,
                                             std::string judge_prompt = "", int math_precision = 6);
// The reward `kind` with the judge template taken from `prompts` (built-in or overridden).
Result<std::unique_ptr<RewardFn>> MakeReward(const std::string& kind, ChatClient* judge_client,
                                             const PromptSet& prompts, int math_precision = 6);

// A python or command reward (script_reward.cpp).
struct ScriptRewardOptions {
  std::string kind = "python";           // "python" | "command"
  std::filesystem::path file;            // python: the .py file
  std::string function = "verify";       // python: the function in it
  std::vector<std::string> command;      // command: argv
  std::filesystem::path base_dir;        // command: where a relative argv[0] resolves, and its cwd
  double timeout_s = 10;                 // wall-clock limit per score
  int workers = 0;                       // processes; 0 = std::thread::hardware_concurrency()
  std::string sandbox = "bwrap";         // tools.sandbox: "bwrap" | "none"
};
// Starts the workers and, for python, has each load the file before returning: a syntax error,
// a missing function or a signature that cannot take (problem, answer, response, task) is an
// InvalidArgument naming the file and line. A worker that crashes or hangs while scoring is killed
// and replaced; only that score fails. Score() blocks while all workers are busy (each call is
// bounded by the timeout plus, after a crash, a worker's start-up).
Result<std::unique_ptr<RewardFn>> MakeScriptReward(const ScriptRewardOptions& options);
// The options a config asks for: task.reward_file/_function/_timeout_s/_workers/_command,
// tools.sandbox, the command resolved against the config's folder.
ScriptRewardOptions ScriptRewardOptionsFrom(const Config& config, const std::string& kind);
// The reward a config asks for (task.reward): the built-ins through MakeReward, python and command
// through MakeScriptReward.
Result<std::unique_ptr<RewardFn>> MakeRewardFor(const Config& config, ChatClient* judge_client,
                                                const PromptSet& prompts);

// The final answer in a reply: the last \boxed{...} (balanced braces), else a trailing
// "Answer: ..." line, else "" (nothing to compare).
std::string ExtractFinalAnswer(std::string_view reply);
// Lower-cased, whitespace-collapsed, trimmed, trailing period removed.
std::string NormalizeExactAnswer(std::string_view answer);

}  // namespace tfgrpo
