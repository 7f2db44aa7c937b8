#include <spdlog/spdlog.h>

#include "tfgrpo/agent.h"
#include "tfgrpo/sandbox.h"

namespace tfgrpo {
namespace {

class SandboxedPython : public ToolRunner {
 public:
  explicit SandboxedPython(std::unique_ptr<PythonSandbox> sandbox) : sandbox_(std::move(sandbox)) {}
  Result<std::string> RunPython(const std::string& code) override {
    auto run = sandbox_->Run(code);
    if (!run.ok()) return run.status();
    return run->output;
  }

 private:
  std::unique_ptr<PythonSandbox> sandbox_;
};

}  // namespace

Result<std::unique_ptr<ToolRunner>> MakePythonToolRunner(const ToolsConfig& tools) {
  SandboxOptions options;
  options.mode = tools.sandbox;
  options.wall_timeout_s = tools.timeout_s;
  options.memory_bytes = static_cast<uint64_t>(tools.memory_mb) << 20;
  options.allow_subprocess = tools.allow_subprocess;
  auto sandbox = PythonSandbox::Create(options);
  if (!sandbox.ok()) return sandbox.status().WithContext("tools.sandbox: " + tools.sandbox);
  return std::unique_ptr<ToolRunner>(std::make_unique<SandboxedPython>(std::move(sandbox).value()));
}

Result<std::unique_ptr<ToolRunner>> MakeToolsFor(const Config& config) {
  if (config.task.mode != "agent") return std::unique_ptr<ToolRunner>();
  return MakePythonToolRunner(config.tools);
}

}  // namespace tfgrpo
