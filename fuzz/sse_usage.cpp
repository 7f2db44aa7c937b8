// Fuzzes the proxy's scan of a relayed server-sent-event stream for token usage. The first byte
// picks how the stream is cut into Feed() calls, since the relay sees arbitrary chunk borders;
// the usage found must not depend on where the cuts fall.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serve/metrics.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 17;
  std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  tfgrpo::serve_internal::SseUsageScanner whole;
  whole.Feed(stream);
  tfgrpo::serve_internal::SseUsageScanner pieces;
  for (size_t pos = 0; pos < stream.size(); pos += step) pieces.Feed(stream.substr(pos, step));

  const auto& a = whole.usage();
  const auto& b = pieces.usage();
  if (a.has_value() != b.has_value()) __builtin_trap();
  if (a && (a->prompt != b->prompt || a->completion != b->completion || a->cached != b->cached)) {
    __builtin_trap();
  }
  return 0;
}
