// Fuzzes SnippetFor, run over the stored text of every local search hit (pages from any corpus),
// and checks its promises: valid UTF-8 out, no longer than the bounded text plus its two "…"
// marks, no line breaks. The first input byte picks the window's word count, the text up to the
// first newline is the query, the rest the page text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tfgrpo/util.h"
#include "tfgrpo/web.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int words = data[0] % 64;  // 0 too: at least one word is used
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t nl = rest.find('\n');
  const std::string_view query = nl == std::string_view::npos ? rest : rest.substr(0, nl);
  const std::string_view text = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  const std::string snippet = tfgrpo::SnippetFor(text, query, words);
  if (tfgrpo::SanitizeUtf8(snippet) != snippet) __builtin_trap();
  // Bad bytes become U+FFFD (3 bytes for 1); "…" is 3 bytes, on each side at most.
  const size_t bounded = std::min<size_t>(text.size(), static_cast<size_t>(tfgrpo::kSnippetTextBytes));
  if (snippet.size() > 3 * bounded + 6) __builtin_trap();
  if (snippet.find('\n') != std::string::npos || snippet.find('\r') != std::string::npos) __builtin_trap();
  return 0;
}
