// One redaction rule and one child environment for every secret of the run (tfgrpo/secrets.h).
#include "tfgrpo/secrets.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "tfgrpo/config.h"
#include "tfgrpo/util.h"

extern char** environ;

namespace tfgrpo {

std::string RedactSecret(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  text = ReplaceAll(std::move(text), secret, "[redacted]");
  if (secret.size() < kRedactedPrefixBytes) return text;
  // A prefix of the key (cut off by a provider's own truncation, say) is as good as half a key.
  const std::string_view head = secret.substr(0, kRedactedPrefixBytes);
  std::string out;
  size_t from = 0;
  for (size_t at = text.find(head); at != std::string::npos; at = text.find(head, from)) {
    size_t len = kRedactedPrefixBytes;
    while (len < secret.size() && at + len < text.size() && text[at + len] == secret[len]) ++len;
    out.append(text, from, at - from);
    out += "[redacted]";
    from = at + len;
  }
  if (from == 0) return text;
  out.append(text, from, std::string::npos);
  return out;
}

void SecretSet::AddVariable(const std::string& name) {
  if (name.empty()) return;
  if (std::find(variables_.begin(), variables_.end(), name) == variables_.end()) variables_.push_back(name);
  if (const char* value = std::getenv(name.c_str())) {
    AddValue(std::string(value));
    AddValue(Trim(value));  // the form a key is sent in
  }
}

void SecretSet::AddValue(std::string value) {
  if (value.empty()) return;
  if (std::find(values_.begin(), values_.end(), value) != values_.end()) return;
  values_.push_back(std::move(value));
  // Longest first: a secret that contains another is replaced whole, not around the shorter one.
  std::stable_sort(values_.begin(), values_.end(), [](const std::string& a, const std::string& b) {
    return a.size() > b.size();
  });
}

void SecretSet::Merge(const SecretSet& other) {
  for (const auto& name : other.variables_)
    if (std::find(variables_.begin(), variables_.end(), name) == variables_.end()) variables_.push_back(name);
  for (const auto& value : other.values_) AddValue(value);
}

std::string SecretSet::Redact(std::string text) const {
  for (const auto& value : values_) text = RedactSecret(std::move(text), value);
  return text;
}

namespace {

// An MCP server's `env` entry that holds a credential: its name says so (GITHUB_TOKEN, API_KEY,
// DB_PASSWORD, ...) and its value is at least a key prefix long. Other entries (NODE_ENV:
// production, PATH) are settings: redacting them would blank ordinary words in every text.
bool LooksLikeCredential(const std::string& name, const std::string& value) {
  if (value.size() < kRedactedPrefixBytes) return false;
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const char* word : {"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "AUTH", "CREDENTIAL", "COOKIE"})
    if (upper.find(word) != std::string::npos) return true;
  return false;
}

}  // namespace

SecretSet CollectSecrets(const Config& config) {
  SecretSet secrets;
  for (const char* name : kProviderKeyVariables) secrets.AddVariable(name);
  secrets.AddVariable(config.model.api_key_env);
  secrets.AddVariable(config.learner.api_key_env);  // a model per role: each section's key
  secrets.AddVariable(config.judge.api_key_env);
  secrets.AddVariable(config.tools.search.api_key_env);
  secrets.AddVariable(config.retrieval.embeddings.api_key_env);
  for (const McpServerConfig& server : config.tools.mcp) {
    for (const auto& [header, variable] : server.headers_env) secrets.AddVariable(variable);
    // A credential a server is given by name is kept from every other child and from every text.
    for (const auto& [name, value] : server.env)
      if (LooksLikeCredential(name, value)) secrets.AddValue(value);
  }
  return secrets;
}

namespace {

std::mutex& RunSecretsMutex() {
  static std::mutex mu;
  return mu;
}

// Under RunSecretsMutex; replaced (never changed in place) so readers keep a consistent copy.
std::shared_ptr<const SecretSet>& RunSecretsSlot() {
  static std::shared_ptr<const SecretSet> slot = [] {
    auto initial = std::make_shared<SecretSet>();
    for (const char* name : kProviderKeyVariables) initial->AddVariable(name);
    return std::shared_ptr<const SecretSet>(std::move(initial));
  }();
  return slot;
}

std::shared_ptr<const SecretSet> CurrentRunSecrets() {
  std::lock_guard lock(RunSecretsMutex());
  return RunSecretsSlot();
}

}  // namespace

void InstallRunSecrets(const SecretSet& secrets) {
  std::lock_guard lock(RunSecretsMutex());
  auto merged = std::make_shared<SecretSet>(*RunSecretsSlot());
  merged->Merge(secrets);
  RunSecretsSlot() = std::move(merged);
}

SecretSet RunSecrets() { return *CurrentRunSecrets(); }

std::string RedactRunSecrets(std::string text) {
  text = CurrentRunSecrets()->Redact(std::move(text));
  // The provider keys as they are now, too: a key set after the first use (a test, an embedding
  // program) is still never let through.
  for (const char* name : kProviderKeyVariables) {
    if (const char* value = std::getenv(name)) {
      text = RedactSecret(std::move(text), value);
      text = RedactSecret(std::move(text), Trim(value));
    }
  }
  return text;
}

std::vector<std::string> ChildEnvironment(const std::map<std::string, std::string>& pass) {
  std::vector<std::string> ours;
  for (char** e = environ; e && *e; ++e) ours.emplace_back(*e);
  return ChildEnvironmentFrom(ours, pass);
}

std::vector<std::string> ChildEnvironmentFrom(const std::vector<std::string>& base,
                                              const std::map<std::string, std::string>& pass) {
  const auto secrets = CurrentRunSecrets();
  const auto& names = secrets->variables();
  const auto& values = secrets->values();
  std::map<std::string, std::string> env;
  for (const std::string& entry : base) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string name = entry.substr(0, eq), value = entry.substr(eq + 1);
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    if (!value.empty() && std::find(values.begin(), values.end(), value) != values.end()) continue;
    if (std::find(std::begin(kProviderKeyVariables), std::end(kProviderKeyVariables), name) !=
        std::end(kProviderKeyVariables))
      continue;
    env[std::move(name)] = std::move(value);
  }
  for (const auto& [name, value] : pass) env[name] = value;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

}  // namespace tfgrpo
