// The verifier's fast paths: exact rational arithmetic in 128 bits (integers, fractions, decimals)
// and floating evaluation with a rounding-error bound. Most competition answers are decided here,
// without touching GiNaC; what these cannot decide goes to math_verify_ginac.cpp.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "reward/math_verify_internal.h"
#include "tfgrpo/util.h"

namespace tfgrpo::mathverify {
namespace {

using i128 = __int128;
using u128 = unsigned __int128;
constexpr i128 kI128Max = static_cast<i128>(~static_cast<u128>(0) >> 1);

u128 Magnitude(i128 x) { return x < 0 ? static_cast<u128>(0) - static_cast<u128>(x) : static_cast<u128>(x); }

u128 Gcd(u128 a, u128 b) {
  while (b != 0) {
    u128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

std::optional<Rational> Make(i128 num, i128 den) {
  if (den == 0 || num == -kI128Max - 1 || den == -kI128Max - 1) return std::nullopt;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  u128 g = Gcd(Magnitude(num), Magnitude(den));
  if (g > 1) {
    num /= static_cast<i128>(g);
    den /= static_cast<i128>(g);
  }
  return Rational{num, den};
}

bool MulOk(i128 a, i128 b, i128* out) { return !__builtin_mul_overflow(a, b, out); }
bool AddOk(i128 a, i128 b, i128* out) { return !__builtin_add_overflow(a, b, out); }

std::optional<Rational> Add(const Rational& a, const Rational& b) {
  i128 g = static_cast<i128>(Gcd(Magnitude(a.den), Magnitude(b.den)));
  i128 left, right, num, den;
  if (!MulOk(a.num, b.den / g, &left) || !MulOk(b.num, a.den / g, &right) || !AddOk(left, right, &num) ||
      !MulOk(a.den / g, b.den, &den)) {
    return std::nullopt;
  }
  return Make(num, den);
}

std::optional<Rational> Mul(const Rational& a, const Rational& b) {
  i128 g1 = static_cast<i128>(Gcd(Magnitude(a.num), Magnitude(b.den)));
  i128 g2 = static_cast<i128>(Gcd(Magnitude(b.num), Magnitude(a.den)));
  if (g1 == 0) g1 = 1;
  if (g2 == 0) g2 = 1;
  i128 num, den;
  if (!MulOk(a.num / g1, b.num / g2, &num) || !MulOk(a.den / g2, b.den / g1, &den)) return std::nullopt;
  return Make(num, den);
}

std::optional<Rational> Inverse(const Rational& a) {
  if (a.num == 0) return std::nullopt;
  return Make(a.den, a.num);
}

std::optional<i128> IntPow(i128 base, int exponent) {
  i128 result = 1;
  for (int k = 0; k < exponent; ++k) {
    if (!MulOk(result, base, &result)) return std::nullopt;
  }
  return result;
}

std::optional<Rational> Power(const Rational& base, i128 exponent) {
  if (exponent > 256 || exponent < -256) return std::nullopt;
  if (exponent == 0) {
    if (base.num == 0) return std::nullopt;  // 0^0
    return Rational{1, 1};
  }
  int k = static_cast<int>(exponent < 0 ? -exponent : exponent);
  std::optional<i128> num = IntPow(base.num, k), den = IntPow(base.den, k);
  if (!num || !den) return std::nullopt;
  std::optional<Rational> r = Make(*num, *den);
  return r && exponent < 0 ? Inverse(*r) : r;
}

// The exact q-th root of a non-negative integer, if there is one.
std::optional<i128> IntRoot(i128 x, int q) {
  if (x < 0) return std::nullopt;
  if (x < 2) return x;
  i128 lo = 1, hi = std::min<i128>(x, static_cast<i128>(1) << ((126 / q) + 2));
  while (lo <= hi) {
    i128 mid = lo + (hi - lo) / 2;
    std::optional<i128> p = IntPow(mid, q);
    if (p && *p == x) return mid;
    if (!p || *p > x) {
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  return std::nullopt;
}

std::optional<Rational> Root(const Rational& a, i128 index) {
  if (index < 1 || index > 64) return std::nullopt;
  int q = static_cast<int>(index);
  bool negative = a.num < 0;
  if (negative && q % 2 == 0) return std::nullopt;
  std::optional<i128> num = IntRoot(negative ? -a.num : a.num, q), den = IntRoot(a.den, q);
  if (!num || !den) return std::nullopt;
  return Make(negative ? -*num : *num, *den);
}

std::optional<i128> AsInteger(const std::optional<Rational>& r) {
  if (!r || r->den != 1) return std::nullopt;
  return r->num;
}

std::optional<Rational> NumberValue(const Node& n) {
  if (n.text.size() > 37 || n.decimals > 37) return std::nullopt;
  i128 num = 0;
  for (char c : n.text) num = num * 10 + (c - '0');
  i128 den = 1;
  for (int k = 0; k < n.decimals; ++k) den *= 10;
  return Make(num, den);
}

std::optional<Rational> Exact(const Tree& tree, int index) {
  const Node& n = tree.nodes[index];
  auto child = [&](int i) { return Exact(tree, i); };
  switch (n.op) {
    case Op::kNumber: return NumberValue(n);
    case Op::kAdd:
    case Op::kSub: {
      std::optional<Rational> a = child(n.a), b = child(n.b);
      if (!a || !b) return std::nullopt;
      if (n.op == Op::kSub) b->num = -b->num;
      return Add(*a, *b);
    }
    case Op::kMul: {
      std::optional<Rational> a = child(n.a), b;
      if (!a || !(b = child(n.b))) return std::nullopt;
      return Mul(*a, *b);
    }
    case Op::kDiv: {
      std::optional<Rational> a = child(n.a), b;
      if (!a || !(b = child(n.b))) return std::nullopt;
      std::optional<Rational> inv = Inverse(*b);
      return inv ? Mul(*a, *inv) : std::nullopt;
    }
    case Op::kNeg: {
      std::optional<Rational> a = child(n.a);
      if (a) a->num = -a->num;
      return a;
    }
    case Op::kPow: {
      std::optional<Rational> base = child(n.a), exponent;
      if (!base || !(exponent = child(n.b))) return std::nullopt;
      if (exponent->den == 1) return Power(*base, exponent->num);
      std::optional<Rational> root = Root(*base, exponent->den);
      return root ? Power(*root, exponent->num) : std::nullopt;
    }
    case Op::kSqrt: {
      std::optional<Rational> a = child(n.a);
      return a ? Root(*a, 2) : std::nullopt;
    }
    case Op::kRoot: {
      std::optional<Rational> a = child(n.a);
      std::optional<i128> q = AsInteger(child(n.b));
      return a && q ? Root(*a, *q) : std::nullopt;
    }
    case Op::kFactorial: {
      std::optional<i128> k = AsInteger(child(n.a));
      if (!k || *k < 0 || *k > 33) return std::nullopt;
      i128 f = 1;
      for (i128 i = 2; i <= *k; ++i) f *= i;
      return Rational{f, 1};
    }
    case Op::kBinomial: {
      std::optional<i128> total = AsInteger(child(n.a)), pick = AsInteger(child(n.b));
      if (!total || !pick || *total < 0 || *total > 1000) return std::nullopt;
      if (*pick < 0 || *pick > *total) return Rational{0, 1};
      i128 k = std::min(*pick, *total - *pick), c = 1;
      for (i128 i = 0; i < k; ++i) {
        if (!MulOk(c, *total - i, &c)) return std::nullopt;
        c /= i + 1;
      }
      return Rational{c, 1};
    }
    case Op::kAbs: {
      std::optional<Rational> a = child(n.a);
      if (a && a->num < 0) a->num = -a->num;
      return a;
    }
    case Op::kFloor:
    case Op::kCeil: {
      std::optional<Rational> a = child(n.a);
      if (!a) return std::nullopt;
      i128 q = a->num / a->den, r = a->num % a->den;
      if (r != 0 && n.op == Op::kFloor && a->num < 0) --q;
      if (r != 0 && n.op == Op::kCeil && a->num > 0) ++q;
      return Rational{q, 1};
    }
    case Op::kPercent: {
      std::optional<Rational> a = child(n.a);
      return a ? Mul(*a, Rational{1, 100}) : std::nullopt;
    }
    default: return std::nullopt;  // kDegree inside an expression is an angle in radians: a*pi/180
  }
}

// ---- floating evaluation ------------------------------------------------------------------------

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Approx Bad() { return {kNaN, kInf}; }

bool IsWhole(double x) { return std::isfinite(x) && std::floor(x) == x; }

Approx Function(const std::string& name, Approx a) {
  double x = a.value, v;
  double slope;  // |f'(x)|, scaling the argument's error
  if (name == "sin") {
    v = std::sin(x), slope = 1;
  } else if (name == "cos") {
    v = std::cos(x), slope = 1;
  } else if (name == "tan") {
    v = std::tan(x), slope = 1 + v * v;
  } else if (name == "cot") {
    double t = std::tan(x);
    v = 1 / t, slope = 1 + v * v;
  } else if (name == "sec") {
    v = 1 / std::cos(x), slope = std::fabs(v * std::tan(x));
  } else if (name == "csc") {
    v = 1 / std::sin(x), slope = std::fabs(v / std::tan(x));
  } else if (name == "arcsin" || name == "arccos") {
    if (std::fabs(x) > 1) return Bad();
    v = name == "arcsin" ? std::asin(x) : std::acos(x), slope = 1 / std::sqrt(1 - x * x);
  } else if (name == "arctan") {
    v = std::atan(x), slope = 1;
  } else if (name == "sinh") {
    v = std::sinh(x), slope = std::cosh(x);
  } else if (name == "cosh") {
    v = std::cosh(x), slope = std::fabs(std::sinh(x));
  } else if (name == "tanh") {
    v = std::tanh(x), slope = 1;
  } else if (name == "exp") {
    v = std::exp(x), slope = v;
  } else {
    return Bad();
  }
  return {v, slope * a.error + std::fabs(v) + 1};
}

Approx Eval(const Tree& tree, int index, const SymbolValues& symbols) {
  const Node& n = tree.nodes[index];
  auto child = [&](int i) { return Eval(tree, i, symbols); };
  switch (n.op) {
    case Op::kNumber: {
      std::string text = n.text + "e-" + std::to_string(n.decimals);
      double v = std::strtod(text.c_str(), nullptr);
      return {v, 2 * std::fabs(v)};
    }
    case Op::kSymbol:
      for (const auto& [name, value] : symbols) {
        if (name == n.text) return {value, std::fabs(value)};
      }
      return Bad();
    case Op::kPi: return {M_PI, M_PI};
    case Op::kEuler: return {M_E, M_E};
    case Op::kImaginary:
    case Op::kInfinity: return Bad();
    case Op::kAdd:
    case Op::kSub: {
      Approx a = child(n.a), b = child(n.b);
      double v = n.op == Op::kAdd ? a.value + b.value : a.value - b.value;
      return {v, a.error + b.error + std::fabs(v)};
    }
    case Op::kMul: {
      Approx a = child(n.a), b = child(n.b);
      double v = a.value * b.value;
      return {v, std::fabs(a.value) * b.error + std::fabs(b.value) * a.error + std::fabs(v)};
    }
    case Op::kDiv: {
      Approx a = child(n.a), b = child(n.b);
      if (b.value == 0) return Bad();
      double v = a.value / b.value;
      return {v, (a.error + std::fabs(v) * b.error) / std::fabs(b.value) + std::fabs(v)};
    }
    case Op::kNeg: {
      Approx a = child(n.a);
      return {-a.value, a.error};
    }
    case Op::kPow: {
      Approx a = child(n.a), b = child(n.b);
      if (a.value < 0 && !IsWhole(b.value)) return Bad();
      if (a.value == 0) {
        if (b.value <= 0 || a.error > 0) return Bad();
        return {0, 0};
      }
      double v = std::pow(a.value, b.value);
      double rel =
          std::fabs(b.value) * a.error / std::fabs(a.value) + std::fabs(std::log(std::fabs(a.value))) * b.error;
      return {v, std::fabs(v) * (rel + 1)};
    }
    case Op::kSqrt:
    case Op::kRoot: {
      Approx a = child(n.a);
      double q = 2;
      if (n.op == Op::kRoot) {
        q = child(n.b).value;
        if (!IsWhole(q) || q < 1 || q > 1000) return Bad();
      }
      bool odd = std::fmod(q, 2) == 1;
      if (a.value < 0 && !odd) return Bad();
      double v = a.value < 0 ? -std::pow(-a.value, 1 / q) : (q == 2 ? std::sqrt(a.value) : std::pow(a.value, 1 / q));
      if (a.value == 0) return {0, a.error > 0 ? kInf : 0};
      return {v, std::fabs(v) * a.error / (q * std::fabs(a.value)) + std::fabs(v)};
    }
    case Op::kFactorial: {
      Approx a = child(n.a);
      if (!IsWhole(a.value) || a.value < 0 || a.value > 170) return Bad();
      double v = std::round(std::tgamma(a.value + 1));
      return {v, std::fabs(v) * (a.value + 1)};
    }
    case Op::kBinomial: {
      Approx a = child(n.a), b = child(n.b);
      if (!IsWhole(a.value) || !IsWhole(b.value) || a.value < 0) return Bad();
      if (b.value < 0 || b.value > a.value) return {0, 0};
      double v = std::exp(std::lgamma(a.value + 1) - std::lgamma(b.value + 1) - std::lgamma(a.value - b.value + 1));
      if (v < 9e15) v = std::round(v);
      return {v, std::fabs(v) * 64};
    }
    case Op::kAbs: {
      Approx a = child(n.a);
      return {std::fabs(a.value), a.error};
    }
    case Op::kFloor:
    case Op::kCeil: {
      Approx a = child(n.a);
      double v = n.op == Op::kFloor ? std::floor(a.value) : std::ceil(a.value);
      double to_integer = std::fabs(a.value - std::round(a.value));
      if (to_integer <= 8 * DBL_EPSILON * a.error) return Bad();  // too close to a jump to trust
      return {v, std::fabs(v)};
    }
    case Op::kFunction: return Function(n.text, child(n.a));
    case Op::kLog: {
      Approx a = child(n.a);
      if (!(a.value > 0)) return Bad();
      double v = std::log(a.value), error = a.error / a.value + std::fabs(v) + 1;
      if (n.b >= 0) {
        Approx base = child(n.b);
        if (!(base.value > 0) || base.value == 1) return Bad();
        double lb = std::log(base.value);
        double base_error = base.error / base.value + std::fabs(lb) + 1;
        v /= lb;
        error = (error + std::fabs(v) * base_error) / std::fabs(lb) + std::fabs(v);
      }
      return {v, error};
    }
    case Op::kPercent: {
      Approx a = child(n.a);
      return {a.value / 100, a.error / 100 + std::fabs(a.value / 100)};
    }
    case Op::kDegree: {
      Approx a = child(n.a);
      double v = a.value * (M_PI / 180);
      return {v, std::fabs(v) * 4 + a.error * (M_PI / 180)};
    }
  }
  return Bad();
}

int Precedence(Op op) {
  switch (op) {
    case Op::kAdd:
    case Op::kSub: return 1;
    case Op::kMul:
    case Op::kDiv: return 2;
    case Op::kNeg: return 3;
    case Op::kPow: return 4;
    case Op::kFactorial:
    case Op::kPercent:
    case Op::kDegree: return 5;
    default: return 6;
  }
}

void Print(const Tree& tree, int index, int min_prec, std::string* out) {
  const Node& n = tree.nodes[index];
  int prec = Precedence(n.op);
  // Numbers print as written: a negative or fractional one is not an atom for its parent's sake.
  bool parens = prec < min_prec;
  if (parens) *out += '(';
  auto sub = [&](int i, int p) { Print(tree, i, p, out); };
  switch (n.op) {
    case Op::kNumber:
      if (n.decimals == 0) {
        *out += n.text;
      } else {
        std::string digits = n.text;
        if (static_cast<int>(digits.size()) <= n.decimals) {
          digits.insert(0, n.decimals - digits.size() + 1, '0');
        }
        digits.insert(digits.size() - n.decimals, ".");
        *out += digits;
      }
      break;
    case Op::kSymbol: *out += n.text; break;
    case Op::kPi: *out += "pi"; break;
    case Op::kEuler: *out += "e"; break;
    case Op::kImaginary: *out += "i"; break;
    case Op::kInfinity: *out += "inf"; break;
    case Op::kAdd: sub(n.a, 1), *out += " + ", sub(n.b, 2); break;
    case Op::kSub: sub(n.a, 1), *out += " - ", sub(n.b, 2); break;
    case Op::kMul: sub(n.a, 2), *out += "*", sub(n.b, 3); break;
    case Op::kDiv: sub(n.a, 2), *out += "/", sub(n.b, 3); break;
    case Op::kNeg: *out += "-", sub(n.a, 4); break;
    case Op::kPow: sub(n.a, 5), *out += "^", sub(n.b, 6); break;
    case Op::kSqrt: *out += "sqrt(", sub(n.a, 0), *out += ")"; break;
    case Op::kRoot: *out += "root(", sub(n.a, 0), *out += ", ", sub(n.b, 0), *out += ")"; break;
    case Op::kFactorial: sub(n.a, 6), *out += "!"; break;
    case Op::kAbs: *out += "|", sub(n.a, 0), *out += "|"; break;
    case Op::kFloor: *out += "floor(", sub(n.a, 0), *out += ")"; break;
    case Op::kCeil: *out += "ceil(", sub(n.a, 0), *out += ")"; break;
    case Op::kFunction: *out += n.text + "(", sub(n.a, 0), *out += ")"; break;
    case Op::kLog:
      *out += "log(", sub(n.a, 0);
      if (n.b >= 0) *out += ", ", sub(n.b, 0);
      *out += ")";
      break;
    case Op::kBinomial: *out += "binomial(", sub(n.a, 0), *out += ", ", sub(n.b, 0), *out += ")"; break;
    case Op::kPercent: sub(n.a, 6), *out += "%"; break;
    case Op::kDegree: sub(n.a, 6), *out += "\xC2\xB0"; break;
  }
  if (parens) *out += ')';
}

}  // namespace

std::string RationalToString(const Rational& r) {
  auto digits = [](u128 x) {
    std::string s;
    do {
      s += static_cast<char>('0' + static_cast<int>(x % 10));
      x /= 10;
    } while (x != 0);
    return std::string(s.rbegin(), s.rend());
  };
  std::string s = (r.num < 0 ? "-" : "") + digits(Magnitude(r.num));
  if (r.den != 1) s += "/" + digits(Magnitude(r.den));
  return s;
}

std::optional<Rational> EvalExact(const Tree& tree, int node) { return Exact(tree, node); }

bool ContainsOp(const Tree& tree, int node, Op op) {
  if (node < 0) return false;
  const Node& n = tree.nodes[node];
  return n.op == op || ContainsOp(tree, n.a, op) || ContainsOp(tree, n.b, op);
}

bool HasDecimal(const Tree& tree, int node) {
  if (node < 0) return false;
  const Node& n = tree.nodes[node];
  return (n.op == Op::kNumber && n.decimal) || HasDecimal(tree, n.a) || HasDecimal(tree, n.b);
}

void CollectSymbols(const Tree& tree, int node, std::vector<std::string>* names) {
  if (node < 0) return;
  const Node& n = tree.nodes[node];
  if (n.op == Op::kSymbol && std::find(names->begin(), names->end(), n.text) == names->end()) {
    names->push_back(n.text);
  }
  CollectSymbols(tree, n.a, names);
  CollectSymbols(tree, n.b, names);
}

Approx EvalApprox(const Tree& tree, int node, const SymbolValues& symbols) {
  Approx a = Eval(tree, node, symbols);
  if (!std::isfinite(a.value) || !std::isfinite(a.error)) return Bad();
  return a;
}

int InfinitySign(const Tree& tree, int node) {
  const Node& n = tree.nodes[node];
  if (n.op == Op::kInfinity) return 1;
  if (n.op == Op::kNeg) return -InfinitySign(tree, n.a);
  return 0;
}

SymbolValues TestPoint(const std::vector<std::string>& names, int point) {
  SymbolValues values;
  values.reserve(names.size());
  for (const std::string& name : names) {
    uint64_t state = Fnv1a64(name) ^ (0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(point + 1));
    // Positive and away from 0 and 1, where many forms coincide or are undefined.
    values.emplace_back(name, 1.1 + 1.7 * UnitDouble(state));
  }
  return values;
}

std::string PrintExpr(const Tree& tree, int node) {
  std::string out;
  Print(tree, node, 0, &out);
  return out;
}

}  // namespace tfgrpo::mathverify
