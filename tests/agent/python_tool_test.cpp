// The python tool built from a config: tools.memory_mb and tools.allow_subprocess reach the
// sandbox (issue 7, finding 14); its arguments; and MakeToolsFor building tools.enabled.
#include <gtest/gtest.h>

#include <fstream>

#include "local_http_server.h"
#include "test_util.h"
#include "tfgrpo/agent.h"
#include "tfgrpo/web.h"
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
  config.task.mode = TaskMode::kAgent;
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
  prompt.task.mode = TaskMode::kPrompt;
  auto prompt_tools = MakeToolsFor(prompt);
  ASSERT_TRUE(prompt_tools.ok()) << prompt_tools.status().ToString();
  EXPECT_TRUE(prompt_tools->empty());
}

TEST(MakeToolsFor, BuildsSearchAndBrowseOverOneIndexAndNamesWhatIsMissing) {
  tfgrpo::testing::TempDir dir;
  std::ofstream(dir / "corpus.jsonl")
      << R"({"url": "https://example.org/owls", "title": "Owls", "text": "Owls hunt at night."})" << "\n";
  IndexBuildOptions build;
  build.corpus = dir / "corpus.jsonl";
  build.out = dir / "index.db";
  ASSERT_TRUE(BuildIndex(build).ok());

  Config config = AgentConfig({"search", "browse"});
  auto missing = MakeToolsFor(config);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("tools.search.index"), std::string::npos) << missing.status().ToString();

  config.tools.search.index = dir / "index.db";
  auto made = MakeToolsFor(config);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ASSERT_EQ(made->tools().size(), 2u);
  auto found = made->Find("search")->Run({{"query", "owls night"}});
  ASSERT_TRUE(found.ok());
  EXPECT_NE(found->text.find("https://example.org/owls"), std::string::npos) << found->text;
  auto page = made->Find("browse")->Run({{"url", "https://example.org/owls"}, {"goal", "what owls do"}});
  ASSERT_TRUE(page.ok());
  EXPECT_FALSE(page->is_error) << page->text;
  EXPECT_NE(page->text.find("Owls hunt at night."), std::string::npos) << page->text;

  config.tools.search.index = dir / "no-such.db";
  auto bad_index = MakeToolsFor(config);
  ASSERT_FALSE(bad_index.ok());
  EXPECT_NE(bad_index.status().message().find("tools.search.index"), std::string::npos);
  EXPECT_NE(bad_index.status().message().find("build it with `tfgrpo index build CORPUS -o " +
                                              (dir / "no-such.db").string() + "`"),
            std::string::npos)
      << bad_index.status().message();

  auto unknown = MakeToolsFor(AgentConfig({"calculator"}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'calculator'"), std::string::npos) << unknown.status().message();
}

TEST(MakeToolsFor, ToolsTimeoutBoundsAPageFetchToo) {
  tfgrpo::testing::TempDir dir;
  std::ofstream(dir / "corpus.jsonl") << R"({"url": "https://example.org/a", "title": "A", "text": "a"})" << "\n";
  IndexBuildOptions build;
  build.corpus = dir / "corpus.jsonl";
  build.out = dir / "index.db";
  ASSERT_TRUE(BuildIndex(build).ok());
  tfgrpo::testing::LocalHttpServer server;
  std::atomic<bool> release{false};
  server.server().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    for (int i = 0; i < 100 && !release; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    res.set_content("<p>late</p>", "text/html");
  });
  ASSERT_TRUE(server.Start());
  Config config = AgentConfig({"browse"});
  config.tools.search.index = dir / "index.db";
  config.tools.browse.allow_private = true;
  config.tools.timeout_s = 0.3;
  auto made = MakeToolsFor(config);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  auto page = made->Find("browse")->Run(
      {{"url", "http://127.0.0.1:" + std::to_string(server.port()) + "/slow"}, {"goal", "x"}});
  release = true;
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->is_error) << page->text;
  EXPECT_EQ(page->text.find("late"), std::string::npos) << page->text;
}

TEST(MakeToolsFor, RemoteSearchBackendsAskToolsSearchUrl) {
  // tools.search.url is SearXNG's base and replaces Serper's endpoint (a proxy, a test double);
  // either may be given with its /search path already.
  tfgrpo::testing::LocalHttpServer server;
  std::vector<std::string> asked;
  server.server().Get("/search", [&](const httplib::Request& req, httplib::Response& res) {
    asked.push_back("GET " + req.get_param_value("q") + " " + req.get_param_value("format"));
    res.set_content(R"({"results": [{"title": "Owls", "url": "https://owls.example/", "content": "at night"}]})",
                    "application/json");
  });
  server.server().Post("/search", [&](const httplib::Request& req, httplib::Response& res) {
    asked.push_back("POST " + nlohmann::json::parse(req.body)["q"].get<std::string>() + " " +
                    req.get_header_value("X-API-KEY"));
    res.set_content(R"({"organic": [{"title": "Bats", "link": "https://bats.example/", "snippet": "at dusk"}]})",
                    "application/json");
  });
  ASSERT_TRUE(server.Start());
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  ::setenv("TFGRPO_TEST_MAKE_SERPER_KEY", "sk-make-tools-serper-1", 1);
  for (const std::string& url : {base, base + "/search"}) {
    Config searxng = AgentConfig({"search"});
    searxng.tools.search.backend = "searxng";
    searxng.tools.search.url = url;
    auto made = MakeToolsFor(searxng);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    auto out = made->Find("search")->Run({{"query", "owls"}});
    ASSERT_TRUE(out.ok());
    EXPECT_NE(out->text.find("https://owls.example/"), std::string::npos) << out->text;

    Config serper = AgentConfig({"search"});
    serper.tools.search.backend = "serper";
    serper.tools.search.url = url;
    serper.tools.search.api_key_env = "TFGRPO_TEST_MAKE_SERPER_KEY";
    made = MakeToolsFor(serper);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    out = made->Find("search")->Run({{"query", "bats"}});
    ASSERT_TRUE(out.ok());
    EXPECT_NE(out->text.find("https://bats.example/"), std::string::npos) << out->text;
  }
  EXPECT_EQ(asked, (std::vector<std::string>{"GET owls json", "POST bats sk-make-tools-serper-1",
                                             "GET owls json", "POST bats sk-make-tools-serper-1"}));
  Config bad = AgentConfig({"search"});
  bad.tools.search.backend = "serper";
  bad.tools.search.url = "ftp://proxy.example/";
  bad.tools.search.api_key_env = "TFGRPO_TEST_MAKE_SERPER_KEY";
  auto refused = MakeToolsFor(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("tools.search.url"), std::string::npos) << refused.status().ToString();
}

TEST(MakeToolsFor, AddsTheToolsOfEveryMcpServerAfterTheBuiltIns) {
  Config config = AgentConfig({"python"});
  McpServerConfig server;
  server.name = "fake";
  server.command = {"python3", std::string(TFGRPO_SOURCE_DIR) + "/tests/mcp/fake_mcp_server.py", "--tools", "echo,python"};
  config.tools.mcp.push_back(server);
  auto made = MakeToolsFor(config);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ASSERT_EQ(made->tools().size(), 3u);
  EXPECT_EQ(made->tools()[0]->spec().name, "python");
  EXPECT_NE(made->Find("echo"), nullptr);
  EXPECT_NE(made->Find("fake_python"), nullptr);  // clashes with the built-in: prefixed
  auto echoed = made->Find("echo")->Run({{"text", "hello"}});
  ASSERT_TRUE(echoed.ok());
  EXPECT_NE(echoed->text.find("hello"), std::string::npos) << echoed->text;

  config.tools.mcp[0].command = {"/nonexistent/mcp-server"};
  auto broken = MakeToolsFor(config);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("tools.mcp"), std::string::npos) << broken.status().ToString();
  EXPECT_NE(broken.status().message().find("fake"), std::string::npos) << broken.status().ToString();
}

}  // namespace
}  // namespace tfgrpo
