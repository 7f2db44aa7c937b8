// Rewards: turn a model's final reply into a score in [0, 1] against a task's ground truth.
// math: VerifyMath (math_verify.h), symbolic equivalence of the extracted answer; exact: normalised string equality;
// judge: an LLM call (role judge) that ends with GRADE: CORRECT or GRADE: INCORRECT.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tfgrpo/data.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

struct RewardResult {
  double score = 0;
  std::string extracted;  // what was compared (the boxed answer, say)
  Usage usage;            // tokens spent deciding (judge only)
};

class RewardFn {
 public:
  virtual ~RewardFn() = default;
  // `call_id` identifies the judge call within the run (so it can be recorded and resumed).
  // A non-OK result means the reward could not be decided (judge call failed for good).
  virtual Result<RewardResult> Score(const Task& task, std::string_view response,
                                     const std::string& call_id) = 0;
};

// kind: "math" | "exact" | "judge". `judge_client` is required for "judge" and ignored otherwise.
// `judge_prompt` is the judge template (from the prompt set) for "judge". `math_precision`
// (task.math.precision) is the significant digits a decimal answer must agree to under "math".
Result<std::unique_ptr<RewardFn>> MakeReward(const std::string& kind, ChatClient* judge_client,
                                             std::string judge_prompt = "", int math_precision = 6);
// The reward `kind` with the judge template taken from `prompts` (built-in or overridden).
Result<std::unique_ptr<RewardFn>> MakeReward(const std::string& kind, ChatClient* judge_client,
                                             const PromptSet& prompts, int math_precision = 6);

// The final answer in a reply: the last \boxed{...} (balanced braces), else a trailing
// "Answer: ..." line, else "" (nothing to compare).
std::string ExtractFinalAnswer(std::string_view reply);
// Lower-cased, whitespace-collapsed, trimmed, trailing period removed.
std::string NormalizeExactAnswer(std::string_view answer);

}  // namespace tfgrpo
