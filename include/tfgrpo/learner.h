// The learner's four stages, one type each: summary, advantage, group_update and batch_update.
// Each names its template (the prompt file of the same name), builds the variables it fills from
// plain data, and parses the learner's reply; the reply parsers (<Experiences>, operations,
// "Applied:") live here. Pure functions: no calls, no I/O, callable from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tfgrpo/library.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

// ---- Reply parsers ------------------------------------------------------------------------------

// The experiences inside <Experiences>...</Experiences> (any letter case): each numbered item
// ("1. ...", continuation lines joined) is one experience; at most `max_items` (<= 0: no cap).
// Error when the tags are missing or hold no numbered item.
Result<std::vector<std::string>> ParseExperiences(std::string_view reply, int max_items);

// A JSON array of {"operation","id","content"} (and an optional "from": ["P3", ...], kept when it is
// an array of strings, ignored otherwise): from the last ```json fenced block if any,
// else the first top-level JSON array in the text. Error when none parses or an item is invalid.
Result<std::vector<Operation>> ParseOperations(std::string_view reply);

// The positions of existing experiences that `text` names as G<n> (also [G3], (G3), g3), in
// first-mention order, each once: what a summary's "Applied:" line credits. Ids at or past
// `library_size` are ignored: a summary may only credit experiences the rollout saw.
std::vector<size_t> ReferencedExperiences(std::string_view text, size_t library_size);

// ---- Stages -------------------------------------------------------------------------------------
// Every stage's Vars() fills exactly the variables LearnerPromptContracts() lists for its
// template; an empty value drops the template's optional section of that name.

// One attempt retold for the learner: what the agent did, saw and missed.
struct SummaryStage {
  static constexpr Role kRole = Role::kSummary;  // template "summary"
  struct Input {
    std::string problem;
    std::string library;     // the library as the prompt shows it ("(empty)" when empty)
    std::string trajectory;  // the rollout's transcript
    // practice.given_ground_truth: the answer, the attempt's reward and the grader's reasoning.
    bool given_ground_truth = false;
    std::string ground_truth;
    double reward = 0;
    std::string critique;
    std::string agent_objective;
  };
  static PromptVars Vars(const Input& in);
  // The experiences the summary says the attempt applied (positions below `library_size`).
  static std::vector<size_t> Parse(std::string_view reply, size_t library_size);
};

// The semantic advantage: a group's summaries compared, lessons drawn.
struct AdvantageStage {
  static constexpr Role kRole = Role::kAdvantage;  // template "advantage"
  struct Summary {
    double reward = 0;  // shown only with the ground truth
    std::string text;
  };
  struct Input {
    std::string problem;
    std::string library;
    bool given_ground_truth = false;
    std::string ground_truth;
    std::vector<Summary> summaries;  // "### Attempt n (reward r)" each, in order
    int max_experiences = 0;         // practice.experiences_per_group
    std::string agent_objective, learning_objective;
  };
  static PromptVars Vars(const Input& in);
  // At most `max_experiences` lessons; an error when the reply holds no <Experiences> list.
  static Result<std::vector<std::string>> Parse(std::string_view reply, int max_experiences);
};

// One group's lessons turned into operations on the library.
struct GroupUpdateStage {
  static constexpr Role kRole = Role::kGroupUpdate;  // template "group_update"
  struct Input {
    std::string library;
    std::vector<std::string> experiences;  // the advantage's lessons, numbered 1..n in the prompt
    std::string agent_objective, learning_objective;
  };
  static PromptVars Vars(const Input& in);
  // The operations, each marked as proposed by `group` (the task id).
  static Result<std::vector<Operation>> Parse(std::string_view reply, const std::string& group);
};

// The step's proposals merged into the library, one call per chunk of proposals.
struct BatchUpdateStage {
  static constexpr Role kRole = Role::kBatchUpdate;  // template "batch_update"
  // One group's proposed operation, its target named by uid: positions move as earlier chunks
  // of the consolidation add and delete.
  struct Proposal {
    Operation op;
    std::optional<uint64_t> target;  // the experience an UPDATE or DELETE is aimed at
  };
  struct Input {
    const Library* library = nullptr;  // as it is now (after earlier chunks), with credit
    std::vector<Proposal> proposals;
    int max_library = 0;  // practice.max_experiences; 0: no cap stated
    std::string agent_objective, learning_objective;
  };
  // The prompt's proposals numbered P1..Pn in prompt order (each experience's proposals beside
  // it, then the ADDs), aimed at where their targets are now: an UPDATE of an experience no
  // longer there is offered as an ADD, a DELETE of it is dropped. Empty: nothing to ask.
  struct Prompt {
    PromptVars vars;
    std::vector<Proposal> numbered;
  };
  static Prompt Build(Input in);
  // The operations, each marked with the group of the proposal it came from: the first proposal
  // its "from" names ("P3" is the third of `numbered`), else the proposal with the very same
  // text; "" when neither (origin unknown).
  static Result<std::vector<Operation>> Parse(std::string_view reply, const std::vector<Proposal>& numbered);
};

}  // namespace tfgrpo
