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
  // The simulator recognises the text protocol by the "```python" fence in the system message.
  return "You can run Python code. To run a script, write it in a fenced block:\n"
         "```python\n"
         "print(2 + 2)\n"
         "```\n"
         "and stop there; what the script prints comes back in the next message, starting with "
         "\"Python output\". Each block runs separately, in order, as a fresh and complete script "
         "without network access, so import and print everything it needs. When you are done, "
         "give your final answer in a reply without a python block.";
}

std::string RolloutInstructions(const TaskConfig& task) {
  if (task.mode == "agent" && task.tool_protocol == "text")
    return task.instructions + "\n\n" + TextToolProtocolInstructions();
  return task.instructions;
}

}  // namespace tfgrpo
