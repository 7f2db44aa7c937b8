#include "tfgrpo/config.h"
#include "tfgrpo/secrets.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;

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

bool IsEnvVarName(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

template <typename E>
struct EnumName {
  E value;
  const char* name;
};
constexpr EnumName<TaskMode> kTaskModes[] = {
    {TaskMode::kPrompt, "prompt"}, {TaskMode::kAgent, "agent"}, {TaskMode::kExternal, "external"}};
constexpr EnumName<InjectMode> kInjectModes[] = {{InjectMode::kSystem, "system"}, {InjectMode::kNone, "none"}};
constexpr EnumName<RewardKind> kRewardKinds[] = {{RewardKind::kMath, "math"},
                                                 {RewardKind::kExact, "exact"},
                                                 {RewardKind::kJudge, "judge"},
                                                 {RewardKind::kPython, "python"},
                                                 {RewardKind::kCommand, "command"}};
constexpr EnumName<ToolProtocol> kToolProtocols[] = {{ToolProtocol::kNative, "native"}, {ToolProtocol::kText, "text"}};
constexpr EnumName<SandboxMode> kSandboxModes[] = {{SandboxMode::kBwrap, "bwrap"}, {SandboxMode::kNone, "none"}};
constexpr EnumName<RetrievalMethod> kRetrievalMethods[] = {{RetrievalMethod::kBm25, "bm25"},
                                                           {RetrievalMethod::kEmbeddings, "embeddings"}};

template <typename E, size_t N>
std::string_view NameIn(const EnumName<E> (&table)[N], E value) {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  return "?";
}

// A known key of one mapping and how to read its value.
struct Field {
  const char* name;
  std::function<Status(const YAML::Node& value, const std::string& path)> read;
};

class ConfigParser {
 public:
  explicit ConfigParser(const fs::path& source) : file_(source.string()) {}

  Result<Config> Parse(const std::string& yaml_text, const fs::path& source) {
    YAML::Node root;
    try {
      root = YAML::Load(yaml_text);
    } catch (const YAML::ParserException& e) {
      std::string hint;
      if (yaml_text.find("\n\t") != std::string::npos || StartsWith(yaml_text, "\t")) {
        hint = " (YAML indentation must use spaces, not tabs)";
      }
      return Status::InvalidArgument(At(e.mark) + ": YAML syntax error: " + e.msg + hint);
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(At(e.mark) + ": cannot read YAML: " + e.msg);
    }
    config_.source = source;
    try {
      Status s = ReadMapping(root, "", TopLevelFields());
      if (!s.ok()) return s;
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(At(e.mark) + ": " + e.msg);
    }
    ApplyEnvOverrides();
    try {
      if (Status s = ReadRoleSections(); !s.ok()) return s;
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(At(e.mark) + ": " + e.msg);
    }
    if (Status s = CheckRequired(); !s.ok()) return s;
    if (Status s = CheckRanges(); !s.ok()) return s;
    ResolvePaths(source);
    return std::move(config_);
  }

 private:
  std::string At(const YAML::Mark& mark) const {
    if (mark.line < 0) return file_;
    return file_ + ":" + std::to_string(mark.line + 1);
  }
  // Where the key `path` was written; the bare file name when it came from a default.
  std::string AtKey(const std::string& path) const {
    auto it = key_marks_.find(path);
    return it == key_marks_.end() ? file_ : At(it->second);
  }
  Status TypeError(const YAML::Node& value, const std::string& path, const std::string& expected) const {
    // Empty values carry no position of their own; their key does.
    const std::string where = value.IsNull() || value.Mark().line < 0 ? AtKey(path) : At(value.Mark());
    return Status::InvalidArgument(where + ": " + path + ": expected " + expected + ", got " + Describe(value));
  }
  Status RangeError(const std::string& path, const std::string& requirement, const std::string& got) const {
    return Status::InvalidArgument(AtKey(path) + ": " + path + ": " + requirement + ", got " + got);
  }

  Status ReadMapping(const YAML::Node& node, const std::string& prefix, const std::vector<Field>& fields) {
    if (!node.IsDefined() || node.IsNull()) return Status::Ok();  // empty file or "model:" alone
    if (!node.IsMap()) {
      if (prefix.empty()) {
        return Status::InvalidArgument(At(node.Mark()) +
                                       ": expected a mapping of sections (model, data, task, practice, "
                                       "eval, tools, budget, retrieval, learner, judge, agent), got " + Describe(node));
      }
      return TypeError(node, prefix, "a mapping");
    }
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : Describe(kv.first);
      const std::string path = prefix.empty() ? key : prefix + "." + key;
      auto field = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return key == f.name; });
      if (field == fields.end()) return UnknownKey(kv.first.Mark(), key, path, fields);
      if (!seen.insert(key).second) {
        return Status::InvalidArgument(At(kv.first.Mark()) + ": duplicate key '" + path + "'");
      }
      key_marks_[path] = kv.first.Mark();
      if (Status s = field->read(kv.second, path); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Status UnknownKey(const YAML::Mark& mark, const std::string& key, const std::string& path,
                    const std::vector<Field>& fields) const {
    std::string message = At(mark) + ": unknown key '" + path + "'";
    std::string best;
    size_t best_distance = SIZE_MAX;
    for (const Field& f : fields) {
      size_t d = EditDistance(ToLower(key), f.name);
      if (d < best_distance) best_distance = d, best = f.name;
    }
    // Close enough to be a typo, and not so short that every key is "close".
    if (best_distance <= 2 && best_distance < key.size()) message += "; did you mean '" + best + "'?";
    return Status::InvalidArgument(message);
  }

  // --- scalar readers ---

  Status ReadString(const YAML::Node& v, const std::string& path, std::string* out) {
    if (!v.IsScalar()) return TypeError(v, path, "a string");
    // Strings end up in JSON (run store, requests), which must be UTF-8.
    if (size_t bad = InvalidUtf8Offset(v.Scalar()); bad != std::string_view::npos) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(v.Scalar()[bad]));
      return Status::InvalidArgument(At(v.Mark()) + ": " + path + ": not valid UTF-8 (byte " + hex +
                                     " at offset " + std::to_string(bad) + "); save the file as UTF-8");
    }
    *out = v.Scalar();
    return Status::Ok();
  }
  // One of `table`'s names; anything else is an error listing them.
  template <typename E, size_t N>
  Status ReadEnum(const YAML::Node& v, const std::string& path, const EnumName<E> (&table)[N], E* out) {
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
  Status ReadPath(const YAML::Node& v, const std::string& path, fs::path* out) {
    if (v.IsNull()) {
      out->clear();
      return Status::Ok();
    }
    std::string text;
    Status s = ReadString(v, path, &text);
    if (s.ok()) *out = fs::path(text);
    return s;
  }
  Status ReadStringList(const YAML::Node& v, const std::string& path, std::vector<std::string>* out) {
    if (!v.IsSequence()) return TypeError(v, path, "a list of strings");
    out->clear();
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].IsScalar()) return TypeError(v[i], path + "[" + std::to_string(i) + "]", "a string");
      out->push_back(v[i].Scalar());
    }
    return Status::Ok();
  }
  Status ReadInt(const YAML::Node& v, const std::string& path, int* out) {
    long long n = 0;
    if (!v.IsScalar() || !ParseInteger(v.Scalar(), &n)) return TypeError(v, path, "an integer");
    if (n < INT32_MIN || n > INT32_MAX) return TypeError(v, path, "an integer in 32-bit range");
    *out = static_cast<int>(n);
    return Status::Ok();
  }
  Status ReadUint64(const YAML::Node& v, const std::string& path, uint64_t* out) {
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
  Status ReadDouble(const YAML::Node& v, const std::string& path, double* out) {
    std::string text = v.IsScalar() ? Trim(v.Scalar()) : std::string();
    if (!text.empty() && text[0] == '+') text.erase(0, 1);
    double d = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (!v.IsScalar() || text.empty() || ec != std::errc() || end != text.data() + text.size() ||
        !std::isfinite(d)) {
      return TypeError(v, path, "a number");
    }
    *out = d;
    return Status::Ok();
  }
  Status ReadBool(const YAML::Node& v, const std::string& path, bool* out) {
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
  static bool ParseInteger(const std::string& raw, long long* out) {
    std::string text = Trim(raw);
    if (!text.empty() && text[0] == '+') text.erase(0, 1);
    if (text.empty()) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return ec == std::errc() && end == text.data() + text.size();
  }

  // --- the schema ---

  std::vector<Field> TopLevelFields() {
    auto section = [this](std::vector<Field> (ConfigParser::*fields)()) {
      return [this, fields](const YAML::Node& v, const std::string& path) {
        return ReadMapping(v, path, (this->*fields)());
      };
    };
    return {
        {"model", section(&ConfigParser::ModelFields)},
        // Read after `model` (and its environment overrides), whatever the order in the file.
        {"learner", [this](const YAML::Node& v, const std::string&) { return Defer(v, &learner_node_, &config_.learner_given); }},
        {"judge", [this](const YAML::Node& v, const std::string&) { return Defer(v, &judge_node_, &config_.judge_given); }},
        {"data", section(&ConfigParser::DataFields)},
        {"task", section(&ConfigParser::TaskFields)},
        {"practice", section(&ConfigParser::PracticeFields)},
        {"eval", section(&ConfigParser::EvalFields)},
        {"tools", section(&ConfigParser::ToolsFields)},
        {"budget", section(&ConfigParser::BudgetFields)},
        {"retrieval", section(&ConfigParser::RetrievalFields)},
        {"agent",
         [this](const YAML::Node& v, const std::string& path) {
           config_.agent.given = true;
           return ReadMapping(v, path, AgentFields());
         }},
    };
  }

  static Status Defer(const YAML::Node& v, YAML::Node* keep, bool* given) {
    *keep = v;
    *given = true;
    return Status::Ok();
  }

  // `learner:` and `judge:` start from model's values and take the keys they give.
  Status ReadRoleSections() {
    for (auto [name, node, section] : {std::tuple{"learner", &learner_node_, &config_.learner},
                                       std::tuple{"judge", &judge_node_, &config_.judge}}) {
      *section = config_.model;
      if (!node->IsDefined() || node->IsNull()) continue;
      const bool explicit_key = section->api_key_env_explicit;
      section->api_key_env_explicit = false;
      std::vector<Field> fields = ModelFieldsOf(*section);
      PriceConfig* prices = std::string_view(name) == "learner" ? &config_.learner_price_per_mtok
                                                                : &config_.judge_price_per_mtok;
      fields.push_back({"price_per_mtok", [this, prices](auto& v, auto& p) { return ReadPrices(v, p, prices); }});
      if (Status s = ReadMapping(*node, name, fields); !s.ok()) return s;
      if (!section->api_key_env_explicit) section->api_key_env_explicit = explicit_key;
    }
    // A section without its own prices is billed at budget.price_per_mtok.
    for (PriceConfig* prices : {&config_.learner_price_per_mtok, &config_.judge_price_per_mtok})
      if (!prices->set) *prices = config_.budget.price_per_mtok;
    return Status::Ok();
  }

  // {prompt, cached_prompt, completion} in US dollars per million tokens; cached_prompt defaults
  // to prompt.
  Status ReadPrices(const YAML::Node& v, const std::string& path, PriceConfig* pc) {
    pc->set = true;
    bool cached_given = false;
    Status s = ReadMapping(
        v, path,
        {{"prompt", [this, pc](auto& v2, auto& p2) { return ReadDouble(v2, p2, &pc->prompt); }},
         {"cached_prompt",
          [this, pc, &cached_given](auto& v2, auto& p2) {
            cached_given = true;
            return ReadDouble(v2, p2, &pc->cached_prompt);
          }},
         {"completion", [this, pc](auto& v2, auto& p2) { return ReadDouble(v2, p2, &pc->completion); }}});
    if (s.ok() && !cached_given) pc->cached_prompt = pc->prompt;
    return s;
  }

  std::vector<Field> ModelFields() { return ModelFieldsOf(config_.model); }

  std::vector<Field> ModelFieldsOf(ModelConfig& m) {
    return {
        {"base_url", [this, &m](auto& v, auto& p) { return ReadString(v, p, &m.base_url); }},
        {"name", [this, &m](auto& v, auto& p) { return ReadString(v, p, &m.name); }},
        {"api_key_env",
         [this, &m](auto& v, auto& p) {
           m.api_key_env_explicit = true;
           return ReadString(v, p, &m.api_key_env);
         }},
        {"timeout_s", [this, &m](auto& v, auto& p) { return ReadDouble(v, p, &m.timeout_s); }},
        {"max_retries", [this, &m](auto& v, auto& p) { return ReadInt(v, p, &m.max_retries); }},
        {"concurrency", [this, &m](auto& v, auto& p) { return ReadInt(v, p, &m.concurrency); }},
        {"max_tokens",
         [this, &m](auto& v, auto& p) {
           if (v.IsNull()) {  // "max_tokens:" or "~" leaves it to the server
             m.max_tokens.reset();
             return Status::Ok();
           }
           int n = 0;
           Status s = ReadInt(v, p, &n);
           if (s.ok()) m.max_tokens = n;
           return s;
         }},
    };
  }

  std::vector<Field> DataFields() {
    DataConfig& d = config_.data;
    return {
        {"train", [this, &d](auto& v, auto& p) { return ReadPath(v, p, &d.train); }},
        {"eval", [this, &d](auto& v, auto& p) { return ReadPath(v, p, &d.eval); }},
        {"problem_key", [this, &d](auto& v, auto& p) { return ReadString(v, p, &d.problem_key); }},
        {"answer_key", [this, &d](auto& v, auto& p) { return ReadString(v, p, &d.answer_key); }},
        {"max_task_bytes",
         [this, &d](auto& v, auto& p) {
           uint64_t n = 0;
           Status s = ReadUint64(v, p, &n);
           if (s.ok()) d.max_task_bytes = static_cast<int64_t>(std::min<uint64_t>(n, INT64_MAX));
           return s;
         }},
    };
  }

  std::vector<Field> TaskFields() {
    TaskConfig& t = config_.task;
    return {
        {"mode", [this, &t](auto& v, auto& p) { return ReadEnum(v, p, kTaskModes, &t.mode); }},
        {"reward", [this, &t](auto& v, auto& p) { return ReadEnum(v, p, kRewardKinds, &t.reward); }},
        {"instructions", [this, &t](auto& v, auto& p) { return ReadString(v, p, &t.instructions); }},
        {"max_turns", [this, &t](auto& v, auto& p) { return ReadInt(v, p, &t.max_turns); }},
        {"timeout_s", [this, &t](auto& v, auto& p) { return ReadDouble(v, p, &t.timeout_s); }},
        {"tool_protocol", [this, &t](auto& v, auto& p) { return ReadEnum(v, p, kToolProtocols, &t.tool_protocol); }},
        {"reward_file",
         [this, &t](auto& v, auto& p) {
           std::string text;
           Status s = ReadString(v, p, &text);
           if (s.ok()) t.reward_file = fs::path(text);
           return s;
         }},
        {"reward_function", [this, &t](auto& v, auto& p) { return ReadString(v, p, &t.reward_function); }},
        {"reward_timeout_s", [this, &t](auto& v, auto& p) { return ReadDouble(v, p, &t.reward_timeout_s); }},
        {"reward_workers", [this, &t](auto& v, auto& p) { return ReadInt(v, p, &t.reward_workers); }},
        {"reward_command", [this, &t](auto& v, auto& p) { return ReadStringList(v, p, &t.reward_command); }},
        {"math",
         [this, &t](auto& v, auto& p) {
           return ReadMapping(v, p, {{"precision", [this, &t](auto& v2, auto& p2) {
                                        return ReadInt(v2, p2, &t.math_precision);
                                      }}});
         }},
    };
  }

  std::vector<Field> ToolsFields() {
    ToolsConfig& tc = config_.tools;
    return {
        {"sandbox", [this, &tc](auto& v, auto& p) { return ReadEnum(v, p, kSandboxModes, &tc.sandbox); }},
        {"timeout_s", [this, &tc](auto& v, auto& p) { return ReadDouble(v, p, &tc.timeout_s); }},
        {"memory_mb", [this, &tc](auto& v, auto& p) { return ReadInt(v, p, &tc.memory_mb); }},
        {"allow_subprocess", [this, &tc](auto& v, auto& p) { return ReadBool(v, p, &tc.allow_subprocess); }},
        {"enabled", [this, &tc](auto& v, auto& p) { return ReadToolNames(v, p, &tc.enabled); }},
        {"mcp", [this, &tc](auto& v, auto& p) { return ReadMcpServers(v, p, &tc.mcp); }},
        {"search",
         [this, &tc](auto& v, auto& p) {
           SearchConfig& sc = tc.search;
           return ReadMapping(
               v, p,
               {{"backend", [this, &sc](auto& v2, auto& p2) { return ReadString(v2, p2, &sc.backend); }},
                {"top_k", [this, &sc](auto& v2, auto& p2) { return ReadInt(v2, p2, &sc.top_k); }},
                {"index", [this, &sc](auto& v2, auto& p2) { return ReadPath(v2, p2, &sc.index); }},
                {"url", [this, &sc](auto& v2, auto& p2) { return ReadString(v2, p2, &sc.url); }},
                {"api_key_env", [this, &sc](auto& v2, auto& p2) { return ReadString(v2, p2, &sc.api_key_env); }}});
         }},
        {"browse",
         [this, &tc](auto& v, auto& p) {
           BrowseConfig& bc = tc.browse;
           return ReadMapping(
               v, p,
               {{"max_chars",
                 [this, &bc](auto& v2, auto& p2) {
                   int n = 0;
                   Status s = ReadInt(v2, p2, &n);
                   bc.max_chars = n;
                   return s;
                 }},
                {"allow_private", [this, &bc](auto& v2, auto& p2) { return ReadBool(v2, p2, &bc.allow_private); }},
                {"summarize", [this, &bc](auto& v2, auto& p2) { return ReadBool(v2, p2, &bc.summarize); }}});
         }},
    };
  }

  Status ReadStringMap(const YAML::Node& v, const std::string& path, std::map<std::string, std::string>* out) {
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

  // tools.mcp: a list of servers, each a mapping; errors name the entry ("tools.mcp[1].command").
  Status ReadMcpServers(const YAML::Node& v, const std::string& path, std::vector<McpServerConfig>* out) {
    if (!v.IsSequence()) return TypeError(v, path, "a list of MCP servers ({name, command or url, ...})");
    out->clear();
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string item = path + "[" + std::to_string(i) + "]";
      McpServerConfig server;
      Status s = ReadMapping(
          v[i], item,
          {{"name", [this, &server](auto& v2, auto& p2) { return ReadString(v2, p2, &server.name); }},
           {"command", [this, &server](auto& v2, auto& p2) { return ReadStringList(v2, p2, &server.command); }},
           {"env", [this, &server](auto& v2, auto& p2) { return ReadStringMap(v2, p2, &server.env); }},
           {"allow", [this, &server](auto& v2, auto& p2) { return ReadStringList(v2, p2, &server.allow); }},
           {"url", [this, &server](auto& v2, auto& p2) { return ReadString(v2, p2, &server.url); }},
           {"headers_env",
            [this, &server](auto& v2, auto& p2) { return ReadStringMap(v2, p2, &server.headers_env); }}});
      if (!s.ok()) return s;
      if (!v[i].IsMap()) return TypeError(v[i], item, "a mapping {name, command or url, ...}");
      const std::string where = At(v[i].Mark()) + ": " + item + ": ";
      if (Trim(server.name).empty()) return Status::InvalidArgument(where + "needs a name");
      if (server.command.empty() == server.url.empty())
        return Status::InvalidArgument(where + "needs exactly one of command (stdio) and url (streamable HTTP)");
      for (const auto& other : *out)
        if (other.name == server.name)
          return Status::InvalidArgument(where + "server name '" + server.name + "' is used twice");
      out->push_back(std::move(server));
    }
    return Status::Ok();
  }

  // tools.enabled: built-in tool names, each once; an unknown one is named at its own line.
  Status ReadToolNames(const YAML::Node& v, const std::string& path, std::vector<std::string>* out) {
    static constexpr const char* kBuiltinTools[] = {"python", "search", "browse"};
    if (Status s = ReadStringList(v, path, out); !s.ok()) return s;
    for (size_t i = 0; i < out->size(); ++i) {
      const std::string& name = (*out)[i];
      const std::string where = At(v[i].Mark()) + ": " + path + "[" + std::to_string(i) + "]: ";
      if (std::find(out->begin(), out->begin() + i, name) != out->begin() + i) {
        return Status::InvalidArgument(where + "tool '" + name + "' is listed twice");
      }
      if (std::find(std::begin(kBuiltinTools), std::end(kBuiltinTools), name) != std::end(kBuiltinTools)) continue;
      std::string known, best;
      size_t best_distance = SIZE_MAX;
      for (const char* builtin : kBuiltinTools) {
        known += (known.empty() ? "" : ", ") + std::string(builtin);
        size_t d = EditDistance(ToLower(name), builtin);
        if (d < best_distance) best_distance = d, best = builtin;
      }
      std::string message = where + "unknown tool '" + name + "'; the built-in tools are " + known;
      if (best_distance <= 2 && best_distance < name.size()) message += "; did you mean '" + best + "'?";
      return Status::InvalidArgument(message);
    }
    return Status::Ok();
  }

  std::vector<Field> PracticeFields() {
    PracticeConfig& pr = config_.practice;
    return {
        {"epochs", [this, &pr](auto& v, auto& p) { return ReadInt(v, p, &pr.epochs); }},
        {"batch_size", [this, &pr](auto& v, auto& p) { return ReadInt(v, p, &pr.batch_size); }},
        {"max_experiences", [this, &pr](auto& v, auto& p) { return ReadInt(v, p, &pr.max_experiences); }},
        {"max_proposals_per_call",
         [this, &pr](auto& v, auto& p) { return ReadInt(v, p, &pr.max_proposals_per_call); }},
        {"tool_output_chars", [this, &pr](auto& v, auto& p) { return ReadInt(v, p, &pr.tool_output_chars); }},
        {"trajectory_chars", [this, &pr](auto& v, auto& p) { return ReadInt(v, p, &pr.trajectory_chars); }},
        {"group_size", [this, &pr](auto& v, auto& p) { return ReadInt(v, p, &pr.group_size); }},
        {"rollout_temperature",
         [this, &pr](auto& v, auto& p) { return ReadDouble(v, p, &pr.rollout_temperature); }},
        {"given_ground_truth",
         [this, &pr](auto& v, auto& p) { return ReadBool(v, p, &pr.given_ground_truth); }},
        {"experiences_per_group",
         [this, &pr](auto& v, auto& p) { return ReadInt(v, p, &pr.experiences_per_group); }},
        {"agent_objective", [this, &pr](auto& v, auto& p) { return ReadString(v, p, &pr.agent_objective); }},
        {"learning_objective",
         [this, &pr](auto& v, auto& p) { return ReadString(v, p, &pr.learning_objective); }},
        {"seed", [this, &pr](auto& v, auto& p) { return ReadUint64(v, p, &pr.seed); }},
        {"validation",
         [this, &pr](auto& v, auto& p) {
           ValidationConfig& vc = pr.validation;
           vc.enabled = true;
           return ReadMapping(
               v, p,
               {{"data", [this, &vc](auto& v2, auto& p2) { return ReadPath(v2, p2, &vc.data); }},
                {"tasks", [this, &vc](auto& v2, auto& p2) { return ReadInt(v2, p2, &vc.tasks); }},
                {"k", [this, &vc](auto& v2, auto& p2) { return ReadInt(v2, p2, &vc.k); }},
                {"tolerance", [this, &vc](auto& v2, auto& p2) { return ReadDouble(v2, p2, &vc.tolerance); }}});
         }},
    };
  }

  std::vector<Field> BudgetFields() {
    BudgetConfig& b = config_.budget;
    return {
        {"max_usd",
         [this, &b](auto& v, auto& p) {
           double d = 0;
           Status s = ReadDouble(v, p, &d);
           if (s.ok()) b.max_usd = d;
           return s;
         }},
        {"max_tokens",
         [this, &b](auto& v, auto& p) {
           uint64_t n = 0;
           Status s = ReadUint64(v, p, &n);
           if (s.ok()) b.max_tokens = static_cast<int64_t>(std::min<uint64_t>(n, INT64_MAX));
           return s;
         }},
        {"price_per_mtok", [this, &b](auto& v, auto& p) { return ReadPrices(v, p, &b.price_per_mtok); }},
    };
  }

  std::vector<Field> EvalFields() {
    EvalConfig& e = config_.eval;
    return {
        {"k", [this, &e](auto& v, auto& p) { return ReadInt(v, p, &e.k); }},
        {"temperature", [this, &e](auto& v, auto& p) { return ReadDouble(v, p, &e.temperature); }},
    };
  }

  std::vector<Field> AgentFields() {
    AgentConfig& a = config_.agent;
    return {
        {"command", [this, &a](auto& v, auto& p) { return ReadStringList(v, p, &a.command); }},
        {"url", [this, &a](auto& v, auto& p) { return v.IsNull() ? Status::Ok() : ReadString(v, p, &a.url); }},
        {"timeout_s", [this, &a](auto& v, auto& p) { return ReadDouble(v, p, &a.timeout_s); }},
        {"concurrency", [this, &a](auto& v, auto& p) { return ReadInt(v, p, &a.concurrency); }},
        {"inject", [this, &a](auto& v, auto& p) { return ReadEnum(v, p, kInjectModes, &a.inject); }},
        {"keep_model", [this, &a](auto& v, auto& p) { return ReadBool(v, p, &a.keep_model); }},
        {"keep_temperature", [this, &a](auto& v, auto& p) { return ReadBool(v, p, &a.keep_temperature); }},
        {"sandbox", [this, &a](auto& v, auto& p) { return ReadEnum(v, p, kSandboxModes, &a.sandbox); }},
        {"gateway",
         [this, &a](auto& v, auto& p) {
           GatewayConfig& g = a.gateway;
           return ReadMapping(
               v, p,
               {{"listen", [this, &g](auto& v2, auto& p2) { return ReadString(v2, p2, &g.listen); }},
                {"public_url",
                 [this, &g](auto& v2, auto& p2) { return v2.IsNull() ? Status::Ok() : ReadString(v2, p2, &g.public_url); }}});
         }},
    };
  }

  // task.mode external needs an agent section with exactly one of command and url.
  Status CheckAgent() const {
    const AgentConfig& a = config_.agent;
    const bool external = config_.task.mode == TaskMode::kExternal;
    if (external && !a.given)
      return Status::InvalidArgument(AtKey("task.mode") +
                                     ": task.mode: external needs an `agent:` section (agent.command: the program "
                                     "to run per rollout, or agent.url: an agent service)");
    if (!a.given) return Status::Ok();
    if (a.command.empty() && a.url.empty())
      return Status::InvalidArgument(AtKey("agent") +
                                     ": agent: needs agent.command (a list like [\"node\", \"agent.mjs\"]) or agent.url");
    if (!a.command.empty() && !a.url.empty())
      return Status::InvalidArgument(AtKey("agent.url") + ": agent.url: give agent.command or agent.url, not both");
    if (!a.command.empty() && Trim(a.command[0]).empty())
      return RangeError("agent.command", "the program (first item) must not be empty", "''");
    if (!a.url.empty() && !StartsWith(ToLower(a.url), "http://") && !StartsWith(ToLower(a.url), "https://"))
      return RangeError("agent.url", "expected an http:// or https:// URL", "'" + a.url + "'");
    if (!(a.timeout_s > 0)) return RangeError("agent.timeout_s", "must be greater than 0", nlohmann::json(a.timeout_s).dump());
    if (a.concurrency < 0)
      return RangeError("agent.concurrency", "must be at least 0 (0: model.concurrency)", std::to_string(a.concurrency));
    if (Trim(a.gateway.listen).empty()) return RangeError("agent.gateway.listen", "expected host:port", "''");
    const std::string& pub = a.gateway.public_url;
    if (!pub.empty() && !StartsWith(ToLower(pub), "http://") && !StartsWith(ToLower(pub), "https://"))
      return RangeError("agent.gateway.public_url", "expected an http:// or https:// URL", "'" + pub + "'");
    return Status::Ok();
  }

  std::vector<Field> RetrievalFields() {
    RetrievalConfig& r = config_.retrieval;
    return {
        {"top_k", [this, &r](auto& v, auto& p) { return ReadInt(v, p, &r.top_k); }},
        {"method", [this, &r](auto& v, auto& p) { return ReadEnum(v, p, kRetrievalMethods, &r.method); }},
        {"embeddings", [this, &r](auto& v, auto& p) {
           EmbeddingsConfig& e = r.embeddings;
           // null means "the model section's", as for an absent key.
           auto optional_string = [this](std::string* out) {
             return [this, out](auto& v, auto& p) { return v.IsNull() ? Status::Ok() : ReadString(v, p, out); };
           };
           return ReadMapping(v, p,
                              {{"model", [this, &e](auto& v, auto& p) { return ReadString(v, p, &e.model); }},
                               {"base_url", optional_string(&e.base_url)},
                               {"api_key_env", optional_string(&e.api_key_env)}});
         }},
    };
  }

  // --- after parsing ---

  void ApplyEnvOverrides() {
    if (std::string url = GetEnv("TFGRPO_BASE_URL"); !url.empty()) {
      config_.model.base_url = url;
      overridden_.insert("model.base_url");
    }
    if (std::string name = GetEnv("TFGRPO_MODEL"); !name.empty()) {
      config_.model.name = name;
      overridden_.insert("model.name");
    }
  }

  Status CheckRequired() const {
    for (auto [path, value] : {std::pair{"model.base_url", &config_.model.base_url},
                               std::pair{"model.name", &config_.model.name}}) {
      if (Trim(*value).empty()) {
        return Status::InvalidArgument(file_ + ": missing required key '" + path + "'");
      }
    }
    return Status::Ok();
  }

  Status CheckRetrieval() const {
    const RetrievalConfig& r = config_.retrieval;
    if (r.top_k < 0) return RangeError("retrieval.top_k", "expected 0 (the whole library) or more", std::to_string(r.top_k));
    const std::string& url = r.embeddings.base_url;
    if (!url.empty() && !StartsWith(ToLower(url), "http://") && !StartsWith(ToLower(url), "https://"))
      return RangeError("retrieval.embeddings.base_url", "expected an http:// or https:// URL", "'" + url + "'");
    if (Trim(r.embeddings.model).empty())
      return RangeError("retrieval.embeddings.model", "expected a model name", "an empty string");
    // The value is deliberately not echoed: people sometimes paste the key itself here.
    if (!r.embeddings.api_key_env.empty() && !IsEnvVarName(r.embeddings.api_key_env)) {
      return Status::InvalidArgument(AtKey("retrieval.embeddings.api_key_env") +
                                     ": retrieval.embeddings.api_key_env: expected the name of an environment "
                                     "variable (like TFGRPO_API_KEY), not the key itself");
    }
    return Status::Ok();
  }

  // One model section's values (model, learner, judge): errors name the section.
  Status CheckModelSection(const std::string& name, const ModelConfig& m) const {
    const std::string& url = m.base_url;
    if (!StartsWith(ToLower(url), "http://") && !StartsWith(ToLower(url), "https://")) {
      std::string origin = overridden_.count(name + ".base_url") ? " (from TFGRPO_BASE_URL)" : "";
      return RangeError(name + ".base_url", "expected an http:// or https:// URL" + origin, "'" + url + "'");
    }
    // The value is deliberately not echoed: people sometimes paste the key itself here.
    if (m.api_key_env_explicit && !m.api_key_env.empty() && !IsEnvVarName(m.api_key_env)) {
      return Status::InvalidArgument(AtKey(name + ".api_key_env") + ": " + name +
                                     ".api_key_env: expected the name of an environment "
                                     "variable (like TFGRPO_API_KEY), not the key itself");
    }
    if (!(m.timeout_s > 0))
      return RangeError(name + ".timeout_s", "must be greater than 0", nlohmann::json(m.timeout_s).dump());
    if (m.max_retries < 0) return RangeError(name + ".max_retries", "must be at least 0", std::to_string(m.max_retries));
    if (m.concurrency < 1) return RangeError(name + ".concurrency", "must be at least 1", std::to_string(m.concurrency));
    if (m.max_tokens && *m.max_tokens < 1)
      return RangeError(name + ".max_tokens", "must be at least 1", std::to_string(*m.max_tokens));
    if (Trim(m.name).empty()) return RangeError(name + ".name", "must not be empty", "''");
    return Status::Ok();
  }

  Status CheckRanges() const {
    if (Status s = CheckRetrieval(); !s.ok()) return s;
    if (Status s = CheckAgent(); !s.ok()) return s;
    const ModelConfig& m = config_.model;
    if (Status s = CheckModelSection("model", m); !s.ok()) return s;
    if (config_.learner_given)
      if (Status s = CheckModelSection("learner", config_.learner); !s.ok()) return s;
    if (config_.judge_given)
      if (Status s = CheckModelSection("judge", config_.judge); !s.ok()) return s;
    auto at_least = [&](const std::string& path, long long value, long long min,
                        const std::string& why = "") -> Status {
      if (value >= min) return Status::Ok();
      return RangeError(path, "must be at least " + std::to_string(min) + why, std::to_string(value));
    };
    auto temperature_in_range = [&](const std::string& path, double value) -> Status {
      if (value >= 0 && value <= 2) return Status::Ok();
      return RangeError(path, "must be between 0 and 2", nlohmann::json(value).dump());
    };
    auto one_of = [&](const std::string& path, const std::string& value,
                      std::initializer_list<const char*> allowed) -> Status {
      std::string list;
      for (const char* a : allowed) {
        if (value == a) return Status::Ok();
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      return RangeError(path, "expected one of " + list, "'" + value + "'");
    };
    auto non_empty = [&](const std::string& path, const std::string& value) -> Status {
      if (!Trim(value).empty()) return Status::Ok();
      return RangeError(path, "must not be empty", "''");
    };
    const Status checks[] = {
        m.timeout_s > 0 ? Status::Ok()
                        : RangeError("model.timeout_s", "must be greater than 0", nlohmann::json(m.timeout_s).dump()),
        at_least("model.max_retries", m.max_retries, 0),
        at_least("model.concurrency", m.concurrency, 1),
        m.max_tokens ? at_least("model.max_tokens", *m.max_tokens, 1) : Status::Ok(),
        non_empty("data.problem_key", config_.data.problem_key),
        non_empty("data.answer_key", config_.data.answer_key),
        at_least("data.max_task_bytes", config_.data.max_task_bytes, 1),
        config_.task.reward != RewardKind::kPython || !config_.task.reward_file.empty()
            ? Status::Ok()
            : Status::InvalidArgument(AtKey("task.reward") +
                                      ": task.reward_file: required when task.reward is \"python\" (the .py "
                                      "file holding the reward function, relative to the config file)"),
        config_.task.reward != RewardKind::kCommand || !config_.task.reward_command.empty()
            ? Status::Ok()
            : Status::InvalidArgument(AtKey("task.reward") +
                                      ": task.reward_command: required when task.reward is \"command\" (a "
                                      "list like [\"./score.sh\", \"--strict\"])"),
        config_.task.reward_command.empty() || !Trim(config_.task.reward_command[0]).empty()
            ? Status::Ok()
            : RangeError("task.reward_command", "the program (first item) must not be empty", "''"),
        non_empty("task.reward_function", config_.task.reward_function),
        config_.task.reward_timeout_s > 0 ? Status::Ok()
                                          : RangeError("task.reward_timeout_s", "must be greater than 0",
                                                       nlohmann::json(config_.task.reward_timeout_s).dump()),
        at_least("task.reward_workers", config_.task.reward_workers, 0, " (0 means one per core)"),
        at_least("task.max_turns", config_.task.max_turns, 1),
        config_.task.timeout_s > 0 ? Status::Ok()
                                   : RangeError("task.timeout_s", "must be greater than 0",
                                                nlohmann::json(config_.task.timeout_s).dump()),
        config_.task.math_precision >= 1 && config_.task.math_precision <= 15
            ? Status::Ok()
            : RangeError("task.math.precision", "must be between 1 and 15 (significant digits)",
                         std::to_string(config_.task.math_precision)),
        config_.tools.timeout_s > 0 ? Status::Ok()
                                    : RangeError("tools.timeout_s", "must be greater than 0",
                                                 nlohmann::json(config_.tools.timeout_s).dump()),
        at_least("tools.memory_mb", config_.tools.memory_mb, 64, " (python itself needs some)"),
        at_least("practice.epochs", config_.practice.epochs, 1),
        at_least("practice.batch_size", config_.practice.batch_size, 1),
        at_least("practice.group_size", config_.practice.group_size, 2,
                 " (GRPO compares rollouts within a group)"),
        temperature_in_range("practice.rollout_temperature", config_.practice.rollout_temperature),
        at_least("practice.experiences_per_group", config_.practice.experiences_per_group, 1),
        at_least("practice.max_experiences", config_.practice.max_experiences, 0),
        at_least("practice.max_proposals_per_call", config_.practice.max_proposals_per_call, 1),
        at_least("practice.tool_output_chars", config_.practice.tool_output_chars, 100),
        at_least("practice.trajectory_chars", config_.practice.trajectory_chars, 1000),
        at_least("eval.k", config_.eval.k, 1),
        at_least("practice.validation.tasks", config_.practice.validation.tasks, 1),
        at_least("practice.validation.k", config_.practice.validation.k, 1),
        config_.practice.validation.tolerance >= 0
            ? Status::Ok()
            : RangeError("practice.validation.tolerance", "must be at least 0 (a reward difference)",
                         nlohmann::json(config_.practice.validation.tolerance).dump()),
        CheckBudget(),
        one_of("tools.search.backend", config_.tools.search.backend, {"local", "searxng", "serper"}),
        at_least("tools.search.top_k", config_.tools.search.top_k, 1),
        at_least("tools.browse.max_chars", config_.tools.browse.max_chars, 100),
        temperature_in_range("eval.temperature", config_.eval.temperature),
    };
    for (const Status& s : checks) {
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  Status CheckBudget() const {
    const BudgetConfig& b = config_.budget;
    const PriceConfig& pc = b.price_per_mtok;
    for (auto [section, prices] : {std::pair{"budget", &pc}, std::pair{"learner", &config_.learner_price_per_mtok},
                                   std::pair{"judge", &config_.judge_price_per_mtok}}) {
      const std::string key = std::string(section) + ".price_per_mtok";
      for (auto [field, value] : {std::pair{".prompt", prices->prompt}, std::pair{".cached_prompt", prices->cached_prompt},
                                  std::pair{".completion", prices->completion}}) {
        if (value < 0)
          return RangeError(key + field, "must be at least 0 (US dollars per million tokens)", nlohmann::json(value).dump());
      }
      // Dollar figures sum every section; without the policy's prices they would leave out
      // the rollouts, so a learner or judge price needs budget.price_per_mtok too.
      if (prices->set && !pc.set)
        return Status::InvalidArgument(AtKey(key) + ": " + key +
                                       ": needs budget.price_per_mtok {prompt, cached_prompt, completion} too "
                                       "(the prices of model's calls; 0 for a free local model)");
    }
    if (b.max_usd && *b.max_usd <= 0)
      return RangeError("budget.max_usd", "must be greater than 0 (US dollars)", nlohmann::json(*b.max_usd).dump());
    if (b.max_usd && !pc.set)
      return Status::InvalidArgument(AtKey("budget.max_usd") +
                                     ": budget.max_usd: needs budget.price_per_mtok {prompt, cached_prompt, "
                                     "completion} (US dollars per million tokens) to count spend in dollars");
    if (b.max_tokens && *b.max_tokens < 1)
      return RangeError("budget.max_tokens", "must be at least 1", std::to_string(*b.max_tokens));
    return Status::Ok();
  }

  void ResolvePaths(const fs::path& source) {
    for (fs::path* p : {&config_.data.train, &config_.data.eval, &config_.task.reward_file,
                        &config_.practice.validation.data, &config_.tools.search.index}) {
      if (!p->empty() && p->is_relative()) *p = source.parent_path() / *p;
    }
    // "./agent.sh" runs from the config's folder; "node" stays a PATH lookup.
    std::vector<std::string>& argv = config_.agent.command;
    if (!argv.empty() && argv[0].find('/') != std::string::npos && fs::path(argv[0]).is_relative())
      argv[0] = (source.parent_path() / argv[0]).lexically_normal().string();
  }

  std::string file_;
  Config config_;
  std::map<std::string, YAML::Mark> key_marks_;
  YAML::Node learner_node_, judge_node_;  // read after `model` (ReadRoleSections)
  std::set<std::string> overridden_;
};

// Undoes ResolvePaths: the path as the YAML wrote it when it was relative to the config folder.
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

}  // namespace

std::string_view Name(TaskMode mode) { return NameIn(kTaskModes, mode); }
std::string_view Name(RewardKind kind) { return NameIn(kRewardKinds, kind); }
std::string_view Name(ToolProtocol protocol) { return NameIn(kToolProtocols, protocol); }
std::string_view Name(SandboxMode mode) { return NameIn(kSandboxModes, mode); }
std::string_view Name(RetrievalMethod method) { return NameIn(kRetrievalMethods, method); }
std::string_view Name(InjectMode mode) { return NameIn(kInjectModes, mode); }

std::string Config::ApiKey() const { return ApiKeyFor(model); }

std::string Config::ApiKeyFor(const ModelConfig& section) const {
  auto read = [](const std::string& name) { return name.empty() ? std::string() : Trim(GetEnv(name.c_str())); };
  std::string key = read(section.api_key_env);
  if (key.empty() && !section.api_key_env_explicit) key = read("OPENAI_API_KEY");
  return key;
}

std::vector<std::string> Config::ApiKeys() const {
  std::vector<std::string> keys;
  for (const ModelConfig* m : {&model, &learner, &judge}) {
    std::string key = ApiKeyFor(*m);
    if (!key.empty() && std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
  }
  return keys;
}

Result<Config> ParseConfig(const std::string& yaml_text, const std::filesystem::path& source) {
  ConfigParser parser(source);
  return parser.Parse(yaml_text, source);
}

Result<Config> LoadConfig(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Status::IoError(path.string() + ": is a directory, expected a YAML config file");
  }
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto config = ParseConfig(*text, path);
  // Every command that runs anything starts here: its secrets are known from now on, to every
  // redaction and to every child's environment (tfgrpo/secrets.h).
  if (config.ok()) InstallRunSecrets(CollectSecrets(*config));
  return config;
}

nlohmann::json ConfigFingerprintJson(const Config& c) {
  nlohmann::json j;
  j["model"] = {{"name", c.model.name},
                {"max_tokens", c.model.max_tokens ? nlohmann::json(*c.model.max_tokens) : nlohmann::json()}};
  // Who learns and who grades shape the library; where they are served does not. Only when the
  // section names another model, so run dirs from before these sections still resume.
  if (c.learner_given && c.learner.name != c.model.name) j["learner"] = {{"name", c.learner.name}};
  if (c.judge_given && c.judge.name != c.model.name) j["judge"] = {{"name", c.judge.name}};
  j["data"] = {{"train", PathAsWritten(c.data.train, c.source)},
               {"problem_key", c.data.problem_key},
               {"answer_key", c.data.answer_key}};
  j["task"] = {{"mode", Name(c.task.mode)}, {"reward", Name(c.task.reward)}, {"instructions", c.task.instructions}};
  // Only the scripted rewards add keys, so the fingerprints of existing runs stay as they were.
  if (c.task.reward == RewardKind::kPython) {
    j["task"]["reward_file"] = PathAsWritten(c.task.reward_file, c.source);
    j["task"]["reward_function"] = c.task.reward_function;
  } else if (c.task.reward == RewardKind::kCommand) {
    j["task"]["reward_command"] = c.task.reward_command;
  }
  // Only when set, so fingerprints of runs that never used it stay as they were.
  if (c.task.math_precision != TaskConfig().math_precision) j["task"]["math_precision"] = c.task.math_precision;
  if (c.task.mode == TaskMode::kAgent) {
    j["task"]["max_turns"] = c.task.max_turns;
    j["task"]["tool_protocol"] = Name(c.task.tool_protocol);
    // Only when changed, so run dirs from before tools.enabled existed still resume.
    if (c.tools.enabled != ToolsConfig().enabled) j["tools"]["enabled"] = c.tools.enabled;
  }
  // Which agent runs and what it is shown define the run; where it listens, its timeout and
  // concurrency do not.
  if (c.task.mode == TaskMode::kExternal) {
    j["task"]["max_turns"] = c.task.max_turns;
    std::vector<std::string> command = c.agent.command;
    if (!command.empty() && command[0].find('/') != std::string::npos) command[0] = PathAsWritten(command[0], c.source);
    j["agent"] = {{"command", command}, {"url", c.agent.url}, {"inject", Name(c.agent.inject)},
                  {"keep_model", c.agent.keep_model}, {"keep_temperature", c.agent.keep_temperature}};
  }
  j["practice"] = {{"epochs", c.practice.epochs},
                   {"batch_size", c.practice.batch_size},
                   {"group_size", c.practice.group_size},
                   {"rollout_temperature", c.practice.rollout_temperature},
                   {"given_ground_truth", c.practice.given_ground_truth},
                   {"experiences_per_group", c.practice.experiences_per_group},
                   {"agent_objective", c.practice.agent_objective},
                   {"learning_objective", c.practice.learning_objective},
                   {"seed", c.practice.seed}};
  // Keys added after the first release enter the fingerprint only when they differ from their
  // default, so run dirs created before them still resume.
  if (c.practice.max_experiences != PracticeConfig().max_experiences)
    j["practice"]["max_experiences"] = c.practice.max_experiences;
  if (c.practice.max_proposals_per_call != PracticeConfig().max_proposals_per_call)
    j["practice"]["max_proposals_per_call"] = c.practice.max_proposals_per_call;
  if (c.practice.tool_output_chars != PracticeConfig().tool_output_chars)
    j["practice"]["tool_output_chars"] = c.practice.tool_output_chars;
  if (c.practice.trajectory_chars != PracticeConfig().trajectory_chars)
    j["practice"]["trajectory_chars"] = c.practice.trajectory_chars;
  if (const ValidationConfig& v = c.practice.validation; v.enabled) {
    j["practice"]["validation"] = {{"data", v.data.empty() ? "" : PathAsWritten(v.data, c.source)},
                                   {"tasks", v.tasks},
                                   {"k", v.k},
                                   {"tolerance", v.tolerance},
                                   {"temperature", c.eval.temperature}};
  }
  // Only when on, so run dirs from before retrieval existed still resume. What a rollout sees
  // changes what is learned, so top_k and the ranking are part of the run.
  if (c.retrieval.top_k > 0) {
    j["retrieval"] = {{"top_k", c.retrieval.top_k}, {"method", Name(c.retrieval.method)}};
    if (c.retrieval.method == RetrievalMethod::kEmbeddings) j["retrieval"]["model"] = c.retrieval.embeddings.model;
  }
  return j;
}

}  // namespace tfgrpo
