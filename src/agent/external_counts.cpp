// What the external rollouts of a train or eval did (ExternalCounts, external_agent.h): summed by
// the sampler, differenced per step, shown in the end summary, the eval report and run.db.
#include <cstdio>

#include "tfgrpo/external_agent.h"

namespace tfgrpo {

int64_t ExternalCounts::failed() const {
  int64_t n = 0;
  for (const auto& [reason, count] : failures) n += count;
  return n;
}

ExternalCounts ExternalCounts::operator-(const ExternalCounts& earlier) const {
  ExternalCounts d = *this;
  d.rollouts -= earlier.rollouts;
  d.calls -= earlier.calls;
  d.calls_sent -= earlier.calls_sent;
  d.calls_replayed -= earlier.calls_replayed;
  d.self_rewarded -= earlier.self_rewarded;
  for (const auto& [reason, count] : earlier.failures) {
    auto it = d.failures.find(reason);
    if (it == d.failures.end()) continue;
    it->second -= count;
    if (it->second <= 0) d.failures.erase(it);
  }
  return d;
}

nlohmann::json ExternalCounts::ToJson() const {
  return {{"rollouts", rollouts},       {"calls", calls},
          {"calls_per_rollout", CallsPerRollout()}, {"calls_sent", calls_sent},
          {"calls_replayed", calls_replayed}, {"self_rewarded", self_rewarded},
          {"failures", failures}};
}

std::string ExternalCounts::Line() const {
  char per[32];
  std::snprintf(per, sizeof(per), "%.1f", CallsPerRollout());
  std::string line = std::to_string(rollouts) + " agent runs, " + per + " calls each (" + std::to_string(calls_sent) +
                     " sent, " + std::to_string(calls_replayed) + " replayed)";
  if (self_rewarded > 0) line += ", " + std::to_string(self_rewarded) + " scored by the agent";
  if (!failures.empty()) {
    line += "; failed:";
    bool first = true;
    for (const auto& [reason, count] : failures) {
      line += (first ? " " : ", ") + std::to_string(count) + " " + reason;
      first = false;
    }
  }
  return line;
}

}  // namespace tfgrpo
