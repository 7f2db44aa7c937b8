// The answer-leakage guard: a lesson must be general, so an ADD or UPDATE whose text contains a
// task's ground-truth answer or copies a run of its problem statement is refused before it
// reaches the library. Built once per run from every training and validation task; immutable
// afterwards, so Find may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tfgrpo {

struct LeakSource {
  std::string task_id;
  std::string problem;
  std::string answer;
};

struct LeakMatch {
  enum class Kind { kAnswer, kProblemText };
  Kind kind = Kind::kAnswer;
  std::string task_id;
  std::string matched;  // the answer form or the copied words, as they appear after normalising
  size_t copied_words = 0;  // kProblemText: how many
  // "contains the answer of task t3 ('\frac{7}{9}')" or "copies 8 words of task t3's problem ('...')"
  std::string Describe() const;
};

class LeakGuard {
 public:
  // Answers shorter than this many characters (after normalising) are too common to be a leak.
  static constexpr size_t kMinAnswerChars = 4;
  // This many consecutive words of a problem statement make a copy; a problem shorter than that
  // (a web question of six words) is copied when all of it is, from kMinWholeProblemWords up.
  static constexpr size_t kProblemRunWords = 8;
  static constexpr size_t kMinWholeProblemWords = 5;

  LeakGuard() = default;
  explicit LeakGuard(const std::vector<LeakSource>& tasks);

  // The first leak in `text`, if any. Answers are matched case-insensitively with whitespace
  // runs folded, as whole tokens (answer "1234" is not found in "12345"); a fraction answer is
  // also looked for in its other form (a/b and \frac{a}{b}, \dfrac, \tfrac). Problem runs
  // compare lower-cased words with surrounding punctuation stripped.
  std::optional<LeakMatch> Find(std::string_view text) const;

  size_t answer_forms() const { return answers_.size(); }

 private:
  struct AnswerForm {
    std::string text;  // normalised
    size_t task = 0;
  };
  std::vector<std::string> task_ids_;
  std::vector<AnswerForm> answers_;
  // Hash of an 8-word run (or of a whole shorter problem) -> task index (the first task having it).
  std::unordered_map<uint64_t, size_t> runs_;
  std::vector<size_t> run_lengths_;  // the run lengths in runs_: 8, and the short problems' lengths
};

}  // namespace tfgrpo
