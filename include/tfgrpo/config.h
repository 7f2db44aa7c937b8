// The run configuration: the YAML file users write (a documented contract), parsed and validated.
// Unknown keys and missing required keys are errors naming the key; paths resolve against the
// config file's folder; TFGRPO_BASE_URL and TFGRPO_MODEL override the model section. Each key is
// declared once in config.cpp (reader, range check, fingerprint rule; docs/config-schema.md);
// its default is the member initializer below.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/status.h"

namespace tfgrpo {

// The string-valued settings, parsed once into enums. Name() gives the YAML spelling (used in
// the fingerprint and in messages).
enum class TaskMode { kPrompt, kAgent, kExternal };
enum class RewardKind { kMath, kExact, kJudge, kPython, kCommand };
enum class ToolProtocol { kNative, kText };
enum class SandboxMode { kBwrap, kNone };
enum class RetrievalMethod { kBm25, kEmbeddings };
enum class InjectMode { kSystem, kNone };
std::string_view Name(TaskMode mode);          // "prompt" | "agent" | "external"
std::string_view Name(RewardKind kind);        // "math" | "exact" | "judge" | "python" | "command"
std::string_view Name(ToolProtocol protocol);  // "native" | "text"
std::string_view Name(SandboxMode mode);       // "bwrap" | "none"
std::string_view Name(RetrievalMethod method); // "bm25" | "embeddings"
std::string_view Name(InjectMode mode);        // "system" | "none"

struct ModelConfig {
  std::string base_url;
  std::string name;
  std::string api_key_env = "TFGRPO_API_KEY";  // falls back to OPENAI_API_KEY when unset
  bool api_key_env_explicit = false;
  double timeout_s = 600;
  int max_retries = 6;
  int concurrency = 64;
  std::optional<int> max_tokens;
};

struct DataConfig {
  std::filesystem::path train;  // empty when not given
  std::filesystem::path eval;
  std::string problem_key = "problem";
  std::string answer_key = "groundtruth";
  int64_t max_task_bytes = 4194304;  // one JSONL line (task) larger than this is an error
};

struct TaskConfig {
  // prompt: one answer per rollout | agent: our ReAct loop with tools | external: a run of the
  // user's own program (the `agent:` section) against the gateway
  TaskMode mode = TaskMode::kPrompt;
  RewardKind reward = RewardKind::kMath;
  std::string instructions = "Solve the problem. Put the final answer in \\boxed{}.";
  int max_turns = 50;                    // agent, external: model calls per rollout
  double timeout_s = 1800;               // agent: wall time per rollout
  ToolProtocol tool_protocol = ToolProtocol::kNative;  // agent: native (OpenAI tools) | text (fenced blocks)
  // reward python: the file (resolved against the config's folder) and the function in it.
  std::filesystem::path reward_file;
  std::string reward_function = "verify";
  double reward_timeout_s = 10;  // python | command: wall-clock limit per score
  int reward_workers = 0;        // python | command: worker processes; 0 = the number of cores
  // reward command: argv; a relative argv[0] containing '/' resolves against the config's folder.
  std::vector<std::string> reward_command;
  int math_precision = 6;  // task.math.precision: significant digits a decimal answer must agree to
};

// One entry of tools.mcp: an MCP server whose tools the agent is offered (docs/mcp.md). Exactly
// one of `command` (stdio) and `url` (streamable HTTP).
struct McpServerConfig {
  std::string name;                                // [A-Za-z0-9_-]{1,64}; used in errors and prefixes
  std::vector<std::string> command;                // stdio: argv, command[0] looked up on PATH
  std::map<std::string, std::string> env;          // stdio: added to (overriding) our environment
  std::vector<std::string> allow;                  // server tool names to offer; empty = all
  std::string url;                                 // streamable HTTP endpoint (http:// or https://)
  std::map<std::string, std::string> headers_env;  // HTTP header name -> env var holding its value
};

// tools.search: the `search` tool's backend.
struct SearchConfig {
  std::string backend = "local";  // local (an index built by `tfgrpo index build`) | searxng | serper
  int top_k = 10;
  std::filesystem::path index;    // local: INDEX.db (also where `browse` looks pages up first)
  std::string url;                // searxng: its base URL; serper: overrides https://google.serper.dev
  std::string api_key_env = "SERPER_API_KEY";  // serper: the env var holding the key
};

// tools.browse: the `browse` tool.
struct BrowseConfig {
  int64_t max_chars = 20000;   // page text returned, at most (bytes, cut on a character)
  bool allow_private = false;  // may fetch loopback, private and link-local addresses
  bool summarize = false;      // an LLM call (role browse) first keeps what serves the goal
};

struct ToolsConfig {
  SandboxMode sandbox = SandboxMode::kBwrap;  // none runs tool code unsandboxed, with a warning
  double timeout_s = 30;          // wall-clock limit per tool call
  int memory_mb = 2048;           // memory of one tool call, all its processes together
  bool allow_subprocess = false;  // false: tool code cannot start processes (seccomp)
  // Agent mode: the built-in tools offered to the model, in this order (python, search, browse);
  // empty = none (an agent that uses only MCP tools, or answers directly).
  std::vector<std::string> enabled = {"python"};
  std::vector<McpServerConfig> mcp;  // agent mode: MCP servers whose tools are offered too
  SearchConfig search;
  BrowseConfig browse;
};

// practice.validation: each step's candidate library is scored on held-out tasks and kept only
// when it does not score worse than the library in force (minus `tolerance`).
struct ValidationConfig {
  bool enabled = false;         // the `practice.validation` section is present
  std::filesystem::path data;   // empty: `tasks` train tasks (chosen with the seed) are held out
  int tasks = 16;               // at most this many validation tasks
  int k = 2;                    // samples per validation task, at eval.temperature
  double tolerance = 0.0;       // accept when candidate >= current - tolerance
};

struct PracticeConfig {
  int epochs = 3;
  int batch_size = 100;
  int group_size = 5;
  double rollout_temperature = 0.7;
  bool given_ground_truth = true;
  int experiences_per_group = 2;
  std::string agent_objective;
  std::string learning_objective;
  uint64_t seed = 42;
  // Most experiences the library may hold after a step (0 = no limit); past it, the lowest
  // helpful-minus-harmful experiences are evicted, oldest first on ties.
  int max_experiences = 64;
  // Most proposals one consolidation (batch_update) call is given; a step with more is
  // consolidated in chunks of at most this many, each against the library the previous produced.
  int max_proposals_per_call = 40;
  // What the summary stage sees of an agent rollout: each tool call's arguments or code, each
  // tool output and each reasoning block up to tool_output_chars characters, the whole transcript
  // up to trajectory_chars (head and tail kept, the middle's size noted).
  int tool_output_chars = 6000;
  int trajectory_chars = 30000;
  ValidationConfig validation;
};

// budget.price_per_mtok (model's calls), learner.price_per_mtok, judge.price_per_mtok: US
// dollars per million tokens.
struct PriceConfig {
  double prompt = 0;
  double cached_prompt = 0;  // defaults to `prompt` when not given
  double completion = 0;
  bool set = false;          // the section was given
};

// budget: limits on what a run may spend; not part of the fingerprint (a run dir may be resumed
// with other limits).
struct BudgetConfig {
  std::optional<double> max_usd;
  std::optional<int64_t> max_tokens;  // prompt + completion tokens of every call sent
  PriceConfig price_per_mtok;
};

struct EvalConfig {
  int k = 32;
  double temperature = 0.3;
};

// retrieval.embeddings: the endpoint that embeds experiences and task texts (POST
// {base_url}/embeddings, the OpenAI shape). Empty base_url / api_key_env: the model section's.
struct EmbeddingsConfig {
  std::string model = "text-embedding-3-small";
  std::string base_url;
  std::string api_key_env;
};

// retrieval: with top_k > 0 each rollout's prompt holds only the top_k experiences most relevant
// to its task text (docs/architecture.md, "Retrieval"); learner prompts still see them all.
struct RetrievalConfig {
  int top_k = 0;  // 0: the whole library in every prompt (the paper's behaviour)
  RetrievalMethod method = RetrievalMethod::kBm25;
  EmbeddingsConfig embeddings;
};

// agent.gateway: where the gateway that external agents call listens while a train/eval runs.
struct GatewayConfig {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 = any free port
  std::string public_url;              // the base URL agents are told (empty: http://<bound address>)
};

// agent: the user's own agent program, run once per rollout when task.mode is external (README,
// "Your own agent"). Exactly one of `command` and `url`.
struct AgentConfig {
  bool given = false;                // the section is present
  // argv, run with the config's folder as working directory; a relative argv[0] containing '/'
  // resolves against the config's folder, a bare name is looked up on PATH.
  std::vector<std::string> command;
  std::string url;                   // or: POST one request per rollout to this agent service
  double timeout_s = 600;            // wall clock per rollout; then the whole process group is killed
  int concurrency = 0;               // agent runs at once; 0 = model.concurrency
  InjectMode inject = InjectMode::kSystem;  // system: the library goes into each call's system message
  bool keep_model = false;           // false: the gateway sends model.name upstream
  bool keep_temperature = false;     // false: practice/eval temperature replaces the agent's
  GatewayConfig gateway;
  SandboxMode sandbox = SandboxMode::kNone;  // none | bwrap (host network kept, privileges dropped)
};

struct Config {
  std::filesystem::path source;  // the YAML file it came from
  ModelConfig model;  // the policy: rollouts, validation and eval samples
  // `learner:` (summary, advantage, group_update, batch_update calls) and `judge:` (task.reward:
  // judge and the browse tool's summarizing call): every key of `model`, each defaulting to
  // model's value (after TFGRPO_BASE_URL / TFGRPO_MODEL, which override `model` only).
  ModelConfig learner;
  ModelConfig judge;
  bool learner_given = false, judge_given = false;  // the section is present
  // learner.price_per_mtok / judge.price_per_mtok: what that section's calls cost; when not
  // given, budget.price_per_mtok (which prices model's calls).
  PriceConfig learner_price_per_mtok;
  PriceConfig judge_price_per_mtok;
  DataConfig data;
  TaskConfig task;
  PracticeConfig practice;
  EvalConfig eval;
  ToolsConfig tools;
  BudgetConfig budget;
  RetrievalConfig retrieval;
  AgentConfig agent;

  // Reads the API key from the configured environment variable (never logged).
  std::string ApiKey() const;
  // The same for a section (model, learner or judge): its api_key_env, else model's rule.
  std::string ApiKeyFor(const ModelConfig& section) const;
  // Every API key the config's sections read: the values to keep out of logs, errors and child
  // environments (one place, for the secrets registry to take).
  std::vector<std::string> ApiKeys() const;
};

// Parses YAML text; `source` names the file in errors and anchors relative paths.
Result<Config> ParseConfig(const std::string& yaml_text, const std::filesystem::path& source);
// LoadConfig also installs the config's secrets as the run's (InstallRunSecrets, secrets.h).
Result<Config> LoadConfig(const std::filesystem::path& path);

// The settings that define a training run's results: data.train (as written in the YAML, i.e.
// relative to the config file's folder when it was relative), the data keys, the task and
// practice sections, model.name and model.max_tokens, and learner.name / judge.name when their
// section is given and names another model. Endpoint, key variable, timeout, retries
// and concurrency are left out, so a resumed run may move endpoint or tune throughput.
nlohmann::json ConfigFingerprintJson(const Config& config);

}  // namespace tfgrpo
