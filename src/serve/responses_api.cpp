// Translation between the OpenAI Responses API and chat completions (see responses_api.h).

#include "tfgrpo/responses_api.h"

#include <ctime>
#include <string_view>
#include <utility>

#include "tfgrpo/util.h"

namespace tfgrpo {

namespace {

using ojson = nlohmann::ordered_json;

// Every error names its field first ("input[2].content[0].type: ..."), so ResponsesErrorBody can
// put the field in OpenAI's "param".
Status FieldError(const std::string& field, const std::string& what) {
  return Status::InvalidArgument(field + ": " + what);
}

Status Unsupported(const std::string& field, const std::string& why) {
  return FieldError(field, "is not supported by tfgrpo's Responses API translation (" + why + ")");
}

std::string TypeName(const ojson& v) { return v.type_name(); }

Status WrongType(const std::string& field, const ojson& v, const std::string& expected) {
  return FieldError(field, "expected " + expected + ", got " + TypeName(v));
}

// The text of a content part list (input_text/output_text/refusal), or an error naming the part
// that is not text. `allow_images` (user messages): input_image parts become chat image parts in
// `image_parts`, and the caller keeps an array.
Status ContentParts(const ojson& parts, const std::string& field, bool allow_images, ojson* chat_parts,
                    bool* has_image) {
  *has_image = false;
  *chat_parts = ojson::array();
  for (size_t i = 0; i < parts.size(); ++i) {
    const ojson& part = parts[i];
    const std::string f = field + "[" + std::to_string(i) + "]";
    if (!part.is_object()) return WrongType(f, part, "a content part object");
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) return FieldError(f + ".type", "missing or not a string");
    const std::string& t = type->get_ref<const std::string&>();
    if (t == "input_text" || t == "output_text" || t == "text" || t == "refusal") {
      const char* key = t == "refusal" ? "refusal" : "text";
      auto text = part.find(key);
      if (text == part.end() || !text->is_string()) {
        return FieldError(f + "." + key, "missing or not a string");
      }
      chat_parts->push_back(ojson{{"type", "text"}, {"text", *text}});
    } else if (t == "input_image") {
      if (!allow_images) return FieldError(f + ".type", "\"input_image\" is only allowed in user messages");
      auto url = part.find("image_url");
      if (url == part.end() || !url->is_string()) {
        if (part.contains("file_id")) return Unsupported(f + ".file_id", "files are not stored; send image_url");
        return FieldError(f + ".image_url", "missing or not a string");
      }
      ojson image = {{"url", *url}};
      if (auto detail = part.find("detail"); detail != part.end() && detail->is_string()) image["detail"] = *detail;
      chat_parts->push_back(ojson{{"type", "image_url"}, {"image_url", std::move(image)}});
      *has_image = true;
    } else if (t == "input_file" || t == "input_audio") {
      return Unsupported(f + ".type", "\"" + t + "\" parts cannot be passed to a chat completion");
    } else {
      return FieldError(f + ".type", "unknown content part type \"" + t + "\"");
    }
  }
  return Status::Ok();
}

// The text parts joined into one string (providers that accept only string content take it).
std::string JoinText(const ojson& chat_parts) {
  std::string out;
  for (const auto& p : chat_parts) {
    if (!out.empty()) out += '\n';
    out += p["text"].get<std::string>();
  }
  return out;
}

Status MessageItem(const ojson& item, const std::string& field, ojson& messages) {
  auto role = item.find("role");
  if (role == item.end() || !role->is_string()) return FieldError(field + ".role", "missing or not a string");
  const std::string& r = role->get_ref<const std::string&>();
  if (r != "user" && r != "system" && r != "developer" && r != "assistant") {
    return FieldError(field + ".role", "expected user, system, developer or assistant, got \"" + r + "\"");
  }
  auto content = item.find("content");
  if (content == item.end()) return FieldError(field + ".content", "missing");
  ojson message = {{"role", r}};
  if (content->is_string()) {
    message["content"] = *content;
  } else if (content->is_array()) {
    ojson parts;
    bool has_image = false;
    if (Status s = ContentParts(*content, field + ".content", r == "user", &parts, &has_image); !s.ok()) return s;
    if (has_image) {
      message["content"] = std::move(parts);
    } else {
      message["content"] = JoinText(parts);
    }
  } else {
    return WrongType(field + ".content", *content, "a string or an array of content parts");
  }
  messages.push_back(std::move(message));
  return Status::Ok();
}

Status RequiredString(const ojson& item, const char* key, const std::string& field, std::string* out) {
  auto v = item.find(key);
  if (v == item.end() || !v->is_string()) return FieldError(field + "." + key, "missing or not a string");
  *out = v->get<std::string>();
  return Status::Ok();
}

Status FunctionCallItem(const ojson& item, const std::string& field, ojson& messages) {
  std::string call_id, name, arguments;
  if (Status s = RequiredString(item, "call_id", field, &call_id); !s.ok()) return s;
  if (Status s = RequiredString(item, "name", field, &name); !s.ok()) return s;
  if (Status s = RequiredString(item, "arguments", field, &arguments); !s.ok()) return s;
  ojson call = {{"id", call_id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}};
  // Calls that follow an assistant message (or each other) belong to that one assistant turn.
  if (messages.empty() || messages.back().value("role", "") != "assistant") {
    messages.push_back(ojson{{"role", "assistant"}, {"content", nullptr}});
  }
  ojson& assistant = messages.back();
  if (!assistant.contains("tool_calls")) assistant["tool_calls"] = ojson::array();
  assistant["tool_calls"].push_back(std::move(call));
  return Status::Ok();
}

Status FunctionCallOutputItem(const ojson& item, const std::string& field, ojson& messages) {
  std::string call_id;
  if (Status s = RequiredString(item, "call_id", field, &call_id); !s.ok()) return s;
  auto output = item.find("output");
  if (output == item.end()) return FieldError(field + ".output", "missing");
  std::string text;
  if (output->is_string()) {
    text = output->get<std::string>();
  } else if (output->is_array()) {
    ojson parts;
    bool has_image = false;
    if (Status s = ContentParts(*output, field + ".output", false, &parts, &has_image); !s.ok()) return s;
    text = JoinText(parts);
  } else {
    return WrongType(field + ".output", *output, "a string or an array of content parts");
  }
  messages.push_back(ojson{{"role", "tool"}, {"tool_call_id", call_id}, {"content", std::move(text)}});
  return Status::Ok();
}

Status InputItems(const ojson& input, const ResponseItemLookup& lookup, ojson& messages) {
  for (size_t i = 0; i < input.size(); ++i) {
    const ojson& item = input[i];
    const std::string field = "input[" + std::to_string(i) + "]";
    if (!item.is_object()) return WrongType(field, item, "an input item object");
    std::optional<ojson> referenced;
    if (auto ref = item.find("type"); ref != item.end() && *ref == "item_reference") {
      std::string id;
      if (Status s = RequiredString(item, "id", field, &id); !s.ok()) return s;
      if (lookup) referenced = lookup(id);
      if (!referenced || !referenced->is_object()) {
        return FieldError(field + ".id", "no item \"" + id + "\" is known here: item references are resolved only "
                                         "against the recent responses this server keeps in memory; send the item "
                                         "itself (with the Vercel AI SDK: providerOptions.openai.store = false)");
      }
    }
    const ojson& source = referenced ? *referenced : item;
    auto type = source.find("type");
    std::string t;
    if (type == source.end() || type->is_null()) {
      if (!source.contains("role")) return FieldError(field + ".type", "missing (and no \"role\" for a message)");
      t = "message";  // the easy input message form: {role, content}
    } else if (!type->is_string()) {
      return WrongType(field + ".type", *type, "a string");
    } else {
      t = type->get<std::string>();
    }
    Status s = Status::Ok();
    if (t == "message") {
      s = MessageItem(source, field, messages);
    } else if (t == "function_call") {
      s = FunctionCallItem(source, field, messages);
    } else if (t == "function_call_output") {
      s = FunctionCallOutputItem(source, field, messages);
    } else if (t == "reasoning") {
      s = Unsupported(field + ".type", "\"reasoning\" items cannot be passed to a chat completion");
    } else {
      s = FieldError(field + ".type", "unknown or unsupported input item type \"" + t +
                                          "\" (supported: message, function_call, function_call_output)");
    }
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Result<ojson> Tools(const ojson& tools) {
  ojson out = ojson::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const ojson& tool = tools[i];
    const std::string field = "tools[" + std::to_string(i) + "]";
    if (!tool.is_object()) return WrongType(field, tool, "a tool object");
    auto type = tool.find("type");
    if (type == tool.end() || !type->is_string()) return FieldError(field + ".type", "missing or not a string");
    if (*type != "function") {
      return Unsupported(field + ".type", "\"" + type->get<std::string>() +
                                              "\" is a built-in tool of OpenAI's servers; only function tools "
                                              "are translated");
    }
    ojson function = ojson::object();
    std::string name;
    if (Status s = RequiredString(tool, "name", field, &name); !s.ok()) return s;
    function["name"] = name;
    if (auto d = tool.find("description"); d != tool.end() && !d->is_null()) {
      if (!d->is_string()) return WrongType(field + ".description", *d, "a string");
      function["description"] = *d;
    }
    if (auto p = tool.find("parameters"); p != tool.end() && !p->is_null()) {
      if (!p->is_object()) return WrongType(field + ".parameters", *p, "a JSON schema object");
      function["parameters"] = *p;
    }
    if (auto st = tool.find("strict"); st != tool.end() && !st->is_null()) {
      if (!st->is_boolean()) return WrongType(field + ".strict", *st, "a boolean");
      function["strict"] = *st;
    }
    out.push_back(ojson{{"type", "function"}, {"function", std::move(function)}});
  }
  return out;
}

Result<ojson> ToolChoice(const ojson& choice) {
  if (choice.is_string()) {
    const std::string& c = choice.get_ref<const std::string&>();
    if (c == "auto" || c == "none" || c == "required") return choice;
    return FieldError("tool_choice", "expected \"auto\", \"none\", \"required\" or {type: function, name}, got \"" +
                                         c + "\"");
  }
  if (!choice.is_object()) return WrongType("tool_choice", choice, "a string or an object");
  auto type = choice.find("type");
  if (type == choice.end() || !type->is_string()) return FieldError("tool_choice.type", "missing or not a string");
  if (*type != "function") {
    return Unsupported("tool_choice.type", "\"" + type->get<std::string>() + "\"; only function choices are translated");
  }
  std::string name;
  if (Status s = RequiredString(choice, "name", "tool_choice", &name); !s.ok()) return s;
  return ojson{{"type", "function"}, {"function", {{"name", name}}}};
}

Status TextOptions(const ojson& text, ojson& chat) {
  if (!text.is_object()) return WrongType("text", text, "an object");
  for (auto it = text.begin(); it != text.end(); ++it) {
    if (it.key() == "verbosity") {
      if (!it->is_null()) chat["verbosity"] = *it;
    } else if (it.key() == "format") {
      const ojson& format = *it;
      if (format.is_null()) continue;
      if (!format.is_object()) return WrongType("text.format", format, "an object");
      auto type = format.find("type");
      if (type == format.end() || !type->is_string()) return FieldError("text.format.type", "missing or not a string");
      if (*type == "text") continue;
      if (*type == "json_object") {
        chat["response_format"] = ojson{{"type", "json_object"}};
      } else if (*type == "json_schema") {
        ojson schema = ojson::object();
        for (const char* key : {"name", "description", "schema", "strict"}) {
          if (auto v = format.find(key); v != format.end()) schema[key] = *v;
        }
        if (!schema.contains("name") || !schema["name"].is_string()) {
          return FieldError("text.format.name", "missing or not a string");
        }
        chat["response_format"] = ojson{{"type", "json_schema"}, {"json_schema", std::move(schema)}};
      } else {
        return FieldError("text.format.type", "expected text, json_object or json_schema, got \"" +
                                                  type->get<std::string>() + "\"");
      }
    } else {
      return FieldError("text." + it.key(), "unknown field");
    }
  }
  return Status::Ok();
}

bool IsNumber(const ojson& v) { return v.is_number(); }

}  // namespace

Result<ojson> ResponsesToChat(const ojson& request, const ResponseItemLookup& lookup) {
  if (!request.is_object()) return FieldError("body", "a Responses request must be a JSON object");
  ojson chat = ojson::object();
  ojson messages = ojson::array();
  // Fields that follow the messages, in the request's order (the same request, the same bytes).
  ojson after = ojson::object();
  const ojson* input = nullptr;
  for (auto it = request.begin(); it != request.end(); ++it) {
    const std::string& key = it.key();
    const ojson& v = *it;
    if (key == "model") {
      if (!v.is_string()) return WrongType("model", v, "a string");
      chat["model"] = v;
    } else if (key == "input") {
      input = &v;
    } else if (key == "instructions") {
      if (v.is_null()) continue;
      if (!v.is_string()) return WrongType("instructions", v, "a string");
    } else if (key == "tools") {
      if (v.is_null()) continue;
      if (!v.is_array()) return WrongType("tools", v, "an array");
      auto tools = Tools(v);
      if (!tools.ok()) return tools.status();
      if (!tools->empty()) after["tools"] = std::move(*tools);
    } else if (key == "tool_choice") {
      if (v.is_null()) continue;
      auto choice = ToolChoice(v);
      if (!choice.ok()) return choice.status();
      after["tool_choice"] = std::move(*choice);
    } else if (key == "temperature" || key == "top_p") {
      if (v.is_null()) continue;
      if (!IsNumber(v)) return WrongType(key, v, "a number");
      after[key] = v;
    } else if (key == "max_output_tokens") {
      if (v.is_null()) continue;
      if (!v.is_number_integer() || v.get<int64_t>() <= 0) return FieldError(key, "expected a positive integer");
      after["max_tokens"] = v;
    } else if (key == "parallel_tool_calls") {
      if (v.is_null()) continue;
      if (!v.is_boolean()) return WrongType(key, v, "a boolean");
      after[key] = v;
    } else if (key == "user") {
      if (v.is_null()) continue;
      if (!v.is_string()) return WrongType(key, v, "a string");
      after[key] = v;
    } else if (key == "stream") {
      if (!v.is_null() && !v.is_boolean()) return WrongType(key, v, "a boolean");
    } else if (key == "text") {
      if (v.is_null()) continue;
      if (Status s = TextOptions(v, after); !s.ok()) return s;
    } else if (key == "reasoning") {
      if (v.is_null()) continue;
      if (!v.is_object()) return WrongType(key, v, "an object");
      if (auto effort = v.find("effort"); effort != v.end() && !effort->is_null()) {
        if (!effort->is_string()) return WrongType("reasoning.effort", *effort, "a string");
        after["reasoning_effort"] = *effort;
      }
    } else if (key == "store") {
      if (v.is_null() || v == false) continue;
      if (!v.is_boolean()) return WrongType(key, v, "a boolean");
      return Unsupported("store", "responses are not stored; send store: false or leave it out");
    } else if (key == "previous_response_id" || key == "conversation" || key == "prompt") {
      if (v.is_null()) continue;
      return Unsupported(key, "responses, conversations and prompts are not stored; send the whole "
                              "conversation in \"input\"");
    } else if (key == "background") {
      if (v.is_null() || v == false) continue;
      return Unsupported(key, "every response is answered in the request that asked for it");
    } else if (key == "truncation") {
      if (v.is_null() || v == "disabled") continue;
      return Unsupported(key, "only \"disabled\"");
    } else if (key == "max_tool_calls" || key == "top_logprobs") {
      if (v.is_null()) continue;
      return Unsupported(key, "chat completions have no equivalent");
    } else if (key == "include" || key == "metadata" || key == "service_tier" || key == "prompt_cache_key" ||
               key == "safety_identifier" || key == "stream_options" || key == "prompt_cache_retention") {
      continue;  // accepted, not forwarded (see the header)
    } else {
      return FieldError(key.empty() ? "\"\"" : key, "unknown field");  // the param is never empty
    }
  }
  if (auto instructions = request.find("instructions"); instructions != request.end() && instructions->is_string()) {
    messages.push_back(ojson{{"role", "system"}, {"content", *instructions}});
  }
  if (input == nullptr || input->is_null()) return FieldError("input", "missing");
  if (input->is_string()) {
    messages.push_back(ojson{{"role", "user"}, {"content", *input}});
  } else if (input->is_array()) {
    if (Status s = InputItems(*input, lookup, messages); !s.ok()) return s;
  } else {
    return WrongType("input", *input, "a string or an array of input items");
  }
  if (messages.empty()) return FieldError("input", "has no items");
  chat["messages"] = std::move(messages);
  // Chat providers refuse these without tools (OpenAI: "only allowed when tools are specified").
  const bool has_tools = after.contains("tools");
  for (auto it = after.begin(); it != after.end(); ++it) {
    if (!has_tools && (it.key() == "tool_choice" || it.key() == "parallel_tool_calls")) continue;
    chat[it.key()] = *it;
  }
  return chat;
}

namespace {

// "resp_<hex>", "msg_<hex>", "fc_<hex>": stable for one chat reply.
std::string DerivedId(std::string_view prefix, std::string_view seed, size_t index) {
  return std::string(prefix) + Sha256Hex(std::string(seed) + "/" + std::to_string(index)).substr(0, 32);
}

ojson Usage(const nlohmann::json& usage) {
  auto number = [](const nlohmann::json& obj, const char* key) -> int64_t {
    if (!obj.is_object()) return 0;
    auto v = obj.find(key);
    return v != obj.end() && v->is_number_integer() ? v->get<int64_t>() : 0;
  };
  const int64_t input = number(usage, "prompt_tokens");
  const int64_t output = number(usage, "completion_tokens");
  int64_t total = number(usage, "total_tokens");
  if (total == 0) total = input + output;
  int64_t cached = 0;
  if (usage.is_object() && usage.contains("prompt_tokens_details")) {
    cached = number(usage["prompt_tokens_details"], "cached_tokens");
  }
  if (cached == 0) cached = number(usage, "prompt_cache_hit_tokens");
  int64_t reasoning = 0;
  if (usage.is_object() && usage.contains("completion_tokens_details")) {
    reasoning = number(usage["completion_tokens_details"], "reasoning_tokens");
  }
  ojson out;
  out["input_tokens"] = input;
  out["input_tokens_details"] = {{"cached_tokens", cached}};
  out["output_tokens"] = output;
  out["output_tokens_details"] = {{"reasoning_tokens", reasoning}};
  out["total_tokens"] = total;
  return out;
}

// The text of a chat message's content: a string, or the text parts of an array.
std::string ContentText(const nlohmann::json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array()) {
    for (const auto& p : content) {
      if (p.is_object() && p.contains("text") && p["text"].is_string()) out += p["text"].get<std::string>();
    }
  }
  return out;
}

ojson EchoOr(const ojson& request, const char* key, ojson fallback) {
  auto v = request.find(key);
  return v != request.end() && !v->is_null() ? *v : fallback;
}

}  // namespace

Result<ojson> ChatToResponse(const nlohmann::json& chat_reply, const ojson& request) {
  if (!chat_reply.is_object()) return Status::InvalidArgument("the chat reply is not a JSON object");
  auto choices = chat_reply.find("choices");
  if (choices == chat_reply.end() || !choices->is_array() || choices->empty() || !(*choices)[0].is_object()) {
    return Status::InvalidArgument("the chat reply has no choices[0]");
  }
  const nlohmann::json& choice = (*choices)[0];
  auto message = choice.find("message");
  if (message == choice.end() || !message->is_object()) {
    return Status::InvalidArgument("the chat reply has no choices[0].message object");
  }
  const std::string seed = chat_reply.contains("id") && chat_reply["id"].is_string()
                               ? chat_reply["id"].get<std::string>()
                               : Sha256Hex(chat_reply.dump());

  ojson output = ojson::array();
  std::string text = message->contains("content") ? ContentText((*message)["content"]) : "";
  if (text.empty() && message->contains("refusal") && (*message)["refusal"].is_string()) {
    text = (*message)["refusal"].get<std::string>();
  }
  if (!text.empty()) {
    ojson item;
    item["id"] = DerivedId("msg_", seed, 0);
    item["type"] = "message";
    item["status"] = "completed";
    item["role"] = "assistant";
    item["content"] = ojson::array({ojson{{"type", "output_text"}, {"text", text}, {"annotations", ojson::array()}}});
    output.push_back(std::move(item));
  }
  if (auto calls = message->find("tool_calls"); calls != message->end() && calls->is_array()) {
    for (size_t i = 0; i < calls->size(); ++i) {
      const nlohmann::json& call = (*calls)[i];
      if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
        return Status::InvalidArgument("the chat reply's tool_calls[" + std::to_string(i) + "] has no function");
      }
      const nlohmann::json& fn = call["function"];
      ojson item;
      item["id"] = DerivedId("fc_", seed, i + 1);
      item["type"] = "function_call";
      item["status"] = "completed";
      item["call_id"] = call.contains("id") && call["id"].is_string() ? call["id"].get<std::string>()
                                                                      : DerivedId("call_", seed, i + 1);
      item["name"] = fn.contains("name") && fn["name"].is_string() ? fn["name"].get<std::string>() : "";
      item["arguments"] =
          fn.contains("arguments") && fn["arguments"].is_string() ? fn["arguments"].get<std::string>() : "{}";
      output.push_back(std::move(item));
    }
  }

  const std::string finish = choice.contains("finish_reason") && choice["finish_reason"].is_string()
                                 ? choice["finish_reason"].get<std::string>()
                                 : "stop";
  ojson response;
  response["id"] = DerivedId("resp_", seed, 0);
  response["object"] = "response";
  response["created_at"] = chat_reply.contains("created") && chat_reply["created"].is_number_integer()
                               ? chat_reply["created"].get<int64_t>()
                               : static_cast<int64_t>(std::time(nullptr));
  if (finish == "length" || finish == "content_filter") {
    response["status"] = "incomplete";
    response["incomplete_details"] = {{"reason", finish == "length" ? "max_output_tokens" : "content_filter"}};
  } else {
    response["status"] = "completed";
    response["incomplete_details"] = nullptr;
  }
  response["error"] = nullptr;
  response["instructions"] = EchoOr(request, "instructions", nullptr);
  response["max_output_tokens"] = EchoOr(request, "max_output_tokens", nullptr);
  response["model"] = chat_reply.contains("model") && chat_reply["model"].is_string()
                          ? ojson(chat_reply["model"].get<std::string>())
                          : EchoOr(request, "model", "");
  response["output"] = std::move(output);
  response["parallel_tool_calls"] = EchoOr(request, "parallel_tool_calls", true);
  response["previous_response_id"] = nullptr;
  response["reasoning"] = {{"effort", nullptr}, {"summary", nullptr}};
  response["store"] = false;
  response["temperature"] = EchoOr(request, "temperature", 1.0);
  response["text"] = EchoOr(request, "text", ojson{{"format", {{"type", "text"}}}});
  response["tool_choice"] = EchoOr(request, "tool_choice", "auto");
  response["tools"] = EchoOr(request, "tools", ojson::array());
  response["top_p"] = EchoOr(request, "top_p", 1.0);
  response["truncation"] = "disabled";
  response["usage"] = Usage(chat_reply.value("usage", nlohmann::json()));
  response["user"] = EchoOr(request, "user", nullptr);
  response["metadata"] = EchoOr(request, "metadata", ojson::object());
  return response;
}

void ResponseItemCache::Add(const ojson& response) {
  auto output = response.is_object() ? response.find("output") : response.end();
  if (!response.is_object() || output == response.end() || !output->is_array()) return;
  std::lock_guard lock(mu_);
  for (const ojson& item : *output) {
    if (!item.is_object() || !item.contains("id") || !item["id"].is_string()) continue;
    const std::string id = item["id"].get<std::string>();
    const size_t size = item.dump().size() + id.size();
    if (size > max_bytes_) continue;
    if (auto old = by_id_.find(id); old != by_id_.end()) {
      bytes_ -= old->second->bytes;
      entries_.erase(old->second);
      by_id_.erase(old);
    }
    entries_.push_front(Entry{id, item, size});
    by_id_[id] = entries_.begin();
    bytes_ += size;
    while (bytes_ > max_bytes_) {
      bytes_ -= entries_.back().bytes;
      by_id_.erase(entries_.back().id);
      entries_.pop_back();
    }
  }
}

std::optional<ojson> ResponseItemCache::Find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second->item;
}

size_t ResponseItemCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::string ResponsesErrorParam(const Status& error) {
  const std::string& m = error.message();
  size_t colon = m.find(": ");
  return colon == std::string::npos ? std::string() : m.substr(0, colon);
}

std::string ResponseEventStream(const ojson& response) {
  std::string out;
  int64_t sequence = 0;
  auto emit = [&](const std::string& type, ojson event) {
    ojson e;
    e["type"] = type;
    for (auto it = event.begin(); it != event.end(); ++it) e[it.key()] = *it;
    e["sequence_number"] = sequence++;
    out += "event: " + type + "\ndata: " + e.dump() + "\n\n";
  };
  ojson started = response;
  started["status"] = "in_progress";
  started["output"] = ojson::array();
  started["incomplete_details"] = nullptr;
  started["usage"] = nullptr;
  emit("response.created", {{"response", started}});
  emit("response.in_progress", {{"response", started}});

  const ojson& output = response.contains("output") ? response["output"] : ojson::array();
  for (size_t index = 0; index < output.size(); ++index) {
    const ojson& item = output[index];
    const std::string id = item.value("id", "");
    const std::string type = item.value("type", "");
    ojson added = item;
    added["status"] = "in_progress";
    if (type == "message") {
      added["content"] = ojson::array();
      emit("response.output_item.added", {{"output_index", index}, {"item", added}});
      const ojson& content = item.contains("content") ? item["content"] : ojson::array();
      for (size_t c = 0; c < content.size(); ++c) {
        const ojson& part = content[c];
        const std::string text = part.value("text", "");
        ojson empty = part;
        empty["text"] = "";
        emit("response.content_part.added",
             {{"item_id", id}, {"output_index", index}, {"content_index", c}, {"part", empty}});
        emit("response.output_text.delta", {{"item_id", id},
                                            {"output_index", index},
                                            {"content_index", c},
                                            {"delta", text},
                                            {"logprobs", ojson::array()}});
        emit("response.output_text.done", {{"item_id", id},
                                           {"output_index", index},
                                           {"content_index", c},
                                           {"text", text},
                                           {"logprobs", ojson::array()}});
        emit("response.content_part.done",
             {{"item_id", id}, {"output_index", index}, {"content_index", c}, {"part", part}});
      }
    } else if (type == "function_call") {
      const std::string arguments = item.value("arguments", "");
      added["arguments"] = "";
      emit("response.output_item.added", {{"output_index", index}, {"item", added}});
      emit("response.function_call_arguments.delta",
           {{"item_id", id}, {"output_index", index}, {"delta", arguments}});
      emit("response.function_call_arguments.done",
           {{"item_id", id}, {"output_index", index}, {"name", item.value("name", "")}, {"arguments", arguments}});
    } else {
      emit("response.output_item.added", {{"output_index", index}, {"item", added}});
    }
    emit("response.output_item.done", {{"output_index", index}, {"item", item}});
  }
  const bool incomplete = response.value("status", "") == "incomplete";
  emit(incomplete ? "response.incomplete" : "response.completed", {{"response", response}});
  return out;
}

}  // namespace tfgrpo
