// PythonSandbox: one child per snippet (started by process.h), bubblewrap in between unless mode is "none".
//
// Why the process plumbing looks the way it does (measured on Linux 6.x, bubblewrap 0.8):
//  - The kernel never checks RLIMIT_NPROC for uid 0, and bwrap started by root keeps its
//    capabilities inside the sandbox. A root host therefore drops to run_as_uid before exec'ing
//    bwrap, which then builds an unprivileged user namespace like it would for any user.
//  - RLIMIT_NPROC is counted per (user namespace, uid), and one level up against the limit the
//    namespace's creator had. Set on bwrap itself, every concurrent sandbox of that uid shares one
//    budget of 64; set inside the fresh namespace (prlimit, exec'd by bwrap) each sandbox gets its
//    own 64 while the host user's normal limit still bounds the total.
//  - SIGKILL to the outer bwrap makes the inner one (pid 1 of the sandbox's pid namespace) die via
//    --die-with-parent, and the kernel then kills every process in that namespace. They all hold
//    the output pipe, so draining it to EOF waits until the sandbox is really gone.
//  - RLIMIT_AS is per process: six children of one call could each take the full limit. So a call
//    is either one process (a seccomp filter refuses fork/vfork/clone-without-CLONE_THREAD unless
//    allow_subprocess) or, where the host delegates a cgroup v2 subtree to us, bounded as a whole
//    by a per-call cgroup. bwrap loads the filter (--seccomp FD) into the sandboxed command only,
//    after its namespaces are set up and after its own init process was forked; none mode
//    installs it in the child just before execve.
#include "tfgrpo/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <spdlog/spdlog.h>

#include "tfgrpo/process.h"
#include "tfgrpo/secrets.h"
#include "tfgrpo/util.h"
#include "tools/sandbox_cgroup.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The PATH scripts see, and where bare interpreter names are looked up.
constexpr const char* kSandboxPath = "/usr/local/bin:/usr/bin:/bin";
constexpr const char* kProbeMarker = "tfgrpo-sandbox-ok";
// How long to keep reading after the script exited or was killed, for processes that still hold
// the output pipe (in bwrap mode: the pid namespace being torn down).
constexpr int kDrainGraceMs = 2000;

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r may return a static string instead of filling buf.
  return std::string(strerror_r(err, buf, sizeof buf));
}

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::optional<std::string> ResolveExecutable(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    return ::access(name.c_str(), X_OK) == 0 ? std::optional(name) : std::nullopt;
  }
  std::string dirs = kSandboxPath;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

// Copies `in`, replacing each byte that is not part of a well-formed UTF-8 sequence by U+FFFD,
// so the output can go into JSON messages as is.
std::string ValidUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len > 1) {
      uint32_t cp = c & (0xFF >> (len + 1));
      for (size_t k = 1; k < len; ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(in[i + k]) & 0x3F);
      }
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

// The seccomp program (struct sock_filter[]) for a sandboxed process, compiled with libseccomp:
// ptrace and cross-process memory access are always refused; unless `allow_subprocess`, so is
// every way of starting a process. Threads still work: clone with CLONE_THREAD is allowed, and
// clone3 (whose flags live in memory a filter cannot read) fails with ENOSYS, on which glibc's
// pthread_create, posix_spawn and fork fall back to clone.
Result<std::string> BuildSeccompProgram(bool allow_subprocess) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return Status::Internal("seccomp_init failed");
  std::string error;
  auto check = [&](int rc, const char* what) {
    if (rc < 0 && error.empty()) error = std::string(what) + ": " + ErrnoText(-rc);
  };
#if defined(__x86_64__)
  // The same rules for 32-bit and x32 system calls, which reach the same kernel.
  for (uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
    int rc = seccomp_arch_add(ctx, arch);
    if (rc != -EEXIST) check(rc, "seccomp_arch_add");
  }
#endif
  for (int call : {SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev)}) {
    check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), call, 0), "seccomp_rule_add(ptrace)");
  }
  if (!allow_subprocess) {
    check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fork), 0), "seccomp_rule_add(fork)");
    check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(vfork), 0), "seccomp_rule_add(vfork)");
    check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                           SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)),
          "seccomp_rule_add(clone)");
    check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "seccomp_rule_add(clone3)");
  }
  std::string program;
  if (error.empty()) {
    int fd = ::memfd_create("tfgrpo-seccomp-build", MFD_CLOEXEC);
    if (fd < 0) {
      error = "memfd_create: " + ErrnoText(errno);
    } else {
      check(seccomp_export_bpf(ctx, fd), "seccomp_export_bpf");
      off_t size = ::lseek(fd, 0, SEEK_END);
      if (error.empty() && size > 0) {
        program.resize(static_cast<size_t>(size));
        if (::pread(fd, program.data(), program.size(), 0) != size) error = "reading the exported filter failed";
      }
      ::close(fd);
    }
  }
  seccomp_release(ctx);
  if (!error.empty()) return Status::Internal("tools sandbox: cannot build the seccomp filter: " + error);
  if (program.empty() || program.size() % sizeof(sock_filter) != 0) {
    return Status::Internal("tools sandbox: libseccomp exported a malformed filter");
  }
  return program;
}

// A scratch dir removed with its content when the run ends, however it ends.
class ScratchDir {
 public:
  ~ScratchDir() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  Status Create(const std::string& root) {
    std::string templ = (fs::path(root) / "tfgrpo-tool-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      return Status::IoError("cannot create a scratch dir under " + root + ": " + ErrnoText(errno));
    }
    path_ = templ;
    return Status::Ok();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status WriteScript(const std::string& path, const std::string& code) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Status::IoError("cannot create " + path + ": " + ErrnoText(errno));
  size_t done = 0;
  while (done < code.size()) {
    ssize_t n = ::write(fd.get(), code.data() + done, code.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError("cannot write " + path + ": " + ErrnoText(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string ScratchRoot(const SandboxOptions& o) {
  if (!o.scratch_root.empty()) return o.scratch_root;
  const char* tmpdir = std::getenv("TMPDIR");
  return tmpdir && *tmpdir ? tmpdir : "/tmp";
}

}  // namespace

std::vector<std::string> BwrapReadOnlySystem() {
  std::vector<std::string> a = {"--ro-bind", "/usr", "/usr"};
  // Merged-/usr systems have /bin, /lib... as symlinks into /usr; others have real dirs.
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    std::error_code ec;
    auto st = fs::symlink_status(top, ec);
    if (ec) continue;
    if (fs::is_symlink(st)) {
      a.insert(a.end(), {"--symlink", fs::read_symlink(top, ec).string(), top});
    } else if (fs::is_directory(st)) {
      a.insert(a.end(), {"--ro-bind", top, top});
    }
  }
  a.insert(a.end(), {"--ro-bind", "/etc", "/etc", "--dev", "/dev", "--remount-ro", "/dev", "--proc", "/proc"});
  return a;
}

Result<std::unique_ptr<PythonSandbox>> PythonSandbox::Create(const SandboxOptions& options) {
  const std::string none_hint =
      "; to run tool code without a sandbox (not recommended) set tools.sandbox: none";
  if (options.mode != "bwrap" && options.mode != "none") {
    return Status::InvalidArgument("tools.sandbox: expected \"bwrap\" or \"none\", got \"" +
                                   options.mode + "\"");
  }
  if (!(options.wall_timeout_s > 0) || options.cpu_limit_s <= 0 || options.memory_bytes == 0 ||
      options.max_processes <= 0 || options.max_file_bytes == 0 || options.output_cap_bytes == 0) {
    return Status::InvalidArgument(
        "tools sandbox limits must be positive (wall_timeout_s, cpu_limit_s, memory_bytes, "
        "max_processes, max_file_bytes, output_cap_bytes)");
  }

  std::unique_ptr<PythonSandbox> sandbox(new PythonSandbox(options));
  auto python = ResolveExecutable(options.python);
  if (!python) {
    return Status::NotFound("tools: Python interpreter \"" + options.python + "\" not found in " +
                            kSandboxPath + " (install the Debian package python3)");
  }
  sandbox->python_path_ = *python;
  auto seccomp = BuildSeccompProgram(options.allow_subprocess);
  if (!seccomp.ok()) return seccomp.status();
  sandbox->seccomp_bpf_ = std::move(seccomp).value();
  sandbox->FindCgroup();

  if (options.mode == "none") {
    spdlog::warn(
        "tools.sandbox: none: running tool code without a sandbox; snippets can read, write and "
        "connect to anything this process can");
    return sandbox;
  }

  if (::access(options.bwrap_path.c_str(), X_OK) != 0) {
    return Status::Unavailable("tools.sandbox: bwrap: cannot execute bubblewrap at " +
                               options.bwrap_path + ": " + ErrnoText(errno) +
                               " (install the Debian package bubblewrap)" + none_hint);
  }
  auto prlimit = ResolveExecutable("prlimit");
  if (!prlimit) {
    return Status::Unavailable(std::string("tools.sandbox: bwrap: prlimit (Debian package "
                                           "util-linux) not found in ") +
                               kSandboxPath + "; it sets the process limit inside the sandbox" +
                               none_hint);
  }
  sandbox->prlimit_path_ = *prlimit;
  sandbox->drop_root_ = ::geteuid() == 0;
  if (sandbox->drop_root_ && options.run_as_uid == 0) {
    return Status::InvalidArgument(
        "tools sandbox: run_as_uid must not be 0: the kernel does not limit root's processes");
  }

  std::vector<std::string>& a = sandbox->bwrap_prefix_;
  a = {options.bwrap_path, "--unshare-all", "--unshare-user", "--disable-userns",
       "--die-with-parent", "--new-session"};
  const std::vector<std::string> system = BwrapReadOnlySystem();
  a.insert(a.end(), system.begin(), system.end());
  a.insert(a.end(), {"--perms", "0700", "--size", std::to_string(options.work_dir_bytes), "--tmpfs", "/work"});

  // Proves the namespaces can be created here (and that python runs inside) before any real
  // tool call depends on it.
  const double probe_timeout_s = std::max(10.0, options.wall_timeout_s);
  auto probe = sandbox->RunWithLimits(std::string("print('") + kProbeMarker + "')",
                                      probe_timeout_s, 4096);
  if (!probe.ok()) {
    return Status::Unavailable("tools.sandbox: bwrap: cannot start bubblewrap (" +
                               options.bwrap_path + "): " + probe.status().message() + none_hint);
  }
  if (probe->exit_code != 0 || Trim(probe->output) != kProbeMarker) {
    std::string detail = Trim(probe->output);
    if (detail.size() > 600) detail = detail.substr(0, 600) + "...";
    if (detail.empty()) detail = "no output, exit code " + std::to_string(probe->exit_code);
    const bool bwrap_said = detail.find("bwrap:") != std::string::npos;
    bool namespaces = !bwrap_said && detail.find("python") == std::string::npos;
    for (const char* hint : {"namespace", "uid map", "unshare", "Operation not permitted"}) {
      namespaces = namespaces || (bwrap_said && detail.find(hint) != std::string::npos);
    }
    std::string cause;
    if (namespaces) {
      cause = "bubblewrap (" + options.bwrap_path +
              ") cannot create its namespaces here; unprivileged user namespaces must be allowed "
              "(sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone = 1 where "
              "it exists, no AppArmor userns restriction, and a container that permits unshare)";
    } else if (bwrap_said) {
      cause = "bubblewrap (" + options.bwrap_path + ") could not set up the sandbox";
      if (sandbox->drop_root_) {
        cause += " (the scratch dir under " + ScratchRoot(options) +
                 " must be reachable by uid " + std::to_string(options.run_as_uid) + ")";
      }
    } else {
      cause = "the interpreter " + sandbox->python_path_ + " did not run inside the sandbox";
    }
    return Status::Unavailable("tools.sandbox: bwrap: " + cause + ". Probe output: " + detail +
                               none_hint);
  }
  return sandbox;
}

const char* MemoryBoundName(MemoryBound bound) {
  switch (bound) {
    case MemoryBound::kCgroup: return "cgroup";
    case MemoryBound::kSingleProcess: return "seccomp";
    case MemoryBound::kPerProcess: return "per-process";
  }
  return "?";
}

MemoryBound PythonSandbox::memory_bound() const {
  if (!cgroup_parent_.empty()) return MemoryBound::kCgroup;
  return options_.allow_subprocess ? MemoryBound::kPerProcess : MemoryBound::kSingleProcess;
}

void PythonSandbox::FindCgroup() {
  const SandboxOptions& o = options_;
  Result<std::string> parent = Status::NotFound("tools sandbox: cgroup_mount is \"none\"");
  if (o.cgroup_mount != "none") {
    Result<std::string> mount = o.cgroup_mount.empty() ? sandbox_internal::DefaultCgroupMount()
                                                       : Result<std::string>(o.cgroup_mount);
    auto self = ReadFile("/proc/self/cgroup");
    if (!mount.ok()) {
      parent = mount.status();
    } else if (!self.ok()) {
      parent = self.status();
    } else {
      parent = sandbox_internal::FindDelegatedCgroup(*mount, *self);
    }
  }
  if (parent.ok()) {
    // The delegation may still refuse the one thing we need: a process moving itself in.
    sandbox_internal::CallCgroup trial;
    Status s = trial.Create(*parent, o.memory_bytes, o.max_processes);
    if (s.ok()) {
      SpawnSpec probe;
      probe.Argv({"/bin/true"});
      probe.join_cgroup_fd = trial.procs_fd();
      auto started = Spawn(probe);
      if (!started.ok() || (*started)->Wait().ShellCode() != 0) {
        s = Status::IoError("a process cannot move itself into " + trial.path() + "/cgroup.procs" +
                            (started.ok() ? "" : " (" + started.status().message() + ")"));
      }
    }
    if (s.ok()) {
      cgroup_parent_ = *parent;
    } else {
      parent = s;
    }
  }
  const std::string mib = std::to_string(o.memory_bytes >> 20);
  if (!cgroup_parent_.empty()) {
    spdlog::debug("tools sandbox: each call runs in its own cgroup under {} (memory.max {} MiB, pids.max {})",
                  cgroup_parent_, mib, o.max_processes);
    return;
  }
  cgroup_reason_ = parent.status().message();
  if (o.allow_subprocess) {
    spdlog::warn(
        "tools.allow_subprocess: true without a delegated cgroup v2 ({}): a call's memory is bounded "
        "per process only, tools.memory_mb ({} MiB) each for up to {} processes",
        cgroup_reason_, mib, o.max_processes);
  } else {
    spdlog::debug("tools sandbox: no cgroup ({}); a seccomp filter keeps each call to one process, "
                  "which RLIMIT_AS bounds to {} MiB", cgroup_reason_, mib);
  }
}

SandboxCommand PythonSandbox::CommandFor(const std::string& script, const std::vector<std::string>& args) const {
  SandboxCommand command;
  std::vector<std::string> env_vars = {"LANG=C.UTF-8", "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1",
                                       "MKL_NUM_THREADS=1", std::string("PATH=") + kSandboxPath};
  if (options_.mode == "bwrap") {
    std::vector<std::string>& a = command.argv;
    a = bwrap_prefix_;
    a.insert(a.end(), {"--ro-bind", script, "/work/main.py", "--remount-ro", "/", "--chdir", "/work",
                       "--seccomp", std::to_string(kSeccompFd), "--clearenv"});
    env_vars.insert(env_vars.end(), {"HOME=/work", "TMPDIR=/work"});
    env_vars = ChildEnvironmentFrom(env_vars);  // the one rule: no run secret in a child
    for (const auto& kv : env_vars) {
      size_t eq = kv.find('=');
      a.insert(a.end(), {"--setenv", kv.substr(0, eq), kv.substr(eq + 1)});
    }
    const std::string nproc = std::to_string(options_.max_processes);
    a.insert(a.end(), {"--", prlimit_path_, "--nproc=" + nproc + ":" + nproc, "--", python_path_, "-I", "-u",
                       "main.py"});
    command.envp = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
  } else {
    const std::string dir = fs::path(script).parent_path().string();
    command.argv = {python_path_, "-I", "-u", fs::path(script).filename().string()};
    env_vars.insert(env_vars.end(), {"HOME=" + dir, "TMPDIR=" + dir});
    command.envp = ChildEnvironmentFrom(env_vars);  // the one rule: no run secret in a child
  }
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  return command;
}

int PythonSandbox::NewSeccompFd() const {
  int fd = ::memfd_create("tfgrpo-seccomp", MFD_CLOEXEC);
  if (fd < 0) return -1;
  bool ok = ::pwrite(fd, seccomp_bpf_.data(), seccomp_bpf_.size(), 0) == static_cast<ssize_t>(seccomp_bpf_.size());
  // Numbered above 9, so that the child's dup2()s onto 0-4 cannot overwrite it first.
  int high = ok ? ::fcntl(fd, F_DUPFD_CLOEXEC, 10) : -1;
  int err = errno;
  ::close(fd);
  errno = err;
  return high;
}

Result<ToolRun> PythonSandbox::Run(const std::string& code) const {
  return RunWithLimits(code, options_.wall_timeout_s, options_.output_cap_bytes);
}

Result<ToolRun> PythonSandbox::RunWithLimits(const std::string& code, double wall_timeout_s,
                                             size_t output_cap_bytes) const {
  const SandboxOptions& o = options_;
  const auto start = Clock::now();
  const bool sandboxed = o.mode == "bwrap";

  ScratchDir scratch;
  if (Status s = scratch.Create(ScratchRoot(o)); !s.ok()) return s;
  const std::string script = scratch.path() + "/main.py";
  if (Status s = WriteScript(script, code); !s.ok()) return s;

  // stdout and stderr share one pipe; only our end is non-blocking (a script whose stdout
  // returned EAGAIN would crash on print).
  SpawnSpec child;
  SandboxCommand command = CommandFor(script, {});
  child.Argv(std::move(command.argv))
      .Env(std::move(command.envp))
      .StdinFrom(Stdio::Null())
      .StdoutTo(Stdio::Pipe(/*nonblocking=*/true))
      .StderrTo(Stdio::ToStdout())
      .Limit(RLIMIT_CPU, o.cpu_limit_s, o.cpu_limit_s + 1)
      .Limit(RLIMIT_AS, o.memory_bytes, o.memory_bytes)
      .Limit(RLIMIT_FSIZE, o.max_file_bytes, o.max_file_bytes)
      .Limit(RLIMIT_CORE, 0, 0);
  UniqueFd seccomp_fd;
  if (sandboxed) {
    if (drop_root_) child.drop_to = std::pair<uid_t, gid_t>(o.run_as_uid, o.run_as_gid);
    child.cwd = "/";
    if (drop_root_ && ::chown(scratch.path().c_str(), o.run_as_uid, o.run_as_gid) != 0) {
      return Status::IoError("cannot hand " + scratch.path() + " to uid " +
                             std::to_string(o.run_as_uid) + ": " + ErrnoText(errno));
    }
    seccomp_fd.reset(NewSeccompFd());
    if (seccomp_fd.get() < 0) return Status::IoError("memfd for the seccomp filter: " + ErrnoText(errno));
    child.KeepFd(seccomp_fd.get(), kSeccompFd);
  } else {
    // bwrap mode sets RLIMIT_NPROC inside the sandbox instead; no_new_privs would stop a setuid bwrap.
    child.cwd = scratch.path();
    child.Limit(RLIMIT_NPROC, o.max_processes, o.max_processes);
    child.no_new_privs = true;
    child.seccomp_program = seccomp_bpf_;  // installed by the child right before execve
  }
  // Declared before the process so that it is removed only after the child has been reaped.
  sandbox_internal::CallCgroup cgroup;
  if (!cgroup_parent_.empty()) {
    if (Status s = cgroup.Create(cgroup_parent_, o.memory_bytes, o.max_processes); !s.ok()) return s;
    child.join_cgroup_fd = cgroup.procs_fd();
  }
  auto started = Spawn(child);
  if (!started.ok()) return started.status();
  Process& process = **started;
  seccomp_fd.reset();

  const int pidfd = process.pidfd();  // the child's exit is pollable next to the pipe; else ticks
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(wall_timeout_s));
  const size_t keep = output_cap_bytes + 4;  // a few extra bytes to cut on a UTF-8 boundary
  std::string captured;
  size_t total_bytes = 0;
  bool pipe_open = true, exited = false, timed_out = false, killed = false;
  std::optional<Clock::time_point> drain_until;
  char buf[65536];

  auto kill_all = [&] {
    process.Signal(SIGKILL);
    killed = true;
  };

  while (pipe_open || !exited) {
    const auto now = Clock::now();
    if (!timed_out && !killed && now >= deadline) {
      timed_out = true;
      kill_all();
      drain_until = now + std::chrono::milliseconds(kDrainGraceMs);
    }
    if (exited && pipe_open && !drain_until) {
      // The script is gone but something it started still holds the pipe.
      drain_until = now + std::chrono::milliseconds(kDrainGraceMs);
      kill_all();
    }
    if (drain_until && now >= *drain_until) break;

    auto until = drain_until ? *drain_until : deadline;
    int timeout_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count()) + 1;
    if (!exited && pidfd < 0) timeout_ms = std::min(timeout_ms, 20);

    pollfd fds[2];
    int nfds = 0;
    if (pipe_open) fds[nfds++] = {process.stdout_fd(), POLLIN, 0};
    if (!exited && pidfd >= 0) fds[nfds++] = {pidfd, POLLIN, 0};
    int rc = ::poll(fds, nfds, std::max(timeout_ms, 0));
    if (rc < 0 && errno != EINTR) return Status::Internal("poll: " + ErrnoText(errno));

    if (pipe_open) {
      while (true) {
        ssize_t n = ::read(process.stdout_fd(), buf, sizeof buf);
        if (n > 0) {
          total_bytes += static_cast<size_t>(n);
          if (captured.size() < keep) {
            captured.append(buf, std::min(static_cast<size_t>(n), keep - captured.size()));
          }
          continue;
        }
        if (n == 0) pipe_open = false;
        if (n < 0 && errno == EINTR) continue;
        break;  // EAGAIN: nothing more for now
      }
    }
    // HasExited leaves the zombie in place: while it exists its pid, and so the process group
    // id killed below, cannot be handed to an unrelated process.
    if (!exited) exited = process.HasExited();
  }
  // Whatever is left of the process group (none mode: background children) goes with it.
  process.Signal(SIGKILL);
  const ExitStatus ended = process.Wait();

  ToolRun run;
  run.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  run.timed_out = timed_out;
  run.truncated = total_bytes > output_cap_bytes;
  run.exit_code = timed_out ? -1 : ended.ShellCode();

  size_t cut = std::min(captured.size(), output_cap_bytes);
  if (run.truncated) {
    // Step back over continuation bytes so a multi-byte character is not split.
    size_t back = 0;
    while (cut > 0 && back < 3 && cut < captured.size() &&
           (static_cast<unsigned char>(captured[cut]) & 0xC0) == 0x80) {
      --cut;
      ++back;
    }
  }
  run.output = ValidUtf8(std::string_view(captured).substr(0, cut));
  auto note = [&run](const std::string& text) {
    if (!run.output.empty() && run.output.back() != '\n') run.output += '\n';
    run.output += text + "\n";
  };
  if (run.truncated) note("[output truncated at " + std::to_string(output_cap_bytes) + " bytes]");
  if (timed_out) {
    note("[killed: wall-clock limit of " + FormatSeconds(wall_timeout_s) + " s]");
  } else if (run.exit_code > 128 && run.exit_code < 128 + NSIG) {
    const int sig = run.exit_code - 128;
    if (sig == SIGXCPU) {
      note("[killed: CPU time limit of " + std::to_string(o.cpu_limit_s) + " s]");
    } else {
      note("[killed by signal " + std::to_string(sig) + " (" + SignalName(sig) + ")]");
    }
  } else if (run.exit_code != 0) {
    note("[exit code " + std::to_string(run.exit_code) + "]");
  }
  if (const int64_t oom = cgroup_parent_.empty() ? 0 : cgroup.OomKills(); oom > 0) {
    note("[memory limit of " + std::to_string(o.memory_bytes >> 20) + " MiB reached: " + std::to_string(oom) +
         (oom == 1 ? " process" : " processes") + " killed]");
  }
  return run;
}

}  // namespace tfgrpo
