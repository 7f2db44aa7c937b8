// Reading eval reports back and presenting them: a per-task table, and a paired comparison of two
// reports over the same tasks (Mean@k and Pass@k differences with a bootstrap 95% interval
// obtained by resampling tasks).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/eval.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

// An EvalReport from its ToJson() form. Only "k" and "per_task" (task_id, samples, successes,
// mean_reward; errors optional) are required; errors name the entry and field.
Result<EvalReport> EvalReportFromJson(const nlohmann::json& j);

// One row per task: task id, k (samples), successes, mean reward.
std::string FormatPerTaskTable(const EvalReport& report);

// A metric of A and B averaged over tasks, B - A, and the percentile bootstrap interval of B - A.
struct MetricComparison {
  double a = 0;
  double b = 0;
  double diff = 0;
  double lo = 0;  // 2.5th percentile of the resampled differences
  double hi = 0;  // 97.5th
};

struct TaskComparison {
  std::string task_id;
  double mean_a = 0, mean_b = 0;
  double pass_a = 0, pass_b = 0;
};

struct Comparison {
  int tasks = 0;
  int k_a = 0, k_b = 0;
  int pass_k = 0;  // k used for Pass@k on both sides: min(k_a, k_b), so the two are comparable
  MetricComparison mean;  // Mean@k: per-task mean reward averaged over tasks
  MetricComparison pass;  // Pass@k: per-task unbiased PassAtK(samples, successes, pass_k)
  int improved = 0, worsened = 0, unchanged = 0;  // by per-task mean reward
  int resamples = 0;
  uint64_t seed = 0;
  std::vector<TaskComparison> per_task;  // in A's order
  nlohmann::json ToJson() const;
};

struct CompareOptions {
  int resamples = 10000;
  uint64_t seed = 20251008;  // fixed, so the same reports always give the same interval
};

// Pairs tasks by task_id; the two reports must cover the same tasks (the error names a few
// missing on each side). Tasks are resampled with replacement `resamples` times.
Result<Comparison> CompareReports(const EvalReport& a, const EvalReport& b, const CompareOptions& options = {});
// The same from two reports' JSON; errors say which report ("A: per_task[3]: ...").
Result<Comparison> CompareReports(const nlohmann::json& a, const nlohmann::json& b, int resamples = 10000,
                                  uint64_t seed = CompareOptions{}.seed);

// A small table: Mean@k and Pass@k for A and B, B - A and its interval; tasks improved/worsened.
// With `per_task`, a row per task follows.
std::string FormatComparison(const Comparison& c, std::string_view label_a = "A", std::string_view label_b = "B",
                             bool per_task = false);

}  // namespace tfgrpo
