// The browse tool against a loopback test server, and the SearXNG / Serper backends against
// fakes that answer in their JSON shapes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <thread>

#include "local_http_server.h"
#include "test_util.h"
#include "tfgrpo/http.h"
#include "tfgrpo/web.h"

namespace tfgrpo {
namespace {

using testing::LocalHttpServer;
using testing::ScriptedClient;
using testing::TempDir;

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class BrowseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& s = server_.server();
    s.Get("/page", [this](const httplib::Request&, httplib::Response& res) {
      ++hits_;
      res.set_content(
          "<html><head><title>Test page</title><script>var tracking = 1;</script><style>p{}</style></head>"
          "<body><nav>Menu Home About</nav><h1>Heading</h1><p>The answer is <a href=\"/other\">forty two</a>.</p>"
          "<footer>Footer text</footer></body></html>",
          "text/html; charset=utf-8");
    });
    s.Get("/other", [](const httplib::Request&, httplib::Response& res) { res.set_content("<p>Other</p>", "text/html"); });
    s.Get("/redirect", [this](const httplib::Request&, httplib::Response& res) {
      res.status = 302;
      res.set_header("Location", "/page");
    });
    s.Get("/redirect-private", [this](const httplib::Request&, httplib::Response& res) {
      res.status = 302;
      res.set_header("Location", "http://10.0.0.1/secret");
    });
    s.Get("/redirect-loopback", [this](const httplib::Request&, httplib::Response& res) {
      res.status = 301;
      res.set_header("Location", "http://127.0.0.2:" + std::to_string(server_.port()) + "/page");
    });
    s.Get("/loop", [](const httplib::Request&, httplib::Response& res) {
      res.status = 302;
      res.set_header("Location", "/loop");
    });
    s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(200000, 'a') + "TAIL-MARKER", "text/plain");
    });
    s.Get("/deep", [](const httplib::Request&, httplib::Response& res) {
      std::string body = "<html><body><p>shallow part</p>";
      for (int i = 0; i < 50000; ++i) body += "<div>";
      res.set_content(body + "DEEP-MARKER", "text/html");
    });
    s.Get("/long", [](const httplib::Request&, httplib::Response& res) {
      std::string body;
      for (int i = 0; i < 400; ++i) body += "caf\xC3\xA9 ";  // 6 bytes each, 2-byte é
      res.set_content(body, "text/plain; charset=utf-8");
    });
    s.Get("/plain", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("<b>not parsed</b>\nsecond line", "text/plain");
    });
    s.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      res.set_content("<p>late page</p>", "text/html");
    });
    s.Get("/pdf", [](const httplib::Request&, httplib::Response& res) { res.set_content("%PDF-1.4", "application/pdf"); });
    s.Get("/latin1", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("<p>caf\xE9</p>", "text/html; charset=ISO-8859-1");
    });
    s.Get("/missing", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content("nope", "text/plain");
    });
    ASSERT_TRUE(server_.Start());
  }
  std::string Url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(server_.port()) + path; }
  std::shared_ptr<BrowseTool> Tool(BrowseOptions o, std::shared_ptr<SearchIndex> index = nullptr,
                                   ChatClient* client = nullptr) {
    auto t = BrowseTool::Create(o, std::move(index), client);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return *t;
  }
  static BrowseOptions Loopback() {
    BrowseOptions o;
    o.private_allowlist = {"127.0.0.1"};
    o.timeout_s = 10;
    return o;
  }
  ToolOutput Browse(BrowseTool& tool, const std::string& url, const std::string& goal = "find the answer") {
    auto out = tool.Run({{"url", url}, {"goal", goal}});
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : ToolOutput{"", true};
  }

  LocalHttpServer server_;
  std::atomic<int> hits_{0};
};

TEST_F(BrowseTest, ServesReadableTextWithBoilerplateDroppedAndLinksKept) {
  auto tool = Tool(Loopback());
  EXPECT_EQ(tool->spec().name, "browse");
  EXPECT_TRUE(tool->spec().parameters["properties"].contains("goal"));
  ToolOutput out = Browse(*tool, Url("/page"));
  ASSERT_FALSE(out.is_error) << out.text;
  EXPECT_EQ(out.text.rfind("Title: Test page\nURL: " + Url("/page") + "\n\n", 0), 0u) << out.text;
  EXPECT_TRUE(Has(out.text, "# Heading\nThe answer is forty two [" + Url("/other") + "].")) << out.text;
  for (const char* gone : {"tracking", "p{}", "Menu", "Footer"}) EXPECT_FALSE(Has(out.text, gone)) << gone;
}

TEST_F(BrowseTest, RefusesLoopbackByDefaultWithoutSendingAnything) {
  BrowseOptions o;
  auto tool = Tool(o);
  ToolOutput out = Browse(*tool, Url("/page"));
  EXPECT_TRUE(out.is_error);
  EXPECT_TRUE(Has(out.text, "127.0.0.1")) << out.text;
  EXPECT_TRUE(Has(out.text, "allow_private")) << out.text;
  // A host name that resolves to loopback is refused too.
  ToolOutput named = Browse(*tool, "http://localhost:" + std::to_string(server_.port()) + "/page");
  EXPECT_TRUE(named.is_error);
  EXPECT_TRUE(Has(named.text, "resolves to")) << named.text;
  EXPECT_EQ(hits_.load(), 0);
  // allow_private lets it through.
  o.allow_private = true;
  EXPECT_FALSE(Browse(*Tool(o), Url("/page")).is_error);
  EXPECT_EQ(hits_.load(), 1);
}

TEST_F(BrowseTest, RefusesOtherSchemes) {
  auto tool = Tool(Loopback());
  for (const char* url : {"file:///etc/passwd", "ftp://example.com/x", "gopher://x/"}) {
    ToolOutput out = Browse(*tool, url);
    EXPECT_TRUE(out.is_error) << url;
    EXPECT_TRUE(Has(out.text, "http and https only")) << out.text;
  }
  auto missing = tool->Run(nlohmann::json::object());
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->is_error);
}

TEST_F(BrowseTest, FollowsRedirectsAndRechecksEveryTarget) {
  auto tool = Tool(Loopback());
  ToolOutput out = Browse(*tool, Url("/redirect"));
  ASSERT_FALSE(out.is_error) << out.text;
  EXPECT_TRUE(Has(out.text, "URL: " + Url("/page") + "\n")) << out.text;
  EXPECT_TRUE(Has(out.text, "forty two"));
  ToolOutput priv = Browse(*tool, Url("/redirect-private"));
  EXPECT_TRUE(priv.is_error);
  EXPECT_TRUE(Has(priv.text, "10.0.0.1")) << priv.text;
  // Another loopback address than the allowed one: refused on the hop.
  const int before = hits_.load();
  ToolOutput loop2 = Browse(*tool, Url("/redirect-loopback"));
  EXPECT_TRUE(loop2.is_error);
  EXPECT_TRUE(Has(loop2.text, "127.0.0.2")) << loop2.text;
  EXPECT_EQ(hits_.load(), before);
  ToolOutput endless = Browse(*tool, Url("/loop"));
  EXPECT_TRUE(endless.is_error);
  EXPECT_TRUE(Has(endless.text, "redirect")) << endless.text;
}

TEST_F(BrowseTest, StopsReadingAtTheSizeCapAndSaysSo) {
  BrowseOptions o = Loopback();
  o.max_bytes = 1000;
  ToolOutput out = Browse(*Tool(o), Url("/big"));
  ASSERT_FALSE(out.is_error) << out.text;
  EXPECT_FALSE(Has(out.text, "TAIL-MARKER"));
  EXPECT_TRUE(Has(out.text, "larger than 1000 bytes")) << out.text.substr(out.text.size() - 200);
  EXPECT_LT(out.text.size(), 1400u);
}

TEST_F(BrowseTest, APageOfUnclosedTagsIsReadUpToTheNestingLimitWithANote) {
  // 250 KB of unclosed <div>s used to cost gumbo about 50 s of CPU.
  ToolOutput out = Browse(*Tool(Loopback()), Url("/deep"));
  ASSERT_FALSE(out.is_error) << out.text;
  EXPECT_TRUE(Has(out.text, "shallow part")) << out.text;
  EXPECT_FALSE(Has(out.text, "DEEP-MARKER"));
  EXPECT_TRUE(Has(out.text, "nests more than " + std::to_string(kMaxHtmlOpenElements) + " elements deep"))
      << out.text;
}

TEST_F(BrowseTest, AFetchEndsWhenTheRolloutsTimeRunsOut) {
  auto tool = Tool(Loopback());  // timeout_s 10: the page itself answers after 2 s
  ToolCallContext context;
  context.call_id = "s0/t0/r0/turn0/call0";
  context.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);  // task.timeout_s
  auto out = tool->Run({{"url", Url("/slow")}, {"goal", "read"}}, context);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->is_error) << out->text;
  EXPECT_TRUE(Has(out->text, "timed out")) << out->text;
  EXPECT_FALSE(Has(out->text, "late page"));
}

TEST_F(BrowseTest, CutsAtMaxCharsOnACharacterBoundaryWithANote) {
  BrowseOptions o = Loopback();
  o.max_chars = 301;
  ToolOutput out = Browse(*Tool(o), Url("/long"));
  ASSERT_FALSE(out.is_error);
  const size_t note = out.text.find("\n[... cut at ");
  ASSERT_NE(note, std::string::npos) << out.text;
  EXPECT_LE(note, 301u);
  EXPECT_GE(note, 295u);
  EXPECT_EQ(SanitizeUtf8(out.text), out.text);  // no split character
  EXPECT_TRUE(Has(out.text, "tools.browse.max_chars"));
}

TEST_F(BrowseTest, ServesPlainTextAsIsAndRefusesOtherContentTypes) {
  auto tool = Tool(Loopback());
  ToolOutput plain = Browse(*tool, Url("/plain"));
  ASSERT_FALSE(plain.is_error);
  EXPECT_TRUE(Has(plain.text, "<b>not parsed</b>\nsecond line")) << plain.text;
  ToolOutput pdf = Browse(*tool, Url("/pdf"));
  EXPECT_TRUE(pdf.is_error);
  EXPECT_TRUE(Has(pdf.text, "application/pdf")) << pdf.text;
  ToolOutput latin = Browse(*tool, Url("/latin1"));
  EXPECT_TRUE(Has(latin.text, "caf\xC3\xA9")) << latin.text;
  ToolOutput missing = Browse(*tool, Url("/missing"));
  EXPECT_TRUE(missing.is_error);
  EXPECT_TRUE(Has(missing.text, "404")) << missing.text;
}

TEST_F(BrowseTest, ServesIndexedPagesFromTheIndexWithoutFetching) {
  TempDir dir;
  std::ofstream(dir / "c.jsonl") << nlohmann::json{{"url", Url("/page")}, {"title", "Indexed copy"},
                                                   {"text", "Stored text of the page."}}.dump()
                                 << "\n";
  IndexBuildOptions b;
  b.corpus = dir / "c.jsonl";
  b.out = dir / "i.db";
  ASSERT_TRUE(BuildIndex(b).ok());
  auto index = SearchIndex::Open(b.out);
  ASSERT_TRUE(index.ok());
  BrowseOptions o;  // private addresses refused: only the index can answer
  auto tool = Tool(o, *index);
  ToolOutput out = Browse(*tool, Url("/page"));
  ASSERT_FALSE(out.is_error) << out.text;
  EXPECT_EQ(out.text, "Title: Indexed copy\nURL: " + Url("/page") + "\n\nStored text of the page.");
  EXPECT_EQ(hits_.load(), 0);
  EXPECT_TRUE(Browse(*tool, Url("/other")).is_error);  // not indexed: fetched, refused
}

TEST_F(BrowseTest, SummarizeSendsTheGoalAndPageUnderTheBrowseRole) {
  ScriptedClient llm([](const ChatRequest&) -> Result<ChatResponse> {
    ChatResponse r;
    r.content = "The answer is forty two.";
    return r;
  });
  BrowseOptions o = Loopback();
  o.summarize = true;
  EXPECT_FALSE(BrowseTool::Create(o, nullptr, nullptr).ok());  // summarize needs a client
  auto tool = Tool(o, nullptr, &llm);
  ToolOutput out = Browse(*tool, Url("/page"), "what is the answer?");
  ASSERT_FALSE(out.is_error) << out.text;
  EXPECT_TRUE(Has(out.text, "The answer is forty two.")) << out.text;
  EXPECT_TRUE(Has(out.text, "what is the answer?"));
  auto reqs = llm.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].role, Role::kBrowse);
  EXPECT_EQ(RoleName(reqs[0].role), "browse");
  const std::string& user = reqs[0].messages.back().content;
  EXPECT_TRUE(Has(user, "Goal: what is the answer?")) << user;
  EXPECT_TRUE(Has(user, "forty two [" + Url("/other") + "]")) << user;
  EXPECT_FALSE(Has(user, "tracking"));
}

TEST_F(BrowseTest, AFailedSummaryFallsBackToThePageTextButBadCredentialsFailTheCall) {
  Status next = Status::Unavailable("upstream down");
  ScriptedClient llm([&next](const ChatRequest&) -> Result<ChatResponse> { return next; });
  BrowseOptions o = Loopback();
  o.summarize = true;
  auto tool = Tool(o, nullptr, &llm);
  ToolOutput out = Browse(*tool, Url("/page"));
  EXPECT_FALSE(out.is_error);
  EXPECT_TRUE(Has(out.text, "forty two"));
  EXPECT_TRUE(Has(out.text, "upstream down")) << out.text;
  next = Status::Unauthorized("401");
  EXPECT_EQ(tool->Run({{"url", Url("/page")}, {"goal", "g"}}).status().code(), Status::Code::kUnauthorized);
}

// Sets the proxy variables libcurl reads for the life of the object (the no_proxy ones cleared),
// restoring what was there.
class ProxyEnv {
 public:
  explicit ProxyEnv(const std::string& proxy) {
    for (const char* name : kNames) {
      const char* old = std::getenv(name);
      saved_.push_back(old ? std::optional<std::string>(old) : std::nullopt);
    }
    for (const char* name : {"http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"})
      ::setenv(name, proxy.c_str(), 1);
    ::unsetenv("no_proxy");
    ::unsetenv("NO_PROXY");
  }
  ~ProxyEnv() {
    for (size_t i = 0; i < std::size(kNames); ++i) {
      if (saved_[i]) {
        ::setenv(kNames[i], saved_[i]->c_str(), 1);
      } else {
        ::unsetenv(kNames[i]);
      }
    }
  }

 private:
  static constexpr const char* kNames[] = {"http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                                           "all_proxy",  "no_proxy",    "NO_PROXY"};
  std::vector<std::optional<std::string>> saved_;
};

// Through a proxy, check_address would vet the proxy's address instead of the page's: browse
// fetches directly whatever the environment says. Other requests (the LLM client's) still go
// through the proxy.
TEST_F(BrowseTest, FetchesDirectlyWhileOtherRequestsHonourTheProxyVariables) {
  LocalHttpServer proxy;
  std::atomic<int> proxied{0};
  proxy.server().set_pre_routing_handler([&](const httplib::Request&, httplib::Response& res) {
    ++proxied;
    res.status = 502;
    res.set_content("proxy", "text/plain");
    return httplib::Server::HandlerResponse::Handled;
  });
  ASSERT_TRUE(proxy.Start());
  ProxyEnv env("http://127.0.0.1:" + std::to_string(proxy.port()));

  HttpRequest plain;
  plain.url = Url("/page");
  plain.timeout_s = 10;
  auto via_proxy = HttpTransport().Send(plain);
  ASSERT_TRUE(via_proxy.ok()) << via_proxy.status().ToString();
  EXPECT_EQ(via_proxy->status, 502);
  EXPECT_EQ(proxied.load(), 1);
  EXPECT_EQ(hits_.load(), 0);

  auto tool = Tool(Loopback());
  ToolOutput out = Browse(*tool, Url("/page"));
  EXPECT_FALSE(out.is_error) << out.text;
  EXPECT_TRUE(Has(out.text, "The answer is forty two")) << out.text;
  EXPECT_EQ(hits_.load(), 1);
  EXPECT_EQ(proxied.load(), 1);  // the browse request never reached the proxy
}

// ---- remote search backends ----

TEST(RemoteSearch, SearxngQueryIsEncodedAndResultsParsed) {
  LocalHttpServer fake;
  std::string seen_q, seen_format;
  fake.server().Get("/search", [&](const httplib::Request& req, httplib::Response& res) {
    seen_q = req.get_param_value("q");
    seen_format = req.get_param_value("format");
    res.set_content(nlohmann::json{{"query", seen_q},
                                   {"results",
                                    {{{"title", "First  hit"}, {"url", "https://one.example/"}, {"content", "one\nsnippet"}},
                                     {{"title", "Second"}, {"url", "https://two.example/"}, {"content", "two"}},
                                     {{"title", "No url"}},
                                     {{"title", "Third"}, {"url", "https://three.example/"}}}}}
                        .dump(),
                    "application/json");
  });
  ASSERT_TRUE(fake.Start());
  SearchOptions o;
  o.backend = "searxng";
  o.url = "http://127.0.0.1:" + std::to_string(fake.port()) + "/";
  o.top_k = 2;
  auto tool = SearchTool::Create(o);
  ASSERT_TRUE(tool.ok()) << tool.status().ToString();
  auto out = (*tool)->Run({{"query", "a&b c=d \"quoted\""}});
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->is_error) << out->text;
  EXPECT_EQ(seen_q, "a&b c=d \"quoted\"");
  EXPECT_EQ(seen_format, "json");
  EXPECT_EQ(out->text, "1. First hit\n   https://one.example/\n   one snippet\n\n2. Second\n   https://two.example/\n   two\n");
}

TEST(RemoteSearch, SearxngErrorsAreShownToTheModel) {
  LocalHttpServer fake;
  fake.server().Get("/search", [](const httplib::Request& req, httplib::Response& res) {
    if (req.get_param_value("q") == "bad") {
      res.set_content("<html>not json</html>", "text/html");
    } else {
      res.status = 403;
      res.set_content("format json is not enabled", "text/plain");
    }
  });
  ASSERT_TRUE(fake.Start());
  SearchOptions o;
  o.backend = "searxng";
  o.url = "http://127.0.0.1:" + std::to_string(fake.port());
  auto tool = SearchTool::Create(o);
  ASSERT_TRUE(tool.ok());
  auto bad = (*tool)->Run({{"query", "bad"}});
  ASSERT_TRUE(bad.ok());
  EXPECT_TRUE(bad->is_error);
  EXPECT_TRUE(Has(bad->text, "not a JSON object")) << bad->text;
  auto refused = (*tool)->Run({{"query", "x"}});
  ASSERT_TRUE(refused.ok());
  EXPECT_TRUE(refused->is_error);
  EXPECT_TRUE(Has(refused->text, "403")) << refused->text;
}

TEST(RemoteSearch, SerperPostsWithTheKeyHeaderAndParsesOrganicResults) {
  LocalHttpServer fake;
  std::string seen_key, seen_body;
  fake.server().Post("/search", [&](const httplib::Request& req, httplib::Response& res) {
    seen_key = req.get_header_value("X-API-KEY");
    seen_body = req.body;
    if (seen_key != "sk-serper-test-123456") {
      res.status = 401;
      res.set_content("{\"message\":\"Unauthorized: key sk-serper-test-123456 wrong\"}", "application/json");
      return;
    }
    res.set_content(nlohmann::json{{"organic",
                                    {{{"title", "Organic one"}, {"link", "https://o1.example/"}, {"snippet", "s1"}},
                                     {{"title", "Organic two"}, {"link", "https://o2.example/"}, {"snippet", "s2"}}}}}
                        .dump(),
                    "application/json");
  });
  ASSERT_TRUE(fake.Start());
  ::setenv("TFGRPO_TEST_SERPER_KEY", "sk-serper-test-123456", 1);
  SearchOptions o;
  o.backend = "serper";
  o.api_key_env = "TFGRPO_TEST_SERPER_KEY";
  o.serper_url = "http://127.0.0.1:" + std::to_string(fake.port());
  o.top_k = 5;
  auto tool = SearchTool::Create(o);
  ASSERT_TRUE(tool.ok()) << tool.status().ToString();
  auto out = (*tool)->Run({{"query", "who built the bridge"}});
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->is_error) << out->text;
  EXPECT_EQ(seen_key, "sk-serper-test-123456");
  auto body = nlohmann::json::parse(seen_body);
  EXPECT_EQ(body["q"], "who built the bridge");
  EXPECT_EQ(body["num"], 5);
  EXPECT_EQ(out->text, "1. Organic one\n   https://o1.example/\n   s1\n\n2. Organic two\n   https://o2.example/\n   s2\n");
  // A rejected key: shown as an error, the key itself never in it.
  ::setenv("TFGRPO_TEST_SERPER_KEY", "sk-serper-test-123456", 1);
  SearchOptions wrong = o;
  ::setenv("TFGRPO_TEST_SERPER_KEY_WRONG", "sk-wrong-key-abcdefgh", 1);
  wrong.api_key_env = "TFGRPO_TEST_SERPER_KEY_WRONG";
  auto wrong_tool = SearchTool::Create(wrong);
  ASSERT_TRUE(wrong_tool.ok());
  auto denied = (*wrong_tool)->Run({{"query", "x"}});
  ASSERT_TRUE(denied.ok());
  EXPECT_TRUE(denied->is_error);
  EXPECT_TRUE(Has(denied->text, "401")) << denied->text;
  EXPECT_FALSE(Has(denied->text, "sk-wrong-key")) << denied->text;
}

}  // namespace
}  // namespace tfgrpo
