// Inside the mcp module: one JSON-RPC connection to one MCP server (a stdio child process or an
// HTTP session), and the message handling both transports share. McpClient (client.cpp) owns the
// lifecycle (initialize, restart) on top of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

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

// The reply to a response message (its result or error).
RpcReply ToReply(const nlohmann::json& response);

// Our answer to a server request: ping -> {} ; anything else -> -32601 method not found.
nlohmann::json AnswerServerRequest(const nlohmann::json& request);

nlohmann::json MakeRequest(int64_t id, const std::string& method, const nlohmann::json& params);
nlohmann::json MakeNotification(const std::string& method, const nlohmann::json& params);

// `command` joined with spaces, for messages.
std::string JoinCommand(const std::vector<std::string>& command);

}  // namespace tfgrpo::mcp_internal
