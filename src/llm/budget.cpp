#include "tfgrpo/budget.h"

#include <cstdio>

namespace tfgrpo {

double CostUsd(const Usage& usage, const PriceConfig& prices) {
  const int64_t cached = std::min(usage.cached_tokens, usage.prompt_tokens);
  const double uncached = static_cast<double>(usage.prompt_tokens - cached);
  return (uncached * prices.prompt + static_cast<double>(cached) * prices.cached_prompt +
          static_cast<double>(usage.completion_tokens) * prices.completion) /
         1e6;
}

Usage TotalUsage(const SpendByRole& spend) {
  Usage total;
  for (const auto& [role, usage] : spend) total += usage;
  return total;
}

std::string FormatUsd(double usd) {
  char buf[64];
  std::snprintf(buf, sizeof buf, usd < 1 ? "$%.4f" : "$%.2f", usd);
  return buf;
}

namespace {

std::string Tokens(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out + " tokens";
}

int64_t TokenCount(const Usage& u) { return u.prompt_tokens + u.completion_tokens; }

}  // namespace

std::string FormatSpend(const SpendByRole& spend, const PriceConfig& prices) {
  std::string out;
  auto item = [&](const std::string& name, const Usage& u) {
    out += name + " " + Tokens(TokenCount(u));
    if (prices.set) out += " (" + FormatUsd(CostUsd(u, prices)) + ")";
  };
  for (const auto& [role, usage] : spend) {
    item(role, usage);
    out += ", ";
  }
  item("total", TotalUsage(spend));
  return out;
}

nlohmann::json SpendJson(const SpendByRole& spend, const PriceConfig& prices) {
  nlohmann::json by_role = nlohmann::json::object();
  for (const auto& [role, u] : spend) {
    nlohmann::json r = {{"prompt_tokens", u.prompt_tokens},
                        {"cached_tokens", u.cached_tokens},
                        {"completion_tokens", u.completion_tokens}};
    if (prices.set) r["usd"] = CostUsd(u, prices);
    by_role[role] = std::move(r);
  }
  const Usage total = TotalUsage(spend);
  nlohmann::json j = {{"by_role", by_role}, {"tokens", TokenCount(total)}};
  if (prices.set) j["usd"] = CostUsd(total, prices);
  return j;
}

BudgetGate::BudgetGate(ChatClient& inner, BudgetConfig budget, SpendByRole already_spent)
    : inner_(inner), budget_(std::move(budget)), spent_(std::move(already_spent)) {}

bool BudgetGate::ExhaustedLocked() const {
  const Usage total = TotalUsage(spent_);
  if (budget_.max_tokens && TokenCount(total) >= *budget_.max_tokens) return true;
  if (budget_.max_usd && CostUsd(total, budget_.price_per_mtok) >= *budget_.max_usd) return true;
  return false;
}

bool BudgetGate::exhausted() const {
  std::lock_guard lock(mu_);
  return ExhaustedLocked();
}

SpendByRole BudgetGate::spent() const {
  std::lock_guard lock(mu_);
  return spent_;
}

Status BudgetGate::ExhaustedStatus() const {
  std::lock_guard lock(mu_);
  const Usage total = TotalUsage(spent_);
  if (budget_.max_usd && CostUsd(total, budget_.price_per_mtok) >= *budget_.max_usd) {
    return Status::BudgetExhausted("budget reached: " + FormatUsd(CostUsd(total, budget_.price_per_mtok)) +
                                   " of " + FormatUsd(*budget_.max_usd) +
                                   " (raise budget.max_usd and re-run to continue)");
  }
  return Status::BudgetExhausted("budget reached: " + Tokens(TokenCount(total)) + " of " +
                                 Tokens(budget_.max_tokens.value_or(0)) +
                                 " (raise budget.max_tokens and re-run to continue)");
}

Result<ChatResponse> BudgetGate::Complete(const ChatRequest& request) {
  CallReport report;
  return CompleteAndReport(request, report);
}

Result<ChatResponse> BudgetGate::CompleteAndReport(const ChatRequest& request, CallReport& report) {
  if (exhausted()) return ExhaustedStatus();
  auto result = inner_.CompleteAndReport(request, report);
  if (result.ok()) {
    std::lock_guard lock(mu_);
    spent_[std::string(RoleName(request.role))] += result->usage;
  }
  return result;
}

}  // namespace tfgrpo
