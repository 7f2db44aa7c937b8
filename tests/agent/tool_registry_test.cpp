// The tool registry (names, duplicates, the OpenAI `tools` array) and the ReAct loop with several
// tools in both protocols: dispatch by name, unknown tools, unusable arguments, tool errors shown
// to the model, failing tools, call order, the text protocol's tool list and ```tool blocks.
#include <gtest/gtest.h>

#include "agent/agent_test_util.h"
#include "tfgrpo/agent.h"
#include "tfgrpo/tool.h"

namespace tfgrpo {
namespace {

using namespace agenttest;  // NOLINT
using json = nlohmann::json;
using testing::Reply;
using testing::ScriptedClient;

ToolSpec MakeSpec(const std::string& name, const std::string& description, json properties,
              json required) {
  ToolSpec spec;
  spec.name = name;
  spec.description = description;
  spec.parameters = {{"type", "object"}, {"properties", properties}, {"required", required}};
  return spec;
}

ToolSpec SearchSpec() {
  return MakeSpec("search", "Search the web; returns numbered title / url / snippet results.",
              {{"query", {{"type", "string"}}}, {"top_k", {{"type", "integer"}}}}, {"query"});
}

ToolSpec BrowseSpec() {
  return MakeSpec("browse", "Read a page as text.\nLinks are kept as text.",
              {{"url", {{"type", "string"}}}, {"goal", {{"type", "string"}}}}, {"url", "goal"});
}

std::shared_ptr<FakeTool> Named(const std::string& name) {
  return std::make_shared<FakeTool>(MakeSpec(name, "A tool.", json::object(), json::array()));
}

// python, search and browse, in that order, each a FakeTool the test keeps.
struct ThreeTools {
  explicit ThreeTools(FakeTool::Answer search_answer = nullptr)
      : python(std::make_shared<FakeTool>(PythonToolSpec())),
        search(std::make_shared<FakeTool>(SearchSpec(), std::move(search_answer))),
        browse(std::make_shared<FakeTool>(BrowseSpec())) {
    EXPECT_TRUE(registry.Add(python).ok());
    EXPECT_TRUE(registry.Add(search).ok());
    EXPECT_TRUE(registry.Add(browse).ok());
  }
  std::shared_ptr<FakeTool> python, search, browse;
  ToolRegistry registry;
};

TEST(ToolRegistry, AcceptsNamesOfLettersDigitsUnderscoreAndDashUpTo64) {
  ToolRegistry registry;
  for (const std::string& name : std::vector<std::string>{"python", "get-sum", "fs_read_file", "A1", std::string(64, 'x')}) {
    EXPECT_TRUE(registry.Add(Named(name)).ok()) << name;
  }
  EXPECT_EQ(registry.tools().size(), 5u);
  EXPECT_FALSE(registry.empty());
  ASSERT_NE(registry.Find("get-sum"), nullptr);
  EXPECT_EQ(registry.Find("get-sum")->spec().name, "get-sum");
  EXPECT_EQ(registry.Find("get_sum"), nullptr);
  EXPECT_EQ(registry.Find("Python"), nullptr) << "names are case-sensitive";
  EXPECT_EQ(registry.Find(""), nullptr);
}

TEST(ToolRegistry, RefusesBadNamesDuplicatesAndNullTools) {
  ToolRegistry registry;
  for (const std::string& name : {std::string(), std::string("has space"), std::string("a.b"), std::string("a/b"),
                                 std::string("caf\xc3\xa9"), std::string(65, 'x'), std::string("tab\t")}) {
    Status s = registry.Add(Named(name));
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << name;
    EXPECT_NE(s.message().find("tool"), std::string::npos) << s.message();
  }
  Status long_name = registry.Add(Named(std::string(1000, 'y')));
  EXPECT_NE(long_name.message().find("1 to 64 characters"), std::string::npos) << long_name.message();
  EXPECT_LT(long_name.message().size(), 300u) << "a hostile name is not echoed whole";

  ASSERT_TRUE(registry.Add(Named("search")).ok());
  Status duplicate = registry.Add(Named("search"));
  EXPECT_EQ(duplicate.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(duplicate.message().find("'search' is already registered"), std::string::npos) << duplicate.message();
  EXPECT_EQ(registry.Add(nullptr).code(), Status::Code::kInvalidArgument);

  ToolSpec array_schema = SearchSpec();
  array_schema.name = "odd";
  array_schema.parameters = json::array();
  EXPECT_EQ(registry.Add(std::make_shared<FakeTool>(array_schema)).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(registry.tools().size(), 1u) << "nothing refused was added";
}

TEST(ToolRegistry, OpenAiToolsDeclaresEachToolInOrder) {
  ThreeTools t;
  json tools = t.registry.OpenAiTools();
  ASSERT_TRUE(tools.is_array());
  ASSERT_EQ(tools.size(), 3u);
  std::vector<std::string> names;
  for (const json& tool : tools) {
    EXPECT_EQ(tool["type"], "function");
    ASSERT_TRUE(tool["function"].is_object());
    EXPECT_EQ(tool["function"].size(), 3u) << tool.dump();
    names.push_back(tool["function"]["name"]);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"python", "search", "browse"}));
  EXPECT_EQ(tools[1]["function"]["description"], SearchSpec().description);
  EXPECT_EQ(tools[1]["function"]["parameters"], SearchSpec().parameters);
  EXPECT_EQ(tools[0]["function"]["parameters"], PythonToolSpec().parameters);
  EXPECT_EQ(ToolRegistry().OpenAiTools(), json::array());
}

TEST(ToolLoopNative, DispatchesEachCallByNameAndAnswersInOrder) {
  ThreeTools t;
  const json calls = json::array({Call("c1", R"({"query": "capital of France"})", "search"),
                                  Call("c2", CodeArguments("print(1)")),
                                  Call("c3", R"({"url": "https://a.example/", "goal": "capital"})", "browse"),
                                  Call("c4", R"({"query": "Paris"})", "search")});
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
                               [] { return Result<ChatResponse>(Reply("Paris.")); }}));
  auto out = RunRollout(client, agenttest::Spec(), AgentTask(), &t.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "answer");
  EXPECT_EQ(out->tool_calls, 4);
  EXPECT_EQ(t.search->calls(), (std::vector<json>{{{"query", "capital of France"}}, {{"query", "Paris"}}}));
  EXPECT_EQ(t.python->codes(), std::vector<std::string>{"print(1)"});
  EXPECT_EQ(t.browse->calls(), (std::vector<json>{{{"url", "https://a.example/"}, {"goal", "capital"}}}));

  json body = Body(client, 1);
  EXPECT_EQ(body["tools"], t.registry.OpenAiTools());
  json messages = body["messages"];
  ASSERT_EQ(messages.size(), 7u);
  EXPECT_EQ(messages[3], (json{{"role", "tool"}, {"tool_call_id", "c1"},
                               {"content", "ran: {\"query\":\"capital of France\"}\n"}}));
  EXPECT_EQ(messages[4]["content"], "ran: print(1)\n");
  EXPECT_EQ(messages[5]["tool_call_id"], "c3");
  EXPECT_EQ(messages[6], (json{{"role", "tool"}, {"tool_call_id", "c4"}, {"content", "ran: {\"query\":\"Paris\"}\n"}}));

  // The learner sees which tool each call went to, with its arguments and output, in order.
  const std::string& tr = out->trajectory;
  size_t c1 = tr.find("Tool call 1: search\n```\n{\"query\":\"capital of France\"}");
  size_t c2 = tr.find("Tool call 2: python\n```python\nprint(1)");
  size_t c3 = tr.find("Tool call 3: browse\n");
  size_t c4 = tr.find("Tool call 4: search\n");
  EXPECT_NE(c1, std::string::npos) << tr;
  EXPECT_LT(c1, c2);
  EXPECT_LT(c2, c3);
  EXPECT_LT(c3, c4);
  EXPECT_NE(c4, std::string::npos) << tr;
}

TEST(ToolLoopNative, ToolErrorsAreShownToTheModelAndTheRolloutGoesOn) {
  ThreeTools t([](const json&) { return Result<ToolOutput>(ToolOutput{"the search backend timed out", true}); });
  const json calls = json::array({Call("c1", R"({"query": "x"})", "search"), Call("c2", CodeArguments("print(2)"))});
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
                               [] { return Result<ChatResponse>(Reply("\\boxed{2}")); }}));
  auto out = RunRollout(client, agenttest::Spec(), AgentTask(), &t.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "answer");
  EXPECT_EQ(out->final_reply, "\\boxed{2}");
  json messages = Body(client, 1)["messages"];
  EXPECT_EQ(messages[3]["content"], "Error: the search backend timed out");
  EXPECT_EQ(messages[4]["content"], "ran: print(2)\n");
  EXPECT_NE(out->trajectory.find("Error: the search backend timed out"), std::string::npos) << out->trajectory;
}

TEST(ToolLoopNative, UnusableArgumentsNeverReachTheToolAndNameTheTools) {
  ThreeTools t;
  std::string deep = std::string(200, '[') + std::string(200, ']');
  const json calls = json::array({Call("a", "[1, 2]", "search"), Call("b", "42", "search"),
                                  Call("c", R"("query")", "search"), Call("d", "{\"query\": ", "search"),
                                  Call("e", "{\"query\": " + deep + "}", "search"),
                                  Call("f", R"({"query": "ok"})", "serach")});
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
                               [] { return Result<ChatResponse>(Reply("done")); }}));
  auto out = RunRollout(client, agenttest::Spec(), AgentTask(), &t.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(t.search->calls().empty());
  json messages = Body(client, 1)["messages"];
  ASSERT_EQ(messages.size(), 9u);
  for (size_t i = 3; i < 8; ++i) {
    std::string content = messages[i]["content"];
    EXPECT_EQ(content.rfind("Error: the arguments of search must be a JSON object like {\"query\":\"...\"}", 0), 0u)
        << content;
    EXPECT_NE(content.find("the available tools are: python, search, browse"), std::string::npos) << content;
  }
  EXPECT_NE(messages[3]["content"].get<std::string>().find("got: [1, 2]"), std::string::npos);
  std::string unknown = messages[8]["content"];
  EXPECT_EQ(unknown, "Error: unknown tool \"serach\"; the available tools are: python, search, browse");
}

TEST(ToolLoopNative, ArgumentsLeftOutOrEmptyMeanNoArguments) {
  ThreeTools t;
  json no_arguments = {{"id", "n"}, {"type", "function"}, {"function", {{"name", "search"}}}};
  const json calls = json::array({no_arguments, Call("e", "", "search")});
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
                               [] { return Result<ChatResponse>(Reply("done")); }}));
  auto out = RunRollout(client, agenttest::Spec(), AgentTask(), &t.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(t.search->calls(), (std::vector<json>{json::object(), json::object()}));
}

TEST(ToolLoop, AFailingToolFailsTheRolloutInBothProtocols) {
  ThreeTools t([](const json&) { return Result<ToolOutput>(Status::Unavailable("index.db: cannot open")); });
  ScriptedClient native(Turns({[] {
    return Result<ChatResponse>(
        ToolCallReply(json::array({Call("c1", CodeArguments("print(1)")), Call("c2", R"({"query": "q"})", "search"),
                                   Call("c3", CodeArguments("print(3)"))})));
  }}));
  ScriptedClient text([](const ChatRequest&) {
    return Result<ChatResponse>(Reply("```tool\n{\"name\": \"search\", \"arguments\": {\"query\": \"q\"}}\n```"));
  });
  for (const ToolProtocol protocol : {ToolProtocol::kNative, ToolProtocol::kText}) {
    auto out = RunRollout(protocol == ToolProtocol::kNative ? native : text, agenttest::Spec(), AgentTask(protocol), &t.registry);
    ASSERT_FALSE(out.ok()) << Name(protocol);
    EXPECT_EQ(out.status().code(), Status::Code::kUnavailable) << Name(protocol);
    EXPECT_EQ(out.status().message(), "tool search: index.db: cannot open") << Name(protocol);
  }
  // The failure stopped the turn: the call after it never ran.
  EXPECT_EQ(t.python->codes(), std::vector<std::string>{"print(1)"});
}

TEST(ToolLoop, AToolThatThrowsFailsTheRolloutInsteadOfTheProcess) {
  ThreeTools t([](const json& arguments) -> Result<ToolOutput> {
    return ToolOutput{arguments.at("missing").get<std::string>()};
  });
  ScriptedClient client([](const ChatRequest&) {
    return Result<ChatResponse>(ToolCallReply(json::array({Call("c", R"({"query": "q"})", "search")})));
  });
  auto out = RunRollout(client, agenttest::Spec(), AgentTask(), &t.registry);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInternal);
  EXPECT_NE(out.status().message().find("tool search threw"), std::string::npos) << out.status().message();
}

TEST(ToolLoopText, ToolAndPythonBlocksRunInOrderWithTheirOutputsNamed) {
  ThreeTools t;
  const std::string first =
      "Look it up, then compute.\n"
      "```tool\n{\"name\": \"search\", \"arguments\": {\"query\": \"tallest tower\"}}\n```\n"
      "```python\nprint(330 * 2)\n```\n"
      "```TOOL\n{\"name\": \"browse\", \"arguments\": {\"url\": \"https://t.example\", \"goal\": \"height\"}}\n```\n"
      "```tool\n{\"name\": \"python\", \"arguments\": {\"code\": \"print(1)\"}}\n```\n"
      "```json\n{\"name\": \"search\"}\n```";
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(Reply(first)); },
                               [] { return Result<ChatResponse>(Reply("660 m")); }}));
  auto out = RunRollout(client, agenttest::Spec(), AgentTask(ToolProtocol::kText), &t.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "answer");
  EXPECT_EQ(out->tool_calls, 4);  // the ```json block is not a call
  EXPECT_EQ(t.search->calls(), (std::vector<json>{{{"query", "tallest tower"}}}));
  EXPECT_EQ(t.python->codes(), (std::vector<std::string>{"print(330 * 2)\n", "print(1)"}));
  EXPECT_EQ(t.browse->calls().size(), 1u);

  json body = Body(client, 1);
  EXPECT_FALSE(body.contains("tools"));
  std::string fed_back = body["messages"][3]["content"];
  EXPECT_EQ(fed_back,
            "search output of block 1:\n```\nran: {\"query\":\"tallest tower\"}\n```\n\n"
            "Python output of block 2:\n```\nran: print(330 * 2)\n\n```\n\n"
            "browse output of block 3:\n```\nran: {\"goal\":\"height\",\"url\":\"https://t.example\"}\n```\n\n"
            "Python output of block 4:\n```\nran: print(1)\n```");
  const std::string& tr = out->trajectory;
  size_t o1 = tr.find("Tool output 1 (search block 1)");
  size_t o2 = tr.find("Tool output 2 (python block 2)");
  size_t o3 = tr.find("Tool output 3 (browse block 3)");
  EXPECT_NE(o1, std::string::npos) << tr;
  EXPECT_LT(o1, o2);
  EXPECT_LT(o2, o3);
  EXPECT_NE(o3, std::string::npos) << tr;
}

TEST(ToolLoopText, BadToolBlocksGetErrorsNamingTheToolsAndTheRolloutGoesOn) {
  ThreeTools t([](const json&) { return Result<ToolOutput>(ToolOutput{"no results", true}); });
  const std::string first =
      "```tool\nsearch(\"x\")\n```\n"
      "```tool\n{\"arguments\": {}}\n```\n"
      "```tool\n{\"name\": \"calculator\", \"arguments\": {}}\n```\n"
      "```tool\n{\"name\": \"search\", \"arguments\": \"not an object\"}\n```\n"
      "```tool\n{\"name\": \"search\", \"arguments\": {\"query\": \"x\"}}\n```";
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(Reply(first)); },
                               [] { return Result<ChatResponse>(Reply("I could not find it.")); }}));
  auto out = RunRollout(client, agenttest::Spec(), AgentTask(ToolProtocol::kText), &t.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "answer");
  EXPECT_EQ(out->tool_calls, 5);
  EXPECT_EQ(t.search->calls().size(), 1u);
  std::string fed_back = Body(client, 1)["messages"][3]["content"];
  const std::string tools = "the available tools are: python, search, browse";
  size_t b1 = fed_back.find("Tool output of block 1:\n```\nError: a ```tool block must hold one JSON object");
  size_t quoted = fed_back.find("got: search(\"x\")", b1);
  size_t b2 = fed_back.find("Tool output of block 2:\n```\nError: a ```tool block must hold", b1);
  size_t b3 = fed_back.find("calculator output of block 3:\n```\nError: unknown tool \"calculator\"; " + tools);
  size_t b4 = fed_back.find("search output of block 4:\n```\nError: the arguments of search must be a JSON object");
  size_t b5 = fed_back.find("search output of block 5:\n```\nError: no results\n```");
  EXPECT_NE(b1, std::string::npos) << fed_back;
  EXPECT_NE(quoted, std::string::npos) << fed_back;
  EXPECT_NE(b2, std::string::npos) << fed_back;
  EXPECT_NE(b3, std::string::npos) << fed_back;
  EXPECT_NE(b4, std::string::npos) << fed_back;
  EXPECT_NE(b5, std::string::npos) << fed_back;
  EXPECT_LT(b2, b3);
  EXPECT_LT(b3, b4);
  EXPECT_LT(b4, b5);
  EXPECT_NE(fed_back.find(tools, b1), std::string::npos);
}

TEST(ToolLoopText, PythonBlocksAreCallsOnlyWhenPythonIsOffered) {
  ToolRegistry web;
  auto search = std::make_shared<FakeTool>(SearchSpec());
  ASSERT_TRUE(web.Add(search).ok());
  const std::string reply = "Here is the function:\n```python\ndef f(x):\n    return x\n```";
  ScriptedClient client([&](const ChatRequest&) { return Result<ChatResponse>(Reply(reply)); });
  auto out = RunRollout(client, agenttest::Spec(), AgentTask(ToolProtocol::kText), &web);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "answer");
  EXPECT_EQ(out->final_reply, reply);
  EXPECT_EQ(out->tool_calls, 0);
  EXPECT_TRUE(search->calls().empty());
}

TEST(ToolLoopText, InstructionsListEveryToolWithItsDescriptionAndParameters) {
  ThreeTools t;
  std::string text = TextToolProtocolInstructions(t.registry);
  size_t python = text.find("- python: " + PythonToolSpec().description + "\n  arguments: " +
                            PythonToolSpec().parameters.dump() + "\n");
  size_t search = text.find("- search: " + SearchSpec().description + "\n  arguments: " +
                            SearchSpec().parameters.dump() + "\n");
  // A description's later lines are indented, so each tool's own line is the only one starting "- ".
  size_t browse = text.find("- browse: Read a page as text.\n  Links are kept as text.\n  arguments: ");
  EXPECT_NE(python, std::string::npos) << text;
  EXPECT_LT(python, search);
  EXPECT_LT(search, browse);
  EXPECT_NE(browse, std::string::npos) << text;
  EXPECT_NE(text.find("```tool\n{\"name\": \"python\", \"arguments\": {\"code\":\"...\"}}\n```"), std::string::npos)
      << text;
  EXPECT_NE(text.find("```python\nprint(2 + 2)\n```"), std::string::npos);
  EXPECT_NE(text.find("\"Error:\""), std::string::npos);

  // Without python there is no python block to speak of; the example calls the first tool.
  ToolRegistry web;
  ASSERT_TRUE(web.Add(std::make_shared<FakeTool>(BrowseSpec())).ok());
  ASSERT_TRUE(web.Add(std::make_shared<FakeTool>(SearchSpec())).ok());
  std::string web_text = TextToolProtocolInstructions(web);
  EXPECT_EQ(web_text.find("```python"), std::string::npos) << web_text;
  EXPECT_EQ(web_text.find("- python"), std::string::npos);
  EXPECT_NE(web_text.find("```tool\n{\"name\": \"browse\", \"arguments\": {\"goal\":\"...\",\"url\":\"...\"}}\n```"),
            std::string::npos)
      << web_text;
  EXPECT_EQ(RolloutInstructions(AgentTask(ToolProtocol::kText), &web), TaskConfig().instructions + "\n\n" + web_text);
}

}  // namespace
}  // namespace tfgrpo
