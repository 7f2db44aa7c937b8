// Fuzzes what `tfgrpo serve` does to a client's chat-completion body before forwarding it:
// the JSON parse of the request, InjectLibrary, and re-encoding the modified body. (The handler
// itself is bound to httplib; these are the steps it runs on the body, in its order.)
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tfgrpo/json.h"
#include "tfgrpo/serve.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tfgrpo::Library kLibrary({{"Check the units.", 0, ""}, {"Simplify first.", 0, ""}});
  std::string_view request(reinterpret_cast<const char*>(data), size);
  nlohmann::ordered_json body = tfgrpo::ParseUntrustedOrderedJson(request);
  if (body.is_discarded() || !body.is_object()) return 0;
  auto injected = tfgrpo::InjectLibrary(body, kLibrary);
  if (!injected.ok()) return 0;
  if (!*injected) __builtin_trap();  // a non-empty library always goes in
  std::string forwarded;
  try {
    forwarded = body.dump();
  } catch (const nlohmann::json::exception&) {
    return 0;  // invalid UTF-8 in the request: the handler answers 400
  }
  // What goes upstream must be JSON the next hop can read, with the library in it.
  nlohmann::ordered_json again = tfgrpo::ParseUntrustedOrderedJson(forwarded);
  if (again.is_discarded()) __builtin_trap();
  if (forwarded.find("Check the units.") == std::string::npos) __builtin_trap();
  return 0;
}
