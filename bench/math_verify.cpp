// Math answer verification throughput on one core: VerifyMath over a mixed corpus shaped like
// competition datasets (mostly integers and fractions as in AIME/MATH, then radicals, pi, sets,
// intervals, text and symbolic answers; about half the predictions wrong, a third of them whole
// model replies to extract from). Prints pairs per second and per-pair p50/p99/max latency.
// Usage: bench_math_verify [pairs=200000]
//        bench_math_verify --jsonl FILE [rounds=20]: the {"gold", "pred"} lines of FILE (for example the
//        pairs scripts/math_verify_agreement.py extracts from Math-Verify's tests), scored `rounds` times;
//        prints pairs per second and the mean score.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/math_verify.h"
#include "tfgrpo/util.h"

namespace {

struct Pair {
  std::string gold, pred;
  const char* kind;
  bool right;  // the corpus label: the prediction is one of the template's equivalent forms
};

struct Template {
  const char* kind;
  int weight;  // out of the total
  const char* gold;
  const char* right[3];
  const char* wrong[2];
};

// {n} is replaced by a number drawn per pair, so no two pairs are textually identical.
const Template kTemplates[] = {
    {"integer", 40, "{n}", {"{n}", "{n}.", "$ {n} $"}, {"{n1}", "-{n}"}},
    {"integer-thousands", 5, "{n}000", {"{n},000", "{n}{,}000", "{n}\\,000"}, {"{n1},000", "{n}00"}},
    {"fraction", 15, "\\frac{{n}}{7}", {"\\dfrac{{n}}{7}", "{n}/7", "\\frac{2*{n}}{14}"},
     {"\\frac{{n}}{8}", "{n1}/7"}},
    {"decimal", 5, "{n}.25", {"{n}.250", "\\frac{4*{n}+1}{4}", "{n}\\frac{1}{4}"}, {"{n}.2", "{n}.26"}},
    {"radical", 8, "{n}\\sqrt{3}", {"\\sqrt{3\\cdot {n}^2}", "{n} \\sqrt 3", "\\sqrt{3}\\cdot {n}"},
     {"{n}\\sqrt{2}", "\\sqrt{3{n}}"}},
    {"pi", 5, "\\frac{{n}\\pi}{4}", {"\\frac{{n}}{4}\\pi", "{n}\\pi/4", "\\frac{\\pi {n}}{4}"},
     {"\\frac{{n}\\pi}{3}", "{n}\\pi"}},
    {"percent", 2, "{n}\\%", {"{n}", "{n}\\%", "\\frac{{n}}{100}"}, {"{n1}\\%", "{n1}"}},
    {"set", 5, "\\{{n}, -{n1}\\}", {"-{n1}, {n}", "\\{ -{n1}, {n} \\}", "x = {n} \\text{ or } x = -{n1}"},
     {"{n}, {n1}", "{n}"}},
    {"tuple", 3, "({n}, -2)", {"\\left({n},-2\\right)", "({n}, -2)", "({n},-\\frac{4}{2})"}, {"(-2, {n})", "({n}, 2)"}},
    {"interval", 4, "[{n}, \\infty)", {"[{n},\\infty)", "\\left[{n}, \\infty\\right)", "x \\in [{n}, \\infty)"},
     {"({n}, \\infty)", "[{n1}, \\infty)"}},
    {"text", 3, "\\text{(C)}", {"C", "(C)", "\\textbf{C}"}, {"(D)", "B"}},
    {"symbolic", 3, "x^2+{n}x", {"x(x+{n})", "{n}x+x^2", "(x+{n})x"}, {"x^2-{n}x", "x^2+{n}"}},
    {"huge", 2, "2^{{n}00}", {"2^{{n}00}", "2\\cdot 2^{{n}00-1}", "4^{{n}0}\\cdot 2^{{n}00-{n}0*2}"},
     {"2^{{n}00}+1", "3^{{n}00}"}},
};

std::string Fill(std::string s, long n) {
  s = tfgrpo::ReplaceAll(std::move(s), "{n1}", std::to_string(n + 1));
  s = tfgrpo::ReplaceAll(std::move(s), "{n}", std::to_string(n));
  // "2*7" and similar in templates are evaluated when they are plain products of integers.
  size_t star;
  while ((star = s.find('*')) != std::string::npos) {
    size_t a = star, b = star + 1;
    while (a > 0 && std::isdigit(static_cast<unsigned char>(s[a - 1]))) --a;
    while (b < s.size() && std::isdigit(static_cast<unsigned char>(s[b]))) ++b;
    if (a == star || b == star + 1) break;
    long v = std::stol(s.substr(a, star - a)) * std::stol(s.substr(star + 1, b - star - 1));
    s = s.substr(0, a) + std::to_string(v) + s.substr(b);
  }
  return s;
}

std::string Reply(const std::string& answer, uint64_t& rng) {
  static const char* kOpeners[] = {
      "Let me work through this carefully. First, set up the equation from the problem statement and "
      "simplify both sides. Substituting the given values, we find the intermediate quantity, and then "
      "checking the boundary cases confirms there are no extraneous solutions.\n\n",
      "We proceed step by step.\n1. Rewrite the expression using the identity above.\n2. Collect like "
      "terms and factor.\n3. Verify by plugging back in.\nAfter simplification the result follows.\n\n",
  };
  std::string opener = kOpeners[tfgrpo::SplitMix64(rng) % 2];
  switch (tfgrpo::SplitMix64(rng) % 3) {
    case 0: return opener + "Therefore, the final answer is $\\boxed{" + answer + "}$.";
    case 1: return opener + "**Answer:** $" + answer + "$";
    default: return opener + "<answer>" + answer + "</answer>";
  }
}

std::vector<Pair> Corpus(size_t n) {
  int total = 0;
  for (const Template& t : kTemplates) total += t.weight;
  std::vector<Pair> pairs;
  pairs.reserve(n);
  uint64_t rng = 20251008;
  for (size_t i = 0; i < n; ++i) {
    int pick = static_cast<int>(tfgrpo::SplitMix64(rng) % total);
    const Template* t = kTemplates;
    while (pick >= t->weight) pick -= (t++)->weight;
    long number = 2 + static_cast<long>(tfgrpo::SplitMix64(rng) % 997);
    if (std::string(t->kind) == "huge") number = 2 + number % 9;
    bool right = tfgrpo::SplitMix64(rng) % 2 == 0;
    const char* form = right ? t->right[tfgrpo::SplitMix64(rng) % 3] : t->wrong[tfgrpo::SplitMix64(rng) % 2];
    std::string answer = Fill(form, number);
    bool whole_reply = tfgrpo::SplitMix64(rng) % 3 == 0;
    pairs.push_back({Fill(t->gold, number), whole_reply ? Reply(answer, rng) : answer, t->kind, right});
  }
  return pairs;
}

// CPU time of the process (the caller and the GiNaC thread): on a shared machine wall time also
// counts other processes' turns.
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

int RunJsonl(const char* path, int rounds) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "bench_math_verify: cannot open %s\n", path);
    return 1;
  }
  std::vector<Pair> pairs;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("gold") || !j["gold"].is_string() || !j.contains("pred") ||
        !j["pred"].is_string()) {
      std::fprintf(stderr, "bench_math_verify: %s line %d: expected {\"gold\": string, \"pred\": string}\n", path,
                   line_no);
      return 1;
    }
    pairs.push_back({j["gold"].get<std::string>(), j["pred"].get<std::string>(), "jsonl", false});
  }
  if (pairs.empty()) {
    std::fprintf(stderr, "bench_math_verify: %s holds no pairs\n", path);
    return 1;
  }
  for (const Pair& p : pairs) (void)tfgrpo::VerifyMath(p.gold, p.pred);  // warm up
  double score = 0, slowest = 0;
  std::vector<double> total_us(pairs.size(), 0);
  double cpu_start = ProcessCpuSeconds();
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < pairs.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      score += tfgrpo::VerifyMath(pairs[i].gold, pairs[i].pred).score;
      double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      slowest = std::max(slowest, us);
      total_us[i] += us;
    }
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = ProcessCpuSeconds() - cpu_start;
  // Where the time goes: the pairs with the largest mean time (line numbers of FILE, 1-based).
  std::vector<size_t> order(pairs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return total_us[a] > total_us[b]; });
  for (size_t k = 0; k < std::min<size_t>(3, order.size()); ++k) {
    std::fprintf(stderr, "  slow pair %zu: mean %.0f us\n", order[k] + 1, total_us[order[k]] / rounds);
  }
  size_t n = pairs.size() * static_cast<size_t>(rounds);
  std::printf("math_verify: %zu pairs from %s x %d rounds on 1 thread in %.2f s: %.0f pairs/s wall, %.0f pairs per "
              "CPU second; slowest %.0f us; %.1f%% scored 1, %lld timeouts\n",
              pairs.size(), path, rounds, wall, n / wall, n / std::max(cpu, 1e-9), slowest, 100.0 * score / n,
              static_cast<long long>(tfgrpo::MathVerifyTimeouts()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::strcmp(argv[1], "--jsonl") == 0) {
    return RunJsonl(argv[2], argc > 3 ? std::max(1, std::atoi(argv[3])) : 20);
  }
  const size_t n = argc > 1 ? std::max(1L, std::atol(argv[1])) : 200000;
  std::vector<Pair> pairs = Corpus(n);
  for (size_t i = 0; i < std::min<size_t>(pairs.size(), 2000); ++i) {
    (void)tfgrpo::VerifyMath(pairs[i].gold, pairs[i].pred);  // warm up
  }

  std::vector<double> micros;
  micros.reserve(n);
  double score = 0;
  size_t disagreements = 0;
  const Pair* first_disagreement = nullptr;
  auto start = std::chrono::steady_clock::now();
  for (const Pair& p : pairs) {
    auto t0 = std::chrono::steady_clock::now();
    double s = tfgrpo::VerifyMath(p.gold, p.pred).score;
    micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    score += s;
    if ((s == 1.0) != p.right && disagreements++ == 0) first_disagreement = &p;
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> sorted = micros;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double q) { return sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * sorted.size()))]; };
  std::printf("math_verify: %zu pairs on 1 thread in %.2f s: %.0f pairs/s; per pair p50 %.1f us, p99 %.1f us, "
              "max %.0f us; %.1f%% scored 1, %lld timeouts\n",
              n, wall, n / wall, pct(0.5), pct(0.99), sorted.back(), 100.0 * score / n,
              static_cast<long long>(tfgrpo::MathVerifyTimeouts()));
  std::printf("  %zu verdicts disagree with the corpus labels%s%s%s%s\n", disagreements,
              first_disagreement ? " (first: gold '" : "", first_disagreement ? first_disagreement->gold.c_str() : "",
              first_disagreement ? "' pred '" : "",
              first_disagreement ? (first_disagreement->pred + "')").c_str() : "");
  // Per answer kind: where the time goes.
  for (const Template& t : kTemplates) {
    double sum = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; ++i) {
      if (pairs[i].kind == t.kind) sum += micros[i], ++count;
    }
    if (count) std::printf("  %-18s %6zu pairs, mean %7.1f us\n", t.kind, count, sum / count);
  }
  return 0;
}
