#include "tfgrpo/learner.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

#include <nlohmann/json.hpp>

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

// A reward as the prompts show it: "1", "0.5", "0.25".
std::string FormatReward(double r) {
  std::ostringstream ss;
  ss << r;
  return ss.str();
}

std::optional<size_t> PositionOf(const Library& library, uint64_t uid) {
  for (size_t i = 0; i < library.size(); ++i)
    if (library.items()[i].uid == uid) return i;
  return std::nullopt;
}

// The group an operation of a consolidation reply came from: the first proposal its "from" names
// ("P3" is the third in the prompt), else the proposal with the very same text; "" when neither
// (origin unknown).
std::string OriginGroup(const Operation& op, const std::vector<BatchUpdateStage::Proposal>& numbered) {
  for (const std::string& p : op.from) {
    if (p.size() < 2 || (p[0] != 'P' && p[0] != 'p')) continue;
    size_t n = 0;
    auto [end, ec] = std::from_chars(p.data() + 1, p.data() + p.size(), n);
    if (ec == std::errc() && end == p.data() + p.size() && n >= 1 && n <= numbered.size())
      return numbered[n - 1].op.group;
  }
  for (const BatchUpdateStage::Proposal& p : numbered)
    if (Trim(p.op.content) == Trim(op.content)) return p.op.group;
  return "";
}

}  // namespace

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

// ---- Stages -------------------------------------------------------------------------------------

PromptVars SummaryStage::Vars(const Input& in) {
  const bool gt = in.given_ground_truth;
  return {{"problem", in.problem},
          {"library", in.library},
          {"trajectory", in.trajectory},
          {"ground_truth", gt ? in.ground_truth : ""},
          {"reward", gt ? FormatReward(in.reward) : ""},
          {"critique", gt ? in.critique : ""},
          {"agent_objective", in.agent_objective}};
}

std::vector<size_t> SummaryStage::Parse(std::string_view reply, size_t library_size) {
  return ReferencedExperiences(reply, library_size);
}

PromptVars AdvantageStage::Vars(const Input& in) {
  const bool gt = in.given_ground_truth;
  std::string summaries;
  int n = 0;
  for (const Summary& s : in.summaries) {
    summaries += "### Attempt " + std::to_string(++n);
    if (gt) summaries += " (reward " + FormatReward(s.reward) + ")";
    summaries += "\n" + Trim(s.text) + "\n\n";
  }
  return {{"problem", in.problem},
          {"library", in.library},
          {"ground_truth", gt ? in.ground_truth : ""},
          {"summaries", Trim(summaries)},
          {"max_experiences", std::to_string(in.max_experiences)},
          {"agent_objective", in.agent_objective},
          {"learning_objective", in.learning_objective}};
}

Result<std::vector<std::string>> AdvantageStage::Parse(std::string_view reply, int max_experiences) {
  return ParseExperiences(reply, max_experiences);
}

PromptVars GroupUpdateStage::Vars(const Input& in) {
  std::string numbered;
  for (size_t i = 0; i < in.experiences.size(); ++i)
    numbered += std::to_string(i + 1) + ". " + in.experiences[i] + "\n";
  return {{"library", in.library},
          {"experiences", Trim(numbered)},
          {"agent_objective", in.agent_objective},
          {"learning_objective", in.learning_objective}};
}

Result<std::vector<Operation>> GroupUpdateStage::Parse(std::string_view reply, const std::string& group) {
  auto ops = ParseOperations(reply);
  if (!ops.ok()) return ops;
  for (Operation& op : *ops) op.group = group;
  return ops;
}

BatchUpdateStage::Prompt BatchUpdateStage::Build(Input in) {
  static const Library kEmpty;
  const Library& library = in.library ? *in.library : kEmpty;
  // Aim each proposal at where its target is now; an UPDATE of an experience an earlier chunk
  // deleted is offered as new, a DELETE of it has nothing left to do.
  std::vector<std::vector<Proposal>> aimed(library.size());
  std::vector<Proposal> adds;
  for (Proposal& p : in.proposals) {
    std::optional<size_t> at = p.target ? PositionOf(library, *p.target) : std::nullopt;
    if (p.op.kind == OpKind::kAdd || !at) {
      if (p.op.kind == OpKind::kDelete) continue;
      p.op.kind = OpKind::kAdd;
      p.op.id.reset();
      adds.push_back(std::move(p));
    } else {
      p.op.id = "G" + std::to_string(*at);
      aimed[*at].push_back(std::move(p));
    }
  }
  // Numbered P1..Pn in prompt order: each experience's proposals beside it, then the new ones.
  Prompt prompt;
  std::vector<Proposal>& numbered = prompt.numbered;
  std::string library_text;
  for (size_t i = 0; i < library.size(); ++i) {
    const Experience& e = library.items()[i];
    if (i) library_text += '\n';
    // As Library::RenderLinesWithCredit() renders it, one experience at a time.
    library_text += "[G" + std::to_string(i) + "]. " + e.text + " (helpful=" + std::to_string(e.helpful) +
                    " harmful=" + std::to_string(e.harmful) + ")";
    std::string aimed_at;
    for (Proposal& p : aimed[i]) {
      numbered.push_back(std::move(p));
      aimed_at += (aimed_at.empty() ? "" : ", ") + ("P" + std::to_string(numbered.size())) + " " +
                  std::string(OpKindName(numbered.back().op.kind));
    }
    if (!aimed_at.empty()) library_text += "\n    proposals aimed at it: " + aimed_at;
  }
  for (Proposal& p : adds) numbered.push_back(std::move(p));
  if (numbered.empty()) return prompt;
  json listed = json::array();
  for (size_t i = 0; i < numbered.size(); ++i) {
    const Operation& op = numbered[i].op;
    listed.push_back({{"proposal", "P" + std::to_string(i + 1)},
                      {"operation", std::string(OpKindName(op.kind))},
                      {"id", op.id ? json(*op.id) : json(nullptr)},
                      {"content", op.content}});
  }
  prompt.vars = {{"library", library.empty() ? "(empty)" : library_text},
                 {"operations", listed.dump(2)},
                 {"max_library", in.max_library > 0 ? std::to_string(in.max_library) : ""},
                 {"agent_objective", in.agent_objective},
                 {"learning_objective", in.learning_objective}};
  return prompt;
}

Result<std::vector<Operation>> BatchUpdateStage::Parse(std::string_view reply, const std::vector<Proposal>& numbered) {
  auto ops = ParseOperations(reply);
  if (!ops.ok()) return ops;
  for (Operation& op : *ops) op.group = OriginGroup(op, numbered);
  return ops;
}

}  // namespace tfgrpo
