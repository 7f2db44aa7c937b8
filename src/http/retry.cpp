#include "tfgrpo/retry.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

#include "tfgrpo/util.h"

namespace tfgrpo {

std::optional<double> ParseRetryAfter(std::string_view value, std::time_t now) {
  std::string v = Trim(value);
  if (v.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(v[0]))) {
    char* end = nullptr;
    double seconds = std::strtod(v.c_str(), &end);
    if (end == v.c_str() + v.size() && std::isfinite(seconds) && seconds >= 0) return seconds;
    return std::nullopt;
  }
  std::time_t when = curl_getdate(v.c_str(), nullptr);
  if (when == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::max(0.0, std::difftime(when, now));
}

double BackoffSeconds(int retry, double initial_s, double max_s, double unit) {
  double base = initial_s * std::pow(2.0, std::max(0, retry - 1));
  base = std::min(base, max_s);
  return std::max(0.0, base * (0.5 + 0.5 * unit));
}

bool IsRetryableHttpStatus(long status) {
  return status == 408 || status == 409 || status == 429 || (status >= 500 && status <= 599);
}

}  // namespace tfgrpo
