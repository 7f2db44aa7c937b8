// Internals of the HTTP chat client that are pure functions (response parsing, retry timing,
// error-message extraction), kept apart from libcurl so tests can pin them down directly.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "tfgrpo/llm.h"
#include "tfgrpo/status.h"

namespace tfgrpo::llm_internal {

// Parses a 2xx chat-completion body. Fails (InvalidArgument) when the body is not JSON or has no
// choices[0].message object; the caller treats that as retryable.
Result<ChatResponse> ParseChatCompletion(std::string_view body);

// The provider's error text: {"error":{"message":..}}, {"error":".."} or {"message":..};
// otherwise the body itself, whitespace-trimmed and truncated to `max_chars`.
std::string ProviderErrorMessage(std::string_view body, size_t max_chars = 500);



// Replaces every occurrence of `secret` in `text` (no-op when secret is empty).
std::string Redact(std::string text, std::string_view secret);

}  // namespace tfgrpo::llm_internal
