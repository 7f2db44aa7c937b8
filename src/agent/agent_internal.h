// Agent-mode internals shared by rollout.cpp, the tool protocol text and the ReAct loop; private
// to the agent module.
#pragma once

#include "tfgrpo/agent.h"

namespace tfgrpo::agent_internal {

Result<RolloutOutcome> RunAgentLoop(ChatClient& client, const RolloutSpec& spec, const TaskConfig& task,
                                    const ToolRegistry* tools);

// Placeholder arguments matching a tool's parameter schema, for examples shown to the model: each
// required property (all when none is required) with a value of its type.
nlohmann::json ExampleArguments(const nlohmann::json& schema);

}  // namespace tfgrpo::agent_internal
