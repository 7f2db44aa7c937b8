// agent.sandbox: bwrap: the bubblewrap command line an external agent runs under. Unlike the
// python tool's sandbox it keeps the host's network (the agent must reach the gateway, and its
// own tools may need the internet), and it sees the config's folder read-only (its code), its
// rollout's private directory writable (HOME, TMPDIR, the answer file) and the system read-only
// (BwrapReadOnlySystem, shared with the python tool), with every capability dropped.
#include "agent/external_internal.h"
#include "tfgrpo/sandbox.h"

namespace tfgrpo::external_internal {

std::vector<std::string> BwrapAgentWrapper(const std::filesystem::path& config_dir,
                                           const std::filesystem::path& scratch) {
  std::vector<std::string> a = {kBwrapPath,  "--unshare-all", "--share-net", "--unshare-user",
                                "--die-with-parent", "--new-session", "--cap-drop", "ALL"};
  const std::vector<std::string> system = BwrapReadOnlySystem();
  a.insert(a.end(), system.begin(), system.end());
  a.insert(a.end(), {"--tmpfs", "/tmp", "--ro-bind", config_dir.string(), config_dir.string(), "--bind",
                     scratch.string(), scratch.string(), "--chdir", config_dir.string(), "--"});
  return a;
}

}  // namespace tfgrpo::external_internal
