// The OpenAI Responses API (`POST /v1/responses`) spoken over a chat-completions upstream: a
// Responses request becomes a chat completion request, the chat reply becomes a Response, and a
// finished Response can be written as the Responses event stream the official SDKs parse. Pure
// functions, no I/O, thread-safe; shared by `tfgrpo serve` and the agent gateway.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "tfgrpo/status.h"

namespace tfgrpo {

// Translates a Responses request body into a chat-completions request body:
//   instructions            -> a first "system" message
//   input (string)          -> one "user" message
//   input items             -> messages: message items (role user/system/developer/assistant,
//                              content a string or input_text/output_text/input_image parts),
//                              function_call -> an assistant message's tool_calls (consecutive
//                              calls join one message), function_call_output -> a "tool" message
//   tools (function)        -> chat's nested {type:function, function:{name, description,
//                              parameters, strict}}
//   tool_choice, temperature, top_p, parallel_tool_calls, user, model -> the same fields
//                              (tool_choice and parallel_tool_calls only when there are tools)
//   max_output_tokens       -> max_tokens
//   text.format             -> response_format (json_object, json_schema); text.verbosity -> verbosity
//   reasoning.effort        -> reasoning_effort
//   item_reference          -> the referenced item, found with `lookup` (the Vercel AI SDK sends
//                              its earlier assistant messages this way unless store: false);
//                              an id `lookup` does not know (or no `lookup`) is an error
// "stream" is not carried over: the caller asks upstream without streaming and writes the
// Responses events itself (ResponseEventStream). Fields that need server-side state or a
// built-in tool (previous_response_id, conversation, store: true, background: true, prompt,
// web_search/file_search/... tools) and any field this translation does not
// know are kInvalidArgument whose message names the field (e.g. "input[2].type"), as are wrong
// types. `include`, `metadata`, `service_tier`, `prompt_cache_key`, `safety_identifier` and
// `stream_options` are accepted and not forwarded.
// Every error message starts with the field's path and ": ".
// An output item by its id ("msg_...", "fc_..."), or nullopt when unknown.
using ResponseItemLookup = std::function<std::optional<nlohmann::ordered_json>(const std::string& id)>;
Result<nlohmann::ordered_json> ResponsesToChat(const nlohmann::ordered_json& request,
                                               const ResponseItemLookup& lookup = {});
// The field a ResponsesToChat error names ("input[2].type"), for OpenAI's error "param".
std::string ResponsesErrorParam(const Status& error);

// Builds the Response object for a chat completion reply to `request` (the Responses request as
// the client sent it, whose fields are echoed): output is the assistant's text as one "message"
// item (output_text) when there is text, then one "function_call" item per tool call; status is
// "completed", or "incomplete" with incomplete_details.reason "max_output_tokens" /
// "content_filter" for finish_reason "length" / "content_filter"; usage maps prompt/completion/
// total tokens and cached_tokens (prompt_tokens_details.cached_tokens, else
// prompt_cache_hit_tokens). Ids are derived from the chat reply's id, so the same reply always
// gives the same Response. kInvalidArgument when the reply has no choices[0].message object.
Result<nlohmann::ordered_json> ChatToResponse(const nlohmann::json& chat_reply,
                                              const nlohmann::ordered_json& request);

// The output items of recent Responses, by id, so that a later request's item_reference finds
// them: the most recently added items, at most `max_bytes` of their JSON in all (an item larger
// than that is not kept). Memory only. Thread-safe.
class ResponseItemCache {
 public:
  explicit ResponseItemCache(size_t max_bytes = 16u << 20) : max_bytes_(max_bytes) {}
  // Keeps every item of `response["output"]` that has a string "id".
  void Add(const nlohmann::ordered_json& response);
  std::optional<nlohmann::ordered_json> Find(const std::string& id) const;
  ResponseItemLookup Lookup() const {
    return [this](const std::string& id) { return Find(id); };
  }
  size_t bytes() const;

 private:
  struct Entry {
    std::string id;
    nlohmann::ordered_json item;
    size_t bytes;
  };
  size_t max_bytes_;
  mutable std::mutex mu_;
  std::list<Entry> entries_;  // newest first
  std::unordered_map<std::string, std::list<Entry>::iterator> by_id_;
  size_t bytes_ = 0;
};

// The Server-Sent Events of `response` (as ChatToResponse builds it) streamed in one go:
// response.created, response.in_progress, then per output item response.output_item.added,
// for a message response.content_part.added, response.output_text.delta (the whole text),
// response.output_text.done, response.content_part.done, for a function call
// response.function_call_arguments.delta and .done, then response.output_item.done, and last
// response.completed (response.incomplete when its status is "incomplete"). Each event is
// "event: TYPE\ndata: JSON\n\n" with a "sequence_number" counting from 0. No "[DONE]" line.
std::string ResponseEventStream(const nlohmann::ordered_json& response);

}  // namespace tfgrpo
