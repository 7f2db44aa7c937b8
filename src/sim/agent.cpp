// The simulated learner as an agent: a python tool call on the first turn (native tool_calls or
// a ```python block), the final answer after the tool's output, and the strict checks an
// OpenAI-compatible server applies to the tool turns of a conversation.
#include <set>

#include "sim/sim_internal.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo::sim_internal {

namespace {

constexpr const char* kToolThought = "Let me compute the key quantity with Python first.";

std::string Where(size_t index) { return "messages[" + std::to_string(index) + "]"; }

bool NonEmptyString(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() && !it->get<std::string>().empty();
}

// Problems with one tool_calls entry, or "".
std::string ToolCallProblem(const nlohmann::json& call, const std::string& where) {
  if (!call.is_object()) return where + " must be an object";
  if (!NonEmptyString(call, "id")) return where + ".id must be a non-empty string";
  if (call.value("type", std::string()) != "function") return where + ".type must be \"function\"";
  auto fn = call.find("function");
  if (fn == call.end() || !fn->is_object()) return where + ".function must be an object";
  if (!NonEmptyString(*fn, "name")) return where + ".function.name must be a non-empty string";
  auto args = fn->find("arguments");
  if (args == fn->end() || !args->is_string()) {
    return where + ".function.arguments must be a string (JSON text)";
  }
  return "";
}

// The text protocol's tool list opens with this line (written by src/agent/tool_protocol.cpp).
constexpr std::string_view kToolListHeading = "Tools you can call";

}  // namespace

std::string RoleOf(const nlohmann::json& message) {
  if (!message.is_object()) return "";
  auto it = message.find("role");
  return it != message.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string ContentText(const nlohmann::json& message) {
  if (!message.is_object()) return "";
  auto it = message.find("content");
  if (it == message.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  std::string out;
  if (it->is_array()) {
    for (const auto& part : *it) {
      if (part.is_object() && part.contains("text") && part["text"].is_string()) {
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

OfferedTools ReadOfferedTools(const nlohmann::json& body, std::string_view system) {
  OfferedTools offered;
  if (body.is_object()) {
    auto tools = body.find("tools");
    if (tools != body.end() && tools->is_array() && !tools->empty()) {
      offered.native = true;
      for (const auto& tool : *tools) {
        if (!tool.is_object()) continue;
        auto fn = tool.find("function");
        if (fn != tool.end() && fn->is_object() && NonEmptyString(*fn, "name")) {
          offered.names.push_back((*fn)["name"].get<std::string>());
        }
      }
      return offered;
    }
  }
  bool in_list = false;
  for (const std::string& line : SplitLines(system)) {
    if (StartsWith(line, kToolListHeading)) {
      in_list = offered.listed = true;
      continue;
    }
    if (!in_list) continue;
    if (StartsWith(line, "  ")) continue;  // a tool's arguments or description, continued
    if (!StartsWith(line, "- ")) {
      in_list = false;
      continue;
    }
    size_t colon = line.find(':');
    if (colon != std::string::npos && colon > 2) offered.names.push_back(line.substr(2, colon - 2));
  }
  return offered;
}

AgentReply AgentRolloutReply(std::string_view system, std::string_view problem, int turn,
                             bool native, uint64_t draw_seed, const SimOptions& options) {
  SolvedProblem solved = SolveProblem(problem);
  const double p = SuccessProbability(system, solved.pitfall, options);
  uint64_t state = draw_seed;
  bool success = UnitDouble(state) < p;
  // Drawn after the outcome, which keeps the outcome's draw the same as prompt mode's.
  bool silent_call = (SplitMix64(state) & 1) != 0;

  AgentReply reply;
  if (turn > 0) {
    reply.content = "The script printed the value I needed.\n\n" +
                    (success ? solved.success_text : solved.failure_text);
    return reply;
  }
  const std::string& code = success ? solved.success_code : solved.failure_code;
  if (!native) {
    reply.content = std::string(kToolThought) + "\n\n```python\n" + code + "\n```";
    return reply;
  }
  // Real models often send a tool call without any text; half of the simulated ones do too.
  reply.content = silent_call ? nlohmann::json(nullptr) : nlohmann::json(kToolThought);
  reply.arguments_text = nlohmann::json{{"code", code}}.dump();
  reply.tool_calls = nlohmann::json::array(
      {{{"id", "call_" + Fingerprint(std::to_string(draw_seed)).substr(0, 16)},
        {"type", "function"},
        {"function", {{"name", "python"}, {"arguments", reply.arguments_text}}}}});
  reply.finish_reason = "tool_calls";
  return reply;
}

std::string ToolHistoryProblem(const nlohmann::json& messages) {
  if (!messages.is_array()) return "";
  for (size_t i = 0; i < messages.size(); ++i) {
    const nlohmann::json& m = messages[i];
    const std::string role = RoleOf(m);
    if (role == "tool") {
      return Where(i) +
             ": a message with role 'tool' must answer a tool call of the assistant message "
             "right before it";
    }
    if (role != "assistant") continue;
    auto calls = m.find("tool_calls");
    if (calls == m.end() || calls->is_null()) {
      auto content = m.find("content");
      if (content == m.end() || content->is_null()) {
        return Where(i) + ": an assistant message needs 'content' unless it has 'tool_calls'";
      }
      continue;
    }
    if (!calls->is_array() || calls->empty()) {
      return Where(i) + ".tool_calls must be a non-empty array";
    }
    std::set<std::string> pending;
    for (size_t c = 0; c < calls->size(); ++c) {
      std::string problem =
          ToolCallProblem((*calls)[c], Where(i) + ".tool_calls[" + std::to_string(c) + "]");
      if (!problem.empty()) return problem;
      pending.insert((*calls)[c]["id"].get<std::string>());
    }
    size_t j = i + 1;
    for (; j < messages.size() && RoleOf(messages[j]) == "tool"; ++j) {
      const nlohmann::json& answer = messages[j];
      std::string id =
          NonEmptyString(answer, "tool_call_id") ? answer["tool_call_id"].get<std::string>() : "";
      if (!pending.erase(id)) {
        return Where(j) + ": tool_call_id '" + id + "' does not match a pending tool call of " +
               Where(i);
      }
    }
    if (!pending.empty()) {
      return Where(i) + ": tool call '" + *pending.begin() +
             "' must be followed by a 'tool' message answering it";
    }
    i = j - 1;
  }
  return "";
}

}  // namespace tfgrpo::sim_internal
