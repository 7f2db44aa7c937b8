// HttpTransport and SendWithRetry against loopback servers: what goes on the wire, redirects and
// the checks on every target, body limits, streaming, timeouts, cancellation, the retry rule and
// redaction of the secret.

#include <fcntl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "local_http_server.h"
#include "tfgrpo/http.h"

namespace tfgrpo {
namespace {

using testing::ClosedPort;
using testing::LocalHttpServer;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string Root(const LocalHttpServer& server) { return "http://127.0.0.1:" + std::to_string(server.port()); }

HttpRequest Get(std::string url) {
  HttpRequest r;
  r.url = std::move(url);
  r.timeout_s = 5;
  return r;
}

RetryPolicy Fast(int max_retries = 3) {
  RetryPolicy p;
  p.max_retries = max_retries;
  p.backoff_initial_s = 0.001;
  p.backoff_max_s = 0.005;
  p.retry_after_max_s = 5;
  return p;
}

// Counts requests per path.
class Counter {
 public:
  int Hit(const std::string& path) {
    std::lock_guard lock(mu_);
    return ++counts_[path];
  }
  int Count(const std::string& path) {
    std::lock_guard lock(mu_);
    return counts_[path];
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> counts_;
};

TEST(HttpTransport, GetAndPostCarryHeadersAndBodyAndReadResponseHeaders) {
  LocalHttpServer server;
  server.server().Get("/get", [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Seen", req.get_header_value("X-Custom"));
    res.set_header("X-UA", req.get_header_value("User-Agent"));
    res.set_content("method=" + req.method, "text/plain");
  });
  server.server().Post("/post", [](const httplib::Request& req, httplib::Response& res) {
    res.status = 201;
    res.set_header("X-Expect", req.has_header("Expect") ? "yes" : "no");
    res.set_content(req.method + ":" + req.get_header_value("Content-Type") + ":" + req.body, "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;

  HttpRequest get = Get(Root(server) + "/get");
  get.headers = {{"X-Custom", "v1\r\nInjected: yes"}};
  get.user_agent = "tfgrpo-test/1";
  auto r = transport.Send(get);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "method=GET");
  EXPECT_EQ(r->Header("x-seen").value_or("?"), "v1Injected: yes");  // CR/LF dropped: one header
  EXPECT_EQ(r->Header("X-UA").value_or("?"), "tfgrpo-test/1");
  EXPECT_FALSE(r->Header("X-Absent").has_value());
  EXPECT_EQ(r->final_url, Root(server) + "/get");

  HttpRequest post = Get(Root(server) + "/post");
  post.method = "POST";
  post.headers = {{"Content-Type", "application/json"}};
  post.body = std::string(200000, 'b');  // large: would trigger Expect: 100-continue by default
  auto p = transport.Send(post);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->status, 201);
  EXPECT_EQ(p->Header("X-Expect").value_or("?"), "no");
  EXPECT_EQ(p->body, "POST:application/json:" + post.body);
}

TEST(HttpTransport, FollowsRedirectsCheckingEveryTargetAndChangingMethodAsBrowsersDo) {
  LocalHttpServer server;
  Counter hits;
  server.server().Post("/start", [&](const httplib::Request&, httplib::Response& res) {
    hits.Hit("/start");
    res.set_redirect("/keep", 307);
  });
  server.server().Post("/keep", [&](const httplib::Request& req, httplib::Response& res) {
    hits.Hit("/keep:" + req.body);
    res.set_redirect("/as-get", 302);
  });
  server.server().Get("/as-get", [&](const httplib::Request& req, httplib::Response& res) {
    hits.Hit("/as-get");
    res.set_content("landed", "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  std::vector<std::string> checked;
  HttpRequest req = Get(Root(server) + "/start");
  req.method = "POST";
  req.body = "payload";
  req.max_redirects = 5;
  req.check_url = [&](std::string_view url) {
    checked.emplace_back(url);
    return Status::Ok();
  };
  auto r = transport.Send(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "landed");
  EXPECT_EQ(r->redirects, 2);
  EXPECT_EQ(r->final_url, Root(server) + "/as-get");
  EXPECT_EQ(checked, (std::vector<std::string>{Root(server) + "/start", Root(server) + "/keep",
                                               Root(server) + "/as-get"}));
  EXPECT_EQ(hits.Count("/keep:payload"), 1);  // 307 repeats the POST with its body
  EXPECT_EQ(hits.Count("/as-get"), 1);        // 302 after a POST continues as a GET
}

TEST(HttpTransport, ARefusedRedirectTargetStopsTheRequestBeforeItIsContacted) {
  LocalHttpServer server;
  Counter hits;
  server.server().Get("/public", [&](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/internal", 302);
  });
  server.server().Get("/internal", [&](const httplib::Request&, httplib::Response& res) {
    hits.Hit("/internal");
    res.set_content("secret data", "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  HttpRequest req = Get(Root(server) + "/public");
  req.max_redirects = 5;
  req.check_url = [](std::string_view url) {
    if (url.find("/internal") != std::string_view::npos) return Status::InvalidArgument("internal address");
    return Status::Ok();
  };
  SendFailure failure;
  auto r = transport.Send(req, &failure);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("refusing the redirect"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("internal address"), std::string::npos) << r.status().message();
  EXPECT_FALSE(failure.retryable);
  EXPECT_EQ(hits.Count("/internal"), 0);

  // Refusing the first URL sends nothing at all.
  req.url = Root(server) + "/internal";
  EXPECT_EQ(transport.Send(req).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(hits.Count("/internal"), 0);
}

TEST(HttpTransport, RedirectsAreReturnedUnfollowedByDefaultAndCappedWhenFollowed) {
  LocalHttpServer server;
  server.server().Get("/loop", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/loop", 302); });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  HttpRequest req = Get(Root(server) + "/loop");
  auto unfollowed = transport.Send(req);
  ASSERT_TRUE(unfollowed.ok()) << unfollowed.status().ToString();
  EXPECT_EQ(unfollowed->status, 302);
  EXPECT_EQ(unfollowed->Header("Location").value_or(""), "/loop");

  req.max_redirects = 3;
  int checks = 0;
  req.check_url = [&](std::string_view) {
    ++checks;
    return Status::Ok();
  };
  auto looped = transport.Send(req);
  ASSERT_FALSE(looped.ok());
  EXPECT_EQ(looped.status().code(), Status::Code::kProviderError);
  EXPECT_NE(looped.status().message().find("more than 3 redirects"), std::string::npos) << looped.status().message();
  EXPECT_EQ(checks, 4);  // the first URL and three targets
}

TEST(HttpTransport, CredentialsStayOnTheOriginalOrigin) {
  LocalHttpServer other;
  std::mutex mu;
  std::string seen_auth = "unset", seen_custom;
  other.server().Get("/landing", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    seen_auth = req.has_header("Authorization") ? req.get_header_value("Authorization") : "absent";
    seen_custom = req.get_header_value("X-Keep");
    res.set_content("ok", "text/plain");
  });
  ASSERT_TRUE(other.Start());
  LocalHttpServer first;
  first.server().Get("/go", [&](const httplib::Request&, httplib::Response& res) {
    res.set_redirect(Root(other) + "/landing", 302);
  });
  ASSERT_TRUE(first.Start());
  HttpTransport transport;
  HttpRequest req = Get(Root(first) + "/go");
  req.max_redirects = 2;
  req.headers = {{"Authorization", "Bearer tok"}, {"X-Keep", "kept"}};
  auto r = transport.Send(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::lock_guard lock(mu);
  EXPECT_EQ(seen_auth, "absent");
  EXPECT_EQ(seen_custom, "kept");
}

TEST(HttpTransport, CheckAddressRefusesAHostNameResolvingToARefusedAddress) {
  LocalHttpServer server;
  Counter hits;
  server.server().Get("/x", [&](const httplib::Request&, httplib::Response& res) {
    hits.Hit("/x");
    res.set_content("x", "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  std::vector<std::string> addresses;
  HttpRequest req = Get("http://localhost:" + std::to_string(server.port()) + "/x");
  req.check_url = [](std::string_view) { return Status::Ok(); };  // the name itself looks harmless
  req.check_address = [&](std::string_view ip) {
    addresses.emplace_back(ip);
    return Status::InvalidArgument("loopback address " + std::string(ip));
  };
  auto r = transport.Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("loopback address"), std::string::npos) << r.status().message();
  ASSERT_FALSE(addresses.empty());
  EXPECT_TRUE(addresses[0] == "127.0.0.1" || addresses[0] == "::1") << addresses[0];
  EXPECT_EQ(hits.Count("/x"), 0);
}

TEST(HttpTransport, CheckAddressAlsoGuardsAReusedConnection) {
  LocalHttpServer server;
  Counter hits;
  server.server().Get("/x", [&](const httplib::Request&, httplib::Response& res) {
    hits.Hit("/x");
    res.set_content("x", "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport(HttpTransportOptions{.max_in_flight = 0, .max_idle_handles = 1});
  HttpRequest req = Get(Root(server) + "/x");
  ASSERT_TRUE(transport.Send(req).ok());  // leaves a kept-alive connection in the pool
  ASSERT_EQ(hits.Count("/x"), 1);
  req.check_address = [](std::string_view ip) { return Status::InvalidArgument("refused " + std::string(ip)); };
  auto r = transport.Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(hits.Count("/x"), 1);
  req.check_address = [](std::string_view) { return Status::Ok(); };
  EXPECT_TRUE(transport.Send(req).ok());
  EXPECT_EQ(hits.Count("/x"), 2);
}

// The sockets check_address makes us open ourselves must be close-on-exec like libcurl's, or
// every sandboxed tool process would inherit a provider connection.
TEST(HttpTransport, SocketsOpenedForCheckAddressAreCloseOnExec) {
  LocalHttpServer server;
  server.server().Get("/x", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(10, 'x'), "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  HttpRequest req = Get(Root(server) + "/x");
  req.check_address = [](std::string_view) { return Status::Ok(); };
  int client_sockets = 0, inheritable = 0;
  req.on_body = [&](std::string_view) {
    for (int fd = 0; fd < 1024; ++fd) {
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 || peer.sin_family != AF_INET) continue;
      if (ntohs(peer.sin_port) != server.port()) continue;  // the server's side has our port as peer
      ++client_sockets;
      if ((::fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0) ++inheritable;
    }
    return true;
  };
  ASSERT_TRUE(transport.Send(req).ok());
  EXPECT_EQ(client_sockets, 1);
  EXPECT_EQ(inheritable, 0);
}

TEST(HttpTransport, MaxResponseBytesFailsOrTruncates) {
  LocalHttpServer server;
  server.server().Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(100000, 'z'), "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  HttpRequest req = Get(Root(server) + "/big");
  req.max_response_bytes = 1000;
  SendFailure failure;
  auto r = transport.Send(req, &failure);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kProviderError);
  EXPECT_NE(r.status().message().find("exceeds 1000 bytes"), std::string::npos) << r.status().message();
  EXPECT_FALSE(failure.retryable);

  req.truncate_at_max = true;
  auto cut = transport.Send(req);
  ASSERT_TRUE(cut.ok()) << cut.status().ToString();
  EXPECT_TRUE(cut->truncated);
  EXPECT_EQ(cut->body, std::string(1000, 'z'));

  req.max_response_bytes = 100000;  // exactly the size: whole, not truncated
  auto whole = transport.Send(req);
  ASSERT_TRUE(whole.ok());
  EXPECT_FALSE(whole->truncated);
  EXPECT_EQ(whole->body.size(), 100000u);
}

TEST(HttpTransport, OnBodyStreamsChunksOfA2xxAndCanStopTheTransfer) {
  LocalHttpServer server;
  server.server().Get("/sse", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/event-stream", [](size_t offset, httplib::DataSink& sink) {
      for (int i = 0; i < 3; ++i) {
        std::string event = "data: " + std::to_string(i) + "\n\n";
        sink.write(event.data(), event.size());
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      sink.done();
      return true;
    });
  });
  server.server().Get("/fail", [](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("broken", "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  std::vector<std::string> chunks;
  HttpRequest req = Get(Root(server) + "/sse");
  req.on_body = [&](std::string_view chunk) {
    chunks.emplace_back(chunk);
    return true;
  };
  auto r = transport.Send(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->body.empty());
  std::string all;
  for (const auto& c : chunks) all += c;
  EXPECT_EQ(all, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
  EXPECT_GE(chunks.size(), 2u);  // delivered as they arrived, not at the end

  chunks.clear();
  req.on_body = [&](std::string_view chunk) {
    chunks.emplace_back(chunk);
    return false;
  };
  auto stopped = transport.Send(req);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().code(), Status::Code::kCancelled);
  EXPECT_EQ(chunks.size(), 1u);

  // An error status is collected for the error message, not streamed.
  chunks.clear();
  req.url = Root(server) + "/fail";
  auto failed = transport.Send(req);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->status, 500);
  EXPECT_EQ(failed->body, "broken");
  EXPECT_TRUE(chunks.empty());
}

// A handler that holds its request until released (so no test waits for a long sleep to end).
class Holder {
 public:
  ~Holder() { Release(); }
  void Hold() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [this] { return released_; });
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

TEST(HttpTransport, ATimeoutIsKTimeoutAndRetryable) {
  Holder holder;
  LocalHttpServer server;
  server.server().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    holder.Hold();
    res.set_content("late", "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  HttpRequest req = Get(Root(server) + "/slow");
  req.timeout_s = 0.2;
  SendFailure failure;
  const auto start = Clock::now();
  auto r = transport.Send(req, &failure);
  const double elapsed = SecondsSince(start);
  holder.Release();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout) << r.status().ToString();
  EXPECT_TRUE(failure.retryable);
  EXPECT_TRUE(failure.reached_server);
  EXPECT_GE(elapsed, 0.15);
  EXPECT_LT(elapsed, 1.5);
}

TEST(HttpTransport, CancellingStopsARunningTransfer) {
  Holder holder;
  LocalHttpServer server;
  server.server().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    holder.Hold();
    res.set_content("late", "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  std::atomic<bool> cancel{false};
  HttpRequest req = Get(Root(server) + "/slow");
  req.timeout_s = 8;
  req.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancel = true;
  });
  const auto start = Clock::now();
  auto r = transport.Send(req);
  const double elapsed = SecondsSince(start);
  canceller.join();
  holder.Release();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCancelled) << r.status().ToString();
  EXPECT_LT(elapsed, 3.0);
}

TEST(HttpTransport, NetworkErrorsAreClassified) {
  HttpTransport transport;
  SendFailure failure;
  auto refused = transport.Send(Get("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/x"), &failure);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kUnavailable);
  EXPECT_TRUE(failure.retryable);
  EXPECT_FALSE(failure.reached_server);

  auto scheme = transport.Send(Get("file:///etc/passwd"), &failure);
  EXPECT_EQ(scheme.status().code(), Status::Code::kInvalidArgument) << scheme.status().ToString();
  EXPECT_FALSE(failure.retryable);

  HttpRequest put = Get("http://127.0.0.1:1/");
  put.method = "PUT";
  EXPECT_EQ(transport.Send(put).status().code(), Status::Code::kInvalidArgument);
}

TEST(HttpTransport, DeleteGoesOutAsDeleteWithItsHeadersAndNoBody) {
  LocalHttpServer server;
  std::string seen_session, seen_body = "unset";
  int deletes = 0;
  server.server().Delete("/mcp", [&](const httplib::Request& req, httplib::Response& res) {
    ++deletes;
    seen_session = req.get_header_value("Mcp-Session-Id");
    seen_body = req.body;
    res.status = 405;
  });
  server.server().Get("/after", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.method, "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  HttpRequest del = Get(Root(server) + "/mcp");
  del.method = "DELETE";
  del.body = "ignored";
  del.headers = {{"Mcp-Session-Id", "s-1"}};
  auto r = transport.Send(del);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(deletes, 1);
  EXPECT_EQ(seen_session, "s-1");
  EXPECT_EQ(seen_body, "");
  // The handle goes back to the pool: the next request is a GET again.
  auto after = transport.Send(Get(Root(server) + "/after"));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->body, "GET");
}

TEST(HttpTransport, TheSecretNeverAppearsInAnError) {
  const std::string secret = "sk-transport-SECRET-42";
  LocalHttpServer server;
  server.server().Get("/echo", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content(std::string(285, 'x') + secret, "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  HttpRequest req = Get("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/search?key=" + secret);
  req.secret = secret;
  SendFailure failure;
  auto r = transport.Send(req, &failure);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("SECRET"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[redacted]"), std::string::npos) << r.status().message();
  EXPECT_EQ(failure.detail.find("SECRET"), std::string::npos) << failure.detail;

  auto retried = SendWithRetry(transport, req, Fast(1));
  ASSERT_FALSE(retried.ok());
  EXPECT_EQ(retried.status().message().find("SECRET"), std::string::npos) << retried.status().message();

  // A server echoing the key, cut where the key straddles the 300-byte excerpt.
  req.url = Root(server) + "/echo";
  std::vector<std::string> logged;
  RetryPolicy policy = Fast(1);
  policy.on_retry = [&](const RetryEvent& e) { logged.push_back(e.error); };
  auto echoed = SendWithRetry(transport, req, policy);
  ASSERT_FALSE(echoed.ok());
  EXPECT_EQ(echoed.status().message().find(secret.substr(0, 5)), std::string::npos) << echoed.status().message();
  EXPECT_NE(echoed.status().message().find("[redacted]"), std::string::npos) << echoed.status().message();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].find(secret.substr(0, 5)), std::string::npos) << logged[0];
}

TEST(RedactSecret, ReplacesTheSecretAndLongPrefixesOfIt) {
  EXPECT_EQ(RedactSecret("key sk-1 and sk-1", "sk-1"), "key [redacted] and [redacted]");
  EXPECT_EQ(RedactSecret("nothing", ""), "nothing");
  const std::string key = "sk-live-0123456789abcdef";
  EXPECT_EQ(RedactSecret("bad key sk-live-0123...", key), "bad key [redacted]...");
  EXPECT_EQ(RedactSecret("sk-live and sk-live", key), "sk-live and sk-live");  // 7 bytes: too short to matter
}

// Serves `statuses[n-1]` (then 200 "done") and counts requests.
class StatusScript {
 public:
  explicit StatusScript(std::vector<int> statuses, std::string retry_after = "")
      : statuses_(std::move(statuses)), retry_after_(std::move(retry_after)) {
    server_.server().Get("/s", [this](const httplib::Request&, httplib::Response& res) {
      const size_t n = count_++;
      if (n < statuses_.size()) {
        res.status = statuses_[n];
        if (!retry_after_.empty()) res.set_header("Retry-After", retry_after_);
        res.set_content("status " + std::to_string(statuses_[n]), "text/plain");
      } else {
        res.set_content("done", "text/plain");
      }
    });
    started_ = server_.Start();
  }
  bool started() const { return started_; }
  std::string url() const { return Root(server_) + "/s"; }
  int count() const { return count_.load(); }

 private:
  std::vector<int> statuses_;
  std::string retry_after_;
  LocalHttpServer server_;
  std::atomic<int> count_{0};
  bool started_ = false;
};

TEST(SendWithRetry, RetriesExactlyTheRetryableStatuses) {
  for (int status : {408, 409, 429, 500, 502, 503, 504}) {
    StatusScript script({status});
    ASSERT_TRUE(script.started());
    HttpTransport transport;  // after the server: its kept-alive connection closes first
    int attempts = 0;
    auto r = SendWithRetry(transport, Get(script.url()), Fast(), &attempts);
    ASSERT_TRUE(r.ok()) << status << ": " << r.status().ToString();
    EXPECT_EQ(r->status, 200) << status;
    EXPECT_EQ(r->body, "done");
    EXPECT_EQ(attempts, 2) << status;
    EXPECT_EQ(script.count(), 2) << status;
  }
  for (int status : {400, 401, 403, 404, 422}) {
    StatusScript script({status});
    ASSERT_TRUE(script.started());
    HttpTransport transport;
    int attempts = 0;
    auto r = SendWithRetry(transport, Get(script.url()), Fast(), &attempts);
    ASSERT_TRUE(r.ok()) << status << ": " << r.status().ToString();  // final: returned for the caller to map
    EXPECT_EQ(r->status, status);
    EXPECT_EQ(attempts, 1) << status;
    EXPECT_EQ(script.count(), 1) << status;
    const Status mapped = HttpStatusError(*r);
    const Status::Code want = status == 401 || status == 403 ? Status::Code::kUnauthorized
                              : status == 404                ? Status::Code::kNotFound
                                                             : Status::Code::kProviderError;
    EXPECT_EQ(mapped.code(), want) << status;
    EXPECT_NE(mapped.message().find("HTTP " + std::to_string(status) + " from " + script.url()), std::string::npos);
  }
}

TEST(SendWithRetry, ExhaustedRetriesAreUnavailableNamingAttemptsAndLastError) {
  StatusScript script({503, 503, 503, 503});
  ASSERT_TRUE(script.started());
  HttpTransport transport;
  int attempts = 0;
  auto r = SendWithRetry(transport, Get(script.url()), Fast(2), &attempts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(r.status().message(), "GET " + script.url() + " failed after 3 attempts; last error: HTTP 503: status 503");
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(r.status().http_status(), 503) << "the last status travels with the error";
  EXPECT_FALSE(r.status().retry_after_s());

  // A rate limit that outlasts the retries keeps its status and Retry-After, for a relay (the
  // agent gateway) to pass on.
  StatusScript limited({429, 429}, "0");
  ASSERT_TRUE(limited.started());
  auto rate = SendWithRetry(transport, Get(limited.url()), Fast(0));
  ASSERT_FALSE(rate.ok());
  EXPECT_EQ(rate.status().http_status(), 429);
  ASSERT_TRUE(rate.status().retry_after_s());
  EXPECT_DOUBLE_EQ(*rate.status().retry_after_s(), 0.0);
  EXPECT_EQ(rate.status().WithContext("calling").http_status(), 429) << "context keeps it";

  auto down = SendWithRetry(transport, Get("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/v1"), Fast(1));
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(down.status().message().rfind("cannot reach http://127.0.0.1:", 0), 0u) << down.status().message();
  EXPECT_NE(down.status().message().find("(2 attempts)"), std::string::npos) << down.status().message();
  EXPECT_EQ(down.status().http_status(), 0) << "no reply, no status";
}

TEST(SendWithRetry, HonoursRetryAfterUpToItsCap) {
  StatusScript script({429}, "0.3");
  ASSERT_TRUE(script.started());
  HttpTransport transport;
  std::vector<RetryEvent> events;
  RetryPolicy policy = Fast();
  policy.on_retry = [&](const RetryEvent& e) { events.push_back(e); };
  const auto start = Clock::now();
  auto r = SendWithRetry(transport, Get(script.url()), policy);
  const double elapsed = SecondsSince(start);
  ASSERT_TRUE(r.ok());
  EXPECT_GE(elapsed, 0.28);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].from_retry_after);
  EXPECT_DOUBLE_EQ(events[0].wait_s, 0.3);
  EXPECT_EQ(events[0].error, "HTTP 429: status 429");

  StatusScript greedy({503}, "3600");
  ASSERT_TRUE(greedy.started());
  policy.retry_after_max_s = 0.05;
  const auto start2 = Clock::now();
  EXPECT_TRUE(SendWithRetry(transport, Get(greedy.url()), policy).ok());
  EXPECT_LT(SecondsSince(start2), 1.0);
}

TEST(SendWithRetry, TheSameServerErrorRepeatedIsPermanentUnlessItMeansLater) {
  StatusScript same({500, 500, 500, 500, 500, 500});
  ASSERT_TRUE(same.started());
  HttpTransport transport;
  RetryPolicy rule = Fast(5);
  rule.same_server_error_limit = 3;
  auto r = SendWithRetry(transport, Get(same.url()), rule);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kProviderError);
  EXPECT_NE(r.status().message().find("HTTP 500 from " + same.url() + ": status 500"), std::string::npos);
  EXPECT_NE(r.status().message().find("3 times in a row"), std::string::npos) << r.status().message();
  EXPECT_EQ(same.count(), 3);

  StatusScript overloaded({503, 503, 503, 503, 503});
  ASSERT_TRUE(overloaded.started());
  {
    HttpTransport fresh;  // destroyed before its server
    EXPECT_TRUE(SendWithRetry(fresh, Get(overloaded.url()), rule).ok());
  }
  EXPECT_EQ(overloaded.count(), 6);

  StatusScript off({500, 500, 500, 500});
  ASSERT_TRUE(off.started());
  RetryPolicy no_rule = Fast(5);  // the default: off
  {
    HttpTransport fresh;
    EXPECT_TRUE(SendWithRetry(fresh, Get(off.url()), no_rule).ok());
  }
  EXPECT_EQ(off.count(), 5);
}

TEST(SendWithRetry, CheckResponseRetriesOnUnavailableAndStopsOnAnythingElse) {
  LocalHttpServer server;
  std::atomic<int> n{0};
  server.server().Get("/body", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(++n < 3 ? "partial" : "complete", "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport;
  RetryPolicy policy = Fast();
  policy.check_response = [](const HttpResponse& r) {
    return r.body == "complete" ? Status::Ok() : Status::Unavailable("HTTP 200: cut short");
  };
  int attempts = 0;
  auto r = SendWithRetry(transport, Get(Root(server) + "/body"), policy, &attempts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "complete");
  EXPECT_EQ(attempts, 3);

  n = 0;
  policy.check_response = [](const HttpResponse&) { return Status::ProviderError("not JSON"); };
  auto bad = SendWithRetry(transport, Get(Root(server) + "/body"), policy, &attempts);
  EXPECT_EQ(bad.status().code(), Status::Code::kProviderError);
  EXPECT_EQ(attempts, 1);

  // The verdict keeps its code when the secret is redacted from it (a budget verdict used to
  // come back as an internal error).
  n = 0;
  HttpRequest with_secret = Get(Root(server) + "/body");
  with_secret.secret = "sk-check-response-secret";
  for (const Status& verdict : {Status::BudgetExhausted("budget reached for sk-check-response-secret"),
                                Status::Unauthorized("key sk-check-response-secret refused"),
                                Status::Timeout("sk-check-response-secret slow")}) {
    policy.check_response = [&](const HttpResponse&) { return verdict; };
    auto redacted = SendWithRetry(transport, with_secret, policy);
    EXPECT_EQ(redacted.status().code(), verdict.code()) << redacted.status().ToString();
    EXPECT_EQ(redacted.status().message().find("sk-check-response-secret"), std::string::npos);
  }

  n = 0;
  policy.max_retries = 1;
  policy.check_response = [](const HttpResponse&) { return Status::Unavailable("HTTP 200: cut short"); };
  auto exhausted = SendWithRetry(transport, Get(Root(server) + "/body"), policy);
  EXPECT_EQ(exhausted.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(exhausted.status().message().find("last error: HTTP 200: cut short"), std::string::npos)
      << exhausted.status().message();
}

TEST(SendWithRetry, PermanentNetworkErrorsAndCancellationAreNotRetried) {
  int attempts = 0;
  auto scheme = SendWithRetry(DefaultHttpTransport(), Get("ftp://127.0.0.1/x"), Fast(), &attempts);
  EXPECT_EQ(scheme.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(attempts, 1);

  StatusScript script({503, 503, 503, 503});
  ASSERT_TRUE(script.started());
  HttpTransport transport;
  std::atomic<bool> cancel{false};
  HttpRequest req = Get(script.url());
  req.cancel = &cancel;
  RetryPolicy policy = Fast();
  policy.backoff_initial_s = policy.backoff_max_s = 5;  // a long wait, cut short by the cancel
  policy.on_retry = [&](const RetryEvent&) { cancel = true; };
  const auto start = Clock::now();
  auto r = SendWithRetry(transport, req, policy, &attempts);
  EXPECT_EQ(r.status().code(), Status::Code::kCancelled);
  EXPECT_EQ(attempts, 1);
  EXPECT_LT(SecondsSince(start), 1.0);
}

TEST(HttpTransport, ReusesAConnectionAndCapsRequestsInFlight) {
  LocalHttpServer server(8);
  std::mutex mu;
  std::set<int> ports;
  std::atomic<int> in_flight{0}, peak{0};
  server.server().Get("/p", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mu);
      ports.insert(req.remote_port);
    }
    res.set_content("p", "text/plain");
  });
  server.server().Get("/busy", [&](const httplib::Request&, httplib::Response& res) {
    const int now = ++in_flight;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    --in_flight;
    res.set_content("b", "text/plain");
  });
  ASSERT_TRUE(server.Start());
  HttpTransport transport(HttpTransportOptions{.max_in_flight = 2, .max_idle_handles = 4});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(transport.Send(Get(Root(server) + "/p")).ok());
  EXPECT_EQ(ports.size(), 1u);  // one kept-alive connection

  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] { ok += transport.Send(Get(Root(server) + "/busy")).ok() ? 1 : 0; });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_LE(peak.load(), 2);
  EXPECT_GE(peak.load(), 1);
}

}  // namespace
}  // namespace tfgrpo
