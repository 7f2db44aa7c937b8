#include <algorithm>

#include "tfgrpo/tool.h"

namespace tfgrpo {
namespace {

constexpr size_t kMaxToolNameLength = 64;

bool IsToolNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

Status ToolRegistry::Add(std::shared_ptr<Tool> tool) {
  if (!tool) return Status::InvalidArgument("tool registry: cannot add a null tool");
  const std::string& name = tool->spec().name;
  if (name.empty()) return Status::InvalidArgument("tool registry: a tool needs a name");
  if (name.size() > kMaxToolNameLength || !std::all_of(name.begin(), name.end(), IsToolNameChar)) {
    // Quote at most the allowed length: the name may come from an MCP server.
    std::string shown = name.substr(0, kMaxToolNameLength) + (name.size() > kMaxToolNameLength ? "..." : "");
    return Status::InvalidArgument("tool registry: tool name '" + shown +
                                   "' must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'");
  }
  if (!tool->spec().parameters.is_object()) {
    return Status::InvalidArgument("tool registry: the parameters of tool '" + name +
                                   "' must be a JSON schema object");
  }
  if (Find(name) != nullptr) {
    return Status::InvalidArgument("tool registry: a tool named '" + name + "' is already registered");
  }
  tools_.push_back(std::move(tool));
  return Status::Ok();
}

Tool* ToolRegistry::Find(std::string_view name) const {
  for (const auto& tool : tools_) {
    if (tool->spec().name == name) return tool.get();
  }
  return nullptr;
}

nlohmann::json ToolRegistry::OpenAiTools() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& tool : tools_) {
    const ToolSpec& spec = tool->spec();
    out.push_back({{"type", "function"},
                   {"function",
                    {{"name", spec.name}, {"description", spec.description}, {"parameters", spec.parameters}}}});
  }
  return out;
}

}  // namespace tfgrpo
