// JSON-RPC message handling shared by the stdio and HTTP connections.
#include <string>

#include "mcp/connection.h"
#include "tfgrpo/json.h"
#include "tfgrpo/secrets.h"

namespace tfgrpo::mcp_internal {

using nlohmann::json;

Clock::time_point After(double seconds) {
  if (seconds > 1e7) seconds = 1e7;  // "forever" without overflowing the clock
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

MessageKind Classify(const json& message) {
  if (!message.is_object()) return MessageKind::kInvalid;
  const bool has_method = message.contains("method") && message["method"].is_string();
  const bool has_id = message.contains("id") && !message["id"].is_null();
  if (has_method) return has_id ? MessageKind::kRequest : MessageKind::kNotification;
  if (message.contains("id") && (message.contains("result") || message.contains("error")))
    return MessageKind::kResponse;
  return MessageKind::kInvalid;
}

bool ForEachMessage(std::string_view text, const std::function<void(const json&)>& on_message) {
  json message = ParseUntrustedJson(text);
  if (message.is_discarded()) return false;
  if (message.is_array()) {  // a batch (2025-03-26)
    for (const auto& item : message) on_message(item);
  } else {
    on_message(message);
  }
  return true;
}

std::optional<int64_t> LeadingResponseId(std::string_view text) {
  text = text.substr(0, 512);
  for (size_t at = text.find("\"id\""); at != std::string_view::npos; at = text.find("\"id\"", at + 1)) {
    size_t i = at + 4;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i >= text.size() || text[i] != ':') continue;
    ++i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    size_t digits = i;
    while (digits < text.size() && digits - i < 18 && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == i) continue;
    return std::stoll(std::string(text.substr(i, digits - i)));
  }
  return std::nullopt;
}

std::string WhyUnparseable(std::string_view text) {
  if (JsonNestingDepth(text) > kMaxJsonDepth)
    return "it is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
  return "it is not valid JSON";
}

RpcReply ToReply(const json& response) {
  RpcReply reply;
  if (response.contains("error")) {
    reply.is_error = true;
    const json& error = response["error"];
    if (error.is_object()) {
      if (error.contains("code") && error["code"].is_number_integer()) reply.error_code = error["code"].get<int64_t>();
      if (error.contains("message") && error["message"].is_string()) reply.error_message = error["message"].get<std::string>();
      if (error.contains("data") && !error["data"].is_null()) {
        const json& data = error["data"];
        reply.error_message += reply.error_message.empty() ? "" : " ";
        reply.error_message += data.is_string() ? data.get<std::string>() : data.dump();
      }
    } else {
      reply.error_message = error.dump();
    }
    if (reply.error_message.empty()) reply.error_message = "(no message)";
    reply.error_message = RedactRunSecrets(std::move(reply.error_message));
  } else {
    reply.result = response["result"];
  }
  return reply;
}

json AnswerServerRequest(const json& request) {
  json answer = {{"jsonrpc", "2.0"}, {"id", request["id"]}};
  if (request["method"] == "ping") {
    answer["result"] = json::object();
  } else {
    answer["error"] = {{"code", -32601},
                       {"message", "method not supported by this client: " + request["method"].get<std::string>()}};
  }
  return answer;
}

json MakeRequest(int64_t id, const std::string& method, const json& params) {
  json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) message["params"] = params;
  return message;
}

json MakeNotification(const std::string& method, const json& params) {
  json message = {{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) message["params"] = params;
  return message;
}

std::string JoinCommand(const std::vector<std::string>& command) {
  std::string out;
  for (const auto& part : command) {
    if (!out.empty()) out += ' ';
    out += part;
  }
  return out;
}

}  // namespace tfgrpo::mcp_internal
