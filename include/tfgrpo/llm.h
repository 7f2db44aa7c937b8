// The LLM client: OpenAI-compatible chat completions over HTTP (libcurl), with retries,
// Retry-After, a cap on requests in flight, and usage accounting. Every request names what it
// is for in the X-Tfgrpo-Role header.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/status.h"

namespace tfgrpo {

enum class Role { kRollout, kSummary, kAdvantage, kGroupUpdate, kBatchUpdate, kJudge, kValidation, kBrowse };
// "rollout", "summary", "advantage", "group_update", "batch_update", "judge", "validation"
// (practice.validation's samples), "browse" (the browse tool extracting what serves a goal from
// a page, tools.browse.summarize).
std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

inline constexpr std::string_view kRoleHeader = "X-Tfgrpo-Role";
// Logical identity of a call within a run ("e0/s3/t17/r2"). Lets a deterministic server tell
// apart the G identical requests of one group; real providers ignore it.
inline constexpr std::string_view kCallIdHeader = "X-Tfgrpo-Call-Id";

// The one builder of call ids (the resume key, so it must never change for existing runs):
// "<scope>/t<task>/<leaf>" ("s3/t17/r2", "s3/t17/summary1", "eval/t17/k4", "s3/t17/r2/judge"),
// or "<scope>/<leaf>" when `task_id` is empty ("s3/batch_update"). A task id that already starts
// with 't' gets no second one: task "t17" gives "s3/t17/r2", not "s3/tt17/r2".
std::string CallId(std::string_view scope, std::string_view task_id, std::string_view leaf);
// The scope of training step `step` (0-based, as stored): "s3".
std::string StepScope(int step);

struct Message {
  std::string role;     // system | user | assistant | tool
  std::string content;
  // Extra OpenAI fields merged into the message object as-is (tool_calls, tool_call_id, name).
  nlohmann::json extra = nlohmann::json::object();
};

struct ChatRequest {
  Role role = Role::kRollout;
  std::vector<Message> messages;
  double temperature = 0.7;
  std::optional<int> max_tokens;
  std::string call_id;  // sent as X-Tfgrpo-Call-Id when non-empty
  // Extra top-level body fields (e.g. "tools"); merged into the request body.
  nlohmann::json extra_body = nlohmann::json::object();
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // prompt_cache_hit_tokens or prompt_tokens_details.cached_tokens
  Usage& operator+=(const Usage& o) {
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    cached_tokens += o.cached_tokens;
    return *this;
  }
};

struct ChatResponse {
  std::string content;            // choices[0].message.content ("" when null)
  std::string reasoning_content;  // DeepSeek's reasoning_content when present
  std::string finish_reason;
  nlohmann::json message = nlohmann::json::object();  // choices[0].message verbatim
  Usage usage;
  int attempts = 1;        // HTTP attempts made (1 = no retry)
  double latency_ms = 0;   // wall time including retries
};

// True when the reply was cut at the token limit (finish_reason "length").
inline bool IsTruncated(const ChatResponse& r) { return r.finish_reason == "length"; }

// What a call cost, reported whether it succeeded or failed, so a failed call's retries count.
struct CallReport {
  int attempts = 0;       // HTTP attempts made
  double latency_ms = 0;  // wall time including retries
};

// Serialises a ChatResponse to/from the JSON kept in the run store.
nlohmann::json ChatResponseToJson(const ChatResponse& r);
ChatResponse ChatResponseFromJson(const nlohmann::json& j);
// The request body exactly as sent (model name supplied by the client).
nlohmann::json ChatRequestBody(const ChatRequest& req, std::string_view model,
                               std::optional<int> default_max_tokens);

// The run store's key for a call (the resume cache's, RecordingClient; the agent gateway finds
// recorded calls by it): every field that shapes the body the provider receives, plus the
// call id. Built from the fields directly (no JSON serialisation: this runs on every call).
std::string RequestFingerprint(const ChatRequest& request, std::string_view model,
                               std::optional<int> default_max_tokens);

// Anything that answers chat requests. Thread-safe: called from many threads at once.
// Errors: kUnauthorized (401/403, fatal for the run), kProviderError (400/404/other 4xx, or the
// same 5xx message three times in a row: the provider's message included), kUnavailable (network
// error, unusable body, or retries exhausted), kTimeout, kCancelled.
class ChatClient {
 public:
  virtual ~ChatClient() = default;
  virtual Result<ChatResponse> Complete(const ChatRequest& request) = 0;
  // Complete(), also telling how many attempts the call took when it failed. The default counts
  // a failed call as one attempt; the HTTP client reports its real count.
  virtual Result<ChatResponse> CompleteAndReport(const ChatRequest& request, CallReport& report);
};

// Passes every call through to `inner` and counts, per role name, the replies cut at the token
// limit (IsTruncated). Thread-safe.
class TruncationCountingClient final : public ChatClient {
 public:
  explicit TruncationCountingClient(ChatClient& inner) : inner_(inner) {}
  Result<ChatResponse> Complete(const ChatRequest& request) override;
  Result<ChatResponse> CompleteAndReport(const ChatRequest& request, CallReport& report) override;
  std::map<std::string, int64_t> truncated() const;  // "rollout" -> 3

 private:
  void Count(const ChatRequest& request, const Result<ChatResponse>& result);
  ChatClient& inner_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> truncated_;
};

struct HttpClientOptions {
  std::string base_url;   // ".../v1"; the client posts to base_url + "/chat/completions"
  std::string model;
  std::string api_key;    // may be empty (local servers)
  double timeout_s = 600;
  int max_retries = 6;
  int concurrency = 64;   // never more HTTP requests than this in flight
  std::optional<int> max_tokens;
  double backoff_initial_s = 0.5;
  double backoff_max_s = 30;
  double retry_after_max_s = 120;  // cap on a server's Retry-After
};

std::unique_ptr<ChatClient> MakeHttpChatClient(const HttpClientOptions& options);

}  // namespace tfgrpo
