// The secrets of a run: every credential the configuration points at, read from the environment
// once at start-up; the one redaction rule applied wherever outside text (a child's stderr, a
// JSON-RPC error, an HTTP body, a tool output) enters an error, a log, a tool result or the run
// store; and the environment a child process gets (without those secrets).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tfgrpo {

struct Config;

// Replaces every occurrence of `secret` in `text` with "[redacted]", and every run of at least
// kRedactedPrefixBytes leading bytes of it (a key cut short by someone's truncation); no-op when
// `secret` is empty.
inline constexpr size_t kRedactedPrefixBytes = 8;
std::string RedactSecret(std::string text, std::string_view secret);

// The provider-key variables tfgrpo reads when a config names none: never passed to a child.
inline constexpr const char* kProviderKeyVariables[] = {"TFGRPO_API_KEY", "OPENAI_API_KEY"};

// A set of secrets: the environment variables that hold them and their values.
class SecretSet {
 public:
  // Adds the variable and, when it is set and not empty, its value (trimmed, as keys are read).
  void AddVariable(const std::string& name);
  // Adds a value that is not read from a variable (an MCP server's `env` entry); empty ignored.
  void AddValue(std::string value);
  void Merge(const SecretSet& other);
  // RedactSecret with every value of the set.
  std::string Redact(std::string text) const;
  const std::vector<std::string>& variables() const { return variables_; }
  const std::vector<std::string>& values() const { return values_; }

 private:
  std::vector<std::string> variables_;
  std::vector<std::string> values_;
};

// Every secret `config` points at: the model section's key variable (and the provider-key
// variables), every MCP server's headers_env variables and the credentials among its `env`
// values (a name holding KEY, TOKEN, SECRET, PASSWORD, PASSWD, AUTH, CREDENTIAL or COOKIE, a value
// of 8 bytes or more), tools.search's api_key_env. A section with a key of its own adds one
// AddVariable line in secrets.cpp.
SecretSet CollectSecrets(const Config& config);

// The run's secrets, process-wide. Before any install they are the provider-key variables'; each
// install adds to them (LoadConfig installs its config's). Thread-safe; an install is expected at
// start-up, before the threads that redact.
void InstallRunSecrets(const SecretSet& secrets);
SecretSet RunSecrets();
// RedactSecret with every run secret, and with the provider-key variables' values as they are
// now: the last guard on outside text.
std::string RedactRunSecrets(std::string text);

// The environment for a child process, as KEY=VALUE entries: ours, without every variable that
// holds a run secret (the provider-key variables always) and without any variable whose value is
// one, then `pass` added or replacing (the config passing a value to the child by name).
std::vector<std::string> ChildEnvironment(const std::map<std::string, std::string>& pass);
// The same rule over `base` (KEY=VALUE entries) instead of our environment: for children that
// get a fixed environment of their own (the python tool, reward workers), so whatever is added to
// it later still cannot carry a secret.
std::vector<std::string> ChildEnvironmentFrom(const std::vector<std::string>& base,
                                              const std::map<std::string, std::string>& pass = {});

}  // namespace tfgrpo
