// The schema's building blocks on a toy config: one declaration drives reading (types, unknown
// and repeated keys with their line), required keys, environment overrides, range checks, the
// fingerprint and path resolution; a section declared once is reused under another name.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "core/config_schema.h"
#include "tfgrpo/util.h"

namespace tfgrpo::config_schema {
namespace {

struct Endpoint {
  std::string url;
  int retries = 3;
  fs::path cert;
};

struct Toy {
  Endpoint primary;
  Endpoint backup;
  bool backup_given = false;
  int level = 1;
  std::vector<std::string> argv;
};

std::vector<Key<Endpoint>> EndpointKeys() {
  return {
      String("url", &Endpoint::url).Required().Env("TOY_URL").Check(HttpUrlOrEmpty()).Fingerprint(InFingerprint()),
      Int("retries", &Endpoint::retries).Check(AtLeast(0, " (0: one try)")),
      Path("cert", &Endpoint::cert),
  };
}

std::vector<Key<Toy>> ToyKeys() {
  Key<Toy> backup = Section<Toy, Endpoint>("backup", &Toy::backup, EndpointKeys());
  for (Key<Toy>& k : backup.keys) {  // reused: not required, not from the environment
    k.missing = nullptr;
    k.env = nullptr;
    k.fingerprint = FingerprintRule{};
  }
  backup.on_present = [](Toy& t) { t.backup_given = true; };
  backup.deferred = true;
  backup.prepare = [](Toy& t) { t.backup = t.primary; };
  backup.checked_if = [](const ConfigReader&, const std::string&, const Toy& t) { return t.backup_given; };
  return {
      Section<Toy, Endpoint>("primary", &Toy::primary, EndpointKeys()),
      backup,
      Mapping<Toy>("tuning", {Int("level", &Toy::level)
                                  .Check(Between(1, 9))
                                  .Fingerprint(InFingerprint().WhenChanged().As("/level"))}),
      StringList("argv", &Toy::argv).Check(ProgramNotBlank()).Fingerprint(InFingerprint().If([](const Config& c) {
        return c.task.mode == TaskMode::kExternal;
      })),
  };
}

// Reads `yaml` as the whole pipeline does: keys, environment, deferred sections, required keys,
// checks, paths.
Status Read(const std::string& yaml, Toy* toy, Config* config = nullptr) {
  Config scratch;
  ConfigReader reader("dir/toy.yaml", config ? config : &scratch);
  const std::vector<Key<Toy>> keys = ToyKeys();
  if (Status s = ReadKeys(reader, YAML::Load(yaml), "", keys, *toy); !s.ok()) return s;
  ApplyEnvironment(reader, "", keys, *toy);
  if (Status s = ReadDeferred(reader, keys, *toy); !s.ok()) return s;
  if (Status s = CheckRequired(reader, "", keys, *toy); !s.ok()) return s;
  if (Status s = CheckKeys(reader, "", keys, *toy); !s.ok()) return s;
  ResolvePaths("dir", keys, *toy);
  return Status::Ok();
}

std::string ErrorOf(const std::string& yaml) {
  Toy toy;
  Status s = Read(yaml, &toy);
  EXPECT_FALSE(s.ok()) << yaml;
  return s.message();
}

TEST(ConfigSchema, OneDeclarationReadsChecksAndResolves) {
  Toy toy;
  ASSERT_TRUE(Read("primary:\n  url: http://a\n  cert: c.pem\ntuning:\n  level: 4\nargv: [x, y]\n", &toy).ok());
  EXPECT_EQ(toy.primary.url, "http://a");
  EXPECT_EQ(toy.primary.retries, 3);  // the struct's default
  EXPECT_EQ(toy.primary.cert, fs::path("dir/c.pem"));
  EXPECT_EQ(toy.level, 4);
  EXPECT_EQ(toy.argv, (std::vector<std::string>{"x", "y"}));
  EXPECT_FALSE(toy.backup_given);
  EXPECT_EQ(toy.backup.url, "http://a");  // prepared from primary even when absent

  EXPECT_EQ(ErrorOf("primary:\n  url: http://a\n  retires: 2\n"),
            "dir/toy.yaml:3: unknown key 'primary.retires'; did you mean 'retries'?");
  EXPECT_EQ(ErrorOf("primary:\n  url: http://a\n  url: http://b\n"), "dir/toy.yaml:3: duplicate key 'primary.url'");
  EXPECT_EQ(ErrorOf("primary:\n  url: http://a\n  retries: lots\n"),
            "dir/toy.yaml:3: primary.retries: expected an integer, got 'lots'");
  EXPECT_EQ(ErrorOf("primary:\n  url: http://a\n  retries: -1\n"),
            "dir/toy.yaml:3: primary.retries: must be at least 0 (0: one try), got -1");
  EXPECT_EQ(ErrorOf("primary:\n  url: http://a\ntuning:\n  level: 10\n"),
            "dir/toy.yaml:4: tuning.level: must be between 1 and 9, got 10");
  EXPECT_EQ(ErrorOf("primary:\n  url: http://a\nargv: [\" \"]\n"),
            "dir/toy.yaml:3: argv: the program (first item) must not be empty, got ''");
  EXPECT_EQ(ErrorOf("tuning: 3\n"), "dir/toy.yaml:1: tuning: expected a mapping, got '3'");
  EXPECT_EQ(ErrorOf("[1, 2]\n"),
            "dir/toy.yaml:1: expected a mapping of sections (primary, backup, tuning, argv), got a list");
}

TEST(ConfigSchema, RequiredKeysAndEnvironmentOverridesComeFromTheDeclaration) {
  unsetenv("TOY_URL");
  EXPECT_EQ(ErrorOf("tuning:\n  level: 2\n"), "dir/toy.yaml: missing required key 'primary.url'");

  setenv("TOY_URL", "http://from-env", 1);
  Toy toy;
  ASSERT_TRUE(Read("primary:\n  url: http://file\n", &toy).ok());
  EXPECT_EQ(toy.primary.url, "http://from-env");
  EXPECT_EQ(toy.backup.url, "http://from-env");  // the deferred section starts after the override
  unsetenv("TOY_URL");
}

TEST(ConfigSchema, AReusedSectionNamesItselfAndIsCheckedOnlyWhenGiven) {
  Toy toy;
  ASSERT_TRUE(Read("backup:\n  retries: 7\nprimary:\n  url: http://a\n", &toy).ok());
  EXPECT_TRUE(toy.backup_given);
  EXPECT_EQ(toy.backup.url, "http://a");  // from primary, although backup came first in the file
  EXPECT_EQ(toy.backup.retries, 7);
  EXPECT_EQ(toy.primary.retries, 3);

  EXPECT_EQ(ErrorOf("primary:\n  url: http://a\nbackup:\n  url: ftp://b\n"),
            "dir/toy.yaml:4: backup.url: expected an http:// or https:// URL, got 'ftp://b'");
  EXPECT_EQ(ErrorOf("primary:\n  url: http://a\nbackup:\n  rl: x\n"),
            "dir/toy.yaml:4: unknown key 'backup.rl'; did you mean 'url'?");
}

TEST(ConfigSchema, FingerprintRulesDecideWhatEntersAndUnderWhichName) {
  const std::vector<Key<Toy>> keys = ToyKeys();
  Config config;
  Toy toy;
  toy.primary.url = "http://a";
  toy.backup.url = "http://b";
  toy.argv = {"run"};
  nlohmann::json j;
  AddFingerprint(config, "", keys, toy, j);
  // Only the always-included key: level is at its default, argv only in external mode, backup
  // has no fingerprinted keys.
  EXPECT_EQ(j.dump(), R"({"primary":{"url":"http://a"}})");

  toy.level = 5;
  config.task.mode = TaskMode::kExternal;
  j = nlohmann::json();
  AddFingerprint(config, "", keys, toy, j);
  EXPECT_EQ(j.dump(), R"({"argv":["run"],"level":5,"primary":{"url":"http://a"}})");
}

TEST(ConfigSchema, PathsAreShownAsWrittenInTheFingerprint) {
  EXPECT_EQ(PathAsWritten("runs/cfg/data/t.jsonl", "runs/cfg/config.yaml"), "data/t.jsonl");
  EXPECT_EQ(PathAsWritten("/abs/t.jsonl", "runs/cfg/config.yaml"), "/abs/t.jsonl");
  EXPECT_EQ(PathAsWritten("t.jsonl", "config.yaml"), "t.jsonl");
  EXPECT_EQ(PathAsWritten("", "runs/config.yaml"), "");
}

// README documents a key as `path` (possibly `path: value`), in a shorthand row such as
// "`practice.validation.tasks` / `.k`", through its mapping ("`budget.price_per_mtok` ...
// {prompt, cached_prompt, completion}"), or as "`learner.*`".
bool Documented(const std::string& readme, const std::string& path) {
  for (const char* end : {"`", ":", " "})
    if (readme.find("`" + path + end) != std::string::npos) return true;
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos) return false;
  const std::string parent = path.substr(0, dot), last = path.substr(dot + 1);
  std::istringstream lines(readme);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("`" + parent + ".") != std::string::npos && line.find("`." + last + "`") != std::string::npos)
      return true;
  }
  if (parent.find('.') != std::string::npos && readme.find("`" + parent + "`") != std::string::npos) return true;
  return readme.find("`" + path.substr(0, path.find('.')) + ".*`") != std::string::npos;
}

TEST(ConfigSchema, EveryDeclaredKeyIsInTheReadme) {
  auto readme = ReadFile(fs::path(TFGRPO_SOURCE_DIR) / "README.md");
  ASSERT_TRUE(readme.ok()) << readme.status().ToString();
  std::vector<std::string> paths;
  LeafPaths("", Schema(), &paths);
  EXPECT_GT(paths.size(), 80u);  // the whole schema, learner and judge included
  EXPECT_FALSE(Documented(*readme, "practice.no_such_key"));
  EXPECT_FALSE(Documented(*readme, "tools.search.no_such_key"));
  for (const std::string& path : paths) {
    EXPECT_TRUE(Documented(*readme, path)) << path << " is declared in config.cpp but README does not mention it";
  }
}

}  // namespace
}  // namespace tfgrpo::config_schema
