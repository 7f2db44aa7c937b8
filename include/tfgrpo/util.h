// Small shared helpers: stable hashing, text utilities, file I/O with Status errors.
// Nothing here knows about LLMs or the algorithm.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tfgrpo/status.h"

namespace tfgrpo {

// 64-bit FNV-1a; stable across runs and machines (used for fingerprints and the simulator).
uint64_t Fnv1a64(std::string_view data, uint64_t seed = 0xcbf29ce484222325ULL);
// 128-bit hex fingerprint of `data` (two independent 64-bit hashes).
std::string Fingerprint(std::string_view data);
// SHA-256 of `data` as 64 lower-case hex digits (OpenSSL); for provenance, not for keys.
std::string Sha256Hex(std::string_view data);
// SplitMix64 step: a tiny deterministic PRNG used where reproducibility across platforms matters.
uint64_t SplitMix64(uint64_t& state);
// Uniform double in [0, 1) from a SplitMix64 state.
double UnitDouble(uint64_t& state);
// Fisher-Yates with SplitMix64: same seed, same order, on every platform.
std::vector<size_t> ShuffledIndices(size_t n, uint64_t seed);

std::string Trim(std::string_view s);
std::string ToLower(std::string_view s);
bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);
bool ContainsCaseInsensitive(std::string_view haystack, std::string_view needle);
std::vector<std::string> SplitLines(std::string_view s);
std::string ReplaceAll(std::string s, std::string_view from, std::string_view to);
// The longest prefix of `s` of at most `max_bytes` bytes that does not split a UTF-8 character:
// a cut that would land on a continuation byte steps back (at most 3 bytes) to the character's
// start. For excerpts in logs, error messages and the run store.
std::string_view Utf8Prefix(std::string_view s, size_t max_bytes);
// `text` with every invalid UTF-8 sequence (a stray continuation byte, a truncated sequence, an
// overlong form, a surrogate, a value past U+10FFFF) replaced by U+FFFD, one per bad byte. For
// text from outside (tool output, fetched pages) that must go into a JSON request body.
std::string SanitizeUtf8(std::string_view text);

Result<std::string> ReadFile(const std::filesystem::path& path);
// Writes via a temp file and rename, so readers never see a half-written file.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content);

// Approximate token count for text (4 characters per token); used by the simulator.
int64_t ApproxTokens(std::string_view text);

}  // namespace tfgrpo
