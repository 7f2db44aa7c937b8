#include "tfgrpo/budget.h"

#include <cstdio>

#include "tfgrpo/role_router.h"

namespace tfgrpo {

double CostUsd(const Usage& usage, const PriceConfig& prices) {
  const int64_t cached = std::min(usage.cached_tokens, usage.prompt_tokens);
  const double uncached = static_cast<double>(usage.prompt_tokens - cached);
  return (uncached * prices.prompt + static_cast<double>(cached) * prices.cached_prompt +
          static_cast<double>(usage.completion_tokens) * prices.completion) /
         1e6;
}

const SpendPricing::Section& SpendPricing::ForRole(std::string_view role) const {
  const std::optional<Role> parsed = ParseRole(role);
  if (!parsed) return model;
  const std::string_view section = SectionForRole(*parsed);
  if (section == "learner") return learner;
  if (section == "judge") return judge;
  return model;
}

SpendPricing PricingOf(const Config& config) {
  // The parser already defaults a section's prices to budget's; a Config built in code may not.
  auto or_budget = [&](const PriceConfig& own) { return own.set ? own : config.budget.price_per_mtok; };
  return {{config.model.name, config.budget.price_per_mtok},
          {config.learner.name, or_budget(config.learner_price_per_mtok)},
          {config.judge.name, or_budget(config.judge_price_per_mtok)}};
}

SpendPricing UniformPricing(const PriceConfig& prices, const std::string& model) {
  return {{model, prices}, {model, prices}, {model, prices}};
}

double CostUsd(const SpendByRole& spend, const SpendPricing& pricing) {
  double usd = 0;
  for (const auto& [role, usage] : spend) usd += CostUsd(usage, pricing.ForRole(role).prices);
  return usd;
}

std::map<std::string, ModelSpend> SpendByModel(const SpendByRole& spend, const SpendPricing& pricing) {
  std::map<std::string, ModelSpend> out;
  for (const auto& [role, usage] : spend) {
    const SpendPricing::Section& section = pricing.ForRole(role);
    ModelSpend& m = out[section.model];
    m.usage += usage;
    m.usd += CostUsd(usage, section.prices);
  }
  return out;
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

std::string FormatSpend(const SpendByRole& spend, const SpendPricing& pricing) {
  std::string out;
  auto item = [&](const std::string& name, const Usage& u, double usd) {
    out += name + " " + Tokens(TokenCount(u));
    if (pricing.priced()) out += " (" + FormatUsd(usd) + ")";
  };
  for (const auto& [role, usage] : spend) {
    item(role, usage, CostUsd(usage, pricing.ForRole(role).prices));
    out += ", ";
  }
  item("total", TotalUsage(spend), CostUsd(spend, pricing));
  return out;
}

std::string FormatSpendByModel(const SpendByRole& spend, const SpendPricing& pricing) {
  std::string out;
  for (const auto& [model, m] : SpendByModel(spend, pricing)) {
    if (!out.empty()) out += ", ";
    out += model + " " + Tokens(TokenCount(m.usage));
    if (pricing.priced()) out += " (" + FormatUsd(m.usd) + ")";
  }
  return out;
}

namespace {

nlohmann::json UsageJson(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens}, {"cached_tokens", u.cached_tokens}, {"completion_tokens", u.completion_tokens}};
}

}  // namespace

nlohmann::json SpendJson(const SpendByRole& spend, const SpendPricing& pricing) {
  nlohmann::json by_role = nlohmann::json::object();
  for (const auto& [role, u] : spend) {
    nlohmann::json r = UsageJson(u);
    if (pricing.priced()) r["usd"] = CostUsd(u, pricing.ForRole(role).prices);
    by_role[role] = std::move(r);
  }
  nlohmann::json j = {{"by_role", by_role}, {"tokens", TokenCount(TotalUsage(spend))}};
  if (pricing.priced()) j["usd"] = CostUsd(spend, pricing);
  return j;
}

nlohmann::json SpendByModelJson(const SpendByRole& spend, const SpendPricing& pricing) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [model, m] : SpendByModel(spend, pricing)) {
    nlohmann::json r = UsageJson(m.usage);
    r["tokens"] = TokenCount(m.usage);
    if (pricing.priced()) r["usd"] = m.usd;
    j[model] = std::move(r);
  }
  return j;
}

BudgetGate::BudgetGate(ChatClient& inner, BudgetConfig budget, SpendPricing pricing, SpendByRole already_spent)
    : inner_(inner), budget_(std::move(budget)), pricing_(std::move(pricing)), spent_(std::move(already_spent)) {}

bool BudgetGate::ExhaustedLocked() const {
  const Usage total = TotalUsage(spent_);
  if (budget_.max_tokens && TokenCount(total) >= *budget_.max_tokens) return true;
  if (budget_.max_usd && CostUsd(spent_, pricing_) >= *budget_.max_usd) return true;
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
  if (budget_.max_usd && CostUsd(spent_, pricing_) >= *budget_.max_usd) {
    return Status::BudgetExhausted("budget reached: " + FormatUsd(CostUsd(spent_, pricing_)) +
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
