// Rollouts: what one sample of a task is. In prompt mode, one model answer. In agent mode, a
// ReAct loop in which the model may call a `python` tool (OpenAI-native tool calls, or ```python
// blocks in text) until it answers without a tool call, runs out of turns or out of time.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tfgrpo/config.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

// Runs tool code. The agent loop reports whatever comes back (including a failure's message) to
// the model as the tool's output; only a non-OK status from the runner itself (cannot start
// anything at all) fails the rollout.
class ToolRunner {
 public:
  virtual ~ToolRunner() = default;
  virtual Result<std::string> RunPython(const std::string& code) = 0;
};

// The sandboxed python tool configured by `tools` (bubblewrap, or none with a warning). Error
// when the sandbox cannot be created (the message says why and how to opt out).
Result<std::unique_ptr<ToolRunner>> MakePythonToolRunner(const ToolsConfig& tools);
// The tools a config's rollouts need: the python tool in agent mode, none (null) in prompt mode.
Result<std::unique_ptr<ToolRunner>> MakeToolsFor(const Config& config);

struct RolloutSpec {
  std::string system_prompt;  // instructions + rendered library (byte-identical within a step)
  std::string problem;        // the user message
  double temperature = 0.7;
  std::string call_id;        // prompt mode: the call's id; agent mode: "<call_id>/turn<n>" per turn
  Role role = Role::kRollout; // the model calls' role (validation samples are kValidation)
};

struct RolloutOutcome {
  std::string final_reply;     // what the reward scores
  nlohmann::json messages = nlohmann::json::array();  // the whole conversation, OpenAI format
  std::string trajectory;      // readable transcript for the learner, tool calls and outputs included
  Usage usage;
  int turns = 0;               // model calls made
  int tool_calls = 0;
  double latency_ms = 0;
  std::string stop_reason;     // "answer" | "max_turns" | "timeout"
};

// Prompt mode needs no tools (`tools` may be null). A failed model call fails the rollout with
// that call's status.
Result<RolloutOutcome> RunRollout(ChatClient& client, const RolloutSpec& spec, const TaskConfig& task,
                                  ToolRunner* tools);

// The start of every rollout's system prompt: task.instructions, plus in agent mode with the text
// protocol, how to call the tool. The library is appended after it (AppendLibrary).
std::string RolloutInstructions(const TaskConfig& task);

// The OpenAI `tools` array declaring the python tool, and the text added to the system prompt in
// text protocol (how to write a ```python block and where its output appears).
nlohmann::json PythonToolSchema();
std::string TextToolProtocolInstructions();

}  // namespace tfgrpo
