// Fuzzes what an MCP server sends us: the text/event-stream framing of streamable HTTP replies
// (fed in chunks whose size varies with the input, as libcurl splits a body anywhere), the
// JSON-RPC messages of each event, of a plain JSON body and of a stdio line (batches too), their
// classification, the result or error of a response, our answer to a server request, and the
// text a tools/call result renders to; for a message we cannot parse, the id read from its first
// bytes and the reason.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mcp/connection.h"
#include "tfgrpo/mcp.h"

namespace {

using nlohmann::json;
namespace mi = tfgrpo::mcp_internal;

void Handle(const json& message) {
  switch (mi::Classify(message)) {
    case mi::MessageKind::kResponse: {
      mi::RpcReply reply = mi::ToReply(message);
      if (!reply.is_error) (void)tfgrpo::RenderMcpToolResult(reply.result, 4096);
      break;
    }
    case mi::MessageKind::kRequest:
      (void)mi::AnswerServerRequest(message).dump();
      break;
    case mi::MessageKind::kNotification:
    case mi::MessageKind::kInvalid:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t chunk = 1 + size % 97;
  mi::SseParser parser;
  size_t events = 0;
  auto on_event = [&](const std::string& event) {
    ++events;
    (void)mi::ForEachMessage(event, Handle);
    return true;
  };
  for (size_t at = 0; at < text.size(); at += chunk) parser.Feed(text.substr(at, chunk), on_event);
  parser.Finish(on_event);
  // Framing never depends on how the stream was split.
  mi::SseParser whole;
  size_t whole_events = 0;
  whole.Feed(text, [&](const std::string&) { return ++whole_events, true; });
  whole.Finish([&](const std::string&) { return ++whole_events, true; });
  if (whole_events != events) __builtin_trap();
  if (!mi::ForEachMessage(text, Handle)) {
    // A reply we cannot parse: its id read from its first bytes, and the reason.
    (void)mi::LeadingResponseId(text);
    (void)mi::WhyUnparseable(text);
  }
  return 0;
}
