# Compiles examples/web's corpus and questions into the binary, so `tfgrpo demo --web` runs from
# any directory (the files stay the source of truth; edit them and rebuild).
set(body "// Generated from examples/web/*.jsonl by cmake/embed_web_example.cmake. Do not edit.\n#include \"tfgrpo/sim.h\"\nnamespace tfgrpo {\nconst SimWebExample& BuiltinWebExample() {\n  static const SimWebExample example = {\n")
foreach(name corpus train eval)
  file(READ ${DIR}/${name}.jsonl text)
  set(body "${body}    R\"TFGRPO_WEB(${text})TFGRPO_WEB\",\n")
endforeach()
set(body "${body}  };\n  return example;\n}\n}  // namespace tfgrpo\n")
file(WRITE ${OUT}.tmp "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
