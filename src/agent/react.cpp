// Placeholder until the ReAct loop lands: agent mode is rejected with a clear message.
#include "agent/agent_internal.h"

namespace tfgrpo::agent_internal {

Result<RolloutOutcome> RunAgentLoop(ChatClient&, const RolloutSpec&, const TaskConfig&, ToolRunner*) {
  return Status::InvalidArgument("task.mode: agent is not implemented yet");
}

}  // namespace tfgrpo::agent_internal
