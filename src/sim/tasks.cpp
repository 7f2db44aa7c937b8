// The simulated task family: six problem templates, each hiding one pitfall, with generation
// from a seed and a solver that reads the numbers back out of the problem text.
#include <cmath>
#include <cstdio>
#include <functional>
#include <regex>
#include <set>

#include "sim/sim_internal.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

namespace {

enum PitfallIndex {
  kInclusiveRange = 0,
  kPercentChange,
  kNegativeSubtraction,
  kHoursToMinutes,
  kAverageSpeed,
  kNegativeRemainder,
  kPitfallCount
};

// Per pitfall: what the summary says went wrong (always naming the keyword).
const char* const kMistakes[kPitfallCount] = {
    "it subtracted the endpoints but forgot to add 1 for the inclusive range",
    "it added the successive percentage changes instead of multiplying them, as if they cancel",
    "it dropped the minus sign when subtracting a negative",
    "it converted with 100 instead of 60 minutes per hour",
    "it took the arithmetic mean of the speeds instead of the harmonic mean",
    "it left the result negative instead of giving a non-negative remainder",
};

int64_t Draw(uint64_t& state, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(SplitMix64(state) % static_cast<uint64_t>(hi - lo + 1));
}

std::string N(int64_t v) { return std::to_string(v); }

std::string Boxed(const std::string& answer) { return "\\boxed{" + answer + "}"; }

int64_t ToInt(const std::string& s) { return std::stoll(s); }

// Regexes are built once; std::regex is safe to share for matching.
struct FamilyPattern {
  int pitfall;
  std::regex re;
};
const std::vector<FamilyPattern>& Patterns() {
  static const std::vector<FamilyPattern> patterns = [] {
    auto flags = std::regex::ECMAScript | std::regex::icase;
    return std::vector<FamilyPattern>{
        {kInclusiveRange,
         std::regex(R"(from (?:[a-z]+ )?(\d+) to (?:[a-z]+ )?(\d+), inclusive)", flags)},
        {kPercentChange,
         std::regex(R"(\$(\d+)[^\n]*?rises by (\d+)%[^\n]*?falls by (\d+)%)", flags)},
        {kNegativeSubtraction, std::regex(R"((-?\d+) - \(-(\d+)\) - (\d+))", flags)},
        {kHoursToMinutes,
         std::regex(R"((\d+) hours and (\d+) minutes[^\n]*?in (\d+) days)", flags)},
        {kAverageSpeed, std::regex(R"(at (\d+) km/h[^\n]*?at (\d+) km/h)", flags)},
        {kNegativeRemainder, std::regex(R"(remainder when -(\d+) is divided by (\d+))", flags)},
    };
  }();
  return patterns;
}

// Numbers in problems are small (generation keeps them so); a user's edited problem with huge
// numbers falls back to the unknown-problem path instead of overflowing.
bool Fits(const std::smatch& m) {
  for (size_t i = 1; i < m.size(); ++i) {
    if (m[i].length() > 9) return false;
  }
  return true;
}

sim_internal::SolvedProblem Solve(int pitfall, const std::smatch& m) {
  sim_internal::SolvedProblem s;
  s.pitfall = pitfall;
  s.in_family = true;
  switch (pitfall) {
    case kInclusiveRange: {
      int64_t a = ToInt(m[1]), b = ToInt(m[2]);
      if (a > b) std::swap(a, b);
      int64_t d = b - a;
      s.correct = N(d + 1);
      s.wrong = N(d);
      s.success_text = "We need the number of integers in the inclusive range from " + N(a) +
                       " to " + N(b) + ".\nBoth endpoints count, so the total is " + N(b) + " - " +
                       N(a) + " + 1.\n" + N(b) + " - " + N(a) + " = " + N(d) +
                       ", and adding 1 gives " + N(d + 1) + ".\n\nThe answer is " +
                       Boxed(s.correct) + ".";
      s.failure_text = "We need the number of integers from " + N(a) + " to " + N(b) +
                       ".\nThe count is the difference of the endpoints: " + N(b) + " - " + N(a) +
                       " = " + N(d) +
                       ".\nI did not add 1 for the inclusive range, since the "
                       "difference already seemed to be the count.\n\nThe answer is " +
                       Boxed(s.wrong) + ".";
      s.success_code = "first, last = " + N(a) + ", " + N(b) + "\nprint(last - first + 1)";
      s.failure_code = "first, last = " + N(a) + ", " + N(b) + "\nprint(last - first)";
      break;
    }
    case kPercentChange: {
      int64_t p = ToInt(m[1]), x = ToInt(m[2]), y = ToInt(m[3]);
      double after_rise = static_cast<double>(p) * (100 + x) / 100.0;
      double final_value = static_cast<double>(p) * (100 + x) * (100 - y) / 10000.0;
      double additive = static_cast<double>(p) * (100 + x - y) / 100.0;
      s.correct = sim_internal::FormatNumber(final_value);
      s.wrong = sim_internal::FormatNumber(additive);
      s.success_text = "Start from $" + N(p) + ". A rise of " + N(x) +
                       "% multiplies the value by " +
                       sim_internal::FormatNumber((100 + x) / 100.0) + ", giving " +
                       sim_internal::FormatNumber(after_rise) + ".\nA fall of " + N(y) +
                       "% then multiplies by " + sim_internal::FormatNumber((100 - y) / 100.0) +
                       ", giving " + s.correct +
                       ".\nSuccessive percentage changes multiply, so they do not cancel.\n\n"
                       "The answer is " +
                       Boxed(s.correct) + ".";
      s.failure_text = "The value rises by " + N(x) + "% and then falls by " + N(y) +
                       "%.\nI treated the successive percentage changes as simply adding up, so "
                       "the net change is " +
                       N(x - y) + "% and the value is " + s.wrong + ".\n\nThe answer is " +
                       Boxed(s.wrong) + ".";
      s.success_code = "value = " + N(p) + "\nvalue *= 1 + " + N(x) + " / 100\nvalue *= 1 - " +
                       N(y) + " / 100\nprint(round(value, 6))";
      s.failure_code = "net_change = " + N(x) + " - " + N(y) + "\nprint(round(" + N(p) +
                       " * (1 + net_change / 100), 6))";
      break;
    }
    case kNegativeSubtraction: {
      int64_t a = ToInt(m[1]), b = ToInt(m[2]), c = ToInt(m[3]);
      s.correct = N(a + b - c);
      s.wrong = N(a - b - c);
      s.success_text =
          "Subtracting a negative number is the same as adding its absolute value: " + N(a) +
          " - (-" + N(b) + ") = " + N(a) + " + " + N(b) + " = " + N(a + b) + ".\nThen " + N(a + b) +
          " - " + N(c) + " = " + s.correct + ".\n\nThe answer is " + Boxed(s.correct) + ".";
      s.failure_text = "I dropped the minus sign when subtracting a negative and read " + N(a) +
                       " - (-" + N(b) + ") as " + N(a) + " - " + N(b) + " = " + N(a - b) +
                       ".\nThen " + N(a - b) + " - " + N(c) + " = " + s.wrong +
                       ".\n\nThe answer is " + Boxed(s.wrong) + ".";
      s.success_code = "print(" + N(a) + " - (-" + N(b) + ") - " + N(c) + ")";
      s.failure_code = "print(" + N(a) + " - " + N(b) + " - " + N(c) + ")";
      break;
    }
    case kHoursToMinutes: {
      int64_t h = ToInt(m[1]), mins = ToInt(m[2]), d = ToInt(m[3]);
      int64_t per_day = 60 * h + mins, wrong_per_day = 100 * h + mins;
      s.correct = N(per_day * d);
      s.wrong = N(wrong_per_day * d);
      s.success_text = "There are 60 minutes per hour, so " + N(h) + " hours is " + N(60 * h) +
                       " minutes; adding " + N(mins) + " gives " + N(per_day) +
                       " minutes per day.\nOver " + N(d) + " days: " + N(per_day) + " x " + N(d) +
                       " = " + s.correct + ".\n\nThe answer is " + Boxed(s.correct) + ".";
      s.failure_text = "I converted the hours using 100 minutes per hour: " + N(h) + " x 100 + " +
                       N(mins) + " = " + N(wrong_per_day) + " minutes per day.\nOver " + N(d) +
                       " days: " + N(wrong_per_day) + " x " + N(d) + " = " + s.wrong +
                       ".\n\nThe answer is " + Boxed(s.wrong) + ".";
      s.success_code =
          "per_day = " + N(h) + " * 60 + " + N(mins) + "\nprint(per_day * " + N(d) + ")";
      s.failure_code =
          "per_day = " + N(h) + " * 100 + " + N(mins) + "\nprint(per_day * " + N(d) + ")";
      break;
    }
    case kAverageSpeed: {
      int64_t a = ToInt(m[1]), b = ToInt(m[2]);
      if (a + b == 0) return sim_internal::SolvedProblem{};  // not solvable: caller falls back
      double harmonic = 2.0 * a * b / static_cast<double>(a + b);
      double arithmetic = (a + b) / 2.0;
      s.correct = sim_internal::FormatNumber(harmonic);
      s.wrong = sim_internal::FormatNumber(arithmetic);
      s.success_text =
          "Both legs cover the same distance, so the average speed is the harmonic "
          "mean of the two speeds (total distance over total time).\n2 x " +
          N(a) + " x " + N(b) + " / (" + N(a) + " + " + N(b) + ") = " + N(2 * a * b) + " / " +
          N(a + b) + " = " + s.correct + ".\n\nThe answer is " + Boxed(s.correct) + ".";
      s.failure_text =
          "I took the arithmetic mean of the two speeds instead of the harmonic mean: (" + N(a) +
          " + " + N(b) + ") / 2 = " + s.wrong + ".\n\nThe answer is " + Boxed(s.wrong) + ".";
      s.success_code = "a, b = " + N(a) + ", " + N(b) + "\nprint(2 * a * b / (a + b))";
      s.failure_code = "a, b = " + N(a) + ", " + N(b) + "\nprint((a + b) / 2)";
      break;
    }
    case kNegativeRemainder: {
      int64_t a = ToInt(m[1]), n = ToInt(m[2]);
      if (n == 0) return sim_internal::SolvedProblem{};
      int64_t r = a % n;
      int64_t right = (n - r) % n;
      s.correct = N(right);
      s.wrong = N(-r);
      if (r == 0) s.wrong = N(n);  // no negative remainder to keep; the slip is an off-by-n
      s.success_text = N(a) + " = " + N(a / n) + " x " + N(n) + " + " + N(r) + ", so -" + N(a) +
                       " = " + N(-(a / n) - (r ? 1 : 0)) + " x " + N(n) + " + " + N(right) +
                       ".\nA remainder must be a non-negative remainder below " + N(n) +
                       ", so it is " + N(right) + ".\n\nThe answer is " + Boxed(s.correct) + ".";
      s.failure_text = N(a) + " divided by " + N(n) + " leaves " + N(r) + ", so -" + N(a) +
                       " leaves " + s.wrong +
                       ".\nI kept that value rather than converting it to a "
                       "non-negative remainder.\n\nThe answer is " +
                       Boxed(s.wrong) + ".";
      s.success_code = "print(-" + N(a) + " % " + N(n) + ")";
      s.failure_code = "print(-(" + N(a) + " % " + N(n) + "))";
      break;
    }
    default:
      break;
  }
  return s;
}

// One generated problem of the given pitfall, numbers drawn from `state`.
std::string MakeProblem(int pitfall, uint64_t& state) {
  switch (pitfall) {
    case kInclusiveRange: {
      int64_t a = Draw(state, 20, 400), b = a + Draw(state, 15, 600);
      switch (Draw(state, 0, 2)) {
        case 0:
          return "A theatre sold every seat numbered from " + N(a) + " to " + N(b) +
                 ", inclusive. How many seats did it sell?";
        case 1:
          return "Maya read every page from page " + N(a) + " to page " + N(b) +
                 ", inclusive. How many pages did she read?";
        default:
          return "A raffle used every ticket number from " + N(a) + " to " + N(b) +
                 ", inclusive. How many tickets were used?";
      }
    }
    case kPercentChange: {
      int64_t p = 100 * Draw(state, 2, 60), x = 10 * Draw(state, 1, 5);
      if (Draw(state, 0, 1) == 0) {
        return "A jacket costs $" + N(p) + ". Its price rises by " + N(x) + "% and then falls by " +
               N(x) + "%. What is the final price in dollars?";
      }
      return "A share is worth $" + N(p) + ". Its value rises by " + N(x) +
             "% on Monday and falls by " + N(x) +
             "% on Tuesday. What is it worth, in dollars, "
             "after Tuesday?";
    }
    case kNegativeSubtraction: {
      int64_t a = Draw(state, -40, 60), b = Draw(state, 5, 80), c = Draw(state, 1, 50);
      if (Draw(state, 0, 1) == 0) {
        return "What is the value of " + N(a) + " - (-" + N(b) + ") - " + N(c) + "?";
      }
      return "A thermometer reading is worked out as " + N(a) + " - (-" + N(b) + ") - " + N(c) +
             " degrees. What is the reading?";
    }
    case kHoursToMinutes: {
      int64_t h = Draw(state, 1, 9), m = Draw(state, 5, 55), d = Draw(state, 2, 30);
      if (Draw(state, 0, 1) == 0) {
        return "A pump runs for " + N(h) + " hours and " + N(m) +
               " minutes every day. How many minutes does it run in " + N(d) + " days?";
      }
      return "A lighthouse lamp stays on for " + N(h) + " hours and " + N(m) +
             " minutes each night. How many minutes is it on in " + N(d) + " days?";
    }
    case kAverageSpeed: {
      // Speeds t*m*(m+n) and t*n*(m+n) have the whole-number harmonic mean 2*t*m*n.
      static const int kRatios[][2] = {{1, 2}, {1, 3}, {2, 3}, {3, 4},
                                       {1, 4}, {3, 5}, {2, 5}, {4, 5}};
      const auto& r = kRatios[Draw(state, 0, 7)];
      int64_t m = r[0], n = r[1];
      int64_t max_t = std::max<int64_t>(1, 120 / (n * (m + n)));
      int64_t t = Draw(state, 1, max_t);
      int64_t a = t * m * (m + n), b = t * n * (m + n);
      if (Draw(state, 0, 1) == 0) std::swap(a, b);
      int64_t dist = Draw(state, 5, 60);
      if (Draw(state, 0, 1) == 0) {
        return "A cyclist rides " + N(dist) + " km to a village at " + N(a) +
               " km/h and returns along the same road at " + N(b) +
               " km/h. What is her average speed for the whole trip, in km/h?";
      }
      return "A delivery van drives " + N(dist) + " km to a depot at " + N(a) +
             " km/h and comes back the same way at " + N(b) +
             " km/h. What is its average speed over the round trip, in km/h?";
    }
    case kNegativeRemainder: {
      int64_t n = Draw(state, 3, 12), a = Draw(state, n + 1, 200);
      if (a % n == 0) ++a;
      return "What is the remainder when -" + N(a) + " is divided by " + N(n) +
             "? Give the remainder as a whole number from 0 to " + N(n - 1) + ".";
    }
    default:
      return "";
  }
}

// The last integer or decimal (with optional minus sign) in `text`; "0" when there is none.
std::string LastNumber(std::string_view text) {
  static const std::regex number_re(R"(-?\d+(?:\.\d+)?)");
  std::string s(text);
  std::string last = "0";
  for (auto it = std::sregex_iterator(s.begin(), s.end(), number_re); it != std::sregex_iterator();
       ++it) {
    last = it->str();
  }
  return last;
}

}  // namespace

const std::vector<SimPitfall>& SimPitfalls() {
  static const std::vector<SimPitfall> pitfalls = {
      {"inclusive-range", "inclusive range",
       "When counting the integers in an inclusive range, subtract the endpoints and then add 1 "
       "so that both ends are counted."},
      {"percent-change", "successive percentage changes",
       "Successive percentage changes multiply rather than add or cancel: apply each change to "
       "the running value in turn."},
      {"negative-subtraction", "subtracting a negative",
       "Subtracting a negative number means adding its absolute value; never drop the minus sign "
       "inside the parentheses."},
      {"hours-to-minutes", "minutes per hour",
       "When converting hours to minutes, multiply by 60 minutes per hour, never by 100."},
      {"average-speed", "harmonic mean",
       "For the average speed over two legs of equal distance, use the harmonic mean of the speeds "
       "(total distance divided by total time), not the arithmetic mean."},
      {"negative-remainder", "non-negative remainder",
       "The remainder of a negative number must be a non-negative remainder smaller than the "
       "divisor; add the divisor to a negative result."},
  };
  return pitfalls;
}

std::vector<nlohmann::json> GenerateSimTasks(int n, uint64_t seed) {
  std::vector<nlohmann::json> tasks;
  if (n <= 0) return tasks;
  uint64_t state = seed ^ Fnv1a64("tfgrpo-sim-tasks");
  std::set<std::string> seen;
  std::vector<size_t> block_order;
  for (int i = 0; i < n; ++i) {
    // Each block of six tasks holds every pitfall once, in a seeded order.
    if (i % kPitfallCount == 0) {
      block_order = ShuffledIndices(kPitfallCount, seed * 0x9e3779b97f4a7c15ULL + i);
    }
    int pitfall = static_cast<int>(block_order[i % kPitfallCount]);
    std::string problem;
    for (int attempt = 0; attempt < 100; ++attempt) {
      problem = MakeProblem(pitfall, state);
      if (seen.insert(problem).second) break;
    }
    sim_internal::SolvedProblem solved = sim_internal::SolveProblem(problem);
    tasks.push_back({{"id", "sim-" + std::to_string(i)},
                     {"problem", problem},
                     {"groundtruth", solved.correct},
                     {"pitfall", SimPitfalls()[pitfall].name}});
  }
  return tasks;
}

namespace sim_internal {

const char* const kGenericLesson =
    "Before giving the final answer, re-read the question and check that the result answers "
    "exactly what was asked.";

const SimPitfall& LessonPitfall(int index) {
  if (index < kPitfallCount) return SimPitfalls()[index];
  const int web = static_cast<int>(SimWebPitfalls().size());
  if (index < kPitfallCount + web) return SimWebPitfalls()[index - kPitfallCount];
  return SimTopicPitfalls()[index - kPitfallCount - web];
}

int LessonPitfallCount() {
  return kPitfallCount + static_cast<int>(SimWebPitfalls().size()) + static_cast<int>(SimTopicPitfalls().size());
}

std::string MistakePhrase(int pitfall) {
  if (IsTopicLesson(pitfall)) return TopicMistakePhrase(pitfall);
  if (pitfall >= kPitfallCount) return WebMistakePhrase(pitfall - kPitfallCount);
  if (pitfall < 0) return "it made an unidentified mistake";
  return kMistakes[pitfall];
}

std::optional<SolvedProblem> FindFamilyProblem(std::string_view text) {
  // A code or labelling task wraps one of the six pitfalls (variants.cpp); it is recognised first,
  // since a labelling task quotes a math problem of the family.
  if (auto variant = FindVariantProblem(text)) return variant;
  if (auto topic = FindTopicProblem(text)) return topic;
  return FindMathFamilyProblem(text);
}

std::optional<SolvedProblem> FindMathFamilyProblem(std::string_view text) {
  std::string s(text);
  std::optional<SolvedProblem> best;
  std::ptrdiff_t best_pos = -1;
  for (const auto& pattern : Patterns()) {
    std::smatch m;
    if (!std::regex_search(s, m, pattern.re) || !Fits(m)) continue;
    if (best && m.position(0) >= best_pos) continue;
    SolvedProblem solved = Solve(pattern.pitfall, m);
    if (!solved.in_family) continue;
    solved.matched_text = m[0].str();
    best = std::move(solved);
    best_pos = m.position(0);
  }
  return best;
}

SolvedProblem SolveProblem(std::string_view problem) {
  if (auto found = FindFamilyProblem(problem)) return *found;
  SolvedProblem s;
  s.in_family = false;
  s.pitfall = static_cast<int>(Fnv1a64(problem) % kPitfallCount);
  const std::string& keyword = SimPitfalls()[s.pitfall].keyword;
  s.correct = LastNumber(problem);
  double value = std::strtod(s.correct.c_str(), nullptr);
  s.wrong = FormatNumber(value + 1);
  s.success_text = "I read the problem carefully and kept the " + keyword +
                   " in mind while working it out.\nChecking the result against the question "
                   "confirms it.\n\nThe answer is " +
                   Boxed(s.correct) + ".";
  s.failure_text = "I worked quickly and skipped the usual care about the " + keyword +
                   ", answering directly.\n\nThe answer is " + Boxed(s.wrong) + ".";
  s.success_code = "print(" + s.correct + ")";
  s.failure_code = "print(" + s.correct + " + 1)";
  return s;
}

std::string FormatNumber(double value) {
  if (!std::isfinite(value)) return "0";
  double rounded = std::round(value);
  if (std::fabs(value - rounded) < 1e-9 && std::fabs(rounded) < 9e15) {
    return std::to_string(static_cast<int64_t>(rounded));
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", value);
  std::string out = buf;
  while (!out.empty() && out.back() == '0') out.pop_back();
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::string LastBoxed(std::string_view text) {
  static constexpr std::string_view kTag = "\\boxed{";
  size_t pos = text.rfind(kTag);
  while (pos != std::string_view::npos) {
    size_t start = pos + kTag.size();
    int depth = 1;
    for (size_t i = start; i < text.size(); ++i) {
      if (text[i] == '{') ++depth;
      if (text[i] == '}' && --depth == 0) {
        std::string inside = Trim(text.substr(start, i - start));
        if (!inside.empty()) return inside;
        break;  // an empty box ("put it in \boxed{}") is not an answer
      }
    }
    // Unbalanced (truncated) or empty box: try the one before it.
    if (pos == 0) break;
    pos = text.rfind(kTag, pos - 1);
  }
  return "";
}

namespace {
std::string CanonicalAnswer(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ',' || c == '$' || std::isspace(static_cast<unsigned char>(c))) continue;
    out += c;
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return ToLower(out);
}
}  // namespace

bool AnswersMatch(std::string_view a, std::string_view b) {
  std::string ca = CanonicalAnswer(a), cb = CanonicalAnswer(b);
  if (ca.empty() || cb.empty()) return false;
  if (ca == cb) return true;
  char* end_a = nullptr;
  char* end_b = nullptr;
  double va = std::strtod(ca.c_str(), &end_a);
  double vb = std::strtod(cb.c_str(), &end_b);
  if (*end_a != '\0' || *end_b != '\0') return false;
  return std::fabs(va - vb) <= 1e-9 * std::max(1.0, std::max(std::fabs(va), std::fabs(vb)));
}

int FindKeyword(std::string_view text) {
  for (int i = 0; i < LessonPitfallCount(); ++i) {
    if (ContainsCaseInsensitive(text, LessonPitfall(i).keyword)) return i;
  }
  return -1;
}

}  // namespace sim_internal
}  // namespace tfgrpo
