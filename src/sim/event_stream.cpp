// The simulator's `stream: true` answers: a finished chat.completion cut into the
// chat.completion.chunk events an OpenAI-compatible server sends, so agents that stream (the
// openai SDK's tool loop, LangChain, the AI SDK) run against the simulator as against a provider.
#include "sim/sim_internal.h"

namespace tfgrpo::sim_internal {

namespace {

// Small pieces, so that a client's delta assembly is exercised as with a real model.
constexpr size_t kPieceBytes = 24;

// `text` in pieces of about kPieceBytes, never splitting a UTF-8 sequence.
std::vector<std::string> Pieces(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = std::min(text.size(), start + kPieceBytes);
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

std::string Event(const nlohmann::json& chunk) {
  return "data: " + chunk.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

}  // namespace

std::string CompletionEventStream(const nlohmann::json& completion, bool include_usage) {
  const nlohmann::json& choice = completion["choices"][0];
  const nlohmann::json& message = choice["message"];
  auto chunk = [&](nlohmann::json delta, nlohmann::json finish_reason) {
    nlohmann::json c = {{"id", completion.value("id", std::string("chatcmpl-sim"))},
                        {"object", "chat.completion.chunk"},
                        {"created", completion.value("created", 0)},
                        {"model", completion.value("model", std::string("sim-1"))},
                        {"choices", nlohmann::json::array({{{"index", 0},
                                                             {"delta", std::move(delta)},
                                                             {"finish_reason", std::move(finish_reason)}}})}};
    if (include_usage) c["usage"] = nullptr;
    return Event(c);
  };
  std::string out = chunk({{"role", "assistant"}, {"content", ""}}, nullptr);
  if (message.contains("content") && message["content"].is_string()) {
    for (const std::string& piece : Pieces(message["content"].get<std::string>())) {
      out += chunk({{"content", piece}}, nullptr);
    }
  }
  if (message.contains("tool_calls") && message["tool_calls"].is_array()) {
    const nlohmann::json& calls = message["tool_calls"];
    for (size_t i = 0; i < calls.size(); ++i) {
      const nlohmann::json& call = calls[i];
      out += chunk({{"tool_calls", nlohmann::json::array({{{"index", i},
                                                           {"id", call["id"]},
                                                           {"type", "function"},
                                                           {"function", {{"name", call["function"]["name"]},
                                                                         {"arguments", ""}}}}})}},
                   nullptr);
      for (const std::string& piece : Pieces(call["function"]["arguments"].get<std::string>())) {
        out += chunk({{"tool_calls", nlohmann::json::array({{{"index", i}, {"function", {{"arguments", piece}}}}})}},
                     nullptr);
      }
    }
  }
  out += chunk(nlohmann::json::object(), choice["finish_reason"]);
  if (include_usage) {
    nlohmann::json last = {{"id", completion.value("id", std::string("chatcmpl-sim"))},
                           {"object", "chat.completion.chunk"},
                           {"created", completion.value("created", 0)},
                           {"model", completion.value("model", std::string("sim-1"))},
                           {"choices", nlohmann::json::array()},
                           {"usage", completion["usage"]}};
    out += Event(last);
  }
  return out + "data: [DONE]\n\n";
}

}  // namespace tfgrpo::sim_internal
