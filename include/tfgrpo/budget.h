// Spend: what calls cost, counted per role from each reply's usage and priced at the prices of
// the config section that serves the role (budget.price_per_mtok for model's, learner. and
// judge.price_per_mtok for theirs), summed per role and per model, and the gate that starts no
// new call once budget.max_usd or budget.max_tokens is reached. Part of the llm module.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "tfgrpo/config.h"
#include "tfgrpo/llm.h"

namespace tfgrpo {

// Role name ("rollout", "judge", ...) -> tokens used by that role's calls.
using SpendByRole = std::map<std::string, Usage>;

// The model name and prices behind each role's calls: `model`'s for rollout and validation,
// `learner`'s for summary, advantage, group_update and batch_update, `judge`'s for judge and
// browse (SectionForRole). Dollar figures appear only when `priced()`.
struct SpendPricing {
  struct Section {
    std::string model;
    PriceConfig prices;
  };
  Section model, learner, judge;
  // The section serving the role named `role`; model's for a name that is not a role.
  const Section& ForRole(std::string_view role) const;
  bool priced() const { return model.prices.set; }
};
// budget.price_per_mtok for model's calls, learner.price_per_mtok and judge.price_per_mtok for
// theirs (each defaulting to budget's), with each section's model name.
SpendPricing PricingOf(const Config& config);
// Every role at `prices` under one model name (a single-model setup).
SpendPricing UniformPricing(const PriceConfig& prices, const std::string& model = "model");

// US dollars for `usage` at `prices`: uncached prompt tokens at `prompt`, cached ones at
// `cached_prompt`, completion tokens at `completion`, all per million tokens.
double CostUsd(const Usage& usage, const PriceConfig& prices);
// Every role's usage at the prices of its section.
double CostUsd(const SpendByRole& spend, const SpendPricing& pricing);
Usage TotalUsage(const SpendByRole& spend);

// Model name -> its roles' usage summed, and what it cost at each role's prices.
struct ModelSpend {
  Usage usage;
  double usd = 0;
};
std::map<std::string, ModelSpend> SpendByModel(const SpendByRole& spend, const SpendPricing& pricing);

// "$0.0123" for amounts under a dollar, "$12.34" otherwise.
std::string FormatUsd(double usd);
// One item per role and a total: "rollout 812,345 tokens ($0.2190), judge ...; total ...". Dollar
// figures only when priced, each role at its section's prices.
std::string FormatSpend(const SpendByRole& spend, const SpendPricing& pricing);
// One item per model: "deepseek-chat 812,345 tokens ($0.2190), gpt-4.1-mini 12,000 tokens ($0.0050)".
std::string FormatSpendByModel(const SpendByRole& spend, const SpendPricing& pricing);
// {"by_role": {"rollout": {"prompt_tokens", "cached_tokens", "completion_tokens"[, "usd"]}},
//  "tokens": N[, "usd": X]}
nlohmann::json SpendJson(const SpendByRole& spend, const SpendPricing& pricing);
// {"<model name>": {"prompt_tokens", "cached_tokens", "completion_tokens", "tokens"[, "usd"]}}
nlohmann::json SpendByModelJson(const SpendByRole& spend, const SpendPricing& pricing);

// Passes calls to `inner` while the spend (what `already_spent` says plus every reply since) is
// under the limits of `budget`; after that every new call fails at once with kBudgetExhausted and
// the message of ExhaustedStatus(). Calls already in flight finish and count. Thread-safe.
class BudgetGate final : public ChatClient {
 public:
  // Dollars are counted at `pricing` (each role at its section's prices).
  BudgetGate(ChatClient& inner, BudgetConfig budget, SpendPricing pricing, SpendByRole already_spent = {});
  Result<ChatResponse> Complete(const ChatRequest& request) override;
  Result<ChatResponse> CompleteAndReport(const ChatRequest& request, CallReport& report) override;

  SpendByRole spent() const;
  bool exhausted() const;
  // "budget reached: $20.01 of $20.00 (raise budget.max_usd and re-run to continue)", or the
  // same in tokens for budget.max_tokens.
  Status ExhaustedStatus() const;

 private:
  bool ExhaustedLocked() const;
  ChatClient& inner_;
  const BudgetConfig budget_;
  const SpendPricing pricing_;
  mutable std::mutex mu_;
  SpendByRole spent_;
};

}  // namespace tfgrpo
