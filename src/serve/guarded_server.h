// The proxy's HTTP front door: a cpp-httplib server whose connections our own code reads up to
// the end of each request head, so that limits Debian's prebuilt httplib 0.11 cannot be told to
// enforce hold before it parses anything: head size, header count, the time a head may take, how
// many connections are open (the longest-waiting idle one is closed to make room for a new one),
// header values kept byte for byte (httplib percent-decodes them), Range headers removed (httplib
// would answer them itself), and a cap on requests handled at once. Shared by the serve and
// gateway modules (the agent gateway listens behind the same guard), private to them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <httplib.h>

namespace tfgrpo::serve_internal {

struct FrontLimits {
  size_t max_head_bytes = 64 * 1024;  // request line and headers together
  size_t max_line_bytes = 8192;       // one request line or header line (httplib's own limit)
  size_t max_header_count = 100;
  // From a request's first byte to the end of its head; slower heads get 408.
  std::chrono::milliseconds header_timeout{10000};
  // How long an open connection may wait for its next request.
  std::chrono::milliseconds keep_alive_timeout{5000};
  // One wait for body bytes, or for room to write the reply.
  std::chrono::milliseconds io_timeout{5000};
  size_t max_connections = 512;
  size_t request_slots = 64;  // requests handled at once; GET /health and /metrics need none
  size_t keep_alive_max_requests = 100000;
};

// A refusal decided before the request reaches a handler.
struct HeadError {
  int status = 400;
  std::string code;     // OpenAI-style error code
  std::string message;  // for the client; never carries header values
};

struct RequestHead {
  std::string method;
  std::string target;
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;  // values exactly as sent, OWS trimmed
  std::optional<uint64_t> content_length;
  bool chunked = false;

  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
  std::string_view path() const;  // the target up to '?'
  // First header of that name (case-insensitive), or null.
  const std::string* Find(std::string_view name) const;
  // The head httplib parses: the same request line and headers, without Range and If-Range.
  std::string Serialize() const;
};

// The index just past the blank line ending the head at the start of `bytes`, or npos while
// the head is incomplete. `from`: where to start looking (bytes before it were looked at already).
size_t FindHeadEnd(std::string_view bytes, size_t from = 0);

// Parses a complete head (as delimited by FindHeadEnd). Refusals: 414 request line over
// max_line_bytes; 431 over max_head_bytes, max_header_count or max_line_bytes for a header; 400
// for anything malformed: lines not ending in CRLF, folded lines, a bad request line, header
// names that are not tokens, control characters in a value, a value that holds CR, LF or NUL
// once percent-decoded (as httplib decodes it), an unparseable or repeated Content-Length, a
// Transfer-Encoding other than "chunked", or both framing headers at once.
std::variant<RequestHead, HeadError> ParseRequestHead(std::string_view head,
                                                      const FrontLimits& limits);

// The request being handled on the calling thread (set while a route handler runs), or null.
struct RequestContext {
  const RequestHead* head = nullptr;
  // Set while the request's body has not been read in full; the connection is then closed
  // after the reply instead of being kept alive.
  bool body_unread = false;
};
RequestContext* CurrentRequest();

// Counts free request slots; Acquire waits for one unless the server is stopping.
class RequestSlots {
 public:
  explicit RequestSlots(size_t n) : free_(n) {}
  bool Acquire();  // false once Stop() was called
  void Release();
  void Stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t free_;
  bool stopped_ = false;
};

class ConnectionStream;

// Thread-safe. Register routes as on httplib::Server; stop with Shutdown(), not stop().
class GuardedHttpServer : public httplib::Server {
 public:
  // Builds the JSON body of a refusal made before routing and counts it (metrics).
  using RefusalHook = std::function<std::string(const HeadError&)>;

  explicit GuardedHttpServer(FrontLimits limits);
  ~GuardedHttpServer() override;
  GuardedHttpServer(const GuardedHttpServer&) = delete;
  GuardedHttpServer& operator=(const GuardedHttpServer&) = delete;

  void set_refusal_hook(RefusalHook hook) { refusal_hook_ = std::move(hook); }
  // Stops accepting, closes connections waiting for a request at once, refuses requests still
  // waiting for a slot, and lets requests in flight finish (then listen_after_bind returns).
  void Shutdown();

 protected:
  bool process_and_close_socket(socket_t sock) override;

 private:
  struct Connection {
    socket_t sock;
    bool busy = false;  // a request is being handled: never evicted
    bool evicted = false;
    std::chrono::steady_clock::time_point since;
  };
  using ConnectionList = std::list<Connection>;

  // Registers a new connection, closing the longest-waiting idle one when at the cap; false
  // when every open connection is busy.
  bool Admit(socket_t sock, ConnectionList::iterator* out);
  void Forget(ConnectionList::iterator it);
  bool MarkBusy(ConnectionList::iterator it);  // false when evicted meanwhile
  void MarkIdle(ConnectionList::iterator it);
  bool stopping() const;
  void SendRefusal(ConnectionStream& strm, const HeadError& error);

  FrontLimits limits_;
  RefusalHook refusal_hook_;
  RequestSlots slots_;
  int wake_pipe_[2] = {-1, -1};  // readable once Shutdown() ran
  std::atomic<bool> stopping_{false};
  std::mutex conn_mu_;
  ConnectionList connections_;
  size_t live_connections_ = 0;  // entries not evicted
};

}  // namespace tfgrpo::serve_internal
