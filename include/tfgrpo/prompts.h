// Prompt templates: text files under prompts/ compiled into the binary, overridable at run time
// with --prompts DIR. Templates use {{name}} substitution and {{#name}}...{{/name}} sections that
// are kept only when the variable is non-empty.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

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

 private:
  std::map<std::string, std::string> templates_;
};

const std::map<std::string, std::string>& BuiltinPrompts();  // generated from prompts/*.txt

}  // namespace tfgrpo
