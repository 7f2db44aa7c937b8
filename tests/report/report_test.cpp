// The report of a simulator run: every section holds the run store's numbers (read back from
// the page's data block and tables), the page is well-formed, loads nothing from outside, and
// shows hostile experience text as text.
#include <gtest/gtest.h>

#include "report_test_util.h"
#include "tfgrpo/compare.h"
#include "tfgrpo/store.h"

namespace tfgrpo {
namespace {

using testing::SimRunReport;

std::unique_ptr<RunStore> OpenStore(const std::filesystem::path& run_dir) {
  auto s = RunStore::Open(run_dir / "run.db");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

TEST(RunReport, HoldsEverySection) {
  const auto& run = SimRunReport();
  ASSERT_FALSE(run.html.empty());
  ASSERT_FALSE(run.data.is_discarded()) << "no parsable data block";
  for (const char* id : {"id=\"provenance\"", "id=\"steps\"", "id=\"tokens\"", "id=\"evals\"", "id=\"library\"",
                         "id=\"failures\"", "id=\"chart-reward\"", "id=\"chart-informative\"", "id=\"chart-library\"",
                         "id=\"chart-validation\"", "id=\"chart-tokens\"", "id=\"chart-spend\"", "id=\"chart-models\"",
                         "id=\"chart-eval\"", "id=\"chart-eval-diff\"", "id=\"chart-per-task\"", "id=\"history-table\"",
                         "id=\"diff-from\"", "id=\"diff-to\"", "id=\"validation-table\"", "id=\"comparison-table\""})
    EXPECT_NE(run.html.find(id), std::string::npos) << id;
  for (const char* key : {"provenance", "steps", "validations", "tokens", "models", "evals", "library", "failures", "run"})
    EXPECT_TRUE(run.data.contains(key)) << key;
}

TEST(RunReport, ProvenanceIsLibraryJsonsAtTheTop) {
  const auto& run = SimRunReport();
  auto text = ReadFile(run.run_dir / "library.json");
  ASSERT_TRUE(text.ok());
  const nlohmann::json file = nlohmann::json::parse(*text);
  nlohmann::json expected = file["provenance"];
  nlohmann::json shown = run.data["provenance"];
  // library.json is rewritten once more at the end of the run; created_at may differ by then.
  expected.erase("created_at");
  shown.erase("created_at");
  EXPECT_EQ(shown, expected);
  EXPECT_EQ(run.data["provenance"]["model"], "sim");
  EXPECT_LT(run.html.find("id=\"provenance\""), run.html.find("id=\"steps\""));
  EXPECT_NE(run.html.find(file["provenance"]["config_fingerprint"].get<std::string>()), std::string::npos);
}

TEST(RunReport, StepsAreTheStoresSteps) {
  const auto& run = SimRunReport();
  auto store = OpenStore(run.run_dir);
  ASSERT_TRUE(store);
  const auto steps = testing::Must(store->Steps());
  ASSERT_EQ(steps.size(), 6u);  // 12 tasks / batches of 4 x 2 epochs
  ASSERT_EQ(run.data["steps"].size(), steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const nlohmann::json stats = nlohmann::json::parse(steps[i].stats_json);
    const nlohmann::json& shown = run.data["steps"][i];
    EXPECT_EQ(shown["step"], steps[i].step + 1);
    EXPECT_DOUBLE_EQ(shown["mean_reward"].get<double>(), stats["mean_reward"].get<double>());
    EXPECT_EQ(shown["informative_groups"], stats["informative_groups"]);
    EXPECT_EQ(shown["library_size"], stats["library_size"]);
  }
}

TEST(RunReport, ValidationMarksTheRejectedCandidates) {
  const auto& run = SimRunReport();
  auto store = OpenStore(run.run_dir);
  ASSERT_TRUE(store);
  const auto vals = testing::Must(store->Validations());
  ASSERT_EQ(run.data["validations"].size(), vals.size());
  int rejected = 0;
  for (size_t i = 0; i < vals.size(); ++i) {
    EXPECT_EQ(run.data["validations"][i]["step"], vals[i].step);
    EXPECT_EQ(run.data["validations"][i]["accepted"], vals[i].accepted);
    EXPECT_DOUBLE_EQ(run.data["validations"][i]["candidate_score"].get<double>(), vals[i].candidate_score);
    rejected += !vals[i].accepted;
  }
  ASSERT_GT(rejected, 0) << "the hostile learner's run should have a rejected candidate";
  EXPECT_EQ(rejected, run.trained.validations_rejected);
  size_t shown = 0;
  for (size_t at = 0; (at = run.html.find("class=\"rejected\">rejected", at)) != std::string::npos; ++at) ++shown;
  EXPECT_EQ(shown, static_cast<size_t>(rejected));
}

TEST(RunReport, TokensAndSpendPerRoleAreTheStores) {
  const auto& run = SimRunReport();
  auto store = OpenStore(run.run_dir);
  ASSERT_TRUE(store);
  const auto by_role = testing::Must(store->TokensByRole());
  const nlohmann::json& shown = run.data["tokens"]["by_role"];
  ASSERT_EQ(shown.size(), by_role.size());
  int64_t prompt = 0, cached = 0;
  for (const nlohmann::json& row : shown) {
    const std::string role = row["role"];
    ASSERT_TRUE(by_role.count(role)) << role;
    EXPECT_EQ(row["prompt_tokens"], by_role.at(role).prompt_tokens) << role;
    EXPECT_EQ(row["cached_tokens"], by_role.at(role).cached_tokens) << role;
    EXPECT_EQ(row["completion_tokens"], by_role.at(role).completion_tokens) << role;
    const double usd = ((by_role.at(role).prompt_tokens - by_role.at(role).cached_tokens) * 1.0 +
                        by_role.at(role).cached_tokens * 0.5 + by_role.at(role).completion_tokens * 2.0) / 1e6;
    EXPECT_NEAR(row["usd"].get<double>(), usd, 1e-12) << role;
    prompt += by_role.at(role).prompt_tokens;
    cached += by_role.at(role).cached_tokens;
  }
  for (const char* role : {"rollout", "summary", "advantage", "validation"})
    EXPECT_TRUE(by_role.count(role)) << role << " should have spent tokens in this run";
  ASSERT_GT(cached, 0);
  EXPECT_DOUBLE_EQ(run.data["tokens"]["cached_share"].get<double>(), static_cast<double>(cached) / prompt);
  ASSERT_EQ(run.data["models"].size(), 1u);
  EXPECT_EQ(run.data["models"][0]["model"], "sim");
  EXPECT_EQ(run.data["models"][0]["prompt_tokens"], prompt);
}

TEST(RunReport, EachRoleIsPricedAtItsSectionsPrices) {
  const auto& run = SimRunReport();
  const std::filesystem::path out = run.run_dir.parent_path() / "priced-per-section.html";
  ReportOptions options;
  options.prices = {1.0, 0.5, 2.0, true};
  options.learner_prices = {10.0, 10.0, 10.0, true};  // judge_prices unset: model's
  ASSERT_TRUE(WriteRunReport(run.run_dir, out, options).ok());
  const nlohmann::json data = testing::ReportDataBlock(testing::Slurp(out));
  double sum = 0;
  for (const nlohmann::json& row : data["tokens"]["by_role"]) {
    const std::string role = row["role"];
    const bool learner = role == "summary" || role == "advantage" || role == "group_update" || role == "batch_update";
    const int64_t p = row["prompt_tokens"], c = row["cached_tokens"], o = row["completion_tokens"];
    const double usd = learner ? (p + o) * 10.0 / 1e6 : ((p - c) * 1.0 + c * 0.5 + o * 2.0) / 1e6;
    EXPECT_NEAR(row["usd"].get<double>(), usd, 1e-12) << role;
    sum += usd;
  }
  EXPECT_NEAR(data["tokens"]["usd"].get<double>(), sum, 1e-9);
  ASSERT_EQ(data["models"].size(), 1u);  // one model in every section of this run
  EXPECT_NEAR(data["models"][0]["usd"].get<double>(), sum, 1e-9);
}

TEST(RunReport, EvalsAreComparedWithTheBootstrapInterval) {
  const auto& run = SimRunReport();
  const nlohmann::json& evals = run.data["evals"];
  ASSERT_EQ(evals["reports"].size(), 2u);
  EXPECT_DOUBLE_EQ(evals["reports"][0]["mean_at_k"].get<double>(), run.baseline_report.mean_at_k);
  EXPECT_DOUBLE_EQ(evals["reports"][1]["pass_at_k"].get<double>(), run.learned_report.pass_at_k);
  auto expected = CompareReports(run.baseline_report, run.learned_report);
  ASSERT_TRUE(expected.ok());
  ASSERT_EQ(evals["comparisons"].size(), 1u);
  const nlohmann::json& c = evals["comparisons"][0];
  EXPECT_DOUBLE_EQ(c["mean"]["diff"].get<double>(), expected->mean.diff);
  EXPECT_DOUBLE_EQ(c["mean"]["lo"].get<double>(), expected->mean.lo);
  EXPECT_DOUBLE_EQ(c["pass"]["hi"].get<double>(), expected->pass.hi);
  ASSERT_EQ(c["per_task"].size(), expected->per_task.size());
  EXPECT_EQ(c["per_task"][0]["task_id"], expected->per_task[0].task_id);
  EXPECT_DOUBLE_EQ(c["per_task"][0]["after"].get<double>(), expected->per_task[0].mean_b);
}

TEST(RunReport, LibraryHistoryFollowsEveryExperience) {
  const auto& run = SimRunReport();
  auto store = OpenStore(run.run_dir);
  ASSERT_TRUE(store);
  const auto versions = testing::Must(store->Libraries());
  ASSERT_EQ(run.data["library"]["versions"].size(), versions.size());
  // Every experience of the final library is a row still in it, with its final text and credit.
  const nlohmann::json final_lib = nlohmann::json::parse(versions.back().library_json);
  std::map<uint64_t, nlohmann::json> rows;
  for (const nlohmann::json& row : run.data["library"]["history"])
    if (row["uid"] != 0) rows[row["uid"].get<uint64_t>()] = row;
  for (const nlohmann::json& e : final_lib["experiences"]) {
    const uint64_t uid = e["uid"];
    ASSERT_TRUE(rows.count(uid)) << uid;
    EXPECT_EQ(rows[uid]["fate"], "in library");
    EXPECT_EQ(rows[uid]["text"], e["text"]);
    EXPECT_EQ(rows[uid]["helpful"], e["helpful"]);
    EXPECT_EQ(rows[uid]["harmful"], e["harmful"]);
    EXPECT_EQ(rows[uid]["origin_task"], e["origin_task"]);
  }
  // The cap of 4 evicted some; the engine recorded each eviction, and the history says so.
  int64_t evictions = 0;
  for (const FailureRecord& f : testing::Must(store->Failures())) evictions += f.stage == "eviction";
  int64_t evicted_rows = 0, same_step = 0;
  for (const nlohmann::json& row : run.data["library"]["history"]) {
    evicted_rows += row["fate"] == "evicted";
    if (row["uid"] == 0) {
      ++same_step;  // added and evicted within one step: known from the eviction record
      EXPECT_EQ(row["fate"], "evicted");
      EXPECT_EQ(row["born"], row["gone_at"]);
      EXPECT_FALSE(row["text"].get<std::string>().empty());
    }
  }
  EXPECT_GT(evictions, 0);
  EXPECT_EQ(evicted_rows, evictions);
  EXPECT_EQ(rows.size() + same_step, run.data["library"]["history"].size()) << "one row per experience";
  // The starting library's experiences were born at version 0.
  EXPECT_EQ(run.data["library"]["history"][0]["born"], 0);
  EXPECT_EQ(run.data["library"]["history"][0]["text"], testing::kHostileText);
}

TEST(RunReport, HostileExperienceTextStaysText) {
  const auto& run = SimRunReport();
  EXPECT_EQ(run.html.find("<script>alert(1)"), std::string::npos);
  EXPECT_NE(run.html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  // The page's own scripts are exactly the ones it emits: the error hook, the data, Chart.js, the page.
  size_t scripts = 0;
  for (size_t at = 0; (at = run.html.find("<script", at)) != std::string::npos; ++at) ++scripts;
  EXPECT_EQ(scripts, 4u);
  EXPECT_EQ(run.html.find("<!--"), std::string::npos);
}

TEST(RunReport, IsWellFormedAndLoadsNothingFromOutside) {
  const auto& run = SimRunReport();
  EXPECT_EQ(testing::CheckBalanced(run.html), "");
  for (const std::string& url : testing::LoadedUrls(run.html))
    EXPECT_TRUE(url.empty() || url[0] == '#') << "the page would load " << url;
  EXPECT_EQ(run.html.find("<meta http-equiv=\"refresh\""), std::string::npos) << "a finished run does not reload";
  EXPECT_NE(run.html.find(std::string(EmbeddedChartJs().substr(0, 200))), std::string::npos) << "Chart.js inline";
}

TEST(RunReport, TrainRewritesTheLiveReportAfterEveryStep) {
  const auto& run = SimRunReport();
  EXPECT_EQ(run.after_step_calls, 6);
  ASSERT_FALSE(run.html_after_first_step.empty());
  EXPECT_NE(run.html_after_first_step.find("<meta http-equiv=\"refresh\" content=\"10\">"), std::string::npos);
  const nlohmann::json data = testing::ReportDataBlock(run.html_after_first_step);
  ASSERT_FALSE(data.is_discarded());
  EXPECT_EQ(data["steps"].size(), 1u);
  EXPECT_EQ(data["run"]["finished"], false);
  EXPECT_EQ(testing::CheckBalanced(run.html_after_first_step), "");
}

TEST(RunReport, TheCheckersCatchWhatTheyLookFor) {
  // The helpers above must be able to fail.
  EXPECT_NE(testing::CheckBalanced("<html><body><div></body></html>"), "");
  EXPECT_NE(testing::CheckBalanced("<html><p>x</html>"), "");
  EXPECT_EQ(testing::CheckBalanced("<html><script>if (a < b) x('</div>');</script><br></html>"), "");
  const auto urls = testing::LoadedUrls("<html><img src=\"https://x.test/a.png\"><a href='#top'>t</a>"
                                        "<style>body{background:url(http://y.test/b.png)}</style></html>");
  ASSERT_EQ(urls.size(), 3u);
  EXPECT_EQ(urls[0], "https://x.test/a.png");
  EXPECT_EQ(urls[1], "#top");
  EXPECT_EQ(urls[2], "http://y.test/b.png");
}

}  // namespace
}  // namespace tfgrpo
