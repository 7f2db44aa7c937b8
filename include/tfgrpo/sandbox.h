// The Python code-interpreter tool: runs one snippet as a complete script in a bubblewrap
// sandbox (no network, read-only system, one small writable dir, rlimits, wall-clock limit,
// capped output) and reports whatever happened, hostile or not, as the tool's output.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tfgrpo/status.h"

namespace tfgrpo {

struct SandboxOptions {
  // "bwrap" (the default) or "none"; "none" runs tool code unsandboxed and logs a warning. It
  // keeps the rlimits and the wall-clock limit, but RLIMIT_NPROC then counts all processes of
  // the caller's uid and is not enforced at all for root.
  std::string mode = "bwrap";
  double wall_timeout_s = 30;
  int cpu_limit_s = 10;                     // per process; SIGXCPU at the limit, SIGKILL 1 s later
  uint64_t memory_bytes = 2ull << 30;       // RLIMIT_AS
  int max_processes = 64;                   // RLIMIT_NPROC, counted per sandbox (see sandbox.cpp)
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

struct ToolRun {
  // stdout and stderr interleaved in the order the script wrote them (one pipe, python -u),
  // cut at output_cap_bytes (on a UTF-8 boundary, invalid bytes replaced by U+FFFD), then
  // status notes, each on its own line: "[output truncated at 16384 bytes]",
  // "[exit code 1]", "[killed: CPU time limit of 10 s]", "[killed: wall-clock limit of 30 s]",
  // "[killed by signal 9 (SIGKILL)]". A clean exit adds no note.
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
  // Validates the options and, in bwrap mode, runs a trivial script to prove that bubblewrap can
  // create its namespaces here. On failure the Status names the cause and says that
  // `tools.sandbox: none` runs tool code unsandboxed.
  static Result<std::unique_ptr<PythonSandbox>> Create(const SandboxOptions& options);

  // Runs `code` as main.py. Thread-safe; many runs may proceed concurrently. A non-OK Result
  // means the host could not start the run (fork, pipe, scratch dir); everything the script
  // does, including being killed, is reported in ToolRun.
  Result<ToolRun> Run(const std::string& code) const;

  const SandboxOptions& options() const { return options_; }
  // For SandboxedProcess (sandboxed_process.h), which starts long-lived processes in the same
  // sandbox: the resolved interpreter, prlimit (bwrap mode), the fixed bwrap arguments (bwrap
  // mode; empty in none mode) and whether the host drops root before exec'ing bwrap.
  const std::string& python_path() const { return python_path_; }
  const std::string& prlimit_path() const { return prlimit_path_; }
  const std::vector<std::string>& bwrap_prefix() const { return bwrap_prefix_; }
  bool drops_root() const { return drop_root_; }

 private:
  explicit PythonSandbox(SandboxOptions options) : options_(std::move(options)) {}
  Result<ToolRun> RunWithLimits(const std::string& code, double wall_timeout_s,
                                size_t output_cap_bytes) const;

  SandboxOptions options_;
  std::string python_path_;   // resolved interpreter
  std::string prlimit_path_;  // bwrap mode: sets RLIMIT_NPROC inside the sandbox's user namespace
  std::vector<std::string> bwrap_prefix_;  // bwrap arguments that do not change between runs
  bool drop_root_ = false;
};

}  // namespace tfgrpo
