// The simulated model inside the user's own agent (task.mode external): offered the agent's own
// function tools, it calls the first one once, then answers as in prompt mode, so that whatever
// tool loop a framework runs sees a real tool call and a final answer.
#include "sim/sim_internal.h"
#include "tfgrpo/util.h"

namespace tfgrpo::sim_internal {

namespace {

// Tool arguments stay small whatever the problem is.
constexpr size_t kMaxArgumentChars = 1000;

bool IsStringType(const nlohmann::json& schema) {
  if (!schema.is_object()) return false;
  auto type = schema.find("type");
  if (type == schema.end()) return false;
  if (type->is_string()) return type->get<std::string>() == "string";
  if (type->is_array()) {
    for (const auto& t : *type) {
      if (t.is_string() && t.get<std::string>() == "string") return true;
    }
  }
  return false;
}

// Whether the conversation already holds a tool call or a tool's answer.
bool ToolAlreadyCalled(const nlohmann::json& messages) {
  if (!messages.is_array()) return false;
  for (const auto& m : messages) {
    const std::string role = RoleOf(m);
    if (role == "tool") return true;
    if (role == "assistant" && m.contains("tool_calls") && m["tool_calls"].is_array() && !m["tool_calls"].empty()) {
      return true;
    }
  }
  return false;
}

// The problem as one line, cut at a character boundary.
std::string ArgumentFromProblem(std::string_view problem) {
  std::string flat;
  bool space = false;
  for (char c : problem) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !flat.empty();
      continue;
    }
    if (space) flat += ' ';
    space = false;
    flat += c;
  }
  if (flat.size() <= kMaxArgumentChars) return flat;
  size_t cut = kMaxArgumentChars;
  while (cut > 0 && (static_cast<unsigned char>(flat[cut]) & 0xC0) == 0x80) --cut;
  return flat.substr(0, cut);
}

}  // namespace

std::string FirstRequiredStringParameter(const nlohmann::json& tool) {
  if (!tool.is_object()) return "";
  auto fn = tool.find("function");
  if (fn == tool.end() || !fn->is_object()) return "";
  auto params = fn->find("parameters");
  if (params == fn->end() || !params->is_object()) return "";
  auto required = params->find("required");
  auto properties = params->find("properties");
  if (required == params->end() || !required->is_array() || properties == params->end() ||
      !properties->is_object()) {
    return "";
  }
  for (const auto& name : *required) {
    if (!name.is_string()) continue;
    auto property = properties->find(name.get<std::string>());
    if (property != properties->end() && IsStringType(*property)) return name.get<std::string>();
  }
  return "";
}

AgentReply ToolAgentRolloutReply(const nlohmann::json& body, std::string_view system, std::string_view problem,
                                 uint64_t draw_seed, const SimOptions& options) {
  AgentReply reply;
  const nlohmann::json messages = body.is_object() && body.contains("messages") ? body["messages"] : nlohmann::json();
  if (ToolAlreadyCalled(messages)) {
    reply.content = "The tool gave me what I needed.\n\n" + RolloutReply(system, problem, draw_seed, options);
    return reply;
  }
  // The first tool with a function name (ReadOfferedTools skipped the others too).
  nlohmann::json tool;
  const nlohmann::json tools = body.is_object() ? body.value("tools", nlohmann::json::array()) : nlohmann::json();
  for (const auto& t : tools.is_array() ? tools : nlohmann::json::array()) {
    if (t.is_object() && t.contains("function") && t["function"].is_object() && t["function"].contains("name") &&
        t["function"]["name"].is_string() && !t["function"]["name"].get<std::string>().empty()) {
      tool = t;
      break;
    }
  }
  if (tool.is_null()) {  // not offered after all: answer directly
    reply.content = RolloutReply(system, problem, draw_seed, options);
    return reply;
  }
  const std::string name = tool["function"]["name"].get<std::string>();
  nlohmann::json arguments = nlohmann::json::object();
  if (std::string parameter = FirstRequiredStringParameter(tool); !parameter.empty()) {
    arguments[parameter] = ArgumentFromProblem(problem);
  }
  // Its own stream: the outcome's draw (RolloutReply's, from draw_seed) stays prompt mode's.
  uint64_t state = draw_seed ^ 0x7001ca11ULL;
  const bool silent_call = (SplitMix64(state) & 1) != 0;
  reply.content = silent_call ? nlohmann::json(nullptr) : nlohmann::json("Let me use " + name + " first.");
  reply.arguments_text = arguments.dump();
  reply.tool_calls = nlohmann::json::array(
      {{{"id", "call_" + Fingerprint(std::to_string(draw_seed) + '\x1f' + name).substr(0, 16)},
        {"type", "function"},
        {"function", {{"name", name}, {"arguments", reply.arguments_text}}}}});
  reply.finish_reason = "tool_calls";
  return reply;
}

}  // namespace tfgrpo::sim_internal
