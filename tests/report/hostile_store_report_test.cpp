// A report of a run store written by hand: hostile text in experiences, task ids and errors stays
// text; keys and authorization headers never reach the page; the library history tells born,
// updated, evicted and deleted apart; bad inputs are named in the error.
#include <gtest/gtest.h>

#include "report_test_util.h"
#include "tfgrpo/store.h"

namespace tfgrpo {
namespace {

using testing::kHostileText;
using testing::TempDir;

constexpr const char* kKey = "KEYkeyKEY0123456789abcdef";
constexpr const char* kHostileTask = "t<img src=x onerror=alert(2)>";

std::string Artifact(const std::vector<std::tuple<uint64_t, std::string, int, int>>& items) {
  nlohmann::json list = nlohmann::json::array();
  int i = 0;
  for (const auto& [uid, text, helpful, harmful] : items)
    list.push_back({{"id", "G" + std::to_string(i++)}, {"text", text}, {"helpful", helpful}, {"harmful", harmful},
                    {"created_step", 0}, {"updated_step", 0}, {"origin_task", kHostileTask}, {"uid", uid}});
  return nlohmann::json{{"format", "tfgrpo-library/1"}, {"provenance", nlohmann::json::object()},
                        {"experiences", list}}.dump();
}

class HostileStoreReport : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = RunStore::Open(dir_ / "run" / "run.db");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    auto store = std::move(opened).value();
    ASSERT_TRUE(store->BeginOrResume("{\"model\":{\"name\":\"m</script>\"}}").ok());
    // uid 1: hostile, born at 0, updated at 1, evicted at 2; uid 2: born at 1, deleted at 3.
    ASSERT_TRUE(store->RecordLibrary(0, Artifact({{1, kHostileText, 0, 0}}), {}).ok());
    ASSERT_TRUE(store->RecordLibrary(1, Artifact({{1, std::string(kHostileText) + " v2", 1, 0}, {2, "Two.", 0, 0}}), {}).ok());
    ASSERT_TRUE(store->RecordFailure({1, kHostileTask, "eviction",
                                      "library over practice.max_experiences (1): evicted helpful=1 harmful=0: " +
                                          std::string(kHostileText) + " v2"}).ok());
    ASSERT_TRUE(store->RecordLibrary(2, Artifact({{2, "Two.", 0, 3}}), {}).ok());
    ASSERT_TRUE(store->RecordLibrary(3, Artifact({}), {}).ok());
    for (int step = 0; step < 3; ++step)
      ASSERT_TRUE(store->RecordStep({step, 0, step, "{\"mean_reward\":0.5,\"library_size\":1}"}).ok());
    ASSERT_TRUE(store->RecordFailure({0, kHostileTask, "summary",
                                      "HTTP 400: echoed request: Authorization: Bearer sk-abcdefghijklmnop1234 and " +
                                          std::string(kKey) + " " + kHostileText}).ok());
    ASSERT_TRUE(store->RecordFailure({1, "t2", "summary", "HTTP 400: another one"}).ok());
    CallRecord call;
    call.fingerprint = "f";
    call.call_id = std::string("s0/") + kHostileTask + "/r0";
    call.role = "rollout";
    call.ok = false;
    call.error = std::string("transport: proxy said x-api-key: ") + kKey + "; authorization=Basic dXNlcjpwYXNz";
    ASSERT_TRUE(store->RecordCall(call).ok());
    store.reset();
    ReportOptions options;
    options.api_key = kKey;
    Status s = WriteRunReport(dir_ / "run", dir_ / "report.html", options);
    ASSERT_TRUE(s.ok()) << s.ToString();
    html_ = testing::Slurp(dir_ / "report.html");
    data_ = testing::ReportDataBlock(html_);
    ASSERT_FALSE(data_.is_discarded());
  }
  TempDir dir_;
  std::string html_;
  nlohmann::json data_;
};

TEST_F(HostileStoreReport, HostileTextStaysText) {
  EXPECT_EQ(html_.find("<script>alert"), std::string::npos);
  EXPECT_EQ(html_.find("<img"), std::string::npos);
  EXPECT_EQ(html_.find("<!--"), std::string::npos);
  EXPECT_NE(html_.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html_.find("t&lt;img src=x onerror=alert(2)&gt;"), std::string::npos);
  EXPECT_EQ(testing::CheckBalanced(html_), "");
  for (const std::string& url : testing::LoadedUrls(html_)) EXPECT_TRUE(url.empty() || url[0] == '#') << url;
  // The data block carries the texts exactly, escaped only for the script element.
  EXPECT_EQ(data_["library"]["versions"][0]["experiences"][0]["text"], kHostileText);
  EXPECT_EQ(data_["models"][0]["model"], "m</script>");
}

TEST_F(HostileStoreReport, NoKeyOrAuthorizationReachesThePage) {
  EXPECT_EQ(html_.find(kKey), std::string::npos);
  EXPECT_EQ(html_.find(std::string(kKey).substr(0, 10)), std::string::npos);
  EXPECT_EQ(html_.find("sk-abcdefghijklmnop"), std::string::npos);
  EXPECT_EQ(html_.find("dXNlcjpwYXNz"), std::string::npos);
  EXPECT_NE(html_.find("[redacted]"), std::string::npos);
}

TEST_F(HostileStoreReport, FailuresAreGroupedByReasonWithOneExample) {
  const nlohmann::json& failures = data_["failures"];
  ASSERT_EQ(failures.size(), 2u) << failures.dump(2);  // summary "HTTP 400" x2, the failed call; no eviction
  EXPECT_EQ(failures[0]["where"], "summary");
  EXPECT_EQ(failures[0]["reason"], "HTTP 400");
  EXPECT_EQ(failures[0]["count"], 2);
  EXPECT_EQ(failures[1]["kind"], "call");
  EXPECT_EQ(failures[1]["where"], "rollout");
  EXPECT_EQ(failures[1]["count"], 1);
}

TEST_F(HostileStoreReport, HistoryTellsBornUpdatedEvictedDeleted) {
  const nlohmann::json& history = data_["library"]["history"];
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]["uid"], 1);
  EXPECT_EQ(history[0]["born"], 0);
  EXPECT_EQ(history[0]["updated"], nlohmann::json::array({1}));
  EXPECT_EQ(history[0]["fate"], "evicted");
  EXPECT_EQ(history[0]["gone_at"], 2);
  EXPECT_EQ(history[0]["helpful"], 1);
  EXPECT_EQ(history[0]["text"], std::string(kHostileText) + " v2");
  EXPECT_EQ(history[1]["uid"], 2);
  EXPECT_EQ(history[1]["born"], 1);
  EXPECT_EQ(history[1]["fate"], "deleted");
  EXPECT_EQ(history[1]["gone_at"], 3);
  EXPECT_EQ(history[1]["harmful"], 3);
  EXPECT_NE(html_.find("<td class=\"timeline\">+~E.</td>"), std::string::npos);
  EXPECT_NE(html_.find("<td class=\"timeline\">.+=x</td>"), std::string::npos);
}

TEST_F(HostileStoreReport, AnUnfinishedRunReloads) {
  ReportOptions live;
  live.finished = false;
  live.refresh_s = 7;
  ASSERT_TRUE(WriteRunReport(dir_ / "run", dir_ / "live.html", live).ok());
  const std::string html = testing::Slurp(dir_ / "live.html");
  EXPECT_NE(html.find("<meta http-equiv=\"refresh\" content=\"7\">"), std::string::npos);
  EXPECT_EQ(html_.find("http-equiv=\"refresh\""), std::string::npos);
}

TEST(ReportErrors, NameTheRunDirOrEvalFileAtFault) {
  TempDir dir;
  Status missing = WriteRunReport(dir / "nope", dir / "r.html", {});
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find((dir / "nope").string()), std::string::npos) << missing.message();
  EXPECT_FALSE(std::filesystem::exists(dir / "nope")) << "a report never creates a run";
  std::filesystem::create_directories(dir / "empty");
  Status empty = WriteRunReport(dir / "empty", dir / "r.html", {});
  EXPECT_NE(empty.message().find("no run.db"), std::string::npos) << empty.message();
  EXPECT_FALSE(std::filesystem::exists(dir / "empty" / "run.db"));

  ASSERT_TRUE(RunStore::Open(dir / "run" / "run.db").ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "bad.json", "{\"k\": 4, \"per_task\": [{\"task_id\": 3}]}").ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "notjson.json", "<html>").ok());
  for (const char* name : {"bad.json", "notjson.json", "absent.json"}) {
    ReportOptions options;
    options.evals = {dir / name};
    Status s = WriteRunReport(dir / "run", dir / "r.html", options);
    EXPECT_FALSE(s.ok()) << name;
    EXPECT_NE(s.message().find((dir / name).string()), std::string::npos) << s.message();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "r.html"));
}

TEST(ReportEscaping, DataBlockAndTextEscapes) {
  EXPECT_EQ(EscapeHtml("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  const std::string escaped = EscapeJsonForScript(nlohmann::json("</script><!--&").dump());
  EXPECT_EQ(escaped.find('<'), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(escaped), "</script><!--&");
  EXPECT_EQ(RedactForReport("Authorization: Bearer abc.def", ""), "Authorization: [redacted]");
  EXPECT_EQ(RedactForReport("got bearer abc123 back", ""), "got bearer [redacted] back");
  EXPECT_EQ(RedactForReport("key SECRET12345 and SECRET12", "SECRET12345"), "key [redacted] and [redacted]");
  EXPECT_EQ(RedactForReport("Unauthorized: bad key", ""), "Unauthorized: bad key");
}

}  // namespace
}  // namespace tfgrpo
