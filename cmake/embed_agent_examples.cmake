# Compiles examples/agents' agent programs into the binary, so `tfgrpo demo --agent` runs from any
# directory (the files stay the source of truth; edit them and rebuild).
set(body "// Generated from examples/agents/*/agent.* by cmake/embed_agent_examples.cmake. Do not edit.\n#include \"tfgrpo/sim.h\"\nnamespace tfgrpo {\nconst std::vector<SimAgentExample>& BuiltinAgentExamples() {\n  static const std::vector<SimAgentExample> examples = {\n")
foreach(entry python:agent.py:python3 openai-sdk:agent.cjs:node openai-agents:agent.cjs:node langgraph:agent.cjs:node ai-sdk:agent.cjs:node)
  string(REPLACE ":" ";" parts ${entry})
  list(GET parts 0 name)
  list(GET parts 1 file)
  list(GET parts 2 interpreter)
  file(READ ${DIR}/${name}/${file} text)
  set(body "${body}    {\"${name}\", \"${file}\", \"${interpreter}\", R\"TFGRPO_AGENT(${text})TFGRPO_AGENT\"},\n")
endforeach()
set(body "${body}  };\n  return examples;\n}\n}  // namespace tfgrpo\n")
file(WRITE ${OUT}.tmp "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
