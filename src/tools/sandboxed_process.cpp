// SandboxedProcess: one fork+execve of a long-lived process, bubblewrap in between unless the
// sandbox is in "none" mode. The bwrap arguments, interpreter and root handling come from the
// PythonSandbox (sandbox.cpp explains the uid and RLIMIT_NPROC choices; they apply here too).
#include "tfgrpo/sandboxed_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "tfgrpo/secrets.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSandboxPath = "/usr/local/bin:/usr/bin:/bin";

std::string ErrnoText(int err) {
  char buf[256];
  return std::string(strerror_r(err, buf, sizeof buf));
}

std::string ResolveOnSandboxPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::string dirs = kSandboxPath;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;  // execve fails and says so
}

// Everything the child needs, prepared before fork(): only async-signal-safe calls after it.
struct ChildPlan {
  std::vector<std::string> argv, envp;
  std::string cwd;
  bool sandboxed = false;
  bool drop_root = false;
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t parent = 0;
  int cpu_limit_s = 0;
  const SandboxOptions* limits = nullptr;
  // The tool sandbox's seccomp filter: bwrap mode hands bwrap a memfd at kSeccompFd (numbered
  // above 9 here, so the dups below leave it be); none mode installs it right before execve.
  int seccomp_fd = -1;
  const sock_fprog* seccomp = nullptr;
  // Files copied into the sandbox (SandboxedProcessSpec::copied_files): open descriptors, all
  // numbered above kSeccompFd + copied_fds.size(), that the child moves to kSeccompFd + 1 + i.
  std::vector<int> copied_fds;
};

enum Stage : int { kFds = 1, kLimits, kChdir, kDropRoot, kSeccomp, kExec };

const char* StageName(int stage) {
  switch (stage) {
    case kFds: return "setting up file descriptors for";
    case kLimits: return "setting resource limits for";
    case kChdir: return "changing directory for";
    case kDropRoot: return "dropping root privileges for";
    case kSeccomp: return "installing the seccomp filter for";
    case kExec: return "executing";
  }
  return "starting";
}

[[noreturn]] void ChildFail(int report_fd, int stage) {
  int msg[2] = {stage, errno};
  ssize_t ignored = ::write(report_fd, msg, sizeof msg);
  (void)ignored;
  ::_exit(127);
}

[[noreturn]] void ChildExec(const ChildPlan& plan, char* const* argv, char* const* envp, int in_fd,
                            int out_fd, int err_fd, int report_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  setpgid(0, 0);
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) ChildFail(report_fd, kFds);
  if (report_fd != 3) {
    if (dup3(report_fd, 3, O_CLOEXEC) < 0) ChildFail(report_fd, kFds);
    report_fd = 3;
  }
  unsigned first_closed = 4;
  if (plan.seccomp_fd >= 0) {
    if (dup2(plan.seccomp_fd, PythonSandbox::kSeccompFd) < 0) ChildFail(report_fd, kFds);
    first_closed = PythonSandbox::kSeccompFd + 1;
  }
  // The sources are numbered above every target, so no move overwrites a source not yet moved.
  for (size_t i = 0; i < plan.copied_fds.size(); ++i) {
    const int target = PythonSandbox::kSeccompFd + 1 + static_cast<int>(i);
    if (dup2(plan.copied_fds[i], target) < 0) ChildFail(report_fd, kFds);
    first_closed = static_cast<unsigned>(target) + 1;
  }
  if (syscall(SYS_close_range, first_closed, ~0u, 0u) != 0) {
    for (int fd = static_cast<int>(first_closed); fd < 65536; ++fd) ::close(fd);
  }
  const SandboxOptions& o = *plan.limits;
  auto limit = [&](int resource, rlim_t soft, rlim_t hard) {
    struct rlimit rl {soft, hard};
    if (setrlimit(resource, &rl) != 0) ChildFail(report_fd, kLimits);
  };
  if (plan.cpu_limit_s > 0) {
    limit(RLIMIT_CPU, static_cast<rlim_t>(plan.cpu_limit_s), static_cast<rlim_t>(plan.cpu_limit_s) + 1);
  }
  limit(RLIMIT_AS, o.memory_bytes, o.memory_bytes);
  limit(RLIMIT_FSIZE, o.max_file_bytes, o.max_file_bytes);
  limit(RLIMIT_CORE, 0, 0);
  if (!plan.sandboxed) {
    limit(RLIMIT_NPROC, o.max_processes, o.max_processes);
    // bwrap has --die-with-parent; a plain process gets the same from the kernel.
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != plan.parent) ::_exit(127);
  }
  if (chdir(plan.cwd.c_str()) != 0) ChildFail(report_fd, kChdir);
  if (plan.drop_root) {
    if (syscall(SYS_setgroups, 0, nullptr) != 0 || syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0 ||
        syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) {
      ChildFail(report_fd, kDropRoot);
    }
  }
  if (!plan.sandboxed) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (plan.seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, plan.seccomp, 0, 0) != 0)
    ChildFail(report_fd, kSeccomp);
  execve(argv[0], argv, envp);
  ChildFail(report_fd, kExec);
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The one thread every SandboxedProcess is forked from; it never exits, so no child ever sees
// its parent thread die while the program runs. Deliberately leaked: it may still be waiting
// for work while static destructors run at exit.
class ForkThread {
 public:
  static ForkThread& Get() {
    static ForkThread* instance = new ForkThread();
    return *instance;
  }
  void Run(const std::function<void()>& job) {
    std::packaged_task<void()> task(job);
    std::future<void> done = task.get_future();
    {
      std::lock_guard lock(mu_);
      queue_.push_back(&task);
    }
    cv_.notify_one();
    done.wait();
  }

 private:
  ForkThread() {
    std::thread([this] {
      while (true) {
        std::packaged_task<void()>* task;
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [this] { return !queue_.empty(); });
          task = queue_.front();
          queue_.pop_front();
        }
        (*task)();
      }
    }).detach();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<void()>*> queue_;
};

// Opens every file to copy into the sandbox, with this process's rights (the sandbox's user may
// have none on the host path), numbered above the slots the child moves them to.
Status OpenCopiedFiles(const SandboxedProcessSpec& spec, ChildPlan* plan) {
  auto fail = [plan](Status s) {
    for (int fd : plan->copied_fds) ::close(fd);
    plan->copied_fds.clear();
    return s;
  };
  if (spec.copied_files.size() > SandboxedProcessSpec::kMaxCopiedFiles) {
    return Status::InvalidArgument("sandboxed process: " + std::to_string(spec.copied_files.size()) +
                                   " files to copy in, more than " +
                                   std::to_string(SandboxedProcessSpec::kMaxCopiedFiles));
  }
  const int above = PythonSandbox::kSeccompFd + 1 + static_cast<int>(spec.copied_files.size());
  for (const auto& file : spec.copied_files) {
    const int fd = ::open(file.host.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return fail(Status::IoError("cannot open " + file.host + " to copy it into the sandbox: " + ErrnoText(errno)));
    const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, above);
    const int err = errno;
    ::close(fd);
    if (moved < 0) return fail(Status::IoError("cannot keep " + file.host + " open for the sandbox: " + ErrnoText(err)));
    plan->copied_fds.push_back(moved);
  }
  return Status::Ok();
}

}  // namespace

struct SandboxedProcessSpawner {
  static Status SpawnInto(SandboxedProcess& proc, const ChildPlan& const_plan) {
    ChildPlan plan = const_plan;
    int fds[2];
    int in_r = -1, in_w = -1, out_r = -1, out_w = -1, err_r = -1, err_w = -1, rep_r = -1, rep_w = -1;
    auto close_all = [&] {
      for (int fd : {in_r, in_w, out_r, out_w, err_r, err_w, rep_r, rep_w})
        if (fd >= 0) ::close(fd);
    };
    for (auto [r, w] : {std::pair{&in_r, &in_w}, {&out_r, &out_w}, {&err_r, &err_w}, {&rep_r, &rep_w}}) {
      if (::pipe2(fds, O_CLOEXEC) != 0) {
        int err = errno;
        close_all();
        return Status::IoError("pipe: " + ErrnoText(err));
      }
      *r = fds[0];
      *w = fds[1];
    }
    std::vector<char*> argv = CStrings(plan.argv);
    std::vector<char*> envp = CStrings(plan.envp);
    plan.parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      int err = errno;
      close_all();
      return Status::Unavailable("fork: " + ErrnoText(err));
    }
    if (pid == 0) ChildExec(plan, argv.data(), envp.data(), in_r, out_w, err_w, rep_w);
    ::setpgid(pid, pid);
    for (int* fd : {&in_r, &out_w, &err_w, &rep_w}) {
      ::close(*fd);
      *fd = -1;
    }
    int report[2] = {0, 0};
    size_t got = 0;
    while (got < sizeof report) {
      ssize_t n = ::read(rep_r, reinterpret_cast<char*>(report) + got, sizeof report - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(rep_r);
    rep_r = -1;
    proc.pid_ = pid;
    proc.stdin_fd_ = in_w;
    proc.stdout_fd_ = out_r;
    proc.stderr_fd_ = err_r;
    ::fcntl(out_r, F_SETFL, ::fcntl(out_r, F_GETFL) | O_NONBLOCK);
    ::fcntl(err_r, F_SETFL, ::fcntl(err_r, F_GETFL) | O_NONBLOCK);
    if (got == sizeof report) {
      proc.ExitCode(/*wait=*/true);
      return Status::Unavailable(std::string(StageName(report[0])) + " " + plan.argv[0] + ": " +
                                 ErrnoText(report[1]));
    }
    return Status::Ok();
  }
};

Result<std::unique_ptr<SandboxedProcess>> SandboxedProcess::Spawn(const PythonSandbox& sandbox,
                                                                  const SandboxedProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) return Status::InvalidArgument("sandboxed process: empty argv");
  const SandboxOptions& o = sandbox.options();
  std::unique_ptr<SandboxedProcess> proc(new SandboxedProcess());
  proc->sandboxed_ = o.mode == "bwrap";

  ChildPlan plan;
  plan.limits = &o;
  plan.cpu_limit_s = spec.cpu_limit_s;
  plan.sandboxed = proc->sandboxed_;
  std::vector<std::string> env = {"LANG=C.UTF-8", "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1",
                                  "MKL_NUM_THREADS=1", std::string("PATH=") + kSandboxPath};
  if (proc->sandboxed_) {
    proc->scratch_dir_ = "/work";
    plan.drop_root = sandbox.drops_root();
    plan.uid = o.run_as_uid;
    plan.gid = o.run_as_gid;
    plan.cwd = "/";
    plan.argv = sandbox.bwrap_prefix();
    for (const auto& [host, inside] : spec.read_only_binds) {
      plan.argv.insert(plan.argv.end(), {"--ro-bind", host, inside});
    }
    if (Status s = OpenCopiedFiles(spec, &plan); !s.ok()) return s;
    for (const std::string& dir : spec.dirs) plan.argv.insert(plan.argv.end(), {"--dir", dir});
    for (size_t i = 0; i < spec.copied_files.size(); ++i) {
      const int fd = PythonSandbox::kSeccompFd + 1 + static_cast<int>(i);
      plan.argv.insert(plan.argv.end(), {"--perms", spec.copied_files[i].executable ? "0555" : "0444",
                                         "--ro-bind-data", std::to_string(fd), spec.copied_files[i].inside});
    }
    for (const auto& [target, inside] : spec.symlinks) {
      plan.argv.insert(plan.argv.end(), {"--symlink", target, inside});
    }
    plan.argv.insert(plan.argv.end(), {"--remount-ro", "/", "--chdir", spec.cwd.empty() ? "/work" : spec.cwd,
                                       "--seccomp", std::to_string(PythonSandbox::kSeccompFd), "--clearenv"});
    env.insert(env.end(), {"HOME=/work", "TMPDIR=/work"});
    env.insert(env.end(), spec.env.begin(), spec.env.end());
    env = ChildEnvironmentFrom(env);  // no run secret, whatever spec.env holds
    for (const auto& kv : env) {
      size_t eq = kv.find('=');
      plan.argv.insert(plan.argv.end(), {"--setenv", kv.substr(0, eq), kv.substr(eq + 1)});
    }
    const std::string nproc = std::to_string(o.max_processes);
    plan.argv.insert(plan.argv.end(), {"--", sandbox.prlimit_path(), "--nproc=" + nproc + ":" + nproc, "--"});
    plan.argv.insert(plan.argv.end(), spec.argv.begin(), spec.argv.end());
    plan.envp = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
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
    proc->owns_scratch_ = true;
    plan.cwd = spec.cwd.empty() ? templ : spec.cwd;
    plan.argv = spec.argv;
    plan.argv[0] = ResolveOnSandboxPath(plan.argv[0]);
    env.insert(env.end(), {"HOME=" + templ, "TMPDIR=" + templ});
    env.insert(env.end(), spec.env.begin(), spec.env.end());
    plan.envp = ChildEnvironmentFrom(env);  // no run secret, whatever spec.env holds
  }

  // The same seccomp filter as tool calls: no ptrace, and no new processes unless
  // tools.allow_subprocess, so RLIMIT_AS bounds a worker as it bounds a tool call.
  const std::string& bpf = sandbox.seccomp_program();
  const sock_fprog seccomp_prog{static_cast<unsigned short>(bpf.size() / sizeof(sock_filter)),
                                reinterpret_cast<sock_filter*>(const_cast<char*>(bpf.data()))};
  int seccomp_fd = -1;
  if (proc->sandboxed_) {
    const int memfd = sandbox.NewSeccompFd();
    if (memfd >= 0) {
      seccomp_fd = ::fcntl(memfd, F_DUPFD_CLOEXEC, 10);
      ::close(memfd);
    }
    if (seccomp_fd < 0) {
      const int err = errno;
      for (int fd : plan.copied_fds) ::close(fd);
      return Status::IoError("memfd for the seccomp filter: " + ErrnoText(err));
    }
    plan.seccomp_fd = seccomp_fd;
  } else {
    plan.seccomp = &seccomp_prog;
  }

  Status status;
  ForkThread::Get().Run([&] { status = SandboxedProcessSpawner::SpawnInto(*proc, plan); });
  if (seccomp_fd >= 0) ::close(seccomp_fd);
  for (int fd : plan.copied_fds) ::close(fd);
  if (!status.ok()) return status;
  return proc;
}

void SandboxedProcess::Kill() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
}

std::optional<int> SandboxedProcess::ExitCode(bool wait) {
  if (pid_ <= 0) return -1;
  if (reaped_) return exit_code_;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, wait ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return std::nullopt;
  reaped_ = true;
  if (r < 0) {
    exit_code_ = -1;
  } else if (WIFEXITED(status)) {
    exit_code_ = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit_code_ = 128 + WTERMSIG(status);
  } else {
    exit_code_ = -1;
  }
  return exit_code_;
}

SandboxedProcess::~SandboxedProcess() {
  Kill();
  for (int fd : {stdin_fd_, stdout_fd_, stderr_fd_})
    if (fd >= 0) ::close(fd);
  if (pid_ > 0) ExitCode(/*wait=*/true);
  if (owns_scratch_) {
    std::error_code ec;
    fs::remove_all(scratch_dir_, ec);
  }
}

}  // namespace tfgrpo
