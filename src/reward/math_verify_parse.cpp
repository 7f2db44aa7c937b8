// LaTeX answer -> structured value: a tokenizer that knows competition-answer LaTeX (thousands
// separators, \text{} units, shorthand \frac12, unicode symbols) and a recursive-descent parser with
// precedence climbing and implicit multiplication. No GiNaC here: parsing runs on the caller's
// thread, concurrently.
#include <algorithm>
#include <cctype>
#include <cstring>

#include "reward/math_verify_internal.h"
#include "tfgrpo/util.h"

namespace tfgrpo::mathverify {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '~'; }

bool OneOf(std::string_view word, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), word) != set.end();
}


// "\frac12" -> "\frac{1}{2}", "\sqrt3" -> "\sqrt{3}", "\frac\pi2" -> "\frac{\pi}{2}": LaTeX takes a
// single character (or command) as an unbraced argument, while the tokenizer reads "12" as one number.
std::string BraceShorthandArguments(std::string_view s, int depth = 0) {
  if (depth > kMaxNestingDepth) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '\\') {
      out += s[i++];
      continue;
    }
    size_t j = i + 1;
    while (j < s.size() && IsAlpha(s[j])) ++j;
    std::string_view name = s.substr(i + 1, j - i - 1);
    int args = OneOf(name, {"frac", "dfrac", "tfrac", "cfrac", "binom", "dbinom", "tbinom"}) ? 2
               : name == "sqrt"                                                               ? 1
                                                                                              : 0;
    if (args == 0) {
      out.append(s.substr(i, std::max(j, i + 2) - i));
      i = std::max(j, i + 2);
      continue;
    }
    out.append(s.substr(i, j - i));
    i = j;
    if (name == "sqrt") {
      while (i < s.size() && s[i] == ' ') ++i;
      if (i < s.size() && s[i] == '[') {
        size_t close = s.find(']', i);
        if (close == std::string_view::npos) continue;
        out += '[' + BraceShorthandArguments(s.substr(i + 1, close - i - 1), depth + 1) + ']';
        i = close + 1;
      }
    }
    for (int a = 0; a < args; ++a) {
      while (i < s.size() && s[i] == ' ') ++i;
      if (i >= s.size()) break;
      if (s[i] == '{') {
        size_t close = MatchingBrace(s, i);
        if (close == std::string_view::npos) break;
        out += '{' + BraceShorthandArguments(s.substr(i + 1, close - i - 1), depth + 1) + '}';
        i = close + 1;
      } else if (s[i] == '\\') {
        size_t k = i + 1;
        while (k < s.size() && IsAlpha(s[k])) ++k;
        if (k == i + 1 && k < s.size()) ++k;
        out += '{' + std::string(s.substr(i, k - i)) + '}';
        i = k;
      } else if (static_cast<unsigned char>(s[i]) < 0x80) {
        out += '{';
        out += s[i++];
        out += '}';
      } else {
        break;
      }
    }
  }
  return out;
}

// ---- tokens ---------------------------------------------------------------------------------------

enum class Tok : uint8_t { kNumber, kLetter, kWord, kCommand, kChar };

struct Token {
  Tok kind = Tok::kChar;
  std::string text;  // number digits, letter or word, command name
  char ch = 0;       // kChar
  int decimals = 0;
  bool decimal = false;
  bool from_text = false;  // came from \text{...} and the like
  bool space_before = false;
};

constexpr std::string_view kGreek[] = {
    "alpha", "beta",  "gamma", "delta", "epsilon", "varepsilon", "zeta",  "eta",    "theta", "vartheta",
    "iota",  "kappa", "lambda", "mu",   "nu",      "xi",         "rho",   "varrho", "sigma", "tau",
    "upsilon", "phi", "varphi", "chi",  "psi",     "omega",      "Gamma", "Delta",  "Theta", "Lambda",
    "Xi",    "Sigma", "Phi",   "Psi",   "Omega",   "ell"};
constexpr std::string_view kFunctions[] = {"sin",    "cos",    "tan",  "cot",  "sec",  "csc", "arcsin",
                                           "arccos", "arctan", "sinh", "cosh", "tanh", "exp", "ln", "log"};

bool IsFunctionName(std::string_view name) {
  return std::find(std::begin(kFunctions), std::end(kFunctions), name) != std::end(kFunctions);
}

// How letters read: math ("xy" is x*y), prose inside \text{} (words), or a math font such as
// \mathrm{} (a single letter is a symbol, a longer run a unit word).
enum class Mode : uint8_t { kMath, kProse, kMathFont };

class Tokenizer {
 public:
  Tokenizer(std::string_view s, Mode mode, int depth) : s_(s), mode_(mode), depth_(depth) {}

  bool Run(std::vector<Token>* out, std::string* error) {
    out_ = out;
    while (i_ < s_.size() && error_.empty()) Step();
    if (!error_.empty()) *error = error_;
    return error_.empty();
  }

 private:
  void Emit(Token t) {
    t.from_text = t.from_text || mode_ == Mode::kProse;
    t.space_before = pending_space_;
    pending_space_ = false;
    out_->push_back(std::move(t));
  }
  void EmitChar(char c) {
    Token t;
    t.ch = c;
    t.text = std::string(1, c);
    if (c == '(' || c == '[') ++paren_depth_;
    if ((c == ')' || c == ']') && paren_depth_ > 0) --paren_depth_;
    Emit(std::move(t));
  }
  void EmitCommand(std::string name) {
    Token t;
    t.kind = Tok::kCommand;
    t.text = std::move(name);
    Emit(std::move(t));
  }
  // "0.1\overline{6}" = 0.1 + 6/90: emitted as the tokens of that sum.
  void RepeatingDecimal() {
    if (!out_->empty() && out_->back().kind == Tok::kChar && out_->back().ch == '.') out_->pop_back();
    if (out_->empty() || out_->back().kind != Tok::kNumber) {
      error_ = "\\overline without a number before it";
      return;
    }
    Token start = std::move(out_->back());
    out_->pop_back();
    std::string_view repeat = BracedArgument();
    if (repeat.empty() || repeat.size() > 30 ||
        !std::all_of(repeat.begin(), repeat.end(), [](char c) { return IsDigit(c); })) {
      if (error_.empty()) error_ = "\\overline needs digits";
      return;
    }
    Token period;
    period.kind = Tok::kNumber;
    period.text = std::string(repeat);
    Token den = period;
    den.text = std::string(repeat.size(), '9') + std::string(static_cast<size_t>(start.decimals), '0');
    bool space = start.space_before;
    EmitChar('(');
    out_->back().space_before = space;
    Emit(std::move(start));
    EmitChar('+');
    Emit(std::move(period));
    EmitChar('/');
    Emit(std::move(den));
    EmitChar(')');
  }

  // "^\circ" and "^{\circ}" are one postfix degree sign, not a power.
  void EmitDegree() {
    auto is_char = [&](size_t from_end, char c) {
      return out_->size() >= from_end && (*out_)[out_->size() - from_end].kind == Tok::kChar &&
             (*out_)[out_->size() - from_end].ch == c;
    };
    if (is_char(1, '^')) {
      out_->pop_back();
    } else if (is_char(2, '^') && is_char(1, '{')) {
      size_t j = i_;
      while (j < s_.size() && s_[j] == ' ') ++j;
      if (j < s_.size() && s_[j] == '}') {
        out_->resize(out_->size() - 2);
        i_ = j + 1;
      }
    }
    EmitCommand("degree");
  }
  void EmitLetter(std::string name) {
    Token t;
    t.kind = Tok::kLetter;
    t.text = std::move(name);
    Emit(std::move(t));
  }

  void Step() {
    char c = s_[i_];
    if (IsSpace(c)) {
      pending_space_ = true;
      ++i_;
    } else if (IsDigit(c) || (c == '.' && i_ + 1 < s_.size() && IsDigit(s_[i_ + 1]))) {
      Number();
    } else if (IsAlpha(c)) {
      Letters();
    } else if (c == '\\') {
      Command();
    } else if (c == '$') {
      ++i_;
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      Unicode();
    } else if (std::strchr("+-*/^_()[]{},=!|<>%.;:'?&", c) != nullptr) {
      ++i_;
      if (c == '*' && i_ < s_.size() && s_[i_] == '*') {  // "**" power, as in code
        ++i_;
        c = '^';
      }
      if (c == '&') {  // a column break inside a matrix, else an alignment mark
        if (matrix_depth_ > 0) EmitChar('&');
        return;
      }
      // ASCII relations as code writes them: "<=", ">=", "!=" (so "x != 3" is not a factorial).
      if ((c == '<' || c == '>' || c == '!') && i_ < s_.size() && s_[i_] == '=') {
        ++i_;
        EmitCommand(c == '<' ? "le" : c == '>' ? "ge" : "ne");
        return;
      }
      EmitChar(c);
    } else {
      error_ = std::string("unexpected character '") + c + "'";
    }
  }

  // A digit group separator at i_ followed by exactly three digits: "1,000", "1{,}000", "1\,000",
  // "1 000". A bare comma or space only counts outside brackets, where "(1,234)" is a pair.
  size_t SeparatorLength() const {
    for (std::string_view sep : {std::string_view(",\\! "), std::string_view(",\\!"), std::string_view("{,}"),
                                 std::string_view("\\,"), std::string_view("\\ "), std::string_view(","),
                                 std::string_view(" ")}) {
      if (s_.compare(i_, sep.size(), sep) != 0) continue;
      if ((sep == "," || sep == " ") && paren_depth_ > 0) return 0;
      size_t d = i_ + sep.size();
      if (d + 3 > s_.size() || !IsDigit(s_[d]) || !IsDigit(s_[d + 1]) || !IsDigit(s_[d + 2])) return 0;
      if (d + 3 < s_.size() && IsDigit(s_[d + 3])) return 0;
      return sep.size();
    }
    return 0;
  }

  void Number() {
    Token t;
    t.kind = Tok::kNumber;
    size_t start = i_;
    while (i_ < s_.size() && IsDigit(s_[i_])) t.text += s_[i_++];
    size_t first_group = i_ - start;
    if (first_group >= 1 && first_group <= 3 && s_[start] != '0') {
      while (i_ < s_.size()) {
        size_t sep = SeparatorLength();
        if (sep == 0) break;
        i_ += sep;
        t.text.append(s_.substr(i_, 3));
        i_ += 3;
      }
    }
    if (i_ + 1 < s_.size() && s_[i_] == '.' && IsDigit(s_[i_ + 1])) {
      ++i_;
      t.decimal = true;
      while (i_ < s_.size() && IsDigit(s_[i_])) {
        t.text += s_[i_++];
        ++t.decimals;
      }
    }
    // Scientific notation written as code does it: "1e-9", "2.5E+3" (no spaces; "2e" is 2*e).
    if (i_ + 1 < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      size_t j = i_ + 1;
      bool negative = false;
      if (j < s_.size() && (s_[j] == '+' || s_[j] == '-')) negative = s_[j++] == '-';
      size_t digits_start = j;
      while (j < s_.size() && IsDigit(s_[j]) && j - digits_start < 4) ++j;
      bool ends = j >= s_.size() || !(IsAlpha(s_[j]) || IsDigit(s_[j]));
      if (j > digits_start && ends) {
        int exponent = std::stoi(std::string(s_.substr(digits_start, j - digits_start)));
        if (exponent <= 1000) {
          t.decimal = true;
          t.decimals += negative ? exponent : -exponent;
          if (t.decimals < 0) {
            t.text.append(static_cast<size_t>(-t.decimals), '0');
            t.decimals = 0;
          }
          i_ = j;
        }
      }
    }
    // Canonical digits: no trailing fractional zeros, no leading zeros.
    while (t.decimals > 0 && !t.text.empty() && t.text.back() == '0') {  // "0e-2" empties it
      t.text.pop_back();
      --t.decimals;
    }
    size_t nz = t.text.find_first_not_of('0');
    t.text = nz == std::string::npos ? "0" : t.text.substr(nz);
    if (t.text == "0") t.decimals = 0;
    Emit(std::move(t));
  }

  void Letters() {
    size_t start = i_;
    while (i_ < s_.size() && IsAlpha(s_[i_])) ++i_;
    std::string run(s_.substr(start, i_ - start));
    if (run == "infinity" || run == "infty" || run == "Infinity") {
      EmitCommand("infty");
      return;
    }
    if (mode_ != Mode::kMath) {
      if (run.size() == 1) {
        EmitLetter(run);
      } else {
        Token t;
        t.kind = Tok::kWord;
        t.text = run;
        Emit(std::move(t));
      }
      return;
    }
    if (IsFunctionName(run) || run == "sqrt" || run == "pi") {
      EmitCommand(run);
      return;
    }
    // A separate word ("5 apples", "yes") is text; letters run together with math ("3xy") are a product.
    char before = start == 0 ? ' ' : s_[start - 1];
    char after = i_ >= s_.size() ? ' ' : s_[i_];
    // "(11,7)or(7,11)": a connective between bracketed answers, however tightly written.
    if ((run == "or" || run == "and") && (before == ')' || before == ']') && (after == '(' || after == '[')) {
      Token t;
      t.kind = Tok::kWord;
      t.text = run;
      Emit(std::move(t));
      return;
    }
    bool separate = (IsSpace(before) || before == '$' || before == '}') &&
                    (IsSpace(after) || std::strchr(".,;:!?$\\", after) != nullptr);
    if (run.size() >= 2 && separate) {
      Token t;
      t.kind = Tok::kWord;
      t.text = run;
      Emit(std::move(t));
      return;
    }
    for (char c : run) EmitLetter(std::string(1, c));
  }

  // The braced argument after a command, or "" when there is none.
  std::string_view BracedArgument() {
    size_t j = i_;
    while (j < s_.size() && s_[j] == ' ') ++j;
    if (j >= s_.size() || s_[j] != '{') return {};
    size_t close = MatchingBrace(s_, j);
    if (close == std::string_view::npos) {
      error_ = "unbalanced braces";
      return {};
    }
    i_ = close + 1;
    return s_.substr(j + 1, close - j - 1);
  }

  void Command() {
    ++i_;
    if (i_ >= s_.size()) return;
    // "\\frac", "\\left": a backslash escaped once too often (answers copied from JSON or Python
    // source). Inside a matrix "\\" is a row break, whatever follows.
    if (s_[i_] == '\\' && matrix_depth_ == 0 && i_ + 1 < s_.size() && IsAlpha(s_[i_ + 1])) ++i_;
    if (s_[i_] == '\\' && matrix_depth_ > 0) {
      ++i_;
      EmitCommand("matrow");
      return;
    }
    if (!IsAlpha(s_[i_])) {
      char c = s_[i_++];
      switch (c) {
        case '{': EmitCommand("lbrace"); return;
        case '}': EmitCommand("rbrace"); return;
        case '%': EmitChar('%'); return;
        case '|': EmitChar('|'); return;
        case '$': case '!': case '#': case '&': return;
        case ',': case ';': case ':': case ' ': case '\\': pending_space_ = true; return;
        case '(': case ')': case '[': case ']': return;  // \( \) \[ \] math delimiters
        default: error_ = std::string("unsupported command \\") + c; return;
      }
    }
    size_t start = i_;
    while (i_ < s_.size() && IsAlpha(s_[i_])) ++i_;
    std::string name(s_.substr(start, i_ - start));
    // "\quadx_2": spacing run into the next name, as in "x_1=1,\quadx_2=2".
    for (std::string_view spacing : {std::string_view("qquad"), std::string_view("quad")}) {
      if (name.size() > spacing.size() && StartsWith(name, spacing)) {
        i_ = start + spacing.size();
        name = std::string(spacing);
        break;
      }
    }
    if (name == "begin" || name == "end") return Environment(name == "begin");
    if (OneOf(name, {"left", "right", "bigl", "bigr", "big", "Big", "Bigl", "Bigr", "bigg", "Bigg", "biggl",
                     "biggr", "Biggl", "Biggr", "middle"})) {
      if (i_ < s_.size() && s_[i_] == '.') ++i_;  // \left. is an invisible delimiter
      return;
    }
    if (OneOf(name, {"displaystyle", "textstyle", "scriptstyle", "limits", "nolimits", "boxed", "fbox", "quad",
                     "qquad", "newline", "dollar", "mathdollar", "hfill", "cr"})) {
      pending_space_ = true;
      return;
    }
    if (OneOf(name, {"hspace", "vspace", "phantom", "hphantom", "vphantom", "label", "tag"})) {
      BracedArgument();
      return;
    }
    bool prose = OneOf(name, {"text", "textbf", "textit", "textrm", "textnormal", "textsf", "texttt", "mbox", "emph",
                              "textup"});
    if (prose || OneOf(name, {"mathrm", "mathbf", "mathit", "mathsf", "mathtt", "mathnormal", "boldsymbol", "bm",
                              "operatorname", "mathbb", "mathcal"})) {
      std::string_view inner = BracedArgument();
      if (!error_.empty()) return;
      if (depth_ >= kMaxNestingDepth) {
        error_ = "nested too deeply";
        return;
      }
      bool space = pending_space_;
      std::vector<Token> inner_tokens;
      Tokenizer sub(inner, prose ? Mode::kProse : Mode::kMathFont, depth_ + 1);
      if (!sub.Run(&inner_tokens, &error_)) return;
      for (size_t k = 0; k < inner_tokens.size(); ++k) {
        if (k == 0) inner_tokens[k].space_before = inner_tokens[k].space_before || space;
        if (inner_tokens[k].kind == Tok::kChar && (inner_tokens[k].ch == '(' || inner_tokens[k].ch == '[')) {
          ++paren_depth_;
        }
        out_->push_back(std::move(inner_tokens[k]));
      }
      pending_space_ = true;
      return;
    }
    if (OneOf(name, {"dfrac", "tfrac", "cfrac"})) name = "frac";
    if (OneOf(name, {"dbinom", "tbinom"})) name = "binom";
    if (OneOf(name, {"leq", "leqslant", "le"})) name = "le";
    if (OneOf(name, {"geq", "geqslant", "ge"})) name = "ge";
    if (OneOf(name, {"neq", "ne"})) name = "ne";
    if (OneOf(name, {"varnothing", "emptyset"})) name = "emptyset";
    if (OneOf(name, {"circ", "degree"})) return EmitDegree();
    if (name == "overline" || name == "bar") return RepeatingDecimal();
    if (name == "lt") return EmitChar('<');
    if (name == "gt") return EmitChar('>');
    if (OneOf(name, {"cdot", "times", "ast", "cdotp"})) return EmitChar('*');
    if (name == "div") return EmitChar('/');
    if (OneOf(name, {"vert", "lvert", "rvert", "mid"})) return EmitChar('|');
    if (OneOf(name, {"lbrack"})) return EmitChar('[');
    if (OneOf(name, {"rbrack"})) return EmitChar(']');
    if (name == "equiv") return EmitChar('=');
    if (std::find(std::begin(kGreek), std::end(kGreek), name) != std::end(kGreek)) return EmitLetter(name);
    if (name == "langle") ++paren_depth_;
    if (name == "rangle" && paren_depth_ > 0) --paren_depth_;
    EmitCommand(std::move(name));
  }

  // \begin{pmatrix} ... \end{pmatrix} (and bmatrix, array, ...) become "matbegin"/"matend" around
  // entries separated by '&' and rows by "matrow". Other environments (align, cases) are layout.
  void Environment(bool begin) {
    std::string_view env = BracedArgument();
    if (!error_.empty()) return;
    std::string name(env);
    if (!name.empty() && name.back() == '*') name.pop_back();
    bool matrix = OneOf(name, {"matrix", "pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix", "smallmatrix",
                               "array"});
    if (!matrix) {
      pending_space_ = true;
      return;
    }
    if (begin) {
      if (name == "array") BracedArgument();  // the column spec {cc}
      ++matrix_depth_;
      EmitCommand("matbegin");
    } else if (matrix_depth_ > 0) {
      --matrix_depth_;
      EmitCommand("matend");
    } else {
      error_ = "\\end{" + name + "} without \\begin";
    }
  }

  void Unicode() {
    struct Mapping {
      std::string_view bytes;
      char ch;
      std::string_view command;
    };
    static constexpr Mapping kMap[] = {
        {"\xCF\x80", 0, "pi"},         {"\xE2\x88\x9E", 0, "infty"},   {"\xE2\x88\x9A", 0, "sqrt"},
        {"\xC3\x97", '*', ""},         {"\xC2\xB7", '*', ""},          {"\xE2\x8B\x85", '*', ""},
        {"\xC2\xB0", 0, "degree"},     {"\xE2\x88\x92", '-', ""},      {"\xE2\x80\x93", '-', ""},
        {"\xE2\x89\xA4", 0, "le"},     {"\xE2\x89\xA5", 0, "ge"},      {"\xE2\x89\xA0", 0, "ne"},
        {"\xE2\x88\xAA", 0, "cup"},    {"\xC3\xB7", '/', ""},          {"\xC2\xA0", ' ', ""},
        {"\xE2\x80\xAF", ' ', ""},     {"\xE2\x80\x89", ' ', ""},      {"\xC2\xB1", 0, "pm"},
        {"\xE2\x88\x85", 0, "emptyset"}};
    for (const Mapping& m : kMap) {
      if (s_.compare(i_, m.bytes.size(), m.bytes) != 0) continue;
      i_ += m.bytes.size();
      if (m.ch == ' ') {
        pending_space_ = true;
      } else if (m.ch != 0) {
        EmitChar(m.ch);
      } else {
        EmitCommand(std::string(m.command));
      }
      return;
    }
    if (mode_ != Mode::kMath) {  // accented letters in words: part of the word, never math
      size_t start = i_++;
      while (i_ < s_.size() && (static_cast<unsigned char>(s_[i_]) & 0xC0) == 0x80) ++i_;
      Token t;
      t.kind = Tok::kWord;
      t.text = std::string(s_.substr(start, i_ - start));
      Emit(std::move(t));
      return;
    }
    error_ = "unsupported non-ASCII character";
  }

  std::string_view s_;
  Mode mode_;
  int depth_;
  size_t i_ = 0;
  int paren_depth_ = 0;
  int matrix_depth_ = 0;
  bool pending_space_ = false;
  std::vector<Token>* out_ = nullptr;
  std::string error_;
};

// ---- parser ---------------------------------------------------------------------------------------

bool IsOpener(const Token& t) {
  return (t.kind == Tok::kChar && (t.ch == '(' || t.ch == '[' || t.ch == '{')) ||
         (t.kind == Tok::kCommand && OneOf(t.text, {"lbrace", "langle", "lfloor", "lceil", "matbegin"}));
}
bool IsCloser(const Token& t) {
  return (t.kind == Tok::kChar && (t.ch == ')' || t.ch == ']' || t.ch == '}')) ||
         (t.kind == Tok::kCommand && OneOf(t.text, {"rbrace", "rangle", "rfloor", "rceil", "matend"}));
}

struct Range {
  size_t b, e;
};

class Parser {
 public:
  Parser(std::vector<Token> tokens, Tree* tree, int depth) : t_(std::move(tokens)), tree_(tree), depth_(depth) {}

  bool ParseAnswer(Value* out) { return ParseValue(0, t_.size(), out) && error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  // ---- helpers
  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  int FailNode(std::string message) {
    Fail(std::move(message));
    return -1;
  }
  bool IsChar(size_t i, char c) const { return i < end_ && t_[i].kind == Tok::kChar && t_[i].ch == c; }
  // The same tests bounded by the whole token list, for value-level scans outside ParseExprRange.
  bool CharIs(size_t i, char c) const { return i < t_.size() && t_[i].kind == Tok::kChar && t_[i].ch == c; }
  bool CmdIs(size_t i, std::string_view name) const { return i < t_.size() && TokenIsCmd(t_[i], name); }
  bool IsCmd(size_t i, std::string_view name) const {
    return i < end_ && t_[i].kind == Tok::kCommand && t_[i].text == name;
  }
  static bool TokenIsCmd(const Token& t, std::string_view name) {
    return t.kind == Tok::kCommand && t.text == name;
  }
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case Tok::kCommand: return "'\\" + t.text + "'";
      default: return "'" + t.text + "'";
    }
  }
  int NewNode(Op op, int a = -1, int b = -1, std::string text = "") {
    if (tree_->nodes.size() >= kMaxNodes) return FailNode("answer too large");
    Node n;
    n.op = op;
    n.a = a;
    n.b = b;
    n.text = std::move(text);
    return tree_->Add(std::move(n));
  }
  int NewNumber(std::string digits) {
    int n = NewNode(Op::kNumber);
    if (n >= 0) tree_->nodes[n].text = std::move(digits);
    return n;
  }

  // Splits [b, e) at depth-0 tokens satisfying `split`.
  template <typename Pred>
  std::vector<Range> SplitTopLevel(size_t b, size_t e, Pred split) const {
    std::vector<Range> parts;
    int depth = 0;
    size_t start = b;
    for (size_t i = b; i < e; ++i) {
      if (IsOpener(t_[i])) ++depth;
      if (IsCloser(t_[i])) depth = std::max(0, depth - 1);
      if (depth == 0 && split(t_[i])) {
        parts.push_back({start, i});
        start = i + 1;
      }
    }
    parts.push_back({start, e});
    return parts;
  }

  // The index closing the opener at b when every bracket kind counts alike, or npos.
  size_t GroupEnd(size_t b, size_t e) const {
    int depth = 0;
    for (size_t i = b; i < e; ++i) {
      if (IsOpener(t_[i])) ++depth;
      if (IsCloser(t_[i]) && --depth == 0) return i;
    }
    return std::string::npos;
  }

  // "x", "x_1", "\\alpha", "f(x)": the left side of an equation that names its right side.
  bool IsName(size_t b, size_t e) const {
    if (b >= e || t_[b].kind != Tok::kLetter) return false;
    size_t i = b + 1;
    if (i < e && t_[i].kind == Tok::kChar && t_[i].ch == '_') {
      ++i;
      if (i < e && IsOpener(t_[i])) {
        size_t close = GroupEnd(i, e);
        if (close == std::string::npos) return false;
        i = close + 1;
      } else {
        ++i;
      }
    }
    if (i < e && t_[i].kind == Tok::kChar && t_[i].ch == '(' && GroupEnd(i, e) == e - 1) return true;
    return i == e;
  }

  // The end of the name starting at b ("x", "x_{12}", "f(x)", "x'"), or npos.
  size_t NameEnd(size_t b, size_t e) const {
    if (b >= e || t_[b].kind != Tok::kLetter) return std::string::npos;
    size_t i = b + 1;
    if (CharIs(i, '_')) {
      ++i;
      if (i < e && IsOpener(t_[i])) {
        size_t close = GroupEnd(i, e);
        if (close == std::string::npos) return close;
        i = close + 1;
      } else if (i < e) {
        ++i;
      } else {
        return std::string::npos;
      }
    }
    while (CharIs(i, '\'')) ++i;
    if (CharIs(i, '(')) {
      size_t close = GroupEnd(i, e);
      if (close == std::string::npos) return close;
      i = close + 1;
    }
    return i;
  }

  // A quantity named without numbers or sums: "AB", "|AB|", "\frac{NO}{BO}", "V_1:V_2", "(p, q)",
  // "f(x)". Such a left side stands for its right side ("AB = 4" answers 4), while "2x + z = 1" or
  // "a^2 + b = 0" is an equation in its own right.
  bool IsNameLike(size_t b, size_t e, int depth = 0) const {
    if (b >= e || depth > 8) return false;
    if (IsName(b, e)) return true;
    if (CharIs(b, '(') && GroupEnd(b, e) == e - 1) {
      std::vector<Range> parts = SplitTopLevel(b + 1, e - 1, [](const Token& t) {
        return t.kind == Tok::kChar && (t.ch == ',' || t.ch == ';');
      });
      if (parts.size() < 2) return IsNameLike(b + 1, e - 1, depth + 1);
      for (const Range& r : parts) {
        if (!IsNameLike(r.b, r.e, depth + 1)) return false;
      }
      return true;
    }
    size_t i = b;
    bool any = false;
    while (i < e) {
      if (CharIs(i, '|')) {
        size_t close = i + 1;
        while (close < e && !CharIs(close, '|')) ++close;
        if (close >= e || !IsNameLike(i + 1, close, depth + 1)) return false;
        i = close + 1;
      } else if (CmdIs(i, "frac")) {
        size_t num_end = CharIs(i + 1, '{') ? GroupEnd(i + 1, e) : std::string::npos;
        size_t den_end = num_end != std::string::npos && CharIs(num_end + 1, '{') ? GroupEnd(num_end + 1, e)
                                                                                  : std::string::npos;
        if (den_end == std::string::npos || !IsNameLike(i + 2, num_end, depth + 1) ||
            !IsNameLike(num_end + 2, den_end, depth + 1)) {
          return false;
        }
        i = den_end + 1;
      } else if (any && (CharIs(i, '/') || CharIs(i, ':') || CharIs(i, '*'))) {
        ++i;
        continue;
      } else {
        size_t end = NameEnd(i, e);
        if (end == std::string::npos) return false;
        i = end;
      }
      any = true;
    }
    return any;
  }

  bool HasSymbols(int node) const {
    std::vector<std::string> names;
    CollectSymbols(*tree_, node, &names);
    return !names.empty();
  }

  // ---- values
  bool ParseValue(size_t b, size_t e, Value* out) {
    while (e > b && t_[e - 1].kind == Tok::kChar && std::strchr(".;:,", t_[e - 1].ch)) --e;
    while (b < e && t_[b].kind == Tok::kChar && std::strchr(",;:", t_[b].ch)) ++b;
    if (b >= e) return Fail("empty answer");
    std::vector<Range> unions = SplitTopLevel(b, e, [](const Token& t) { return TokenIsCmd(t, "cup"); });
    const bool by_union = unions.size() > 1;
    // "p=5,q=2; p=7,q=2": semicolons between comma lists separate whole solutions, each a tuple.
    auto is_comma = [](const Token& t) { return t.kind == Tok::kChar && t.ch == ','; };
    if (unions.size() == 1) {
      std::vector<Range> groups = SplitTopLevel(b, e, [](const Token& t) { return t.kind == Tok::kChar && t.ch == ';'; });
      bool lists = groups.size() > 1 && std::any_of(groups.begin(), groups.end(), [&](const Range& r) {
        return SplitTopLevel(r.b, r.e, is_comma).size() > 1;
      });
      if (lists) {
        if (groups.size() > kMaxSetElements) return Fail("too many elements");
        out->kind = Kind::kSet;
        for (const Range& g : groups) {
          std::vector<Range> parts = SplitTopLevel(g.b, g.e, is_comma);
          Value tuple;
          tuple.kind = Kind::kTuple;
          if (parts.size() == 1) {
            if (!ParseElement(g.b, g.e, &tuple)) return false;
          } else if (!ParseItems(parts, &tuple)) {
            return false;
          }
          out->items.push_back(std::move(tuple));
        }
        return true;
      }
    }
    if (unions.size() == 1) {
      unions = SplitTopLevel(b, e, [](const Token& t) { return t.kind == Tok::kChar && (t.ch == ',' || t.ch == ';'); });
    }
    if (unions.size() == 1) return ParseElement(b, e, out);
    // "z \in [-2, -1] \cup [1, 2]": the union is the right side of the membership.
    bool relation_first = false;
    for (size_t i = unions[0].b, depth = 0; by_union && i < unions[0].e; ++i) {
      if (IsOpener(t_[i])) ++depth;
      if (IsCloser(t_[i]) && depth > 0) --depth;
      if (depth == 0 && (TokenIsCmd(t_[i], "in") || (t_[i].kind == Tok::kChar && t_[i].ch == '='))) relation_first = true;
    }
    if (relation_first) return ParseElement(b, e, out);
    if (unions.size() > kMaxSetElements) return Fail("too many elements");
    out->kind = Kind::kSet;
    for (const Range& r : unions) {
      Value v;
      if (!ParseElement(r.b, r.e, &v)) return false;
      AppendElement(std::move(v), out);
    }
    return true;
  }

  // Elements of a set that are themselves "±" pairs are spliced in: {1 ± 2} = {3, -1}.
  static void AppendElement(Value v, Value* set) {
    if (v.kind == Kind::kSet && v.text == "pm") {
      for (Value& item : v.items) set->items.push_back(std::move(item));
    } else {
      set->items.push_back(std::move(v));
    }
  }

  bool ParseElement(size_t b, size_t e, Value* out) {
    if (b >= e) return Fail("empty element");
    if (++depth_ > kMaxNestingDepth) return Fail("nested too deeply");
    bool ok = ParseElementInner(b, e, out);
    --depth_;
    return ok;
  }

  bool ParseElementInner(size_t b, size_t e, Value* out) {
    // Each \\pm doubles the work: a handful is all a real answer has.
    size_t first_pm = e, pm_count = 0;
    for (size_t i = b; i < e; ++i) {
      if (TokenIsCmd(t_[i], "pm") || TokenIsCmd(t_[i], "mp")) {
        first_pm = std::min(first_pm, i);
        ++pm_count;
      }
    }
    if (pm_count > 3) return Fail("too many \\pm");
    if (pm_count > 0) return ExpandPlusMinus(b, e, first_pm, out);
    // "\frac13 \approx 0.333": the exact value before an approximation is the answer; only after a
    // bare name ("x \approx 11") is the approximation all there is.
    auto is_eq = [](const Token& t) { return (t.kind == Tok::kChar && t.ch == '=') || TokenIsCmd(t, "in"); };
    for (size_t i = b, depth = 0; i < e; ++i) {
      if (IsOpener(t_[i])) ++depth;
      if (IsCloser(t_[i]) && depth > 0) --depth;
      if (depth > 0 || !TokenIsCmd(t_[i], "approx")) continue;
      if (i == b) return Fail("nothing before '\\approx'");
      if (SplitTopLevel(b, i, is_eq).size() == 1 && IsNameLike(b, i)) {
        t_[i].kind = Tok::kChar;
        t_[i].ch = '=';
        t_[i].text = "=";
      } else {
        e = i;
      }
      break;
    }
    // Relations: "x = 5", "x \in [1, 2]", "1 < x \le 3". In a chain "x = 5+5+1 = 11" the first and
    // last members are the equation; the steps between are working.
    std::vector<Range> eq = SplitTopLevel(b, e, is_eq);
    if (eq.size() > 1) {
      Range lhs = eq[0];
      size_t rhs_begin = eq.back().b;
      if (lhs.b == lhs.e) return ParseElement(eq[1].b, e, out);  // "= 5"
      if (rhs_begin >= e) return Fail("nothing after '='");
      Value left, right;
      if (!ParseElement(lhs.b, lhs.e, &left)) return false;
      if (!ParseValue(rhs_begin, e, &right)) return false;
      out->kind = Kind::kEquation;
      out->named_lhs = IsNameLike(lhs.b, lhs.e);
      out->text = TokenIsCmd(t_[lhs.e], "in") ? "in" : "=";
      bool plain_left = left.kind == Kind::kExpr && !left.percent && !left.degrees;
      bool plain_right = right.kind == Kind::kExpr && !right.percent && !right.degrees;
      // "1/2 = 10/9" or "1 = 0": a computation whose last member is the result.
      if (plain_left && !HasSymbols(left.expr) && right.kind != Kind::kEquation &&
          !(plain_right && HasSymbols(right.expr))) {
        out->named_lhs = true;
      }
      if (plain_left && plain_right) {
        out->diff = NewNode(Op::kSub, left.expr, right.expr);
        out->neg_diff = NewNode(Op::kSub, right.expr, left.expr);
      }
      out->items.push_back(std::move(left));
      out->items.push_back(std::move(right));
      return error_.empty();
    }
    auto is_rel = [](const Token& t) {
      return (t.kind == Tok::kChar && (t.ch == '<' || t.ch == '>')) || TokenIsCmd(t, "le") ||
             TokenIsCmd(t, "ge") || TokenIsCmd(t, "ne");
    };
    std::vector<Range> rel = SplitTopLevel(b, e, is_rel);
    if (rel.size() > 1) return ParseRelation(rel, out);
    // "7:32": a ratio, compared term by term (so the time "12:00" is not "1:00").
    std::vector<Range> ratio = SplitTopLevel(b, e, [](const Token& t) { return t.kind == Tok::kChar && t.ch == ':'; });
    if (ratio.size() == 2 && ratio[0].b < ratio[0].e && ratio[1].b < ratio[1].e) {
      out->kind = Kind::kTuple;
      out->text = "ratio";
      return ParseItems(ratio, out);
    }
    if (ContainsMatrix(b, e)) return ParseMatrixExpression(b, e, out);

    // Whole-span brackets: sets, tuples, intervals.
    size_t close = IsOpener(t_[b]) ? GroupEnd(b, e) : std::string::npos;
    if (close == e - 1) {
      const Token& open = t_[b];
      const Token& shut = t_[e - 1];
      std::vector<Range> parts = SplitTopLevel(
          b + 1, e - 1, [](const Token& t) { return t.kind == Tok::kChar && (t.ch == ',' || t.ch == ';'); });
      if (TokenIsCmd(open, "lbrace") || (open.kind == Tok::kChar && open.ch == '{' && parts.size() > 1)) {
        out->kind = Kind::kSet;
        if (parts.size() == 1 && parts[0].b == parts[0].e) return true;  // \{\}
        return ParseItems(parts, out);
      }
      if (TokenIsCmd(open, "langle")) {
        out->kind = Kind::kTuple;
        return ParseItems(parts, out);
      }
      if (parts.size() > 1 && open.kind == Tok::kChar && shut.kind == Tok::kChar) {
        bool round_open = open.ch == '(', round_close = shut.ch == ')';
        if (parts.size() == 2 && (!round_open || !round_close)) {
          out->kind = Kind::kInterval;
          out->lo_closed = open.ch == '[';
          out->hi_closed = shut.ch == ']';
          for (const Range& r : parts) {
            Value end;
            end.expr = ParseExprRange(r.b, r.e);
            if (end.expr < 0) return false;
            out->items.push_back(std::move(end));
          }
          return true;
        }
        out->kind = Kind::kTuple;
        return ParseItems(parts, out);
      }
    }
    if (e - b == 1 && TokenIsCmd(t_[b], "emptyset")) {
      out->kind = Kind::kSet;
      return true;
    }
    out->kind = Kind::kExpr;
    int node = ParseExprRange(b, e);
    if (node < 0) return false;
    UnwrapUnits(node, out);
    return error_.empty();
  }

  bool ContainsMatrix(size_t b, size_t e) const {
    for (size_t i = b; i < e; ++i) {
      if (TokenIsCmd(t_[i], "matbegin")) return true;
    }
    return false;
  }

  using Grid = std::vector<std::vector<int>>;  // expression nodes, row by row

  bool ParseMatrixLiteral(size_t b, size_t e, Grid* grid) {
    std::vector<Range> rows = SplitTopLevel(b, e, [](const Token& t) { return TokenIsCmd(t, "matrow"); });
    for (const Range& row : rows) {
      if (row.b == row.e) continue;  // a trailing "\\" before \end
      std::vector<Range> cells =
          SplitTopLevel(row.b, row.e, [](const Token& t) { return t.kind == Tok::kChar && t.ch == '&'; });
      std::vector<int> nodes;
      for (const Range& c : cells) {
        int node = ParseExprRange(c.b, c.e);
        if (node < 0) return false;
        nodes.push_back(node);
      }
      if (!grid->empty() && nodes.size() != grid->front().size()) return Fail("matrix rows of different lengths");
      grid->push_back(std::move(nodes));
      if (grid->size() > kMaxSetElements || grid->front().size() > kMaxSetElements) return Fail("matrix too large");
    }
    if (grid->empty()) return Fail("empty matrix");
    return true;
  }

  // Matrices, possibly in brackets, added, subtracted or multiplied: "M1 + M2", "M1 M2", "[M]".
  bool ParseMatrixExpression(size_t b, size_t e, Value* out) {
    Grid acc;
    bool have = false;
    char pending = 0;  // '+', '-' or '*' between the accumulated value and the next matrix
    size_t i = b;
    while (i < e) {
      if (CharIs(i, '+') || CharIs(i, '-') || CharIs(i, '*')) {
        if (!have || pending != 0) return Fail("misplaced operator between matrices");
        pending = t_[i++].ch;
        continue;
      }
      // Brackets around a single matrix are decoration: "\left[\begin{array}..\end{array}\right]".
      size_t open = i, levels = 0;
      while (open < e && IsOpener(t_[open]) && !TokenIsCmd(t_[open], "matbegin")) {
        ++open;
        ++levels;
      }
      if (open >= e || !TokenIsCmd(t_[open], "matbegin")) return Fail("expected a matrix");
      size_t close = GroupEnd(open, e);
      if (close == std::string::npos) return Fail("unbalanced matrix");
      Grid m;
      if (!ParseMatrixLiteral(open + 1, close, &m)) return false;
      i = close + 1;
      for (size_t k = 0; k < levels; ++k, ++i) {
        if (i >= e || !IsCloser(t_[i])) return Fail("unbalanced brackets around a matrix");
      }
      if (!have) {
        acc = std::move(m);
        have = true;
      } else if (pending == '+' || pending == '-') {
        if (m.size() != acc.size() || m[0].size() != acc[0].size()) return Fail("adding matrices of different sizes");
        for (size_t r = 0; r < m.size(); ++r) {
          for (size_t c = 0; c < m[r].size(); ++c) {
            acc[r][c] = NewNode(pending == '+' ? Op::kAdd : Op::kSub, acc[r][c], m[r][c]);
          }
        }
      } else {
        if (acc[0].size() != m.size()) return Fail("multiplying matrices of incompatible sizes");
        if (acc.size() * m[0].size() * m.size() > kMaxNodes / 4) return Fail("matrix product too large");
        Grid product(acc.size(), std::vector<int>(m[0].size(), -1));
        for (size_t r = 0; r < acc.size(); ++r) {
          for (size_t c = 0; c < m[0].size(); ++c) {
            for (size_t k = 0; k < m.size(); ++k) {
              int term = NewNode(Op::kMul, acc[r][k], m[k][c]);
              product[r][c] = product[r][c] < 0 ? term : NewNode(Op::kAdd, product[r][c], term);
            }
          }
        }
        acc = std::move(product);
      }
      if (!error_.empty()) return false;
      pending = 0;
    }
    if (!have || pending != 0) return Fail("incomplete matrix expression");
    out->kind = Kind::kTuple;
    out->text = "matrix";
    for (const std::vector<int>& row : acc) {
      Value r;
      r.kind = Kind::kTuple;
      for (int node : row) {
        Value cell;
        cell.expr = node;
        r.items.push_back(std::move(cell));
      }
      out->items.push_back(std::move(r));
    }
    return true;
  }

  bool ParseItems(const std::vector<Range>& parts, Value* out) {
    if (parts.size() > kMaxSetElements) return Fail("too many elements");
    for (const Range& r : parts) {
      Value v;
      if (!ParseElement(r.b, r.e, &v)) return false;
      if (out->kind == Kind::kSet) {
        AppendElement(std::move(v), out);
      } else {
        out->items.push_back(std::move(v));
      }
    }
    return true;
  }

  // "1 \pm \sqrt{2}" is the pair {1 + sqrt(2), 1 - sqrt(2)}.
  bool ExpandPlusMinus(size_t b, size_t e, size_t at, Value* out) {
    out->kind = Kind::kSet;
    out->text = "pm";
    bool minus_first = TokenIsCmd(t_[at], "mp");
    for (char sign : {'+', '-'}) {
      std::vector<Token> copy(t_.begin() + b, t_.begin() + e);
      Token& op = copy[at - b];
      op.kind = Tok::kChar;
      op.ch = minus_first ? (sign == '+' ? '-' : '+') : sign;
      op.text = std::string(1, op.ch);
      Parser sub(std::move(copy), tree_, depth_ + 1);
      Value v;
      if (!sub.ParseElement(0, sub.t_.size(), &v)) return Fail(sub.error_);
      AppendElement(std::move(v), out);
    }
    return true;
  }

  bool ParseRelation(const std::vector<Range>& parts, Value* out) {
    out->kind = Kind::kRelation;
    std::vector<std::string> ops;
    for (size_t k = 0; k < parts.size(); ++k) {
      Value v;
      v.expr = ParseExprRange(parts[k].b, parts[k].e);
      if (v.expr < 0) return false;
      out->items.push_back(std::move(v));
      if (k + 1 < parts.size()) {
        const Token& t = t_[parts[k].e];
        ops.push_back(t.kind == Tok::kChar ? std::string(1, t.ch) : t.text);
      }
    }
    // Written with > / >=: flip so that equal relations print and compare alike.
    bool all_greater = std::all_of(ops.begin(), ops.end(), [](const std::string& o) { return o == ">" || o == "ge"; });
    if (all_greater) {
      std::reverse(out->items.begin(), out->items.end());
      std::reverse(ops.begin(), ops.end());
    }
    std::vector<std::string> norm;
    for (size_t k = 0; k < ops.size(); ++k) {
      std::string op = ops[k];
      if (all_greater && op == ">") op = "<";
      if (op == "ge" || op == "le") op = all_greater || op == "le" ? "<=" : ">=";
      if (op == "ne") op = "!=";
      norm.push_back(op);
      out->text += (k ? "," : "") + op;
    }
    if (out->items.size() == 2) {
      out->diff = NewNode(Op::kSub, out->items[0].expr, out->items[1].expr);
      if (out->diff < 0) return false;
    }
    // "-2 \le x \le 7" is also the interval [-2, 7], "x < 3" the interval (-\infty, 3).
    auto is_less = [](const std::string& op) { return op == "<" || op == "<="; };
    // The middle must be a plain name: "2 < |t| < 5" is not t in (2, 5).
    if (out->items.size() == 3 && is_less(norm[0]) && is_less(norm[1]) && IsName(parts[1].b, parts[1].e)) {
      AddIntervalReading(out->items[0], norm[0] == "<=", out->items[2], norm[1] == "<=", out);
    } else if (out->items.size() == 3 && is_less(norm[0]) && is_less(norm[1]) && CharIs(parts[1].b, '|') &&
               CharIs(parts[1].e - 1, '|') && IsName(parts[1].b + 1, parts[1].e - 1)) {
      // "1 \le |z| \le 2" with constant bounds 0 <= a: z in [-2, -1] \cup [1, 2] (one interval
      // [-b, b] when a = 0 is allowed).
      Approx lo = EvalApprox(*tree_, out->items[0].expr, {}), hi = EvalApprox(*tree_, out->items[2].expr, {});
      if (std::isfinite(lo.value) && std::isfinite(hi.value) && lo.value >= 0 && lo.value <= hi.value &&
          !HasSymbols(out->items[0].expr) && !HasSymbols(out->items[2].expr)) {
        bool lo_closed = norm[0] == "<=", hi_closed = norm[1] == "<=";
        Value neg_hi, neg_lo;
        neg_hi.expr = NewNode(Op::kNeg, out->items[2].expr);
        neg_lo.expr = NewNode(Op::kNeg, out->items[0].expr);
        if (lo.value == 0 && lo_closed) {
          AddIntervalReading(neg_hi, hi_closed, out->items[2], hi_closed, out);
        } else {
          Value both;
          AddIntervalReading(neg_hi, hi_closed, neg_lo, lo_closed, &both);
          AddIntervalReading(out->items[0], lo_closed, out->items[2], hi_closed, &both);
          Value set;
          set.kind = Kind::kSet;
          set.items = std::move(both.alt);
          out->alt.push_back(std::move(set));
        }
      }
    } else if (out->items.size() == 2 && is_less(norm[0])) {
      bool name_left = IsName(parts[0].b, parts[0].e), name_right = IsName(parts[1].b, parts[1].e);
      bool reversed = all_greater;  // items were swapped: parts[] is in written order
      if (reversed) std::swap(name_left, name_right);
      if (name_left && !name_right && !HasSymbols(out->items[1].expr)) {
        Value lo;
        lo.expr = NewNode(Op::kNeg, NewNode(Op::kInfinity));
        AddIntervalReading(lo, false, out->items[1], norm[0] == "<=", out);
      } else if (name_right && !name_left && !HasSymbols(out->items[0].expr)) {
        Value hi;
        hi.expr = NewNode(Op::kInfinity);
        AddIntervalReading(out->items[0], norm[0] == "<=", hi, false, out);
      }
    }
    return error_.empty();
  }

  void AddIntervalReading(const Value& lo, bool lo_closed, const Value& hi, bool hi_closed, Value* out) {
    Value interval;
    interval.kind = Kind::kInterval;
    interval.lo_closed = lo_closed;
    interval.hi_closed = hi_closed;
    interval.items = {lo, hi};
    out->alt.push_back(std::move(interval));
  }

  void UnwrapUnits(int node, Value* out) {
    const Node n = tree_->nodes[node];
    bool negated = n.op == Op::kNeg && (tree_->nodes[n.a].op == Op::kPercent || tree_->nodes[n.a].op == Op::kDegree);
    const Node unit = negated ? tree_->nodes[n.a] : n;  // a copy: NewNode below may reallocate
    if (unit.op != Op::kPercent && unit.op != Op::kDegree) {
      out->expr = node;
      return;
    }
    out->expr = negated ? NewNode(Op::kNeg, unit.a) : unit.a;
    if (out->expr < 0) return;
    if (unit.op == Op::kPercent) {
      out->percent = true;
      out->as_fraction = NewNode(Op::kDiv, out->expr, NewNumber("100"));
    } else {
      out->degrees = true;
      out->as_radians = NewNode(Op::kMul, out->expr, NewNode(Op::kDiv, NewNode(Op::kPi), NewNumber("180")));
    }
  }

  // ---- expressions
  int ParseExprRange(size_t b, size_t e) {
    size_t saved_pos = pos_, saved_end = end_;
    pos_ = b;
    end_ = e;
    int node = b >= e ? FailNode("empty expression") : ParseExpr();
    if (node >= 0 && pos_ != end_) node = FailNode("unexpected " + Describe(t_[pos_]));
    pos_ = saved_pos;
    end_ = saved_end;
    return node;
  }

  int ParseExpr() {
    if (++depth_ > kMaxNestingDepth) return FailNode("nested too deeply");
    int left = ParseTerm();
    while (left >= 0 && pos_ < end_ && (IsChar(pos_, '+') || IsChar(pos_, '-'))) {
      Op op = IsChar(pos_, '+') ? Op::kAdd : Op::kSub;
      ++pos_;
      int right = ParseTerm();
      if (right < 0) return -1;
      left = NewNode(op, left, right);
    }
    --depth_;
    return left;
  }

  bool StartsPrimary(size_t i) const {
    if (i >= end_) return false;
    const Token& t = t_[i];
    switch (t.kind) {
      case Tok::kNumber:
      case Tok::kLetter: return true;
      case Tok::kChar: return t.ch == '(' || t.ch == '[' || t.ch == '{';
      case Tok::kCommand:
        return IsFunctionName(t.text) ||
               OneOf(t.text, {"frac", "sqrt", "binom", "pi", "infty", "lfloor", "lceil", "sum", "prod"});
      default: return false;
    }
  }

  // "2\frac{1}{2}" is the mixed number 5/2, not a product.
  bool MixedNumberFollows(int left) const {
    const Node& n = tree_->nodes[left];
    if (n.op != Op::kNumber || n.decimal || !IsCmd(pos_, "frac")) return false;
    size_t i = pos_ + 1;
    for (int arg = 0; arg < 2; ++arg, i += 3) {
      if (!IsChar(i, '{') || i + 2 >= end_ || t_[i + 1].kind != Tok::kNumber || t_[i + 1].decimal ||
          !IsChar(i + 2, '}')) {
        return false;
      }
    }
    return true;
  }

  int ParseTerm() {
    int left = ParseSigned();
    bool single_number = left >= 0 && tree_->nodes[left].op == Op::kNumber;
    while (left >= 0 && pos_ < end_) {
      if (IsChar(pos_, '*') || IsChar(pos_, '/')) {
        Op op = IsChar(pos_, '*') ? Op::kMul : Op::kDiv;
        ++pos_;
        int right = ParseSigned();
        if (right < 0) return -1;
        left = NewNode(op, left, right);
      } else if (StartsPrimary(pos_)) {
        // "5 7" is no way to write 35: more likely prose with the words dropped ("not 5 but 7").
        if (t_[pos_].kind == Tok::kNumber && t_[pos_ - 1].kind == Tok::kNumber) {
          return FailNode("two numbers in a row");
        }
        bool mixed = single_number && MixedNumberFollows(left);
        int right = ParsePower();
        if (right < 0) return -1;
        left = NewNode(mixed ? Op::kAdd : Op::kMul, left, right);
      } else {
        break;
      }
      single_number = false;
    }
    return left;
  }

  int ParseSigned() {
    if (++depth_ > kMaxNestingDepth) return FailNode("nested too deeply");
    int node;
    if (IsChar(pos_, '-')) {
      ++pos_;
      int inner = ParseSigned();
      node = inner < 0 ? -1 : NewNode(Op::kNeg, inner);
    } else if (IsChar(pos_, '+')) {
      ++pos_;
      node = ParseSigned();
    } else {
      node = ParsePower();
    }
    --depth_;
    return node;
  }

  int ParsePower() {
    int base = ParsePostfix();
    if (base < 0 || !IsChar(pos_, '^')) return base;
    ++pos_;
    int exponent = ParseExponent();
    if (exponent < 0) return -1;
    int node = NewNode(Op::kPow, base, exponent);
    return ApplyPostfix(node);
  }

  int ParseExponent() {
    if (++depth_ > kMaxNestingDepth) return FailNode("nested too deeply");
    int node;
    if (IsChar(pos_, '-') || IsChar(pos_, '+')) {
      bool negative = IsChar(pos_, '-');
      ++pos_;
      int inner = ParseExponent();
      node = inner < 0 ? -1 : negative ? NewNode(Op::kNeg, inner) : inner;
    } else if (IsChar(pos_, '{')) {
      node = ParseGroup('{', '}');
    } else {
      node = ParsePrimary();
      if (node >= 0 && IsChar(pos_, '^')) {
        ++pos_;
        int exponent = ParseExponent();
        node = exponent < 0 ? -1 : NewNode(Op::kPow, node, exponent);
      }
    }
    --depth_;
    return node;
  }

  int ParsePostfix() {
    int node = ParsePrimary();
    return node < 0 ? -1 : ApplyPostfix(node);
  }

  int ApplyPostfix(int node) {
    while (node >= 0 && pos_ < end_) {
      if (IsChar(pos_, '!')) {
        node = NewNode(Op::kFactorial, node);
      } else if (IsChar(pos_, '%')) {
        node = NewNode(Op::kPercent, node);
      } else if (IsCmd(pos_, "degree")) {
        node = NewNode(Op::kDegree, node);
      } else if (IsChar(pos_, '\'')) {
        // a prime: part of a name, ignored
      } else if (IsChar(pos_, '_') && tree_->nodes[node].op != Op::kSymbol) {
        ++pos_;  // a subscript on a non-symbol (a unit, a base label): skipped
        if (SkipArgument() < 0) return -1;
        continue;
      } else {
        break;
      }
      ++pos_;
    }
    return node;
  }

  // Skips one braced group or one token; returns -1 on a broken group.
  int SkipArgument() {
    if (IsChar(pos_, '{')) {
      size_t close = GroupEnd(pos_, end_);
      if (close == std::string::npos) return FailNode("unbalanced braces");
      pos_ = close + 1;
    } else if (pos_ < end_) {
      ++pos_;
    }
    return 0;
  }

  int ParseGroup(char open, char close) {
    if (!IsChar(pos_, open)) return FailNode(std::string("expected '") + open + "'");
    ++pos_;
    int inner = ParseExpr();
    if (inner < 0) return -1;
    if (!IsChar(pos_, close)) {
      return FailNode(std::string("expected '") + close + "'" +
                      (pos_ < end_ ? " before " + Describe(t_[pos_]) : std::string(" at the end")));
    }
    ++pos_;
    return inner;
  }

  int ParseCommandGroup(std::string_view close) {
    int inner = ParseExpr();
    if (inner < 0) return -1;
    if (!IsCmd(pos_, close)) return FailNode("expected '\\" + std::string(close) + "'");
    ++pos_;
    return inner;
  }

  // A macro argument: a braced group or a single primary.
  int ParseArgument() { return IsChar(pos_, '{') ? ParseGroup('{', '}') : ParsePrimary(); }

  int ParseFunction(const std::string& name) {
    int exponent = -1, base = -1;
    for (int k = 0; k < 2; ++k) {
      if (IsChar(pos_, '^')) {
        ++pos_;
        exponent = ParseExponent();
        if (exponent < 0) return -1;
      } else if (IsChar(pos_, '_') && name == "log") {
        ++pos_;
        base = ParseArgument();
        if (base < 0) return -1;
      }
    }
    int arg;
    if (IsChar(pos_, '(')) {
      arg = ParseGroup('(', ')');
    } else if (IsChar(pos_, '{')) {
      arg = ParseGroup('{', '}');
    } else if (IsChar(pos_, '-')) {
      ++pos_;
      int inner = ParsePower();
      arg = inner < 0 ? -1 : NewNode(Op::kNeg, inner);
    } else {
      arg = ParsePower();
    }
    if (arg < 0) return -1;
    int node = (name == "ln" || name == "log") ? NewNode(Op::kLog, arg, base) : NewNode(Op::kFunction, arg, -1, name);
    return exponent < 0 ? node : NewNode(Op::kPow, node, exponent);
  }

  int ParseSymbol(const Token& t) {
    std::string name = t.text;
    bool subscripted = false;
    if (IsChar(pos_, '_')) {
      ++pos_;
      subscripted = true;
      name += '_';
      if (IsChar(pos_, '{')) {
        size_t close = GroupEnd(pos_, end_);
        if (close == std::string::npos) return FailNode("unbalanced braces");
        for (size_t i = pos_ + 1; i < close; ++i) name += t_[i].text;
        pos_ = close + 1;
      } else if (pos_ < end_) {
        name += t_[pos_++].text;
      }
    }
    if (!subscripted && name == "e") return NewNode(Op::kEuler);
    if (!subscripted && name == "i") return NewNode(Op::kImaginary);
    return NewNode(Op::kSymbol, -1, -1, std::move(name));
  }

  int ParsePrimary() {
    if (++depth_ > kMaxNestingDepth) return FailNode("nested too deeply");
    int node = ParsePrimaryInner();
    --depth_;
    return node;
  }

  int ParsePrimaryInner() {
    if (pos_ >= end_) return FailNode("expression ends too early");
    const Token t = t_[pos_++];
    switch (t.kind) {
      case Tok::kNumber: {
        int n = NewNumber(t.text);
        if (n >= 0) {
          tree_->nodes[n].decimals = t.decimals;
          tree_->nodes[n].decimal = t.decimal;
        }
        return n;
      }
      case Tok::kLetter: return ParseSymbol(t);
      case Tok::kWord: return FailNode("unexpected word '" + t.text + "'");
      case Tok::kChar:
        switch (t.ch) {
          case '(': --pos_; return ParseGroup('(', ')');
          case '[': --pos_; return ParseGroup('[', ']');
          case '{': --pos_; return ParseGroup('{', '}');
          case '|': {
            int inner = ParseExpr();
            if (inner < 0) return -1;
            if (!IsChar(pos_, '|')) return FailNode("expected closing '|'");
            ++pos_;
            return NewNode(Op::kAbs, inner);
          }
          default: return FailNode("unexpected " + Describe(t));
        }
      case Tok::kCommand: break;
    }
    const std::string& name = t.text;
    if (name == "frac") {
      int num = ParseArgument();
      if (num < 0) return -1;
      int den = ParseArgument();
      return den < 0 ? -1 : NewNode(Op::kDiv, num, den);
    }
    if (name == "binom") {
      int n = ParseArgument();
      if (n < 0) return -1;
      int k = ParseArgument();
      return k < 0 ? -1 : NewNode(Op::kBinomial, n, k);
    }
    if (name == "sqrt") {
      int index = -1;
      if (IsChar(pos_, '[')) {
        index = ParseGroup('[', ']');
        if (index < 0) return -1;
      }
      int arg = ParseArgument();
      if (arg < 0) return -1;
      return index < 0 ? NewNode(Op::kSqrt, arg) : NewNode(Op::kRoot, arg, index);
    }
    if (name == "pi") return NewNode(Op::kPi);
    if (name == "infty" || name == "infin") return NewNode(Op::kInfinity);
    if (name == "lfloor") {
      int inner = ParseCommandGroup("rfloor");
      return inner < 0 ? -1 : NewNode(Op::kFloor, inner);
    }
    if (name == "lceil") {
      int inner = ParseCommandGroup("rceil");
      return inner < 0 ? -1 : NewNode(Op::kCeil, inner);
    }
    if (IsFunctionName(name)) return ParseFunction(name);
    if (name == "sum" || name == "prod") return ParseBigOperator(name == "sum");
    return FailNode("unsupported " + Describe(t));
  }

  // "\sum_{k=1}^{10} k^2", "\prod_{i=2}^{5} (1 - 1/i)": with numeric bounds, the terms written out
  // (the body is the product term after the bounds). Symbolic bounds are not supported.
  int ParseBigOperator(bool sum) {
    constexpr long long kMaxTerms = 200;
    if (!IsChar(pos_, '_') || !IsChar(pos_ + 1, '{') || pos_ + 3 >= end_ || t_[pos_ + 2].kind != Tok::kLetter ||
        !IsChar(pos_ + 3, '=')) {
      return FailNode(std::string(sum ? "\\sum" : "\\prod") + " needs a lower bound like _{k=1}");
    }
    size_t close = GroupEnd(pos_ + 1, end_);
    if (close == std::string::npos) return FailNode("unbalanced braces");
    const std::string var = t_[pos_ + 2].text;
    int lower = ParseExprRange(pos_ + 4, close);
    if (lower < 0) return -1;
    pos_ = close + 1;
    if (!IsChar(pos_, '^')) return FailNode(std::string(sum ? "\\sum" : "\\prod") + " needs an upper bound");
    ++pos_;
    int upper = ParseExponent();
    if (upper < 0) return -1;
    std::optional<Rational> lo = EvalExact(*tree_, lower), hi = EvalExact(*tree_, upper);
    if (!lo || !hi || lo->den != 1 || hi->den != 1) {
      return FailNode(std::string(sum ? "\\sum" : "\\prod") + " with bounds that are not integers");
    }
    if (hi->num - lo->num + 1 > kMaxTerms) return FailNode("too many terms");
    size_t body_begin = pos_;
    if (ParseTerm() < 0) return -1;  // only to find where the body ends
    size_t body_end = pos_;
    int acc = -1;
    for (__int128 k = lo->num; k <= hi->num; ++k) {
      std::vector<Token> copy;
      for (size_t i = body_begin; i < body_end; ++i) {
        bool index = t_[i].kind == Tok::kLetter && t_[i].text == var && !(i + 1 < body_end && IsChar(i + 1, '_')) &&
                     !(i > body_begin && IsChar(i - 1, '_'));
        if (!index) {
          copy.push_back(t_[i]);
          continue;
        }
        Token open, minus, number, shut;
        open.ch = '(';
        open.text = "(";
        shut.ch = ')';
        shut.text = ")";
        minus.ch = '-';
        minus.text = "-";
        number.kind = Tok::kNumber;
        number.text = std::to_string(static_cast<long long>(k < 0 ? -k : k));
        copy.push_back(open);
        if (k < 0) copy.push_back(minus);
        copy.push_back(number);
        copy.push_back(shut);
      }
      Parser sub(std::move(copy), tree_, depth_ + 1);
      int term = sub.ParseExprRange(0, sub.t_.size());
      if (term < 0) return FailNode(sub.error_);
      acc = acc < 0 ? term : NewNode(sum ? Op::kAdd : Op::kMul, acc, term);
      if (acc < 0) return -1;
    }
    return acc >= 0 ? acc : NewNumber(sum ? "0" : "1");
  }

  std::vector<Token> t_;
  Tree* tree_;
  int depth_ = 0;
  size_t pos_ = 0, end_ = 0;
  std::string error_;
};

// ---- answer-level classification ------------------------------------------------------------------

// Lower-cased answer without whitespace, $ or a trailing period: the last resort comparison.
std::string RawKey(std::string_view answer) {
  std::string out;
  for (char c : answer) {
    if (IsSpace(c) || c == '$') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool IsPunctuation(const Token& t) { return t.kind == Tok::kChar && std::strchr("().,;:!?'-", t.ch) != nullptr; }

// "B", "(B)", "B)", "\text{b}", "\textbf{(B)}": a multiple-choice letter.
std::optional<char> ChoiceLetter(const std::vector<Token>& t) {
  size_t b = 0, e = t.size();
  while (e > b && t[e - 1].kind == Tok::kChar && (t[e - 1].ch == '.' || t[e - 1].ch == ':')) --e;
  bool parens = e - b == 3 && t[b].kind == Tok::kChar && t[b].ch == '(' && t[e - 1].kind == Tok::kChar &&
                t[e - 1].ch == ')';
  bool closing = e - b == 2 && t[e - 1].kind == Tok::kChar && t[e - 1].ch == ')';
  if (parens) ++b;
  if (parens || closing) --e;
  if (e - b != 1 || t[b].kind != Tok::kLetter || t[b].text.size() != 1) return std::nullopt;
  char c = t[b].text[0];
  bool upper = c >= 'A' && c <= 'Z';
  if (!upper && !parens && !closing && !t[b].from_text) return std::nullopt;
  return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
}

std::string ExprToString(const Tree& tree, const Value& v) {
  std::string s;
  std::optional<Rational> exact = EvalExact(tree, v.expr);
  if (exact && !HasDecimal(tree, v.expr)) {
    s = RationalToString(*exact);
  } else {
    s = PrintExpr(tree, v.expr);
  }
  if (v.percent) s += "%";
  if (v.degrees) s += "\xC2\xB0";
  return s;
}

std::string PrintValue(const Tree& tree, const Value& v) {
  auto join = [&](const char* open, const char* close) {
    std::string s = open;
    for (size_t k = 0; k < v.items.size(); ++k) s += (k ? ", " : "") + PrintValue(tree, v.items[k]);
    return s + close;
  };
  switch (v.kind) {
    case Kind::kExpr: return ExprToString(tree, v);
    case Kind::kTuple: return join("(", ")");
    case Kind::kSet: return join("{", "}");
    case Kind::kInterval:
      return std::string(v.lo_closed ? "[" : "(") + PrintValue(tree, v.items[0]) + ", " +
             PrintValue(tree, v.items[1]) + (v.hi_closed ? "]" : ")");
    case Kind::kEquation: return PrintValue(tree, v.items[0]) + " " + v.text + " " + PrintValue(tree, v.items[1]);
    case Kind::kRelation: {
      std::string s = PrintValue(tree, v.items[0]);
      size_t start = 0;
      for (size_t k = 1; k < v.items.size(); ++k) {
        size_t comma = v.text.find(',', start);
        std::string op = v.text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        start = comma == std::string::npos ? v.text.size() : comma + 1;
        s += " " + op + " " + PrintValue(tree, v.items[k]);
      }
      return s;
    }
    case Kind::kText:
    case Kind::kChoice: return v.text;
  }
  return "";
}

}  // namespace

ParsedAnswer ParseAnswer(std::string_view answer) {
  ParsedAnswer out;
  std::string text = Trim(answer);
  while (text.size() >= 4 && StartsWith(text, "**") && EndsWith(text, "**")) {  // markdown bold
    text = Trim(std::string_view(text).substr(2, text.size() - 4));
  }
  out.raw = RawKey(text);
  auto tree = std::make_shared<Tree>();
  if (text.size() > kMaxAnswerChars) {
    out.error = "answer longer than " + std::to_string(kMaxAnswerChars) + " characters";
    out.tree = tree;
    out.printed = out.raw.substr(0, 80);
    return out;
  }
  std::vector<Token> tokens;
  const std::string braced = BraceShorthandArguments(text);
  Tokenizer tokenizer(braced, Mode::kMath, 0);
  if (!tokenizer.Run(&tokens, &out.error)) {
    out.tree = tree;
    out.printed = out.raw;
    return out;
  }

  if (std::optional<char> letter = ChoiceLetter(tokens)) {
    out.value.kind = Kind::kChoice;
    out.value.text = std::string(1, *letter);
    out.printed = out.value.text;
    out.tree = tree;
    return out;
  }
  // Only words (and punctuation): a text answer such as "yes" or "no solution".
  bool has_word = false, only_words = true;
  for (const Token& t : tokens) {
    has_word = has_word || t.kind == Tok::kWord;
    only_words = only_words && (t.kind == Tok::kWord || t.kind == Tok::kLetter || IsPunctuation(t));
  }
  if (has_word && only_words) {
    out.value.kind = Kind::kText;
    for (const Token& t : tokens) {
      if (t.kind == Tok::kChar) continue;
      if (!out.value.text.empty()) out.value.text += ' ';
      out.value.text += ToLower(t.text);
    }
    out.printed = out.value.text;
    out.tree = tree;
    return out;
  }
  // Words among math are units or prose ("5 \text{ cm}", "\text{and}"), except that "and"/"or"
  // separate several answers.
  std::vector<Token> math;
  math.reserve(tokens.size());
  for (size_t k = 0; k < tokens.size(); ++k) {
    Token& t = tokens[k];
    bool prose_letter = t.kind == Tok::kLetter && t.from_text;
    if (t.kind != Tok::kWord && !prose_letter) {
      math.push_back(std::move(t));
      continue;
    }
    std::string lower = ToLower(t.text);
    if (lower == "and" || lower == "or") {
      // "19, 46, and 82": the serial comma already separates.
      if (!math.empty() && math.back().kind == Tok::kChar && math.back().ch == ',') continue;
      Token comma;
      comma.ch = ',';
      comma.text = ",";
      math.push_back(std::move(comma));
      continue;
    }
    // A unit's power goes with it: "3 \text{ m}^2" is 3.
    if (k + 1 < tokens.size() && tokens[k + 1].kind == Tok::kChar && tokens[k + 1].ch == '^') {
      k += 2;
      if (k < tokens.size() && tokens[k].kind == Tok::kChar && tokens[k].ch == '{') {
        int depth = 0;
        for (; k < tokens.size(); ++k) {
          if (IsOpener(tokens[k])) ++depth;
          if (IsCloser(tokens[k]) && --depth == 0) break;
        }
      }
    }
  }
  // "(B) 12": the label is remembered for a gold that is a choice letter.
  // A hedge naming several labels ("(B) or (C)") names none.
  auto label_at = [&](size_t i) {
    return i + 2 < math.size() && math[i].kind == Tok::kChar && math[i].ch == '(' &&
           math[i + 1].kind == Tok::kLetter && math[i + 1].text.size() == 1 && math[i + 2].kind == Tok::kChar &&
           math[i + 2].ch == ')';
  };
  if (math.size() > 3 && label_at(0)) {
    bool another = false;
    for (size_t i = 3; i < math.size() && !another; ++i) another = label_at(i);
    if (!another) out.choice_label = static_cast<char>(std::toupper(static_cast<unsigned char>(math[1].text[0])));
  }
  Parser parser(std::move(math), tree.get(), 0);
  if (!parser.ParseAnswer(&out.value)) {
    out.error = parser.error();
    out.value = Value();
    out.printed = out.raw;
  } else {
    out.printed = PrintValue(*tree, out.value);
  }
  out.tree = tree;
  return out;
}

}  // namespace tfgrpo::mathverify
