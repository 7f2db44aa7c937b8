// What the model is told about its tools in the text protocol. The simulator reads the tool list
// back (one "- <name>: <description>" line per tool after kToolListHeading), so its shape is a
// contract with src/sim/agent.cpp.
#include "agent/agent_internal.h"
#include "tfgrpo/agent.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

constexpr const char* kToolListHeading =
    "Tools you can call (each with what it does, then its arguments as a JSON schema):";

// Continuation lines indented, so only a tool's own line starts with "- ".
std::string Indented(std::string_view text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out += "  ";
  }
  return out;
}

}  // namespace

namespace agent_internal {

nlohmann::json ExampleArguments(const nlohmann::json& schema) {
  nlohmann::json example = nlohmann::json::object();
  if (!schema.is_object() || !schema.contains("properties") || !schema["properties"].is_object()) return example;
  const nlohmann::json& properties = schema["properties"];
  std::vector<std::string> names;
  if (auto required = schema.find("required"); required != schema.end() && required->is_array()) {
    for (const auto& r : *required)
      if (r.is_string() && properties.contains(r.get<std::string>())) names.push_back(r.get<std::string>());
  }
  if (names.empty())
    for (auto it = properties.begin(); it != properties.end(); ++it) names.push_back(it.key());
  for (const std::string& name : names) {
    const nlohmann::json& p = properties[name];
    std::string type = p.is_object() && p.contains("type") && p["type"].is_string() ? p["type"].get<std::string>() : "";
    if (type == "integer" || type == "number") {
      example[name] = 1;
    } else if (type == "boolean") {
      example[name] = true;
    } else if (type == "array") {
      example[name] = nlohmann::json::array();
    } else if (type == "object") {
      example[name] = nlohmann::json::object();
    } else {
      example[name] = "...";
    }
  }
  return example;
}

}  // namespace agent_internal

std::string TextToolProtocolInstructions(const ToolRegistry& tools) {
  if (tools.empty()) return "";
  std::string out = std::string(kToolListHeading) + "\n";
  for (const auto& tool : tools.tools()) {
    const ToolSpec& spec = tool->spec();
    out += "- " + spec.name + ": " + Indented(Trim(spec.description)) + "\n";
    out += "  arguments: " + spec.parameters.dump() + "\n";
  }
  const ToolSpec& first = tools.tools().front()->spec();
  out += "\nTo call a tool, write a fenced ```tool block holding one JSON object with the tool's name "
         "and its arguments, and stop there:\n```tool\n{\"name\": " +
         nlohmann::json(first.name).dump() +
         ", \"arguments\": " + agent_internal::ExampleArguments(first.parameters).dump() + "}" +
         "\n```\n";
  const bool python = tools.Find("python") != nullptr;
  if (python) {
    // The simulator also recognises the text protocol by this "```python" fence.
    out += "To run Python you can also write the script in a fenced block:\n"
           "```python\n"
           "print(2 + 2)\n"
           "```\n"
           "Each python block runs separately, in order, as a fresh and complete script without "
           "network access, so import and print everything it needs.\n";
  }
  out += python ? "Every tool and python block of a reply runs" : "Every tool block of a reply runs";
  out += ", in order; what each returns comes back in the next message, marked with the tool's name (";
  out += python ? "\"Python output\" for python, " : "";
  out += "\"<tool> output\" otherwise), and a failed call's output starts with \"Error:\". When you "
         "are done, give your final answer in a reply without a ";
  out += python ? "tool or python block." : "tool block.";
  return out;
}

std::string RolloutInstructions(const TaskConfig& task, const ToolRegistry* tools) {
  if (task.mode == TaskMode::kAgent && task.tool_protocol == ToolProtocol::kText && tools != nullptr && !tools->empty())
    return task.instructions + "\n\n" + TextToolProtocolInstructions(*tools);
  return task.instructions;
}

}  // namespace tfgrpo
