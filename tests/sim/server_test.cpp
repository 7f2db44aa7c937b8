#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "sim_test_util.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using Clock = std::chrono::steady_clock;

httplib::Headers RoleHeaders(const std::string& role, const std::string& call_id) {
  return {{std::string(kRoleHeader), role}, {std::string(kCallIdHeader), call_id}};
}

httplib::Result PostChat(int port, const std::string& body, const std::string& role = "rollout",
                         const std::string& call_id = "") {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  return client.Post("/v1/chat/completions", RoleHeaders(role, call_id), body, "application/json");
}

std::string TaskBody(int i) {
  auto tasks = GenerateSimTasks(6, 77);
  return simtest::Body(simtest::kInstructions, tasks[i % tasks.size()]["problem"]).dump();
}

TEST(SimServer, AnswersChatCompletionsLikeTheModel) {
  SimOptions options;
  options.seed = 9;
  SimServer server(options);
  ASSERT_TRUE(server.Start(0).ok());
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(server.base_url(), "http://127.0.0.1:" + std::to_string(server.port()) + "/v1");

  std::string body = TaskBody(0);
  auto res = PostChat(server.port(), body, "rollout", "e0/s0/t1/r2");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200);
  auto reply = nlohmann::json::parse(res->body);
  SimModel model(options);
  EXPECT_EQ(simtest::Content(reply),
            simtest::Content(model.Respond(nlohmann::json::parse(body), "rollout", "e0/s0/t1/r2")));

  httplib::Client client("127.0.0.1", server.port());
  auto models = client.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  EXPECT_EQ(nlohmann::json::parse(models->body)["data"][0]["id"], "sim-1");
  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto missing = client.Get("/v1/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(nlohmann::json::parse(missing->body)["error"]["message"].is_string());

  // Only chat requests are counted and logged.
  EXPECT_EQ(server.requests(), 1);
  auto log = server.RequestLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].role, "rollout");
  EXPECT_EQ(log[0].call_id, "e0/s0/t1/r2");
  EXPECT_EQ(log[0].body_fingerprint, Fingerprint(body));
  EXPECT_EQ(log[0].status, 200);
}

TEST(SimServer, RejectsMalformedRequestsWithAnOpenAIError) {
  SimServer server(SimOptions{});
  ASSERT_TRUE(server.Start(0).ok());
  for (const std::string body :
       {"{not json", R"({"model":"sim-1"})", R"({"messages":[]})", "[1,2]"}) {
    auto res = PostChat(server.port(), body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << body;
    auto error = nlohmann::json::parse(res->body, nullptr, false);
    ASSERT_FALSE(error.is_discarded()) << res->body;
    EXPECT_TRUE(error["error"]["message"].is_string());
    EXPECT_TRUE(error["error"]["type"].is_string());
    EXPECT_TRUE(error["error"]["code"].is_string());
  }
  auto log = server.RequestLog();
  ASSERT_EQ(log.size(), 4u);
  for (const auto& entry : log) EXPECT_EQ(entry.status, 400);
}

TEST(SimServer, InjectsEveryFaultKindAtRateOne) {
  SimOptions options;
  options.fault_rate = 1.0;
  SimServer server(options);
  ASSERT_TRUE(server.Start(0).ok());
  std::map<std::string, int> kinds;
  for (int i = 0; i < 60; ++i) {
    auto res = PostChat(server.port(), TaskBody(i), "rollout", "r" + std::to_string(i));
    if (!res) {
      ++kinds["dropped"];
    } else if (res->status == 429) {
      ++kinds["429"];
      EXPECT_EQ(res->get_header_value("Retry-After"), "0");
    } else if (res->status == 500 || res->status == 503) {
      ++kinds[std::to_string(res->status)];
      EXPECT_TRUE(nlohmann::json::parse(res->body)["error"]["message"].is_string());
    } else if (res->status == 200) {
      EXPECT_TRUE(nlohmann::json::parse(res->body, nullptr, false).is_discarded()) << res->body;
      ++kinds["bad json"];
    } else {
      ADD_FAILURE() << "unexpected status " << res->status;
    }
  }
  for (const char* kind : {"dropped", "429", "500", "503", "bad json"}) {
    EXPECT_GT(kinds[kind], 0) << kind;
  }
  int logged_drops = 0;
  for (const auto& entry : server.RequestLog()) logged_drops += entry.status == 0;
  EXPECT_EQ(logged_drops, kinds["dropped"]);
  EXPECT_EQ(server.requests(), 60);
}

TEST(SimServer, AFaultNeverChangesTheLaterSuccessfulAnswer) {
  SimOptions options;
  options.seed = 4;
  options.p_success_without = 0.5;
  SimServer clean(options);
  options.fault_rate = 0.6;
  SimServer faulty(options);
  ASSERT_TRUE(clean.Start(0).ok());
  ASSERT_TRUE(faulty.Start(0).ok());
  int faults_seen = 0;
  for (int i = 0; i < 6; ++i) {
    std::string call_id = "e0/s0/t0/r" + std::to_string(i);
    auto expected = PostChat(clean.port(), TaskBody(0), "rollout", call_id);
    ASSERT_TRUE(expected && expected->status == 200);
    std::string got;
    for (int attempt = 0; attempt < 50 && got.empty(); ++attempt) {
      auto res = PostChat(faulty.port(), TaskBody(0), "rollout", call_id);
      auto parsed = res && res->status == 200 ? nlohmann::json::parse(res->body, nullptr, false)
                                              : nlohmann::json(nlohmann::json::value_t::discarded);
      if (parsed.is_discarded()) {
        ++faults_seen;
        continue;
      }
      got = simtest::Content(parsed);
    }
    EXPECT_EQ(got, simtest::Content(nlohmann::json::parse(expected->body))) << call_id;
  }
  EXPECT_GT(faults_seen, 0);
}

// The latency draws depend only on the seed and the attempt number, so this sample is fixed;
// what the bounds guard is the sleep itself and the server's overhead.
TEST(SimServer, LatencyIsRoughlyTheConfiguredMean) {
  SimOptions options;
  options.latency_ms_mean = 25;
  SimServer server(options);
  ASSERT_TRUE(server.Start(0).ok());
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);  // as libcurl does; else Nagle adds ~40 ms per request
  client.set_read_timeout(10, 0);
  constexpr int kRequests = 40;
  double total_ms = 0;
  for (int i = 0; i < kRequests; ++i) {
    auto start = Clock::now();
    auto res = client.Post("/v1/chat/completions", RoleHeaders("rollout", std::to_string(i)),
                           TaskBody(i), "application/json");
    total_ms += std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    ASSERT_TRUE(res && res->status == 200);
  }
  client.stop();
  double mean = total_ms / kRequests;
  std::cout << "latency: configured mean " << options.latency_ms_mean << " ms, measured mean "
            << mean << " ms over " << kRequests << " requests\n";
  EXPECT_GT(mean, 0.5 * options.latency_ms_mean);
  EXPECT_LT(mean, 2.0 * options.latency_ms_mean);
}

TEST(SimServer, ServesSixtyFourRequestsConcurrently) {
  SimOptions options;
  options.latency_ms_mean = 50;
  SimServer server(options);
  ASSERT_TRUE(server.Start(0).ok());
  constexpr int kThreads = 64;
  std::string body = TaskBody(0);
  std::mutex mu;
  double total_ms = 0;
  int ok = 0;
  auto wall_start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto start = Clock::now();
      auto res = PostChat(server.port(), body, "rollout", std::to_string(t));
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      std::lock_guard<std::mutex> lock(mu);
      total_ms += ms;
      ok += res && res->status == 200;
      if (!res) ADD_FAILURE() << httplib::to_string(res.error()) << " after " << ms << " ms";
    });
  }
  for (auto& t : threads) t.join();
  double wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - wall_start).count();
  EXPECT_EQ(ok, kThreads);
  std::cout << "concurrency: " << kThreads << " requests, summed latency " << total_ms
            << " ms, wall " << wall_ms << " ms\n";
  // One after another they would take the summed latency.
  EXPECT_LT(wall_ms, total_ms / 4);
}

TEST(SimServer, StartStopAndPortErrors) {
  SimServer first(SimOptions{});
  ASSERT_TRUE(first.Start(0).ok());
  EXPECT_FALSE(first.Start(0).ok()) << "already started";
  SimServer second(SimOptions{});
  Status busy = second.Start(first.port());
  EXPECT_FALSE(busy.ok());
  EXPECT_NE(busy.message().find(std::to_string(first.port())), std::string::npos) << busy.message();

  int port = first.port();
  auto res = PostChat(port, TaskBody(0));
  ASSERT_TRUE(res);
  auto stop_start = Clock::now();
  first.Stop();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - stop_start).count(), 2.0);
  EXPECT_FALSE(PostChat(port, TaskBody(0))) << "nothing listens after Stop()";
  first.Stop();  // idempotent

  // Restart on the port it had, then let the destructor stop it.
  ASSERT_TRUE(second.Start(port).ok());
  EXPECT_TRUE(PostChat(port, TaskBody(0)));
}

TEST(SimServer, StopDoesNotWaitOutALatencySleep) {
  SimOptions options;
  options.latency_ms_mean = 3000;
  SimServer server(options);
  ASSERT_TRUE(server.Start(0).ok());
  std::thread client([&] { PostChat(server.port(), TaskBody(0)); });
  while (server.requests() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto start = Clock::now();
  server.Stop();
  client.join();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.5);
}

}  // namespace
}  // namespace tfgrpo
