// Token usage extraction and the Prometheus rendering of the proxy's counters.

#include "serve/metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <cstdio>

#include "tfgrpo/json.h"

namespace tfgrpo::serve_internal {

namespace {

// Lines longer than this are not scanned for usage (no real usage chunk comes close).
constexpr size_t kMaxScannedLine = 1 << 20;

// A count from the provider's usage object, clamped to [0, INT64_MAX]: a value like 1e300 must
// not reach a double-to-integer conversion that cannot hold it (undefined behaviour).
int64_t TokenField(const nlohmann::json& obj, const char* key) {
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

// True when `line` has "usage" followed by ':' and an object (not null).
bool MentionsUsageObject(std::string_view line) {
  size_t pos = 0;
  while ((pos = line.find("\"usage\"", pos)) != std::string_view::npos) {
    size_t i = pos + 7;
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i < line.size() && line[i] == ':') {
      ++i;
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i < line.size() && line[i] == '{') return true;
    }
    pos += 7;
  }
  return false;
}

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

std::optional<TokenUsage> UsageFromCompletion(const nlohmann::json& completion) {
  if (!completion.is_object()) return std::nullopt;
  auto usage = completion.find("usage");
  if (usage == completion.end() || !usage->is_object()) return std::nullopt;
  TokenUsage u;
  u.prompt = TokenField(*usage, "prompt_tokens");
  u.completion = TokenField(*usage, "completion_tokens");
  if (usage->contains("prompt_cache_hit_tokens")) {
    u.cached = TokenField(*usage, "prompt_cache_hit_tokens");
  } else if (auto d = usage->find("prompt_tokens_details"); d != usage->end() && d->is_object()) {
    u.cached = TokenField(*d, "cached_tokens");
  }
  return u;
}

void SseUsageScanner::Feed(std::string_view bytes) {
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      if (!skipping_long_) {
        if (partial_.size() + bytes.size() > kMaxScannedLine) {
          partial_.clear();
          skipping_long_ = true;
        } else {
          partial_.append(bytes);
        }
      }
      return;
    }
    std::string_view piece = bytes.substr(0, nl);
    bytes.remove_prefix(nl + 1);
    if (skipping_long_) {
      skipping_long_ = false;
      continue;
    }
    if (partial_.empty()) {
      ScanLine(piece);
    } else {
      partial_.append(piece);
      ScanLine(partial_);
      partial_.clear();
    }
  }
}

void SseUsageScanner::ScanLine(std::string_view line) {
  if (line.substr(0, 5) != "data:") return;
  if (!MentionsUsageObject(line)) return;
  line.remove_prefix(5);
  // A chunk nested too deep is relayed all the same; only its usage goes uncounted.
  nlohmann::json chunk = ParseUntrustedJson(line);
  if (chunk.is_discarded()) return;
  if (auto u = UsageFromCompletion(chunk)) usage_ = u;
}

void ServeMetrics::RecordRequest(int status, double seconds) {
  if (status >= 100 && status < static_cast<int>(by_status_.size())) {
    by_status_[status].fetch_add(1, std::memory_order_relaxed);
  }
  if (!(seconds >= 0)) seconds = 0;
  size_t b = 0;
  while (b < kLatencyBuckets.size() && seconds > kLatencyBuckets[b]) ++b;
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
  latency_sum_ns_.fetch_add(static_cast<uint64_t>(std::llround(seconds * 1e9)),
                            std::memory_order_relaxed);
  latency_count_.fetch_add(1, std::memory_order_relaxed);
}

void ServeMetrics::AddTokens(const TokenUsage& usage) {
  prompt_tokens_.fetch_add(usage.prompt, std::memory_order_relaxed);
  completion_tokens_.fetch_add(usage.completion, std::memory_order_relaxed);
  cached_tokens_.fetch_add(usage.cached, std::memory_order_relaxed);
}

void ServeMetrics::CountReload(bool ok) {
  (ok ? reloads_ : reload_failures_).fetch_add(1, std::memory_order_relaxed);
}

std::string ServeMetrics::Render() const {
  auto load = [](const auto& a) { return std::to_string(a.load(std::memory_order_relaxed)); };
  std::string out;
  out += "# HELP tfgrpo_serve_requests_total Proxied requests answered, by HTTP status.\n";
  out += "# TYPE tfgrpo_serve_requests_total counter\n";
  for (size_t s = 100; s < by_status_.size(); ++s) {
    uint64_t n = by_status_[s].load(std::memory_order_relaxed);
    if (n == 0) continue;
    out += "tfgrpo_serve_requests_total{status=\"" + std::to_string(s) + "\"} " +
           std::to_string(n) + "\n";
  }

  out += "# HELP tfgrpo_serve_request_duration_seconds Time from request to the last byte "
         "relayed.\n";
  out += "# TYPE tfgrpo_serve_request_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    cumulative += buckets_[b].load(std::memory_order_relaxed);
    std::string le = b < kLatencyBuckets.size() ? FormatDouble(kLatencyBuckets[b]) : "+Inf";
    out += "tfgrpo_serve_request_duration_seconds_bucket{le=\"" + le + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += "tfgrpo_serve_request_duration_seconds_sum " +
         FormatDouble(latency_sum_ns_.load(std::memory_order_relaxed) / 1e9) + "\n";
  out += "tfgrpo_serve_request_duration_seconds_count " + load(latency_count_) + "\n";

  out += "# HELP tfgrpo_serve_tokens_total Tokens reported by the upstream's usage objects.\n";
  out += "# TYPE tfgrpo_serve_tokens_total counter\n";
  out += "tfgrpo_serve_tokens_total{kind=\"prompt\"} " + load(prompt_tokens_) + "\n";
  out += "tfgrpo_serve_tokens_total{kind=\"completion\"} " + load(completion_tokens_) + "\n";
  out += "tfgrpo_serve_tokens_total{kind=\"cached\"} " + load(cached_tokens_) + "\n";

  out += "# HELP tfgrpo_serve_injections_total Requests whose system message received the "
         "library.\n";
  out += "# TYPE tfgrpo_serve_injections_total counter\n";
  out += "tfgrpo_serve_injections_total " + load(injections_) + "\n";

  out += "# HELP tfgrpo_serve_upstream_cancellations_total Upstream requests abandoned because "
         "the client went away.\n";
  out += "# TYPE tfgrpo_serve_upstream_cancellations_total counter\n";
  out += "tfgrpo_serve_upstream_cancellations_total " + load(cancellations_) + "\n";

  out += "# HELP tfgrpo_serve_library_experiences Experiences in the library being served.\n";
  out += "# TYPE tfgrpo_serve_library_experiences gauge\n";
  out += "tfgrpo_serve_library_experiences " + load(library_size_) + "\n";

  out += "# HELP tfgrpo_serve_library_reloads_total Successful reloads of the library file.\n";
  out += "# TYPE tfgrpo_serve_library_reloads_total counter\n";
  out += "tfgrpo_serve_library_reloads_total " + load(reloads_) + "\n";
  out += "# HELP tfgrpo_serve_library_reload_failures_total Reloads refused (old library kept).\n";
  out += "# TYPE tfgrpo_serve_library_reload_failures_total counter\n";
  out += "tfgrpo_serve_library_reload_failures_total " + load(reload_failures_) + "\n";
  return out;
}

}  // namespace tfgrpo::serve_internal
