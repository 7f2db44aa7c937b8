// Fuzzes the Responses API translation `tfgrpo serve` runs on untrusted bytes: a client's
// Responses request (ResponsesToChat, then the injection and re-encoding as for chat), and an
// upstream's chat reply (ChatToResponse and its event stream). The input is tried as both.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tfgrpo/json.h"
#include "tfgrpo/responses_api.h"
#include "tfgrpo/serve.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tfgrpo::Library kLibrary({{"Check the units.", 0, ""}, {"Simplify first.", 0, ""}});
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::ordered_json request = tfgrpo::ParseUntrustedOrderedJson(text);
  if (request.is_discarded()) return 0;
  auto chat = tfgrpo::ResponsesToChat(request);
  if (chat.ok()) {
    // A translation always has messages the injection accepts, and it always injects.
    auto injected = tfgrpo::InjectLibrary(*chat, kLibrary);
    if (!injected.ok() || !*injected) __builtin_trap();
  } else if (tfgrpo::ResponsesErrorParam(chat.status()).empty()) {
    __builtin_trap();  // every refusal names its field
  }
  nlohmann::json reply = tfgrpo::ParseUntrustedJson(text);
  auto response = tfgrpo::ChatToResponse(reply, nlohmann::ordered_json::object());
  if (!response.ok()) return 0;
  try {
    std::string events = tfgrpo::ResponseEventStream(*response);
    if (events.find("event: response.completed") == std::string::npos &&
        events.find("event: response.incomplete") == std::string::npos) {
      __builtin_trap();
    }
  } catch (const nlohmann::json::exception&) {
    return 0;  // invalid UTF-8 in the reply's text: the handler's dump fails the same way
  }
  return 0;
}
