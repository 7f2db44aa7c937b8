// Fuzzes the parser of the learner's <Experiences> reply (the semantic-advantage call).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tfgrpo/learner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int max_items = data[0] % 8;  // 0: no cap
  std::string_view reply(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto items = tfgrpo::ParseExperiences(reply, max_items);
  if (items.ok()) {
    if (items->empty()) __builtin_trap();  // documented: an error when no numbered item
    if (max_items > 0 && items->size() > static_cast<size_t>(max_items)) __builtin_trap();
  }
  return 0;
}
