// libcurl plumbing the http module shares with the proxy's streaming upstream (serve): global
// init, the options every handle gets, and what a CURLcode means for a caller. Private to src/.
#pragma once

#include <curl/curl.h>

#include <string>
#include <string_view>

#include "tfgrpo/status.h"

namespace tfgrpo::http_internal {

// curl_global_init, once per process (thread-safe).
void EnsureCurlGlobalInit();

// Options every tfgrpo handle gets after curl_easy_reset: no signals (we are multi-threaded),
// http/https only, TCP keep-alive and no-delay, curl's message written to `error_buffer`
// (CURL_ERROR_SIZE bytes, which must outlive the transfer).
void ApplyCommonOptions(CURL* handle, char* error_buffer);

// How a failed transfer should be reported and whether another attempt could help.
struct CurlErrorClass {
  Status::Code code = Status::Code::kUnavailable;
  bool retryable = false;       // refused, reset, DNS, timeout, cut short: try again
  bool reached_server = false;  // false: the server was never reached (resolve/connect failed)
};
CurlErrorClass ClassifyCurlError(CURLcode code);

// curl's own message for a failed transfer: the error buffer when filled, else curl_easy_strerror.
std::string CurlErrorDetail(CURLcode code, const char* error_buffer);

// A Status of `code` (kOk: OK) carrying `message`.
Status StatusWithCode(Status::Code code, std::string message);

// `status` with RedactSecret and RedactRunSecrets applied to its message (same code).
Status RedactStatus(const Status& status, std::string_view secret);

}  // namespace tfgrpo::http_internal
