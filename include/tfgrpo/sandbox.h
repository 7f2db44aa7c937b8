// The Python code-interpreter tool: runs one snippet as a complete script in a bubblewrap
// sandbox (no network, read-only system, one small writable dir, rlimits, a memory bound for the
// whole call, a seccomp filter, wall-clock limit, capped output) and reports whatever happened,
// hostile or not, as the tool's output.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tfgrpo/status.h"

namespace tfgrpo {

struct SandboxOptions {
  // "bwrap" (the default) or "none"; "none" runs tool code unsandboxed and logs a warning. It
  // keeps the rlimits, the seccomp filter, the per-call cgroup and the wall-clock limit, but
  // RLIMIT_NPROC then counts all processes of the caller's uid and is not enforced for root.
  std::string mode = "bwrap";
  double wall_timeout_s = 30;
  int cpu_limit_s = 10;                     // per process; SIGXCPU at the limit, SIGKILL 1 s later
  // tools.memory_mb: what one call may use, all its processes together. Always each process's
  // RLIMIT_AS; with a delegated cgroup (see memory_bound()) also the call cgroup's memory.max.
  uint64_t memory_bytes = 2ull << 30;
  int max_processes = 64;                   // RLIMIT_NPROC, counted per sandbox (see sandbox.cpp)
  // tools.allow_subprocess. false: a seccomp filter refuses fork, vfork and clone without
  // CLONE_THREAD (EPERM; clone3 gets ENOSYS so glibc falls back to clone), so the call is one
  // process (threads work) that RLIMIT_AS bounds. true: processes may start; their total memory
  // is bounded only where a cgroup is (else memory_bytes each, up to max_processes of them).
  // ptrace and process_vm_readv/writev are refused either way.
  bool allow_subprocess = false;
  // The cgroup v2 tree for per-call cgroups. "": /sys/fs/cgroup when it is cgroup2 and our own
  // cgroup there is delegated to us (writable, memory and pids available to children);
  // "none": never use a cgroup; any other path: that tree, without the file-system check.
  std::string cgroup_mount;
  uint64_t max_file_bytes = 16ull << 20;    // RLIMIT_FSIZE
  size_t output_cap_bytes = 16 * 1024;
  // Bare names are looked up in /usr/local/bin:/usr/bin:/bin (the sandbox's PATH), not the
  // caller's PATH: a pyenv shim under $HOME would not be visible inside the sandbox anyway.
  std::string python = "python3";
  std::string bwrap_path = "/usr/bin/bwrap";
  // Size of the tmpfs mounted at /work, the sandbox's only writable place (bwrap mode).
  uint64_t work_dir_bytes = 64ull << 20;
  // When the host process runs as root the sandbox runs as this uid/gid instead, because the
  // kernel never enforces RLIMIT_NPROC for uid 0 and bwrap run by root keeps capabilities.
  uint32_t run_as_uid = 65534;
  uint32_t run_as_gid = 65534;
  // Where the per-run scratch dir (main.py) is created; empty means $TMPDIR, else /tmp.
  std::string scratch_root;
};

// What bounds one call's memory in total (see SandboxOptions::memory_bytes).
enum class MemoryBound {
  kCgroup,         // a cgroup per call: memory.max and pids.max over all of the call's processes
  kSingleProcess,  // no cgroup, subprocesses refused: RLIMIT_AS of the one process
  kPerProcess,     // no cgroup, subprocesses allowed: RLIMIT_AS per process only
};
const char* MemoryBoundName(MemoryBound bound);

// bubblewrap arguments for the read-only system every sandbox sees: /usr, /bin, /sbin and /lib*
// as the host has them (symlinks into /usr on merged-/usr systems), /etc, a read-only /dev and a
// /proc. Shared by the python tool's sandbox and external agents (agent.sandbox: bwrap).
std::vector<std::string> BwrapReadOnlySystem();

// How to exec a sandboxed python: argv and envp for execve (bwrap in front in bwrap mode). The
// child must be spawned with the descriptor from NewSeccompFd() at kSeccompFd (bwrap mode).
struct SandboxCommand {
  std::vector<std::string> argv;
  std::vector<std::string> envp;
};

struct ToolRun {
  // stdout and stderr interleaved in the order the script wrote them (one pipe, python -u),
  // cut at output_cap_bytes (on a UTF-8 boundary, invalid bytes replaced by U+FFFD), then
  // status notes, each on its own line: "[output truncated at 16384 bytes]",
  // "[exit code 1]", "[killed: CPU time limit of 10 s]", "[killed: wall-clock limit of 30 s]",
  // "[killed by signal 9 (SIGKILL)]", and with a per-call cgroup
  // "[memory limit of 2048 MiB reached: 2 processes killed]". A clean exit adds no note.
  std::string output;
  // The script's exit status; 128+N when it died of signal N (bwrap's convention, used in both
  // modes); -1 when the run was killed at the wall-clock limit.
  int exit_code = 0;
  bool timed_out = false;
  bool truncated = false;
  double wall_ms = 0;
};

class PythonSandbox {
 public:
  // Validates the options, compiles the seccomp filter, looks for a delegated cgroup (trying that
  // a process can move itself into a child cgroup; otherwise memory_bound() falls back, logged
  // at debug level, or as a warning when allow_subprocess leaves memory bounded per process
  // only) and, in bwrap mode, runs a trivial script to prove that bubblewrap can
  // create its namespaces here. On failure the Status names the cause and says that
  // `tools.sandbox: none` runs tool code unsandboxed.
  static Result<std::unique_ptr<PythonSandbox>> Create(const SandboxOptions& options);

  // Runs `code` as main.py. Thread-safe; many runs may proceed concurrently. A non-OK Result
  // means the host could not start the run (fork, pipe, scratch dir); everything the script
  // does, including being killed, is reported in ToolRun.
  Result<ToolRun> Run(const std::string& code) const;

  const SandboxOptions& options() const { return options_; }
  MemoryBound memory_bound() const;
  // The cgroup under which each call gets its own; empty when memory_bound() is not kCgroup.
  const std::string& cgroup_parent() const { return cgroup_parent_; }
  // Why no cgroup is used (empty when one is).
  const std::string& cgroup_unavailable_reason() const { return cgroup_reason_; }

  // The one place the sandboxed command line is built (also for long-lived python workers):
  // python -I -u main.py `args`, with the host file `script` bound read-only at /work/main.py and
  // cwd /work (bwrap mode), or run in its own dir `script`'s folder (none mode).
  SandboxCommand CommandFor(const std::string& script, const std::vector<std::string>& args) const;
  // Where CommandFor's bwrap reads the seccomp program from (bwrap mode).
  static constexpr int kSeccompFd = 4;
  // A fresh memfd holding the compiled seccomp program (close-on-exec; the spawner
  // dup2()s it to kSeccompFd in the child). -1 with errno set on failure.
  int NewSeccompFd() const;

  // For SandboxedProcess (sandboxed_process.h), which starts long-lived processes in the same
  // sandbox: the resolved interpreter, prlimit (bwrap mode), the fixed bwrap arguments (bwrap
  // mode; empty in none mode) and whether the host drops root before exec'ing bwrap.
  const std::string& python_path() const { return python_path_; }
  const std::string& prlimit_path() const { return prlimit_path_; }
  const std::vector<std::string>& bwrap_prefix() const { return bwrap_prefix_; }
  bool drops_root() const { return drop_root_; }
  // The compiled seccomp program (struct sock_filter[]) every sandboxed process runs under.
  const std::string& seccomp_program() const { return seccomp_bpf_; }

 private:
  explicit PythonSandbox(SandboxOptions options) : options_(std::move(options)) {}
  Result<ToolRun> RunWithLimits(const std::string& code, double wall_timeout_s,
                                size_t output_cap_bytes) const;
  void FindCgroup();  // sets cgroup_parent_ or cgroup_reason_

  SandboxOptions options_;
  std::string python_path_;   // resolved interpreter
  std::string prlimit_path_;  // bwrap mode: sets RLIMIT_NPROC inside the sandbox's user namespace
  std::vector<std::string> bwrap_prefix_;  // bwrap arguments that do not change between runs
  bool drop_root_ = false;
  std::string seccomp_bpf_;    // struct sock_filter[]: the compiled filter, as bwrap --seccomp reads it
  std::string cgroup_parent_;  // per-call cgroups go here; empty: no cgroup
  std::string cgroup_reason_;
};

}  // namespace tfgrpo
