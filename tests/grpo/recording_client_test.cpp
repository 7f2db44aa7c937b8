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
  second.Complete(Request("down"));
  second.Complete(Request("key"));
  EXPECT_EQ(calls, 6);  // transient failure and refused key are asked again
  // A request with different content under the same id is a different call.
  second.Complete(Request("ok", "changed"));
  EXPECT_EQ(calls, 7);
}

}  // namespace
}  // namespace tfgrpo
