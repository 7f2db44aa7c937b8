// The HTML report of a run: what the run store (and optional eval reports) say, gathered through
// the store's typed readers into one JSON document and rendered as one self-contained HTML page
// (Chart.js from Debian, styles, script and data inline: opening it loads nothing from anywhere).
//
// Contract: every text from the run (experiences, task ids, errors) is HTML-escaped where shown,
// and the JSON data block escapes '<' so no text can close it. Failure examples pass through
// RedactSecret with the configured key and lose Authorization / Bearer values. Not thread-safe
// per store (RunStore serialises), safe to call while a training process writes the same run
// dir (SQLite WAL readers). Errors name the run dir or eval file at fault.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/config.h"
#include "tfgrpo/status.h"
#include "tfgrpo/store.h"

namespace tfgrpo {

struct ReportOptions {
  // Eval reports (`tfgrpo eval --out`), the first one the baseline the others are compared with.
  std::vector<std::filesystem::path> evals;
  // false while the run trains: the page carries <meta http-equiv="refresh"> every refresh_s.
  bool finished = true;
  int refresh_s = 10;
  // What the run's status line says ("complete", "training: step 3 of 12", "stopped: budget ...").
  std::string status;
  // budget.price_per_mtok (model's calls); when unset the report shows tokens only.
  PriceConfig prices;
  // learner.price_per_mtok / judge.price_per_mtok (those sections' calls); unset = `prices`.
  PriceConfig learner_prices, judge_prices;
  // The configured API key, removed from every failure example; "" = none known.
  std::string api_key;
};

// Everything the page shows, as JSON (the page's data block); the tests read it back.
// Sections: "provenance", "steps", "validations", "tokens", "models", "evals", "library",
// "failures", "run".
Result<nlohmann::json> CollectReportData(RunStore& store, const std::filesystem::path& run_dir,
                                         const ReportOptions& options);

// The page for `data` (CollectReportData's output).
std::string RenderReportHtml(const nlohmann::json& data, const ReportOptions& options);

// Opens RUN_DIR/run.db (an error naming RUN_DIR when it holds no run), collects, renders and
// writes `out` atomically (a temporary file renamed over it).
Status WriteRunReport(const std::filesystem::path& run_dir, const std::filesystem::path& out,
                      const ReportOptions& options);

// `text` with & < > " ' replaced by entities.
std::string EscapeHtml(std::string_view text);
// `json` made safe inside <script type="application/json">: every '<', '>' and '&' becomes a
// \u escape, so neither "</script" nor "<!--" can appear.
std::string EscapeJsonForScript(std::string_view json);
// `text` with "Authorization: ..." header values and "Bearer <token>" replaced by "[redacted]",
// and `secret` (if any) removed as RedactSecret does.
std::string RedactForReport(std::string text, std::string_view secret);

// The Chart.js build compiled in (from Debian's libjs-chart.js).
std::string_view EmbeddedChartJs();

}  // namespace tfgrpo
