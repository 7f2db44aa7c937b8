# Compiles Debian's Chart.js build (libjs-chart.js: ${SRC}) into the binary as a byte array, so
# the HTML report inlines it and needs nothing at run time. Bytes, not a raw string: the file's
# content cannot clash with a literal's delimiter.
file(READ ${SRC} hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# About 16 bytes a line keeps the generated file readable by editors.
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT}.tmp "// Generated from ${SRC} by cmake/embed_chartjs.cmake. Do not edit.
#include <string_view>
namespace tfgrpo {
namespace {
const unsigned char kChartJs[${size}] = {
${bytes}
};
}  // namespace
std::string_view EmbeddedChartJs() { return {reinterpret_cast<const char*>(kChartJs), sizeof kChartJs}; }
}  // namespace tfgrpo
")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
