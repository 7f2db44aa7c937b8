// Shared by the agent-loop suites: fake tools, a scripted model's tool-call replies, and reading
// back what the loop sent.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "test_util.h"
#include "tfgrpo/agent.h"
#include "tfgrpo/tool.h"

namespace tfgrpo::agenttest {

using json = nlohmann::json;
using testing::Reply;
using testing::ScriptedClient;

// A tool with a fixed spec that records every arguments object it is called with and answers
// from `answer` (default: "ran: <code>" for a python-like call, "ran: <arguments>" otherwise).
class FakeTool : public Tool {
 public:
  using Answer = std::function<Result<ToolOutput>(const json&)>;
  explicit FakeTool(ToolSpec spec, Answer answer = nullptr)
      : spec_(std::move(spec)), answer_(std::move(answer)) {}
  const ToolSpec& spec() const override { return spec_; }
  Result<ToolOutput> Run(const json& arguments) override {
    {
      std::lock_guard lock(mu_);
      calls_.push_back(arguments);
    }
    if (answer_) return answer_(arguments);
    if (arguments.contains("code") && arguments["code"].is_string())
      return ToolOutput{"ran: " + arguments["code"].get<std::string>() + "\n"};
    // Like the real python tool: arguments it cannot use are the model's to fix.
    if (spec_.name == "python") return ToolOutput{"expected arguments {\"code\": \"...\"}", true};
    return ToolOutput{"ran: " + arguments.dump() + "\n"};
  }
  std::vector<json> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  // The "code" of each call (python).
  std::vector<std::string> codes() const {
    std::vector<std::string> out;
    for (const json& c : calls()) out.push_back(c.value("code", std::string("<no code>")));
    return out;
  }

 private:
  ToolSpec spec_;
  Answer answer_;
  mutable std::mutex mu_;
  std::vector<json> calls_;
};

// An answer that prints `printed`.
inline FakeTool::Answer Prints(std::string printed) {
  return [printed](const json&) { return Result<ToolOutput>(ToolOutput{printed}); };
}

// The registry of one fake python tool, which the test keeps to inspect.
struct PythonOnly {
  explicit PythonOnly(FakeTool::Answer answer = nullptr)
      : python(std::make_shared<FakeTool>(PythonToolSpec(), std::move(answer))) {
    EXPECT_TRUE(registry.Add(python).ok());
  }
  std::vector<std::string> codes() const { return python->codes(); }
  std::shared_ptr<FakeTool> python;
  ToolRegistry registry;
};

inline json Call(const std::string& id, const std::string& arguments, const std::string& name = "python") {
  return {
      {"id", id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}};
}

inline json CodeArguments(const std::string& code) { return json{{"code", code}}.dump(); }

// A native tool-call reply, as a provider sends it: content null unless given.
inline ChatResponse ToolCallReply(json calls, json content = nullptr) {
  ChatResponse r;
  r.content = content.is_string() ? content.get<std::string>() : "";
  r.finish_reason = "tool_calls";
  r.message = {{"role", "assistant"}, {"content", content}, {"tool_calls", calls}};
  r.usage.prompt_tokens = 10;
  r.usage.completion_tokens = 5;
  r.usage.cached_tokens = 2;
  return r;
}

inline TaskConfig AgentTask(ToolProtocol protocol = ToolProtocol::kNative) {
  TaskConfig t;
  t.mode = TaskMode::kAgent;
  t.tool_protocol = protocol;
  return t;
}

inline RolloutSpec Spec(const std::string& call_id = "s0/tA/r1") {
  RolloutSpec s;
  s.system_prompt = "Solve it. Put the final answer in \\boxed{}.";
  s.problem = "What is 6 x 7?";
  s.temperature = 0.7;
  s.call_id = call_id;
  return s;
}

// The request body the HTTP client would send for the n-th request.
inline json Body(const ScriptedClient& client, size_t n) {
  auto requests = client.requests();
  EXPECT_LT(n, requests.size());
  return n < requests.size() ? ChatRequestBody(requests[n], "m", std::nullopt) : json();
}

// Answers the n-th request of a rollout with script[n] (the last entry repeats).
inline ScriptedClient::Script Turns(std::vector<std::function<Result<ChatResponse>()>> script) {
  auto calls = std::make_shared<std::atomic<size_t>>(0);
  return [script, calls](const ChatRequest&) {
    size_t n = (*calls)++;
    return script[std::min(n, script.size() - 1)]();
  };
}

}  // namespace tfgrpo::agenttest
