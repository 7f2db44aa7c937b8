#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>

#include "tfgrpo/config.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// Clears the variables the config reads and puts the caller's values back afterwards, so tests
// neither see the developer's environment nor leak into each other.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"TFGRPO_BASE_URL", "TFGRPO_MODEL", "TFGRPO_API_KEY", "OPENAI_API_KEY",
                             "MY_TEST_KEY"}) {
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

  static std::string Error(const std::string& yaml, const fs::path& source = "config.yaml") {
    auto r = ParseConfig(yaml, source);
    EXPECT_FALSE(r.ok()) << "expected an error for:\n" << yaml;
    return r.ok() ? std::string() : r.status().message();
  }

  static constexpr const char* kMinimal = "model:\n  base_url: http://127.0.0.1:8000/v1\n  name: m\n";

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

TEST_F(ConfigTest, FullExampleParsesEveryValue) {
  const std::string yaml = R"(# every key, none left at its default
model:
  base_url: "https://api.example.com/v1"
  name: "deepseek-chat"
  api_key_env: "MY_TEST_KEY"
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
  mode: "agent"
  reward: "exact"
  instructions: |
    Think.
    Answer in \boxed{}.
practice:
  epochs: 2
  batch_size: 50
  group_size: 8
  rollout_temperature: 1.0
  given_ground_truth: false
  experiences_per_group: 3
  agent_objective: "solve maths"
  learning_objective: "learn tricks"
  seed: 18446744073709551615
eval:
  k: 4
  temperature: 0
)";
  auto r = ParseConfig(yaml, "/runs/cfg/config.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Config& c = *r;
  EXPECT_EQ(c.source, fs::path("/runs/cfg/config.yaml"));
  EXPECT_EQ(c.model.base_url, "https://api.example.com/v1");
  EXPECT_EQ(c.model.name, "deepseek-chat");
  EXPECT_EQ(c.model.api_key_env, "MY_TEST_KEY");
  EXPECT_TRUE(c.model.api_key_env_explicit);
  EXPECT_DOUBLE_EQ(c.model.timeout_s, 120.5);
  EXPECT_EQ(c.model.max_retries, 3);
  EXPECT_EQ(c.model.concurrency, 16);
  ASSERT_TRUE(c.model.max_tokens.has_value());
  EXPECT_EQ(*c.model.max_tokens, 4096);
  EXPECT_EQ(c.data.train, fs::path("/runs/cfg/sets/train.jsonl"));
  EXPECT_EQ(c.data.eval, fs::path("/abs/eval.jsonl"));
  EXPECT_EQ(c.data.problem_key, "question");
  EXPECT_EQ(c.data.answer_key, "answer");
  EXPECT_EQ(c.data.max_task_bytes, 1000);
  EXPECT_EQ(Name(c.task.mode), "agent");
  EXPECT_EQ(Name(c.task.reward), "exact");
  EXPECT_EQ(c.task.instructions, "Think.\nAnswer in \\boxed{}.\n");
  EXPECT_EQ(c.practice.epochs, 2);
  EXPECT_EQ(c.practice.batch_size, 50);
  EXPECT_EQ(c.practice.group_size, 8);
  EXPECT_DOUBLE_EQ(c.practice.rollout_temperature, 1.0);
  EXPECT_FALSE(c.practice.given_ground_truth);
  EXPECT_EQ(c.practice.experiences_per_group, 3);
  EXPECT_EQ(c.practice.agent_objective, "solve maths");
  EXPECT_EQ(c.practice.learning_objective, "learn tricks");
  EXPECT_EQ(c.practice.seed, 18446744073709551615ULL);
  EXPECT_EQ(c.eval.k, 4);
  EXPECT_DOUBLE_EQ(c.eval.temperature, 0.0);
}

TEST_F(ConfigTest, OmittedKeysTakeTheDocumentedDefaults) {
  auto r = ParseConfig(kMinimal, "config.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Config& c = *r;
  EXPECT_EQ(c.model.api_key_env, "TFGRPO_API_KEY");
  EXPECT_FALSE(c.model.api_key_env_explicit);
  EXPECT_DOUBLE_EQ(c.model.timeout_s, 600);
  EXPECT_EQ(c.model.max_retries, 6);
  EXPECT_EQ(c.model.concurrency, 64);
  EXPECT_FALSE(c.model.max_tokens.has_value());
  EXPECT_TRUE(c.data.train.empty());
  EXPECT_TRUE(c.data.eval.empty());
  EXPECT_EQ(c.data.problem_key, "problem");
  EXPECT_EQ(c.data.answer_key, "groundtruth");
  EXPECT_EQ(c.data.max_task_bytes, 4194304);
  EXPECT_EQ(Name(c.task.mode), "prompt");
  EXPECT_EQ(Name(c.task.reward), "math");
  EXPECT_EQ(c.task.instructions, "Solve the problem. Put the final answer in \\boxed{}.");
  EXPECT_EQ(c.practice.epochs, 3);
  EXPECT_EQ(c.practice.batch_size, 100);
  EXPECT_EQ(c.practice.group_size, 5);
  EXPECT_DOUBLE_EQ(c.practice.rollout_temperature, 0.7);
  EXPECT_TRUE(c.practice.given_ground_truth);
  EXPECT_EQ(c.practice.experiences_per_group, 2);
  EXPECT_EQ(c.practice.seed, 42u);
  EXPECT_EQ(c.eval.k, 32);
  EXPECT_DOUBLE_EQ(c.eval.temperature, 0.3);
}

TEST_F(ConfigTest, EmptySectionsAndNullMaxTokensAreAccepted) {
  auto r = ParseConfig(std::string(kMinimal) + "  max_tokens:\ndata:\neval:\n", "config.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->model.max_tokens.has_value());
  EXPECT_EQ(r->eval.k, 32);
}

TEST_F(ConfigTest, EnvironmentOverridesModelUrlAndName) {
  setenv("TFGRPO_BASE_URL", "http://10.0.0.5:9000/v1", 1);
  setenv("TFGRPO_MODEL", "qwen", 1);
  auto r = ParseConfig(kMinimal, "config.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->model.base_url, "http://10.0.0.5:9000/v1");
  EXPECT_EQ(r->model.name, "qwen");

  // The overrides count as supplying the required keys.
  auto bare = ParseConfig("practice:\n  epochs: 1\n", "config.yaml");
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_EQ(bare->model.name, "qwen");

  // An empty variable is treated as unset.
  setenv("TFGRPO_MODEL", "", 1);
  auto kept = ParseConfig(kMinimal, "config.yaml");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->model.name, "m");
}

TEST_F(ConfigTest, UnknownKeysAreNamedWithPathAndLine) {
  EXPECT_EQ(Error("model:\n  base_url: http://x\n  nmae: m\n"),
            "config.yaml:3: unknown key 'model.nmae'; did you mean 'name'?");
  EXPECT_THAT(Error(std::string(kMinimal) + "practice:\n  epochs: 1\n  group_szie: 4\n"),
              HasSubstr("config.yaml:6: unknown key 'practice.group_szie'; did you mean 'group_size'?"));
  EXPECT_THAT(Error(std::string(kMinimal) + "modle:\n  x: 1\n"),
              HasSubstr("config.yaml:4: unknown key 'modle'; did you mean 'model'?"));
  // Far from every known key: no suggestion.
  std::string far = Error(std::string(kMinimal) + "eval:\n  completely_different: 1\n");
  EXPECT_THAT(far, HasSubstr("config.yaml:5: unknown key 'eval.completely_different'"));
  EXPECT_THAT(far, Not(HasSubstr("did you mean")));
}

// Regression input fuzz/regressions/config/invalid_utf8_in_path: a config saved in Latin-1 parsed,
// then `train` died on an uncaught exception when the fingerprint was serialised for the run store.
TEST_F(ConfigTest, StringsThatAreNotUtf8AreNamedWithKeyLineAndByte) {
  EXPECT_EQ(Error(std::string(kMinimal) + "task:\n  instructions: caf\xE9 au lait\n"),
            "config.yaml:5: task.instructions: not valid UTF-8 (byte 0xE9 at offset 3); save the file as UTF-8");
  EXPECT_EQ(Error(std::string(kMinimal) + "data:\n  train: t.jso\x92\x95\n"),
            "config.yaml:5: data.train: not valid UTF-8 (byte 0x92 at offset 5); save the file as UTF-8");
  // Overlong forms and surrogates are not UTF-8 either; real multi-byte text is.
  EXPECT_FALSE(ParseConfig(std::string(kMinimal) + "task:\n  instructions: \xC0\xAF\n", "c.yaml").ok());
  EXPECT_FALSE(ParseConfig(std::string(kMinimal) + "task:\n  instructions: \xED\xA0\x80\n", "c.yaml").ok());
  auto r = ParseConfig(std::string(kMinimal) + "task:\n  instructions: \"caf\u00e9 \xE2\x88\x9A \xF0\x9F\x98\x80\"\n",
                       "c.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->task.instructions, "caf\xC3\xA9 \xE2\x88\x9A \xF0\x9F\x98\x80");
  EXPECT_NO_THROW((void)ConfigFingerprintJson(*r).dump());
}

TEST_F(ConfigTest, DuplicateKeyIsAnError) {
  EXPECT_THAT(Error(std::string(kMinimal) + "  name: other\n"),
              HasSubstr("config.yaml:4: duplicate key 'model.name'"));
}

TEST_F(ConfigTest, WrongTypesNameKeyAndExpectedType) {
  EXPECT_EQ(Error(std::string(kMinimal) + "practice:\n  group_size: five\n"),
            "config.yaml:5: practice.group_size: expected an integer, got 'five'");
  EXPECT_THAT(Error(std::string(kMinimal) + "practice:\n  rollout_temperature: hot\n"),
              HasSubstr("config.yaml:5: practice.rollout_temperature: expected a number, got 'hot'"));
  EXPECT_THAT(Error(std::string(kMinimal) + "practice:\n  given_ground_truth: maybe\n"),
              HasSubstr("practice.given_ground_truth: expected true or false, got 'maybe'"));
  EXPECT_THAT(Error(std::string(kMinimal) + "practice:\n  seed: -3\n"),
              HasSubstr("practice.seed: expected a non-negative integer, got '-3'"));
  EXPECT_THAT(Error(std::string(kMinimal) + "task:\n  instructions: [a, b]\n"),
              HasSubstr("config.yaml:5: task.instructions: expected a string, got a list"));
  EXPECT_THAT(Error(std::string(kMinimal) + "eval: 5\n"), HasSubstr("eval: expected a mapping, got '5'"));
  EXPECT_THAT(Error(std::string(kMinimal) + "eval:\n  k: 2.5\n"), HasSubstr("eval.k: expected an integer"));
  EXPECT_THAT(Error("- a\n- b\n"), HasSubstr("expected a mapping of sections"));
}

TEST_F(ConfigTest, YamlSyntaxErrorNamesFileAndLine) {
  std::string e = Error("model:\n  name: m\n  base_url: [unclosed\n", "dir/config.yaml");
  EXPECT_THAT(e, HasSubstr("dir/config.yaml:"));
  EXPECT_THAT(e, HasSubstr("YAML syntax error"));
}

TEST_F(ConfigTest, MissingRequiredKeyIsNamed) {
  EXPECT_EQ(Error("model:\n  base_url: http://x/v1\n"), "config.yaml: missing required key 'model.name'");
  EXPECT_EQ(Error("model:\n  name: m\n"), "config.yaml: missing required key 'model.base_url'");
  EXPECT_EQ(Error(""), "config.yaml: missing required key 'model.base_url'");
}

TEST_F(ConfigTest, OutOfRangeValuesAreRejectedWithTheirLine) {
  auto practice = [](const std::string& line) { return std::string(kMinimal) + "practice:\n  " + line + "\n"; };
  EXPECT_EQ(Error(practice("group_size: 1")),
            "config.yaml:5: practice.group_size: must be at least 2 (GRPO compares rollouts within a group), got 1");
  EXPECT_THAT(Error(practice("batch_size: 0")), HasSubstr("config.yaml:5: practice.batch_size: must be at least 1"));
  EXPECT_THAT(Error(practice("epochs: 0")), HasSubstr("practice.epochs: must be at least 1"));
  EXPECT_THAT(Error(practice("experiences_per_group: 0")), HasSubstr("practice.experiences_per_group"));
  EXPECT_THAT(Error(practice("rollout_temperature: 2.5")),
              HasSubstr("practice.rollout_temperature: must be between 0 and 2, got 2.5"));
  EXPECT_THAT(Error(practice("rollout_temperature: -0.1")), HasSubstr("practice.rollout_temperature"));
  const std::string m = "model:\n  base_url: http://x/v1\n  name: m\n  ";
  EXPECT_THAT(Error(m + "concurrency: 0\n"), HasSubstr("config.yaml:4: model.concurrency: must be at least 1"));
  EXPECT_THAT(Error(m + "max_retries: -1\n"), HasSubstr("model.max_retries: must be at least 0"));
  EXPECT_THAT(Error(m + "timeout_s: 0\n"), HasSubstr("model.timeout_s: must be greater than 0"));
  EXPECT_THAT(Error(m + "max_tokens: 0\n"), HasSubstr("model.max_tokens: must be at least 1"));
  EXPECT_THAT(Error(std::string(kMinimal) + "eval:\n  k: 0\n"), HasSubstr("eval.k: must be at least 1"));
  EXPECT_THAT(Error(std::string(kMinimal) + "eval:\n  temperature: 3\n"), HasSubstr("eval.temperature"));
  EXPECT_THAT(Error(std::string(kMinimal) + "data:\n  max_task_bytes: 0\n"),
              HasSubstr("config.yaml:5: data.max_task_bytes: must be at least 1, got 0"));
  EXPECT_THAT(Error(std::string(kMinimal) + "data:\n  max_task_bytes: -5\n"),
              HasSubstr("data.max_task_bytes: expected a non-negative integer, got '-5'"));
  EXPECT_THAT(Error(std::string(kMinimal) + "task:\n  mode: chat\n"),
              HasSubstr("config.yaml:5: task.mode: expected one of prompt, agent, external, got 'chat'"));
  EXPECT_THAT(Error(std::string(kMinimal) + "task:\n  reward: fuzzy\n"),
              HasSubstr("task.reward: expected one of math, exact, judge, python, command, got 'fuzzy'"));
  EXPECT_THAT(Error("model:\n  base_url: localhost:8000\n  name: m\n"),
              HasSubstr("model.base_url: expected an http:// or https:// URL"));
  // Boundaries are legal.
  EXPECT_TRUE(ParseConfig(practice("group_size: 2"), "c.yaml").ok());
  EXPECT_TRUE(ParseConfig(practice("rollout_temperature: 2"), "c.yaml").ok());
  EXPECT_TRUE(ParseConfig(m + "max_retries: 0\n", "c.yaml").ok());
}

TEST_F(ConfigTest, ApiKeyEnvHoldingAKeyIsRejectedWithoutEchoingIt) {
  std::string e = Error(std::string(kMinimal) + "  api_key_env: sk-secret-123\n");
  EXPECT_THAT(e, HasSubstr("model.api_key_env: expected the name of an environment variable"));
  EXPECT_THAT(e, Not(HasSubstr("sk-secret-123")));
}

TEST_F(ConfigTest, RelativeDataPathsResolveAgainstTheConfigFolder) {
  const std::string yaml = std::string(kMinimal) + "data:\n  train: train.jsonl\n  eval: ../shared/eval.jsonl\n";
  auto nested = ParseConfig(yaml, "experiments/a/config.yaml");
  ASSERT_TRUE(nested.ok()) << nested.status().ToString();
  EXPECT_EQ(nested->data.train, fs::path("experiments/a/train.jsonl"));
  EXPECT_EQ(nested->data.eval, fs::path("experiments/a/../shared/eval.jsonl"));

  auto here = ParseConfig(yaml, "config.yaml");
  ASSERT_TRUE(here.ok());
  EXPECT_EQ(here->data.train, fs::path("train.jsonl"));

  auto absolute = ParseConfig(std::string(kMinimal) + "data:\n  train: /data/t.jsonl\n", "/etc/x/config.yaml");
  ASSERT_TRUE(absolute.ok());
  EXPECT_EQ(absolute->data.train, fs::path("/data/t.jsonl"));
}

TEST_F(ConfigTest, ApiKeyFallsBackToOpenAiOnlyWhenNotExplicit) {
  auto implicit = ParseConfig(kMinimal, "config.yaml");
  ASSERT_TRUE(implicit.ok());
  EXPECT_EQ(implicit->ApiKey(), "");
  setenv("OPENAI_API_KEY", "openai-key", 1);
  EXPECT_EQ(implicit->ApiKey(), "openai-key");
  setenv("TFGRPO_API_KEY", "", 1);  // empty counts as unset
  EXPECT_EQ(implicit->ApiKey(), "openai-key");
  setenv("TFGRPO_API_KEY", "tfgrpo-key", 1);
  EXPECT_EQ(implicit->ApiKey(), "tfgrpo-key");

  auto explicit_env = ParseConfig(std::string(kMinimal) + "  api_key_env: MY_TEST_KEY\n", "config.yaml");
  ASSERT_TRUE(explicit_env.ok()) << explicit_env.status().ToString();
  EXPECT_EQ(explicit_env->ApiKey(), "");  // no fallback to either default variable
  setenv("MY_TEST_KEY", "mine", 1);
  EXPECT_EQ(explicit_env->ApiKey(), "mine");
}

TEST_F(ConfigTest, LoadConfigReadsTheFileAndNamesAMissingOne) {
  fs::path dir = fs::temp_directory_path() / ("tfgrpo_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomic(dir / "config.yaml", std::string(kMinimal) + "data:\n  train: t.jsonl\n").ok());
  auto r = LoadConfig(dir / "config.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data.train, dir / "t.jsonl");

  auto missing = LoadConfig(dir / "absent.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kIoError);
  EXPECT_THAT(missing.status().message(), HasSubstr((dir / "absent.yaml").string()));
  fs::remove_all(dir);
}

TEST_F(ConfigTest, FingerprintIgnoresEndpointAndThroughputButSeesResultSettings) {
  const std::string base = std::string(kMinimal) + "data:\n  train: train.jsonl\n";
  auto a = ParseConfig(base, "runs/config.yaml");
  auto moved = ParseConfig(
      "model:\n  base_url: https://elsewhere/v1\n  name: m\n  concurrency: 8\n  timeout_s: 5\n"
      "  max_retries: 1\n  api_key_env: OTHER\ndata:\n  train: train.jsonl\n  eval: other.jsonl\n",
      "/abs/elsewhere/config.yaml");
  auto regrouped = ParseConfig(base + "practice:\n  group_size: 8\n", "runs/config.yaml");
  auto renamed = ParseConfig("model:\n  base_url: http://127.0.0.1:8000/v1\n  name: other\n"
                             "data:\n  train: train.jsonl\n", "runs/config.yaml");
  ASSERT_TRUE(a.ok() && moved.ok() && regrouped.ok() && renamed.ok());
  EXPECT_EQ(ConfigFingerprintJson(*a), ConfigFingerprintJson(*moved));
  EXPECT_EQ(ConfigFingerprintJson(*a)["data"]["train"], "train.jsonl");
  EXPECT_NE(ConfigFingerprintJson(*a), ConfigFingerprintJson(*regrouped));
  EXPECT_EQ(ConfigFingerprintJson(*regrouped)["practice"]["group_size"], 8);
  EXPECT_NE(ConfigFingerprintJson(*a), ConfigFingerprintJson(*renamed));
  EXPECT_EQ(ConfigFingerprintJson(*a).dump().find("base_url"), std::string::npos);
  EXPECT_EQ(ConfigFingerprintJson(*a).dump().find("concurrency"), std::string::npos);
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST(ConfigAgentKeys, AgentModeAndToolsParseWithDefaults) {
  auto defaults = ParseConfig("model:\n  base_url: http://x/v1\n  name: m\n", "c.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->task.max_turns, 50);
  EXPECT_EQ(defaults->task.timeout_s, 1800);
  EXPECT_EQ(Name(defaults->task.tool_protocol), "native");
  EXPECT_EQ(Name(defaults->tools.sandbox), "bwrap");
  EXPECT_EQ(defaults->tools.memory_mb, 2048);
  EXPECT_FALSE(defaults->tools.allow_subprocess);

  auto c = ParseConfig(
      "model:\n  base_url: http://x/v1\n  name: m\n"
      "task:\n  mode: agent\n  max_turns: 8\n  timeout_s: 60\n  tool_protocol: text\n"
      "tools:\n  sandbox: none\n  timeout_s: 5\n  memory_mb: 512\n  allow_subprocess: true\n",
      "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(Name(c->task.mode), "agent");
  EXPECT_EQ(c->task.max_turns, 8);
  EXPECT_EQ(c->task.timeout_s, 60);
  EXPECT_EQ(Name(c->task.tool_protocol), "text");
  EXPECT_EQ(Name(c->tools.sandbox), "none");
  EXPECT_EQ(c->tools.timeout_s, 5);
  EXPECT_EQ(c->tools.memory_mb, 512);
  EXPECT_TRUE(c->tools.allow_subprocess);
}

TEST(ConfigAgentKeys, BadAgentValuesAreNamed) {
  const std::string m = "model:\n  base_url: http://x/v1\n  name: m\n";
  auto error = [](const std::string& yaml) {
    auto r = ParseConfig(yaml, "c.yaml");
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(error(m + "task:\n  tool_protocol: xml\n").find("task.tool_protocol: expected one of native, text"),
            std::string::npos);
  EXPECT_NE(error(m + "tools:\n  sandbox: docker\n").find("tools.sandbox: expected one of bwrap, none"),
            std::string::npos);
  EXPECT_NE(error(m + "task:\n  max_turns: 0\n").find("task.max_turns"), std::string::npos);
  EXPECT_NE(error(m + "tools:\n  sandbx: none\n").find("unknown key 'tools.sandbx'"), std::string::npos);
  EXPECT_NE(error(m + "tools:\n  memory_mb: 10\n").find("tools.memory_mb: must be at least 64"), std::string::npos)
      << error(m + "tools:\n  memory_mb: 10\n");
  EXPECT_NE(error(m + "tools:\n  allow_subprocess: maybe\n").find("tools.allow_subprocess"), std::string::npos);
}

TEST(ConfigMathKeys, PrecisionParsesValidatesAndDefaults) {
  const std::string m = "model:\n  base_url: http://x/v1\n  name: m\n";
  auto defaults = ParseConfig(m, "c.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->task.math_precision, 6);
  auto c = ParseConfig(m + "task:\n  math:\n    precision: 3\n", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->task.math_precision, 3);
  // A non-default precision changes what counts as correct, so it is part of the run's fingerprint;
  // the default leaves existing fingerprints as they were.
  EXPECT_NE(ConfigFingerprintJson(*c).dump(), ConfigFingerprintJson(*defaults).dump());
  EXPECT_FALSE(ConfigFingerprintJson(*defaults)["task"].contains("math_precision"));
  auto error = [](const std::string& yaml) {
    auto r = ParseConfig(yaml, "c.yaml");
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(error(m + "task:\n  math:\n    precision: 0\n").find("task.math.precision"), std::string::npos);
  EXPECT_NE(error(m + "task:\n  math:\n    precision: 16\n").find("between 1 and 15"), std::string::npos);
  EXPECT_NE(error(m + "task:\n  math:\n    precision: six\n").find("task.math.precision"), std::string::npos);
  EXPECT_NE(error(m + "task:\n  math:\n    precisoin: 3\n").find("unknown key 'task.math.precisoin'"),
            std::string::npos);
}

TEST(ConfigAgentKeys, FingerprintSeesAgentSettingsOnlyInAgentMode) {
  const std::string m = "model:\n  base_url: http://x/v1\n  name: m\n";
  auto prompt_a = ParseConfig(m + "task:\n  max_turns: 3\n", "c.yaml");
  auto prompt_b = ParseConfig(m + "task:\n  max_turns: 9\n", "c.yaml");
  EXPECT_EQ(ConfigFingerprintJson(*prompt_a), ConfigFingerprintJson(*prompt_b));
  auto agent_a = ParseConfig(m + "task:\n  mode: agent\n  max_turns: 3\n", "c.yaml");
  auto agent_b = ParseConfig(m + "task:\n  mode: agent\n  max_turns: 9\n", "c.yaml");
  EXPECT_NE(ConfigFingerprintJson(*agent_a), ConfigFingerprintJson(*agent_b));
}

TEST(ConfigToolsEnabled, ListsBuiltInToolsInOrderWithPythonAsTheDefault) {
  const std::string m = "model:\n  base_url: http://x/v1\n  name: m\ntask:\n  mode: agent\n";
  auto defaults = ParseConfig(m, "c.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->tools.enabled, std::vector<std::string>{"python"});

  auto all = ParseConfig(m + "tools:\n  enabled: [browse, python, search]\n", "c.yaml");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->tools.enabled, (std::vector<std::string>{"browse", "python", "search"}));

  auto block = ParseConfig(m + "tools:\n  enabled:\n    - search\n", "c.yaml");
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  EXPECT_EQ(block->tools.enabled, std::vector<std::string>{"search"});

  auto none = ParseConfig(m + "tools:\n  enabled: []\n", "c.yaml");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->tools.enabled.empty());
}

TEST(ConfigToolsEnabled, UnknownRepeatedOrMistypedNamesAreNamedWithTheirLine) {
  const std::string m = "model:\n  base_url: http://x/v1\n  name: m\n";
  auto error = [](const std::string& yaml) {
    auto r = ParseConfig(yaml, "c.yaml");
    return r.ok() ? std::string() : r.status().message();
  };
  // Line 7 holds the bad item of the block list.
  std::string unknown = error(m + "tools:\n  enabled:\n    - python\n    - serach\n");
  EXPECT_THAT(unknown, HasSubstr("c.yaml:7: tools.enabled[1]: unknown tool 'serach'"));
  EXPECT_THAT(unknown, HasSubstr("the built-in tools are python, search, browse"));
  EXPECT_THAT(unknown, HasSubstr("did you mean 'search'?"));
  std::string far = error(m + "tools:\n  enabled: [calculator]\n");
  EXPECT_THAT(far, HasSubstr("c.yaml:5: tools.enabled[0]: unknown tool 'calculator'"));
  EXPECT_THAT(far, Not(HasSubstr("did you mean")));
  EXPECT_THAT(error(m + "tools:\n  enabled: [python, python]\n"),
              HasSubstr("tools.enabled[1]: tool 'python' is listed twice"));
  EXPECT_THAT(error(m + "tools:\n  enabled: python\n"), HasSubstr("tools.enabled: expected a list of strings"));
  EXPECT_THAT(error(m + "tools:\n  enabled: [[python]]\n"), HasSubstr("tools.enabled[0]: expected a string"));
}

TEST(ConfigToolsEnabled, FingerprintCarriesItOnlyWhenChangedInAgentMode) {
  const std::string m = "model:\n  base_url: http://x/v1\n  name: m\n";
  auto agent_default = ParseConfig(m + "task:\n  mode: agent\n", "c.yaml");
  auto agent_explicit = ParseConfig(m + "task:\n  mode: agent\ntools:\n  enabled: [python]\n", "c.yaml");
  auto agent_none = ParseConfig(m + "task:\n  mode: agent\ntools:\n  enabled: []\n", "c.yaml");
  auto agent_web = ParseConfig(m + "task:\n  mode: agent\ntools:\n  enabled: [search, browse]\n", "c.yaml");
  auto prompt_none = ParseConfig(m + "tools:\n  enabled: []\n", "c.yaml");
  auto prompt_default = ParseConfig(m, "c.yaml");
  for (auto* c : {&agent_default, &agent_explicit, &agent_none, &agent_web, &prompt_none, &prompt_default})
    ASSERT_TRUE(c->ok()) << c->status().ToString();
  // The default leaves the fingerprint of runs from before the key existed as it was.
  EXPECT_FALSE(ConfigFingerprintJson(*agent_default).contains("tools"));
  EXPECT_EQ(ConfigFingerprintJson(*agent_default), ConfigFingerprintJson(*agent_explicit));
  EXPECT_EQ(ConfigFingerprintJson(*agent_none)["tools"]["enabled"], nlohmann::json::array());
  EXPECT_EQ(ConfigFingerprintJson(*agent_web)["tools"]["enabled"], nlohmann::json({"search", "browse"}));
  EXPECT_NE(ConfigFingerprintJson(*agent_none), ConfigFingerprintJson(*agent_web));
  // Prompt mode calls no tools, so the list cannot change its results.
  EXPECT_EQ(ConfigFingerprintJson(*prompt_none), ConfigFingerprintJson(*prompt_default));
}

TEST_F(ConfigTest, ScriptedRewardKeys) {
  auto c = ParseConfig(std::string(kMinimal) +
                           "task:\n  reward: python\n  reward_file: graders/verify.py\n  reward_function: check\n"
                           "  reward_timeout_s: 2.5\n  reward_workers: 3\n",
                       "/cfg/dir/config.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->task.reward_file, fs::path("/cfg/dir/graders/verify.py"));
  EXPECT_EQ(c->task.reward_function, "check");
  EXPECT_EQ(c->task.reward_timeout_s, 2.5);
  EXPECT_EQ(c->task.reward_workers, 3);
  // The fingerprint keeps the file as written, so a moved run dir still resumes.
  EXPECT_EQ(ConfigFingerprintJson(*c)["task"]["reward_file"], "graders/verify.py");

  auto cmd = ParseConfig(std::string(kMinimal) + "task:\n  reward: command\n  reward_command: [\"./score.sh\", \"--strict\"]\n",
                         "config.yaml");
  ASSERT_TRUE(cmd.ok()) << cmd.status().ToString();
  EXPECT_EQ(cmd->task.reward_command, (std::vector<std::string>{"./score.sh", "--strict"}));
  EXPECT_EQ(cmd->task.reward_function, "verify");
  EXPECT_EQ(cmd->task.reward_timeout_s, 10);
  EXPECT_EQ(cmd->task.reward_workers, 0);
  // Runs with built-in rewards keep the fingerprint they had.
  auto plain = ParseConfig(std::string(kMinimal), "config.yaml");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(ConfigFingerprintJson(*plain)["task"].contains("reward_file"));
}

TEST_F(ConfigTest, ScriptedRewardKeysAreValidated) {
  auto error = [](const std::string& task) {
    auto c = ParseConfig(std::string(kMinimal) + "task:\n" + task, "config.yaml");
    return c.ok() ? std::string("(parsed)") : c.status().message();
  };
  EXPECT_THAT(error("  reward: python\n"), HasSubstr("task.reward_file: required when task.reward is \"python\""));
  EXPECT_THAT(error("  reward: command\n"), HasSubstr("task.reward_command: required"));
  EXPECT_THAT(error("  reward: command\n  reward_command: ./score.sh\n"),
              HasSubstr("task.reward_command: expected a list of strings"));
  EXPECT_THAT(error("  reward: python\n  reward_file: v.py\n  reward_timeout_s: 0\n"),
              HasSubstr("task.reward_timeout_s: must be greater than 0"));
  EXPECT_THAT(error("  reward: python\n  reward_file: v.py\n  reward_workers: -1\n"),
              HasSubstr("task.reward_workers: must be at least 0"));
}

TEST_F(ConfigTest, ValidationAndBudgetSectionsParseAndAreChecked) {
  auto c = ParseConfig(std::string(kMinimal) +
                           "practice:\n  validation:\n    data: val.jsonl\n    tasks: 8\n    k: 3\n"
                           "    tolerance: 0.05\n"
                           "budget:\n  max_usd: 20\n  max_tokens: 50000000\n"
                           "  price_per_mtok: {prompt: 0.27, cached_prompt: 0.07, completion: 1.10}\n",
                       "dir/config.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->practice.validation.enabled);
  EXPECT_EQ(c->practice.validation.data, fs::path("dir/val.jsonl"));
  EXPECT_EQ(c->practice.validation.tasks, 8);
  EXPECT_EQ(c->practice.validation.k, 3);
  EXPECT_DOUBLE_EQ(c->practice.validation.tolerance, 0.05);
  EXPECT_DOUBLE_EQ(*c->budget.max_usd, 20);
  EXPECT_EQ(*c->budget.max_tokens, 50000000);
  EXPECT_DOUBLE_EQ(c->budget.price_per_mtok.cached_prompt, 0.07);
  // Validation changes what a run learns; the budget does not, so a run dir resumes with another.
  nlohmann::json fp = ConfigFingerprintJson(*c);
  EXPECT_EQ(fp["practice"]["validation"]["data"], "val.jsonl");
  EXPECT_FALSE(fp.contains("budget"));
  auto defaults = ParseConfig(std::string(kMinimal) + "practice:\n  validation: {}\n", "config.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->practice.validation.enabled);
  EXPECT_EQ(defaults->practice.validation.tasks, 16);
  EXPECT_EQ(defaults->practice.validation.k, 2);
  EXPECT_FALSE(ParseConfig(kMinimal, "config.yaml")->practice.validation.enabled);
  EXPECT_FALSE(ConfigFingerprintJson(*ParseConfig(kMinimal, "config.yaml"))["practice"].contains("validation"));
  // Without cached_prompt, cached tokens cost what prompt tokens cost.
  auto no_cached = ParseConfig(std::string(kMinimal) + "budget:\n  price_per_mtok: {prompt: 2, completion: 3}\n",
                               "config.yaml");
  ASSERT_TRUE(no_cached.ok());
  EXPECT_DOUBLE_EQ(no_cached->budget.price_per_mtok.cached_prompt, 2);

  EXPECT_THAT(Error(std::string(kMinimal) + "budget:\n  max_usd: 5\n"),
              HasSubstr("config.yaml:5: budget.max_usd: needs budget.price_per_mtok"));
  EXPECT_THAT(Error(std::string(kMinimal) + "budget:\n  max_usd: -1\n  price_per_mtok: {prompt: 1}\n"),
              HasSubstr("budget.max_usd: must be greater than 0"));
  EXPECT_THAT(Error(std::string(kMinimal) + "practice:\n  validation:\n    k: 0\n"),
              HasSubstr("practice.validation.k: must be at least 1"));
  EXPECT_THAT(Error(std::string(kMinimal) + "practice:\n  validation:\n    taks: 3\n"),
              HasSubstr("unknown key 'practice.validation.taks'; did you mean 'tasks'?"));
  EXPECT_THAT(Error(std::string(kMinimal) + "budget:\n  price_per_mtok: {prompt: -1}\n"),
              HasSubstr("budget.price_per_mtok.prompt: must be at least 0"));
}

TEST_F(ConfigTest, LearnerAndJudgePricesDefaultToBudgetsAndAreCheckedPerSection) {
  const std::string budget = "budget:\n  price_per_mtok: {prompt: 1, cached_prompt: 0.5, completion: 2}\n";
  // Not given: both sections are billed at budget.price_per_mtok.
  auto defaults = ParseConfig(std::string(kMinimal) + budget + "learner:\n  name: big\n", "config.yaml");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  for (const PriceConfig* p : {&defaults->learner_price_per_mtok, &defaults->judge_price_per_mtok}) {
    EXPECT_TRUE(p->set);
    EXPECT_DOUBLE_EQ(p->prompt, 1);
    EXPECT_DOUBLE_EQ(p->cached_prompt, 0.5);
    EXPECT_DOUBLE_EQ(p->completion, 2);
  }
  // Given: each section has its own; cached_prompt defaults to that section's prompt. The learner
  // section is read before `budget` in the file and still sees its prices.
  auto own = ParseConfig(std::string(kMinimal) +
                             "learner:\n  name: big\n  price_per_mtok: {prompt: 10, completion: 30}\n"
                             "judge:\n  price_per_mtok: {prompt: 0.1, cached_prompt: 0.05, completion: 0.4}\n" + budget,
                         "config.yaml");
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_DOUBLE_EQ(own->learner_price_per_mtok.prompt, 10);
  EXPECT_DOUBLE_EQ(own->learner_price_per_mtok.cached_prompt, 10);
  EXPECT_DOUBLE_EQ(own->learner_price_per_mtok.completion, 30);
  EXPECT_DOUBLE_EQ(own->judge_price_per_mtok.prompt, 0.1);
  EXPECT_DOUBLE_EQ(own->judge_price_per_mtok.cached_prompt, 0.05);
  EXPECT_DOUBLE_EQ(own->judge_price_per_mtok.completion, 0.4);
  EXPECT_DOUBLE_EQ(own->budget.price_per_mtok.prompt, 1);
  // Prices never enter the fingerprint (a run dir resumes with other prices).
  EXPECT_EQ(ConfigFingerprintJson(*own).dump(), ConfigFingerprintJson(*defaults).dump());
  // Unpriced everywhere: no section is priced.
  auto none = ParseConfig(kMinimal, "config.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->learner_price_per_mtok.set);
  EXPECT_FALSE(none->judge_price_per_mtok.set);

  // Errors name the section's key and its line.
  EXPECT_THAT(Error(std::string(kMinimal) + budget + "judge:\n  price_per_mtok: {prompt: 1, completion: -2}\n"),
              HasSubstr("config.yaml:7: judge.price_per_mtok.completion: must be at least 0"));
  EXPECT_THAT(Error(std::string(kMinimal) + budget + "learner:\n  price_per_mtok: {prompt: 1, complete: 2}\n"),
              HasSubstr("unknown key 'learner.price_per_mtok.complete'"));
  EXPECT_THAT(Error(std::string(kMinimal) + budget + "learner:\n  price_per_mtok: {prompt: cheap}\n"),
              HasSubstr("learner.price_per_mtok.prompt"));
  // A learner price without the policy's would leave the rollouts out of every dollar figure.
  EXPECT_THAT(Error(std::string(kMinimal) + "learner:\n  price_per_mtok: {prompt: 1, completion: 2}\n"),
              HasSubstr("config.yaml:5: learner.price_per_mtok: needs budget.price_per_mtok"));
  // `model` has no price key of its own: budget.price_per_mtok is model's.
  EXPECT_THAT(Error(std::string(kMinimal) + "  price_per_mtok: {prompt: 1}\n"), HasSubstr("model.price_per_mtok"));
}

TEST_F(ConfigTest, McpSearchAndBrowseSectionsParse) {
  auto c = ParseConfig(std::string(kMinimal) +
                           "task:\n  mode: agent\n"
                           "tools:\n  enabled: [search, browse]\n"
                           "  search: {backend: local, top_k: 5, index: idx/pages.db}\n"
                           "  browse: {max_chars: 5000, allow_private: true, summarize: true}\n"
                           "  mcp:\n"
                           "    - name: everything\n"
                           "      command: [npx, -y, \"@modelcontextprotocol/server-everything\"]\n"
                           "      env: {KEY: value}\n"
                           "      allow: [get-sum, echo]\n"
                           "    - name: remote\n"
                           "      url: http://127.0.0.1:3001/mcp\n"
                           "      headers_env: {Authorization: MCP_TOKEN}\n",
                       "dir/config.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->tools.search.top_k, 5);
  EXPECT_EQ(c->tools.search.index, fs::path("dir/idx/pages.db"));
  EXPECT_EQ(c->tools.browse.max_chars, 5000);
  EXPECT_TRUE(c->tools.browse.allow_private && c->tools.browse.summarize);
  ASSERT_EQ(c->tools.mcp.size(), 2u);
  EXPECT_EQ(c->tools.mcp[0].command.size(), 3u);
  EXPECT_EQ(c->tools.mcp[0].env.at("KEY"), "value");
  EXPECT_EQ(c->tools.mcp[0].allow, (std::vector<std::string>{"get-sum", "echo"}));
  EXPECT_EQ(c->tools.mcp[1].url, "http://127.0.0.1:3001/mcp");
  EXPECT_EQ(c->tools.mcp[1].headers_env.at("Authorization"), "MCP_TOKEN");

  EXPECT_THAT(Error(std::string(kMinimal) + "tools:\n  mcp:\n    - name: a\n"),
              HasSubstr("tools.mcp[0]: needs exactly one of command (stdio) and url (streamable HTTP)"));
  EXPECT_THAT(Error(std::string(kMinimal) + "tools:\n  mcp:\n    - name: a\n      comand: [x]\n"),
              HasSubstr("unknown key 'tools.mcp[0].comand'; did you mean 'command'?"));
  EXPECT_THAT(Error(std::string(kMinimal) + "tools:\n  mcp:\n    - {name: a, url: http://x}\n    - {name: a, url: http://y}\n"),
              HasSubstr("server name 'a' is used twice"));
  EXPECT_THAT(Error(std::string(kMinimal) + "tools:\n  search: {backend: google}\n"),
              HasSubstr("tools.search.backend: expected one of local, searxng, serper, got 'google'"));
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST_F(ConfigTest, ConsolidationAndTranscriptLimitsHaveDefaultsRangesAndEnterTheFingerprintOnlyWhenSet) {
  auto defaults = ParseConfig(kMinimal, "config.yaml");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->practice.max_proposals_per_call, 40);
  EXPECT_EQ(defaults->practice.tool_output_chars, 6000);
  EXPECT_EQ(defaults->practice.trajectory_chars, 30000);
  // Run dirs made before these keys existed still resume.
  const nlohmann::json fp = ConfigFingerprintJson(*defaults);
  EXPECT_FALSE(fp["practice"].contains("max_proposals_per_call"));
  EXPECT_FALSE(fp["practice"].contains("tool_output_chars"));
  EXPECT_FALSE(fp["practice"].contains("trajectory_chars"));

  auto set = ParseConfig(std::string(kMinimal) +
                             "practice:\n  max_proposals_per_call: 10\n  tool_output_chars: 500\n"
                             "  trajectory_chars: 2000\n",
                         "config.yaml");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->practice.max_proposals_per_call, 10);
  EXPECT_EQ(ConfigFingerprintJson(*set)["practice"]["max_proposals_per_call"], 10);
  EXPECT_EQ(ConfigFingerprintJson(*set)["practice"]["tool_output_chars"], 500);
  EXPECT_EQ(ConfigFingerprintJson(*set)["practice"]["trajectory_chars"], 2000);

  EXPECT_NE(Error(std::string(kMinimal) + "practice:\n  max_proposals_per_call: 0\n")
                .find("practice.max_proposals_per_call"),
            std::string::npos);
  EXPECT_NE(Error(std::string(kMinimal) + "practice:\n  tool_output_chars: 10\n").find("practice.tool_output_chars"),
            std::string::npos);
  EXPECT_NE(Error(std::string(kMinimal) + "practice:\n  trajectory_chars: 5\n").find("practice.trajectory_chars"),
            std::string::npos);
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST_F(ConfigTest, LearnerAndJudgeSectionsTakeModelsValuesForWhatTheyOmit) {
  const std::string yaml =
      "learner:\n  name: deepseek-reasoner\n  base_url: https://api.deepseek.com/v1\n  api_key_env: MY_TEST_KEY\n"
      "  timeout_s: 900\n  concurrency: 16\n  max_tokens: 8192\n"
      "model:\n  base_url: http://127.0.0.1:8000/v1\n  name: qwen-small\n  concurrency: 4\n  max_retries: 2\n"
      "judge:\n  name: gpt-4.1-mini\n";
  auto r = ParseConfig(yaml, "config.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->learner_given && r->judge_given);
  EXPECT_EQ(r->learner.name, "deepseek-reasoner");
  EXPECT_EQ(r->learner.base_url, "https://api.deepseek.com/v1");
  EXPECT_EQ(r->learner.api_key_env, "MY_TEST_KEY");
  EXPECT_EQ(r->learner.timeout_s, 900);
  EXPECT_EQ(r->learner.concurrency, 16);
  EXPECT_EQ(r->learner.max_retries, 2);  // model's, though `model` came after it in the file
  EXPECT_EQ(r->judge.name, "gpt-4.1-mini");
  EXPECT_EQ(r->judge.base_url, "http://127.0.0.1:8000/v1");
  EXPECT_EQ(r->judge.concurrency, 4);
  setenv("MY_TEST_KEY", "sk-learner-secret", 1);
  EXPECT_EQ(r->ApiKeyFor(r->learner), "sk-learner-secret");
  EXPECT_NE(std::find(r->ApiKeys().begin(), r->ApiKeys().end(), "sk-learner-secret"), r->ApiKeys().end());

  // The names enter the fingerprint (a resume with another learner is refused); endpoints do not.
  const nlohmann::json fp = ConfigFingerprintJson(*r);
  EXPECT_EQ(fp["learner"]["name"], "deepseek-reasoner");
  EXPECT_EQ(fp["judge"]["name"], "gpt-4.1-mini");
  EXPECT_FALSE(fp["learner"].contains("base_url"));
  auto plain = ParseConfig(kMinimal, "config.yaml");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->learner_given);
  EXPECT_EQ(plain->learner.name, "m");
  EXPECT_FALSE(ConfigFingerprintJson(*plain).contains("learner"));

  // Errors name the section.
  EXPECT_NE(Error(std::string(kMinimal) + "learner:\n  base_url: ftp://x\n").find("learner.base_url"), std::string::npos);
  EXPECT_NE(Error(std::string(kMinimal) + "judge:\n  concurrency: 0\n").find("judge.concurrency"), std::string::npos);
  EXPECT_NE(Error(std::string(kMinimal) + "judge:\n  nmae: x\n").find("judge.nmae"), std::string::npos);
  EXPECT_NE(Error(std::string(kMinimal) + "learner:\n  api_key_env: sk-abc def\n").find("learner.api_key_env"),
            std::string::npos);
}

TEST_F(ConfigTest, AgentSectionReadsEveryKey) {
  const std::string yaml = std::string(kMinimal) +
                           "task:\n  mode: external\n"
                           "agent:\n  command: [\"./bin/agent.sh\", \"--fast\"]\n  timeout_s: 30\n  concurrency: 3\n"
                           "  inject: none\n  keep_model: true\n  keep_temperature: true\n  sandbox: bwrap\n"
                           "  gateway:\n    listen: \"0.0.0.0:8123\"\n    public_url: \"http://gw.internal:8123\"\n";
  auto r = ParseConfig(yaml, "/runs/cfg/config.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const AgentConfig& a = r->agent;
  EXPECT_EQ(r->task.mode, TaskMode::kExternal);
  EXPECT_TRUE(a.given);
  EXPECT_EQ(a.command, (std::vector<std::string>{"/runs/cfg/bin/agent.sh", "--fast"}));
  EXPECT_EQ(a.timeout_s, 30);
  EXPECT_EQ(a.concurrency, 3);
  EXPECT_EQ(a.inject, InjectMode::kNone);
  EXPECT_TRUE(a.keep_model);
  EXPECT_TRUE(a.keep_temperature);
  EXPECT_EQ(a.sandbox, SandboxMode::kBwrap);
  EXPECT_EQ(a.gateway.listen, "0.0.0.0:8123");
  EXPECT_EQ(a.gateway.public_url, "http://gw.internal:8123");
  // The fingerprint keeps the program as written, so a moved run dir still resumes.
  EXPECT_EQ(ConfigFingerprintJson(*r)["agent"]["command"][0], "bin/agent.sh");

  auto defaults = ParseConfig(std::string(kMinimal) + "task:\n  mode: external\nagent:\n  command: [node, a.mjs]\n",
                              "/runs/cfg/config.yaml");
  ASSERT_TRUE(defaults.ok()) << defaults.status().message();
  EXPECT_EQ(defaults->agent.command[0], "node");  // a bare name stays a PATH lookup
  EXPECT_EQ(defaults->agent.timeout_s, 600);
  EXPECT_EQ(defaults->agent.concurrency, 0);
  EXPECT_EQ(defaults->agent.inject, InjectMode::kSystem);
  EXPECT_FALSE(defaults->agent.keep_model);
  EXPECT_EQ(defaults->agent.sandbox, SandboxMode::kNone);
  EXPECT_EQ(defaults->agent.gateway.listen, "127.0.0.1:0");
}

TEST_F(ConfigTest, AgentSectionErrorsNameTheKeyAndLine) {
  EXPECT_THAT(Error(std::string(kMinimal) + "task:\n  mode: external\n"),
              HasSubstr("config.yaml:5: task.mode: external needs an `agent:` section"));
  EXPECT_THAT(Error(std::string(kMinimal) + "task:\n  mode: external\nagent:\n  timeout_s: 5\n"),
              HasSubstr("config.yaml:6: agent: needs agent.command"));
  EXPECT_THAT(Error(std::string(kMinimal) + "agent:\n  command: [a]\n  url: http://x/run\n"),
              HasSubstr("config.yaml:6: agent.url: give agent.command or agent.url, not both"));
  EXPECT_THAT(Error(std::string(kMinimal) + "agent:\n  command: [a]\n  comand: [b]\n"),
              HasSubstr("config.yaml:6: unknown key 'agent.comand'; did you mean 'command'?"));
  EXPECT_THAT(Error(std::string(kMinimal) + "agent:\n  command: [a]\n  gateway:\n    port: 1\n"),
              HasSubstr("config.yaml:7: unknown key 'agent.gateway.port'"));
  EXPECT_THAT(Error(std::string(kMinimal) + "agent:\n  command: [a]\n  inject: user\n"),
              HasSubstr("agent.inject: expected one of system, none, got 'user'"));
  EXPECT_THAT(Error(std::string(kMinimal) + "agent:\n  url: ftp://x\n"), HasSubstr("agent.url: expected an http://"));
  EXPECT_THAT(Error(std::string(kMinimal) + "agent:\n  command: [a]\n  timeout_s: 0\n"),
              HasSubstr("agent.timeout_s: must be greater than 0"));
}

}  // namespace
}  // namespace tfgrpo
