// The Responses API translation on its own: requests to chat completions (every item kind, tools,
// refusals naming the field), chat replies to Responses, and the event stream of a Response.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tfgrpo/responses_api.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

ordered_json Chat(const std::string& request_text) {
  auto chat = ResponsesToChat(ordered_json::parse(request_text));
  EXPECT_TRUE(chat.ok()) << chat.status().ToString();
  return chat.ok() ? *chat : ordered_json();
}

// The error a request gets: its message, and the field it names.
std::pair<std::string, std::string> Refusal(const std::string& request_text) {
  auto chat = ResponsesToChat(ordered_json::parse(request_text));
  EXPECT_FALSE(chat.ok()) << "accepted: " << request_text;
  if (chat.ok()) return {};
  EXPECT_EQ(chat.status().code(), Status::Code::kInvalidArgument);
  return {chat.status().message(), ResponsesErrorParam(chat.status())};
}

TEST(ResponsesToChat, StringInputAndInstructionsBecomeUserAndSystemMessages) {
  ordered_json chat = Chat(R"({"model":"m","instructions":"Be brief.","input":"2+2?",
                               "temperature":0.3,"top_p":0.9,"max_output_tokens":50})");
  EXPECT_EQ(chat.dump(), ordered_json::parse(R"({"model":"m","messages":[
      {"role":"system","content":"Be brief."},{"role":"user","content":"2+2?"}],
      "temperature":0.3,"top_p":0.9,"max_tokens":50})").dump());
  EXPECT_FALSE(chat.contains("stream"));
}

TEST(ResponsesToChat, EveryInputItemKindMapsToItsChatMessage) {
  ordered_json chat = Chat(R"({"model":"m","input":[
      {"role":"developer","content":"dev rules"},
      {"type":"message","role":"system","content":[{"type":"input_text","text":"sys a"},
                                                   {"type":"input_text","text":"sys b"}]},
      {"type":"message","role":"user","content":[{"type":"input_text","text":"weather in Paris?"}]},
      {"type":"message","role":"assistant","id":"msg_1","status":"completed",
       "content":[{"type":"output_text","text":"Let me look.","annotations":[]}]},
      {"type":"function_call","id":"fc_1","call_id":"call_a","name":"weather","arguments":"{\"city\":\"Paris\"}"},
      {"type":"function_call","call_id":"call_b","name":"time","arguments":"{}"},
      {"type":"function_call_output","call_id":"call_a","output":"18C"},
      {"type":"function_call_output","call_id":"call_b","output":[{"type":"input_text","text":"noon"}]},
      {"role":"user","content":[{"type":"input_text","text":"and this?"},
                                {"type":"input_image","image_url":"https://x/y.png","detail":"low"}]}]})");
  const ordered_json expected = ordered_json::parse(R"([
      {"role":"developer","content":"dev rules"},
      {"role":"system","content":"sys a\nsys b"},
      {"role":"user","content":"weather in Paris?"},
      {"role":"assistant","content":"Let me look.","tool_calls":[
         {"id":"call_a","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
         {"id":"call_b","type":"function","function":{"name":"time","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call_a","content":"18C"},
      {"role":"tool","tool_call_id":"call_b","content":"noon"},
      {"role":"user","content":[{"type":"text","text":"and this?"},
                                {"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}])");
  EXPECT_EQ(chat["messages"].dump(), expected.dump());
}

TEST(ResponsesToChat, AFunctionCallWithoutAPrecedingAssistantMessageGetsOneWithNullContent) {
  ordered_json chat = Chat(R"({"input":[{"role":"user","content":"hi"},
      {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
      {"type":"function_call_output","call_id":"c1","output":"ok"}]})");
  ASSERT_EQ(chat["messages"].size(), 3u);
  EXPECT_EQ(chat["messages"][1]["role"], "assistant");
  EXPECT_TRUE(chat["messages"][1]["content"].is_null());
  EXPECT_EQ(chat["messages"][1]["tool_calls"][0]["id"], "c1");
  EXPECT_EQ(chat["messages"][2]["tool_call_id"], "c1");
}

TEST(ResponsesToChat, FlatFunctionToolsBecomeNestedAndToolChoiceFollows) {
  ordered_json chat = Chat(R"({"input":"x","parallel_tool_calls":false,
      "tools":[{"type":"function","name":"weather","description":"Weather now",
                "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},
                "strict":true}],
      "tool_choice":{"type":"function","name":"weather"}})");
  EXPECT_EQ(chat["tools"].dump(), ordered_json::parse(R"([{"type":"function","function":{
      "name":"weather","description":"Weather now",
      "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},
      "strict":true}}])").dump());
  EXPECT_EQ(chat["tool_choice"].dump(), R"({"type":"function","function":{"name":"weather"}})");
  EXPECT_EQ(chat["parallel_tool_calls"], false);
  for (const char* choice : {"auto", "none", "required"}) {
    EXPECT_EQ(Chat(std::string(R"({"input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":")") + choice +
                   "\"}")["tool_choice"],
              choice);
  }
  // Without tools, chat providers refuse tool_choice and parallel_tool_calls: they are left out.
  ordered_json bare = Chat(R"({"input":"x","tools":[],"tool_choice":"auto","parallel_tool_calls":true})");
  EXPECT_FALSE(bare.contains("tool_choice"));
  EXPECT_FALSE(bare.contains("parallel_tool_calls"));
  EXPECT_FALSE(bare.contains("tools"));
}

TEST(ResponsesToChat, TextFormatAndReasoningEffortMap) {
  ordered_json chat = Chat(R"({"input":"x","text":{"format":{"type":"json_schema","name":"answer",
      "schema":{"type":"object"},"strict":true},"verbosity":"low"},"reasoning":{"effort":"low"}})");
  EXPECT_EQ(chat["response_format"].dump(),
            R"({"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"},"strict":true}})");
  EXPECT_EQ(chat["verbosity"], "low");
  EXPECT_EQ(chat["reasoning_effort"], "low");
  EXPECT_FALSE(Chat(R"({"input":"x","text":{"format":{"type":"text"}}})").contains("response_format"));
}

TEST(ResponsesToChat, SdkDefaultsThatNeedNothingAreAccepted) {
  // What the OpenAI Agents SDK and the Vercel AI SDK send with default settings.
  ordered_json chat = Chat(R"({"model":"m","input":"x","include":[],"store":false,"stream":true,
      "previous_response_id":null,"conversation":null,"truncation":"disabled","metadata":{"a":"b"},
      "prompt_cache_key":"k","safety_identifier":"s","service_tier":"auto","tools":[],"background":false})");
  EXPECT_EQ(chat.dump(), R"({"model":"m","messages":[{"role":"user","content":"x"}]})");
}

TEST(ResponsesToChat, StatefulAndBuiltInFeaturesAreRefusedNamingTheField) {
  struct Case {
    std::string request;
    std::string param;
  };
  const std::vector<Case> cases = {
      {R"({"input":"x","previous_response_id":"resp_1"})", "previous_response_id"},
      {R"({"input":"x","conversation":"conv_1"})", "conversation"},
      {R"({"input":"x","store":true})", "store"},
      {R"({"input":"x","background":true})", "background"},
      {R"({"input":"x","prompt":{"id":"pmpt_1"}})", "prompt"},
      {R"({"input":"x","truncation":"auto"})", "truncation"},
      {R"({"input":"x","max_tool_calls":3})", "max_tool_calls"},
      {R"({"input":"x","tools":[{"type":"function","name":"f"},{"type":"web_search_preview"}]})", "tools[1].type"},
      {R"({"input":"x","tools":[{"type":"file_search","vector_store_ids":["v"]}]})", "tools[0].type"},
      {R"({"input":"x","tool_choice":{"type":"web_search_preview"}})", "tool_choice.type"},
      {R"({"input":[{"type":"reasoning","id":"rs_1","summary":[]}]})", "input[0].type"},
      {R"({"input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]})", "input[0].content[0].type"},
  };
  for (const Case& c : cases) {
    auto [message, param] = Refusal(c.request);
    EXPECT_EQ(param, c.param) << c.request;
    EXPECT_NE(message.find("is not supported"), std::string::npos) << message;
  }
}

TEST(ResponsesToChat, ItemReferencesResolveToTheItemsOfEarlierResponses) {
  ResponseItemCache cache;
  cache.Add(ordered_json::parse(R"({"output":[
      {"id":"msg_a","type":"message","status":"completed","role":"assistant",
       "content":[{"type":"output_text","text":"Paris.","annotations":[]}]},
      {"id":"fc_b","type":"function_call","status":"completed","call_id":"call_b","name":"f","arguments":"{}"}]})"));
  auto chat = ResponsesToChat(ordered_json::parse(R"({"input":[{"role":"user","content":"Capital of France?"},
      {"type":"item_reference","id":"msg_a"},{"type":"item_reference","id":"fc_b"},
      {"type":"function_call_output","call_id":"call_b","output":"done"}]})"),
                              cache.Lookup());
  ASSERT_TRUE(chat.ok()) << chat.status().ToString();
  EXPECT_EQ((*chat)["messages"].dump(), ordered_json::parse(R"([{"role":"user","content":"Capital of France?"},
      {"role":"assistant","content":"Paris.","tool_calls":[{"id":"call_b","type":"function","function":{"name":"f","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call_b","content":"done"}])").dump());

  // Unknown ids, and any id without a cache, name the reference.
  const std::string unknown = R"({"input":[{"type":"item_reference","id":"msg_zzz"}]})";
  for (const ResponseItemLookup& lookup : {cache.Lookup(), ResponseItemLookup()}) {
    auto refused = ResponsesToChat(ordered_json::parse(unknown), lookup);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(ResponsesErrorParam(refused.status()), "input[0].id");
    EXPECT_NE(refused.status().message().find("msg_zzz"), std::string::npos);
  }
  EXPECT_EQ(ResponsesErrorParam(ResponsesToChat(ordered_json::parse(R"({"input":[{"type":"item_reference"}]})"),
                                                cache.Lookup()).status()),
            "input[0].id");
}

TEST(ResponseItemCache, KeepsTheNewestItemsWithinItsByteBudget) {
  auto response = [](int i) {
    return ordered_json{{"output", ordered_json::array({ordered_json{{"id", "msg_" + std::to_string(i)},
                                                                     {"type", "message"},
                                                                     {"text", std::string(100, 'x')}}})}};
  };
  ResponseItemCache cache(1000);
  for (int i = 0; i < 50; ++i) cache.Add(response(i));
  EXPECT_LE(cache.bytes(), 1000u);
  EXPECT_TRUE(cache.Find("msg_49").has_value());
  EXPECT_FALSE(cache.Find("msg_0").has_value());
  cache.Add(ordered_json{{"output", ordered_json::array({ordered_json{{"id", "huge"}, {"t", std::string(5000, 'y')}}})}});
  EXPECT_FALSE(cache.Find("huge").has_value());
  EXPECT_TRUE(cache.Find("msg_49").has_value()) << "an item over the budget evicts nothing";
  cache.Add(ordered_json::parse(R"({"output":[{"type":"message"},7,{"id":3}]})"));  // nothing to keep
  cache.Add(ordered_json::parse(R"([1])"));
  EXPECT_TRUE(cache.Find("msg_49").has_value());
}

TEST(ResponsesToChat, MalformedRequestsGetAnErrorNamingTheField) {
  struct Case {
    std::string request;
    std::string param;
  };
  const std::vector<Case> cases = {
      {R"([1,2])", "body"},
      {R"({"model":"m"})", "input"},
      {R"({"input":[]})", "input"},
      {R"({"input":42})", "input"},
      {R"({"input":"x","model":7})", "model"},
      {R"({"input":"x","instructions":["a"]})", "instructions"},
      {R"({"input":"x","temperature":"hot"})", "temperature"},
      {R"({"input":"x","max_output_tokens":-1})", "max_output_tokens"},
      {R"({"input":"x","max_output_tokens":1.5})", "max_output_tokens"},
      {R"({"input":"x","stream":"yes"})", "stream"},
      {R"({"input":"x","tools":{}})", "tools"},
      {R"({"input":"x","tools":[{"type":"function"}]})", "tools[0].name"},
      {R"({"input":"x","tools":[{"type":"function","name":"f","parameters":"{}"}]})", "tools[0].parameters"},
      {R"({"input":"x","tool_choice":"sometimes"})", "tool_choice"},
      {R"({"input":"x","frobnicate":1})", "frobnicate"},
      {R"({"input":"x","":1})", "\"\""},
      {R"({"input":"x","text":{"format":{"type":"yaml"}}})", "text.format.type"},
      {R"({"input":[7]})", "input[0]"},
      {R"({"input":[{"content":"no role or type"}]})", "input[0].type"},
      {R"({"input":[{"type":"mystery_item"}]})", "input[0].type"},
      {R"({"input":[{"role":"tool","content":"x"}]})", "input[0].role"},
      {R"({"input":[{"role":"user"}]})", "input[0].content"},
      {R"({"input":[{"role":"user","content":5}]})", "input[0].content"},
      {R"({"input":[{"role":"user","content":[{"type":"input_text"}]}]})", "input[0].content[0].text"},
      {R"({"input":[{"role":"user","content":[{"type":"holo"}]}]})", "input[0].content[0].type"},
      {R"({"input":[{"role":"system","content":[{"type":"input_image","image_url":"u"}]}]})",
       "input[0].content[0].type"},
      {R"({"input":[{"type":"function_call","name":"f","arguments":"{}"}]})", "input[0].call_id"},
      {R"({"input":[{"type":"function_call","call_id":"c","name":"f","arguments":{}}]})", "input[0].arguments"},
      {R"({"input":[{"type":"function_call_output","call_id":"c"}]})", "input[0].output"},
      {R"({"input":[{"type":"function_call_output","call_id":"c","output":3}]})", "input[0].output"},
  };
  for (const Case& c : cases) {
    auto [message, param] = Refusal(c.request);
    EXPECT_EQ(param, c.param) << c.request << " -> " << message;
  }
}

TEST(ResponsesToChat, AHugeInputIsTranslatedWhole) {
  ordered_json request = {{"input", ordered_json::array()}};
  for (int i = 0; i < 5000; ++i) {
    request["input"].push_back({{"role", i % 2 ? "assistant" : "user"}, {"content", std::string(200, 'a' + i % 26)}});
  }
  auto chat = ResponsesToChat(request);
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ((*chat)["messages"].size(), 5000u);
}

json ChatReply(const std::string& content_json, const std::string& tool_calls_json = "null",
               const std::string& finish = "stop") {
  return json::parse(R"({"id":"chatcmpl-42","object":"chat.completion","created":1700000000,"model":"sim-1",
      "choices":[{"index":0,"message":{"role":"assistant","content":)" + content_json +
                     R"(,"tool_calls":)" + tool_calls_json + R"(},"finish_reason":")" + finish + R"("}],
      "usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,
               "prompt_tokens_details":{"cached_tokens":64}}})");
}

TEST(ChatToResponse, TextReplyBecomesOneMessageItemWithUsage) {
  ordered_json request = ordered_json::parse(R"({"model":"m","input":"x","instructions":"Be brief.","temperature":0.2})");
  auto response = ChatToResponse(ChatReply(R"("The answer is 4.")"), request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  const ordered_json& r = *response;
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["status"], "completed");
  EXPECT_TRUE(StartsWith(r["id"].get<std::string>(), "resp_"));
  EXPECT_EQ(r["created_at"], 1700000000);
  EXPECT_EQ(r["model"], "sim-1");
  EXPECT_EQ(r["instructions"], "Be brief.");
  EXPECT_EQ(r["temperature"], 0.2);
  EXPECT_EQ(r["store"], false);
  ASSERT_EQ(r["output"].size(), 1u);
  const ordered_json& item = r["output"][0];
  EXPECT_EQ(item["type"], "message");
  EXPECT_EQ(item["role"], "assistant");
  EXPECT_EQ(item["status"], "completed");
  EXPECT_TRUE(StartsWith(item["id"].get<std::string>(), "msg_"));
  EXPECT_EQ(item["content"].dump(), R"([{"type":"output_text","text":"The answer is 4.","annotations":[]}])");
  EXPECT_EQ(r["usage"].dump(), R"({"input_tokens":120,"input_tokens_details":{"cached_tokens":64},)"
                               R"("output_tokens":30,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":150})");
  // The same reply, the same ids.
  EXPECT_EQ(ChatToResponse(ChatReply(R"("The answer is 4.")"), request)->dump(), r.dump());
}

TEST(ChatToResponse, ToolCallsBecomeFunctionCallItemsAfterAnyText) {
  auto response = ChatToResponse(
      ChatReply(R"("Checking.")", R"([{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
                                     {"id":"call_2","type":"function","function":{"name":"time","arguments":"{}"}}])",
                "tool_calls"),
      ordered_json::parse(R"({"input":"x"})"));
  ASSERT_TRUE(response.ok());
  const ordered_json& out = (*response)["output"];
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]["type"], "message");
  EXPECT_EQ(out[1]["type"], "function_call");
  EXPECT_EQ(out[1]["call_id"], "call_1");
  EXPECT_EQ(out[1]["name"], "weather");
  EXPECT_EQ(out[1]["arguments"], "{\"city\":\"Paris\"}");
  EXPECT_EQ(out[1]["status"], "completed");
  EXPECT_TRUE(StartsWith(out[1]["id"].get<std::string>(), "fc_"));
  EXPECT_EQ(out[2]["call_id"], "call_2");
  EXPECT_NE(out[1]["id"], out[2]["id"]);
  EXPECT_EQ((*response)["status"], "completed");

  auto calls_only = ChatToResponse(ChatReply("null", R"([{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}])"),
                                   ordered_json::parse(R"({"input":"x"})"));
  ASSERT_TRUE(calls_only.ok());
  ASSERT_EQ((*calls_only)["output"].size(), 1u);
  EXPECT_EQ((*calls_only)["output"][0]["type"], "function_call");
}

TEST(ChatToResponse, LengthAndContentFilterMakeAnIncompleteResponse) {
  auto length = ChatToResponse(ChatReply(R"("cut")", "null", "length"), ordered_json::parse(R"({"input":"x"})"));
  ASSERT_TRUE(length.ok());
  EXPECT_EQ((*length)["status"], "incomplete");
  EXPECT_EQ((*length)["incomplete_details"]["reason"], "max_output_tokens");
  auto filtered = ChatToResponse(ChatReply(R"("")", "null", "content_filter"), ordered_json::parse(R"({"input":"x"})"));
  ASSERT_TRUE(filtered.ok());
  EXPECT_EQ((*filtered)["incomplete_details"]["reason"], "content_filter");
  EXPECT_TRUE((*filtered)["output"].empty());
}

TEST(ChatToResponse, CachedTokensFallBackToDeepSeeksField) {
  json reply = ChatReply(R"("x")");
  reply["usage"] = {{"prompt_tokens", 10}, {"completion_tokens", 2}, {"prompt_cache_hit_tokens", 8}};
  auto r = ChatToResponse(reply, ordered_json::parse(R"({"input":"x"})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["usage"]["input_tokens_details"]["cached_tokens"], 8);
  EXPECT_EQ((*r)["usage"]["total_tokens"], 12);
}

TEST(ChatToResponse, ARepliesWithoutAMessageAreErrors) {
  const ordered_json request = ordered_json::parse(R"({"input":"x"})");
  for (const char* reply : {R"([])", R"({})", R"({"choices":[]})", R"({"choices":[{"index":0}]})",
                            R"({"choices":[{"message":"hi"}]})",
                            R"({"choices":[{"message":{"content":"x","tool_calls":[{"id":"c"}]}}]})"}) {
    EXPECT_FALSE(ChatToResponse(json::parse(reply), request).ok()) << reply;
  }
}

// Reads an event stream back: each event's type and data, with the checks every SDK relies on.
std::vector<ordered_json> ParseEvents(const std::string& sse) {
  std::vector<ordered_json> events;
  size_t pos = 0;
  while (pos < sse.size()) {
    size_t end = sse.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated event";
    if (end == std::string::npos) break;
    std::string block = sse.substr(pos, end - pos);
    pos = end + 2;
    std::vector<std::string> lines = SplitLines(block);
    EXPECT_EQ(lines.size(), 2u) << block;
    if (lines.size() != 2) continue;
    EXPECT_TRUE(StartsWith(lines[0], "event: ")) << block;
    EXPECT_TRUE(StartsWith(lines[1], "data: ")) << block;
    ordered_json data = ordered_json::parse(lines[1].substr(6));
    EXPECT_EQ(data["type"], lines[0].substr(7));
    events.push_back(std::move(data));
  }
  return events;
}

TEST(ResponseEventStream, EventsComeInTheSdkOrderAndRebuildTheResponse) {
  auto response = ChatToResponse(
      ChatReply(R"("Checking the weather.")",
                R"([{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}])",
                "tool_calls"),
      ordered_json::parse(R"({"input":"x"})"));
  ASSERT_TRUE(response.ok());
  std::vector<ordered_json> events = ParseEvents(ResponseEventStream(*response));
  std::vector<std::string> types;
  for (size_t i = 0; i < events.size(); ++i) {
    types.push_back(events[i]["type"]);
    EXPECT_EQ(events[i]["sequence_number"], i);
  }
  const std::vector<std::string> expected = {
      "response.created", "response.in_progress",
      "response.output_item.added", "response.content_part.added", "response.output_text.delta",
      "response.output_text.done", "response.content_part.done", "response.output_item.done",
      "response.output_item.added", "response.function_call_arguments.delta",
      "response.function_call_arguments.done", "response.output_item.done", "response.completed"};
  EXPECT_EQ(types, expected);
  EXPECT_EQ(events[0]["response"]["status"], "in_progress");
  EXPECT_TRUE(events[0]["response"]["output"].empty());
  EXPECT_EQ(events.back()["response"].dump(), response->dump());

  // Rebuilt as a streaming client does, from the items and deltas alone.
  ordered_json output = ordered_json::array();
  std::string text, arguments;
  for (const auto& e : events) {
    if (e["type"] == "response.output_item.added") {
      EXPECT_EQ(e["item"]["status"], "in_progress");
      EXPECT_EQ(e["output_index"], output.size());
    }
    if (e["type"] == "response.output_text.delta") text += e["delta"].get<std::string>();
    if (e["type"] == "response.function_call_arguments.delta") arguments += e["delta"].get<std::string>();
    if (e["type"] == "response.output_item.done") output.push_back(e["item"]);
  }
  EXPECT_EQ(output.dump(), (*response)["output"].dump());
  EXPECT_EQ(text, "Checking the weather.");
  EXPECT_EQ(arguments, "{\"city\":\"Paris\"}");
  EXPECT_EQ(events[4]["item_id"], (*response)["output"][0]["id"]);
}

TEST(ResponseEventStream, AnIncompleteResponseEndsWithResponseIncomplete) {
  auto response = ChatToResponse(ChatReply(R"("cut")", "null", "length"), ordered_json::parse(R"({"input":"x"})"));
  ASSERT_TRUE(response.ok());
  std::vector<ordered_json> events = ParseEvents(ResponseEventStream(*response));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["type"], "response.incomplete");
  EXPECT_EQ(events.back()["response"]["status"], "incomplete");
}

}  // namespace
}  // namespace tfgrpo
