// A step's consolidation: every group's proposed operations merged into the step's candidate
// library by batch_update calls, practice.max_proposals_per_call proposals at a time, each call
// against the library the previous one produced; operations leaking a task's answer or problem
// text dropped. Private to the grpo module; runs on the training thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "grpo/run_context.h"
#include "tfgrpo/leak_guard.h"
#include "tfgrpo/library.h"

namespace tfgrpo::grpo_internal {

// A batch_update reply that does not parse is asked again, up to this many calls in all.
inline constexpr int kConsolidationAttempts = 3;

// What a step's consolidation did.
struct Consolidation {
  int64_t proposed = 0;
  int chunks = 0, chunks_failed = 0;
  int64_t leaks_dropped = 0;
  // Per proposing group, the proposals of failed chunks: "ADD: text", "UPDATE G3: text".
  std::map<std::string, std::vector<std::string>> not_applied;
  std::string why_failed;  // the last failed chunk's reason
};

// Merges `proposed` (the groups' operations in batch order, their ids in the numbering of
// `library` as the step began) into `library`. A chunk whose reply does not parse after
// kConsolidationAttempts calls (s<n>/batch_update, .../try2, .../try3; a later chunk's ids carry
// /c<k>) leaves the library as it was, and its proposals are recorded as batch_update failures
// of their groups: never applied raw. A fatal failure stops the run (ctx.aborted()).
Consolidation Consolidate(RunContext& ctx, StepState& st, const LeakGuard& leak_guard, int step,
                          const std::vector<Operation>& proposed, Library& library);

// Drops ADD/UPDATE operations that leak a task's answer or problem text, recording each as a
// "leak" failure of its group; adds the number dropped to `*dropped`.
std::vector<Operation> DropLeaks(RunContext& ctx, const LeakGuard& leak_guard, int step, std::vector<Operation> ops,
                                 int64_t* dropped);

}  // namespace tfgrpo::grpo_internal
