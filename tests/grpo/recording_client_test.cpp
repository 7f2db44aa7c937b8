// The resume cache: which results are replayed from the run store and which are sent again.
#include <gtest/gtest.h>

#include "tfgrpo/recording_client.h"
#include "test_util.h"

namespace tfgrpo {
namespace {

using testing::Reply;
using testing::ScriptedClient;
using testing::TempDir;

ChatRequest Request(const std::string& call_id, const std::string& content = "hello") {
  ChatRequest r;
  r.role = Role::kSummary;
  r.call_id = call_id;
  r.messages = {{"system", "sys"}, {"user", content}};
  r.temperature = 0.3;
  return r;
}

TEST(RequestFingerprint, ChangesWithEveryFieldThatShapesTheBody) {
  const ChatRequest base = Request("s0/t1/summary0");
  const std::string fp = RequestFingerprint(base, "m", std::nullopt);
  EXPECT_EQ(fp, RequestFingerprint(Request("s0/t1/summary0"), "m", std::nullopt));
  std::vector<ChatRequest> variants(8, base);
  variants[0].call_id = "s0/t1/summary1";
  variants[1].messages[1].content = "hello!";
  variants[2].messages[0].role = "user";
  variants[3].temperature = 0.31;
  variants[4].max_tokens = 100;
  variants[5].extra_body = {{"tools", nlohmann::json::array()}};
  variants[6].messages[1].extra = {{"name", "x"}};
  variants[7].role = Role::kAdvantage;
  for (const auto& v : variants) EXPECT_NE(RequestFingerprint(v, "m", std::nullopt), fp);
  EXPECT_NE(RequestFingerprint(base, "other-model", std::nullopt), fp);
  EXPECT_NE(RequestFingerprint(base, "m", 512), fp);
  // Field boundaries matter: moving text between two fields is a different request.
  ChatRequest a = base, b = base;
  a.messages = {{"system", "ab"}, {"user", "c"}};
  b.messages = {{"system", "a"}, {"user", "bc"}};
  EXPECT_NE(RequestFingerprint(a, "m", std::nullopt), RequestFingerprint(b, "m", std::nullopt));
}

TEST(RecordingClient, ReplaysSuccessesAndDefinitiveRefusalsButResendsTransientFailures) {
  TempDir dir;
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok());
  int calls = 0;
  ScriptedClient inner([&calls](const ChatRequest& r) -> Result<ChatResponse> {
    ++calls;
    if (r.call_id == "bad") return Status::ProviderError("HTTP 400 from u: prompt too long");
    if (r.call_id == "down") return Status::Unavailable("cannot reach u after 7 attempts");
    if (r.call_id == "key") return Status::Unauthorized("HTTP 401 from u");
    return Reply("answer to " + r.call_id);
  });
  {
    RecordingClient first(inner, **store, "m", std::nullopt);
    EXPECT_EQ(first.Complete(Request("ok"))->content, "answer to ok");
    EXPECT_EQ(first.Complete(Request("bad")).status().code(), Status::Code::kProviderError);
    EXPECT_EQ(first.Complete(Request("down")).status().code(), Status::Code::kUnavailable);
    EXPECT_EQ(first.Complete(Request("key")).status().code(), Status::Code::kUnauthorized);
    EXPECT_EQ(first.sent(), 3);  // the 401 is not recorded
    EXPECT_EQ(first.failure_reasons().at("HTTP 400"), 1);
  }
  ASSERT_EQ(calls, 4);
  RecordingClient second(inner, **store, "m", std::nullopt);
  auto ok = second.Complete(Request("ok"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->content, "answer to ok");
  auto bad = second.Complete(Request("bad"));
  EXPECT_EQ(bad.status().code(), Status::Code::kProviderError);
  EXPECT_NE(bad.status().message().find("prompt too long"), std::string::npos);
  EXPECT_EQ(second.replayed(), 2);
  EXPECT_EQ(calls, 4);  // nothing sent for the two replayed calls
  EXPECT_EQ(second.Complete(Request("down")).status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(second.Complete(Request("key")).status().code(), Status::Code::kUnauthorized);
  EXPECT_EQ(calls, 6);  // transient failure and refused key are asked again
  // A request with different content under the same id is a different call.
  auto changed = second.Complete(Request("ok", "changed"));
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(calls, 7);
}

// A client whose calls fail after a known number of attempts, as the HTTP client reports them.
class AttemptingClient : public ChatClient {
 public:
  Result<ChatResponse> Complete(const ChatRequest& request) override {
    CallReport ignored;
    return CompleteAndReport(request, ignored);
  }
  Result<ChatResponse> CompleteAndReport(const ChatRequest& request, CallReport& report) override {
    ++calls;
    report.attempts = 4;
    report.latency_ms = 12;
    if (request.call_id == "flaky") return Status::Unavailable("POST u failed after 4 attempts; last error: HTTP 503");
    ChatResponse r = Reply("cut off");
    r.attempts = 2;
    r.finish_reason = "length";
    return r;
  }
  int calls = 0;
};

TEST(RecordingClient, FailedCallsKeepTheirAttemptsAndCountAsRetries) {
  TempDir dir;
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok());
  AttemptingClient inner;
  RecordingClient client(inner, **store, "m", std::nullopt);
  EXPECT_FALSE(client.Complete(Request("flaky")).ok());
  EXPECT_TRUE(client.Complete(Request("fine")).ok());
  EXPECT_EQ(client.retries(), 3 + 1);  // the failed call's 3 retries count too
  auto failed = (*store)->FindCall(RequestFingerprint(Request("flaky"), "m", std::nullopt));
  ASSERT_TRUE(failed.has_value());
  EXPECT_FALSE(failed->ok);
  EXPECT_EQ(failed->attempts, 4);
  auto fine = (*store)->FindCall(RequestFingerprint(Request("fine"), "m", std::nullopt));
  ASSERT_TRUE(fine.has_value());
  EXPECT_EQ(fine->attempts, 2);
  EXPECT_EQ(fine->finish_reason, "length");
}

TEST(RecordingClient, AStoredReplyNestedTooDeeplyIsAskedAgainNotParsed) {
  TempDir dir;
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok());
  CallRecord rec;
  rec.fingerprint = RequestFingerprint(Request("deep"), "m", std::nullopt);
  rec.call_id = "deep";
  rec.role = "summary";
  rec.ok = true;
  rec.response_json = "{\"message\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  ASSERT_TRUE((*store)->RecordCall(rec).ok());
  int calls = 0;
  ScriptedClient inner([&calls](const ChatRequest&) -> Result<ChatResponse> {
    ++calls;
    return Reply("fresh");
  });
  RecordingClient client(inner, **store, "m", std::nullopt);
  auto r = client.Complete(Request("deep"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "fresh");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(client.replayed(), 0);
}

TEST(RecordingClient, TheSameServerErrorThreeTimesIsRecordedAsPermanentAndReplayed) {
  TempDir dir;
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok());
  int calls = 0;
  // What the HTTP client returns after three identical 500s.
  ScriptedClient inner([&calls](const ChatRequest&) -> Result<ChatResponse> {
    ++calls;
    return Status::ProviderError("HTTP 500 from u: tools param requires --jinja flag (the same reply 3 times in a row; not retrying)");
  });
  {
    RecordingClient first(inner, **store, "m", std::nullopt);
    EXPECT_EQ(first.Complete(Request("jinja")).status().code(), Status::Code::kProviderError);
  }
  RecordingClient second(inner, **store, "m", std::nullopt);
  auto again = second.Complete(Request("jinja"));
  EXPECT_EQ(again.status().code(), Status::Code::kProviderError);
  EXPECT_NE(again.status().message().find("--jinja"), std::string::npos);
  EXPECT_EQ(calls, 1);  // replayed on resume, not sent again
}

}  // namespace
}  // namespace tfgrpo
