// The built-in tools: python on the sandbox, and the one table MakeToolsFor builds
// tools.enabled from.
#include "tfgrpo/agent.h"
#include "tfgrpo/sandbox.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

// How much of unusable arguments to quote back to the model.
constexpr size_t kQuotedArgumentBytes = 200;

class SandboxedPython : public Tool {
 public:
  explicit SandboxedPython(std::unique_ptr<PythonSandbox> sandbox)
      : spec_(PythonToolSpec()), sandbox_(std::move(sandbox)) {}
  const ToolSpec& spec() const override { return spec_; }

  Result<ToolOutput> Run(const nlohmann::json& arguments) override {
    auto code = arguments.find("code");
    if (code == arguments.end() || !code->is_string()) {
      std::string got = arguments.dump();
      if (got.size() > kQuotedArgumentBytes) got = std::string(Utf8Prefix(got, kQuotedArgumentBytes)) + "...";
      return ToolOutput{"expected arguments {\"code\": \"<python script>\"}, got: " + got, true};
    }
    auto run = sandbox_->Run(code->get<std::string>());
    if (!run.ok()) return run.status();
    // Empty output would look like a failure; say why. A script that fails shows its traceback
    // and exit code in the output, which is the answer the model needs, not a tool error.
    if (Trim(run->output).empty()) return ToolOutput{"(no output: print() the values you need to see)"};
    return ToolOutput{std::move(run->output)};
  }

 private:
  ToolSpec spec_;
  std::unique_ptr<PythonSandbox> sandbox_;
};

using ToolFactory = Result<std::shared_ptr<Tool>> (*)(const Config& config);

Result<std::shared_ptr<Tool>> MakePythonFromConfig(const Config& config) {
  return MakePythonTool(config.tools);
}

// The built-in tools by tools.enabled name (config.cpp knows the same names). A null factory is a
// tool this build does not provide yet.
struct BuiltinTool {
  const char* name;
  ToolFactory make;
};
constexpr BuiltinTool kBuiltinTools[] = {
    {"python", &MakePythonFromConfig},
    {"search", nullptr},
    {"browse", nullptr},
};

}  // namespace

ToolSpec PythonToolSpec() {
  ToolSpec spec;
  spec.name = "python";
  spec.description =
      "Run a complete Python 3 script in a sandbox without network access and return what it "
      "printed (stdout and stderr). Nothing persists between calls: each script starts fresh, "
      "so print every value you need.";
  spec.parameters = {
      {"type", "object"},
      {"properties", {{"code", {{"type", "string"}, {"description", "The whole Python script to run."}}}}},
      {"required", {"code"}}};
  return spec;
}

Result<std::shared_ptr<Tool>> MakePythonTool(const ToolsConfig& tools) {
  SandboxOptions options;
  options.mode = tools.sandbox;
  options.wall_timeout_s = tools.timeout_s;
  options.memory_bytes = static_cast<uint64_t>(tools.memory_mb) << 20;
  options.allow_subprocess = tools.allow_subprocess;
  auto sandbox = PythonSandbox::Create(options);
  if (!sandbox.ok()) return sandbox.status().WithContext("tools.sandbox: " + tools.sandbox);
  return std::shared_ptr<Tool>(std::make_shared<SandboxedPython>(std::move(sandbox).value()));
}

Result<ToolRegistry> MakeToolsFor(const Config& config) {
  ToolRegistry registry;
  if (config.task.mode != "agent") return registry;
  for (const std::string& name : config.tools.enabled) {
    const BuiltinTool* builtin = nullptr;
    for (const BuiltinTool& b : kBuiltinTools) {
      if (name == b.name) builtin = &b;
    }
    if (builtin == nullptr) {
      return Status::InvalidArgument("tools.enabled: unknown tool '" + name + "'");
    }
    if (builtin->make == nullptr) {
      return Status::InvalidArgument("tools.enabled: '" + name + "' is not available in this build");
    }
    auto tool = builtin->make(config);
    if (!tool.ok()) return tool.status();
    if (Status s = registry.Add(std::move(tool).value()); !s.ok()) return s.WithContext("tools.enabled");
  }
  return registry;
}

}  // namespace tfgrpo
