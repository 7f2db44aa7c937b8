// The one HTTP transport every tfgrpo client shares (LLM client, dataset pulls, MCP over HTTP,
// web search/browse): a pool of reused libcurl handles, one attempt per Send, redirects followed
// by hand so every target is vetted, and SendWithRetry with the single retry rule of retry.h.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tfgrpo/secrets.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

// Every error message this module builds goes through RedactSecret (tfgrpo/secrets.h) with the
// request's secret, and through RedactRunSecrets.

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  // "GET", "POST" or "DELETE" (sent without a body: the MCP session end); anything else is
  // kInvalidArgument.
  std::string method = "GET";
  std::string url;             // http:// or https:// only (other schemes: kInvalidArgument)
  // Sent as given, except that CR/LF are dropped from values; Authorization, Cookie and
  // Proxy-Authorization are not sent on to a redirect target of another scheme/host/port.
  std::vector<HttpHeader> headers;
  std::string body;            // POST body (sent with no "Expect: 100-continue" round trip)
  std::string user_agent;      // empty: no User-Agent header
  bool decompress = false;     // advertise gzip/deflate/br and decode the reply
  // Whole exchange, redirects included; <= 0: no overall limit. Exceeding it: kTimeout.
  double timeout_s = 60;
  // Each connect; <= 0: 30 s. Never more than what remains of timeout_s.
  double connect_timeout_s = 30;
  // Bytes of (decoded) body accepted from the final response; 0: no limit. Past it the transfer
  // stops and Send fails with kProviderError, or, with truncate_at_max, returns the first
  // max_response_bytes bytes with HttpResponse::truncated set.
  size_t max_response_bytes = 0;
  bool truncate_at_max = false;
  // Redirects (301/302/303/307/308 with a Location) followed; 0: none, the 3xx is returned as
  // is. More than this many: kProviderError. 303, and 301/302 after a POST, continue as a GET
  // without the body; 307/308 repeat the method and body.
  int max_redirects = 0;
  // Called with the first URL and with every redirect target (absolute) before anything is sent
  // to it; a non-OK Status refuses: Send returns that Status (message prefixed with what was
  // refused) without connecting.
  std::function<Status(std::string_view url)> check_url;
  // Called with the numeric peer address ("127.0.0.1", "::1") of every connection, before a
  // socket to a newly resolved address is connected and again before a request goes out on a
  // reused connection, so a host name that resolves (or later rebinds) to a refused address is
  // refused too. Non-OK: Send returns that Status (prefixed) and nothing is sent.
  // Setting it also turns proxies off for this request (the http_proxy / https_proxy / ALL_PROXY
  // environment variables libcurl otherwise honours): through a proxy the peer would be the
  // proxy, not the server whose address is to be vetted. Requests without it use the proxies.
  std::function<Status(std::string_view ip)> check_address;
  // Streaming: when set, the body of a final 2xx response is handed over in chunks as they
  // arrive and HttpResponse::body stays empty (other statuses are still collected into body, so
  // errors can be described). Return false to stop: Send then fails with kCancelled.
  // Runs on the calling thread, inside Send.
  std::function<bool(std::string_view chunk)> on_body;
  // Polled while the transfer runs (at least once a second) and between SendWithRetry's
  // attempts; true aborts with kCancelled.
  const std::atomic<bool>* cancel = nullptr;
  // Redacted (see RedactSecret) from every error message Send and SendWithRetry return.
  std::string secret;
};

struct HttpResponse {
  long status = 0;
  std::vector<HttpHeader> headers;  // of the final response only, in arrival order
  std::string body;                 // empty when on_body took it
  std::string final_url;            // after redirects
  int redirects = 0;                // how many were followed
  bool truncated = false;           // body cut at max_response_bytes (truncate_at_max)
  // The first header of that name (ASCII case-insensitive), or nullopt.
  std::optional<std::string> Header(std::string_view name) const;
};

// What went wrong on a failed Send, for callers that decide about retrying themselves.
struct SendFailure {
  bool retryable = false;       // a network error worth another attempt (see SendWithRetry)
  bool reached_server = false;  // false: resolve/connect failed (the server was never reached)
  std::string detail;           // libcurl's message, secret redacted
};

struct HttpTransportOptions {
  int max_in_flight = 0;         // Sends running at once, beyond which Send waits; <= 0: no cap
  size_t max_idle_handles = 16;  // easy handles (and their keep-alive connections) kept idle
};

// Thread-safe: any number of threads may Send at once. Idle handles keep their connections, so
// consecutive requests to one host reuse a connection. Must outlive every Send in progress.
class HttpTransport {
 public:
  explicit HttpTransport(HttpTransportOptions options = {});
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // One attempt (plus the redirects it follows). Any HTTP status is a successful Send. Errors:
  //   kInvalidArgument  bad method, malformed URL, a scheme other than http/https
  //   kTimeout          timeout_s or a connect timeout passed
  //   kCancelled        `cancel` was set, or on_body returned false
  //   kInternal         libcurl could not create a handle
  //   kProviderError    body past max_response_bytes, too many redirects, a redirect without a
  //                     usable Location
  //   kUnavailable      any other network failure (refused, reset, DNS, TLS, cut short)
  //   check_url / check_address refusals keep the code the check returned.
  // Messages name the method and URL; `failure`, when given, is filled on error.
  Result<HttpResponse> Send(const HttpRequest& request, SendFailure* failure = nullptr);

 private:
  struct Pool;
  std::unique_ptr<Pool> pool_;
};

// A process-wide transport (no in-flight cap) for callers without their own.
HttpTransport& DefaultHttpTransport();

// What SendWithRetry is about to do before attempt `attempt + 1` (for logs and counters).
struct RetryEvent {
  int attempt = 0;       // the attempt that just failed (1-based)
  int max_attempts = 0;
  std::string error;     // why it failed ("HTTP 503: overloaded", a network error), redacted
  double wait_s = 0;
  bool from_retry_after = false;
};

// THE retry rule (one for every client):
//  * network errors are retried, except permanent ones (bad URL/scheme, TLS certificate
//    refused, a refusal by check_url/check_address, on_body stopping, cancellation, an
//    oversized body, too many redirects);
//  * statuses IsRetryableHttpStatus names (408, 409, 429, 5xx) are retried, waiting what
//    Retry-After asks (capped at retry_after_max_s) or else BackoffSeconds with jitter;
//  * opt-in (same_server_error_limit > 0; the LLM client uses 3): a 5xx that repeats word for
//    word that many times in a row is the server's answer, not a hiccup (llama-server's "tools
//    param requires --jinja flag"): kProviderError. 502/503/504 and replies carrying
//    Retry-After never count towards it. Off by default: a dataset host's "try later" 500 is
//    worth retrying however often it repeats;
//  * every other status (1xx/2xx/3xx, 400, 401, 403, 404, 422, ...) is final and returned as a
//    response: 401/403 are never retried. The caller maps final non-2xx statuses to its own
//    errors (HttpStatusError is a default).
struct RetryPolicy {
  int max_retries = 3;  // attempts = max_retries + 1
  double backoff_initial_s = 0.5;
  double backoff_max_s = 30;
  double retry_after_max_s = 60;
  int same_server_error_limit = 0;  // <= 0: off (see above)
  // Text for a retryable status in errors and logs, after "HTTP <status>: "; default: the body
  // trimmed and cut to 300 bytes (or "(empty body)"). Redacted afterwards.
  std::function<std::string(const HttpResponse&)> describe_error;
  // Judges each 2xx response: OK keeps it; kUnavailable retries (its message becomes the last
  // error: a body cut short, say); any other Status ends the call with it.
  std::function<Status(const HttpResponse&)> check_response;
  // Called before each wait (on the calling thread).
  std::function<void(const RetryEvent&)> on_retry;
};

// Sends with `policy`. Returns the final response (see above) or:
//   kUnavailable    retries exhausted: "cannot reach URL (N attempts): ..." when no attempt
//                   reached the server, else "METHOD URL failed after N attempts; last error:
//                   ..."; or a permanent network error "METHOD URL failed: ..."
//   kProviderError  the same 5xx reply same_server_error_limit times in a row
//   anything Send or check_response returned that is not retried.
// `attempts`, when given, is set to the attempts made, on success and failure alike.
Result<HttpResponse> SendWithRetry(HttpTransport& transport, const HttpRequest& request,
                                   const RetryPolicy& policy, int* attempts = nullptr);

// A default error for a final non-2xx response: 401/403 kUnauthorized, 404 kNotFound, else
// kProviderError; "HTTP <status> from <url>: <body excerpt>", secret redacted.
Status HttpStatusError(const HttpResponse& response, std::string_view secret = {});

}  // namespace tfgrpo
