// Fuzzes HtmlToText (gumbo plus our tree walk), what the browse tool and `tfgrpo index build` run
// on every fetched or indexed page, and checks its promise that the output is valid UTF-8.
// Inputs are cut to 64 KiB: gumbo's tree builder is quadratic in nesting depth (bounded by
// kMaxHtmlOpenElements, still seconds at the bound), a known cost, not a finding worth a timeout
// on every run. Memory is bounded by the tree budget (kMaxHtmlTreeBytes), which the fuzzer's
// -rss_limit_mb checks.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tfgrpo/util.h"
#include "tfgrpo/web.h"

namespace {
constexpr size_t kMaxInputBytes = 64 << 10;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputBytes) size = kMaxInputBytes;
  std::string_view html(reinterpret_cast<const char*>(data), size);
  tfgrpo::PageText page = tfgrpo::HtmlToText(html, "https://example.org/dir/page.html?q=1");
  if (tfgrpo::SanitizeUtf8(page.text) != page.text || tfgrpo::SanitizeUtf8(page.title) != page.title) {
    __builtin_trap();  // documented: output is valid UTF-8
  }
  // Documented: NUL bytes and control characters other than tab, LF, FF and CR are dropped, and
  // the text stays within kMaxHtmlTextBytes.
  for (std::string_view out : {std::string_view(page.text), std::string_view(page.title)}) {
    for (char ch : out) {
      const unsigned char c = static_cast<unsigned char>(ch);
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c == 0x7F) __builtin_trap();
    }
  }
  if (static_cast<int64_t>(page.text.size()) > tfgrpo::kMaxHtmlTextBytes) __builtin_trap();
  // The same input as a page without a base URL (links kept as written).
  (void)tfgrpo::HtmlToText(html);
  return 0;
}
