#include <sstream>

#include "tfgrpo/engine.h"

namespace tfgrpo {

std::string FormatTrainSummary(const TrainSummary& s) {
  std::ostringstream out;
  out << s.steps_run << " of " << s.steps_total << " steps run, " << s.llm_calls << " LLM calls ("
      << s.llm_calls_replayed << " replayed from the run store, " << s.llm_retries << " retried, "
      << s.llm_calls_failed << " failed), "
      << s.rollouts << " rollouts (" << s.rollouts_failed << " failed), " << s.informative_groups
      << " informative groups, " << s.stages_failed << " learner stages failed, ";
  if (s.leaks_dropped) out << s.leaks_dropped << " leaking operations dropped, ";
  if (s.evicted) out << s.evicted << " experiences evicted over the cap, ";
  out << s.usage.prompt_tokens
      << " prompt tokens (" << s.usage.cached_tokens << " cached), " << s.usage.completion_tokens
      << " completion tokens, " << s.library.size() << " experiences, " << std::fixed;
  out.precision(1);
  out << s.wall_s << " s";
  auto list = [&out](const char* label, const std::map<std::string, int64_t>& reasons) {
    if (reasons.empty()) return;
    out << "; " << label << ":";
    bool first = true;
    for (const auto& [reason, count] : reasons) {
      out << (first ? " " : ", ") << count << " x " << reason;
      first = false;
    }
  };
  list("failed calls", s.call_failure_reasons);
  list("failed stages", s.stage_failure_reasons);
  list("truncated replies (finish_reason length)", s.truncated_replies);
  if (s.validation_enabled) {
    out << "; validation: " << s.validations_accepted << " accepted, " << s.validations_rejected << " rejected";
    if (s.validation_score) {
      out.precision(3);
      out << ", library in force scores " << *s.validation_score;
    }
  }
  if (!s.spend.empty()) {
    out << "; spend: " << FormatSpend(s.spend, s.pricing);
    out << "; spend by model: " << FormatSpendByModel(s.spend, s.pricing);
  }
  if (s.external) out << "; agents: " << s.external->Line();
  if (s.retrieval_top_k > 0) {
    out << "; retrieval: top " << s.retrieval_top_k << " experiences per prompt";
    if (s.retrieval_fallbacks) out << ", " << s.retrieval_fallbacks << " queries ranked by bm25 after embeddings failed";
  }
  return out.str();
}

}  // namespace tfgrpo
