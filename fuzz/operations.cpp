// Fuzzes the parser of the learner's library operations (group_update / batch_update replies)
// and applies what it returns to a small library, as the engine does.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tfgrpo/learner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view reply(reinterpret_cast<const char*>(data), size);
  auto ops = tfgrpo::ParseOperations(reply);
  if (!ops.ok()) return 0;
  tfgrpo::Library library({{"first lesson", 0, "t1"}, {"second lesson", 0, "t2"}, {"third", 1, ""}});
  library.Apply(*ops, 2);
  if (library.size() > 3 + ops->size()) __builtin_trap();
  std::string text = library.ToJsonText();
  auto reread = tfgrpo::Library::FromJson(nlohmann::json::parse(text));
  if (!reread.ok() || reread->size() != library.size()) __builtin_trap();
  (void)tfgrpo::AppendLibrary("base", library);
  (void)tfgrpo::OperationsToJson(*ops).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
