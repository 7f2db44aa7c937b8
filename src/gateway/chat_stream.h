// What the gateway answers an agent's chat completion with, built from the upstream's
// (non-streamed) ChatResponse: the chat.completion object, or the same reply as the
// chat.completion.chunk Server-Sent Events an OpenAI-compatible stream carries. Pure functions.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "tfgrpo/llm.h"

namespace tfgrpo::gateway_internal {

// The assistant message of `response`: choices[0].message as the upstream sent it (role
// "assistant" and a "content" key made sure of), or {"role":"assistant","content":content} when
// the upstream's message was not kept.
nlohmann::json ReplyMessage(const ChatResponse& response);

// {"id", "object":"chat.completion", "created", "model", "choices":[{"index":0, "message",
// "finish_reason", "logprobs":null}], "usage":{prompt_tokens, completion_tokens, total_tokens,
// prompt_tokens_details.cached_tokens}}. finish_reason: the upstream's, else "tool_calls" when the
// message calls tools, else "stop".
nlohmann::json ChatCompletionJson(const ChatResponse& response, const std::string& id, const std::string& model,
                                  int64_t created);

// The reply as "data: {chunk}\n\n" events: the role (with empty content), the reasoning_content
// and the content (one delta each when non-empty), per tool call its id, type and name then its
// arguments (each with the call's index), a chunk with the finish_reason, with include_usage a
// last chunk with empty choices and the usage (and "usage": null on the others), then
// "data: [DONE]\n\n".
std::string ChatCompletionChunks(const ChatResponse& response, const std::string& id, const std::string& model,
                                 int64_t created, bool include_usage);

}  // namespace tfgrpo::gateway_internal
