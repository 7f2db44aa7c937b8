#include <chrono>

#include "agent/agent_internal.h"
#include "tfgrpo/agent.h"

namespace tfgrpo {

Result<RolloutOutcome> RunRollout(ChatClient& client, const RolloutSpec& spec, const TaskConfig& task,
                                  const ToolRegistry* tools) {
  if (task.mode == TaskMode::kAgent) return agent_internal::RunAgentLoop(client, spec, task, tools);

  ChatRequest req;
  req.role = spec.role;
  req.messages = {{"system", spec.system_prompt}, {"user", spec.problem}};
  req.temperature = spec.temperature;
  req.call_id = spec.call_id;
  auto r = client.Complete(req);
  if (!r.ok()) return r.status();
  RolloutOutcome out;
  out.final_reply = r->content;
  out.messages = nlohmann::json::array({{{"role", "system"}, {"content", spec.system_prompt}},
                                        {{"role", "user"}, {"content", spec.problem}}});
  out.messages.push_back(r->message.is_object() && !r->message.empty()
                             ? r->message
                             : nlohmann::json{{"role", "assistant"}, {"content", r->content}});
  out.trajectory = r->content;
  out.usage = r->usage;
  out.turns = 1;
  out.latency_ms = r->latency_ms;
  out.stop_reason = "answer";
  return out;
}

}  // namespace tfgrpo
