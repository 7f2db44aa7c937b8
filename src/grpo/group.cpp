#include "grpo/group.h"

#include <unordered_map>

namespace tfgrpo::grpo_internal {

bool IsInformative(const std::vector<double>& rewards, bool given_ground_truth) {
  if (rewards.size() < 2) return false;
  if (!given_ground_truth) return true;
  double mean = 0;
  for (double r : rewards) mean += r;
  mean /= rewards.size();
  double var = 0;
  for (double r : rewards) var += (r - mean) * (r - mean);
  return var > 0;
}

std::vector<Credit> GroupCredit(const std::vector<Attempt>& attempts) {
  double sum = 0;
  int n = 0;
  for (const Attempt& a : attempts)
    if (a.scored) sum += a.reward, ++n;
  std::vector<Credit> credit;
  if (n == 0) return credit;
  const double mean = sum / n;
  for (const Attempt& a : attempts) {
    if (!a.summarized || a.reward == mean) continue;
    for (uint64_t uid : a.applied) credit.push_back({uid, a.reward > mean});
  }
  return credit;
}

void ApplyCredit(Library& library, const std::vector<Credit>& credit) {
  std::unordered_map<uint64_t, size_t> position;
  for (size_t i = 0; i < library.size(); ++i) position.emplace(library.items()[i].uid, i);
  for (const Credit& c : credit)
    if (auto it = position.find(c.uid); it != position.end()) library.AddCredit(it->second, c.helpful);
}

std::vector<uint64_t> UidsAt(const Library& library, const std::vector<size_t>& positions) {
  std::vector<uint64_t> uids;
  for (size_t p : positions)
    if (p < library.size()) uids.push_back(library.items()[p].uid);
  return uids;
}

}  // namespace tfgrpo::grpo_internal
