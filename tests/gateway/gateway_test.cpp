// The agent gateway over real HTTP against a scripted upstream: routes, tokens, call ids,
// sampling overrides, injection, limits and errors.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "gateway/gateway_test_util.h"
#include "tfgrpo/budget.h"
#include "tfgrpo/serve.h"

namespace tfgrpo {
namespace {

using testing::Answer;
using testing::ChatBody;
using testing::ClientFor;
using testing::LeasePath;
using testing::ScriptedClient;
using testing::TestOptions;
using testing::Ticket;

std::unique_ptr<AgentGateway> Start(const GatewayOptions& options, ChatClient& upstream) {
  auto gateway = StartGateway(options, upstream);
  EXPECT_TRUE(gateway.ok()) << gateway.status().ToString();
  return gateway.ok() ? std::move(gateway).value() : nullptr;
}

std::unique_ptr<GatewayLease> OpenLease(AgentGateway& gateway, const RolloutTicket& ticket = Ticket()) {
  auto lease = gateway.Open(ticket);
  EXPECT_TRUE(lease.ok()) << lease.status().ToString();
  return lease.ok() ? std::move(lease).value() : nullptr;
}

nlohmann::json ErrorOf(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no reply";
  if (!r) return nullptr;
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].is_object()) << r->body;
  EXPECT_TRUE(j["error"]["message"].is_string()) << r->body;
  EXPECT_TRUE(j["error"]["type"].is_string()) << r->body;
  EXPECT_TRUE(j["error"]["code"].is_string()) << r->body;
  return j["error"];
}

Library TwoLessons() { return Library({Experience("Check units."), Experience("Re-read the question.")}); }

TEST(Gateway, NonStreamedChatIsSentUpstreamWithTheLeasesRoleIdTemperatureAndModel) {
  ScriptedClient upstream(Answer("hello"));
  auto gateway = Start(TestOptions(), upstream);
  RolloutTicket ticket = Ticket("s3/t17/r2");
  ticket.role = Role::kValidation;
  auto lease = OpenLease(*gateway, ticket);
  EXPECT_EQ(lease->base_url(), gateway->url() + "/r/" + lease->token() + "/v1");
  auto client = ClientFor(*gateway);
  auto r = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("hi").dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  nlohmann::json reply = nlohmann::json::parse(r->body);
  EXPECT_EQ(reply["object"], "chat.completion");
  EXPECT_EQ(reply["choices"][0]["message"]["content"], "hello");
  EXPECT_EQ(reply["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(reply["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(reply["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(reply["usage"]["completion_tokens"], 5);
  EXPECT_EQ(reply["usage"]["total_tokens"], 15);
  EXPECT_EQ(reply["model"], "run-model");
  EXPECT_EQ(r->body.find(lease->token()), std::string::npos) << "the token is not echoed";

  auto sent = upstream.requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].role, Role::kValidation);
  EXPECT_EQ(sent[0].call_id, "s3/t17/r2/a1");
  EXPECT_DOUBLE_EQ(sent[0].temperature, 0.9) << "the agent's temperature 0 is replaced";
  EXPECT_FALSE(sent[0].extra_body.contains("model")) << "model.name is sent, not the agent's";
  ASSERT_EQ(sent[0].messages.size(), 1u);
  EXPECT_EQ(sent[0].messages[0].role, "user");
  EXPECT_EQ(sent[0].messages[0].content, "hi");

  auto calls = lease->Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].call_id, "s3/t17/r2/a1");
  EXPECT_EQ(calls[0].reply["content"], "hello");
  EXPECT_EQ(calls[0].usage.prompt_tokens, 10);
  EXPECT_EQ(calls[0].http_status, 200);
  EXPECT_FALSE(calls[0].replayed);
  EXPECT_EQ(calls[0].messages, nlohmann::json::parse(R"([{"role":"user","content":"hi"}])"));
}

TEST(Gateway, KeepTemperatureAndKeepModelSendTheAgentsOwn) {
  ScriptedClient upstream(Answer("ok"));
  GatewayOptions options = TestOptions();
  options.keep_model = true;
  options.keep_temperature = true;
  auto gateway = Start(options, upstream);
  auto lease = OpenLease(*gateway);
  auto client = ClientFor(*gateway);
  nlohmann::json body = ChatBody("hi");
  body["temperature"] = 0.25;
  body["max_tokens"] = 77;
  body["tools"] = nlohmann::json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}});
  auto r = client->Post(LeasePath(*lease, "/chat/completions"), body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(nlohmann::json::parse(r->body)["model"], "agent-model");
  auto sent = upstream.requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_DOUBLE_EQ(sent[0].temperature, 0.25);
  EXPECT_EQ(sent[0].extra_body["model"], "agent-model");
  EXPECT_EQ(sent[0].max_tokens, 77);
  EXPECT_EQ(sent[0].extra_body["tools"][0]["function"]["name"], "f") << "other fields go upstream";
  EXPECT_FALSE(sent[0].extra_body.contains("stream"));
}

TEST(Gateway, BearerTokenWorksOnBareV1AndModelsListsTheRunModel) {
  ScriptedClient upstream(Answer("ok"));
  auto gateway = Start(TestOptions(), upstream);
  auto lease = OpenLease(*gateway);
  auto client = ClientFor(*gateway);
  client->set_bearer_token_auth(lease->token());
  auto r = client->Post("/v1/chat/completions", ChatBody("hi").dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  auto models = client->Get("/v1/models");
  ASSERT_TRUE(models);
  ASSERT_EQ(models->status, 200);
  nlohmann::json list = nlohmann::json::parse(models->body);
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], "run-model");
  auto plain = ClientFor(*gateway);
  auto in_path = plain->Get(LeasePath(*lease, "/models"));
  ASSERT_TRUE(in_path);
  EXPECT_EQ(in_path->status, 200);
}

TEST(Gateway, UnknownOrClosedTokensGet401InvalidApiKeyInPathAndBearer) {
  ScriptedClient upstream(Answer("ok"));
  auto gateway = Start(TestOptions(), upstream);
  auto lease = OpenLease(*gateway);
  auto other = OpenLease(*gateway, Ticket("s0/t2/r0"));
  EXPECT_NE(lease->token(), other->token());
  EXPECT_GE(lease->token().size(), 32u) << "at least 128 bits";
  auto client = ClientFor(*gateway);
  const std::string body = ChatBody("hi").dump();

  auto unknown = client->Post("/r/0123456789abcdef0123456789abcdef/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);
  EXPECT_EQ(ErrorOf(unknown)["code"], "invalid_api_key");

  auto bearer = ClientFor(*gateway);
  bearer->set_bearer_token_auth("not-a-token");
  auto bad_bearer = bearer->Post("/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(bad_bearer);
  EXPECT_EQ(bad_bearer->status, 401);
  EXPECT_EQ(ErrorOf(bad_bearer)["code"], "invalid_api_key");
  auto no_auth = client->Post("/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(no_auth);
  EXPECT_EQ(no_auth->status, 401);
  auto models = client->Get("/r/nope/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401);

  const std::string closed_token = lease->token();
  lease->Close();
  auto after = client->Post("/r/" + closed_token + "/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
  EXPECT_EQ(ErrorOf(after)["code"], "invalid_api_key");
  auto closed_bearer = ClientFor(*gateway);
  closed_bearer->set_bearer_token_auth(closed_token);
  auto after_bearer = closed_bearer->Post("/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(after_bearer);
  EXPECT_EQ(after_bearer->status, 401);
  // The other lease still works; a destroyed lease's token is revoked too.
  auto still = client->Post(LeasePath(*other, "/chat/completions"), body, "application/json");
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
  const std::string other_token = other->token();
  other.reset();
  auto destroyed = client->Post("/r/" + other_token + "/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(destroyed);
  EXPECT_EQ(destroyed->status, 401);
  EXPECT_EQ(upstream.requests().size(), 1u);
}

TEST(Gateway, AnythingElseIs404InOpenAIErrorFormat) {
  ScriptedClient upstream(Answer("ok"));
  auto gateway = Start(TestOptions(), upstream);
  auto lease = OpenLease(*gateway);
  auto client = ClientFor(*gateway);
  for (const std::string& path : {LeasePath(*lease, "/embeddings"), std::string("/v1/completions"),
                                  std::string("/"), "/r/" + lease->token() + "/v2/chat/completions"}) {
    auto r = client->Post(path, "{}", "application/json");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(ErrorOf(r)["code"], "not_found") << path;
    EXPECT_EQ(r->body.find(lease->token()), std::string::npos) << "the token is not echoed";
  }
  auto get_chat = client->Get(LeasePath(*lease, "/chat/completions"));
  ASSERT_TRUE(get_chat);
  EXPECT_EQ(get_chat->status, 404);
  EXPECT_TRUE(upstream.requests().empty());
}

TEST(Gateway, CallIdsNumberDistinctBodiesAndARepeatedBodyKeepsItsId) {
  ScriptedClient upstream(Answer("ok"));
  auto gateway = Start(TestOptions(), upstream);
  auto lease = OpenLease(*gateway, Ticket("eval/t5/k3"));
  auto client = ClientFor(*gateway);
  for (const char* user : {"first", "second", "first", "third"}) {
    auto r = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody(user).dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
  }
  std::vector<std::string> ids;
  for (const auto& c : lease->Calls()) ids.push_back(c.call_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"eval/t5/k3/a1", "eval/t5/k3/a2", "eval/t5/k3/a1", "eval/t5/k3/a3"}));
  // A streamed request with the same messages is the same upstream request.
  auto streamed = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("second", true).dump(),
                               "application/json");
  ASSERT_TRUE(streamed);
  EXPECT_EQ(lease->Calls().back().call_id, "eval/t5/k3/a2");
  // Another lease numbers its own from a1.
  auto second = OpenLease(*gateway, Ticket("eval/t5/k4"));
  auto r = client->Post(LeasePath(*second, "/chat/completions"), ChatBody("third").dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(second->Calls().at(0).call_id, "eval/t5/k4/a1");
}

TEST(Gateway, InjectionAddsASystemMessageAppendsToTheFirstOrDoesNothing) {
  ScriptedClient upstream(Answer("ok"));
  const Library library = TwoLessons();
  auto gateway = Start(TestOptions(), upstream);
  auto client = ClientFor(*gateway);

  auto with_library = OpenLease(*gateway, Ticket("s0/t1/r0", &library));
  ASSERT_EQ(client->Post(LeasePath(*with_library, "/chat/completions"), ChatBody("q").dump(), "application/json")->status,
            200);
  nlohmann::json body = ChatBody("q");
  body["messages"].insert(body["messages"].begin(),
                          nlohmann::json::object({{"role", "system"}, {"content", "You are terse."}}));
  ASSERT_EQ(client->Post(LeasePath(*with_library, "/chat/completions"), body.dump(), "application/json")->status, 200);

  auto baseline = OpenLease(*gateway, Ticket("s0/t1/r1", nullptr));
  ASSERT_EQ(client->Post(LeasePath(*baseline, "/chat/completions"), body.dump(), "application/json")->status, 200);
  const Library empty;
  auto empty_library = OpenLease(*gateway, Ticket("s0/t1/r2", &empty));
  ASSERT_EQ(client->Post(LeasePath(*empty_library, "/chat/completions"), body.dump(), "application/json")->status, 200);

  auto sent = upstream.requests();
  ASSERT_EQ(sent.size(), 4u);
  ASSERT_EQ(sent[0].messages.size(), 2u);
  EXPECT_EQ(sent[0].messages[0].role, "system");
  EXPECT_EQ(sent[0].messages[0].content, AppendLibrary("", library));
  ASSERT_EQ(sent[1].messages.size(), 2u);
  EXPECT_EQ(sent[1].messages[0].content, AppendLibrary("You are terse.", library));
  EXPECT_NE(sent[1].messages[0].content.find("Re-read the question."), std::string::npos);
  EXPECT_EQ(sent[2].messages[0].content, "You are terse.") << "baseline: nothing injected";
  EXPECT_EQ(sent[3].messages[0].content, "You are terse.") << "empty library: nothing injected";
  // The trajectory keeps the messages as sent.
  EXPECT_EQ(with_library->Calls().at(1).messages[0]["content"], AppendLibrary("You are terse.", library));

  // inject: none
  ScriptedClient upstream2(Answer("ok"));
  GatewayOptions options = TestOptions();
  options.inject = InjectMode::kNone;
  auto gateway2 = Start(options, upstream2);
  auto lease2 = OpenLease(*gateway2, Ticket("s0/t1/r0", &library));
  auto client2 = ClientFor(*gateway2);
  ASSERT_EQ(client2->Post(LeasePath(*lease2, "/chat/completions"), body.dump(), "application/json")->status, 200);
  ASSERT_EQ(upstream2.requests().size(), 1u);
  EXPECT_EQ(upstream2.requests()[0].messages[0].content, "You are terse.");
}

TEST(Gateway, RetrievalPositionsInjectOnlyThoseExperiences) {
  ScriptedClient upstream(Answer("ok"));
  const Library library = TwoLessons();
  auto gateway = Start(TestOptions(), upstream);
  RolloutTicket ticket = Ticket("s0/t1/r0", &library);
  ticket.positions = {1};
  auto lease = OpenLease(*gateway, ticket);
  auto client = ClientFor(*gateway);
  ASSERT_EQ(client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("q").dump(), "application/json")->status, 200);
  const std::string system = upstream.requests().at(0).messages.at(0).content;
  EXPECT_EQ(system, AppendLibrary("", library, {1}));
  EXPECT_EQ(system.find("Check units."), std::string::npos);
}

TEST(Gateway, MaxTurnsExceededIs400AndNothingMoreGoesUpstream) {
  ScriptedClient upstream(Answer("ok"));
  GatewayOptions options = TestOptions();
  options.max_turns = 3;
  auto gateway = Start(options, upstream);
  auto lease = OpenLease(*gateway);
  auto client = ClientFor(*gateway);
  for (int i = 0; i < 3; ++i) {
    auto r = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("q" + std::to_string(i)).dump(),
                          "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  for (int i = 0; i < 5; ++i) {
    auto r = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("again").dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(ErrorOf(r)["code"], "max_turns_exceeded");
  }
  EXPECT_EQ(upstream.requests().size(), 3u);
  auto calls = lease->Calls();
  ASSERT_EQ(calls.size(), 8u);
  EXPECT_EQ(calls.back().http_status, 400);
  EXPECT_EQ(calls.back().status.code(), Status::Code::kInvalidArgument);
}

TEST(Gateway, UpstreamFailuresKeepTheProvidersStatusAndRetryAfter) {
  ScriptedClient upstream([](const ChatRequest& req) -> Result<ChatResponse> {
    if (req.messages.at(0).content == "rate") {
      return Status::Unavailable("POST https://provider/v1/chat/completions failed after 7 attempts; last error: HTTP 429: slow down")
          .WithHttpStatus(429, 12);
    }
    if (req.messages.at(0).content == "bad") {
      return Status::ProviderError("HTTP 400 from https://provider/v1/chat/completions: context too long")
          .WithHttpStatus(400);
    }
    if (req.messages.at(0).content == "named") {
      return Status::Unavailable("POST https://provider/v1/chat/completions failed after 7 attempts; last error: HTTP 503: busy");
    }
    return Status::Unavailable("cannot reach https://provider/v1 (7 attempts): connection refused");
  });
  auto gateway = Start(TestOptions(), upstream);
  auto lease = OpenLease(*gateway);
  auto client = ClientFor(*gateway);
  auto rate = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("rate").dump(), "application/json");
  ASSERT_TRUE(rate);
  EXPECT_EQ(rate->status, 429);
  EXPECT_EQ(rate->get_header_value("Retry-After"), "12");
  EXPECT_NE(ErrorOf(rate)["message"].get<std::string>().find("slow down"), std::string::npos);
  auto bad = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("bad").dump(), "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_FALSE(bad->has_header("Retry-After"));
  auto down = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("down").dump(), "application/json");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 502);
  EXPECT_EQ(ErrorOf(down)["type"], "server_error");
  auto named = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("named").dump(), "application/json");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->status, 503) << "a status only named in the message is still the provider's";
  auto calls = lease->Calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].http_status, 429);
  EXPECT_EQ(calls[0].status.code(), Status::Code::kUnavailable);
  EXPECT_EQ(calls[2].http_status, 502);
}

TEST(Gateway, ARealProviders429ReachesTheAgentWithItsRetryAfter) {
  testing::LocalHttpServer provider;
  provider.server().Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "3");
    res.set_content(R"({"error":{"message":"rate limited","type":"requests","code":"rate_limit_exceeded"}})",
                    "application/json");
  });
  ASSERT_TRUE(provider.Start());
  HttpClientOptions http;
  http.base_url = provider.base_url();
  http.model = "run-model";
  http.api_key = "sk-provider-secret-key-1234567890";
  http.max_retries = 0;
  auto upstream = MakeHttpChatClient(http);
  auto gateway = Start(TestOptions(), *upstream);
  auto lease = OpenLease(*gateway);
  auto client = ClientFor(*gateway);
  auto r = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("q").dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "3");
  EXPECT_EQ(r->body.find("sk-provider-secret"), std::string::npos);
  for (const auto& [name, value] : r->headers) EXPECT_EQ(value.find("sk-provider"), std::string::npos) << name;
}

TEST(Gateway, BudgetExhaustedIs429BudgetExhaustedAndTheCallCarriesTheFatalStatus) {
  ScriptedClient inner(Answer("ok"));  // 15 tokens a call
  BudgetConfig budget;
  budget.max_tokens = 20;
  BudgetGate gate(inner, budget, UniformPricing(PriceConfig{}));
  auto gateway = Start(TestOptions(), gate);
  auto lease = OpenLease(*gateway);
  auto client = ClientFor(*gateway);
  for (const char* q : {"a", "b"}) {
    auto r = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody(q).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  auto over = client->Post(LeasePath(*lease, "/chat/completions"), ChatBody("c").dump(), "application/json");
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 429);
  EXPECT_EQ(ErrorOf(over)["code"], "budget_exhausted");
  EXPECT_EQ(inner.requests().size(), 2u);
  EXPECT_EQ(lease->Calls().back().status.code(), Status::Code::kBudgetExhausted);
  EXPECT_EQ(lease->Calls().back().http_status, 429);
}

TEST(Gateway, MalformedBodiesAre400AndOversizeBodiesAre413) {
  ScriptedClient upstream(Answer("ok"));
  auto gateway = Start(TestOptions(), upstream);
  auto lease = OpenLease(*gateway);
  auto client = ClientFor(*gateway);
  const std::string path = LeasePath(*lease, "/chat/completions");
  auto not_json = client->Post(path, "{not json", "application/json");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  EXPECT_EQ(ErrorOf(not_json)["code"], "invalid_json");
  auto not_object = client->Post(path, "[1,2]", "application/json");
  ASSERT_TRUE(not_object);
  EXPECT_EQ(not_object->status, 400);
  auto no_messages = client->Post(path, R"({"model":"x"})", "application/json");
  ASSERT_TRUE(no_messages);
  EXPECT_EQ(no_messages->status, 400);
  auto bad_message = client->Post(path, R"({"messages":[1]})", "application/json");
  ASSERT_TRUE(bad_message);
  EXPECT_EQ(bad_message->status, 400);
  std::string deep(200, '[');
  deep += std::string(200, ']');
  auto too_deep = client->Post(path, R"({"messages":)" + deep + "}", "application/json");
  ASSERT_TRUE(too_deep);
  EXPECT_EQ(too_deep->status, 400);
  std::string huge = R"({"messages":[{"role":"user","content":")" + std::string(kServeMaxBodyBytes + 10, 'x') + "\"}]}";
  auto client2 = ClientFor(*gateway);
  auto oversize = client2->Post(path, huge, "application/json");
  ASSERT_TRUE(oversize);
  EXPECT_EQ(oversize->status, 413);
  EXPECT_TRUE(upstream.requests().empty());
  // The lease still works afterwards.
  auto ok = ClientFor(*gateway)->Post(path, ChatBody("q").dump(), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

// A socket connected to the gateway that has sent `bytes` and then goes quiet.
int Trickle(int port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  return fd;
}

TEST(Gateway, SlowClientsHoldingHeadsAndBodiesDoNotBlockOtherLeases) {
  ScriptedClient upstream(Answer("ok"));
  auto gateway = Start(TestOptions(), upstream);
  auto slow = OpenLease(*gateway);
  auto good = OpenLease(*gateway, Ticket("s0/t2/r0"));
  const int port = std::stoi(gateway->url().substr(gateway->url().rfind(':') + 1));
  std::vector<int> sockets;
  for (int i = 0; i < 16; ++i) {
    // Half a head, then silence.
    sockets.push_back(Trickle(port, "POST " + LeasePath(*slow, "/chat/completions") + " HTTP/1.1\r\nHost: x\r\n"));
    // A whole head announcing a body that never comes in full.
    sockets.push_back(Trickle(port, "POST " + LeasePath(*slow, "/chat/completions") +
                                        " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                        "Content-Length: 5000\r\n\r\n{\"messages\": ["));
  }
  auto client = ClientFor(*gateway);
  for (int i = 0; i < 3; ++i) {
    auto r = client->Post(LeasePath(*good, "/chat/completions"), ChatBody("q" + std::to_string(i)).dump(),
                          "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  for (int fd : sockets) ::close(fd);
  EXPECT_EQ(good->Calls().size(), 3u);
  EXPECT_TRUE(slow->Calls().empty());
}

TEST(Gateway, ListenFailuresNameTheAddress) {
  ScriptedClient upstream(Answer("ok"));
  auto first = Start(TestOptions(), upstream);
  const std::string port = first->url().substr(first->url().rfind(':') + 1);
  GatewayOptions options = TestOptions();
  options.listen = "127.0.0.1:" + port;
  auto second = StartGateway(options, upstream);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("127.0.0.1:" + port), std::string::npos) << second.status().message();
  options.listen = "nonsense";
  auto third = StartGateway(options, upstream);
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.status().message().find("agent.gateway.listen"), std::string::npos);
}

TEST(Gateway, PublicUrlIsWhatLeasesAreTold) {
  ScriptedClient upstream(Answer("ok"));
  GatewayOptions options = TestOptions();
  options.public_url = "http://gateway.tfgrpo.svc:8000/";
  auto gateway = Start(options, upstream);
  EXPECT_EQ(gateway->url(), "http://gateway.tfgrpo.svc:8000");
  auto lease = OpenLease(*gateway);
  EXPECT_EQ(lease->base_url(), "http://gateway.tfgrpo.svc:8000/r/" + lease->token() + "/v1");
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

TEST(GatewayConcurrency, ManyAgentsAtOnceEachGetTheirOwnIdsAndReplies) {
  testing::ScriptedClient upstream([](const ChatRequest& req) -> Result<ChatResponse> {
    ChatResponse r;
    r.content = req.call_id + "|" + req.messages.back().content;
    return r;
  });
  auto gateway = StartGateway(testing::TestOptions(), upstream);
  ASSERT_TRUE(gateway.ok());
  constexpr int kAgents = 8, kCalls = 6;
  std::vector<std::unique_ptr<GatewayLease>> leases;
  for (int a = 0; a < kAgents; ++a) {
    auto lease = (*gateway)->Open(testing::Ticket("s0/t" + std::to_string(a) + "/r0"));
    ASSERT_TRUE(lease.ok());
    leases.push_back(std::move(lease).value());
  }
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int a = 0; a < kAgents; ++a) {
    threads.emplace_back([&, a] {
      auto client = testing::ClientFor(**gateway);
      for (int i = 0; i < kCalls; ++i) {
        const std::string user = "q" + std::to_string(i % 4);  // calls 4 and 5 repeat bodies 0 and 1
        auto r = client->Post(testing::LeasePath(*leases[a], "/chat/completions"), testing::ChatBody(user).dump(),
                              "application/json");
        const std::string want = "s0/t" + std::to_string(a) + "/r0/a" + std::to_string(i % 4 + 1) + "|" + user;
        if (!r || r->status != 200 || nlohmann::json::parse(r->body)["choices"][0]["message"]["content"] != want) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  for (const auto& lease : leases) EXPECT_EQ(lease->Calls().size(), static_cast<size_t>(kCalls));
  EXPECT_EQ(upstream.requests().size(), static_cast<size_t>(kAgents * kCalls));
}

TEST(GatewayConcurrency, ALeaseClosedAfterTheGatewayIsGoneIsHarmless) {
  testing::ScriptedClient upstream(testing::Answer("ok"));
  auto gateway = StartGateway(testing::TestOptions(), upstream);
  ASSERT_TRUE(gateway.ok());
  auto lease = (*gateway)->Open(testing::Ticket());
  ASSERT_TRUE(lease.ok());
  const std::string url = (*lease)->base_url();
  gateway->reset();
  EXPECT_EQ((*lease)->base_url(), url);
  (*lease)->Close();
  EXPECT_TRUE((*lease)->Calls().empty());
}

}  // namespace
}  // namespace tfgrpo
