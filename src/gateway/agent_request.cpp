#include "gateway/agent_request.h"

#include <cstdint>
#include <limits>

#include "tfgrpo/util.h"

namespace tfgrpo::gateway_internal {

Route ParseRoute(std::string_view method, std::string_view path) {
  Route route;
  std::string_view rest;
  if (StartsWith(path, "/r/")) {
    std::string_view after = path.substr(3);
    size_t slash = after.find('/');
    if (slash == std::string_view::npos || slash == 0) return route;
    route.path_token = std::string(after.substr(0, slash));
    route.in_path = true;
    rest = after.substr(slash);
  } else {
    rest = path;
  }
  if (!StartsWith(rest, "/v1/")) return route;
  rest = rest.substr(3);
  if (method == "POST" && rest == "/chat/completions") route.endpoint = Endpoint::kChat;
  if (method == "POST" && rest == "/responses") route.endpoint = Endpoint::kResponses;
  if ((method == "GET" || method == "HEAD") && rest == "/models") route.endpoint = Endpoint::kModels;
  return route;
}

namespace {

// The fields the gateway decides itself or never forwards: the rest of a chat body goes upstream
// as extra_body.
bool IsOwnField(std::string_view name) {
  return name == "messages" || name == "model" || name == "temperature" || name == "max_tokens" ||
         name == "stream" || name == "stream_options";
}

}  // namespace

ChatRequest AgentChatRequest(const nlohmann::ordered_json& body, const RolloutTicket& ticket,
                             const GatewayOptions& options, std::string* model) {
  ChatRequest request;
  request.role = ticket.role;
  request.temperature = ticket.temperature;
  *model = options.model_name;
  if (!body.is_object()) return request;
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    if (key == "temperature" && options.keep_temperature && it->is_number()) {
      request.temperature = it->get<double>();
    } else if (key == "max_tokens" && it->is_number_integer() && it->get<int64_t>() > 0 &&
               it->get<int64_t>() <= std::numeric_limits<int>::max()) {
      request.max_tokens = static_cast<int>(it->get<int64_t>());
    } else if (key == "model" && options.keep_model && it->is_string()) {
      request.extra_body["model"] = *it;
      *model = it->get<std::string>();
    } else if (!IsOwnField(key)) {
      request.extra_body[key] = nlohmann::json(*it);
    }
  }
  const auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array()) return request;
  request.messages.reserve(messages->size());
  for (const auto& m : *messages) {
    if (!m.is_object()) continue;
    Message message;
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (it.key() == "role" && it->is_string()) {
        message.role = it->get<std::string>();
      } else if (it.key() == "content" && it->is_string()) {
        message.content = it->get<std::string>();
      } else {
        message.extra[it.key()] = nlohmann::json(*it);
      }
    }
    request.messages.push_back(std::move(message));
  }
  return request;
}

}  // namespace tfgrpo::gateway_internal
