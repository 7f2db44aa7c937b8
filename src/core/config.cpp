#include "tfgrpo/config.h"
#include "tfgrpo/secrets.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "config_schema.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;
// The building blocks (Key, Field, the value readers and range rules) are config_schema.h's.
using namespace config_schema;  // NOLINT(google-build-using-namespace)

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

bool IsEnvVarName(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// The value is deliberately not echoed: people sometimes paste the key itself here.
Status NotAnEnvVarName(const ConfigReader& r, const std::string& path) {
  return r.ErrorAtKey(path, path + ": expected the name of an environment variable (like TFGRPO_API_KEY), not the "
                                   "key itself");
}

// --- the schema: one declaration per key ---

FingerprintRule InAgentMode() {
  return InFingerprint().If([](const Config& c) { return c.task.mode == TaskMode::kAgent; });
}
FingerprintRule InExternalMode() {
  return InFingerprint().If([](const Config& c) { return c.task.mode == TaskMode::kExternal; });
}

// model:, and learner:/judge: through RoleSection.
std::vector<Key<ModelConfig>> ModelKeys() {
  using M = ModelConfig;
  return {
      String("base_url", &M::base_url)
          .Required()
          .Env("TFGRPO_BASE_URL")
          .CheckWith([](const ConfigReader& r, const std::string& path, const M& m) {
            if (IsHttpUrl(m.base_url)) return Status::Ok();
            const char* variable = r.OverriddenBy(path);
            const std::string origin = variable ? " (from " + std::string(variable) + ")" : "";
            return r.RangeError(path, "expected an http:// or https:// URL" + origin, "'" + m.base_url + "'");
          }),
      String("name", &M::name).Required().Env("TFGRPO_MODEL").Check(NotBlank()).Fingerprint(InFingerprint()),
      String("api_key_env", &M::api_key_env)
          .OnRead([](M& m) { m.api_key_env_explicit = true; })
          .CheckWith([](const ConfigReader& r, const std::string& path, const M& m) {
            if (!m.api_key_env_explicit || m.api_key_env.empty() || IsEnvVarName(m.api_key_env)) return Status::Ok();
            return NotAnEnvVarName(r, path);
          }),
      Double("timeout_s", &M::timeout_s).Check(GreaterThanZero()),
      Int("max_retries", &M::max_retries).Check(AtLeast(0)),
      Int("concurrency", &M::concurrency).Check(AtLeast(1)),
      OptionalInt("max_tokens", &M::max_tokens).Check(WhenSet(AtLeast(1))).Fingerprint(InFingerprint()),
  };
}

// {prompt, cached_prompt, completion} in US dollars per million tokens; cached_prompt defaults
// to prompt.
template <typename S>
Key<S> Prices(const char* name, PriceConfig S::*member) {
  using P = PriceConfig;
  const auto dollars = AtLeast(0, " (US dollars per million tokens)");
  Key<S> k = Section<S, P>(name, member,
                           {Double("prompt", &P::prompt).Check(dollars),
                            Double("cached_prompt", &P::cached_prompt).Check(dollars),
                            Double("completion", &P::completion).Check(dollars)});
  k.on_present = [member](S& s) { (s.*member).set = true; };
  k.after_read = [member](ConfigReader& r, const std::string& path, S& s) {
    if (!r.Given(path + ".cached_prompt")) (s.*member).cached_prompt = (s.*member).prompt;
  };
  return k;
}

// learner: and judge: model's keys (each defaulting to model's value, after the environment
// overrides, which apply to model only) and their own price_per_mtok.
Key<Config> RoleSection(const char* name, ModelConfig Config::*role, bool Config::*given,
                        PriceConfig Config::*prices) {
  Key<Config> k;
  k.name = name;
  for (const Key<ModelConfig>& model_key : ModelKeys()) {
    Key<Config> key = Lift(model_key, role);
    key.missing = nullptr;
    key.env = nullptr;
    key.set_from_env = nullptr;
    // Who learns and who grades shape the library; where they are served does not. Only when
    // the section names another model, so run dirs from before these sections still resume.
    key.fingerprint = FingerprintRule{};
    if (model_key.name == "name") {
      key.fingerprint = InFingerprint().If([role, given, value = model_key.fingerprint_value](const Config& c) {
        return c.*given && value(c, c.*role) != value(c, c.model);
      });
    }
    k.keys.push_back(std::move(key));
  }
  Key<Config> price = Prices("price_per_mtok", prices);
  // Dollar figures sum every section; without the policy's prices they would leave out the
  // rollouts, so a learner or judge price needs budget.price_per_mtok too.
  price.check = [prices](const ConfigReader& r, const std::string& path, const Config& c) {
    if (!(c.*prices).set || c.budget.price_per_mtok.set) return Status::Ok();
    return r.ErrorAtKey(path, path + ": needs budget.price_per_mtok {prompt, cached_prompt, completion} too (the "
                                     "prices of model's calls; 0 for a free local model)");
  };
  // Prices taken from budget.price_per_mtok were checked there.
  price.checked_if = [](const ConfigReader& r, const std::string& path, const Config&) { return r.Given(path); };
  k.keys.push_back(std::move(price));
  k.on_present = [given](Config& c) { c.*given = true; };
  k.deferred = true;
  k.prepare = [role](Config& c) {
    c.*role = c.model;
    (c.*role).api_key_env_explicit = false;
  };
  k.after_read = [role, prices](ConfigReader&, const std::string&, Config& c) {
    if (!(c.*role).api_key_env_explicit) (c.*role).api_key_env_explicit = c.model.api_key_env_explicit;
    // A section without its own prices is billed at budget.price_per_mtok.
    if (!(c.*prices).set) c.*prices = c.budget.price_per_mtok;
  };
  k.checked_if = [given](const ConfigReader&, const std::string&, const Config& c) { return c.*given; };
  return k;
}

std::vector<Key<DataConfig>> DataKeys() {
  using D = DataConfig;
  return {
      Path("train", &D::train).Fingerprint(InFingerprint()),
      Path("eval", &D::eval),
      String("problem_key", &D::problem_key).Check(NotBlank()).Fingerprint(InFingerprint()),
      String("answer_key", &D::answer_key).Check(NotBlank()).Fingerprint(InFingerprint()),
      Size("max_task_bytes", &D::max_task_bytes).Check(AtLeast(1)),
  };
}

std::vector<Key<TaskConfig>> TaskKeys() {
  using T = TaskConfig;
  const auto reward_is = [](RewardKind kind) {
    return InFingerprint().If([kind](const Config& c) { return c.task.reward == kind; });
  };
  return {
      // task.mode external needs the agent section: checked with it (BuildSchema).
      Enum("mode", &T::mode, kTaskModes).Fingerprint(InFingerprint()),
      Enum("reward", &T::reward, kRewardKinds)
          .CheckWith([](const ConfigReader& r, const std::string& path, const T& t) {
            if (t.reward == RewardKind::kPython && t.reward_file.empty())
              return r.ErrorAtKey(path, "task.reward_file: required when task.reward is \"python\" (the .py file "
                                        "holding the reward function, relative to the config file)");
            if (t.reward == RewardKind::kCommand && t.reward_command.empty())
              return r.ErrorAtKey(path, "task.reward_command: required when task.reward is \"command\" (a list like "
                                        "[\"./score.sh\", \"--strict\"])");
            return Status::Ok();
          })
          .Fingerprint(InFingerprint()),
      String("instructions", &T::instructions).Fingerprint(InFingerprint()),
      Int("max_turns", &T::max_turns).Check(AtLeast(1)).Fingerprint(InFingerprint().If([](const Config& c) {
        return c.task.mode == TaskMode::kAgent || c.task.mode == TaskMode::kExternal;
      })),
      Double("timeout_s", &T::timeout_s).Check(GreaterThanZero()),
      Enum("tool_protocol", &T::tool_protocol, kToolProtocols).Fingerprint(InAgentMode()),
      RequiredPath("reward_file", &T::reward_file).Fingerprint(reward_is(RewardKind::kPython)),
      String("reward_function", &T::reward_function).Check(NotBlank()).Fingerprint(reward_is(RewardKind::kPython)),
      Double("reward_timeout_s", &T::reward_timeout_s).Check(GreaterThanZero()),
      Int("reward_workers", &T::reward_workers).Check(AtLeast(0, " (0 means one per core)")),
      StringList("reward_command", &T::reward_command)
          .Check(ProgramNotBlank())
          .Fingerprint(reward_is(RewardKind::kCommand)),
      Mapping<T>("math", {Int("precision", &T::math_precision)
                              .Check(Between(1, 15, " (significant digits)"))
                              .Fingerprint(InFingerprint().WhenChanged().As("/task/math_precision"))}),
  };
}

// practice.validation: its presence turns validation on.
std::vector<Key<ValidationConfig>> ValidationKeys() {
  using V = ValidationConfig;
  const FingerprintRule when_on = InFingerprint().If([](const Config& c) { return c.practice.validation.enabled; });
  return {
      Path("data", &V::data).Fingerprint(when_on),
      Int("tasks", &V::tasks).Check(AtLeast(1)).Fingerprint(when_on),
      Int("k", &V::k).Check(AtLeast(1)).Fingerprint(when_on),
      Double("tolerance", &V::tolerance).Check(AtLeast(0, " (a reward difference)")).Fingerprint(when_on),
  };
}

std::vector<Key<PracticeConfig>> PracticeKeys() {
  using P = PracticeConfig;
  // Keys added after the first release enter the fingerprint only when they differ from their
  // default, so run dirs created before them still resume.
  const FingerprintRule when_changed = InFingerprint().WhenChanged();
  Key<P> validation = Section<P, ValidationConfig>("validation", &P::validation, ValidationKeys());
  validation.on_present = [](P& p) { p.validation.enabled = true; };
  return {
      Int("epochs", &P::epochs).Check(AtLeast(1)).Fingerprint(InFingerprint()),
      Int("batch_size", &P::batch_size).Check(AtLeast(1)).Fingerprint(InFingerprint()),
      Int("max_experiences", &P::max_experiences).Check(AtLeast(0)).Fingerprint(when_changed),
      Int("max_proposals_per_call", &P::max_proposals_per_call).Check(AtLeast(1)).Fingerprint(when_changed),
      Int("tool_output_chars", &P::tool_output_chars).Check(AtLeast(100)).Fingerprint(when_changed),
      Int("trajectory_chars", &P::trajectory_chars).Check(AtLeast(1000)).Fingerprint(when_changed),
      Int("group_size", &P::group_size)
          .Check(AtLeast(2, " (GRPO compares rollouts within a group)"))
          .Fingerprint(InFingerprint()),
      Double("rollout_temperature", &P::rollout_temperature).Check(Between(0, 2)).Fingerprint(InFingerprint()),
      Bool("given_ground_truth", &P::given_ground_truth).Fingerprint(InFingerprint()),
      Int("experiences_per_group", &P::experiences_per_group).Check(AtLeast(1)).Fingerprint(InFingerprint()),
      String("agent_objective", &P::agent_objective).Fingerprint(InFingerprint()),
      String("learning_objective", &P::learning_objective).Fingerprint(InFingerprint()),
      Uint64("seed", &P::seed).Fingerprint(InFingerprint()),
      validation,
  };
}

std::vector<Key<EvalConfig>> EvalKeys() {
  using E = EvalConfig;
  return {
      Int("k", &E::k).Check(AtLeast(1)),
      // Validation samples at eval.temperature, so it defines the validation gate's verdicts.
      Double("temperature", &E::temperature)
          .Check(Between(0, 2))
          .Fingerprint(InFingerprint()
                           .If([](const Config& c) { return c.practice.validation.enabled; })
                           .As("/practice/validation/temperature")),
  };
}

// tools.enabled: built-in tool names, each once; an unknown one is named at its own line.
Status ReadToolNames(ConfigReader& r, const YAML::Node& v, const std::string& path, std::vector<std::string>* out) {
  static constexpr const char* kBuiltinTools[] = {"python", "search", "browse"};
  if (Status s = r.ReadStringList(v, path, out); !s.ok()) return s;
  for (size_t i = 0; i < out->size(); ++i) {
    const std::string& name = (*out)[i];
    const std::string where = r.At(v[i].Mark()) + ": " + path + "[" + std::to_string(i) + "]: ";
    if (std::find(out->begin(), out->begin() + i, name) != out->begin() + i) {
      return Status::InvalidArgument(where + "tool '" + name + "' is listed twice");
    }
    if (std::find(std::begin(kBuiltinTools), std::end(kBuiltinTools), name) != std::end(kBuiltinTools)) continue;
    std::string known, best;
    size_t best_distance = SIZE_MAX;
    for (const char* builtin : kBuiltinTools) {
      known += (known.empty() ? "" : ", ") + std::string(builtin);
      size_t d = config_schema::EditDistance(ToLower(name), builtin);
      if (d < best_distance) best_distance = d, best = builtin;
    }
    std::string message = where + "unknown tool '" + name + "'; the built-in tools are " + known;
    if (best_distance <= 2 && best_distance < name.size()) message += "; did you mean '" + best + "'?";
    return Status::InvalidArgument(message);
  }
  return Status::Ok();
}

std::vector<Key<McpServerConfig>> McpServerKeys() {
  using M = McpServerConfig;
  return {
      String("name", &M::name),        StringList("command", &M::command), StringMap("env", &M::env),
      StringList("allow", &M::allow),  String("url", &M::url),             StringMap("headers_env", &M::headers_env),
  };
}

// tools.mcp: a list of servers, each a mapping; errors name the entry ("tools.mcp[1].command").
Status ReadMcpServers(ConfigReader& r, const YAML::Node& v, const std::string& path,
                      std::vector<McpServerConfig>* out) {
  if (!v.IsSequence()) return r.TypeError(v, path, "a list of MCP servers ({name, command or url, ...})");
  static const std::vector<Key<McpServerConfig>> keys = McpServerKeys();
  out->clear();
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string item = path + "[" + std::to_string(i) + "]";
    McpServerConfig server;
    if (Status s = config_schema::ReadKeys(r, v[i], item, keys, server); !s.ok()) return s;
    if (!v[i].IsMap()) return r.TypeError(v[i], item, "a mapping {name, command or url, ...}");
    const std::string where = r.At(v[i].Mark()) + ": " + item + ": ";
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

std::vector<Key<ToolsConfig>> ToolsKeys() {
  using T = ToolsConfig;
  using Search = SearchConfig;
  using Browse = BrowseConfig;
  return {
      Enum("sandbox", &T::sandbox, kSandboxModes),
      Double("timeout_s", &T::timeout_s).Check(GreaterThanZero()),
      Int("memory_mb", &T::memory_mb).Check(AtLeast(64, " (python itself needs some)")),
      Bool("allow_subprocess", &T::allow_subprocess),
      // Only when changed, so run dirs from before tools.enabled existed still resume.
      Value("enabled", &T::enabled, ReadToolNames).Fingerprint(InAgentMode().WhenChanged()),
      Value("mcp", &T::mcp, ReadMcpServers),
      Section<T, Search>("search", &T::search,
                         {String("backend", &Search::backend).Check(OneOf({"local", "searxng", "serper"})),
                          Int("top_k", &Search::top_k).Check(AtLeast(1)), Path("index", &Search::index),
                          String("url", &Search::url), String("api_key_env", &Search::api_key_env)}),
      Section<T, Browse>("browse", &T::browse,
                         {Int32As64("max_chars", &Browse::max_chars).Check(AtLeast(100)),
                          Bool("allow_private", &Browse::allow_private), Bool("summarize", &Browse::summarize)}),
  };
}

std::vector<Key<BudgetConfig>> BudgetKeys() {
  using B = BudgetConfig;
  return {
      OptionalDouble("max_usd", &B::max_usd)
          .Check(WhenSet(GreaterThanZero(" (US dollars)")))
          .CheckWith([](const ConfigReader& r, const std::string& path, const B& b) {
            if (!b.max_usd || b.price_per_mtok.set) return Status::Ok();
            return r.ErrorAtKey(path, path + ": needs budget.price_per_mtok {prompt, cached_prompt, completion} (US "
                                             "dollars per million tokens) to count spend in dollars");
          }),
      OptionalSize("max_tokens", &B::max_tokens).Check(WhenSet(AtLeast(1))),
      Prices("price_per_mtok", &B::price_per_mtok),
  };
}

// Only when on, so run dirs from before retrieval existed still resume. What a rollout sees
// changes what is learned, so top_k and the ranking are part of the run.
std::vector<Key<RetrievalConfig>> RetrievalKeys() {
  using R = RetrievalConfig;
  using E = EmbeddingsConfig;
  const FingerprintRule when_on = InFingerprint().If([](const Config& c) { return c.retrieval.top_k > 0; });
  return {
      Int("top_k", &R::top_k)
          .Check([](const int& v) -> std::optional<Violation> {
            if (v >= 0) return std::nullopt;
            return Violation{"expected 0 (the whole library) or more", std::to_string(v)};
          })
          .Fingerprint(when_on),
      Enum("method", &R::method, kRetrievalMethods).Fingerprint(when_on),
      Section<R, E>(
          "embeddings", &R::embeddings,
          {String("model", &E::model)
               .Check([](const std::string& v) -> std::optional<Violation> {
                 if (!Trim(v).empty()) return std::nullopt;
                 return Violation{"expected a model name", "an empty string"};
               })
               .Fingerprint(InFingerprint()
                                .If([](const Config& c) {
                                  return c.retrieval.top_k > 0 && c.retrieval.method == RetrievalMethod::kEmbeddings;
                                })
                                .As("/retrieval/model")),
           // Empty: the model section's.
           StringOrEmpty("base_url", &E::base_url).Check(HttpUrlOrEmpty()),
           StringOrEmpty("api_key_env", &E::api_key_env)
               .CheckWith([](const ConfigReader& r, const std::string& path, const E& e) {
                 if (e.api_key_env.empty() || IsEnvVarName(e.api_key_env)) return Status::Ok();
                 return NotAnEnvVarName(r, path);
               })}),
  };
}

// agent: which agent runs and what it is shown define the run (in external mode); where it
// listens, its timeout and concurrency do not.
std::vector<Key<AgentConfig>> AgentKeys() {
  using A = AgentConfig;
  using G = GatewayConfig;
  return {
      StringList("command", &A::command)
          .Check(ProgramNotBlank())
          .Fingerprint(InExternalMode())
          .FingerprintValue([](const Config& c, const A& a) {
            std::vector<std::string> command = a.command;
            if (!command.empty() && command[0].find('/') != std::string::npos)
              command[0] = config_schema::PathAsWritten(command[0], c.source);
            return nlohmann::json(command);
          })
          // "./agent.sh" runs from the config's folder; "node" stays a PATH lookup.
          .Resolve([](const fs::path& folder, std::vector<std::string>& argv) {
            if (!argv.empty() && argv[0].find('/') != std::string::npos && fs::path(argv[0]).is_relative())
              argv[0] = (folder / argv[0]).lexically_normal().string();
          }),
      StringOrEmpty("url", &A::url).Check(HttpUrlOrEmpty()).Fingerprint(InExternalMode()),
      Double("timeout_s", &A::timeout_s).Check(GreaterThanZero()),
      Int("concurrency", &A::concurrency).Check(AtLeast(0, " (0: model.concurrency)")),
      Enum("inject", &A::inject, kInjectModes).Fingerprint(InExternalMode()),
      Bool("keep_model", &A::keep_model).Fingerprint(InExternalMode()),
      Bool("keep_temperature", &A::keep_temperature).Fingerprint(InExternalMode()),
      Enum("sandbox", &A::sandbox, kSandboxModes),
      Section<A, G>("gateway", &A::gateway,
                    {String("listen", &G::listen).Check([](const std::string& v) -> std::optional<Violation> {
                       if (!Trim(v).empty()) return std::nullopt;
                       return Violation{"expected host:port", "''"};
                     }),
                     StringOrEmpty("public_url", &G::public_url).Check(HttpUrlOrEmpty())}),
  };
}

// The whole file, in the order the top-level error lists the sections.
std::vector<Key<Config>> BuildSchema() {
  Key<Config> agent = Section<Config, AgentConfig>("agent", &Config::agent, AgentKeys());
  agent.on_present = [](Config& c) { c.agent.given = true; };
  // Its keys' checks pass on their defaults, so they need no gate when the section is absent.
  agent.check = [](const ConfigReader& r, const std::string& path, const Config& c) {
    const AgentConfig& a = c.agent;
    if (!a.given && c.task.mode == TaskMode::kExternal)
      return r.ErrorAtKey("task.mode", "task.mode: external needs an `agent:` section (agent.command: the program "
                                       "to run per rollout, or agent.url: an agent service)");
    if (!a.given) return Status::Ok();
    if (a.command.empty() && a.url.empty())
      return r.ErrorAtKey(path, "agent: needs agent.command (a list like [\"node\", \"agent.mjs\"]) or agent.url");
    if (!a.command.empty() && !a.url.empty())
      return r.ErrorAtKey("agent.url", "agent.url: give agent.command or agent.url, not both");
    return Status::Ok();
  };
  return {
      Section<Config, ModelConfig>("model", &Config::model, ModelKeys()),
      Section<Config, DataConfig>("data", &Config::data, DataKeys()),
      Section<Config, TaskConfig>("task", &Config::task, TaskKeys()),
      Section<Config, PracticeConfig>("practice", &Config::practice, PracticeKeys()),
      Section<Config, EvalConfig>("eval", &Config::eval, EvalKeys()),
      Section<Config, ToolsConfig>("tools", &Config::tools, ToolsKeys()),
      Section<Config, BudgetConfig>("budget", &Config::budget, BudgetKeys()),
      Section<Config, RetrievalConfig>("retrieval", &Config::retrieval, RetrievalKeys()),
      RoleSection("learner", &Config::learner, &Config::learner_given, &Config::learner_price_per_mtok),
      RoleSection("judge", &Config::judge, &Config::judge_given, &Config::judge_price_per_mtok),
      agent,
  };
}

}  // namespace

const std::vector<config_schema::Key<Config>>& config_schema::Schema() {
  static const std::vector<Key<Config>> schema = BuildSchema();
  return schema;
}

namespace {

// When a file has several range errors, the first in this order of sections is reported (the
// order of the checks before the schema was declared once). A section left out is checked last.
const std::vector<config_schema::Key<Config>>& SchemaInCheckOrder() {
  static const std::vector<config_schema::Key<Config>> ordered = [] {
    static constexpr std::string_view kOrder[] = {"retrieval", "agent", "model", "learner", "judge", "data",
                                                  "task",      "tools", "practice", "eval", "budget"};
    auto rank = [](const config_schema::Key<Config>& k) {
      return std::find(std::begin(kOrder), std::end(kOrder), k.name) - std::begin(kOrder);
    };
    std::vector<config_schema::Key<Config>> keys = config_schema::Schema();
    std::stable_sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
    return keys;
  }();
  return ordered;
}

}  // namespace

std::string_view Name(TaskMode mode) { return config_schema::NameIn(kTaskModes, mode); }
std::string_view Name(RewardKind kind) { return config_schema::NameIn(kRewardKinds, kind); }
std::string_view Name(ToolProtocol protocol) { return config_schema::NameIn(kToolProtocols, protocol); }
std::string_view Name(SandboxMode mode) { return config_schema::NameIn(kSandboxModes, mode); }
std::string_view Name(RetrievalMethod method) { return config_schema::NameIn(kRetrievalMethods, method); }
std::string_view Name(InjectMode mode) { return config_schema::NameIn(kInjectModes, mode); }

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
  Config config;
  config.source = source;
  ConfigReader reader(source, &config);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    std::string hint;
    if (yaml_text.find("\n\t") != std::string::npos || StartsWith(yaml_text, "\t")) {
      hint = " (YAML indentation must use spaces, not tabs)";
    }
    return Status::InvalidArgument(reader.At(e.mark) + ": YAML syntax error: " + e.msg + hint);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(reader.At(e.mark) + ": cannot read YAML: " + e.msg);
  }
  const std::vector<config_schema::Key<Config>>& schema = config_schema::Schema();
  try {
    if (Status s = config_schema::ReadKeys(reader, root, "", schema, config); !s.ok()) return s;
    config_schema::ApplyEnvironment(reader, "", schema, config);
    // learner/judge start from model's values as the environment left them.
    if (Status s = config_schema::ReadDeferred(reader, schema, config); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(reader.At(e.mark) + ": " + e.msg);
  }
  if (Status s = config_schema::CheckRequired(reader, "", schema, config); !s.ok()) return s;
  if (Status s = config_schema::CheckKeys(reader, "", SchemaInCheckOrder(), config); !s.ok()) return s;
  config_schema::ResolvePaths(source.parent_path(), schema, config);
  return config;
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
  config_schema::AddFingerprint(c, "", config_schema::Schema(), c, j);
  return j;
}

}  // namespace tfgrpo
