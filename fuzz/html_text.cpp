// Fuzzes HtmlToText (gumbo plus our tree walk), what the browse tool and `tfgrpo index build` run
// on every fetched or indexed page, and checks its promise that the output is valid UTF-8.
// Inputs are cut to 64 KiB: gumbo's tree builder is quadratic in nesting depth (tens of
// thousands of unclosed elements take seconds), a known cost browse bounds through
// tools.browse max_bytes, not a finding worth a timeout on every run.
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
  // The same input as a page without a base URL (links kept as written).
  (void)tfgrpo::HtmlToText(html);
  return 0;
}
