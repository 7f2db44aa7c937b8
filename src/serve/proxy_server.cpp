// The `tfgrpo serve` HTTP server: routes, client auth, injection, relaying to the upstream,
// hot reload of the library file, and /metrics.

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "serve/guarded_server.h"
#include "serve/metrics.h"
#include "serve/request_body.h"
#include "serve/upstream.h"
#include "tfgrpo/json.h"
#include "tfgrpo/responses_api.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/serve.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

using serve_internal::Clock;
using serve_internal::FrontLimits;
using serve_internal::GuardedHttpServer;
using serve_internal::ErrorBody;
using serve_internal::HeadError;
using serve_internal::ParseRequestBody;
using serve_internal::ReadBody;
using serve_internal::RejectTooLarge;
using serve_internal::SetError;
using serve_internal::ServeMetrics;
using serve_internal::SseUsageScanner;
using serve_internal::TokenUsage;
using serve_internal::UpstreamCall;
using serve_internal::UpstreamPool;
using serve_internal::UpstreamRequest;

namespace {

// How often a quiet stream checks whether its client is still there.
constexpr std::chrono::milliseconds kStreamTick{100};

// Set while a response is one of ours, so the error hook leaves it alone; httplib's own error
// responses (413, 404, unparseable request) get an OpenAI-style body from that hook instead.
thread_local bool t_response_is_ours = false;

// Runs over the whole of both strings so the time taken does not reveal a matching prefix.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool IsHopByHop(std::string_view lower) {
  static constexpr std::string_view kNames[] = {
      "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
      "te",         "trailer",    "trailers",         "transfer-encoding",  "upgrade"};
  return std::find(std::begin(kNames), std::end(kNames), lower) != std::end(kNames);
}

// The request headers forwarded upstream, as docs/serve.md lists them (lower case). Anything
// else (cookies, proxy and hop-by-hop headers, Range, unknown X- headers) stays here, so what
// reaches the provider next to its key is only what OpenAI-style APIs read. The credential
// headers are handled apart (IsCredentialHeader).
bool IsForwardedRequestHeader(std::string_view lower) {
  static constexpr std::string_view kNames[] = {
      "accept",           "user-agent",     "openai-organization", "openai-project",
      "openai-beta",      "x-tfgrpo-role",  "x-tfgrpo-call-id",    "x-request-id",
      "x-client-request-id", "idempotency-key", "http-referer",    "x-title"};
  return std::find(std::begin(kNames), std::end(kNames), lower) != std::end(kNames) ||
         StartsWith(lower, "x-stainless-");  // the OpenAI SDKs' client description
}

bool IsChatRoute(const httplib::Request& req) {
  return req.method == "POST" && req.path == "/v1/chat/completions";
}

bool IsResponsesRoute(const httplib::Request& req) {
  return req.method == "POST" && req.path == "/v1/responses";
}

// The routes whose requests carry a body that is read, checked and injected.
bool IsBodyRoute(const httplib::Request& req) { return IsChatRoute(req) || IsResponsesRoute(req); }

bool IsKnownRoute(const httplib::Request& req) {
  if (IsBodyRoute(req)) return true;
  return (req.method == "GET" || req.method == "HEAD") &&
         (req.path == "/v1/models" || req.path == "/health" || req.path == "/metrics");
}

FrontLimits FrontLimitsFor(const ServeOptions& o) {
  FrontLimits limits;
  limits.max_head_bytes = kServeMaxHeaderBytes;
  limits.max_line_bytes = kServeMaxHeaderLineBytes;
  limits.max_header_count = kServeMaxHeaderCount;
  limits.header_timeout = o.header_timeout;
  limits.keep_alive_timeout = o.keep_alive_timeout;
  limits.max_connections = static_cast<size_t>(std::max(1, o.max_connections));
  limits.request_slots = static_cast<size_t>(std::max(1, o.threads));
  return limits;
}

bool IsCredentialHeader(std::string_view lower) {
  return lower == "authorization" || lower == "api-key" || lower == "x-api-key";
}

// The URL without user:password@, for logs.
std::string UrlForLogs(const std::string& url) {
  size_t scheme = url.find("://");
  size_t host_start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t path = url.find('/', host_start);
  size_t at = url.rfind('@', path == std::string::npos ? url.size() : path);
  if (at == std::string::npos || at < host_start) return url;
  return url.substr(0, host_start) + url.substr(at + 1);
}

struct FileSignature {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileSignature&) const = default;
};

FileSignature StatFile(const std::filesystem::path& path) {
  struct stat st {};
  FileSignature sig;
  if (::stat(path.c_str(), &st) != 0) return sig;
  sig.exists = true;
  sig.dev = st.st_dev;
  sig.ino = st.st_ino;
  sig.size = st.st_size;
  sig.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return sig;
}

// The library file is read only when it is a regular file: a FIFO (or a device) put in its place
// would block open() or read() forever, and with them every later reload and the shutdown that
// waits for the watcher. Checked before opening, opened without blocking, checked again on the
// open descriptor (the path may be swapped in between).
Result<Library> LoadLibraryFile(const std::filesystem::path& path) {
  const std::string name = path.string();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::NotFound(name + ": " + std::strerror(errno));
  }
  auto not_regular = [&name] {
    return Status::InvalidArgument(name +
                                   ": not a regular file (a FIFO, device or directory); the "
                                   "library is read from regular files only");
  };
  if (!S_ISREG(st.st_mode)) return not_regular();
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Status::IoError(name + ": cannot open: " + std::strerror(errno));
  std::string text;
  Status read_status = Status::Ok();
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    read_status = not_regular();
  } else {
    char buf[65536];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        text.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        read_status = Status::IoError(name + ": cannot read: " + std::strerror(errno));
        break;
      }
    }
  }
  ::close(fd);
  if (!read_status.ok()) return read_status;
  nlohmann::json j = ParseUntrustedJson(text);
  if (j.is_discarded()) {
    return Status::InvalidArgument(
        name + (JsonNestingDepth(text) > kMaxJsonDepth
                    ? ": nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels"
                    : std::string(": not valid JSON")));
  }
  Result<Library> lib = Library::FromJson(j);
  if (!lib.ok()) return lib.status().WithContext(name);
  return lib;
}

// `transport` and `cache` outlive every ServedLibrary (both belong to the server).
std::shared_ptr<const ServedLibrary> MakeServed(Library library, const ServeOptions& options = {},
                                               HttpTransport* transport = nullptr, EmbeddingCache* cache = nullptr) {
  auto served = std::make_shared<ServedLibrary>();
  served->fingerprint = Fingerprint(library.RenderLines());
  served->library = std::move(library);
  if (options.top_k > 0) {
    std::unique_ptr<EmbeddingsClient> client;
    if (options.retrieval_method == RetrievalMethod::kEmbeddings && transport) {
      EmbeddingsEndpoint e;
      e.base_url = options.embeddings_url.empty() ? options.upstream : options.embeddings_url;
      e.model = options.embeddings_model;
      e.api_key = options.embeddings_api_key.empty() ? options.upstream_api_key : options.embeddings_api_key;
      e.timeout_s = options.upstream_timeout_s;
      client = std::make_unique<EmbeddingsClient>(std::move(e), *transport);
    }
    served->retriever = std::make_shared<Retriever>(options.top_k, options.retrieval_method, std::move(client), cache);
    served->retriever->set_cache_queries(false);  // users' messages stay out of the cache file
    served->retriever->SetLibrary(served->library);
  }
  return served;
}

// Counts one answered request in the metrics when it is over (for a stream: when the relay
// ends), whatever path it took.
class RequestRecord {
 public:
  explicit RequestRecord(ServeMetrics* metrics, Clock::time_point start = Clock::now())
      : metrics_(metrics), start_(start) {}
  RequestRecord(const RequestRecord&) = delete;
  RequestRecord& operator=(const RequestRecord&) = delete;
  ~RequestRecord() { Finish(); }

  Clock::time_point start() const { return start_; }
  void set_status(int status) { status_ = status; }
  void set_usage(const std::optional<TokenUsage>& usage) { usage_ = usage; }
  // Hands the counting to another record (a stream relay that outlives the handler).
  void Disarm() { finished_ = true; }
  void Finish() {
    if (finished_) return;
    finished_ = true;
    std::chrono::duration<double> elapsed = Clock::now() - start_;
    // 499: the client left before any status could be sent (nginx's convention).
    metrics_->RecordRequest(status_ > 0 ? status_ : 499, elapsed.count());
    if (usage_) metrics_->AddTokens(*usage_);
  }

 private:
  ServeMetrics* metrics_;
  Clock::time_point start_;
  int status_ = 0;
  std::optional<TokenUsage> usage_;
  bool finished_ = false;
};

}  // namespace

struct ProxyServer::Impl {
  explicit Impl(ServeOptions o) : options(std::move(o)), server(FrontLimitsFor(options)) {}

  ServeOptions options;
  std::string chat_url;
  std::string models_url;
  GuardedHttpServer server;
  std::thread server_thread;
  UpstreamPool pool;
  ServeMetrics metrics;
  // Output items of recent /v1/responses replies, for the item_reference items clients send back.
  ResponseItemCache response_items;
  int port = 0;
  int listen_socket = -1;
  bool started = false;
  // Set when in-flight requests have had their grace period after Stop(); they then end.
  std::atomic<bool> abandon{false};
  std::mutex listener_mu;
  std::condition_variable listener_cv;
  bool listener_done = false;

  mutable std::mutex library_mu;
  std::shared_ptr<const ServedLibrary> served;
  // --top-k with embeddings: the endpoint's transport and the vectors kept next to the library.
  HttpTransport embeddings_transport;
  std::unique_ptr<EmbeddingCache> embedding_cache;

  Status OpenEmbeddingCache() {
    if (options.top_k <= 0 || options.retrieval_method != RetrievalMethod::kEmbeddings || embedding_cache)
      return Status::Ok();
    auto cache = MakeFileEmbeddingCache(EmbeddingCacheFileFor(options.experiences));
    if (!cache.ok()) return cache.status();
    embedding_cache = std::move(cache).value();
    return Status::Ok();
  }
  std::shared_ptr<const ServedLibrary> Serve(Library library) {
    return MakeServed(std::move(library), options, &embeddings_transport, embedding_cache.get());
  }

  std::mutex reload_mu;  // one reload at a time; guards last_signature
  FileSignature last_signature;

  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool stop_watching = false;
  std::thread watcher;

  // State of one relayed event stream, owned by httplib's content provider.
  struct StreamRelay {
    StreamRelay(ServeMetrics* m, Clock::time_point start) : record(m, start) {}
    std::unique_ptr<UpstreamCall> call;
    std::string first_bytes;  // body received along with the headers
    SseUsageScanner scanner;
    RequestRecord record;
    ~StreamRelay() {
      record.set_usage(scanner.usage());
      record.Finish();
    }
  };

  std::shared_ptr<const ServedLibrary> CurrentLibrary() const {
    std::lock_guard lock(library_mu);
    return served;
  }

  Status LoadInitial() {
    std::lock_guard lock(reload_mu);
    last_signature = StatFile(options.experiences);
    auto loaded = LoadLibraryFile(options.experiences);
    if (!loaded.ok()) return loaded.status();
    if (Status s = OpenEmbeddingCache(); !s.ok()) return s;
    auto lib = Serve(std::move(*loaded));
    metrics.SetLibraryExperiences(static_cast<int64_t>(lib->library.size()));
    std::lock_guard lib_lock(library_mu);
    served = std::move(lib);
    return Status::Ok();
  }

  Status Reload() {
    std::lock_guard lock(reload_mu);
    last_signature = StatFile(options.experiences);
    auto loaded = LoadLibraryFile(options.experiences);
    if (!loaded.ok()) {
      metrics.CountReload(false);
      auto current = CurrentLibrary();
      spdlog::error("serve: library reload failed, still serving the previous {} experiences: {}",
                    current ? current->library.size() : 0, loaded.status().ToString());
      return loaded.status();
    }
    auto lib = Serve(std::move(*loaded));
    size_t n = lib->library.size();
    {
      std::lock_guard lib_lock(library_mu);
      served = std::move(lib);
    }
    metrics.SetLibraryExperiences(static_cast<int64_t>(n));
    metrics.CountReload(true);
    spdlog::info("serve: reloaded {} ({} experiences)", options.experiences.string(), n);
    return Status::Ok();
  }

  void WatchLoop() {
    std::unique_lock lock(watch_mu);
    while (!stop_watching) {
      watch_cv.wait_for(lock, options.reload_poll, [this] { return stop_watching; });
      if (stop_watching) break;
      lock.unlock();
      FileSignature now = StatFile(options.experiences);
      bool changed;
      {
        std::lock_guard reload_lock(reload_mu);
        changed = !(now == last_signature);
      }
      if (changed) (void)Reload();
      lock.lock();
    }
  }

  bool Authorized(const httplib::Request& req) const {
    if (options.client_api_key.empty()) return true;
    std::string header = req.get_header_value("Authorization");
    if (header.size() < 7 || ToLower(std::string_view(header).substr(0, 7)) != "bearer ") {
      return false;
    }
    return ConstantTimeEquals(Trim(std::string_view(header).substr(7)), options.client_api_key);
  }

  static void RejectUnauthorized(httplib::Response& res) {
    res.set_header("WWW-Authenticate", "Bearer");
    SetError(res, 401,
             "missing or wrong API key: send \"Authorization: Bearer <key>\" with the key the "
             "proxy was started with (--client-key-env)",
             "invalid_request_error", "invalid_api_key");
  }

  std::vector<std::string> ForwardHeaders(const httplib::Request& req, bool json_body) const {
    std::vector<std::string> out;
    bool client_authorization = false;
    for (const auto& [name, value] : req.headers) {
      std::string lower = ToLower(name);
      if (IsCredentialHeader(lower)) {
        if (!options.pass_through_auth) continue;
        if (lower == "authorization") client_authorization = true;
      } else if (!IsForwardedRequestHeader(lower)) {
        continue;
      }
      // Values are as the client sent them (the front door refused any carrying CR, LF or NUL,
      // also percent-encoded). An empty one is left out: curl reads "Name:" as "drop Name".
      if (value.empty() || value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        continue;
      }
      out.push_back(name + ": " + value);
    }
    if (!client_authorization && !options.upstream_api_key.empty()) {
      out.push_back("Authorization: Bearer " + options.upstream_api_key);
    }
    if (json_body) out.push_back("Content-Type: application/json");
    return out;
  }

  void UpstreamFailure(httplib::Response& res, const Status& status) const {
    if (status.code() == Status::Code::kCancelled) {
      SetError(res, 503, "the proxy is shutting down", "server_error", "shutting_down");
    } else if (status.code() == Status::Code::kTimeout) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%g", options.upstream_timeout_s);
      spdlog::warn("serve: upstream timed out after {} s", secs);
      SetError(res, 504, std::string("the upstream did not answer within ") + secs + " s",
               "server_error", "upstream_timeout");
    } else {
      spdlog::warn("serve: upstream unreachable: {}", status.message());
      SetError(res, 502, "could not reach the upstream: " + status.message(), "server_error",
               "upstream_unreachable");
    }
  }

  static void CopyResponseHeaders(const UpstreamCall& call, httplib::Response& res) {
    for (const auto& [name, value] : call.headers()) {
      std::string lower = ToLower(name);
      if (IsHopByHop(lower) || lower == "content-length" || lower == "content-type") continue;
      res.set_header(name, value);
    }
  }

  void Forward(httplib::Response& res, UpstreamRequest request, RequestRecord& record) {
    Clock::time_point deadline =
        record.start() + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(options.upstream_timeout_s));
    request.connect_timeout = std::chrono::milliseconds(static_cast<int64_t>(
        1000 * std::min(options.upstream_timeout_s, 30.0)));
    auto call = std::make_unique<UpstreamCall>(pool, &abandon);
    Status s = call->Start(std::move(request));
    if (s.ok()) s = call->AwaitHeaders(deadline);
    if (!s.ok()) {
      UpstreamFailure(res, s);
      record.set_status(res.status);
      return;
    }
    const int status = call->status();
    const std::string content_type = call->Header("Content-Type");
    const bool success = status >= 200 && status < 300;
    if (success && StartsWith(ToLower(content_type), "text/event-stream")) {
      StartRelay(res, std::move(call), content_type, record);
      return;
    }
    s = call->AwaitEnd(deadline);
    if (!s.ok()) {
      UpstreamFailure(res, s);
      record.set_status(res.status);
      return;
    }
    std::string body = call->TakeBody();
    if (success && ContainsCaseInsensitive(content_type, "json")) {
      nlohmann::json reply = ParseUntrustedJson(body);
      if (reply.is_discarded() && JsonNestingDepth(body) > kMaxJsonDepth) {
        // Clients' parsers recurse as ours would; such a reply is no chat completion anyway.
        spdlog::warn("serve: upstream reply nests JSON deeper than {} levels; answered 502",
                     kMaxJsonDepth);
        SetError(res, 502,
                 "the upstream's reply nests JSON deeper than " + std::to_string(kMaxJsonDepth) +
                     " levels",
                 "server_error", "upstream_invalid_reply");
        record.set_status(502);
        return;
      }
      record.set_usage(serve_internal::UsageFromCompletion(reply));
    }
    CopyResponseHeaders(*call, res);
    res.status = status;
    if (!content_type.empty()) res.set_header("Content-Type", content_type);
    res.body = std::move(body);
    record.set_status(status);
  }

  // Hands the rest of the exchange to httplib's chunked writer: bytes go out as they arrive.
  void StartRelay(httplib::Response& res, std::unique_ptr<UpstreamCall> call,
                  const std::string& content_type, RequestRecord& record) {
    // The relay outlives this handler, so it carries its own record; the handler's is disarmed.
    auto relay = std::make_shared<StreamRelay>(&metrics, record.start());
    record.Disarm();
    relay->first_bytes = call->TakeBody();
    CopyResponseHeaders(*call, res);
    relay->call = std::move(call);
    relay->record.set_status(relay->call->status());
    res.status = relay->call->status();
    res.set_chunked_content_provider(
        content_type, [this, relay](size_t, httplib::DataSink& sink) {
          return Relay(*relay, sink);
        });
  }

  bool Relay(StreamRelay& r, httplib::DataSink& sink) {
    std::string chunk = std::move(r.first_bytes);
    r.first_bytes.clear();
    const auto idle_limit = std::chrono::duration<double>(options.upstream_timeout_s);
    auto last_data = Clock::now();
    while (true) {
      if (abandon.load()) return CancelStream(r, "the proxy is shutting down");
      if (!chunk.empty()) {
        r.scanner.Feed(chunk);
        if (!sink.write(chunk.data(), chunk.size())) return CancelStream(r, "client went away");
        chunk.clear();
        last_data = Clock::now();
      } else if (!r.call->finished()) {
        if (!sink.is_writable()) return CancelStream(r, "client went away");
        if (Clock::now() - last_data > idle_limit) {
          r.call->Abort();
          spdlog::warn("serve: upstream stream silent for over {} s; closing it",
                       options.upstream_timeout_s);
          return false;
        }
      }
      if (r.call->finished() && chunk.empty()) {
        Status result = r.call->result();
        if (!result.ok()) {
          spdlog::warn("serve: upstream stream ended abnormally: {}", result.message());
          return false;  // the client sees the stream cut, as it was upstream
        }
        sink.done();
        return true;
      }
      // A failed transfer is finished; the check above reports it on the next round.
      (void)r.call->Pump(kStreamTick, &chunk);
    }
  }

  bool CancelStream(StreamRelay& r, const char* why) {
    r.call->Abort();
    metrics.CountUpstreamCancellation();
    spdlog::info("serve: {}; upstream request cancelled", why);
    return false;
  }

  void HandleChat(const httplib::Request& req, httplib::Response& res,
                  const httplib::ContentReader& reader) {
    RequestRecord record(&metrics);
    // The key is checked before a byte of the body is read.
    if (!Authorized(req)) {
      RejectUnauthorized(res);
      record.set_status(401);
      return;
    }
    std::string text;
    if (!ReadBody(req, reader, res, &text)) {
      record.set_status(res.status);
      return;
    }
    nlohmann::ordered_json body;
    if (!ParseRequestBody(text, res, &body)) {
      record.set_status(400);
      return;
    }
    bool modified = false;
    if (!PrepareChatBody(req, body, res, &modified)) {
      record.set_status(res.status);
      return;
    }
    UpstreamRequest up;
    up.post = true;
    up.url = chat_url;
    up.headers = ForwardHeaders(req, /*json_body=*/true);
    if (modified) {
      try {
        up.body = body.dump();
      } catch (const nlohmann::json::exception& e) {
        SetError(res, 400, std::string("request body cannot be re-encoded: ") + e.what(),
                 "invalid_request_error", "invalid_json");
        record.set_status(400);
        return;
      }
    } else {
      up.body = std::move(text);  // untouched bytes when there is nothing to change
    }
    Forward(res, std::move(up), record);
  }

  // What serve does to every chat request body before it goes upstream: the --model-map rewrite
  // and the library injection (unless the client opted out). `modified` tells whether the body
  // changed. On failure `res` holds the 400.
  bool PrepareChatBody(const httplib::Request& req, nlohmann::ordered_json& body,
                       httplib::Response& res, bool* modified) {
    if (auto model = body.find("model"); model != body.end() && model->is_string()) {
      for (const auto& [from, to] : options.model_map) {
        if (model->get_ref<const std::string&>() == from) {
          *model = to;
          *modified = true;
          break;
        }
      }
    }
    bool opted_out = ToLower(Trim(req.get_header_value(std::string(kExperiencesHeader)))) == "off";
    if (opted_out) return true;
    auto lib = CurrentLibrary();
    // --top-k: only the experiences most relevant to the user's messages.
    Result<bool> injected = lib->retriever ? InjectLibrary(body, lib->library, lib->retriever->Select(UserMessagesText(body)))
                                           : InjectLibrary(body, lib->library);
    if (!injected.ok()) {
      SetError(res, 400, injected.status().message(), "invalid_request_error",
               "invalid_request");
      return false;
    }
    if (*injected) {
      *modified = true;
      metrics.CountInjection();
    }
    return true;
  }

  // POST /v1/responses: the Responses request becomes a chat completion (instructions as its
  // system message, which then gets the library exactly as a chat request's does), sent upstream
  // without streaming; the reply comes back as a Response, or as the Responses event stream when
  // the client asked for `stream`.
  void HandleResponses(const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader& reader) {
    RequestRecord record(&metrics);
    if (!Authorized(req)) {
      RejectUnauthorized(res);
      record.set_status(401);
      return;
    }
    std::string text;
    if (!ReadBody(req, reader, res, &text)) {
      record.set_status(res.status);
      return;
    }
    nlohmann::ordered_json request;
    if (!ParseRequestBody(text, res, &request)) {
      record.set_status(400);
      return;
    }
    Result<nlohmann::ordered_json> chat = ResponsesToChat(request, response_items.Lookup());
    if (!chat.ok()) {
      serve_internal::SetResponsesTranslationError(res, chat.status());
      record.set_status(400);
      return;
    }
    bool modified = false;
    if (!PrepareChatBody(req, *chat, res, &modified)) {
      record.set_status(res.status);
      return;
    }
    const auto stream = request.find("stream");
    const bool streamed = stream != request.end() && stream->is_boolean() && stream->get<bool>();
    UpstreamRequest up;
    up.post = true;
    up.url = chat_url;
    for (std::string& header : ForwardHeaders(req, /*json_body=*/true)) {
      // The SDK's "Accept: text/event-stream" is for our stream, not the upstream's answer.
      if (!StartsWith(ToLower(header), "accept:")) up.headers.push_back(std::move(header));
    }
    try {
      up.body = chat->dump();
    } catch (const nlohmann::json::exception& e) {
      SetError(res, 400, std::string("request body cannot be re-encoded: ") + e.what(),
               "invalid_request_error", "invalid_json");
      record.set_status(400);
      return;
    }
    std::unique_ptr<UpstreamCall> call = CallToEnd(std::move(up), res, record);
    if (!call) return;
    const int status = call->status();
    std::string body = call->TakeBody();
    CopyResponseHeaders(*call, res);
    if (status < 200 || status >= 300) {
      // The provider's status and headers (429's Retry-After) as they came; its body when it is
      // an OpenAI-style error, else an error saying what the upstream answered.
      nlohmann::json error = ParseUntrustedJson(body);
      if (error.is_object() && error.contains("error") && error["error"].is_object()) {
        res.set_content(body, "application/json");
      } else {
        res.set_content(ErrorBody("the upstream answered HTTP " + std::to_string(status) +
                                      " without an OpenAI-style error body",
                                  status >= 500 ? "server_error" : "invalid_request_error",
                                  "upstream_error"),
                        "application/json");
      }
      res.status = status;
      record.set_status(status);
      return;
    }
    nlohmann::json reply = ParseUntrustedJson(body);
    Result<nlohmann::ordered_json> response =
        reply.is_discarded() ? Result<nlohmann::ordered_json>(Status::InvalidArgument("not valid JSON"))
                             : ChatToResponse(reply, request);
    if (!response.ok()) {
      spdlog::warn("serve: upstream chat reply cannot become a Response: {}",
                   response.status().message());
      res.headers.clear();
      SetError(res, 502,
               "the upstream's reply is not a chat completion: " + response.status().message(),
               "server_error", "upstream_invalid_reply");
      record.set_status(502);
      return;
    }
    record.set_usage(serve_internal::UsageFromCompletion(reply));
    response_items.Add(*response);
    res.status = 200;
    if (streamed) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(ResponseEventStream(*response), "text/event-stream");
    } else {
      res.set_content(response->dump(), "application/json");
    }
    record.set_status(200);
  }

  // Sends `request` and waits for the whole reply; null (with `res` holding the 502/503/504)
  // when there is none.
  std::unique_ptr<UpstreamCall> CallToEnd(UpstreamRequest request, httplib::Response& res,
                                          RequestRecord& record) {
    Clock::time_point deadline =
        record.start() + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(options.upstream_timeout_s));
    request.connect_timeout = std::chrono::milliseconds(static_cast<int64_t>(
        1000 * std::min(options.upstream_timeout_s, 30.0)));
    auto call = std::make_unique<UpstreamCall>(pool, &abandon);
    Status s = call->Start(std::move(request));
    if (s.ok()) s = call->AwaitEnd(deadline);
    if (!s.ok()) {
      UpstreamFailure(res, s);
      record.set_status(res.status);
      return nullptr;
    }
    return call;
  }

  void HandleModels(const httplib::Request& req, httplib::Response& res) {
    RequestRecord record(&metrics);
    if (!Authorized(req)) {
      RejectUnauthorized(res);
      record.set_status(401);
      return;
    }
    UpstreamRequest up;
    up.post = false;
    up.url = models_url;
    up.headers = ForwardHeaders(req, /*json_body=*/false);
    Forward(res, std::move(up), record);
  }

  // Wraps a handler: marks the response as ours and keeps exceptions inside.
  template <typename F>
  httplib::Server::Handler Guarded(F f) {
    return [this, f](const httplib::Request& req, httplib::Response& res) {
      t_response_is_ours = true;
      try {
        (this->*f)(req, res);
      } catch (const std::exception& e) {
        spdlog::error("serve: internal error on {} {}: {}", req.method, req.path, e.what());
        SetError(res, 500, "internal proxy error", "server_error", "internal_error");
      }
    };
  }

  httplib::Server::HandlerWithContentReader GuardedWithBody(
      void (Impl::*f)(const httplib::Request&, httplib::Response&,
                      const httplib::ContentReader&)) {
    return [this, f](const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) {
      t_response_is_ours = true;
      try {
        (this->*f)(req, res, reader);
      } catch (const std::exception& e) {
        spdlog::error("serve: internal error on {} {}: {}", req.method, req.path, e.what());
        SetError(res, 500, "internal proxy error", "server_error", "internal_error");
      }
    };
  }

  void InstallRoutes() {
    // A backstop: the chat handler reads bodies itself and stops at the same limit.
    server.set_payload_max_length(kServeMaxBodyBytes);
    server.set_tcp_nodelay(true);
    server.set_refusal_hook([this](const HeadError& e) {
      metrics.RecordRequest(e.status, 0);
      return ErrorBody(e.message, e.status >= 500 ? "server_error" : "invalid_request_error",
                       e.code);
    });
    // httplib's default sets SO_REUSEPORT, which would let a second proxy silently share the
    // port; SO_REUSEADDR alone still allows a quick restart. The socket is remembered so its
    // backlog (httplib's is 5) can be raised once it listens.
    server.set_socket_options([this](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_socket = sock;
    });
    // Unknown routes are answered before httplib would read a body for them.
    server.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      t_response_is_ours = false;
      if (IsKnownRoute(req)) return httplib::Server::HandlerResponse::Unhandled;
      res.status = 404;  // the error hook below writes the body and counts it
      return httplib::Server::HandlerResponse::Handled;
    });
    // A client announcing its body with "Expect: 100-continue" hears a refusal before sending it.
    server.set_expect_100_continue_handler([this](const httplib::Request& req,
                                                  httplib::Response& res) {
      if (!IsBodyRoute(req)) return 100;
      int status = 100;
      if (!Authorized(req)) {
        RejectUnauthorized(res);
        status = 401;
      } else if (req.has_header("Content-Length") &&
                 req.get_header_value<uint64_t>("Content-Length") > kServeMaxBodyBytes) {
        RejectTooLarge(res);
        status = 413;
      }
      if (status != 100) {
        t_response_is_ours = true;
        // httplib writes this reply without computing its length itself.
        res.set_header("Content-Length", std::to_string(res.body.size()));
        metrics.RecordRequest(status, 0);
      }
      return status;
    });
    // A reply sent without reading the whole body ends the connection (the front door closes
    // it); saying so lets the client know not to reuse it.
    server.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
      serve_internal::RequestContext* context = serve_internal::CurrentRequest();
      if (context != nullptr && context->body_unread) {
        res.headers.erase("Keep-Alive");
        res.set_header("Connection", "close");
      }
    });
    server.set_logger([](const httplib::Request&, const httplib::Response&) {
      t_response_is_ours = false;
    });
    server.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          if (t_response_is_ours) return httplib::Server::HandlerResponse::Unhandled;
          if (res.status == 413) {
            RejectTooLarge(res);
          } else if (res.status == 404) {
            SetError(res, 404, "no such endpoint: " + req.method + " " + req.path,
                     "invalid_request_error", "not_found");
          } else {
            SetError(res, res.status, "the HTTP request could not be processed",
                     "invalid_request_error", "bad_request");
          }
          if (req.path != "/health" && req.path != "/metrics") {
            metrics.RecordRequest(res.status, 0);
          }
          return httplib::Server::HandlerResponse::Handled;
        }));

    server.Post("/v1/chat/completions", GuardedWithBody(&Impl::HandleChat));
    server.Post("/v1/responses", GuardedWithBody(&Impl::HandleResponses));
    server.Get("/v1/models", Guarded(&Impl::HandleModels));
    server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      t_response_is_ours = true;
      auto lib = CurrentLibrary();
      nlohmann::json j;
      j["status"] = "ok";
      j["experiences"] = lib ? lib->library.size() : 0;
      res.set_content(j.dump(), "application/json");
    });
    server.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      t_response_is_ours = true;
      if (!Authorized(req)) {
        RejectUnauthorized(res);
        return;
      }
      res.set_content(metrics.Render(), "text/plain; version=0.0.4; charset=utf-8");
    });
  }
};

ProxyServer::ProxyServer(ServeOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ProxyServer::~ProxyServer() { Stop(); }

Status ProxyServer::Start() {
  Impl& im = *impl_;
  const ServeOptions& o = im.options;
  if (im.started) return Status::InvalidArgument("serve: already started");
  if (!StartsWith(o.upstream, "http://") && !StartsWith(o.upstream, "https://")) {
    return Status::InvalidArgument("--upstream \"" + UrlForLogs(o.upstream) +
                                   "\": expected an http:// or https:// base URL such as "
                                   "https://api.deepseek.com/v1");
  }
  if (!(o.upstream_timeout_s > 0)) {
    return Status::InvalidArgument("--upstream-timeout-s must be greater than 0");
  }
  if (o.listen_port < 0 || o.listen_port > 65535) {
    return Status::InvalidArgument("--listen: port must be 0-65535");
  }
  if (!IsLoopbackHost(o.listen_host) && o.client_api_key.empty()) {
    return Status::InvalidArgument(
        "--listen " + o.listen_host +
        " is not a loopback address: pass --client-key-env NAME so clients must present a key");
  }
  Status loaded = im.LoadInitial();
  if (!loaded.ok()) return loaded.WithContext("--experiences");

  std::string base = o.upstream;
  while (EndsWith(base, "/")) base.pop_back();
  im.chat_url = base + "/chat/completions";
  im.models_url = base + "/models";
  im.InstallRoutes();

  if (o.listen_port == 0) {
    im.port = im.server.bind_to_any_port(o.listen_host);
    if (im.port <= 0) {
      return Status::Unavailable("could not listen on " + o.listen_host + " (any port)");
    }
  } else {
    if (!im.server.bind_to_port(o.listen_host, o.listen_port)) {
      return Status::Unavailable("could not listen on " + o.listen_host + ":" +
                                 std::to_string(o.listen_port) + " (address in use?)");
    }
    im.port = o.listen_port;
  }
  // A burst of new connections beyond the backlog would have its SYNs dropped and retried a
  // second later.
  if (im.listen_socket >= 0) ::listen(im.listen_socket, SOMAXCONN);
  im.server_thread = std::thread([&im] {
    im.server.listen_after_bind();
    std::lock_guard lock(im.listener_mu);
    im.listener_done = true;
    im.listener_cv.notify_all();
  });
  for (int i = 0; i < 2500 && !im.server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  im.started = true;
  if (!im.server.is_running()) {
    Stop();
    return Status::Internal("the HTTP server did not start");
  }
  im.watcher = std::thread([&im] { im.WatchLoop(); });
  auto lib = im.CurrentLibrary();
  spdlog::info("serve: listening on {}, upstream {}, {} experiences from {}", base_url(),
               UrlForLogs(base), lib->library.size(), o.experiences.string());
  return Status::Ok();
}

void ProxyServer::Stop() {
  Impl& im = *impl_;
  if (!im.started) return;
  im.started = false;
  {
    std::lock_guard lock(im.watch_mu);
    im.stop_watching = true;
  }
  im.watch_cv.notify_all();
  if (im.watcher.joinable()) im.watcher.join();
  // No new connections; requests in flight get a grace period to finish, then are cut.
  im.server.Shutdown();
  {
    std::unique_lock lock(im.listener_mu);
    if (!im.listener_cv.wait_for(lock, im.options.stop_grace,
                                 [&im] { return im.listener_done; })) {
      spdlog::warn("serve: requests still running {} ms after stop; ending them",
                   im.options.stop_grace.count());
      im.abandon = true;
    }
  }
  if (im.server_thread.joinable()) im.server_thread.join();
}

int ProxyServer::port() const { return impl_->port; }

std::string ProxyServer::base_url() const {
  const std::string& host = impl_->options.listen_host;
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "http://" + h + ":" + std::to_string(impl_->port) + "/v1";
}

Status ProxyServer::Reload() { return impl_->Reload(); }

std::shared_ptr<const ServedLibrary> ProxyServer::library() const {
  return impl_->CurrentLibrary();
}

std::string ProxyServer::MetricsText() const {
  std::string text = impl_->metrics.Render();
  if (auto lib = impl_->CurrentLibrary(); lib && lib->retriever) {
    // Of the library being served (a reload starts them again).
    const RetrievalStats stats = lib->retriever->stats();
    text += "# HELP tfgrpo_serve_retrieval_queries Requests whose experiences were retrieved (--top-k).\n"
            "# TYPE tfgrpo_serve_retrieval_queries gauge\n"
            "tfgrpo_serve_retrieval_queries " + std::to_string(stats.queries) + "\n"
            "# HELP tfgrpo_serve_retrieval_fallbacks Of them, ranked by bm25 because the embeddings call failed.\n"
            "# TYPE tfgrpo_serve_retrieval_fallbacks gauge\n"
            "tfgrpo_serve_retrieval_fallbacks " + std::to_string(stats.fallbacks) + "\n";
  }
  return text;
}

}  // namespace tfgrpo
