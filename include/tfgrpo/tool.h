// Tools an agent can call: one interface for the built-in tools (python, search, browse) and for
// tools offered by MCP servers, and the registry the ReAct loop, both tool protocols and the
// simulator work from. A tool's failure is shown to the model; only an unusable tool fails a
// rollout.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/status.h"

namespace tfgrpo {

struct ToolSpec {
  std::string name;          // what the model calls: [A-Za-z0-9_-]{1,64}
  std::string description;   // shown to the model
  nlohmann::json parameters = nlohmann::json::object();  // JSON schema of the arguments object
};

// What one call returns to the model.
struct ToolOutput {
  std::string text;
  // The call failed in a way the model should see and may work around (bad arguments, a page
  // that does not load, an MCP isError result, a JSON-RPC error, a timeout). Shown to the model
  // as the tool's output, marked as an error; never fails the rollout.
  bool is_error = false;
};

// Who is calling: what a tool that makes calls of its own (browse's summarizing LLM call) needs
// to give them ids the run store can replay on resume.
struct ToolCallContext {
  // The id of this one tool call, "<rollout call id>/turn<t>/call<n>" ("s3/t17/r2/turn1/call0"):
  // t is the 0-based model turn that asked for it (the turn's own LLM call is
  // "<rollout call id>/turn<t>"), n the 0-based position of the call among that turn's calls
  // (native tool_calls, or text-protocol blocks, in order). The same rollout re-run gives the same
  // ids. Empty when the caller is not a rollout (a direct Run(arguments)).
  std::string call_id;
  // When the rollout's task.timeout_s runs out: a tool that can stop early (the local search)
  // stops by then, whichever of this and its own tools.timeout_s comes first. max() = none.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

// Thread-safe: many rollouts call one tool at the same time.
class Tool {
 public:
  virtual ~Tool() = default;
  virtual const ToolSpec& spec() const = 0;
  // `arguments` is the parsed arguments object (already checked to be a JSON object). A non-OK
  // status means the tool itself cannot work at all (the sandbox cannot start, ...): it fails the
  // rollout. Everything the model could react to is an OK result with is_error set.
  virtual Result<ToolOutput> Run(const nlohmann::json& arguments) = 0;
  // What the ReAct loop calls. Tools that make no calls of their own need not override it: it
  // forwards to Run(arguments).
  virtual Result<ToolOutput> Run(const nlohmann::json& arguments, const ToolCallContext& context) {
    return Run(arguments);
  }
};

// The tools of one run, by name. Not thread-safe to modify; Find/tools are safe to call
// concurrently once built.
class ToolRegistry {
 public:
  // InvalidArgument when the tool is null, its name is empty, not [A-Za-z0-9_-]{1,64} or already
  // taken (names are case-sensitive), or its parameters are not a JSON object. Keeps the order
  // tools were added in: OpenAiTools and the text protocol's tool list follow it.
  Status Add(std::shared_ptr<Tool> tool);
  Tool* Find(std::string_view name) const;  // null when absent
  const std::vector<std::shared_ptr<Tool>>& tools() const { return tools_; }
  bool empty() const { return tools_.empty(); }
  // The OpenAI `tools` array: [{"type":"function","function":{name,description,parameters}}].
  nlohmann::json OpenAiTools() const;

 private:
  std::vector<std::shared_ptr<Tool>> tools_;
};

}  // namespace tfgrpo
