// `POST /v1/responses` through `tfgrpo serve`, in-process: the translated chat completion that
// reaches the upstream (library injected into the instructions), the Response and its event
// stream coming back, and refusals and hostile upstreams.
#include <gtest/gtest.h>

#include <csignal>

#include "serve_test_util.h"
#include "tfgrpo/responses_api.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/sim.h"

namespace tfgrpo {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using namespace serve_testing;

class ResponsesServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    library_path_ = dir_.path() / "experiences.json";
    ASSERT_TRUE(DefaultLibrary().Save(library_path_).ok());
  }
  std::unique_ptr<ProxyServer> StartProxy(ServeOptions options) {
    auto proxy = std::make_unique<ProxyServer>(std::move(options));
    Status s = proxy->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return s.ok() ? std::move(proxy) : nullptr;
  }

  TempDir dir_;
  std::filesystem::path library_path_;
};

std::vector<ordered_json> ParseEvents(const std::string& sse) {
  std::vector<ordered_json> events;
  size_t pos = 0;
  while (pos < sse.size()) {
    size_t end = sse.find("\n\n", pos);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event: " << sse.substr(pos);
      break;
    }
    std::vector<std::string> lines = SplitLines(sse.substr(pos, end - pos));
    pos = end + 2;
    if (lines.size() != 2 || !StartsWith(lines[1], "data: ")) {
      ADD_FAILURE() << "malformed event";
      continue;
    }
    events.push_back(ordered_json::parse(lines[1].substr(6)));
  }
  return events;
}

const char kQuestion[] = "What is 2+2? Put the answer in \\boxed{}.";

TEST_F(ResponsesServeTest, SimulatorReceivesTheTranslatedRequestWithTheLibraryInItsInstructions) {
  SimServer sim(SimOptions{});
  ASSERT_TRUE(sim.Start(0).ok());
  auto proxy = StartProxy(OptionsFor(library_path_, sim.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  ordered_json request = {{"model", "sim-1"}, {"instructions", "Answer briefly."}, {"input", kQuestion}};
  auto r = client->Post("/v1/responses", request.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  json response = json::parse(r->body);
  EXPECT_EQ(response["object"], "response");
  EXPECT_EQ(response["status"], "completed");
  ASSERT_EQ(response["output"].size(), 1u);
  EXPECT_FALSE(response["output"][0]["content"][0]["text"].get<std::string>().empty());
  EXPECT_GT(response["usage"]["input_tokens"].get<int64_t>(), 0);
  EXPECT_EQ(response["instructions"], "Answer briefly.") << "the library is not echoed back";

  // Upstream saw exactly: the translation, then serve's injection into the system message.
  ordered_json expected = *ResponsesToChat(request);
  ASSERT_TRUE(*InjectLibrary(expected, DefaultLibrary()));
  EXPECT_EQ(expected["messages"][0]["content"], AppendLibrary("Answer briefly.", DefaultLibrary()));
  auto log = sim.RequestLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].body_fingerprint, Fingerprint(expected.dump()));
  std::string m = proxy->MetricsText();
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_requests_total{status=\"200\"}"), 1);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_injections_total"), 1);
}

TEST_F(ResponsesServeTest, StreamedAndPlainRepliesCarryTheSameResponse) {
  EchoUpstream upstream;  // answers with the system message it received
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  ordered_json request = {{"model", "sim-1"},
                          {"input", ordered_json::array({{{"role", "user"}, {"content", kQuestion}}})}};
  auto plain = client->Post("/v1/responses", request.dump(), "application/json");
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200) << plain->body;
  ordered_json response = ordered_json::parse(plain->body);
  // No instructions: the library arrives in a system message of its own, as for chat.
  EXPECT_EQ(response["output"][0]["content"][0]["text"], AppendLibrary("", DefaultLibrary()));
  EXPECT_EQ(response["usage"]["input_tokens"], 11);
  EXPECT_EQ(response["usage"]["output_tokens"], 7);
  EXPECT_EQ(response["usage"]["total_tokens"], 18);
  EXPECT_EQ(response["usage"]["input_tokens_details"]["cached_tokens"], 5);

  request["stream"] = true;
  httplib::Headers headers = {{"Accept", "text/event-stream"}};
  auto streamed = client->Post("/v1/responses", headers, request.dump(), "application/json");
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200) << streamed->body;
  EXPECT_TRUE(StartsWith(streamed->get_header_value("Content-Type"), "text/event-stream"));
  std::vector<ordered_json> events = ParseEvents(streamed->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front()["type"], "response.created");
  EXPECT_EQ(events.back()["type"], "response.completed");
  std::string text;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["sequence_number"], i);
    if (events[i]["type"] == "response.output_text.delta") text += events[i]["delta"].get<std::string>();
  }
  ordered_json completed = events.back()["response"];
  completed.erase("created_at");
  response.erase("created_at");
  EXPECT_EQ(completed.dump(), response.dump());
  EXPECT_EQ(text, AppendLibrary("", DefaultLibrary()));

  // Upstream was asked without streaming both times, and never told to stream.
  auto got = upstream.received();
  ASSERT_EQ(got.size(), 2u);
  for (const auto& r : got) {
    json body = json::parse(r.body);
    EXPECT_FALSE(body.contains("stream")) << r.body;
    EXPECT_EQ(body["messages"][0]["content"], AppendLibrary("", DefaultLibrary()));
    EXPECT_NE(r.headers.count("accept") ? r.headers.at("accept") : "", "text/event-stream");
  }
}

TEST_F(ResponsesServeTest, ToolsGoUpAsChatToolsAndToolCallsComeBackAsFunctionCalls) {
  Upstream upstream;
  std::string received;
  upstream.server().Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    received = req.body;
    res.set_content(R"({"id":"chatcmpl-t","object":"chat.completion","created":1,"model":"m",
        "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
        "tool_calls":[{"id":"call_9","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}}]}}],
        "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})",
                    "application/json");
  });
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  ordered_json request = ordered_json::parse(R"({"model":"m","instructions":"Use tools.",
      "input":[{"role":"user","content":[{"type":"input_text","text":"Weather in Oslo?"}]},
               {"type":"function_call","call_id":"call_0","name":"weather","arguments":"{\"city\":\"Bergen\"}"},
               {"type":"function_call_output","call_id":"call_0","output":"rain"}],
      "tools":[{"type":"function","name":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}],
      "tool_choice":"auto"})");
  for (bool stream : {false, true}) {
    request["stream"] = stream;
    auto r = client->Post("/v1/responses", request.dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    ordered_json response;
    if (stream) {
      std::vector<ordered_json> events = ParseEvents(r->body);
      ASSERT_FALSE(events.empty());
      std::string arguments;
      for (const auto& e : events) {
        if (e["type"] == "response.function_call_arguments.delta") arguments += e["delta"].get<std::string>();
      }
      EXPECT_EQ(arguments, "{\"city\":\"Oslo\"}");
      response = events.back()["response"];
    } else {
      response = ordered_json::parse(r->body);
    }
    ASSERT_EQ(response["output"].size(), 1u);
    EXPECT_EQ(response["output"][0]["type"], "function_call");
    EXPECT_EQ(response["output"][0]["call_id"], "call_9");
    EXPECT_EQ(response["output"][0]["name"], "weather");
    EXPECT_EQ(response["output"][0]["arguments"], "{\"city\":\"Oslo\"}");

    json up = json::parse(received);
    EXPECT_EQ(up["tools"][0]["function"]["name"], "weather");
    EXPECT_EQ(up["messages"][0]["content"], AppendLibrary("Use tools.", DefaultLibrary()));
    EXPECT_EQ(up["messages"][2]["tool_calls"][0]["id"], "call_0");
    EXPECT_EQ(up["messages"][3]["role"], "tool");
    EXPECT_EQ(up["messages"][3]["content"], "rain");
  }
}

TEST_F(ResponsesServeTest, ItemReferencesToAnEarlierResponseAreSentUpstreamAsTheItem) {
  // The Vercel AI SDK sends earlier assistant messages back as {"type":"item_reference","id"}.
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  auto first = client->Post("/v1/responses", R"({"instructions":"Be brief.","input":"hi"})", "application/json");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  json item = json::parse(first->body)["output"][0];
  ordered_json second = {{"instructions", "Be brief."},
                         {"input", ordered_json::array({{{"role", "user"}, {"content", "hi"}},
                                                        {{"type", "item_reference"}, {"id", item["id"]}},
                                                        {{"role", "user"}, {"content", "again"}}})}};
  auto r = client->Post("/v1/responses", second.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto got = upstream.received();
  ASSERT_EQ(got.size(), 2u);
  json messages = json::parse(got[1].body)["messages"];
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[2]["role"], "assistant");
  EXPECT_EQ(messages[2]["content"], item["content"][0]["text"]);

  second["input"][1]["id"] = "msg_never_seen";
  r = client->Post("/v1/responses", second.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "input[1].id");
  EXPECT_EQ(upstream.received().size(), 2u);
}

TEST_F(ResponsesServeTest, OptOutHeaderSendsTheTranslationWithoutTheLibrary) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  httplib::Headers headers = {{std::string(kExperiencesHeader), "off"}};
  auto r = client->Post("/v1/responses", headers, R"({"instructions":"plain","input":"hi"})", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["output"][0]["content"][0]["text"], "plain");
}

TEST_F(ResponsesServeTest, TopKRetrievesByTheUserInputText) {
  Library topics = MakeLibrary({"For probability questions, count the complement of at least one.",
                                "In geometry, draw the altitude of an isosceles triangle.",
                                "Re-read the question for the unit it asks for."});
  ASSERT_TRUE(topics.Save(library_path_).ok());
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  ServeOptions o = OptionsFor(library_path_, upstream.base_url());
  o.top_k = 1;
  auto proxy = StartProxy(o);
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  auto r = client->Post("/v1/responses",
                        R"({"instructions":"Be careful.","input":"What is the probability of at least one six?"})",
                        "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["output"][0]["content"][0]["text"], AppendLibrary("Be careful.", topics, {0}));
}

TEST_F(ResponsesServeTest, UnsupportedAndMalformedRequestsGet400NamingTheFieldAndNeverReachUpstream) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  struct Case {
    std::string body;
    std::string param;
    std::string code;
  };
  const std::vector<Case> cases = {
      {R"({"input":"x","previous_response_id":"resp_1"})", "previous_response_id", "unsupported_parameter"},
      {R"({"input":"x","store":true})", "store", "unsupported_parameter"},
      {R"({"input":"x","tools":[{"type":"web_search"}]})", "tools[0].type", "unsupported_parameter"},
      {R"({"input":[{"type":"computer_call_output"}]})", "input[0].type", "invalid_request"},
      {R"({"input":"x","temperature":"warm"})", "temperature", "invalid_request"},
  };
  for (const Case& c : cases) {
    auto r = client->Post("/v1/responses", c.body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << c.body;
    json error = json::parse(r->body)["error"];
    EXPECT_EQ(error["param"], c.param) << r->body;
    EXPECT_EQ(error["code"], c.code) << r->body;
    EXPECT_EQ(error["type"], "invalid_request_error");
  }
  // The request guard applies as on the chat route.
  auto r = client->Post("/v1/responses", "{\"input\": ", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "invalid_json");
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  r = client->Post("/v1/responses", "{\"input\":" + deep + "}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(json::parse(r->body)["error"]["message"].get<std::string>().find("deeper"), std::string::npos);
  r = client->Post("/v1/responses", std::string(kServeMaxBodyBytes + 1, ' '), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  r = client->Get("/v1/responses/resp_123");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "not_found");
  EXPECT_TRUE(upstream.received().empty());
}

TEST_F(ResponsesServeTest, ClientKeyIsRequired) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  ServeOptions o = OptionsFor(library_path_, upstream.base_url());
  o.client_api_key = "client-secret";
  auto proxy = StartProxy(o);
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  auto r = client->Post("/v1/responses", R"({"input":"x"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "invalid_api_key");
  r = client->Post("/v1/responses", {{"Authorization", "Bearer client-secret"}}, R"({"input":"x"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(upstream.received().size(), 1u);
  EXPECT_EQ(upstream.received()[0].headers.count("authorization"), 0u);
}

TEST_F(ResponsesServeTest, HostileUpstreamsGetOpenAiErrorsWithTheirStatus) {
  Upstream upstream;
  std::atomic<int> mode{0};
  const std::string kRateLimit =
      R"({"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}})";
  upstream.server().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    switch (mode.load()) {
      case 0:
        res.status = 429;
        res.set_header("Retry-After", "7");
        res.set_content(kRateLimit, "application/json");
        break;
      case 1:
        res.status = 500;
        res.set_content("<html>Internal Server Error</html>", "text/html");
        break;
      case 2:
        res.set_content("this is not json {{{", "application/json");
        break;
      case 3:
        res.set_content(std::string(5000, '[') + std::string(5000, ']'), "application/json");
        break;
      case 4:
        res.set_content(R"({"id":"x","choices":[]})", "application/json");
        break;
    }
  });
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  for (bool stream : {false, true}) {
    const std::string body = stream ? R"({"input":"x","stream":true})" : R"({"input":"x"})";
    mode = 0;
    auto r = client->Post("/v1/responses", body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429);
    EXPECT_EQ(r->body, kRateLimit);
    EXPECT_EQ(r->get_header_value("Retry-After"), "7");
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");

    mode = 1;
    r = client->Post("/v1/responses", body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "upstream_error");
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");

    for (int garbage : {2, 3, 4}) {
      mode = garbage;
      r = client->Post("/v1/responses", body, "application/json");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 502) << garbage;
      EXPECT_EQ(json::parse(r->body)["error"]["code"], "upstream_invalid_reply") << garbage;
    }
  }
  ServeOptions o = OptionsFor(library_path_, "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/v1");
  auto unreachable = StartProxy(o);
  ASSERT_TRUE(unreachable);
  auto r = ClientFor(*unreachable)->Post("/v1/responses", R"({"input":"x"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "upstream_unreachable");
}

}  // namespace
}  // namespace tfgrpo
