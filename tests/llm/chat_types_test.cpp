// Pure parts of the LLM module: role names, the request body, response parsing, the stored
// response form and the retry timing helpers.

#include <gtest/gtest.h>

#include <limits>

#include "llm/http_internal.h"
#include "tfgrpo/retry.h"
#include "tfgrpo/llm.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

TEST(RoleNames, EveryRoleRoundTripsAndUnknownNamesAreRejected) {
  const std::vector<std::pair<Role, std::string>> expected = {
      {Role::kRollout, "rollout"},          {Role::kSummary, "summary"},
      {Role::kAdvantage, "advantage"},      {Role::kGroupUpdate, "group_update"},
      {Role::kBatchUpdate, "batch_update"}, {Role::kJudge, "judge"},
      {Role::kBrowse, "browse"}};
  for (const auto& [role, name] : expected) {
    EXPECT_EQ(RoleName(role), name);
    ASSERT_TRUE(ParseRole(name).has_value()) << name;
    EXPECT_EQ(*ParseRole(name), role);
  }
  EXPECT_FALSE(ParseRole("Rollout").has_value());
  EXPECT_FALSE(ParseRole("").has_value());
  EXPECT_FALSE(ParseRole("groupupdate").has_value());
}

TEST(ChatRequestBody, HasModelMessagesTemperatureAndMergedExtras) {
  ChatRequest req;
  req.temperature = 0.25;
  req.messages.push_back({"system", "be brief", json::object()});
  Message tool_call{"assistant", "", json{{"tool_calls", json::array({{{"id", "c1"}}})},
                                          {"content", nullptr}}};
  req.messages.push_back(tool_call);
  req.messages.push_back({"tool", "42", json{{"tool_call_id", "c1"}}});
  req.extra_body = json{{"tools", json::array({{{"type", "function"}}})}, {"seed", 7}};

  json body = ChatRequestBody(req, "deepseek-chat", std::nullopt);
  json expected = {
      {"model", "deepseek-chat"},
      {"messages",
       json::array({{{"role", "system"}, {"content", "be brief"}},
                    {{"role", "assistant"}, {"content", nullptr},
                     {"tool_calls", json::array({{{"id", "c1"}}})}},
                    {{"role", "tool"}, {"content", "42"}, {"tool_call_id", "c1"}}})},
      {"temperature", 0.25},
      {"tools", json::array({{{"type", "function"}}})},
      {"seed", 7},
  };
  EXPECT_EQ(body, expected) << body.dump(2);
  EXPECT_FALSE(body.contains("max_tokens"));
}

TEST(ChatRequestBody, MaxTokensFromRequestElseDefaultElseAbsent) {
  ChatRequest req;
  req.messages.push_back({"user", "hi", json::object()});
  EXPECT_FALSE(ChatRequestBody(req, "m", std::nullopt).contains("max_tokens"));
  EXPECT_EQ(ChatRequestBody(req, "m", 512)["max_tokens"], 512);
  req.max_tokens = 64;
  EXPECT_EQ(ChatRequestBody(req, "m", 512)["max_tokens"], 64);
  EXPECT_EQ(ChatRequestBody(req, "m", std::nullopt)["max_tokens"], 64);
}

TEST(ChatRequestBody, SameRequestGivesTheSameSerialisation) {
  ChatRequest req;
  req.messages.push_back({"user", "hi", json{{"name", "u"}}});
  req.extra_body = json{{"b", 1}, {"a", 2}};
  EXPECT_EQ(ChatRequestBody(req, "m", 8).dump(), ChatRequestBody(req, "m", 8).dump());
  ChatRequest other = req;
  other.temperature = 0.8;
  EXPECT_NE(ChatRequestBody(req, "m", 8).dump(), ChatRequestBody(other, "m", 8).dump());
}

TEST(ParseChatCompletion, DeepSeekShapeWithReasoningAndCacheHitTokens) {
  const char* body = R"({"id":"x","choices":[{"index":0,"finish_reason":"stop",
      "message":{"role":"assistant","content":"The answer is 4.","reasoning_content":"2+2"}}],
      "usage":{"prompt_tokens":120,"completion_tokens":9,"prompt_cache_hit_tokens":64,
               "prompt_cache_miss_tokens":56}})";
  auto r = llm_internal::ParseChatCompletion(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "The answer is 4.");
  EXPECT_EQ(r->reasoning_content, "2+2");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.prompt_tokens, 120);
  EXPECT_EQ(r->usage.completion_tokens, 9);
  EXPECT_EQ(r->usage.cached_tokens, 64);
  EXPECT_EQ(r->message["reasoning_content"], "2+2");
  EXPECT_EQ(r->message["role"], "assistant");
}

TEST(ParseChatCompletion, OpenAIShapeWithNullContentAndCachedTokenDetails) {
  const char* body = R"({"choices":[{"finish_reason":"tool_calls",
      "message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1"}]}}],
      "usage":{"prompt_tokens":50,"completion_tokens":5,
               "prompt_tokens_details":{"cached_tokens":32}}})";
  auto r = llm_internal::ParseChatCompletion(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "");
  EXPECT_EQ(r->reasoning_content, "");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_EQ(r->usage.cached_tokens, 32);
  EXPECT_EQ(r->message["tool_calls"][0]["id"], "call_1");
}

TEST(ParseChatCompletion, MissingUsageLeavesZeros) {
  auto r = llm_internal::ParseChatCompletion(
      R"({"choices":[{"message":{"role":"assistant","content":"ok"}}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "ok");
  EXPECT_EQ(r->usage.prompt_tokens, 0);
  EXPECT_EQ(r->usage.cached_tokens, 0);
  EXPECT_EQ(r->finish_reason, "");
}

// Regression input fuzz/regressions/chat_completion/deep_message_stack_overflow: the reply parsed,
// then overflowed the stack when the recording client copied and serialised the message.
TEST(ParseChatCompletion, RejectsBodiesNestedTooDeep) {
  const std::string deep = std::string(50000, '[') + std::string(50000, ']');
  auto r = llm_internal::ParseChatCompletion(
      R"({"choices":[{"message":{"role":"assistant","content":"x","extra":)" + deep + "}}]}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("response body is JSON nested more than 128 levels deep", 0), 0u)
      << r.status().message();
  EXPECT_EQ(llm_internal::ProviderErrorMessage("{\"error\":" + deep + "}", 10), "{\"error\":[...");
  auto nested = llm_internal::ParseChatCompletion(
      R"({"choices":[{"message":{"role":"assistant","content":"x","extra":[[[[1]]]]}}]})");
  ASSERT_TRUE(nested.ok()) << nested.status().ToString();
  EXPECT_EQ(ChatResponseToJson(*nested)["message"]["extra"].dump(), "[[[[1]]]]");
}

// Regression input fuzz/regressions/chat_completion/token_count_out_of_range_ub: UBSan reported
// the double-to-int64 conversion of 1e105.
TEST(ParseChatCompletion, OutOfRangeTokenCountsAreClamped) {
  auto r = llm_internal::ParseChatCompletion(
      R"({"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":1e105,"completion_tokens":-3.5,)"
      R"("prompt_tokens_details":{"cached_tokens":18446744073709551615}}})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->usage.prompt_tokens, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(r->usage.completion_tokens, 0);
  EXPECT_EQ(r->usage.cached_tokens, std::numeric_limits<int64_t>::max());
}

TEST(ParseChatCompletion, RejectsBodiesWithoutAMessage) {
  EXPECT_FALSE(llm_internal::ParseChatCompletion("<html>502 Bad Gateway</html>").ok());
  EXPECT_FALSE(llm_internal::ParseChatCompletion("").ok());
  EXPECT_FALSE(llm_internal::ParseChatCompletion("[1,2]").ok());
  EXPECT_FALSE(llm_internal::ParseChatCompletion(R"({"choices":[]})").ok());
  EXPECT_FALSE(llm_internal::ParseChatCompletion(R"({"choices":[{"text":"legacy"}]})").ok());
  auto err = llm_internal::ParseChatCompletion(R"({"error":{"message":"overloaded"}})");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.status().message().find("overloaded"), std::string::npos);
}

TEST(ProviderErrorMessage, PrefersTheErrorMessageElseTruncatedBody) {
  EXPECT_EQ(llm_internal::ProviderErrorMessage(R"({"error":{"message":"too long","code":400}})"),
            "too long");
  EXPECT_EQ(llm_internal::ProviderErrorMessage(R"({"error":"bad model"})"), "bad model");
  EXPECT_EQ(llm_internal::ProviderErrorMessage("  plain text  "), "plain text");
  std::string long_body(2000, 'x');
  std::string msg = llm_internal::ProviderErrorMessage(long_body, 100);
  EXPECT_EQ(msg, std::string(100, 'x') + "...");
}

TEST(RetryAfter, SecondsAndHttpDateForms) {
  const std::time_t now = 1700000000;  // Tue, 14 Nov 2023 22:13:20 GMT
  EXPECT_EQ(ParseRetryAfter("3", now), 3.0);
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), 0.0);
  EXPECT_DOUBLE_EQ(*ParseRetryAfter("1.5", now), 1.5);
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:13:27 GMT", now), 7.0);
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:00:00 GMT", now), 0.0);
  EXPECT_FALSE(ParseRetryAfter("soon", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("3s", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("", now).has_value());
}

TEST(Backoff, DoublesFromInitialUpToTheCapWithJitterInHalfToOne) {
  EXPECT_DOUBLE_EQ(BackoffSeconds(1, 0.5, 30, 0.0), 0.25);
  EXPECT_DOUBLE_EQ(BackoffSeconds(1, 0.5, 30, 0.999999), 0.5 * (0.5 + 0.5 * 0.999999));
  EXPECT_DOUBLE_EQ(BackoffSeconds(3, 0.5, 30, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(BackoffSeconds(10, 0.5, 30, 0.0), 15.0);
  EXPECT_DOUBLE_EQ(BackoffSeconds(40, 0.5, 30, 0.5), 22.5);
}

TEST(Redact, RemovesEverySecretOccurrence) {
  EXPECT_EQ(llm_internal::Redact("key sk-1 and sk-1", "sk-1"), "key [redacted] and [redacted]");
  EXPECT_EQ(llm_internal::Redact("nothing", ""), "nothing");
}

TEST(Redact, RemovesEveryPrefixOfTheKeyOfEightBytesOrMore) {
  const std::string key = "sk-live-0123456789abcdef";
  // A provider's own truncation leaves part of the key: its first 8+ bytes are removed too.
  EXPECT_EQ(llm_internal::Redact("bad key sk-live-0123...", key), "bad key [redacted]...");
  EXPECT_EQ(llm_internal::Redact("sk-live-0", key), "[redacted]");
  EXPECT_EQ(llm_internal::Redact("a sk-live-0123456789abcdefXYZ b", key), "a [redacted]XYZ b");
  EXPECT_EQ(llm_internal::Redact("sk-live-0 and sk-live-01 and " + key, key),
            "[redacted] and [redacted] and [redacted]");
  // Seven bytes is not a key prefix worth hiding (it would hide ordinary words of short keys).
  EXPECT_EQ(llm_internal::Redact("sk-live and sk-live", key), "sk-live and sk-live");
}

TEST(ProviderErrorMessage, RedactsTheKeyBeforeCuttingTheMessage) {
  const std::string key = "sk-live-0123456789abcdef";
  // The key straddles the cut: redacting after cutting would leave "sk-live-012" behind.
  const std::string body = nlohmann::json{{"error", {{"message", std::string(490, 'x') + key}}}}.dump();
  for (size_t cut : {size_t{495}, size_t{500}, size_t{505}}) {
    const std::string msg = llm_internal::ProviderErrorMessage(body, cut, key);
    EXPECT_EQ(msg.find("sk-live-"), std::string::npos) << cut << ": " << msg;
    EXPECT_EQ(msg.find("0123"), std::string::npos) << cut << ": " << msg;
  }
  const std::string plain = std::string(295, 'y') + key + " trailing";  // not JSON
  EXPECT_EQ(llm_internal::ProviderErrorMessage(plain, 300, key).find("sk-li"), std::string::npos);
}

TEST(ProviderErrorMessage, CutsOnACharacterBoundary) {
  // 3-byte characters: a byte cut at 100 would split the 34th one.
  std::string euros;
  for (int i = 0; i < 50; ++i) euros += "\xE2\x82\xAC";
  const std::string msg = llm_internal::ProviderErrorMessage(euros, 100);
  EXPECT_EQ(msg, euros.substr(0, 99) + "...");
}

TEST(ParseChatCompletion, AReplyNestedTooDeeplyIsAnInvalidBodyNotACrash) {
  const int depth = 100000;
  std::string deep = R"({"choices":[{"message":{"role":"assistant","content":"x","extra":)";
  deep += std::string(depth, '[') + std::string(depth, ']') + "}}]}";
  auto r = llm_internal::ParseChatCompletion(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("nested more than 128 levels deep"), std::string::npos)
      << r.status().message();
  // The error body of a failed call is read the same way: quoted as text, not parsed.
  const std::string error_body = R"({"error":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  EXPECT_EQ(llm_internal::ProviderErrorMessage(error_body, 20), error_body.substr(0, 20) + "...");
}

TEST(CallId, OneBuilderForEveryCallAndNoDoubledT) {
  EXPECT_EQ(CallId(StepScope(3), "17", "r2"), "s3/t17/r2");
  EXPECT_EQ(CallId(StepScope(0), "q-7", "summary1"), "s0/tq-7/summary1");
  EXPECT_EQ(CallId(StepScope(0), "sim-4", "advantage"), "s0/tsim-4/advantage");
  EXPECT_EQ(CallId(StepScope(0), "train:4", "advantage"), "s0/train:4/advantage");  // default ids
  EXPECT_EQ(CallId(StepScope(2), "", "batch_update"), "s2/batch_update");
  EXPECT_EQ(CallId("eval", "sim-1", "k4/judge"), "eval/tsim-1/k4/judge");
  // A task id that starts with 't' is not given a second one.
  EXPECT_EQ(CallId(StepScope(0), "t5", "r2"), "s0/t5/r2");
  EXPECT_EQ(CallId("eval", "t5", "k0"), "eval/t5/k0");
}

TEST(ChatResponseJson, RoundTripsEveryField) {
  ChatResponse r;
  r.content = "answer \"quoted\" \n ünïcode";
  r.reasoning_content = "thinking";
  r.finish_reason = "length";
  r.message = json{{"role", "assistant"}, {"content", r.content}, {"extra", {1, 2}}};
  r.usage = {1234, 56, 789};
  r.attempts = 3;
  r.latency_ms = 812.25;

  ChatResponse back = ChatResponseFromJson(json::parse(ChatResponseToJson(r).dump()));
  EXPECT_EQ(back.content, r.content);
  EXPECT_EQ(back.reasoning_content, r.reasoning_content);
  EXPECT_EQ(back.finish_reason, r.finish_reason);
  EXPECT_EQ(back.message, r.message);
  EXPECT_EQ(back.usage.prompt_tokens, 1234);
  EXPECT_EQ(back.usage.completion_tokens, 56);
  EXPECT_EQ(back.usage.cached_tokens, 789);
  EXPECT_EQ(back.attempts, 3);
  EXPECT_DOUBLE_EQ(back.latency_ms, 812.25);
  EXPECT_EQ(ChatResponseToJson(back), ChatResponseToJson(r));
}

TEST(ChatResponseJson, MalformedInputGivesDefaultsNotExceptions) {
  ChatResponse a = ChatResponseFromJson(json::array({1, 2}));
  EXPECT_EQ(a.content, "");
  EXPECT_EQ(a.attempts, 1);
  ChatResponse b = ChatResponseFromJson(
      json{{"content", 5}, {"usage", "x"}, {"attempts", "two"}, {"message", "m"}, {"latency_ms", 2}});
  EXPECT_EQ(b.content, "");
  EXPECT_EQ(b.usage.prompt_tokens, 0);
  EXPECT_EQ(b.attempts, 1);
  EXPECT_TRUE(b.message.is_object());
  EXPECT_DOUBLE_EQ(b.latency_ms, 2.0);
}

TEST(UsageSum, AddsEveryCounter) {
  Usage total;
  total += Usage{10, 2, 4};
  total += Usage{5, 1, 0};
  EXPECT_EQ(total.prompt_tokens, 15);
  EXPECT_EQ(total.completion_tokens, 3);
  EXPECT_EQ(total.cached_tokens, 4);
}

}  // namespace
}  // namespace tfgrpo
