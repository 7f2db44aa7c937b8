// The simulator inside the user's own agent (task.mode external): offered the agent's own tools it
// calls the first one once (its first required string parameter filled with the problem), then
// answers as in prompt mode, success following the injected library; and its `stream: true`
// answers, whose chunks reassemble to the same message.
#include <gtest/gtest.h>
#include <httplib.h>

#include "sim/sim_internal.h"
#include "sim_test_util.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using json = nlohmann::json;
using simtest::Boxed;

json Tool(const std::string& name, json parameters) {
  return {{"type", "function"},
          {"function", {{"name", name}, {"description", "Does " + name + "."}, {"parameters", std::move(parameters)}}}};
}

// What an agent framework sends: its own system prompt, the problem, its own tools.
json AgentBody(const std::string& system, const std::string& problem) {
  json body = simtest::Body(system, problem);
  body["tools"] = json::array(
      {Tool("find_numbers", {{"type", "object"},
                             {"properties", {{"limit", {{"type", "integer"}}}, {"text", {{"type", "string"}}}}},
                             {"required", {"limit", "text"}}}),
       Tool("calculator", {{"type", "object"}, {"properties", {{"expression", {{"type", "string"}}}}}})});
  return body;
}

json Message(const json& response) { return response["choices"][0]["message"]; }

struct ToolRun {
  json first;
  json second;
};

// One rollout as the gateway numbers its calls: "<rollout>/a1" then "<rollout>/a2".
ToolRun RunAgent(SimModel& model, const std::string& system, const std::string& problem,
                 const std::string& rollout_id, const std::string& tool_output = "[4, 16, 28]") {
  ToolRun run;
  json body = AgentBody(system, problem);
  run.first = model.Respond(body, "rollout", rollout_id + "/a1");
  const json call = Message(run.first);
  body["messages"].push_back(call);
  if (call.contains("tool_calls")) {
    body["messages"].push_back(
        {{"role", "tool"}, {"tool_call_id", call["tool_calls"][0]["id"]}, {"content", tool_output}});
  }
  run.second = model.Respond(body, "rollout", rollout_id + "/a2");
  return run;
}

TEST(SimToolAgent, CallsTheFirstToolWithTheProblemThenAnswers) {
  SimModel model(SimOptions{.seed = 2});
  int silent = 0;
  for (const auto& t : GenerateSimTasks(12, 5)) {
    const std::string problem = t["problem"];
    ToolRun run = RunAgent(model, "You are a careful assistant. Answer in \\boxed{}.", problem,
                           "s0/t" + t["id"].get<std::string>() + "/r0");
    const json first = Message(run.first);
    ASSERT_TRUE(first.contains("tool_calls")) << first.dump();
    EXPECT_EQ(run.first["choices"][0]["finish_reason"], "tool_calls");
    ASSERT_EQ(first["tool_calls"].size(), 1u);
    const json& call = first["tool_calls"][0];
    EXPECT_EQ(call["type"], "function");
    EXPECT_TRUE(StartsWith(call["id"].get<std::string>(), "call_"));
    EXPECT_EQ(call["function"]["name"], "find_numbers") << "the first tool offered";
    // Arguments are JSON text holding the first required string parameter ("limit" is an integer).
    EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()), (json{{"text", problem}}));
    silent += first["content"].is_null();

    const json second = Message(run.second);
    EXPECT_FALSE(second.contains("tool_calls")) << "one tool call per rollout, then the answer";
    EXPECT_EQ(run.second["choices"][0]["finish_reason"], "stop");
    auto solved = sim_internal::SolveProblem(problem);
    const std::string answer = Boxed(second["content"].get<std::string>());
    EXPECT_TRUE(answer == solved.correct || answer == solved.wrong) << second.dump();
  }
  EXPECT_GT(silent, 0) << "some tool calls come without text";
  EXPECT_LT(silent, 12) << "some come with a thought";
}

TEST(SimToolAgent, TheFirstRequiredStringParameterIsTheArgument) {
  using sim_internal::FirstRequiredStringParameter;
  auto tool = [](json parameters) { return Tool("t", std::move(parameters)); };
  EXPECT_EQ(FirstRequiredStringParameter(tool({{"type", "object"},
                                               {"properties", {{"a", {{"type", "string"}}}, {"b", {{"type", "string"}}}}},
                                               {"required", {"b", "a"}}})),
            "b")
      << "the order of `required`, not of `properties`";
  EXPECT_EQ(FirstRequiredStringParameter(tool({{"type", "object"},
                                               {"properties", {{"n", {{"type", "number"}}}, {"q", {{"type", json::array({"string", "null"})}}}}},
                                               {"required", {"n", "q"}}})),
            "q")
      << "a nullable string is a string";
  EXPECT_EQ(FirstRequiredStringParameter(tool({{"type", "object"}, {"properties", {{"q", {{"type", "string"}}}}}})), "")
      << "nothing required";
  EXPECT_EQ(FirstRequiredStringParameter(tool({{"type", "object"}, {"required", {"q"}}})), "") << "no properties";
  EXPECT_EQ(FirstRequiredStringParameter(json{{"type", "function"}, {"function", {{"name", "t"}}}}), "");
  EXPECT_EQ(FirstRequiredStringParameter(json("not a tool")), "");

  // A tool without a string parameter is called with {}; a long problem is cut (one line).
  SimModel model(SimOptions{});
  json body = simtest::Body("", std::string(3000, 'x') + "\n\nWhat is 2 + 2?");
  body["tools"] = json::array({{{"type", "function"}, {"function", {{"name", "get_time"}}}}});
  json call = Message(model.Respond(body, "rollout", "r/a1"))["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "get_time");
  EXPECT_EQ(call["function"]["arguments"], "{}");
  body["tools"] = json::array({Tool("lookup", {{"type", "object"},
                                                {"properties", {{"query", {{"type", "string"}}}}},
                                                {"required", {"query"}}})});
  call = Message(model.Respond(body, "rollout", "r/a1"))["tool_calls"][0];
  const std::string query = json::parse(call["function"]["arguments"].get<std::string>())["query"];
  EXPECT_EQ(query.size(), 1000u);
  EXPECT_EQ(query.find('\n'), std::string::npos);
}

TEST(SimToolAgent, AToolAlreadyCalledMeansTheAnswerWhateverCameBack) {
  SimModel model(SimOptions{.p_success_without = 0.5});
  for (const auto& t : GenerateSimTasks(8, 9)) {
    const std::string id = "s1/t" + t["id"].get<std::string>() + "/r3";
    ToolRun a = RunAgent(model, "Answer in \\boxed{}.", t["problem"], id, "[1, 2]");
    ToolRun b = RunAgent(model, "Answer in \\boxed{}.", t["problem"], id, "Error: tool crashed");
    EXPECT_EQ(Message(a.first), Message(b.first));
    EXPECT_EQ(Message(a.second)["content"], Message(b.second)["content"]);
  }
  // A history where the agent ran a tool the model never asked for (some frameworks pre-call
  // tools) still gets the answer, not a tool call.
  json body = AgentBody("Answer in \\boxed{}.", GenerateSimTasks(1, 9)[0]["problem"]);
  body["messages"].push_back({{"role", "assistant"},
                              {"content", nullptr},
                              {"tool_calls", json::array({{{"id", "c9"},
                                                           {"type", "function"},
                                                           {"function", {{"name", "calculator"}, {"arguments", "{}"}}}}})}});
  body["messages"].push_back({{"role", "tool"}, {"tool_call_id", "c9"}, {"content", "0"}});
  EXPECT_FALSE(Message(model.Respond(body, "rollout", "x/a2")).contains("tool_calls"));
}

TEST(SimToolAgent, OneRolloutsCallsShareOneDrawWhateverTheirNumbers) {
  SimModel model(SimOptions{.p_success_without = 0.5});
  int differs = 0;
  for (const auto& t : GenerateSimTasks(16, 12)) {
    const std::string id = "s0/t" + t["id"].get<std::string>();
    json body = AgentBody("Answer in \\boxed{}.", t["problem"]);
    const json call = Message(model.Respond(body, "rollout", id + "/r0/a1"));
    body["messages"].push_back(call);
    body["messages"].push_back({{"role", "tool"}, {"tool_call_id", call["tool_calls"][0]["id"]}, {"content", "1"}});
    // A resumed rollout's calls can arrive with other numbers: the answer is the rollout's.
    const json a2 = Message(model.Respond(body, "rollout", id + "/r0/a2"));
    EXPECT_EQ(a2["content"], Message(model.Respond(body, "rollout", id + "/r0/a7"))["content"]);
    EXPECT_EQ(a2["content"], Message(model.Respond(body, "rollout", id + "/r0/turn1"))["content"]);
    // Another rollout of the same task draws again (group members differ).
    differs += Message(model.Respond(body, "rollout", id + "/r1/a2"))["content"] != a2["content"];
  }
  EXPECT_GT(differs, 0);
}

TEST(SimToolAgent, SuccessFollowsTheLibraryInjectedIntoTheAgentsSystemMessage) {
  SimOptions options{.seed = 6};
  SimModel model(options);
  const std::string own_prompt = "You are a math assistant with tools. Put the final answer in \\boxed{}.";
  std::string library = "\n\n" + std::string(kLibraryHeading);
  for (size_t i = 0; i < SimPitfalls().size(); ++i) {
    library += "\n[G" + std::to_string(i) + "]. " + SimPitfalls()[i].experience;
  }
  auto rate = [&](const std::string& system) {
    int wins = 0, total = 0;
    for (const auto& t : GenerateSimTasks(24, 31)) {
      for (int r = 0; r < 8; ++r) {
        const std::string id = "s0/t" + t["id"].get<std::string>() + "/r" + std::to_string(r);
        ToolRun run = RunAgent(model, system, t["problem"], id);
        wins += Boxed(Message(run.second)["content"].get<std::string>()) == t["groundtruth"].get<std::string>();
        ++total;
      }
    }
    return static_cast<double>(wins) / total;
  };
  EXPECT_NEAR(rate(own_prompt), options.p_success_without, 0.07);
  EXPECT_NEAR(rate(own_prompt + library), options.p_success_with, 0.07);
}

// ---- streaming ----

// The data: payloads of an event stream, in order.
std::vector<std::string> DataLines(const std::string& stream) {
  std::vector<std::string> out;
  for (const std::string& line : SplitLines(stream)) {
    if (StartsWith(line, "data: ")) out.push_back(line.substr(6));
  }
  return out;
}

// The assistant message the chunks of `stream` add up to, as an OpenAI client assembles it.
struct Assembled {
  json message = {{"role", ""}, {"content", ""}};
  std::string finish_reason;
  json usage;
  bool done = false;
  bool usage_on_every_chunk = true;
};
Assembled Assemble(const std::string& stream) {
  Assembled a;
  std::vector<std::string> data = DataLines(stream);
  EXPECT_FALSE(data.empty());
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] == "[DONE]") {
      EXPECT_EQ(i + 1, data.size()) << "[DONE] comes last";
      a.done = true;
      continue;
    }
    json chunk = json::parse(data[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    if (!chunk.contains("usage")) a.usage_on_every_chunk = false;
    if (chunk.contains("usage") && !chunk["usage"].is_null()) a.usage = chunk["usage"];
    if (chunk["choices"].empty()) continue;
    const json& choice = chunk["choices"][0];
    const json& delta = choice["delta"];
    if (delta.contains("role")) a.message["role"] = delta["role"];
    if (delta.contains("content") && delta["content"].is_string()) {
      a.message["content"] = a.message["content"].get<std::string>() + delta["content"].get<std::string>();
    }
    if (delta.contains("tool_calls")) {
      for (const json& d : delta["tool_calls"]) {
        const size_t index = d["index"];
        json& calls = a.message["tool_calls"];
        while (calls.size() <= index) calls.push_back({{"function", {{"name", ""}, {"arguments", ""}}}});
        if (d.contains("id")) calls[index]["id"] = d["id"];
        if (d.contains("type")) calls[index]["type"] = d["type"];
        if (d["function"].contains("name")) calls[index]["function"]["name"] = d["function"]["name"];
        calls[index]["function"]["arguments"] =
            calls[index]["function"]["arguments"].get<std::string>() + d["function"].value("arguments", "");
      }
    }
    if (!choice["finish_reason"].is_null()) a.finish_reason = choice["finish_reason"];
  }
  return a;
}

TEST(SimStream, ChunksAddUpToTheMessageWithToolCallDeltasAndUsage) {
  SimModel model(SimOptions{});
  const std::string problem = GenerateSimTasks(1, 4)[0]["problem"].get<std::string>() + " — naïve café ☕";
  json completion = model.Respond(AgentBody("Answer in \\boxed{}.", problem), "rollout", "z/a1");
  const json message = Message(completion);
  ASSERT_TRUE(message.contains("tool_calls"));

  const std::string stream = sim_internal::CompletionEventStream(completion, true);
  Assembled a = Assemble(stream);
  EXPECT_TRUE(a.done);
  EXPECT_EQ(a.message["role"], "assistant");
  EXPECT_EQ(a.message["content"], message["content"].is_null() ? json("") : message["content"]);
  EXPECT_EQ(a.message["tool_calls"], message["tool_calls"]);
  EXPECT_EQ(a.finish_reason, "tool_calls");
  EXPECT_EQ(a.usage, completion["usage"]);
  EXPECT_TRUE(a.usage_on_every_chunk) << "include_usage: usage null on every chunk but the last";
  EXPECT_GT(DataLines(stream).size(), 5u) << "arguments come in pieces";
  // No piece splits a UTF-8 sequence: each chunk is valid JSON text on its own (json::parse
  // above would have thrown), and the arguments still hold the problem intact.
  EXPECT_NE(a.message["tool_calls"][0]["function"]["arguments"].get<std::string>().find("naïve café ☕"),
            std::string::npos);

  json text = model.Respond(simtest::Body(simtest::kInstructions, problem), "rollout", "z");
  Assembled plain = Assemble(sim_internal::CompletionEventStream(text, false));
  EXPECT_EQ(plain.message["content"], Message(text)["content"]);
  EXPECT_FALSE(plain.message.contains("tool_calls"));
  EXPECT_EQ(plain.finish_reason, "stop");
  EXPECT_TRUE(plain.usage.is_null()) << "no usage unless asked for";
  EXPECT_FALSE(plain.usage_on_every_chunk);
}

TEST(SimStream, TheServerStreamsWhenAskedAndAnswersTheSameMessage) {
  SimServer server(SimOptions{.seed = 3});
  ASSERT_TRUE(server.Start(0).ok());
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(10, 0);
  const httplib::Headers headers = {{std::string(kRoleHeader), "rollout"}, {std::string(kCallIdHeader), "s0/t1/r0/a1"}};
  json body = AgentBody("Answer in \\boxed{}.", GenerateSimTasks(1, 8)[0]["problem"]);

  auto plain = client.Post("/v1/chat/completions", headers, body.dump(), "application/json");
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200);
  EXPECT_EQ(plain->get_header_value("Content-Type"), "application/json");
  const json expected = Message(json::parse(plain->body));

  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  auto streamed = client.Post("/v1/chat/completions", headers, body.dump(), "application/json");
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200);
  EXPECT_EQ(streamed->get_header_value("Content-Type"), "text/event-stream");
  Assembled a = Assemble(streamed->body);
  EXPECT_TRUE(a.done);
  EXPECT_EQ(a.message["tool_calls"], expected["tool_calls"]) << "streamed or not, the same answer";
  EXPECT_EQ(a.finish_reason, "tool_calls");
  EXPECT_GT(a.usage["prompt_tokens"].get<int64_t>(), 0);

  // A `stream` that is not a boolean is not a request to stream (and does not take the server down).
  body["stream"] = "yes";
  auto odd = client.Post("/v1/chat/completions", headers, body.dump(), "application/json");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->status, 200);
  EXPECT_EQ(Message(json::parse(odd->body))["tool_calls"], expected["tool_calls"]);
}

}  // namespace
}  // namespace tfgrpo
