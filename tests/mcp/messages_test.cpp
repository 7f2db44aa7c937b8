// What both MCP transports parse before a message is acted on: the SSE framing of streamable
// HTTP replies (any split into chunks, bounded events) and the JSON-RPC messages of one text.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mcp/connection.h"

namespace tfgrpo::mcp_internal {
namespace {

using nlohmann::json;

std::vector<std::string> Events(std::string_view stream, size_t chunk, size_t max_event_bytes = 64u << 20,
                                bool* overflowed = nullptr) {
  SseParser parser(max_event_bytes);
  std::vector<std::string> events;
  auto collect = [&](const std::string& e) {
    events.push_back(e);
    return true;
  };
  for (size_t at = 0; at < stream.size(); at += chunk) {
    if (!parser.Feed(stream.substr(at, chunk), collect)) break;
  }
  parser.Finish(collect);
  if (overflowed) *overflowed = parser.overflowed();
  return events;
}

TEST(SseParser, EventsDoNotDependOnHowTheStreamIsSplit) {
  const std::string stream =
      ": keep-alive\r\n\r\nevent: message\r\nid: 1\r\ndata: {\"a\":1}\r\n\r\n"
      "data: first line\ndata:second\ndata\n\nretry: 5\n\n"
      "data: {\"tail\":true}";  // no final blank line: the end of the stream ends it
  const std::vector<std::string> expected = {"{\"a\":1}", "first line\nsecond\n", "{\"tail\":true}"};
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) EXPECT_EQ(Events(stream, chunk), expected) << chunk;
}

TEST(SseParser, AnEventPastTheLimitStopsTheStream) {
  bool overflowed = false;
  // One endless line, arriving in small chunks.
  const std::string endless = "data: " + std::string(5000, 'x');
  EXPECT_TRUE(Events(endless, 64, 1024, &overflowed).empty());
  EXPECT_TRUE(overflowed);
  // Many data lines of one event add up too.
  std::string many;
  for (int i = 0; i < 100; ++i) many += "data: " + std::string(20, 'y') + "\n";
  EXPECT_TRUE(Events(many + "\n", 7, 1024, &overflowed).empty());
  EXPECT_TRUE(overflowed);
  // Events under the limit pass, however long the stream.
  std::string stream;
  for (int i = 0; i < 200; ++i) stream += "data: " + std::string(400, 'z') + "\n\n";
  EXPECT_EQ(Events(stream, 333, 1024, &overflowed).size(), 200u);
  EXPECT_FALSE(overflowed);
}

TEST(ForEachMessage, OneMessageOrEachOfABatchAndNothingForText) {
  std::vector<json> seen;
  auto keep = [&](const json& m) { seen.push_back(m); };
  EXPECT_TRUE(ForEachMessage(R"({"jsonrpc":"2.0","id":1,"result":{}})", keep));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(Classify(seen[0]), MessageKind::kResponse);
  seen.clear();
  EXPECT_TRUE(ForEachMessage(R"([{"jsonrpc":"2.0","method":"ping","id":"s"},{"method":"n"},3])", keep));
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(Classify(seen[0]), MessageKind::kRequest);
  EXPECT_EQ(Classify(seen[1]), MessageKind::kNotification);
  EXPECT_EQ(Classify(seen[2]), MessageKind::kInvalid);
  seen.clear();
  EXPECT_FALSE(ForEachMessage("not json", keep));
  EXPECT_FALSE(ForEachMessage(std::string(10000, '[') + std::string(10000, ']'), keep));  // too deep
  EXPECT_TRUE(seen.empty());
}

}  // namespace
}  // namespace tfgrpo::mcp_internal
