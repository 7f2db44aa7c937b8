// Python and command rewards: a pool of long-lived sandboxed worker processes, one JSON line per
// score in each direction. A score takes a free worker, writes its request and waits for one line
// until the per-score deadline; a worker that hangs past it, exits, or answers out of protocol is
// killed and a fresh one is started on its slot's next use, so only that one score fails.
//
// A reply must belong to its request, never to the previous or next one. Every request carries an
// "id"; the python driver echoes it, and a command's reply object may ("id" present and different:
// that score fails). A command that replies with a bare number cannot say which input it answers,
// so commands are held to one line in, one line out: a reply followed by more output (already on
// the pipe, or arriving within kExtraLineGraceMs) voids that score, and output that turns up
// between scores replaces the worker before its next request, so it is never read as a reply.
#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "tfgrpo/json.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/sandbox.h"
#include "tfgrpo/sandboxed_process.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kPythonDriver =
#include "reward/python_worker.py.inc"
    ;

constexpr size_t kMaxReplyBytes = size_t{16} << 20;
constexpr size_t kStderrTailBytes = 4096;
// A reasoning goes into every summary prompt of its rollout; beyond this it is cut.
constexpr size_t kMaxReasoningBytes = 8192;
// Importing a heavy module (numpy, sympy) in a fresh worker can take a few seconds.
constexpr double kMinStartupTimeoutS = 30;
// Inside the sandbox the reward's folder is mounted here, read-only.
constexpr const char* kSandboxRewardDir = "/reward";
// How long a command reward's reply is watched for a second line. A grader that prints a stray
// line and then its score usually writes both at once (one read shows both); when it flushes
// them separately, they come microseconds apart, so 2 ms per score (paid only by command rewards)
// catch that too unless the grader is descheduled between its writes.
constexpr int kExtraLineGraceMs = 2;

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

Clock::time_point After(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

std::string Shorten(std::string_view text, size_t max) {
  std::string t = Trim(text);
  if (t.size() <= max) return t;
  return t.substr(0, max) + "...";
}

// Writing to a worker that just died must fail with EPIPE, not kill the process with SIGPIPE
// (tests and library users need not ignore it process-wide as the CLI does).
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~ScopedSigpipeBlock() {
    if (got_epipe_) {
      timespec zero{0, 0};
      sigtimedwait(&set_, nullptr, &zero);  // consume the SIGPIPE this thread raised
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void NoteEpipe() { got_epipe_ = true; }

 private:
  sigset_t set_, old_;
  bool got_epipe_ = false;
};

// One worker process and its line-oriented pipes.
class Worker {
 public:
  explicit Worker(std::unique_ptr<SandboxedProcess> proc) : proc_(std::move(proc)) {
    // A request bigger than the pipe buffer must not block forever on a worker that stopped
    // reading (user code may have started a thread that keeps it busy).
    ::fcntl(proc_->stdin_fd(), F_SETFL, ::fcntl(proc_->stdin_fd(), F_GETFL) | O_NONBLOCK);
  }

  // Ok, or a Status saying the worker is gone or out of time (then it must be discarded).
  Status WriteLine(const std::string& line, Clock::time_point deadline, double timeout_s) {
    ScopedSigpipeBlock block;
    size_t done = 0;
    std::string data = line + "\n";
    while (done < data.size()) {
      ssize_t n = ::write(proc_->stdin_fd(), data.data() + done, data.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        const auto now = Clock::now();
        if (now >= deadline) {
          proc_->Kill();
          return Status::Timeout("the worker did not read its request within " + FormatSeconds(timeout_s) +
                                 " s; it was killed and will be replaced");
        }
        pollfd fd = {proc_->stdin_fd(), POLLOUT, 0};
        ::poll(&fd, 1,
               static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count()) + 1);
        continue;
      }
      if (n < 0 && errno == EPIPE) block.NoteEpipe();
      return Exited("while reading its request");
    }
    return Status::Ok();
  }

  // One line of stdout (without the newline), reading stderr's tail on the way.
  Result<std::string> ReadLine(Clock::time_point deadline, double timeout_s, const std::string& doing) {
    size_t scanned = 0;
    bool err_open = true;
    char buf[65536];
    while (true) {
      size_t nl = out_.find('\n', scanned);
      if (nl != std::string::npos) {
        std::string line = out_.substr(0, nl);
        out_.erase(0, nl + 1);
        return line;
      }
      scanned = out_.size();
      if (out_.size() > kMaxReplyBytes) {
        return Status::InvalidArgument("the worker's reply is longer than " + std::to_string(kMaxReplyBytes >> 20) +
                                       " MiB; the worker was replaced");
      }
      const auto now = Clock::now();
      if (now >= deadline) {
        proc_->Kill();
        return Status::Timeout(doing + " took longer than " + FormatSeconds(timeout_s) +
                               " s; the worker was killed and will be replaced" + TailNote());
      }
      int wait_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count()) + 1;
      pollfd fds[2] = {{proc_->stdout_fd(), POLLIN, 0}, {proc_->stderr_fd(), POLLIN, 0}};
      int rc = ::poll(fds, err_open ? 2 : 1, wait_ms);
      if (rc < 0 && errno != EINTR) return Status::Unavailable("poll on a reward worker failed");
      if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) err_open = DrainStderr();
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        while (true) {
          ssize_t n = ::read(proc_->stdout_fd(), buf, sizeof buf);
          if (n > 0) {
            out_.append(buf, static_cast<size_t>(n));
            continue;
          }
          if (n < 0 && errno == EINTR) continue;
          if (n == 0) return Exited(doing);
          break;  // EAGAIN
        }
      }
    }
  }

  // What the worker has written to stdout and not yet been read as a reply, waiting up to
  // `grace_ms` for something when nothing is there yet; empty when it is quiet.
  std::string PendingOutput(int grace_ms) {
    if (out_.empty() && grace_ms > 0) {
      pollfd fd = {proc_->stdout_fd(), POLLIN, 0};
      ::poll(&fd, 1, grace_ms);
    }
    char buf[65536];
    while (out_.size() <= kMaxReplyBytes) {
      ssize_t n = ::read(proc_->stdout_fd(), buf, sizeof buf);
      if (n > 0) {
        out_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      break;  // EAGAIN, or EOF (the next write or read reports the exit)
    }
    return out_;
  }

  // A new score begins: what stderr said so far belongs to earlier scores, so an error of this
  // one never quotes it.
  void BeginRequest() {
    DrainStderr();
    err_tail_.clear();
  }

  SandboxedProcess& proc() { return *proc_; }
  std::string StderrTail() const { return Trim(err_tail_); }

 private:
  // Returns false once stderr is closed.
  bool DrainStderr() {
    char buf[8192];
    while (true) {
      ssize_t n = ::read(proc_->stderr_fd(), buf, sizeof buf);
      if (n > 0) {
        err_tail_.append(buf, static_cast<size_t>(n));
        if (err_tail_.size() > 2 * kStderrTailBytes) err_tail_.erase(0, err_tail_.size() - kStderrTailBytes);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n != 0;
    }
  }

  std::string TailNote() const {
    std::string tail = StderrTail();
    if (tail.empty()) return "";
    std::vector<std::string> lines = SplitLines(tail);
    std::string kept;
    for (size_t i = lines.size() > 6 ? lines.size() - 6 : 0; i < lines.size(); ++i) kept += lines[i] + "\n";
    if (kept.size() > 1500) kept = "..." + kept.substr(kept.size() - 1500);
    return "; its last output: " + Trim(kept);
  }

  // The process closed its stdout: collect how it ended and what it last said.
  Status Exited(const std::string& doing) {
    std::optional<int> code;
    for (int i = 0; i < 50 && !(code = proc_->ExitCode()); ++i) {
      DrainStderr();
      std::this_thread::sleep_for(std::chrono::milliseconds(4));
    }
    if (!code) {
      proc_->Kill();
      code = proc_->ExitCode(/*wait=*/true);
    }
    DrainStderr();
    std::string how = *code > 128 && *code < 128 + NSIG
                          ? "was killed by signal " + std::to_string(*code - 128) + " (" +
                                (sigabbrev_np(*code - 128) ? std::string("SIG") + sigabbrev_np(*code - 128) : "?") + ")"
                          : "exited with code " + std::to_string(*code);
    return Status::Unavailable("the worker " + how + " " + doing + "; it will be replaced" + TailNote());
  }

  std::unique_ptr<SandboxedProcess> proc_;
  std::string out_;
  std::string err_tail_;
};

// What a reward makes of one reply line. `discard` = the worker is out of protocol.
using Interpret = std::function<Result<RewardResult>(const std::string& line, bool* discard)>;

class WorkerPool {
 public:
  // `start` spawns a worker and completes its hand-shake (python: the file is loaded).
  using Starter = std::function<Result<std::unique_ptr<Worker>>()>;

  // `extra_line_grace_ms`: how long a reply is watched for a second line (0: only what has
  // already arrived).
  WorkerPool(int size, double timeout_s, Starter start, int extra_line_grace_ms = 0)
      : timeout_s_(timeout_s),
        extra_line_grace_ms_(extra_line_grace_ms),
        start_(std::move(start)),
        slots_(static_cast<size_t>(size)) {
    for (int i = size; i-- > 0;) free_.push_back(i);
  }

  // Starts every worker before the first score, in parallel; the first failure is returned.
  Status StartAll() {
    std::vector<Status> results(slots_.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < slots_.size(); ++i) {
      threads.emplace_back([this, i, &results] {
        auto w = start_();
        if (w.ok()) {
          slots_[i] = std::move(w).value();
        } else {
          results[i] = w.status();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const Status& s : results) {
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  Result<RewardResult> Score(const std::string& request, const Interpret& interpret) {
    const int slot = Acquire();
    Result<RewardResult> result = ScoreOn(slots_[static_cast<size_t>(slot)], request, interpret);
    Release(slot);
    return result;
  }

  int64_t replaced() const { return replaced_.load(); }

 private:
  Result<RewardResult> ScoreOn(std::unique_ptr<Worker>& worker, const std::string& request,
                               const Interpret& interpret) {
    if (worker) {
      // Output after the last reply (a stray line printed late): the score it followed has been
      // given already, but the next request must not read it as its reply.
      if (std::string late = worker->PendingOutput(0); !late.empty()) {
        spdlog::warn("a reward worker printed '{}' after its reply to the previous input; it was replaced so "
                     "that the next input gets its own reply",
                     Shorten(SplitLines(late).empty() ? late : SplitLines(late)[0], 200));
        Discard(worker);
      }
    }
    if (!worker) {
      auto started = start_();
      if (!started.ok()) return started.status().WithContext("starting a replacement worker");
      worker = std::move(started).value();
    }
    const auto deadline = After(timeout_s_);
    worker->BeginRequest();
    Status written = worker->WriteLine(request, deadline, timeout_s_);
    if (!written.ok()) {
      Discard(worker);
      return written;
    }
    auto line = worker->ReadLine(deadline, timeout_s_, "while scoring");
    if (!line.ok()) {
      Discard(worker);
      return line.status();
    }
    if (std::string extra = worker->PendingOutput(extra_line_grace_ms_); !extra.empty()) {
      std::vector<std::string> lines = SplitLines(extra);
      Discard(worker);
      return Status::InvalidArgument(
          "the worker printed more than one line for one input (its reply '" + Shorten(*line, 100) +
          "' was followed by '" + Shorten(lines.empty() ? extra : lines[0], 100) +
          "'); exactly one reply line per input is expected, so this score is void and the worker was replaced");
    }
    bool discard = false;
    Result<RewardResult> result = interpret(*line, &discard);
    if (discard) Discard(worker);
    return result;
  }

  void Discard(std::unique_ptr<Worker>& worker) {
    worker.reset();
    ++replaced_;
  }

  int Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !free_.empty(); });
    int slot = free_.back();
    free_.pop_back();
    return slot;
  }
  void Release(int slot) {
    {
      std::lock_guard lock(mu_);
      free_.push_back(slot);
    }
    cv_.notify_one();
  }

  const double timeout_s_;
  const int extra_line_grace_ms_;
  const Starter start_;
  std::vector<std::unique_ptr<Worker>> slots_;  // a slot is touched only by the thread holding it
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> free_;
  std::atomic<int64_t> replaced_{0};
};

std::string CappedReasoning(std::string text) {
  if (text.size() <= kMaxReasoningBytes) return text;
  size_t cut = kMaxReasoningBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  text.resize(cut);
  return text + " [reasoning cut at " + std::to_string(kMaxReasoningBytes) + " bytes]";
}

// `id` numbers the reward's requests; a reply that names another id answers another request.
std::string RequestLine(const Task& task, std::string_view response, uint64_t id) {
  nlohmann::json request = {{"id", id},
                            {"problem", task.problem},
                            {"answer", task.answer},
                            {"response", std::string(response)},
                            {"task", task.record}};
  return request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A number in [0, 1] or a bool; nullopt (with `error` set when it is a number out of range)
// otherwise.
std::optional<double> RewardValue(const nlohmann::json& v, std::string* error) {
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  if (!v.is_number()) return std::nullopt;
  double x = v.get<double>();
  if (!std::isfinite(x) || x < 0 || x > 1) {
    *error = "a reward of " + v.dump() + ", outside [0, 1]";
    return std::nullopt;
  }
  return x;
}

// A reward scored by a pool of workers, one request line out and one reply line back; the kinds
// differ only in how they read the reply.
class PooledReward : public RewardFn {
 public:
  PooledReward(std::string label, std::unique_ptr<WorkerPool> pool) : label_(std::move(label)), pool_(std::move(pool)) {}

  Result<RewardResult> Score(const Task& task, std::string_view response, const std::string&) override {
    const uint64_t id = ++last_id_;
    auto result = pool_->Score(RequestLine(task, response, id), [&](const std::string& line, bool* discard) {
      return Interpret(line, response, id, discard);
    });
    if (!result.ok()) return result.status().WithContext(label_);
    return result;
  }

 protected:
  // The score in a worker's reply line to request `id`; sets *discard when the worker is out of
  // step and must be replaced.
  virtual Result<RewardResult> Interpret(const std::string& line, std::string_view response, uint64_t id,
                                         bool* discard) const = 0;

  // Non-OK when `reply` names a request other than `id` (or, when `required`, names none).
  static Status CheckId(const nlohmann::json& reply, uint64_t id, bool required, const std::string& line,
                        bool* discard) {
    auto it = reply.is_object() ? reply.find("id") : reply.end();
    if (it == reply.end() ? !required : (it->is_number_unsigned() && it->get<uint64_t>() == id)) return Status::Ok();
    *discard = true;
    return Status::InvalidArgument("the worker's reply " +
                                   (it == reply.end() ? std::string("names no request id")
                                                      : "is for request id " + Shorten(it->dump(), 40)) +
                                   " while request id " + std::to_string(id) + " was waiting: '" +
                                   Shorten(line, 200) + "' (the worker was replaced)");
  }

 private:
  const std::string label_;
  std::unique_ptr<WorkerPool> pool_;
  std::atomic<uint64_t> last_id_{0};
};

class PythonReward : public PooledReward {
 public:
  using PooledReward::PooledReward;

 protected:
  Result<RewardResult> Interpret(const std::string& line, std::string_view response, uint64_t id,
                                 bool* discard) const override {
    nlohmann::json reply = ParseUntrustedJson(line);
    if (!reply.is_object()) {
      *discard = true;
      return Status::InvalidArgument("the worker sent an unreadable reply: " + Shorten(line, 200));
    }
    if (Status s = CheckId(reply, id, /*required=*/true, line, discard); !s.ok()) return s;
    if (auto err = reply.find("error"); err != reply.end() && err->is_string()) {
      std::string message = err->get<std::string>();
      if (auto tb = reply.find("traceback"); tb != reply.end() && tb->is_string() && !tb->get<std::string>().empty())
        message += "\n" + tb->get<std::string>();
      return Status::InvalidArgument(message);
    }
    std::string range_error;
    auto value = reply.contains("reward") ? RewardValue(reply["reward"], &range_error) : std::nullopt;
    if (!value) {
      *discard = true;
      return Status::InvalidArgument("the worker sent a reply without a reward: " + Shorten(line, 200));
    }
    RewardResult r;
    r.score = *value;
    r.extracted = ExtractFinalAnswer(response);
    if (auto it = reply.find("reasoning"); it != reply.end() && it->is_string()) {
      r.reasoning = CappedReasoning(it->get<std::string>());
    }
    return r;
  }
};

class CommandReward : public PooledReward {
 public:
  using PooledReward::PooledReward;

 protected:
  Result<RewardResult> Interpret(const std::string& line, std::string_view response, uint64_t id,
                                 bool* discard) const override {
    const std::string expected =
        "expected one line per input holding a number in [0, 1] or {\"reward\": x, \"reasoning\": \"...\"}, got ";
    nlohmann::json reply = ParseUntrustedJson(Trim(line));
    // A reply object may echo the request's id (optional: a bare number names no request).
    if (Status s = CheckId(reply, id, /*required=*/false, line, discard); !s.ok()) return s;
    std::string range_error;
    RewardResult r;
    r.extracted = ExtractFinalAnswer(response);
    if (auto value = RewardValue(reply, &range_error)) {
      r.score = *value;
      return r;
    }
    if (reply.is_object() && reply.contains("reward")) {
      if (auto value = RewardValue(reply["reward"], &range_error)) {
        auto reasoning = reply.find("reasoning");
        if (reasoning != reply.end() && !reasoning->is_string() && !reasoning->is_null()) {
          return Status::InvalidArgument("the command's \"reasoning\" must be text, got " +
                                         Shorten(reasoning->dump(), 100));
        }
        r.score = *value;
        if (reasoning != reply.end() && reasoning->is_string()) r.reasoning = CappedReasoning(reasoning->get<std::string>());
        return r;
      }
    }
    if (!range_error.empty()) return Status::InvalidArgument("the command returned " + range_error);
    // Not a reply at all: the command printed something else, so later lines would be shifted.
    *discard = true;
    return Status::InvalidArgument(expected + "'" + Shorten(line, 200) + "' (the worker was replaced)");
  }
};

int WorkerCount(int configured) {
  if (configured > 0) return configured;
  return std::max(1u, std::thread::hardware_concurrency());
}

Result<std::unique_ptr<PythonSandbox>> MakeSandbox(const ScriptRewardOptions& o) {
  SandboxOptions so;
  so.mode = o.sandbox;
  so.wall_timeout_s = std::max(o.timeout_s, 10.0);
  if (o.sandbox == "none") {
    spdlog::warn("task.reward {}: tools.sandbox is none, so the reward runs unsandboxed with this process's rights",
                 o.kind);
  }
  auto sandbox = PythonSandbox::Create(so);
  if (!sandbox.ok()) return sandbox.status().WithContext("task.reward " + o.kind);
  return sandbox;
}

// ---- reward folders the sandbox's user cannot reach -------------------------------------------
//
// Run as root, tfgrpo drops the workers to an unprivileged uid, which cannot read a reward in a
// private folder (root's home, a `mktemp -d`). Users should not have to open their folders up, so
// then the folder's files are copied into each worker's sandbox instead of bind-mounted: tfgrpo
// opens them itself and bubblewrap copies what it reads (SandboxedProcessSpec::copied_files).
// Bounded, since every worker holds its copies in memory; what is left out is named at start-up.
constexpr size_t kMaxCopiedBytes = size_t{32} << 20;
constexpr int kMaxCopiedDepth = 4;

// Whether the mode bits let `uid`/`gid` do all of `want` (4 read, 1 search/execute).
bool Permits(const fs::path& path, uid_t uid, gid_t gid, unsigned want) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  unsigned bits = st.st_uid == uid ? st.st_mode >> 6 : st.st_gid == gid ? st.st_mode >> 3 : st.st_mode;
  return (bits & want) == want;
}

// Whether the sandbox's user can reach `folder` on the host (every folder on the way searchable,
// the folder itself listable) and do `want` to `file` in it (empty: none to check).
bool SandboxUserReaches(const PythonSandbox& sandbox, const fs::path& folder, const fs::path& file, unsigned want) {
  const uid_t uid = sandbox.options().run_as_uid;
  const gid_t gid = sandbox.options().run_as_gid;
  std::error_code ec;
  const fs::path real = fs::canonical(folder, ec);
  if (ec) return false;
  fs::path at = "/";
  for (const auto& part : real.relative_path()) {
    if (!Permits(at, uid, gid, 1)) return false;
    at /= part;
  }
  if (!Permits(real, uid, gid, 4 | 1)) return false;
  return file.empty() || Permits(file, uid, gid, want);
}

// The files of `folder` to copy to `inside`: `required` (the reward file or program) always, then
// what the sandbox's user could read were the folder open to it, within the limits. Hidden entries
// (.git, .env) stay out, as do files only their owner may read.
Result<SandboxedProcessSpec> FolderCopy(const PythonSandbox& sandbox, const fs::path& folder, const fs::path& required,
                                        const std::string& inside) {
  const uid_t uid = sandbox.options().run_as_uid;
  const gid_t gid = sandbox.options().run_as_gid;
  SandboxedProcessSpec spec;
  spec.dirs.push_back(inside);
  size_t bytes = 0;
  std::vector<std::string> left_out;
  std::error_code ec;
  auto add = [&](const fs::path& host, const fs::path& rel, bool must) {
    std::error_code size_ec;
    const uintmax_t size = fs::file_size(host, size_ec);
    if (size_ec) return;
    if (!must && (spec.copied_files.size() >= SandboxedProcessSpec::kMaxCopiedFiles || bytes + size > kMaxCopiedBytes)) {
      left_out.push_back(rel.string() + " (over the limit)");
      return;
    }
    bytes += size;
    spec.copied_files.push_back(
        {host.string(), (fs::path(inside) / rel).string(), Permits(host, uid, gid, 1) || (must && ::access(host.c_str(), X_OK) == 0)});
  };
  if (!required.empty()) add(required, required.lexically_relative(folder), /*must=*/true);
  fs::recursive_directory_iterator it(folder, fs::directory_options::none, ec), end;
  if (ec) return Status::IoError("cannot list " + folder.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::IoError("cannot list " + folder.string() + ": " + ec.message());
    const fs::path host = it->path();
    const fs::path rel = host.lexically_relative(folder);
    if (host == required) continue;  // copied above, whatever it is
    const bool hidden = host.filename().string().starts_with(".");
    const fs::file_status st = it->symlink_status(ec);
    if (ec) continue;
    if (hidden || (fs::is_directory(st) && it.depth() + 1 >= kMaxCopiedDepth)) {
      if (fs::is_directory(st)) it.disable_recursion_pending();
      if (!hidden) left_out.push_back(rel.string() + "/ (deeper than " + std::to_string(kMaxCopiedDepth) + " levels)");
      continue;
    }
    if (fs::is_symlink(st)) {
      spec.symlinks.emplace_back(fs::read_symlink(host, ec).string(), (fs::path(inside) / rel).string());
    } else if (fs::is_directory(st)) {
      spec.dirs.push_back((fs::path(inside) / rel).string());
    } else if (fs::is_regular_file(st)) {
      if (Permits(host, uid, gid, 4)) {
        add(host, rel, /*must=*/false);
      } else {
        left_out.push_back(rel.string() + " (readable by its owner only)");
      }
    }
    if (spec.copied_files.size() + spec.symlinks.size() + spec.dirs.size() > 4 * SandboxedProcessSpec::kMaxCopiedFiles) {
      left_out.push_back("the rest (too many entries)");
      break;
    }
  }
  spdlog::info("task.reward: {} cannot be read by the sandbox's uid {}, so its files are copied into each worker "
               "({} files, {} KiB)",
               folder.string(), uid, spec.copied_files.size(), (bytes + 1023) / 1024);
  if (!left_out.empty()) {
    std::string names;
    for (size_t i = 0; i < left_out.size() && i < 10; ++i) names += (i ? ", " : "") + left_out[i];
    if (left_out.size() > 10) names += ", and " + std::to_string(left_out.size() - 10) + " more";
    spdlog::warn("task.reward: not copied into the sandbox from {}: {}", folder.string(), names);
  }
  return spec;
}

// Bind-mounts `folder` at /reward when the sandbox's user can use it there, else copies its files
// in (see FolderCopy). `required` is the reward file (to read) or program (to run), empty when it
// lives elsewhere.
Status ShowFolder(const PythonSandbox& sandbox, const fs::path& folder, const fs::path& required, bool run_required,
                  SandboxedProcessSpec* spec) {
  if (!sandbox.drops_root() || SandboxUserReaches(sandbox, folder, required, run_required ? 4 | 1 : 4)) {
    spec->read_only_binds = {{folder.string(), kSandboxRewardDir}};
    return Status::Ok();
  }
  auto copy = FolderCopy(sandbox, folder, required, kSandboxRewardDir);
  if (!copy.ok()) return copy.status().WithContext("task.reward");
  spec->copied_files = std::move(copy->copied_files);
  spec->symlinks = std::move(copy->symlinks);
  spec->dirs = std::move(copy->dirs);
  return Status::Ok();
}

std::string RootHint(const PythonSandbox& sandbox, const std::string& path) {
  if (!sandbox.drops_root()) return "";
  return " (tfgrpo runs as root, so the sandbox runs as uid " + std::to_string(sandbox.options().run_as_uid) +
         ", which must be able to read " + path + ")";
}

Result<std::unique_ptr<RewardFn>> MakePythonReward(const ScriptRewardOptions& o) {
  if (o.file.empty()) return Status::InvalidArgument("task.reward_file: required when task.reward is \"python\"");
  std::error_code ec;
  const fs::path file = fs::absolute(o.file, ec).lexically_normal();
  if (!fs::is_regular_file(file, ec)) {
    return Status::NotFound("task.reward_file: " + o.file.string() + ": no such file");
  }
  if (o.function.empty()) return Status::InvalidArgument("task.reward_function must not be empty");
  auto made = MakeSandbox(o);
  if (!made.ok()) return made.status();
  std::shared_ptr<PythonSandbox> sandbox = std::move(made).value();

  SandboxedProcessSpec spec;
  const std::string shown = o.file.string();
  if (sandbox->options().mode == "bwrap") {
    if (Status s = ShowFolder(*sandbox, file.parent_path(), file, /*run_required=*/false, &spec); !s.ok()) return s;
    spec.argv = {sandbox->python_path(), "-I", "-u", "-c", kPythonDriver,
                 std::string(kSandboxRewardDir) + "/" + file.filename().string(), o.function};
  } else {
    spec.argv = {sandbox->python_path(), "-I", "-u", "-c", kPythonDriver, file.string(), o.function};
  }
  const double startup_s = std::max(kMinStartupTimeoutS, o.timeout_s);
  auto start = [sandbox, spec, shown, startup_s, file]() -> Result<std::unique_ptr<Worker>> {
    auto proc = SandboxedProcess::Spawn(*sandbox, spec);
    if (!proc.ok()) return proc.status().WithContext("task.reward python: cannot start a worker");
    auto worker = std::make_unique<Worker>(std::move(proc).value());
    auto line = worker->ReadLine(After(startup_s), startup_s, "before loading " + shown);
    if (!line.ok()) {
      return Status::Unavailable("task.reward python: " + line.status().message() +
                                 RootHint(*sandbox, file.parent_path().string()));
    }
    nlohmann::json hello = ParseUntrustedJson(*line);
    if (!hello.is_object() || !hello.contains("ready")) {
      return Status::Unavailable("task.reward python: unexpected first line from the worker: " + Shorten(*line, 200));
    }
    if (!hello.value("ready", false)) {
      const int at = hello.value("line", 0);
      return Status::InvalidArgument(shown + (at > 0 ? ":" + std::to_string(at) : "") + ": " +
                                     hello.value("message", std::string("cannot load")));
    }
    return worker;
  };
  auto pool = std::make_unique<WorkerPool>(WorkerCount(o.workers), o.timeout_s, start);
  if (Status s = pool->StartAll(); !s.ok()) return s;
  return std::unique_ptr<RewardFn>(
      new PythonReward("reward python (" + shown + ": " + o.function + ")", std::move(pool)));
}

Result<std::unique_ptr<RewardFn>> MakeCommandReward(const ScriptRewardOptions& o) {
  if (o.command.empty() || Trim(o.command[0]).empty()) {
    return Status::InvalidArgument("task.reward_command: required when task.reward is \"command\"");
  }
  std::error_code ec;
  const fs::path base = fs::absolute(o.base_dir.empty() ? fs::current_path(ec) : o.base_dir, ec).lexically_normal();
  const std::string& program = o.command[0];
  std::string shown;
  for (const auto& a : o.command) shown += (shown.empty() ? "" : " ") + a;

  auto made = MakeSandbox(o);
  if (!made.ok()) return made.status();
  std::shared_ptr<PythonSandbox> sandbox = std::move(made).value();
  const bool bwrap = sandbox->options().mode == "bwrap";

  SandboxedProcessSpec spec;
  spec.argv = o.command;
  if (program.find('/') != std::string::npos) {
    fs::path host = fs::path(program).is_absolute() ? fs::path(program) : (base / program).lexically_normal();
    if (::access(host.c_str(), X_OK) != 0) {
      return Status::NotFound("task.reward_command: " + program + ": not an executable file (looked for " +
                              host.string() + ")");
    }
    if (bwrap) {
      fs::path rel = host.lexically_relative(base);
      if (!rel.empty() && *rel.begin() != "..") {
        spec.argv[0] = (fs::path(kSandboxRewardDir) / rel).string();
      } else if (!StartsWith(host.string(), "/usr/") && !StartsWith(host.string(), "/bin/")) {
        return Status::InvalidArgument("task.reward_command: " + program +
                                       ": the sandbox sees only the config's folder and the system dirs (/usr, "
                                       "/bin); put the program in " + base.string());
      }
    } else {
      spec.argv[0] = host.string();
    }
  } else {
    bool found = false;
    for (const char* dir : {"/usr/local/bin/", "/usr/bin/", "/bin/"}) {
      found = found || ::access((std::string(dir) + program).c_str(), X_OK) == 0;
    }
    if (!found) {
      return Status::NotFound("task.reward_command: " + program +
                              ": not found in /usr/local/bin:/usr/bin:/bin (write ./" + program +
                              " for a program in the config's folder)");
    }
  }
  if (bwrap) {
    fs::path required;
    if (program.find('/') != std::string::npos) {
      required = fs::path(program).is_absolute() ? fs::path(program) : (base / program).lexically_normal();
      if (required.lexically_relative(base).empty() || *required.lexically_relative(base).begin() == "..") required.clear();
    }
    if (Status s = ShowFolder(*sandbox, base, required, /*run_required=*/true, &spec); !s.ok()) return s;
    spec.cwd = kSandboxRewardDir;
  } else {
    spec.cwd = base.string();
  }
  auto start = [sandbox, spec]() -> Result<std::unique_ptr<Worker>> {
    auto proc = SandboxedProcess::Spawn(*sandbox, spec);
    if (!proc.ok()) return proc.status().WithContext("task.reward command: cannot start " + spec.argv[0]);
    return std::make_unique<Worker>(std::move(proc).value());
  };
  auto pool = std::make_unique<WorkerPool>(WorkerCount(o.workers), o.timeout_s, start, kExtraLineGraceMs);
  if (Status s = pool->StartAll(); !s.ok()) return s;
  return std::unique_ptr<RewardFn>(new CommandReward("reward command (" + shown + ")", std::move(pool)));
}

}  // namespace

Result<std::unique_ptr<RewardFn>> MakeScriptReward(const ScriptRewardOptions& options) {
  if (!(options.timeout_s > 0)) return Status::InvalidArgument("task.reward_timeout_s must be greater than 0");
  if (options.kind == "python") return MakePythonReward(options);
  if (options.kind == "command") return MakeCommandReward(options);
  return Status::InvalidArgument("script reward kind must be python or command, got '" + options.kind + "'");
}

ScriptRewardOptions ScriptRewardOptionsFrom(const Config& config, const std::string& kind) {
  ScriptRewardOptions o;
  o.kind = kind;
  o.file = config.task.reward_file;
  o.function = config.task.reward_function;
  o.command = config.task.reward_command;
  o.base_dir = config.source.parent_path();
  o.timeout_s = config.task.reward_timeout_s;
  o.workers = config.task.reward_workers;
  o.sandbox = std::string(Name(config.tools.sandbox));
  return o;
}

}  // namespace tfgrpo
