#include "tfgrpo/recording_client.h"

#include <algorithm>
#include <cstdio>
#include <regex>

#include "tfgrpo/json.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

std::string ShortReason(const Status& status) {
  static const std::regex http_status(R"(HTTP (\d{3}))");
  std::smatch m;
  if (std::regex_search(status.message(), m, http_status)) return "HTTP " + m[1].str();
  return Status::CodeName(status.code());
}

RecordingClient::RecordingClient(ChatClient& inner, RunStore& store, std::string model,
                                 std::optional<int> max_tokens)
    : inner_(inner), store_(store), model_(std::move(model)), max_tokens_(max_tokens) {
  auto fingerprints = store_.CallFingerprints();
  if (!fingerprints.ok()) {
    lookup_every_call_ = true;
    return;
  }
  for (auto& f : *fingerprints) recorded_.insert(std::move(f));
}

Usage RecordingClient::sent_usage() const {
  std::lock_guard lock(mu_);
  return usage_;
}

std::map<std::string, int64_t> RecordingClient::failure_reasons() const {
  std::lock_guard lock(mu_);
  return reasons_;
}

void RecordingClient::CountFailure(const Status& status) {
  ++failed_;
  std::lock_guard lock(mu_);
  ++reasons_[ShortReason(status)];
}

// Only a provider's definitive refusal (a prompt longer than the context, say) is replayed on
// resume. Transient failures (endpoint down, retries exhausted, timeouts) are recorded for the
// record but sent again: the user most likely restarted because the endpoint is back.
static constexpr std::string_view kDefinitivePrefix = "provider error: ";

Result<ChatResponse> RecordingClient::Complete(const ChatRequest& request) {
  if (request.call_id.empty()) return inner_.Complete(request);
  const std::string fingerprint = RequestFingerprint(request, model_, max_tokens_);

  if (auto recorded =
          lookup_every_call_ || recorded_.count(fingerprint) ? store_.FindCall(fingerprint) : std::nullopt) {
    if (recorded->ok) {
      // A damaged (or hand-edited, too deeply nested) row is not worth failing the run over:
      // fall through and ask again.
      nlohmann::json stored = ParseUntrustedJson(recorded->response_json);
      if (!stored.is_discarded() && stored.is_object()) {
        ++replayed_;
        return ChatResponseFromJson(stored);
      }
    } else if (StartsWith(recorded->error, kDefinitivePrefix) &&
               !(resend_refusals_under_ && StartsWith(request.call_id, *resend_refusals_under_))) {
      ++replayed_;
      Status s = Status::ProviderError(recorded->error.substr(kDefinitivePrefix.size()));
      CountFailure(s);
      return s;
    }
  }

  CallReport report;
  auto result = inner_.CompleteAndReport(request, report);
  const Status& st = result.status();
  if (st.code() == Status::Code::kUnauthorized || st.code() == Status::Code::kCancelled ||
      st.code() == Status::Code::kBudgetExhausted) {
    CountFailure(st);
    return result;  // fatal, aborted or never sent: nothing worth remembering
  }
  ++sent_;
  CallRecord rec;
  rec.fingerprint = fingerprint;
  rec.call_id = request.call_id;
  rec.role = std::string(RoleName(request.role));
  rec.ok = result.ok();
  // Failed calls made attempts too; their retries belong in "N retried".
  rec.attempts = result.ok() ? result->attempts : std::max(1, report.attempts);
  rec.latency_ms = report.latency_ms;
  retries_ += rec.attempts - 1;
  if (result.ok()) {
    const ChatResponse& r = *result;
    rec.finish_reason = r.finish_reason;
    rec.prompt_tokens = r.usage.prompt_tokens;
    rec.completion_tokens = r.usage.completion_tokens;
    rec.cached_tokens = r.usage.cached_tokens;
    rec.latency_ms = r.latency_ms;
    rec.response_json = ChatResponseToJson(r).dump();
    std::lock_guard lock(mu_);
    usage_ += r.usage;
  } else {
    rec.error = st.ToString();
    CountFailure(st);
  }
  Status recorded = store_.RecordCall(rec);
  if (!recorded.ok()) return recorded.WithContext("recording an LLM result in the run store");
  return result;
}

}  // namespace tfgrpo
