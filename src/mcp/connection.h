// Inside the mcp module: one JSON-RPC connection to one MCP server (a stdio child process or an
// HTTP session), and the message handling both transports share. McpClient (client.cpp) owns the
// lifecycle (initialize, restart) on top of it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tfgrpo/mcp.h"
#include "tfgrpo/status.h"

namespace tfgrpo::mcp_internal {

using Clock = std::chrono::steady_clock;

Clock::time_point After(double seconds);

// A JSON-RPC response: a result, or an error object.
struct RpcReply {
  bool is_error = false;
  nlohmann::json result;
  int64_t error_code = 0;
  std::string error_message;
};

// Status codes a Connection returns besides OK:
//   kTimeout      no reply by the deadline (the request may still be running on the server)
//   kNotFound     the request was not processed and may be resent after re-initializing
//                 (an HTTP session the server no longer knows)
//   kUnavailable  the connection broke (process exited, HTTP failure); it is dead
class Connection {
 public:
  virtual ~Connection() = default;
  // Sends a request and waits for its response until `deadline`. `*sent_id` gets the request id
  // as soon as it is assigned, so a timed-out request can be cancelled.
  virtual Result<RpcReply> Request(const std::string& method, const nlohmann::json& params,
                                   Clock::time_point deadline, int64_t* sent_id) = 0;
  virtual Status Notify(const std::string& method, const nlohmann::json& params) = 0;
  virtual bool Alive() const = 0;
  // Ends the connection (stdio: stops the process and reaps it). Idempotent.
  virtual void Close() = 0;
  // Called once initialize succeeded, with the negotiated protocol version.
  virtual void Initialized(const std::string& protocol_version) {}
  virtual std::string StderrTail() const { return ""; }
  virtual int64_t GarbageLines() const { return 0; }
  // "command `npx -y x`" or "url http://...", for error messages.
  virtual std::string Describe() const = 0;
};

Result<std::unique_ptr<Connection>> StartStdioConnection(const McpServerConfig& config,
                                                         const McpOptions& options);
Result<std::unique_ptr<Connection>> OpenHttpConnection(const McpServerConfig& config,
                                                       const McpOptions& options);

// What a message from the server is.
enum class MessageKind { kResponse, kRequest, kNotification, kInvalid };
MessageKind Classify(const nlohmann::json& message);

// Calls `on_message` with each JSON-RPC message in `text` (a stdio line, an HTTP reply body, the
// data of one SSE event): the message itself, or each element of a batch array, in order. False,
// calling nothing, when `text` is not JSON (ParseUntrustedJson: nesting bounded) - the caller
// counts it as garbage. Elements are not checked: Classify them.
bool ForEachMessage(std::string_view text, const std::function<void(const nlohmann::json&)>& on_message);

// Incremental text/event-stream parser (the streamable HTTP transport's replies): hands over the
// data of each complete event (its data: lines joined by \n); comments, event, id and retry
// fields are skipped. Feed accepts any split of the stream into chunks and costs time linear in
// the stream (a line arriving in many chunks is scanned once); the event being collected, its
// unfinished line included, is bounded by `max_event_bytes` (a server streaming one endless line
// must not exhaust our memory).
class SseParser {
 public:
  explicit SseParser(size_t max_event_bytes = 64u << 20) : max_event_bytes_(max_event_bytes) {}
  // Returns false when `on_event` asked to stop, or when the event being collected grew past
  // max_event_bytes (then overflowed() is true and nothing more is parsed).
  template <typename OnEvent>
  bool Feed(std::string_view chunk, OnEvent&& on_event) {
    if (overflowed_) return false;
    pending_.append(chunk);
    size_t start = 0;
    while (true) {
      // What is left of the previous chunk holds no newline: scan only the new bytes.
      size_t nl = pending_.find('\n', std::max(start, scanned_));
      if (nl == std::string::npos) break;
      std::string_view line(pending_.data() + start, nl - start);
      start = nl + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) {
        if (has_data_) {
          std::string event = std::move(data_);
          data_.clear();
          has_data_ = false;
          if (!on_event(event)) {
            pending_.erase(0, start);
            scanned_ = 0;
            return false;
          }
        }
        continue;
      }
      if (line[0] == ':') continue;  // comment / keep-alive
      std::string_view field = line, value;
      if (size_t colon = line.find(':'); colon != std::string_view::npos) {
        field = line.substr(0, colon);
        value = line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
      }
      if (field == "data") {
        if (has_data_) data_ += '\n';
        data_.append(value);
        has_data_ = true;
      }
      // event, id, retry: nothing we use (we do not resume streams)
    }
    pending_.erase(0, start);
    scanned_ = pending_.size();
    if (pending_.size() + data_.size() > max_event_bytes_) {
      overflowed_ = true;
      pending_.clear();
      data_.clear();
      return false;
    }
    return true;
  }
  // At the end of the stream an event without its final blank line still counts.
  template <typename OnEvent>
  void Finish(OnEvent&& on_event) {
    Feed("\n\n", on_event);
  }
  bool overflowed() const { return overflowed_; }

 private:
  size_t max_event_bytes_;
  std::string pending_, data_;
  size_t scanned_ = 0;  // leading bytes of pending_ known to hold no newline
  bool has_data_ = false;
  bool overflowed_ = false;
};

// The largest message (a stdio line, an HTTP reply body, one SSE event) we read; a reply past it
// fails its request at once (see LeadingResponseId), so a hostile server costs bounded memory.
inline constexpr size_t kMaxMessageBytes = 16u << 20;

// The id of the response `text` starts as, read from its first few hundred bytes without parsing
// the rest: for a reply we cannot parse (too large, nested too deep), so the request it answers
// fails with the reason now instead of waiting for its deadline. Nothing when no integer id is
// found there.
std::optional<int64_t> LeadingResponseId(std::string_view text);

// Why `text` (a message we could not parse) is unusable: nested deeper than kMaxJsonDepth, or not
// JSON.
std::string WhyUnparseable(std::string_view text);

// The reply to a response message (its result or error). The error text is redacted
// (RedactRunSecrets): it is the server's text and may quote what it was given.
RpcReply ToReply(const nlohmann::json& response);

// Our answer to a server request: ping -> {} ; anything else -> -32601 method not found.
nlohmann::json AnswerServerRequest(const nlohmann::json& request);

nlohmann::json MakeRequest(int64_t id, const std::string& method, const nlohmann::json& params);
nlohmann::json MakeNotification(const std::string& method, const nlohmann::json& params);

// `command` joined with spaces, for messages.
std::string JoinCommand(const std::vector<std::string>& command);

}  // namespace tfgrpo::mcp_internal
