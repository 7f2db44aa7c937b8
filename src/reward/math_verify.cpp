// VerifyMath: answer extraction, the comparison of parsed values by kind, the time limit, and the
// JSONL driver behind `tfgrpo reward math`. Expressions are decided by the cheapest stage that can:
// exact 128-bit rationals, then floating evaluation with an error bound, then GiNaC (on its own
// thread, waited for with the comparison's deadline).
#include "tfgrpo/math_verify.h"

#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <istream>
#include <ostream>

#include <nlohmann/json.hpp>

#include "reward/math_verify_internal.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace mathverify {

// Index of the '}' closing the '{' at `open`; escaped braces (\{ \}) are literal text.
size_t MatchingBrace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

// Contents of the last \boxed{...} / \fbox{...} whose braces balance.
std::optional<std::string> LastBoxed(std::string_view s) {
  std::optional<std::string> best;
  size_t best_pos = 0;
  for (std::string_view marker : {std::string_view("\\boxed"), std::string_view("\\fbox")}) {
    for (size_t p = s.find(marker); p != std::string_view::npos; p = s.find(marker, p + 1)) {
      size_t q = p + marker.size();
      while (q < s.size() && s[q] == ' ') ++q;
      if (q >= s.size() || s[q] != '{') continue;
      size_t close = MatchingBrace(s, q);
      if (close == std::string_view::npos) continue;
      if (!best || p > best_pos) {
        best = std::string(s.substr(q + 1, close - q - 1));
        best_pos = p;
      }
    }
  }
  return best;
}

}  // namespace mathverify

namespace {

using namespace mathverify;
using Clock = std::chrono::steady_clock;

std::atomic<int64_t> g_timeouts{0};

// A reply with no marker is taken whole only when it is one line, short enough to be a bare answer.
constexpr size_t kBareAnswerMaxChars = kMaxAnswerChars;
// Boxes joined into one multi-part answer: at most this many, with at most this much text between.
constexpr size_t kMaxJoinedBoxes = 16;
constexpr size_t kMaxJoinerChars = 40;

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

struct Box {
  size_t at, close;  // "\boxed" and its closing brace
};

std::vector<Box> AllBoxes(std::string_view s) {
  std::vector<Box> boxes;
  for (size_t p = s.find('\\'); p != std::string_view::npos; p = s.find('\\', p + 1)) {
    size_t q;
    if (s.compare(p, 6, "\\boxed") == 0) {
      q = p + 6;
    } else if (s.compare(p, 5, "\\fbox") == 0) {
      q = p + 5;
    } else {
      continue;
    }
    while (q < s.size() && s[q] == ' ') ++q;
    if (q >= s.size() || s[q] != '{') continue;
    size_t close = MatchingBrace(s, q);
    if (close == std::string_view::npos) continue;
    boxes.push_back({p, close});
  }
  return boxes;
}

// The text between two boxes, with math delimiters, spacing and \text{} wrappers removed,
// lower-cased: "\) and \(", " \quad \text{and} \quad " and " papers and " all become "and".
std::string JoinerWords(std::string_view between) {
  std::string out;
  for (size_t i = 0; i < between.size(); ++i) {
    char c = between[i];
    if (c == '\\') {
      size_t j = i + 1;
      while (j < between.size() && IsAsciiAlpha(between[j])) ++j;
      if (j == i + 1) ++j;  // \( \) \[ \] \, \;
      i = j - 1;
      out += ' ';
      continue;
    }
    if (c == '$' || c == '{' || c == '}' || c == '~' || IsBlank(c)) {
      out += ' ';
      continue;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return Trim(out);
}

// Boxes written one after another are parts of one answer when only a connective stands between
// them: nothing, a comma, "and", "or" (possibly after a few words: "for part (a) and").
bool JoinsBoxes(std::string_view between) {
  std::string words = JoinerWords(between);
  // "y_1 = \boxed{..} and y_2 = \boxed{..}": the next box's name is not part of the connective.
  if (!words.empty() && words.back() == '=') {
    words.pop_back();
    while (!words.empty() && words.back() == ' ') words.pop_back();
    size_t name = words.size();
    while (name > 0 && (IsAsciiAlpha(words[name - 1]) || IsAsciiDigit(words[name - 1]) || words[name - 1] == '_')) {
      --name;
    }
    if (name == words.size() || (name < words.size() && IsAsciiDigit(words[name]))) return false;
    words = Trim(words.substr(0, name));
  }
  if (words.empty() || words == "," || words == ";") return true;
  if (words.size() > kMaxJoinerChars) return false;
  if (std::any_of(words.begin(), words.end(), [](char c) { return IsAsciiDigit(c) || c == '='; })) return false;
  for (std::string_view tail : {std::string_view("and"), std::string_view("or")}) {
    if (EndsWith(words, tail) && (words.size() == tail.size() || !IsAsciiAlpha(words[words.size() - tail.size() - 1]))) {
      return true;
    }
  }
  return words.back() == ',';
}

struct BoxRun {
  std::string answer;  // the contents, joined by ", "
  size_t end = 0;      // just past the last box
};

std::optional<BoxRun> LastBoxRun(std::string_view s) {
  std::vector<Box> boxes = AllBoxes(s);
  if (boxes.empty()) return std::nullopt;
  size_t first = boxes.size() - 1;
  while (first > 0 && boxes.size() - first < kMaxJoinedBoxes && boxes[first - 1].close < boxes[first].at &&
         JoinsBoxes(s.substr(boxes[first - 1].close + 1, boxes[first].at - boxes[first - 1].close - 1))) {
    --first;
  }
  BoxRun run;
  for (size_t k = first; k < boxes.size(); ++k) {
    size_t open = s.find('{', boxes[k].at);
    std::string part = Trim(s.substr(open + 1, boxes[k].close - open - 1));
    while (!part.empty() && (part.back() == '.' || part.back() == ',')) part.pop_back();
    if (part.empty()) continue;
    if (!run.answer.empty()) run.answer += ", ";
    run.answer += part;
  }
  run.end = boxes.back().close + 1;
  return run;
}

struct MathSpan {
  size_t begin, end;  // the whole span, delimiters included
  std::string content;
};

// $...$ and \(...\) (on one line), $$...$$ and \[...\] (any lines). A '$' right after a digit is a
// currency sign ("5$"), an escaped "\$" is text.
std::vector<MathSpan> MathSpans(std::string_view s) {
  std::vector<MathSpan> spans;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '(' || s[i + 1] == '[')) {
      bool inline_math = s[i + 1] == '(';
      size_t close = s.find(inline_math ? "\\)" : "\\]", i + 2);
      if (close != std::string_view::npos &&
          !(inline_math && s.substr(i + 2, close - i - 2).find('\n') != std::string_view::npos)) {
        spans.push_back({i, close + 2, Trim(s.substr(i + 2, close - i - 2))});
        i = close + 2;
        continue;
      }
      i += 2;
      continue;
    }
    if (c == '\\') {
      i += 2;
      continue;
    }
    if (c != '$') {
      ++i;
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '$') {
      size_t close = s.find("$$", i + 2);
      if (close == std::string_view::npos) break;
      spans.push_back({i, close + 2, Trim(s.substr(i + 2, close - i - 2))});
      i = close + 2;
      continue;
    }
    if (i > 0 && IsAsciiDigit(s[i - 1])) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < s.size() && s[j] != '$' && s[j] != '\n') j += s[j] == '\\' ? 2 : 1;
    if (j < s.size() && s[j] == '$') {
      spans.push_back({i, j + 1, Trim(s.substr(i + 1, j - i - 1))});
      i = j + 1;
    } else {
      ++i;
    }
  }
  return spans;
}

bool InSpan(const std::vector<MathSpan>& spans, size_t pos) {
  for (const MathSpan& sp : spans) {
    if (pos >= sp.begin && pos < sp.end) return true;
  }
  return false;
}

bool IsMathWord(std::string_view w) {
  static constexpr std::string_view kWords[] = {"and",    "or",     "sin",    "cos",   "tan",  "cot",  "sec",
                                                "csc",    "log",    "ln",     "exp",   "sqrt", "pi",   "arcsin",
                                                "arccos", "arctan", "sinh",   "cosh",  "tanh", "mod",  "infty",
                                                "infinity", "pm",   "cdot",   "times"};
  return std::find(std::begin(kWords), std::end(kWords), w) != std::end(kWords);
}

// Prose: more than one line, or a word (two letters or more, not a command, not inside braces or
// math, not a function name) such as "The largest $n$ is 34" or "1,000.99 euros".
bool LooksLikeProse(std::string_view s, const std::vector<MathSpan>& spans) {
  if (Trim(s).find('\n') != std::string::npos) return true;
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '{') ++depth;
    if (c == '}' && depth > 0) --depth;
    if (!IsAsciiAlpha(c) || (i > 0 && (IsAsciiAlpha(s[i - 1]) || s[i - 1] == '\\'))) continue;
    size_t j = i;
    while (j < s.size() && IsAsciiAlpha(s[j])) ++j;
    std::string word = ToLower(s.substr(i, j - i));
    if (depth == 0 && word.size() >= 2 && !IsMathWord(word) && !InSpan(spans, i)) return true;
    i = j - 1;
  }
  return false;
}

bool IsUnitWord(std::string_view w) {
  static constexpr std::string_view kUnits[] = {"m", "cm", "mm", "km", "kg", "g", "mg", "s", "ms", "h", "min",
                                                "l", "ml", "L", "mL"};
  return std::find(std::begin(kUnits), std::end(kUnits), w) != std::end(kUnits);
}

struct ProseNumber {
  size_t begin, end;
  bool standalone;  // not an operand of something around it ("2" in "2\sqrt{3}" or "x + 2" is not)
};

// A number in prose at `i` (a digit not glued to a word): "12", "-3", "1,000.99", "2,74", "2/3",
// "14{,}916", "16,\!386.20", "28%".
ProseNumber ReadProseNumber(std::string_view s, size_t i) {
  ProseNumber n{i, i, true};
  size_t k = i;
  auto digits = [&] {
    size_t start = k;
    while (k < s.size() && IsAsciiDigit(s[k])) ++k;
    return k > start;
  };
  digits();
  bool fraction = false;
  while (k < s.size()) {
    size_t save = k;
    if (s.compare(k, 4, ",\\! ") == 0 && k + 4 < s.size() && IsAsciiDigit(s[k + 4])) {
      k += 4;
    } else if (s.compare(k, 3, ",\\!") == 0 && k + 3 < s.size() && IsAsciiDigit(s[k + 3])) {
      k += 3;
    } else if (s.compare(k, 3, "{,}") == 0 && k + 3 < s.size() && IsAsciiDigit(s[k + 3])) {
      k += 3;
    } else if ((s[k] == ',' || s[k] == '.') && k + 1 < s.size() && IsAsciiDigit(s[k + 1])) {
      k += 1;
    } else if (s[k] == '/' && !fraction && k + 1 < s.size() && IsAsciiDigit(s[k + 1])) {
      k += 1;
      fraction = true;
    } else {
      break;
    }
    if (!digits()) {
      k = save;
      break;
    }
  }
  if (k < s.size() && s[k] == '%') {
    ++k;
  } else if (s.compare(k, 2, "\\%") == 0) {
    k += 2;
  }
  n.end = k;
  if (i > 0 && s[i - 1] == '-' && (i == 1 || IsBlank(s[i - 2]) || s[i - 2] == '(' || s[i - 2] == '=')) n.begin = i - 1;
  // What stands before.
  size_t b = n.begin;
  if (b > 0) {
    char before = s[b - 1];
    if (IsBlank(before)) {
      size_t q = b - 1;
      while (q > 0 && IsBlank(s[q - 1])) --q;
      char prev = q > 0 ? s[q - 1] : ' ';
      if (std::strchr("+-*/^_{\\<>&|$", prev) != nullptr || (prev == '(' && q > 1 && s[q - 2] == '\\')) {
        n.standalone = false;
      }
    } else if (before == '(' || before == '[') {
      n.standalone = !(b > 1 && s[b - 2] == '\\');
    } else if (!(before == '"' || before == '\'' || before == ':' || before == ',' || before == '=' ||
                 before == '$' || static_cast<unsigned char>(before) >= 0x80)) {
      n.standalone = false;
    }
  }
  // What follows.
  if (k < s.size()) {
    char after = s[k];
    if (IsBlank(after)) {
      size_t q = k;
      while (q < s.size() && IsBlank(s[q])) ++q;
      if (q < s.size()) {
        char next = s[q];
        size_t w = q;
        while (w < s.size() && IsAsciiAlpha(s[w])) ++w;
        std::string_view word = s.substr(q, w - q);
        if (std::strchr("+-*/^_\\{=<>&|", next) != nullptr || (word.size() == 1 && !IsUnitWord(word)) ||
            (!word.empty() && IsMathWord(ToLower(word)) && word != "and" && word != "or")) {
          n.standalone = false;
        }
      }
    } else if (IsAsciiAlpha(after)) {
      size_t w = k;
      while (w < s.size() && IsAsciiAlpha(s[w])) ++w;
      bool unit_ends = w >= s.size() || !(IsAsciiAlpha(s[w]) || IsAsciiDigit(s[w]) || s[w] == '^' || s[w] == '_');
      if (!IsUnitWord(s.substr(k, w - k)) || !unit_ends) n.standalone = false;
    } else if (after == '\\') {
      if (!(k + 1 < s.size() && (s[k + 1] == '$' || s[k + 1] == ',' || s[k + 1] == ' '))) n.standalone = false;
    } else if (!(std::strchr(".,;:!?)]$\"'", after) != nullptr || static_cast<unsigned char>(after) >= 0x80)) {
      n.standalone = false;
    }
  }
  return n;
}

// The sentence around [begin, end) hedges ("maybe 1/2", "42 or so", "I think"): it states no answer.
bool Hedged(std::string_view s, size_t begin, size_t end) {
  size_t from = begin, to = end;
  while (from > 0 && s[from - 1] != '\n' && !(s[from - 1] == '.' && from < s.size() && IsBlank(s[from]))) --from;
  while (to < s.size() && s[to] != '\n' && !(s[to] == '.' && (to + 1 >= s.size() || IsBlank(s[to + 1])))) ++to;
  std::string sentence = " " + ToLower(s.substr(from, to - from)) + " ";
  for (std::string_view hedge : {" maybe ", " perhaps ", " probably ", " possibly ", " i think ", " i guess ",
                                 " not sure ", " or so "}) {
    if (sentence.find(hedge) != std::string::npos) return true;
  }
  return false;
}

// A reply without a marker: its last math span or its last number, whichever comes later, as a
// reader would take it ("..., so the probability is 2/3."). A last number that is part of an
// expression ("... is 2\sqrt{3}") or hedged ("1/2 maybe") gives nothing rather than a number read
// out of context.
std::optional<std::string> LastProseAnswer(std::string_view s, const std::vector<MathSpan>& spans,
                                           bool* hedged = nullptr) {
  const MathSpan* last_span = nullptr;
  for (const MathSpan& sp : spans) {
    if (!sp.content.empty()) last_span = &sp;
  }
  std::optional<ProseNumber> last_number;
  size_t span_index = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    while (span_index < spans.size() && spans[span_index].end <= i) ++span_index;
    if (span_index < spans.size() && i >= spans[span_index].begin) {
      i = spans[span_index].end - 1;
      continue;
    }
    if (!IsAsciiDigit(s[i])) continue;
    if (i > 0 && (IsAsciiAlpha(s[i - 1]) || IsAsciiDigit(s[i - 1]) || s[i - 1] == '.' || s[i - 1] == '_')) {
      while (i + 1 < s.size() && IsAsciiDigit(s[i + 1])) ++i;  // part of a word: "H2O", "x2", "v1.2"
      continue;
    }
    ProseNumber n = ReadProseNumber(s, i);
    last_number = n;
    i = n.end - 1;
  }
  if (last_number && (!last_span || last_number->begin > last_span->begin)) {
    if (Hedged(s, last_number->begin, last_number->end)) {
      if (hedged) *hedged = true;
      return std::nullopt;
    }
    if (!last_number->standalone) return std::nullopt;
    return std::string(s.substr(last_number->begin, last_number->end - last_number->begin));
  }
  if (last_span && Hedged(s, last_span->begin, last_span->end)) {
    if (hedged) *hedged = true;
    return std::nullopt;
  }
  if (last_span) return last_span->content;
  return std::nullopt;
}

std::optional<std::string> LastAnswerTag(std::string_view reply) {
  std::string lower = ToLower(reply);
  size_t open = lower.rfind("<answer>");
  if (open == std::string::npos) return std::nullopt;
  size_t start = open + 8;
  size_t close = lower.find("</answer>", start);
  return std::string(reply.substr(start, close == std::string::npos ? std::string::npos : close - start));
}

std::string StripMarkdown(std::string s) {
  s = ReplaceAll(std::move(s), "**", "");
  s = Trim(s);
  // ":", markdown emphasis, and the "}" of "\text{The answer is} 5".
  while (!s.empty() && std::strchr(":*_ }", s.front()) != nullptr) s.erase(0, 1);
  return Trim(s);
}

// "$\frac{1}{2}$. I hope it is correct." -> "\frac{1}{2}"; "5. Done." -> "5"; "$12$ and $13$" ->
// "12, 13"; "The largest $n$ is 34." -> "34".
std::string FirstSentence(std::string s) {
  while (!s.empty() && (s[0] == '"' || s[0] == '\'' || (s[0] == '\\' && s.size() > 1 && s[1] == '"'))) {
    s.erase(0, s[0] == '\\' ? 2 : 1);
  }
  std::vector<MathSpan> spans = MathSpans(s);
  if (!s.empty() && s[0] == '$' && !spans.empty() && spans[0].begin == 0) {
    std::string joined = spans[0].content;
    for (size_t k = 1; k < spans.size(); ++k) {
      std::string_view between = std::string_view(s).substr(spans[k - 1].end, spans[k].begin - spans[k - 1].end);
      std::string words = JoinerWords(between);
      if (!(words == "," || words == "and" || words == "or" || words == ", and" || words == ", or")) break;
      joined += ", " + spans[k].content;
    }
    return joined;
  }
  size_t stop = s.find(". ");
  if (stop != std::string::npos) s = s.substr(0, stop);
  s = Trim(s);
  while (!s.empty() && s.back() == '.') s.pop_back();
  spans = MathSpans(s);
  if (LooksLikeProse(s, spans)) {
    if (std::optional<std::string> found = LastProseAnswer(s, spans)) return *found;
  }
  return s;
}

std::optional<std::string> AnswerLine(std::string_view reply) {
  std::vector<std::string> lines = SplitLines(reply);
  for (size_t i = lines.size(); i-- > 0;) {
    std::string lower = ToLower(lines[i]);
    size_t best = std::string::npos, marker_len = 0;
    for (std::string_view marker : {std::string_view("answer:"), std::string_view("answer is")}) {
      size_t at = lower.rfind(marker);
      if (at != std::string::npos && (best == std::string::npos || at > best)) {
        best = at;
        marker_len = marker.size();
      }
    }
    // "**Answer**: 5" and "Answer :" spellings.
    for (std::string_view marker : {std::string_view("answer**:"), std::string_view("answer :")}) {
      size_t at = lower.rfind(marker);
      if (at != std::string::npos && (best == std::string::npos || at > best)) {
        best = at;
        marker_len = marker.size();
      }
    }
    if (best == std::string::npos) continue;
    std::string value = StripMarkdown(lines[i].substr(best + marker_len));
    for (size_t j = i + 1; value.empty() && j < lines.size(); ++j) value = StripMarkdown(lines[j]);
    value = FirstSentence(value);
    if (!value.empty()) return value;
  }
  return std::nullopt;
}

// A "final answer" statement after position `after`, as in "... \boxed{255} ... Final Answer: The
// final answer is $10,455$. I hope it is correct.": the closing statement wins over earlier boxes.
std::optional<std::string> FinalAnswerAfter(std::string_view s, size_t after) {
  std::string lower = ToLower(s);
  size_t at = lower.rfind("final answer");
  if (at == std::string::npos || at < after) return std::nullopt;
  // Only a statement of the answer ("Final Answer: ...", "the final answer is ..."), not a remark
  // such as "\boxed{5} is my final answer." after the box.
  size_t next = at + 12;
  while (next < lower.size() && (lower[next] == '*' || lower[next] == ' ')) ++next;
  if (!(next < lower.size() && lower[next] == ':') && lower.compare(next, 2, "is") != 0) return std::nullopt;
  std::optional<std::string> line = AnswerLine(s.substr(at));
  if (!line || line->empty()) return std::nullopt;
  return line;
}

// A gold answer is usually bare; a worked solution (as some datasets store) gives its boxed answer
// or its "The final answer is ..." statement.
std::string GoldAnswer(std::string_view gold) {
  if (std::optional<BoxRun> boxed = LastBoxRun(gold)) return Trim(boxed->answer);
  if (ToLower(gold).find("final answer is") != std::string::npos) {
    if (std::optional<std::string> stated = FinalAnswerAfter(gold, 0)) return *stated;
  }
  return Trim(gold);
}

enum class Outcome { kEqual, kNotEqual, kTimeout };

Outcome Bool(bool equal) { return equal ? Outcome::kEqual : Outcome::kNotEqual; }

bool CloseDoubles(long double a, long double b, double rel_tol) {
  return std::fabs(a - b) <= rel_tol * std::max(std::fabs(a), std::fabs(b));
}

// A decimal agrees with the other side when within rel_tol or to `precision` significant digits.
bool CloseDecimals(long double a, long double b, double rel_tol, int precision) {
  return CloseDoubles(a, b, rel_tol) || AgreeToDigits(static_cast<double>(a), static_cast<double>(b), precision);
}

// Only integers, fractions and operations that keep them rational: such values compare exactly, so
// floating agreement alone must not call 10^40 and 10^40 + 1 equal.
bool RationalOnly(const Tree& tree, int index) {
  const Node& n = tree.nodes[index];
  switch (n.op) {
    case Op::kNumber: return !n.decimal;
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv: return RationalOnly(tree, n.a) && RationalOnly(tree, n.b);
    case Op::kNeg:
    case Op::kAbs:
    case Op::kFactorial:
    case Op::kPercent:
    case Op::kFloor:
    case Op::kCeil: return RationalOnly(tree, n.a);
    case Op::kBinomial: return RationalOnly(tree, n.a) && RationalOnly(tree, n.b);
    case Op::kPow: {
      std::optional<Rational> k = EvalExact(tree, n.b);
      return k && k->den == 1 && RationalOnly(tree, n.a);
    }
    default: return false;
  }
}

class Comparer {
 public:
  Comparer(const ParsedAnswer& gold, const ParsedAnswer& pred, const MathVerifyOptions& options,
           Clock::time_point deadline)
      : g_(gold),
        p_(pred),
        gt_(*gold.tree),
        pt_(*pred.tree),
        rel_tol_(options.rel_tol),
        precision_(options.precision),
        deadline_(deadline) {}

  Outcome Top() {
    if (g_.value.kind == Kind::kChoice && p_.choice_label) {
      return Bool(g_.value.text == std::string(1, *p_.choice_label));
    }
    return Values(g_.value, p_.value);
  }

 private:
  static std::optional<char> Letter(const Tree& tree, const Value& v) {
    if (v.kind == Kind::kChoice) return v.text[0];
    if (v.kind == Kind::kExpr && !v.percent && !v.degrees && tree.nodes[v.expr].op == Op::kSymbol &&
        tree.nodes[v.expr].text.size() == 1) {
      return static_cast<char>(std::toupper(static_cast<unsigned char>(tree.nodes[v.expr].text[0])));
    }
    if (v.kind == Kind::kExpr && (tree.nodes[v.expr].op == Op::kEuler || tree.nodes[v.expr].op == Op::kImaginary)) {
      return tree.nodes[v.expr].op == Op::kEuler ? 'E' : 'I';
    }
    return std::nullopt;
  }

  Outcome Values(const Value& g, const Value& p) {
    Outcome o = ValuesAsRead(g, p);
    // An inequality "a < x <= b" (or "x \ge a") also stands for the interval it describes, on
    // either side, as Math-Verify holds: "x \ge 2" and "[2, \infty)" are the same answer whichever
    // is the gold one. The interval's ends and brackets must still agree ("x > 2" is not
    // "[2, \infty)").
    for (size_t k = 0; o == Outcome::kNotEqual && k < g.alt.size(); ++k) o = ValuesAsRead(g.alt[k], p);
    for (size_t k = 0; o == Outcome::kNotEqual && k < p.alt.size(); ++k) o = ValuesAsRead(g, p.alt[k]);
    return o;
  }

  Outcome ValuesAsRead(const Value& g, const Value& p) {
    if (g.kind == Kind::kEquation && p.kind == Kind::kEquation) return Equations(g, p);
    // "x = 5" stands for 5 when compared with a bare answer.
    if (g.kind == Kind::kEquation && g.named_lhs) return Values(g.items[1], p);
    if (p.kind == Kind::kEquation && p.named_lhs) return Values(g, p.items[1]);
    // A one-element set is its element: "\{5\}" = "5".
    if (g.kind == Kind::kSet && p.kind != Kind::kSet && g.items.size() == 1) return Values(g.items[0], p);
    if (p.kind == Kind::kSet && g.kind != Kind::kSet && p.items.size() == 1) return Values(g, p.items[0]);

    switch (g.kind) {
      case Kind::kChoice: {
        std::optional<char> letter = Letter(pt_, p);
        return Bool(letter && *letter == g.text[0]);
      }
      case Kind::kText:
        if (p.kind == Kind::kText) return Bool(g.text == p.text);
        return Bool(g_.raw == p_.raw);
      case Kind::kExpr:
        if (p.kind == Kind::kExpr) return ExprValues(g, p);
        if (p.kind == Kind::kChoice) {
          std::optional<char> letter = Letter(gt_, g);
          return Bool(letter && *letter == p.text[0]);
        }
        return Outcome::kNotEqual;
      case Kind::kSet:
        if (p.kind != Kind::kSet) return Outcome::kNotEqual;
        return Multiset(g.items, p.items);
      case Kind::kTuple:
        // A matrix equals only a matrix, a ratio only a ratio.
        if ((g.text == "matrix") != (p.text == "matrix") || (g.text == "ratio") != (p.text == "ratio")) {
          return Outcome::kNotEqual;
        }
        if (p.kind == Kind::kTuple) return Sequence(g.items, p.items);
        if (p.kind == Kind::kInterval && !p.lo_closed && !p.hi_closed) return Sequence(g.items, p.items);
        return Outcome::kNotEqual;
      case Kind::kInterval:
        if (p.kind == Kind::kInterval) return Intervals(g, p);
        if (p.kind == Kind::kTuple && !g.lo_closed && !g.hi_closed) return Sequence(g.items, p.items);
        return Outcome::kNotEqual;
      case Kind::kRelation: {
        if (p.kind != Kind::kRelation || p.text != g.text) return Outcome::kNotEqual;
        Outcome same = Sequence(g.items, p.items);
        // "-x > -1" is "x < 1": one side minus the other, up to a positive factor.
        if (same == Outcome::kNotEqual && g.diff >= 0 && p.diff >= 0) {
          return Proportional(g.diff, p.diff, /*positive=*/g.text != "!=");
        }
        return same;
      }
      case Kind::kEquation: return Outcome::kNotEqual;  // general equation vs a non-equation
    }
    return Outcome::kNotEqual;
  }

  Outcome Equations(const Value& g, const Value& p) {
    if (g.named_lhs && p.named_lhs) {
      Outcome rhs = Values(g.items[1], p.items[1]);
      if (rhs != Outcome::kNotEqual || g.diff < 0 || p.diff < 0) return rhs;
    }
    if (g.diff >= 0 && p.diff >= 0) {
      Outcome same = Exprs(g.diff, p.diff);
      if (same != Outcome::kNotEqual) return same;
      same = Exprs(g.diff, p.neg_diff);
      if (same != Outcome::kNotEqual) return same;
      // "2x + 4y - 3 = 0" and "y = -x/2 + 3/4": the same equation times a nonzero constant.
      return Proportional(g.diff, p.diff, /*positive=*/false);
    }
    return Sequence(g.items, p.items);
  }

  // Whether gold(x) = c * pred(x) for one constant c (> 0 when `positive`, else nonzero), judged at
  // the test points: the ratio must be the same at every point where the sides are nonzero, and
  // there must be at least three such points. Needs a free symbol (constants are always proportional).
  Outcome Proportional(int gi, int pi, bool positive) {
    std::vector<std::string> names;
    CollectSymbols(gt_, gi, &names);
    CollectSymbols(pt_, pi, &names);
    if (names.empty() || ContainsOp(gt_, gi, Op::kImaginary) || ContainsOp(pt_, pi, Op::kImaginary) ||
        ContainsOp(gt_, gi, Op::kInfinity) || ContainsOp(pt_, pi, Op::kInfinity)) {
      return Outcome::kNotEqual;
    }
    double ratio = 0;
    int points = 0;
    for (int point = 0; point < kTestPoints; ++point) {
      SymbolValues at = TestPoint(names, point);
      Approx a = EvalApprox(gt_, gi, at), b = EvalApprox(pt_, pi, at);
      if (!std::isfinite(a.value) || !std::isfinite(b.value)) return Outcome::kNotEqual;
      double noise_a = 64 * DBL_EPSILON * a.error, noise_b = 64 * DBL_EPSILON * b.error;
      bool a_zero = std::fabs(a.value) <= noise_a, b_zero = std::fabs(b.value) <= noise_b;
      if (a_zero && b_zero) continue;
      if (a_zero || b_zero) return Outcome::kNotEqual;
      double r = a.value / b.value;
      if (points == 0) {
        ratio = r;
      } else if (std::fabs(r - ratio) > 1e-9 * std::max(std::fabs(r), std::fabs(ratio))) {
        return Outcome::kNotEqual;
      }
      ++points;
    }
    if (points < 3 || (positive && ratio <= 0)) return Outcome::kNotEqual;
    return Outcome::kEqual;
  }

  Outcome Sequence(const std::vector<Value>& g, const std::vector<Value>& p) {
    if (g.size() != p.size()) return Outcome::kNotEqual;
    for (size_t k = 0; k < g.size(); ++k) {
      Outcome o = Values(g[k], p[k]);
      if (o != Outcome::kEqual) return o;
    }
    return Outcome::kEqual;
  }

  Outcome Intervals(const Value& g, const Value& p) {
    // Next to an infinite end the bracket carries no information ("[1, \infty]" is a common slip).
    bool lo_infinite = InfinitySign(gt_, g.items[0].expr) != 0;
    bool hi_infinite = InfinitySign(gt_, g.items[1].expr) != 0;
    if ((!lo_infinite && g.lo_closed != p.lo_closed) || (!hi_infinite && g.hi_closed != p.hi_closed)) {
      return Outcome::kNotEqual;
    }
    return Sequence(g.items, p.items);
  }

  // Multiset equality: a perfect matching between gold and predicted elements (Kuhn's algorithm;
  // pair verdicts are memoised because tolerant equality need not be transitive).
  Outcome Multiset(const std::vector<Value>& g, const std::vector<Value>& p) {
    if (g.size() != p.size()) return SameElements(g, p);
    size_t n = g.size();
    std::vector<int8_t> memo(n * n, -1);
    std::vector<int> owner(n, -1);
    bool timed_out = false;
    auto equal = [&](size_t i, size_t j) {
      int8_t& m = memo[i * n + j];
      if (m < 0) {
        Outcome o = timed_out ? Outcome::kTimeout : Values(g[i], p[j]);
        if (o == Outcome::kTimeout) timed_out = true;
        m = o == Outcome::kEqual ? 1 : 0;
      }
      return m == 1;
    };
    for (size_t i = 0; i < n; ++i) {
      std::vector<char> seen(n, 0);
      if (!Augment(i, equal, &seen, &owner)) return timed_out ? Outcome::kTimeout : Outcome::kNotEqual;
    }
    return timed_out ? Outcome::kTimeout : Outcome::kEqual;
  }

  // Sets written with a repeated element ("(3,17), (3,17), (2,3)"): equal when every element of
  // each side is on the other side.
  Outcome SameElements(const std::vector<Value>& g, const std::vector<Value>& p) {
    if (g.empty() || p.empty() || g.size() * p.size() > kMaxSetElements * kMaxSetElements) return Outcome::kNotEqual;
    std::vector<char> p_found(p.size(), 0);
    for (const Value& gv : g) {
      bool found = false;
      for (size_t j = 0; j < p.size(); ++j) {
        Outcome o = Values(gv, p[j]);
        if (o == Outcome::kTimeout) return o;
        if (o == Outcome::kEqual) found = true, p_found[j] = 1;
      }
      if (!found) return Outcome::kNotEqual;
    }
    return Bool(std::all_of(p_found.begin(), p_found.end(), [](char c) { return c != 0; }));
  }

  template <typename Eq>
  static bool Augment(size_t i, Eq& equal, std::vector<char>* seen, std::vector<int>* owner) {
    for (size_t j = 0; j < owner->size(); ++j) {
      if ((*seen)[j] || !equal(i, j)) continue;
      (*seen)[j] = 1;
      if ((*owner)[j] < 0 || Augment(static_cast<size_t>((*owner)[j]), equal, seen, owner)) {
        (*owner)[j] = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }

  // The percent and degree rules documented in math_verify.h.
  Outcome ExprValues(const Value& g, const Value& p) {
    Outcome o = Exprs(g.expr, p.expr);
    if (o != Outcome::kNotEqual) return o;
    if (g.percent) return p.percent ? Outcome::kNotEqual : Exprs(g.as_fraction, p.expr);
    if (g.degrees && !p.degrees) return Exprs(g.as_radians, p.expr);
    if (p.degrees && !g.degrees) return Exprs(g.expr, p.as_radians);
    return Outcome::kNotEqual;
  }

  Outcome Exprs(int gi, int pi) {
    bool g_inf = ContainsOp(gt_, gi, Op::kInfinity), p_inf = ContainsOp(pt_, pi, Op::kInfinity);
    if (g_inf || p_inf) {
      int sg = InfinitySign(gt_, gi), sp = InfinitySign(pt_, pi);
      if (sg != 0 && sp != 0) return Bool(sg == sp);
      return Bool(g_inf && p_inf && PrintExpr(gt_, gi) == PrintExpr(pt_, pi));
    }
    bool tolerant = HasDecimal(gt_, gi) || HasDecimal(pt_, pi);
    std::optional<Rational> eg = EvalExact(gt_, gi), ep;
    if (eg && (ep = EvalExact(pt_, pi))) {
      if (*eg == *ep) return Outcome::kEqual;
      if (!tolerant) return Outcome::kNotEqual;
      auto value = [](const Rational& r) {
        return static_cast<long double>(r.num) / static_cast<long double>(r.den);
      };
      return Bool(CloseDecimals(value(*eg), value(*ep), rel_tol_, precision_));
    }

    bool imaginary = ContainsOp(gt_, gi, Op::kImaginary) || ContainsOp(pt_, pi, Op::kImaginary);
    if (!imaginary) {
      std::vector<std::string> names;
      CollectSymbols(gt_, gi, &names);
      CollectSymbols(pt_, pi, &names);
      // Agreement of exact rationals in floating point is not proof (10^40 vs 10^40 + 1).
      bool exact_kind = !tolerant && names.empty() && RationalOnly(gt_, gi) && RationalOnly(pt_, pi);
      bool undecided = false;
      for (int point = 0; point < (names.empty() ? 1 : kTestPoints); ++point) {
        SymbolValues at = TestPoint(names, point);
        Approx a = EvalApprox(gt_, gi, at), b = EvalApprox(pt_, pi, at);
        if (!std::isfinite(a.value) || !std::isfinite(b.value)) {
          undecided = true;
          continue;
        }
        double diff = std::fabs(a.value - b.value);
        bool close = tolerant ? CloseDecimals(a.value, b.value, rel_tol_, precision_)
                              : diff <= rel_tol_ * std::max(std::fabs(a.value), std::fabs(b.value));
        if (close && !exact_kind) continue;
        if (diff > 64 * DBL_EPSILON * (a.error + b.error)) return Outcome::kNotEqual;
        undecided = true;  // within rounding noise: only exact arithmetic can tell
      }
      if (!undecided) return Outcome::kEqual;
    }

    if (Clock::now() >= deadline_) return Outcome::kTimeout;
    auto job = std::make_shared<SymbolicJob>();
    job->gold_tree = g_.tree;
    job->gold = gi;
    job->pred_tree = p_.tree;
    job->pred = pi;
    job->tolerant = tolerant;
    job->rel_tol = rel_tol_;
    job->precision = precision_;
    std::optional<SymbolicVerdict> verdict = CompareSymbolically(std::move(job), deadline_);
    if (!verdict) return Outcome::kTimeout;
    if (*verdict == SymbolicVerdict::kUndecided) return Bool(PrintExpr(gt_, gi) == PrintExpr(pt_, pi));
    return Bool(*verdict == SymbolicVerdict::kEqual);
  }

  const ParsedAnswer& g_;
  const ParsedAnswer& p_;
  const Tree& gt_;
  const Tree& pt_;
  double rel_tol_;
  int precision_;
  Clock::time_point deadline_;
};

// "1,22", "1000,99", "0,111": a number written with a decimal comma, not a list of two numbers,
// when the comma cannot be a thousands separator (not exactly three digits after it, or more than
// three or a leading zero before it) and at least two digits follow it. Returns the point form.
std::optional<std::string> DecimalCommaReading(std::string_view answer) {
  std::string a = Trim(answer);
  while (!a.empty() && a.front() == '$') a.erase(0, 1);
  while (!a.empty() && a.back() == '$') a.pop_back();
  a = Trim(a);
  size_t start = !a.empty() && a[0] == '-' ? 1 : 0;
  size_t comma = a.find(',');
  if (comma == std::string::npos || comma == start || comma + 1 >= a.size()) return std::nullopt;
  for (size_t i = start; i < a.size(); ++i) {
    if (i != comma && !IsAsciiDigit(a[i])) return std::nullopt;
  }
  size_t before = comma - start, after = a.size() - comma - 1;
  bool thousands = after == 3 && before <= 3 && a[start] != '0';
  if (thousands || after < 2) return std::nullopt;
  a[comma] = '.';
  return a;
}

bool IsPlainDecimal(const ParsedAnswer& p) {
  return p.error.empty() && p.value.kind == Kind::kExpr && !p.value.percent && !p.value.degrees &&
         HasDecimal(*p.tree, p.value.expr);
}

MathVerdict Verify(std::string_view gold, std::string_view reply, const MathVerifyOptions& options) {
  MathVerdict verdict;
  double timeout_s = options.timeout_s > 0 ? options.timeout_s : MathVerifyOptions().timeout_s;
  Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  MathVerifyOptions effective = options;
  if (!(effective.rel_tol >= 0)) effective.rel_tol = MathVerifyOptions().rel_tol;
  if (effective.precision < 1) effective.precision = MathVerifyOptions().precision;

  ParsedAnswer g = ParseAnswer(GoldAnswer(gold));
  verdict.gold_parsed = g.printed;
  std::string answer = ExtractAnswerForVerify(reply);
  if (answer.empty()) {
    verdict.error = "no answer found in the reply";
    return verdict;
  }
  ParsedAnswer p = ParseAnswer(answer);
  verdict.pred_parsed = p.printed;
  if (!g.error.empty() || !p.error.empty()) {
    verdict.error = !g.error.empty() ? "gold: " + g.error : "prediction: " + p.error;
    verdict.score = !g.raw.empty() && g.raw == p.raw ? 1.0 : 0.0;
    return verdict;
  }
  Outcome outcome = Comparer(g, p, effective, deadline).Top();
  // A decimal comma on one side ("1,22") against a decimal point on the other ("1.22").
  if (outcome == Outcome::kNotEqual) {
    std::optional<std::string> g_comma = DecimalCommaReading(GoldAnswer(gold));
    std::optional<std::string> p_comma = DecimalCommaReading(answer);
    if (g_comma && IsPlainDecimal(p)) {
      ParsedAnswer g_point = ParseAnswer(*g_comma);
      if (g_point.error.empty()) outcome = Comparer(g_point, p, effective, deadline).Top();
    } else if (p_comma && IsPlainDecimal(g)) {
      ParsedAnswer p_point = ParseAnswer(*p_comma);
      if (p_point.error.empty()) outcome = Comparer(g, p_point, effective, deadline).Top();
    }
  }
  if (outcome == Outcome::kTimeout) {
    g_timeouts.fetch_add(1, std::memory_order_relaxed);
    verdict.timed_out = true;
    verdict.error = "comparison timed out after " + std::to_string(timeout_s) + " s";
    return verdict;
  }
  verdict.score = outcome == Outcome::kEqual ? 1.0 : 0.0;
  return verdict;
}

// A field as text: strings as they are, numbers as JSON prints them (a dataset may store 42).
bool FieldText(const nlohmann::json& obj, const char* key, std::string* out, std::string* error) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    *error = std::string("missing field \"") + key + "\"";
    return false;
  }
  if (it->is_string()) {
    *out = it->get<std::string>();
    return true;
  }
  if (it->is_number()) {
    *out = it->dump();
    return true;
  }
  *error = std::string("field \"") + key + "\" must be a string (got " + it->type_name() + ")";
  return false;
}

}  // namespace

std::string ExtractAnswerForVerify(std::string_view reply) {
  if (std::optional<BoxRun> boxed = LastBoxRun(reply)) {
    if (std::optional<std::string> stated = FinalAnswerAfter(reply, boxed->end)) return *stated;
    return Trim(boxed->answer);
  }
  if (std::optional<std::string> tagged = LastAnswerTag(reply)) return Trim(*tagged);
  if (std::optional<std::string> line = AnswerLine(reply)) return *line;
  std::string bare = Trim(reply);
  bool one_line = bare.size() <= kBareAnswerMaxChars && bare.find('\n') == std::string::npos;
  std::vector<MathSpan> spans = MathSpans(reply);
  if (!LooksLikeProse(bare, spans)) return one_line ? bare : "";
  // Prose without a marker: its last math or number.
  bool hedged = false;
  if (std::optional<std::string> found = LastProseAnswer(reply, spans, &hedged)) return Trim(*found);
  return one_line && !hedged ? bare : "";
}

MathVerdict VerifyMath(std::string_view gold, std::string_view prediction_or_reply, const MathVerifyOptions& options) {
  try {
    return Verify(gold, prediction_or_reply, options);
  } catch (const std::exception& e) {
    MathVerdict v;
    v.error = std::string("internal error: ") + e.what();
    return v;
  } catch (...) {
    MathVerdict v;
    v.error = "internal error";
    return v;
  }
}

int64_t MathVerifyTimeouts() { return g_timeouts.load(std::memory_order_relaxed); }

MathJsonlSummary VerifyMathJsonl(std::istream& in, std::ostream& out, const MathVerifyOptions& options) {
  MathJsonlSummary summary;
  std::string line;
  while (std::getline(in, line)) {
    ++summary.lines;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    nlohmann::ordered_json result;
    std::string error, gold, pred;
    try {
      nlohmann::json obj = nlohmann::json::parse(line);
      if (!obj.is_object()) {
        error = std::string("expected a JSON object {\"gold\": ..., \"pred\": ...}, got ") + obj.type_name();
      } else if (FieldText(obj, "gold", &gold, &error)) {
        FieldText(obj, "pred", &pred, &error);
      }
    } catch (const nlohmann::json::exception& e) {
      std::string what = e.what();  // "[json.exception.parse_error.101] parse error at ..."
      size_t tag_end = what.find("] ");
      error = "invalid JSON: " + (tag_end == std::string::npos ? what : what.substr(tag_end + 2));
    }
    if (!error.empty()) {
      ++summary.errors;
      result["error"] = "line " + std::to_string(summary.lines) + ": " + error;
    } else {
      MathVerdict v = VerifyMath(gold, pred, options);
      summary.timeouts += v.timed_out ? 1 : 0;
      summary.score_sum += v.score;
      result["score"] = v.score;
      result["gold_parsed"] = v.gold_parsed;
      result["pred_parsed"] = v.pred_parsed;
    }
    out << result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n' << std::flush;
  }
  return summary;
}

}  // namespace tfgrpo
