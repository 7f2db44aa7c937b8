// `tfgrpo serve`: an OpenAI-compatible HTTP proxy that appends the learned experience library to
// every chat completion's system message, exactly as training renders it, and relays the rest
// (streaming, tool calls, errors) untouched. Owns client auth, hot reload and Prometheus metrics.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/config.h"
#include "tfgrpo/library.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

// Request bodies larger than this are refused with 413 (chunked ones too, while being read).
inline constexpr size_t kServeMaxBodyBytes = 8u << 20;
// A request head (request line and headers) larger than this, with more headers than
// kServeMaxHeaderCount, or with one header line over kServeMaxHeaderLineBytes is refused with 431.
inline constexpr size_t kServeMaxHeaderBytes = 64u << 10;
inline constexpr size_t kServeMaxHeaderCount = 100;
inline constexpr size_t kServeMaxHeaderLineBytes = 8192;
// Request header that opts a single request out of injection ("off").
inline constexpr std::string_view kExperiencesHeader = "X-Tfgrpo-Experiences";

struct ServeOptions {
  std::filesystem::path experiences;  // the library file (JSON, as `Library::Load` reads it)
  std::string upstream;               // provider base URL including /v1
  std::string listen_host = "127.0.0.1";
  int listen_port = 8080;             // 0 picks a free port
  // Rewrites of the request's "model" field, FROM -> TO (first match wins).
  std::vector<std::pair<std::string, std::string>> model_map;
  std::string upstream_api_key;  // sent upstream as "Authorization: Bearer ..."; empty = none
  std::string client_api_key;    // when non-empty, clients must present it as a Bearer token
  bool pass_through_auth = false;  // forward the client's Authorization instead of the key above
  double upstream_timeout_s = 600;
  int threads = 64;  // requests handled at once (GET /health and /metrics need no slot)
  // Client connections open at once. At the cap, the connection that has waited longest
  // without a request in progress is closed to make room; with none, the new one gets 503.
  int max_connections = 512;
  // A request head must arrive within this from its first byte, else 408.
  std::chrono::milliseconds header_timeout{10000};
  // How long an open connection may wait for its next request before it is closed.
  std::chrono::milliseconds keep_alive_timeout{5000};
  std::chrono::milliseconds reload_poll{200};  // how often the library file is checked
  std::chrono::milliseconds stop_grace{5000};  // Stop() lets requests in flight run this long
  // --top-k: each request gets only the top_k experiences most relevant to its user messages
  // (0: the whole library). With embeddings, vectors are kept in EmbeddingCacheFileFor(experiences).
  int top_k = 0;
  RetrievalMethod retrieval_method = RetrievalMethod::kBm25;
  std::string embeddings_model = "text-embedding-3-small";
  std::string embeddings_url;      // empty: upstream
  std::string embeddings_api_key;  // empty: upstream_api_key
};

// The experiences file as parsed plus what injection needs; immutable once built.
class Retriever;
struct ServedLibrary {
  Library library;
  std::string fingerprint;  // Fingerprint of the rendered lines
  std::shared_ptr<Retriever> retriever;  // indexed on `library`; null with top_k 0
};

// Applies the library to a chat-completion request body in place. The target is the first
// "system" message, else the first "developer" message; its content becomes
// AppendLibrary(content, library). Array content (content parts) gets the library appended to
// its last text part, or a new text part when it has none. Without a target, a new system
// message with AppendLibrary("", library) is inserted at index 0. Everything else is left as is.
// Returns false (body unchanged) when the library is empty. Error when "messages" is not an
// array of objects.
Result<bool> InjectLibrary(nlohmann::ordered_json& body, const Library& library);
// The same with only the experiences at `positions` (retrieval), each with its own [G<n>] id;
// false (body unchanged) when there are none.
Result<bool> InjectLibrary(nlohmann::ordered_json& body, const Library& library, const std::vector<size_t>& positions);
// The retrieval query of a request: the text of its "user" messages (string content, and the
// text parts of array content), joined by newlines; "" when there are none.
std::string UserMessagesText(const nlohmann::ordered_json& body);

struct ListenAddress {
  std::string host;
  int port = 0;
};
// "HOST:PORT", "[V6]:PORT" or ":PORT" (127.0.0.1). Error names what is wrong.
Result<ListenAddress> ParseListenAddress(std::string_view text);
// 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(std::string_view host);
// "FROM=TO" with both sides non-empty.
Result<std::pair<std::string, std::string>> ParseModelMapping(std::string_view text);

// The proxy. Start() loads the library, binds and returns once listening; Stop() (or the
// destructor) drains and joins. Thread-safe.
class ProxyServer {
 public:
  explicit ProxyServer(ServeOptions options);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  Status Start();
  void Stop();
  int port() const;
  std::string base_url() const;  // "http://HOST:PORT/v1"

  // Re-reads the library file now (the watcher does this on change; the CLI on SIGHUP). On a
  // parse error the current library stays in place and the error is returned and logged.
  Status Reload();
  std::shared_ptr<const ServedLibrary> library() const;
  // The /metrics body (Prometheus text format 0.0.4).
  std::string MetricsText() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tfgrpo
