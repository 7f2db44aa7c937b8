// Internals of the math verifier: the parsed-answer representation shared by the LaTeX parser
// (math_verify_parse.cpp), the fast exact/floating evaluators (math_verify_eval.cpp) and the GiNaC
// stage (math_verify_ginac.cpp). Private to the reward module.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tfgrpo::mathverify {

// Guards that keep every stage bounded: longer answers are not parsed, deeper nesting is refused.
constexpr size_t kMaxAnswerChars = 2000;
constexpr int kMaxNestingDepth = 100;
constexpr size_t kMaxNodes = 4000;
constexpr size_t kMaxSetElements = 64;

enum class Op : uint8_t {
  kNumber,     // text = digits, value = digits / 10^decimals
  kSymbol,     // text = name ("x", "x_1", "alpha")
  kPi,
  kEuler,
  kImaginary,
  kInfinity,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kNeg,
  kPow,
  kSqrt,
  kRoot,       // a = radicand, b = index
  kFactorial,
  kAbs,
  kFloor,
  kCeil,
  kFunction,   // text = sin, cos, tan, cot, sec, csc, arcsin, arccos, arctan, sinh, cosh, tanh, exp
  kLog,        // a = argument, b = base (-1: natural log)
  kBinomial,   // a = n, b = k
  kPercent,    // a% = a / 100
  kDegree,     // a° = a*pi/180 inside an expression (sin 30°); a whole answer "30°" is unwrapped to 30
};

struct Node {
  Op op = Op::kNumber;
  int a = -1;
  int b = -1;
  std::string text;
  int decimals = 0;
  bool decimal = false;  // kNumber written with a decimal point: compared with tolerance
};

struct Tree {
  std::vector<Node> nodes;
  int Add(Node n) {
    nodes.push_back(std::move(n));
    return static_cast<int>(nodes.size()) - 1;
  }
};

enum class Kind : uint8_t { kExpr, kTuple, kSet, kInterval, kEquation, kRelation, kText, kChoice };

struct Value {
  Kind kind = Kind::kExpr;
  int expr = -1;         // kExpr: the quantity as written, without a trailing % or °
  int as_fraction = -1;  // kExpr written "p%": node p/100
  int as_radians = -1;   // kExpr written "d°": node d*pi/180
  bool percent = false;
  bool degrees = false;
  bool named_lhs = false;  // kEquation whose lhs is a name (x, a_1, f(x)): it stands for its rhs
  int diff = -1;         // kEquation with an expression rhs: lhs - rhs
  int neg_diff = -1;     //   and rhs - lhs
  bool lo_closed = false, hi_closed = false;  // kInterval
  std::vector<Value> items;  // kTuple/kSet elements; kInterval {lo, hi}; kEquation {lhs, rhs};
                             // kRelation operands left to right
  std::string text;  // kText words; kChoice upper-case letter; kRelation ops ("<", "<=", "!=");
                     // kEquation "=" or "in"; kTuple "matrix" (items are rows) or "ratio" (a:b)
  // Another reading of the same answer, tried when the first does not match: a double inequality
  // "a < x <= b" (or "x < b") as the interval it describes.
  std::vector<Value> alt;
  // kEquation: the lhs is a constant and so is the rhs ("1/2 = 10/9", a computation): it stands for
  // its last member like a named lhs does. kRelation with two operands: diff = lhs - rhs.
};

struct ParsedAnswer {
  std::shared_ptr<const Tree> tree;
  Value value;
  std::string printed;  // canonical form (MathVerdict::*_parsed)
  std::string error;    // non-empty: not understood; `raw` is all there is to compare
  std::string raw;      // lower-cased, space-free text of the answer
  std::optional<char> choice_label;  // "(B) 12" -> 'B'
};

// `answer` is a bare answer (already extracted from a reply).
ParsedAnswer ParseAnswer(std::string_view answer);

// Index of the '}' closing the '{' at `open` (escaped braces are text), npos when unbalanced.
size_t MatchingBrace(std::string_view s, size_t open);
// Contents of the last \boxed{...} / \fbox{...} whose braces balance.
std::optional<std::string> LastBoxed(std::string_view s);
std::string PrintExpr(const Tree& tree, int node);

// ---- fast evaluation (math_verify_eval.cpp) -------------------------------------------------------

struct Rational {
  __int128 num = 0;
  __int128 den = 1;  // > 0, gcd(num, den) == 1
  bool operator==(const Rational& o) const { return num == o.num && den == o.den; }
};
std::string RationalToString(const Rational& r);

// The exact value when `node` is a rational number computable in 128-bit arithmetic.
std::optional<Rational> EvalExact(const Tree& tree, int node);
bool ContainsOp(const Tree& tree, int node, Op op);
bool HasDecimal(const Tree& tree, int node);
// Distinct symbol names, appended to `names` (deduplicated).
void CollectSymbols(const Tree& tree, int node, std::vector<std::string>* names);

// A floating value with a bound on its rounding error (an absolute bound divided by epsilon), so a
// difference can be told apart from rounding noise.
struct Approx {
  double value = 0;
  double error = 0;
};
using SymbolValues = std::vector<std::pair<std::string, double>>;
Approx EvalApprox(const Tree& tree, int node, const SymbolValues& symbols);
// +1 / -1 when `node` is +infinity / -infinity, 0 otherwise.
int InfinitySign(const Tree& tree, int node);
// Deterministic positive test values for the i-th point of `names`.
SymbolValues TestPoint(const std::vector<std::string>& names, int point);
constexpr int kTestPoints = 5;

// ---- GiNaC stage (math_verify_ginac.cpp) ----------------------------------------------------------

enum class SymbolicVerdict { kEqual, kNotEqual, kUndecided };

struct SymbolicJob {
  std::shared_ptr<const Tree> gold_tree;
  int gold = -1;
  std::shared_ptr<const Tree> pred_tree;
  int pred = -1;
  bool tolerant = false;  // a decimal on either side: values may agree to `precision` digits
  double rel_tol = 1e-6;
  int precision = 6;
};

// Agreement to `precision` significant digits: a relative difference of at most 10^-precision
// (1/3 and 0.333 agree to 3 digits, not to 4). Used wherever a decimal is involved (math_verify.h).
inline bool AgreeToDigits(double a, double b, int precision) {
  double m = std::max(std::fabs(a), std::fabs(b));
  if (!std::isfinite(m)) return false;
  return std::fabs(a - b) <= std::pow(10.0, -precision) * m;
}

// Runs the job on the one thread that does all GiNaC work (GiNaC and CLN are not thread-safe).
// Returns nullopt when `deadline` passes first; the computation is then abandoned (it runs on to
// completion in the background, bounded by the guards, and its result is dropped).
std::optional<SymbolicVerdict> CompareSymbolically(std::shared_ptr<const SymbolicJob> job,
                                                   std::chrono::steady_clock::time_point deadline);

}  // namespace tfgrpo::mathverify
