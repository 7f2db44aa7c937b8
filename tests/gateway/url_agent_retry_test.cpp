// A URL agent retried after a 503 (issue 18: "retried with the same token; calls the agent already
// made are answered from the run store"): the real gateway over a RecordingClient and a counting
// upstream, and a local agent service that makes its two calls, fails its first attempt and makes
// the same two calls again on the retry. The upstream sees each call once.
#include <mutex>

#include "gateway/gateway_test_util.h"
#include "tfgrpo/external_agent.h"
#include "tfgrpo/recording_client.h"
#include "tfgrpo/store.h"

namespace tfgrpo {
namespace {

using testing::ChatBody;
using testing::LocalHttpServer;
using testing::ScriptedClient;
using testing::TempDir;
using testing::TestOptions;

// Numbers its replies, so a second answer to the same body would show.
ScriptedClient::Script Counting() {
  auto n = std::make_shared<std::atomic<int>>(0);
  return [n](const ChatRequest& req) -> Result<ChatResponse> {
    ChatResponse r;
    r.content = "reply " + std::to_string(++*n) + " to " + req.messages.back().content;
    r.finish_reason = "stop";
    r.message = {{"role", "assistant"}, {"content", r.content}};
    r.usage.prompt_tokens = 4;
    r.usage.completion_tokens = 2;
    return r;
  };
}

TEST(GatewayUrlAgentRetry, TheRetriedAttemptsCallsAreAnsweredFromTheRunStoreNotSentAgain) {
  TempDir dir;
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ScriptedClient provider(Counting());
  RecordingClient recording(provider, **store, "run-model", std::nullopt);
  GatewayOptions options = TestOptions();
  options.store = store->get();
  auto gateway = StartGateway(options, recording);
  ASSERT_TRUE(gateway.ok()) << gateway.status().ToString();

  std::mutex mu;
  int attempts = 0;
  std::vector<std::string> keys;
  std::vector<std::string> replies;  // what the agent got, per attempt and call
  LocalHttpServer service;
  service.server().Post("/run", [&](const httplib::Request& req, httplib::Response& res) {
    const auto body = nlohmann::json::parse(req.body);
    const std::string base = body["base_url"];
    const std::string key = body["api_key"];
    httplib::Client gw((*gateway)->url());
    gw.set_read_timeout(20, 0);
    const std::string path = base.substr((*gateway)->url().size()) + "/chat/completions";
    std::string last;
    for (const char* question : {"alpha", "beta"}) {
      auto r = gw.Post(path, {{"Authorization", "Bearer " + key}}, ChatBody(question).dump(), "application/json");
      if (!r || r->status != 200) {
        res.status = 500;
        res.set_content(r ? r->body : "gateway unreachable", "text/plain");
        return;
      }
      last = nlohmann::json::parse(r->body)["choices"][0]["message"]["content"];
      std::lock_guard lock(mu);
      replies.push_back(last);
    }
    std::lock_guard lock(mu);
    keys.push_back(key);
    if (++attempts == 1) {
      res.status = 503;
      res.set_header("Retry-After", "0");
      res.set_content("overloaded", "text/plain");
      return;
    }
    res.set_content(nlohmann::json{{"answer", last}}.dump(), "application/json");
  });
  ASSERT_TRUE(service.Start());

  Config config;
  config.source = dir / "tfgrpo.yaml";
  config.model.name = "run-model";
  config.model.max_retries = 2;
  config.task.mode = TaskMode::kExternal;
  config.agent.given = true;
  config.agent.timeout_s = 20;
  config.agent.url = "http://127.0.0.1:" + std::to_string(service.port()) + "/run";
  Task task;
  task.id = "t5";
  task.problem = "What is 2 + 2?";
  task.record = {{"id", "t5"}, {"problem", task.problem}};
  ExternalRolloutSpec spec;
  spec.rollout_id = "s1/t5/r0";
  spec.temperature = 0.9;

  ExternalRun run = MakeExternalAgentRunner(config, **gateway)->Run(task, spec);
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();

  ASSERT_EQ(attempts, 2) << "the 503 was retried once";
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], keys[1]) << "the retry carries the same token";
  const auto sent = provider.requests();
  ASSERT_EQ(sent.size(), 2u) << "each call reached the upstream once";
  EXPECT_EQ(sent[0].call_id, "s1/t5/r0/a1");
  EXPECT_EQ(sent[1].call_id, "s1/t5/r0/a2");
  EXPECT_EQ(replies, (std::vector<std::string>{"reply 1 to alpha", "reply 2 to beta", "reply 1 to alpha",
                                               "reply 2 to beta"}))
      << "the retry got the recorded answers";
  EXPECT_EQ(run.outcome.final_reply, "reply 2 to beta");

  ASSERT_EQ(run.calls.size(), 4u);
  std::vector<std::string> ids;
  std::vector<bool> replayed;
  for (const GatewayCall& c : run.calls) {
    ids.push_back(c.call_id);
    replayed.push_back(c.replayed);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"s1/t5/r0/a1", "s1/t5/r0/a2", "s1/t5/r0/a1", "s1/t5/r0/a2"}));
  EXPECT_EQ(replayed, (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(run.calls_sent, 2);
  EXPECT_EQ(run.calls_replayed, 2);
  EXPECT_EQ(run.calls[2].usage.prompt_tokens, 4) << "a replayed call keeps its recorded usage";
  EXPECT_EQ(recording.sent(), 2);
}

// Without a run store (eval without --cache) nothing is recorded: the same body is sent again.
TEST(GatewayUrlAgentRetry, WithoutARunStoreARepeatedBodyIsSentAgain) {
  ScriptedClient provider(Counting());
  auto gateway = StartGateway(TestOptions(), provider);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(testing::Ticket("eval/t1/k0"));
  ASSERT_TRUE(lease.ok());
  auto client = testing::ClientFor(**gateway);
  for (int i = 0; i < 2; ++i) {
    auto r = client->Post(testing::LeasePath(**lease, "/chat/completions"), ChatBody("same").dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  ASSERT_EQ(provider.requests().size(), 2u);
  EXPECT_EQ(provider.requests()[1].call_id, "eval/t1/k0/a1");
  for (const GatewayCall& c : (*lease)->Calls()) EXPECT_FALSE(c.replayed);
}

}  // namespace
}  // namespace tfgrpo
