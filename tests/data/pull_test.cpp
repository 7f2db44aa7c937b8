// `data pull` against a local fake of the datasets-server API (/splits and /rows on 127.0.0.1):
// paging, mapping, retries, resumption after an interruption, and the error messages.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "llm/test_servers.h"
#include "test_util.h"
#include "tfgrpo/data.h"
#include "tfgrpo/pull.h"
#include "tfgrpo/retry.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;
using testing::LocalHttpServer;
using testing::TempDir;

// A failure the fake serves instead of rows: status and optional Retry-After.
struct Fault {
  int status = 500;
  std::string retry_after;
};

// Dataset "org/math", config "main", splits "train" and "test" of `rows` rows each.
class FakeHub {
 public:
  explicit FakeHub(int rows = 250) : rows_(rows) {
    http_.server().Get("/splits", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      ++splits_requests_;
      if (req.get_param_value("dataset") != "org/math") {
        res.status = 404;
        res.set_content(R"({"error":"The dataset does not exist, or is not accessible."})", "application/json");
        return;
      }
      json splits = json::array();
      for (const char* split : {"train", "test"}) splits.push_back({{"dataset", "org/math"}, {"config", "main"}, {"split", split}});
      res.set_content(json{{"splits", splits}, {"pending", json::array()}, {"failed", json::array()}}.dump(),
                      "application/json");
    });
    http_.server().Get("/rows", [this](const httplib::Request& req, httplib::Response& res) { Rows(req, res); });
  }

  bool Start() { return http_.Start(); }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(http_.port()); }

  // `fault(offset, attempt)` (attempt counts requests at that offset from 0) may fail a request.
  void set_fault(std::function<std::optional<Fault>(int64_t, int)> fault) { fault_ = std::move(fault); }
  // Lets a test reshape row i (drop a field, say).
  void set_row_edit(std::function<void(int64_t, json&)> edit) { row_edit_ = std::move(edit); }
  // Lets a test rewrite the body served for (offset, attempt) as raw text (invalid JSON, say).
  void set_body_edit(std::function<void(int64_t, int, std::string&)> edit) { body_edit_ = std::move(edit); }
  // A misbehaving server: `num_rows_total` as a function of the offset asked for, and how many
  // times the requested length it serves (rows past `rows` are made up).
  void set_reported_total(std::function<int64_t(int64_t)> total) { reported_total_ = std::move(total); }
  void set_page_factor(int factor) { page_factor_ = factor; }

  std::vector<int64_t> lengths() const {
    std::lock_guard lock(mu_);
    return lengths_;
  }

  std::vector<int64_t> offsets() const {
    std::lock_guard lock(mu_);
    return offsets_;
  }
  int splits_requests() const {
    std::lock_guard lock(mu_);
    return splits_requests_;
  }
  std::string last_authorization() const {
    std::lock_guard lock(mu_);
    return authorization_;
  }

 private:
  void Rows(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    authorization_ = req.get_header_value("Authorization");
    const std::string split = req.get_param_value("split");
    if (req.get_param_value("dataset") != "org/math" || req.get_param_value("config") != "main" ||
        (split != "train" && split != "test")) {
      res.status = 404;
      res.set_content(R"({"error":"Not found."})", "application/json");
      return;
    }
    const int64_t offset = std::stoll(req.get_param_value("offset"));
    const int64_t length = std::stoll(req.get_param_value("length"));
    offsets_.push_back(offset);
    lengths_.push_back(length);
    if (offsets_.size() > 60) {  // a pull that never stops fails the test instead of hanging it
      res.status = 404;
      return;
    }
    if (length < 1 || length > 100) {
      res.status = 422;
      res.set_content(R"({"error":"Parameter 'length' must be in 1..100"})", "application/json");
      return;
    }
    const int attempt = attempts_[offset]++;
    if (fault_) {
      if (auto f = fault_(offset, attempt)) {
        res.status = f->status;
        if (!f->retry_after.empty()) res.set_header("Retry-After", f->retry_after);
        res.set_content(R"({"error":"try later"})", "application/json");
        return;
      }
    }
    json rows = json::array();
    const int64_t end = reported_total_ ? offset + length * page_factor_
                                        : std::min<int64_t>(offset + length * page_factor_, rows_);
    for (int64_t i = offset; i < end; ++i) {
      json row = {{"question", "What is " + std::to_string(i) + " + 0?"},
                  {"solution", {{"steps", "add zero"}, {"answer", std::to_string(i)}}},
                  {"level", i % 5}};
      if (row_edit_) row_edit_(i, row);
      rows.push_back({{"row_idx", i}, {"row", row}, {"truncated_cells", json::array()}});
    }
    const int64_t total = reported_total_ ? reported_total_(offset) : rows_;
    json body = {{"features", json::array()}, {"rows", rows}, {"num_rows_total", total},
                 {"num_rows_per_page", 100}, {"partial", false}};
    std::string text = body.dump();
    if (body_edit_) body_edit_(offset, attempt, text);
    res.set_content(text, "application/json");
  }

  int rows_;
  LocalHttpServer http_;
  mutable std::mutex mu_;
  std::vector<int64_t> offsets_;
  std::vector<int64_t> lengths_;
  std::map<int64_t, int> attempts_;
  int splits_requests_ = 0;
  std::string authorization_;
  std::function<std::optional<Fault>(int64_t, int)> fault_;
  std::function<void(int64_t, json&)> row_edit_;
  std::function<void(int64_t, int, std::string&)> body_edit_;
  std::function<int64_t(int64_t)> reported_total_;
  int page_factor_ = 1;
};

// Replaces the first occurrence of `from` in `text` (a test's way to plant raw bytes in a body).
void ReplaceOnce(std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
}

PullOptions Options(const FakeHub& hub, const std::filesystem::path& out) {
  PullOptions o;
  o.dataset = "org/math";
  o.split = "test";
  o.out = out;
  o.endpoint = hub.endpoint();
  o.max_retries = 2;
  o.initial_backoff_s = 0.001;
  o.max_backoff_s = 2;
  o.timeout_s = 5;
  o.map = ParseFieldMap("problem=question,groundtruth=solution.answer").value();
  return o;
}

std::vector<json> ReadJsonl(const std::filesystem::path& path) {
  std::vector<json> records;
  for (const auto& line : SplitLines(ReadFile(path).value())) {
    if (!line.empty()) records.push_back(json::parse(line));
  }
  return records;
}

std::filesystem::path Partial(const std::filesystem::path& out) { return out.string() + ".partial"; }

TEST(ParseFieldMap, ReadsPairsAndRejectsMalformedOnes) {
  auto map = ParseFieldMap(" problem = question , groundtruth=solution.answer");
  ASSERT_TRUE(map.ok()) << map.status().message();
  ASSERT_EQ(map->size(), 2u);
  EXPECT_EQ((*map)[0].ours, "problem");
  EXPECT_EQ((*map)[0].theirs, "question");
  EXPECT_EQ((*map)[1].theirs, "solution.answer");

  auto no_eq = ParseFieldMap("problem=question,answer");
  ASSERT_FALSE(no_eq.ok());
  EXPECT_NE(no_eq.status().message().find("'answer'"), std::string::npos) << no_eq.status().message();
  EXPECT_FALSE(ParseFieldMap("=question").ok());
  auto twice = ParseFieldMap("problem=a,problem=b");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("twice"), std::string::npos);
}

TEST(ResolveHfEndpoint, FlagThenEnvironmentThenDefault) {
  ::unsetenv("TFGRPO_HF_ENDPOINT");
  EXPECT_EQ(ResolveHfEndpoint(""), kDefaultHfEndpoint);
  ::setenv("TFGRPO_HF_ENDPOINT", "http://127.0.0.1:1", 1);
  EXPECT_EQ(ResolveHfEndpoint(""), "http://127.0.0.1:1");
  EXPECT_EQ(ResolveHfEndpoint("http://x"), "http://x");
  ::unsetenv("TFGRPO_HF_ENDPOINT");
}

TEST(MapRow, KeepsASourceIdAndReachesIntoArrays) {
  PullOptions o;
  o.dataset = "d";
  o.split = "s";
  o.map = ParseFieldMap("problem=q,groundtruth=answers.1").value();
  auto r = MapRow(json{{"id", "p-7"}, {"q", "x"}, {"answers", {"a", "b"}}}, 3, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, (json{{"problem", "x"}, {"groundtruth", "b"}, {"id", "p-7"}}));
  o.map.clear();
  auto as_is = MapRow(json{{"q", "x"}}, 3, o);
  ASSERT_TRUE(as_is.ok());
  EXPECT_EQ(*as_is, (json{{"q", "x"}, {"id", "d:s:3"}}));
}

TEST(Pull, MapsEveryRowOnceInThreePages) {
  FakeHub hub;
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  const auto out = dir / "math.jsonl";
  auto summary = PullDataset(Options(hub, out));
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->config, "main");
  EXPECT_EQ(summary->rows, 250);
  EXPECT_EQ(summary->retries, 0);
  EXPECT_EQ(hub.offsets(), (std::vector<int64_t>{0, 100, 200}));
  EXPECT_EQ(hub.splits_requests(), 1);
  EXPECT_FALSE(std::filesystem::exists(Partial(out)));

  auto records = ReadJsonl(out);
  ASSERT_EQ(records.size(), 250u);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i], (json{{"problem", "What is " + std::to_string(i) + " + 0?"},
                                {"groundtruth", std::to_string(i)},
                                {"id", "org/math:test:" + std::to_string(i)}}));
  }
  // The file is usable as task data as is.
  auto tasks = LoadTasks(out, "problem", "groundtruth");
  ASSERT_TRUE(tasks.ok()) << tasks.status().message();
  EXPECT_EQ(tasks->size(), 250u);
  EXPECT_EQ((*tasks)[249].id, "org/math:test:249");
}

TEST(Pull, WithoutMapWritesRowsAsTheyAreAndAnExplicitConfigSkipsSplits) {
  FakeHub hub(30);
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto o = Options(hub, dir / "raw.jsonl");
  o.map.clear();
  o.config = "main";
  o.token = "hf_secret_token";
  auto summary = PullDataset(o);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(hub.splits_requests(), 0);
  EXPECT_EQ(hub.last_authorization(), "Bearer hf_secret_token");
  auto records = ReadJsonl(o.out);
  ASSERT_EQ(records.size(), 30u);
  EXPECT_EQ(records[7]["solution"]["answer"], "7");
  EXPECT_EQ(records[7]["level"], 2);
  EXPECT_EQ(records[7]["id"], "org/math:test:7");
}

TEST(Pull, RetriesA503AndA429HonouringRetryAfter) {
  FakeHub hub;
  hub.set_fault([](int64_t offset, int attempt) -> std::optional<Fault> {
    if (offset != 100) return std::nullopt;
    if (attempt == 0) return Fault{503, ""};
    if (attempt == 1) return Fault{429, "0.3"};
    return std::nullopt;
  });
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto o = Options(hub, dir / "math.jsonl");
  const auto start = std::chrono::steady_clock::now();
  auto summary = PullDataset(o);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->retries, 2);
  EXPECT_EQ(hub.offsets(), (std::vector<int64_t>{0, 100, 100, 100, 200}));
  // The only long wait is the server's Retry-After (our own backoff here is a millisecond).
  EXPECT_GE(elapsed, 0.28);
  EXPECT_EQ(ReadJsonl(o.out).size(), 250u);
}

TEST(Pull, ResumesAfterAnInterruptionWithoutRefetchingOrDuplicating) {
  TempDir dir;
  const auto out = dir / "math.jsonl";
  {
    FakeHub failing;
    failing.set_fault([](int64_t offset, int) -> std::optional<Fault> {
      return offset >= 200 ? std::optional<Fault>(Fault{500, ""}) : std::nullopt;
    });
    ASSERT_TRUE(failing.Start());
    auto summary = PullDataset(Options(failing, out));
    ASSERT_FALSE(summary.ok());
    EXPECT_EQ(summary.status().code(), Status::Code::kUnavailable);
    EXPECT_NE(summary.status().message().find("rows from 200"), std::string::npos) << summary.status().message();
    EXPECT_EQ(failing.offsets(), (std::vector<int64_t>{0, 100, 200, 200, 200}));  // 1 try + 2 retries
    EXPECT_FALSE(std::filesystem::exists(out));
    EXPECT_EQ(ReadJsonl(Partial(out)).size(), 200u);
  }
  // A write torn by the interruption leaves half a line; it must not survive the resume.
  {
    std::string partial = ReadFile(Partial(out)).value() + R"({"problem":"What is 2)";
    ASSERT_TRUE(WriteFileAtomic(Partial(out), partial).ok());
  }
  FakeHub healthy;
  ASSERT_TRUE(healthy.Start());
  auto summary = PullDataset(Options(healthy, out));
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->resumed_from, 200);
  EXPECT_EQ(summary->rows, 250);
  EXPECT_EQ(healthy.offsets(), (std::vector<int64_t>{200}));
  EXPECT_EQ(healthy.splits_requests(), 0);  // the config was recorded with the partial file
  EXPECT_FALSE(std::filesystem::exists(Partial(out)));
  EXPECT_FALSE(std::filesystem::exists(out.string() + ".partial.meta"));

  auto records = ReadJsonl(out);
  ASSERT_EQ(records.size(), 250u);
  std::set<std::string> ids;
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i]["id"], "org/math:test:" + std::to_string(i));
    ids.insert(records[i]["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 250u);
}

TEST(Pull, RefusesToResumeAPartialFileOfADifferentPull) {
  TempDir dir;
  const auto out = dir / "math.jsonl";
  FakeHub hub;
  hub.set_fault([](int64_t offset, int) -> std::optional<Fault> {
    return offset >= 100 ? std::optional<Fault>(Fault{502, ""}) : std::nullopt;
  });
  ASSERT_TRUE(hub.Start());
  ASSERT_FALSE(PullDataset(Options(hub, out)).ok());
  auto other = Options(hub, out);
  other.map = ParseFieldMap("problem=question").value();
  auto summary = PullDataset(other);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(summary.status().message().find("delete it"), std::string::npos) << summary.status().message();
  EXPECT_EQ(ReadJsonl(Partial(out)).size(), 100u);  // left as it was
}

TEST(Pull, NotFoundSaysWhichDatasetOrSplit) {
  FakeHub hub;
  ASSERT_TRUE(hub.Start());
  TempDir dir;

  auto o = Options(hub, dir / "a.jsonl");
  o.dataset = "org/nope";
  auto missing_dataset = PullDataset(o);
  ASSERT_FALSE(missing_dataset.ok());
  EXPECT_EQ(missing_dataset.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing_dataset.status().message().find("dataset 'org/nope' not found"), std::string::npos)
      << missing_dataset.status().message();

  o = Options(hub, dir / "b.jsonl");
  o.split = "validation";
  auto unlisted_split = PullDataset(o);
  ASSERT_FALSE(unlisted_split.ok());
  EXPECT_NE(unlisted_split.status().message().find("no split 'validation'"), std::string::npos);
  EXPECT_NE(unlisted_split.status().message().find("main/test"), std::string::npos)
      << unlisted_split.status().message();

  o.config = "main";  // skips /splits: the 404 comes from /rows
  auto rows_404 = PullDataset(o);
  ASSERT_FALSE(rows_404.ok());
  EXPECT_EQ(rows_404.status().code(), Status::Code::kNotFound);
  EXPECT_NE(rows_404.status().message().find("split 'validation' (config 'main') of dataset 'org/math' not found"),
            std::string::npos)
      << rows_404.status().message();
  EXPECT_FALSE(std::filesystem::exists(Partial(o.out)));  // nothing left behind to resume
}

TEST(Pull, UnauthorizedSuggestsHfTokenWithoutShowingIt) {
  FakeHub hub;
  hub.set_fault([](int64_t, int) -> std::optional<Fault> { return Fault{401, ""}; });
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto o = Options(hub, dir / "a.jsonl");
  o.token = "hf_do_not_print";
  auto summary = PullDataset(o);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), Status::Code::kUnauthorized);
  EXPECT_NE(summary.status().message().find("HF_TOKEN"), std::string::npos);
  EXPECT_EQ(summary.status().message().find("hf_do_not_print"), std::string::npos);
  EXPECT_EQ(hub.offsets().size(), 1u);  // never retried
}

TEST(Pull, MissingMappedFieldNamesTheRowAndTheField) {
  FakeHub hub;
  hub.set_row_edit([](int64_t i, json& row) {
    if (i == 137) row["solution"].erase("answer");
  });
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto o = Options(hub, dir / "math.jsonl");
  auto summary = PullDataset(o);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), Status::Code::kInvalidArgument);
  const std::string& m = summary.status().message();
  EXPECT_NE(m.find("row 137"), std::string::npos) << m;
  EXPECT_NE(m.find("'solution.answer'"), std::string::npos) << m;
  EXPECT_EQ(ReadJsonl(Partial(o.out)).size(), 100u);  // the page before it is kept
}

TEST(Pull, AFirstPageThatFailsToMapDoesNotBlockACorrectedPull) {
  FakeHub hub(30);
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto o = Options(hub, dir / "math.jsonl");
  o.map = ParseFieldMap("problem=prompt").value();
  auto wrong = PullDataset(o);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("row 0: no field 'prompt'"), std::string::npos) << wrong.status().message();
  o.map = ParseFieldMap("problem=question").value();
  auto right = PullDataset(o);
  ASSERT_TRUE(right.ok()) << right.status().message();
  EXPECT_EQ(right->resumed_from, 0);
  EXPECT_EQ(ReadJsonl(o.out).size(), 30u);
}

// Issue 7, finding 1: a row nested 100,000 levels deep used to overflow the stack.
TEST(Pull, ARowNestedTooDeepIsAPermanentErrorNamingThePage) {
  FakeHub hub;
  hub.set_row_edit([](int64_t i, json& row) {
    if (i == 137) row["question"] = "@DEEP@";
  });
  hub.set_body_edit([](int64_t offset, int, std::string& body) {
    if (offset == 100) ReplaceOnce(body, "\"@DEEP@\"", std::string(100000, '[') + std::string(100000, ']'));
  });
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto o = Options(hub, dir / "math.jsonl");
  auto summary = PullDataset(o);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), Status::Code::kProviderError);
  const std::string& m = summary.status().message();
  EXPECT_NE(m.find("rows from 100"), std::string::npos) << m;
  EXPECT_NE(m.find("deeper than 128"), std::string::npos) << m;
  EXPECT_NE(m.find("row_idx 137"), std::string::npos) << m;
  EXPECT_EQ(hub.offsets(), (std::vector<int64_t>{0, 100}));  // not retried
  EXPECT_EQ(ReadJsonl(Partial(o.out)).size(), 100u);
}

// Issue 7, finding 13: invalid UTF-8 was retried 6 times as "not a JSON object".
TEST(Pull, InvalidUtf8InARowIsAPermanentErrorNamingTheRowAndByte) {
  FakeHub hub;
  hub.set_row_edit([](int64_t i, json& row) {
    if (i == 137) row["question"] = "@BAD@";
  });
  hub.set_body_edit([](int64_t offset, int, std::string& body) {
    if (offset == 100) ReplaceOnce(body, "@BAD@", "caf\xff\xfe");
  });
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto o = Options(hub, dir / "math.jsonl");
  auto summary = PullDataset(o);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), Status::Code::kProviderError);
  const std::string& m = summary.status().message();
  EXPECT_NE(m.find("rows from 100"), std::string::npos) << m;
  EXPECT_NE(m.find("not valid UTF-8"), std::string::npos) << m;
  EXPECT_NE(m.find("0xFF"), std::string::npos) << m;
  EXPECT_NE(m.find("row_idx 137"), std::string::npos) << m;
  EXPECT_EQ(m.find("not a JSON object"), std::string::npos) << m;
  EXPECT_EQ(hub.offsets(), (std::vector<int64_t>{0, 100}));
  EXPECT_EQ(summary.status().message().find("retry"), std::string::npos) << m;
}

TEST(Pull, MalformedJsonIsPermanentButATruncatedBodyIsRetried) {
  FakeHub truncating;
  truncating.set_body_edit([](int64_t offset, int attempt, std::string& body) {
    if (offset == 100 && attempt == 0) body.resize(body.size() / 2);
  });
  ASSERT_TRUE(truncating.Start());
  TempDir dir;
  auto summary = PullDataset(Options(truncating, dir / "a.jsonl"));
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->retries, 1);
  EXPECT_EQ(truncating.offsets(), (std::vector<int64_t>{0, 100, 100, 200}));

  FakeHub garbled;
  garbled.set_body_edit([](int64_t offset, int, std::string& body) {
    if (offset == 200) ReplaceOnce(body, "\"row_idx\":210,", "\"row_idx\":210,,");
  });
  ASSERT_TRUE(garbled.Start());
  auto bad = PullDataset(Options(garbled, dir / "b.jsonl"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kProviderError);
  const std::string& m = bad.status().message();
  EXPECT_NE(m.find("rows from 200"), std::string::npos) << m;
  EXPECT_NE(m.find("invalid JSON"), std::string::npos) << m;
  EXPECT_NE(m.find("row_idx 210"), std::string::npos) << m;
  EXPECT_EQ(garbled.offsets(), (std::vector<int64_t>{0, 100, 200}));
}

// Issue 7, finding 13: 408 and 409 are retried like the LLM client retries them.
TEST(Pull, Retries408And409LikeTheLlmClient) {
  FakeHub hub;
  hub.set_fault([](int64_t offset, int attempt) -> std::optional<Fault> {
    if (offset != 100) return std::nullopt;
    if (attempt == 0) return Fault{408, ""};
    if (attempt == 1) return Fault{409, ""};
    return std::nullopt;
  });
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto summary = PullDataset(Options(hub, dir / "math.jsonl"));
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->retries, 2);
  EXPECT_EQ(summary->rows, 250);

  FakeHub refusing;
  refusing.set_fault([](int64_t, int) -> std::optional<Fault> { return Fault{422, ""}; });
  ASSERT_TRUE(refusing.Start());
  auto refused = PullDataset(Options(refusing, dir / "b.jsonl"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kProviderError);
  EXPECT_EQ(refusing.offsets().size(), 1u);  // the server's final word: not retried
}

TEST(RetryPolicy, SharedByTheLlmClientAndDataPull) {
  for (long status : {408L, 409L, 429L, 500L, 502L, 503L, 599L}) EXPECT_TRUE(IsRetryableHttpStatus(status)) << status;
  for (long status : {200L, 400L, 401L, 403L, 404L, 410L, 422L, 600L}) EXPECT_FALSE(IsRetryableHttpStatus(status)) << status;
}

// Issue 7, finding 12: a server that always reports more rows kept the pull going for ever.
TEST(Pull, StopsAtTheFirstReportedTotalEvenWhenTheServerReportsMoreLater) {
  FakeHub hub;
  hub.set_reported_total([](int64_t offset) { return offset + 250; });
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto o = Options(hub, dir / "math.jsonl");
  auto summary = PullDataset(o);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->rows, 250);
  EXPECT_EQ(summary->total, 250);
  EXPECT_EQ(hub.offsets(), (std::vector<int64_t>{0, 100, 200}));
  EXPECT_EQ(hub.lengths(), (std::vector<int64_t>{100, 100, 50}));  // never asks past the total
  EXPECT_EQ(ReadJsonl(o.out).size(), 250u);
}

TEST(Pull, RefusesAPageLongerThanAsked) {
  FakeHub hub(2500);
  hub.set_page_factor(10);
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto o = Options(hub, dir / "math.jsonl");
  auto summary = PullDataset(o);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), Status::Code::kProviderError);
  const std::string& m = summary.status().message();
  EXPECT_NE(m.find("asked for 100 rows from offset 0"), std::string::npos) << m;
  EXPECT_NE(m.find("sent 1000"), std::string::npos) << m;
  EXPECT_EQ(hub.offsets(), (std::vector<int64_t>{0}));
  EXPECT_FALSE(std::filesystem::exists(o.out));
}

TEST(Pull, RefusesAPageWithRowsPastTheReportedTotal) {
  FakeHub hub;
  hub.set_reported_total([](int64_t) { return 40; });
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto summary = PullDataset(Options(hub, dir / "math.jsonl"));
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.status().message().find("past num_rows_total 40"), std::string::npos)
      << summary.status().message();
}

TEST(Pull, MaxRowsCapsTheRowsFetchedAndWritten) {
  FakeHub hub;
  ASSERT_TRUE(hub.Start());
  TempDir dir;
  auto o = Options(hub, dir / "math.jsonl");
  o.max_rows = 150;
  auto summary = PullDataset(o);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->rows, 150);
  EXPECT_EQ(summary->total, 250);
  EXPECT_EQ(hub.lengths(), (std::vector<int64_t>{100, 50}));
  auto records = ReadJsonl(o.out);
  ASSERT_EQ(records.size(), 150u);
  EXPECT_EQ(records.back()["id"], "org/math:test:149");

  FakeHub small;
  ASSERT_TRUE(small.Start());
  auto few = Options(small, dir / "few.jsonl");
  few.max_rows = 7;
  auto seven = PullDataset(few);
  ASSERT_TRUE(seven.ok()) << seven.status().message();
  EXPECT_EQ(seven->rows, 7);
  EXPECT_EQ(small.lengths(), (std::vector<int64_t>{7}));
}

TEST(Pull, MaxRowsBelowWhatAPartialFileHoldsIsRefused) {
  TempDir dir;
  const auto out = dir / "math.jsonl";
  FakeHub hub;
  hub.set_fault([](int64_t offset, int) -> std::optional<Fault> {
    return offset >= 200 ? std::optional<Fault>(Fault{500, ""}) : std::nullopt;
  });
  ASSERT_TRUE(hub.Start());
  ASSERT_FALSE(PullDataset(Options(hub, out)).ok());
  auto o = Options(hub, out);
  o.max_rows = 120;
  auto summary = PullDataset(o);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(summary.status().message().find("--max-rows 120"), std::string::npos) << summary.status().message();
  EXPECT_EQ(ReadJsonl(Partial(out)).size(), 200u);
}

}  // namespace
}  // namespace tfgrpo
