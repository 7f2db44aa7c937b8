// ChatClient over libcurl: POST {base_url}/chat/completions with retries, Retry-After, a cap on
// requests in flight and a pool of reused easy handles (keep-alive connections).

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <semaphore>
#include <thread>
#include <utility>
#include <vector>

#include "llm/http_internal.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/retry.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

namespace {

using llm_internal::Redact;

std::once_flag g_curl_init_once;

void EnsureCurlInitialized() {
  std::call_once(g_curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Errors that will not go away by trying again: a bad URL, a missing feature, a TLS certificate
// we refuse. Everything else on the network path (refused, reset, timeout, truncated) is retried.
bool IsPermanentCurlError(CURLcode code) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
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
      return true;
    default:
      return false;
  }
}

// A server error that repeats word for word is an answer, not a hiccup (llama-server says
// "tools param requires --jinja flag" with a 500 every time): after this many identical replies
// in a row the call fails for good. 502/503/504 (gateways, overload) and replies carrying
// Retry-After are the server saying "later", so they never count.
constexpr int kSameServerErrorLimit = 3;

bool MayBeAPermanentServerError(long status, bool has_retry_after) {
  return status >= 500 && status <= 599 && status != 502 && status != 503 && status != 504 &&
         !has_retry_after;
}

double UnitRandom() {
  thread_local uint64_t state = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
           std::hash<std::thread::id>{}(std::this_thread::get_id());
  }();
  return UnitDouble(state);
}

// Header values are ours, but a stray CR/LF would split the header; drop them.
std::string HeaderSafe(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  return out;
}

std::string StripTrailingSlashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

class SemaphoreSlot {
 public:
  explicit SemaphoreSlot(std::counting_semaphore<>& sem) : sem_(sem) { sem_.acquire(); }
  ~SemaphoreSlot() { sem_.release(); }
  SemaphoreSlot(const SemaphoreSlot&) = delete;
  SemaphoreSlot& operator=(const SemaphoreSlot&) = delete;

 private:
  std::counting_semaphore<>& sem_;
};

class HeaderList {
 public:
  HeaderList() = default;
  ~HeaderList() { curl_slist_free_all(list_); }
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  void Add(const std::string& line) { list_ = curl_slist_append(list_, line.c_str()); }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

// What one HTTP attempt produced.
struct AttemptResult {
  CURLcode curl_code = CURLE_OK;
  std::string curl_error;
  long http_status = 0;
  std::string body;
  std::optional<std::string> retry_after;
};

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<AttemptResult*>(user)->body.append(data, size * count);
  return size * count;
}

size_t ReadHeader(char* data, size_t size, size_t count, void* user) {
  auto* attempt = static_cast<AttemptResult*>(user);
  std::string_view line(data, size * count);
  // A new status line starts a new response (after a 100 Continue, say): forget older headers.
  if (StartsWith(line, "HTTP/")) {
    attempt->retry_after.reset();
  } else if (line.size() > 12 && strncasecmp(line.data(), "retry-after:", 12) == 0) {
    attempt->retry_after = Trim(line.substr(12));
  }
  return size * count;
}

class HttpChatClient final : public ChatClient {
 public:
  explicit HttpChatClient(const HttpClientOptions& options)
      : options_(options),
        url_(StripTrailingSlashes(options.base_url) + "/chat/completions"),
        in_flight_(std::max(1, options.concurrency)) {
    EnsureCurlInitialized();
    if (!options_.api_key.empty()) {
      auth_header_ = "Authorization: Bearer " + HeaderSafe(options_.api_key);
    }
  }

  ~HttpChatClient() override {
    for (CURL* h : idle_handles_) curl_easy_cleanup(h);
  }

  Result<ChatResponse> Complete(const ChatRequest& request) override {
    CallReport report;
    return CompleteAndReport(request, report);
  }
  Result<ChatResponse> CompleteAndReport(const ChatRequest& request, CallReport& report) override;

 private:
  AttemptResult PerformAttempt(const std::string& body, curl_slist* headers);
  CURL* TakeHandle();
  void ReturnHandle(CURL* handle);
  std::string Clean(std::string text) const { return Redact(std::move(text), options_.api_key); }

  const HttpClientOptions options_;
  const std::string url_;
  std::string auth_header_;
  std::counting_semaphore<> in_flight_;
  std::mutex pool_mu_;
  std::vector<CURL*> idle_handles_;  // taken only inside an in-flight slot: at most `concurrency`
};

CURL* HttpChatClient::TakeHandle() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_handles_.empty()) {
      CURL* h = idle_handles_.back();
      idle_handles_.pop_back();
      curl_easy_reset(h);  // keeps the handle's live connections and DNS cache
      return h;
    }
  }
  return curl_easy_init();
}

void HttpChatClient::ReturnHandle(CURL* handle) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  idle_handles_.push_back(handle);
}

AttemptResult HttpChatClient::PerformAttempt(const std::string& body, curl_slist* headers) {
  AttemptResult result;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  // timeout_s <= 0 means no overall limit (curl's 0); the connect phase is always bounded.
  const long timeout_ms =
      options_.timeout_s > 0 ? std::max(1L, static_cast<long>(options_.timeout_s * 1000.0)) : 0L;
  const long connect_timeout_ms = timeout_ms > 0 ? std::min(timeout_ms, 30000L) : 30000L;

  SemaphoreSlot slot(in_flight_);
  CURL* h = TakeHandle();
  if (h == nullptr) {
    result.curl_code = CURLE_FAILED_INIT;
    result.curl_error = "curl_easy_init failed";
    return result;
  }
  curl_easy_setopt(h, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &result);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &ReadHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &result);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);

  result.curl_code = curl_easy_perform(h);
  if (result.curl_code == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &result.http_status);
  } else {
    result.curl_error = error_buffer[0] != '\0' ? std::string(error_buffer)
                                                : std::string(curl_easy_strerror(result.curl_code));
  }
  // The error buffer lives on this stack frame; detach it before the handle goes back.
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  ReturnHandle(h);
  return result;
}

Result<ChatResponse> HttpChatClient::CompleteAndReport(const ChatRequest& request, CallReport& report) {
  const auto start = std::chrono::steady_clock::now();
  // Invalid UTF-8 (from a model's earlier output, say) must not abort the call: replace it.
  const std::string body = ChatRequestBody(request, options_.model, options_.max_tokens)
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string_view role = RoleName(request.role);

  HeaderList headers;
  headers.Add("Content-Type: application/json");
  headers.Add("Accept: application/json");
  headers.Add("Expect:");  // no 100-continue round trip on large bodies
  if (!auth_header_.empty()) headers.Add(auth_header_);
  headers.Add(std::string(kRoleHeader) + ": " + std::string(role));
  if (!request.call_id.empty()) {
    headers.Add(std::string(kCallIdHeader) + ": " + HeaderSafe(request.call_id));
  }

  const int max_attempts = std::max(0, options_.max_retries) + 1;
  std::string last_error;
  bool every_attempt_unreachable = true;
  std::string repeated_server_error;  // the last 5xx message, while it keeps coming back
  int repeats = 0;
  int attempt = 1;
  auto elapsed_ms = [&start] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  // Every return goes through here, so a failed call reports its attempts as well.
  auto finish = [&](Result<ChatResponse> result) {
    report.attempts = attempt;
    report.latency_ms = elapsed_ms();
    return result;
  };
  for (;; ++attempt) {
    AttemptResult r = PerformAttempt(body, headers.get());
    std::optional<double> retry_after;
    bool counted_repeat = false;

    if (r.curl_code != CURLE_OK) {
      last_error = Clean(r.curl_error);
      if (r.curl_code != CURLE_COULDNT_CONNECT && r.curl_code != CURLE_COULDNT_RESOLVE_HOST) {
        every_attempt_unreachable = false;
      }
      if (IsPermanentCurlError(r.curl_code)) {
        return finish(Status::Unavailable("POST " + url_ + " failed: " + last_error));
      }
    } else {
      every_attempt_unreachable = false;
      const long status = r.http_status;
      if (status >= 200 && status < 300) {
        Result<ChatResponse> parsed = llm_internal::ParseChatCompletion(r.body, options_.api_key);
        if (parsed.ok()) {
          ChatResponse response = std::move(parsed).value();
          response.attempts = attempt;
          response.latency_ms = elapsed_ms();
          return finish(std::move(response));
        }
        last_error = Clean("HTTP " + std::to_string(status) + " with an unusable body: " +
                           parsed.status().message());
      } else if (status == 401 || status == 403) {
        return finish(Status::Unauthorized(
            "HTTP " + std::to_string(status) + " from " + url_ +
            ": the API key was rejected; check the environment variable named in "
            "model.api_key_env (provider said: " +
            llm_internal::ProviderErrorMessage(r.body, 300, options_.api_key) + ")"));
      } else if (IsRetryableHttpStatus(status)) {
        const std::string message = llm_internal::ProviderErrorMessage(r.body, 300, options_.api_key);
        last_error = "HTTP " + std::to_string(status) + ": " + message;
        if (r.retry_after) {
          retry_after = ParseRetryAfter(*r.retry_after, std::time(nullptr));
        }
        if (MayBeAPermanentServerError(status, r.retry_after.has_value())) {
          counted_repeat = true;
          repeats = last_error == repeated_server_error ? repeats + 1 : 1;
          repeated_server_error = last_error;
          if (repeats >= kSameServerErrorLimit) {
            return finish(Status::ProviderError(
                "HTTP " + std::to_string(status) + " from " + url_ + ": " + message + " (the same reply " +
                std::to_string(repeats) + " times in a row; not retrying)"));
          }
        }
      } else {
        return finish(Status::ProviderError(
            "HTTP " + std::to_string(status) + " from " + url_ + ": " +
            llm_internal::ProviderErrorMessage(r.body, 500, options_.api_key)));
      }
    }
    if (!counted_repeat) {
      repeats = 0;
      repeated_server_error.clear();
    }

    if (attempt >= max_attempts) break;
    const double wait_s =
        retry_after ? std::min(*retry_after, std::max(0.0, options_.retry_after_max_s))
                    : BackoffSeconds(attempt, options_.backoff_initial_s,
                                                   options_.backoff_max_s, UnitRandom());
    spdlog::debug("llm retry: role={} call_id={} attempt={}/{} error=\"{}\" wait={:.3f}s{}", role,
                  request.call_id, attempt, max_attempts, last_error, wait_s,
                  retry_after ? " (Retry-After)" : "");
    std::this_thread::sleep_for(std::chrono::duration<double>(wait_s));
  }

  const std::string attempts = std::to_string(attempt) + (attempt == 1 ? " attempt" : " attempts");
  if (every_attempt_unreachable) {
    return finish(Status::Unavailable("cannot reach " + url_ + " (" + attempts + "): " + last_error));
  }
  return finish(Status::Unavailable("POST " + url_ + " failed after " + attempts +
                                    "; last error: " + last_error));
}

}  // namespace

std::unique_ptr<ChatClient> MakeHttpChatClient(const HttpClientOptions& options) {
  return std::make_unique<HttpChatClient>(options);
}

}  // namespace tfgrpo
