// One HTTP exchange with the upstream provider, driven step by step (libcurl multi interface) so
// the proxy can stop at the response headers, relay body bytes as they arrive, notice a departed
// client between steps, and enforce its own deadlines. Handles are pooled so connections to the
// provider are kept alive across requests. Private to the serve module.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <curl/curl.h>

#include "tfgrpo/status.h"

namespace tfgrpo::serve_internal {

using Clock = std::chrono::steady_clock;

struct UpstreamRequest {
  bool post = true;                  // POST with `body`, else GET
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  std::chrono::milliseconds connect_timeout{10000};
};

// Idle (multi, easy) handle pairs; each multi keeps its own keep-alive connection cache.
class UpstreamPool {
 public:
  struct Handles {
    CURLM* multi = nullptr;
    CURL* easy = nullptr;
  };
  explicit UpstreamPool(size_t max_idle = 256);
  ~UpstreamPool();
  Handles Acquire();
  void Release(Handles h);

 private:
  std::mutex mu_;
  std::vector<Handles> idle_;
  size_t max_idle_;
};

class UpstreamCall {
 public:
  // `abandon` (may be null) is checked while waiting: once true, the call ends with kCancelled.
  UpstreamCall(UpstreamPool& pool, const std::atomic<bool>* abandon);
  ~UpstreamCall();  // abandons an unfinished transfer (closing its connection)
  UpstreamCall(const UpstreamCall&) = delete;
  UpstreamCall& operator=(const UpstreamCall&) = delete;

  // Begins the transfer. Error only for a request curl refuses outright (bad URL).
  Status Start(UpstreamRequest request);
  // Drives the transfer until the final response's headers are in or it ends. Errors:
  // kUnavailable (could not connect, connection broken, nothing received), kTimeout (deadline),
  // kCancelled (abandoned).
  Status AwaitHeaders(Clock::time_point deadline);
  // Drives the transfer to its end, body accumulating (see TakeBody). Same errors.
  Status AwaitEnd(Clock::time_point deadline);
  // Waits up to `wait` for progress, then moves the body bytes received so far to `out`.
  // Error when the transfer failed (kUnavailable / kTimeout).
  Status Pump(std::chrono::milliseconds wait, std::string* out);
  // Stops the transfer now; the provider sees its connection close.
  void Abort();

  bool finished() const { return finished_; }
  // OK while running or after a clean end; otherwise why the transfer failed.
  Status result() const;
  int status() const { return status_; }
  // Final response's headers in arrival order (names as sent).
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  std::string Header(std::string_view name) const;  // case-insensitive; "" when absent
  std::string TakeBody() { return std::move(body_); }

 private:
  static size_t OnHeader(char* data, size_t size, size_t n, void* self);
  static size_t OnBody(char* data, size_t size, size_t n, void* self);
  // One round of curl work, waiting up to `wait` for socket activity first when `wait` > 0.
  Status Step(std::chrono::milliseconds wait);
  Status Drive(bool (*done)(const UpstreamCall&), Clock::time_point deadline);
  void Detach();

  UpstreamPool& pool_;
  const std::atomic<bool>* abandon_;
  UpstreamPool::Handles handles_;
  UpstreamRequest request_;
  curl_slist* header_list_ = nullptr;
  bool attached_ = false;
  bool finished_ = false;
  CURLcode curl_result_ = CURLE_OK;
  char error_buffer_[CURL_ERROR_SIZE] = {0};

  int status_ = 0;          // final status, set once its headers are complete
  int pending_status_ = 0;  // status line being read (may be an interim 1xx)
  bool headers_done_ = false;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
};

}  // namespace tfgrpo::serve_internal
