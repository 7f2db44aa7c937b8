// The python tool built from a config: tools.memory_mb and tools.allow_subprocess reach the
// sandbox (issue 7, finding 14).
#include <gtest/gtest.h>

#include "tfgrpo/agent.h"
#include "tfgrpo/config.h"

namespace tfgrpo {
namespace {

std::string RunWith(const ToolsConfig& config, const std::string& code) {
  auto tool = MakePythonToolRunner(config);
  EXPECT_TRUE(tool.ok()) << tool.status().ToString();
  if (!tool.ok()) return "";
  auto output = (*tool)->RunPython(code);
  EXPECT_TRUE(output.ok()) << output.status().ToString();
  return output.ok() ? *output : "";
}

const char* kFork =
    "import os\n"
    "try:\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n        os._exit(0)\n"
    "    os.waitpid(pid, 0); print('forked')\n"
    "except PermissionError:\n    print('refused')\n";

TEST(PythonToolConfig, AllowSubprocessReachesTheSandbox) {
  ToolsConfig config;
  config.timeout_s = 10;
  EXPECT_EQ(RunWith(config, kFork), "refused\n");
  config.allow_subprocess = true;
  EXPECT_EQ(RunWith(config, kFork), "forked\n");
}

TEST(PythonToolConfig, MemoryMbBoundsTheCall) {
  ToolsConfig config;
  config.timeout_s = 10;
  const std::string grab =
      "try:\n    b = b'x' * (400 << 20); print('got 400 MiB')\n"
      "except MemoryError:\n    print('MemoryError')\n";
  config.memory_mb = 256;
  EXPECT_EQ(RunWith(config, grab), "MemoryError\n");
  config.memory_mb = 1024;
  EXPECT_EQ(RunWith(config, grab), "got 400 MiB\n");
}

}  // namespace
}  // namespace tfgrpo
