// The child-process module: exit codes and signals, group kill reaching grandchildren, a wait
// deadline against a program that ignores SIGTERM, exec failures as clear errors, descriptors
// (none leaked in the parent after 200 spawns, only 0-2 and the kept ones in the child, moves that
// collide), the exact environment, cwd, rlimits and a stdout flood drained by the caller.
#include "tfgrpo/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

namespace tfgrpo {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string ReadAll(int fd) {
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return out;
    }
  }
}

std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

SpawnSpec Sh(const std::string& script) {
  SpawnSpec spec;
  spec.Argv({"/bin/sh", "-c", script}).Env({"PATH=/usr/bin:/bin"});
  return spec;
}

int CountOpenFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the directory's own descriptor
}

// A process is gone when /proc has no entry for it or it is a zombie waiting for init.
bool Gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

bool BecomesGone(pid_t pid) {
  for (int i = 0; i < 1000; ++i) {  // generous: the kernel delivers SIGKILL asynchronously
    if (Gone(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(Process, ExitCodeIsReported) {
  auto p = Spawn(Sh("exit 3"));
  ASSERT_TRUE(p.ok()) << p.status().message();
  ExitStatus s = (*p)->Wait();
  EXPECT_TRUE(s.exited());
  EXPECT_EQ(s.code, 3);
  EXPECT_EQ(s.ShellCode(), 3);
  EXPECT_EQ(s.Describe(), "exited with status 3");
  EXPECT_EQ((*p)->Wait().code, 3);  // later calls return the same status
}

TEST(Process, DeathBySignalIsReported) {
  auto p = Spawn(Sh("kill -TERM $$; sleep 5"));
  ASSERT_TRUE(p.ok()) << p.status().message();
  ExitStatus s = (*p)->Wait();
  EXPECT_TRUE(s.signaled());
  EXPECT_EQ(s.signal, SIGTERM);
  EXPECT_EQ(s.ShellCode(), 128 + SIGTERM);
  EXPECT_THAT(s.Describe(), HasSubstr("killed by signal 15"));
}

TEST(Process, WaitWithDeadlineReturnsRunningThenStopKillsAProgramIgnoringSigterm) {
  auto p = Spawn(Sh("trap '' TERM; echo ready; while :; do sleep 0.05; done").StdoutTo(Stdio::Pipe()));
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(ReadLine((*p)->stdout_fd()), "ready");  // the trap is in place
  EXPECT_TRUE((*p)->Wait(0).running());
  (*p)->Signal(SIGTERM);
  EXPECT_TRUE((*p)->Wait(0.2).running());  // ignored
  EXPECT_FALSE((*p)->HasExited());
  ExitStatus s = (*p)->Stop(SIGTERM, 0.1);
  EXPECT_TRUE(s.signaled());
  EXPECT_EQ(s.signal, SIGKILL);
}

TEST(Process, GroupKillReachesAGrandchild) {
  auto p = Spawn(Sh("sleep 1000 & echo $!; wait").StdoutTo(Stdio::Pipe()));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ((*p)->pgid(), (*p)->pid());
  const pid_t grandchild = std::stoi(ReadLine((*p)->stdout_fd()));
  ASSERT_FALSE(Gone(grandchild));
  (*p)->Signal(SIGKILL);
  EXPECT_TRUE((*p)->Wait().signaled());
  EXPECT_TRUE(BecomesGone(grandchild));
}

TEST(Process, DestroyingTheHandleKillsAndReapsTheGroup) {
  pid_t child, grandchild;
  {
    auto p = Spawn(Sh("sleep 1000 & echo $!; wait").StdoutTo(Stdio::Pipe()));
    ASSERT_TRUE(p.ok()) << p.status().message();
    child = (*p)->pid();
    grandchild = std::stoi(ReadLine((*p)->stdout_fd()));
  }
  // Reaped by the destructor: no such child of ours any more (not even a zombie).
  EXPECT_EQ(::waitpid(child, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_TRUE(BecomesGone(grandchild));
}

TEST(Process, ABackgroundChildLeftAfterTheLeaderExitedDiesWithTheHandle) {
  pid_t grandchild;
  {
    auto p = Spawn(Sh("sleep 1000 >/dev/null & echo $!").StdoutTo(Stdio::Pipe()));
    ASSERT_TRUE(p.ok()) << p.status().message();
    grandchild = std::stoi(ReadLine((*p)->stdout_fd()));
    EXPECT_EQ((*p)->Wait().code, 0);
    EXPECT_FALSE(Gone(grandchild));
  }
  EXPECT_TRUE(BecomesGone(grandchild));
}

TEST(Process, ExecFailureIsAClearErrorNotExit127) {
  auto missing = Spawn(SpawnSpec().Argv({"./no-such-agent-program"}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(missing.status().message(), "cannot run `./no-such-agent-program`: No such file or directory");

  const fs::path dir = fs::temp_directory_path() / ("tfgrpo-process-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path not_exec = dir / "agent.sh";
  std::ofstream(not_exec) << "#!/bin/sh\necho hi\n";
  fs::permissions(not_exec, fs::perms::owner_read | fs::perms::owner_write);
  auto denied = Spawn(SpawnSpec().Argv({not_exec.string()}));
  ASSERT_FALSE(denied.ok());
  if (::geteuid() != 0) {
    EXPECT_THAT(denied.status().message(), HasSubstr("Permission denied"));
  }

  auto bare = Spawn(SpawnSpec().Argv({"no-such-program-xyz"}).Env({"PATH=/usr/bin:/bin"}));
  ASSERT_FALSE(bare.ok());
  EXPECT_EQ(bare.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(bare.status().message(), HasSubstr("no-such-program-xyz"));
  EXPECT_THAT(bare.status().message(), HasSubstr("/usr/bin:/bin"));

  auto bad_cwd = Spawn(SpawnSpec().Argv({"/bin/true"}).Cwd((dir / "missing").string()));
  ASSERT_FALSE(bad_cwd.ok());
  EXPECT_THAT(bad_cwd.status().message(), HasSubstr("changing directory to " + (dir / "missing").string()));
  fs::remove_all(dir);
}

TEST(Process, AStdoutFloodDoesNotDeadlockWhenTheCallerDrains) {
  auto p = Spawn(Sh("head -c 20000000 /dev/zero; echo done >&2").StdoutTo(Stdio::Pipe()).StderrTo(Stdio::Pipe()));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(ReadAll((*p)->stdout_fd()).size(), 20000000u);
  EXPECT_EQ(ReadAll((*p)->stderr_fd()), "done\n");
  EXPECT_EQ((*p)->Wait().code, 0);
}

TEST(Process, NoDescriptorLeaksAfter200SpawnsSomeFailing) {
  const fs::path dir = fs::temp_directory_path();
  const int before = CountOpenFds();
  for (int i = 0; i < 200; ++i) {
    switch (i % 5) {
      case 0: {
        auto p = Spawn(Sh("cat").StdinFrom(Stdio::Pipe()).StdoutTo(Stdio::Pipe()).StderrTo(Stdio::Pipe(true)));
        ASSERT_TRUE(p.ok());
        (*p)->CloseStdin();
        ReadAll((*p)->stdout_fd());
        EXPECT_EQ((*p)->Wait().code, 0);
        break;
      }
      case 1:
        EXPECT_FALSE(Spawn(SpawnSpec().Argv({"/nonexistent/x"}).StdinFrom(Stdio::Pipe()).StdoutTo(Stdio::Pipe())
                               .StderrTo(Stdio::Pipe()))
                         .ok());
        break;
      case 2:
        EXPECT_FALSE(Spawn(SpawnSpec().Argv({"/bin/true"}).Cwd("/nonexistent").StdoutTo(Stdio::Pipe())).ok());
        break;
      case 3:
        EXPECT_FALSE(Spawn(SpawnSpec().Argv({"missing-bare-name"}).StdoutTo(Stdio::Pipe())).ok());
        break;
      case 4: {  // killed while running, handle dropped with its pipes open
        auto p = Spawn(Sh("sleep 100").StdinFrom(Stdio::Pipe()).StdoutTo(Stdio::Pipe()).StderrTo(Stdio::ToStdout()));
        ASSERT_TRUE(p.ok());
        break;
      }
    }
  }
  EXPECT_EQ(CountOpenFds(), before);
  (void)dir;
}

TEST(Process, TheEnvironmentIsExactlyTheGivenList) {
  ::setenv("TFGRPO_PROCESS_TEST_SECRET", "sk-parent-secret", 1);
  auto p = Spawn(SpawnSpec().Argv({"/usr/bin/env"}).Env({"A=1", "B=two words"}).StdoutTo(Stdio::Pipe()));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(ReadAll((*p)->stdout_fd()), "A=1\nB=two words\n");
  EXPECT_EQ((*p)->Wait().code, 0);
  ::unsetenv("TFGRPO_PROCESS_TEST_SECRET");
}

TEST(Process, CwdIsTheGivenFolder) {
  const std::string dir = fs::canonical(fs::temp_directory_path()).string();
  auto p = Spawn(SpawnSpec().Argv({"/bin/pwd"}).Cwd(dir).StdoutTo(Stdio::Pipe()));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(ReadAll((*p)->stdout_fd()), dir + "\n");
  (*p)->Wait();
}

TEST(Process, TheChildGetsOnlyItsStreamsAndKeptDescriptors) {
  const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC: still must not reach the child
  ASSERT_GE(leaked, 0);
  const int kept = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  // The child blocks reading its stdin while we list its descriptors from outside.
  auto p = Spawn(Sh("read x").StdinFrom(Stdio::Pipe()).KeepFd(kept, 7));
  ASSERT_TRUE(p.ok()) << p.status().message();
  // Spawn returns once execve succeeded, so this is the shell's own table.
  std::set<std::string> fds;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string((*p)->pid()) + "/fd"))
    fds.insert(e.path().filename().string());
  EXPECT_EQ(fds, (std::set<std::string>{"0", "1", "2", "7"}));
  (*p)->CloseStdin();
  EXPECT_EQ((*p)->Wait().code, 1);  // read at EOF
  ::close(leaked);
  ::close(kept);
}

TEST(Process, KeptDescriptorsMoveEvenWhenSourcesAndTargetsCollide) {
  int a[2], b[2];
  ASSERT_EQ(::pipe2(a, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(b, O_CLOEXEC), 0);
  // Each write end goes where the other pipe's end sits in the parent.
  const int a_target = b[1] > 2 ? b[1] : 9, b_target = a[1] > 2 ? a[1] : 10;
  auto p = Spawn(Sh("echo to-a >&" + std::to_string(a_target) + "; echo to-b >&" + std::to_string(b_target))
                     .KeepFd(a[1], a_target)
                     .KeepFd(b[1], b_target));
  ASSERT_TRUE(p.ok()) << p.status().message();
  ::close(a[1]);
  ::close(b[1]);
  EXPECT_EQ(ReadAll(a[0]), "to-a\n");
  EXPECT_EQ(ReadAll(b[0]), "to-b\n");
  EXPECT_EQ((*p)->Wait().code, 0);
  ::close(a[0]);
  ::close(b[0]);
}

TEST(Process, StdinPipeAndStderrIntoStdout) {
  auto p = Spawn(Sh("read x; echo out:$x; echo err >&2")
                     .StdinFrom(Stdio::Pipe())
                     .StdoutTo(Stdio::Pipe())
                     .StderrTo(Stdio::ToStdout()));
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(::write((*p)->stdin_fd(), "hi\n", 3), 3);
  (*p)->CloseStdin();
  EXPECT_EQ(ReadAll((*p)->stdout_fd()), "out:hi\nerr\n");
  EXPECT_EQ((*p)->Wait().code, 0);
}

TEST(Process, ResourceLimitsApplyInTheChild) {
  auto p = Spawn(Sh("ulimit -n").StdoutTo(Stdio::Pipe()).Limit(RLIMIT_NOFILE, 37, 37));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(ReadAll((*p)->stdout_fd()), "37\n");
  (*p)->Wait();
}

TEST(Process, ParentDeathSignalChildrenStartFromTheLastingThread) {
  auto p = Spawn(Sh("exit 4").ParentDeathSignal(SIGKILL));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ((*p)->Wait().code, 4);
}

TEST(Process, AWrapperRunsInFrontOfTheCommand) {
  auto p = Spawn(Sh("echo $WRAPPED").Wrapper({"env", "WRAPPED=yes"}).StdoutTo(Stdio::Pipe()));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(ReadAll((*p)->stdout_fd()), "yes\n");
  EXPECT_EQ((*p)->Wait().code, 0);
  auto missing = Spawn(Sh("true").Wrapper({"/nonexistent/bwrap", "--"}));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("cannot run `/nonexistent/bwrap`"));
}

// The kernel sends the parent-death signal when the thread that forked exits; callers spawn from
// short-lived pool threads, so the child must outlive the thread that asked for it.
TEST(Process, AParentDeathSignalChildOutlivesTheThreadThatSpawnedIt) {
  std::unique_ptr<Process> child;
  std::thread caller([&] {
    auto p = Spawn(Sh("echo ready; exec sleep 1000").StdoutTo(Stdio::Pipe()).ParentDeathSignal(SIGKILL));
    ASSERT_TRUE(p.ok()) << p.status().message();
    child = std::move(*p);
  });
  caller.join();
  ASSERT_TRUE(child);
  ASSERT_EQ(ReadLine(child->stdout_fd()), "ready");  // the death signal is armed before this
  EXPECT_TRUE(child->Wait(0.3).running());
  EXPECT_EQ(child->Stop(SIGTERM, 5).signal, SIGTERM);
}

TEST(Process, InvalidSpecsAreRefused) {
  EXPECT_EQ(Spawn(SpawnSpec()).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Spawn(SpawnSpec().Argv({"/bin/true"}).KeepFd(0, 1)).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Spawn(SpawnSpec().Argv({"/bin/true"}).KeepFd(0, 5).KeepFd(1, 5)).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(Spawn(SpawnSpec().Argv({"/bin/true"}).StdoutTo(Stdio::ToStdout())).status().code(),
            Status::Code::kInvalidArgument);
}

// The seam: a fake launcher that records what it was asked and runs something else.
class RecordingLauncher : public Launcher {
 public:
  Result<std::unique_ptr<Process>> Spawn(const SpawnSpec& spec) override {
    seen.push_back(spec.argv);
    SpawnSpec instead = spec;
    instead.argv = {"/bin/sh", "-c", "exit 9"};
    return DefaultLauncher().Spawn(instead);
  }
  std::vector<std::vector<std::string>> seen;
};

TEST(Process, ALauncherCanBeFaked) {
  RecordingLauncher fake;
  Launcher& launcher = fake;
  auto p = launcher.Spawn(SpawnSpec().Argv({"node", "agent.mjs"}));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->Wait().code, 9);
  ASSERT_EQ(fake.seen.size(), 1u);
  EXPECT_EQ(fake.seen[0][1], "agent.mjs");
}

}  // namespace
}  // namespace tfgrpo
