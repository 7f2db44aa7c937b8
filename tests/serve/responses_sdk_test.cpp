// `serve`'s /v1/responses driven by the real `openai` npm package (pinned in
// scripts/install-test-npm.sh), through tests/serve/responses_sdk_client.mjs: what the official
// SDK parses out of our Responses and our event stream. Skipped loudly without node/npm.
#include <gtest/gtest.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "serve_test_util.h"
#include "tfgrpo/responses_api.h"
#include "tfgrpo/sim.h"

namespace tfgrpo {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using namespace serve_testing;

bool OnPath(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

// Where scripts/install-test-npm.sh keeps the npm packages ($TFGRPO_MCP_NPM_DIR, else its
// default); installs them when `openai` is missing. Empty, with the reason in *skip, without node.
std::string NpmDir(std::string* skip) {
  if (!OnPath("node") || !OnPath("npm")) {
    *skip = "node/npm not found on PATH: the tests of /v1/responses with the real openai SDK did NOT run";
    return "";
  }
  std::string dir;
  if (const char* env = std::getenv("TFGRPO_MCP_NPM_DIR"); env && *env) {
    dir = env;
  } else {
    const char* home = std::getenv("HOME");
    dir = std::string(home && *home ? home : "/tmp") + "/.cache/tfgrpo-npm";
  }
  if (!std::filesystem::exists(dir + "/node_modules/openai/package.json")) {
    const std::string cmd = std::string(TFGRPO_SOURCE_DIR) + "/scripts/install-test-npm.sh '" + dir + "' >&2";
    if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "installing the npm test packages failed: " << cmd;
  }
  return dir;
}

// Runs the client script against `base_url`; its one JSON line of output.
json RunClient(const std::string& npm_dir, const std::string& base_url, const std::string& input,
               const std::string& mode = "") {
  const std::string cmd = "OPENAI_BASE_URL='" + base_url + "' OPENAI_API_KEY=unused TFGRPO_NPM_DIR='" + npm_dir +
                          "' timeout 120 node '" + TFGRPO_SOURCE_DIR + "/tests/serve/responses_sdk_client.mjs' '" +
                          input + "' " + mode;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return json();
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int rc = ::pclose(pipe);
  EXPECT_EQ(rc, 0) << "the node client failed: " << out;
  json result = json::parse(out, nullptr, false);
  EXPECT_FALSE(result.is_discarded()) << out;
  return result;
}

class ResponsesSdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    npm_dir_ = NpmDir(&skip_);
    if (npm_dir_.empty()) GTEST_SKIP() << skip_;
    library_path_ = dir_.path() / "experiences.json";
    ASSERT_TRUE(DefaultLibrary().Save(library_path_).ok());
  }
  std::string npm_dir_, skip_;
  TempDir dir_;
  std::filesystem::path library_path_;
};

TEST_F(ResponsesSdkTest, OpenAiSdkReadsPlainAndStreamedResponsesAndOurErrors) {
  SimServer sim(SimOptions{});
  ASSERT_TRUE(sim.Start(0).ok());
  ProxyServer proxy(OptionsFor(library_path_, sim.base_url()));
  ASSERT_TRUE(proxy.Start().ok());
  const std::string question = "What is 2+2? Put the answer in \\boxed{}.";
  json got = RunClient(npm_dir_, proxy.base_url(), question);
  ASSERT_TRUE(got.is_object());

  EXPECT_EQ(got["plain_status"], "completed");
  const std::string text = got["plain_text"];
  EXPECT_FALSE(text.empty());
  EXPECT_GT(got["plain_usage"]["input_tokens"].get<int64_t>(), 0);
  EXPECT_EQ(got["plain_usage"]["total_tokens"].get<int64_t>(),
            got["plain_usage"]["input_tokens"].get<int64_t>() + got["plain_usage"]["output_tokens"].get<int64_t>());
  // The simulator is deterministic, so the three calls read the same text three ways.
  EXPECT_EQ(got["deltas"], text);
  EXPECT_EQ(got["completed_text"], text);
  EXPECT_EQ(got["final_text"], text);
  EXPECT_EQ(got["final_status"], "completed");
  EXPECT_EQ(got["types"].front(), "response.created");
  EXPECT_EQ(got["types"].back(), "response.completed");
  for (size_t i = 0; i < got["sequence"].size(); ++i) EXPECT_EQ(got["sequence"][i], i);
  EXPECT_EQ(got["refusal"]["status"], 400);
  EXPECT_EQ(got["refusal"]["param"], "previous_response_id");
  EXPECT_EQ(got["refusal"]["code"], "unsupported_parameter");

  // Each of the three answered calls reached upstream as the translation with the library in it.
  ordered_json expected = *ResponsesToChat(ordered_json{{"model", "sim-1"}, {"instructions", "Answer briefly."},
                                                        {"input", question}});
  ASSERT_TRUE(*InjectLibrary(expected, DefaultLibrary()));
  auto log = sim.RequestLog();
  ASSERT_EQ(log.size(), 3u);
  for (const auto& entry : log) EXPECT_EQ(entry.body_fingerprint, Fingerprint(expected.dump()));
}

TEST_F(ResponsesSdkTest, OpenAiSdkReadsFunctionCallsPlainAndStreamed) {
  Upstream upstream;
  upstream.server().Post("/v1/chat/completions", [](const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body);
    if (body["tools"][0]["function"]["name"] != "weather") {
      res.status = 400;
      res.set_content(R"({"error":{"message":"tools not translated","type":"invalid_request_error"}})",
                      "application/json");
      return;
    }
    res.set_content(R"({"id":"chatcmpl-t","object":"chat.completion","created":1,"model":"sim-1",
        "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
        "tool_calls":[{"id":"call_9","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}}]}}],
        "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})",
                    "application/json");
  });
  ASSERT_TRUE(upstream.Start());
  ProxyServer proxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy.Start().ok());
  json got = RunClient(npm_dir_, proxy.base_url(), "Weather in Oslo?", "tools");
  ASSERT_TRUE(got.is_object());
  const json expected = json::parse(R"([{"call_id":"call_9","name":"weather","arguments":"{\"city\":\"Oslo\"}"}])");
  EXPECT_EQ(got["plain_calls"], expected);
  EXPECT_EQ(got["stream_calls"], expected);
}

}  // namespace
}  // namespace tfgrpo
