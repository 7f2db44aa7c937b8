// One run of a command agent: its stdin from a file (so a child that never reads it cannot block
// us), stdout and stderr read at once through non-blocking pipes (the first MiB and the last 2 KiB
// kept, the rest read and dropped, so any amount of output neither hangs the run nor grows its
// memory), a wall-clock deadline, and the whole process group killed at the end.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "agent/external_internal.h"

namespace tfgrpo::external_internal {
namespace {

using Clock = std::chrono::steady_clock;

// After the agent's group is killed, what is still in the pipes is read for at most this long: a
// process that left the group (setsid) and kept the pipe open must not hold the rollout.
constexpr auto kDrainLimit = std::chrono::seconds(2);
// Reads per stream per poll round, so that a child writing as fast as we read cannot keep us
// from looking at the clock.
constexpr int kReadsPerRound = 16;

class StreamSink {
 public:
  // keep_head: the first `limit` bytes are kept; else the last `limit`.
  StreamSink(size_t limit, bool keep_head) : limit_(limit), keep_head_(keep_head) {}
  void Add(const char* data, size_t n) {
    total_ += static_cast<int64_t>(n);
    if (keep_head_) {
      if (text_.size() < limit_) text_.append(data, std::min(n, limit_ - text_.size()));
      return;
    }
    text_.append(data, n);
    if (text_.size() > 2 * limit_) text_.erase(0, text_.size() - limit_);
  }
  std::string Take() {
    if (!keep_head_ && text_.size() > limit_) text_.erase(0, text_.size() - limit_);
    return std::move(text_);
  }
  int64_t total() const { return total_; }

 private:
  size_t limit_;
  bool keep_head_;
  std::string text_;
  int64_t total_ = 0;
};

// Reads what `fd` holds now (at most kReadsPerRound reads). Returns false at EOF or on an error
// other than "nothing more yet".
bool ReadAvailable(int fd, StreamSink& sink) {
  char buffer[65536];
  for (int i = 0; i < kReadsPerRound; ++i) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      sink.Add(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;  // EOF or a real error: either way nothing more will come
  }
  return true;
}

// Polls the open streams (and the pidfd when there is one) for up to `wait`; reads what arrived;
// closes a stream at EOF (fd set to -1).
void PumpOnce(int& out_fd, int& err_fd, int pidfd, std::chrono::milliseconds wait, StreamSink& out,
              StreamSink& err) {
  pollfd fds[3];
  int n = 0;
  int out_at = -1, err_at = -1;
  if (out_fd >= 0) { fds[n] = {out_fd, POLLIN, 0}; out_at = n++; }
  if (err_fd >= 0) { fds[n] = {err_fd, POLLIN, 0}; err_at = n++; }
  if (pidfd >= 0) fds[n++] = {pidfd, POLLIN, 0};
  int ms = static_cast<int>(std::max<int64_t>(0, wait.count()));
  if (n == 0) {
    ::poll(nullptr, 0, ms);
    return;
  }
  if (::poll(fds, n, ms) <= 0) return;
  auto service = [](int& fd, const pollfd& p, StreamSink& sink) {
    if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) return;
    if (!ReadAvailable(fd, sink)) {
      ::close(fd);
      fd = -1;
    }
  };
  if (out_at >= 0) service(out_fd, fds[out_at], out);
  if (err_at >= 0) service(err_fd, fds[err_at], err);
}

// The stdin file: written whole in `dir`, opened for reading and unlinked (the descriptor keeps it).
Result<int> StdinFile(const std::filesystem::path& dir, const std::string& text) {
  const std::string path = (dir / "stdin.jsonl").string();
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("cannot create " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return Status::IoError("cannot write " + path + ": " + std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const int e = errno;
  ::unlink(path.c_str());
  if (in < 0) return Status::IoError("cannot reopen " + path + ": " + std::strerror(e));
  return in;
}

}  // namespace

Result<CommandResult> RunCommandAgent(Launcher& launcher, CommandRun run) {
  auto stdin_fd = StdinFile(run.scratch, run.stdin_text);
  if (!stdin_fd.ok()) return stdin_fd.status();
  run.spec.StdinFrom(Stdio::Fd(*stdin_fd)).StdoutTo(Stdio::Pipe(true)).StderrTo(Stdio::Pipe(true));
  run.spec.new_process_group = true;
  auto spawned = launcher.Spawn(run.spec);
  ::close(*stdin_fd);
  if (!spawned.ok()) return spawned.status();
  Process& process = **spawned;

  CommandResult result;
  StreamSink out(kStdoutKeptBytes, /*keep_head=*/true), err(kStderrTailBytes, /*keep_head=*/false);
  int out_fd = process.ReleaseStdout(), err_fd = process.ReleaseStderr();
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(std::max(0.0, run.timeout_s)));
  // Without a pidfd the exit is noticed by looking every 50 ms.
  const auto longest_wait = std::chrono::milliseconds(process.pidfd() >= 0 ? 1000 : 50);
  while (!process.HasExited()) {
    const auto now = Clock::now();
    if (now >= deadline) {
      result.timed_out = true;
      break;
    }
    auto wait = std::min(longest_wait, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                                           std::chrono::milliseconds(1));
    PumpOnce(out_fd, err_fd, process.pidfd(), wait, out, err);
  }
  // Whatever is left in its group (a background child, a hung grandchild) goes now; the agent
  // itself is reaped after, so its group id cannot be reused before the signal.
  process.Signal(SIGKILL);
  result.exit = process.Wait();
  if (run.on_end) run.on_end();
  const auto drain_until = Clock::now() + kDrainLimit;
  while ((out_fd >= 0 || err_fd >= 0) && Clock::now() < drain_until)
    PumpOnce(out_fd, err_fd, -1, std::chrono::milliseconds(100), out, err);
  if (out_fd >= 0) ::close(out_fd);
  if (err_fd >= 0) ::close(err_fd);
  result.stdout_bytes = out.total();
  result.stdout_head = out.Take();
  result.stderr_tail = err.Take();
  return result;
}

}  // namespace tfgrpo::external_internal
