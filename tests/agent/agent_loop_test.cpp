// The ReAct loop against a scripted model and fake tools: both tool protocols, the exact history
// sent back, bad tool calls, the stop conditions, failures, and the transcript. Several tools
// at once: tool_registry_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "agent/agent_test_util.h"
#include "test_util.h"
#include "tfgrpo/agent.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using namespace agenttest;  // NOLINT
using json = nlohmann::json;
using testing::Reply;
using testing::ScriptedClient;

TEST(AgentLoop, NativeToolCallThenFinalAnswer) {
  const json calls = json::array({Call("call_a", CodeArguments("print(6*7)"))});
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
                               [] { return Result<ChatResponse>(Reply("So \\boxed{42}.")); }}));
  PythonOnly tools(Prints("42\n"));

  auto out = RunRollout(client, Spec(), AgentTask(), &tools.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "answer");
  EXPECT_EQ(out->final_reply, "So \\boxed{42}.");
  EXPECT_EQ(out->turns, 2);
  EXPECT_EQ(out->tool_calls, 1);
  EXPECT_EQ(tools.codes(), std::vector<std::string>{"print(6*7)"});

  auto requests = client.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].call_id, "s0/tA/r1/turn0");
  EXPECT_EQ(requests[1].call_id, "s0/tA/r1/turn1");
  for (const auto& r : requests) {
    EXPECT_EQ(r.role, Role::kRollout);
    EXPECT_DOUBLE_EQ(r.temperature, 0.7);
  }

  // The second request carries the assistant's tool call exactly as received (content null),
  // then the tool's answer to that call id, and declares the tool on every turn.
  json body = Body(client, 1);
  EXPECT_EQ(body["tools"], tools.registry.OpenAiTools());
  EXPECT_EQ(Body(client, 0)["tools"], tools.registry.OpenAiTools());
  EXPECT_EQ(body["tools"][0]["function"]["name"], "python");
  ASSERT_EQ(body["messages"].size(), 4u);
  EXPECT_EQ(body["messages"][0], (json{{"role", "system"}, {"content", Spec().system_prompt}}));
  EXPECT_EQ(body["messages"][1], (json{{"role", "user"}, {"content", "What is 6 x 7?"}}));
  EXPECT_EQ(body["messages"][2],
            (json{{"role", "assistant"}, {"content", nullptr}, {"tool_calls", calls}}));
  EXPECT_EQ(body["messages"][3],
            (json{{"role", "tool"}, {"tool_call_id", "call_a"}, {"content", "42\n"}}));

  // The stored conversation is that history plus the final reply.
  ASSERT_EQ(out->messages.size(), 5u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(out->messages[i], body["messages"][i]) << i;
  EXPECT_EQ(out->messages[4]["content"], "So \\boxed{42}.");

  EXPECT_EQ(out->usage.prompt_tokens, 20);
  EXPECT_EQ(out->usage.completion_tokens, 10);
  EXPECT_EQ(out->usage.cached_tokens, 2);
  EXPECT_GE(out->latency_ms, 0);

  // The transcript shows the move, what it printed, and the answer, in that order.
  size_t code = out->trajectory.find("print(6*7)");
  size_t output = out->trajectory.find("42\n", code);
  size_t answer = out->trajectory.find("\\boxed{42}", output);
  EXPECT_NE(code, std::string::npos) << out->trajectory;
  EXPECT_NE(output, std::string::npos) << out->trajectory;
  EXPECT_NE(answer, std::string::npos) << out->trajectory;
  EXPECT_NE(out->trajectory.find("final answer"), std::string::npos) << out->trajectory;
}

TEST(AgentLoop, TextProtocolRunsPythonBlocksAndReturnsTheOutputAsAUserMessage) {
  const std::string first = "I will check.\n```python\nprint(6*7)\n```";
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(Reply(first)); },
                               [] { return Result<ChatResponse>(Reply("\\boxed{42}")); }}));
  PythonOnly tools(Prints("42\n"));

  auto out = RunRollout(client, Spec(), AgentTask(ToolProtocol::kText), &tools.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "answer");
  EXPECT_EQ(out->final_reply, "\\boxed{42}");
  EXPECT_EQ(out->tool_calls, 1);
  EXPECT_EQ(tools.codes(), std::vector<std::string>{"print(6*7)\n"});

  json body = Body(client, 1);
  EXPECT_FALSE(body.contains("tools"));
  ASSERT_EQ(body["messages"].size(), 4u);
  EXPECT_EQ(body["messages"][2], (json{{"role", "assistant"}, {"content", first}}));
  EXPECT_EQ(body["messages"][3]["role"], "user");
  EXPECT_EQ(body["messages"][3]["content"], "Python output:\n```\n42\n```");
  EXPECT_NE(out->trajectory.find("print(6*7)"), std::string::npos);
  EXPECT_NE(out->trajectory.find("Tool output 1"), std::string::npos) << out->trajectory;
}

TEST(AgentLoop, TextProtocolRunsEveryBlockInOrderIncludingAnUnclosedOne) {
  const std::string first =
      "Two checks.\n```py\nprint(1)\n```\nand\n  ```Python3\nprint(2)\n```\n```text\nnot code\n```"
      "\n```python\nprint(3";
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(Reply(first)); },
                               [] { return Result<ChatResponse>(Reply("\\boxed{6}")); }}));
  PythonOnly tools;
  auto out = RunRollout(client, Spec(), AgentTask(ToolProtocol::kText), &tools.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(tools.codes(), (std::vector<std::string>{"print(1)\n", "print(2)\n", "print(3\n"}));
  EXPECT_EQ(out->tool_calls, 3);
  std::string fed_back = Body(client, 1)["messages"][3]["content"];
  size_t b1 = fed_back.find("Python output of block 1:\n```\nran: print(1)");
  size_t b2 = fed_back.find("Python output of block 2:\n```\nran: print(2)");
  size_t b3 = fed_back.find("Python output of block 3:\n```\nran: print(3");
  EXPECT_NE(b1, std::string::npos) << fed_back;
  EXPECT_LT(b1, b2);
  EXPECT_LT(b2, b3);
  EXPECT_NE(b3, std::string::npos) << fed_back;
}

TEST(AgentLoop, TextProtocolIgnoresNativeToolCalls) {
  // A server that volunteers tool_calls in text mode: nothing answers them, so they must not
  // reach the history (a strict server would reject it) and the reply counts as the answer.
  ScriptedClient client([](const ChatRequest&) {
    return Result<ChatResponse>(
        ToolCallReply(json::array({Call("c", CodeArguments("1"))}), "\\boxed{1}"));
  });
  PythonOnly tools;
  auto out = RunRollout(client, Spec(), AgentTask(ToolProtocol::kText), &tools.registry);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->stop_reason, "answer");
  EXPECT_EQ(out->final_reply, "\\boxed{1}");
  EXPECT_TRUE(tools.codes().empty());
}

TEST(AgentLoop, SeveralToolCallsInOneTurnAreAnsweredInOrder) {
  const json calls =
      json::array({Call("c1", CodeArguments("print(1)")), Call("c2", CodeArguments("print(2)"))});
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls, "Both.")); },
                               [] { return Result<ChatResponse>(Reply("\\boxed{3}")); }}));
  PythonOnly tools;
  auto out = RunRollout(client, Spec(), AgentTask(), &tools.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->tool_calls, 2);
  EXPECT_EQ(tools.codes(), (std::vector<std::string>{"print(1)", "print(2)"}));
  json messages = Body(client, 1)["messages"];
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(messages[2]["content"], "Both.");
  EXPECT_EQ(messages[2]["tool_calls"], calls);
  EXPECT_EQ(messages[3],
            (json{{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "ran: print(1)\n"}}));
  EXPECT_EQ(messages[4],
            (json{{"role", "tool"}, {"tool_call_id", "c2"}, {"content", "ran: print(2)\n"}}));
}

TEST(AgentLoop, MalformedArgumentsAndUnknownToolsGetAnErrorAsTheirOutput) {
  const json calls = json::array(
      {Call("bad_json", "print(1)"), Call("no_code", R"({"script": "x"})"),
       Call("other", CodeArguments("ls"), "bash"), Call("good", CodeArguments("print(2)"))});
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
                               [] { return Result<ChatResponse>(Reply("\\boxed{2}")); }}));
  PythonOnly tools;
  auto out = RunRollout(client, Spec(), AgentTask(), &tools.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "answer");
  // Unparseable arguments and unknown tools never reach a tool; the tool refused the one without
  // code.
  EXPECT_EQ(tools.codes(), (std::vector<std::string>{"<no code>", "print(2)"}));
  json messages = Body(client, 1)["messages"];
  ASSERT_EQ(messages.size(), 7u);
  std::vector<std::string> ids;
  for (size_t i = 3; i < 7; ++i) ids.push_back(messages[i]["tool_call_id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"bad_json", "no_code", "other", "good"}));
  std::string bad_json = messages[3]["content"], no_code = messages[4]["content"];
  std::string other = messages[5]["content"];
  EXPECT_EQ(bad_json.rfind("Error: the arguments of python must be a JSON object like {\"code\":", 0), 0u)
      << bad_json;
  EXPECT_NE(bad_json.find("print(1)"), std::string::npos) << "quotes what it got: " << bad_json;
  EXPECT_NE(bad_json.find("the available tools are: python"), std::string::npos) << bad_json;
  EXPECT_EQ(no_code, "Error: expected arguments {\"code\": \"...\"}");  // the tool's is_error, marked
  EXPECT_EQ(other.rfind("Error: unknown tool \"bash\"", 0), 0u) << other;
  EXPECT_NE(other.find("the available tools are: python"), std::string::npos) << other;
  EXPECT_EQ(messages[6]["content"], "ran: print(2)\n");
  EXPECT_EQ(out->tool_calls, 4);
}

TEST(AgentLoop, ArgumentsSentAsAnObjectAndMissingIdsAreAccepted) {
  json call = {{"type", "function"},
               {"function", {{"name", "python"}, {"arguments", {{"code", "print(5)"}}}}}};
  ScriptedClient client(
      Turns({[&] { return Result<ChatResponse>(ToolCallReply(json::array({call}))); },
             [] { return Result<ChatResponse>(Reply("\\boxed{5}")); }}));
  PythonOnly tools;
  auto out = RunRollout(client, Spec(), AgentTask(), &tools.registry);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(tools.codes(), std::vector<std::string>{"print(5)"});
  json messages = Body(client, 1)["messages"];
  ASSERT_EQ(messages.size(), 4u);
  // The generated id is used on both sides, so the history stays consistent.
  std::string id = messages[2]["tool_calls"][0]["id"];
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(messages[3]["tool_call_id"], id);
}

TEST(AgentLoop, EmptyToolOutputIsExplainedToTheModel) {
  const json calls = json::array({Call("c", CodeArguments("x = 1"))});
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
                               [] { return Result<ChatResponse>(Reply("\\boxed{1}")); }}));
  PythonOnly tools(Prints(""));
  auto out = RunRollout(client, Spec(), AgentTask(), &tools.registry);
  ASSERT_TRUE(out.ok());
  // The real python tool adds how to get output (python_tool_test.cpp); any tool's empty output
  // is at least said to be empty.
  EXPECT_EQ(Body(client, 1)["messages"][3]["content"], "(no output)");
}

TEST(AgentLoop, StopsAtMaxTurnsWithTheLastReply) {
  auto turn = std::make_shared<std::atomic<int>>(0);
  ScriptedClient client([turn](const ChatRequest&) {
    int n = (*turn)++;
    return Result<ChatResponse>(ToolCallReply(
        json::array(
            {Call("c" + std::to_string(n), CodeArguments("print(" + std::to_string(n) + ")"))}),
        "attempt " + std::to_string(n)));
  });
  PythonOnly tools;
  TaskConfig task = AgentTask();
  task.max_turns = 3;
  auto out = RunRollout(client, Spec(), task, &tools.registry);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "max_turns");
  EXPECT_EQ(out->turns, 3);
  EXPECT_EQ(client.requests().size(), 3u);
  EXPECT_EQ(out->tool_calls, 3);
  EXPECT_EQ(out->final_reply, "attempt 2");
  EXPECT_EQ(client.requests().back().call_id, "s0/tA/r1/turn2");
  EXPECT_NE(out->trajectory.find("max_turns"), std::string::npos) << out->trajectory;
}

TEST(AgentLoop, StopsAtTheTimeoutBetweenTurns) {
  ScriptedClient client([](const ChatRequest&) {
    return Result<ChatResponse>(ToolCallReply(json::array({Call("c", CodeArguments("slow()"))})));
  });
  PythonOnly slow([](const json&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    return Result<ToolOutput>(ToolOutput{"done\n"});
  });
  TaskConfig task = AgentTask();
  task.timeout_s = 0.05;
  auto t0 = std::chrono::steady_clock::now();
  auto out = RunRollout(client, Spec(), task, &slow.registry);
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "timeout");
  EXPECT_EQ(out->turns, 1);  // the first tool run alone outlasts the budget
  EXPECT_EQ(slow.codes().size(), 1u);
  EXPECT_LT(wall_s, 5.0);
  EXPECT_GE(out->latency_ms, 60);
  EXPECT_NE(out->trajectory.find("timeout"), std::string::npos) << out->trajectory;
}

TEST(AgentLoop, AFailedModelCallFailsTheRolloutWithItsStatus) {
  const json calls = json::array({Call("c", CodeArguments("print(1)"))});
  ScriptedClient client(
      Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
             [] { return Result<ChatResponse>(Status::Unavailable("retries exhausted: 503")); }}));
  PythonOnly tools;
  auto out = RunRollout(client, Spec(), AgentTask(), &tools.registry);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(out.status().message().find("503"), std::string::npos);
  EXPECT_NE(out.status().message().find("turn 1"), std::string::npos) << out.status().message();
}

TEST(AgentLoop, AToolThatCannotStartFailsTheRollout) {
  const json calls = json::array({Call("c", CodeArguments("print(1)"))});
  ScriptedClient client(
      [&](const ChatRequest&) { return Result<ChatResponse>(ToolCallReply(calls)); });
  PythonOnly broken([](const json&) { return Result<ToolOutput>(Status::IoError("fork: out of memory")); });
  for (const ToolProtocol protocol : {ToolProtocol::kNative, ToolProtocol::kText}) {
    ScriptedClient text_client(
        [](const ChatRequest&) { return Result<ChatResponse>(Reply("```python\nprint(1)\n```")); });
    auto out = RunRollout(protocol == ToolProtocol::kNative ? client : text_client, Spec(), AgentTask(protocol),
                          &broken.registry);
    ASSERT_FALSE(out.ok()) << Name(protocol);
    EXPECT_EQ(out.status().code(), Status::Code::kIoError) << Name(protocol);
    EXPECT_NE(out.status().message().find("fork: out of memory"), std::string::npos);
    EXPECT_NE(out.status().message().find("tool python"), std::string::npos) << out.status().message();
  }
}

TEST(AgentLoop, AgentModeWithoutToolsAnswersDirectly) {
  // tools.enabled: [] and no MCP server: the model is offered nothing and its reply is the answer,
  // even one that holds a ```python block.
  const std::string reply = "```python\nprint(1)\n```\n\\boxed{1}";
  ToolRegistry empty;
  for (const ToolProtocol protocol : {ToolProtocol::kNative, ToolProtocol::kText}) {
    for (const ToolRegistry* tools : std::vector<const ToolRegistry*>{nullptr, &empty}) {
      ScriptedClient client([&](const ChatRequest&) { return Result<ChatResponse>(Reply(reply)); });
      auto out = RunRollout(client, Spec(), AgentTask(protocol), tools);
      ASSERT_TRUE(out.ok()) << Name(protocol) << ": " << out.status().ToString();
      EXPECT_EQ(out->stop_reason, "answer");
      EXPECT_EQ(out->final_reply, reply);
      EXPECT_EQ(out->turns, 1);
      EXPECT_EQ(out->tool_calls, 0);
      // Some providers reject an empty tools array: none is sent.
      EXPECT_FALSE(Body(client, 0).contains("tools")) << Name(protocol);
    }
    EXPECT_EQ(RolloutInstructions(AgentTask(protocol), &empty), TaskConfig().instructions);
  }

  // A native call the model makes anyway is answered with an error and the loop goes on.
  ScriptedClient client(Turns({[] {
                                 return Result<ChatResponse>(
                                     ToolCallReply(json::array({Call("c", CodeArguments("1"))})));
                               },
                               [] { return Result<ChatResponse>(Reply("\\boxed{1}")); }}));
  auto out = RunRollout(client, Spec(), AgentTask(), &empty);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stop_reason, "answer");
  std::string fed_back = Body(client, 1)["messages"][3]["content"];
  EXPECT_EQ(fed_back.rfind("Error: unknown tool \"python\"", 0), 0u) << fed_back;
  EXPECT_NE(fed_back.find("no tools are available"), std::string::npos) << fed_back;
}

TEST(AgentLoop, TheTranscriptKeepsALongOutputsHeadAndTailButTheConversationKeepsItAll) {
  // 10,000 characters, the middle ones distinct from both ends: the learner needs how an output
  // starts and how it ends (the value printed last, the error's last line).
  const std::string huge = "HEAD-" + std::string(5000, 'x') + std::string(4990, 'y') + "-TAIL";
  ASSERT_EQ(huge.size(), 10000u);
  const json calls = json::array({Call("c", CodeArguments("print(big)"))});
  ScriptedClient client(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
                               [] { return Result<ChatResponse>(Reply("\\boxed{x}")); }}));
  PythonOnly tools(Prints(huge));
  auto out = RunRollout(client, Spec(), AgentTask(), &tools.registry);  // default: 6,000 per output
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->trajectory.find("HEAD-" + std::string(2995, 'x') + "\n[... 4000 characters omitted ...]\n" +
                                 std::string(2995, 'y') + "-TAIL"),
            std::string::npos)
      << out->trajectory.substr(0, 200);
  EXPECT_EQ(out->messages[3]["content"], huge);

  // Smaller limits: each output, and then the whole transcript, keep both ends.
  RolloutSpec spec = Spec();
  spec.transcript = {1000, 1500};
  ScriptedClient again(Turns({[&] { return Result<ChatResponse>(ToolCallReply(calls)); },
                              [] { return Result<ChatResponse>(Reply("\\boxed{x}")); }}));
  auto small = RunRollout(again, spec, AgentTask(), &tools.registry);
  ASSERT_TRUE(small.ok());
  EXPECT_LT(small->trajectory.size(), 1600u);
  EXPECT_NE(small->trajectory.find("characters omitted ...]"), std::string::npos);
  EXPECT_EQ(small->trajectory.rfind("Step 1", 0), 0u) << small->trajectory;
  EXPECT_NE(small->trajectory.find("\\boxed{x}"), std::string::npos) << small->trajectory;  // the end survives
}

TEST(AgentLoop, ReasoningContentReachesTheTranscriptButNotTheHistory) {
  const json calls = json::array({Call("c", CodeArguments("print(1)"))});
  ScriptedClient client(Turns({[&] {
                                 ChatResponse r = ToolCallReply(calls);
                                 r.reasoning_content = "Counting needs the endpoints.";
                                 r.message["reasoning_content"] = r.reasoning_content;
                                 return Result<ChatResponse>(r);
                               },
                               [] { return Result<ChatResponse>(Reply("\\boxed{1}")); }}));
  PythonOnly tools;
  auto out = RunRollout(client, Spec(), AgentTask(), &tools.registry);
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->trajectory.find("Counting needs the endpoints."), std::string::npos);
  EXPECT_FALSE(Body(client, 1)["messages"][2].contains("reasoning_content"));
  EXPECT_EQ(out->messages[2]["reasoning_content"],
            "Counting needs the endpoints.");  // stored verbatim
}

TEST(AgentLoop, TextProtocolInstructionsAreAddedOnlyInTextAgentMode) {
  PythonOnly tools;
  TaskConfig prompt;
  EXPECT_EQ(RolloutInstructions(prompt, &tools.registry), prompt.instructions);
  EXPECT_EQ(RolloutInstructions(AgentTask(ToolProtocol::kNative), &tools.registry), prompt.instructions);
  std::string text = RolloutInstructions(AgentTask(ToolProtocol::kText), &tools.registry);
  EXPECT_EQ(text.rfind(prompt.instructions, 0), 0u);
  EXPECT_NE(text.find(TextToolProtocolInstructions(tools.registry)), std::string::npos);
  EXPECT_NE(text.find("```python"), std::string::npos);
  json schema = tools.registry.OpenAiTools();
  ASSERT_EQ(schema.size(), 1u);
  EXPECT_EQ(schema[0]["function"]["name"], "python");
  EXPECT_EQ(schema[0]["function"]["parameters"]["required"], json::array({"code"}));
  EXPECT_EQ(PythonToolSpec().parameters["properties"]["code"]["type"], "string");
}


// A tool output that is not UTF-8 (python printing raw bytes, an MCP server, a fetched page)
// reaches the model as U+FFFD, so the next request body is still JSON; the rollout goes on.
TEST(AgentLoop, ToolOutputThatIsNotUtf8IsSanitizedInBothProtocols) {
  const std::string raw = "\xff\xfe bad \xc3";
  const std::string fffd = "\xEF\xBF\xBD";
  const std::string clean = fffd + fffd + " bad " + fffd;
  for (bool is_error : {false, true}) {
    auto probe = std::make_shared<FakeTool>(ToolSpec{"probe", "Prints bytes.", json::object()},
                                            [&](const json&) { return Result<ToolOutput>(ToolOutput{raw, is_error}); });
    ToolRegistry registry;
    ASSERT_TRUE(registry.Add(probe).ok());
    const std::string shown = (is_error ? "Error: " : "") + clean;

    ScriptedClient native(Turns({[] { return Result<ChatResponse>(ToolCallReply({Call("c1", "{}", "probe")})); },
                                 [] { return Result<ChatResponse>(Reply("done")); }}));
    auto out = RunRollout(native, Spec(), AgentTask(), &registry);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->stop_reason, "answer");
    json body = Body(native, 1);
    std::string serialized;
    EXPECT_NO_THROW(serialized = body.dump());
    EXPECT_EQ(body["messages"][3]["content"], shown) << is_error;
    EXPECT_EQ(SanitizeUtf8(serialized), serialized);
    EXPECT_NO_THROW(out->messages.dump());
    EXPECT_EQ(SanitizeUtf8(out->trajectory), out->trajectory);
    EXPECT_NE(out->trajectory.find(shown), std::string::npos) << out->trajectory;

    ScriptedClient text(Turns({[] { return Result<ChatResponse>(Reply("```tool\n{\"name\": \"probe\"}\n```")); },
                               [] { return Result<ChatResponse>(Reply("done")); }}));
    out = RunRollout(text, Spec(), AgentTask(ToolProtocol::kText), &registry);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->stop_reason, "answer");
    body = Body(text, 1);
    EXPECT_NO_THROW(serialized = body.dump());
    EXPECT_EQ(body["messages"][3]["content"], "probe output:\n```\n" + shown + "\n```") << is_error;
    EXPECT_EQ(SanitizeUtf8(serialized), serialized);
    EXPECT_NO_THROW(out->messages.dump());
    EXPECT_EQ(SanitizeUtf8(out->trajectory), out->trajectory);
  }
}

}  // namespace
}  // namespace tfgrpo
