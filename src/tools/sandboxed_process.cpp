// SandboxedProcess: a long-lived process started through the process module (process.h), with
// bubblewrap in between unless the sandbox is in "none" mode. The bwrap arguments, interpreter and
// root handling come from the PythonSandbox (sandbox.cpp explains the uid and RLIMIT_NPROC
// choices; they apply here too).
#include "tfgrpo/sandboxed_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "tfgrpo/secrets.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSandboxPath = "/usr/local/bin:/usr/bin:/bin";

std::string ErrnoText(int err) {
  char buf[256];
  return std::string(strerror_r(err, buf, sizeof buf));
}

// Descriptors the child gets (the seccomp memfd, the copied files); closed with this object,
// after the spawn copied them.
struct HandedFds {
  std::vector<int> fds;
  ~HandedFds() {
    for (int fd : fds) ::close(fd);
  }
};

// Opens every file to copy into the sandbox, with this process's rights (the sandbox's user may
// have none on the host path); the child gets them at kSeccompFd + 1 + i.
Status OpenCopiedFiles(const SandboxedProcessSpec& spec, HandedFds* handed, SpawnSpec* child) {
  if (spec.copied_files.size() > SandboxedProcessSpec::kMaxCopiedFiles) {
    return Status::InvalidArgument("sandboxed process: " + std::to_string(spec.copied_files.size()) +
                                   " files to copy in, more than " +
                                   std::to_string(SandboxedProcessSpec::kMaxCopiedFiles));
  }
  for (size_t i = 0; i < spec.copied_files.size(); ++i) {
    const auto& file = spec.copied_files[i];
    const int fd = ::open(file.host.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return Status::IoError("cannot open " + file.host + " to copy it into the sandbox: " + ErrnoText(errno));
    handed->fds.push_back(fd);
    child->KeepFd(fd, PythonSandbox::kSeccompFd + 1 + static_cast<int>(i));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<SandboxedProcess>> SandboxedProcess::Spawn(const PythonSandbox& sandbox,
                                                                  const SandboxedProcessSpec& spec,
                                                                  Launcher* launcher) {
  if (spec.argv.empty() || spec.argv[0].empty()) return Status::InvalidArgument("sandboxed process: empty argv");
  const SandboxOptions& o = sandbox.options();
  std::unique_ptr<SandboxedProcess> proc(new SandboxedProcess());
  proc->sandboxed_ = o.mode == "bwrap";

  SpawnSpec child;
  child.StdinFrom(Stdio::Pipe())
      .StdoutTo(Stdio::Pipe(/*nonblocking=*/true))
      .StderrTo(Stdio::Pipe(/*nonblocking=*/true));
  child.lasting_parent = true;  // bwrap's --die-with-parent watches the forking thread
  if (spec.cpu_limit_s > 0) child.Limit(RLIMIT_CPU, spec.cpu_limit_s, spec.cpu_limit_s + 1);
  child.Limit(RLIMIT_AS, o.memory_bytes, o.memory_bytes)
      .Limit(RLIMIT_FSIZE, o.max_file_bytes, o.max_file_bytes)
      .Limit(RLIMIT_CORE, 0, 0);
  HandedFds handed;
  std::vector<std::string> env = {"LANG=C.UTF-8", "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1",
                                  "MKL_NUM_THREADS=1", std::string("PATH=") + kSandboxPath};
  if (proc->sandboxed_) {
    proc->scratch_dir_ = "/work";
    if (sandbox.drops_root()) child.drop_to = std::pair<uid_t, gid_t>(o.run_as_uid, o.run_as_gid);
    child.cwd = "/";
    std::vector<std::string>& argv = child.argv;
    argv = sandbox.bwrap_prefix();
    for (const auto& [host, inside] : spec.read_only_binds) {
      argv.insert(argv.end(), {"--ro-bind", host, inside});
    }
    if (Status s = OpenCopiedFiles(spec, &handed, &child); !s.ok()) return s;
    for (const std::string& dir : spec.dirs) argv.insert(argv.end(), {"--dir", dir});
    for (size_t i = 0; i < spec.copied_files.size(); ++i) {
      const int fd = PythonSandbox::kSeccompFd + 1 + static_cast<int>(i);
      argv.insert(argv.end(), {"--perms", spec.copied_files[i].executable ? "0555" : "0444",
                               "--ro-bind-data", std::to_string(fd), spec.copied_files[i].inside});
    }
    for (const auto& [target, inside] : spec.symlinks) {
      argv.insert(argv.end(), {"--symlink", target, inside});
    }
    argv.insert(argv.end(), {"--remount-ro", "/", "--chdir", spec.cwd.empty() ? "/work" : spec.cwd,
                             "--seccomp", std::to_string(PythonSandbox::kSeccompFd), "--clearenv"});
    env.insert(env.end(), {"HOME=/work", "TMPDIR=/work"});
    env.insert(env.end(), spec.env.begin(), spec.env.end());
    env = ChildEnvironmentFrom(env);  // no run secret, whatever spec.env holds
    for (const auto& kv : env) {
      size_t eq = kv.find('=');
      argv.insert(argv.end(), {"--setenv", kv.substr(0, eq), kv.substr(eq + 1)});
    }
    const std::string nproc = std::to_string(o.max_processes);
    argv.insert(argv.end(), {"--", sandbox.prlimit_path(), "--nproc=" + nproc + ":" + nproc, "--"});
    argv.insert(argv.end(), spec.argv.begin(), spec.argv.end());
    child.env = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
    // The same seccomp filter as tool calls, handed to bwrap: no ptrace, and no new processes
    // unless tools.allow_subprocess, so RLIMIT_AS bounds a worker as it bounds a tool call.
    const int memfd = sandbox.NewSeccompFd();
    if (memfd < 0) return Status::IoError("memfd for the seccomp filter: " + ErrnoText(errno));
    handed.fds.push_back(memfd);
    child.KeepFd(memfd, PythonSandbox::kSeccompFd);
  } else {
    std::string root = o.scratch_root;
    if (root.empty()) {
      const char* tmpdir = std::getenv("TMPDIR");
      root = tmpdir && *tmpdir ? tmpdir : "/tmp";
    }
    std::string templ = (fs::path(root) / "tfgrpo-worker-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      return Status::IoError("cannot create a scratch dir under " + root + ": " + ErrnoText(errno));
    }
    proc->scratch_dir_ = templ;
    proc->owns_scratch_ = true;  // removed by proc's destructor, also on the error paths below
    child.cwd = spec.cwd.empty() ? templ : spec.cwd;
    child.argv = spec.argv;
    child.search_path = kSandboxPath;
    env.insert(env.end(), {"HOME=" + templ, "TMPDIR=" + templ});
    env.insert(env.end(), spec.env.begin(), spec.env.end());
    child.env = ChildEnvironmentFrom(env);  // no run secret, whatever spec.env holds
    child.Limit(RLIMIT_NPROC, o.max_processes, o.max_processes);
    child.ParentDeathSignal(SIGKILL);  // bwrap has --die-with-parent; a plain process gets it here
    child.no_new_privs = true;
    child.seccomp_program = sandbox.seccomp_program();
  }

  auto started = (launcher ? launcher : &DefaultLauncher())->Spawn(child);
  if (!started.ok()) return started.status();
  proc->process_ = std::move(*started);
  return proc;
}

void SandboxedProcess::Kill() {
  if (process_) process_->Signal(SIGKILL);
}

std::optional<int> SandboxedProcess::ExitCode(bool wait) {
  if (!process_) return -1;
  const ExitStatus status = wait ? process_->Wait() : process_->Wait(0);
  if (status.running()) return std::nullopt;
  return status.ShellCode();
}

SandboxedProcess::~SandboxedProcess() {
  process_.reset();  // SIGKILL to its group, reaped, pipes closed
  if (owns_scratch_) {
    std::error_code ec;
    fs::remove_all(scratch_dir_, ec);
  }
}

}  // namespace tfgrpo
