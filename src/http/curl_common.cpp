#include "http/curl_common.h"

#include <mutex>

#include "tfgrpo/http.h"

namespace tfgrpo::http_internal {

void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

void ApplyCommonOptions(CURL* handle, char* error_buffer) {
  if (error_buffer != nullptr) error_buffer[0] = '\0';
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(handle, CURLOPT_TCP_NODELAY, 1L);
}

CurlErrorClass ClassifyCurlError(CURLcode code) {
  switch (code) {
    case CURLE_OK:
      return {Status::Code::kOk, false, true};
    // Nothing was sent: the server is down or the name does not resolve. Later it may be up.
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return {Status::Code::kUnavailable, true, false};
    case CURLE_OPERATION_TIMEDOUT:
      return {Status::Code::kTimeout, true, true};
    case CURLE_ABORTED_BY_CALLBACK:
      return {Status::Code::kCancelled, false, true};
    // Our request is wrong: no retry can fix it.
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return {Status::Code::kInvalidArgument, false, false};
    // A missing feature, a TLS certificate we refuse, a write callback that stopped the
    // transfer: permanent, though on the network path.
    case CURLE_NOT_BUILT_IN:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_FUNCTION_NOT_FOUND:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_LOGIN_DENIED:
    case CURLE_WRITE_ERROR:
      return {Status::Code::kUnavailable, false, true};
    default:
      // Reset, cut short, TLS handshake hiccup, empty reply: the network, not the request.
      return {Status::Code::kUnavailable, true, true};
  }
}

std::string CurlErrorDetail(CURLcode code, const char* error_buffer) {
  if (error_buffer != nullptr && error_buffer[0] != '\0') {
    std::string detail(error_buffer);
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
    return detail;
  }
  return curl_easy_strerror(code);
}

Status StatusWithCode(Status::Code code, std::string message) {
  switch (code) {
    case Status::Code::kOk: return Status::Ok();
    case Status::Code::kInvalidArgument: return Status::InvalidArgument(std::move(message));
    case Status::Code::kNotFound: return Status::NotFound(std::move(message));
    case Status::Code::kIoError: return Status::IoError(std::move(message));
    case Status::Code::kUnavailable: return Status::Unavailable(std::move(message));
    case Status::Code::kUnauthorized: return Status::Unauthorized(std::move(message));
    case Status::Code::kProviderError: return Status::ProviderError(std::move(message));
    case Status::Code::kTimeout: return Status::Timeout(std::move(message));
    case Status::Code::kCancelled: return Status::Cancelled(std::move(message));
    case Status::Code::kInternal: return Status::Internal(std::move(message));
    case Status::Code::kBudgetExhausted: return Status::BudgetExhausted(std::move(message));
  }
  return Status::Internal(std::move(message));
}

Status RedactStatus(const Status& status, std::string_view secret) {
  if (status.ok()) return status;
  return StatusWithCode(status.code(), RedactRunSecrets(RedactSecret(status.message(), secret)))
      .WithHttpStatus(status.http_status(), status.retry_after_s());
}

}  // namespace tfgrpo::http_internal
