// What the gateway reads from an agent's request before anything is sent upstream: the route (the
// endpoint and the token in the path) and the chat body turned into the upstream ChatRequest.
// Pure functions over untrusted input (fuzz/gateway_request.cpp); the HTTP side is gateway.cpp's.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tfgrpo/gateway.h"
#include "tfgrpo/llm.h"

namespace tfgrpo::gateway_internal {

enum class Endpoint { kNone, kChat, kResponses, kModels };

// "/r/<token>/v1/<rest>" or "/v1/<rest>": which endpoint, and the token in the path ("" for /v1).
// kNone for anything else (a path with an empty token, another prefix, a method the route lacks).
struct Route {
  Endpoint endpoint = Endpoint::kNone;
  std::string path_token;  // never contains '/'
  bool in_path = false;
};
Route ParseRoute(std::string_view method, std::string_view path);

// The upstream request for an agent's chat body (an object; its library already injected): role
// and temperature from the ticket (the body's temperature only with keep_temperature), max_tokens
// when a positive int, the body's model only with keep_model (then `*model` names it, else
// options.model_name), stream fields dropped, every other field as extra_body; each message's
// string role and content, everything else of it in Message::extra. A "messages" that is missing,
// not an array, or holds non-objects gives the objects only (the gateway refuses such bodies with
// 400 before). call_id is left empty: the caller numbers the body.
ChatRequest AgentChatRequest(const nlohmann::ordered_json& body, const RolloutTicket& ticket,
                             const GatewayOptions& options, std::string* model);

}  // namespace tfgrpo::gateway_internal
