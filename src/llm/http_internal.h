// Internals of the HTTP chat client that are pure functions (response parsing, retry timing,
// error-message extraction), kept apart from libcurl so tests can pin them down directly.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "tfgrpo/http.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/status.h"

namespace tfgrpo::llm_internal {

// Parses a 2xx chat-completion body (with ParseUntrustedJson: nesting deeper than kMaxJsonDepth
// is refused). Fails (InvalidArgument) when the body is not JSON, too deep, or has no
// choices[0].message object; the caller treats that as retryable. Excerpts of the body in the
// message have `secret` redacted before they are cut short.
Result<ChatResponse> ParseChatCompletion(std::string_view body, std::string_view secret = {});

// The provider's error text: {"error":{"message":..}}, {"error":".."} or {"message":..};
// otherwise the body itself, whitespace-trimmed. `secret` is redacted first, then the text is cut
// to `max_chars` bytes on a UTF-8 boundary (so no cut can leave part of the secret behind).
std::string ProviderErrorMessage(std::string_view body, size_t max_chars = 500,
                                 std::string_view secret = {});

// Replaces every occurrence of `secret` in `text`, and of any prefix of it at least
// kRedactedPrefixBytes long (a key cut short by someone else's truncation); no-op when secret is
// empty. The same as RedactSecret (tfgrpo/http.h), which every HTTP error goes through.
using ::tfgrpo::kRedactedPrefixBytes;
std::string Redact(std::string text, std::string_view secret);

}  // namespace tfgrpo::llm_internal
