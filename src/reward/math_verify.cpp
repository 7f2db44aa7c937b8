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

// "$\frac{1}{2}$. I hope it is correct." -> "\frac{1}{2}"; "5. Done." -> "5".
std::string FirstSentence(std::string s) {
  if (!s.empty() && s[0] == '$') {
    size_t inner = s.size() > 1 && s[1] == '$' ? 2 : 1;
    size_t close = s.find('$', inner);
    if (close != std::string::npos) return Trim(std::string_view(s).substr(inner, close - inner));
  }
  size_t stop = s.find(". ");
  if (stop != std::string::npos) s = s.substr(0, stop);
  s = Trim(s);
  while (!s.empty() && s.back() == '.') s.pop_back();
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

std::string GoldAnswer(std::string_view gold) {
  if (std::optional<std::string> boxed = LastBoxed(gold)) return Trim(*boxed);
  return Trim(gold);
}

enum class Outcome { kEqual, kNotEqual, kTimeout };

Outcome Bool(bool equal) { return equal ? Outcome::kEqual : Outcome::kNotEqual; }

bool CloseDoubles(long double a, long double b, double rel_tol) {
  return std::fabs(a - b) <= rel_tol * std::max(std::fabs(a), std::fabs(b));
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
      : g_(gold), p_(pred), gt_(*gold.tree), pt_(*pred.tree), rel_tol_(options.rel_tol), deadline_(deadline) {}

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
        if (p.kind == Kind::kTuple) return Sequence(g.items, p.items);
        if (p.kind == Kind::kInterval && !p.lo_closed && !p.hi_closed) return Sequence(g.items, p.items);
        return Outcome::kNotEqual;
      case Kind::kInterval:
        if (p.kind == Kind::kInterval) return Intervals(g, p);
        if (p.kind == Kind::kTuple && !g.lo_closed && !g.hi_closed) return Sequence(g.items, p.items);
        return Outcome::kNotEqual;
      case Kind::kRelation:
        if (p.kind != Kind::kRelation || p.text != g.text) return Outcome::kNotEqual;
        return Sequence(g.items, p.items);
      case Kind::kEquation: return Outcome::kNotEqual;  // general equation vs a non-equation
    }
    return Outcome::kNotEqual;
  }

  Outcome Equations(const Value& g, const Value& p) {
    if (g.named_lhs && p.named_lhs) return Values(g.items[1], p.items[1]);
    if (g.diff >= 0 && p.diff >= 0) {
      Outcome same = Exprs(g.diff, p.diff);
      if (same != Outcome::kNotEqual) return same;
      return Exprs(g.diff, p.neg_diff);
    }
    return Sequence(g.items, p.items);
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
    if (g.size() != p.size()) return Outcome::kNotEqual;
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
      return Bool(CloseDoubles(value(*eg), value(*ep), rel_tol_));
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
        if (diff <= rel_tol_ * std::max(std::fabs(a.value), std::fabs(b.value)) && !exact_kind) continue;
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
  Clock::time_point deadline_;
};

MathVerdict Verify(std::string_view gold, std::string_view reply, const MathVerifyOptions& options) {
  MathVerdict verdict;
  double timeout_s = options.timeout_s > 0 ? options.timeout_s : MathVerifyOptions().timeout_s;
  Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  MathVerifyOptions effective = options;
  if (!(effective.rel_tol >= 0)) effective.rel_tol = MathVerifyOptions().rel_tol;

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
  if (std::optional<std::string> boxed = LastBoxed(reply)) return Trim(*boxed);
  if (std::optional<std::string> tagged = LastAnswerTag(reply)) return Trim(*tagged);
  if (std::optional<std::string> line = AnswerLine(reply)) return *line;
  std::string bare = Trim(reply);
  if (bare.size() <= kBareAnswerMaxChars && bare.find('\n') == std::string::npos) return bare;
  return "";
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
