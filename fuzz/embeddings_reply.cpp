// Fuzzes the reading of an embeddings endpoint's reply (retrieval.method: embeddings, serve
// --retrieval-method embeddings): the first byte says how many vectors were asked for, the rest
// is the body. Whatever it holds, an accepted reply has exactly that many finite vectors of one
// dimension within the cap.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tfgrpo/retrieval.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t expected = data[0] % 9;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  auto parsed = tfgrpo::ParseEmbeddingsReply(body, expected);
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) __builtin_trap();
    return 0;
  }
  if (parsed->size() != expected) __builtin_trap();
  for (const auto& v : *parsed) {
    if (v.empty() || v.size() != parsed->front().size() || v.size() > tfgrpo::kMaxEmbeddingDimension) __builtin_trap();
    for (float x : v)
      if (!std::isfinite(x)) __builtin_trap();
  }
  return 0;
}
