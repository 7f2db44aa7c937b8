// A stand-in for the agent gateway (gateway.h) in runner tests: a local HTTP server with the
// gateway's rules that matter to a runner (a token works only while its lease is open: 401
// invalid_api_key otherwise; more than max_turns calls: 400 max_turns_exceeded; optional 429
// budget_exhausted), answering every chat completion with a scripted reply and recording each call
// as a GatewayCall. The real gateway has its own tests; end-to-end runner tests use it.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "local_http_server.h"
#include "tfgrpo/gateway.h"

namespace tfgrpo::testing {

class FakeGateway : public AgentGateway {
 public:
  // The assistant message for a request body (default: content "42").
  using Reply = std::function<nlohmann::json(const nlohmann::json& body)>;

  explicit FakeGateway(int max_turns = 50, Reply reply = {}) : max_turns_(max_turns), reply_(std::move(reply)) {
    server_.server().Post(R"(/r/([^/]+)/v1/chat/completions)", [this](const httplib::Request& req,
                                                                        httplib::Response& res) {
      Handle(req.matches[1], req.body, res);
    });
    server_.Start();
  }

  std::string url() const override { return "http://127.0.0.1:" + std::to_string(server_.port()); }

  Result<std::unique_ptr<GatewayLease>> Open(const RolloutTicket& ticket) override {
    if (refuse_open) return Status::Unavailable("gateway closed");
    auto state = std::make_shared<LeaseState>();
    std::random_device rd;
    char hex[33];
    std::snprintf(hex, sizeof(hex), "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
    state->token = hex;
    state->ticket = ticket;
    state->base_url = url() + "/r/" + state->token + "/v1";
    std::lock_guard lock(mu_);
    leases_[state->token] = state;
    tickets_.push_back(ticket);
    return std::unique_ptr<GatewayLease>(new Lease(state));
  }

  std::vector<RolloutTicket> tickets() const {
    std::lock_guard lock(mu_);
    return tickets_;
  }
  bool IsOpen(const std::string& token) const {
    std::lock_guard lock(mu_);
    auto it = leases_.find(token);
    return it != leases_.end() && it->second->open;
  }
  int refused_401() const { return refused_401_; }

  std::atomic<bool> budget_exhausted{false};
  std::atomic<bool> refuse_open{false};

 private:
  struct LeaseState {
    std::string token, base_url;
    RolloutTicket ticket;
    std::mutex mu;
    std::vector<GatewayCall> calls;
    bool open = true;
  };
  class Lease : public GatewayLease {
   public:
    explicit Lease(std::shared_ptr<LeaseState> s) : s_(std::move(s)) {}
    ~Lease() override { Close(); }
    const std::string& token() const override { return s_->token; }
    std::string base_url() const override { return s_->base_url; }
    std::vector<GatewayCall> Calls() const override {
      std::lock_guard lock(s_->mu);
      return s_->calls;
    }
    void Close() override {
      std::lock_guard lock(s_->mu);
      s_->open = false;
    }

   private:
    std::shared_ptr<LeaseState> s_;
  };

  static nlohmann::json Error(const std::string& code, const std::string& message) {
    return {{"error", {{"message", message}, {"type", "invalid_request_error"}, {"code", code}}}};
  }

  void Handle(const std::string& token, const std::string& body_text, httplib::Response& res) {
    std::shared_ptr<LeaseState> lease;
    {
      std::lock_guard lock(mu_);
      auto it = leases_.find(token);
      if (it != leases_.end()) lease = it->second;
    }
    std::unique_lock lock(lease ? lease->mu : unused_);
    if (!lease || !lease->open) {
      ++refused_401_;
      res.status = 401;
      res.set_content(Error("invalid_api_key", "Incorrect API key provided").dump(), "application/json");
      return;
    }
    nlohmann::json body = nlohmann::json::parse(body_text, nullptr, false);
    GatewayCall call;
    call.call_id = lease->ticket.rollout_id + "/a" + std::to_string(lease->calls.size() + 1);
    call.messages = body.is_object() && body.contains("messages") ? body["messages"] : nlohmann::json::array();
    if (static_cast<int>(lease->calls.size()) >= max_turns_) {
      call.http_status = 400;
      call.status = Status::InvalidArgument("max_turns_exceeded");
      call.reply = Error("max_turns_exceeded", "more than task.max_turns calls in this rollout");
      res.status = 400;
      res.set_content(call.reply.dump(), "application/json");
    } else if (budget_exhausted) {
      call.http_status = 429;
      call.status = Status::BudgetExhausted("budget reached");
      call.reply = Error("budget_exhausted", "budget.max_usd reached");
      res.status = 429;
      res.set_content(call.reply.dump(), "application/json");
    } else {
      call.reply = reply_ ? reply_(body) : nlohmann::json{{"role", "assistant"}, {"content", "42"}};
      call.usage.prompt_tokens = 10;
      call.usage.completion_tokens = 5;
      nlohmann::json out = {{"id", "chatcmpl-1"},
                            {"object", "chat.completion"},
                            {"model", "fake"},
                            {"choices", {{{"index", 0}, {"message", call.reply}, {"finish_reason", "stop"}}}},
                            {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 5}, {"total_tokens", 15}}}};
      res.set_content(out.dump(), "application/json");
    }
    lease->calls.push_back(std::move(call));
  }

  int max_turns_;
  Reply reply_;
  mutable std::mutex mu_;
  std::mutex unused_;
  std::map<std::string, std::shared_ptr<LeaseState>> leases_;
  std::vector<RolloutTicket> tickets_;
  std::atomic<int> refused_401_{0};
  LocalHttpServer server_{8};
};

}  // namespace tfgrpo::testing
