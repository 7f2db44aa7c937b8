// Task variants for the python-reward examples: the same six pitfalls as the math family, asked
// as a code-generation task (examples/code: the reply is a function, scored by running tests)
// and as a labelling task (examples/classify: name the error in a student's answer). A rollout
// avoids the pitfall with the usual probabilities, so a lesson naming it helps here too.
#include <regex>

#include "sim/sim_internal.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo::sim_internal {
namespace {

struct CodePattern {
  int pitfall;
  std::regex re;
  // The function's body for the right method and for the pitfall, from the parameter names.
  std::string (*right)(const std::smatch&);
  std::string (*wrong)(const std::smatch&);
  const char* right_note;
  const char* wrong_note;
};

const std::vector<CodePattern>& CodePatterns() {
  static const std::vector<CodePattern> patterns = [] {
    auto flags = std::regex::ECMAScript | std::regex::icase;
    const std::string head = R"(Write a Python function `(\w+)\((\w+), (\w+)(?:, (\w+))?\)` that )";
    return std::vector<CodePattern>{
        {0, std::regex(head + R"(returns how many \w+ (?:are|were) numbered from \2 to \3, inclusive)", flags),
         [](const std::smatch& m) { return "return " + m[3].str() + " - " + m[2].str() + " + 1"; },
         [](const std::smatch& m) { return "return " + m[3].str() + " - " + m[2].str(); },
         "Both endpoints count in an inclusive range, so the count is last - first + 1.",
         "The count is the difference of the endpoints; I did not add 1 for the inclusive range."},
        {1, std::regex(head + R"(returns the price after \2 rises by \3 percent and then falls by \4 percent)", flags),
         [](const std::smatch& m) {
           return "return " + m[2].str() + " * (1 + " + m[3].str() + " / 100) * (1 - " + m[4].str() + " / 100)";
         },
         [](const std::smatch& m) {
           return "return " + m[2].str() + " * (1 + (" + m[3].str() + " - " + m[4].str() + ") / 100)";
         },
         "Successive percentage changes multiply: apply the rise, then the fall to the new price.",
         "I treated the successive percentage changes as adding up to one net change."},
        {3, std::regex(head + R"(converts a duration of \2 hours and \3 minutes into minutes)", flags),
         [](const std::smatch& m) { return "return " + m[2].str() + " * 60 + " + m[3].str(); },
         [](const std::smatch& m) { return "return " + m[2].str() + " * 100 + " + m[3].str(); },
         "There are 60 minutes per hour.",
         "I converted the hours with 100 minutes per hour."},
        {4, std::regex(head + R"(returns the average speed, in km/h, of a round trip that goes at \2 km/h and comes back along the same road at \3 km/h)", flags),
         [](const std::smatch& m) {
           return "return 2 * " + m[2].str() + " * " + m[3].str() + " / (" + m[2].str() + " + " + m[3].str() + ")";
         },
         [](const std::smatch& m) { return "return (" + m[2].str() + " + " + m[3].str() + ") / 2"; },
         "Both legs cover the same distance, so the average speed is the harmonic mean of the speeds.",
         "I took the arithmetic mean of the two speeds instead of the harmonic mean."},
        {5, std::regex(head + R"(returns the remainder of \2 divided by \3 as a whole number from 0 to \3 - 1, also when \2 is negative)", flags),
         [](const std::smatch& m) { return "return " + m[2].str() + " % " + m[3].str(); },
         [](const std::smatch& m) { return "return int(math.fmod(" + m[2].str() + ", " + m[3].str() + "))"; },
         "Python's % already gives a non-negative remainder for a positive divisor.",
         "I used math.fmod, which keeps the sign of a negative value, and did not convert the result to a "
         "non-negative remainder."},
    };
  }();
  return patterns;
}

std::string CodeReply(const std::smatch& m, const std::string& body, const char* note) {
  std::string params = m[2].str() + ", " + m[3].str() + (m[4].matched ? ", " + m[4].str() : "");
  std::string imports = body.find("math.") != std::string::npos ? "import math\n\n" : "";
  return std::string(note) + "\n\n```python\n" + imports + "def " + m[1].str() + "(" + params + "):\n    " + body +
         "\n```";
}

// The label for a student's answer that fell into each pitfall.
const char* const kErrorLabels[] = {"off-by-one", "method-error", "sign-error",
                                    "unit-error", "method-error", "sign-error"};

std::optional<SolvedProblem> FindCodeProblem(const std::string& s) {
  for (const auto& pattern : CodePatterns()) {
    std::smatch m;
    if (!std::regex_search(s, m, pattern.re)) continue;
    if (pattern.pitfall == 1 && !m[4].matched) continue;
    SolvedProblem solved;
    solved.pitfall = pattern.pitfall;
    solved.in_family = true;
    solved.correct = pattern.right(m);
    solved.wrong = pattern.wrong(m);
    solved.success_text = CodeReply(m, solved.correct, pattern.right_note);
    solved.failure_text = CodeReply(m, solved.wrong, pattern.wrong_note);
    solved.success_code = solved.failure_code = "print('write the function in the reply')";
    return solved;
  }
  return std::nullopt;
}

std::optional<SolvedProblem> FindLabellingProblem(const std::string& s) {
  static const std::regex student_re(R"(The student's answer: (-?\d+(?:\.\d+)?))", std::regex::icase);
  std::smatch m;
  if (!std::regex_search(s, m, student_re)) return std::nullopt;
  std::optional<SolvedProblem> math = FindMathFamilyProblem(s);
  if (!math) return std::nullopt;
  const std::string student = m[1].str();
  const std::string& keyword = SimPitfalls()[math->pitfall].keyword;
  const std::string error_label = kErrorLabels[math->pitfall];
  const bool student_right = AnswersMatch(student, math->correct);
  SolvedProblem solved = *math;
  solved.correct = student_right ? "correct" : error_label;
  solved.wrong = student_right ? error_label : "correct";
  solved.success_text = "I worked the problem again, minding the " + keyword + ": the right answer is " +
                        math->correct + " and the student gave " + student + ", so " +
                        (student_right ? std::string("the answer stands") : "the slip is a " + error_label) +
                        ".\n\nLabel: " + solved.correct;
  solved.failure_text =
      student_right
          ? "The student's " + student + " looked as if the " + keyword +
                " had been mishandled, so I flagged it without working the problem again.\n\nLabel: " + error_label
          : "The student's working looked plausible and I did not re-check the " + keyword + ", so I accepted " +
                student + ".\n\nLabel: correct";
  return solved;
}

}  // namespace

std::optional<SolvedProblem> FindVariantProblem(std::string_view text) {
  std::string s(text);
  if (s.find("Write a Python function `") != std::string::npos) {
    if (auto code = FindCodeProblem(s)) return code;
  }
  if (ContainsCaseInsensitive(s, "The student's answer:")) return FindLabellingProblem(s);
  return std::nullopt;
}

}  // namespace tfgrpo::sim_internal
