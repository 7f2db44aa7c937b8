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

// `text` when it has at most `max_chars` UTF-8 characters (0 = no limit); else its head and tail
// around "[... N characters omitted ...]". The one elision of learner transcripts (TranscriptLimits):
// the ReAct loop's and the external agent's trajectory.
std::string ElideMiddle(std::string_view text, size_t max_chars);

}  // namespace tfgrpo::agent_internal
