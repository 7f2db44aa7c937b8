// Role names, the request body the client sends, and the stored form of a ChatResponse.

#include <array>
#include <cstdio>
#include <string>
#include <utility>

#include "tfgrpo/llm.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

namespace {

constexpr std::array<std::pair<Role, std::string_view>, 8> kRoleNames = {{
    {Role::kRollout, "rollout"},
    {Role::kSummary, "summary"},
    {Role::kAdvantage, "advantage"},
    {Role::kGroupUpdate, "group_update"},
    {Role::kBatchUpdate, "batch_update"},
    {Role::kJudge, "judge"},
    {Role::kValidation, "validation"},
    {Role::kBrowse, "browse"},
}};

// Lenient readers: the stored JSON may come from an older or hand-edited run store, so a missing
// or mistyped field falls back to the default instead of throwing.
std::string StringField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

int64_t IntField(const nlohmann::json& j, const char* key, int64_t fallback = 0) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return fallback;
  if (it->is_number_float()) return static_cast<int64_t>(it->get<double>());
  return it->get<int64_t>();
}

double DoubleField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->get<double>();
}

}  // namespace

std::string_view RoleName(Role role) {
  for (const auto& [r, name] : kRoleNames) {
    if (r == role) return name;
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (const auto& [r, n] : kRoleNames) {
    if (n == name) return r;
  }
  return std::nullopt;
}

nlohmann::json ChatRequestBody(const ChatRequest& req, std::string_view model,
                               std::optional<int> default_max_tokens) {
  nlohmann::json messages = nlohmann::json::array();
  for (const Message& m : req.messages) {
    nlohmann::json msg = {{"role", m.role}, {"content", m.content}};
    // Extra fields win over role/content so a tool-call message can send "content": null.
    if (m.extra.is_object()) msg.update(m.extra);
    messages.push_back(std::move(msg));
  }
  nlohmann::json body = {
      {"model", std::string(model)},
      {"messages", std::move(messages)},
      {"temperature", req.temperature},
  };
  std::optional<int> max_tokens = req.max_tokens ? req.max_tokens : default_max_tokens;
  if (max_tokens) body["max_tokens"] = *max_tokens;
  if (req.extra_body.is_object()) body.update(req.extra_body);
  return body;
}

std::string RequestFingerprint(const ChatRequest& request, std::string_view model,
                               std::optional<int> default_max_tokens) {
  // Length-prefixed fields, so that no two different requests concatenate to the same text.
  std::string key;
  size_t size = request.call_id.size() + model.size() + 64;
  for (const auto& m : request.messages) size += m.role.size() + m.content.size() + 16;
  key.reserve(size);
  auto field = [&key](std::string_view v) {
    key += std::to_string(v.size());
    key += ':';
    key += v;
  };
  field(request.call_id);
  field(RoleName(request.role));
  field(model);
  char number[64];
  std::snprintf(number, sizeof number, "%.17g", request.temperature);
  field(number);
  const auto max_tokens = request.max_tokens ? request.max_tokens : default_max_tokens;
  field(max_tokens ? std::to_string(*max_tokens) : "-");
  for (const auto& m : request.messages) {
    field(m.role);
    field(m.content);
    field(m.extra.empty() ? std::string() : m.extra.dump());
  }
  field(request.extra_body.empty() ? std::string() : request.extra_body.dump());
  return Fingerprint(key);
}

nlohmann::json ChatResponseToJson(const ChatResponse& r) {
  return {
      {"content", r.content},
      {"reasoning_content", r.reasoning_content},
      {"finish_reason", r.finish_reason},
      {"message", r.message},
      {"usage",
       {{"prompt_tokens", r.usage.prompt_tokens},
        {"completion_tokens", r.usage.completion_tokens},
        {"cached_tokens", r.usage.cached_tokens}}},
      {"attempts", r.attempts},
      {"latency_ms", r.latency_ms},
  };
}

std::string CallId(std::string_view scope, std::string_view task_id, std::string_view leaf) {
  std::string id(scope);
  if (!task_id.empty()) {
    id += task_id.front() == 't' ? "/" : "/t";
    id += task_id;
  }
  id += '/';
  id += leaf;
  return id;
}

std::string StepScope(int step) { return "s" + std::to_string(step); }

Result<ChatResponse> ChatClient::CompleteAndReport(const ChatRequest& request, CallReport& report) {
  auto result = Complete(request);
  report.attempts = result.ok() ? result->attempts : 1;
  report.latency_ms = result.ok() ? result->latency_ms : 0;
  return result;
}

void TruncationCountingClient::Count(const ChatRequest& request, const Result<ChatResponse>& result) {
  if (!result.ok() || !IsTruncated(*result)) return;
  std::lock_guard lock(mu_);
  ++truncated_[std::string(RoleName(request.role))];
}

Result<ChatResponse> TruncationCountingClient::Complete(const ChatRequest& request) {
  auto result = inner_.Complete(request);
  Count(request, result);
  return result;
}

Result<ChatResponse> TruncationCountingClient::CompleteAndReport(const ChatRequest& request,
                                                                 CallReport& report) {
  auto result = inner_.CompleteAndReport(request, report);
  Count(request, result);
  return result;
}

std::map<std::string, int64_t> TruncationCountingClient::truncated() const {
  std::lock_guard lock(mu_);
  return truncated_;
}

ChatResponse ChatResponseFromJson(const nlohmann::json& j) {
  ChatResponse r;
  if (!j.is_object()) return r;
  r.content = StringField(j, "content");
  r.reasoning_content = StringField(j, "reasoning_content");
  r.finish_reason = StringField(j, "finish_reason");
  if (auto it = j.find("message"); it != j.end() && it->is_object()) r.message = *it;
  if (auto it = j.find("usage"); it != j.end() && it->is_object()) {
    r.usage.prompt_tokens = IntField(*it, "prompt_tokens");
    r.usage.completion_tokens = IntField(*it, "completion_tokens");
    r.usage.cached_tokens = IntField(*it, "cached_tokens");
  }
  r.attempts = static_cast<int>(IntField(j, "attempts", 1));
  r.latency_ms = DoubleField(j, "latency_ms");
  return r;
}

}  // namespace tfgrpo
