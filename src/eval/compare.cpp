#include "tfgrpo/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

Result<int64_t> IntField(const json& obj, const char* key, const std::string& where, bool required,
                         int64_t fallback = 0) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) return Status::InvalidArgument(where + "missing field '" + key + "'");
    return fallback;
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (std::isfinite(d) && d == std::trunc(d)) return static_cast<int64_t>(d);
  }
  return Status::InvalidArgument(where + "field '" + key + "' must be an integer, got " + it->dump());
}

double NumberOr(const json& obj, const char* key, double fallback) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : fallback;
}

// Linear interpolation between order statistics of a sorted sample.
double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  double pos = q * static_cast<double>(sorted.size() - 1);
  size_t i = static_cast<size_t>(std::floor(pos));
  if (i + 1 >= sorted.size()) return sorted.back();
  double frac = pos - static_cast<double>(i);
  return sorted[i] + frac * (sorted[i + 1] - sorted[i]);
}

// Paired bootstrap over tasks: each resample draws n tasks with replacement and averages their
// B - A differences. The same seed gives the same draws for every metric of one comparison.
MetricComparison Bootstrap(const std::vector<double>& a, const std::vector<double>& b, int resamples, uint64_t seed) {
  MetricComparison m;
  const size_t n = a.size();
  if (n == 0) return m;
  std::vector<double> diff(n);
  for (size_t i = 0; i < n; ++i) {
    m.a += a[i];
    m.b += b[i];
    diff[i] = b[i] - a[i];
  }
  m.a /= n;
  m.b /= n;
  double diff_sum = 0;
  for (double d : diff) diff_sum += d;
  m.diff = diff_sum / n;
  if (resamples <= 0) {
    m.lo = m.hi = m.diff;
    return m;
  }
  std::vector<double> means(resamples);
  uint64_t state = seed;
  for (int r = 0; r < resamples; ++r) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      size_t pick = std::min(n - 1, static_cast<size_t>(UnitDouble(state) * static_cast<double>(n)));
      sum += diff[pick];
    }
    means[r] = sum / n;
  }
  std::sort(means.begin(), means.end());
  m.lo = Quantile(means, 0.025);
  m.hi = Quantile(means, 0.975);
  return m;
}

std::string FewIds(const std::vector<std::string>& ids) {
  std::string out;
  const size_t shown = std::min<size_t>(ids.size(), 5);
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + ids[i];
  if (ids.size() > shown) out += ", ...";
  return out;
}

json MetricJson(const MetricComparison& m) {
  return {{"a", m.a}, {"b", m.b}, {"diff", m.diff}, {"ci_low", m.lo}, {"ci_high", m.hi}};
}

std::string Printf(const char* fmt, auto... args) {
  std::string out(std::snprintf(nullptr, 0, fmt, args...), '\0');
  std::snprintf(out.data(), out.size() + 1, fmt, args...);
  return out;
}

}  // namespace

Result<EvalReport> EvalReportFromJson(const json& j) {
  try {
    if (!j.is_object()) return Status::InvalidArgument("an eval report must be a JSON object");
    EvalReport r;
    auto k = IntField(j, "k", "", /*required=*/true);
    if (!k.ok()) return k.status();
    if (*k < 1) return Status::InvalidArgument("field 'k' must be positive, got " + std::to_string(*k));
    r.k = static_cast<int>(*k);
    r.mean_at_k = NumberOr(j, "mean_at_k", 0);
    r.pass_at_k = NumberOr(j, "pass_at_k", 0);
    r.wall_s = NumberOr(j, "wall_s", 0);
    r.samples = static_cast<int64_t>(NumberOr(j, "samples", 0));
    r.errors = static_cast<int64_t>(NumberOr(j, "errors", 0));
    r.library_size = static_cast<int>(NumberOr(j, "library_size", 0));
    r.usage.prompt_tokens = static_cast<int64_t>(NumberOr(j, "prompt_tokens", 0));
    r.usage.completion_tokens = static_cast<int64_t>(NumberOr(j, "completion_tokens", 0));
    r.usage.cached_tokens = static_cast<int64_t>(NumberOr(j, "cached_tokens", 0));

    auto per = j.find("per_task");
    if (per == j.end() || !per->is_array()) {
      return Status::InvalidArgument("missing 'per_task' array (reports from an older tfgrpo lack it)");
    }
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < per->size(); ++i) {
      const json& e = (*per)[i];
      const std::string where = "per_task[" + std::to_string(i) + "]: ";
      if (!e.is_object()) return Status::InvalidArgument(where + "not a JSON object");
      TaskEval t;
      auto id = e.find("task_id");
      if (id == e.end() || !id->is_string() || id->get<std::string>().empty()) {
        return Status::InvalidArgument(where + "field 'task_id' must be a non-empty string");
      }
      t.task_id = id->get<std::string>();
      if (!seen.insert(t.task_id).second) {
        return Status::InvalidArgument(where + "duplicate task_id '" + t.task_id + "'");
      }
      auto samples = IntField(e, "samples", where, true);
      if (!samples.ok()) return samples.status();
      auto successes = IntField(e, "successes", where, true);
      if (!successes.ok()) return successes.status();
      auto errors = IntField(e, "errors", where, false);
      if (!errors.ok()) return errors.status();
      if (*samples < 1) return Status::InvalidArgument(where + "field 'samples' must be positive");
      if (*successes < 0 || *successes > *samples) {
        return Status::InvalidArgument(where + "field 'successes' must be within 0.." + std::to_string(*samples) +
                                       ", got " + std::to_string(*successes));
      }
      auto mean = e.find("mean_reward");
      if (mean == e.end() || !mean->is_number() || !std::isfinite(mean->get<double>())) {
        return Status::InvalidArgument(where + "field 'mean_reward' must be a number");
      }
      t.samples = static_cast<int>(*samples);
      t.successes = static_cast<int>(*successes);
      t.errors = static_cast<int>(*errors);
      t.mean_reward = mean->get<double>();
      if (auto critique = e.find("critique"); critique != e.end() && critique->is_string()) {
        t.critique = critique->get<std::string>();
      }
      r.per_task.push_back(std::move(t));
    }
    r.tasks = static_cast<int>(r.per_task.size());
    return r;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed eval report: ") + e.what());
  }
}

std::string FormatPerTaskTable(const EvalReport& report) {
  size_t width = 7;  // "task_id"
  for (const auto& t : report.per_task) width = std::max(width, t.task_id.size());
  const int w = static_cast<int>(width);
  std::string out = Printf("%-*s  %5s  %9s  %8s\n", w, "task_id", "k", "successes", "mean");
  for (const auto& t : report.per_task) {
    out += Printf("%-*s  %5d  %9d  %8.4f\n", w, t.task_id.c_str(), t.samples, t.successes, t.mean_reward);
    if (!t.critique.empty()) {
      // One line, so the table stays greppable; the report JSON keeps the whole text.
      std::string line = ReplaceAll(ReplaceAll(Trim(t.critique), "\r", " "), "\n", " / ");
      if (line.size() > 160) line = line.substr(0, 157) + "...";
      out += "  critique: " + line + "\n";
    }
  }
  return out;
}

json Comparison::ToJson() const {
  json per = json::array();
  for (const auto& t : per_task) {
    per.push_back({{"task_id", t.task_id}, {"mean_a", t.mean_a}, {"mean_b", t.mean_b}, {"pass_a", t.pass_a},
                   {"pass_b", t.pass_b}});
  }
  return {{"tasks", tasks},
          {"k_a", k_a},
          {"k_b", k_b},
          {"pass_k", pass_k},
          {"confidence", 0.95},
          {"resamples", resamples},
          {"seed", seed},
          {"mean_at_k", MetricJson(mean)},
          {"pass_at_k", MetricJson(pass)},
          {"improved", improved},
          {"worsened", worsened},
          {"unchanged", unchanged},
          {"per_task", per}};
}

Result<Comparison> CompareReports(const EvalReport& a, const EvalReport& b, const CompareOptions& options) {
  if (options.resamples < 0) return Status::InvalidArgument("resamples must not be negative");
  std::unordered_map<std::string, const TaskEval*> b_by_id;
  for (const auto& t : b.per_task) b_by_id.emplace(t.task_id, &t);
  std::vector<std::string> only_a, only_b;
  std::unordered_set<std::string> a_ids;
  for (const auto& t : a.per_task) {
    a_ids.insert(t.task_id);
    if (!b_by_id.count(t.task_id)) only_a.push_back(t.task_id);
  }
  for (const auto& t : b.per_task) {
    if (!a_ids.count(t.task_id)) only_b.push_back(t.task_id);
  }
  if (!only_a.empty() || !only_b.empty()) {
    std::string why = "the reports cover different tasks:";
    if (!only_a.empty()) why += " " + std::to_string(only_a.size()) + " only in A (" + FewIds(only_a) + ")";
    if (!only_a.empty() && !only_b.empty()) why += ";";
    if (!only_b.empty()) why += " " + std::to_string(only_b.size()) + " only in B (" + FewIds(only_b) + ")";
    return Status::InvalidArgument(why);
  }
  if (a.per_task.empty()) return Status::InvalidArgument("the reports have no tasks to compare");

  Comparison c;
  c.tasks = static_cast<int>(a.per_task.size());
  c.k_a = a.k;
  c.k_b = b.k;
  c.pass_k = std::min(a.k, b.k);
  c.resamples = options.resamples;
  c.seed = options.seed;
  std::vector<double> mean_a, mean_b, pass_a, pass_b;
  for (const auto& ta : a.per_task) {
    const TaskEval& tb = *b_by_id.at(ta.task_id);
    TaskComparison t{ta.task_id, ta.mean_reward, tb.mean_reward, PassAtK(ta.samples, ta.successes, c.pass_k),
                     PassAtK(tb.samples, tb.successes, c.pass_k)};
    mean_a.push_back(t.mean_a);
    mean_b.push_back(t.mean_b);
    pass_a.push_back(t.pass_a);
    pass_b.push_back(t.pass_b);
    constexpr double kTie = 1e-9;
    if (t.mean_b > t.mean_a + kTie) {
      ++c.improved;
    } else if (t.mean_b < t.mean_a - kTie) {
      ++c.worsened;
    } else {
      ++c.unchanged;
    }
    c.per_task.push_back(std::move(t));
  }
  c.mean = Bootstrap(mean_a, mean_b, options.resamples, options.seed);
  c.pass = Bootstrap(pass_a, pass_b, options.resamples, options.seed);
  return c;
}

Result<Comparison> CompareReports(const json& a, const json& b, int resamples, uint64_t seed) {
  auto ra = EvalReportFromJson(a);
  if (!ra.ok()) return ra.status().WithContext("A");
  auto rb = EvalReportFromJson(b);
  if (!rb.ok()) return rb.status().WithContext("B");
  return CompareReports(*ra, *rb, CompareOptions{resamples, seed});
}

std::string FormatComparison(const Comparison& c, std::string_view label_a, std::string_view label_b,
                             bool per_task) {
  const std::string mean_name = c.k_a == c.k_b ? "Mean@" + std::to_string(c.k_a) : "Mean@k";
  const std::string pass_name = "Pass@" + std::to_string(c.pass_k);
  std::string out = Printf("compare: %d tasks paired by task_id; 95%% interval of B-A from %d bootstrap resamples "
                           "of tasks (seed %llu)\n",
                           c.tasks, c.resamples, static_cast<unsigned long long>(c.seed));
  out += Printf("  A = %.*s (k=%d)\n  B = %.*s (k=%d)\n", static_cast<int>(label_a.size()), label_a.data(), c.k_a,
                static_cast<int>(label_b.size()), label_b.data(), c.k_b);
  out += Printf("%-8s  %8s  %8s  %8s  %s\n", "metric", "A", "B", "B-A", "95% interval");
  for (const auto& [name, m] : {std::pair{mean_name, c.mean}, std::pair{pass_name, c.pass}}) {
    out += Printf("%-8s  %8.4f  %8.4f  %+8.4f  [%+.4f, %+.4f]\n", name.c_str(), m.a, m.b, m.diff, m.lo, m.hi);
  }
  out += Printf("tasks: %d improved, %d worsened, %d unchanged (per-task mean reward)\n", c.improved, c.worsened,
                c.unchanged);
  if (per_task) {
    size_t width = 7;
    for (const auto& t : c.per_task) width = std::max(width, t.task_id.size());
    const int w = static_cast<int>(width);
    out += Printf("%-*s  %8s  %8s  %8s  %8s  %8s\n", w, "task_id", "mean A", "mean B", "B-A", "pass A", "pass B");
    for (const auto& t : c.per_task) {
      out += Printf("%-*s  %8.4f  %8.4f  %+8.4f  %8.4f  %8.4f\n", w, t.task_id.c_str(), t.mean_a, t.mean_b,
                    t.mean_b - t.mean_a, t.pass_a, t.pass_b);
    }
  }
  return out;
}

}  // namespace tfgrpo
