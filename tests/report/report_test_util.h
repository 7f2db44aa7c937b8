// What the report suites share: reading a report page back (its JSON data block, its tags, the
// URLs it would load), and one simulator run with eval reports and its report, made once.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"
#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/json.h"
#include "tfgrpo/report.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo::testing {

// The file's text; "" when it cannot be read (the test's own check then fails).
inline std::string Slurp(const std::filesystem::path& path) {
  auto text = ReadFile(path);
  return text.ok() ? *text : std::string();
}

inline constexpr const char* kHostileText = "<script>alert(1)</script> and <!-- and </script";

// The page's data block, parsed; discarded JSON when missing.
inline nlohmann::json ReportDataBlock(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"report-data\">";
  const size_t start = html.find(open);
  if (start == std::string::npos) return nlohmann::json(nlohmann::json::value_t::discarded);
  const size_t body = start + open.size();
  const size_t end = html.find("</script>", body);
  if (end == std::string::npos) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(html.substr(body, end - body), nullptr, false);
}

struct Tag {
  std::string name;  // lower case; "/name" for a closing tag
  std::string text;  // the whole tag, <...>
};

// The tags of the page in order, script and style bodies skipped (their text is not markup).
// Sets *error on a tag that does not close.
inline std::vector<Tag> Tags(const std::string& html, std::string* error) {
  std::vector<Tag> tags;
  size_t i = 0;
  while ((i = html.find('<', i)) != std::string::npos) {
    if (html.compare(i, 4, "<!--") == 0) {
      const size_t end = html.find("-->", i);
      if (end == std::string::npos) { *error = "unclosed comment"; return tags; }
      i = end + 3;
      continue;
    }
    if (html.compare(i, 2, "<!") == 0) {  // doctype
      i = html.find('>', i);
      if (i == std::string::npos) { *error = "unclosed doctype"; return tags; }
      continue;
    }
    size_t j = i + 1;
    char quote = 0;
    for (; j < html.size(); ++j) {
      if (quote) { if (html[j] == quote) quote = 0; continue; }
      if (html[j] == '"' || html[j] == '\'') quote = html[j];
      else if (html[j] == '>') break;
    }
    if (j >= html.size()) { *error = "unclosed tag at byte " + std::to_string(i); return tags; }
    const std::string text = html.substr(i, j - i + 1);
    size_t n = 1;
    std::string name;
    if (text[n] == '/') name += '/', ++n;
    while (n < text.size() && (std::isalnum(static_cast<unsigned char>(text[n])))) name += static_cast<char>(std::tolower(text[n++]));
    tags.push_back({name, text});
    i = j + 1;
    if (name == "script" || name == "style") {
      const size_t close = html.find("</" + name, i);
      if (close == std::string::npos) { *error = "unclosed <" + name + ">"; return tags; }
      i = close;
    }
  }
  return tags;
}

// "" when every element the page opens is closed in order (void elements aside).
inline std::string CheckBalanced(const std::string& html) {
  static const std::set<std::string> kVoid = {"meta", "br", "input", "img", "link", "hr", "col", "source"};
  std::string error;
  std::vector<Tag> tags = Tags(html, &error);
  if (!error.empty()) return error;
  std::vector<std::string> open;
  for (const Tag& t : tags) {
    if (t.name.empty()) return "a '<' that opens no tag: " + t.text;
    if (t.name[0] == '/') {
      const std::string name = t.name.substr(1);
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes <" + (open.empty() ? std::string("nothing") : open.back()) + ">";
      open.pop_back();
    } else if (!kVoid.count(t.name)) {
      open.push_back(t.name);
    }
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return "";
}

// Every src/href attribute value of the page's tags, and every url(...) of its styles.
inline std::vector<std::string> LoadedUrls(const std::string& html) {
  std::vector<std::string> urls;
  std::string error;
  static const std::regex kAttr(R"re(\s(src|href|srcset|action|data|poster)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+)))re",
                                std::regex::icase);
  for (const Tag& t : Tags(html, &error)) {
    for (std::sregex_iterator it(t.text.begin(), t.text.end(), kAttr), end; it != end; ++it)
      urls.push_back((*it)[3].matched ? (*it)[3].str() : (*it)[4].matched ? (*it)[4].str() : (*it)[5].str());
  }
  static const std::regex kCssUrl(R"(url\(\s*['"]?([^'")]*))", std::regex::icase);
  for (const std::string& name : {std::string("<style>")}) {
    const size_t start = html.find(name);
    if (start == std::string::npos) continue;
    const std::string css = html.substr(start, html.find("</style>", start) - start);
    for (std::sregex_iterator it(css.begin(), css.end(), kCssUrl), end; it != end; ++it) urls.push_back((*it)[1].str());
    if (css.find("@import") != std::string::npos) urls.push_back("@import");
  }
  return urls;
}

// One simulated run, made once per test binary: a hostile learner with validation (so candidates
// get rejected), a small cap (so experiences get evicted), a starting library holding hostile
// text, then baseline and learned eval reports and the report of it all.
struct SimRun {
  std::unique_ptr<TempDir> dir;
  std::filesystem::path run_dir, baseline, learned, report;
  std::string html;
  nlohmann::json data;
  // The live report as it was after the first step (train's after_step hook).
  std::string html_after_first_step;
  int after_step_calls = 0;
  TrainSummary trained;
  EvalReport baseline_report, learned_report;
};

inline const SimRun& SimRunReport() {
  static SimRun* run = [] {
    auto* r = new SimRun;
    r->dir = std::make_unique<TempDir>();
    const TempDir& dir = *r->dir;
    SimOptions sim_options;
    sim_options.seed = 17;
    sim_options.hostile = {true, true, true};
    SimServer sim(sim_options);
    EXPECT_TRUE(sim.Start(0).ok());
    auto write_tasks = [&](const std::string& name, int n, uint64_t seed) {
      std::ofstream out(dir / name);
      for (const auto& t : GenerateSimTasks(n, seed)) out << t.dump() << "\n";
    };
    write_tasks("train.jsonl", 12, 101);
    write_tasks("val.jsonl", 8, 303);
    write_tasks("eval.jsonl", 10, 202);
    {
      std::ofstream lib(dir / "start.json");
      lib << nlohmann::json::array({kHostileText, "Check the units before answering."}).dump();
    }
    Config c;
    c.source = dir / "config.yaml";
    c.model.base_url = sim.base_url();
    c.model.name = "sim";
    c.model.concurrency = 8;
    c.data.train = dir / "train.jsonl";
    c.data.eval = dir / "eval.jsonl";
    c.task.reward = RewardKind::kMath;
    c.practice.epochs = 2;
    c.practice.batch_size = 4;
    c.practice.group_size = 4;
    c.practice.seed = 5;
    c.practice.max_experiences = 4;
    c.practice.validation.enabled = true;
    c.practice.validation.data = dir / "val.jsonl";
    c.practice.validation.tasks = 8;
    c.practice.validation.k = 2;
    HttpClientOptions o;
    o.base_url = c.model.base_url;
    o.model = c.model.name;
    o.concurrency = c.model.concurrency;
    o.timeout_s = 10;
    o.backoff_initial_s = 0.001;
    o.backoff_max_s = 0.01;
    auto client = MakeHttpChatClient(o);
    r->run_dir = dir / "run";
    TrainOptions opt;
    opt.run_dir = r->run_dir;
    opt.init_experiences = dir / "start.json";
    opt.after_step = [r](int done, int total) {
      ++r->after_step_calls;
      ReportOptions live;
      live.finished = false;
      live.status = "training: " + std::to_string(done) + " of " + std::to_string(total);
      EXPECT_TRUE(WriteRunReport(r->run_dir, r->run_dir / "report.html", live).ok());
      if (done == 1) r->html_after_first_step = Slurp(r->run_dir / "report.html");
    };
    auto trained = Train(c, opt, *client);
    EXPECT_TRUE(trained.ok()) << trained.status().ToString();
    if (trained.ok()) r->trained = *trained;
    auto tasks = LoadTasks(c.data.eval, c.data.problem_key, c.data.answer_key);
    EXPECT_TRUE(tasks.ok());
    EvalOptions eo;
    eo.k = 4;
    auto baseline = Evaluate(c, *tasks, Library(), eo, *client);
    auto learned = Evaluate(c, *tasks, r->trained.library, eo, *client);
    EXPECT_TRUE(baseline.ok() && learned.ok());
    r->baseline_report = *baseline;
    r->learned_report = *learned;
    r->baseline = dir / "baseline.json";
    r->learned = dir / "learned.json";
    EXPECT_TRUE(WriteFileAtomic(r->baseline, baseline->ToJson().dump(2)).ok());
    EXPECT_TRUE(WriteFileAtomic(r->learned, learned->ToJson().dump(2)).ok());
    sim.Stop();
    r->report = dir / "report.html";
    ReportOptions options;
    options.evals = {r->baseline, r->learned};
    options.prices.prompt = 1.0;
    options.prices.cached_prompt = 0.5;
    options.prices.completion = 2.0;
    options.prices.set = true;
    Status s = WriteRunReport(r->run_dir, r->report, options);
    EXPECT_TRUE(s.ok()) << s.ToString();
    r->html = Slurp(r->report);
    r->data = ReportDataBlock(r->html);
    return r;
  }();
  return *run;
}

}  // namespace tfgrpo::testing
