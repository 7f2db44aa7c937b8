// Fuzzes what the agent gateway reads from an agent before anything goes upstream: the request
// path (ParseRoute: the endpoint and the token in /r/<token>/v1/...), and the chat body as the
// chat route handles it (the JSON parse, the messages check, the library injected as serve does,
// the body turned into the upstream ChatRequest, the run store's key of it). The input's first
// line is tried as the path, the whole input as the body. (The handlers are bound to httplib;
// these are the steps they run on the bytes, in their order.)
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/agent_request.h"
#include "tfgrpo/json.h"
#include "tfgrpo/serve.h"

namespace gi = tfgrpo::gateway_internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tfgrpo::Library kLibrary({{"Check the units.", 0, ""}, {"Simplify first.", 0, ""}});
  std::string_view text(reinterpret_cast<const char*>(data), size);

  const std::string_view path = text.substr(0, text.find('\n'));
  for (std::string_view method : {"POST", "GET"}) {
    const gi::Route route = gi::ParseRoute(method, path);
    if (route.path_token.find('/') != std::string::npos) __builtin_trap();
    if (route.in_path != (route.path_token.size() > 0)) __builtin_trap();
    if (route.endpoint != gi::Endpoint::kNone && path.find("/v1/") == std::string_view::npos) __builtin_trap();
  }

  nlohmann::ordered_json body = tfgrpo::ParseUntrustedOrderedJson(text);
  if (body.is_discarded() || !body.is_object()) return 0;
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array()) return 0;
  for (const auto& m : *messages)
    if (!m.is_object()) return 0;  // the gateway answers 400
  const size_t count = messages->size();
  auto injected = tfgrpo::InjectLibrary(body, kLibrary);
  if (!injected.ok()) return 0;

  tfgrpo::RolloutTicket ticket;
  ticket.rollout_id = "s0/t0/r0";
  ticket.library = &kLibrary;
  for (bool keep : {false, true}) {
    tfgrpo::GatewayOptions options;
    options.model_name = "run-model";
    options.keep_model = keep;
    options.keep_temperature = keep;
    std::string model;
    tfgrpo::ChatRequest request = gi::AgentChatRequest(body, ticket, options, &model);
    // The injection adds at most a system message; every message the agent sent goes upstream.
    if (request.messages.size() < count || request.messages.size() > count + 1) __builtin_trap();
    if (!keep && (model != "run-model" || request.temperature != ticket.temperature)) __builtin_trap();
    if (request.extra_body.contains("messages") || request.extra_body.contains("stream")) __builtin_trap();
    if (request.max_tokens && *request.max_tokens <= 0) __builtin_trap();
    request.call_id = ticket.rollout_id + "/a1";
    try {
      if (tfgrpo::RequestFingerprint(request, options.model_name, options.max_tokens).empty()) __builtin_trap();
    } catch (const nlohmann::json::exception&) {
      return 0;  // invalid UTF-8 in the body: the handler's dump fails the same way (400)
    }
  }
  return 0;
}
