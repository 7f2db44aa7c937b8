// libcurl multi-interface driver for one upstream exchange, and the pool of handles behind it.
// Handle setup and the curl error mapping are the http module's (http/curl_common.h); the
// step-by-step multi pump stays here: the proxy pulls body bytes from httplib's content provider
// between abandon checks, which HttpTransport's blocking Send with on_body cannot offer without a
// thread per relayed stream.

#include "serve/upstream.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "http/curl_common.h"
#include "tfgrpo/util.h"

namespace tfgrpo::serve_internal {

namespace {

// Waits are sliced so an abandoned call notices within this time.
constexpr std::chrono::milliseconds kAbandonCheckInterval{100};

bool HeadersDone(const UpstreamCall& c) { return c.finished() || c.status() >= 200; }
bool Never(const UpstreamCall&) { return false; }

}  // namespace

UpstreamPool::UpstreamPool(size_t max_idle) : max_idle_(max_idle) { http_internal::EnsureCurlGlobalInit(); }

UpstreamPool::~UpstreamPool() {
  for (Handles& h : idle_) {
    curl_easy_cleanup(h.easy);
    curl_multi_cleanup(h.multi);
  }
}

UpstreamPool::Handles UpstreamPool::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      Handles h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  Handles h;
  h.multi = curl_multi_init();
  h.easy = curl_easy_init();
  return h;
}

void UpstreamPool::Release(Handles h) {
  if (h.multi == nullptr || h.easy == nullptr) return;
  {
    std::lock_guard lock(mu_);
    if (idle_.size() < max_idle_) {
      idle_.push_back(h);
      return;
    }
  }
  curl_easy_cleanup(h.easy);
  curl_multi_cleanup(h.multi);
}

UpstreamCall::UpstreamCall(UpstreamPool& pool, const std::atomic<bool>* abandon)
    : pool_(pool), abandon_(abandon), handles_(pool.Acquire()) {}

UpstreamCall::~UpstreamCall() {
  Detach();
  if (header_list_ != nullptr) curl_slist_free_all(header_list_);
  pool_.Release(handles_);
}

void UpstreamCall::Detach() {
  if (attached_) {
    curl_multi_remove_handle(handles_.multi, handles_.easy);
    attached_ = false;
  }
}

void UpstreamCall::Abort() {
  Detach();
  if (!finished_) {
    finished_ = true;
    curl_result_ = CURLE_ABORTED_BY_CALLBACK;
  }
}

size_t UpstreamCall::OnHeader(char* data, size_t size, size_t n, void* self_ptr) {
  auto* self = static_cast<UpstreamCall*>(self_ptr);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (self->headers_done_) return size * n;  // trailers
  if (StartsWith(line, "HTTP/")) {
    // A new status line: an interim 1xx response's headers are discarded.
    self->headers_.clear();
    self->pending_status_ = 0;
    size_t sp = line.find(' ');
    if (sp != std::string_view::npos) {
      self->pending_status_ = std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    }
    return size * n;
  }
  if (line.empty()) {
    if (self->pending_status_ >= 200) {
      self->status_ = self->pending_status_;
      self->headers_done_ = true;
    }
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    self->headers_.emplace_back(std::string(line.substr(0, colon)),
                                Trim(line.substr(colon + 1)));
  }
  return size * n;
}

size_t UpstreamCall::OnBody(char* data, size_t size, size_t n, void* self_ptr) {
  auto* self = static_cast<UpstreamCall*>(self_ptr);
  self->body_.append(data, size * n);
  return size * n;
}

Status UpstreamCall::Start(UpstreamRequest request) {
  request_ = std::move(request);
  if (handles_.multi == nullptr || handles_.easy == nullptr) {
    return Status::Internal("could not create a libcurl handle");
  }
  CURL* e = handles_.easy;
  // Reset keeps the multi handle's connection cache, so the provider connection is reused.
  curl_easy_reset(e);
  for (const std::string& h : request_.headers) {
    header_list_ = curl_slist_append(header_list_, h.c_str());
  }
  // No "Expect: 100-continue" round trip on large bodies.
  header_list_ = curl_slist_append(header_list_, "Expect:");
  // The same base options as every HttpTransport handle (no signals, http/https only, TCP
  // keep-alive and no-delay, curl's message in error_buffer_).
  http_internal::ApplyCommonOptions(e, error_buffer_);
  curl_easy_setopt(e, CURLOPT_URL, request_.url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, header_list_);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &UpstreamCall::OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &UpstreamCall::OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request_.connect_timeout.count()));
  if (request_.post) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, request_.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_.body.size()));
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  CURLMcode mc = curl_multi_add_handle(handles_.multi, e);
  if (mc != CURLM_OK) {
    return Status::Internal(std::string("libcurl refused the upstream request: ") +
                            curl_multi_strerror(mc));
  }
  attached_ = true;
  return Status::Ok();
}

Status UpstreamCall::Step(std::chrono::milliseconds wait) {
  if (finished_) return Status::Ok();
  if (wait.count() > 0) {
    curl_multi_poll(handles_.multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
  }
  int running = 0;
  CURLMcode mc = curl_multi_perform(handles_.multi, &running);
  if (mc != CURLM_OK) {
    Abort();
    return Status::Internal(std::string("libcurl: ") + curl_multi_strerror(mc));
  }
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(handles_.multi, &left)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == handles_.easy) {
      finished_ = true;
      curl_result_ = msg->data.result;
      Detach();
    }
  }
  return Status::Ok();
}

Status UpstreamCall::result() const {
  if (!finished_ || curl_result_ == CURLE_OK) return Status::Ok();
  if (curl_result_ == CURLE_ABORTED_BY_CALLBACK) return Status::Cancelled("upstream call abandoned");
  // The transport's mapping of curl errors. No overall curl timeout is set (deadlines are
  // ours), so a timeout here is the connect timeout. The proxy answers anything but a timeout
  // with 502, so a bad URL (kInvalidArgument) reads as an unreachable upstream, as it is.
  const std::string detail = http_internal::CurlErrorDetail(curl_result_, error_buffer_);
  const http_internal::CurlErrorClass kind = http_internal::ClassifyCurlError(curl_result_);
  return http_internal::StatusWithCode(kind.code, detail);
}

Status UpstreamCall::Drive(bool (*done)(const UpstreamCall&), Clock::time_point deadline) {
  // The first round runs without waiting so a fast upstream is not delayed by a poll.
  std::chrono::milliseconds wait{0};
  while (true) {
    Status s = Step(wait);
    if (!s.ok()) return s;
    if (finished_) return result();
    if (done(*this)) return Status::Ok();
    if (abandon_ != nullptr && abandon_->load()) {
      Abort();
      return Status::Cancelled("the proxy is shutting down");
    }
    auto now = Clock::now();
    if (now >= deadline) {
      Abort();
      return Status::Timeout("the upstream did not answer in time");
    }
    wait = std::chrono::ceil<std::chrono::milliseconds>(
        std::min<Clock::duration>(deadline - now, kAbandonCheckInterval));
  }
}

Status UpstreamCall::AwaitHeaders(Clock::time_point deadline) {
  return Drive(&HeadersDone, deadline);
}

Status UpstreamCall::AwaitEnd(Clock::time_point deadline) { return Drive(&Never, deadline); }

Status UpstreamCall::Pump(std::chrono::milliseconds wait, std::string* out) {
  Status s = Step(std::chrono::milliseconds(0));
  if (s.ok() && body_.empty() && !finished_) s = Step(wait);
  if (!body_.empty()) {
    if (out->empty()) {
      out->swap(body_);
    } else {
      out->append(body_);
      body_.clear();
    }
  }
  if (!s.ok()) return s;
  return result();
}

std::string UpstreamCall::Header(std::string_view name) const {
  std::string want = ToLower(name);
  for (const auto& [k, v] : headers_) {
    if (ToLower(k) == want) return v;
  }
  return "";
}

}  // namespace tfgrpo::serve_internal
