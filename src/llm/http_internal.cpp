// Pure helpers of the HTTP chat client: response parsing and retry timing.

#include "llm/http_internal.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <cstdlib>

#include "tfgrpo/json.h"
#include "tfgrpo/util.h"

namespace tfgrpo::llm_internal {

namespace {

// A count from the provider's usage object, clamped to [0, INT64_MAX]: a value like 1e300 must
// not reach a double-to-integer conversion that cannot hold it (undefined behaviour).
int64_t TokenCount(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return 0;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (!(d > 0)) return 0;
    return d >= 9.2e18 ? kMax : static_cast<int64_t>(d);
  }
  if (it->is_number_unsigned()) return static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), kMax));
  return std::max<int64_t>(it->get<int64_t>(), 0);
}

// Some servers send content as a list of parts ([{"type":"text","text":..}]); join their text.
std::string ContentText(const nlohmann::json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object()) {
        auto t = part.find("text");
        if (t != part.end() && t->is_string()) text += t->get<std::string>();
      }
    }
  }
  return text;
}

std::string Truncate(std::string s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  s.resize(Utf8Prefix(s, max_chars).size());
  s += "...";
  return s;
}

// The body as it may be quoted in an error message: secret removed, then cut short.
std::string Excerpt(std::string_view body, size_t max_chars, std::string_view secret) {
  return Truncate(Redact(Trim(body), secret), max_chars);
}

}  // namespace

Result<ChatResponse> ParseChatCompletion(std::string_view body, std::string_view secret) {
  nlohmann::json j = ParseUntrustedJson(body);
  if (j.is_discarded()) {
    if (JsonNestingDepth(body) > kMaxJsonDepth) {
      return Status::InvalidArgument("response body is JSON nested more than " + std::to_string(kMaxJsonDepth) +
                                     " levels deep, not a chat completion (" + std::to_string(body.size()) +
                                     " bytes: " + Excerpt(body, 40, secret) + ")");
    }
    return Status::InvalidArgument("response body is not valid JSON: " + Excerpt(body, 200, secret));
  }
  if (!j.is_object()) {
    return Status::InvalidArgument("response body is not a JSON object: " + Excerpt(body, 200, secret));
  }
  auto choices = j.find("choices");
  if (choices == j.end() || !choices->is_array() || choices->empty() ||
      !(*choices)[0].is_object()) {
    std::string why = "response has no choices[0]";
    if (j.contains("error")) why += " (provider error: " + ProviderErrorMessage(body, 500, secret) + ")";
    return Status::InvalidArgument(why);
  }
  const nlohmann::json& choice = (*choices)[0];
  auto message = choice.find("message");
  if (message == choice.end() || !message->is_object()) {
    return Status::InvalidArgument("response has no choices[0].message object");
  }

  ChatResponse r;
  if (auto c = message->find("content"); c != message->end()) r.content = ContentText(*c);
  if (auto rc = message->find("reasoning_content"); rc != message->end() && rc->is_string()) {
    r.reasoning_content = rc->get<std::string>();
  } else if (auto alt = message->find("reasoning"); alt != message->end() && alt->is_string()) {
    r.reasoning_content = alt->get<std::string>();
  }
  if (auto fr = choice.find("finish_reason"); fr != choice.end() && fr->is_string()) {
    r.finish_reason = fr->get<std::string>();
  }
  if (auto usage = j.find("usage"); usage != j.end() && usage->is_object()) {
    r.usage.prompt_tokens = TokenCount(*usage, "prompt_tokens");
    r.usage.completion_tokens = TokenCount(*usage, "completion_tokens");
    if (usage->contains("prompt_cache_hit_tokens")) {
      r.usage.cached_tokens = TokenCount(*usage, "prompt_cache_hit_tokens");
    } else if (auto d = usage->find("prompt_tokens_details"); d != usage->end() && d->is_object()) {
      r.usage.cached_tokens = TokenCount(*d, "cached_tokens");
    }
  }
  // Last: the parsed document is thrown away, so the message is moved out rather than copied.
  r.message = std::move(j["choices"][0]["message"]);
  return r;
}

std::string ProviderErrorMessage(std::string_view body, size_t max_chars, std::string_view secret) {
  // Too deep to parse safely: quote it as text like any other body that is not an error object.
  nlohmann::json j = ParseUntrustedJson(body);
  if (!j.is_discarded() && j.is_object()) {
    if (auto e = j.find("error"); e != j.end()) {
      if (e->is_string()) return Excerpt(e->get<std::string>(), max_chars, secret);
      if (e->is_object()) {
        if (auto m = e->find("message"); m != e->end() && m->is_string()) {
          return Excerpt(m->get<std::string>(), max_chars, secret);
        }
      }
    }
    if (auto m = j.find("message"); m != j.end() && m->is_string()) {
      return Excerpt(m->get<std::string>(), max_chars, secret);
    }
  }
  if (Trim(body).empty()) return "(empty body)";
  return Excerpt(body, max_chars, secret);
}

std::string Redact(std::string text, std::string_view secret) { return RedactSecret(std::move(text), secret); }

}  // namespace tfgrpo::llm_internal
