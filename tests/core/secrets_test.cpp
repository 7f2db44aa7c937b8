// The run's secrets (tfgrpo/secrets.h): which config keys they come from, the one redaction rule
// (whole secrets and 8-byte prefixes), and the environment a child gets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "tfgrpo/config.h"
#include "tfgrpo/secrets.h"

namespace tfgrpo {
namespace {

bool Has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~EnvVar() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST(Secrets, CollectedFromEveryKeyTheConfigPointsAt) {
  EnvVar model("TFGRPO_TEST_MODEL_KEY", "  model-secret-0001  ");
  EnvVar search("TFGRPO_TEST_SEARCH_KEY", "search-secret-0002");
  EnvVar header("TFGRPO_TEST_HEADER_KEY", "Bearer header-secret-0003");
  Config config;
  config.model.api_key_env = "TFGRPO_TEST_MODEL_KEY";
  config.tools.search.api_key_env = "TFGRPO_TEST_SEARCH_KEY";
  McpServerConfig server;
  server.name = "s";
  server.headers_env = {{"Authorization", "TFGRPO_TEST_HEADER_KEY"}};
  server.env = {{"GITHUB_TOKEN", "env-secret-0004"}, {"DEBUG", "1"}, {"NODE_ENV", "production"}, {"API_KEY", "short"}};
  config.tools.mcp.push_back(server);

  SecretSet secrets = CollectSecrets(config);
  for (const char* name : {"TFGRPO_API_KEY", "OPENAI_API_KEY", "TFGRPO_TEST_MODEL_KEY", "TFGRPO_TEST_SEARCH_KEY",
                           "TFGRPO_TEST_HEADER_KEY"})
    EXPECT_TRUE(Has(secrets.variables(), name)) << name;
  EXPECT_TRUE(Has(secrets.values(), "model-secret-0001"));  // trimmed, as the key is sent
  EXPECT_TRUE(Has(secrets.values(), "search-secret-0002"));
  EXPECT_TRUE(Has(secrets.values(), "Bearer header-secret-0003"));
  EXPECT_TRUE(Has(secrets.values(), "env-secret-0004"));
  EXPECT_FALSE(Has(secrets.values(), "1"));           // settings, not credentials
  EXPECT_FALSE(Has(secrets.values(), "production"));
  EXPECT_FALSE(Has(secrets.values(), "short"));       // too short to redact safely

  const std::string text = secrets.Redact(
      "model-secret-0001 / search-secret / Bearer header-secret-0003 / env-secr / ok");
  EXPECT_EQ(text, "[redacted] / [redacted] / [redacted] / [redacted] / ok");
}

TEST(Secrets, RedactReplacesWholeSecretsAndEveryPrefixOfEightBytesOrMore) {
  EXPECT_EQ(RedactSecret("key sk-abcdefgh1234 end", "sk-abcdefgh1234"), "key [redacted] end");
  EXPECT_EQ(RedactSecret("cut sk-abcde...", "sk-abcdefgh1234"), "cut [redacted]...");
  EXPECT_EQ(RedactSecret("short sk-abcd", "sk-abcdefgh1234"), "short sk-abcd");  // 7 bytes: kept
  EXPECT_EQ(RedactSecret("anything", ""), "anything");
}

TEST(Secrets, RunSecretsAlwaysCoverTheProviderKeyAsItIsNow) {
  EnvVar key("OPENAI_API_KEY", "sk-openai-late-key-555");
  EXPECT_EQ(RedactRunSecrets("echo sk-openai-late-key-555"), "echo [redacted]");
}

TEST(Secrets, AChildEnvironmentHoldsNoSecretUnlessPassedByName) {
  EnvVar provider("TFGRPO_API_KEY", "sk-provider-key-666");
  EnvVar copy("SOME_COPY_OF_IT", "sk-provider-key-666");
  EnvVar other("TFGRPO_TEST_OTHER_SECRET", "other-secret-777");
  EnvVar plain("TFGRPO_TEST_PLAIN", "plain-value");
  SecretSet installed;
  installed.AddVariable("TFGRPO_TEST_OTHER_SECRET");
  installed.AddVariable("TFGRPO_API_KEY");
  InstallRunSecrets(installed);

  std::vector<std::string> env = ChildEnvironment({});
  EXPECT_TRUE(Has(env, "TFGRPO_TEST_PLAIN=plain-value"));
  for (const auto& entry : env) {
    EXPECT_EQ(entry.find("sk-provider"), std::string::npos) << entry;
    EXPECT_EQ(entry.find("other-secret"), std::string::npos) << entry;
  }
  // The config passes one by name: that one, under that name, and nothing else.
  env = ChildEnvironment({{"SERVER_TOKEN", "other-secret-777"}});
  EXPECT_TRUE(Has(env, "SERVER_TOKEN=other-secret-777"));
  EXPECT_FALSE(Has(env, "TFGRPO_TEST_OTHER_SECRET=other-secret-777"));
}

}  // namespace
}  // namespace tfgrpo
