// Pure parts of the mcp module: config validation, tool naming, result rendering.
#include <gtest/gtest.h>

#include "tfgrpo/mcp.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

TEST(McpConfig, ValidationNamesTheServerAndField) {
  McpServerConfig ok;
  ok.name = "everything";
  ok.command = {"npx", "-y", "@modelcontextprotocol/server-everything"};
  EXPECT_TRUE(ValidateMcpServerConfig(ok).ok());

  McpServerConfig both = ok;
  both.url = "http://127.0.0.1:3001/mcp";
  Status s = ValidateMcpServerConfig(both);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("'everything'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("exactly one of command"), std::string::npos) << s.message();

  McpServerConfig neither;
  neither.name = "x";
  EXPECT_FALSE(ValidateMcpServerConfig(neither).ok());

  McpServerConfig bad_name = ok;
  bad_name.name = "has space";
  EXPECT_NE(ValidateMcpServerConfig(bad_name).message().find("[A-Za-z0-9_-]"), std::string::npos);

  McpServerConfig bad_url;
  bad_url.name = "remote";
  bad_url.url = "file:///etc/passwd";
  EXPECT_NE(ValidateMcpServerConfig(bad_url).message().find("http:// or https://"), std::string::npos);

  McpServerConfig headers_on_stdio = ok;
  headers_on_stdio.headers_env = {{"Authorization", "MCP_TOKEN"}};
  EXPECT_FALSE(ValidateMcpServerConfig(headers_on_stdio).ok());
}

TEST(McpNaming, OwnNamesUnlessSharedOrTakenThenPrefixed) {
  auto names = ResolveMcpToolNames({{"a", "echo"}, {"a", "sum"}, {"b", "echo"}, {"b", "python"}, {"b", "read"}},
                                   {"python", "search"});
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{"a_echo", "sum", "b_echo", "b_python", "read"}));
}

TEST(McpNaming, UnsafeCharactersBecomeUnderscoresAndLongNamesAreCut) {
  auto names = ResolveMcpToolNames({{"s", "files.read"}, {"s", std::string(80, 'x')}}, {});
  ASSERT_TRUE(names.ok());
  EXPECT_EQ((*names)[0], "files_read");
  EXPECT_EQ((*names)[1], std::string(64, 'x'));
}

TEST(McpNaming, CollisionAfterPrefixingIsAnErrorNamingBoth) {
  // "a_echo" offered by b collides with a's prefixed "echo".
  auto names = ResolveMcpToolNames({{"a", "echo"}, {"b", "echo"}, {"c", "a_echo"}}, {});
  ASSERT_FALSE(names.ok());
  EXPECT_EQ(names.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(names.status().message().find("'a_echo'"), std::string::npos) << names.status().message();
  EXPECT_NE(names.status().message().find("server 'c'"), std::string::npos) << names.status().message();

  auto taken = ResolveMcpToolNames({{"s", "python"}}, {"python", "s_python"});
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.status().message().find("built-in"), std::string::npos);
}

TEST(McpRender, TextJoinedOtherContentDescribed) {
  json result = {{"content", json::array({
                                 {{"type", "text"}, {"text", "first"}},
                                 {{"type", "image"}, {"mimeType", "image/png"}, {"data", "iVBORw0KGgo="}},
                                 {{"type", "audio"}, {"mimeType", "audio/wav"}, {"data", "AAAA"}},
                                 {{"type", "resource_link"}, {"uri", "file:///a.txt"}, {"name", "a.txt"}},
                                 {{"type", "resource"}, {"resource", {{"uri", "mem://x"}, {"text", "inline"}}}},
                                 {{"type", "text"}, {"text", "last"}},
                             })}};
  ToolOutput out = RenderMcpToolResult(result, 1 << 20);
  EXPECT_FALSE(out.is_error);
  EXPECT_EQ(out.text,
            "first\n[image: image/png, 8 bytes]\n[audio: audio/wav, 3 bytes]\n"
            "[resource link: file:///a.txt (a.txt)]\n[resource: mem://x]\ninline\nlast");
}

TEST(McpRender, IsErrorStructuredContentAndCap) {
  ToolOutput err = RenderMcpToolResult({{"isError", true}, {"content", json::array({{{"type", "text"}, {"text", "bad"}}})}}, 100);
  EXPECT_TRUE(err.is_error);
  EXPECT_EQ(err.text, "bad");

  ToolOutput structured = RenderMcpToolResult({{"content", json::array()}, {"structuredContent", {{"sum", 5}}}}, 100);
  EXPECT_EQ(structured.text, "{\"sum\":5}");

  ToolOutput cut = RenderMcpToolResult({{"content", json::array({{{"type", "text"}, {"text", std::string(50, 'y')}}})}}, 10);
  EXPECT_EQ(cut.text.substr(0, 10), std::string(10, 'y'));
  EXPECT_NE(cut.text.find("[output cut at 10 bytes]"), std::string::npos);
}

}  // namespace
}  // namespace tfgrpo
