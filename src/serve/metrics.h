// Counters behind `tfgrpo serve`'s /metrics endpoint, and the token usage read from replies
// (whole JSON bodies or the server-sent-event stream). Private to the serve module.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tfgrpo::serve_internal {

struct TokenUsage {
  int64_t prompt = 0;
  int64_t completion = 0;
  int64_t cached = 0;  // prompt_cache_hit_tokens, else prompt_tokens_details.cached_tokens
};

// The "usage" object of a chat completion (or of a stream chunk); nullopt when absent or null.
std::optional<TokenUsage> UsageFromCompletion(const nlohmann::json& completion);

// Watches relayed SSE bytes (split anywhere) for `data:` lines carrying a usage object and keeps
// the last one. Only lines mentioning a non-null "usage" are parsed, so relaying stays cheap.
class SseUsageScanner {
 public:
  void Feed(std::string_view bytes);
  const std::optional<TokenUsage>& usage() const { return usage_; }

 private:
  void ScanLine(std::string_view line);
  std::string partial_;        // an incomplete line carried to the next Feed
  bool skipping_long_ = false;  // inside a line too long to hold; dropped up to its newline
  std::optional<TokenUsage> usage_;
};

// Lock-free counters; Render() produces Prometheus text format 0.0.4.
class ServeMetrics {
 public:
  static constexpr std::array<double, 17> kLatencyBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
      0.5,    1,     2.5,    5,     10,   30,    60,   300};

  void RecordRequest(int status, double seconds);
  void AddTokens(const TokenUsage& usage);
  void CountInjection() { injections_.fetch_add(1, std::memory_order_relaxed); }
  void CountUpstreamCancellation() { cancellations_.fetch_add(1, std::memory_order_relaxed); }
  void CountReload(bool ok);
  void SetLibraryExperiences(int64_t n) { library_size_.store(n, std::memory_order_relaxed); }
  std::string Render() const;

 private:
  std::array<std::atomic<uint64_t>, 600> by_status_{};  // index = HTTP status (100..599)
  std::array<std::atomic<uint64_t>, kLatencyBuckets.size() + 1> buckets_{};  // last: +Inf
  std::atomic<uint64_t> latency_sum_ns_{0};
  std::atomic<uint64_t> latency_count_{0};
  std::atomic<int64_t> prompt_tokens_{0};
  std::atomic<int64_t> completion_tokens_{0};
  std::atomic<int64_t> cached_tokens_{0};
  std::atomic<uint64_t> injections_{0};
  std::atomic<uint64_t> cancellations_{0};
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> reload_failures_{0};
  std::atomic<int64_t> library_size_{0};
};

}  // namespace tfgrpo::serve_internal
