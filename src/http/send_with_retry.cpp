// SendWithRetry: the one retry rule (see http.h) over HttpTransport::Send.

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <random>
#include <thread>

#include "http/curl_common.h"
#include "tfgrpo/http.h"
#include "tfgrpo/retry.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

namespace {

double UnitRandom() {
  thread_local uint64_t state = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
           std::hash<std::thread::id>{}(std::this_thread::get_id());
  }();
  return UnitDouble(state);
}

// 502/503/504 (gateways, overload) and replies carrying Retry-After are the server saying
// "later", so they never count as the same answer repeated.
bool MayBeAPermanentServerError(long status, bool has_retry_after) {
  return status >= 500 && status <= 599 && status != 502 && status != 503 && status != 504 &&
         !has_retry_after;
}

// The body, secret redacted before it is cut (so no cut can leave part of the secret behind).
std::string DefaultDescription(const HttpResponse& response, std::string_view secret) {
  std::string text = RedactRunSecrets(RedactSecret(Trim(response.body), secret));
  if (text.empty()) return "(empty body)";
  if (text.size() > 300) {
    size_t cut = 300;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
    text.resize(cut);
    text += "...";
  }
  return text;
}

bool Cancelled(const HttpRequest& request) { return request.cancel != nullptr && request.cancel->load(); }

// Sleeps `seconds` in slices, so a cancellation is noticed; false when cancelled.
bool SleepUnlessCancelled(const HttpRequest& request, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                            std::chrono::duration<double>(seconds));
  constexpr auto kSlice = std::chrono::milliseconds(50);
  while (true) {
    if (Cancelled(request)) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(until - now, kSlice));
  }
}

}  // namespace

Result<HttpResponse> SendWithRetry(HttpTransport& transport, const HttpRequest& request, const RetryPolicy& policy,
                                   int* attempts) {
  const std::string& secret = request.secret;
  const std::string what = request.method + " " + request.url;
  const int max_attempts = std::max(0, policy.max_retries) + 1;
  std::string last_error;
  // The last attempt's HTTP status and Retry-After, carried by the exhausted-retries error so a
  // relay can answer with the provider's own status (0 when the last attempt got no reply).
  int last_status = 0;
  std::optional<double> last_retry_after;
  bool every_attempt_unreachable = true;
  std::string repeated_server_error;  // the last 5xx text, while it keeps coming back
  int repeats = 0;
  int attempt = 1;
  auto finish = [&](Result<HttpResponse> result) {
    if (attempts != nullptr) *attempts = attempt;
    if (!result.ok()) return Result<HttpResponse>(http_internal::RedactStatus(result.status(), secret));
    return result;
  };
  for (;; ++attempt) {
    SendFailure failure;
    Result<HttpResponse> sent = transport.Send(request, &failure);
    std::optional<double> retry_after;
    bool counted_repeat = false;

    last_status = 0;
    last_retry_after.reset();
    if (!sent.ok()) {
      if (!failure.retryable) return finish(sent.status());
      last_error = failure.detail;
      if (failure.reached_server) every_attempt_unreachable = false;
    } else {
      every_attempt_unreachable = false;
      const HttpResponse& response = *sent;
      const long status = response.status;
      if (status >= 200 && status < 300) {
        Status verdict = policy.check_response ? policy.check_response(response) : Status::Ok();
        if (verdict.ok()) return finish(std::move(sent));
        if (verdict.code() != Status::Code::kUnavailable) {
          return finish(http_internal::RedactStatus(verdict, secret));
        }
        last_error = RedactSecret(verdict.message(), secret);
      } else if (!IsRetryableHttpStatus(status)) {
        return finish(std::move(sent));  // the server's final word; the caller maps it
      } else {
        const std::string message =
            RedactSecret(policy.describe_error ? policy.describe_error(response) : DefaultDescription(response, secret),
                         secret);
        last_error = "HTTP " + std::to_string(status) + ": " + message;
        const std::optional<std::string> retry_after_header = response.Header("Retry-After");
        if (retry_after_header) retry_after = ParseRetryAfter(*retry_after_header, std::time(nullptr));
        last_status = static_cast<int>(status);
        last_retry_after = retry_after;
        if (policy.same_server_error_limit > 0 &&
            MayBeAPermanentServerError(status, retry_after_header.has_value())) {
          counted_repeat = true;
          repeats = last_error == repeated_server_error ? repeats + 1 : 1;
          repeated_server_error = last_error;
          if (repeats >= policy.same_server_error_limit) {
            return finish(Status::ProviderError(RedactSecret(
                                                    "HTTP " + std::to_string(status) + " from " + request.url + ": " +
                                                        message + " (the same reply " + std::to_string(repeats) +
                                                        " times in a row; not retrying)",
                                                    secret))
                              .WithHttpStatus(static_cast<int>(status)));
          }
        }
      }
    }
    if (!counted_repeat) {
      repeats = 0;
      repeated_server_error.clear();
    }

    if (attempt >= max_attempts) break;
    RetryEvent event;
    event.attempt = attempt;
    event.max_attempts = max_attempts;
    event.error = last_error;
    event.from_retry_after = retry_after.has_value();
    event.wait_s = retry_after ? std::min(*retry_after, std::max(0.0, policy.retry_after_max_s))
                               : BackoffSeconds(attempt, policy.backoff_initial_s, policy.backoff_max_s, UnitRandom());
    if (policy.on_retry) policy.on_retry(event);
    if (!SleepUnlessCancelled(request, event.wait_s)) {
      return finish(Status::Cancelled(RedactSecret(what + ": cancelled while waiting to retry", secret)));
    }
  }

  const std::string tries = std::to_string(attempt) + (attempt == 1 ? " attempt" : " attempts");
  if (every_attempt_unreachable) {
    return finish(Status::Unavailable(RedactSecret("cannot reach " + request.url + " (" + tries + "): " + last_error, secret)));
  }
  return finish(Status::Unavailable(RedactSecret(what + " failed after " + tries + "; last error: " + last_error, secret))
                    .WithHttpStatus(last_status, last_retry_after));
}

Status HttpStatusError(const HttpResponse& response, std::string_view secret) {
  const std::string message = RedactSecret(
      "HTTP " + std::to_string(response.status) + " from " + response.final_url + ": " + DefaultDescription(response, secret),
      secret);
  const int status = static_cast<int>(response.status);
  if (status == 401 || status == 403) return Status::Unauthorized(message).WithHttpStatus(status);
  if (status == 404) return Status::NotFound(message).WithHttpStatus(status);
  return Status::ProviderError(message).WithHttpStatus(status);
}

}  // namespace tfgrpo
