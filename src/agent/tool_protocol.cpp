#include "tfgrpo/agent.h"

namespace tfgrpo {

nlohmann::json PythonToolSchema() {
  return nlohmann::json::array(
      {{{"type", "function"},
        {"function",
         {{"name", "python"},
          {"description",
           "Run a complete Python 3 script in a sandbox without network access and return what it "
           "printed (stdout and stderr). Nothing persists between calls: each script starts fresh, "
           "so print every value you need."},
          {"parameters",
           {{"type", "object"},
            {"properties", {{"code", {{"type", "string"}, {"description", "The whole Python script to run."}}}}},
            {"required", {"code"}}}}}}}});
}

std::string TextToolProtocolInstructions() {
  return "You can run Python code. To run a script, write it in a fenced block:\n"
         "```python\n"
         "print(2 + 2)\n"
         "```\n"
         "and stop; the printed output comes back in the next message. Each block runs as a fresh, "
         "complete script without network access. When you are done, reply without a python block.";
}

std::string RolloutInstructions(const TaskConfig& task) {
  if (task.mode == "agent" && task.tool_protocol == "text")
    return task.instructions + "\n\n" + TextToolProtocolInstructions();
  return task.instructions;
}

}  // namespace tfgrpo
