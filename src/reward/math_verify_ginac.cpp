// The verifier's symbolic stage: parsed trees -> GiNaC expressions, exact simplification of the
// difference, then high-precision evaluation at test points. GiNaC and CLN reference-count their
// objects without atomics and share global constants (ginac/ptr.h: "this implementation of reference
// counting is not thread-safe"), so all GiNaC work happens on one dedicated thread and callers wait
// for it with a deadline. GiNaC cannot be interrupted: a computation whose caller gave up runs to its
// end (the guards below keep that bounded) and later jobs queue behind it.
#include <ginac/ginac.h>

#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "reward/math_verify_internal.h"

namespace tfgrpo::mathverify {
namespace {

// Exact powers of numbers stay below this many bits (3 million digits: tens of milliseconds in CLN).
constexpr double kMaxPowerBits = 1e7;
constexpr long kMaxFactorial = 5000;
constexpr long kMaxBinomial = 100000;
// Expanding (x+y+z+w)^100 (176851 terms) or normalising a sum of hundreds of fractions takes
// seconds and gigabytes: above these sizes only the numeric check runs.
constexpr double kMaxExpandTerms = 5000;
constexpr long kMaxExpandDegree = 200;
constexpr int kMaxExpandNodes = 400;
constexpr int kDigits = 50;

struct Refused {};  // an input beyond the guards: the stage answers kUndecided

double Log2Magnitude(const GiNaC::numeric& n) {
  // For a rational p/q the size of p^k and q^k is what matters.
  GiNaC::numeric num = GiNaC::abs(n.numer()), den = GiNaC::abs(n.denom());
  GiNaC::numeric big = num > den ? num : den;
  if (big.int_length() < 53) return std::log2(std::max(1.0, big.to_double()));
  return static_cast<double>(big.int_length());
}

class Converter {
 public:
  Converter(const Tree& tree, std::map<std::string, GiNaC::symbol>* symbols) : tree_(tree), symbols_(symbols) {}

  GiNaC::ex Convert(int index) {
    const Node& n = tree_.nodes[index];
    switch (n.op) {
      case Op::kNumber: {
        GiNaC::numeric value(n.text.c_str());
        if (n.decimals > 0) value = value / GiNaC::numeric(10).power(n.decimals);
        return value;
      }
      case Op::kSymbol: {
        auto it = symbols_->find(n.text);
        if (it == symbols_->end()) it = symbols_->emplace(n.text, GiNaC::symbol(n.text)).first;
        return it->second;
      }
      case Op::kPi: return GiNaC::Pi;
      case Op::kEuler: return GiNaC::exp(GiNaC::ex(1));
      case Op::kImaginary: return GiNaC::I;
      case Op::kInfinity: throw Refused{};
      case Op::kAdd: return Convert(n.a) + Convert(n.b);
      case Op::kSub: return Convert(n.a) - Convert(n.b);
      case Op::kMul: return Convert(n.a) * Convert(n.b);
      case Op::kDiv: return Convert(n.a) / Convert(n.b);
      case Op::kNeg: return -Convert(n.a);
      case Op::kPow: return Power(Convert(n.a), Convert(n.b));
      case Op::kSqrt: return GiNaC::sqrt(Convert(n.a));
      case Op::kRoot: {
        GiNaC::ex radicand = Convert(n.a), index_ex = Convert(n.b);
        // The real cube root of -8 is -2; GiNaC's principal root would be complex.
        if (GiNaC::is_a<GiNaC::numeric>(radicand) && GiNaC::is_a<GiNaC::numeric>(index_ex)) {
          const auto& r = GiNaC::ex_to<GiNaC::numeric>(radicand);
          const auto& q = GiNaC::ex_to<GiNaC::numeric>(index_ex);
          if (r.is_real() && r.is_negative() && q.is_odd()) return -Power(-radicand, 1 / index_ex);
        }
        return Power(radicand, 1 / index_ex);
      }
      case Op::kFactorial: {
        GiNaC::ex a = Convert(n.a);
        if (GiNaC::is_a<GiNaC::numeric>(a) && GiNaC::ex_to<GiNaC::numeric>(a) > kMaxFactorial) throw Refused{};
        return GiNaC::factorial(a);
      }
      case Op::kBinomial: {
        GiNaC::ex a = Convert(n.a), b = Convert(n.b);
        if (GiNaC::is_a<GiNaC::numeric>(a) && GiNaC::ex_to<GiNaC::numeric>(a) > kMaxBinomial) throw Refused{};
        return GiNaC::binomial(a, b);
      }
      case Op::kAbs: return GiNaC::abs(Convert(n.a));
      case Op::kFloor:
      case Op::kCeil: {
        GiNaC::ex a = Convert(n.a);
        if (!GiNaC::is_a<GiNaC::numeric>(a) || !GiNaC::ex_to<GiNaC::numeric>(a).is_rational()) throw Refused{};
        const auto& r = GiNaC::ex_to<GiNaC::numeric>(a);
        GiNaC::numeric q = GiNaC::iquo(r.numer(), r.denom());  // truncates toward zero
        if (q != r && n.op == Op::kFloor && r.is_negative()) q = q - 1;
        if (q != r && n.op == Op::kCeil && r.is_positive()) q = q + 1;
        return q;
      }
      case Op::kFunction: return Function(n.text, Convert(n.a));
      case Op::kLog: {
        GiNaC::ex a = GiNaC::log(Convert(n.a));
        return n.b < 0 ? a : a / GiNaC::log(Convert(n.b));
      }
      case Op::kPercent: return Convert(n.a) / 100;
      case Op::kDegree: return Convert(n.a) * GiNaC::Pi / 180;
    }
    throw Refused{};
  }

 private:
  // GiNaC evaluates numeric^integer on construction, so the size is checked before building it.
  static GiNaC::ex Power(const GiNaC::ex& base, const GiNaC::ex& exponent) {
    if (GiNaC::is_a<GiNaC::numeric>(exponent)) {
      const auto& e = GiNaC::ex_to<GiNaC::numeric>(exponent);
      if (!e.is_rational()) throw Refused{};
      double steps = std::fabs(e.numer().to_double());
      if (GiNaC::is_a<GiNaC::numeric>(base)) {
        const auto& b = GiNaC::ex_to<GiNaC::numeric>(base);
        if (!b.is_rational() && steps > 64) throw Refused{};
        if (b.is_rational() && steps * Log2Magnitude(b) > kMaxPowerBits) throw Refused{};
      } else if (steps > 1e6) {
        throw Refused{};
      }
      if (e.denom() > 1000000) throw Refused{};
    }
    return GiNaC::pow(base, exponent);
  }

  static GiNaC::ex Function(const std::string& name, const GiNaC::ex& x) {
    if (name == "sin") return GiNaC::sin(x);
    if (name == "cos") return GiNaC::cos(x);
    if (name == "tan") return GiNaC::tan(x);
    if (name == "cot") return GiNaC::cos(x) / GiNaC::sin(x);
    if (name == "sec") return 1 / GiNaC::cos(x);
    if (name == "csc") return 1 / GiNaC::sin(x);
    if (name == "arcsin") return GiNaC::asin(x);
    if (name == "arccos") return GiNaC::acos(x);
    if (name == "arctan") return GiNaC::atan(x);
    if (name == "sinh") return GiNaC::sinh(x);
    if (name == "cosh") return GiNaC::cosh(x);
    if (name == "tanh") return GiNaC::tanh(x);
    if (name == "exp") return GiNaC::exp(x);
    throw Refused{};
  }

  const Tree& tree_;
  std::map<std::string, GiNaC::symbol>* symbols_;
};

struct ExpandCost {
  long degree = 0;    // polynomial degree bound
  double terms = 1;   // terms after expansion, bound
};

// How costly expand/normal may get for a subtree; `nodes` counts the subtree's size.
ExpandCost MeasureForExpand(const Tree& tree, int index, int* nodes) {
  const Node& n = tree.nodes[index];
  ++*nodes;
  ExpandCost a, b, out;
  if (n.a >= 0) a = MeasureForExpand(tree, n.a, nodes);
  if (n.b >= 0) b = MeasureForExpand(tree, n.b, nodes);
  switch (n.op) {
    case Op::kSymbol: out.degree = 1; break;
    case Op::kAdd:
    case Op::kSub:
      out.degree = std::max(a.degree, b.degree);
      out.terms = a.terms + b.terms;
      break;
    case Op::kMul:
    case Op::kDiv:
      out.degree = std::min(a.degree + b.degree, 1L << 40);
      out.terms = a.terms * b.terms;
      break;
    case Op::kPow: {
      std::optional<Rational> k = EvalExact(tree, n.b);
      double steps = k && k->den == 1 ? std::fabs(static_cast<double>(k->num)) : 1e9;
      out.degree = static_cast<long>(std::min(1e12, std::max<double>(1, static_cast<double>(a.degree)) * steps));
      // (t terms)^k has C(k + t - 1, t - 1) terms.
      double count = 1;
      for (double i = 1; i < a.terms && count <= kMaxExpandTerms; ++i) count *= (steps + i) / i;
      out.terms = a.terms <= 1 ? 1 : count;
      break;
    }
    default:
      out.degree = std::max(a.degree, b.degree);
      break;
  }
  return out;
}

// log2 |n|, finite for any nonzero value CLN can hold (its float exponents are machine words).
double Log2Abs(const GiNaC::numeric& n) {
  if (n.is_zero()) return -HUGE_VAL;
  return GiNaC::log(GiNaC::abs(n)).real().to_double() / std::log(2.0);
}

// A result beyond 2^(2^40) overflows CLN's float exponent anyway, but CLN only notices after
// forming the exponent's integer part: for 2^(2.2^(10^9)) that integer alone is a gigabyte.
constexpr double kMaxLog2OfResultExponent = 40;

void RefuseHugeResult(double log2_result_exponent) {
  if (!(log2_result_exponent <= kMaxLog2OfResultExponent)) throw Refused{};
}

bool IsExponential(const GiNaC::ex& e) {
  return GiNaC::is_the_function<GiNaC::exp_SERIAL>(e) || GiNaC::is_the_function<GiNaC::sinh_SERIAL>(e) ||
         GiNaC::is_the_function<GiNaC::cosh_SERIAL>(e) || GiNaC::is_the_function<GiNaC::tanh_SERIAL>(e);
}

// e at the test point `at`, as a float, built bottom up so that each power and exponential is
// checked before CLN computes it. GiNaC evaluates a power of numbers as soon as it is built, so
// e.subs(at) alone can already be the gigabyte: (11/5)^(10^9 x) at x = 0.5 is an exact power.
GiNaC::ex EvalfAt(const GiNaC::ex& e, const GiNaC::exmap& at) {
  if (GiNaC::is_a<GiNaC::symbol>(e)) {
    auto it = at.find(e);
    return it == at.end() ? e : it->second.evalf();
  }
  if (GiNaC::is_a<GiNaC::numeric>(e)) return e.evalf();
  if (GiNaC::is_a<GiNaC::power>(e)) {
    GiNaC::ex base = EvalfAt(e.op(0), at), exponent = EvalfAt(e.op(1), at);
    if (GiNaC::is_a<GiNaC::numeric>(base) && GiNaC::is_a<GiNaC::numeric>(exponent)) {
      const auto& b = GiNaC::ex_to<GiNaC::numeric>(base);
      const auto& x = GiNaC::ex_to<GiNaC::numeric>(exponent);
      double log2_base = Log2Abs(b);
      // log2 |b^x| <= |x| * |log2 |b||, so its log2 is log2|x| + log2|log2|b||.
      if (!x.is_zero() && !b.is_zero() && log2_base != 0) {
        RefuseHugeResult(Log2Abs(x) + std::log2(std::fabs(log2_base)));
      }
    }
    return GiNaC::pow(base, exponent).evalf();
  }
  if (IsExponential(e)) {
    GiNaC::ex arg = EvalfAt(e.op(0), at);
    if (GiNaC::is_a<GiNaC::numeric>(arg) && !GiNaC::ex_to<GiNaC::numeric>(arg).is_zero()) {
      RefuseHugeResult(Log2Abs(GiNaC::ex_to<GiNaC::numeric>(arg)) + std::log2(1 / std::log(2.0)));
    }
  }
  struct Children : GiNaC::map_function {
    explicit Children(const GiNaC::exmap& point) : point(point) {}
    GiNaC::ex operator()(const GiNaC::ex& child) override { return EvalfAt(child, point); }
    const GiNaC::exmap& point;
  } children(at);
  return e.map(children).evalf();
}

bool Close(const GiNaC::numeric& a, const GiNaC::numeric& b, double rel_tol) {
  GiNaC::numeric diff = GiNaC::abs(a - b);
  GiNaC::numeric ma = GiNaC::abs(a), mb = GiNaC::abs(b);
  GiNaC::numeric scale = ma > mb ? ma : mb;
  return diff <= GiNaC::numeric(rel_tol) * scale;
}

SymbolicVerdict Compare(const SymbolicJob& job) {
  std::map<std::string, GiNaC::symbol> symbols;
  GiNaC::ex gold = Converter(*job.gold_tree, &symbols).Convert(job.gold);
  GiNaC::ex pred = Converter(*job.pred_tree, &symbols).Convert(job.pred);
  GiNaC::ex diff = gold - pred;
  if (diff.is_zero()) return SymbolicVerdict::kEqual;
  if (GiNaC::is_a<GiNaC::numeric>(gold) && GiNaC::is_a<GiNaC::numeric>(pred)) {
    const auto& a = GiNaC::ex_to<GiNaC::numeric>(gold);
    const auto& b = GiNaC::ex_to<GiNaC::numeric>(pred);
    if (a.is_rational() && b.is_rational() && !job.tolerant) return SymbolicVerdict::kNotEqual;
    bool digits = job.tolerant && a.is_real() && b.is_real() &&
                  AgreeToDigits(a.to_double(), b.to_double(), job.precision);
    return digits || Close(a, b, job.rel_tol) ? SymbolicVerdict::kEqual : SymbolicVerdict::kNotEqual;
  }
  int nodes = 0;
  ExpandCost cost_gold = MeasureForExpand(*job.gold_tree, job.gold, &nodes);
  ExpandCost cost_pred = MeasureForExpand(*job.pred_tree, job.pred, &nodes);
  if (std::max(cost_gold.degree, cost_pred.degree) <= kMaxExpandDegree &&
      cost_gold.terms + cost_pred.terms <= kMaxExpandTerms && nodes <= kMaxExpandNodes) {
    if (GiNaC::normal(GiNaC::expand(diff)).is_zero()) return SymbolicVerdict::kEqual;
  }
  // Numeric agreement at the same test points the floating stage uses.
  std::vector<std::string> names;
  for (const auto& [name, symbol] : symbols) names.push_back(name);
  bool undecided = false;
  for (int point = 0; point < (names.empty() ? 1 : kTestPoints); ++point) {
    GiNaC::exmap at;
    for (const auto& [name, value] : TestPoint(names, point)) at[symbols.at(name)] = GiNaC::numeric(value);
    GiNaC::ex a = EvalfAt(gold, at), b = EvalfAt(pred, at);
    if (!GiNaC::is_a<GiNaC::numeric>(a) || !GiNaC::is_a<GiNaC::numeric>(b)) {
      undecided = true;
      continue;
    }
    const auto& na = GiNaC::ex_to<GiNaC::numeric>(a);
    const auto& nb = GiNaC::ex_to<GiNaC::numeric>(b);
    bool digits = job.tolerant && na.is_real() && nb.is_real() &&
                  AgreeToDigits(na.to_double(), nb.to_double(), job.precision);
    if (!digits && !Close(na, nb, job.rel_tol)) return SymbolicVerdict::kNotEqual;
  }
  return undecided ? SymbolicVerdict::kUndecided : SymbolicVerdict::kEqual;
}

SymbolicVerdict SafeCompare(const SymbolicJob& job) {
  try {
    return Compare(job);
  } catch (...) {  // Refused, GiNaC's pole_error / range_error, CLN errors, bad_alloc
    return SymbolicVerdict::kUndecided;
  }
}

class GinacThread {
 public:
  static GinacThread& Instance() {
    // Never destroyed: the detached thread may outlive main() while finishing an abandoned job.
    static GinacThread* instance = new GinacThread();
    return *instance;
  }

  std::optional<SymbolicVerdict> Run(std::shared_ptr<const SymbolicJob> job,
                                     std::chrono::steady_clock::time_point deadline) {
    auto slot = std::make_shared<Slot>();
    slot->job = std::move(job);
    std::unique_lock<std::mutex> lock(mu_);
    queue_.push_back(slot);
    work_cv_.notify_one();
    if (!done_cv_.wait_until(lock, deadline, [&] { return slot->done; })) {
      slot->abandoned = true;  // skipped if not started yet
      return std::nullopt;
    }
    return slot->verdict;
  }

 private:
  struct Slot {
    std::shared_ptr<const SymbolicJob> job;
    bool done = false;
    bool abandoned = false;
    SymbolicVerdict verdict = SymbolicVerdict::kUndecided;
  };

  GinacThread() { std::thread([this] { Loop(); }).detach(); }

  void Loop() {
    GiNaC::Digits = kDigits;
    for (;;) {
      std::shared_ptr<Slot> slot;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return !queue_.empty(); });
        slot = std::move(queue_.front());
        queue_.pop_front();
        if (slot->abandoned) continue;
      }
      SymbolicVerdict verdict = SafeCompare(*slot->job);
      {
        std::lock_guard<std::mutex> lock(mu_);
        slot->verdict = verdict;
        slot->done = true;
      }
      done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::shared_ptr<Slot>> queue_;
};

}  // namespace

std::optional<SymbolicVerdict> CompareSymbolically(std::shared_ptr<const SymbolicJob> job,
                                                   std::chrono::steady_clock::time_point deadline) {
  return GinacThread::Instance().Run(std::move(job), deadline);
}

}  // namespace tfgrpo::mathverify
