// Pure parts of `tfgrpo serve`: injection into request bodies, flag parsing, usage scanning and
// the metrics text.
#include <gtest/gtest.h>

#include <limits>

#include "serve/metrics.h"
#include "serve_test_util.h"

namespace tfgrpo {
namespace {

using nlohmann::ordered_json;
using serve_testing::DefaultLibrary;
using serve_testing::MakeLibrary;

std::vector<std::string> Keys(const ordered_json& j) {
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  return keys;
}

TEST(InjectLibraryTest, AppendsToTheExistingSystemMessageAndKeepsEverythingElse) {
  Library lib = DefaultLibrary();
  ordered_json body = ordered_json::parse(R"({
    "temperature": 0.2, "model": "m",
    "messages": [{"role": "system", "content": "You are terse.", "name": "sys"},
                 {"role": "user", "content": "hi"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "zzz_unknown": {"b": 1, "a": [1, 2.5, null]}})");
  ordered_json original = body;
  Result<bool> r = InjectLibrary(body, lib);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(*r);
  EXPECT_EQ(body["messages"][0]["content"], AppendLibrary("You are terse.", lib));
  EXPECT_EQ(body["messages"][0]["name"], "sys");
  EXPECT_EQ(body["messages"][1], original["messages"][1]);
  EXPECT_EQ(body["tools"].dump(), original["tools"].dump());
  EXPECT_EQ(body["zzz_unknown"].dump(), original["zzz_unknown"].dump());
  EXPECT_EQ(Keys(body), Keys(original));  // key order preserved
}

TEST(InjectLibraryTest, InsertsASystemMessageFirstWhenThereIsNone) {
  Library lib = DefaultLibrary();
  ordered_json body = ordered_json::parse(
      R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})");
  ASSERT_TRUE(*InjectLibrary(body, lib));
  ASSERT_EQ(body["messages"].size(), 3u);
  EXPECT_EQ(body["messages"][0].dump(),
            ordered_json({{"role", "system"}, {"content", AppendLibrary("", lib)}}).dump());
  EXPECT_EQ(body["messages"][1]["content"], "q");
  // The rendering is the engine's: heading, then "[G0]. text" lines.
  std::string expected = std::string(kLibraryHeading) + "\n[G0]. " + lib.items()[0].text;
  EXPECT_EQ(body["messages"][0]["content"].get<std::string>().substr(0, expected.size()), expected);
}

TEST(InjectLibraryTest, ContentPartsGetTheLibraryOnTheirLastTextPart) {
  Library lib = DefaultLibrary();
  ordered_json body = ordered_json::parse(R"({"messages": [{"role": "system", "content": [
      {"type": "text", "text": "first"}, {"type": "text", "text": "second"},
      {"type": "image_url", "image_url": {"url": "data:x"}}]}]})");
  ASSERT_TRUE(*InjectLibrary(body, lib));
  const auto& parts = body["messages"][0]["content"];
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0]["text"], "first");
  EXPECT_EQ(parts[1]["text"], AppendLibrary("second", lib));
  EXPECT_EQ(parts[2]["type"], "image_url");

  ordered_json no_text = ordered_json::parse(
      R"({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {}}]}]})");
  ASSERT_TRUE(*InjectLibrary(no_text, lib));
  ASSERT_EQ(no_text["messages"][0]["content"].size(), 2u);
  EXPECT_EQ(no_text["messages"][0]["content"][1].dump(),
            ordered_json({{"type", "text"}, {"text", AppendLibrary("", lib)}}).dump());
}

TEST(InjectLibraryTest, TargetsSystemBeforeDeveloperAndDeveloperBeforeInserting) {
  Library lib = DefaultLibrary();
  ordered_json both = ordered_json::parse(R"({"messages": [
      {"role": "developer", "content": "dev"}, {"role": "system", "content": "sys"},
      {"role": "system", "content": "second system"}]})");
  ASSERT_TRUE(*InjectLibrary(both, lib));
  EXPECT_EQ(both["messages"][0]["content"], "dev");
  EXPECT_EQ(both["messages"][1]["content"], AppendLibrary("sys", lib));
  EXPECT_EQ(both["messages"][2]["content"], "second system");

  ordered_json developer = ordered_json::parse(
      R"({"messages": [{"role": "user", "content": "u"}, {"role": "developer", "content": null}]})");
  ASSERT_TRUE(*InjectLibrary(developer, lib));
  ASSERT_EQ(developer["messages"].size(), 2u);
  EXPECT_EQ(developer["messages"][1]["content"], AppendLibrary("", lib));
}

TEST(InjectLibraryTest, EmptyLibraryLeavesTheBodyAlone) {
  ordered_json body = ordered_json::parse(R"({"messages": [{"role": "user", "content": "q"}]})");
  ordered_json before = body;
  Result<bool> r = InjectLibrary(body, Library());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(body, before);
}

TEST(InjectLibraryTest, RejectsBodiesWithoutAMessageArray) {
  Library lib = DefaultLibrary();
  ordered_json no_messages = ordered_json::parse(R"({"model": "m"})");
  EXPECT_EQ(InjectLibrary(no_messages, lib).status().code(), Status::Code::kInvalidArgument);
  ordered_json not_array = ordered_json::parse(R"({"messages": "hi"})");
  Result<bool> r = InjectLibrary(not_array, lib);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("messages"), std::string::npos);
  ordered_json bad_item = ordered_json::parse(R"({"messages": [{"role": "user"}, 3]})");
  r = InjectLibrary(bad_item, lib);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("messages[1]"), std::string::npos);
  ordered_json bad_content =
      ordered_json::parse(R"({"messages": [{"role": "system", "content": 42}]})");
  EXPECT_FALSE(InjectLibrary(bad_content, lib).ok());
}

TEST(ServeFlagsTest, ParsesListenAddresses) {
  auto a = ParseListenAddress("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto b = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 0);
  auto c = ParseListenAddress(":9000");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_FALSE(ParseListenAddress("8080").ok());
  EXPECT_FALSE(ParseListenAddress("host:99999").ok());
  EXPECT_FALSE(ParseListenAddress("host:x1").ok());
  EXPECT_FALSE(ParseListenAddress("::1:80").ok());
}

TEST(ServeFlagsTest, RecognisesLoopbackHosts) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_TRUE(IsLoopbackHost("LocalHost"));
  EXPECT_TRUE(IsLoopbackHost("::ffff:127.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("192.168.1.4"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("example.com"));
}

TEST(ServeFlagsTest, ParsesModelMappings) {
  auto m = ParseModelMapping("gpt-4o=deepseek-chat");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->first, "gpt-4o");
  EXPECT_EQ(m->second, "deepseek-chat");
  EXPECT_FALSE(ParseModelMapping("gpt-4o").ok());
  EXPECT_FALSE(ParseModelMapping("=x").ok());
  EXPECT_FALSE(ParseModelMapping("x=").ok());
}

TEST(UsageTest, ReadsBothCachedTokenSpellings) {
  auto deepseek = serve_internal::UsageFromCompletion(nlohmann::json::parse(
      R"({"usage": {"prompt_tokens": 10, "completion_tokens": 3, "prompt_cache_hit_tokens": 8}})"));
  ASSERT_TRUE(deepseek.has_value());
  EXPECT_EQ(deepseek->prompt, 10);
  EXPECT_EQ(deepseek->completion, 3);
  EXPECT_EQ(deepseek->cached, 8);
  auto openai = serve_internal::UsageFromCompletion(nlohmann::json::parse(
      R"({"usage": {"prompt_tokens": 4, "prompt_tokens_details": {"cached_tokens": 2}}})"));
  ASSERT_TRUE(openai.has_value());
  EXPECT_EQ(openai->cached, 2);
  EXPECT_FALSE(serve_internal::UsageFromCompletion(nlohmann::json::parse(R"({"usage": null})")));
}

// fuzz_chat_completion found the same conversion in the LLM client (UBSan: 1e105 does not fit
// int64): counts out of range are clamped, not converted.
TEST(UsageTest, OutOfRangeCountsAreClampedToNonNegativeInt64) {
  auto u = serve_internal::UsageFromCompletion(nlohmann::json::parse(
      R"({"usage": {"prompt_tokens": 1e105, "completion_tokens": -7, "prompt_cache_hit_tokens": 18446744073709551615}})"));
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->prompt, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(u->completion, 0);
  EXPECT_EQ(u->cached, std::numeric_limits<int64_t>::max());
}

TEST(UsageTest, ScannerFindsTheFinalUsageChunkWhereverTheBytesSplit) {
  std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}],\"usage\":null}\n\n"
      "data: {\"choices\":[],\"usage\": {\"prompt_tokens\":21,\"completion_tokens\":9,"
      "\"prompt_cache_hit_tokens\":16}}\n\n"
      "data: [DONE]\n\n";
  for (size_t split = 1; split < stream.size(); split += 7) {
    serve_internal::SseUsageScanner scanner;
    scanner.Feed(std::string_view(stream).substr(0, split));
    scanner.Feed(std::string_view(stream).substr(split));
    ASSERT_TRUE(scanner.usage().has_value()) << "split at " << split;
    EXPECT_EQ(scanner.usage()->prompt, 21);
    EXPECT_EQ(scanner.usage()->completion, 9);
    EXPECT_EQ(scanner.usage()->cached, 16);
  }
  serve_internal::SseUsageScanner none;
  none.Feed("data: {\"usage\":null}\n\ndata: [DONE]\n\n");
  EXPECT_FALSE(none.usage().has_value());
}

TEST(MetricsTest, RendersCountersAndCumulativeHistogram) {
  serve_internal::ServeMetrics m;
  m.RecordRequest(200, 0.0002);
  m.RecordRequest(200, 0.02);
  m.RecordRequest(502, 3.0);
  m.AddTokens({100, 20, 64});
  m.CountInjection();
  m.SetLibraryExperiences(7);
  std::string text = m.Render();
  using serve_testing::MetricValue;
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_requests_total{status=\"200\"}"), 2);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_requests_total{status=\"502\"}"), 1);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_requests_total{status=\"404\"}"), -1);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_request_duration_seconds_bucket{le=\"0.0005\"}"), 1);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_request_duration_seconds_bucket{le=\"0.025\"}"), 2);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_request_duration_seconds_bucket{le=\"2.5\"}"), 2);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_request_duration_seconds_bucket{le=\"+Inf\"}"), 3);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_request_duration_seconds_count"), 3);
  EXPECT_NEAR(MetricValue(text, "tfgrpo_serve_request_duration_seconds_sum"), 3.0202, 1e-6);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_tokens_total{kind=\"prompt\"}"), 100);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_tokens_total{kind=\"completion\"}"), 20);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_tokens_total{kind=\"cached\"}"), 64);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_injections_total"), 1);
  EXPECT_EQ(MetricValue(text, "tfgrpo_serve_library_experiences"), 7);
  EXPECT_NE(text.find("# TYPE tfgrpo_serve_request_duration_seconds histogram"), std::string::npos);
}

}  // namespace
}  // namespace tfgrpo
