#include "tfgrpo/library.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "tfgrpo/json.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "G3", "g3", " [G3] ", "(G3)", "3" -> 3. Anything else is not an id.
std::optional<size_t> ParseExperienceIndex(std::string_view raw) {
  std::string id = Trim(raw);
  while (!id.empty() && (id.back() == '.' || id.back() == ':')) id.pop_back();
  while (id.size() >= 2 && ((id.front() == '[' && id.back() == ']') || (id.front() == '(' && id.back() == ')'))) {
    id = Trim(std::string_view(id).substr(1, id.size() - 2));
  }
  std::string_view v = id;
  if (!v.empty() && (v.front() == 'G' || v.front() == 'g')) v.remove_prefix(1);
  if (v.empty() || v.size() > 9) return std::nullopt;
  size_t n = 0;
  for (char c : v) {
    if (!IsDigit(c)) return std::nullopt;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  return n;
}

// Experiences are rendered one per line, so a line break inside one would break the numbering
// the learner reads back: whitespace runs that contain a newline become one space.
std::string CleanExperienceText(std::string_view content) {
  std::string trimmed = Trim(content);
  std::string out;
  out.reserve(trimmed.size());
  for (size_t i = 0; i < trimmed.size();) {
    if (!std::isspace(static_cast<unsigned char>(trimmed[i]))) {
      out += trimmed[i++];
      continue;
    }
    size_t j = i;
    bool has_newline = false;
    while (j < trimmed.size() && std::isspace(static_cast<unsigned char>(trimmed[j]))) {
      has_newline |= trimmed[j] == '\n' || trimmed[j] == '\r';
      ++j;
    }
    if (has_newline) {
      out += ' ';
    } else {
      out.append(trimmed, i, j - i);
    }
    i = j;
  }
  return out;
}

}  // namespace

std::optional<size_t> ExperienceIndex(std::string_view id) { return ParseExperienceIndex(id); }

std::string_view OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kAdd: return "ADD";
    case OpKind::kUpdate: return "UPDATE";
    case OpKind::kDelete: return "DELETE";
    case OpKind::kNone: return "NONE";
  }
  return "NONE";
}

json OperationsToJson(const std::vector<Operation>& ops) {
  json out = json::array();
  for (const Operation& op : ops) {
    json item = json::object();
    item["operation"] = std::string(OpKindName(op.kind));
    item["id"] = op.id ? json(*op.id) : json(nullptr);
    item["content"] = op.content;
    out.push_back(std::move(item));
  }
  return out;
}

// ---- Library --------------------------------------------------------------------------------

Library::Library(std::vector<Experience> items) : items_(std::move(items)) {
  for (const Experience& e : items_) next_uid_ = std::max(next_uid_, e.uid + 1);
  for (Experience& e : items_)
    if (e.uid == 0) AssignUid(e);
}

uint64_t Library::AssignUid(Experience& e) {
  e.uid = next_uid_++;
  return e.uid;
}

std::string Library::RenderLines() const {
  std::string out;
  for (size_t i = 0; i < items_.size(); ++i) {
    if (i) out += '\n';
    out += "[G" + std::to_string(i) + "]. " + items_[i].text;
  }
  return out;
}

std::string Library::RenderLinesWithCredit() const {
  std::string out;
  for (size_t i = 0; i < items_.size(); ++i) {
    if (i) out += '\n';
    out += "[G" + std::to_string(i) + "]. " + items_[i].text + " (helpful=" + std::to_string(items_[i].helpful) +
           " harmful=" + std::to_string(items_[i].harmful) + ")";
  }
  return out;
}

void Library::AddCredit(size_t index, bool helpful) {
  if (index >= items_.size()) return;
  ++(helpful ? items_[index].helpful : items_[index].harmful);
}

std::vector<Experience> Library::EvictOverCap(size_t max_items) {
  std::vector<Experience> evicted;
  if (max_items == 0) return evicted;
  while (items_.size() > max_items) {
    auto worse = [](const Experience& a, const Experience& b) {
      const int64_t sa = a.helpful - a.harmful, sb = b.helpful - b.harmful;
      if (sa != sb) return sa < sb;
      if (a.created_step != b.created_step) return a.created_step < b.created_step;
      return a.uid < b.uid;
    };
    auto victim = std::min_element(items_.begin(), items_.end(), worse);
    evicted.push_back(std::move(*victim));
    items_.erase(victim);
  }
  return evicted;
}

json Library::ToJson() const {
  // nlohmann::json objects iterate keys lexically ("G10" before "G2"); readers must order by
  // number (FromJson does), and Save writes the file in numeric order.
  json out = json::object();
  for (size_t i = 0; i < items_.size(); ++i) out["G" + std::to_string(i)] = items_[i].text;
  return out;
}

namespace {

// Artifact steps count from 1 (0 = before training); in memory they are 0-based (-1 = before).
int ArtifactStep(int step) { return step < 0 ? 0 : step + 1; }
int StepFromArtifact(int64_t n) { return n <= 0 ? -1 : static_cast<int>(n - 1); }

Result<Library> FromArtifactJson(const json& j) {
  auto format = j.find("format");
  if (!format->is_string() || format->get<std::string>() != kLibraryFormat) {
    return Status::InvalidArgument("\"format\": expected \"" + std::string(kLibraryFormat) + "\", got " +
                                   format->dump());
  }
  auto list = j.find("experiences");
  if (list == j.end() || !list->is_array())
    return Status::InvalidArgument("\"experiences\": expected an array of experience objects");
  std::vector<Experience> items;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& item = (*list)[i];
    const std::string where = "experiences[" + std::to_string(i) + "]";
    if (!item.is_object()) return Status::InvalidArgument(where + ": expected an object, got " + item.type_name());
    auto text = item.find("text");
    if (text == item.end() || !text->is_string())
      return Status::InvalidArgument(where + ": \"text\" must be a string");
    Experience e;
    e.text = text->get<std::string>();
    auto integer = [&](const char* key, int64_t* out) -> Status {
      auto it = item.find(key);
      if (it == item.end() || it->is_null()) return Status::Ok();
      if (!it->is_number_integer() && !it->is_number_unsigned())
        return Status::InvalidArgument(where + ": \"" + key + "\" must be an integer, got " + it->type_name());
      *out = it->get<int64_t>();
      if (*out < 0) return Status::InvalidArgument(where + ": \"" + key + "\" must not be negative");
      return Status::Ok();
    };
    int64_t created = 0, updated = 0, uid = 0;
    for (auto [key, out] : {std::pair{"helpful", &e.helpful}, std::pair{"harmful", &e.harmful},
                            std::pair{"created_step", &created}, std::pair{"updated_step", &updated},
                            std::pair{"uid", &uid}}) {
      Status s = integer(key, out);
      if (!s.ok()) return s;
    }
    e.created_step = StepFromArtifact(created);
    e.step = StepFromArtifact(updated);
    e.uid = static_cast<uint64_t>(uid);
    auto origin = item.find("origin_task");
    if (origin != item.end() && origin->is_string()) e.origin_task = e.group = origin->get<std::string>();
    items.push_back(std::move(e));
  }
  // Uids must stay unique: a file edited by hand may repeat or drop them.
  std::vector<uint64_t> seen;
  for (Experience& e : items) {
    if (e.uid != 0 && std::find(seen.begin(), seen.end(), e.uid) != seen.end()) e.uid = 0;
    if (e.uid != 0) seen.push_back(e.uid);
  }
  return Library(std::move(items));
}

}  // namespace

json Library::ToArtifactJson(const json& provenance) const {
  json list = json::array();
  for (size_t i = 0; i < items_.size(); ++i) {
    const Experience& e = items_[i];
    list.push_back({{"id", "G" + std::to_string(i)},
                    {"text", e.text},
                    {"helpful", e.helpful},
                    {"harmful", e.harmful},
                    {"created_step", ArtifactStep(e.created_step)},
                    {"updated_step", ArtifactStep(e.step)},
                    {"origin_task", e.origin_task},
                    {"uid", e.uid}});
  }
  return {{"format", kLibraryFormat}, {"provenance", provenance.is_object() ? provenance : json::object()},
          {"experiences", std::move(list)}};
}

json Library::ProvenanceOf(const json& j) {
  if (j.is_object() && j.contains("format") && j.contains("provenance") && j["provenance"].is_object())
    return j["provenance"];
  return json::object();
}

Status Library::SaveArtifact(const std::filesystem::path& path, const json& provenance) const {
  Status s = WriteFileAtomic(
      path, ToArtifactJson(provenance).dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  if (!s.ok()) return s.WithContext("saving library artifact");
  return s;
}

Result<Library> Library::FromJson(const json& j) {
  std::vector<Experience> items;
  if (j.is_object() && j.contains("format")) return FromArtifactJson(j);
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_string()) {
        return Status::InvalidArgument("experience " + std::to_string(i) + ": expected a string, got " +
                                       j[i].type_name());
      }
      items.push_back(Experience{j[i].get<std::string>(), -1, ""});
    }
    return Library(std::move(items));
  }
  if (!j.is_object()) {
    return Status::InvalidArgument(std::string("expected an object {\"G0\": \"...\"} or an array of strings, got ") +
                                   j.type_name());
  }
  std::map<size_t, std::string> by_number;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    bool well_formed = key.size() >= 2 && key.size() <= 10 && key[0] == 'G' &&
                       std::all_of(key.begin() + 1, key.end(), IsDigit);
    if (!well_formed) {
      return Status::InvalidArgument("key '" + key + "': expected G followed by a number (G0, G1, ...)");
    }
    if (!it.value().is_string()) {
      return Status::InvalidArgument("key '" + key + "': expected a string, got " + it.value().type_name());
    }
    size_t n = std::stoul(key.substr(1));
    if (!by_number.emplace(n, it.value().get<std::string>()).second) {
      return Status::InvalidArgument("key '" + key + "': experience number " + std::to_string(n) +
                                     " appears twice");
    }
  }
  for (auto& [n, text] : by_number) items.push_back(Experience{std::move(text), -1, ""});
  return Library(std::move(items));
}

Result<Library> Library::Load(const std::filesystem::path& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  if (JsonNestingDepth(*text) > kMaxJsonDepth)
    return Status::InvalidArgument(path.string() + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                                   " levels");
  json j;
  try {
    j = json::parse(*text);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(path.string() + ": not valid JSON: " + e.what());
  }
  Result<Library> lib = FromJson(j);
  if (!lib.ok()) return lib.status().WithContext(path.string());
  return lib;
}

std::string Library::ToJsonText() const {
  // Written by hand rather than via ToJson().dump() so keys stay in numeric order (G2 before
  // G10) in the file a person reads; each value is escaped by nlohmann.
  std::string out;
  if (items_.empty()) {
    out = "{}\n";
  } else {
    out = "{\n";
    for (size_t i = 0; i < items_.size(); ++i) {
      out += "  \"G" + std::to_string(i) + "\": " +
             json(items_[i].text).dump(-1, ' ', false, json::error_handler_t::replace);
      out += i + 1 < items_.size() ? ",\n" : "\n";
    }
    out += "}\n";
  }
  return out;
}

Status Library::Save(const std::filesystem::path& path) const {
  Status s = WriteFileAtomic(path, ToJsonText());
  if (!s.ok()) return s.WithContext("saving experience library");
  return s;
}

// UPDATE, DELETE and ADD are resolved against the library as it was before the call, so a
// DELETE of G1 does not shift what "G2" means for a later operation in the same list. An UPDATE
// of an item an earlier operation deleted is ignored: the deletion was a decision about that
// item, and resurrecting it under new text would silently undo it.
void Library::Apply(const std::vector<Operation>& ops, int step) {
  std::vector<bool> deleted(items_.size(), false);
  std::vector<Experience> added;
  constexpr size_t kNoItem = static_cast<size_t>(-1);
  for (const Operation& op : ops) {
    size_t index = kNoItem;
    if (op.id) {
      std::optional<size_t> parsed = ParseExperienceIndex(*op.id);
      if (parsed && *parsed < items_.size()) index = *parsed;
    }
    switch (op.kind) {
      case OpKind::kNone:
        break;
      case OpKind::kDelete:
        if (index != kNoItem) deleted[index] = true;
        break;
      case OpKind::kUpdate:
      case OpKind::kAdd: {
        std::string text = CleanExperienceText(op.content);
        if (text.empty()) break;
        if (op.kind == OpKind::kUpdate && index != kNoItem) {
          if (deleted[index]) break;
          Experience& e = items_[index];
          e.text = std::move(text);
          e.step = step;
          e.group = op.group;
        } else {
          Experience e{std::move(text), step, op.group};
          e.created_step = step;
          e.origin_task = op.group;
          AssignUid(e);
          added.push_back(std::move(e));
        }
        break;
      }
    }
  }
  std::vector<Experience> next;
  next.reserve(items_.size() + added.size());
  for (size_t i = 0; i < items_.size(); ++i) {
    if (!deleted[i]) next.push_back(std::move(items_[i]));
  }
  for (Experience& e : added) next.push_back(std::move(e));
  items_ = std::move(next);
}

namespace {

// `base`, a blank line, the heading and `lines` (see AppendLibrary).
std::string AppendRenderedLines(std::string_view base, std::string_view lines) {
  if (lines.empty()) return std::string(base);
  std::string out;
  if (!base.empty()) {
    out.append(base);
    out += "\n\n";
  }
  out += kLibraryHeading;
  out += '\n';
  out += lines;
  return out;
}

}  // namespace

std::string AppendLibrary(std::string_view base, const Library& library) {
  return AppendRenderedLines(base, library.RenderLines());
}

std::string AppendLibrary(std::string_view base, const Library& library, const std::vector<size_t>& positions) {
  std::string lines;
  for (size_t i : positions) {
    if (i >= library.size()) continue;
    if (!lines.empty()) lines += '\n';
    lines += "[G" + std::to_string(i) + "]. " + library.items()[i].text;
  }
  return AppendRenderedLines(base, lines);
}

}  // namespace tfgrpo
