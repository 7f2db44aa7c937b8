#include "tfgrpo/library.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "tfgrpo/json.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

// A short, single-line excerpt of a reply for error messages: whitespace runs become one space,
// and a long reply is cut after at most `max_bytes` bytes, never inside a UTF-8 character.
std::string Quote(std::string_view text, size_t max_bytes = 80) {
  std::string out;
  bool pending_space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
    if (out.size() > max_bytes) {
      out.resize(Utf8Prefix(out, max_bytes).size());
      out += "...";
      break;
    }
  }
  return "'" + out + "'";
}

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

size_t FindCaseInsensitive(std::string_view hay, std::string_view needle, size_t from) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    bool match = true;
    for (size_t k = 0; k < needle.size() && match; ++k) {
      match = std::tolower(static_cast<unsigned char>(hay[i + k])) ==
              std::tolower(static_cast<unsigned char>(needle[k]));
    }
    if (match) return i;
  }
  return std::string_view::npos;
}

bool ConsumeEmphasis(std::string_view line, size_t& i) {
  if (line.compare(i, 2, "**") == 0 || line.compare(i, 2, "__") == 0) {
    i += 2;
    return true;
  }
  return false;
}

// "1. text", "1) text", "  **1.** text", "**1. text**" -> true and the text after the number.
bool ParseNumberedLine(std::string_view line, std::string* rest) {
  size_t i = 0;
  while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
  bool opened = ConsumeEmphasis(line, i);
  size_t digits = 0;
  while (i < line.size() && IsDigit(line[i]) && digits < 4) ++i, ++digits;
  if (digits == 0 || (i < line.size() && IsDigit(line[i]))) return false;
  bool closed = opened && ConsumeEmphasis(line, i);
  if (i >= line.size() || (line[i] != '.' && line[i] != ')')) return false;
  ++i;
  if (opened && !closed) closed = ConsumeEmphasis(line, i);
  if (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) return false;
  std::string text = Trim(line.substr(i));
  // "**1. Title** more": the bold opened before the number closes inside the text.
  if (opened && !closed) {
    size_t close = text.find("**");
    if (close == std::string::npos) close = text.find("__");
    if (close != std::string::npos) text = Trim(text.erase(close, 2));
  }
  *rest = std::move(text);
  return true;
}

std::vector<std::string> NumberedItems(std::string_view block) {
  std::vector<std::string> items;
  bool in_item = false;
  for (const std::string& line : SplitLines(block)) {
    std::string text;
    if (ParseNumberedLine(line, &text)) {
      items.push_back(std::move(text));
      in_item = true;
      continue;
    }
    std::string cont = Trim(line);
    if (!in_item || cont.empty()) continue;  // prose before the first item, or a blank line
    std::string& cur = items.back();
    if (!cur.empty()) cur += ' ';
    cur += cont;
  }
  items.erase(std::remove_if(items.begin(), items.end(), [](const std::string& s) { return s.empty(); }),
              items.end());
  return items;
}

// ---- JSON scanning -------------------------------------------------------------------------

struct FencedBlock {
  std::string lang;  // lower-cased info string
  std::string_view content;
  bool closed = true;
};

std::vector<FencedBlock> FencedBlocks(std::string_view text) {
  std::vector<FencedBlock> blocks;
  size_t pos = 0;
  while ((pos = text.find("```", pos)) != std::string_view::npos) {
    size_t info_start = pos + 3;
    size_t eol = text.find('\n', info_start);
    FencedBlock b;
    if (eol == std::string_view::npos) {
      b.lang = ToLower(Trim(text.substr(info_start)));
      b.content = {};
      b.closed = false;
      blocks.push_back(b);
      break;
    }
    b.lang = ToLower(Trim(text.substr(info_start, eol - info_start)));
    size_t close = text.find("```", eol + 1);
    if (close == std::string_view::npos) {
      b.content = text.substr(eol + 1);
      b.closed = false;
      blocks.push_back(b);
      break;
    }
    b.content = text.substr(eol + 1, close - eol - 1);
    blocks.push_back(b);
    pos = close + 3;
  }
  return blocks;
}

// End (one past the closing ']') of the bracket span opened at `open`, honouring JSON strings;
// npos when it never closes or nests deeper than kMaxJsonDepth (such a span could not be parsed,
// and giving up there keeps the scan over every '[' of a reply linear rather than quadratic).
size_t BalancedArrayEnd(std::string_view text, size_t open) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = open; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[') {
      if (++depth > kMaxJsonDepth) return std::string_view::npos;
    } else if (c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

// LLMs often leave a comma before a closing bracket; JSON does not allow it.
std::string DropTrailingCommas(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == ',') {
      size_t j = i + 1;
      while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
      if (j < text.size() && (text[j] == ']' || text[j] == '}')) continue;
    }
    out += c;
  }
  return out;
}

// Parses `text` as JSON (tolerating trailing commas); on failure returns nullopt and the parser's
// message in `error`.
std::optional<json> TryParseJson(std::string_view text, std::string* error) {
  // The learner's reply is text from outside the process: a value nested thousands deep would
  // overflow the stack in the recursive copies and walks below.
  if (JsonNestingDepth(text) > kMaxJsonDepth) {
    if (error) *error = "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return std::nullopt;
  }
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    if (error) *error = e.what();
  }
  try {
    return json::parse(DropTrailingCommas(text));
  } catch (const json::exception&) {
  }
  return std::nullopt;
}

// The operation items inside a parsed value: the array itself or {"operations": [...]}.
Result<json> OperationArray(const json& j) {
  if (j.is_array()) return j;
  if (j.is_object()) {
    auto it = j.find("operations");
    if (it != j.end() && it->is_array()) return *it;
    return Status::InvalidArgument("expected a JSON array of operations (or {\"operations\": [...]}), got an object");
  }
  return Status::InvalidArgument(std::string("expected a JSON array of operations, got ") + j.type_name());
}

// The first span of `text` that parses as a JSON array of objects (or an empty array). When
// only arrays of something else are found, the first of them is returned so its items get
// reported as invalid.
std::optional<json> FirstJsonArray(std::string_view text) {
  std::optional<json> other;
  for (size_t open = text.find('['); open != std::string_view::npos; open = text.find('[', open + 1)) {
    size_t end = BalancedArrayEnd(text, open);
    if (end == std::string_view::npos) continue;
    std::optional<json> j = TryParseJson(text.substr(open, end - open), nullptr);
    if (!j || !j->is_array()) continue;
    if (j->empty() || (*j)[0].is_object()) return j;
    if (!other) other = std::move(j);
  }
  return other;
}

Result<std::vector<Operation>> OperationsFromJson(const json& value) {
  Result<json> array = OperationArray(value);
  if (!array.ok()) return array.status();
  std::vector<Operation> ops;
  for (size_t i = 0; i < array->size(); ++i) {
    const json& item = (*array)[i];
    std::string where = "item " + std::to_string(i + 1) + ": ";
    if (!item.is_object()) {
      return Status::InvalidArgument(where + "expected an object, got " + item.type_name());
    }
    Operation op;
    auto kind = item.find("operation");
    if (kind == item.end()) return Status::InvalidArgument(where + "missing \"operation\"");
    if (!kind->is_string()) {
      return Status::InvalidArgument(where + "\"operation\" must be a string, got " + kind->type_name());
    }
    std::string name = ToLower(Trim(kind->get<std::string>()));
    if (name == "add") {
      op.kind = OpKind::kAdd;
    } else if (name == "update") {
      op.kind = OpKind::kUpdate;
    } else if (name == "delete") {
      op.kind = OpKind::kDelete;
    } else if (name == "none") {
      op.kind = OpKind::kNone;
    } else {
      return Status::InvalidArgument(where + "unknown operation '" + kind->get<std::string>() +
                                     "' (expected ADD, UPDATE, DELETE or NONE)");
    }
    auto id = item.find("id");
    if (id != item.end() && !id->is_null()) {
      if (id->is_string()) {
        std::string s = Trim(id->get<std::string>());
        if (!s.empty()) op.id = std::move(s);
      } else if (id->is_number_integer() || id->is_number_unsigned()) {
        op.id = "G" + id->dump();
      } else {
        return Status::InvalidArgument(where + "\"id\" must be a string, a number or null, got " + id->type_name());
      }
    }
    auto content = item.find("content");
    if (content != item.end() && !content->is_null()) {
      if (!content->is_string()) {
        return Status::InvalidArgument(where + "\"content\" must be a string, got " + content->type_name());
      }
      op.content = content->get<std::string>();
    }
    // Provenance is a courtesy of the reply: one that gives none, or gives it malformed, still applies.
    if (auto from = item.find("from"); from != item.end() && from->is_array()) {
      for (const json& p : *from)
        if (p.is_string()) op.from.push_back(Trim(p.get<std::string>()));
    }
    ops.push_back(std::move(op));
  }
  return ops;
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

std::vector<size_t> ReferencedExperiences(std::string_view text, size_t library_size) {
  std::vector<size_t> found;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != 'G' && text[i] != 'g') continue;
    // A word of its own: "G3", "[G3]", "(G3)", "G3," but not "MG3" or "G3x".
    if (i > 0 && std::isalnum(static_cast<unsigned char>(text[i - 1]))) continue;
    size_t j = i + 1;
    size_t n = 0;
    while (j < text.size() && IsDigit(text[j]) && j - i <= 9) n = n * 10 + static_cast<size_t>(text[j++] - '0');
    if (j == i + 1) continue;
    if (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) continue;
    if (n < library_size && std::find(found.begin(), found.end(), n) == found.end()) found.push_back(n);
    i = j - 1;
  }
  return found;
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

// ---- Parsers for learner replies --------------------------------------------------------------

Result<std::vector<std::string>> ParseExperiences(std::string_view reply, int max_items) {
  static constexpr std::string_view kOpen = "<experiences>";
  static constexpr std::string_view kClose = "</experiences>";
  size_t last_open = std::string_view::npos;
  for (size_t p = FindCaseInsensitive(reply, kOpen, 0); p != std::string_view::npos;
       p = FindCaseInsensitive(reply, kOpen, p + 1)) {
    last_open = p;
  }
  if (last_open == std::string_view::npos) {
    return Status::InvalidArgument("reply has no <Experiences> block: " + Quote(reply));
  }
  auto block_from = [&](size_t open) {
    size_t start = open + kOpen.size();
    size_t close = FindCaseInsensitive(reply, kClose, start);
    return reply.substr(start, close == std::string_view::npos ? std::string_view::npos : close - start);
  };
  std::vector<std::string> items = NumberedItems(block_from(last_open));
  if (items.empty()) {
    // The last opening tag may only be mentioned in prose after the real block ("the
    // <Experiences> above ..."): fall back to the last block that is properly closed.
    size_t last_close = std::string_view::npos;
    for (size_t p = FindCaseInsensitive(reply, kClose, 0); p != std::string_view::npos;
         p = FindCaseInsensitive(reply, kClose, p + 1)) {
      last_close = p;
    }
    if (last_close != std::string_view::npos && last_close < last_open) {
      size_t open = std::string_view::npos;
      for (size_t p = FindCaseInsensitive(reply, kOpen, 0); p != std::string_view::npos && p < last_close;
           p = FindCaseInsensitive(reply, kOpen, p + 1)) {
        open = p;
      }
      if (open != std::string_view::npos) items = NumberedItems(block_from(open));
    }
  }
  if (items.empty()) {
    return Status::InvalidArgument("<Experiences> block holds no numbered item (\"1. ...\"): " +
                                   Quote(block_from(last_open)));
  }
  // A non-positive cap means no cap.
  if (max_items > 0 && items.size() > static_cast<size_t>(max_items)) items.resize(max_items);
  return items;
}

Result<std::vector<Operation>> ParseOperations(std::string_view reply) {
  std::vector<FencedBlock> blocks = FencedBlocks(reply);
  const FencedBlock* chosen = nullptr;
  for (const FencedBlock& b : blocks) {
    std::string head = Trim(b.content.substr(0, std::min<size_t>(b.content.size(), 64)));
    bool bare_json = b.lang.empty() && !head.empty() && (head[0] == '[' || head[0] == '{');
    if (StartsWith(b.lang, "json") || bare_json) chosen = &b;
  }
  if (chosen) {
    std::string error;
    std::optional<json> j = TryParseJson(chosen->content, &error);
    if (!j) j = FirstJsonArray(chosen->content);  // prose or a comment around the array
    if (!j) {
      std::string why = chosen->closed ? "" : " (the block is never closed: reply truncated?)";
      return Status::InvalidArgument("```json block is not valid JSON" + why + ": " + error + "; block: " +
                                     Quote(chosen->content));
    }
    return OperationsFromJson(*j);
  }
  std::optional<json> j = FirstJsonArray(reply);
  if (!j) return Status::InvalidArgument("no JSON array found in reply: " + Quote(reply));
  return OperationsFromJson(*j);
}

}  // namespace tfgrpo
