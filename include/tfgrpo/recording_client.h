// The resume cache: a ChatClient decorator that answers a call from the run store when the same
// call (same logical id, same request body) was recorded before, and records every new result the
// moment it arrives. This is what makes `tfgrpo train` (and `tfgrpo eval --cache`) resumable
// without re-sending calls. Part of the grpo module.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>

#include "tfgrpo/llm.h"
#include "tfgrpo/store.h"

namespace tfgrpo {

class RecordingClient : public ChatClient {
 public:
  RecordingClient(ChatClient& inner, RunStore& store, std::string model, std::optional<int> max_tokens);

  // Requests without a call id are not cached (they could not be told apart on resume).
  Result<ChatResponse> Complete(const ChatRequest& request) override;

  // Recorded definitive refusals of calls whose id starts with `prefix` are sent again rather
  // than replayed: the step a re-run picks up may have failed because of them, and the user may
  // have fixed the setup (a server restarted with the option it lacked) since. Call before any
  // Complete().
  void ResendRefusalsUnder(std::string prefix) { resend_refusals_under_ = std::move(prefix); }

  int64_t sent() const { return sent_; }
  int64_t replayed() const { return replayed_; }
  int64_t failed() const { return failed_; }
  int64_t retries() const { return retries_; }
  Usage sent_usage() const;
  // Short failure reason ("HTTP 400", "unavailable", ...) -> count, for the end-of-run summary.
  std::map<std::string, int64_t> failure_reasons() const;

 private:
  void CountFailure(const Status& status);

  ChatClient& inner_;
  RunStore& store_;
  std::string model_;
  std::optional<int> max_tokens_;
  std::atomic<int64_t> sent_{0}, replayed_{0}, failed_{0}, retries_{0};
  mutable std::mutex mu_;
  Usage usage_;
  std::map<std::string, int64_t> reasons_;
  std::optional<std::string> resend_refusals_under_;
  std::unordered_set<std::string> recorded_;  // fingerprints in the store when the run started
  // The fingerprints could not be read: every call is looked up instead (slower, same replies).
  bool lookup_every_call_ = false;
};

// "HTTP 400", "unauthorized", "unavailable", "timeout", "parse error"...: a bucket for counting.
std::string ShortReason(const Status& status);

}  // namespace tfgrpo
