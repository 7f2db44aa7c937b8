// Pins what the config reader produces today, so the schema can be restructured without changing
// a byte of it: every parsed field and the exact fingerprint of representative configs (the
// examples and configs that reach each section), and the exact text of the errors users see.
//
// The expected values live in tests/core/golden/config/<case>.json. They are the contract, not a
// convenience: a diff there is a change users see (a fingerprint change refuses to resume every
// existing run dir). After a deliberate change, regenerate them with
//   TFGRPO_UPDATE_GOLDEN=1 build/test_core --gtest_filter='ConfigPinned*'
// and review the diff.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/config.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSourceDir = TFGRPO_SOURCE_DIR;
const fs::path kGoldenDir = kSourceDir / "tests/core/golden/config";

json Prices(const PriceConfig& p) {
  return {{"prompt", p.prompt}, {"cached_prompt", p.cached_prompt}, {"completion", p.completion}, {"set", p.set}};
}

json Model(const ModelConfig& m) {
  return {{"base_url", m.base_url},
          {"name", m.name},
          {"api_key_env", m.api_key_env},
          {"api_key_env_explicit", m.api_key_env_explicit},
          {"timeout_s", m.timeout_s},
          {"max_retries", m.max_retries},
          {"concurrency", m.concurrency},
          {"max_tokens", m.max_tokens ? json(*m.max_tokens) : json()}};
}

// Every field of Config, written out by hand (not through the schema under test).
json Dump(const Config& c) {
  json j;
  j["source"] = c.source.generic_string();
  j["model"] = Model(c.model);
  j["learner"] = Model(c.learner);
  j["judge"] = Model(c.judge);
  j["learner_given"] = c.learner_given;
  j["judge_given"] = c.judge_given;
  j["learner_price_per_mtok"] = Prices(c.learner_price_per_mtok);
  j["judge_price_per_mtok"] = Prices(c.judge_price_per_mtok);
  j["data"] = {{"train", c.data.train.generic_string()},
               {"eval", c.data.eval.generic_string()},
               {"problem_key", c.data.problem_key},
               {"answer_key", c.data.answer_key},
               {"max_task_bytes", c.data.max_task_bytes}};
  const TaskConfig& t = c.task;
  j["task"] = {{"mode", Name(t.mode)},
               {"reward", Name(t.reward)},
               {"instructions", t.instructions},
               {"max_turns", t.max_turns},
               {"timeout_s", t.timeout_s},
               {"tool_protocol", Name(t.tool_protocol)},
               {"reward_file", t.reward_file.generic_string()},
               {"reward_function", t.reward_function},
               {"reward_timeout_s", t.reward_timeout_s},
               {"reward_workers", t.reward_workers},
               {"reward_command", t.reward_command},
               {"math_precision", t.math_precision}};
  const PracticeConfig& p = c.practice;
  j["practice"] = {{"epochs", p.epochs},
                   {"batch_size", p.batch_size},
                   {"group_size", p.group_size},
                   {"rollout_temperature", p.rollout_temperature},
                   {"given_ground_truth", p.given_ground_truth},
                   {"experiences_per_group", p.experiences_per_group},
                   {"agent_objective", p.agent_objective},
                   {"learning_objective", p.learning_objective},
                   {"seed", p.seed},
                   {"max_experiences", p.max_experiences},
                   {"max_proposals_per_call", p.max_proposals_per_call},
                   {"tool_output_chars", p.tool_output_chars},
                   {"trajectory_chars", p.trajectory_chars},
                   {"validation",
                    {{"enabled", p.validation.enabled},
                     {"data", p.validation.data.generic_string()},
                     {"tasks", p.validation.tasks},
                     {"k", p.validation.k},
                     {"tolerance", p.validation.tolerance}}}};
  j["eval"] = {{"k", c.eval.k}, {"temperature", c.eval.temperature}};
  const ToolsConfig& tc = c.tools;
  json mcp = json::array();
  for (const McpServerConfig& s : tc.mcp) {
    mcp.push_back({{"name", s.name},
                   {"command", s.command},
                   {"env", s.env},
                   {"allow", s.allow},
                   {"url", s.url},
                   {"headers_env", s.headers_env}});
  }
  j["tools"] = {{"sandbox", Name(tc.sandbox)},
                {"timeout_s", tc.timeout_s},
                {"memory_mb", tc.memory_mb},
                {"allow_subprocess", tc.allow_subprocess},
                {"enabled", tc.enabled},
                {"mcp", mcp},
                {"search",
                 {{"backend", tc.search.backend},
                  {"top_k", tc.search.top_k},
                  {"index", tc.search.index.generic_string()},
                  {"url", tc.search.url},
                  {"api_key_env", tc.search.api_key_env}}},
                {"browse",
                 {{"max_chars", tc.browse.max_chars},
                  {"allow_private", tc.browse.allow_private},
                  {"summarize", tc.browse.summarize}}}};
  j["budget"] = {{"max_usd", c.budget.max_usd ? json(*c.budget.max_usd) : json()},
                 {"max_tokens", c.budget.max_tokens ? json(*c.budget.max_tokens) : json()},
                 {"price_per_mtok", Prices(c.budget.price_per_mtok)}};
  j["retrieval"] = {{"top_k", c.retrieval.top_k},
                    {"method", Name(c.retrieval.method)},
                    {"embeddings",
                     {{"model", c.retrieval.embeddings.model},
                      {"base_url", c.retrieval.embeddings.base_url},
                      {"api_key_env", c.retrieval.embeddings.api_key_env}}}};
  const AgentConfig& a = c.agent;
  j["agent"] = {{"given", a.given},
                {"command", a.command},
                {"url", a.url},
                {"timeout_s", a.timeout_s},
                {"concurrency", a.concurrency},
                {"inject", Name(a.inject)},
                {"keep_model", a.keep_model},
                {"keep_temperature", a.keep_temperature},
                {"gateway", {{"listen", a.gateway.listen}, {"public_url", a.gateway.public_url}}},
                {"sandbox", Name(a.sandbox)}};
  return j;
}

// Clears the variables the config reads (and puts them back), as ConfigTest does.
class ConfigPinned : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"TFGRPO_BASE_URL", "TFGRPO_MODEL", "TFGRPO_API_KEY", "OPENAI_API_KEY"}) {
      const char* v = std::getenv(name);
      saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
      unsetenv(name);
    }
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

  // Parses `yaml` as if it were the file `source` and compares every field and the fingerprint
  // with tests/core/golden/config/<name>.json.
  static void ExpectPinned(const std::string& name, const std::string& yaml, const fs::path& source) {
    auto r = ParseConfig(yaml, source);
    ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    const json actual = {{"fingerprint", ConfigFingerprintJson(*r).dump()}, {"values", Dump(*r)}};
    const fs::path golden = kGoldenDir / (name + ".json");
    if (std::getenv("TFGRPO_UPDATE_GOLDEN")) {
      fs::create_directories(kGoldenDir);
      std::ofstream(golden) << actual.dump(2) << "\n";
      return;
    }
    auto text = ReadFile(golden);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    const json expected = json::parse(*text);
    // The fingerprint as the exact string the run store hashes; the values field by field.
    EXPECT_EQ(actual["fingerprint"], expected["fingerprint"]) << name;
    EXPECT_EQ(actual["values"].dump(2), expected["values"].dump(2)) << name;
  }

  static void ExpectExample(const std::string& name, const std::string& relative) {
    auto text = ReadFile(kSourceDir / relative);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    ExpectPinned(name, *text, relative);  // a relative source, so paths are the same on every machine
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

constexpr const char* kModel = "model:\n  base_url: http://127.0.0.1:8000/v1\n  name: m\n";

TEST_F(ConfigPinned, Examples) {
  ExpectExample("example_sim", "examples/sim/config.yaml");
  ExpectExample("example_classify", "examples/classify/config.yaml");
  ExpectExample("example_code", "examples/code/config.yaml");
  ExpectExample("example_math_practice", "examples/math/practice.yaml");
  ExpectExample("example_math_eval_aime24", "examples/math/eval-aime24.yaml");
  ExpectExample("example_web", "examples/web/config.yaml");
  ExpectExample("example_web_eval", "examples/web/eval.yaml");
  ExpectExample("example_agents_openai_sdk", "examples/agents/openai-sdk/tfgrpo.yaml");
  ExpectExample("example_agents_python", "examples/agents/python/tfgrpo.yaml");
}

TEST_F(ConfigPinned, Minimal) { ExpectPinned("minimal", kModel, "config.yaml"); }

TEST_F(ConfigPinned, LearnerAndJudgeSections) {
  ExpectPinned("learner_judge", R"(model:
  base_url: http://127.0.0.1:8000/v1
  name: cheap
  api_key_env: POLICY_KEY
  max_tokens: 2048
learner:
  base_url: "https://api.deepseek.com/v1"
  name: "deepseek-reasoner"
  api_key_env: "DEEPSEEK_API_KEY"
  timeout_s: 900
  max_retries: 2
  concurrency: 16
  max_tokens: 8192
  price_per_mtok: {prompt: 0.5, completion: 2}
judge:
  name: "gpt-4.1-mini"
budget:
  max_usd: 12.5
  max_tokens: 5000000
  price_per_mtok: {prompt: 0.1, cached_prompt: 0.01, completion: 0.4}
data:
  train: t.jsonl
)",
               "runs/cfg/config.yaml");
  // Sections given with model's name, or with no keys: nothing of theirs enters the fingerprint.
  ExpectPinned("learner_judge_same_model",
               std::string(kModel) + "learner:\n  name: m\n  timeout_s: 5\njudge:\n", "config.yaml");
}

TEST_F(ConfigPinned, ExternalAgent) {
  ExpectPinned("external_command", std::string(kModel) + R"(data:
  train: data/train.jsonl
task:
  mode: external
  max_turns: 7
agent:
  command: ["./agents/run.sh", "--fast"]
  timeout_s: 120
  concurrency: 3
  inject: none
  keep_model: true
  keep_temperature: true
  sandbox: bwrap
  gateway:
    listen: "0.0.0.0:9000"
    public_url: "http://host.docker.internal:9000"
)",
               "exp/config.yaml");
  ExpectPinned("external_url", std::string(kModel) + R"(task:
  mode: external
agent:
  url: "http://127.0.0.1:7000/run"
  gateway:
    public_url: ~
)",
               "config.yaml");
  // An agent section read but not used: task.mode prompt leaves it out of the fingerprint.
  ExpectPinned("agent_section_unused", std::string(kModel) + "agent:\n  command: [node, a.mjs]\n", "config.yaml");
}

TEST_F(ConfigPinned, Retrieval) {
  ExpectPinned("retrieval_embeddings", std::string(kModel) + R"(retrieval:
  top_k: 4
  method: embeddings
  embeddings:
    model: "bge-small"
    base_url: "http://127.0.0.1:9100/v1"
    api_key_env: EMBED_KEY
)",
               "config.yaml");
  ExpectPinned("retrieval_bm25", std::string(kModel) + "retrieval:\n  top_k: 2\n  embeddings:\n    base_url: ~\n",
               "config.yaml");
}

TEST_F(ConfigPinned, EveryKeyOfEverySection) {
  ExpectPinned("every_key", R"(model:
  base_url: "https://api.example.com/v1"
  name: "policy"
  api_key_env: "MY_KEY"
  timeout_s: 120.5
  max_retries: 3
  concurrency: 16
  max_tokens: 4096
data:
  train: "sets/train.jsonl"
  eval: "/abs/eval.jsonl"
  problem_key: "question"
  answer_key: "answer"
  max_task_bytes: 1000
task:
  mode: agent
  reward: python
  instructions: "Think, then answer."
  max_turns: 9
  timeout_s: 99.5
  tool_protocol: text
  reward_file: "score/verify.py"
  reward_function: "grade"
  reward_timeout_s: 3
  reward_workers: 2
  reward_command: ["./score.sh", "--strict"]
  math:
    precision: 9
practice:
  epochs: 2
  batch_size: 50
  max_experiences: 10
  max_proposals_per_call: 12
  tool_output_chars: 800
  trajectory_chars: 9000
  group_size: 8
  rollout_temperature: 1.25
  given_ground_truth: false
  experiences_per_group: 3
  agent_objective: "solve"
  learning_objective: "learn"
  seed: 18446744073709551615
  validation:
    data: "held/out.jsonl"
    tasks: 5
    k: 3
    tolerance: 0.05
eval:
  k: 4
  temperature: 0.9
tools:
  sandbox: none
  timeout_s: 12
  memory_mb: 512
  allow_subprocess: true
  enabled: [browse, python, search]
  mcp:
    - name: files
      command: ["mcp-files", "--root", "/tmp"]
      env: {ROOT: /tmp, MODE: ro}
      allow: [read, list]
    - name: remote
      url: "https://mcp.example.com/mcp"
      headers_env: {Authorization: MCP_TOKEN}
  search:
    backend: searxng
    top_k: 3
    index: "idx/INDEX.db"
    url: "http://127.0.0.1:8888"
    api_key_env: "SEARCH_KEY"
  browse:
    max_chars: 5000
    allow_private: true
    summarize: true
budget:
  max_usd: 3
  max_tokens: 1000000
  price_per_mtok:
    prompt: 1.5
    completion: 6
retrieval:
  top_k: 6
  method: bm25
  embeddings:
    model: "emb"
)",
               "/runs/every/config.yaml");
  // The same with a command reward and the validation set drawn from train.
  ExpectPinned("command_reward",
               std::string(kModel) +
                   "task:\n  reward: command\n  reward_command: [\"bin/score\", \"-q\"]\n"
                   "practice:\n  validation:\n    tasks: 4\n",
               "cfg/config.yaml");
}

TEST_F(ConfigPinned, EnvironmentOverrides) {
  setenv("TFGRPO_BASE_URL", "http://10.0.0.2:9000/v1", 1);
  setenv("TFGRPO_MODEL", "override", 1);
  ExpectPinned("environment_override", std::string(kModel) + "learner:\n  concurrency: 2\n", "config.yaml");
}

// The exact text of the errors users see: unknown keys with their line, wrong types, ranges,
// the section named in learner/judge errors, agent errors.
TEST_F(ConfigPinned, ErrorMessages) {
  const std::string m = kModel;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "config.yaml: missing required key 'model.base_url'"},
      {"model:\n  base_url: http://x/v1\n", "config.yaml: missing required key 'model.name'"},
      {"- a\n", "config.yaml:1: expected a mapping of sections (model, data, task, practice, eval, tools, budget, "
                "retrieval, learner, judge, agent), got a list"},
      {"model:\n  base_url: http://x\n  nmae: m\n", "config.yaml:3: unknown key 'model.nmae'; did you mean 'name'?"},
      {m + "modle:\n  x: 1\n", "config.yaml:4: unknown key 'modle'; did you mean 'model'?"},
      {m + "eval:\n  completely_different: 1\n", "config.yaml:5: unknown key 'eval.completely_different'"},
      {m + "practice:\n  validation:\n    taks: 3\n",
       "config.yaml:6: unknown key 'practice.validation.taks'; did you mean 'tasks'?"},
      {m + "task:\n  math:\n    precison: 3\n", "config.yaml:6: unknown key 'task.math.precison'; did you mean 'precision'?"},
      {m + "  name: other\n", "config.yaml:4: duplicate key 'model.name'"},
      {m + "practice:\n  group_size: five\n", "config.yaml:5: practice.group_size: expected an integer, got 'five'"},
      {m + "practice:\n  group_size: 3000000000\n",
       "config.yaml:5: practice.group_size: expected an integer in 32-bit range, got '3000000000'"},
      {m + "practice:\n  seed: -3\n", "config.yaml:5: practice.seed: expected a non-negative integer, got '-3'"},
      {m + "practice:\n  given_ground_truth: maybe\n",
       "config.yaml:5: practice.given_ground_truth: expected true or false, got 'maybe'"},
      {m + "eval:\n  temperature: hot\n", "config.yaml:5: eval.temperature: expected a number, got 'hot'"},
      {m + "task:\n  instructions: [a, b]\n", "config.yaml:5: task.instructions: expected a string, got a list"},
      {m + "task:\n  reward_file:\n", "config.yaml:5: task.reward_file: expected a string, got nothing"},
      {m + "eval: 5\n", "config.yaml:4: eval: expected a mapping, got '5'"},
      {m + "task:\n  mode: chat\n", "config.yaml:5: task.mode: expected one of prompt, agent, external, got 'chat'"},
      {m + "practice:\n  group_size: 1\n",
       "config.yaml:5: practice.group_size: must be at least 2 (GRPO compares rollouts within a group), got 1"},
      {m + "practice:\n  rollout_temperature: 2.5\n",
       "config.yaml:5: practice.rollout_temperature: must be between 0 and 2, got 2.5"},
      {m + "practice:\n  max_proposals_per_call: 0\n",
       "config.yaml:5: practice.max_proposals_per_call: must be at least 1, got 0"},
      {m + "practice:\n  validation:\n    tolerance: -0.5\n",
       "config.yaml:6: practice.validation.tolerance: must be at least 0 (a reward difference), got -0.5"},
      {m + "task:\n  math:\n    precision: 16\n",
       "config.yaml:6: task.math.precision: must be between 1 and 15 (significant digits), got 16"},
      {m + "task:\n  reward_workers: -1\n",
       "config.yaml:5: task.reward_workers: must be at least 0 (0 means one per core), got -1"},
      {m + "task:\n  reward: python\n",
       "config.yaml:5: task.reward_file: required when task.reward is \"python\" (the .py file holding the reward "
       "function, relative to the config file)"},
      {m + "task:\n  reward: command\n",
       "config.yaml:5: task.reward_command: required when task.reward is \"command\" (a list like "
       "[\"./score.sh\", \"--strict\"])"},
      {m + "task:\n  reward_command: [\" \"]\n",
       "config.yaml:5: task.reward_command: the program (first item) must not be empty, got ''"},
      {m + "data:\n  problem_key: \"  \"\n", "config.yaml:5: data.problem_key: must not be empty, got ''"},
      {m + "data:\n  max_task_bytes: 0\n", "config.yaml:5: data.max_task_bytes: must be at least 1, got 0"},
      {m + "tools:\n  memory_mb: 10\n", "config.yaml:5: tools.memory_mb: must be at least 64 (python itself needs some), got 10"},
      {m + "tools:\n  timeout_s: 0\n", "config.yaml:5: tools.timeout_s: must be greater than 0, got 0.0"},
      {m + "tools:\n  search: {backend: google}\n",
       "config.yaml:5: tools.search.backend: expected one of local, searxng, serper, got 'google'"},
      {m + "tools:\n  browse: {max_chars: 10}\n", "config.yaml:5: tools.browse.max_chars: must be at least 100, got 10"},
      {m + "tools:\n  enabled: [python, serch]\n",
       "config.yaml:5: tools.enabled[1]: unknown tool 'serch'; the built-in tools are python, search, browse; did you "
       "mean 'search'?"},
      {m + "tools:\n  mcp:\n    - name: a\n",
       "config.yaml:6: tools.mcp[0]: needs exactly one of command (stdio) and url (streamable HTTP)"},
      {m + "tools:\n  mcp:\n    - name: a\n      comand: [x]\n",
       "config.yaml:7: unknown key 'tools.mcp[0].comand'; did you mean 'command'?"},
      {"model:\n  base_url: localhost:8000\n  name: m\n",
       "config.yaml:2: model.base_url: expected an http:// or https:// URL, got 'localhost:8000'"},
      {m + "  api_key_env: sk-secret-123\n",
       "config.yaml:4: model.api_key_env: expected the name of an environment variable (like TFGRPO_API_KEY), not the "
       "key itself"},
      {m + "  timeout_s: 0\n", "config.yaml:4: model.timeout_s: must be greater than 0, got 0.0"},
      {m + "  max_tokens: 0\n", "config.yaml:4: model.max_tokens: must be at least 1, got 0"},
      {m + "  price_per_mtok: {prompt: 1}\n", "config.yaml:4: unknown key 'model.price_per_mtok'"},
      {m + "learner:\n  base_url: ftp://x\n",
       "config.yaml:5: learner.base_url: expected an http:// or https:// URL, got 'ftp://x'"},
      {m + "learner:\n  name: \"\"\n", "config.yaml:5: learner.name: must not be empty, got ''"},
      {m + "learner:\n  api_key_env: sk-abc def\n",
       "config.yaml:5: learner.api_key_env: expected the name of an environment variable (like TFGRPO_API_KEY), not "
       "the key itself"},
      {m + "judge:\n  concurrency: 0\n", "config.yaml:5: judge.concurrency: must be at least 1, got 0"},
      {m + "judge:\n  nmae: x\n", "config.yaml:5: unknown key 'judge.nmae'; did you mean 'name'?"},
      {m + "judge:\n  max_retries: many\n", "config.yaml:5: judge.max_retries: expected an integer, got 'many'"},
      {m + "learner:\n  price_per_mtok: {prompt: 1, completion: 2}\n",
       "config.yaml:5: learner.price_per_mtok: needs budget.price_per_mtok {prompt, cached_prompt, completion} too "
       "(the prices of model's calls; 0 for a free local model)"},
      {m + "budget:\n  price_per_mtok: {prompt: 1}\njudge:\n  price_per_mtok: {prompt: 1, completion: -2}\n",
       "config.yaml:7: judge.price_per_mtok.completion: must be at least 0 (US dollars per million tokens), got -2.0"},
      {m + "budget:\n  max_usd: 5\n",
       "config.yaml:5: budget.max_usd: needs budget.price_per_mtok {prompt, cached_prompt, completion} (US dollars "
       "per million tokens) to count spend in dollars"},
      {m + "budget:\n  max_usd: 0\n  price_per_mtok: {prompt: 1}\n",
       "config.yaml:5: budget.max_usd: must be greater than 0 (US dollars), got 0.0"},
      {m + "budget:\n  max_tokens: 0\n", "config.yaml:5: budget.max_tokens: must be at least 1, got 0"},
      {m + "retrieval:\n  top_k: -1\n", "config.yaml:5: retrieval.top_k: expected 0 (the whole library) or more, got -1"},
      {m + "retrieval:\n  method: dense\n",
       "config.yaml:5: retrieval.method: expected one of bm25, embeddings, got 'dense'"},
      {m + "retrieval:\n  embeddings:\n    model: \"\"\n",
       "config.yaml:6: retrieval.embeddings.model: expected a model name, got an empty string"},
      {m + "retrieval:\n  embeddings:\n    base_url: x\n",
       "config.yaml:6: retrieval.embeddings.base_url: expected an http:// or https:// URL, got 'x'"},
      {m + "retrieval:\n  embeddings:\n    api_key_env: sk-1\n",
       "config.yaml:6: retrieval.embeddings.api_key_env: expected the name of an environment variable (like "
       "TFGRPO_API_KEY), not the key itself"},
      {m + "task:\n  mode: external\n",
       "config.yaml:5: task.mode: external needs an `agent:` section (agent.command: the program to run per rollout, "
       "or agent.url: an agent service)"},
      {m + "task:\n  mode: external\nagent:\n  timeout_s: 5\n",
       "config.yaml:6: agent: needs agent.command (a list like [\"node\", \"agent.mjs\"]) or agent.url"},
      {m + "agent:\n  command: [a]\n  url: http://x/run\n",
       "config.yaml:6: agent.url: give agent.command or agent.url, not both"},
      {m + "agent:\n  command: [a]\n  comand: [b]\n", "config.yaml:6: unknown key 'agent.comand'; did you mean 'command'?"},
      {m + "agent:\n  command: [a]\n  gateway:\n    port: 1\n", "config.yaml:7: unknown key 'agent.gateway.port'"},
      {m + "agent:\n  command: [a]\n  inject: user\n", "config.yaml:6: agent.inject: expected one of system, none, got 'user'"},
      {m + "agent:\n  url: ftp://x\n", "config.yaml:5: agent.url: expected an http:// or https:// URL, got 'ftp://x'"},
      {m + "agent:\n  command: [\"\"]\n", "config.yaml:5: agent.command: the program (first item) must not be empty, got ''"},
      {m + "agent:\n  command: [a]\n  timeout_s: 0\n", "config.yaml:6: agent.timeout_s: must be greater than 0, got 0.0"},
      {m + "agent:\n  command: [a]\n  concurrency: -1\n",
       "config.yaml:6: agent.concurrency: must be at least 0 (0: model.concurrency), got -1"},
      {m + "agent:\n  command: [a]\n  gateway:\n    listen: \"\"\n",
       "config.yaml:7: agent.gateway.listen: expected host:port, got ''"},
      {m + "agent:\n  command: [a]\n  gateway:\n    public_url: host:1\n",
       "config.yaml:7: agent.gateway.public_url: expected an http:// or https:// URL, got 'host:1'"},
  };
  for (const auto& [yaml, expected] : cases) {
    auto r = ParseConfig(yaml, "config.yaml");
    ASSERT_FALSE(r.ok()) << "expected an error for:\n" << yaml;
    EXPECT_EQ(r.status().message(), expected) << "for:\n" << yaml;
  }
}

TEST_F(ConfigPinned, AnOverriddenBaseUrlIsNamedAsTheOrigin) {
  setenv("TFGRPO_BASE_URL", "localhost:1", 1);
  auto r = ParseConfig(kModel, "config.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "config.yaml:2: model.base_url: expected an http:// or https:// URL (from TFGRPO_BASE_URL), got "
            "'localhost:1'");
}

}  // namespace
}  // namespace tfgrpo
