// Prompt templates: text files under prompts/ compiled into the binary, overridable at run time
// with --prompts DIR. Templates use {{name}} substitution and {{#name}}...{{/name}} sections that
// are kept only when the variable is non-empty.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tfgrpo/status.h"

namespace tfgrpo {

using PromptVars = std::map<std::string, std::string>;

// Renders a template. An unknown {{name}} is an error naming it (a typo in an override file
// should not silently send an empty prompt).
Result<std::string> RenderTemplate(const std::string& tmpl, const PromptVars& vars);

class PromptSet {
 public:
  // Built-in templates, each replaced by DIR/<name>.txt when that file exists.
  static Result<PromptSet> Load(const std::optional<std::filesystem::path>& override_dir);
  // Error when the template is missing or a variable is unknown.
  Result<std::string> Render(const std::string& name, const PromptVars& vars) const;
  const std::string* Find(const std::string& name) const;
  // Checks `name`'s template against what its caller fills (`known`) and what the template must
  // show (`required`): an unknown variable anywhere in it (inside a section that would be dropped
  // too) or a required one it never uses is an error naming the file and the variable. Run at
  // start-up, before the first call.
  Status Check(const std::string& name, const std::vector<std::string>& known,
               const std::vector<std::string>& required) const;
  // "prompts/summary.txt (--prompts)" for an override, "built-in summary.txt" otherwise.
  std::string SourceOf(const std::string& name) const;

 private:
  std::map<std::string, std::string> templates_;
  std::map<std::string, std::string> overridden_;  // name -> override file path
};

// What each learner stage's template is given and must use (summary, advantage, group_update,
// batch_update) and the judge's; CheckPromptContracts checks the four learner stages, and the
// judge when `judge` is set.
struct PromptContract {
  std::vector<std::string> known;
  std::vector<std::string> required;
};
const std::map<std::string, PromptContract>& LearnerPromptContracts();
const PromptContract& JudgePromptContract();
Status CheckPromptContracts(const PromptSet& prompts, bool judge);

const std::map<std::string, std::string>& BuiltinPrompts();  // generated from prompts/*.txt

}  // namespace tfgrpo
