// Reading request heads ahead of cpp-httplib, admitting connections, and the request slots.

#include "serve/guarded_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>

namespace tfgrpo::serve_internal {

using Clock = std::chrono::steady_clock;

namespace {

thread_local RequestContext* t_request = nullptr;

// Bytes asked of the socket at a time.
constexpr size_t kRecvChunk = 16 * 1024;
// After refusing a request whose client may still be sending, its bytes are read and dropped
// for this long before closing, so the refusal is not lost to a TCP reset.
constexpr std::chrono::milliseconds kDrainBeforeClose{1000};
constexpr size_t kDrainMaxBytes = 16u << 20;
// Connection threads beyond max_connections, for connections being closed to make room.
constexpr size_t kSpareThreads = 16;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 9110 token characters (method and header names).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) continue;
    if (std::strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == '\0') return false;
  }
  return true;
}

bool IsRangeHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "Range") || EqualsIgnoreCase(name, "If-Range");
}

// Names httplib sets on every request itself (the peer's address); a client's own are dropped.
constexpr std::string_view kPseudoHeaders[] = {"REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR",
                                               "LOCAL_PORT"};
bool IsPseudoHeader(std::string_view name) {
  return std::any_of(std::begin(kPseudoHeaders), std::end(kPseudoHeaders),
                     [name](std::string_view p) { return EqualsIgnoreCase(name, p); });
}

HeadError Refusal(int status, std::string code, std::string message) {
  return HeadError{status, std::move(code), std::move(message)};
}

HeadError HeadTooLarge(const FrontLimits& limits) {
  return Refusal(431, "request_header_fields_too_large",
                 "the request head exceeds " + std::to_string(limits.max_head_bytes) +
                     " bytes (request line and headers together)");
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

int MillisUntil(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 60000));
}

void AddressOf(socket_t sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? ::getpeername(sock, sa, &len) : ::getsockname(sock, sa, &len)) != 0) return;
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    port = ntohs(in6->sin6_port);
  }
  ip = text;
}

// Replaces the headers httplib parsed (percent-decoded) by the ones as sent, keeping its own
// peer-address entries.
void UseRawHeaders(httplib::Request& req, const RequestHead& head) {
  httplib::Headers headers;
  for (std::string_view name : kPseudoHeaders) {
    auto it = req.headers.find(std::string(name));
    if (it != req.headers.end()) headers.insert(*it);
  }
  for (const auto& [name, value] : head.headers) {
    if (!IsRangeHeader(name) && !IsPseudoHeader(name)) headers.emplace(name, value);
  }
  req.headers = std::move(headers);
}

// One thread per connection, created on demand up to a cap and reused; httplib's own pool has
// a fixed size, so connections waiting for their head or their next request could fill it.
class ConnectionThreads final : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(size_t max_threads) : max_threads_(max_threads) {}
  ~ConnectionThreads() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(fn));
    // Each job is a whole connection, so one left queued could wait for minutes: a thread is
    // started whenever the queued jobs outnumber the idle threads that will take them (a
    // thread woken by an earlier notify still counts as idle until it takes its job).
    if (jobs_.size() > idle_ && threads_.size() < max_threads_) {
      threads_.emplace_back([this] { Work(); });
    } else {
      cv_.notify_one();
    }
  }
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      if (shut_down_) return;
      shut_down_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void Work() {
    std::unique_lock lock(mu_);
    while (true) {
      ++idle_;
      cv_.wait(lock, [this] { return shut_down_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;  // shutting down with nothing left to serve
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  const size_t max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool shut_down_ = false;
};

}  // namespace

// A client connection as httplib reads and writes it: bytes our code read ahead (the head,
// rewritten) are served first, waits are polls with the configured timeouts.
class ConnectionStream final : public httplib::Stream {
 public:
  enum class Wait { kData, kClosed, kTimeout, kWoken };

  ConnectionStream(socket_t sock, std::chrono::milliseconds io_timeout)
      : sock_(sock), io_timeout_ms_(static_cast<int>(io_timeout.count())) {}

  bool is_readable() const override { return pos_ < buf_.size() || Poll(POLLIN); }
  bool is_writable() const override { return Poll(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ >= buf_.size()) {
      if (!Poll(POLLIN)) return -1;
      ssize_t n = RecvIntoBuffer();
      if (n <= 0) return n;
    }
    size_t n = std::min(size, buf_.size() - pos_);
    std::memcpy(ptr, buf_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!Poll(POLLOUT)) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    AddressOf(sock_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    AddressOf(sock_, false, ip, port);
  }
  socket_t socket() const override { return sock_; }

  // Reads what arrives before `deadline` into the read-ahead buffer; `wake_fd` turning
  // readable (shutdown) ends the wait.
  Wait Fill(Clock::time_point deadline, int wake_fd) {
    while (true) {
      int wait_ms = MillisUntil(deadline);
      if (wait_ms <= 0) return Wait::kTimeout;
      pollfd fds[2] = {{sock_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
      int r = ::poll(fds, 2, wait_ms);
      if (r < 0) {
        if (errno == EINTR) continue;
        return Wait::kClosed;
      }
      if (r == 0) continue;  // the deadline check above ends the wait
      if (fds[1].revents != 0) return Wait::kWoken;
      ssize_t n = RecvIntoBuffer();
      if (n > 0) return Wait::kData;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      return Wait::kClosed;
    }
  }

  std::string_view pending() const {
    return std::string_view(buf_).substr(pos_);
  }
  // Replaces the first `n` pending bytes by `replacement`.
  void ReplacePending(size_t n, std::string_view replacement) {
    buf_.replace(pos_, n, replacement);
  }

 private:
  bool Poll(short events) const {
    pollfd p{sock_, events, 0};
    int r;
    do {
      r = ::poll(&p, 1, io_timeout_ms_);
    } while (r < 0 && errno == EINTR);
    return r > 0;
  }

  ssize_t RecvIntoBuffer() {
    if (pos_ >= buf_.size()) {
      buf_.clear();
      pos_ = 0;
    } else if (pos_ > kRecvChunk) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    size_t old = buf_.size();
    buf_.resize(old + kRecvChunk);
    ssize_t n;
    do {
      n = ::recv(sock_, buf_.data() + old, kRecvChunk, 0);
    } while (n < 0 && errno == EINTR);
    buf_.resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
    return n;
  }

  socket_t sock_;
  int io_timeout_ms_;
  std::string buf_;
  size_t pos_ = 0;
};

// ---- Request heads -----------------------------------------------------------------------------

std::string_view RequestHead::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

const std::string* RequestHead::Find(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return &v;
  }
  return nullptr;
}

std::string RequestHead::Serialize() const {
  std::string out = method + " " + target + " " + version + "\r\n";
  for (const auto& [name, value] : headers) {
    if (IsRangeHeader(name) || IsPseudoHeader(name)) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

size_t FindHeadEnd(std::string_view bytes, size_t from) {
  // A blank line is "\r\n" (or a bare "\n", which ParseRequestHead then refuses) after a "\n".
  size_t crlf = bytes.find("\n\r\n", from);
  size_t lf = bytes.find("\n\n", from);
  size_t end = std::string_view::npos;
  if (crlf != std::string_view::npos) end = crlf + 3;
  if (lf != std::string_view::npos && (end == std::string_view::npos || lf + 2 < end)) {
    end = lf + 2;
  }
  return end;
}

std::variant<RequestHead, HeadError> ParseRequestHead(std::string_view head,
                                                      const FrontLimits& limits) {
  if (head.size() > limits.max_head_bytes) return HeadTooLarge(limits);
  RequestHead out;
  bool request_line = true;
  size_t count = 0;
  size_t pos = 0;
  while (pos < head.size()) {
    size_t nl = head.find('\n', pos);
    if (nl == std::string_view::npos) nl = head.size();
    std::string_view line = head.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line.back() != '\r') {
      return Refusal(400, "bad_request", "every line of the request head must end with CRLF");
    }
    line.remove_suffix(1);
    if (request_line) {
      request_line = false;
      if (line.size() + 2 > limits.max_line_bytes) {
        return Refusal(414, "uri_too_long",
                       "the request line exceeds " + std::to_string(limits.max_line_bytes) +
                           " bytes");
      }
      size_t sp1 = line.find(' ');
      size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
      if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        return Refusal(400, "bad_request", "malformed request line");
      }
      std::string_view method = line.substr(0, sp1);
      std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::string_view version = line.substr(sp2 + 1);
      bool target_ok = !target.empty() &&
                       std::all_of(target.begin(), target.end(), [](char ch) {
                         unsigned char c = static_cast<unsigned char>(ch);
                         return c > 0x20 && c != 0x7f;
                       });
      if (!IsToken(method) || !target_ok || (version != "HTTP/1.1" && version != "HTTP/1.0")) {
        return Refusal(400, "bad_request", "malformed request line");
      }
      out.method = method;
      out.target = target;
      out.version = version;
      continue;
    }
    if (line.empty()) break;  // the blank line ending the head
    if (++count > limits.max_header_count) {
      return Refusal(431, "request_header_fields_too_large",
                     "the request has more than " + std::to_string(limits.max_header_count) +
                         " headers");
    }
    if (line.size() + 2 > limits.max_line_bytes) {
      return Refusal(431, "request_header_fields_too_large",
                     "a request header line exceeds " + std::to_string(limits.max_line_bytes) +
                         " bytes");
    }
    if (line.front() == ' ' || line.front() == '\t') {
      return Refusal(400, "bad_request", "folded header lines are not accepted");
    }
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    if (colon == std::string_view::npos || !IsToken(name)) {
      return Refusal(400, "bad_request", "malformed header line (expected NAME: value)");
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    const std::string name_text(name);
    for (char ch : value) {
      unsigned char c = static_cast<unsigned char>(ch);
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return Refusal(400, "invalid_header",
                       "header " + name_text + " carries a control character");
      }
    }
    // httplib percent-decodes header values; one that decodes to a line break could split
    // into extra headers or requests wherever the decoded form is used.
    const std::string decoded = httplib::detail::decode_url(std::string(value), false);
    if (decoded.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return Refusal(400, "invalid_header",
                     "header " + name_text + " carries CR, LF or NUL once percent-decoded");
    }
    if (EqualsIgnoreCase(name, "Content-Length")) {
      bool digits = !value.empty() && value.size() <= 18 &&
                    std::all_of(value.begin(), value.end(),
                                [](char c) { return c >= '0' && c <= '9'; });
      if (!digits || out.content_length) {
        return Refusal(400, "bad_request",
                       "Content-Length must be one decimal number, sent once");
      }
      out.content_length = std::stoull(std::string(value));
    } else if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
      if (!EqualsIgnoreCase(value, "chunked") || out.chunked) {
        return Refusal(400, "bad_request", "the only Transfer-Encoding accepted is chunked");
      }
      out.chunked = true;
    }
    out.headers.emplace_back(name_text, std::string(value));
  }
  if (request_line) return Refusal(400, "bad_request", "empty request");
  if (out.chunked && out.content_length) {
    return Refusal(400, "bad_request",
                   "a request may not carry both Content-Length and Transfer-Encoding");
  }
  return out;
}

RequestContext* CurrentRequest() { return t_request; }

// ---- Request slots -----------------------------------------------------------------------------

bool RequestSlots::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return stopped_ || free_ > 0; });
  if (stopped_) return false;
  --free_;
  return true;
}

void RequestSlots::Release() {
  {
    std::lock_guard lock(mu_);
    ++free_;
  }
  cv_.notify_one();
}

void RequestSlots::Stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

// ---- The server --------------------------------------------------------------------------------

GuardedHttpServer::GuardedHttpServer(FrontLimits limits)
    : limits_(limits), slots_(std::max<size_t>(1, limits.request_slots)) {
  if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    wake_pipe_[0] = wake_pipe_[1] = -1;
  }
  const size_t max_threads = std::max<size_t>(1, limits_.max_connections) + kSpareThreads;
  new_task_queue = [max_threads] { return new ConnectionThreads(max_threads); };
  // What httplib announces in Keep-Alive headers and sets as socket timeouts; the waits
  // themselves are ours.
  set_keep_alive_max_count(std::max<size_t>(1, limits_.keep_alive_max_requests));
  set_keep_alive_timeout(std::max<time_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(limits_.keep_alive_timeout).count()));
  set_read_timeout(limits_.io_timeout);
  set_write_timeout(limits_.io_timeout);
}

GuardedHttpServer::~GuardedHttpServer() {
  for (int fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void GuardedHttpServer::Shutdown() {
  stopping_ = true;
  if (wake_pipe_[1] >= 0) {
    char byte = 1;
    ssize_t ignored = ::write(wake_pipe_[1], &byte, 1);
    (void)ignored;
  }
  slots_.Stop();
  stop();
}

bool GuardedHttpServer::stopping() const {
  return stopping_.load() || svr_sock_ == INVALID_SOCKET;
}

bool GuardedHttpServer::Admit(socket_t sock, ConnectionList::iterator* out) {
  std::lock_guard lock(conn_mu_);
  if (live_connections_ >= std::max<size_t>(1, limits_.max_connections)) {
    // Room is made by closing the connection that has waited longest without a request in
    // progress: a slow or idle client loses its connection rather than a new one its turn.
    auto victim = connections_.end();
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (it->busy || it->evicted) continue;
      if (victim == connections_.end() || it->since < victim->since) victim = it;
    }
    if (victim == connections_.end()) return false;
    victim->evicted = true;
    --live_connections_;
    ::shutdown(victim->sock, SHUT_RDWR);  // its thread wakes, finds it closed, and ends
  }
  connections_.push_back(Connection{sock, false, false, Clock::now()});
  ++live_connections_;
  *out = std::prev(connections_.end());
  return true;
}

void GuardedHttpServer::Forget(ConnectionList::iterator it) {
  std::lock_guard lock(conn_mu_);
  if (!it->evicted) --live_connections_;
  connections_.erase(it);
}

bool GuardedHttpServer::MarkBusy(ConnectionList::iterator it) {
  std::lock_guard lock(conn_mu_);
  if (it->evicted) return false;
  it->busy = true;
  return true;
}

void GuardedHttpServer::MarkIdle(ConnectionList::iterator it) {
  std::lock_guard lock(conn_mu_);
  it->busy = false;
  it->since = Clock::now();
}

void GuardedHttpServer::SendRefusal(ConnectionStream& strm, const HeadError& error) {
  std::string body = refusal_hook_ ? refusal_hook_(error) : std::string();
  std::string out = "HTTP/1.1 " + std::to_string(error.status) + " " +
                    ReasonPhrase(error.status) +
                    "\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n";
  if (error.status == 503) out += "Retry-After: 1\r\n";
  out += "\r\n";
  out += body;
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = strm.write(out.data() + sent, out.size() - sent);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

namespace {

// Stops sending, then reads and drops what the client still sends for a short while (1 s, 16
// MiB at most), so the reply just written reaches it instead of being discarded by the reset a
// close with unread data causes.
void DrainBeforeClose(socket_t sock, int wake_fd) {
  ::shutdown(sock, SHUT_WR);
  const auto deadline = Clock::now() + kDrainBeforeClose;
  char buf[kRecvChunk];
  size_t dropped = 0;
  while (dropped < kDrainMaxBytes) {
    int wait_ms = MillisUntil(deadline);
    if (wait_ms <= 0) return;
    pollfd fds[2] = {{sock, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int r = ::poll(fds, 2, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || fds[1].revents != 0) return;
    ssize_t n = ::recv(sock, buf, sizeof buf, 0);
    if (n > 0) {
      dropped += static_cast<size_t>(n);
    } else if (!(n < 0 && errno == EINTR)) {
      return;
    }
  }
}

}  // namespace

bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  ConnectionStream strm(sock, limits_.io_timeout);
  ConnectionList::iterator self;
  if (!Admit(sock, &self)) {
    SendRefusal(strm, Refusal(503, "too_many_connections",
                              "all " + std::to_string(limits_.max_connections) +
                                  " connections the proxy keeps are busy; retry shortly"));
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return false;
  }
  bool ok = true;
  bool drain = false;
  size_t served = 0;
  while (!stopping()) {
    if (strm.pending().empty() &&
        strm.Fill(Clock::now() + limits_.keep_alive_timeout, wake_pipe_[0]) !=
            ConnectionStream::Wait::kData) {
      break;  // closed by the client, idle too long, evicted or shutting down
    }
    // The head, read against its own deadline and size limit.
    const auto head_deadline = Clock::now() + limits_.header_timeout;
    std::optional<HeadError> refusal;
    bool gone = false;
    size_t end = std::string_view::npos;
    size_t scanned = 0;
    while ((end = FindHeadEnd(strm.pending(), scanned)) == std::string_view::npos) {
      scanned = strm.pending().size() >= 2 ? strm.pending().size() - 2 : 0;
      if (strm.pending().size() > limits_.max_head_bytes) {
        size_t first_line = strm.pending().find('\n');
        refusal = first_line == std::string_view::npos || first_line + 1 > limits_.max_line_bytes
                      ? Refusal(414, "uri_too_long",
                                "the request line exceeds " +
                                    std::to_string(limits_.max_line_bytes) + " bytes")
                      : HeadTooLarge(limits_);
        break;
      }
      ConnectionStream::Wait w = strm.Fill(head_deadline, wake_pipe_[0]);
      if (w == ConnectionStream::Wait::kTimeout) {
        refusal = Refusal(408, "request_timeout",
                          "the request head did not arrive within " +
                              std::to_string(limits_.header_timeout.count()) + " ms");
        break;
      }
      if (w != ConnectionStream::Wait::kData) {
        gone = true;
        break;
      }
    }
    if (gone) break;
    RequestHead head;
    if (!refusal) {
      auto parsed = ParseRequestHead(strm.pending().substr(0, end), limits_);
      if (auto* e = std::get_if<HeadError>(&parsed)) {
        refusal = std::move(*e);
      } else {
        head = std::move(std::get<RequestHead>(parsed));
      }
    }
    if (refusal) {
      SendRefusal(strm, *refusal);
      drain = true;
      break;
    }
    if (!MarkBusy(self)) break;  // evicted while its head arrived
    const bool cheap = (head.method == "GET" || head.method == "HEAD") &&
                       (head.path() == "/health" || head.path() == "/metrics");
    if (!cheap && !slots_.Acquire()) {
      SendRefusal(strm, Refusal(503, "shutting_down", "the proxy is shutting down"));
      drain = head.has_body();
      break;
    }
    strm.ReplacePending(end, head.Serialize());
    RequestContext context{&head, head.has_body()};
    t_request = &context;
    const bool close_connection = ++served >= limits_.keep_alive_max_requests || stopping();
    bool connection_closed = false;
    ok = process_request(strm, close_connection, connection_closed,
                         [&head](httplib::Request& req) { UseRawHeaders(req, head); });
    t_request = nullptr;
    if (!cheap) slots_.Release();
    MarkIdle(self);
    if (context.body_unread) {
      drain = true;
      break;
    }
    if (!ok || connection_closed || close_connection) break;
  }
  if (drain) DrainBeforeClose(sock, wake_pipe_[0]);
  Forget(self);
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace tfgrpo::serve_internal
