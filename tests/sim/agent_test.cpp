// The simulator's agent protocol: a python tool call first (native tool_calls or a ```python
// block), then a final answer consistent with the code it ran; success still follows the
// library; and the strict checks on tool turns that a real OpenAI-compatible server applies.
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
using simtest::SystemWithLibrary;

// What the agent module declares; kept literal here so the simulator's tests stand alone.
json PythonTools() {
  return json::array({{{"type", "function"},
                       {"function",
                        {{"name", "python"},
                         {"description", "Run a Python script."},
                         {"parameters",
                          {{"type", "object"},
                           {"properties", {{"code", {{"type", "string"}}}}},
                           {"required", {"code"}}}}}}}});
}

const char* kTextProtocol =
    "You can run Python code in a fenced block:\n```python\nprint(1)\n```\nand stop.";

json NativeBody(const std::string& system, const std::string& problem) {
  json body = simtest::Body(system, problem);
  body["tools"] = PythonTools();
  return body;
}

json Message(const json& response) { return response["choices"][0]["message"]; }

// One whole agent rollout against the model; returns {first turn's message, final content}.
struct AgentRun {
  json first;
  std::string finish_reason;
  std::string final_content;
  std::string code;
};

AgentRun RunNative(SimModel& model, const std::string& system, const std::string& problem,
                   const std::string& call_id, const std::string& tool_output = "42\n") {
  AgentRun run;
  json body = NativeBody(system, problem);
  json r0 = model.Respond(body, "rollout", call_id + "/turn0");
  run.first = Message(r0);
  run.finish_reason = r0["choices"][0]["finish_reason"];
  if (!run.first.contains("tool_calls")) return run;
  json call = run.first["tool_calls"][0];
  run.code = json::parse(call["function"]["arguments"].get<std::string>())["code"];
  body["messages"].push_back(run.first);
  body["messages"].push_back(
      {{"role", "tool"}, {"tool_call_id", call["id"]}, {"content", tool_output}});
  run.final_content = simtest::Content(model.Respond(body, "rollout", call_id + "/turn1"));
  return run;
}

AgentRun RunText(SimModel& model, const std::string& system, const std::string& problem,
                 const std::string& call_id) {
  AgentRun run;
  json body = simtest::Body(system, problem);
  json r0 = model.Respond(body, "rollout", call_id + "/turn0");
  run.first = Message(r0);
  run.finish_reason = r0["choices"][0]["finish_reason"];
  body["messages"].push_back(run.first);
  body["messages"].push_back({{"role", "user"}, {"content", "Python output:\n```\n42\n```"}});
  run.final_content = simtest::Content(model.Respond(body, "rollout", call_id + "/turn1"));
  return run;
}

TEST(SimAgent, NativeCallsPythonThenAnswersConsistentlyWithTheCodeItRan) {
  SimOptions options;
  options.seed = 4;
  options.p_success_without = 0.5;
  SimModel model(options);
  int right = 0, wrong = 0, silent = 0;
  for (const auto& t : GenerateSimTasks(24, 8)) {
    std::string problem = t["problem"];
    AgentRun run =
        RunNative(model, simtest::kInstructions, problem, "e0/t" + t["id"].get<std::string>());
    ASSERT_TRUE(run.first.contains("tool_calls")) << run.first.dump();
    EXPECT_EQ(run.finish_reason, "tool_calls");
    const json& call = run.first["tool_calls"][0];
    EXPECT_EQ(call["type"], "function");
    EXPECT_EQ(call["function"]["name"], "python");
    EXPECT_TRUE(StartsWith(call["id"].get<std::string>(), "call_"));
    EXPECT_TRUE(run.first["content"].is_null() || run.first["content"].is_string());
    silent += run.first["content"].is_null();

    // The final answer follows the path the code took: the sound code with the right answer,
    // the pitfall's code with the pitfall's answer (whose text names the keyword).
    auto solved = sim_internal::SolveProblem(problem);
    std::string answer = Boxed(run.final_content);
    if (answer == solved.correct) {
      ++right;
      EXPECT_EQ(run.code, solved.success_code);
    } else {
      ++wrong;
      EXPECT_EQ(answer, solved.wrong) << run.final_content;
      EXPECT_EQ(run.code, solved.failure_code);
      EXPECT_TRUE(ContainsCaseInsensitive(run.final_content, SimPitfalls()[solved.pitfall].keyword))
          << run.final_content;
    }
    EXPECT_NE(solved.success_code, solved.failure_code);
  }
  EXPECT_GT(right, 3);
  EXPECT_GT(wrong, 3);
  EXPECT_GT(silent, 0) << "some tool calls come without text";
  EXPECT_LT(silent, 24) << "some come with a thought";
}

TEST(SimAgent, TheFinalAnswerDoesNotDependOnWhatTheToolPrinted) {
  SimOptions options;
  options.p_success_without = 0.5;
  SimModel model(options);
  for (const auto& t : GenerateSimTasks(12, 2)) {
    std::string id = "r/" + t["id"].get<std::string>();
    AgentRun a = RunNative(model, simtest::kInstructions, t["problem"], id, "1547.0\n");
    AgentRun b = RunNative(model, simtest::kInstructions, t["problem"], id,
                           "Traceback (most recent call last):\nNameError\n[exit code 1]\n");
    EXPECT_EQ(a.first, b.first);
    EXPECT_EQ(a.final_content, b.final_content);
  }
}

TEST(SimAgent, TextProtocolWritesAPythonBlockThenAnswers) {
  SimOptions options;
  options.p_success_without = 0.5;
  SimModel model(options);
  std::string system = std::string(simtest::kInstructions) + "\n\n" + kTextProtocol;
  for (const auto& t : GenerateSimTasks(12, 6)) {
    std::string problem = t["problem"];
    AgentRun run = RunText(model, system, problem, "x/" + t["id"].get<std::string>());
    EXPECT_EQ(run.finish_reason, "stop");
    EXPECT_FALSE(run.first.contains("tool_calls"));
    std::string first = run.first["content"];
    auto solved = sim_internal::SolveProblem(problem);
    std::string answer = Boxed(run.final_content);
    ASSERT_TRUE(answer == solved.correct || answer == solved.wrong) << run.final_content;
    const std::string& code = answer == solved.correct ? solved.success_code : solved.failure_code;
    EXPECT_NE(first.find("```python\n" + code + "\n```"), std::string::npos) << first;
    EXPECT_TRUE(Boxed(first).empty()) << "no answer before the tool ran";
  }
}

TEST(SimAgent, SuccessFollowsTheLibraryAsInPromptMode) {
  SimOptions options;
  options.seed = 3;
  SimModel model(options);
  auto tasks = GenerateSimTasks(24, 21);
  std::vector<std::string> all;
  for (const auto& p : SimPitfalls()) all.push_back(p.experience);
  auto rate = [&](const std::string& system, bool native) {
    int wins = 0, total = 0;
    for (const auto& t : tasks) {
      for (int r = 0; r < 10; ++r) {
        std::string id = "e0/t" + t["id"].get<std::string>() + "/r" + std::to_string(r);
        std::string problem = t["problem"];
        AgentRun run = native ? RunNative(model, system, problem, id)
                              : RunText(model, system + "\n\n" + kTextProtocol, problem, id);
        wins += Boxed(run.final_content) == t["groundtruth"].get<std::string>();
        ++total;
      }
    }
    return static_cast<double>(wins) / total;
  };
  for (bool native : {true, false}) {
    EXPECT_NEAR(rate(simtest::kInstructions, native), options.p_success_without, 0.07) << native;
    EXPECT_NEAR(rate(SystemWithLibrary(all), native), options.p_success_with, 0.07) << native;
  }
}

TEST(SimAgent, NoToolsOrSearchOnAMathProblemKeepThePromptModeAnswer) {
  SimModel model(SimOptions{});
  auto t = GenerateSimTasks(1, 3)[0];
  json body = simtest::Body(simtest::kInstructions, t["problem"]);
  body["tools"] = json::array();
  json r = model.Respond(body, "rollout", "a");
  EXPECT_FALSE(Message(r).contains("tool_calls"));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(Boxed(simtest::Content(r)).empty());
  // The built-in agent offered search on a math problem: not a question to research.
  body["tools"] = json::array({{{"type", "function"}, {"function", {{"name", "search"}}}}});
  json searched = model.Respond(body, "rollout", "b/turn0");
  EXPECT_FALSE(Message(searched).contains("tool_calls")) << searched.dump();
  EXPECT_FALSE(Boxed(simtest::Content(searched)).empty());
  // (Other native tools are the user's own agent's: tool_agent_test.cpp.)
  // Summaries never act as agents, even when the request declares the tool.
  json summary = NativeBody("", "Summarise: " + t["problem"].get<std::string>());
  EXPECT_FALSE(Message(model.Respond(summary, "summary", "s")).contains("tool_calls"));
}

// The text protocol's tool list as the agent module writes it (src/agent/tool_protocol.cpp).
std::string ToolList(const std::vector<std::string>& names) {
  std::string out = "Tools you can call (each with what it does, then its arguments as a JSON schema):\n";
  for (const auto& n : names) out += "- " + n + ": Does " + n + ".\n  More about it.\n  arguments: {\"type\":\"object\"}\n";
  return out + "\nTo call a tool, write a fenced ```tool block.";
}

TEST(SimAgent, ReadsTheOfferedToolsFromTheRequestOrTheTextToolList) {
  json native = simtest::Body("", "q");
  native["tools"] = json::array({{{"type", "function"}, {"function", {{"name", "search"}}}},
                                 {{"type", "function"}, {"function", {{"name", "python"}}}}});
  auto offered = sim_internal::ReadOfferedTools(native, ToolList({"browse"}));
  EXPECT_TRUE(offered.native);
  EXPECT_EQ(offered.names, (std::vector<std::string>{"search", "python"})) << "native tools win";

  auto listed = sim_internal::ReadOfferedTools(simtest::Body("", "q"), "Solve it.\n\n" + ToolList({"search", "python"}));
  EXPECT_FALSE(listed.native);
  EXPECT_TRUE(listed.listed);
  EXPECT_EQ(listed.names, (std::vector<std::string>{"search", "python"}));

  auto none = sim_internal::ReadOfferedTools(simtest::Body("", "q"), "Solve it.\n- not: a tool list\n");
  EXPECT_FALSE(none.listed);
  EXPECT_TRUE(none.names.empty());
}

TEST(SimAgent, ActsAsAnAgentOnlyWhenPythonIsAmongTheOfferedTools) {
  SimModel model(SimOptions{});
  auto t = GenerateSimTasks(1, 4)[0];
  const std::string base = std::string(simtest::kInstructions) + "\n\n";
  // Listed in the text protocol (without the python fence): a python block.
  json with_python = simtest::Body(base + ToolList({"search", "python"}), t["problem"]);
  std::string first = simtest::Content(model.Respond(with_python, "rollout", "a/turn0"));
  EXPECT_NE(first.find("```python\n"), std::string::npos) << first;
  // Only other tools listed: the prompt-mode answer, even with a python fence elsewhere.
  json without = simtest::Body(base + ToolList({"search"}) + "\n```python\nprint(1)\n```", t["problem"]);
  std::string direct = simtest::Content(model.Respond(without, "rollout", "b/turn0"));
  EXPECT_EQ(direct.find("```python"), std::string::npos) << direct;
  EXPECT_FALSE(Boxed(direct).empty()) << direct;
  // Natively offered among others: still the python call.
  json native = NativeBody(simtest::kInstructions, t["problem"]);
  native["tools"].insert(native["tools"].begin(),
                         json{{"type", "function"}, {"function", {{"name", "search"}}}});
  json call = Message(model.Respond(native, "rollout", "c/turn0"));
  ASSERT_TRUE(call.contains("tool_calls")) << call.dump();
  EXPECT_EQ(call["tool_calls"][0]["function"]["name"], "python");
}

TEST(SimAgent, ToolCallArgumentsCountAsCompletionAndPromptTokens) {
  SimModel model(SimOptions{});
  auto t = GenerateSimTasks(1, 5)[0];
  json body = NativeBody(simtest::kInstructions, t["problem"]);
  json r0 = model.Respond(body, "rollout", "u/turn0");
  std::string arguments = Message(r0)["tool_calls"][0]["function"]["arguments"];
  std::string content =
      Message(r0)["content"].is_string() ? Message(r0)["content"].get<std::string>() : "";
  EXPECT_EQ(r0["usage"]["completion_tokens"], ApproxTokens(content + arguments));
  body["messages"].push_back(Message(r0));
  body["messages"].push_back(
      {{"role", "tool"}, {"tool_call_id", Message(r0)["tool_calls"][0]["id"]}, {"content", "7"}});
  json r1 = model.Respond(body, "rollout", "u/turn1");
  EXPECT_EQ(r1["usage"]["prompt_tokens"],
            ApproxTokens(std::string(simtest::kInstructions) + t["problem"].get<std::string>() +
                         content + arguments + "7"));
}

// ---- Strict tool history ----------------------------------------------------------------------

json ToolCall(const std::string& id) {
  return {{"id", id},
          {"type", "function"},
          {"function", {{"name", "python"}, {"arguments", "{\"code\":\"1\"}"}}}};
}

json History(json assistant, std::vector<json> tools) {
  json m =
      json::array({{{"role", "system"}, {"content", "s"}}, {{"role", "user"}, {"content", "q"}}});
  m.push_back(assistant);
  for (auto& t : tools) m.push_back(t);
  return m;
}

json ToolAnswer(const std::string& id) {
  return {{"role", "tool"}, {"tool_call_id", id}, {"content", "1"}};
}

TEST(SimToolHistory, AcceptsWellFormedTurnsAndNamesWhatIsWrongOtherwise) {
  using sim_internal::ToolHistoryProblem;
  json two_calls = {
      {"role", "assistant"}, {"content", nullptr}, {"tool_calls", {ToolCall("a"), ToolCall("b")}}};
  EXPECT_EQ(ToolHistoryProblem(History(two_calls, {ToolAnswer("b"), ToolAnswer("a")})), "");
  json answered = History(two_calls, {ToolAnswer("a"), ToolAnswer("b")});
  answered.push_back({{"role", "assistant"}, {"content", "done"}});
  EXPECT_EQ(ToolHistoryProblem(answered), "");
  EXPECT_EQ(ToolHistoryProblem(simtest::Body("s", "q")["messages"]), "");

  auto problem = [](const json& messages) { return sim_internal::ToolHistoryProblem(messages); };
  EXPECT_NE(problem(History(two_calls, {ToolAnswer("a")})).find("tool call 'b'"),
            std::string::npos);
  EXPECT_NE(problem(History(two_calls, {ToolAnswer("a"), ToolAnswer("zzz")})).find("'zzz'"),
            std::string::npos);
  EXPECT_NE(problem(History({{"role", "assistant"}, {"content", "hi"}}, {ToolAnswer("a")}))
                .find("messages[3]"),
            std::string::npos);
  EXPECT_NE(
      problem(History({{"role", "assistant"}, {"content", nullptr}}, {})).find("needs 'content'"),
      std::string::npos);
  EXPECT_NE(problem(History({{"role", "assistant"}, {"tool_calls", json::array()}}, {}))
                .find("non-empty"),
            std::string::npos);
  json object_arguments = ToolCall("a");
  object_arguments["function"]["arguments"] = {{"code", "1"}};
  EXPECT_NE(
      problem(
          History({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", {object_arguments}}},
                  {ToolAnswer("a")}))
          .find("arguments must be a string"),
      std::string::npos);
}

TEST(SimToolHistory, TheServerRejectsABrokenHistoryWith400) {
  SimServer server(SimOptions{});
  ASSERT_TRUE(server.Start(0).ok());
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(10, 0);
  httplib::Headers headers = {{std::string(kRoleHeader), "rollout"},
                              {std::string(kCallIdHeader), "x/turn1"}};
  json call = {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", {ToolCall("a")}}};

  json broken = {{"model", "sim-1"}, {"messages", History(call, {})}, {"tools", PythonTools()}};
  auto bad = client.Post("/v1/chat/completions", headers, broken.dump(), "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  json error = json::parse(bad->body)["error"];
  EXPECT_EQ(error["type"], "invalid_request_error");
  EXPECT_NE(error["message"].get<std::string>().find("tool call 'a'"), std::string::npos)
      << error.dump();

  json fine = {
      {"model", "sim-1"}, {"messages", History(call, {ToolAnswer("a")})}, {"tools", PythonTools()}};
  auto ok = client.Post("/v1/chat/completions", headers, fine.dump(), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_FALSE(Boxed(simtest::Content(json::parse(ok->body))).empty());
}

}  // namespace
}  // namespace tfgrpo
