// The Python tool's sandbox: ordinary scripts, every hostile snippet the contract names, output
// capping, concurrency, cleanup, mode none, and Create()'s failure message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <thread>

#include "test_util.h"
#include "tfgrpo/sandbox.h"
#include "tfgrpo/util.h"
#include "tools/sandbox_cgroup.h"

extern char** environ;

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string RandomTag() {
  std::random_device rd;
  return std::to_string(rd() % 1000000);
}

SandboxOptions FastOptions() {
  SandboxOptions o;
  o.wall_timeout_s = 5;
  return o;
}

// One sandbox (one Create() probe) shared by the tests that use default options.
class SandboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto created = PythonSandbox::Create(FastOptions());
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    sandbox_ = std::move(created).value().release();
  }
  static void TearDownTestSuite() {
    delete sandbox_;
    sandbox_ = nullptr;
  }
  static ToolRun MustRun(const PythonSandbox& sandbox, const std::string& code) {
    auto run = sandbox.Run(code);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return run.ok() ? std::move(run).value() : ToolRun{};
  }
  static ToolRun MustRun(const std::string& code) { return MustRun(*sandbox_, code); }

  static PythonSandbox* sandbox_;
};
PythonSandbox* SandboxTest::sandbox_ = nullptr;

std::unique_ptr<PythonSandbox> MustCreate(const SandboxOptions& options) {
  auto created = PythonSandbox::Create(options);
  EXPECT_TRUE(created.ok()) << created.status().ToString();
  return created.ok() ? std::move(created).value() : nullptr;
}

ToolRun RunOk(const PythonSandbox& sandbox, const std::string& code) {
  auto run = sandbox.Run(code);
  EXPECT_TRUE(run.ok()) << run.status().ToString();
  return run.ok() ? std::move(run).value() : ToolRun{};
}

// Processes anywhere on the host whose command name is `comm`.
int CountProcessesNamed(const std::string& comm) {
  int count = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::ifstream in(entry.path() / "comm");
    std::string name;
    if (in && std::getline(in, name) && name == comm) ++count;
  }
  return count;
}

bool HostCanSpawn() {
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
  if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) return false;
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_F(SandboxTest, PrintsWhatTheScriptPrints) {
  ToolRun run = MustRun("print(6 * 7)\nprint('done')");
  EXPECT_EQ(run.output, "42\ndone\n");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_FALSE(run.timed_out);
  EXPECT_FALSE(run.truncated);
  EXPECT_GT(run.wall_ms, 0);
}

TEST_F(SandboxTest, StdoutAndStderrAreInterleavedInWriteOrder) {
  ToolRun run = MustRun("import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')");
  EXPECT_EQ(run.output, "a\nb\nc\n");
}

TEST_F(SandboxTest, ExceptionIsReportedWithTracebackAndExitCode) {
  ToolRun run = MustRun("def f():\n    raise ValueError('boom')\nprint('before')\nf()\n");
  EXPECT_THAT(run.output, StartsWith("before\n"));
  EXPECT_THAT(run.output, HasSubstr("Traceback (most recent call last)"));
  EXPECT_THAT(run.output, HasSubstr("line 2, in f"));
  EXPECT_THAT(run.output, HasSubstr("ValueError: boom"));
  EXPECT_THAT(run.output, HasSubstr("[exit code 1]"));
  EXPECT_EQ(run.exit_code, 1);
}

TEST_F(SandboxTest, SyntaxErrorIsReported) {
  ToolRun run = MustRun("x = (1,\nprint(x\n");
  EXPECT_THAT(run.output, HasSubstr("SyntaxError"));
  EXPECT_EQ(run.exit_code, 1);
}

TEST_F(SandboxTest, ExplicitExitCodeIsReported) {
  ToolRun run = MustRun("import sys\nsys.exit(3)");
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(run.output, "[exit code 3]\n");
}

TEST_F(SandboxTest, StdinIsClosed) {
  ToolRun run = MustRun("try:\n    input()\nexcept EOFError:\n    print('eof')\n");
  EXPECT_EQ(run.output, "eof\n");
}

TEST_F(SandboxTest, RunsAsUnprivilegedUserThatCannotNestNamespaces) {
  ToolRun run = MustRun(
      "import os, ctypes\n"
      "print('uid', os.getuid())\n"
      "libc = ctypes.CDLL(None, use_errno=True)\n"
      "print('unshare', libc.unshare(0x10000000))\n"  // CLONE_NEWUSER
      "try:\n    open('/etc/shadow').read(); print('shadow readable')\n"
      "except OSError as e:\n    print('shadow', type(e).__name__)\n");
  EXPECT_THAT(run.output, Not(HasSubstr("uid 0\n")));
  EXPECT_THAT(run.output, HasSubstr("unshare -1"));
  EXPECT_THAT(run.output, Not(HasSubstr("shadow readable")));
}

TEST_F(SandboxTest, ForkBombIsContainedAndLeavesNothingBehind) {
  SandboxOptions o = FastOptions();
  o.wall_timeout_s = 3;
  o.allow_subprocess = true;  // the process limit is what contains it
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  const std::string marker = "tfgbomb" + RandomTag();
  ToolRun run = MustRun(*sandbox,
                        "import os, ctypes\n"
                        "ctypes.CDLL(None).prctl(15, b'" + marker + "', 0, 0, 0)\n"
                        "print('bomb armed', flush=True)\n"
                        "while True:\n"
                        "    try:\n        os.fork()\n"
                        "    except OSError:\n        pass\n");
  EXPECT_TRUE(run.timed_out);
  EXPECT_THAT(run.output, HasSubstr("bomb armed"));
  EXPECT_THAT(run.output, HasSubstr("[killed: wall-clock limit of 3 s]"));
  EXPECT_LT(run.wall_ms, 3000 + 2500);

  int left = -1;
  for (int i = 0; i < 40 && left != 0; ++i) {
    left = CountProcessesNamed(marker);
    if (left) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(left, 0) << "fork-bomb processes survived the run";
  EXPECT_TRUE(HostCanSpawn());
  EXPECT_EQ(MustRun(*sandbox, "print('alive')").output, "alive\n");
}

TEST_F(SandboxTest, ProcessLimitIsPerSandboxNotShared) {
  SandboxOptions o = FastOptions();
  o.allow_subprocess = true;
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  const std::string forker =
      "import os, time\n"
      "n = 0\n"
      "for i in range(200):\n"
      "    try:\n        pid = os.fork()\n"
      "    except OSError:\n        break\n"
      "    if pid == 0:\n        time.sleep(1.5); os._exit(0)\n"
      "    n += 1\n"
      "print('forked', n)\n";
  ToolRun a, b;
  std::thread other([&] { b = MustRun(*sandbox, forker); });
  a = MustRun(*sandbox, forker);
  other.join();
  for (const ToolRun* run : {&a, &b}) {
    int forked = -1;
    ASSERT_EQ(std::sscanf(run->output.c_str(), "forked %d", &forked), 1) << run->output;
    // 64 tasks per sandbox, two of them bwrap's init and the script itself.
    EXPECT_LT(forked, 64);
    EXPECT_GE(forked, 50) << "the budget looks shared between concurrent sandboxes";
  }
}

TEST_F(SandboxTest, InfiniteLoopHitsTheCpuLimit) {
  SandboxOptions o = FastOptions();
  o.cpu_limit_s = 1;
  o.wall_timeout_s = 15;  // CPU time accrues slowly on a loaded machine
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  ToolRun run = MustRun(*sandbox, "while True:\n    pass\n");
  EXPECT_FALSE(run.timed_out);
  EXPECT_EQ(run.exit_code, 128 + SIGXCPU);
  EXPECT_THAT(run.output, HasSubstr("[killed: CPU time limit of 1 s]"));
}

TEST_F(SandboxTest, SleepingScriptHitsTheWallClockLimit) {
  SandboxOptions o = FastOptions();
  o.wall_timeout_s = 1;
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  ToolRun run = MustRun(*sandbox, "import time\nprint('start', flush=True)\ntime.sleep(60)\n");
  EXPECT_TRUE(run.timed_out);
  EXPECT_EQ(run.exit_code, -1);
  EXPECT_EQ(run.output, "start\n[killed: wall-clock limit of 1 s]\n");
  EXPECT_GE(run.wall_ms, 1000);
  EXPECT_LT(run.wall_ms, 1000 + 2500);
}

TEST_F(SandboxTest, TenGibibyteAllocationFails) {
  ToolRun run = MustRun("x = bytearray(10 * 2**30)\nprint('allocated', len(x))\n");
  EXPECT_THAT(run.output, HasSubstr("MemoryError"));
  EXPECT_THAT(run.output, Not(HasSubstr("allocated")));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(HostCanSpawn());
}

TEST_F(SandboxTest, HostSecretsAndHomesAreInvisible) {
  testing::TempDir host_dir;
  const fs::path secret = host_dir / "id_rsa";
  std::ofstream(secret) << "TOP-SECRET-KEY";
  const char* home = std::getenv("HOME");
  const std::string host_ssh = std::string(home ? home : "/root") + "/.ssh";
  ToolRun run = MustRun(
      "import os\n"
      "for p in ['" + secret.string() + "', os.path.expanduser('~/.ssh/id_rsa'), '" + host_ssh +
      "/id_rsa', '/root/.ssh/id_rsa']:\n"
      "    try:\n        print('READ', p, open(p).read())\n"
      "    except OSError as e:\n        print('denied', type(e).__name__)\n"
      "for d in ['/root', '/home', '" + host_ssh + "', '" + host_dir.path().string() + "', "
      "'/tmp', '/var', '/run']:\n"
      "    print(d, 'visible' if os.path.exists(d) else 'missing')\n");
  EXPECT_THAT(run.output, Not(HasSubstr("READ")));
  EXPECT_THAT(run.output, Not(HasSubstr("TOP-SECRET-KEY")));
  EXPECT_THAT(run.output, Not(HasSubstr("visible")));
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST_F(SandboxTest, WritesOutsideTheWorkDirFailAndLeaveNoTrace) {
  const std::string tag = RandomTag();
  const std::vector<std::string> targets = {"/tmp/escape-" + tag, "/usr/escape-" + tag,
                                            "/etc/escape-" + tag, "/escape-" + tag,
                                            "/dev/escape-" + tag, "/proc/escape-" + tag};
  std::string code = "import os\nfor p in [";
  for (const auto& t : targets) code += "'" + t + "', ";
  code +=
      "]:\n"
      "    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n"
      "    except OSError as e:\n        print('blocked', p)\n"
      "open('/work/ok.txt', 'w').write('fine')\n"
      "print('work', open('/work/ok.txt').read())\n";
  ToolRun run = MustRun(code);
  EXPECT_THAT(run.output, Not(HasSubstr("WROTE")));
  EXPECT_THAT(run.output, HasSubstr("work fine"));
  for (const auto& t : targets) {
    EXPECT_THAT(run.output, HasSubstr("blocked " + t));
    EXPECT_FALSE(fs::exists(t)) << t << " appeared on the host";
  }
}

TEST_F(SandboxTest, NetworkIsUnreachable) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  ToolRun run = MustRun(
      "import socket\n"
      "for host, port in [('127.0.0.1', " + std::to_string(port) + "), ('1.1.1.1', 53)]:\n"
      "    try:\n"
      "        socket.create_connection((host, port), timeout=2); print('CONNECTED', host)\n"
      "    except OSError as e:\n        print('refused', host)\n"
      "try:\n    socket.getaddrinfo('example.com', 80); print('RESOLVED')\n"
      "except OSError:\n    print('no dns')\n");
  EXPECT_THAT(run.output, Not(HasSubstr("CONNECTED")));
  EXPECT_THAT(run.output, Not(HasSubstr("RESOLVED")));
  EXPECT_THAT(run.output, AllOf(HasSubstr("refused 127.0.0.1"), HasSubstr("refused 1.1.1.1"),
                                HasSubstr("no dns")));
  int accepted = accept(listener, nullptr, nullptr);
  EXPECT_LT(accepted, 0) << "the host listener received a connection from the sandbox";
  if (accepted >= 0) close(accepted);
  close(listener);
}

TEST_F(SandboxTest, LargeOutputIsCutAtTheCapWithAMarker) {
  ToolRun run = MustRun("print('x' * 100000)\nprint('tail')\n");
  const size_t cap = FastOptions().output_cap_bytes;
  EXPECT_TRUE(run.truncated);
  EXPECT_EQ(run.exit_code, 0);
  ASSERT_GT(run.output.size(), cap);
  EXPECT_EQ(run.output.substr(0, cap), std::string(cap, 'x'));
  EXPECT_EQ(run.output.substr(cap), "\n[output truncated at " + std::to_string(cap) + " bytes]\n");
}

TEST_F(SandboxTest, OutputIsValidUtf8AndCutOnCharacterBoundaries) {
  SandboxOptions o = FastOptions();
  o.output_cap_bytes = 5;
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  ToolRun cut = MustRun(*sandbox, "print('\u00e9\u00e9\u00e9')");  // 6 bytes + newline
  EXPECT_EQ(cut.output, "\u00e9\u00e9\n[output truncated at 5 bytes]\n");
  ToolRun invalid = MustRun("import sys\nsys.stdout.buffer.write(b'\\xff ok\\n')\n");
  EXPECT_EQ(invalid.output, "\xEF\xBF\xBD ok\n");
}

TEST_F(SandboxTest, FileSizeAndWorkDirSizeAreBounded) {
  ToolRun big = MustRun("open('big', 'wb').write(b'x' * (17 << 20))\nprint('WROTE')\n");
  EXPECT_THAT(big.output, HasSubstr("File too large"));
  EXPECT_THAT(big.output, Not(HasSubstr("WROTE")));

  SandboxOptions o = FastOptions();
  o.work_dir_bytes = 8 << 20;
  auto small = MustCreate(o);
  ASSERT_TRUE(small);
  ToolRun many = MustRun(*small,
                         "for i in range(100):\n"
                         "    open(f'f{i}', 'wb').write(b'x' * (1 << 20))\n"
                         "print('WROTE ALL')\n");
  EXPECT_THAT(many.output, HasSubstr("No space left on device"));
  EXPECT_THAT(many.output, Not(HasSubstr("WROTE ALL")));
}

TEST_F(SandboxTest, ConcurrentRunsAreIndependent) {
  constexpr int kRuns = 8;
  std::vector<ToolRun> runs(kRuns);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&, i] {
      runs[i] = MustRun("import os\nopen('/work/mine', 'w').write('" + std::to_string(i) +
                        "')\nprint(sum(range(" + std::to_string(1000 * (i + 1)) +
                        ")), open('/work/mine').read(), sorted(os.listdir('/work')))\n");
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRuns; ++i) {
    long n = 1000L * (i + 1);
    EXPECT_EQ(runs[i].output, std::to_string(n * (n - 1) / 2) + " " + std::to_string(i) +
                                  " ['main.py', 'mine']\n");
  }
}

TEST_F(SandboxTest, ScratchDirsAreRemovedAndChildrenReaped) {
  testing::TempDir root;
  SandboxOptions o = FastOptions();
  o.wall_timeout_s = 1;
  o.scratch_root = root.path().string();
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  EXPECT_EQ(MustRun(*sandbox, "print(1)").output, "1\n");
  EXPECT_EQ(MustRun(*sandbox, "raise SystemExit(2)").exit_code, 2);
  EXPECT_TRUE(MustRun(*sandbox, "import time\ntime.sleep(30)").timed_out);
  EXPECT_TRUE(fs::is_empty(root.path()));
  errno = 0;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD) << "a child was left unreaped";
}

TEST_F(SandboxTest, HostDescriptorsDoNotLeakIntoTheScript) {
  int leaky[2];
  ASSERT_EQ(pipe(leaky), 0);  // deliberately without O_CLOEXEC
  ToolRun run = MustRun("import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))");
  close(leaky[0]);
  close(leaky[1]);
  // 0-2 plus the descriptor listdir itself opened.
  EXPECT_EQ(run.output, "[0, 1, 2, 3]\n");
}


// Tries os.fork() and subprocess.run(); prints "fork ..." and "subprocess ..." lines.
const char* kStartProcesses =
    "import os, subprocess\n"
    "try:\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n        os._exit(7)\n"
    "    print('fork ok', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    "except OSError as e:\n    print('fork refused', e.errno)\n"
    "try:\n"
    "    r = subprocess.run(['/bin/echo', 'hi'], capture_output=True, text=True)\n"
    "    print('subprocess ok', r.stdout.strip())\n"
    "except OSError as e:\n    print('subprocess refused', e.errno)\n";

// Issue 7, finding 14: without tools.allow_subprocess a call is one process.
TEST_F(SandboxTest, ForkAndSubprocessFailCleanlyByDefault) {
  ToolRun run = MustRun(kStartProcesses);
  EXPECT_EQ(run.output, "fork refused 1\nsubprocess refused 1\n");
  EXPECT_EQ(run.exit_code, 0);
}

TEST_F(SandboxTest, AllowSubprocessLetsForkAndSubprocessWork) {
  SandboxOptions o = FastOptions();
  o.allow_subprocess = true;
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  EXPECT_EQ(MustRun(*sandbox, kStartProcesses).output, "fork ok 7\nsubprocess ok hi\n");
}

// PTRACE_TRACEME would succeed (0) in an unfiltered process.
const char* kPtrace =
    "import ctypes\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "print('ptrace', libc.ptrace(0, 0, 0, 0), ctypes.get_errno())\n";

TEST_F(SandboxTest, PtraceIsRefusedWithOrWithoutSubprocesses) {
  EXPECT_EQ(MustRun(kPtrace).output, "ptrace -1 1\n");
  SandboxOptions o = FastOptions();
  o.allow_subprocess = true;
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  EXPECT_EQ(MustRun(*sandbox, kPtrace).output, "ptrace -1 1\n");
}

TEST_F(SandboxTest, PythonThreadsStillWork) {
  ToolRun run = MustRun(
      "import threading, concurrent.futures\n"
      "out = [0] * 8\n"
      "def work(i):\n    out[i] = sum(range(i * 1000))\n"
      "ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]\n"
      "[t.start() for t in ts]; [t.join() for t in ts]\n"
      "print(out[7])\n"
      "with concurrent.futures.ThreadPoolExecutor(4) as ex:\n"
      "    print(sum(ex.map(lambda x: x * x, range(100))))\n");
  EXPECT_EQ(run.output, "24496500\n328350\n");
}

// Six children that each try to hold 1 GiB at the same time; the parent reports how many were
// refused (fork failed), held their block until released (exit 0), hit MemoryError (exit 3) or
// were killed (the cgroup's OOM killer).
const char* kSixHungryChildren =
    "import os\n"
    "refused = 0\n"
    "release_r, release_w = os.pipe()\n"
    "kids = []\n"
    "for i in range(6):\n"
    "    ready_r, ready_w = os.pipe()\n"
    "    try:\n        pid = os.fork()\n"
    "    except OSError:\n"
    "        refused += 1; os.close(ready_r); os.close(ready_w); continue\n"
    "    if pid == 0:\n"
    "        os.close(ready_r); os.close(release_w)\n"
    "        try:\n            block = b'\\x01' * (1 << 30)\n"
    "        except MemoryError:\n            os._exit(3)\n"
    "        os.write(ready_w, b'H'); os.read(release_r, 1); os._exit(0)\n"
    "    os.close(ready_w); os.read(ready_r, 1); os.close(ready_r); kids.append(pid)\n"
    "os.close(release_w)\n"
    "held = memerr = killed = 0\n"
    "for pid in kids:\n"
    "    st = os.waitpid(pid, 0)[1]\n"
    "    if os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0: held += 1\n"
    "    elif os.WIFEXITED(st) and os.WEXITSTATUS(st) == 3: memerr += 1\n"
    "    else: killed += 1\n"
    "print('refused', refused, 'held', held, 'memerr', memerr, 'killed', killed)\n";

struct ChildCounts {
  int refused = -1, held = -1, memerr = -1, killed = -1;
};

ChildCounts ParseChildCounts(const std::string& output) {
  ChildCounts c;
  const size_t at = output.find("refused ");
  if (at != std::string::npos) {
    std::sscanf(output.c_str() + at, "refused %d held %d memerr %d killed %d", &c.refused, &c.held, &c.memerr,
                &c.killed);
  }
  return c;
}

constexpr uint64_t kCallMemoryMb = 1536;

// Issue 7, finding 14: six children of one call took 9 GB; RLIMIT_AS alone bounds each process.
TEST(SandboxMemoryTest, SixChildrenAllocatingAGibibyteEachCannotExceedTheCallsMemory) {
  SandboxOptions o = FastOptions();
  o.wall_timeout_s = 60;
  o.memory_bytes = kCallMemoryMb << 20;
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  ToolRun run = RunOk(*sandbox, kSixHungryChildren);
  ChildCounts c = ParseChildCounts(run.output);
  ASSERT_EQ(c.refused + c.held + c.memerr + c.killed, 6) << run.output;
  EXPECT_LE(static_cast<uint64_t>(c.held) * 1024, kCallMemoryMb) << run.output;
  if (sandbox->memory_bound() == MemoryBound::kSingleProcess) {
    EXPECT_EQ(c.refused, 6) << run.output;
  }
}

TEST(SandboxMemoryTest, WithSubprocessesAllowedACgroupBoundsTheCallsChildrenTogether) {
  SandboxOptions o = FastOptions();
  o.wall_timeout_s = 60;
  o.memory_bytes = kCallMemoryMb << 20;
  o.allow_subprocess = true;
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  if (sandbox->memory_bound() != MemoryBound::kCgroup) {
    GTEST_SKIP() << "no delegated cgroup v2 here (" << sandbox->cgroup_unavailable_reason()
                 << "): with subprocesses allowed, memory is bounded per process only";
  }
  ToolRun run = RunOk(*sandbox, kSixHungryChildren);
  ChildCounts c = ParseChildCounts(run.output);
  ASSERT_EQ(c.refused + c.held + c.memerr + c.killed, 6) << run.output;
  EXPECT_EQ(c.refused, 0) << run.output;
  EXPECT_LE(static_cast<uint64_t>(c.held) * 1024, kCallMemoryMb) << run.output;
  EXPECT_GE(c.memerr + c.killed, 5) << run.output;
}

TEST(SandboxMemoryTest, ThreadsOfOneCallShareItsMemory) {
  SandboxOptions o = FastOptions();
  o.wall_timeout_s = 60;
  o.memory_bytes = kCallMemoryMb << 20;
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  ToolRun run = RunOk(*sandbox,
                                     "import threading\n"
                                     "blocks, errors, lock = [], [], threading.Lock()\n"
                                     "def grab():\n"
                                     "    try:\n        b = b'\\x01' * (1 << 30)\n"
                                     "    except MemoryError:\n        errors.append(1); return\n"
                                     "    with lock: blocks.append(b)\n"
                                     "ts = [threading.Thread(target=grab) for _ in range(6)]\n"
                                     "[t.start() for t in ts]; [t.join() for t in ts]\n"
                                     "print('held', len(blocks), 'memerr', len(errors))\n");
  int held = -1, memerr = -1;
  ASSERT_EQ(std::sscanf(run.output.c_str(), "held %d memerr %d", &held, &memerr), 2) << run.output;
  EXPECT_EQ(held + memerr, 6) << run.output;
  EXPECT_LE(static_cast<uint64_t>(held) * 1024, kCallMemoryMb) << run.output;
}

TEST(SandboxMemoryTest, ReportsWhichBoundIsActive) {
  SandboxOptions o = FastOptions();
  o.cgroup_mount = "none";
  auto no_cgroup = MustCreate(o);
  ASSERT_TRUE(no_cgroup);
  EXPECT_EQ(no_cgroup->memory_bound(), MemoryBound::kSingleProcess);
  EXPECT_THAT(no_cgroup->cgroup_unavailable_reason(), HasSubstr("none"));
  o.allow_subprocess = true;
  auto per_process = MustCreate(o);
  ASSERT_TRUE(per_process);
  EXPECT_EQ(per_process->memory_bound(), MemoryBound::kPerProcess);

  auto detected = MustCreate(FastOptions());
  ASSERT_TRUE(detected);
  std::printf("memory bound on this host: %s%s%s\n", MemoryBoundName(detected->memory_bound()),
              detected->cgroup_parent().empty() ? " (" : " under ",
              (detected->cgroup_parent().empty() ? detected->cgroup_unavailable_reason() + ")"
                                                 : detected->cgroup_parent())
                  .c_str());
  EXPECT_EQ(detected->cgroup_parent().empty(), detected->memory_bound() != MemoryBound::kCgroup);
  EXPECT_NE(detected->cgroup_parent().empty(), detected->cgroup_unavailable_reason().empty());
}

TEST(SandboxCommandTest, OnePlaceBuildsTheSandboxedCommandLine) {
  auto sandbox = MustCreate(FastOptions());
  ASSERT_TRUE(sandbox);
  SandboxCommand c = sandbox->CommandFor("/tmp/x/worker.py", {"--serve", "7"});
  ASSERT_GE(c.argv.size(), 6u);
  EXPECT_EQ(c.argv[0], FastOptions().bwrap_path);
  std::string joined;
  for (const auto& arg : c.argv) joined += (joined.empty() ? "" : " ") + arg;
  EXPECT_THAT(joined, HasSubstr("--ro-bind /tmp/x/worker.py /work/main.py"));
  EXPECT_THAT(joined, HasSubstr("--seccomp " + std::to_string(PythonSandbox::kSeccompFd)));
  EXPECT_THAT(joined, HasSubstr("--unshare-all"));
  EXPECT_EQ(std::vector<std::string>(c.argv.end() - 5, c.argv.end()),
            (std::vector<std::string>{"-I", "-u", "main.py", "--serve", "7"}));
}

// A plain directory tree standing in for /sys/fs/cgroup, laid out at our own cgroup's path.
class FakeCgroupTree {
 public:
  FakeCgroupTree(const std::string& controllers, const std::string& subtree) {
    const std::string self = ReadFile("/proc/self/cgroup").value();
    for (const auto& line : SplitLines(self)) {
      if (tfgrpo::StartsWith(line, "0::")) own_ = line.substr(3);
    }
    while (tfgrpo::EndsWith(own_, "/")) own_.pop_back();
    fs::create_directories(dir());
    std::ofstream(dir() + "/cgroup.controllers") << controllers << "\n";
    std::ofstream(dir() + "/cgroup.subtree_control") << subtree << "\n";
  }
  std::string mount() const { return root_.path().string(); }
  std::string dir() const { return mount() + own_; }
  std::string self_cgroup() const { return "0::" + (own_.empty() ? std::string("/") : own_) + "\n"; }

 private:
  testing::TempDir root_;
  std::string own_;
};

TEST(SandboxCgroupTest, FindsADelegatedCgroupOrSaysWhyNot) {
  using sandbox_internal::FindDelegatedCgroup;
  FakeCgroupTree good("cpu io memory pids", "memory pids");
  auto found = FindDelegatedCgroup(good.mount(), good.self_cgroup());
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(*found, good.dir());

  FakeCgroupTree no_pids("cpu memory", "memory");
  auto missing = FindDelegatedCgroup(no_pids.mount(), no_pids.self_cgroup());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("pids controller"));

  auto v1_only = FindDelegatedCgroup(good.mount(), "4:memory:/x\n1:cpu:/\n");
  ASSERT_FALSE(v1_only.ok());
  EXPECT_THAT(v1_only.status().message(), HasSubstr("no cgroup v2 entry"));

  auto elsewhere = FindDelegatedCgroup(good.mount(), "0::/not/ours\n");
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_THAT(elsewhere.status().message(), HasSubstr("/not/ours"));
}

TEST(SandboxCgroupTest, EachCallGetsItsOwnCgroupWithTheCallsLimits) {
  FakeCgroupTree tree("memory pids", "memory pids");
  SandboxOptions o = FastOptions();
  o.cgroup_mount = tree.mount();
  o.memory_bytes = 777ull << 20;
  o.max_processes = 33;
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  ASSERT_EQ(sandbox->memory_bound(), MemoryBound::kCgroup) << sandbox->cgroup_unavailable_reason();
  EXPECT_EQ(sandbox->cgroup_parent(), tree.dir());
  EXPECT_EQ(RunOk(*sandbox, "print('in a cgroup')").output, "in a cgroup\n");
  // A plain directory keeps what a real cgroup's rmdir would drop: the trial cgroup from Create
  // and the call's, each with the limits written and the child's "0" (move myself) in its procs.
  int calls = 0;
  for (const auto& entry : fs::directory_iterator(tree.dir())) {
    if (!tfgrpo::StartsWith(entry.path().filename().string(), "tfgrpo-")) continue;
    ++calls;
    const std::string d = entry.path().string();
    EXPECT_EQ(ReadFile(d + "/memory.max").value(), std::to_string(777ull << 20)) << d;
    EXPECT_EQ(ReadFile(d + "/pids.max").value(), "33") << d;
    EXPECT_EQ(ReadFile(d + "/cgroup.procs").value(), "0") << d;
  }
  EXPECT_EQ(calls, 3);  // the trial, the Create() probe and the call
}

TEST(SandboxCgroupTest, OomKillsInTheCallsCgroupAreReported) {
  FakeCgroupTree tree("memory pids", "memory pids");
  SandboxOptions o = FastOptions();
  o.mode = "none";  // so the script can reach the fake tree and play the kernel's part
  o.cgroup_mount = tree.mount();
  o.memory_bytes = 300ull << 20;
  auto sandbox = MustCreate(o);
  ASSERT_TRUE(sandbox);
  ASSERT_EQ(sandbox->memory_bound(), MemoryBound::kCgroup) << sandbox->cgroup_unavailable_reason();
  ToolRun run = RunOk(*sandbox,
                      "import glob, os\n"
                      "mine = max(glob.glob('" + tree.dir() + "/tfgrpo-*'), key=lambda p: int(p.rsplit('-', 1)[1]))\n"
                      "open(mine + '/memory.events', 'w').write('low 0\\nhigh 0\\nmax 9\\noom 2\\noom_kill 2\\n')\n"
                      "print('done')\n");
  EXPECT_EQ(run.output, "done\n[memory limit of 300 MiB reached: 2 processes killed]\n");
}

TEST(SandboxNoneTest, RunsUnsandboxedWithAWarning) {
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  spdlog::set_default_logger(logger);
  SandboxOptions o = FastOptions();
  o.mode = "none";
  auto created = PythonSandbox::Create(o);
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_THAT(log.str(), HasSubstr("without a sandbox"));

  auto run = (*created)->Run("import os\nprint(os.path.isdir('/usr'), os.getcwd() != '/work')\n"
                             "raise SystemExit(4)");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->output, "True True\n[exit code 4]\n");
  EXPECT_EQ(run->exit_code, 4);
  // The seccomp filter applies unsandboxed too.
  auto processes = (*created)->Run(kStartProcesses);
  ASSERT_TRUE(processes.ok()) << processes.status().ToString();
  EXPECT_EQ(processes->output, "fork refused 1\nsubprocess refused 1\n");
  auto ptrace = (*created)->Run(kPtrace);
  ASSERT_TRUE(ptrace.ok());
  EXPECT_EQ(ptrace->output, "ptrace -1 1\n");

  SandboxOptions slow = o;
  slow.wall_timeout_s = 1;
  auto timed = PythonSandbox::Create(slow);
  ASSERT_TRUE(timed.ok());
  auto sleeping = (*timed)->Run("import time\ntime.sleep(30)");
  ASSERT_TRUE(sleeping.ok());
  EXPECT_TRUE(sleeping->timed_out);
  EXPECT_LT(sleeping->wall_ms, 1000 + 2500);
}

TEST(SandboxCreateTest, MissingBubblewrapIsAClearError) {
  SandboxOptions o;
  o.bwrap_path = "/nonexistent/bwrap";
  auto created = PythonSandbox::Create(o);
  ASSERT_FALSE(created.ok());
  EXPECT_THAT(created.status().message(),
              AllOf(HasSubstr("/nonexistent/bwrap"), HasSubstr("bubblewrap"),
                    HasSubstr("No such file"), HasSubstr("tools.sandbox: none")));
}

TEST(SandboxCreateTest, BubblewrapThatCannotCreateNamespacesIsAClearError) {
  testing::TempDir dir;
  const fs::path fake = dir / "bwrap";
  std::ofstream(fake) << "#!/bin/sh\n"
                         "echo 'bwrap: No permissions to creating new namespace, likely because "
                         "the kernel does not allow non-privileged user namespaces.' >&2\n"
                         "exit 1\n";
  fs::permissions(fake, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::others_exec |
                                  fs::perms::group_exec);
  SandboxOptions o;
  o.bwrap_path = fake.string();
  auto created = PythonSandbox::Create(o);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), Status::Code::kUnavailable);
  EXPECT_THAT(created.status().message(),
              AllOf(HasSubstr("cannot create its namespaces"),
                    HasSubstr("No permissions to creating new namespace"),
                    HasSubstr("tools.sandbox: none")));

  o.bwrap_path = "/bin/false";
  auto failing = PythonSandbox::Create(o);
  ASSERT_FALSE(failing.ok());
  EXPECT_THAT(failing.status().message(),
              AllOf(HasSubstr("/bin/false"), HasSubstr("exit code 1"),
                    HasSubstr("tools.sandbox: none")));
}

TEST(SandboxCreateTest, ScratchDirTheSandboxUserCannotReachIsNamed) {
  if (geteuid() != 0) GTEST_SKIP() << "only a root host hands the sandbox to another uid";
  testing::TempDir root;
  fs::permissions(root.path(), fs::perms::owner_all);  // 0700, owned by root
  SandboxOptions o;
  o.scratch_root = root.path().string();
  auto created = PythonSandbox::Create(o);
  ASSERT_FALSE(created.ok());
  EXPECT_THAT(created.status().message(),
              AllOf(HasSubstr("could not set up the sandbox"), HasSubstr(root.path().string()),
                    HasSubstr("reachable by uid 65534"), HasSubstr("tools.sandbox: none")));
}

TEST(SandboxCreateTest, RejectsUnknownModeAndBadLimits) {
  SandboxOptions o;
  o.mode = "docker";
  auto bad_mode = PythonSandbox::Create(o);
  ASSERT_FALSE(bad_mode.ok());
  EXPECT_EQ(bad_mode.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(bad_mode.status().message(), AllOf(HasSubstr("tools.sandbox"), HasSubstr("docker")));

  SandboxOptions limits;
  limits.wall_timeout_s = 0;
  EXPECT_EQ(PythonSandbox::Create(limits).status().code(), Status::Code::kInvalidArgument);

  SandboxOptions python;
  python.python = "no-such-python-3";
  auto missing = PythonSandbox::Create(python);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no-such-python-3"));
}

}  // namespace
}  // namespace tfgrpo
