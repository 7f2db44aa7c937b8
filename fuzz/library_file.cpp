// Fuzzes reading an experiences library file: the parse Library::Load does (`tfgrpo serve`
// reloads the file whenever it changes), then its round trip through the file format.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tfgrpo/library.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);  // as Library::Load
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  auto library = tfgrpo::Library::FromJson(j);
  if (!library.ok()) return 0;
  auto reread = tfgrpo::Library::FromJson(nlohmann::json::parse(library->ToJsonText()));
  if (!reread.ok() || reread->size() != library->size()) __builtin_trap();
  (void)library->RenderLines();
  return 0;
}
