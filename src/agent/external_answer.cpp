// The answer contract of external agents (an answer file, stdout or a URL agent's reply) and the
// failure status every agent failure is reported with, whose reason the end summary counts.
#include <cmath>

#include "agent/external_internal.h"
#include "tfgrpo/external_agent.h"
#include "tfgrpo/json.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {
constexpr std::string_view kFailurePrefix = "agent failed (";
}  // namespace

std::string AgentFailureReason(const Status& status) {
  if (status.ok()) return "";
  const std::string& m = status.message();
  const size_t at = m.find(kFailurePrefix);
  if (at == std::string::npos) return "";
  const size_t from = at + kFailurePrefix.size();
  const size_t to = m.find(')', from);
  return to == std::string::npos ? "" : m.substr(from, to - from);
}

namespace external_internal {

Status AgentFailure(std::string_view reason, std::string_view detail, std::string_view stderr_tail,
                    Status::Code code) {
  std::string m = std::string(kFailurePrefix) + std::string(reason) + ")";
  if (!detail.empty()) m += ": " + std::string(detail);
  const std::string tail = Trim(stderr_tail);
  if (!tail.empty()) m += "; stderr: " + tail;
  switch (code) {
    case Status::Code::kTimeout: return Status::Timeout(std::move(m));
    case Status::Code::kUnavailable: return Status::Unavailable(std::move(m));
    case Status::Code::kNotFound: return Status::NotFound(std::move(m));
    default: return Status::ProviderError(std::move(m));
  }
}

Result<AgentAnswer> ParseAgentAnswer(std::string_view text, bool json_required, std::string_view what) {
  const std::string name(what);
  if (SanitizeUtf8(text) != text) return Status::InvalidArgument(name + " is not valid UTF-8");
  AgentAnswer out;
  const std::string trimmed = Trim(text);
  nlohmann::json j = StartsWith(trimmed, "{") ? ParseUntrustedJson(trimmed) : nlohmann::json();
  if (!j.is_object() || !j.contains("answer")) {
    if (json_required)
      return Status::InvalidArgument(name + ": expected a JSON object {\"answer\": \"...\", \"reward\"?: 0..1, "
                                            "\"reasoning\"?: \"...\"}, got: " +
                                     std::string(Utf8Prefix(trimmed, 200)));
    out.answer = trimmed;
    return out;
  }
  const nlohmann::json& answer = j["answer"];
  if (answer.is_string()) {
    out.answer = Trim(answer.get<std::string>());
  } else if (answer.is_number()) {
    out.answer = answer.dump();
  } else if (!answer.is_null()) {
    return Status::InvalidArgument(name + ": \"answer\" must be a string, got " + std::string(answer.type_name()));
  }
  if (j.contains("reward") && !j["reward"].is_null()) {
    const nlohmann::json& r = j["reward"];
    const double value = r.is_number() ? r.get<double>() : NAN;
    if (!r.is_number() || !(value >= 0.0 && value <= 1.0))
      return Status::InvalidArgument(name + ": \"reward\" must be a number in [0, 1], got " +
                                     std::string(Utf8Prefix(r.dump(), 100)));
    out.reward = value;
  }
  if (j.contains("reasoning") && !j["reasoning"].is_null()) {
    if (!j["reasoning"].is_string())
      return Status::InvalidArgument(name + ": \"reasoning\" must be a string, got " +
                                     std::string(j["reasoning"].type_name()));
    out.reasoning = j["reasoning"].get<std::string>();
  }
  return out;
}

}  // namespace external_internal
}  // namespace tfgrpo
