// Math answer verification: pulls the final answer out of a model reply, translates the LaTeX of
// the gold and predicted answers into structured values (expressions, sets, tuples, intervals,
// equations, text) and decides equivalence, symbolically with GiNaC where numbers alone cannot.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace tfgrpo {

struct MathVerifyOptions {
  // Wall-clock limit for one comparison; past it the score is 0 and MathVerifyTimeouts() grows.
  // Values <= 0 mean the default.
  double timeout_s = 2.0;
  // Numeric agreement of values computed in floating point: |a - b| <= rel_tol * max(|a|, |b|).
  double rel_tol = 1e-6;
  // Significant digits to which a number written with a decimal point must agree with the other
  // side (config key task.math.precision, as Math-Verify's float_rounding): with 6, 0.333333 matches
  // 1/3 and 0.33333 does not. Agreement within rel_tol also counts. Values < 1 mean the default.
  int precision = 6;
};

struct MathVerdict {
  double score = 0;         // 1.0 equivalent, 0.0 otherwise
  std::string gold_parsed;  // canonical print of what was understood: "1/2", "2*sqrt(3)", "{1, 2}", "[1, 2)"
  std::string pred_parsed;
  bool timed_out = false;
  std::string error;        // why nothing could be compared (no answer in the reply, unparsable, ...)
};

// Scores `prediction_or_reply` (a bare answer or a whole model reply) against `gold` (a bare
// answer, or text holding a \boxed{} answer). Thread-safe, never throws, never blocks longer than
// options.timeout_s (plus a few microseconds).
//
// Threads: parsing and the exact/floating fast paths (integers, fractions, decimals, radicals, pi,
// most symbolic answers) run on the calling thread, in parallel. What needs GiNaC (huge integers,
// complex numbers, cancellations floating point cannot settle) runs on one dedicated thread, because
// GiNaC/CLN reference counts are not thread-safe. A caller past its deadline stops waiting (score 0,
// timed_out, MathVerifyTimeouts() + 1); the abandoned GiNaC computation cannot be interrupted and
// runs to its end (input guards bound it: answer length, nesting depth, sizes of exact powers,
// factorials, expansions), delaying GiNaC work queued behind it.
//
// How answers compare:
//  * Exact numbers (integers, fractions) compare exactly: 1000000 != 1000001. When either side is
//    written with a decimal point, values agree to `precision` significant digits (or within
//    rel_tol). With irrationals (\pi, \sqrt{2}, e) or symbols, the sides are equal when exactly
//    equal after simplification or numerically within rel_tol (at several random positive values
//    of the free symbols). A decimal comma ("1,22") is read as a point against a decimal.
//  (The rules follow Math-Verify's conventions; docs/math.md lists them with the deliberate
//  differences.)
//  * Percentages: when the gold is a percentage ("50\%"), the prediction may be "50\%", "50" or the
//    fraction "0.5" / "\frac{1}{2}". When the gold is not a percentage, a prediction's "\%" is read
//    as a unit and dropped: gold "50" accepts "50\%", gold "0.5" rejects "50\%".
//  * Degrees: a whole answer "30^\circ" is 30 (the sign is a unit); if exactly one side is in
//    degrees, the other may also give the angle in radians (gold "30^\circ" accepts "\frac{\pi}{6}").
//    Inside an expression a degree is an angle: "\sin 30^\circ" = 1/2.
//  * "x=5" / "a=5" / "f(x)=..." / "x \in [1,2]" against a bare answer compares the right-hand side
//    when the left-hand side names a quantity (symbols without numbers or sums: x, a_1, f(x), AB,
//    |AB|, \frac{NO}{BO}, A:B, (p,q)), or when both sides are constants ("\frac12 = \frac{10}{9}").
//    A chain "x = 5+5+1 = 11" is its first and last member; "\frac13 \approx 0.333" is 1/3 (after a
//    bare name, "x \approx 11" is x = 11). Two equations compare their right-hand sides when both
//    left-hand sides are names (so x=5 matches y=5), else as lhs - rhs up to a nonzero constant
//    factor. Relations (x > 2, ASCII >=, <=, !=) compare operator and sides, or lhs - rhs up to a
//    positive factor (-x > -1 is x < 1); a gold "a <= x < b" or "x > a" also accepts its interval.
//  * Scientific "1e-9" and repeating "0.\overline{3}" decimals are numbers; "\pm" gives a pair.
//  * "1, 2" (several answers), "\{1,2\}" and "1 \text{ and } 2" are unordered multisets (a repeated
//    element may be left out); "p=5,q=2;p=7,q=2" is the set of tuples (5,2), (7,2); "(1,2)" is
//    an ordered tuple (equal to the open interval (1,2)); "[1,2)" an interval (bracket kinds matter,
//    except next to \infty); unions "A \cup B" are sets of intervals; "7:32" a ratio (term by term).
//  * Matrices (pmatrix, bmatrix, array, ...) compare entry by entry; sums and products of matrix
//    literals are evaluated; \sum and \prod with integer bounds are written out.
//  * A mixed number "2\frac{1}{2}" is 5/2; a number followed by words or \text{} units
//    ("5 \text{ cm}", "\$5", "5 apples") is that number.
//  * Text answers (yes, Monday, no solution) compare case-insensitively; a choice letter "B",
//    "(B)", "\text{(B)}" or "(B) 12" matches the gold choice B ("(B) or (C)" matches nothing).
//  * Answers that cannot be parsed compare as text (lower case, spaces removed), with `error` set.
MathVerdict VerifyMath(std::string_view gold, std::string_view prediction_or_reply,
                       const MathVerifyOptions& options = {});

// The answer in a model reply: the last \boxed{} / \fbox{} (balanced braces), together with the
// boxes before it joined only by a connective ("\boxed{1} and \boxed{2}" is "1, 2"), unless a
// "final answer" statement follows it; else the last <answer>...</answer>; else the text after the
// last "Answer:" / "the answer is" (same line, or the next non-empty line; prose there gives its
// last math or number); else the whole reply when it is a single line of bare math of at most 2000
// characters; else, for prose, its last $...$ / \(...\) / \[...\] span or standalone number,
// whichever is later (nothing when that sentence hedges: "maybe", "I think", ...); else "".
std::string ExtractAnswerForVerify(std::string_view reply);

// Comparisons abandoned at the time limit since the process started (all threads).
int64_t MathVerifyTimeouts();

// `tfgrpo reward math --jsonl`: reads lines {"gold": "...", "pred": "..."} and writes, in input
// order and flushed per line, {"score": 1.0|0.0, "gold_parsed": "...", "pred_parsed": "..."};
// a line that is not such an object gives {"error": "line N: ..."} and the rest go on.
struct MathJsonlSummary {
  int64_t lines = 0;
  int64_t errors = 0;    // malformed input lines
  int64_t timeouts = 0;
  double score_sum = 0;
};
MathJsonlSummary VerifyMathJsonl(std::istream& in, std::ostream& out, const MathVerifyOptions& options = {});

}  // namespace tfgrpo
