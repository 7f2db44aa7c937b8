// Comparing two eval reports: pairing by task, the bootstrap interval over tasks, Pass@k from
// per-task counts, and reading reports back from JSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "tfgrpo/compare.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

TaskEval Task(const std::string& id, int samples, int successes, double mean) {
  TaskEval t;
  t.task_id = id;
  t.samples = samples;
  t.successes = successes;
  t.mean_reward = mean;
  return t;
}

EvalReport Report(int k, std::vector<TaskEval> per_task) {
  EvalReport r;
  r.k = k;
  r.per_task = std::move(per_task);
  r.tasks = static_cast<int>(r.per_task.size());
  return r;
}

// Binary per-task rewards: task i of n has mean 1 (k successes) when `hit(i)`, else 0.
EvalReport BinaryReport(int n, int k, const std::function<bool(int)>& hit) {
  std::vector<TaskEval> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(Task("t" + std::to_string(i), k, hit(i) ? k : 0, hit(i) ? 1.0 : 0.0));
  return Report(k, tasks);
}

TEST(CompareReports, IdenticalReportsDifferByZeroWithAZeroInterval) {
  uint64_t state = 7;
  std::vector<TaskEval> tasks;
  for (int i = 0; i < 50; ++i) {
    int successes = static_cast<int>(UnitDouble(state) * 5);
    tasks.push_back(Task("t" + std::to_string(i), 4, std::min(successes, 4), UnitDouble(state)));
  }
  auto c = CompareReports(Report(4, tasks), Report(4, tasks));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->tasks, 50);
  EXPECT_EQ(c->mean.diff, 0);
  EXPECT_EQ(c->mean.lo, 0);
  EXPECT_EQ(c->mean.hi, 0);
  EXPECT_EQ(c->pass.diff, 0);
  EXPECT_EQ(c->pass.lo, 0);
  EXPECT_EQ(c->pass.hi, 0);
  EXPECT_EQ(c->unchanged, 50);
  EXPECT_EQ(c->improved + c->worsened, 0);
}

TEST(CompareReports, AUniformShiftOfOneHalfGivesAnIntervalAtOneHalf) {
  uint64_t state = 11;
  std::vector<TaskEval> a, b;
  for (int i = 0; i < 40; ++i) {
    double mean = 0.5 * UnitDouble(state);
    a.push_back(Task("t" + std::to_string(i), 8, 0, mean));
    b.push_back(Task("t" + std::to_string(i), 8, 4, mean + 0.5));
  }
  std::reverse(b.begin(), b.end());  // pairing is by id, not position
  auto c = CompareReports(Report(8, a), Report(8, b));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_NEAR(c->mean.diff, 0.5, 1e-12);
  EXPECT_NEAR(c->mean.lo, 0.5, 1e-9);
  EXPECT_NEAR(c->mean.hi, 0.5, 1e-9);
  EXPECT_NEAR(c->mean.b - c->mean.a, 0.5, 1e-12);
  EXPECT_EQ(c->improved, 40);
  // Pass@8 goes from 0 (no successes) to 1 (4 of 8) on every task.
  EXPECT_EQ(c->pass.a, 0);
  EXPECT_EQ(c->pass.b, 1);
  EXPECT_EQ(c->pass.lo, 1);
}

TEST(CompareReports, DifferentTaskSetsAreAnErrorNamingMissingIds) {
  auto a = Report(4, {Task("t1", 4, 1, 0.25), Task("t2", 4, 1, 0.25), Task("t3", 4, 1, 0.25)});
  auto b = Report(4, {Task("t1", 4, 1, 0.25), Task("t2", 4, 1, 0.25), Task("t9", 4, 1, 0.25)});
  auto c = CompareReports(a, b);
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("1 only in A (t3)"), std::string::npos) << m;
  EXPECT_NE(m.find("1 only in B (t9)"), std::string::npos) << m;
}

// Differences {0, 0, 0, 1}: a resample's mean is X/4 with X ~ Binomial(4, 1/4), so
// P(mean <= 0) = 0.316 > 2.5% and P(mean <= 0.5) = 0.949 < 97.5% <= P(mean <= 0.75) = 0.996:
// the percentile interval is [0, 0.75].
TEST(CompareReports, SmallExampleHasTheExpectedPercentileBounds) {
  auto a = BinaryReport(4, 4, [](int) { return false; });
  auto b = BinaryReport(4, 4, [](int i) { return i == 3; });
  auto c = CompareReports(a, b);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_DOUBLE_EQ(c->mean.diff, 0.25);
  EXPECT_DOUBLE_EQ(c->mean.lo, 0.0);
  EXPECT_DOUBLE_EQ(c->mean.hi, 0.75);
  EXPECT_EQ(c->improved, 1);
  EXPECT_EQ(c->unchanged, 3);
}

// With many tasks the percentile interval approaches mean +- 1.96 standard errors.
TEST(CompareReports, LargeSampleIntervalMatchesTheNormalApproximation) {
  const int n = 400;
  auto a = BinaryReport(n, 4, [](int) { return false; });
  auto b = BinaryReport(n, 4, [](int i) { return i % 4 == 0; });
  auto c = CompareReports(a, b);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const double p = 0.25, half_width = 1.96 * std::sqrt(p * (1 - p) / n);
  EXPECT_DOUBLE_EQ(c->mean.diff, p);
  EXPECT_NEAR(c->mean.lo, p - half_width, 0.008);
  EXPECT_NEAR(c->mean.hi, p + half_width, 0.008);
}

TEST(CompareReports, SameSeedSameIntervalAndTheSeedMatters) {
  uint64_t state = 3;
  std::vector<TaskEval> a, b;
  for (int i = 0; i < 30; ++i) {
    a.push_back(Task("t" + std::to_string(i), 4, 0, UnitDouble(state)));
    b.push_back(Task("t" + std::to_string(i), 4, 0, UnitDouble(state)));
  }
  auto first = CompareReports(Report(4, a), Report(4, b), {10000, 1});
  auto again = CompareReports(Report(4, a), Report(4, b), {10000, 1});
  auto other = CompareReports(Report(4, a), Report(4, b), {10000, 2});
  ASSERT_TRUE(first.ok() && again.ok() && other.ok());
  EXPECT_EQ(first->mean.lo, again->mean.lo);
  EXPECT_EQ(first->mean.hi, again->mean.hi);
  EXPECT_NE(first->mean.lo, other->mean.lo);
  EXPECT_LT(first->mean.lo, first->mean.diff);
  EXPECT_GT(first->mean.hi, first->mean.diff);
}

// Pass@k uses the unbiased estimator from per-task counts at k = min(k_A, k_B): with one success,
// pass@4 is 1 from 4 samples and 1 - C(7,4)/C(8,4) = 0.5 from 8.
TEST(CompareReports, PassAtKUsesTheUnbiasedEstimatorAtTheCommonK) {
  auto a = Report(4, {Task("t1", 4, 1, 0.25), Task("t2", 4, 0, 0)});
  auto b = Report(8, {Task("t1", 8, 1, 0.125), Task("t2", 8, 8, 1)});
  auto c = CompareReports(a, b);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->pass_k, 4);
  EXPECT_DOUBLE_EQ(c->per_task[0].pass_a, 1.0);
  EXPECT_DOUBLE_EQ(c->per_task[0].pass_b, 0.5);
  EXPECT_DOUBLE_EQ(c->pass.a, 0.5);
  EXPECT_DOUBLE_EQ(c->pass.b, 0.75);
  EXPECT_DOUBLE_EQ(c->pass.diff, 0.25);
  EXPECT_EQ(c->improved, 1);
  EXPECT_EQ(c->worsened, 1);
}

TEST(EvalReportFromJson, ReadsWhatToJsonWritesAndNamesBadFields) {
  EvalReport r = Report(4, {Task("a:1", 4, 3, 0.75), Task("a:2", 4, 0, 0.1)});
  r.per_task[1].errors = 2;
  auto back = EvalReportFromJson(r.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->k, 4);
  ASSERT_EQ(back->per_task.size(), 2u);
  EXPECT_EQ(back->per_task[0].task_id, "a:1");
  EXPECT_EQ(back->per_task[0].successes, 3);
  EXPECT_EQ(back->per_task[1].errors, 2);
  EXPECT_DOUBLE_EQ(back->per_task[1].mean_reward, 0.1);

  nlohmann::json bad = r.ToJson();
  bad["per_task"][1]["successes"] = 5;
  auto too_many = EvalReportFromJson(bad);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("per_task[1]: field 'successes' must be within 0..4"),
            std::string::npos)
      << too_many.status().message();

  nlohmann::json no_per_task = r.ToJson();
  no_per_task.erase("per_task");
  auto c = CompareReports(r.ToJson(), no_per_task);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().rfind("B: missing 'per_task'", 0), 0u) << c.status().message();
}

TEST(Formatting, ComparisonAndPerTaskTablesShowTheNumbers) {
  auto a = BinaryReport(4, 4, [](int) { return false; });
  auto b = BinaryReport(4, 4, [](int) { return true; });
  auto c = CompareReports(a, b);
  ASSERT_TRUE(c.ok());
  std::string text = FormatComparison(*c, "base.json", "lib.json", /*per_task=*/true);
  EXPECT_NE(text.find("A = base.json (k=4)"), std::string::npos) << text;
  EXPECT_NE(text.find("Mean@4      0.0000    1.0000   +1.0000  [+1.0000, +1.0000]"), std::string::npos) << text;
  EXPECT_NE(text.find("4 improved, 0 worsened"), std::string::npos) << text;
  EXPECT_NE(text.find("\nt3         0.0000    1.0000   +1.0000"), std::string::npos) << text;

  std::string table = FormatPerTaskTable(Report(4, {Task("gsm8k:test:12", 4, 3, 0.75)}));
  EXPECT_NE(table.find("task_id"), std::string::npos);
  EXPECT_NE(table.find("gsm8k:test:12      4          3    0.7500"), std::string::npos) << table;
}

TEST(EvalReport, PerTaskCritiqueIsKeptAndShownOnOneLine) {
  EvalReport r = Report(4, {Task("a:1", 4, 3, 0.75), Task("a:2", 4, 0, 0.1)});
  r.per_task[1].critique = "count(3, 7) returned 4, expected 5\nsecond line";
  nlohmann::json j = r.ToJson();
  EXPECT_FALSE(j["per_task"][0].contains("critique"));
  EXPECT_EQ(j["per_task"][1]["critique"], r.per_task[1].critique);
  auto back = EvalReportFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->per_task[1].critique, r.per_task[1].critique);
  std::string table = FormatPerTaskTable(r);
  EXPECT_NE(table.find("  critique: count(3, 7) returned 4, expected 5 / second line\n"), std::string::npos) << table;
  EXPECT_EQ(table.find("critique:"), table.rfind("critique:"));  // only task a:2 has one
  EXPECT_GT(table.find("critique:"), table.find("a:2"));
}

}  // namespace
}  // namespace tfgrpo
