// Helpers for the mcp suites: the fake server's command line, the npm servers' install dir, and a
// scratch directory.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tfgrpo/mcp.h"

namespace tfgrpo::testing {

inline std::string FakeServerScript() { return std::string(TFGRPO_SOURCE_DIR) + "/tests/mcp/fake_mcp_server.py"; }

inline McpServerConfig FakeServer(const std::string& name, std::vector<std::string> extra_args = {}) {
  McpServerConfig c;
  c.name = name;
  c.command = {"python3", FakeServerScript(), "--label", name};
  for (auto& a : extra_args) c.command.push_back(std::move(a));
  return c;
}

inline bool ProcessExists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

class McpTempDir {
 public:
  McpTempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("tfgrpo-mcp-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~McpTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline bool OnPath(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

// Where scripts/install-test-npm.sh put the npm MCP servers: $TFGRPO_MCP_NPM_DIR (the Makefile
// passes it), else its default $HOME/.cache/tfgrpo-npm. Installs them (idempotent) when they are
// missing, so a bare `ctest` works too. Empty (with a loud reason in *skip) only when node or npm
// is absent.
inline std::string NpmServersDir(std::string* skip) {
  if (!OnPath("node") || !OnPath("npm")) {
    *skip = "node/npm not found on PATH: the tests against the real npm MCP servers did NOT run";
    return "";
  }
  std::string dir;
  if (const char* env = std::getenv("TFGRPO_MCP_NPM_DIR"); env && *env) {
    dir = env;
  } else {
    const char* home = std::getenv("HOME");
    dir = std::string(home && *home ? home : "/tmp") + "/.cache/tfgrpo-npm";
  }
  const std::string marker = dir + "/node_modules/.bin/mcp-server-everything";
  if (!std::filesystem::exists(marker)) {
    const std::string cmd = std::string(TFGRPO_SOURCE_DIR) + "/scripts/install-test-npm.sh '" + dir + "' >&2";
    if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "installing the npm MCP servers failed: " << cmd;
  }
  return dir;
}

}  // namespace tfgrpo::testing
