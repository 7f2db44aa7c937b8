#include "tfgrpo/reward.h"

#include <cctype>
#include <optional>

#include "tfgrpo/math_verify.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

// Symbolic answer checking (math_verify.h): extraction from the whole reply, then equivalence.
class MathReward : public RewardFn {
 public:
  explicit MathReward(int precision) { options_.precision = precision; }

  Result<RewardResult> Score(const Task& task, std::string_view response, const std::string&) override {
    MathVerdict verdict = VerifyMath(task.answer, response, options_);
    RewardResult r;
    r.score = verdict.score;
    r.extracted = verdict.pred_parsed;
    return r;
  }

 private:
  MathVerifyOptions options_;
};

class ExactReward : public RewardFn {
 public:
  Result<RewardResult> Score(const Task& task, std::string_view response, const std::string&) override {
    RewardResult r;
    r.extracted = ExtractFinalAnswer(response);
    if (r.extracted.empty()) r.extracted = Trim(response);
    std::string predicted = NormalizeExactAnswer(r.extracted);
    r.score = !predicted.empty() && predicted == NormalizeExactAnswer(task.answer) ? 1.0 : 0.0;
    return r;
  }
};

// The verdict on a "GRADE: CORRECT" / "GRADE: INCORRECT" line, tolerating markdown emphasis,
// code ticks, letter case and a trailing period.
std::optional<bool> ParseGradeLine(std::string_view raw) {
  std::string line(raw);
  for (std::string_view noise : {"**", "__", "`"}) line = ReplaceAll(std::move(line), noise, "");
  line = ToLower(Trim(line));
  while (!line.empty() && (line.back() == '.' || line.back() == '!' || line.back() == ' ')) line.pop_back();
  size_t b = line.find_first_not_of("#>-* \t");
  if (b == std::string::npos || line.compare(b, 5, "grade") != 0) return std::nullopt;
  std::string_view rest = std::string_view(line).substr(b + 5);
  while (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  if (rest.empty() || rest[0] != ':') return std::nullopt;
  std::string verdict = Trim(rest.substr(1));
  size_t word_end = 0;
  while (word_end < verdict.size() && std::isalpha(static_cast<unsigned char>(verdict[word_end]))) ++word_end;
  // "GRADE: CORRECT (values match)" is fine; "GRADE: CORRECT or GRADE: INCORRECT" is not a verdict.
  std::string_view remark = std::string_view(verdict).substr(word_end);
  bool clean_tail = remark.empty() || ((remark[0] == ' ' || remark[0] == '(' || remark[0] == ',' ||
                                        remark[0] == '-' || remark[0] == ';') &&
                                       remark.find("grade") == std::string_view::npos);
  if (!clean_tail) return std::nullopt;
  std::string_view word = std::string_view(verdict).substr(0, word_end);
  if (word == "correct") return true;
  if (word == "incorrect") return false;
  return std::nullopt;
}

// The judge's explanation: its reply up to the last GRADE line, trimmed.
std::string JudgeExplanation(const std::vector<std::string>& lines) {
  size_t grade = lines.size();
  for (size_t i = lines.size(); i-- > 0;) {
    if (ParseGradeLine(lines[i])) {
      grade = i;
      break;
    }
  }
  std::string text;
  for (size_t i = 0; i < grade; ++i) text += lines[i] + "\n";
  return Trim(text);
}

class JudgeReward : public RewardFn {
 public:
  JudgeReward(ChatClient* client, std::string prompt) : client_(client), prompt_(std::move(prompt)) {}

  Result<RewardResult> Score(const Task& task, std::string_view response, const std::string& call_id) override {
    Result<std::string> rendered = RenderTemplate(
        prompt_, {{"problem", task.problem}, {"ground_truth", task.answer}, {"response", std::string(response)}});
    if (!rendered.ok()) return rendered.status().WithContext("judge prompt");
    ChatRequest req;
    req.role = Role::kJudge;
    req.temperature = 0;
    req.call_id = call_id;
    Message msg;
    msg.role = "user";
    msg.content = std::move(*rendered);
    req.messages.push_back(std::move(msg));
    Result<ChatResponse> reply = client_->Complete(req);
    if (!reply.ok()) return reply.status().WithContext("judge call " + call_id);

    // The template asks for the grade on the last line; a judge that adds a remark after it is
    // still read by its last GRADE line rather than failing the whole rollout.
    std::optional<bool> correct;
    std::vector<std::string> lines = SplitLines(reply->content);
    for (size_t i = lines.size(); i-- > 0 && !correct;) correct = ParseGradeLine(lines[i]);
    if (!correct) {
      std::string tail = Trim(reply->content);
      if (tail.size() > 80) tail = "..." + tail.substr(tail.size() - 80);
      return Status::InvalidArgument("judge call " + call_id + ": judge reply has no GRADE line: '" + tail + "'");
    }
    RewardResult r;
    r.score = *correct ? 1.0 : 0.0;
    r.extracted = ExtractFinalAnswer(response);
    r.usage = reply->usage;
    r.reasoning = JudgeExplanation(lines);
    return r;
  }

 private:
  ChatClient* client_;
  const std::string prompt_;
};

}  // namespace

Result<std::unique_ptr<RewardFn>> MakeReward(const std::string& kind, ChatClient* judge_client,
                                             std::string judge_prompt, int math_precision) {
  if (kind == "math") return std::unique_ptr<RewardFn>(new MathReward(math_precision));
  if (kind == "exact") return std::unique_ptr<RewardFn>(new ExactReward());
  if (kind != "judge") {
    if (kind == "python" || kind == "command") {
      return Status::InvalidArgument("reward '" + kind + "' is built from a config (MakeRewardFor)");
    }
    return Status::InvalidArgument("unknown reward '" + kind + "' (valid: math, exact, judge, python, command)");
  }
  if (judge_client == nullptr) return Status::InvalidArgument("reward 'judge' needs a judge LLM client");
  if (Trim(judge_prompt).empty()) return Status::InvalidArgument("reward 'judge' needs a judge prompt template");
  // Fail at start-up, not on the first rollout, when an override template names a variable the
  // judge does not provide.
  Result<std::string> probe = RenderTemplate(judge_prompt, {{"problem", "p"}, {"ground_truth", "g"}, {"response", "r"}});
  if (!probe.ok()) return probe.status().WithContext("judge prompt");
  return std::unique_ptr<RewardFn>(new JudgeReward(judge_client, std::move(judge_prompt)));
}

Result<std::unique_ptr<RewardFn>> MakeReward(const std::string& kind, ChatClient* judge_client,
                                             const PromptSet& prompts, int math_precision) {
  const std::string* judge = prompts.Find("judge");
  return MakeReward(kind, judge_client, judge ? *judge : "", math_precision);
}

}  // namespace tfgrpo

namespace tfgrpo {

Result<std::unique_ptr<RewardFn>> MakeRewardFor(const Config& config, ChatClient* judge_client,
                                                const PromptSet& prompts) {
  const std::string kind(Name(config.task.reward));
  if (config.task.reward == RewardKind::kPython || config.task.reward == RewardKind::kCommand)
    return MakeScriptReward(ScriptRewardOptionsFrom(config, kind));
  return MakeReward(kind, judge_client, prompts, config.task.math_precision);
}

}  // namespace tfgrpo
