// Spend: what calls cost, counted per role from each reply's usage and priced with
// budget.price_per_mtok, and the gate that starts no new call once budget.max_usd or
// budget.max_tokens is reached. Part of the llm module.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "tfgrpo/config.h"
#include "tfgrpo/llm.h"

namespace tfgrpo {

// Role name ("rollout", "judge", ...) -> tokens used by that role's calls.
using SpendByRole = std::map<std::string, Usage>;

// US dollars for `usage` at `prices`: uncached prompt tokens at `prompt`, cached ones at
// `cached_prompt`, completion tokens at `completion`, all per million tokens.
double CostUsd(const Usage& usage, const PriceConfig& prices);
Usage TotalUsage(const SpendByRole& spend);
// "$0.0123" for amounts under a dollar, "$12.34" otherwise.
std::string FormatUsd(double usd);
// One line per role and a total: "rollout 812,345 tokens ($0.2190), judge ...; total ...". Dollar
// figures only when prices are set.
std::string FormatSpend(const SpendByRole& spend, const PriceConfig& prices);
// {"by_role": {"rollout": {"prompt_tokens", "cached_tokens", "completion_tokens"[, "usd"]}},
//  "tokens": N[, "usd": X]}
nlohmann::json SpendJson(const SpendByRole& spend, const PriceConfig& prices);

// Passes calls to `inner` while the spend (what `already_spent` says plus every reply since) is
// under the limits of `budget`; after that every new call fails at once with kBudgetExhausted and
// the message of ExhaustedStatus(). Calls already in flight finish and count. Thread-safe.
class BudgetGate final : public ChatClient {
 public:
  BudgetGate(ChatClient& inner, BudgetConfig budget, SpendByRole already_spent = {});
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
  mutable std::mutex mu_;
  SpendByRole spent_;
};

}  // namespace tfgrpo
