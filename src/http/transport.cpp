// HttpTransport: one attempt over a pooled libcurl easy handle, redirects followed by hand so
// check_url sees every target before it is contacted, check_address vetting every peer address.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "http/curl_common.h"
#include "tfgrpo/http.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

using http_internal::ApplyCommonOptions;
using http_internal::ClassifyCurlError;
using http_internal::CurlErrorDetail;

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0) {
      return h.value;
    }
  }
  return std::nullopt;
}

struct HttpTransport::Pool {
  HttpTransportOptions options;
  std::mutex mu;
  std::condition_variable slot_freed;
  int in_flight = 0;
  std::vector<CURL*> idle;

  CURL* Take() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        CURL* h = idle.back();
        idle.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }
  void Give(CURL* h) {
    {
      std::lock_guard lock(mu);
      if (idle.size() < options.max_idle_handles) {
        idle.push_back(h);
        return;
      }
    }
    curl_easy_cleanup(h);
  }
  void AcquireSlot() {
    if (options.max_in_flight <= 0) return;
    std::unique_lock lock(mu);
    slot_freed.wait(lock, [this] { return in_flight < options.max_in_flight; });
    ++in_flight;
  }
  void ReleaseSlot() {
    if (options.max_in_flight <= 0) return;
    {
      std::lock_guard lock(mu);
      --in_flight;
    }
    slot_freed.notify_one();
  }
};

HttpTransport::HttpTransport(HttpTransportOptions options) : pool_(std::make_unique<Pool>()) {
  http_internal::EnsureCurlGlobalInit();
  pool_->options = options;
}

HttpTransport::~HttpTransport() {
  for (CURL* h : pool_->idle) curl_easy_cleanup(h);
}

HttpTransport& DefaultHttpTransport() {
  static HttpTransport* transport = new HttpTransport();  // never destroyed: usable at exit
  return *transport;
}

namespace {

using Clock = std::chrono::steady_clock;

bool IsFollowableRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool IsCredentialHeader(std::string_view name) {
  return strcasecmp(std::string(name).c_str(), "authorization") == 0 ||
         strcasecmp(std::string(name).c_str(), "cookie") == 0 ||
         strcasecmp(std::string(name).c_str(), "proxy-authorization") == 0;
}

std::string WithoutLineBreaks(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  return out;
}

// "scheme://host:port" of an absolute URL (default port filled in), or "" when unreadable.
std::string Origin(const std::string& url) {
  CURLU* u = curl_url();
  std::string origin;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char *scheme = nullptr, *host = nullptr, *port = nullptr;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
      origin = ToLower(scheme) + "://" + ToLower(host) + ":" + port;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(u);
  return origin;
}

// State of one hop (one request/response) shared with libcurl's callbacks.
struct Hop {
  const HttpRequest* request = nullptr;
  bool may_follow = false;  // a followable 3xx will be followed: its body is discarded

  long pending_status = 0;
  std::vector<HttpHeader> pending_headers;
  bool headers_done = false;
  long status = 0;
  std::vector<HttpHeader> headers;
  bool discard_body = false;
  bool stream_body = false;

  std::string body;
  size_t body_bytes = 0;
  bool truncated = false;
  bool oversize = false;
  bool stopped_by_caller = false;
  Status refused;  // set by check_address

  bool IsRedirectToFollow() const {
    if (!may_follow || !IsFollowableRedirect(status)) return false;
    for (const HttpHeader& h : headers) {
      if (strcasecmp(h.name.c_str(), "location") == 0 && !h.value.empty()) return true;
    }
    return false;
  }
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* hop = static_cast<Hop*>(user);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (hop->headers_done) return size * n;  // trailers
  if (StartsWith(line, "HTTP/")) {
    // A new status line: an interim 1xx response's headers are forgotten.
    hop->pending_headers.clear();
    hop->pending_status = 0;
    const size_t sp = line.find(' ');
    if (sp != std::string_view::npos) {
      hop->pending_status = std::strtol(std::string(line.substr(sp + 1, 3)).c_str(), nullptr, 10);
    }
  } else if (line.empty()) {
    if (hop->pending_status >= 200) {
      hop->status = hop->pending_status;
      hop->headers = std::move(hop->pending_headers);
      hop->headers_done = true;
      hop->discard_body = hop->IsRedirectToFollow();
      hop->stream_body = !hop->discard_body && hop->request->on_body && hop->status >= 200 && hop->status < 300;
    }
  } else if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    hop->pending_headers.push_back({std::string(line.substr(0, colon)), Trim(line.substr(colon + 1))});
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* hop = static_cast<Hop*>(user);
  const size_t len = size * n;
  if (hop->discard_body) return len;
  std::string_view chunk(data, len);
  const size_t max = hop->request->max_response_bytes;
  bool over = false;
  if (max > 0 && hop->body_bytes + len > max) {
    chunk = chunk.substr(0, max - hop->body_bytes);
    over = true;
  }
  hop->body_bytes += chunk.size();
  if (!chunk.empty()) {
    if (hop->stream_body) {
      if (!hop->request->on_body(chunk)) {
        hop->stopped_by_caller = true;
        return 0;
      }
    } else {
      hop->body.append(chunk);
    }
  }
  if (over) {
    (hop->request->truncate_at_max ? hop->truncated : hop->oversize) = true;
    return 0;  // stops the transfer (CURLE_WRITE_ERROR)
  }
  return len;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* hop = static_cast<Hop*>(user);
  return hop->request->cancel != nullptr && hop->request->cancel->load() ? 1 : 0;
}

std::string NumericAddress(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, text, sizeof text);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, text, sizeof text);
  }
  return text;
}

// Before connecting to a freshly resolved address: refusing it here means no packet reaches it.
curl_socket_t OnOpenSocket(void* user, curlsocktype, curl_sockaddr* address) {
  auto* hop = static_cast<Hop*>(user);
  const std::string ip = NumericAddress(&address->addr);
  Status s = hop->request->check_address(ip);
  if (!s.ok()) {
    if (hop->refused.ok()) hop->refused = s.WithContext("refusing to connect to " + ip);
    return CURL_SOCKET_BAD;
  }
  // Close-on-exec, as libcurl's own sockets are: sandboxed tool processes must not inherit them.
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

// Before a request goes out, on a new or a reused connection.
int OnPrerequest(void* user, char* primary_ip, char*, int, int) {
  auto* hop = static_cast<Hop*>(user);
  Status s = hop->request->check_address(primary_ip);
  if (!s.ok()) {
    if (hop->refused.ok()) hop->refused = s.WithContext(std::string("refusing to send to ") + primary_ip);
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

class HeaderList {
 public:
  ~HeaderList() { curl_slist_free_all(list_); }
  void Add(const std::string& line) { list_ = curl_slist_append(list_, line.c_str()); }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

long ToMillis(double seconds) { return std::max(1L, static_cast<long>(seconds * 1000.0)); }

}  // namespace

Result<HttpResponse> HttpTransport::Send(const HttpRequest& request, SendFailure* failure) {
  const std::string& secret = request.secret;
  std::string method = request.method;
  std::string url = request.url;
  std::string body = request.body;
  // Every error leaves through here, redacted.
  auto fail = [&](Status::Code code, const std::string& message, bool retryable, bool reached_server,
                  const std::string& detail) -> Status {
    if (failure != nullptr) {
      failure->retryable = retryable;
      failure->reached_server = reached_server;
      failure->detail = RedactRunSecrets(RedactSecret(detail, secret));
    }
    return http_internal::StatusWithCode(code, RedactRunSecrets(RedactSecret(message, secret)));
  };
  auto refuse = [&](const Status& s, const std::string& context) -> Status {
    return fail(s.code(), context + ": " + s.message(), false, false, s.message());
  };

  if (method != "GET" && method != "POST" && method != "DELETE") {
    return fail(Status::Code::kInvalidArgument, "unsupported HTTP method '" + method + "' (GET, POST or DELETE)",
                false, false, "unsupported method");
  }
  if (request.check_url) {
    Status s = request.check_url(url);
    if (!s.ok()) return refuse(s, "refusing " + url);
  }

  std::vector<HttpHeader> headers = request.headers;
  const std::string first_origin = Origin(url);
  const auto start = Clock::now();
  const bool bounded = request.timeout_s > 0;
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(bounded ? request.timeout_s : 0));

  pool_->AcquireSlot();
  CURL* h = pool_->Take();
  struct Release {
    Pool* pool;
    CURL* handle;
    ~Release() {
      if (handle != nullptr) {
        // Drops the pointers into this call's stack (error buffer, callbacks' data); keeps the
        // connections.
        curl_easy_reset(handle);
        pool->Give(handle);
      }
      pool->ReleaseSlot();
    }
  } release{pool_.get(), h};
  if (h == nullptr) {
    return fail(Status::Code::kInternal, "curl_easy_init failed", false, false, "curl_easy_init failed");
  }

  int redirects = 0;
  for (;;) {
    const std::string what = method + " " + url;
    double remaining_s = 0;
    if (bounded) {
      remaining_s = std::chrono::duration<double>(deadline - Clock::now()).count();
      if (remaining_s <= 0) {
        return fail(Status::Code::kTimeout, what + " timed out after " + std::to_string(redirects) + " redirects",
                    true, true, "timed out");
      }
    }
    Hop hop;
    hop.request = &request;
    hop.may_follow = request.max_redirects > 0;
    char error_buffer[CURL_ERROR_SIZE];

    curl_easy_reset(h);  // keeps the handle's live connections and DNS cache
    ApplyCommonOptions(h, error_buffer);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    HeaderList header_list;
    for (const HttpHeader& header : headers) {
      const std::string value = WithoutLineBreaks(header.value);
      // "Name;" is libcurl's spelling of a header with an empty value.
      header_list.Add(WithoutLineBreaks(header.name) + (value.empty() ? ";" : ": " + value));
    }
    if (method == "POST") {
      header_list.Add("Expect:");  // no 100-continue round trip on large bodies
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    } else {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
      if (method == "DELETE") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());
    if (!request.user_agent.empty()) curl_easy_setopt(h, CURLOPT_USERAGENT, request.user_agent.c_str());
    if (request.decompress) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hop);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &hop);
    if (request.cancel != nullptr) {
      curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &OnProgress);
      curl_easy_setopt(h, CURLOPT_XFERINFODATA, &hop);
      curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    if (request.check_address) {
      // Directly to the server: through a proxy the vetted peer would be the proxy (see http.h).
      curl_easy_setopt(h, CURLOPT_PROXY, "");
      curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, &OnOpenSocket);
      curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &hop);
      curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, &OnPrerequest);
      curl_easy_setopt(h, CURLOPT_PREREQDATA, &hop);
    }
    double connect_s = request.connect_timeout_s > 0 ? request.connect_timeout_s : 30.0;
    if (bounded) {
      connect_s = std::min(connect_s, remaining_s);
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ToMillis(remaining_s));
    }
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ToMillis(connect_s));

    if (request.cancel != nullptr && request.cancel->load()) {
      return fail(Status::Code::kCancelled, what + ": cancelled", false, false, "cancelled");
    }
    const CURLcode code = curl_easy_perform(h);
    if (code != CURLE_OK && !hop.truncated) {
      const std::string detail = CurlErrorDetail(code, error_buffer);
      if (!hop.refused.ok()) return refuse(hop.refused, what);
      if (hop.stopped_by_caller) {
        return fail(Status::Code::kCancelled, what + ": stopped by the body consumer", false, true, "stopped");
      }
      if (hop.oversize) {
        return fail(Status::Code::kProviderError,
                    what + ": the response body exceeds " + std::to_string(request.max_response_bytes) + " bytes",
                    false, true, "response too large");
      }
      if (code == CURLE_ABORTED_BY_CALLBACK) {
        return fail(Status::Code::kCancelled, what + ": cancelled", false, true, detail);
      }
      const http_internal::CurlErrorClass kind = ClassifyCurlError(code);
      const std::string verb = kind.code == Status::Code::kTimeout ? " timed out: " : " failed: ";
      return fail(kind.code, what + verb + detail, kind.retryable, kind.reached_server, detail);
    }

    if (hop.discard_body) {
      if (redirects >= request.max_redirects) {
        return fail(Status::Code::kProviderError,
                    what + ": more than " + std::to_string(request.max_redirects) + " redirects", false, true,
                    "too many redirects");
      }
      char* location = nullptr;
      curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location);
      if (location == nullptr || *location == '\0') {
        return fail(Status::Code::kProviderError,
                    what + ": HTTP " + std::to_string(hop.status) + " redirect without a usable Location", false,
                    true, "bad redirect");
      }
      const std::string next = location;
      if (request.check_url) {
        Status s = request.check_url(next);
        if (!s.ok()) return refuse(s, "refusing the redirect from " + url + " to " + next);
      }
      if (hop.status == 303 || ((hop.status == 301 || hop.status == 302) && method == "POST")) {
        method = "GET";
        body.clear();
      }
      if (Origin(next) != first_origin) {
        std::erase_if(headers, [](const HttpHeader& header) { return IsCredentialHeader(header.name); });
      }
      url = next;
      ++redirects;
      continue;
    }

    HttpResponse response;
    response.status = hop.status;
    if (response.status == 0) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    response.headers = std::move(hop.headers);
    response.body = std::move(hop.body);
    response.final_url = url;
    response.redirects = redirects;
    response.truncated = hop.truncated;
    return response;
  }
}

}  // namespace tfgrpo
