// The gateway's streamed chat completions (chunks built from a non-streamed upstream reply) and
// its Responses API route, streamed and not.

#include "gateway/chat_stream.h"
#include "gateway/gateway_test_util.h"

namespace tfgrpo {
namespace {

using testing::ChatBody;
using testing::ClientFor;
using testing::LeasePath;
using testing::ScriptedClient;
using testing::SseEvents;
using testing::TestOptions;
using testing::Ticket;

// An upstream reply with text and two tool calls.
ChatResponse ToolCallingReply() {
  ChatResponse r;
  r.content = "Let me look.";
  r.finish_reason = "tool_calls";
  r.message = nlohmann::json::parse(R"({
    "role": "assistant", "content": "Let me look.",
    "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{\"q\":\"units\"}"}},
      {"id": "call_2", "type": "function", "function": {"name": "python", "arguments": "{\"code\":\"print(1)\"}"}}
    ]})");
  r.usage.prompt_tokens = 40;
  r.usage.completion_tokens = 12;
  r.usage.cached_tokens = 8;
  return r;
}

// The assistant message a client rebuilds from chat.completion.chunk deltas, as the SDKs do.
struct Reassembled {
  std::string role;
  std::string content;
  nlohmann::json tool_calls = nlohmann::json::array();
  std::string finish_reason;
  nlohmann::json usage;
  int usage_chunks = 0;
};

Reassembled Reassemble(const std::vector<nlohmann::json>& events) {
  Reassembled out;
  for (const auto& e : events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    EXPECT_TRUE(e["id"].is_string());
    if (e.contains("usage") && e["usage"].is_object()) {
      out.usage = e["usage"];
      ++out.usage_chunks;
      EXPECT_TRUE(e["choices"].empty()) << "the usage chunk has no choices";
    }
    for (const auto& choice : e["choices"]) {
      const auto& delta = choice["delta"];
      if (delta.contains("role")) out.role = delta["role"];
      if (delta.contains("content") && delta["content"].is_string()) out.content += delta["content"].get<std::string>();
      if (delta.contains("tool_calls")) {
        for (const auto& tc : delta["tool_calls"]) {
          size_t index = tc["index"].get<size_t>();
          while (out.tool_calls.size() <= index)
            out.tool_calls.push_back({{"function", {{"name", ""}, {"arguments", ""}}}});
          auto& call = out.tool_calls[index];
          if (tc.contains("id")) call["id"] = tc["id"];
          if (tc.contains("type")) call["type"] = tc["type"];
          if (tc.contains("function")) {
            const auto& f = tc["function"];
            if (f.contains("name")) call["function"]["name"] = f["name"];
            if (f.contains("arguments"))
              call["function"]["arguments"] = call["function"]["arguments"].get<std::string>() + f["arguments"].get<std::string>();
          }
        }
      }
      if (choice["finish_reason"].is_string()) out.finish_reason = choice["finish_reason"];
    }
  }
  return out;
}

TEST(GatewayStream, ToolCallDeltasReassembleToTheUpstreamsToolCallsAndUsageComesLast) {
  ScriptedClient upstream([](const ChatRequest&) -> Result<ChatResponse> { return ToolCallingReply(); });
  auto gateway = StartGateway(TestOptions(), upstream);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(Ticket());
  ASSERT_TRUE(lease.ok());
  auto client = ClientFor(**gateway);
  nlohmann::json body = ChatBody("find it", true);
  body["stream_options"] = {{"include_usage", true}};
  auto r = client->Post(LeasePath(**lease, "/chat/completions"), body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  bool done = false;
  auto events = SseEvents(r->body, &done);
  EXPECT_TRUE(done) << "data: [DONE] ends the stream";
  ASSERT_GE(events.size(), 4u);
  EXPECT_TRUE(events.back()["choices"].empty()) << "usage is the last chunk";
  Reassembled got = Reassemble(events);
  EXPECT_EQ(got.role, "assistant");
  EXPECT_EQ(got.content, "Let me look.");
  EXPECT_EQ(got.finish_reason, "tool_calls");
  EXPECT_EQ(got.tool_calls, ToolCallingReply().message["tool_calls"]);
  EXPECT_EQ(got.usage_chunks, 1);
  EXPECT_EQ(got.usage["prompt_tokens"], 40);
  EXPECT_EQ(got.usage["completion_tokens"], 12);
  EXPECT_EQ(got.usage["total_tokens"], 52);
  EXPECT_EQ(got.usage["prompt_tokens_details"]["cached_tokens"], 8);
  // Upstream is called without streaming; the trajectory has the reply with its tool calls.
  ASSERT_EQ(upstream.requests().size(), 1u);
  EXPECT_FALSE(upstream.requests()[0].extra_body.contains("stream"));
  EXPECT_FALSE(upstream.requests()[0].extra_body.contains("stream_options"));
  EXPECT_EQ((*lease)->Calls().at(0).reply["tool_calls"], ToolCallingReply().message["tool_calls"]);
}

TEST(GatewayStream, WithoutIncludeUsageNoChunkCarriesUsage) {
  ScriptedClient upstream(testing::Answer("plain text"));
  auto gateway = StartGateway(TestOptions(), upstream);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(Ticket());
  ASSERT_TRUE(lease.ok());
  auto r = ClientFor(**gateway)->Post(LeasePath(**lease, "/chat/completions"), ChatBody("q", true).dump(),
                                      "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto events = SseEvents(r->body);
  for (const auto& e : events) EXPECT_FALSE(e.contains("usage")) << e.dump();
  Reassembled got = Reassemble(events);
  EXPECT_EQ(got.content, "plain text");
  EXPECT_EQ(got.finish_reason, "stop");
  EXPECT_TRUE(got.tool_calls.empty());
}

TEST(GatewayStream, ChunksOfAReplyWithoutAKeptMessageStillCarryItsText) {
  ChatResponse r;
  r.content = "only content";
  auto text = gateway_internal::ChatCompletionChunks(r, "chatcmpl-x", "m", 1, true);
  Reassembled got = Reassemble(SseEvents(text));
  EXPECT_EQ(got.content, "only content");
  EXPECT_EQ(got.finish_reason, "stop");
  auto whole = gateway_internal::ChatCompletionJson(r, "chatcmpl-x", "m", 1);
  EXPECT_EQ(whole["choices"][0]["message"]["content"], "only content");
  EXPECT_EQ(whole["choices"][0]["message"]["role"], "assistant");
}

nlohmann::json ResponsesBody(bool stream) {
  nlohmann::json body = nlohmann::json::parse(R"({
    "model": "agent-model",
    "instructions": "You are an agent.",
    "input": [{"role": "user", "content": "What is 2+2?"}],
    "tools": [{"type": "function", "name": "search", "parameters": {"type": "object", "properties": {}}}]
  })");
  if (stream) body["stream"] = true;
  return body;
}

TEST(GatewayResponses, NonStreamedTranslatesPutsTheLibraryIntoInstructionsAndAnswersAResponse) {
  ScriptedClient upstream([](const ChatRequest&) -> Result<ChatResponse> { return ToolCallingReply(); });
  const Library library({Experience("Check units.")});
  auto gateway = StartGateway(TestOptions(), upstream);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(Ticket("s1/t2/r3", &library));
  ASSERT_TRUE(lease.ok());
  auto r = ClientFor(**gateway)->Post(LeasePath(**lease, "/responses"), ResponsesBody(false).dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  nlohmann::json response = nlohmann::json::parse(r->body);
  EXPECT_EQ(response["object"], "response");
  EXPECT_EQ(response["status"], "completed");
  ASSERT_EQ(response["output"].size(), 3u);
  EXPECT_EQ(response["output"][0]["type"], "message");
  EXPECT_EQ(response["output"][0]["content"][0]["text"], "Let me look.");
  EXPECT_EQ(response["output"][1]["type"], "function_call");
  EXPECT_EQ(response["output"][1]["name"], "search");
  EXPECT_EQ(response["output"][1]["call_id"], "call_1");
  EXPECT_EQ(response["usage"]["input_tokens"], 40);

  ASSERT_EQ(upstream.requests().size(), 1u);
  const ChatRequest sent = upstream.requests()[0];
  EXPECT_EQ(sent.call_id, "s1/t2/r3/a1");
  ASSERT_GE(sent.messages.size(), 2u);
  EXPECT_EQ(sent.messages[0].role, "system");
  EXPECT_EQ(sent.messages[0].content, AppendLibrary("You are an agent.", library));
  EXPECT_EQ(sent.extra_body["tools"][0]["function"]["name"], "search");
  EXPECT_DOUBLE_EQ(sent.temperature, 0.9);
}

TEST(GatewayResponses, StreamedIsTheResponsesEventStream) {
  ScriptedClient upstream(testing::Answer("four"));
  auto gateway = StartGateway(TestOptions(), upstream);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(Ticket());
  ASSERT_TRUE(lease.ok());
  auto r = ClientFor(**gateway)->Post(LeasePath(**lease, "/responses"), ResponsesBody(true).dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  std::vector<std::string> types;
  std::string text;
  for (const auto& e : SseEvents(r->body)) {
    types.push_back(e["type"]);
    if (e["type"] == "response.output_text.delta") text += e["delta"].get<std::string>();
  }
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.front(), "response.created");
  EXPECT_EQ(types.back(), "response.completed");
  EXPECT_EQ(text, "four");
}

TEST(GatewayResponses, UnsupportedFieldsAre400NamingTheFieldAndCountAsTurns) {
  ScriptedClient upstream(testing::Answer("x"));
  auto gateway = StartGateway(TestOptions(), upstream);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(Ticket());
  ASSERT_TRUE(lease.ok());
  nlohmann::json body = ResponsesBody(false);
  body["previous_response_id"] = "resp_123";
  auto r = ClientFor(**gateway)->Post(LeasePath(**lease, "/responses"), body.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  nlohmann::json error = nlohmann::json::parse(r->body)["error"];
  EXPECT_EQ(error["param"], "previous_response_id");
  EXPECT_TRUE(upstream.requests().empty());
  EXPECT_EQ((*lease)->Calls().at(0).http_status, 400);
}

TEST(GatewayResponses, BearerOnBareV1) {
  ScriptedClient upstream(testing::Answer("x"));
  auto gateway = StartGateway(TestOptions(), upstream);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(Ticket());
  ASSERT_TRUE(lease.ok());
  auto client = ClientFor(**gateway);
  client->set_bearer_token_auth((*lease)->token());
  auto r = client->Post("/v1/responses", ResponsesBody(false).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

}  // namespace
}  // namespace tfgrpo
