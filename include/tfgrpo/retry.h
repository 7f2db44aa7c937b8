// The pieces of the HTTP retry rule (http module; SendWithRetry in http.h applies them for every
// client): how long a server's Retry-After asks us to wait, exponential backoff with jitter
// otherwise, and which statuses are worth another attempt.
#pragma once

#include <ctime>
#include <optional>
#include <string_view>

namespace tfgrpo {

// Retry-After as delta-seconds ("3", "0.5") or an HTTP-date relative to `now`; nullopt when
// absent or unreadable.
std::optional<double> ParseRetryAfter(std::string_view value, std::time_t now);

// Wait before retry number `retry` (1-based): initial_s * 2^(retry-1) capped at max_s, scaled by
// a jitter factor in [0.5, 1) from `unit` in [0, 1).
double BackoffSeconds(int retry, double initial_s, double max_s, double unit);

// HTTP statuses worth retrying: 408, 409, 429 and 5xx. Everything else (400, 401, 403, 404, 422,
// ...) is the server's final word on that request.
bool IsRetryableHttpStatus(long status);

}  // namespace tfgrpo
