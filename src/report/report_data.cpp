// Gathers a run's report data from the run store's typed readers and the eval reports.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <set>

#include "tfgrpo/budget.h"
#include "tfgrpo/compare.h"
#include "tfgrpo/json.h"
#include "tfgrpo/library.h"
#include "tfgrpo/report.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

// Failure examples are shown, not archived: long ones are cut.
constexpr size_t kExampleBytes = 600;

json ParseOr(const std::string& text, json fallback) {
  json j = ParseUntrustedJson(text);
  return j.is_discarded() ? fallback : j;
}

template <typename T>
T Field(const json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if constexpr (std::is_same_v<T, std::string>) {
    return it->is_string() ? it->get<std::string>() : fallback;
  } else if constexpr (std::is_same_v<T, bool>) {
    return it->is_boolean() ? it->get<bool>() : fallback;
  } else {
    return it->is_number() ? it->get<T>() : fallback;
  }
}

json StepsSection(const std::vector<StepRecord>& records) {
  json steps = json::array();
  for (const StepRecord& r : records) {
    const json stats = ParseOr(r.stats_json, json::object());
    json row = {{"step", r.step + 1},  // steps count from 1, as log lines and steps/<n>/ do
                {"epoch", r.epoch + 1},
                {"mean_reward", Field<double>(stats, "mean_reward", 0)},
                {"informative_groups", Field<int64_t>(stats, "informative_groups", 0)},
                {"tasks", Field<int64_t>(stats, "tasks", 0)},
                {"library_size", Field<int64_t>(stats, "library_size", 0)},
                {"rollouts", Field<int64_t>(stats, "rollouts", 0)},
                {"rollouts_failed", Field<int64_t>(stats, "rollouts_failed", 0)},
                {"stages_failed", Field<int64_t>(stats, "stages_failed", 0)},
                {"evicted", Field<int64_t>(stats, "evicted", 0)},
                {"leaks_dropped", Field<int64_t>(stats, "leaks_dropped", 0)},
                {"wall_s", Field<double>(stats, "wall_s", 0)}};
    steps.push_back(std::move(row));
  }
  return steps;
}

json ValidationsSection(const std::vector<ValidationRecord>& records) {
  json out = json::array();
  for (const ValidationRecord& r : records) {
    out.push_back({{"step", r.step},
                   {"current_score", r.current_score},
                   {"candidate_score", r.candidate_score},
                   {"accepted", r.accepted},
                   {"samples", r.samples},
                   {"failed", r.failed},
                   {"reason", r.reason}});
  }
  return out;
}

// Tokens and spend per role, each role at its section's prices, the cached share of prompt
// tokens, and the same per model: the store keeps no model per call, so each role's calls are the
// model its section names in the provenance (model, learner_model, judge_model).
void TokenSections(const std::map<std::string, TokenCounts>& tokens_by_role, const json& provenance,
                   const std::string& fallback_model,
                   const ReportOptions& options, json* data) {
  const std::string model = Field<std::string>(provenance, "model", fallback_model);
  auto or_model = [&](const PriceConfig& own) { return own.set ? own : options.prices; };
  const SpendPricing pricing = {{model.empty() ? "(unnamed)" : model, options.prices},
                                {Field<std::string>(provenance, "learner_model", model.empty() ? "(unnamed)" : model),
                                 or_model(options.learner_prices)},
                                {Field<std::string>(provenance, "judge_model", model.empty() ? "(unnamed)" : model),
                                 or_model(options.judge_prices)}};
  const bool priced = pricing.priced();
  SpendByRole spend;
  for (const auto& [role, t] : tokens_by_role) spend[role] = {t.prompt_tokens, t.completion_tokens, t.cached_tokens};
  json roles = json::array();
  for (const auto& [role, u] : spend) {
    json row = {{"role", role},
                {"prompt_tokens", u.prompt_tokens},
                {"cached_tokens", u.cached_tokens},
                {"completion_tokens", u.completion_tokens}};
    if (priced) row["usd"] = CostUsd(u, pricing.ForRole(role).prices);
    roles.push_back(std::move(row));
  }
  const Usage total = TotalUsage(spend);
  json tokens = {{"by_role", roles},
                 {"prompt_tokens", total.prompt_tokens},
                 {"cached_tokens", total.cached_tokens},
                 {"completion_tokens", total.completion_tokens},
                 {"cached_share", total.prompt_tokens > 0
                                      ? static_cast<double>(total.cached_tokens) / total.prompt_tokens
                                      : 0.0},
                 {"priced", priced}};
  if (priced) tokens["usd"] = CostUsd(spend, pricing);
  (*data)["tokens"] = std::move(tokens);
  json models = json::array();
  auto by_model = SpendByModel(spend, pricing);
  if (by_model.empty()) by_model[pricing.model.model];  // a run with no calls yet still names its model
  for (const auto& [name, m] : by_model) {
    json row = {{"model", name},
                {"prompt_tokens", m.usage.prompt_tokens},
                {"cached_tokens", m.usage.cached_tokens},
                {"completion_tokens", m.usage.completion_tokens}};
    if (priced) row["usd"] = m.usd;
    models.push_back(std::move(row));
  }
  (*data)["models"] = std::move(models);
}

struct HistoryRow {
  uint64_t uid = 0;
  std::string origin_task;
  int born = 0;           // library version it first appears in
  int last_seen = 0;
  std::vector<int> updated;
  std::string fate = "in library";  // "in library" | "evicted" | "deleted"
  int gone_at = -1;       // version it is missing from
  std::string text;
  int64_t helpful = 0, harmful = 0;
};

// Every experience across the library versions, by uid: born, updated, evicted (the engine
// recorded an "eviction" failure with its text at that step), deleted (gone otherwise).
json LibrarySection(const std::vector<LibraryVersion>& versions, const std::vector<FailureRecord>& failures,
                    json* provenance, json* versions_out) {
  // Evictions by step (1-based version) -> evicted texts.
  struct Eviction {
    std::string message, task;
    bool matched = false;  // to an experience of a recorded version
  };
  std::map<int, std::vector<Eviction>> evicted;
  for (const FailureRecord& f : failures) {
    if (f.stage != "eviction") continue;
    evicted[f.step + 1].push_back({f.error, f.task_id});
  }
  std::map<uint64_t, HistoryRow> rows;
  std::vector<uint64_t> order;
  std::set<uint64_t> previous;
  json versions_json = json::array();
  for (const LibraryVersion& v : versions) {
    const json lib = ParseOr(v.library_json, json::object());
    if (lib.contains("provenance") && lib["provenance"].is_object() && !lib["provenance"].empty())
      *provenance = lib["provenance"];
    std::set<uint64_t> present;
    json items = json::array();
    const json experiences = lib.is_object() && lib.contains("experiences") && lib["experiences"].is_array()
                                 ? lib["experiences"] : json::array();
    for (const json& e : experiences) {
      const uint64_t uid = Field<uint64_t>(e, "uid", 0);
      const std::string text = Field<std::string>(e, "text", "");
      items.push_back({{"uid", uid}, {"id", Field<std::string>(e, "id", "")}, {"text", text}});
      present.insert(uid);
      auto [it, fresh] = rows.try_emplace(uid);
      HistoryRow& row = it->second;
      if (fresh) {
        row.uid = uid;
        row.born = v.step;
        row.origin_task = Field<std::string>(e, "origin_task", "");
        order.push_back(uid);
      } else if (text != row.text) {
        row.updated.push_back(v.step);
      }
      row.text = text;
      row.last_seen = v.step;
      row.helpful = Field<int64_t>(e, "helpful", 0);
      row.harmful = Field<int64_t>(e, "harmful", 0);
      row.fate = "in library";
      row.gone_at = -1;
    }
    for (uint64_t uid : previous) {
      if (present.count(uid)) continue;
      HistoryRow& row = rows[uid];
      row.gone_at = v.step;
      row.fate = "deleted";
      for (Eviction& e : evicted[v.step]) {
        const std::string& m = e.message;
        if (!e.matched && m.size() >= row.text.size() &&
            m.compare(m.size() - row.text.size(), row.text.size(), row.text) == 0) {
          e.matched = true;
          row.fate = "evicted";
          break;
        }
      }
    }
    previous = std::move(present);
    versions_json.push_back({{"step", v.step}, {"experiences", std::move(items)}});
  }
  *versions_out = std::move(versions_json);
  // Added and evicted within one step: never in a recorded version, known from the eviction
  // record only ("... evicted helpful=H harmful=K: TEXT"). No uid (0).
  for (auto& [version, list] : evicted) {
    for (const Eviction& e : list) {
      if (e.matched) continue;
      HistoryRow row;
      row.origin_task = e.task;
      row.born = row.gone_at = version;
      row.last_seen = -1;
      row.fate = "evicted";
      const size_t at = e.message.find("evicted helpful=");
      const size_t colon = at == std::string::npos ? std::string::npos : e.message.find(": ", at);
      row.text = colon == std::string::npos ? e.message : e.message.substr(colon + 2);
      if (at != std::string::npos)
        std::sscanf(e.message.c_str() + at, "evicted helpful=%" SCNd64 " harmful=%" SCNd64, &row.helpful, &row.harmful);
      const uint64_t key = ~static_cast<uint64_t>(order.size());  // apart from real uids
      rows[key] = std::move(row);
      order.push_back(key);
    }
  }
  json history = json::array();
  for (uint64_t uid : order) {
    const HistoryRow& r = rows[uid];
    history.push_back({{"uid", r.uid},  // 0: born and evicted in one step
                       {"origin_task", r.origin_task},
                       {"born", r.born},
                       {"updated", r.updated},
                       {"fate", r.fate},
                       {"gone_at", r.gone_at < 0 ? json() : json(r.gone_at)},
                       {"last_seen", r.last_seen},
                       {"helpful", r.helpful},
                       {"harmful", r.harmful},
                       {"text", r.text}});
  }
  return history;
}

// The first clause of an error, digits kept: what groups failures ("HTTP 400", "timeout").
std::string ReasonOf(const std::string& error) {
  std::string reason = error.substr(0, error.find(": "));
  if (reason.size() > 80) reason = std::string(Utf8Prefix(reason, 77)) + "...";
  return reason.empty() ? "(no message)" : reason;
}

std::string Example(const std::string& text, const std::string& key) {
  std::string redacted = RedactForReport(text, key);
  if (redacted.size() > kExampleBytes) redacted = std::string(Utf8Prefix(redacted, kExampleBytes - 3)) + "...";
  return redacted;
}

json FailuresSection(const std::vector<CallFailure>& failed_calls, const std::vector<FailureRecord>& failures,
                    const std::string& key) {
  struct Group {
    std::string kind, where, reason;
    int64_t count = 0;
    std::string example, example_at;
  };
  std::map<std::string, Group> groups;
  auto add = [&](const std::string& kind, const std::string& where, const std::string& full_error,
                 const std::string& at) {
    // Redaction runs on a bounded text (the example shown is shorter still).
    const std::string error = full_error.size() > 4096 ? std::string(Utf8Prefix(full_error, 4096)) : full_error;
    const std::string reason = ReasonOf(RedactForReport(error, key));
    Group& g = groups[kind + "\x1f" + where + "\x1f" + reason];
    if (g.count++ == 0) {
      g.kind = kind;
      g.where = where;
      g.reason = reason;
      g.example = Example(error, key);
      g.example_at = RedactForReport(at, key);
    }
  };
  for (const CallFailure& c : failed_calls) add("call", c.role, c.error, c.call_id);
  for (const FailureRecord& f : failures) {
    if (f.stage == "eviction") continue;  // not a failure: the cap at work (in the library history)
    add(f.stage == "rollout" || f.stage == "reward" ? "rollout" : "stage", f.stage, f.error,
        "step " + std::to_string(f.step + 1) + (f.task_id.empty() ? "" : ", task " + f.task_id));
  }
  std::vector<Group> sorted;
  for (auto& [k, g] : groups) sorted.push_back(std::move(g));
  std::stable_sort(sorted.begin(), sorted.end(), [](const Group& a, const Group& b) { return a.count > b.count; });
  json out = json::array();
  for (const Group& g : sorted) {
    out.push_back({{"kind", g.kind}, {"where", g.where}, {"reason", g.reason}, {"count", g.count},
                   {"example", g.example}, {"example_at", g.example_at}});
  }
  return out;
}

Result<json> EvalsSection(const std::vector<std::filesystem::path>& paths) {
  json out = {{"reports", json::array()}, {"comparisons", json::array()}};
  std::vector<json> raw;
  std::vector<EvalReport> reports;
  for (const auto& path : paths) {
    auto text = ReadFile(path);
    if (!text.ok()) return Status::InvalidArgument("--eval " + path.string() + ": " + text.status().message());
    json j = ParseUntrustedJson(*text);
    if (j.is_discarded())
      return Status::InvalidArgument("--eval " + path.string() +
                                     ": not valid JSON (expected an eval report written by tfgrpo eval --out)");
    auto report = EvalReportFromJson(j);
    if (!report.ok()) return Status::InvalidArgument("--eval " + path.string() + ": " + report.status().message());
    json per_task = json::array();
    for (const auto& t : report->per_task)
      per_task.push_back({{"task_id", t.task_id}, {"samples", t.samples}, {"successes", t.successes},
                          {"mean_reward", t.mean_reward}});
    out["reports"].push_back({{"name", path.filename().string()},
                              {"k", report->k},
                              {"tasks", static_cast<int64_t>(report->per_task.size())},
                              {"mean_at_k", report->mean_at_k},
                              {"pass_at_k", report->pass_at_k},
                              {"library_size", report->library_size},
                              {"per_task", std::move(per_task)}});
    reports.push_back(std::move(report).value());
  }
  for (size_t i = 1; i < reports.size(); ++i) {
    auto c = CompareReports(reports[0], reports[i]);
    if (!c.ok())
      return Status::InvalidArgument("--eval " + paths[i].string() + " against " + paths[0].string() + ": " +
                                     c.status().message());
    json per_task = json::array();
    for (const TaskComparison& t : c->per_task)
      per_task.push_back({{"task_id", t.task_id}, {"before", t.mean_a}, {"after", t.mean_b}});
    auto metric = [](const MetricComparison& m) {
      return json{{"a", m.a}, {"b", m.b}, {"diff", m.diff}, {"lo", m.lo}, {"hi", m.hi}};
    };
    out["comparisons"].push_back({{"a", paths[0].filename().string()},
                                  {"b", paths[i].filename().string()},
                                  {"tasks", c->tasks},
                                  {"pass_k", c->pass_k},
                                  {"mean", metric(c->mean)},
                                  {"pass", metric(c->pass)},
                                  {"improved", c->improved},
                                  {"worsened", c->worsened},
                                  {"unchanged", c->unchanged},
                                  {"resamples", c->resamples},
                                  {"per_task", std::move(per_task)}});
  }
  return out;
}

}  // namespace

Result<json> CollectReportData(RunStore& store, const std::filesystem::path& run_dir, const ReportOptions& options) {
  // Everything the report shows from the store, read first: a store that cannot be read fails
  // the report rather than showing a run with parts missing.
  auto run_config = store.RunConfigJson();
  if (!run_config.ok()) return run_config.status();
  auto versions_recorded = store.Libraries();
  if (!versions_recorded.ok()) return versions_recorded.status();
  auto failures = store.Failures();
  if (!failures.ok()) return failures.status();
  auto failed_calls = store.FailedCalls();
  if (!failed_calls.ok()) return failed_calls.status();
  auto steps = store.Steps();
  if (!steps.ok()) return steps.status();
  auto validations = store.Validations();
  if (!validations.ok()) return validations.status();
  auto tokens = store.TokensByRole();
  if (!tokens.ok()) return tokens.status();
  auto calls = store.CountCalls();
  if (!calls.ok()) return calls.status();
  auto rollouts = store.CountRollouts();
  if (!rollouts.ok()) return rollouts.status();

  json data = json::object();
  const json config = ParseOr(run_config->value_or("{}"), json::object());
  std::string model;
  if (config.contains("model")) model = Field<std::string>(config["model"], "name", "");

  json provenance = json::object();
  json versions;
  json history = LibrarySection(*versions_recorded, *failures, &provenance, &versions);
  // The engine writes RUN_DIR/library.json (atomically) with the run's provenance; the store's
  // copies carry none.
  if (auto text = ReadFile(run_dir / "library.json"); text.ok()) {
    const json file = ParseUntrustedJson(*text);
    if (!file.is_discarded()) {
      json from_file = Library::ProvenanceOf(file);
      if (!from_file.empty()) provenance = std::move(from_file);
    }
  }
  data["provenance"] = provenance;
  data["steps"] = StepsSection(*steps);
  data["validations"] = ValidationsSection(*validations);
  TokenSections(*tokens, provenance, model, options, &data);
  data["library"] = {{"history", std::move(history)}, {"versions", std::move(versions)}};
  data["failures"] = FailuresSection(*failed_calls, *failures, options.api_key);
  auto evals = EvalsSection(options.evals);
  if (!evals.ok()) return evals.status();
  data["evals"] = std::move(evals).value();
  data["run"] = {{"dir", run_dir.string()},
                 {"finished", options.finished},
                 {"status", options.status.empty() ? (options.finished ? "finished" : "training") : options.status},
                 {"steps_done", data["steps"].size()},
                 {"calls", *calls},
                 {"rollouts", *rollouts}};
  return data;
}

Status WriteRunReport(const std::filesystem::path& run_dir, const std::filesystem::path& out,
                      const ReportOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(run_dir, ec))
    return Status::NotFound("run dir " + run_dir.string() + " does not exist (expected a tfgrpo train --run-dir)");
  const auto db = run_dir / "run.db";
  if (!std::filesystem::is_regular_file(db, ec))
    return Status::NotFound(run_dir.string() + " holds no run (no run.db; expected a tfgrpo train --run-dir)");
  auto store = RunStore::Open(db);
  if (!store.ok()) return store.status();
  auto data = CollectReportData(**store, run_dir, options);
  if (!data.ok()) return data.status();
  Status s = WriteFileAtomic(out, RenderReportHtml(*data, options));
  if (!s.ok()) return s.WithContext("writing the report");
  return Status::Ok();
}

}  // namespace tfgrpo
