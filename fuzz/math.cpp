// Fuzzes the math checker's answer extraction and LaTeX parsing: the input's first line is the
// gold answer, the rest the model's reply. A short time limit keeps each comparison bounded.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tfgrpo/math_verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  std::string_view gold = input.substr(0, nl);
  std::string_view reply = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  (void)tfgrpo::ExtractAnswerForVerify(reply);
  tfgrpo::MathVerifyOptions options;
  options.timeout_s = 0.5;
  tfgrpo::MathVerdict v = tfgrpo::VerifyMath(gold, reply, options);
  if (v.score != 0.0 && v.score != 1.0) __builtin_trap();
  if (v.timed_out && v.score != 0.0) __builtin_trap();
  return 0;
}
