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

// Seconds to wait from a Retry-After header value: delta-seconds ("3", "1.5") or an HTTP-date
// (relative to `now`). nullopt when unparseable. Past dates give 0.
std::optional<double> ParseRetryAfter(std::string_view value, std::time_t now);

// Exponential backoff for retry number `retry` (1 = first retry): initial * 2^(retry-1) capped at
// max_s, scaled by a jitter factor in [0.5, 1) drawn from `unit` in [0, 1).
double BackoffSeconds(int retry, double initial_s, double max_s, double unit);

// Replaces every occurrence of `secret` in `text` (no-op when secret is empty).
std::string Redact(std::string text, std::string_view secret);

}  // namespace tfgrpo::llm_internal
