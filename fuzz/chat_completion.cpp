// Fuzzes the parsing of a provider's chat-completion reply (2xx body) and of its error bodies,
// then what the recording client does with a parsed reply: serialise it for the run store and
// read it back.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "llm/http_internal.h"
#include "tfgrpo/llm.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = tfgrpo::llm_internal::ParseChatCompletion(body);
  if (parsed.ok()) {
    const std::string stored =
        tfgrpo::ChatResponseToJson(*parsed).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto back = tfgrpo::ChatResponseFromJson(nlohmann::json::parse(stored));
    if (back.content != parsed->content || back.finish_reason != parsed->finish_reason) __builtin_trap();
  }
  std::string message = tfgrpo::llm_internal::ProviderErrorMessage(body, 64);
  if (message.size() > 64 + 3) __builtin_trap();  // truncated to max_chars plus "..."
  return 0;
}
