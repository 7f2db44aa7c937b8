// Renders the report data as one self-contained HTML page: tables written here (every text
// escaped), charts and the library diff drawn in the page by Chart.js and page_script below.
#include <algorithm>
#include <cstdio>
#include <set>

#include "tfgrpo/report.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string Thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string Text(const json& v) {
  if (v.is_string()) return EscapeHtml(v.get<std::string>());
  if (v.is_null()) return "";
  return EscapeHtml(v.dump());
}

std::string Usd(double usd) { return usd < 1 ? "$" + Fixed(usd, 4) : "$" + Fixed(usd, 2); }

int64_t Int(const json& j, const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<int64_t>() : 0; }
double Num(const json& j, const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0; }

constexpr const char* kStyle = R"css(
:root { --fg: #1d2430; --muted: #5b6575; --line: #d9dee7; --bg: #f6f7f9; --accent: #2f6fdb; --bad: #c62828; --good: #2e7d32; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Liberation Sans", sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; padding: 24px 32px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 12px; }
h3 { font-size: 14px; margin: 16px 0 8px; color: var(--muted); }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
.status { color: var(--muted); margin: 0; }
.status b.live { color: var(--accent); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
.chart { position: relative; height: 260px; }
.chart h3 { margin: 0 0 4px; }
.chart canvas { max-height: 230px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kv td:first-child { color: var(--muted); width: 220px; }
.text { max-width: 640px; white-space: pre-wrap; word-break: break-word; }
.mono, .timeline { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.timeline { white-space: pre; letter-spacing: 1px; }
.rejected { color: var(--bad); font-weight: 600; }
td.kept, td.evicted, td.deleted, td.accepted, td.rejected { white-space: nowrap; }
.accepted { color: var(--good); }
.evicted, .deleted { color: var(--bad); }
.note { color: var(--muted); }
.diff-add { background: #e8f5e9; } .diff-del { background: #ffebee; } .diff-upd { background: #fff8e1; }
select { font: inherit; padding: 2px 4px; }
)css";

// The page's own script: charts from the data block, the library diff, and a render check the
// browser test reads (pixels drawn per canvas, errors caught).
constexpr const char* kPageScript = R"js(
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const errors = window.__reportErrors;
  const charts = {};
  const blue = '#2f6fdb', green = '#2e7d32', red = '#c62828', grey = '#8a94a6', amber = '#f9a825';
  function chart(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    try {
      config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
      charts[id] = new Chart(canvas.getContext('2d'), config);
    } catch (e) { errors.push(id + ': ' + (e && e.message ? e.message : String(e))); }
  }
  const steps = data.steps || [];
  const stepLabels = steps.map(s => String(s.step));
  chart('chart-reward', { type: 'line', data: { labels: stepLabels, datasets: [{ label: 'mean rollout reward',
    data: steps.map(s => s.mean_reward), borderColor: blue, backgroundColor: blue, tension: 0.2 }] },
    options: { scales: { y: { suggestedMin: 0, suggestedMax: 1 } } } });
  chart('chart-informative', { type: 'bar', data: { labels: stepLabels, datasets: [
    { label: 'informative groups', data: steps.map(s => s.informative_groups), backgroundColor: blue },
    { label: 'groups', data: steps.map(s => s.tasks), backgroundColor: '#c9d6ee' }] } });
  chart('chart-library', { type: 'line', data: { labels: stepLabels, datasets: [{ label: 'experiences',
    data: steps.map(s => s.library_size), borderColor: green, backgroundColor: green, stepped: true }] },
    options: { scales: { y: { beginAtZero: true } } } });
  const vals = data.validations || [];
  if (vals.length) {
    const vl = vals.map(v => String(v.step));
    chart('chart-validation', { type: 'line', data: { labels: vl, datasets: [
      { label: 'library in force', data: vals.map(v => v.accepted ? v.candidate_score : v.current_score),
        borderColor: blue, backgroundColor: blue, stepped: true },
      { label: 'candidate (x = rejected)', data: vals.map(v => v.candidate_score), showLine: false,
        pointStyle: vals.map(v => v.accepted ? 'circle' : 'crossRot'),
        pointRadius: vals.map(v => v.accepted ? 4 : 9), pointBorderWidth: vals.map(v => v.accepted ? 1 : 3),
        borderColor: vals.map(v => v.accepted ? green : red), backgroundColor: vals.map(v => v.accepted ? green : red) }] },
      options: { scales: { x: { title: { display: true, text: 'library version (step)' } } } } });
  }
  const roles = (data.tokens && data.tokens.by_role) || [];
  chart('chart-tokens', { type: 'bar', data: { labels: roles.map(r => r.role), datasets: [
    { label: 'uncached prompt', data: roles.map(r => r.prompt_tokens - r.cached_tokens), backgroundColor: blue },
    { label: 'cached prompt', data: roles.map(r => r.cached_tokens), backgroundColor: '#9cc0f5' },
    { label: 'completion', data: roles.map(r => r.completion_tokens), backgroundColor: amber }] },
    options: { scales: { x: { stacked: true }, y: { stacked: true } } } });
  if (data.tokens && data.tokens.priced) {
    chart('chart-spend', { type: 'bar', data: { labels: roles.map(r => r.role), datasets: [
      { label: 'US$', data: roles.map(r => r.usd), backgroundColor: green }] } });
  }
  const models = data.models || [];
  chart('chart-models', { type: 'bar', data: { labels: models.map(m => m.model), datasets: [
    { label: 'uncached prompt', data: models.map(m => m.prompt_tokens - m.cached_tokens), backgroundColor: blue },
    { label: 'cached prompt', data: models.map(m => m.cached_tokens), backgroundColor: '#9cc0f5' },
    { label: 'completion', data: models.map(m => m.completion_tokens), backgroundColor: amber }] },
    options: { indexAxis: 'y', scales: { x: { stacked: true }, y: { stacked: true } } } });
  const evals = data.evals || { reports: [], comparisons: [] };
  if (evals.reports.length >= 2) {
    chart('chart-eval', { type: 'bar', data: { labels: evals.reports.map(r => r.name), datasets: [
      { label: 'Mean@k', data: evals.reports.map(r => r.mean_at_k), backgroundColor: blue },
      { label: 'Pass@k', data: evals.reports.map(r => r.pass_at_k), backgroundColor: green }] },
      options: { scales: { y: { beginAtZero: true, suggestedMax: 1 } } } });
    const cmp = evals.comparisons;
    chart('chart-eval-diff', { type: 'bar', data: { labels: cmp.map(c => c.b + ' - ' + c.a), datasets: [
      { label: 'Mean@k difference, 95% interval', data: cmp.map(c => [c.mean.lo, c.mean.hi]), backgroundColor: '#9cc0f5',
        borderColor: blue, borderWidth: 1 },
      { label: 'Pass@k difference, 95% interval', data: cmp.map(c => [c.pass.lo, c.pass.hi]), backgroundColor: '#a5d6a7',
        borderColor: green, borderWidth: 1 },
      { type: 'line', label: 'Mean@k difference', data: cmp.map(c => c.mean.diff), showLine: false, pointRadius: 5,
        borderColor: blue, backgroundColor: blue },
      { type: 'line', label: 'Pass@k difference', data: cmp.map(c => c.pass.diff), showLine: false, pointRadius: 5,
        borderColor: green, backgroundColor: green }] } });
    const last = cmp[cmp.length - 1];
    chart('chart-per-task', { type: 'scatter', data: { datasets: [
      { label: 'task (mean reward)', data: last.per_task.map(t => ({ x: t.before, y: t.after, task: t.task_id })),
        backgroundColor: blue, pointRadius: 4 },
      { type: 'line', label: 'no change', data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderColor: grey, borderDash: [4, 4],
        pointRadius: 0 }] },
      options: { scales: { x: { min: 0, max: 1, title: { display: true, text: 'before (' + last.a + ')' } },
                           y: { min: 0, max: 1, title: { display: true, text: 'after (' + last.b + ')' } } },
                 plugins: { tooltip: { callbacks: { label: c => (c.raw.task || '') + ': ' + c.raw.x.toFixed(2) + ' -> ' + c.raw.y.toFixed(2) } } } } });
  }

  // The library between two versions, by experience uid.
  const versions = (data.library && data.library.versions) || [];
  const from = document.getElementById('diff-from'), to = document.getElementById('diff-to');
  const out = document.getElementById('diff-out');
  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }
  function showDiff() {
    try {
      const a = versions[Number(from.value)], b = versions[Number(to.value)];
      const before = new Map(a.experiences.map(e => [e.uid, e])), after = new Map(b.experiences.map(e => [e.uid, e]));
      const body = out;
      body.replaceChildren();
      let same = 0;
      for (const e of b.experiences) {
        const old = before.get(e.uid);
        if (!old) { const r = body.insertRow(); r.className = 'diff-add'; cell(r, 'added'); cell(r, e.id); cell(r, e.text, 'text'); }
        else if (old.text !== e.text) { const r = body.insertRow(); r.className = 'diff-upd'; cell(r, 'updated'); cell(r, old.id + ' -> ' + e.id);
          cell(r, old.text + '\n\u2192 ' + e.text, 'text'); }
        else same++;
      }
      for (const e of a.experiences) {
        if (!after.has(e.uid)) { const r = body.insertRow(); r.className = 'diff-del'; cell(r, 'gone'); cell(r, e.id); cell(r, e.text, 'text'); }
      }
      const summary = document.getElementById('diff-summary');
      summary.textContent = 'version ' + a.step + ' (' + a.experiences.length + ' experiences) to version ' + b.step + ' (' +
        b.experiences.length + '): ' + same + ' unchanged';
    } catch (e) { errors.push('diff: ' + e.message); }
  }
  if (from && to && versions.length) {
    versions.forEach((v, i) => {
      for (const sel of [from, to]) { const o = document.createElement('option'); o.value = String(i); o.textContent = 'version ' + v.step; sel.appendChild(o); }
    });
    from.value = '0';
    to.value = String(versions.length - 1);
    from.addEventListener('change', showDiff);
    to.addEventListener('change', showDiff);
    showDiff();
  }

  // For the browser test: how many pixels each chart drew, and any error.
  const check = { canvases: {}, errors: errors };
  for (const canvas of document.querySelectorAll('canvas')) {
    let drawn = 0;
    try {
      const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) drawn++;
    } catch (e) { errors.push(canvas.id + ': ' + e.message); }
    check.canvases[canvas.id] = drawn;
  }
  document.getElementById('render-check').textContent = JSON.stringify(check);
})();
)js";

std::string Chart(const std::string& id, const std::string& title) {
  return "<div class=\"chart\"><h3>" + EscapeHtml(title) + "</h3><canvas id=\"" + id + "\"></canvas></div>\n";
}

std::string KvRow(const std::string& key, const std::string& value_html) {
  return "<tr><td>" + EscapeHtml(key) + "</td><td>" + value_html + "</td></tr>\n";
}

std::string Provenance(const json& p, const json& run) {
  std::string h = "<section id=\"provenance\"><h2>Provenance</h2>\n<table class=\"kv\">\n";
  h += KvRow("run dir", "<span class=\"mono\">" + Text(run["dir"]) + "</span>");
  if (p.empty()) {
    h += KvRow("library.json", "<span class=\"note\">no provenance recorded yet</span>");
  }
  for (auto it = p.begin(); it != p.end(); ++it) {
    if (it.key() == "validation") continue;  // its history is the validation chart
    h += KvRow(it.key(), "<span class=\"mono\">" + Text(it.value()) + "</span>");
  }
  if (p.contains("validation") && p["validation"].is_object()) {
    const json& v = p["validation"];
    h += KvRow("validation", "tasks " + Text(v.value("tasks", json())) + ", k " + Text(v.value("k", json())) +
                                 ", tolerance " + Text(v.value("tolerance", json())) + ", score in force " +
                                 Text(v.value("score", json())));
  }
  h += KvRow("recorded", Thousands(Int(run, "steps_done")) + " steps, " + Thousands(Int(run, "calls")) + " LLM calls, " +
                             Thousands(Int(run, "rollouts")) + " rollouts");
  return h + "</table></section>\n";
}

std::string Steps(const json& data) {
  std::string h = "<section id=\"steps\"><h2>Per step</h2>\n";
  if (data["steps"].empty()) h += "<p class=\"note\">No step has finished yet.</p>\n";
  h += "<div class=\"grid\">\n" + Chart("chart-reward", "Mean rollout reward") +
       Chart("chart-informative", "Informative groups") + Chart("chart-library", "Library size");
  const json& vals = data["validations"];
  if (!vals.empty()) h += Chart("chart-validation", "Validation score (candidates; x = rejected)");
  h += "</div>\n";
  if (!vals.empty()) {
    h += "<h3>Validation of each candidate</h3>\n<table id=\"validation-table\"><tr><th class=\"num\">version</th>"
         "<th class=\"num\">in force</th><th class=\"num\">candidate</th><th>verdict</th><th class=\"num\">samples</th>"
         "<th class=\"num\">failed</th><th>reason</th></tr>\n";
    for (const json& v : vals) {
      const bool accepted = v.value("accepted", false);
      h += "<tr><td class=\"num\">" + Thousands(Int(v, "step")) + "</td><td class=\"num\">" +
           Fixed(Num(v, "current_score"), 3) + "</td><td class=\"num\">" + Fixed(Num(v, "candidate_score"), 3) +
           "</td><td class=\"" + (accepted ? "accepted\">accepted" : "rejected\">rejected") + "</td><td class=\"num\">" +
           Thousands(Int(v, "samples")) + "</td><td class=\"num\">" + Thousands(Int(v, "failed")) + "</td><td>" +
           Text(v.value("reason", json(""))) + "</td></tr>\n";
    }
    h += "</table>\n";
  }
  return h + "</section>\n";
}

std::string Tokens(const json& t, const json& models) {
  const bool priced = t.value("priced", false);
  std::string h = "<section id=\"tokens\"><h2>Tokens and spend</h2>\n";
  h += "<p>Cached share of prompt tokens: <b id=\"cached-share\">" + Fixed(100 * Num(t, "cached_share"), 1) +
       "%</b> (" + Thousands(Int(t, "cached_tokens")) + " of " + Thousands(Int(t, "prompt_tokens")) + ")" +
       (priced ? ", spend " + Usd(Num(t, "usd")) : std::string(", not priced (no budget.price_per_mtok)")) + ".</p>\n";
  auto table = [&](const char* id, const char* label, const json& rows, const char* key) {
    std::string s = std::string("<table id=\"") + id + "\"><tr><th>" + label +
                    "</th><th class=\"num\">prompt</th><th class=\"num\">cached</th><th class=\"num\">cached share</th>"
                    "<th class=\"num\">completion</th>" + (priced ? "<th class=\"num\">US$</th>" : "") + "</tr>\n";
    for (const json& r : rows) {
      const int64_t prompt = Int(r, "prompt_tokens"), cached = Int(r, "cached_tokens");
      s += "<tr><td>" + Text(r[key]) + "</td><td class=\"num\">" + Thousands(prompt) + "</td><td class=\"num\">" +
           Thousands(cached) + "</td><td class=\"num\">" +
           (prompt > 0 ? Fixed(100.0 * cached / prompt, 1) + "%" : std::string("-")) + "</td><td class=\"num\">" +
           Thousands(Int(r, "completion_tokens")) + "</td>" +
           (priced ? "<td class=\"num\">" + Usd(Num(r, "usd")) + "</td>" : "") + "</tr>\n";
    }
    return s + "</table>\n";
  };
  h += "<div class=\"grid\">\n" + Chart("chart-tokens", "Tokens per role");
  if (priced) h += Chart("chart-spend", "Spend per role (US$)");
  h += Chart("chart-models", "Tokens per model") + "</div>\n";
  h += "<h3>Per role</h3>\n" + table("tokens-by-role", "role", t["by_role"], "role");
  h += "<h3>Per model</h3>\n" + table("tokens-by-model", "model", models, "model");
  return h + "</section>\n";
}

std::string Evals(const json& e) {
  std::string h = "<section id=\"evals\"><h2>Held-out evaluation</h2>\n";
  if (e["reports"].size() < 2) {
    return h + "<p class=\"note\">Give two or more eval reports (<span class=\"mono\">tfgrpo report RUN_DIR --eval "
               "BASELINE.json --eval LEARNED.json</span>) to compare Mean@k and Pass@k here.</p></section>\n";
  }
  h += "<table id=\"eval-table\"><tr><th>report</th><th class=\"num\">k</th><th class=\"num\">tasks</th>"
       "<th class=\"num\">library</th><th class=\"num\">Mean@k</th><th class=\"num\">Pass@k</th></tr>\n";
  for (const json& r : e["reports"]) {
    h += "<tr><td>" + Text(r["name"]) + "</td><td class=\"num\">" + Thousands(Int(r, "k")) + "</td><td class=\"num\">" +
         Thousands(Int(r, "tasks")) + "</td><td class=\"num\">" + Thousands(Int(r, "library_size")) +
         "</td><td class=\"num\">" + Fixed(Num(r, "mean_at_k"), 3) + "</td><td class=\"num\">" +
         Fixed(Num(r, "pass_at_k"), 3) + "</td></tr>\n";
  }
  h += "</table>\n<h3>Paired comparison (bootstrap 95% interval over tasks)</h3>\n<table id=\"comparison-table\"><tr>"
       "<th>B vs A</th><th class=\"num\">Mean@k B - A</th><th>interval</th><th class=\"num\">Pass@k B - A</th>"
       "<th>interval</th><th class=\"num\">improved / worsened / same</th></tr>\n";
  for (const json& c : e["comparisons"]) {
    auto interval = [](const json& m) { return "[" + Fixed(Num(m, "lo"), 3) + ", " + Fixed(Num(m, "hi"), 3) + "]"; };
    h += "<tr><td>" + Text(c["b"]) + " vs " + Text(c["a"]) + "</td><td class=\"num\">" +
         Fixed(Num(c["mean"], "diff"), 3) + "</td><td class=\"mono\">" + interval(c["mean"]) +
         "</td><td class=\"num\">" + Fixed(Num(c["pass"], "diff"), 3) + " (Pass@" + Thousands(Int(c, "pass_k")) +
         ")</td><td class=\"mono\">" + interval(c["pass"]) + "</td><td class=\"num\">" + Thousands(Int(c, "improved")) +
         " / " + Thousands(Int(c, "worsened")) + " / " + Thousands(Int(c, "unchanged")) + "</td></tr>\n";
  }
  h += "</table>\n<div class=\"grid\">\n" + Chart("chart-eval", "Mean@k and Pass@k") +
       Chart("chart-eval-diff", "Difference to the first report, with its interval") +
       Chart("chart-per-task", "Per task: mean reward before and after") + "</div>\n";
  return h + "</section>\n";
}

// One character per library version: + born, ~ updated, = kept, E evicted, x deleted.
std::string Timeline(const json& row, const std::vector<int>& versions) {
  const int born = static_cast<int>(Int(row, "born")), last = static_cast<int>(Int(row, "last_seen"));
  const int gone = row["gone_at"].is_number() ? row["gone_at"].get<int>() : -1;
  std::set<int> updated;
  for (const json& u : row["updated"]) updated.insert(u.get<int>());
  std::string s;
  for (int v : versions) {
    if (last < born) s += v == gone ? '!' : '.';  // born and evicted in one step
    else if (v == born) s += '+';
    else if (updated.count(v)) s += '~';
    else if (v > born && v <= last) s += '=';
    else if (v == gone) s += row.value("fate", "") == "evicted" ? 'E' : 'x';
    else s += '.';
  }
  return s;
}

std::string LibraryHistory(const json& lib) {
  std::vector<int> versions;
  for (const json& v : lib["versions"]) versions.push_back(static_cast<int>(Int(v, "step")));
  std::string h = "<section id=\"library\"><h2>Library history</h2>\n";
  h += "<p class=\"note\">One row per experience. Timeline: one mark per library version " +
       (versions.empty() ? std::string() : std::to_string(versions.front()) + ".." + std::to_string(versions.back())) +
       ": <span class=\"mono\">+</span> born, <span class=\"mono\">~</span> updated, <span class=\"mono\">=</span> "
       "kept, <span class=\"mono\">E</span> evicted, <span class=\"mono\">x</span> deleted, <span class=\"mono\">!</span> "
       "added and evicted over the cap within one step (uid 0: never in a recorded version).</p>\n";
  h += "<table id=\"history-table\"><tr><th class=\"num\">uid</th><th>from task</th><th class=\"num\">born</th>"
       "<th>updated</th><th>fate</th><th class=\"num\">helpful</th><th class=\"num\">harmful</th><th>timeline</th>"
       "<th>final text</th></tr>\n";
  for (const json& r : lib["history"]) {
    std::string updated;
    for (const json& u : r["updated"]) updated += (updated.empty() ? "" : ", ") + std::to_string(u.get<int>());
    const std::string fate = r.value("fate", "");
    std::string fate_html = EscapeHtml(fate);
    if (r["gone_at"].is_number()) fate_html += " at " + std::to_string(r["gone_at"].get<int>());
    h += "<tr><td class=\"num\">" + Thousands(Int(r, "uid")) + "</td><td class=\"mono\">" + Text(r["origin_task"]) +
         "</td><td class=\"num\">" + Thousands(Int(r, "born")) + "</td><td>" + updated + "</td><td class=\"" +
         (fate == "in library" ? std::string("kept") : EscapeHtml(fate)) + "\">" + fate_html + "</td><td class=\"num\">" +
         Thousands(Int(r, "helpful")) + "</td><td class=\"num\">" + Thousands(Int(r, "harmful")) +
         "</td><td class=\"timeline\">" + Timeline(r, versions) + "</td><td class=\"text\">" + Text(r["text"]) +
         "</td></tr>\n";
  }
  h += "</table>\n<h3>Diff between two versions</h3>\n<p>From <select id=\"diff-from\"></select> to "
       "<select id=\"diff-to\"></select> <span id=\"diff-summary\" class=\"note\"></span></p>\n"
       "<table id=\"diff-table\"><thead><tr><th>change</th><th>id</th><th>text</th></tr></thead>"
       "<tbody id=\"diff-out\"></tbody></table>\n";
  return h + "</section>\n";
}

std::string Failures(const json& failures) {
  std::string h = "<section id=\"failures\"><h2>Failures</h2>\n";
  if (failures.empty()) return h + "<p class=\"note\">No call, rollout or stage failed.</p></section>\n";
  h += "<table id=\"failures-table\"><tr><th>kind</th><th>where</th><th>reason</th><th class=\"num\">count</th>"
       "<th>example</th></tr>\n";
  for (const json& f : failures) {
    h += "<tr><td>" + Text(f["kind"]) + "</td><td class=\"mono\">" + Text(f["where"]) + "</td><td>" + Text(f["reason"]) +
         "</td><td class=\"num\">" + Thousands(Int(f, "count")) + "</td><td class=\"text\"><span class=\"mono\">" +
         Text(f["example_at"]) + "</span><br>" + Text(f["example"]) + "</td></tr>\n";
  }
  return h + "</table></section>\n";
}

}  // namespace

std::string RenderReportHtml(const json& data, const ReportOptions& options) {
  const json& run = data["run"];
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  if (!options.finished) h += "<meta http-equiv=\"refresh\" content=\"" + std::to_string(std::max(1, options.refresh_s)) + "\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>tfgrpo report: " +
       Text(run["dir"]) + "</title>\n<style>" + kStyle + "</style>\n"
       // First, so errors while Chart.js loads are caught too.
       "<script>window.__reportErrors = []; window.addEventListener('error', function (e) { "
       "window.__reportErrors.push(String(e.message)); });</script>\n</head>\n<body>\n";
  h += "<header><h1>tfgrpo run report</h1><p class=\"status\">" + Text(run["dir"]) + ": " +
       (options.finished ? "<b>" : "<b class=\"live\">") + Text(run["status"]) + "</b>" +
       (options.finished ? "" : " (this page reloads every " + std::to_string(options.refresh_s) + " s)") +
       "</p></header>\n";
  h += Provenance(data["provenance"], run);
  h += Steps(data);
  h += Tokens(data["tokens"], data["models"]);
  h += Evals(data["evals"]);
  h += LibraryHistory(data["library"]);
  h += Failures(data["failures"]);
  h += "<pre id=\"render-check\" hidden></pre>\n";
  h += "<script type=\"application/json\" id=\"report-data\">" +
       EscapeJsonForScript(data.dump(-1, ' ', false, json::error_handler_t::replace)) + "</script>\n";
  h += "<script>\n";
  h += EmbeddedChartJs();
  h += "\n</script>\n<script>";
  h += kPageScript;
  h += "</script>\n</body>\n</html>\n";
  return h;
}

}  // namespace tfgrpo
