#include "tfgrpo/prompts.h"

#include <algorithm>

#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

// Finds the end of a section opened at `from` ("{{#name}}" or "{{^name}}"), honouring nesting.
size_t FindSectionEnd(const std::string& t, size_t from, const std::string& name, size_t* close_len) {
  const std::string open_a = "{{#" + name + "}}", open_b = "{{^" + name + "}}", close = "{{/" + name + "}}";
  int depth = 1;
  size_t pos = from;
  while (true) {
    size_t c = t.find(close, pos);
    if (c == std::string::npos) return std::string::npos;
    size_t a = t.find(open_a, pos), b = t.find(open_b, pos);
    size_t o = std::min(a, b);
    if (o < c) {
      ++depth;
      pos = o + open_a.size();
      continue;
    }
    if (--depth == 0) {
      *close_len = close.size();
      return c;
    }
    pos = c + close.size();
  }
}

// A section tag alone on its line takes the line's newline with it, so optional blocks do not
// leave blank lines behind.
size_t SkipNewlineAfterTag(const std::string& t, size_t tag_start, size_t tag_end) {
  bool line_start = tag_start == 0 || t[tag_start - 1] == '\n';
  if (line_start && tag_end < t.size() && t[tag_end] == '\n') return tag_end + 1;
  return tag_end;
}

Status RenderInto(const std::string& t, const PromptVars& vars, std::string& out) {
  size_t pos = 0;
  while (pos < t.size()) {
    size_t open = t.find("{{", pos);
    if (open == std::string::npos) {
      out.append(t, pos, std::string::npos);
      break;
    }
    out.append(t, pos, open - pos);
    size_t close = t.find("}}", open);
    if (close == std::string::npos) return Status::InvalidArgument("unclosed '{{' in prompt template");
    std::string tag = t.substr(open + 2, close - open - 2);
    size_t tag_end = close + 2;
    if (!tag.empty() && (tag[0] == '#' || tag[0] == '^')) {
      std::string name = tag.substr(1);
      auto it = vars.find(name);
      if (it == vars.end()) return Status::InvalidArgument("prompt template uses unknown variable '" + name + "'");
      size_t close_len = 0;
      size_t body_start = SkipNewlineAfterTag(t, open, tag_end);
      size_t end = FindSectionEnd(t, body_start, name, &close_len);
      if (end == std::string::npos) return Status::InvalidArgument("section '" + name + "' is never closed");
      bool keep = (tag[0] == '#') == !it->second.empty();
      if (keep) {
        Status s = RenderInto(t.substr(body_start, end - body_start), vars, out);
        if (!s.ok()) return s;
      }
      pos = SkipNewlineAfterTag(t, end, end + close_len);
      continue;
    }
    std::string name = Trim(tag);
    auto it = vars.find(name);
    if (it == vars.end()) return Status::InvalidArgument("prompt template uses unknown variable '" + name + "'");
    out += it->second;
    pos = tag_end;
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> RenderTemplate(const std::string& tmpl, const PromptVars& vars) {
  std::string out;
  Status s = RenderInto(tmpl, vars, out);
  if (!s.ok()) return s;
  return out;
}

Result<PromptSet> PromptSet::Load(const std::optional<std::filesystem::path>& override_dir) {
  PromptSet set;
  set.templates_ = BuiltinPrompts();
  if (override_dir) {
    if (!std::filesystem::is_directory(*override_dir))
      return Status::InvalidArgument("--prompts " + override_dir->string() + " is not a directory");
    for (auto& [name, text] : set.templates_) {
      auto path = *override_dir / (name + ".txt");
      if (!std::filesystem::exists(path)) continue;
      auto content = ReadFile(path);
      if (!content.ok()) return content.status();
      text = *content;
      set.overridden_[name] = path.string();
    }
  }
  return set;
}

const std::string* PromptSet::Find(const std::string& name) const {
  auto it = templates_.find(name);
  return it == templates_.end() ? nullptr : &it->second;
}

Result<std::string> PromptSet::Render(const std::string& name, const PromptVars& vars) const {
  const std::string* t = Find(name);
  if (!t) return Status::NotFound("no prompt template named '" + name + "'");
  auto r = RenderTemplate(*t, vars);
  if (!r.ok()) return r.status().WithContext("prompt '" + name + "'");
  return r;
}

std::string PromptSet::SourceOf(const std::string& name) const {
  auto it = overridden_.find(name);
  return it != overridden_.end() ? it->second + " (--prompts)" : "built-in " + name + ".txt";
}

Status PromptSet::Check(const std::string& name, const std::vector<std::string>& known,
                        const std::vector<std::string>& required) const {
  const std::string* t = Find(name);
  if (!t) return Status::NotFound("no prompt template named '" + name + "'");
  auto listed = [](const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  std::vector<std::string> used;
  for (size_t open = t->find("{{"); open != std::string::npos; open = t->find("{{", open + 2)) {
    const size_t close = t->find("}}", open);
    if (close == std::string::npos)
      return Status::InvalidArgument(SourceOf(name) + ": unclosed '{{' in prompt '" + name + "'");
    std::string tag = Trim(std::string_view(*t).substr(open + 2, close - open - 2));
    if (!tag.empty() && (tag[0] == '#' || tag[0] == '^' || tag[0] == '/')) tag = Trim(std::string_view(tag).substr(1));
    if (std::find(known.begin(), known.end(), tag) == known.end()) {
      return Status::InvalidArgument(SourceOf(name) + ": prompt '" + name + "' uses unknown variable '" + tag +
                                     "' (it is given: " + listed(known) + ")");
    }
    used.push_back(tag);
  }
  for (const std::string& r : required) {
    if (std::find(used.begin(), used.end(), r) == used.end()) {
      return Status::InvalidArgument(SourceOf(name) + ": prompt '" + name + "' never uses the variable '" + r +
                                     "', without which the model cannot do its part (write {{" + r + "}})");
    }
  }
  // The sections must nest and close: render once with every variable set.
  PromptVars all;
  for (const std::string& k : known) all[k] = "x";
  if (auto r = RenderTemplate(*t, all); !r.ok()) return r.status().WithContext(SourceOf(name));
  return Status::Ok();
}

const std::map<std::string, PromptContract>& LearnerPromptContracts() {
  static const std::map<std::string, PromptContract> contracts = {
      {"summary",
       {{"problem", "library", "trajectory", "ground_truth", "reward", "critique", "agent_objective"},
        {"trajectory"}}},
      {"advantage",
       {{"problem", "library", "ground_truth", "summaries", "max_experiences", "agent_objective",
         "learning_objective"},
        {"summaries"}}},
      {"group_update", {{"library", "experiences", "agent_objective", "learning_objective"}, {"experiences"}}},
      {"batch_update",
       {{"library", "operations", "max_library", "agent_objective", "learning_objective"}, {"library", "operations"}}},
  };
  return contracts;
}

const PromptContract& JudgePromptContract() {
  static const PromptContract judge = {{"problem", "ground_truth", "response"}, {"response"}};
  return judge;
}

Status CheckPromptContracts(const PromptSet& prompts, bool judge) {
  for (const auto& [name, contract] : LearnerPromptContracts())
    if (Status s = prompts.Check(name, contract.known, contract.required); !s.ok()) return s;
  if (judge) return prompts.Check("judge", JudgePromptContract().known, JudgePromptContract().required);
  return Status::Ok();
}

}  // namespace tfgrpo
