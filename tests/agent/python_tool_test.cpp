// The python tool built from a config: tools.memory_mb and tools.allow_subprocess reach the
// sandbox (issue 7, finding 14); its arguments; and MakeToolsFor building tools.enabled.
#include <gtest/gtest.h>

#include "tfgrpo/agent.h"
#include "tfgrpo/config.h"

namespace tfgrpo {
namespace {

std::string RunWith(const ToolsConfig& config, const std::string& code) {
  auto tool = MakePythonTool(config);
  EXPECT_TRUE(tool.ok()) << tool.status().ToString();
  if (!tool.ok()) return "";
  auto output = (*tool)->Run({{"code", code}});
  EXPECT_TRUE(output.ok()) << output.status().ToString();
  if (!output.ok()) return "";
  EXPECT_FALSE(output->is_error) << output->text;
  return output->text;
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

TEST(PythonTool, ItsSpecAndArgumentErrorsAreForTheModel) {
  ToolsConfig config;
  config.timeout_s = 10;
  auto tool = MakePythonTool(config);
  ASSERT_TRUE(tool.ok()) << tool.status().ToString();
  EXPECT_EQ((*tool)->spec().name, "python");
  EXPECT_EQ((*tool)->spec().parameters, PythonToolSpec().parameters);
  for (const nlohmann::json& bad : {nlohmann::json::object(), nlohmann::json{{"script", "print(1)"}},
                                    nlohmann::json{{"code", 42}}}) {
    auto out = (*tool)->Run(bad);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_TRUE(out->is_error) << bad.dump();
    EXPECT_EQ(out->text.rfind("expected arguments {\"code\": \"<python script>\"}, got: " + bad.dump(), 0), 0u)
        << out->text;
  }
  // A script that prints nothing is told how to see its values; a failing one shows its
  // traceback as ordinary output, which is what the model needs to fix it.
  EXPECT_EQ(RunWith(config, "x = 1\n"), "(no output: print() the values you need to see)");
  std::string failed = RunWith(config, "raise ValueError('boom')\n");
  EXPECT_NE(failed.find("ValueError: boom"), std::string::npos) << failed;
}

Config AgentConfig(std::vector<std::string> enabled) {
  Config config;
  config.task.mode = "agent";
  config.tools.timeout_s = 10;
  config.tools.enabled = std::move(enabled);
  return config;
}

TEST(MakeToolsFor, BuildsTheEnabledBuiltInToolsInAgentModeOnly) {
  auto agent = MakeToolsFor(AgentConfig({"python"}));
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  ASSERT_EQ(agent->tools().size(), 1u);
  EXPECT_NE(agent->Find("python"), nullptr);
  EXPECT_EQ(agent->OpenAiTools()[0]["function"]["name"], "python");

  // tools.enabled: [] is an agent with no built-in tool (MCP tools only, or none at all).
  auto none = MakeToolsFor(AgentConfig({}));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());

  Config prompt = AgentConfig({"python", "search"});
  prompt.task.mode = "prompt";
  auto prompt_tools = MakeToolsFor(prompt);
  ASSERT_TRUE(prompt_tools.ok()) << prompt_tools.status().ToString();
  EXPECT_TRUE(prompt_tools->empty());
}

TEST(MakeToolsFor, NamesABuiltInToolThisBuildDoesNotProvide) {
  for (const std::string name : {"search", "browse"}) {
    auto made = MakeToolsFor(AgentConfig({"python", name}));
    ASSERT_FALSE(made.ok()) << name;
    EXPECT_EQ(made.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(made.status().message(), "tools.enabled: '" + name + "' is not available in this build");
  }
  auto unknown = MakeToolsFor(AgentConfig({"calculator"}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'calculator'"), std::string::npos) << unknown.status().message();
}

}  // namespace
}  // namespace tfgrpo
