// Answer extraction and normalisation for the `exact` reward. The `math` reward is the symbolic
// verifier (math_verify.h), which shares the \boxed{} extraction below.
#include <cctype>
#include <optional>

#include "reward/math_verify_internal.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string RemoveAll(std::string s, std::string_view what) { return ReplaceAll(std::move(s), what, ""); }

}  // namespace

std::string ExtractFinalAnswer(std::string_view reply) {
  if (std::optional<std::string> boxed = mathverify::LastBoxed(reply)) return Trim(*boxed);
  std::vector<std::string> lines = SplitLines(reply);
  for (size_t i = lines.size(); i-- > 0;) {
    std::string line = Trim(RemoveAll(lines[i], "**"));
    size_t b = line.find_first_not_of("#>-*_ \t");
    if (b == std::string::npos) continue;
    std::string_view rest = std::string_view(line).substr(b);
    std::string lower = ToLower(rest.substr(0, 16));
    size_t skip = StartsWith(lower, "final answer") ? 12 : StartsWith(lower, "answer") ? 6 : 0;
    if (skip == 0) continue;
    rest.remove_prefix(skip);
    while (!rest.empty() && (rest[0] == '*' || rest[0] == '_' || rest[0] == ' ')) rest.remove_prefix(1);
    if (rest.empty() || rest[0] != ':') continue;
    rest.remove_prefix(1);
    while (!rest.empty() && (rest[0] == '*' || rest[0] == '_' || IsSpace(rest[0]))) rest.remove_prefix(1);
    std::string value = Trim(rest);
    // "Answer:" alone on its line: the answer is on the next non-empty line.
    for (size_t j = i + 1; value.empty() && j < lines.size(); ++j) value = Trim(RemoveAll(lines[j], "**"));
    if (!value.empty()) return value;
  }
  return "";
}

std::string NormalizeExactAnswer(std::string_view answer) {
  std::string out;
  for (char c : Trim(answer)) {
    if (IsSpace(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace tfgrpo
