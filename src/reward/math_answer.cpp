// String-level math answer checking: final-answer extraction, LaTeX normalisation and numeric
// comparison. Kept self-contained so a symbolic checker can replace MathAnswersEqual later.
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "tfgrpo/reward.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

bool IsAlpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Index of the '}' closing the '{' at `open`; escaped braces (\{ \}) are literal text.
size_t MatchingBrace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '{') {
      ++depth;
    } else if (c == '}') {
      if (--depth == 0) return i;
    }
  }
  return std::string_view::npos;
}

// True when `s` has the command `cmd` (e.g. "\left") at `i`, not as the prefix of a longer one.
bool CommandAt(std::string_view s, size_t i, std::string_view cmd) {
  if (s.compare(i, cmd.size(), cmd) != 0) return false;
  size_t after = i + cmd.size();
  return after >= s.size() || !IsAlpha(s[after]);
}

// Contents of the last \boxed{...} / \boxed {...} / \fbox{...} whose braces balance.
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

std::string RemoveAll(std::string s, std::string_view what) { return ReplaceAll(std::move(s), what, ""); }

// Removes every occurrence of a command such as \left, keeping what follows it.
std::string RemoveCommand(const std::string& s, std::string_view cmd) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (CommandAt(s, i, cmd)) {
      i += cmd.size();
    } else {
      out += s[i++];
    }
  }
  return out;
}

// \text{abc} -> abc (and the other text-style wrappers): the words matter, not the font.
std::string UnwrapTextCommands(std::string s) {
  static constexpr std::string_view kWrappers[] = {"\\text{",   "\\textbf{", "\\textit{", "\\textrm{",
                                                   "\\mathrm{", "\\mathbf{", "\\mbox{"};
  for (std::string_view w : kWrappers) {
    for (size_t p = s.find(w); p != std::string::npos; p = s.find(w, p)) {
      size_t open = p + w.size() - 1;
      size_t close = MatchingBrace(s, open);
      if (close == std::string::npos) {
        p += w.size();
        continue;
      }
      s = s.substr(0, p) + s.substr(open + 1, close - open - 1) + s.substr(close + 1);
    }
  }
  return s;
}

// "\frac12" -> "\frac{1}{2}", "\sqrt3" -> "\sqrt{3}", recursively inside braced arguments.
std::string BraceShorthandArguments(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    int args = 0;
    if (CommandAt(s, i, "\\frac")) {
      args = 2;
    } else if (CommandAt(s, i, "\\sqrt")) {
      args = 1;
    }
    if (args == 0) {
      out += s[i++];
      continue;
    }
    out.append(s.substr(i, 5));
    i += 5;
    if (args == 1 && i < s.size() && s[i] == '[') {  // \sqrt[3]{x}
      size_t end = s.find(']', i);
      if (end != std::string_view::npos) {
        out.append(s.substr(i, end + 1 - i));
        i = end + 1;
      }
    }
    for (int a = 0; a < args && i < s.size(); ++a) {
      if (s[i] == '{') {
        size_t close = MatchingBrace(s, i);
        if (close == std::string_view::npos) break;
        out += '{' + BraceShorthandArguments(s.substr(i + 1, close - i - 1)) + '}';
        i = close + 1;
      } else if (s[i] == '\\') {
        size_t j = i + 1;
        while (j < s.size() && IsAlpha(s[j])) ++j;
        if (j == i + 1 && j < s.size()) ++j;
        out += '{' + std::string(s.substr(i, j - i)) + '}';
        i = j;
      } else {
        out += '{';
        out += s[i++];
        out += '}';
      }
    }
  }
  return out;
}

// "x=5" -> "5": a short variable name on the left of a single '=' is not part of the answer.
std::string DropVariableAssignment(const std::string& s) {
  size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq > 2 || s.find('=', eq + 1) != std::string::npos) return s;
  for (size_t i = 0; i < eq; ++i) {
    if (!IsAlpha(s[i])) return s;
  }
  return s.substr(eq + 1);
}

// ---- numbers ---------------------------------------------------------------------------------

struct Number {
  long double value = 0;
  std::string integer;  // canonical "-123" when the text was an integer, else ""
};

// "-1,234.50", "12", ".5", "5." (thousands commas only in exact groups of three).
std::optional<Number> ParseDecimal(std::string_view s) {
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
  std::string int_digits;
  size_t group = 0;  // digits since the last comma
  bool saw_comma = false;
  for (; i < s.size() && (IsDigit(s[i]) || s[i] == ','); ++i) {
    if (s[i] != ',') {
      int_digits += s[i];
      ++group;
      continue;
    }
    bool group_ok = saw_comma ? group == 3 : (group >= 1 && group <= 3);
    if (!group_ok) return std::nullopt;
    saw_comma = true;
    group = 0;
  }
  if (saw_comma && group != 3) return std::nullopt;
  std::string frac_digits;
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && IsDigit(s[i]); ++i) frac_digits += s[i];
  }
  if (i != s.size() || (int_digits.empty() && frac_digits.empty())) return std::nullopt;
  std::string text = (negative ? "-" : "") + (int_digits.empty() ? "0" : int_digits) + "." +
                     (frac_digits.empty() ? "0" : frac_digits);
  Number n;
  n.value = std::strtold(text.c_str(), nullptr);
  if (frac_digits.find_first_not_of('0') == std::string::npos) {
    size_t nz = int_digits.find_first_not_of('0');
    std::string canon = nz == std::string::npos ? "0" : int_digits.substr(nz);
    n.integer = (negative && canon != "0" ? "-" : "") + canon;
  }
  return n;
}

std::optional<Number> Ratio(const std::optional<Number>& a, const std::optional<Number>& b) {
  if (!a || !b || b->value == 0) return std::nullopt;
  Number n;
  n.value = a->value / b->value;
  return n;
}

// A normalised answer as a number: a decimal, a/b, or \frac{a}{b} (optionally negated).
std::optional<Number> ParseNumber(std::string_view s) {
  bool negative = false;
  std::string_view body = s;
  if (!body.empty() && (body[0] == '-' || body[0] == '+') && StartsWith(body.substr(1), "\\frac")) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (!StartsWith(body, "\\frac{")) {
    size_t slash = body.find('/');
    if (slash == std::string_view::npos) return ParseDecimal(body);
    return Ratio(ParseDecimal(body.substr(0, slash)), ParseDecimal(body.substr(slash + 1)));
  }
  size_t num_open = 5;
  size_t num_close = MatchingBrace(body, num_open);
  if (num_close == std::string_view::npos || num_close + 1 >= body.size() || body[num_close + 1] != '{') {
    return std::nullopt;
  }
  size_t den_close = MatchingBrace(body, num_close + 1);
  if (den_close != body.size() - 1) return std::nullopt;
  std::optional<Number> n = Ratio(ParseNumber(body.substr(num_open + 1, num_close - num_open - 1)),
                                  ParseNumber(body.substr(num_close + 2, den_close - num_close - 2)));
  if (n && negative) n->value = -n->value;
  return n;
}

bool NumbersEqual(const Number& a, const Number& b) {
  // Integers compare digit by digit: long double cannot tell apart 20-digit answers.
  if (!a.integer.empty() && !b.integer.empty()) return a.integer == b.integer;
  long double scale = std::max(std::fabs(a.value), std::fabs(b.value));
  return std::fabs(a.value - b.value) <= 1e-9L * scale;
}

}  // namespace

std::string ExtractFinalAnswer(std::string_view reply) {
  if (std::optional<std::string> boxed = LastBoxed(reply)) return Trim(*boxed);
  std::vector<std::string> lines = SplitLines(reply);
  for (size_t i = lines.size(); i-- > 0;) {
    std::string line = Trim(RemoveAll(lines[i], "**"));
    size_t b = line.find_first_not_of("#>-*_ \t");
    if (b == std::string::npos) continue;
    std::string_view rest = std::string_view(line).substr(b);
    std::string lower = ToLower(rest.substr(0, 16));
    size_t skip = StartsWith(lower, "final answer") ? 12 : StartsWith(lower, "answer") ? 6 : 0;
    if (skip == 0) continue;
    rest.remove_prefix(skip);
    while (!rest.empty() && (rest[0] == '*' || rest[0] == '_' || rest[0] == ' ')) rest.remove_prefix(1);
    if (rest.empty() || rest[0] != ':') continue;
    rest.remove_prefix(1);
    while (!rest.empty() && (rest[0] == '*' || rest[0] == '_' || IsSpace(rest[0]))) rest.remove_prefix(1);
    std::string value = Trim(rest);
    // "Answer:" alone on its line: the answer is on the next non-empty line.
    for (size_t j = i + 1; value.empty() && j < lines.size(); ++j) value = Trim(RemoveAll(lines[j], "**"));
    if (!value.empty()) return value;
  }
  return "";
}

std::string NormalizeMathAnswer(std::string_view answer) {
  std::string s = Trim(answer);
  if (std::optional<std::string> boxed = LastBoxed(s)) s = Trim(*boxed);
  s = RemoveCommand(s, "\\left");
  s = RemoveCommand(s, "\\right");
  s = RemoveCommand(s, "\\displaystyle");
  s = UnwrapTextCommands(std::move(s));
  s = ReplaceAll(std::move(s), "\\dfrac", "\\frac");
  s = ReplaceAll(std::move(s), "\\tfrac", "\\frac");
  s = ReplaceAll(std::move(s), "\\cfrac", "\\frac");
  for (std::string_view degree : {"^{\\circ}", "^\\circ", "\xC2\xB0" /* ° */}) s = RemoveAll(std::move(s), degree);
  for (std::string_view noise :
       {"\\$", "$", "\\%", "%", "\\!", "\\,", "\\;", "\\:", "\\ ", "\\(", "\\)", "\\[", "\\]"}) {
    s = RemoveAll(std::move(s), noise);
  }
  s = RemoveCommand(s, "\\qquad");
  s = RemoveCommand(s, "\\quad");
  std::string compact;
  for (char c : s) {
    if (!IsSpace(c)) compact += c;
  }
  s = std::move(compact);
  while (!s.empty() && s.back() == '.') s.pop_back();
  while (s.size() >= 2 && s.front() == '{' && MatchingBrace(s, 0) == s.size() - 1) s = s.substr(1, s.size() - 2);
  s = BraceShorthandArguments(s);
  s = DropVariableAssignment(s);
  return s;
}

bool MathAnswersEqual(std::string_view gold, std::string_view predicted) {
  std::string g = NormalizeMathAnswer(gold);
  std::string p = NormalizeMathAnswer(predicted);
  if (g.empty() || p.empty()) return false;
  if (g == p) return true;
  std::optional<Number> gn = ParseNumber(g), pn = ParseNumber(p);
  return gn && pn && NumbersEqual(*gn, *pn);
}

std::string NormalizeExactAnswer(std::string_view answer) {
  std::string out;
  for (char c : Trim(answer)) {
    if (IsSpace(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace tfgrpo
