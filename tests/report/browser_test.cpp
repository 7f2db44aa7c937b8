// The simulator run's report opened in headless Chromium (Debian's `chromium`, installed by
// scripts/install-test-browser.sh): every chart canvas has drawn pixels and no script failed.
// Without Chromium the test skips loudly, and fails when CI is set.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "report_test_util.h"

namespace tfgrpo {
namespace {

std::string FindChromium() {
  if (const char* env = std::getenv("TFGRPO_CHROMIUM"); env && *env) return env;
  for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (::access(path, X_OK) == 0) return path;
  return "";
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `command`, returning its stdout; stderr goes to `stderr_file`.
std::string Capture(const std::string& command, int* status) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = ::pclose(p);
  return out;
}

std::string Unescape(std::string s) {
  for (auto [from, to] : {std::pair{"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"}, {"&#39;", "'"}, {"&amp;", "&"}}) {
    for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += std::strlen(to))
      s.replace(at, std::strlen(from), to);
  }
  return s;
}

TEST(ReportInBrowser, ChartsDrawAndNoScriptFails) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    if (std::getenv("CI")) FAIL() << "CI is set but chromium is missing: run scripts/install-test-browser.sh";
    GTEST_SKIP() << "\n*** SKIPPED: chromium not found (apt-get install chromium, or run "
                    "scripts/install-test-browser.sh); the report's charts were NOT checked in a browser ***";
  }
  const auto& run = testing::SimRunReport();
  ASSERT_FALSE(run.html.empty());
  testing::TempDir profile;
  const std::string log = (profile / "chromium.log").string();
  const std::string command =
      "timeout 120 " + ShellQuote(chromium) +
      " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --no-default-browser-check"
      " --user-data-dir=" + ShellQuote((profile / "profile").string()) +
      " --window-size=1280,4000 --virtual-time-budget=10000 --enable-logging=stderr --v=0 --dump-dom " +
      ShellQuote("file://" + run.report.string()) + " 2>" + ShellQuote(log);
  int status = -1;
  const std::string dom = Capture(command, &status);
  const std::string stderr_text = testing::Slurp(log);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "chromium failed (" << status << "): " << stderr_text;

  const std::string open = "<pre id=\"render-check\" hidden=\"\">";
  const size_t start = dom.find(open);
  ASSERT_NE(start, std::string::npos) << "no render check in the DOM:\n" << dom.substr(0, 2000);
  const size_t end = dom.find("</pre>", start);
  const nlohmann::json check = nlohmann::json::parse(Unescape(dom.substr(start + open.size(), end - start - open.size())),
                                                     nullptr, false);
  ASSERT_FALSE(check.is_discarded()) << dom.substr(start, 2000);
  EXPECT_TRUE(check["errors"].empty()) << check["errors"].dump();
  const std::vector<std::string> expected = {"chart-reward", "chart-informative", "chart-library", "chart-validation",
                                             "chart-tokens", "chart-spend", "chart-models", "chart-eval",
                                             "chart-eval-diff", "chart-per-task"};
  ASSERT_EQ(check["canvases"].size(), expected.size()) << check.dump();
  for (const std::string& id : expected) {
    ASSERT_TRUE(check["canvases"].contains(id)) << id;
    EXPECT_GT(check["canvases"][id].get<int64_t>(), 500) << id << " drew (almost) nothing";
  }
  // The diff view filled itself from the data: version 0 to the last.
  EXPECT_NE(dom.find("id=\"diff-summary\" class=\"note\">version 0 ("), std::string::npos);
  // Nothing reached the console as an uncaught error.
  EXPECT_EQ(stderr_text.find("Uncaught"), std::string::npos) << stderr_text;
  // The hostile experience text is text in the DOM too: no alert ran, no element was made of it.
  EXPECT_EQ(dom.find("<script>alert(1)"), std::string::npos);
}

}  // namespace
}  // namespace tfgrpo
