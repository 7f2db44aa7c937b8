// The experience library: the numbered natural-language lessons learned by Training-Free GRPO,
// the operations that edit it (ADD, UPDATE, DELETE, NONE), how it is rendered into prompts,
// and the parsers for the learner's replies that produce experiences and operations.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/status.h"

namespace tfgrpo {

struct Experience {
  std::string text;
  int step = -1;       // step that last wrote it (-1: loaded from a file)
  std::string group;   // task id of the group it came from ("" when unknown)
};

enum class OpKind { kAdd, kUpdate, kDelete, kNone };
std::string_view OpKindName(OpKind kind);  // "ADD" ...

struct Operation {
  OpKind kind = OpKind::kNone;
  std::optional<std::string> id;  // "G3"; absent for ADD/NONE
  std::string content;
  std::string group;              // task id of the group that proposed it (engine bookkeeping)
};

nlohmann::json OperationsToJson(const std::vector<Operation>& ops);

// Heading placed above the experience lines in every prompt. Shared by training, evaluation
// and `tfgrpo serve`, so a provider's prefix cache sees the same bytes everywhere.
inline constexpr std::string_view kLibraryHeading =
    "When solving, apply these experiences learned from earlier practice:";

class Library {
 public:
  Library() = default;
  explicit Library(std::vector<Experience> items) : items_(std::move(items)) {}

  const std::vector<Experience>& items() const { return items_; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

  // "[G0]. text\n[G1]. text" (no trailing newline); "" when empty.
  std::string RenderLines() const;
  // {"G0": "text", "G1": "text", ...}. Its keys iterate lexically (G10 before G2): for text a
  // person reads, use ToJsonText().
  nlohmann::json ToJson() const;
  // The same object pretty-printed with keys in numeric order, ending in a newline.
  std::string ToJsonText() const;
  // Accepts the object form above (ordered by the number after G) or an array of strings.
  static Result<Library> FromJson(const nlohmann::json& j);
  static Result<Library> Load(const std::filesystem::path& path);
  Status Save(const std::filesystem::path& path) const;  // atomic write, pretty JSON

  // Applies operations whose ids refer to the library as it is now, then renumbers G0..Gn-1.
  // UPDATE of an unknown id becomes an ADD; DELETE of an unknown id is ignored; empty content
  // is skipped for ADD/UPDATE. Written experiences get `step` and the op's group.
  void Apply(const std::vector<Operation>& ops, int step);

 private:
  std::vector<Experience> items_;
};

// `base` followed by a blank line, the heading and the rendered lines; `base` alone when the
// library is empty; heading and lines alone when `base` is empty. Byte-stable.
std::string AppendLibrary(std::string_view base, const Library& library);

// The experiences inside <Experiences>...</Experiences> (any letter case): each numbered item
// ("1. ...", continuation lines joined) is one experience; at most `max_items`.
// Error when the tags are missing or hold no numbered item.
Result<std::vector<std::string>> ParseExperiences(std::string_view reply, int max_items);

// A JSON array of {"operation","id","content"}: from the last ```json fenced block if any,
// else the first top-level JSON array in the text. Error when none parses or an item is invalid.
Result<std::vector<Operation>> ParseOperations(std::string_view reply);

}  // namespace tfgrpo
