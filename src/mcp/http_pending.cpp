// Until the shared HTTP transport (h/http) is merged, url servers are refused plainly.
#include "mcp/connection.h"

namespace tfgrpo::mcp_internal {

Result<std::unique_ptr<Connection>> OpenHttpConnection(const McpServerConfig& config, const McpOptions&) {
  return Status::Unavailable("the streamable HTTP transport is not built yet (needs the http module)");
}

}  // namespace tfgrpo::mcp_internal
