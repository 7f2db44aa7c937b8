// MCP (Model Context Protocol) tools: a JSON-RPC 2.0 client for MCP servers over stdio (a child
// process started once per run, shared by every rollout, restarted if it dies) and streamable HTTP,
// and the adapter that offers each server tool to the agent as a tfgrpo::Tool. See docs/mcp.md.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/config.h"
#include "tfgrpo/status.h"
#include "tfgrpo/tool.h"

namespace tfgrpo {

class Launcher;  // process.h

// McpServerConfig (one entry of `tools.mcp`) is declared in config.h.

// InvalidArgument naming the server and the field: empty or malformed name, neither or both of
// command/url, an empty command[0], a url that is not http(s), an empty header or variable name.
Status ValidateMcpServerConfig(const McpServerConfig& config);

struct McpOptions {
  double call_timeout_s = 30;     // tools.timeout_s: one tools/call, from send to reply
  // Start (or restart) + initialize, and each tools/list page. `npx -y` may download first.
  double startup_timeout_s = 60;
  // stdio stop: after closing stdin, and again after SIGTERM; HTTP stop: the session DELETE.
  double stop_grace_s = 2;
  size_t max_output_bytes = 1 << 20;  // text shown to the model is cut here (marked)
  // Starts stdio servers (process.h); nullptr: DefaultLauncher(). Not owned; outlives the client.
  Launcher* launcher = nullptr;
};

// tools/list limits: the tools of one server, every page together, as JSON text; and the nesting
// depth of one tool's inputSchema. Past either, ListTools fails naming the server (one message
// larger than 16 MiB, or nested deeper than 128 levels, fails its request at once as well).
inline constexpr size_t kMaxMcpToolListBytes = 4u << 20;
inline constexpr int kMaxMcpSchemaDepth = 64;

// The protocol revisions we speak; we ask for the first and accept any of them.
inline constexpr const char* kMcpProtocolVersions[] = {"2025-06-18", "2025-03-26", "2024-11-05"};

struct McpToolInfo {
  std::string name;         // as the server names it
  std::string description;  // the server's description (its title when there is none)
  nlohmann::json input_schema = nlohmann::json::object();
};

struct McpStats {
  int64_t starts = 0;         // successful (re)initializations
  int64_t garbage_lines = 0;  // stdio lines that were not JSON-RPC messages (skipped)
  int64_t calls = 0;          // tools/call requests sent
  int64_t timeouts = 0;       // tools/call requests that hit call_timeout_s
};

// One server connection. Thread-safe: concurrent calls share one process or session and are
// multiplexed by request id. A dead stdio process (or an expired HTTP session) is restarted and
// re-initialized on the next call. Destruction stops the server (Stop).
class McpClient {
 public:
  // Starts the server and runs the initialize handshake. A server that cannot start, does not
  // answer within startup_timeout_s, or speaks no protocol version we support: Unavailable (or
  // InvalidArgument for a bad config / missing header variable) naming the server and command
  // or url, with the tail of the server's stderr.
  static Result<std::shared_ptr<McpClient>> Connect(const McpServerConfig& config,
                                                    const McpOptions& options = {});
  ~McpClient();
  McpClient(const McpClient&) = delete;
  McpClient& operator=(const McpClient&) = delete;

  const McpServerConfig& config() const;
  std::string protocol_version() const;  // negotiated in the last initialize

  // tools/list, following nextCursor over every page (at most 1000 pages).
  Result<std::vector<McpToolInfo>> ListTools();

  // tools/call. What the model sees: the text content items joined by newlines, other content
  // described ("[image: image/png, 1234 bytes]"). isError results, JSON-RPC errors, a server that
  // dies mid-call and a reply later than call_timeout_s (then notifications/cancelled is sent) are
  // OK results with is_error set. Non-OK only when the server cannot be (re)started at all.
  Result<ToolOutput> CallTool(const std::string& name, const nlohmann::json& arguments);

  // stdio: close stdin, wait stop_grace_s, SIGTERM the process group, wait, SIGKILL; reaped.
  // HTTP: ends the session with a DELETE carrying its Mcp-Session-Id (also sent when a dead
  // session is replaced, but not for one the server answered 404 for); best effort: a 405 or
  // any failure is ignored, and it waits at most stop_grace_s. Idempotent; later calls restart
  // the server or open a new session.
  void Stop();

  McpStats stats() const;
  std::string stderr_tail() const;  // stdio: the last few KiB the server wrote to stderr

 private:
  struct Impl;
  explicit McpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The result of a tools/call as the model sees it (see McpClient::CallTool). Exposed for tests.
ToolOutput RenderMcpToolResult(const nlohmann::json& result, size_t max_output_bytes);

// A tool one server offers, before naming.
struct McpOfferedTool {
  std::string server;
  std::string tool;  // the server's name
};

// The name the model sees for each offered tool, in the same order: the server's own name, made
// registry-safe ([A-Za-z0-9_-], other characters become '_', cut to 64), prefixed "<server>_" when
// more than one server offers it or a built-in tool (`taken`) already has it. InvalidArgument when
// a name still collides after prefixing.
Result<std::vector<std::string>> ResolveMcpToolNames(const std::vector<McpOfferedTool>& offered,
                                                     const std::set<std::string>& taken);

// Every MCP server of a run, connected, and their tools ready for ToolRegistry::Add.
struct McpToolset {
  std::vector<std::shared_ptr<Tool>> tools;
  std::vector<std::shared_ptr<McpClient>> clients;  // one per server, in config order
  std::vector<std::string> warnings;                // also logged (a server offering no tools, ...)
  void Stop();  // stops every server (tools kept elsewhere restart theirs if called again)
};

// Connects every server (in order), lists its tools, applies `allow` (an allowed name the server
// does not offer is an InvalidArgument error listing what it offers) and resolves names against
// `taken` (the built-in tools' names). Any server that cannot start fails the whole call, naming
// it; servers already started are stopped.
Result<McpToolset> ConnectMcpServers(const std::vector<McpServerConfig>& servers,
                                     const std::set<std::string>& taken,
                                     const McpOptions& options = {});

}  // namespace tfgrpo
