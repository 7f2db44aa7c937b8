#include "tfgrpo/leak_guard.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

bool IsWordChar(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

// Lower-cased, whitespace runs folded to one space, trimmed.
std::string Normalize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (unsigned char c : text) {
    if (std::isspace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(c));
  }
  return out;
}

// The answer's other written forms when it is a plain fraction: "a/b" <-> "\frac{a}{b}".
std::vector<std::string> FractionForms(const std::string& answer) {
  static const std::regex slash(R"(^\s*(-?)\s*(\d+)\s*/\s*(\d+)\s*$)");
  static const std::regex latex(R"(^\s*(-?)\s*\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}\s*$)");
  std::smatch m;
  std::string sign, num, den;
  if (std::regex_match(answer, m, slash) || std::regex_match(answer, m, latex)) {
    sign = m[1];
    num = m[2];
    den = m[3];
  } else {
    return {};
  }
  std::vector<std::string> forms = {sign + num + "/" + den};
  for (const char* cmd : {"\\frac", "\\dfrac", "\\tfrac"}) forms.push_back(sign + cmd + "{" + num + "}{" + den + "}");
  return forms;
}

// Lower-cased words with leading and trailing punctuation stripped; empty words dropped.
std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    size_t b = 0, e = cur.size();
    while (b < e && std::ispunct(static_cast<unsigned char>(cur[b]))) ++b;
    while (e > b && std::ispunct(static_cast<unsigned char>(cur[e - 1]))) --e;
    if (e > b) words.push_back(cur.substr(b, e - b));
    cur.clear();
  };
  for (unsigned char c : text) {
    if (std::isspace(c)) {
      flush();
    } else {
      cur += static_cast<char>(std::tolower(c));
    }
  }
  flush();
  return words;
}

uint64_t RunHash(const std::vector<std::string>& words, size_t start, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = start; i < start + n; ++i) {
    h = Fnv1a64(words[i], h);
    h = Fnv1a64(" ", h);
  }
  return h;
}

// `needle` occurs in `hay` with no word character glued to either end (when that end of the
// needle is itself a word character).
bool ContainsAsToken(const std::string& hay, const std::string& needle) {
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) {
    const bool left_ok = pos == 0 || !IsWordChar(needle.front()) || !IsWordChar(hay[pos - 1]);
    const size_t end = pos + needle.size();
    const bool right_ok = end == hay.size() || !IsWordChar(needle.back()) || !IsWordChar(hay[end]);
    if (left_ok && right_ok) return true;
  }
  return false;
}

}  // namespace

std::string LeakMatch::Describe() const {
  if (kind == Kind::kAnswer) return "contains the answer of task " + task_id + " ('" + matched + "')";
  return "copies " + std::to_string(copied_words) + " words of task " + task_id + "'s problem ('" + matched + "')";
}

LeakGuard::LeakGuard(const std::vector<LeakSource>& tasks) {
  for (size_t t = 0; t < tasks.size(); ++t) {
    task_ids_.push_back(tasks[t].task_id);
    const std::string answer = Normalize(tasks[t].answer);
    if (answer.size() >= kMinAnswerChars) {
      answers_.push_back({answer, t});
      for (const std::string& form : FractionForms(answer))
        if (form != answer) answers_.push_back({Normalize(form), t});
    }
    const std::vector<std::string> words = Words(tasks[t].problem);
    for (size_t i = 0; i + kProblemRunWords <= words.size(); ++i)
      runs_.emplace(RunHash(words, i, kProblemRunWords), t);
    if (words.size() >= kMinWholeProblemWords && words.size() < kProblemRunWords) {
      runs_.emplace(RunHash(words, 0, words.size()), t);
      if (std::find(run_lengths_.begin(), run_lengths_.end(), words.size()) == run_lengths_.end())
        run_lengths_.push_back(words.size());
    }
  }
  run_lengths_.insert(run_lengths_.begin(), kProblemRunWords);
}

std::optional<LeakMatch> LeakGuard::Find(std::string_view text) const {
  const std::string normalized = Normalize(text);
  for (const AnswerForm& a : answers_) {
    if (ContainsAsToken(normalized, a.text))
      return LeakMatch{LeakMatch::Kind::kAnswer, task_ids_[a.task], a.text};
  }
  if (runs_.empty()) return std::nullopt;
  const std::vector<std::string> words = Words(text);
  for (size_t n : run_lengths_) {
    for (size_t i = 0; i + n <= words.size(); ++i) {
      auto it = runs_.find(RunHash(words, i, n));
      if (it == runs_.end()) continue;
      std::string copied;
      for (size_t k = i; k < i + n; ++k) copied += (k > i ? " " : "") + words[k];
      return LeakMatch{LeakMatch::Kind::kProblemText, task_ids_[it->second], copied, n};
    }
  }
  return std::nullopt;
}

}  // namespace tfgrpo
