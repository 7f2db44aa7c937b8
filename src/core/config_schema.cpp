#include "config_schema.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "tfgrpo/util.h"

namespace tfgrpo::config_schema {
namespace {

// Offset of the first byte of `s` that is not well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF); npos when all of it is.
size_t InvalidUtf8Offset(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = byte(0);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c < 0x80) len = 1;
    else if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    if (len == 0 || i + len > s.size()) return i;
    if (len > 1 && (byte(1) < lo || byte(1) > hi)) return i;
    for (size_t k = 2; k < len; ++k) {
      if ((byte(k) & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

// What a node holds, for "expected X, got Y" messages.
std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

bool ParseInteger(const std::string& raw, long long* out) {
  std::string text = Trim(raw);
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string PathAsWritten(const fs::path& path, const fs::path& source) {
  const fs::path folder = source.parent_path();
  if (folder.empty()) return path.generic_string();
  auto p = path.begin();
  for (auto f = folder.begin(); f != folder.end(); ++f, ++p) {
    if (p == path.end() || *p != *f) return path.generic_string();
  }
  fs::path rest;
  for (; p != path.end(); ++p) rest /= *p;
  return rest.generic_string();
}

std::string ConfigReader::At(const YAML::Mark& mark) const {
  if (mark.line < 0) return file_;
  return file_ + ":" + std::to_string(mark.line + 1);
}

std::string ConfigReader::AtKey(const std::string& path) const {
  auto it = key_marks_.find(path);
  return it == key_marks_.end() ? file_ : At(it->second);
}

Status ConfigReader::TypeError(const YAML::Node& value, const std::string& path, const std::string& expected) const {
  // Empty values carry no position of their own; their key does.
  const std::string where = value.IsNull() || value.Mark().line < 0 ? AtKey(path) : At(value.Mark());
  return Status::InvalidArgument(where + ": " + path + ": expected " + expected + ", got " + Describe(value));
}

Status ConfigReader::RangeError(const std::string& path, const std::string& requirement, const std::string& got) const {
  return Status::InvalidArgument(AtKey(path) + ": " + path + ": " + requirement + ", got " + got);
}

Status ConfigReader::ErrorAtKey(const std::string& path, const std::string& message) const {
  return Status::InvalidArgument(AtKey(path) + ": " + message);
}

const char* ConfigReader::OverriddenBy(const std::string& path) const {
  auto it = overridden_.find(path);
  return it == overridden_.end() ? nullptr : it->second;
}

YAML::Node ConfigReader::Deferred(const std::string& path) const {
  auto it = deferred_.find(path);
  return it == deferred_.end() ? YAML::Node() : it->second;
}

Status ConfigReader::ForEachEntry(const YAML::Node& node, const std::string& prefix,
                                  const std::vector<std::string>& names, const ReadEntry& read) {
  if (!node.IsDefined() || node.IsNull()) return Status::Ok();  // empty file or "model:" alone
  if (!node.IsMap()) {
    if (prefix.empty()) {
      std::string sections;
      for (const std::string& name : names) sections += (sections.empty() ? "" : ", ") + name;
      return Status::InvalidArgument(At(node.Mark()) + ": expected a mapping of sections (" + sections + "), got " +
                                     Describe(node));
    }
    return TypeError(node, prefix, "a mapping");
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : Describe(kv.first);
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    auto known = std::find(names.begin(), names.end(), key);
    if (known == names.end()) {
      std::string message = At(kv.first.Mark()) + ": unknown key '" + path + "'";
      std::string best;
      size_t best_distance = SIZE_MAX;
      for (const std::string& name : names) {
        size_t d = EditDistance(ToLower(key), name);
        if (d < best_distance) best_distance = d, best = name;
      }
      // Close enough to be a typo, and not so short that every key is "close".
      if (best_distance <= 2 && best_distance < key.size()) message += "; did you mean '" + best + "'?";
      return Status::InvalidArgument(message);
    }
    if (!seen.insert(key).second) {
      return Status::InvalidArgument(At(kv.first.Mark()) + ": duplicate key '" + path + "'");
    }
    key_marks_[path] = kv.first.Mark();
    if (Status s = read(known - names.begin(), kv.second, path); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ConfigReader::ReadString(const YAML::Node& v, const std::string& path, std::string* out) const {
  if (!v.IsScalar()) return TypeError(v, path, "a string");
  // Strings end up in JSON (run store, requests), which must be UTF-8.
  if (size_t bad = InvalidUtf8Offset(v.Scalar()); bad != std::string_view::npos) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(v.Scalar()[bad]));
    return Status::InvalidArgument(At(v.Mark()) + ": " + path + ": not valid UTF-8 (byte " + hex + " at offset " +
                                   std::to_string(bad) + "); save the file as UTF-8");
  }
  *out = v.Scalar();
  return Status::Ok();
}

Status ConfigReader::ReadPath(const YAML::Node& v, const std::string& path, fs::path* out) const {
  if (v.IsNull()) {
    out->clear();
    return Status::Ok();
  }
  std::string text;
  Status s = ReadString(v, path, &text);
  if (s.ok()) *out = fs::path(text);
  return s;
}

Status ConfigReader::ReadStringList(const YAML::Node& v, const std::string& path, std::vector<std::string>* out) const {
  if (!v.IsSequence()) return TypeError(v, path, "a list of strings");
  out->clear();
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].IsScalar()) return TypeError(v[i], path + "[" + std::to_string(i) + "]", "a string");
    out->push_back(v[i].Scalar());
  }
  return Status::Ok();
}

Status ConfigReader::ReadStringMap(const YAML::Node& v, const std::string& path,
                                   std::map<std::string, std::string>* out) const {
  if (!v.IsMap()) return TypeError(v, path, "a mapping of names to strings");
  out->clear();
  for (const auto& kv : v) {
    std::string key, value;
    if (Status s = ReadString(kv.first, path, &key); !s.ok()) return s;
    if (Status s = ReadString(kv.second, path + "." + key, &value); !s.ok()) return s;
    (*out)[key] = value;
  }
  return Status::Ok();
}

Status ConfigReader::ReadInt(const YAML::Node& v, const std::string& path, int* out) const {
  long long n = 0;
  if (!v.IsScalar() || !ParseInteger(v.Scalar(), &n)) return TypeError(v, path, "an integer");
  if (n < INT32_MIN || n > INT32_MAX) return TypeError(v, path, "an integer in 32-bit range");
  *out = static_cast<int>(n);
  return Status::Ok();
}

Status ConfigReader::ReadUint64(const YAML::Node& v, const std::string& path, uint64_t* out) const {
  std::string text = v.IsScalar() ? Trim(v.Scalar()) : std::string();
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  unsigned long long n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (!v.IsScalar() || text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return TypeError(v, path, "a non-negative integer");
  }
  *out = n;
  return Status::Ok();
}

Status ConfigReader::ReadDouble(const YAML::Node& v, const std::string& path, double* out) const {
  std::string text = v.IsScalar() ? Trim(v.Scalar()) : std::string();
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  double d = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (!v.IsScalar() || text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(d)) {
    return TypeError(v, path, "a number");
  }
  *out = d;
  return Status::Ok();
}

Status ConfigReader::ReadBool(const YAML::Node& v, const std::string& path, bool* out) const {
  const std::string text = v.IsScalar() ? ToLower(Trim(v.Scalar())) : std::string();
  if (text == "true" || text == "yes" || text == "on") {
    *out = true;
  } else if (text == "false" || text == "no" || text == "off") {
    *out = false;
  } else {
    return TypeError(v, path, "true or false");
  }
  return Status::Ok();
}

}  // namespace tfgrpo::config_schema
