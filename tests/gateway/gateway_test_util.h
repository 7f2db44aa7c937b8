// Helpers for the gateway suites: a started gateway over a scripted upstream, a client that talks
// to it over real HTTP, and a parser for the chat.completion.chunk stream it answers with.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "local_http_server.h"
#include "test_util.h"
#include "tfgrpo/gateway.h"
#include "tfgrpo/util.h"

namespace tfgrpo::testing {

// An upstream that answers "<reply>" with usage 10/5 and keeps every request.
inline ScriptedClient::Script Answer(std::string reply) {
  return [reply](const ChatRequest&) -> Result<ChatResponse> {
    ChatResponse r;
    r.content = reply;
    r.finish_reason = "stop";
    r.message = {{"role", "assistant"}, {"content", reply}};
    r.usage.prompt_tokens = 10;
    r.usage.completion_tokens = 5;
    r.usage.cached_tokens = 2;
    return r;
  };
}

inline GatewayOptions TestOptions() {
  GatewayOptions o;
  o.listen = "127.0.0.1:0";
  o.model_name = "run-model";
  return o;
}

inline RolloutTicket Ticket(std::string rollout_id = "s0/t1/r0", const Library* library = nullptr) {
  RolloutTicket t;
  t.rollout_id = std::move(rollout_id);
  t.temperature = 0.9;
  t.library = library;
  return t;
}

// host:port of a gateway URL "http://127.0.0.1:PORT".
inline std::unique_ptr<httplib::Client> ClientFor(const AgentGateway& gateway) {
  auto client = std::make_unique<httplib::Client>(gateway.url());
  client->set_read_timeout(30, 0);
  return client;
}

// The path of `route` ("/chat/completions") under the lease's /r/<token>/v1.
inline std::string LeasePath(const GatewayLease& lease, const std::string& route) {
  return "/r/" + lease.token() + "/v1" + route;
}

inline nlohmann::json ChatBody(std::string user, bool stream = false) {
  nlohmann::json body = {{"model", "agent-model"},
                         {"temperature", 0.0},
                         {"messages", {{{"role", "user"}, {"content", std::move(user)}}}}};
  if (stream) body["stream"] = true;
  return body;
}

// The JSON of every "data:" event of an SSE body before [DONE]; `done` tells whether [DONE] came.
inline std::vector<nlohmann::json> SseEvents(const std::string& body, bool* done = nullptr) {
  std::vector<nlohmann::json> out;
  if (done) *done = false;
  for (const std::string& line : SplitLines(body)) {
    if (!StartsWith(line, "data: ")) continue;
    std::string data = line.substr(6);
    if (data == "[DONE]") {
      if (done) *done = true;
      continue;
    }
    out.push_back(nlohmann::json::parse(data));
  }
  return out;
}

}  // namespace tfgrpo::testing
