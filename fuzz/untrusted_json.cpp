// Fuzzes ParseUntrustedJson, the gate every JSON text from outside the process goes through:
// whatever it accepts must be nested at most kMaxJsonDepth deep and safe to serialise (the
// serialiser recurses once per level).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tfgrpo/json.h"

namespace {

int Depth(const nlohmann::json& j) {
  if (!j.is_structured()) return 0;
  int deepest = 0;
  for (const auto& child : j) deepest = std::max(deepest, Depth(child));
  return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json j = tfgrpo::ParseUntrustedJson(text);
  if (j.is_discarded()) {
    // Refused: too deep, or not JSON at all.
    if (tfgrpo::JsonNestingDepth(text) <= tfgrpo::kMaxJsonDepth &&
        nlohmann::json::accept(text)) {
      __builtin_trap();
    }
    return 0;
  }
  if (Depth(j) > tfgrpo::kMaxJsonDepth) __builtin_trap();
  (void)j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  nlohmann::ordered_json o = tfgrpo::ParseUntrustedOrderedJson(text);
  if (o.is_discarded()) __builtin_trap();
  return 0;
}
