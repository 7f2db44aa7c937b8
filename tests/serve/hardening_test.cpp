// `tfgrpo serve` against hostile clients and upstreams (issue 7): nesting bombs, header
// injection, oversized and chunked bodies, Range amplification, slow and half-open connections,
// header floods, and a library path replaced by a FIFO. Raw sockets on 127.0.0.1 only; every
// wait is bounded.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#include <csignal>

#include <gtest/gtest.h>

#include "serve/guarded_server.h"
#include "serve/metrics.h"
#include "serve_test_util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;
using namespace serve_testing;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// A raw TCP connection to the proxy: sends arbitrary bytes, reads whatever comes back.
class Socket {
 public:
  explicit Socket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{2, 0};  // no send may block a test for long
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  // Sends all of `bytes`; false when the peer stopped taking them.
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool Readable(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) > 0;
  }
  // Reads until the peer closes or `timeout_ms` passes; true when it closed.
  bool ReadToClose(int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - Clock::now())
                                      .count());
      if (!Readable(std::max(1, left))) continue;
      char buf[16384];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
      received_.append(buf, static_cast<size_t>(n));
    }
    return false;
  }
  // Reads until a whole response head and `Content-Length` body are in, or the timeout.
  bool ReadResponse(int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      size_t head_end = received_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        size_t cl = ToLower(received_.substr(0, head_end)).find("content-length: ");
        size_t length = cl == std::string::npos ? 0 : std::stoul(received_.substr(cl + 16));
        if (received_.size() >= head_end + 4 + length) return true;
      }
      if (!Readable(50)) continue;
      char buf[16384];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      received_.append(buf, static_cast<size_t>(n));
    }
    return false;
  }
  const std::string& received() const { return received_; }
  int status() const {
    if (received_.compare(0, 9, "HTTP/1.1 ") != 0) return -1;
    return std::atoi(received_.c_str() + 9);
  }
  json body() const {
    size_t at = received_.find("\r\n\r\n");
    if (at == std::string::npos) return json();
    return json::parse(received_.substr(at + 4), nullptr, false);
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string received_;
};

// An upstream on a raw socket that keeps each request's head exactly as received (an httplib
// upstream would percent-decode header values itself) and answers a fixed chat completion.
class RawUpstream {
 public:
  RawUpstream() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 16);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RawUpstream() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::vector<std::string> heads() const {
    std::lock_guard lock(mu_);
    return heads_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      std::string in;
      char buf[16384];
      for (int i = 0; i < 1000; ++i) {  // bounded: one request per connection
        size_t end = in.find("\r\n\r\n");
        if (end != std::string::npos) {
          size_t cl = ToLower(in.substr(0, end)).find("content-length: ");
          size_t length = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
          if (in.size() >= end + 4 + length) {
            std::lock_guard lock(mu_);
            heads_.push_back(in.substr(0, end + 4));
            break;
          }
        }
        pollfd c{fd, POLLIN, 0};
        if (::poll(&c, 1, 2000) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      const std::string body = R"({"id":"c","object":"chat.completion","choices":[]})";
      std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: "
                          "close\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
      (void)!::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(fd);
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> heads_;
};

std::string RawChat(const std::string& body, const std::string& extra_headers = "") {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Content-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

class ServeHardeningTest : public ::testing::Test {
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
  TempDir dir_;
  std::filesystem::path library_path_;
};

void ExpectError(const Socket& s, int status, const std::string& code) {
  EXPECT_EQ(s.status(), status) << s.received().substr(0, 400);
  json body = s.body();
  ASSERT_TRUE(body.is_object()) << s.received().substr(0, 400);
  EXPECT_EQ(body["error"]["code"], code) << s.received().substr(0, 400);
  EXPECT_TRUE(body["error"]["message"].is_string());
}

// ---- 1. Nesting depth --------------------------------------------------------------------------

TEST_F(ServeHardeningTest, ABodyNested100000DeepIsA400NotACrash) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  std::string body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                     "\"x\":" + Nested(100000) + "}";
  auto r = ClientFor(*proxy)->Post("/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  json error = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(error.is_object()) << r->body;
  EXPECT_EQ(error["error"]["code"], "invalid_json");
  EXPECT_NE(error["error"]["message"].get<std::string>().find("deeper than 128"),
            std::string::npos);
  EXPECT_TRUE(upstream.received().empty());
  // Still serving.
  auto ok = ClientFor(*proxy)->Post("/v1/chat/completions", ChatBody("q"), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServeHardeningTest, AnUpstreamReplyNestedTooDeepIsA502) {
  Upstream upstream;
  upstream.server().Post("/v1/chat/completions",
                         [](const httplib::Request&, httplib::Response& res) {
                           res.set_content("{\"usage\":" + Nested(100000) + "}",
                                           "application/json");
                         });
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  auto r = ClientFor(*proxy)->Post("/v1/chat/completions", ChatBody("q"), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(json::parse(r->body, nullptr, false)["error"]["code"], "upstream_invalid_reply");
}

TEST(SseUsageScannerTest, AStreamChunkNestedTooDeepIsNotParsed) {
  serve_internal::SseUsageScanner scanner;
  scanner.Feed("data: {\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n");
  ASSERT_TRUE(scanner.usage().has_value());
  scanner.Feed("data: {\"usage\":{\"prompt_tokens\":99,\"x\":" + Nested(200) + "}}\n\n");
  ASSERT_TRUE(scanner.usage().has_value());
  EXPECT_EQ(scanner.usage()->prompt, 3);  // the deep chunk was skipped, not parsed
}

// ---- 2. Header injection and the forwarding allow-list -----------------------------------------

TEST_F(ServeHardeningTest, PercentEncodedLineBreaksInAHeaderAreRefusedAndNothingIsSmuggled) {
  EchoUpstream upstream;
  std::atomic<int> smuggled{0};
  upstream.server().Get("/v1/smuggled", [&](const httplib::Request&, httplib::Response& res) {
    ++smuggled;
    res.set_content("{}", "application/json");
  });
  ASSERT_TRUE(upstream.Start());
  ServeOptions options = OptionsFor(library_path_, upstream.base_url());
  options.upstream_api_key = "upstream-secret";
  auto proxy = StartProxy(options);
  ASSERT_TRUE(proxy);
  const std::string injections[] = {
      "X-A: a%0d%0aContent-Length: 0%0d%0a%0d%0aGET /v1/smuggled HTTP/1.1%0d%0aHost: x%0d%0a"
      "%0d%0a\r\n",
      "User-Agent: ua%0D%0AAuthorization: Bearer client-chosen\r\n",
      "OpenAI-Organization: org%00x\r\n",
      "X-Stainless-Lang: py%u000athon\r\n",
  };
  for (const std::string& header : injections) {
    Socket s(proxy->port());
    ASSERT_TRUE(s.connected());
    ASSERT_TRUE(s.Send(RawChat(ChatBody("q"), header)));
    ASSERT_TRUE(s.ReadResponse(2000)) << header;
    ExpectError(s, 400, "invalid_header");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(upstream.received().empty());
  EXPECT_EQ(smuggled.load(), 0);
}

TEST_F(ServeHardeningTest, OnlyListedHeadersAreForwardedAndTheirValuesByteForByte) {
  RawUpstream upstream;
  ServeOptions options = OptionsFor(library_path_, upstream.base_url());
  options.upstream_api_key = "upstream-secret";
  auto proxy = StartProxy(options);
  ASSERT_TRUE(proxy);
  Socket s(proxy->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send(RawChat(ChatBody("q"),
                             "OpenAI-Organization: org%20one%2Fx\r\n"
                             "User-Agent: OpenAI/Python 1.2\r\n"
                             "X-Stainless-Lang: python\r\n"
                             "X-Tfgrpo-Role: rollout\r\n"
                             "Authorization: Bearer client-own\r\n"
                             "X-Api-Key: client-own-2\r\n"
                             "Cookie: session=1\r\n"
                             "X-Internal-Secret: s3\r\n"
                             "Forwarded: for=10.0.0.1\r\n"
                             "Proxy-Authorization: Basic eA==\r\n"
                             "Range: bytes=0-1\r\n")));
  ASSERT_TRUE(s.ReadResponse(3000));
  ASSERT_EQ(s.status(), 200) << s.received();
  auto heads = upstream.heads();
  ASSERT_EQ(heads.size(), 1u);
  std::map<std::string, std::string> h;
  for (const std::string& line : SplitLines(heads[0])) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    h[ToLower(line.substr(0, colon))] = Trim(line.substr(colon + 1));
  }
  EXPECT_EQ(h["openai-organization"], "org%20one%2Fx") << heads[0];  // not percent-decoded
  EXPECT_EQ(h["user-agent"], "OpenAI/Python 1.2");
  EXPECT_EQ(h["x-stainless-lang"], "python");
  EXPECT_EQ(h["x-tfgrpo-role"], "rollout");
  EXPECT_EQ(h["authorization"], "Bearer upstream-secret");
  for (const char* dropped :
       {"x-api-key", "cookie", "x-internal-secret", "forwarded", "proxy-authorization", "range"}) {
    EXPECT_EQ(h.count(dropped), 0u) << dropped;
  }
}

TEST(RequestHeadTest, ParsesValuesAsSentAndRefusesMalformedHeads) {
  serve_internal::FrontLimits limits;
  auto parse = [&](const std::string& head) {
    return serve_internal::ParseRequestHead(head, limits);
  };
  auto ok = parse("POST /v1/chat/completions?x=1 HTTP/1.1\r\nX-A:  a%41b \r\nRange: bytes=0-1\r\n"
                  "Content-Length: 12\r\n\r\n");
  auto* head = std::get_if<serve_internal::RequestHead>(&ok);
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->path(), "/v1/chat/completions");
  ASSERT_NE(head->Find("x-a"), nullptr);
  EXPECT_EQ(*head->Find("x-a"), "a%41b");
  EXPECT_EQ(head->content_length, 12u);
  EXPECT_EQ(head->Serialize(),
            "POST /v1/chat/completions?x=1 HTTP/1.1\r\nX-A: a%41b\r\nContent-Length: 12\r\n\r\n");

  auto status_of = [&](const std::string& text) {
    auto r = parse(text);
    auto* e = std::get_if<serve_internal::HeadError>(&r);
    return e ? e->status : 0;
  };
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n"), 400);           // bare LF
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400);              // bare CR
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), 400);           // folded
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nBad Name: a\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: a%0Ab\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/2.0\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            400);
  EXPECT_EQ(status_of("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n"), 414);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n"), 431);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i <= 100; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(status_of(many + "\r\n"), 431);

  EXPECT_EQ(serve_internal::FindHeadEnd("GET / HTTP/1.1\r\nX: a\r\n"), std::string::npos);
  EXPECT_EQ(serve_internal::FindHeadEnd("GET / HTTP/1.1\r\n\r\nbody"), 18u);
}

// ---- 3. Body limit while reading; the key before the body --------------------------------------

TEST_F(ServeHardeningTest, AChunkedBodyOverTheLimitIsStoppedWhileBeingRead) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  Socket s(proxy->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";  // 64 KiB each
  size_t sent = 0;
  // Up to 32 MiB; the proxy must answer long before.
  for (int i = 0; i < 512 && !s.Readable(0); ++i) {
    if (!s.Send(chunk)) break;
    sent += 0x10000;
  }
  ASSERT_TRUE(s.ReadResponse(3000));
  ExpectError(s, 413, "request_too_large");
  EXPECT_LT(sent, size_t{20} << 20);
  EXPECT_TRUE(upstream.received().empty());
}

TEST_F(ServeHardeningTest, TheKeyIsCheckedBeforeTheBodyIsRead) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  ServeOptions options = OptionsFor(library_path_, upstream.base_url());
  options.client_api_key = "client-key";
  auto proxy = StartProxy(options);
  ASSERT_TRUE(proxy);
  // Announces 4 MB and sends none of it: the 401 must not wait for the body.
  Socket s(proxy->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nContent-Length: 4000000\r\n\r\n"));
  auto t0 = Clock::now();
  ASSERT_TRUE(s.ReadResponse(2000));
  EXPECT_LT(MsSince(t0), 1000);
  ExpectError(s, 401, "invalid_api_key");
  EXPECT_NE(ToLower(s.received()).find("connection: close"), std::string::npos);

  // Same for a declared length over the limit, with the right key: 413 at once.
  Socket big(proxy->port());
  ASSERT_TRUE(big.connected());
  ASSERT_TRUE(big.Send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer client-key\r\nContent-Length: 100000000\r\n\r\n"));
  ASSERT_TRUE(big.ReadResponse(2000));
  ExpectError(big, 413, "request_too_large");

  // And with Expect: 100-continue the client is told before it sends anything.
  Socket expect(proxy->port());
  ASSERT_TRUE(expect.connected());
  ASSERT_TRUE(expect.Send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                          "Expect: 100-continue\r\nContent-Length: 5000\r\n\r\n"));
  ASSERT_TRUE(expect.ReadResponse(2000));
  ExpectError(expect, 401, "invalid_api_key");
  EXPECT_TRUE(upstream.received().empty());
}

// ---- 4. Range is ignored -----------------------------------------------------------------------

TEST_F(ServeHardeningTest, RangeHeadersAreIgnored) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  auto proxy = StartProxy(OptionsFor(library_path_, upstream.base_url()));
  ASSERT_TRUE(proxy);
  std::string ranges = "bytes=0-";
  for (int i = 1; i < 1000; ++i) ranges += ",0-";
  auto client = ClientFor(*proxy);
  auto chat = client->Post("/v1/chat/completions", {{"Range", ranges}}, ChatBody("q"),
                           "application/json");
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 200);
  EXPECT_TRUE(json::parse(chat->body, nullptr, false).is_object());
  EXPECT_LT(chat->body.size(), 4096u);
  auto health = client->Get("/health", {{"Range", "bytes=0-1,3-4"}});
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body, nullptr, false)["status"], "ok");
  auto unsatisfiable = client->Get("/health", {{"Range", "bytes=9999-"}});
  ASSERT_TRUE(unsatisfiable);
  EXPECT_EQ(unsatisfiable->status, 200);
}

// ---- 5. Slow and half-open connections ---------------------------------------------------------

TEST_F(ServeHardeningTest, HealthAnswersWhile150ConnectionsSendHalfARequestLine) {
  auto proxy = StartProxy(OptionsFor(library_path_, "http://127.0.0.1:9/v1"));
  ASSERT_TRUE(proxy);
  std::vector<std::unique_ptr<Socket>> slow;
  for (int i = 0; i < 150; ++i) {
    slow.push_back(std::make_unique<Socket>(proxy->port()));
    ASSERT_TRUE(slow.back()->connected());
    ASSERT_TRUE(slow.back()->Send("GET /heal"));
  }
  auto t0 = Clock::now();
  auto health = ClientFor(*proxy)->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_LT(MsSince(t0), 2000);
}

// Each connection holds its thread while kept alive, so a connection left queued behind a lost
// wake-up would wait for another connection to end.
TEST_F(ServeHardeningTest, ABurstOfKeptAliveConnectionsIsServedAtOnce) {
  auto proxy = StartProxy(OptionsFor(library_path_, "http://127.0.0.1:9/v1"));
  ASSERT_TRUE(proxy);
  const std::string request = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int round = 0; round < 3; ++round) {
    // Leaves idle threads behind (the pool keeps them), which the burst below then wakes.
    {
      std::vector<std::unique_ptr<Socket>> warm;
      for (int i = 0; i < 16; ++i) {
        warm.push_back(std::make_unique<Socket>(proxy->port()));
        ASSERT_TRUE(warm.back()->Send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      }
      for (auto& w : warm) w->ReadToClose(2000);
    }
    std::vector<std::unique_ptr<Socket>> burst;
    for (int i = 0; i < 48; ++i) {
      burst.push_back(std::make_unique<Socket>(proxy->port()));
      ASSERT_TRUE(burst.back()->connected());
      ASSERT_TRUE(burst.back()->Send(request));
    }
    auto t0 = Clock::now();
    for (size_t i = 0; i < burst.size(); ++i) {
      int left = std::max(1, 2000 - static_cast<int>(MsSince(t0)));
      ASSERT_TRUE(burst[i]->ReadResponse(left)) << "round " << round << ", connection " << i;
      EXPECT_EQ(burst[i]->status(), 200);
    }
  }
}

TEST_F(ServeHardeningTest, AHeadThatDoesNotArriveInTimeGets408) {
  ServeOptions options = OptionsFor(library_path_, "http://127.0.0.1:9/v1");
  options.header_timeout = std::chrono::milliseconds(300);
  auto proxy = StartProxy(options);
  ASSERT_TRUE(proxy);
  Socket s(proxy->port());
  ASSERT_TRUE(s.connected());
  auto t0 = Clock::now();
  ASSERT_TRUE(s.Send("GET /health HTTP/1.1\r\nHost: x\r\n"));
  // Dribbling more bytes does not extend the deadline.
  for (int i = 0; i < 8 && !s.Readable(50); ++i) s.Send("X-Slow: 1\r\n");
  EXPECT_TRUE(s.ReadToClose(2000));
  EXPECT_LT(MsSince(t0), 1800);
  ExpectError(s, 408, "request_timeout");
}

TEST_F(ServeHardeningTest, AtTheConnectionCapTheLongestIdleConnectionMakesRoom) {
  ServeOptions options = OptionsFor(library_path_, "http://127.0.0.1:9/v1");
  options.max_connections = 8;
  auto proxy = StartProxy(options);
  ASSERT_TRUE(proxy);
  std::vector<std::unique_ptr<Socket>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<Socket>(proxy->port()));
    ASSERT_TRUE(slow.back()->connected());
    ASSERT_TRUE(slow.back()->Send("GET /heal"));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a definite age order
  }
  auto t0 = Clock::now();
  auto health = ClientFor(*proxy)->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_LT(MsSince(t0), 2000);
  // The oldest were closed to make room; the newest are still open.
  EXPECT_TRUE(slow.front()->ReadToClose(1000));
  EXPECT_FALSE(slow.back()->ReadToClose(100));
}

// ---- 6. Header size and count ------------------------------------------------------------------

TEST_F(ServeHardeningTest, AHeaderFloodGets431BeforeMuchIsRead) {
  auto proxy = StartProxy(OptionsFor(library_path_, "http://127.0.0.1:9/v1"));
  ASSERT_TRUE(proxy);
  Socket s(proxy->port());
  ASSERT_TRUE(s.connected());
  ASSERT_TRUE(s.Send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"));
  const std::string lines = [] {
    std::string out;
    for (int i = 0; i < 64; ++i) out += "X-Pad-" + std::to_string(i) + ": " + std::string(1000, 'p') + "\r\n";
    return out;
  }();
  size_t sent = 0;
  for (int i = 0; i < 512 && !s.Readable(0); ++i) {  // up to ~32 MiB
    if (!s.Send(lines)) break;
    sent += lines.size();
  }
  ASSERT_TRUE(s.ReadResponse(3000));
  ExpectError(s, 431, "request_header_fields_too_large");
  EXPECT_LT(sent, size_t{16} << 20);

  // Many small headers: the count limit.
  Socket counted(proxy->port());
  ASSERT_TRUE(counted.connected());
  std::string head = "GET /health HTTP/1.1\r\n";
  for (int i = 0; i < 150; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  ASSERT_TRUE(counted.Send(head + "\r\n"));
  ASSERT_TRUE(counted.ReadResponse(2000));
  ExpectError(counted, 431, "request_header_fields_too_large");
  EXPECT_GE(MetricValue(proxy->MetricsText(), "tfgrpo_serve_requests_total{status=\"431\"}"), 2);
}

// ---- 7. The library path replaced by a FIFO ----------------------------------------------------

TEST_F(ServeHardeningTest, AFifoInPlaceOfTheLibraryKeepsTheOldOneAndStopStaysPrompt) {
  auto proxy = StartProxy(OptionsFor(library_path_, "http://127.0.0.1:9/v1"));
  ASSERT_TRUE(proxy);
  const std::string fingerprint = proxy->library()->fingerprint;
  std::filesystem::remove(library_path_);
  ASSERT_EQ(::mkfifo(library_path_.c_str(), 0600), 0);
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    refused = MetricValue(proxy->MetricsText(), "tfgrpo_serve_library_reload_failures_total") >= 1;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Unblocks a watcher stuck opening the FIFO (the bug), so the test fails instead of hanging.
  int unblock = ::open(library_path_.c_str(), O_WRONLY | O_NONBLOCK);
  if (unblock >= 0) ::close(unblock);
  ASSERT_TRUE(refused);
  Status s = proxy->Reload();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a regular file"), std::string::npos) << s.message();
  EXPECT_EQ(proxy->library()->fingerprint, fingerprint);
  auto health = ClientFor(*proxy)->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["experiences"], 3);
  auto t0 = Clock::now();
  proxy->Stop();
  EXPECT_LT(MsSince(t0), 1000);
}

TEST_F(ServeHardeningTest, StartingOnAFifoFailsAtOnce) {
  std::filesystem::remove(library_path_);
  ASSERT_EQ(::mkfifo(library_path_.c_str(), 0600), 0);
  // Frees a Start() stuck opening the FIFO (the bug) after a while, so the test fails, not hangs.
  std::atomic<bool> started{false};
  std::thread unblocker([&] {
    for (int i = 0; i < 150 && !started; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    int fd = ::open(library_path_.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  });
  ProxyServer proxy(OptionsFor(library_path_, "http://127.0.0.1:9/v1"));
  auto t0 = Clock::now();
  Status s = proxy.Start();
  started = true;
  unblocker.join();
  EXPECT_LT(MsSince(t0), 1000);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a regular file"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace tfgrpo
