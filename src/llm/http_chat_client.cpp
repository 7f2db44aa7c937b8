// ChatClient over the shared HTTP transport (tfgrpo/http.h): POST {base_url}/chat/completions
// with SendWithRetry's one retry rule, a cap on requests in flight and keep-alive connections.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "llm/http_internal.h"
#include "tfgrpo/http.h"
#include "tfgrpo/llm.h"

namespace tfgrpo {

namespace {

using llm_internal::Redact;

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

class HttpChatClient final : public ChatClient {
 public:
  explicit HttpChatClient(const HttpClientOptions& options)
      : options_(options),
        url_(StripTrailingSlashes(options.base_url) + "/chat/completions"),
        // The cap on requests in flight is the transport's; each in-flight slot keeps its
        // handle (and keep-alive connection) idle between calls.
        transport_(HttpTransportOptions{.max_in_flight = std::max(1, options.concurrency),
                                        .max_idle_handles = static_cast<size_t>(std::max(1, options.concurrency))}) {
    if (!options_.api_key.empty()) auth_value_ = "Bearer " + HeaderSafe(options_.api_key);
  }

  Result<ChatResponse> Complete(const ChatRequest& request) override {
    CallReport report;
    return CompleteAndReport(request, report);
  }
  Result<ChatResponse> CompleteAndReport(const ChatRequest& request, CallReport& report) override;

 private:
  const HttpClientOptions options_;
  const std::string url_;
  std::string auth_value_;
  HttpTransport transport_;
};

Result<ChatResponse> HttpChatClient::CompleteAndReport(const ChatRequest& request, CallReport& report) {
  const auto start = std::chrono::steady_clock::now();
  const std::string& key = options_.api_key;
  const std::string_view role = RoleName(request.role);

  HttpRequest http;
  http.method = "POST";
  http.url = url_;
  // Invalid UTF-8 (from a model's earlier output, say) must not abort the call: replace it.
  http.body = ChatRequestBody(request, options_.model, options_.max_tokens)
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  http.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  if (!auth_value_.empty()) http.headers.push_back({"Authorization", auth_value_});
  http.headers.push_back({std::string(kRoleHeader), std::string(role)});
  if (!request.call_id.empty()) http.headers.push_back({std::string(kCallIdHeader), HeaderSafe(request.call_id)});
  // timeout_s <= 0 means no overall limit; the connect phase is always bounded.
  http.timeout_s = options_.timeout_s;
  http.connect_timeout_s = 30;
  http.secret = key;

  // The 2xx body is parsed once, by the check; a body we cannot use is retried.
  std::optional<ChatResponse> parsed;
  RetryPolicy policy;
  policy.max_retries = options_.max_retries;
  policy.backoff_initial_s = options_.backoff_initial_s;
  policy.backoff_max_s = options_.backoff_max_s;
  policy.retry_after_max_s = options_.retry_after_max_s;
  // A 5xx repeated word for word is an answer (llama-server without --jinja), not a hiccup.
  policy.same_server_error_limit = 3;
  policy.describe_error = [&key](const HttpResponse& r) {
    return llm_internal::ProviderErrorMessage(r.body, 300, key);
  };
  policy.check_response = [&](const HttpResponse& r) {
    Result<ChatResponse> chat = llm_internal::ParseChatCompletion(r.body, key);
    if (chat.ok()) {
      parsed = std::move(chat).value();
      return Status::Ok();
    }
    return Status::Unavailable(Redact("HTTP " + std::to_string(r.status) + " with an unusable body: " +
                                      chat.status().message(), key));
  };
  policy.on_retry = [&](const RetryEvent& e) {
    spdlog::debug("llm retry: role={} call_id={} attempt={}/{} error=\"{}\" wait={:.3f}s{}", role, request.call_id,
                  e.attempt, e.max_attempts, e.error, e.wait_s, e.from_retry_after ? " (Retry-After)" : "");
  };

  int attempts = 0;
  Result<HttpResponse> sent = SendWithRetry(transport_, http, policy, &attempts);
  report.attempts = attempts;
  report.latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!sent.ok()) return sent.status();
  const long status = sent->status;
  if (status >= 200 && status < 300 && parsed) {
    ChatResponse response = std::move(*parsed);
    response.attempts = attempts;
    response.latency_ms = report.latency_ms;
    return response;
  }
  if (status == 401 || status == 403) {
    return Status::Unauthorized("HTTP " + std::to_string(status) + " from " + url_ +
                                ": the API key was rejected; check the environment variable named in "
                                "model.api_key_env (provider said: " +
                                llm_internal::ProviderErrorMessage(sent->body, 300, key) + ")")
        .WithHttpStatus(static_cast<int>(status));
  }
  return Status::ProviderError("HTTP " + std::to_string(status) + " from " + url_ + ": " +
                               llm_internal::ProviderErrorMessage(sent->body, 500, key))
      .WithHttpStatus(static_cast<int>(status));
}

}  // namespace

std::unique_ptr<ChatClient> MakeHttpChatClient(const HttpClientOptions& options) {
  return std::make_unique<HttpChatClient>(options);
}

}  // namespace tfgrpo
