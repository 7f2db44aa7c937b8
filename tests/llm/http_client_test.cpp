// The libcurl chat client against local servers: what goes on the wire, how responses and
// errors are read, when it retries, and the cap on requests in flight.

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "llm/test_servers.h"
#include "tfgrpo/llm.h"

namespace tfgrpo {
namespace {

using nlohmann::json;
using testing::ClosedPort;
using testing::DroppingServer;
using testing::LocalHttpServer;
using Clock = std::chrono::steady_clock;

constexpr char kSecretKey[] = "sk-test-SECRET-0123456789";

std::string CompletionBody(const std::string& content) {
  return json{{"choices", json::array({{{"index", 0},
                                        {"finish_reason", "stop"},
                                        {"message", {{"role", "assistant"}, {"content", content}}}}})},
              {"usage", {{"prompt_tokens", 11}, {"completion_tokens", 3}}}}
      .dump();
}

HttpClientOptions FastOptions(const std::string& base_url) {
  HttpClientOptions o;
  o.base_url = base_url;
  o.model = "test-model";
  o.timeout_s = 5;
  o.max_retries = 3;
  o.concurrency = 8;
  o.backoff_initial_s = 0.001;
  o.backoff_max_s = 0.01;
  o.retry_after_max_s = 5;
  return o;
}

ChatRequest SimpleRequest(Role role = Role::kRollout, std::string call_id = "") {
  ChatRequest req;
  req.role = role;
  req.call_id = std::move(call_id);
  req.messages.push_back({"user", "What is 2+2?", json::object()});
  return req;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct CapturedRequest {
  std::string path;
  std::string body;
  httplib::Headers headers;
  int remote_port = 0;
};

// Serves `responder(n)` for the n-th request (1-based) and records every request.
class ScriptedServer {
 public:
  using Responder = std::function<void(int n, httplib::Response& res)>;
  explicit ScriptedServer(Responder responder) : responder_(std::move(responder)) {
    server_.server().Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      int n;
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back({req.path, req.body, req.headers, req.remote_port});
        n = static_cast<int>(requests_.size());
      }
      responder_(n, res);
    });
    started_ = server_.Start();
  }
  bool started() const { return started_; }
  std::string base_url() const { return server_.base_url(); }
  std::vector<CapturedRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.size();
  }

 private:
  Responder responder_;
  LocalHttpServer server_;
  std::mutex mu_;
  std::vector<CapturedRequest> requests_;
  bool started_ = false;
};

void Ok(httplib::Response& res, const std::string& content = "4") {
  res.status = 200;
  res.set_content(CompletionBody(content), "application/json");
}

void Error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", {{"message", message}, {"type", "x"}}}}.dump(),
                  "application/json");
}

TEST(HttpChatClient, SendsTheExactBodyAndHeaders) {
  ScriptedServer server([](int, httplib::Response& res) { Ok(res); });
  ASSERT_TRUE(server.started());
  HttpClientOptions options = FastOptions(server.base_url() + "/");  // trailing slash stripped
  options.api_key = kSecretKey;
  options.max_tokens = 256;
  auto client = MakeHttpChatClient(options);

  ChatRequest req = SimpleRequest(Role::kGroupUpdate, "e0/s3/t17/r2");
  req.temperature = 0.3;
  req.messages.push_back({"assistant", "", json{{"content", nullptr}, {"name", "bot"}}});
  req.extra_body = json{{"tools", json::array({{{"type", "function"}}})}};
  auto r = client->Complete(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
  json sent = json::parse(reqs[0].body);
  EXPECT_EQ(sent, ChatRequestBody(req, "test-model", 256));
  EXPECT_EQ(sent["max_tokens"], 256);
  EXPECT_EQ(sent["model"], "test-model");
  EXPECT_EQ(sent["messages"][1]["name"], "bot");
  EXPECT_TRUE(sent["messages"][1]["content"].is_null());
  EXPECT_EQ(sent["tools"][0]["type"], "function");
  const auto& h = reqs[0].headers;
  auto header = [&](const char* name) {
    auto it = h.find(name);
    return it == h.end() ? std::string("<absent>") : it->second;
  };
  EXPECT_EQ(header("Content-Type"), "application/json");
  EXPECT_EQ(header("Authorization"), std::string("Bearer ") + kSecretKey);
  EXPECT_EQ(header("X-Tfgrpo-Role"), "group_update");
  EXPECT_EQ(header("X-Tfgrpo-Call-Id"), "e0/s3/t17/r2");
  EXPECT_EQ(r->attempts, 1);
  EXPECT_GT(r->latency_ms, 0);
}

TEST(HttpChatClient, OmitsAuthCallIdAndMaxTokensWhenUnset) {
  ScriptedServer server([](int, httplib::Response& res) { Ok(res); });
  ASSERT_TRUE(server.started());
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  ASSERT_TRUE(client->Complete(SimpleRequest(Role::kJudge)).ok());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers.count("Authorization"), 0u);
  EXPECT_EQ(reqs[0].headers.count("X-Tfgrpo-Call-Id"), 0u);
  EXPECT_EQ(reqs[0].headers.find("X-Tfgrpo-Role")->second, "judge");
  EXPECT_FALSE(json::parse(reqs[0].body).contains("max_tokens"));
}

TEST(HttpChatClient, EveryRoleIsNamedInTheRoleHeader) {
  ScriptedServer server([](int, httplib::Response& res) { Ok(res); });
  ASSERT_TRUE(server.started());
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  const std::vector<Role> roles = {Role::kRollout,     Role::kSummary,     Role::kAdvantage,
                                   Role::kGroupUpdate, Role::kBatchUpdate, Role::kJudge,
                                   Role::kBrowse};
  for (Role role : roles) ASSERT_TRUE(client->Complete(SimpleRequest(role)).ok());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), roles.size());
  for (size_t i = 0; i < roles.size(); ++i) {
    EXPECT_EQ(reqs[i].headers.find("X-Tfgrpo-Role")->second, RoleName(roles[i]));
  }
}

TEST(HttpChatClient, ParsesReasoningUsageAndBothCachedTokenSpellings) {
  ScriptedServer server([](int n, httplib::Response& res) {
    json body;
    if (n == 1) {
      body = {{"choices", json::array({{{"finish_reason", "length"},
                                        {"message", {{"role", "assistant"},
                                                     {"content", "final"},
                                                     {"reasoning_content", "step by step"}}}}})},
              {"usage", {{"prompt_tokens", 100}, {"completion_tokens", 20},
                         {"prompt_cache_hit_tokens", 80}, {"prompt_cache_miss_tokens", 20}}}};
    } else {
      body = {{"choices", json::array({{{"finish_reason", "stop"},
                                        {"message", {{"role", "assistant"}, {"content", nullptr}}}}})},
              {"usage", {{"prompt_tokens", 7}, {"completion_tokens", 1},
                         {"prompt_tokens_details", {{"cached_tokens", 5}}}}}};
    }
    res.set_content(body.dump(), "application/json");
  });
  ASSERT_TRUE(server.started());
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  auto deepseek = client->Complete(SimpleRequest());
  ASSERT_TRUE(deepseek.ok()) << deepseek.status().ToString();
  EXPECT_EQ(deepseek->content, "final");
  EXPECT_EQ(deepseek->reasoning_content, "step by step");
  EXPECT_EQ(deepseek->finish_reason, "length");
  EXPECT_EQ(deepseek->usage.prompt_tokens, 100);
  EXPECT_EQ(deepseek->usage.completion_tokens, 20);
  EXPECT_EQ(deepseek->usage.cached_tokens, 80);
  EXPECT_EQ(deepseek->message["reasoning_content"], "step by step");

  auto openai = client->Complete(SimpleRequest());
  ASSERT_TRUE(openai.ok()) << openai.status().ToString();
  EXPECT_EQ(openai->content, "");
  EXPECT_TRUE(openai->message["content"].is_null());
  EXPECT_EQ(openai->finish_reason, "stop");
  EXPECT_EQ(openai->usage.cached_tokens, 5);
  EXPECT_EQ(openai->usage.prompt_tokens, 7);
}

TEST(HttpChatClient, HonoursRetryAfterSecondsOn429) {
  ScriptedServer server([](int n, httplib::Response& res) {
    if (n == 1) {
      res.set_header("Retry-After", "1");
      Error(res, 429, "rate limited");
    } else {
      Ok(res, "after wait");
    }
  });
  ASSERT_TRUE(server.started());
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  auto start = Clock::now();
  auto r = client->Complete(SimpleRequest());
  double elapsed = SecondsSince(start);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "after wait");
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(server.count(), 2u);
  EXPECT_GE(elapsed, 0.95);  // the header's 1 s, not the 1-10 ms backoff
  EXPECT_LT(elapsed, 3.0);
  EXPECT_GE(r->latency_ms, 950);
}

TEST(HttpChatClient, CapsALongRetryAfter) {
  ScriptedServer server([](int n, httplib::Response& res) {
    if (n == 1) {
      res.set_header("Retry-After", "3600");
      Error(res, 429, "come back in an hour");
    } else {
      Ok(res);
    }
  });
  ASSERT_TRUE(server.started());
  HttpClientOptions options = FastOptions(server.base_url());
  options.retry_after_max_s = 0.2;
  auto client = MakeHttpChatClient(options);
  auto start = Clock::now();
  auto r = client->Complete(SimpleRequest());
  double elapsed = SecondsSince(start);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->attempts, 2);
  EXPECT_GE(elapsed, 0.18);
  EXPECT_LT(elapsed, 2.0);
}

TEST(HttpChatClient, RetriesEachRetryableStatus) {
  for (int status : {408, 409, 429, 500, 502, 503, 504}) {
    ScriptedServer server([status](int n, httplib::Response& res) {
      if (n == 1) {
        Error(res, status, "transient");
      } else {
        Ok(res);
      }
    });
    ASSERT_TRUE(server.started());
    auto client = MakeHttpChatClient(FastOptions(server.base_url()));
    auto r = client->Complete(SimpleRequest());
    ASSERT_TRUE(r.ok()) << status << ": " << r.status().ToString();
    EXPECT_EQ(r->attempts, 2) << status;
    EXPECT_EQ(server.count(), 2u) << status;
  }
}

TEST(HttpChatClient, RetriesThrough500And503ThenSucceeds) {
  ScriptedServer server([](int n, httplib::Response& res) {
    if (n == 1) {
      Error(res, 500, "internal");
    } else if (n == 2) {
      res.status = 503;
      res.set_content("<html>Service Unavailable</html>", "text/html");
    } else {
      Ok(res, "third time");
    }
  });
  ASSERT_TRUE(server.started());
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  auto r = client->Complete(SimpleRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "third time");
  EXPECT_EQ(r->attempts, 3);
}

TEST(HttpChatClient, RetriesA200WithInvalidJsonOrNoMessage) {
  ScriptedServer server([](int n, httplib::Response& res) {
    if (n == 1) {
      res.set_content("{\"choices\": [", "application/json");  // truncated
    } else if (n == 2) {
      res.set_content(R"({"choices":[]})", "application/json");
    } else {
      Ok(res, "valid");
    }
  });
  ASSERT_TRUE(server.started());
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  auto r = client->Complete(SimpleRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "valid");
  EXPECT_EQ(r->attempts, 3);
}

TEST(HttpChatClient, RetriesAfterADroppedConnection) {
  DroppingServer server(/*drops=*/2, CompletionBody("survived"));
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  auto r = client->Complete(SimpleRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "survived");
  EXPECT_EQ(r->attempts, 3);
  EXPECT_EQ(server.connections(), 3);
}

TEST(HttpChatClient, RetriesAPartialTransfer) {
  ScriptedServer server([](int n, httplib::Response& res) {
    if (n == 1) {
      // Promises 1000 bytes, sends a few, then gives up: the client sees a truncated body.
      res.set_content_provider(1000, "application/json",
                               [](size_t offset, size_t, httplib::DataSink& sink) {
                                 if (offset > 0) return false;
                                 sink.write("{\"choices\":", 11);
                                 return true;
                               });
    } else {
      Ok(res, "whole");
    }
  });
  ASSERT_TRUE(server.started());
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  auto r = client->Complete(SimpleRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "whole");
  EXPECT_EQ(r->attempts, 2);
}

TEST(HttpChatClient, A400IsNotRetriedAndSurfacesTheProviderMessage) {
  ScriptedServer server([](int, httplib::Response& res) {
    Error(res, 400, "This model's maximum context length is 65536 tokens");
  });
  ASSERT_TRUE(server.started());
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  auto r = client->Complete(SimpleRequest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kProviderError);
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("HTTP 400 from " + server.base_url() + "/chat/completions"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("maximum context length is 65536 tokens"), std::string::npos) << msg;
  EXPECT_EQ(server.count(), 1u);
}

TEST(HttpChatClient, OtherClientErrorsAreNotRetried) {
  for (int status : {404, 413, 422}) {
    ScriptedServer server([status](int, httplib::Response& res) {
      res.status = status;
      res.set_content("no such route here", "text/plain");
    });
    ASSERT_TRUE(server.started());
    auto client = MakeHttpChatClient(FastOptions(server.base_url()));
    auto r = client->Complete(SimpleRequest());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kProviderError) << status;
    EXPECT_NE(r.status().message().find("HTTP " + std::to_string(status)), std::string::npos);
    EXPECT_NE(r.status().message().find("no such route here"), std::string::npos);
    EXPECT_EQ(server.count(), 1u) << status;
  }
}

TEST(HttpChatClient, RejectedKeyIsUnauthorizedAfterOneAttemptWithoutLeakingTheKey) {
  for (int status : {401, 403}) {
    ScriptedServer server([status](int, httplib::Response& res) {
      // Providers sometimes echo the key back; it must not reach the error message.
      Error(res, status, std::string("Incorrect API key provided: ") + kSecretKey);
    });
    ASSERT_TRUE(server.started());
    HttpClientOptions options = FastOptions(server.base_url());
    options.api_key = kSecretKey;
    auto client = MakeHttpChatClient(options);
    auto r = client->Complete(SimpleRequest());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kUnauthorized) << status;
    const std::string& msg = r.status().message();
    EXPECT_EQ(msg.find(kSecretKey), std::string::npos) << msg;
    EXPECT_EQ(msg.find("SECRET"), std::string::npos) << msg;
    EXPECT_NE(msg.find("HTTP " + std::to_string(status)), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.api_key_env"), std::string::npos) << msg;
    EXPECT_EQ(server.count(), 1u) << status;
  }
}

TEST(HttpChatClient, ExhaustedRetriesAreUnavailableWithAttemptsAndLastError) {
  ScriptedServer server([](int, httplib::Response& res) { Error(res, 503, "overloaded, try later"); });
  ASSERT_TRUE(server.started());
  HttpClientOptions options = FastOptions(server.base_url());
  options.max_retries = 2;
  auto client = MakeHttpChatClient(options);
  auto r = client->Complete(SimpleRequest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("3 attempts"), std::string::npos) << msg;
  EXPECT_NE(msg.find("HTTP 503"), std::string::npos) << msg;
  EXPECT_NE(msg.find("overloaded, try later"), std::string::npos) << msg;
  EXPECT_EQ(server.count(), 3u);
}

TEST(HttpChatClient, ZeroRetriesMeansOneAttempt) {
  ScriptedServer server([](int, httplib::Response& res) { Error(res, 500, "boom"); });
  ASSERT_TRUE(server.started());
  HttpClientOptions options = FastOptions(server.base_url());
  options.max_retries = 0;
  auto client = MakeHttpChatClient(options);
  auto r = client->Complete(SimpleRequest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(server.count(), 1u);
}

TEST(HttpChatClient, UnreachableEndpointIsUnavailableQuickly) {
  const std::string base_url = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/v1";
  HttpClientOptions options = FastOptions(base_url);
  options.max_retries = 2;
  auto client = MakeHttpChatClient(options);
  auto start = Clock::now();
  auto r = client->Complete(SimpleRequest());
  double elapsed = SecondsSince(start);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find(base_url + "/chat/completions"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("3 attempts"), std::string::npos) << r.status().message();
  EXPECT_LT(elapsed, 2.0);
}

TEST(HttpChatClient, ATimeoutIsRetriedThenUnavailable) {
  ScriptedServer server([](int, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    Ok(res);
  });
  ASSERT_TRUE(server.started());
  HttpClientOptions options = FastOptions(server.base_url());
  options.timeout_s = 0.1;
  options.max_retries = 1;
  auto client = MakeHttpChatClient(options);
  auto start = Clock::now();
  auto r = client->Complete(SimpleRequest());
  double elapsed = SecondsSince(start);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("2 attempts"), std::string::npos) << r.status().message();
  EXPECT_LT(elapsed, 1.0);
  EXPECT_EQ(server.count(), 2u);
}

TEST(HttpChatClient, NeverMoreRequestsInFlightThanTheConcurrencyCap) {
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  ScriptedServer server([&](int, httplib::Response& res) {
    int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    --in_flight;
    Ok(res);
  });
  ASSERT_TRUE(server.started());
  HttpClientOptions options = FastOptions(server.base_url());
  options.concurrency = 3;
  auto client = MakeHttpChatClient(options);

  std::atomic<int> succeeded{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 12; ++i) {
    threads.emplace_back([&, i] {
      if (client->Complete(SimpleRequest(Role::kRollout, "r" + std::to_string(i))).ok()) {
        ++succeeded;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(succeeded.load(), 12);
  EXPECT_EQ(server.count(), 12u);
  EXPECT_EQ(max_in_flight.load(), 3);
}

TEST(HttpChatClient, ReusesItsConnectionAcrossSequentialCalls) {
  ScriptedServer server([](int, httplib::Response& res) { Ok(res); });
  ASSERT_TRUE(server.started());
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->Complete(SimpleRequest()).ok());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 5u);
  for (const auto& r : reqs) EXPECT_EQ(r.remote_port, reqs[0].remote_port);
}

TEST(HttpChatClient, RetryLogNamesRoleCallIdAndWaitButNeverTheKey) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("llm_test", sink);
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);

  {
    ScriptedServer server([](int n, httplib::Response& res) {
      if (n == 1) {
        Error(res, 500, std::string("echo ") + kSecretKey);
      } else {
        Ok(res);
      }
    });
    ASSERT_TRUE(server.started());
    HttpClientOptions options = FastOptions(server.base_url());
    options.api_key = kSecretKey;
    auto client = MakeHttpChatClient(options);
    EXPECT_TRUE(client->Complete(SimpleRequest(Role::kSummary, "e1/s2/t3")).ok());
  }
  spdlog::set_default_logger(previous);

  const std::string log = captured.str();
  EXPECT_NE(log.find("role=summary"), std::string::npos) << log;
  EXPECT_NE(log.find("call_id=e1/s2/t3"), std::string::npos) << log;
  EXPECT_NE(log.find("attempt=1/"), std::string::npos) << log;
  EXPECT_NE(log.find("HTTP 500"), std::string::npos) << log;
  EXPECT_NE(log.find("wait="), std::string::npos) << log;
  EXPECT_EQ(log.find("SECRET"), std::string::npos) << log;
  EXPECT_EQ(log.find("Bearer"), std::string::npos) << log;
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST(HttpChatClient, AReplyNestedTooDeeplyIsRetriedThenReportedPlainly) {
  const int depth = 100000;
  const std::string deep = R"({"choices":[{"message":{"role":"assistant","content":)" +
                           std::string(depth, '[') + std::string(depth, ']') + "}}]}";
  ScriptedServer server([&deep](int n, httplib::Response& res) {
    if (n <= 2) {
      res.set_content(deep, "application/json");
    } else {
      Ok(res, "flat again");
    }
  });
  ASSERT_TRUE(server.started());
  auto client = MakeHttpChatClient(FastOptions(server.base_url()));
  auto r = client->Complete(SimpleRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();  // retried like any other unusable body
  EXPECT_EQ(r->content, "flat again");
  EXPECT_EQ(r->attempts, 3);

  HttpClientOptions once = FastOptions(server.base_url());
  once.max_retries = 0;
  ScriptedServer always_deep([&deep](int, httplib::Response& res) { res.set_content(deep, "application/json"); });
  ASSERT_TRUE(always_deep.started());
  once.base_url = always_deep.base_url();
  auto failed = MakeHttpChatClient(once)->Complete(SimpleRequest());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(failed.status().message().find("unusable body: response body is JSON nested more than 128 levels deep"),
            std::string::npos)
      << failed.status().message();
  EXPECT_LT(failed.status().message().size(), 1000u);
}

TEST(HttpChatClient, TheSameServerErrorThreeTimesInARowIsPermanent) {
  // llama-server answers a request it will never accept with a 500 and the same words each time.
  ScriptedServer server([](int, httplib::Response& res) { Error(res, 500, "tools param requires --jinja flag"); });
  ASSERT_TRUE(server.started());
  HttpClientOptions options = FastOptions(server.base_url());
  options.max_retries = 6;
  auto client = MakeHttpChatClient(options);
  CallReport report;
  auto r = client->CompleteAndReport(SimpleRequest(), report);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kProviderError);
  EXPECT_NE(r.status().message().find("HTTP 500 from " + server.base_url() + "/chat/completions"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("tools param requires --jinja flag"), std::string::npos);
  EXPECT_EQ(server.count(), 3u);
  EXPECT_EQ(report.attempts, 3);
}

TEST(HttpChatClient, ChangingOrOverloadServerErrorsKeepBeingRetried) {
  // Different words each time: a server in trouble, not an answer.
  ScriptedServer changing([](int n, httplib::Response& res) { Error(res, 500, n % 2 ? "worker died" : "oom"); });
  ASSERT_TRUE(changing.started());
  HttpClientOptions options = FastOptions(changing.base_url());
  options.max_retries = 4;
  auto r = MakeHttpChatClient(options)->Complete(SimpleRequest());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(changing.count(), 5u);
  // 502/503/504 mean "later" however often they repeat, and so does a 500 with Retry-After.
  for (int status : {502, 503, 504, 500}) {
    ScriptedServer same([status](int, httplib::Response& res) {
      Error(res, status, "busy");
      if (status == 500) res.set_header("Retry-After", "0");
    });
    ASSERT_TRUE(same.started());
    options.base_url = same.base_url();
    auto s = MakeHttpChatClient(options)->Complete(SimpleRequest());
    EXPECT_EQ(s.status().code(), Status::Code::kUnavailable) << status;
    EXPECT_EQ(same.count(), 5u) << status;
  }
}

TEST(HttpChatClient, AFailedCallReportsEveryAttemptItMade) {
  ScriptedServer server([](int, httplib::Response& res) { Error(res, 503, "overloaded"); });
  ASSERT_TRUE(server.started());
  HttpClientOptions options = FastOptions(server.base_url());
  options.max_retries = 2;
  auto client = MakeHttpChatClient(options);
  CallReport report;
  auto r = client->CompleteAndReport(SimpleRequest(), report);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(report.attempts, 3);
  EXPECT_GT(report.latency_ms, 0);

  ScriptedServer refusing([](int, httplib::Response& res) { Error(res, 400, "bad request"); });
  ASSERT_TRUE(refusing.started());
  options.base_url = refusing.base_url();
  CallReport once;
  EXPECT_FALSE(MakeHttpChatClient(options)->CompleteAndReport(SimpleRequest(), once).ok());
  EXPECT_EQ(once.attempts, 1);
}

TEST(HttpChatClient, ALongProviderMessageNeverLeaksAPrefixOfTheKey) {
  // The key sits across the 500-byte cut of a 400's message and the 300-byte cut of a 503's.
  for (auto [status, filler] : {std::pair{400, 490}, std::pair{503, 290}, std::pair{401, 290}}) {
    ScriptedServer server([status = status, filler = filler](int, httplib::Response& res) {
      Error(res, status, std::string(filler, 'x') + kSecretKey + " is not valid");
    });
    ASSERT_TRUE(server.started());
    HttpClientOptions options = FastOptions(server.base_url());
    options.api_key = kSecretKey;
    options.max_retries = 1;
    auto r = MakeHttpChatClient(options)->Complete(SimpleRequest());
    ASSERT_FALSE(r.ok());
    const std::string& msg = r.status().message();
    EXPECT_EQ(msg.find(std::string(kSecretKey).substr(0, 8)), std::string::npos) << status << ": " << msg;
    EXPECT_NE(msg.find("[redacted]"), std::string::npos) << status << ": " << msg;
  }
}

}  // namespace
}  // namespace tfgrpo
