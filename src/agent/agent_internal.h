// Agent-mode internals shared by rollout.cpp and the ReAct loop; private to the agent module.
#pragma once

#include "tfgrpo/agent.h"

namespace tfgrpo::agent_internal {

Result<RolloutOutcome> RunAgentLoop(ChatClient& client, const RolloutSpec& spec, const TaskConfig& task,
                                    ToolRunner* tools);

}  // namespace tfgrpo::agent_internal
