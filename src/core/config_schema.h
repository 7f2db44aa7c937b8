// The config schema's building blocks (private to core). A Key declares one YAML key once: its
// name, the field it fills and how it is read, its range check, whether it is required or set
// from the environment, and its fingerprint rule. The reader, the range checks and
// ConfigFingerprintJson are walks over the same declarations (config.cpp holds them); a section
// declared for one struct is reused for another by Lift (learner and judge reuse model's).
//
// Errors are the config's contract (tests pin their exact text): "<file>:<line>: <path>: ...".
// Not thread-safe: a ConfigReader reads one file once.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/config.h"
#include "tfgrpo/status.h"
#include "tfgrpo/util.h"

namespace tfgrpo::config_schema {

namespace fs = std::filesystem;

// A string setting's YAML spellings, in the order errors list them.
template <typename E>
struct EnumName {
  E value;
  const char* name;
};

template <typename E, size_t N>
std::string_view NameIn(const EnumName<E> (&table)[N], E value) {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  return "?";
}

// Reads YAML values with errors that name the file, line and key path, and remembers where each
// key was written (range errors point there) and which keys the environment overrode.
class ConfigReader {
 public:
  ConfigReader(const fs::path& source, Config* config) : file_(source.string()), config_(config) {}

  const Config& config() const { return *config_; }
  const std::string& file() const { return file_; }

  // --- positions and errors ---
  std::string At(const YAML::Mark& mark) const;
  // Where the key `path` was written; the bare file name when it came from a default.
  std::string AtKey(const std::string& path) const;
  bool Given(const std::string& path) const { return key_marks_.count(path) > 0; }
  Status TypeError(const YAML::Node& value, const std::string& path, const std::string& expected) const;
  // "<where>: <path>: <requirement>, got <got>".
  Status RangeError(const std::string& path, const std::string& requirement, const std::string& got) const;
  // "<where the key was written>: <message>".
  Status ErrorAtKey(const std::string& path, const std::string& message) const;

  // --- the environment ---
  void MarkOverridden(const std::string& path, const char* variable) { overridden_[path] = variable; }
  // The variable that set `path`, or nullptr when the file (or a default) did.
  const char* OverriddenBy(const std::string& path) const;

  // --- mappings ---
  // Calls `read` for each entry of the mapping `node` (nothing for an empty value) with the index
  // of its name in `names`; an unknown name (with a suggestion when close to a known one) or a
  // repeated one is an error at its line. `prefix` names the mapping ("" for the top level).
  using ReadEntry = std::function<Status(size_t index, const YAML::Node& value, const std::string& path)>;
  Status ForEachEntry(const YAML::Node& node, const std::string& prefix, const std::vector<std::string>& names,
                      const ReadEntry& read);
  // A mapping read later (learner/judge, after model and its environment overrides).
  void Defer(const std::string& path, const YAML::Node& node) { deferred_[path] = node; }
  YAML::Node Deferred(const std::string& path) const;

  // --- scalars ---
  Status ReadString(const YAML::Node& v, const std::string& path, std::string* out) const;
  Status ReadPath(const YAML::Node& v, const std::string& path, fs::path* out) const;  // empty value: none
  Status ReadStringList(const YAML::Node& v, const std::string& path, std::vector<std::string>* out) const;
  Status ReadStringMap(const YAML::Node& v, const std::string& path, std::map<std::string, std::string>* out) const;
  Status ReadInt(const YAML::Node& v, const std::string& path, int* out) const;
  Status ReadUint64(const YAML::Node& v, const std::string& path, uint64_t* out) const;
  Status ReadDouble(const YAML::Node& v, const std::string& path, double* out) const;
  Status ReadBool(const YAML::Node& v, const std::string& path, bool* out) const;
  // One of `table`'s names; anything else is an error listing them.
  template <typename E, size_t N>
  Status ReadEnum(const YAML::Node& v, const std::string& path, const EnumName<E> (&table)[N], E* out) const {
    std::string text;
    if (Status s = ReadString(v, path, &text); !s.ok()) return s;
    std::string list;
    for (const auto& entry : table) {
      if (text == entry.name) {
        *out = entry.value;
        return Status::Ok();
      }
      list += (list.empty() ? "" : ", ") + std::string(entry.name);
    }
    return Status::InvalidArgument(At(v.Mark()) + ": " + path + ": expected one of " + list + ", got '" + text + "'");
  }

 private:
  std::string file_;
  Config* config_;
  std::map<std::string, YAML::Mark> key_marks_;
  std::map<std::string, const char*> overridden_;
  std::map<std::string, YAML::Node> deferred_;
};

// Edit distance, for "did you mean" suggestions.
size_t EditDistance(const std::string& a, const std::string& b);

// What a range check found wrong: the requirement ("must be at least 1") and the value as shown.
struct Violation {
  std::string requirement;
  std::string got;
};
template <typename V>
using Rule = std::function<std::optional<Violation>(const V&)>;

// Whether a key's value enters ConfigFingerprintJson, and under which name.
struct FingerprintRule {
  bool included = false;
  // Keys added after the first release enter only when they differ from their default, so run
  // dirs created before them still resume.
  bool only_when_changed = false;
  std::function<bool(const Config&)> only_if;  // e.g. only in agent mode
  std::string as;                              // its JSON pointer when not the YAML path

  FingerprintRule WhenChanged() const {
    FingerprintRule r = *this;
    r.only_when_changed = true;
    return r;
  }
  FingerprintRule If(std::function<bool(const Config&)> condition) const {
    FingerprintRule r = *this;
    r.only_if = std::move(condition);
    return r;
  }
  FingerprintRule As(std::string pointer) const {
    FingerprintRule r = *this;
    r.as = std::move(pointer);
    return r;
  }
};
inline FingerprintRule InFingerprint() {
  FingerprintRule rule;
  rule.included = true;
  return rule;
}

// One key of a mapping whose fields live in S: either a value (read) or a mapping (keys).
template <typename S>
struct Key {
  std::string name;
  // A value: reads it into `s` (type errors name the path and line).
  std::function<Status(ConfigReader&, const YAML::Node&, const std::string& path, S& s)> read;
  // A mapping: its keys, in the order suggestions, checks and the fingerprint visit them.
  std::vector<Key<S>> keys;
  std::function<void(S&)> on_present;  // the key is written (even with an empty value)
  std::function<void(ConfigReader&, const std::string& path, S&)> after_read;  // a mapping, once read
  // A top-level mapping read after every other section and the environment: `prepare` first
  // (whether or not the key is written), then the mapping, then `after_read`.
  bool deferred = false;
  std::function<void(S&)> prepare;
  // A value's range check, or a mapping's own check (run before its keys'); null: none.
  std::function<Status(const ConfigReader&, const std::string& path, const S&)> check;
  // A mapping: its checks (its own and its keys') run only when this holds.
  std::function<bool(const ConfigReader&, const std::string& path, const S&)> checked_if;
  std::function<bool(const S&)> missing;     // required: true when no value was given
  const char* env = nullptr;                 // an environment variable that overrides the file
  std::function<void(S&, const std::string&)> set_from_env;
  FingerprintRule fingerprint;
  std::function<nlohmann::json(const Config&, const S&)> fingerprint_value;
  std::function<bool(const S&)> changed;  // differs from the struct's default
  // A file (or argv) written relative to the config's folder: made relative to the process.
  std::function<void(const fs::path& folder, S&)> resolve;
};

// --- values ---

template <typename V>
using ReadValue = std::function<Status(ConfigReader&, const YAML::Node&, const std::string&, V*)>;

inline nlohmann::json FingerprintJson(const std::string& v) { return v; }
inline nlohmann::json FingerprintJson(const std::vector<std::string>& v) { return v; }
template <typename T>
nlohmann::json FingerprintJson(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json();
}
template <typename V>
nlohmann::json FingerprintJson(const V& v) {
  if constexpr (std::is_enum_v<V>) {
    return Name(v);
  } else {
    return v;
  }
}
// Undoes path resolution: the path as the YAML wrote it when it was relative to the config folder.
std::string PathAsWritten(const fs::path& path, const fs::path& source);
inline nlohmann::json FingerprintJsonOf(const Config& c, const fs::path& v) { return PathAsWritten(v, c.source); }
template <typename V>
nlohmann::json FingerprintJsonOf(const Config&, const V& v) {
  return FingerprintJson(v);
}

template <typename V>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
// Whether FingerprintJsonOf can write a V.
template <typename V>
constexpr bool kWritableAsJson = std::is_enum_v<V> || std::is_same_v<V, fs::path> || IsOptional<V>::value ||
                                 std::is_constructible_v<nlohmann::json, const V&>;

// A value key being declared: its field, reader, checks, fingerprint rule. Converts to Key<S>.
template <typename S, typename V>
struct Field {
  const char* name = nullptr;
  V S::*member = nullptr;
  ReadValue<V> reader;
  Rule<V> rule;
  std::function<Status(const ConfigReader&, const std::string&, const S&)> check_with;
  FingerprintRule fingerprint;
  std::function<nlohmann::json(const Config&, const S&)> fingerprint_value;
  std::function<void(S&)> on_read;
  std::function<void(const fs::path& folder, V&)> resolver;
  bool required = false;
  const char* env = nullptr;

  Field Check(Rule<V> r) && {
    rule = std::move(r);
    return std::move(*this);
  }
  // A check that needs more than the value (another key, the reader's positions).
  Field CheckWith(std::function<Status(const ConfigReader&, const std::string&, const S&)> c) && {
    check_with = std::move(c);
    return std::move(*this);
  }
  Field Fingerprint(FingerprintRule r) && {
    fingerprint = std::move(r);
    return std::move(*this);
  }
  Field FingerprintValue(std::function<nlohmann::json(const Config&, const S&)> f) && {
    fingerprint_value = std::move(f);
    return std::move(*this);
  }
  Field OnRead(std::function<void(S&)> f) && {  // also records that the key was written
    on_read = std::move(f);
    return std::move(*this);
  }
  // Relative to the config's folder (paths are by default).
  Field Resolve(std::function<void(const fs::path& folder, V&)> f) && {
    resolver = std::move(f);
    return std::move(*this);
  }
  Field Required() && {
    required = true;
    return std::move(*this);
  }
  Field Env(const char* variable) && {
    env = variable;
    return std::move(*this);
  }

  operator Key<S>() const {
    Key<S> k;
    k.name = name;
    k.read = [m = member, reader = reader, on_read = on_read](ConfigReader& r, const YAML::Node& v,
                                                               const std::string& path, S& s) {
      if (on_read) on_read(s);
      return reader(r, v, path, &(s.*m));
    };
    if (rule || check_with) {
      k.check = [m = member, rule = rule, check_with = check_with](const ConfigReader& r, const std::string& path,
                                                                   const S& s) -> Status {
        if (rule)
          if (std::optional<Violation> v = rule(s.*m)) return r.RangeError(path, v->requirement, v->got);
        return check_with ? check_with(r, path, s) : Status::Ok();
      };
    }
    if constexpr (std::is_same_v<V, std::string>) {
      if (required) k.missing = [m = member](const S& s) { return Trim(s.*m).empty(); };
      if (env) {
        k.env = env;
        k.set_from_env = [m = member](S& s, const std::string& value) { s.*m = value; };
      }
    }
    k.fingerprint = fingerprint;
    k.fingerprint_value = fingerprint_value;
    // Values that can be written to JSON (not a list of MCP servers) have a default rule.
    if constexpr (kWritableAsJson<V>) {
      if (!k.fingerprint_value)
        k.fingerprint_value = [m = member](const Config& c, const S& s) { return FingerprintJsonOf(c, s.*m); };
      k.changed = [m = member](const S& s) { return !(s.*m == S{}.*m); };
    }
    if (resolver) {
      k.resolve = [m = member, f = resolver](const fs::path& folder, S& s) { f(folder, s.*m); };
    } else if constexpr (std::is_same_v<V, fs::path>) {
      k.resolve = [m = member](const fs::path& folder, S& s) {
        if (!(s.*m).empty() && (s.*m).is_relative()) s.*m = folder / (s.*m);
      };
    }
    return k;
  }
};

inline bool IsHttpUrl(const std::string& url) {
  return StartsWith(ToLower(url), "http://") || StartsWith(ToLower(url), "https://");
}

// --- how each kind of value is read ---

template <typename S, typename V>
Field<S, V> Value(const char* name, V S::*member, std::type_identity_t<ReadValue<V>> reader) {
  Field<S, V> field;
  field.name = name;
  field.member = member;
  field.reader = std::move(reader);
  return field;
}
template <typename S>
Field<S, std::string> String(const char* name, std::string S::*m) {
  return Value(name, m, &ConfigReader::ReadString);
}
// An empty value keeps the default (for keys whose default is "the model section's" or "none").
template <typename S>
Field<S, std::string> StringOrEmpty(const char* name, std::string S::*m) {
  return Value(name, m, [](ConfigReader& r, const YAML::Node& v, const std::string& p, std::string* out) {
    return v.IsNull() ? Status::Ok() : r.ReadString(v, p, out);
  });
}
// A file; relative paths resolve against the config's folder (an empty value: none).
template <typename S>
Field<S, fs::path> Path(const char* name, fs::path S::*m) {
  return Value(name, m, &ConfigReader::ReadPath);
}
// A file that, once the key is written, must be named (an empty value is an error).
template <typename S>
Field<S, fs::path> RequiredPath(const char* name, fs::path S::*m) {
  return Value(name, m, [](ConfigReader& r, const YAML::Node& v, const std::string& p, fs::path* out) {
    std::string text;
    Status s = r.ReadString(v, p, &text);
    if (s.ok()) *out = fs::path(text);
    return s;
  });
}
template <typename S>
Field<S, std::vector<std::string>> StringList(const char* name, std::vector<std::string> S::*m) {
  return Value(name, m, &ConfigReader::ReadStringList);
}
template <typename S>
Field<S, std::map<std::string, std::string>> StringMap(const char* name, std::map<std::string, std::string> S::*m) {
  return Value(name, m, &ConfigReader::ReadStringMap);
}
template <typename S>
Field<S, int> Int(const char* name, int S::*m) {
  return Value(name, m, &ConfigReader::ReadInt);
}
// A 32-bit integer kept as 64 bits.
template <typename S>
Field<S, int64_t> Int32As64(const char* name, int64_t S::*m) {
  return Value(name, m, [](ConfigReader& r, const YAML::Node& v, const std::string& p, int64_t* out) {
    int n = 0;
    Status s = r.ReadInt(v, p, &n);
    *out = n;
    return s;
  });
}
// A size: a non-negative integer, capped at INT64_MAX.
template <typename S>
Field<S, int64_t> Size(const char* name, int64_t S::*m) {
  return Value(name, m, [](ConfigReader& r, const YAML::Node& v, const std::string& p, int64_t* out) {
    uint64_t n = 0;
    Status s = r.ReadUint64(v, p, &n);
    if (s.ok()) *out = static_cast<int64_t>(std::min<uint64_t>(n, INT64_MAX));
    return s;
  });
}
template <typename S>
Field<S, std::optional<int64_t>> OptionalSize(const char* name, std::optional<int64_t> S::*m) {
  return Value(name, m, [](ConfigReader& r, const YAML::Node& v, const std::string& p, std::optional<int64_t>* out) {
    uint64_t n = 0;
    Status s = r.ReadUint64(v, p, &n);
    if (s.ok()) *out = static_cast<int64_t>(std::min<uint64_t>(n, INT64_MAX));
    return s;
  });
}
template <typename S>
Field<S, uint64_t> Uint64(const char* name, uint64_t S::*m) {
  return Value(name, m, &ConfigReader::ReadUint64);
}
template <typename S>
Field<S, double> Double(const char* name, double S::*m) {
  return Value(name, m, &ConfigReader::ReadDouble);
}
template <typename S>
Field<S, std::optional<double>> OptionalDouble(const char* name, std::optional<double> S::*m) {
  return Value(name, m, [](ConfigReader& r, const YAML::Node& v, const std::string& p, std::optional<double>* out) {
    double d = 0;
    Status s = r.ReadDouble(v, p, &d);
    if (s.ok()) *out = d;
    return s;
  });
}
// An empty value ("max_tokens:" or "~") leaves it unset.
template <typename S>
Field<S, std::optional<int>> OptionalInt(const char* name, std::optional<int> S::*m) {
  return Value(name, m, [](ConfigReader& r, const YAML::Node& v, const std::string& p, std::optional<int>* out) {
    if (v.IsNull()) {
      out->reset();
      return Status::Ok();
    }
    int n = 0;
    Status s = r.ReadInt(v, p, &n);
    if (s.ok()) *out = n;
    return s;
  });
}
template <typename S>
Field<S, bool> Bool(const char* name, bool S::*m) {
  return Value(name, m, &ConfigReader::ReadBool);
}
template <typename S, typename E, size_t N>
Field<S, E> Enum(const char* name, E S::*m, const EnumName<E> (&table)[N]) {
  return Value(name, m, [&table](ConfigReader& r, const YAML::Node& v, const std::string& p, E* out) {
    return r.ReadEnum(v, p, table, out);
  });
}

// --- range rules: what is wrong, and the value as shown ---

template <typename V>
std::string Shown(const V& v) {
  if constexpr (std::is_floating_point_v<V>) {
    return nlohmann::json(v).dump();
  } else {
    return std::to_string(v);
  }
}
inline auto AtLeast(long long min, std::string why = "") {
  return [=](const auto& v) -> std::optional<Violation> {
    if (v >= min) return std::nullopt;
    return Violation{"must be at least " + std::to_string(min) + why, Shown(v)};
  };
}
inline auto GreaterThanZero(std::string why = "") {
  return [=](const auto& v) -> std::optional<Violation> {
    if (v > 0) return std::nullopt;
    return Violation{"must be greater than 0" + why, Shown(v)};
  };
}
inline auto Between(long long lo, long long hi, std::string why = "") {
  return [=](const auto& v) -> std::optional<Violation> {
    if (v >= lo && v <= hi) return std::nullopt;
    return Violation{"must be between " + std::to_string(lo) + " and " + std::to_string(hi) + why, Shown(v)};
  };
}
// The rule applied to an optional value when it is set.
template <typename Rule>
auto WhenSet(Rule rule) {
  return [=](const auto& v) -> std::optional<Violation> { return v ? rule(*v) : std::nullopt; };
}
inline auto NotBlank() {
  return [](const std::string& v) -> std::optional<Violation> {
    if (!Trim(v).empty()) return std::nullopt;
    return Violation{"must not be empty", "''"};
  };
}
// Empty means "not given"; anything else must be an http(s) URL.
inline auto HttpUrlOrEmpty() {
  return [](const std::string& v) -> std::optional<Violation> {
    if (v.empty() || IsHttpUrl(v)) return std::nullopt;
    return Violation{"expected an http:// or https:// URL", "'" + v + "'"};
  };
}
inline auto OneOf(std::vector<std::string> allowed) {
  return [=](const std::string& v) -> std::optional<Violation> {
    std::string list;
    for (const std::string& a : allowed) {
      if (v == a) return std::nullopt;
      list += (list.empty() ? "" : ", ") + a;
    }
    return Violation{"expected one of " + list, "'" + v + "'"};
  };
}
// An argv: its program may not be blank.
inline auto ProgramNotBlank() {
  return [](const std::vector<std::string>& argv) -> std::optional<Violation> {
    if (argv.empty() || !Trim(argv[0]).empty()) return std::nullopt;
    return Violation{"the program (first item) must not be empty", "''"};
  };
}
// --- mappings ---

// A mapping key whose keys fill the same struct (task.math.precision is TaskConfig::math_precision).
template <typename S>
Key<S> Mapping(const char* name, std::vector<Key<S>> keys) {
  Key<S> k;
  k.name = name;
  k.keys = std::move(keys);
  return k;
}

// `k`, declared for T, as a key of S whose T lives at `member` (model's keys as learner's).
template <typename S, typename T>
Key<S> Lift(const Key<T>& k, T S::*member) {
  Key<S> out;
  out.name = k.name;
  if (k.read)
    out.read = [f = k.read, member](ConfigReader& r, const YAML::Node& v, const std::string& p, S& s) {
      return f(r, v, p, s.*member);
    };
  for (const Key<T>& child : k.keys) out.keys.push_back(Lift(child, member));
  if (k.on_present) out.on_present = [f = k.on_present, member](S& s) { f(s.*member); };
  if (k.after_read)
    out.after_read = [f = k.after_read, member](ConfigReader& r, const std::string& p, S& s) { f(r, p, s.*member); };
  out.deferred = k.deferred;
  if (k.prepare) out.prepare = [f = k.prepare, member](S& s) { f(s.*member); };
  if (k.check)
    out.check = [f = k.check, member](const ConfigReader& r, const std::string& p, const S& s) {
      return f(r, p, s.*member);
    };
  if (k.checked_if)
    out.checked_if = [f = k.checked_if, member](const ConfigReader& r, const std::string& p, const S& s) {
      return f(r, p, s.*member);
    };
  if (k.missing) out.missing = [f = k.missing, member](const S& s) { return f(s.*member); };
  out.env = k.env;
  if (k.set_from_env)
    out.set_from_env = [f = k.set_from_env, member](S& s, const std::string& v) { f(s.*member, v); };
  out.fingerprint = k.fingerprint;
  if (k.fingerprint_value)
    out.fingerprint_value = [f = k.fingerprint_value, member](const Config& c, const S& s) {
      return f(c, s.*member);
    };
  if (k.changed) out.changed = [f = k.changed, member](const S& s) { return f(s.*member); };
  if (k.resolve) out.resolve = [f = k.resolve, member](const fs::path& folder, S& s) { f(folder, s.*member); };
  return out;
}

template <typename S, typename T>
std::vector<Key<S>> Lift(const std::vector<Key<T>>& keys, T S::*member) {
  std::vector<Key<S>> out;
  for (const Key<T>& k : keys) out.push_back(Lift(k, member));
  return out;
}

// A mapping key whose keys fill the struct at `member` (tools.search is ToolsConfig::search).
template <typename S, typename T>
Key<S> Section(const char* name, T S::*member, const std::vector<Key<T>>& keys) {
  Key<S> k;
  k.name = name;
  k.keys = Lift(keys, member);
  return k;
}

// --- the walks ---

inline std::string Join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Reads the mapping `node` (at `prefix`) into `s` with `keys`.
template <typename S>
Status ReadKeys(ConfigReader& r, const YAML::Node& node, const std::string& prefix, const std::vector<Key<S>>& keys,
                S& s) {
  std::vector<std::string> names;
  for (const Key<S>& k : keys) names.push_back(k.name);
  return r.ForEachEntry(node, prefix, names, [&](size_t i, const YAML::Node& value, const std::string& path) {
    const Key<S>& k = keys[i];
    if (k.on_present) k.on_present(s);
    if (k.deferred) {
      r.Defer(path, value);
      return Status::Ok();
    }
    if (k.read) return k.read(r, value, path, s);
    if (Status st = ReadKeys(r, value, path, k.keys, s); !st.ok()) return st;
    if (k.after_read) k.after_read(r, path, s);
    return Status::Ok();
  });
}

// Reads the deferred mappings among `keys`, in declaration order.
template <typename S>
Status ReadDeferred(ConfigReader& r, const std::vector<Key<S>>& keys, S& s) {
  for (const Key<S>& k : keys) {
    if (!k.deferred) continue;
    if (k.prepare) k.prepare(s);
    if (Status st = ReadKeys(r, r.Deferred(k.name), k.name, k.keys, s); !st.ok()) return st;
    if (k.after_read) k.after_read(r, k.name, s);
  }
  return Status::Ok();
}

template <typename S>
void ApplyEnvironment(ConfigReader& r, const std::string& prefix, const std::vector<Key<S>>& keys, S& s) {
  for (const Key<S>& k : keys) {
    const std::string path = Join(prefix, k.name);
    if (k.env) {
      const char* value = std::getenv(k.env);
      if (value && *value) {
        k.set_from_env(s, value);
        r.MarkOverridden(path, k.env);
      }
    }
    if (!k.deferred) ApplyEnvironment(r, path, k.keys, s);
  }
}

template <typename S>
Status CheckRequired(const ConfigReader& r, const std::string& prefix, const std::vector<Key<S>>& keys, const S& s) {
  for (const Key<S>& k : keys) {
    const std::string path = Join(prefix, k.name);
    if (k.missing && k.missing(s)) return Status::InvalidArgument(r.file() + ": missing required key '" + path + "'");
    if (Status st = CheckRequired(r, path, k.keys, s); !st.ok()) return st;
  }
  return Status::Ok();
}

// The range checks, in declaration order; the first failure is the error.
template <typename S>
Status CheckKeys(const ConfigReader& r, const std::string& prefix, const std::vector<Key<S>>& keys, const S& s) {
  for (const Key<S>& k : keys) {
    const std::string path = Join(prefix, k.name);
    if (k.checked_if && !k.checked_if(r, path, s)) continue;
    if (k.check)
      if (Status st = k.check(r, path, s); !st.ok()) return st;
    if (Status st = CheckKeys(r, path, k.keys, s); !st.ok()) return st;
  }
  return Status::Ok();
}

template <typename S>
void AddFingerprint(const Config& c, const std::string& prefix, const std::vector<Key<S>>& keys, const S& s,
                    nlohmann::json& j) {
  for (const Key<S>& k : keys) {
    const std::string path = Join(prefix, k.name);
    AddFingerprint(c, path, k.keys, s, j);
    const FingerprintRule& rule = k.fingerprint;
    if (!rule.included || (rule.only_if && !rule.only_if(c)) || (rule.only_when_changed && !k.changed(s))) continue;
    std::string pointer = rule.as;
    if (pointer.empty()) {
      pointer = "/" + path;
      std::replace(pointer.begin(), pointer.end(), '.', '/');
    }
    j[nlohmann::json::json_pointer(pointer)] = k.fingerprint_value(c, s);
  }
}

template <typename S>
void ResolvePaths(const fs::path& folder, const std::vector<Key<S>>& keys, S& s) {
  for (const Key<S>& k : keys) {
    if (k.resolve) k.resolve(folder, s);
    ResolvePaths(folder, k.keys, s);
  }
}

// Every value key's path ("tools.search.top_k"; a list of mappings such as tools.mcp is one key).
template <typename S>
void LeafPaths(const std::string& prefix, const std::vector<Key<S>>& keys, std::vector<std::string>* out) {
  for (const Key<S>& k : keys) {
    const std::string path = Join(prefix, k.name);
    if (k.read) out->push_back(path);
    LeafPaths(path, k.keys, out);
  }
}

// The config file's schema (config.cpp), built once.
const std::vector<Key<Config>>& Schema();

}  // namespace tfgrpo::config_schema
