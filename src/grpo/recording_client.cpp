#include "grpo/recording_client.h"

#include <regex>

#include "tfgrpo/util.h"

namespace tfgrpo {

std::string ShortReason(const Status& status) {
  static const std::regex http_status(R"(HTTP (\d{3}))");
  std::smatch m;
  if (std::regex_search(status.message(), m, http_status)) return "HTTP " + m[1].str();
  return Status::CodeName(status.code());
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
  const std::string body = ChatRequestBody(request, model_, max_tokens_).dump();
  const std::string fingerprint = Fingerprint(request.call_id + "\n" + body);

  if (auto recorded = store_.FindCall(fingerprint)) {
    if (recorded->ok) {
      ++replayed_;
      try {
        return ChatResponseFromJson(nlohmann::json::parse(recorded->response_json));
      } catch (const std::exception& e) {
        // A damaged row is not worth failing the run over: fall through and ask again.
      }
    } else if (StartsWith(recorded->error, kDefinitivePrefix)) {
      ++replayed_;
      Status s = Status::ProviderError(recorded->error.substr(kDefinitivePrefix.size()));
      CountFailure(s);
      return s;
    }
  }

  auto result = inner_.Complete(request);
  const Status& st = result.status();
  if (st.code() == Status::Code::kUnauthorized || st.code() == Status::Code::kCancelled) {
    CountFailure(st);
    return result;  // fatal or aborted: nothing worth remembering
  }
  ++sent_;
  CallRecord rec;
  rec.fingerprint = fingerprint;
  rec.call_id = request.call_id;
  rec.role = std::string(RoleName(request.role));
  rec.ok = result.ok();
  if (result.ok()) {
    const ChatResponse& r = *result;
    rec.attempts = r.attempts;
    retries_ += r.attempts - 1;
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
