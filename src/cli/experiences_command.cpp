// `tfgrpo experiences show|export FILE [--format json|md|prompt]`.
#include <cstdio>
#include <string_view>

#include "cli/commands.h"
#include "tfgrpo/library.h"
#include "tfgrpo/util.h"

namespace tfgrpo::cli {
namespace {

struct ExperiencesArgs {
  std::string file;
  std::string format;
  std::string out;
  bool for_terminal = false;  // show: control characters are escaped (export writes data as it is)
};

std::string Render(const Library& lib, const std::string& format) {
  if (format == "json") return lib.ToJsonText();
  if (format == "prompt") return AppendLibrary("", lib) + "\n";
  std::string md = "# Experience library (" + std::to_string(lib.size()) + ")\n\n";
  for (size_t i = 0; i < lib.size(); ++i) {
    const Experience& e = lib.items()[i];
    md += "- **G" + std::to_string(i) + "** (helpful " + std::to_string(e.helpful) + ", harmful " +
          std::to_string(e.harmful) + "): " + e.text + "\n";
  }
  return md;
}

// `show` is for a terminal, and a library file is text from a model or from anyone: a control
// character in it (ESC starting a sequence that recolours, moves the cursor or retitles the window,
// CR overwriting a line, a C1 code such as U+009B, which some terminals read as ESC [) is written
// as its escape \u00XX instead. Newlines and tabs stay. In json output the escape is the same
// character, so the text still parses to the same library.
std::string WithoutControlCharacters(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char hex[8];
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      std::snprintf(hex, sizeof hex, "\\u%04x", c);
      out += hex;
    } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {  // U+0080..U+009F in UTF-8
      std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned char>(text[++i]));
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

int Run(const ExperiencesArgs& args) {
  auto lib = Library::Load(args.file);
  if (!lib.ok()) return Fail(lib.status().message());
  std::string text = Render(*lib, args.format);
  if (args.for_terminal) text = WithoutControlCharacters(text);
  if (args.out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  Status s = WriteFileAtomic(args.out, text);
  return s.ok() ? 0 : Fail(s.message());
}

void AddVerb(CLI::App& parent, const char* name, const char* help, const char* default_format,
             bool with_out, CommandRunner* runner) {
  auto args = std::make_shared<ExperiencesArgs>();
  args->format = default_format;
  args->for_terminal = !with_out;
  auto* cmd = parent.add_subcommand(name, help);
  cmd->add_option("FILE", args->file, "experiences.json")->required()->check(CLI::ExistingFile);
  cmd->add_option("--format", args->format, "json | md | prompt")
      ->check(CLI::IsMember({"json", "md", "prompt"}));
  if (with_out) cmd->add_option("-o,--out", args->out, "Write to this file instead of stdout");
  cmd->callback([args, runner] { *runner = [args] { return Run(*args); }; });
}

}  // namespace

void AddExperiencesCommand(CLI::App& app, const GlobalOptions&, CommandRunner* runner) {
  auto* cmd = app.add_subcommand("experiences", "Show or export an experience library");
  cmd->require_subcommand(1);
  AddVerb(*cmd, "show", "Print a library (markdown by default)", "md", false, runner);
  AddVerb(*cmd, "export", "Export a library (JSON by default)", "json", true, runner);
}

}  // namespace tfgrpo::cli
