// One step's groups as a dataflow on the pool: G rollouts of each task scored; for each
// informative group its summaries, then its advantage, then its group_update, each stage started
// by the last finisher of the one before. Private to the grpo module. Run() is called from the
// training thread; the jobs it starts all finish before it returns.
#pragma once

#include <string>
#include <vector>

#include "grpo/run_context.h"
#include "tfgrpo/data.h"
#include "tfgrpo/external_sampling.h"
#include "tfgrpo/library.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/thread_pool.h"
#include "tfgrpo/tool.h"

namespace tfgrpo::grpo_internal {

class StepPipeline {
 public:
  // Every reference must outlive the pipeline. `retriever` is null with retrieval.top_k 0;
  // `external` (task.mode external: the user's agent runs each rollout) null otherwise.
  StepPipeline(RunContext& ctx, ThreadPool& pool, RewardFn& reward, const ToolRegistry& tools, Retriever* retriever,
               ExternalAgents* external)
      : ctx_(ctx), pool_(pool), reward_(reward), tools_(tools), retriever_(retriever), external_(external) {}

  // Runs the groups of `batch` with `library` in the rollouts' prompts (unchanged during the
  // step) and returns the operations each group proposed, in batch order. Counts, rewards and
  // credit (by uid) go to `st`; failures are recorded as they happen; a fatal one stops the
  // step early (ctx.aborted()).
  std::vector<Operation> Run(int step, const std::vector<const Task*>& batch, const Library& library, StepState& st);

 private:
  struct Group;
  void RolloutJob(int step, Group& g, int sample);
  void OnRolloutsDone(int step, Group& g);
  void SummaryJob(int step, Group& g, int sample);
  void OnSummariesDone(int step, Group& g);
  void FinishGroup();
  // The library as the learner prompts show it.
  std::string LibraryForPrompt() const;

  RunContext& ctx_;
  ThreadPool& pool_;
  RewardFn& reward_;
  const ToolRegistry& tools_;
  Retriever* retriever_;
  ExternalAgents* external_;
  // The step in progress.
  const Library* library_ = nullptr;
  StepState* st_ = nullptr;
  std::atomic<int> groups_remaining_{0};
};

}  // namespace tfgrpo::grpo_internal
