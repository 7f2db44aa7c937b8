// MCP over stdio against the real npm servers @modelcontextprotocol/server-everything and
// @modelcontextprotocol/server-filesystem (installed by scripts/install-test-npm.sh).
#include <fstream>

#include <gtest/gtest.h>

#include "mcp_test_util.h"
#include "tfgrpo/mcp.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

class NpmServers : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string skip;
    dir_ = testing::NpmServersDir(&skip);
    if (dir_.empty()) GTEST_SKIP() << skip;
  }
  McpServerConfig Server(const std::string& name, const std::string& bin, std::vector<std::string> args = {}) {
    McpServerConfig c;
    c.name = name;
    c.command = {"node", dir_ + "/node_modules/.bin/" + bin};
    for (auto& a : args) c.command.push_back(std::move(a));
    return c;
  }
  static McpOptions Options() {
    McpOptions o;
    o.call_timeout_s = 30;
    o.startup_timeout_s = 60;
    return o;
  }
  std::string dir_;
};

std::shared_ptr<Tool> Find(const McpToolset& set, const std::string& name) {
  for (const auto& t : set.tools)
    if (t->spec().name == name) return t;
  return nullptr;
}

TEST_F(NpmServers, EverythingOverStdio) {
  McpServerConfig config = Server("everything", "mcp-server-everything", {"stdio"});
  config.env = {{"TFGRPO_MCP_MARKER", "marker-value-42"}};
  auto set = ConnectMcpServers({config}, {"python"}, Options());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto sum = Find(*set, "get-sum");
  auto echo = Find(*set, "echo");
  auto image = Find(*set, "get-tiny-image");
  auto env = Find(*set, "get-env");
  ASSERT_TRUE(sum && echo && image && env);
  EXPECT_EQ(sum->spec().parameters["properties"]["a"]["type"], "number") << sum->spec().parameters.dump();
  EXPECT_FALSE(sum->spec().description.empty());

  auto out = sum->Run({{"a", 2}, {"b", 40}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_FALSE(out->is_error) << out->text;
  EXPECT_NE(out->text.find("42"), std::string::npos) << out->text;

  auto echoed = echo->Run({{"message", "hello mcp"}});
  ASSERT_TRUE(echoed.ok());
  EXPECT_EQ(echoed->text, "Echo: hello mcp");

  auto pic = image->Run(json::object());
  ASSERT_TRUE(pic.ok());
  EXPECT_NE(pic->text.find("[image: image/png, "), std::string::npos) << pic->text;

  auto vars = env->Run(json::object());
  ASSERT_TRUE(vars.ok());
  EXPECT_NE(vars->text.find("marker-value-42"), std::string::npos);

  // Arguments the server's schema refuses: shown to the model, never a failed rollout.
  auto bad = sum->Run({{"a", "not a number"}});
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  EXPECT_TRUE(bad->is_error) << bad->text;
  set->Stop();
}

TEST_F(NpmServers, EverythingAllowList) {
  McpServerConfig config = Server("everything", "mcp-server-everything", {"stdio"});
  config.allow = {"get-sum", "echo"};
  auto set = ConnectMcpServers({config}, {}, Options());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->tools.size(), 2u);
  EXPECT_EQ(set->tools[0]->spec().name, "get-sum");
  EXPECT_EQ(set->tools[1]->spec().name, "echo");
}

TEST_F(NpmServers, FilesystemOnATempDirNextToEverything) {
  testing::McpTempDir tmp;
  std::ofstream(tmp.path() / "note.txt") << "the answer is 42\n";
  McpServerConfig fs = Server("fs", "mcp-server-filesystem", {tmp.path().string()});
  McpServerConfig everything = Server("everything", "mcp-server-everything", {"stdio"});
  auto set = ConnectMcpServers({fs, everything}, {}, Options());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto read = Find(*set, "read_text_file");
  auto write = Find(*set, "write_file");
  ASSERT_TRUE(read && write);
  auto got = read->Run({{"path", (tmp.path() / "note.txt").string()}});
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->is_error) << got->text;
  EXPECT_EQ(got->text, "the answer is 42\n");

  auto wrote = write->Run({{"path", (tmp.path() / "out.txt").string()}, {"content", "written by mcp"}});
  ASSERT_TRUE(wrote.ok());
  EXPECT_FALSE(wrote->is_error) << wrote->text;
  std::ifstream in(tmp.path() / "out.txt");
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "written by mcp");

  auto outside = read->Run({{"path", "/etc/hostname"}});
  ASSERT_TRUE(outside.ok());
  EXPECT_TRUE(outside->is_error) << outside->text;  // outside the allowed dir: the server refuses
  set->Stop();
}

}  // namespace
}  // namespace tfgrpo
