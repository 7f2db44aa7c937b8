// Parsing JSON that arrives from outside the process: client requests, provider replies, dataset
// rows, files a user hands us. Nesting depth is bounded before nlohmann sees the text, because
// its serialiser (and some of our own walkers) recurse once per level, so a body nested 100,000
// levels deep would otherwise overflow the stack. Thread-safe; no allocation beyond the result.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace tfgrpo {

// Deep enough for any real chat request, tool schema or dataset row; shallow enough that every
// recursive walk over a parsed value stays far from the stack limit.
inline constexpr int kMaxJsonDepth = 128;

// The deepest nesting of arrays and objects in `text` (brackets inside strings do not count),
// counting stops at `limit` + 1. Linear, one pass, no allocation; works on invalid JSON too.
int JsonNestingDepth(std::string_view text, int limit = kMaxJsonDepth);

// nlohmann::json::parse without exceptions, refusing text nested deeper than `max_depth`.
// Returns a discarded value (`is_discarded()`) when the text is invalid or too deep; callers that
// need to tell the two apart call JsonNestingDepth first.
nlohmann::json ParseUntrustedJson(std::string_view text, int max_depth = kMaxJsonDepth);
nlohmann::ordered_json ParseUntrustedOrderedJson(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace tfgrpo
