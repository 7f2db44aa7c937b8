#include "grpo/consolidation.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "tfgrpo/learner.h"

namespace tfgrpo::grpo_internal {
namespace {

using Proposal = BatchUpdateStage::Proposal;

// One chunk; false when it changed nothing because no reply could be used.
bool ConsolidateChunk(RunContext& ctx, StepState& st, const LeakGuard& leak_guard, int step, int chunk,
                      std::vector<Proposal> proposals, Library& library, Consolidation& outcome) {
  const PracticeConfig& practice = ctx.config().practice;
  BatchUpdateStage::Prompt prompt = BatchUpdateStage::Build(
      {&library, std::move(proposals), practice.max_experiences, practice.agent_objective, practice.learning_objective});
  const std::vector<Proposal>& numbered = prompt.numbered;
  if (numbered.empty()) {
    ctx.progress().Advance("consolidation");  // nothing left to ask
    return true;
  }

  // s<n>/batch_update, s<n>/batch_update/try2, ...; a later chunk's ids carry its number (c2).
  std::string base = "batch_update";
  if (chunk > 0) base += "/c" + std::to_string(chunk + 1);
  std::string why = "no reply";
  int attempts = 0;
  for (int attempt = 1; attempt <= kConsolidationAttempts && !ctx.aborted(); ++attempt) {
    ++attempts;
    const std::string leaf = attempt == 1 ? base : base + "/try" + std::to_string(attempt);
    if (attempt > 1) ctx.progress().AddTotal("consolidation", 1);  // each call advances it, failed or not
    // A provider that is deterministic at temperature 0 would repeat a bad reply word for word.
    auto reply = ctx.AskLearner(st, BatchUpdateStage::kRole, prompt.vars,
                                attempt == 1 ? kUpdateTemperature : kLearnerTemperature,
                                CallId(StepScope(step), "", leaf), step, "", "consolidation");
    if (!reply.ok()) {  // already retried by the client and recorded; asking again will not help
      why = reply.status().ToString();
      break;
    }
    auto ops = BatchUpdateStage::Parse(reply->content, numbered);
    if (!ops.ok()) {
      ctx.RecordUnparseableReply(st, step, "", "batch_update", *reply, ops.status());
      why = IsTruncated(*reply) ? std::string(kTruncatedReason) : ops.status().message();
      continue;
    }
    library.Apply(DropLeaks(ctx, leak_guard, step, std::move(ops).value(), &outcome.leaks_dropped), step);
    return true;
  }
  if (ctx.aborted()) return false;
  outcome.why_failed = "consolidation failed after " + std::to_string(attempts) +
                       (attempts == 1 ? " call" : " calls") + " (" + why + ")";
  for (const Proposal& p : numbered) {
    outcome.not_applied[p.op.group].push_back(std::string(OpKindName(p.op.kind)) + (p.op.id ? " " + *p.op.id : "") +
                                              ": " + p.op.content);
  }
  return false;
}

}  // namespace

std::vector<Operation> DropLeaks(RunContext& ctx, const LeakGuard& leak_guard, int step, std::vector<Operation> ops,
                                 int64_t* dropped) {
  std::vector<Operation> kept;
  for (Operation& op : ops) {
    if (op.kind == OpKind::kAdd || op.kind == OpKind::kUpdate) {
      if (auto leak = leak_guard.Find(op.content)) {
        ++*dropped;
        spdlog::warn("step {}: dropped {} from group {}: {}", step + 1, OpKindName(op.kind),
                     op.group.empty() ? "(unknown)" : op.group, leak->Describe());
        ctx.RecordFailure({step, op.group, "leak", leak->Describe() + ": " + op.content});
        continue;
      }
    }
    kept.push_back(std::move(op));
  }
  return kept;
}

Consolidation Consolidate(RunContext& ctx, StepState& st, const LeakGuard& leak_guard, int step,
                          const std::vector<Operation>& proposed, Library& library) {
  Consolidation outcome;
  std::vector<Proposal> proposals;
  for (const Operation& op : proposed) {  // batch order, not completion order: the prompt is deterministic
    if (op.kind == OpKind::kNone) continue;
    Proposal p{op, std::nullopt};
    // The group saw the library as it was when the step began, which `library` still is.
    if (op.id) {
      if (auto index = ExperienceIndex(*op.id); index && *index < library.size())
        p.target = library.items()[*index].uid;
    }
    proposals.push_back(std::move(p));
  }
  outcome.proposed = static_cast<int64_t>(proposals.size());
  if (proposals.empty()) return outcome;
  const size_t per_call = static_cast<size_t>(std::max(1, ctx.config().practice.max_proposals_per_call));
  const int chunks = static_cast<int>((proposals.size() + per_call - 1) / per_call);
  ctx.progress().Begin("consolidation", chunks);
  for (int c = 0; c < chunks && !ctx.aborted(); ++c) {
    const size_t begin = c * per_call, end = std::min(proposals.size(), begin + per_call);
    ++outcome.chunks;
    if (!ConsolidateChunk(ctx, st, leak_guard, step, c, {proposals.begin() + begin, proposals.begin() + end}, library,
                          outcome))
      ++outcome.chunks_failed;
  }
  ctx.progress().End("consolidation");
  // The store keeps one failure per step, task and stage: a group's proposals go in one record.
  for (const auto& [group, ops] : outcome.not_applied) {
    std::string listed;
    for (const std::string& op : ops) listed += (listed.empty() ? "" : " | ") + op;
    ctx.RecordFailure({step, group, "batch_update",
                       outcome.why_failed + "; library unchanged, proposals not applied: " + listed});
  }
  return outcome;
}

}  // namespace tfgrpo::grpo_internal
