// The experience library: the numbered natural-language lessons learned by Training-Free GRPO,
// the operations that edit it (ADD, UPDATE, DELETE, NONE) and how it is rendered into prompts.
// The parsers of the learner's replies that produce experiences and operations are the learner's
// (tfgrpo/learner.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/status.h"

namespace tfgrpo {

struct Experience {
  Experience() = default;
  Experience(std::string text_, int step_ = -1, std::string group_ = {})  // NOLINT: implicit by design
      : text(std::move(text_)), step(step_), group(std::move(group_)) {}

  std::string text;
  int step = -1;       // step (0-based) that last wrote it; -1: in the library before training
  std::string group;   // task id of the group it came from ("" when unknown)
  // Stable identity across renumbering and UPDATE (G<n> is only a position); assigned by the
  // Library, 0 until then.
  uint64_t uid = 0;
  // Credit from rollouts that named it in their summary: above their group's mean reward
  // (helpful) or below it (harmful). Kept by UPDATE; never shown in rollout prompts.
  int64_t helpful = 0;
  int64_t harmful = 0;
  int created_step = -1;  // step (0-based) that added it; -1: in the library before training
  std::string origin_task;  // task id of the group whose ADD created it; kept by UPDATE
};

enum class OpKind { kAdd, kUpdate, kDelete, kNone };
std::string_view OpKindName(OpKind kind);  // "ADD" ...

struct Operation {
  OpKind kind = OpKind::kNone;
  std::optional<std::string> id;  // "G3"; absent for ADD/NONE
  std::string content;
  std::string group;              // task id of the group that proposed it (engine bookkeeping)
  // A consolidation reply's provenance: the numbered proposals ("P3", "P7") this operation came
  // from, as the reply's optional "from" array gives them; empty when it gives none.
  std::vector<std::string> from;
};

nlohmann::json OperationsToJson(const std::vector<Operation>& ops);

// Heading placed above the experience lines in every prompt. Shared by training, evaluation
// and `tfgrpo serve`, so a provider's prefix cache sees the same bytes everywhere.
inline constexpr std::string_view kLibraryHeading =
    "When solving, apply these experiences learned from earlier practice:";

// The artifact format of `library.json` (see ToArtifactJson).
inline constexpr std::string_view kLibraryFormat = "tfgrpo-library/1";

class Library {
 public:
  Library() = default;
  // Items without a uid get fresh ones, in order.
  explicit Library(std::vector<Experience> items);

  const std::vector<Experience>& items() const { return items_; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

  // "[G0]. text\n[G1]. text" (no trailing newline); "" when empty.
  std::string RenderLines() const;
  // The same lines with each experience's credit: "[G0]. text (helpful=2 harmful=0)". For the
  // consolidation prompt only, so the learner can delete what hurts.
  std::string RenderLinesWithCredit() const;
  // {"G0": "text", "G1": "text", ...}. Its keys iterate lexically (G10 before G2): for text a
  // person reads, use ToJsonText().
  nlohmann::json ToJson() const;
  // The same object pretty-printed with keys in numeric order, ending in a newline.
  std::string ToJsonText() const;
  // Accepts the object form above (ordered by the number after G), an array of strings, or the
  // artifact form of ToArtifactJson (credit, steps and origin kept).
  static Result<Library> FromJson(const nlohmann::json& j);
  // {"format": "tfgrpo-library/1", "provenance": provenance, "experiences": [{"id": "G0",
  // "text", "helpful", "harmful", "created_step", "updated_step", "origin_task", "uid"}]}. Steps
  // are counted from 1 as log lines count them; 0 means "in the library before training".
  nlohmann::json ToArtifactJson(const nlohmann::json& provenance = nlohmann::json::object()) const;
  // The provenance object of an artifact file ({} for the plain formats).
  static nlohmann::json ProvenanceOf(const nlohmann::json& j);
  static Result<Library> Load(const std::filesystem::path& path);
  Status Save(const std::filesystem::path& path) const;  // atomic write, pretty JSON
  // Writes ToArtifactJson(provenance), pretty-printed, atomically.
  Status SaveArtifact(const std::filesystem::path& path, const nlohmann::json& provenance) const;

  // Applies operations whose ids refer to the library as it is now, then renumbers G0..Gn-1.
  // UPDATE of an unknown id becomes an ADD; DELETE of an unknown id is ignored; empty content
  // is skipped for ADD/UPDATE. Written experiences get `step` and the op's group; an UPDATE keeps
  // the experience's uid, credit, creation step and origin.
  void Apply(const std::vector<Operation>& ops, int step);

  // Credit for the experience at `index` (out-of-range indexes are ignored).
  void AddCredit(size_t index, bool helpful);

  // While there are more than `max_items` experiences (0 = no limit), removes the one with the
  // lowest helpful minus harmful, the oldest (earliest created, then earliest uid) on ties.
  // Returns the removed experiences in removal order.
  std::vector<Experience> EvictOverCap(size_t max_items);

 private:
  uint64_t AssignUid(Experience& e);
  std::vector<Experience> items_;
  uint64_t next_uid_ = 1;
};

// "G3" (also g3, [G3], (G3), "3") -> 3; nullopt for anything else.
std::optional<size_t> ExperienceIndex(std::string_view id);

// `base` followed by a blank line, the heading and the rendered lines; `base` alone when the
// library is empty; heading and lines alone when `base` is empty. Byte-stable.
std::string AppendLibrary(std::string_view base, const Library& library);
// The same text for only the experiences at `positions` (retrieval.top_k: a rollout's retrieved
// subset), each keeping its own [G<n>] id, in the order given; positions past the library are
// skipped. No positions: `base` alone. All positions in order: the same bytes as above.
std::string AppendLibrary(std::string_view base, const Library& library, const std::vector<size_t>& positions);

}  // namespace tfgrpo
