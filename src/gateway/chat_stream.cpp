#include "gateway/chat_stream.h"

namespace tfgrpo::gateway_internal {

namespace {

nlohmann::json UsageJson(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

bool HasToolCalls(const nlohmann::json& message) {
  auto it = message.find("tool_calls");
  return it != message.end() && it->is_array() && !it->empty();
}

std::string FinishReason(const ChatResponse& response, const nlohmann::json& message) {
  if (!response.finish_reason.empty()) return response.finish_reason;
  return HasToolCalls(message) ? "tool_calls" : "stop";
}

}  // namespace

nlohmann::json ReplyMessage(const ChatResponse& response) {
  nlohmann::json message = response.message;
  if (!message.is_object() || message.empty()) {
    message = nlohmann::json::object();
    message["content"] = response.content;
  }
  message["role"] = "assistant";
  if (!message.contains("content")) message["content"] = nullptr;
  return message;
}

nlohmann::json ChatCompletionJson(const ChatResponse& response, const std::string& id, const std::string& model,
                                  int64_t created) {
  nlohmann::json message = ReplyMessage(response);
  const std::string finish = FinishReason(response, message);
  nlohmann::json choice = {{"index", 0}, {"message", std::move(message)}, {"finish_reason", finish}, {"logprobs", nullptr}};
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"choices", nlohmann::json::array({std::move(choice)})},
          {"usage", UsageJson(response.usage)}};
}

std::string ChatCompletionChunks(const ChatResponse& response, const std::string& id, const std::string& model,
                                 int64_t created, bool include_usage) {
  const nlohmann::json message = ReplyMessage(response);
  std::string out;
  auto event = [&](nlohmann::json choices, const nlohmann::json* usage) {
    nlohmann::json chunk = {{"id", id},
                            {"object", "chat.completion.chunk"},
                            {"created", created},
                            {"model", model},
                            {"choices", std::move(choices)}};
    if (include_usage) chunk["usage"] = usage ? *usage : nlohmann::json(nullptr);
    out += "data: ";
    out += chunk.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += "\n\n";
  };
  auto delta = [&](nlohmann::json d, nlohmann::json finish = nullptr) {
    nlohmann::json choice = {{"index", 0}, {"delta", std::move(d)}, {"finish_reason", std::move(finish)},
                             {"logprobs", nullptr}};
    event(nlohmann::json::array({std::move(choice)}), nullptr);
  };

  delta({{"role", "assistant"}, {"content", ""}});
  if (auto r = message.find("reasoning_content"); r != message.end() && r->is_string() && !r->get_ref<const std::string&>().empty()) {
    delta({{"reasoning_content", *r}});
  }
  if (auto c = message.find("content"); c != message.end() && c->is_string() && !c->get_ref<const std::string&>().empty()) {
    delta({{"content", *c}});
  }
  if (HasToolCalls(message)) {
    const nlohmann::json& calls = message["tool_calls"];
    for (size_t i = 0; i < calls.size(); ++i) {
      const nlohmann::json& call = calls[i];
      if (!call.is_object()) continue;
      nlohmann::json head = {{"index", i}};
      if (call.contains("id")) head["id"] = call["id"];
      head["type"] = call.value("type", nlohmann::json("function"));
      nlohmann::json function = nlohmann::json::object();
      std::string arguments;
      if (auto f = call.find("function"); f != call.end() && f->is_object()) {
        if (f->contains("name")) function["name"] = (*f)["name"];
        if (auto a = f->find("arguments"); a != f->end()) arguments = a->is_string() ? a->get<std::string>() : a->dump();
      }
      function["arguments"] = "";
      head["function"] = std::move(function);
      delta({{"tool_calls", nlohmann::json::array({std::move(head)})}});
      if (!arguments.empty()) {
        nlohmann::json args = {{"index", i}, {"function", {{"arguments", arguments}}}};
        delta({{"tool_calls", nlohmann::json::array({std::move(args)})}});
      }
    }
  }
  delta(nlohmann::json::object(), FinishReason(response, message));
  if (include_usage) {
    const nlohmann::json usage = UsageJson(response.usage);
    event(nlohmann::json::array(), &usage);
  }
  out += "data: [DONE]\n\n";
  return out;
}

}  // namespace tfgrpo::gateway_internal
