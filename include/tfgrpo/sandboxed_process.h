// SandboxedProcess: a long-lived child process with pipes to its stdin, stdout and stderr, run in
// the same bubblewrap sandbox as the python tool (sandbox.h: no network, read-only system, a
// private tmpfs at /work, rlimits, root dropped to run_as_uid) or plainly in "none" mode. Used by
// the python and command rewards, whose workers answer many requests each.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tfgrpo/process.h"
#include "tfgrpo/sandbox.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

struct SandboxedProcessSpec {
  // argv[0]: an absolute path, or a bare name looked up in /usr/local/bin:/usr/bin:/bin. In bwrap
  // mode, paths in argv are paths inside the sandbox (see read_only_binds).
  std::vector<std::string> argv;
  // bwrap mode: host path -> sandbox path, mounted read-only. Ignored in none mode, where the
  // process sees the host's paths.
  std::vector<std::pair<std::string, std::string>> read_only_binds;
  // bwrap mode: host files copied into the sandbox as it starts, read-only, whatever the host
  // file's mode or its folder's: tfgrpo opens each one itself (as root, it can) and hands
  // bubblewrap the descriptor, so the dropped user needs no right to the host path. For what the
  // sandbox's user cannot reach on the host (a reward in a 0700 folder). Each copy lives in the
  // sandbox's memory; keep them few and small (at most kMaxCopiedFiles). Ignored in none mode.
  struct CopiedFile {
    std::string host;
    std::string inside;
    bool executable = false;  // mode 0555 inside, else 0444
  };
  static constexpr size_t kMaxCopiedFiles = 256;
  std::vector<CopiedFile> copied_files;
  // bwrap mode: symlinks made inside (target, sandbox path) and folders made inside (sandbox paths),
  // so a copied tree keeps its shape. Ignored in none mode.
  std::vector<std::pair<std::string, std::string>> symlinks;
  std::vector<std::string> dirs;
  // Working directory: bwrap mode a sandbox path (default "/work", the private tmpfs); none mode a
  // host path (default: the process's own scratch dir).
  std::string cwd;
  std::vector<std::string> env;  // extra KEY=VALUE entries
  // RLIMIT_CPU in seconds, 0 for none: a long-lived process accumulates CPU time over many
  // requests, so its callers bound each request by wall clock instead.
  int cpu_limit_s = 0;
};

// Not thread-safe: one owner at a time uses the pipes. Destruction kills the process (and in bwrap
// mode its whole sandbox) with SIGKILL and reaps it.
class SandboxedProcess {
 public:
  // Started through `launcher` (process.h; nullptr: DefaultLauncher()) from its long-lived fork
  // thread, because bwrap's --die-with-parent (and the none-mode death signal) fire when the
  // *thread* that forked exits, and callers are often short-lived pool threads. A non-OK Result
  // means the host could not start the process (in none mode also: the program cannot be
  // executed, named with its errno); in bwrap mode a program missing inside the sandbox shows by
  // bwrap exiting with code 127 and a message on stderr.
  static Result<std::unique_ptr<SandboxedProcess>> Spawn(const PythonSandbox& sandbox,
                                                         const SandboxedProcessSpec& spec,
                                                         Launcher* launcher = nullptr);
  ~SandboxedProcess();
  SandboxedProcess(const SandboxedProcess&) = delete;
  SandboxedProcess& operator=(const SandboxedProcess&) = delete;

  int stdin_fd() const { return process_->stdin_fd(); }    // blocking, our write end
  int stdout_fd() const { return process_->stdout_fd(); }  // non-blocking, our read end
  int stderr_fd() const { return process_->stderr_fd(); }  // non-blocking, our read end
  pid_t pid() const { return process_->pid(); }
  bool sandboxed() const { return sandboxed_; }
  // none mode: the scratch dir given as HOME and TMPDIR (removed with the process); bwrap: "/work".
  const std::string& scratch_dir() const { return scratch_dir_; }

  // SIGKILL to the process group (the sandbox dies with it); idempotent.
  void Kill();
  // The exit status once the process has ended (128+N for signal N), nullopt while it runs;
  // `wait` blocks until it ends.
  std::optional<int> ExitCode(bool wait = false);

 private:
  SandboxedProcess() = default;
  std::unique_ptr<Process> process_;
  bool sandboxed_ = false;
  std::string scratch_dir_;
  bool owns_scratch_ = false;
};

}  // namespace tfgrpo
