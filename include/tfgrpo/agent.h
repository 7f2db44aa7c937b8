// Rollouts: what one sample of a task is. In prompt mode, one model answer. In agent mode, a
// ReAct loop in which the model may call the tools of a ToolRegistry (OpenAI-native tool calls, or
// ```tool / ```python blocks in text) until it answers without a tool call, runs out of turns or
// out of time.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tfgrpo/config.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/status.h"
#include "tfgrpo/tool.h"

namespace tfgrpo {

// The python tool: name "python", arguments {"code": "<script>"}; runs the script in the sandbox
// configured by `tools` (bubblewrap, or none with a warning) and returns what it printed. Error
// when the sandbox cannot be created (the message says why and how to opt out).
ToolSpec PythonToolSpec();
Result<std::shared_ptr<Tool>> MakePythonTool(const ToolsConfig& tools);

// The tools a config's rollouts may call: in agent mode the built-in tools of tools.enabled, in
// that order, then the tools of every tools.mcp server (connected here, started once for the
// run, stopped when the registry's last copy goes); none in prompt mode. `client` is what the
// browse tool's summarizing call (tools.browse.summarize, role browse) goes through. Errors name
// the tool or server: a search index that does not open, an MCP server that cannot start, ...
Result<ToolRegistry> MakeToolsFor(const Config& config, ChatClient* client = nullptr);

// How much of a rollout the learner's transcript keeps (practice.tool_output_chars and
// practice.trajectory_chars): each tool call's arguments or code, each tool output and each
// reasoning block up to `item_chars` characters, the whole transcript up to `total_chars`. A
// longer text keeps its head and tail around a note "[... N characters omitted ...]". 0: no limit.
struct TranscriptLimits {
  size_t item_chars = 6000;
  size_t total_chars = 30000;
};

struct RolloutSpec {
  std::string system_prompt;  // instructions + rendered library (byte-identical within a step)
  std::string problem;        // the user message
  double temperature = 0.7;
  std::string call_id;        // prompt mode: the call's id; agent mode: "<call_id>/turn<n>" per turn
  Role role = Role::kRollout; // the model calls' role (validation samples are kValidation)
  TranscriptLimits transcript; // agent mode: what RolloutOutcome::trajectory keeps
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

// `tools` are the tools the model may call in agent mode; null or empty means none, and the model
// answers directly (prompt mode ignores them). Tool errors, unknown tools and unusable arguments
// go back to the model as the call's output; a failed model call, or a tool whose Run returns a
// non-OK status, fails the rollout with that status. Within one rollout, tool calls run one at a time, in
// the order the model made them.
Result<RolloutOutcome> RunRollout(ChatClient& client, const RolloutSpec& spec, const TaskConfig& task,
                                  const ToolRegistry* tools);

// The start of every rollout's system prompt: task.instructions, plus in agent mode with the text
// protocol and at least one tool, how to call the tools. The library is appended after it
// (AppendLibrary).
std::string RolloutInstructions(const TaskConfig& task, const ToolRegistry* tools);

// The text added to the system prompt in text protocol: each tool with its description and
// parameters, the ```tool block that calls any of them ({"name": ..., "arguments": {...}}), the
// ```python block that runs a script when the python tool is offered, and where outputs appear.
std::string TextToolProtocolInstructions(const ToolRegistry& tools);

}  // namespace tfgrpo
