// Spawn: one fork+execve for every child process tfgrpo starts. The parent prepares a ChildPlan
// (C strings, descriptor moves, limits, the seccomp program) so that the forked child only makes
// async-signal-safe system calls; the child reports a failed stage and its errno on a close-on-exec
// pipe, which reads EOF in the parent exactly when execve succeeded.
#include "tfgrpo/process.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace tfgrpo {
namespace {

using Clock = std::chrono::steady_clock;

std::string ErrnoText(int err) {
  char buf[256];
  return std::string(strerror_r(err, buf, sizeof buf));
}

enum Stage : int {
  kStageCgroup = 1, kStageFds, kStageLimits, kStageParentGone, kStageChdir, kStageDropRoot,
  kStageSeccomp, kStageExec
};

std::string StageText(int stage, const SpawnSpec& spec) {
  switch (stage) {
    case kStageCgroup: return "joining its cgroup";
    case kStageFds: return "setting up its file descriptors";
    case kStageLimits: return "setting its resource limits";
    case kStageParentGone: return "its parent exited while it started";
    case kStageChdir: return "changing directory to " + spec.cwd;
    case kStageDropRoot:
      return "dropping privileges to uid " + std::to_string(spec.drop_to ? spec.drop_to->first : 0);
    case kStageSeccomp: return "installing its seccomp filter";
  }
  return "starting it";
}

// A descriptor closed when it goes out of scope: every error path of Spawn closes what it opened.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Everything the child needs, prepared before fork().
struct ChildPlan {
  std::vector<std::string> argv_strings, env_strings;
  std::vector<char*> argv, envp;
  const char* program = nullptr;
  const char* cwd = nullptr;
  std::vector<std::pair<int, int>> moves;  // {source fd, child fd}
  std::vector<int> scratch;                // one slot per move, written by the child
  int report_fd = -1;
  int high_base = 0;    // above every source and target: where the child parks copies
  int report_slot = 3;  // where the report pipe sits during exec (closed by it)
  int max_fd = 65536;   // for the close loop where close_range is missing
  const SpawnSpec* spec = nullptr;
  sock_fprog seccomp{};
  pid_t parent = 0;
};

[[noreturn]] void ChildFail(int report_fd, int stage) {
  int msg[2] = {stage, errno};
  ssize_t ignored = ::write(report_fd, msg, sizeof msg);
  (void)ignored;
  ::_exit(127);
}

// Runs in the forked child: async-signal-safe system calls only.
[[noreturn]] void ChildMain(ChildPlan& plan) {
  const SpawnSpec& spec = *plan.spec;
  int report = plan.report_fd;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // SIG_IGN survives exec
  if (spec.new_process_group) setpgid(0, 0);
  // Before anything else, so that everything this process starts is accounted to the cgroup.
  if (spec.join_cgroup_fd >= 0 && ::write(spec.join_cgroup_fd, "0", 1) != 1) ChildFail(report, kStageCgroup);

  // Park the report pipe and every source above all targets first, so that no move overwrites a
  // source not yet moved, whatever the numbers; then move each into place.
  const int parked = ::fcntl(report, F_DUPFD_CLOEXEC, plan.high_base);
  if (parked < 0) ChildFail(report, kStageFds);
  report = parked;
  for (size_t i = 0; i < plan.moves.size(); ++i) {
    plan.scratch[i] = ::fcntl(plan.moves[i].first, F_DUPFD, plan.high_base);
    if (plan.scratch[i] < 0) ChildFail(report, kStageFds);
  }
  for (size_t i = 0; i < plan.moves.size(); ++i)
    if (::dup2(plan.scratch[i], plan.moves[i].second) < 0) ChildFail(report, kStageFds);
  if (::dup3(report, plan.report_slot, O_CLOEXEC) < 0) ChildFail(report, kStageFds);
  report = plan.report_slot;
  // Descriptors other threads opened without O_CLOEXEC must not reach the child either: those
  // between the kept ones, and all above the report pipe.
  for (int fd = 3; fd < plan.report_slot; ++fd) {
    bool target = false;
    for (const auto& move : plan.moves) target = target || move.second == fd;
    if (!target) ::close(fd);
  }
  if (syscall(SYS_close_range, static_cast<unsigned>(plan.report_slot + 1), ~0u, 0u) != 0) {
    for (int fd = plan.report_slot + 1; fd < plan.max_fd; ++fd) ::close(fd);
  }

  for (const ResourceLimit& l : spec.rlimits) {
    struct rlimit rl {static_cast<rlim_t>(l.soft), static_cast<rlim_t>(l.hard)};
    if (setrlimit(l.resource, &rl) != 0) ChildFail(report, kStageLimits);
  }
  if (spec.parent_death_signal != 0) {
    prctl(PR_SET_PDEATHSIG, spec.parent_death_signal, 0, 0, 0);
    if (getppid() != plan.parent) {
      errno = ESRCH;
      ChildFail(report, kStageParentGone);
    }
  }
  if (plan.cwd && chdir(plan.cwd) != 0) ChildFail(report, kStageChdir);
  if (spec.drop_to) {
    // Raw syscalls: only this thread exists in the child, and glibc's wrappers would try to
    // synchronise with threads that were not copied by fork().
    const auto [uid, gid] = *spec.drop_to;
    if (syscall(SYS_setgroups, 0, nullptr) != 0 || syscall(SYS_setresgid, gid, gid, gid) != 0 ||
        syscall(SYS_setresuid, uid, uid, uid) != 0) {
      ChildFail(report, kStageDropRoot);
    }
  }
  if (spec.no_new_privs) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (plan.seccomp.len > 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &plan.seccomp, 0, 0) != 0)
    ChildFail(report, kStageSeccomp);
  execve(plan.program, plan.argv.data(), plan.envp.data());
  ChildFail(report, kStageExec);
}

std::optional<std::string> ResolveOnPath(const std::string& name, const std::string& path_value) {
  size_t start = 0;
  while (start <= path_value.size()) {
    size_t end = path_value.find(':', start);
    if (end == std::string::npos) end = path_value.size();
    std::string dir = path_value.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

// The one thread that forks children with a parent-death signal (or bwrap's --die-with-parent):
// the kernel sends it when the forking *thread* exits, and callers are often short-lived pool
// threads. It never exits; deliberately leaked, since it may still wait for work at exit.
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

ExitStatus FromWaitStatus(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.state = ExitStatus::State::kExited;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.state = ExitStatus::State::kSignaled;
    s.signal = WTERMSIG(status);
  }
  return s;
}

}  // namespace

int ExitStatus::ShellCode() const {
  if (exited()) return code;
  if (signaled()) return 128 + signal;
  return -1;
}

std::string ExitStatus::Describe() const {
  if (exited()) return "exited with status " + std::to_string(code);
  if (signaled()) return "was killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  return "is still running";
}

class ProcessSpawner {
 public:
  static Result<std::unique_ptr<Process>> Run(const SpawnSpec& spec);
};

Result<std::unique_ptr<Process>> ProcessSpawner::Run(const SpawnSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) return Status::InvalidArgument("spawn: empty argv");
  if (spec.stdin_.kind == Stdio::Kind::kToStdout || spec.stdout_.kind == Stdio::Kind::kToStdout)
    return Status::InvalidArgument("spawn: only stderr can go to stdout");
  for (const Stdio* s : {&spec.stdin_, &spec.stdout_, &spec.stderr_})
    if (s->kind == Stdio::Kind::kFd && s->fd < 0) return Status::InvalidArgument("spawn: Stdio::Fd with a negative fd");
  std::vector<int> targets;
  for (const auto& [from, to] : spec.keep_fds) {
    if (from < 0 || to <= 2) {
      return Status::InvalidArgument("spawn: keep_fds {" + std::to_string(from) + ", " + std::to_string(to) +
                                     "}: the parent fd must be open and the child fd above 2");
    }
    if (std::find(targets.begin(), targets.end(), to) != targets.end())
      return Status::InvalidArgument("spawn: keep_fds names child fd " + std::to_string(to) + " twice");
    targets.push_back(to);
  }

  auto plan = std::make_unique<ChildPlan>();
  plan->spec = &spec;
  plan->argv_strings = spec.wrapper;
  plan->argv_strings.insert(plan->argv_strings.end(), spec.argv.begin(), spec.argv.end());
  plan->env_strings = spec.env;
  if (plan->argv_strings[0].empty()) return Status::InvalidArgument("spawn: empty wrapper[0]");
  std::string program = plan->argv_strings[0];
  if (program.find('/') == std::string::npos) {
    std::string path_value = spec.search_path;
    if (path_value.empty()) {
      path_value = "/usr/bin:/bin";
      for (const auto& entry : spec.env)
        if (entry.rfind("PATH=", 0) == 0) path_value = entry.substr(5);
    }
    auto found = ResolveOnPath(program, path_value);
    if (!found) {
      return Status::NotFound("cannot run `" + program + "`: no executable of that name on the search path (" +
                              path_value + ")");
    }
    program = *found;
  }
  plan->argv_strings[0] = program;  // what the child sees as argv[0]: the resolved path, like execvp
  for (auto& s : plan->argv_strings) plan->argv.push_back(s.data());
  plan->argv.push_back(nullptr);
  for (auto& s : plan->env_strings) plan->envp.push_back(s.data());
  plan->envp.push_back(nullptr);
  plan->program = plan->argv_strings[0].c_str();
  if (!spec.cwd.empty()) plan->cwd = spec.cwd.c_str();
  if (!spec.seccomp_program.empty()) {
    plan->seccomp.len = static_cast<unsigned short>(spec.seccomp_program.size() / sizeof(sock_filter));
    plan->seccomp.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(spec.seccomp_program.data()));
  }

  // The standard streams. Child ends close when this function returns; parent ends move to the
  // Process only on success.
  Fd null_fd;
  Fd child_end[3], parent_end[3];
  const Stdio* streams[3] = {&spec.stdin_, &spec.stdout_, &spec.stderr_};
  for (int i = 0; i < 3; ++i) {
    const Stdio& s = *streams[i];
    switch (s.kind) {
      case Stdio::Kind::kInherit:
        break;
      case Stdio::Kind::kNull:
        if (null_fd.get() < 0) {
          null_fd.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
          if (null_fd.get() < 0) return Status::IoError("spawn: /dev/null: " + ErrnoText(errno));
        }
        plan->moves.emplace_back(null_fd.get(), i);
        break;
      case Stdio::Kind::kPipe: {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) return Status::IoError("spawn: pipe: " + ErrnoText(errno));
        child_end[i].reset(i == 0 ? p[0] : p[1]);
        parent_end[i].reset(i == 0 ? p[1] : p[0]);
        if (s.nonblocking)
          ::fcntl(parent_end[i].get(), F_SETFL, ::fcntl(parent_end[i].get(), F_GETFL) | O_NONBLOCK);
        plan->moves.emplace_back(child_end[i].get(), i);
        break;
      }
      case Stdio::Kind::kFd:
        plan->moves.emplace_back(s.fd, i);
        break;
      case Stdio::Kind::kToStdout: {
        int source = 1;  // stdout inherited: our own fd 1
        for (const auto& [from, to] : plan->moves)
          if (to == 1) source = from;
        plan->moves.emplace_back(source, 2);
        break;
      }
    }
  }
  for (const auto& kept : spec.keep_fds) plan->moves.push_back(kept);
  plan->scratch.assign(plan->moves.size(), -1);

  int report_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) != 0) return Status::IoError("spawn: pipe: " + ErrnoText(errno));
  Fd report_r(report_pipe[0]), report_w(report_pipe[1]);
  plan->report_fd = report_w.get();
  int highest_target = 2;
  for (int t : targets) highest_target = std::max(highest_target, t);
  plan->report_slot = highest_target + 1;
  int highest = std::max(plan->report_slot, report_w.get());
  for (const auto& [from, to] : plan->moves) highest = std::max(highest, from);
  plan->high_base = highest + 1;
  struct rlimit nofile {};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  plan->max_fd = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20));

  pid_t pid = -1;
  int fork_errno = 0;
  auto fork_now = [&] {
    plan->parent = ::getpid();
    pid = ::fork();
    if (pid == 0) ChildMain(*plan);
    fork_errno = errno;
  };
  if (spec.parent_death_signal != 0 || spec.lasting_parent) {
    ForkThread::Get().Run(fork_now);
  } else {
    fork_now();
  }
  if (pid < 0) return Status::Unavailable("cannot start `" + program + "`: fork: " + ErrnoText(fork_errno));
  if (spec.new_process_group) ::setpgid(pid, pid);  // also done by the child; whichever runs first
  report_w.reset();
  for (Fd& fd : child_end) fd.reset();
  null_fd.reset();

  int report[2] = {0, 0};
  size_t got = 0;
  while (got < sizeof report) {
    ssize_t n = ::read(report_r.get(), reinterpret_cast<char*>(report) + got, sizeof report - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got == sizeof report) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (report[0] == kStageExec) return Status::Unavailable("cannot run `" + program + "`: " + ErrnoText(report[1]));
    return Status::Unavailable("cannot start `" + program + "`: " + StageText(report[0], spec) + ": " +
                               ErrnoText(report[1]));
  }

  std::unique_ptr<Process> proc(new Process());
  proc->pid_ = pid;
  proc->pgid_ = spec.new_process_group ? pid : -1;
  proc->stdin_fd_ = parent_end[0].release();
  proc->stdout_fd_ = parent_end[1].release();
  proc->stderr_fd_ = parent_end[2].release();
  proc->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));  // close-on-exec by default
  return proc;
}

Result<std::unique_ptr<Process>> Spawn(const SpawnSpec& spec) { return ProcessSpawner::Run(spec); }

Process::~Process() {
  if (pid_ > 0) {
    if (!reaped_) {
      Signal(SIGKILL);
      Wait();
    } else if (pgid_ > 0) {
      ::kill(-pgid_, SIGKILL);  // what the child left behind in its group
    }
  }
  for (int fd : {stdin_fd_, stdout_fd_, stderr_fd_, pidfd_})
    if (fd >= 0) ::close(fd);
}

void Process::CloseStdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

void Process::Signal(int sig) {
  if (pid_ <= 0) return;
  if (pgid_ > 0) ::kill(-pgid_, sig);
  if (!reaped_) ::kill(pid_, sig);
}

bool Process::HasExited() {
  if (reaped_) return true;
  siginfo_t info{};
  const int w = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  return (w == 0 && info.si_pid == pid_) || (w < 0 && errno == ECHILD);
}

ExitStatus Process::Wait(double timeout_s) {
  if (reaped_ || pid_ <= 0) return status_;
  const bool forever = timeout_s >= 1e12;
  const auto deadline = forever ? Clock::time_point::max()
                                : Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                     std::chrono::duration<double>(std::max(timeout_s, 0.0)));
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, forever ? 0 : WNOHANG);
    if (r == pid_) {
      status_ = FromWaitStatus(status);
      reaped_ = true;
      return status_;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {  // ECHILD: someone else reaped it; report it as gone
      status_.state = ExitStatus::State::kSignaled;
      status_.signal = SIGKILL;
      reaped_ = true;
      return status_;
    }
    const auto now = Clock::now();
    if (now >= deadline) return ExitStatus{};
    const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long long>(left_ms, INT_MAX)));
    } else {
      ::usleep(static_cast<useconds_t>(std::min<long long>(left_ms, 10) * 1000));
    }
  }
}

ExitStatus Process::Stop(int term_signal, double grace_s) {
  Signal(term_signal);
  ExitStatus s = Wait(grace_s);
  if (s.running()) {
    Signal(SIGKILL);
    s = Wait();
  }
  return s;
}

namespace {
class RealLauncher : public Launcher {
 public:
  Result<std::unique_ptr<Process>> Spawn(const SpawnSpec& spec) override { return tfgrpo::Spawn(spec); }
};
}  // namespace

Launcher& DefaultLauncher() {
  static RealLauncher* launcher = new RealLauncher();
  return *launcher;
}

}  // namespace tfgrpo
