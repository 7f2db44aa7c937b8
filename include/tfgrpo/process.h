// Child processes: the one place tfgrpo forks and execs. A SpawnSpec says everything about the
// child (argv, full environment, cwd, each stdio stream, descriptors to hand over, rlimits, process
// group, parent-death signal, uid/gid drop, seccomp filter); Spawn starts it and returns a Process
// handle (pipes, signal the group, wait with a deadline, reaped on destruction). Used by the python
// tool sandbox, the reward workers, MCP stdio servers and (issue 18) the user's agent programs.
//
// Contract:
//  - Everything the child needs is prepared before fork(); between fork and execve the child makes
//    async-signal-safe system calls only (no allocation, no locks), so any thread may spawn.
//  - A child that cannot be started (exec failure, chdir, rlimit, uid drop, seccomp) reports the
//    stage and errno to the parent through a close-on-exec pipe, and Spawn returns an error such as
//    "cannot run `./agent`: No such file or directory" instead of a child that exits 127.
//  - No descriptor leaks: every descriptor Spawn opened is closed on every error path; the child
//    gets only 0, 1, 2 and SpawnSpec::keep_fds (all others are closed before execve, whether or not
//    they were opened close-on-exec).
//  - A Process never leaves a zombie: its destructor kills (SIGKILL, the whole group when it has
//    its own) and reaps a child that is still running, SIGKILLs what is left of its group when the
//    child already ended, then closes the pipe ends it still owns.
//
// Errors (Status codes returned by Spawn):
//  | InvalidArgument | empty argv, an fd mapping onto the same child descriptor twice, a negative fd |
//  | NotFound        | argv[0] is a bare name not found as an executable on the search path          |
//  | IoError         | pipe() or opening /dev/null failed in the parent                              |
//  | Unavailable     | fork() failed, or the child reported a failed stage (the message names it)    |
//
// Units: Wait/Stop take seconds (0: do not wait); rlimits are setrlimit's own (bytes, seconds,
// counts). Defaults: stdin /dev/null, stdout and stderr inherited, a new process group.
//
// Threading: Spawn and Launcher::Spawn are thread-safe. A Process is used by one owner at a time
// (its methods are not synchronised), except Signal(), which may be called from any thread while
// the owner waits.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tfgrpo/status.h"

namespace tfgrpo {

// What one of the child's standard streams is connected to.
struct Stdio {
  enum class Kind {
    kInherit,   // the parent's own descriptor (0, 1 or 2)
    kNull,      // /dev/null
    kPipe,      // a new pipe; the parent's end is on the Process (stdin: write end, else read end)
    kFd,        // a descriptor the caller owns (dup'ed into the child; the caller keeps its copy)
    kToStdout,  // stderr only: the same descriptor as the child's stdout (2>&1)
  };
  Kind kind = Kind::kInherit;
  int fd = -1;               // kFd only
  bool nonblocking = false;  // kPipe only: O_NONBLOCK on the parent's end (the child's end stays blocking)

  static Stdio Inherit() { return {}; }
  static Stdio Null() { return {Kind::kNull}; }
  static Stdio Pipe(bool nonblocking = false) { return {Kind::kPipe, -1, nonblocking}; }
  static Stdio Fd(int fd) { return {Kind::kFd, fd}; }
  static Stdio ToStdout() { return {Kind::kToStdout}; }
};

struct ResourceLimit {
  int resource = 0;  // RLIMIT_* from <sys/resource.h>
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// Everything about one child. Fields are public; the setters chain, folly::Subprocess::Options style:
//   SpawnSpec spec; spec.Argv({"node", "agent.mjs"}).Env(ChildEnvironment({})).Cwd(dir)
//       .StdinFrom(Stdio::Pipe()).StdoutTo(Stdio::Pipe(true)).ParentDeathSignal(SIGKILL);
struct SpawnSpec {
  // argv[0]: a path containing '/' (a relative one is resolved by execve after the chdir, so
  // against `cwd` when it is set), or a bare name looked up in `search_path` before forking.
  std::vector<std::string> argv;
  // A sandbox wrapper put in front of argv (e.g. tools' bubblewrap prefix ending in "--"): the
  // child runs wrapper + argv, and program lookup and error messages concern wrapper[0]. Empty:
  // none. Its own descriptors (bwrap --seccomp FD) go in keep_fds.
  std::vector<std::string> wrapper;
  // The child's whole environment, KEY=VALUE; nothing of the parent's is added. Callers pass the
  // scrubbed environment (secrets.h ChildEnvironment / ChildEnvironmentFrom). Empty: none at all.
  std::vector<std::string> env;
  // Where a bare argv[0] is looked up (colon-separated). Empty: the PATH entry of `env`, else
  // "/usr/bin:/bin". Never the parent's own PATH.
  std::string search_path;
  // The child's working directory; empty: the parent's.
  std::string cwd;
  Stdio stdin_ = Stdio::Null();
  Stdio stdout_ = Stdio::Inherit();
  Stdio stderr_ = Stdio::Inherit();
  // Descriptors handed to the child: {parent fd, child fd}. The child fd must be above 2 and
  // distinct; the parent keeps (and closes) its own copies. Every other descriptor is closed.
  std::vector<std::pair<int, int>> keep_fds;
  std::vector<ResourceLimit> rlimits;  // applied in order; a failure fails the spawn
  // setpgid(0, 0): the child leads a new process group, so Signal() reaches all it starts.
  bool new_process_group = true;
  // PR_SET_PDEATHSIG: the signal the child gets when its parent goes; 0 for none. The kernel sends
  // it when the *thread* that forked exits, so such children (and those with lasting_parent) are
  // forked from one long-lived internal thread. A child whose parent is already gone exits 127.
  int parent_death_signal = 0;
  bool lasting_parent = false;  // fork from the internal thread without a death signal (bwrap --die-with-parent)
  // Drop to this uid/gid (setgroups(0), setresgid, setresuid) right before the filter and execve.
  std::optional<std::pair<uid_t, gid_t>> drop_to;
  bool no_new_privs = false;  // PR_SET_NO_NEW_PRIVS (never for a setuid bwrap)
  // A compiled seccomp program (struct sock_filter[], as bwrap --seccomp reads it), installed
  // right before execve; empty: none.
  std::string seccomp_program;
  // A cgroup's cgroup.procs opened for writing: the child moves itself in first, before anything
  // else, so all it starts is accounted there; -1: none. The caller keeps the descriptor.
  int join_cgroup_fd = -1;

  SpawnSpec& Argv(std::vector<std::string> v) { argv = std::move(v); return *this; }
  SpawnSpec& Wrapper(std::vector<std::string> v) { wrapper = std::move(v); return *this; }
  SpawnSpec& Env(std::vector<std::string> v) { env = std::move(v); return *this; }
  SpawnSpec& Cwd(std::string dir) { cwd = std::move(dir); return *this; }
  SpawnSpec& StdinFrom(Stdio s) { stdin_ = s; return *this; }
  SpawnSpec& StdoutTo(Stdio s) { stdout_ = s; return *this; }
  SpawnSpec& StderrTo(Stdio s) { stderr_ = s; return *this; }
  SpawnSpec& KeepFd(int parent_fd, int child_fd) { keep_fds.emplace_back(parent_fd, child_fd); return *this; }
  SpawnSpec& Limit(int resource, uint64_t soft, uint64_t hard) { rlimits.push_back({resource, soft, hard}); return *this; }
  SpawnSpec& ParentDeathSignal(int sig) { parent_death_signal = sig; return *this; }
};

// How a child ended, or that it has not yet.
struct ExitStatus {
  enum class State { kRunning, kExited, kSignaled };
  State state = State::kRunning;
  int code = 0;    // kExited: the exit code
  int signal = 0;  // kSignaled: the signal number
  bool running() const { return state == State::kRunning; }
  bool exited() const { return state == State::kExited; }
  bool signaled() const { return state == State::kSignaled; }
  // The shell's convention: the code, or 128 + the signal; -1 while running.
  int ShellCode() const;
  // "exited with status 1", "was killed by signal 9 (Killed)", "is still running".
  std::string Describe() const;
};

class Process {
 public:
  ~Process();  // SIGKILL (group) and reap when still running; close owned pipe ends
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // The child's process group: its pid with new_process_group, else -1 (it shares ours).
  pid_t pgid() const { return pgid_; }
  // The parent's pipe ends (-1 unless that stream is Stdio::Pipe; also after a Close/Release).
  int stdin_fd() const { return stdin_fd_; }
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }
  // A pidfd of the child (readable once it exits) for poll loops; -1 on kernels without pidfd_open.
  int pidfd() const { return pidfd_; }
  void CloseStdin();  // EOF for the child; idempotent
  // Ownership of a pipe end passes to the caller (the Process no longer closes it).
  int ReleaseStdin() { return std::exchange(stdin_fd_, -1); }
  int ReleaseStdout() { return std::exchange(stdout_fd_, -1); }
  int ReleaseStderr() { return std::exchange(stderr_fd_, -1); }

  // Sends `sig` to the whole process group (new_process_group) and to the child itself; after the
  // child was reaped, to the group only (its id is not reused while any member lives), so what it
  // left behind can still be stopped. Thread-safe; no-op for a group that no longer exists.
  void Signal(int sig);
  // True once the child has exited; does not reap (the zombie keeps the group id reserved).
  bool HasExited();
  // Waits until the child ends or `timeout_s` seconds pass (0: just look; infinity: block) and
  // reaps it once ended; returns kRunning when the time passed first. Later calls return the same
  // status.
  ExitStatus Wait(double timeout_s);
  ExitStatus Wait() { return Wait(std::chrono::duration<double>::max().count()); }
  // Signal(term_signal), Wait(grace_s), then SIGKILL to the group and Wait(): how to stop anything.
  ExitStatus Stop(int term_signal, double grace_s);

 private:
  friend class ProcessSpawner;
  Process() = default;
  pid_t pid_ = -1;
  pid_t pgid_ = -1;
  int stdin_fd_ = -1, stdout_fd_ = -1, stderr_fd_ = -1;
  int pidfd_ = -1;
  std::atomic<bool> reaped_{false};  // read by Signal() from other threads
  ExitStatus status_;
};

// Starts the child described by `spec`; see the error table above.
Result<std::unique_ptr<Process>> Spawn(const SpawnSpec& spec);

// The seam the users take (MCP stdio, reward workers, the python tool, agent runs), defaulting to
// the real one; a test fake can record specs, rewrite argv or fail, the way ScriptedClient fakes
// ChatClient.
class Launcher {
 public:
  virtual ~Launcher() = default;
  virtual Result<std::unique_ptr<Process>> Spawn(const SpawnSpec& spec) = 0;
};
Launcher& DefaultLauncher();  // calls tfgrpo::Spawn; lives for the whole program

}  // namespace tfgrpo
