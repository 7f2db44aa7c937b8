// The built-in tools: python on the sandbox, and the one table MakeToolsFor builds
// tools.enabled from.
#include <set>

#include "tfgrpo/agent.h"
#include "tfgrpo/mcp.h"
#include "tfgrpo/web.h"
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

// What the built-in tools of one run share: the page index (search and browse use one) and the
// client the browse tool's summarizing call goes through.
struct BuiltinContext {
  const Config& config;
  ChatClient* client = nullptr;
  std::shared_ptr<SearchIndex> index;  // opened on first use
  Result<std::shared_ptr<SearchIndex>> Index() {
    if (index) return index;
    if (config.tools.search.index.empty()) return std::shared_ptr<SearchIndex>();
    auto opened = SearchIndex::Open(config.tools.search.index);
    if (!opened.ok()) return opened.status().WithContext("tools.search.index");
    index = *opened;
    return index;
  }
};

using ToolFactory = Result<std::shared_ptr<Tool>> (*)(BuiltinContext& context);

Result<std::shared_ptr<Tool>> MakePythonFromConfig(BuiltinContext& context) {
  return MakePythonTool(context.config.tools);
}

// tools.timeout_s bounds every tool call: a search backend's reply and a page fetch too.
SearchOptions SearchOptionsFrom(const SearchConfig& c, double timeout_s) {
  SearchOptions o;
  o.timeout_s = timeout_s;
  o.backend = c.backend;
  o.top_k = c.top_k;
  o.index = c.index;
  o.url = c.url;
  if (c.backend == "serper" && !c.url.empty()) o.serper_url = c.url;  // a proxy or a test double
  o.api_key_env = c.api_key_env;
  return o;
}

Result<std::shared_ptr<Tool>> MakeSearchFromConfig(BuiltinContext& context) {
  const SearchOptions options = SearchOptionsFrom(context.config.tools.search, context.config.tools.timeout_s);
  if (options.backend == "local") {
    if (options.index.empty())
      return Status::InvalidArgument(
          "tools.search.index: the local search backend needs an index (build one with `tfgrpo index build`)");
    auto index = context.Index();
    if (!index.ok()) return index.status();
    return std::shared_ptr<Tool>(std::make_shared<SearchTool>(options, *index));
  }
  auto tool = SearchTool::Create(options);
  if (!tool.ok()) return tool.status().WithContext("tools.search");
  return std::shared_ptr<Tool>(std::move(tool).value());
}

Result<std::shared_ptr<Tool>> MakeBrowseFromConfig(BuiltinContext& context) {
  const BrowseConfig& c = context.config.tools.browse;
  BrowseOptions options;
  options.max_chars = c.max_chars;
  options.allow_private = c.allow_private;
  options.summarize = c.summarize;
  options.timeout_s = context.config.tools.timeout_s;
  auto index = context.Index();
  if (!index.ok()) return index.status();
  if (c.summarize && context.client == nullptr)
    return Status::InvalidArgument("tools.browse.summarize: needs a model client (internal: none was given)");
  auto tool = BrowseTool::Create(options, *index, context.client);
  if (!tool.ok()) return tool.status().WithContext("tools.browse");
  return std::shared_ptr<Tool>(std::move(tool).value());
}

// The built-in tools by tools.enabled name (config.cpp knows the same names).
struct BuiltinTool {
  const char* name;
  ToolFactory make;
};
constexpr BuiltinTool kBuiltinTools[] = {
    {"python", &MakePythonFromConfig},
    {"search", &MakeSearchFromConfig},
    {"browse", &MakeBrowseFromConfig},
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
  options.mode = std::string(Name(tools.sandbox));
  options.wall_timeout_s = tools.timeout_s;
  options.memory_bytes = static_cast<uint64_t>(tools.memory_mb) << 20;
  options.allow_subprocess = tools.allow_subprocess;
  auto sandbox = PythonSandbox::Create(options);
  if (!sandbox.ok()) return sandbox.status().WithContext("tools.sandbox: " + std::string(Name(tools.sandbox)));
  return std::shared_ptr<Tool>(std::make_shared<SandboxedPython>(std::move(sandbox).value()));
}

Result<ToolRegistry> MakeToolsFor(const Config& config, ChatClient* client) {
  ToolRegistry registry;
  if (config.task.mode != TaskMode::kAgent) return registry;
  BuiltinContext context{config, client, nullptr};
  std::set<std::string> taken;
  for (const std::string& name : config.tools.enabled) {
    const BuiltinTool* builtin = nullptr;
    for (const BuiltinTool& b : kBuiltinTools) {
      if (name == b.name) builtin = &b;
    }
    if (builtin == nullptr) {
      return Status::InvalidArgument("tools.enabled: unknown tool '" + name + "'");
    }
    auto tool = builtin->make(context);
    if (!tool.ok()) return tool.status();
    if (Status s = registry.Add(std::move(tool).value()); !s.ok()) return s.WithContext("tools.enabled");
    taken.insert(name);
  }
  if (!config.tools.mcp.empty()) {
    McpOptions options;
    options.call_timeout_s = config.tools.timeout_s;
    // The servers live as long as the tools that call them (the registry's copies).
    auto mcp = ConnectMcpServers(config.tools.mcp, taken, options);
    if (!mcp.ok()) return mcp.status().WithContext("tools.mcp");
    for (auto& tool : mcp->tools)
      if (Status s = registry.Add(std::move(tool)); !s.ok()) return s.WithContext("tools.mcp");
  }
  return registry;
}

}  // namespace tfgrpo
