// Resume through the gateway: a rollout run again after a kill sends its bodies in any order; the
// ones the run store recorded for that rollout are answered from the store under their recorded
// ids, a body never seen goes upstream with the next unused id.

#include "gateway/gateway_test_util.h"
#include "tfgrpo/recording_client.h"
#include "tfgrpo/store.h"

namespace tfgrpo {
namespace {

using testing::ChatBody;
using testing::ClientFor;
using testing::LeasePath;
using testing::ScriptedClient;
using testing::TempDir;
using testing::TestOptions;
using testing::Ticket;

// Echoes the user's message, so a reply tells which body it answers.
ScriptedClient::Script Echo(std::string tag) {
  return [tag](const ChatRequest& req) -> Result<ChatResponse> {
    ChatResponse r;
    r.content = tag + ":" + req.messages.back().content;
    r.finish_reason = "stop";
    r.message = {{"role", "assistant"}, {"content", r.content}};
    r.usage.prompt_tokens = 3;
    r.usage.completion_tokens = 1;
    return r;
  };
}

std::string Ask(httplib::Client& client, const GatewayLease& lease, const std::string& user) {
  auto r = client.Post(LeasePath(lease, "/chat/completions"), ChatBody(user).dump(), "application/json");
  EXPECT_TRUE(r);
  if (!r) return "";
  EXPECT_EQ(r->status, 200) << r->body;
  return nlohmann::json::parse(r->body)["choices"][0]["message"]["content"];
}

TEST(GatewayResume, RecordedBodiesAreAnsweredFromTheStoreInAnyOrderAndNewOnesGetTheNextId) {
  TempDir dir;
  const Library library({Experience("Check units.")});
  {
    auto store = RunStore::Open(dir / "run.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ScriptedClient provider(Echo("first run"));
    RecordingClient recording(provider, **store, "run-model", std::nullopt);
    GatewayOptions options = TestOptions();
    options.store = store->get();
    auto gateway = StartGateway(options, recording);
    ASSERT_TRUE(gateway.ok());
    auto lease = (*gateway)->Open(Ticket("s2/t9/r1", &library));
    ASSERT_TRUE(lease.ok());
    auto client = ClientFor(**gateway);
    EXPECT_EQ(Ask(*client, **lease, "alpha"), "first run:alpha");
    EXPECT_EQ(Ask(*client, **lease, "beta"), "first run:beta");
    // Another rollout's calls are not this one's.
    auto other = (*gateway)->Open(Ticket("s2/t9/r10", &library));
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(Ask(*client, **other, "gamma"), "first run:gamma");
    EXPECT_EQ(provider.requests().size(), 3u);
  }

  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok());
  ScriptedClient provider(Echo("second run"));
  RecordingClient recording(provider, **store, "run-model", std::nullopt);
  GatewayOptions options = TestOptions();
  options.store = store->get();
  auto gateway = StartGateway(options, recording);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(Ticket("s2/t9/r1", &library));
  ASSERT_TRUE(lease.ok());
  auto client = ClientFor(**gateway);
  EXPECT_EQ(Ask(*client, **lease, "beta"), "first run:beta");
  EXPECT_EQ(Ask(*client, **lease, "gamma"), "second run:gamma") << "gamma was another rollout's";
  EXPECT_EQ(Ask(*client, **lease, "alpha"), "first run:alpha");
  EXPECT_EQ(Ask(*client, **lease, "beta"), "first run:beta");

  auto sent = provider.requests();
  ASSERT_EQ(sent.size(), 1u) << "only the unseen body goes upstream";
  EXPECT_EQ(sent[0].call_id, "s2/t9/r1/a3");
  std::vector<std::string> ids;
  std::vector<bool> replayed;
  for (const auto& c : (*lease)->Calls()) {
    ids.push_back(c.call_id);
    replayed.push_back(c.replayed);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"s2/t9/r1/a2", "s2/t9/r1/a3", "s2/t9/r1/a1", "s2/t9/r1/a2"}));
  EXPECT_EQ(replayed, (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ((*lease)->Calls()[0].usage.prompt_tokens, 3);
}

TEST(GatewayResume, ARecordedBodyWithADifferentTemperatureOrLibraryIsNotReplayed) {
  TempDir dir;
  const Library library({Experience("Check units.")});
  const Library changed({Experience("Check units twice.")});
  {
    auto store = RunStore::Open(dir / "run.db");
    ASSERT_TRUE(store.ok());
    ScriptedClient provider(Echo("first"));
    RecordingClient recording(provider, **store, "run-model", std::nullopt);
    GatewayOptions options = TestOptions();
    options.store = store->get();
    auto gateway = StartGateway(options, recording);
    ASSERT_TRUE(gateway.ok());
    auto lease = (*gateway)->Open(Ticket("s0/t1/r0", &library));
    ASSERT_TRUE(lease.ok());
    auto client = ClientFor(**gateway);
    Ask(*client, **lease, "q");
  }
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok());
  ScriptedClient provider(Echo("second"));
  RecordingClient recording(provider, **store, "run-model", std::nullopt);
  GatewayOptions options = TestOptions();
  options.store = store->get();
  auto gateway = StartGateway(options, recording);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(Ticket("s0/t1/r0", &changed));
  ASSERT_TRUE(lease.ok());
  auto client = ClientFor(**gateway);
  EXPECT_EQ(Ask(*client, **lease, "q"), "second:q");
  ASSERT_EQ(provider.requests().size(), 1u);
  EXPECT_EQ(provider.requests()[0].call_id, "s0/t1/r0/a2") << "a1 stays the recorded body's";
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST(GatewayResume, GatewayOptionsForCarriesTheRunStoresKeyAndTheAgentSection) {
  Config config;
  config.model.name = "deepseek-chat";
  config.model.max_tokens = 512;
  config.agent.gateway.listen = "0.0.0.0:8088";
  config.agent.gateway.public_url = "http://gw:8088";
  config.agent.inject = InjectMode::kNone;
  config.agent.keep_model = true;
  config.agent.keep_temperature = true;
  config.task.max_turns = 7;
  testing::TempDir dir;
  auto store = RunStore::Open(dir / "run.db");
  ASSERT_TRUE(store.ok());
  GatewayOptions o = GatewayOptionsFor(config, store->get());
  EXPECT_EQ(o.model_name, "deepseek-chat");
  EXPECT_EQ(o.max_tokens, 512);
  EXPECT_EQ(o.listen, "0.0.0.0:8088");
  EXPECT_EQ(o.public_url, "http://gw:8088");
  EXPECT_EQ(o.inject, InjectMode::kNone);
  EXPECT_TRUE(o.keep_model);
  EXPECT_TRUE(o.keep_temperature);
  EXPECT_EQ(o.max_turns, 7);
  EXPECT_EQ(o.store, store->get());
}

TEST(GatewayResume, WithModelMaxTokensTheRecordedCallsAreFoundToo) {
  testing::TempDir dir;
  auto run = [&](const std::string& tag, int* upstream_calls) {
    auto store = RunStore::Open(dir / "run.db");
    ASSERT_TRUE(store.ok());
    testing::ScriptedClient provider(Echo(tag));
    RecordingClient recording(provider, **store, "run-model", 512);
    GatewayOptions options = testing::TestOptions();
    options.max_tokens = 512;
    options.store = store->get();
    auto gateway = StartGateway(options, recording);
    ASSERT_TRUE(gateway.ok());
    auto lease = (*gateway)->Open(testing::Ticket("s0/t3/r1"));
    ASSERT_TRUE(lease.ok());
    auto client = testing::ClientFor(**gateway);
    EXPECT_EQ(Ask(*client, **lease, "q"), "first:q");
    *upstream_calls = static_cast<int>(provider.requests().size());
  };
  int first = 0, second = 0;
  run("first", &first);
  run("second", &second);
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);
}

}  // namespace
}  // namespace tfgrpo
