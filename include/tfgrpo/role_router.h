// A model per role: sends each call to the client of the section that serves its role. The
// policy (`model`) answers rollout and validation calls, the `learner` the summary, advantage,
// group_update and batch_update calls, the `judge` judge and browse calls. Each section's client
// has its own connection pool and concurrency cap; the role header and call ids are unchanged.
// Thread-safe when the clients are.
#pragma once

#include <memory>
#include <string>

#include "tfgrpo/config.h"
#include "tfgrpo/llm.h"

namespace tfgrpo {

// "model", "learner" or "judge": the config section whose model serves `role`.
std::string_view SectionForRole(Role role);

class RoleRouter final : public ChatClient {
 public:
  // Borrowed clients, one per section (the same one may serve several).
  RoleRouter(ChatClient& model, ChatClient& learner, ChatClient& judge)
      : model_(model), learner_(learner), judge_(judge) {}
  // A learner's or judge's failure names its section: a rejected key says which api_key_env to
  // check (`judge.api_key_env`), and every error starts "judge: " so the user knows which
  // endpoint refused.
  Result<ChatResponse> Complete(const ChatRequest& request) override;
  Result<ChatResponse> CompleteAndReport(const ChatRequest& request, CallReport& report) override;

 private:
  ChatClient& For(Role role);
  ChatClient &model_, &learner_, &judge_;
};

// The HTTP client options of one section of `config`.
HttpClientOptions ClientOptionsForSection(const Config& config, const ModelConfig& section);

// The clients `config` needs: one HTTP client per distinct section (learner and judge share
// model's when their section is absent) behind a RoleRouter.
class RoutedClients {
 public:
  explicit RoutedClients(const Config& config);
  ChatClient& client() { return *router_; }

 private:
  std::unique_ptr<ChatClient> model_, learner_, judge_;
  std::unique_ptr<RoleRouter> router_;
};

}  // namespace tfgrpo
