// A group's statistics, as pure functions over plain data: whether a group of rollouts of one
// task is informative, and the credit its attempts give the experiences they applied. Private to
// the grpo module; no I/O, no locks, callable from any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "tfgrpo/library.h"

namespace tfgrpo::grpo_internal {

// Informative: at least two rollouts were scored and, when the learner is given the ground truth,
// their rewards are not all equal (standard deviation > 0): only then is there a winner/loser
// contrast to learn from. `rewards` holds the scored rollouts' rewards only.
bool IsInformative(const std::vector<double>& rewards, bool given_ground_truth);

// One rollout of a group, as the credit rule sees it.
struct Attempt {
  bool scored = false;      // rolled out and scored; only scored attempts make the group's mean
  double reward = 0;
  bool summarized = false;  // its summary came back; only summarized attempts credit
  // The experiences its summary says it applied, by uid (positions move as the library changes).
  std::vector<uint64_t> applied;
};

// A vote for one experience: helpful or harmful.
struct Credit {
  uint64_t uid = 0;
  bool helpful = false;
  bool operator==(const Credit&) const = default;
};

// The mean reward of the scored attempts; each summarized attempt above it credits what it
// applied as helpful, below it as harmful; an attempt at the mean credits nothing. In attempt
// order, then applied order. Empty when no attempt was scored.
std::vector<Credit> GroupCredit(const std::vector<Attempt>& attempts);

// Adds each vote to the experience with its uid; a uid no longer in the library is skipped.
void ApplyCredit(Library& library, const std::vector<Credit>& credit);

// The uids of the experiences at `positions` of `library`; positions past its end are skipped.
std::vector<uint64_t> UidsAt(const Library& library, const std::vector<size_t>& positions);

}  // namespace tfgrpo::grpo_internal
