// `tfgrpo serve` end to end, in-process: the simulator or a purpose-built upstream behind the
// proxy, requests through httplib or raw sockets.
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <csignal>
#include <sstream>

#include "serve_test_util.h"
#include "tfgrpo/sim.h"

namespace tfgrpo {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using namespace serve_testing;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Minimal HTTP/1.1 client over a raw socket, for reading a streamed reply as it arrives and for
// hanging up in the middle of one.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() { Close(); }
  bool connected() const { return connected_; }
  void PostChat(const std::string& body) {
    std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    ASSERT_EQ(::send(fd_, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  }
  // Reads whatever arrives within `timeout_ms`; false on EOF or timeout.
  bool ReadSome(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[8192];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    received_.append(buf, static_cast<size_t>(n));
    return true;
  }
  const std::string& received() const { return received_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string received_;
};

// The body of a chunked HTTP/1.1 response ("" when malformed).
std::string Dechunk(const std::string& response) {
  size_t pos = response.find("\r\n\r\n");
  if (pos == std::string::npos) return "";
  pos += 4;
  std::string out;
  while (pos < response.size()) {
    size_t eol = response.find("\r\n", pos);
    if (eol == std::string::npos) return "";
    size_t len = std::stoul(response.substr(pos, eol - pos), nullptr, 16);
    if (len == 0) return out;
    out += response.substr(eol + 2, len);
    pos = eol + 2 + len + 2;
  }
  return out;
}

// An upstream that streams `chunks` SSE events `gap` apart, then a usage chunk and [DONE].
// Records what it sent and whether it noticed its client (the proxy) going away.
class StreamingUpstream : public Upstream {
 public:
  StreamingUpstream(int chunks, std::chrono::milliseconds gap) : chunks_(chunks), gap_(gap) {
    server().Post("/v1/chat/completions", [this](const httplib::Request&,
                                                 httplib::Response& res) {
      res.set_header("X-Request-Id", "req-stream-1");
      res.set_chunked_content_provider("text/event-stream", [this](size_t,
                                                                   httplib::DataSink& sink) {
        for (int i = 0; i < chunks_; ++i) {
          std::string event = Event(i);
          if (!sink.is_writable() || !sink.write(event.data(), event.size())) {
            cancelled_ = true;
            return false;
          }
          sent_ = i + 1;
          std::this_thread::sleep_for(gap_);
        }
        std::string tail = Tail();
        if (!sink.write(tail.data(), tail.size())) {
          cancelled_ = true;
          return false;
        }
        sink.done();
        return true;
      });
    });
  }
  static std::string Event(int i) {
    return "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"part" +
           std::to_string(i) + "\"}}]}\n\n";
  }
  static std::string Tail() {
    return "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,"
           "\"completion_tokens\":5,\"prompt_cache_hit_tokens\":32}}\n\ndata: [DONE]\n\n";
  }
  std::string AllBytes() const {
    std::string all;
    for (int i = 0; i < chunks_; ++i) all += Event(i);
    return all + Tail();
  }
  int sent() const { return sent_; }
  bool cancelled() const { return cancelled_; }

 private:
  int chunks_;
  std::chrono::milliseconds gap_;
  std::atomic<int> sent_{0};
  std::atomic<bool> cancelled_{false};
};

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    library_path_ = dir_.path() / "experiences.json";
    ASSERT_TRUE(DefaultLibrary().Save(library_path_).ok());
  }
  std::unique_ptr<ProxyServer> StartProxy(ServeOptions options) {
    auto proxy = std::make_unique<ProxyServer>(std::move(options));
    Status s = proxy->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return s.ok() ? std::move(proxy) : nullptr;
  }
  std::string Metrics(const ProxyServer& proxy) { return proxy.MetricsText(); }

  TempDir dir_;
  std::filesystem::path library_path_;
};

// ---- Injection ---------------------------------------------------------------------------------

TEST_F(ServeTest, SimUpstreamReceivesTheLibraryAndReportsCacheHitsOnTheSharedPrefix) {
  SimServer sim(SimOptions{});
  ASSERT_TRUE(sim.Start(0).ok());
  auto proxy = StartProxy(OptionsFor(library_path_, sim.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);

  std::string first = ChatBody("What is 2+2? Put the answer in \\boxed{}.");
  auto r1 = client->Post("/v1/chat/completions", first, "application/json");
  ASSERT_TRUE(r1);
  ASSERT_EQ(r1->status, 200) << r1->body;
  json reply = json::parse(r1->body);
  EXPECT_EQ(reply["object"], "chat.completion");

  // The simulator saw exactly the original body with a system message holding the library.
  ordered_json expected = ordered_json::parse(first);
  ASSERT_TRUE(*InjectLibrary(expected, DefaultLibrary()));
  EXPECT_EQ(expected["messages"][0]["content"], AppendLibrary("", DefaultLibrary()));
  auto log = sim.RequestLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].body_fingerprint, Fingerprint(expected.dump()));

  auto r2 = client->Post("/v1/chat/completions", ChatBody("A different question: 3+5?"),
                         "application/json");
  ASSERT_TRUE(r2);
  ASSERT_EQ(r2->status, 200);
  // Same system bytes on both requests, so the simulator's prefix cache hits on the second.
  int64_t cached = json::parse(r2->body)["usage"]["prompt_cache_hit_tokens"];
  EXPECT_GT(cached, ApproxTokens(AppendLibrary("", DefaultLibrary())) / 2);

  std::string m = Metrics(*proxy);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_requests_total{status=\"200\"}"), 2);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_injections_total"), 2);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_library_experiences"), 3);
  int64_t prompt1 = json::parse(r1->body)["usage"]["prompt_tokens"];
  int64_t prompt2 = json::parse(r2->body)["usage"]["prompt_tokens"];
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_tokens_total{kind=\"prompt\"}"), prompt1 + prompt2);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_tokens_total{kind=\"cached\"}"),
            static_cast<double>(json::parse(r1->body)["usage"]["prompt_cache_hit_tokens"]) +
                cached);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_request_duration_seconds_count"), 2);
}

TEST_F(ServeTest, ModelsAreProxiedAndHealthAnswersLocally) {
  SimServer sim(SimOptions{});
  ASSERT_TRUE(sim.Start(0).ok());
  auto proxy = StartProxy(OptionsFor(library_path_, sim.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  auto models = client->Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "sim-1");
  auto health = client->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body)["experiences"], 3);
  auto unknown = client->Get("/v1/embeddings");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(json::parse(unknown->body)["error"]["code"], "not_found");
}

TEST_F(ServeTest, ExistingSystemMessageGetsTheLibraryAppendedIdenticallyEachTime) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  for (const char* question : {"first question", "second, longer question"}) {
    auto r = client->Post("/v1/chat/completions", ChatBody(question, "You are a careful solver."),
                          "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
  }
  auto got = upstream.received();
  ASSERT_EQ(got.size(), 2u);
  std::string expected_system = AppendLibrary("You are a careful solver.", DefaultLibrary());
  for (const Received& r : got) {
    json body = json::parse(r.body);
    ASSERT_EQ(body["messages"].size(), 2u);
    EXPECT_EQ(body["messages"][0]["content"], expected_system);
    EXPECT_EQ(body["messages"][0]["role"], "system");
  }
  // Byte-identical prefix up to the user message, so provider caches can hit.
  std::string a = got[0].body, b = got[1].body;
  size_t common = 0;
  while (common < a.size() && common < b.size() && a[common] == b[common]) ++common;
  EXPECT_GT(common, expected_system.size());
}

TEST_F(ServeTest, OptOutHeaderForwardsTheOriginalBytes) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  std::string body =
      "{ \"messages\" : [ {\"role\":\"user\",\"content\":\"q\"} ], \"model\":\"m\" }";
  auto r = client->Post("/v1/chat/completions", {{"X-Tfgrpo-Experiences", "off"}}, body,
                        "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto got = upstream.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, body);
  EXPECT_EQ(got[0].headers.count("x-tfgrpo-experiences"), 0u);
  EXPECT_EQ(MetricValue(Metrics(*proxy), "tfgrpo_serve_injections_total"), 0);
}

TEST_F(ServeTest, ToolCallRequestsAreUntouchedApartFromTheSystemMessage) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  ServeOptions options = OptionsFor(library_path_, upstream.base_url());
  options.model_map = {{"gpt-4o", "deepseek-chat"}};
  auto proxy = StartProxy(options);
  ASSERT_TRUE(proxy);
  std::string original = R"({"model":"gpt-4o","messages":[
    {"role":"user","content":"Weather in Paris?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
      "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
    {"role":"tool","tool_call_id":"call_1","content":"{\"temp\":21.5}"}],
    "tools":[{"type":"function","function":{"name":"get_weather","description":"d",
      "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
    "tool_choice":"auto","parallel_tool_calls":false,
    "response_format":{"type":"json_object"},"temperature":0.25,"seed":12345678901,
    "vendor_extension":{"z":1,"a":[true,null,"\u00e9"]}})";
  auto client = ClientFor(*proxy);
  auto r = client->Post("/v1/chat/completions",
                        {{"X-Tfgrpo-Role", "rollout"}, {"OpenAI-Organization", "org-1"}},
                        original, "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto got = upstream.received();
  ASSERT_EQ(got.size(), 1u);
  ordered_json forwarded = ordered_json::parse(got[0].body);
  ordered_json source = ordered_json::parse(original);
  ASSERT_EQ(forwarded["messages"].size(), 4u);
  EXPECT_EQ(forwarded["messages"][0].dump(),
            ordered_json({{"role", "system"}, {"content", AppendLibrary("", DefaultLibrary())}})
                .dump());
  EXPECT_EQ(forwarded["model"], "deepseek-chat");
  forwarded["messages"].erase(0);
  forwarded["model"] = "gpt-4o";
  EXPECT_EQ(forwarded.dump(), source.dump());  // same values, same key order
  EXPECT_EQ(got[0].headers["x-tfgrpo-role"], "rollout");
  EXPECT_EQ(got[0].headers["openai-organization"], "org-1");
  EXPECT_EQ(got[0].headers["content-type"], "application/json");
}

// ---- Streaming ---------------------------------------------------------------------------------

TEST_F(ServeTest, StreamIsRelayedChunkByChunkAsItArrives) {
  StreamingUpstream upstream(5, std::chrono::milliseconds(100));
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  RawClient client(proxy->port());
  ASSERT_TRUE(client.connected());
  auto t0 = Clock::now();
  client.PostChat(ChatBody("stream please", "", /*stream=*/true));
  std::vector<double> first_seen(5, -1);
  for (int round = 0; round < 200; ++round) {
    if (!client.ReadSome(2000)) break;
    for (int i = 0; i < 5; ++i) {
      if (first_seen[i] < 0 && client.received().find("part" + std::to_string(i) + "\"") !=
                                   std::string::npos) {
        first_seen[i] = MsSince(t0);
      }
    }
  }
  for (int i = 0; i < 5; ++i) ASSERT_GE(first_seen[i], 0) << "chunk " << i << " never arrived";
  // The first chunk arrives long before the upstream sends the last (400 ms later).
  EXPECT_LT(first_seen[0], first_seen[4] - 250);
  for (int i = 1; i < 5; ++i) EXPECT_GT(first_seen[i], first_seen[i - 1] + 40);
  EXPECT_NE(client.received().find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(client.received().find("X-Request-Id: req-stream-1"), std::string::npos);
  EXPECT_EQ(Dechunk(client.received()), upstream.AllBytes());

  std::string m = Metrics(*proxy);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_tokens_total{kind=\"prompt\"}"), 40);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_tokens_total{kind=\"cached\"}"), 32);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_requests_total{status=\"200\"}"), 1);
}

TEST_F(ServeTest, ClientHangingUpMidStreamCancelsTheUpstreamRequest) {
  const int kChunks = 40;
  StreamingUpstream upstream(kChunks, std::chrono::milliseconds(50));
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  {
    RawClient client(proxy->port());
    ASSERT_TRUE(client.connected());
    client.PostChat(ChatBody("stream please", "", /*stream=*/true));
    for (int round = 0; round < 100 && client.received().find("part1\"") == std::string::npos;
         ++round) {
      if (!client.ReadSome(2000)) break;
    }
    ASSERT_NE(client.received().find("part1\""), std::string::npos);
  }  // hang up
  for (int i = 0; i < 300 && !upstream.cancelled(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(upstream.cancelled());
  EXPECT_LT(upstream.sent(), kChunks);
  for (int i = 0; i < 100; ++i) {
    if (MetricValue(Metrics(*proxy), "tfgrpo_serve_upstream_cancellations_total") == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(MetricValue(Metrics(*proxy), "tfgrpo_serve_upstream_cancellations_total"), 1);
}

// ---- Auth --------------------------------------------------------------------------------------

TEST_F(ServeTest, ClientKeyIsRequiredAndNeverForwarded) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  ServeOptions options = OptionsFor(library_path_, upstream.base_url());
  options.client_api_key = "client-secret-123";
  options.upstream_api_key = "upstream-secret-456";
  auto proxy = StartProxy(options);
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  std::string body = ChatBody("q");

  auto missing = client->Post("/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], "invalid_api_key");
  auto wrong = client->Post("/v1/chat/completions",
                            {{"Authorization", "Bearer client-secret-12"}}, body,
                            "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_TRUE(upstream.received().empty());

  auto right = client->Post("/v1/chat/completions",
                            {{"Authorization", "Bearer client-secret-123"}}, body,
                            "application/json");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  auto got = upstream.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].headers["authorization"], "Bearer upstream-secret-456");

  auto models = client->Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401);
  auto metrics = client->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 401);
  auto metrics_ok = client->Get("/metrics", {{"Authorization", "Bearer client-secret-123"}});
  ASSERT_TRUE(metrics_ok);
  EXPECT_EQ(metrics_ok->status, 200);
  EXPECT_EQ(MetricValue(metrics_ok->body, "tfgrpo_serve_requests_total{status=\"401\"}"), 3);
  auto health = client->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(ServeTest, PassThroughAuthForwardsTheClientsAuthorization) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  ServeOptions options = OptionsFor(library_path_, upstream.base_url());
  options.upstream_api_key = "upstream-secret-456";
  options.pass_through_auth = true;
  auto proxy = StartProxy(options);
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  auto own = client->Post("/v1/chat/completions", {{"Authorization", "Bearer client-own-key"}},
                          ChatBody("q"), "application/json");
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 200);
  auto none = client->Post("/v1/chat/completions", ChatBody("q"), "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 200);
  auto got = upstream.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].headers["authorization"], "Bearer client-own-key");
  EXPECT_EQ(got[1].headers["authorization"], "Bearer upstream-secret-456");

  // Without pass-through the client's header is dropped in favour of the upstream key.
  EchoUpstream upstream2;
  ASSERT_TRUE(upstream2.Start());
  ServeOptions strict = OptionsFor(library_path_, upstream2.base_url());
  strict.upstream_api_key = "upstream-secret-456";
  auto proxy2 = StartProxy(strict);
  ASSERT_TRUE(proxy2);
  auto client2 = ClientFor(*proxy2);
  auto r = client2->Post("/v1/chat/completions",
                         {{"Authorization", "Bearer client-own-key"}, {"api-key", "azure-key"}},
                         ChatBody("q"), "application/json");
  ASSERT_TRUE(r);
  auto got2 = upstream2.received();
  ASSERT_EQ(got2.size(), 1u);
  EXPECT_EQ(got2[0].headers["authorization"], "Bearer upstream-secret-456");
  EXPECT_EQ(got2[0].headers.count("api-key"), 0u);
}

TEST_F(ServeTest, RefusesANonLoopbackAddressWithoutAClientKey) {
  ServeOptions options = OptionsFor(library_path_, "http://127.0.0.1:9/v1");
  options.listen_host = "0.0.0.0";
  ProxyServer proxy(options);
  Status s = proxy.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("--client-key-env"), std::string::npos);
}

TEST_F(ServeTest, APortAlreadyInUseIsAnError) {
  auto first = StartProxy(OptionsFor(library_path_, "http://127.0.0.1:9/v1"));
  ASSERT_TRUE(first);
  ServeOptions options = OptionsFor(library_path_, "http://127.0.0.1:9/v1");
  options.listen_port = first->port();
  ProxyServer second(options);
  Status s = second.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(std::to_string(first->port())), std::string::npos) << s.message();
}

TEST_F(ServeTest, KeysNeverReachLogsOrMetrics) {
  std::ostringstream captured;
  // Restores the default logger however the test ends, before `captured` goes away.
  struct LoggerSwap {
    std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
    ~LoggerSwap() { spdlog::set_default_logger(previous); }
  } swap;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto logger = std::make_shared<spdlog::logger>("serve-test", sink);
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);

  const std::string kClient = "client-secret-abc", kUpstream = "upstream-secret-def";
  const std::string kUrlPassword = "url-password-ghi";
  {
    EchoUpstream upstream;
    ASSERT_TRUE(upstream.Start());
    ServeOptions options = OptionsFor(library_path_, upstream.base_url());
    options.client_api_key = kClient;
    options.upstream_api_key = kUpstream;
    auto proxy = StartProxy(options);
    ASSERT_TRUE(proxy);
    auto client = ClientFor(*proxy);
    for (const std::string& key : {kClient, std::string("wrong-") + kClient}) {
      auto r = client->Post("/v1/chat/completions", {{"Authorization", "Bearer " + key}},
                            ChatBody("q"), "application/json");
      ASSERT_TRUE(r);
    }
    ASSERT_TRUE(proxy->Reload().ok());
    std::string metrics = proxy->MetricsText();
    EXPECT_EQ(metrics.find(kClient), std::string::npos);
    EXPECT_EQ(metrics.find(kUpstream), std::string::npos);

    // An unreachable upstream whose URL carries a password: the error and the logs omit it.
    ServeOptions broken = OptionsFor(
        library_path_,
        "http://user:" + kUrlPassword + "@127.0.0.1:" + std::to_string(ClosedPort()) + "/v1");
    broken.upstream_api_key = kUpstream;
    auto proxy2 = StartProxy(broken);
    ASSERT_TRUE(proxy2);
    auto r = ClientFor(*proxy2)->Post("/v1/chat/completions", ChatBody("q"), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 502);
    EXPECT_EQ(r->body.find(kUrlPassword), std::string::npos);
    EXPECT_EQ(r->body.find(kUpstream), std::string::npos);
  }
  std::string logs = captured.str();
  EXPECT_NE(logs.find("listening on"), std::string::npos);  // the capture did work
  EXPECT_NE(logs.find("unreachable"), std::string::npos);
  EXPECT_EQ(logs.find(kClient), std::string::npos);
  EXPECT_EQ(logs.find(kUpstream), std::string::npos);
  EXPECT_EQ(logs.find(kUrlPassword), std::string::npos);
}

// ---- Errors ------------------------------------------------------------------------------------

void ExpectOpenAiError(const httplib::Result& r, int status, const std::string& code) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, status);
  json body = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << r->body;
  EXPECT_TRUE(body["error"]["message"].is_string()) << r->body;
  EXPECT_TRUE(body["error"]["type"].is_string()) << r->body;
  EXPECT_EQ(body["error"]["code"], code) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
}

TEST_F(ServeTest, MalformedJsonGets400AndOversizedBodies413) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  ExpectOpenAiError(client->Post("/v1/chat/completions", "{\"messages\": [", "application/json"),
                    400, "invalid_json");
  ExpectOpenAiError(client->Post("/v1/chat/completions", "{\"messages\": 5}", "application/json"),
                    400, "invalid_request");
  std::string huge = "{\"messages\":[{\"role\":\"user\",\"content\":\"" +
                     std::string(9u << 20, 'x') + "\"}]}";
  ExpectOpenAiError(client->Post("/v1/chat/completions", huge, "application/json"), 413,
                    "request_too_large");
  EXPECT_TRUE(upstream.received().empty());
  std::string m = Metrics(*proxy);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_requests_total{status=\"400\"}"), 2);
  EXPECT_EQ(MetricValue(m, "tfgrpo_serve_requests_total{status=\"413\"}"), 1);
}

TEST_F(ServeTest, UnreachableUpstreamGets502) {
  auto proxy = StartProxy(
      OptionsFor(library_path_, "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/v1"));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  ExpectOpenAiError(client->Post("/v1/chat/completions", ChatBody("q"), "application/json"), 502,
                    "upstream_unreachable");
  ExpectOpenAiError(client->Get("/v1/models"), 502, "upstream_unreachable");
}

TEST_F(ServeTest, UpstreamDroppingTheConnectionMidReplyGets502) {
  Upstream upstream;
  upstream.server().Post("/v1/chat/completions",
                         [](const httplib::Request&, httplib::Response& res) {
                           // Promises 4096 bytes, then closes the connection.
                           res.set_content_provider(
                               4096, "application/json",
                               [](size_t, size_t, httplib::DataSink&) { return false; });
                         });
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  ExpectOpenAiError(
      ClientFor(*proxy)->Post("/v1/chat/completions", ChatBody("q"), "application/json"), 502,
      "upstream_unreachable");
}

TEST_F(ServeTest, SlowUpstreamGets504) {
  Upstream upstream;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  upstream.server().Post("/v1/chat/completions",
                         [&](const httplib::Request&, httplib::Response& res) {
                           std::unique_lock lock(mu);
                           cv.wait_for(lock, std::chrono::seconds(3), [&] { return release; });
                           res.set_content("{}", "application/json");
                         });
  ASSERT_TRUE(upstream.Start());
  ServeOptions options = OptionsFor(library_path_, upstream.base_url());
  options.upstream_timeout_s = 0.3;
  auto proxy = StartProxy(options);
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  auto t0 = Clock::now();
  auto r = client->Post("/v1/chat/completions", ChatBody("q"), "application/json");
  double elapsed = MsSince(t0);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  ExpectOpenAiError(r, 504, "upstream_timeout");
  EXPECT_GE(elapsed, 280);
  EXPECT_LT(elapsed, 1500);
}

TEST_F(ServeTest, StopEndsRequestsStillRunningAfterTheGracePeriod) {
  Upstream upstream;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  upstream.server().Post("/v1/chat/completions",
                         [&](const httplib::Request&, httplib::Response& res) {
                           std::unique_lock lock(mu);
                           cv.wait_for(lock, std::chrono::seconds(3), [&] { return release; });
                           res.set_content("{}", "application/json");
                         });
  ASSERT_TRUE(upstream.Start());
  ServeOptions options = OptionsFor(library_path_, upstream.base_url());
  options.stop_grace = std::chrono::milliseconds(200);
  auto proxy = StartProxy(options);
  ASSERT_TRUE(proxy);
  std::optional<httplib::Result> result;
  std::thread caller([&] {
    result.emplace(
        ClientFor(*proxy)->Post("/v1/chat/completions", ChatBody("q"), "application/json"));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto t0 = Clock::now();
  proxy->Stop();
  double stop_ms = MsSince(t0);
  caller.join();
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(result.has_value());
  ExpectOpenAiError(*result, 503, "shutting_down");
  EXPECT_GE(stop_ms, 190);
  EXPECT_LT(stop_ms, 1500);
}

TEST_F(ServeTest, UpstreamErrorsPassThroughWithStatusHeadersAndBody) {
  Upstream upstream;
  const std::string kError =
      R"({"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}})";
  std::atomic<int> attempts{0};
  upstream.server().Post("/v1/chat/completions",
                         [&](const httplib::Request&, httplib::Response& res) {
                           ++attempts;
                           res.status = 429;
                           res.set_header("Retry-After", "7");
                           res.set_content(kError, "application/json");
                         });
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto client = ClientFor(*proxy);
  for (bool stream : {false, true}) {
    auto r = client->Post("/v1/chat/completions", ChatBody("q", "", stream), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429);
    EXPECT_EQ(r->body, kError);
    EXPECT_EQ(r->get_header_value("Retry-After"), "7");
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  }
  EXPECT_EQ(MetricValue(Metrics(*proxy), "tfgrpo_serve_requests_total{status=\"429\"}"), 2);
  EXPECT_EQ(attempts.load(), 2) << "one attempt per request: retrying is the client's decision";
}

// ---- Reload ------------------------------------------------------------------------------------

TEST_F(ServeTest, HotReloadUnderConcurrentRequestsNeverMixesLibraries) {
  Library lib_a = DefaultLibrary();
  Library lib_b = MakeLibrary({"Library B, lesson one.", "Library B, lesson two."});
  const std::string render_a = AppendLibrary("", lib_a), render_b = AppendLibrary("", lib_b);
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);

  std::atomic<bool> done{false};
  std::mutex mu;
  std::vector<std::string> seen;
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      httplib::Client client("127.0.0.1", proxy->port());
      client.set_read_timeout(5, 0);
      client.set_tcp_nodelay(true);
      for (int i = 0; i < 5000 && !done; ++i) {
        auto r = client.Post("/v1/chat/completions", ChatBody("q"), "application/json");
        if (!r || r->status != 200) {
          ++failures;
          continue;
        }
        std::string content = json::parse(r->body)["choices"][0]["message"]["content"];
        std::lock_guard lock(mu);
        seen.push_back(std::move(content));
      }
    });
  }
  for (int round = 0; round < 10; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    ASSERT_TRUE((round % 2 == 0 ? lib_b : lib_a).Save(library_path_).ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  done = true;
  for (auto& w : workers) w.join();

  EXPECT_EQ(failures.load(), 0);
  ASSERT_GT(seen.size(), 20u);
  size_t a = 0, b = 0;
  for (const std::string& s : seen) {
    if (s == render_a) {
      ++a;
    } else if (s == render_b) {
      ++b;
    } else {
      ADD_FAILURE() << "a response carried neither library:\n" << s;
      break;
    }
  }
  EXPECT_GT(a, 0u);
  EXPECT_GT(b, 0u);
  EXPECT_GE(MetricValue(Metrics(*proxy), "tfgrpo_serve_library_reloads_total"), 2);
}

TEST_F(ServeTest, BrokenLibraryFileKeepsTheOldOneUntilFixed) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  std::string fingerprint = proxy->library()->fingerprint;
  ASSERT_TRUE(WriteFileAtomic(library_path_, "{\"G0\": ").ok());
  Status s = proxy->Reload();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("experiences.json"), std::string::npos) << s.message();
  EXPECT_EQ(proxy->library()->fingerprint, fingerprint);
  auto client = ClientFor(*proxy);
  auto r = client->Post("/v1/chat/completions", ChatBody("q"), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["choices"][0]["message"]["content"],
            AppendLibrary("", DefaultLibrary()));
  EXPECT_GE(MetricValue(Metrics(*proxy), "tfgrpo_serve_library_reload_failures_total"), 1);

  Library fixed = MakeLibrary({"Only lesson."});
  ASSERT_TRUE(fixed.Save(library_path_).ok());
  for (int i = 0; i < 200 && proxy->library()->library.size() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(proxy->library()->library.size(), 1u);  // picked up by the watcher
  EXPECT_EQ(MetricValue(Metrics(*proxy), "tfgrpo_serve_library_experiences"), 1);
}

}  // namespace
}  // namespace tfgrpo
