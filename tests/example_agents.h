// The agents of examples/agents as the tests run them: which exist, where their npm packages are
// (scripts/install-test-npm.sh's directory, reached through NODE_PATH as the examples' README
// says), and one run of an agent by hand with a given environment and stdin. Shared by the tests
// that run them through `serve` and through the gateway.
#pragma once

#include <sys/wait.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace tfgrpo::testing {

struct ExampleAgent {
  std::string name;     // the folder under examples/agents
  bool needs_node;      // false: the python example (python3 only)
};
inline void PrintTo(const ExampleAgent& agent, std::ostream* os) { *os << agent.name; }

inline const std::vector<ExampleAgent>& ExampleAgents() {
  static const std::vector<ExampleAgent> agents = {
      {"openai-sdk", true}, {"openai-agents", true}, {"langgraph", true}, {"ai-sdk", true}, {"python", false}};
  return agents;
}

inline std::filesystem::path ExampleAgentsDir() {
  return std::filesystem::path(TFGRPO_SOURCE_DIR) / "examples" / "agents";
}

inline bool ProgramOnPath(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

// The npm directory holding the examples' frameworks, installing them when one is missing;
// empty, with the reason in *skip, when node/npm are not there or the install failed.
inline std::string ExampleNpmDir(std::string* skip) {
  if (!ProgramOnPath("node") || !ProgramOnPath("npm")) {
    *skip = "node/npm not found on PATH: the examples/agents framework agents did NOT run";
    return "";
  }
  std::string dir;
  if (const char* env = std::getenv("TFGRPO_MCP_NPM_DIR"); env && *env) {
    dir = env;
  } else {
    const char* home = std::getenv("HOME");
    dir = std::string(home && *home ? home : "/tmp") + "/.cache/tfgrpo-npm";
  }
  const std::vector<std::string> packages = {"openai", "@openai/agents", "@langchain/langgraph", "@langchain/openai",
                                             "ai", "@ai-sdk/openai", "zod"};
  auto missing = [&] {
    for (const auto& p : packages) {
      if (!std::filesystem::exists(dir + "/node_modules/" + p + "/package.json")) return true;
    }
    return false;
  };
  if (missing()) {
    const std::string cmd = std::string(TFGRPO_SOURCE_DIR) + "/scripts/install-test-npm.sh '" + dir + "' >&2";
    if (std::system(cmd.c_str()) != 0 || missing()) {
      *skip = "installing the npm test packages into " + dir + " failed: the framework agents did NOT run";
      return "";
    }
  }
  return dir;
}

struct ExampleRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs examples/agents/<name> once from its folder, as the runner would: `env` added to the
// environment, `stdin_line` on its standard input, at most 120 s. `scratch` holds the stdin and
// stderr files.
inline ExampleRun RunExampleAgent(const ExampleAgent& agent, const std::map<std::string, std::string>& env,
                                  const std::string& stdin_line, const std::filesystem::path& scratch) {
  static std::atomic<int> counter{0};
  const std::string id = std::to_string(counter.fetch_add(1));
  const std::filesystem::path in = scratch / ("stdin-" + id), err = scratch / ("stderr-" + id);
  std::ofstream(in) << stdin_line << "\n";
  std::string cmd = "cd " + ShellQuote((ExampleAgentsDir() / agent.name).string()) + " && env";
  for (const auto& [k, v] : env) cmd += " " + ShellQuote(k + "=" + v);
  cmd += agent.needs_node ? " timeout 120 node agent.cjs" : " timeout 120 python3 agent.py";
  cmd += " < " + ShellQuote(in.string()) + " 2> " + ShellQuote(err.string());
  ExampleRun run;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) run.out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err);
  run.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  return run;
}

}  // namespace tfgrpo::testing
