// The stdio transport: the server is our child process; newline-delimited JSON-RPC on its stdin
// and stdout, its stderr drained into a bounded tail for error messages. One reader thread per
// process dispatches responses to waiting callers by request id and answers server requests.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "mcp/connection.h"
#include "tfgrpo/json.h"
#include "tfgrpo/process.h"
#include "tfgrpo/secrets.h"

namespace tfgrpo::mcp_internal {
namespace {

using nlohmann::json;

constexpr size_t kMaxLineBytes = kMaxMessageBytes;  // longer lines are dropped (their request fails)
constexpr size_t kStderrTailBytes = 8192;
// Answers to the server's own requests waiting to be written; past this the server is not reading
// its stdin while it floods us, and further answers are dropped (it may time those requests out).
constexpr size_t kMaxQueuedAnswers = 1024;

// Writing to a server that just died must fail with EPIPE, not end the process with SIGPIPE.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeBlocked() {
    if (raised_) {
      timespec zero{0, 0};
      sigtimedwait(&set_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void Raised() { raised_ = true; }

 private:
  sigset_t set_, old_;
  bool raised_ = false;
};

class StdioConnection : public Connection {
 public:
  StdioConnection(McpServerConfig config, McpOptions options)
      : config_(std::move(config)),
        options_(options),
        launcher_(options.launcher ? options.launcher : &DefaultLauncher()) {}
  ~StdioConnection() override { Close(); }

  Status Spawn();

  Result<RpcReply> Request(const std::string& method, const json& params, Clock::time_point deadline,
                           int64_t* sent_id) override {
    const int64_t id = next_id_++;
    if (sent_id) *sent_id = id;
    auto pending = std::make_shared<Pending>();
    {
      std::lock_guard lock(mu_);
      if (dead_) return Status::Unavailable(death_);
      pending_[id] = pending;
    }
    Status sent = WriteLine(MakeRequest(id, method, params).dump(), deadline);
    std::unique_lock lock(mu_);
    if (!sent.ok()) {
      pending_.erase(id);
      return sent;
    }
    if (!pending->ready.wait_until(lock, deadline, [&] { return pending->reply.has_value(); })) {
      pending_.erase(id);
      return Status::Timeout("no reply to " + method + " within the deadline");
    }
    return std::move(*pending->reply);
  }

  Status Notify(const std::string& method, const json& params) override {
    return WriteLine(MakeNotification(method, params).dump(), After(1));
  }

  bool Alive() const override {
    std::lock_guard lock(mu_);
    return !dead_;
  }

  void Close() override;

  // The server's text, redacted: it may print what it was given (a key from the environment).
  std::string StderrTail() const override {
    std::lock_guard lock(mu_);
    return RedactRunSecrets(stderr_tail_);
  }
  int64_t GarbageLines() const override { return garbage_.load(); }
  std::string Describe() const override { return "command `" + JoinCommand(config_.command) + "`"; }

 private:
  struct Pending {
    std::optional<Result<RpcReply>> reply;
    std::condition_variable ready;  // one per call: a reply wakes only its own caller
  };

  Status WriteLine(std::string line, Clock::time_point deadline);
  void ReaderLoop();
  void HandleLine(std::string_view line);
  void HandleMessage(const json& message);
  // A reply we cannot use (`why`): fails the request it answers, when its id can be read.
  void FailUnusableReply(std::string_view line_start, const std::string& why);
  void MarkDead(const std::string& why);  // with mu_ held
  void QueueAnswer(std::string line);
  void AnswerWriterLoop();

  McpServerConfig config_;
  McpOptions options_;
  Launcher* launcher_;
  std::unique_ptr<Process> process_;  // pid, group and reaping; the pipe ends are released to us
  int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1;
  int wake_read_ = -1, wake_write_ = -1;
  std::thread reader_;

  mutable std::mutex mu_;  // everything below up to write_mu_
  std::condition_variable cv_;  // reaped_
  std::map<int64_t, std::shared_ptr<Pending>> pending_;
  bool dead_ = false;
  std::string death_;
  bool reaped_ = false;
  std::string stderr_tail_;

  // Answers to server requests are written by their own thread, so the reader never blocks on a
  // server that floods us with requests and does not read its stdin.
  std::thread answer_writer_;
  std::mutex answers_mu_;
  std::condition_variable answers_cv_;
  std::vector<std::string> answers_;  // under answers_mu_
  bool answers_stop_ = false;         // under answers_mu_

  std::mutex write_mu_;  // in_fd_ and the order of written lines
  std::mutex close_mu_;
  bool closed_ = false;
  std::atomic<int64_t> next_id_{1};
  std::atomic<int64_t> garbage_{0};
};

Status StdioConnection::Spawn() {
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) return Status::IoError(std::string("pipe: ") + strerror(errno));
  // The child's environment: ours without the run's secrets, with the configured variables added
  // or replaced (a secret reaches a server only when its `env` passes it by name). Its own
  // process group, so stopping it reaches what it started (npx runs node).
  SpawnSpec spec;
  spec.Argv(config_.command)
      .Env(ChildEnvironment(config_.env))
      .StdinFrom(Stdio::Pipe(/*nonblocking=*/true))
      .StdoutTo(Stdio::Pipe(/*nonblocking=*/true))
      .StderrTo(Stdio::Pipe(/*nonblocking=*/true));
  auto started = launcher_->Spawn(spec);
  if (!started.ok()) {
    ::close(wake[0]);
    ::close(wake[1]);
    closed_ = true;
    dead_ = true;
    return Status::Unavailable(started.status().message());
  }
  process_ = std::move(*started);
  in_fd_ = process_->ReleaseStdin();
  out_fd_ = process_->ReleaseStdout();
  err_fd_ = process_->ReleaseStderr();
  wake_read_ = wake[0];
  wake_write_ = wake[1];
  reader_ = std::thread([this] { ReaderLoop(); });
  answer_writer_ = std::thread([this] { AnswerWriterLoop(); });
  return Status::Ok();
}

Status StdioConnection::WriteLine(std::string line, Clock::time_point deadline) {
  line += '\n';
  std::lock_guard lock(write_mu_);
  if (in_fd_ < 0) return Status::Unavailable("the server's stdin is closed");
  SigpipeBlocked sigpipe;
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(in_fd_, line.data() + done, line.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return Status::Timeout("the server stopped reading its stdin");
      pollfd p{in_fd_, POLLOUT, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
      continue;
    }
    if (n < 0 && errno == EPIPE) sigpipe.Raised();
    return Status::Unavailable(std::string("writing to the server failed: ") + strerror(errno));
  }
  return Status::Ok();
}

void StdioConnection::MarkDead(const std::string& why) {
  if (!dead_) {
    dead_ = true;
    death_ = why;
  }
  for (auto& [id, pending] : pending_) {
    pending->reply = Result<RpcReply>(Status::Unavailable(death_));
    pending->ready.notify_one();
  }
  pending_.clear();
}

void StdioConnection::ReaderLoop() {
  std::string buffer;
  bool discarding = false;  // inside an over-long line
  bool out_eof = false, err_eof = false, stop = false;
  std::optional<Clock::time_point> out_eof_at;
  ExitStatus exit_status;
  bool reaped = false;
  char chunk[65536];
  auto drain = [&](int fd, bool is_stdout) -> bool {  // false at EOF
    while (true) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n > 0) {
        if (is_stdout) {
          size_t start = 0;
          for (ssize_t i = 0; i < n; ++i) {
            if (chunk[i] != '\n') continue;
            if (!discarding) {
              buffer.append(chunk + start, static_cast<size_t>(i) - start);
              HandleLine(buffer);
            }
            buffer.clear();
            discarding = false;
            start = static_cast<size_t>(i) + 1;
          }
          if (!discarding) buffer.append(chunk + start, static_cast<size_t>(n) - start);
          if (!discarding && buffer.size() > kMaxLineBytes) {
            FailUnusableReply(buffer, "the reply is larger than " + std::to_string(kMaxLineBytes >> 20) + " MiB");
            buffer.clear();
            buffer.shrink_to_fit();
            discarding = true;
            ++garbage_;
          }
        } else {
          std::lock_guard lock(mu_);
          stderr_tail_.append(chunk, static_cast<size_t>(n));
          if (stderr_tail_.size() > kStderrTailBytes)
            stderr_tail_.erase(0, stderr_tail_.size() - kStderrTailBytes);
        }
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  };
  while (true) {
    pollfd fds[3];
    nfds_t count = 0;
    int out_index = -1, err_index = -1;
    if (!out_eof) {
      out_index = static_cast<int>(count);
      fds[count++] = {out_fd_, POLLIN, 0};
    }
    if (!err_eof) {
      err_index = static_cast<int>(count);
      fds[count++] = {err_fd_, POLLIN, 0};
    }
    const int wake_index = static_cast<int>(count);
    fds[count++] = {wake_read_, POLLIN, 0};
    ::poll(fds, count, out_eof ? 20 : 200);
    if (out_index >= 0 && fds[out_index].revents) out_eof = !drain(out_fd_, true);
    if (err_index >= 0 && fds[err_index].revents) err_eof = !drain(err_fd_, false);
    if (fds[wake_index].revents) {
      char c;
      while (::read(wake_read_, &c, 1) > 0) {
      }
      stop = true;
    }
    if (!reaped && !(exit_status = process_->Wait(0)).running()) {
      reaped = true;
      // What the server started dies with it (its group outlives it otherwise). The group id is
      // not reused while any member lives.
      process_->Signal(SIGTERM);
      if (!out_eof) out_eof = !drain(out_fd_, true);
      if (!err_eof) err_eof = !drain(err_fd_, false);
    }
    if (out_eof && !out_eof_at) out_eof_at = Clock::now();
    // Closed stdout usually means the process is exiting: give it a moment so the error can say
    // how it ended.
    const bool report = reaped || (out_eof && Clock::now() - *out_eof_at > std::chrono::milliseconds(300));
    if (report) {
      std::lock_guard lock(mu_);
      if (!dead_) {
        std::string why = "mcp server '" + config_.name + "' ";
        why += reaped ? exit_status.Describe() : "closed its stdout";
        MarkDead(why);
      }
      if (reaped && !reaped_) {
        reaped_ = true;
        cv_.notify_all();
      }
    }
    if (reaped && (out_eof || stop)) break;
  }
}

void StdioConnection::HandleLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  if (line.empty()) return;
  if (!ForEachMessage(line, [this](const json& message) { HandleMessage(message); })) {
    ++garbage_;
    FailUnusableReply(line, "the reply cannot be parsed: " + WhyUnparseable(line));
  }
}

void StdioConnection::FailUnusableReply(std::string_view line_start, const std::string& why) {
  const std::optional<int64_t> id = LeadingResponseId(line_start);
  if (!id) return;
  std::lock_guard lock(mu_);
  auto it = pending_.find(*id);
  if (it == pending_.end()) return;
  it->second->reply = Result<RpcReply>(Status::ProviderError(why));
  it->second->ready.notify_one();
  pending_.erase(it);
}

void StdioConnection::QueueAnswer(std::string line) {
  std::lock_guard lock(answers_mu_);
  if (answers_stop_ || answers_.size() >= kMaxQueuedAnswers) return;
  answers_.push_back(std::move(line));
  answers_cv_.notify_one();
}

void StdioConnection::AnswerWriterLoop() {
  std::unique_lock lock(answers_mu_);
  while (true) {
    answers_cv_.wait(lock, [&] { return answers_stop_ || !answers_.empty(); });
    if (answers_stop_) return;
    std::vector<std::string> batch;
    batch.swap(answers_);
    lock.unlock();
    for (auto& line : batch)
      if (!WriteLine(std::move(line), After(1)).ok()) break;  // not reading, or gone: drop the rest
    lock.lock();
  }
}

void StdioConnection::HandleMessage(const json& message) {
  switch (Classify(message)) {
    case MessageKind::kResponse: {
      if (!message["id"].is_number_integer()) return;  // not one of ours
      const int64_t id = message["id"].get<int64_t>();
      std::lock_guard lock(mu_);
      auto it = pending_.find(id);
      if (it == pending_.end()) return;  // cancelled or timed out already
      it->second->reply = Result<RpcReply>(ToReply(message));
      it->second->ready.notify_one();
      pending_.erase(it);
      return;
    }
    case MessageKind::kRequest:
      QueueAnswer(AnswerServerRequest(message).dump());
      return;
    case MessageKind::kNotification:
      return;  // logging, progress, list_changed: nothing we act on
    case MessageKind::kInvalid:
      ++garbage_;
      return;
  }
}

void StdioConnection::Close() {
  std::lock_guard close_lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  if (!process_) return;  // never started
  {
    std::lock_guard lock(answers_mu_);
    answers_stop_ = true;
    answers_cv_.notify_all();
  }
  {
    std::lock_guard lock(write_mu_);
    if (in_fd_ >= 0) ::close(in_fd_);
    in_fd_ = -1;
  }
  auto wait_reaped = [&](double seconds) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, After(seconds), [&] { return reaped_; });
  };
  if (!wait_reaped(options_.stop_grace_s)) {
    process_->Signal(SIGTERM);
    if (!wait_reaped(options_.stop_grace_s)) {
      process_->Signal(SIGKILL);
      wait_reaped(1e9);
    }
  }
  // The server is gone; whatever it started and left behind is not wanted either.
  process_->Signal(SIGKILL);
  ssize_t ignored = ::write(wake_write_, "x", 1);
  (void)ignored;
  if (reader_.joinable()) reader_.join();
  if (answer_writer_.joinable()) answer_writer_.join();
  {
    std::lock_guard lock(mu_);
    MarkDead("mcp server '" + config_.name + "' was stopped");
  }
  for (int fd : {out_fd_, err_fd_, wake_read_, wake_write_})
    if (fd >= 0) ::close(fd);
  out_fd_ = err_fd_ = wake_read_ = wake_write_ = -1;
}

}  // namespace

Result<std::unique_ptr<Connection>> StartStdioConnection(const McpServerConfig& config,
                                                         const McpOptions& options) {
  auto connection = std::make_unique<StdioConnection>(config, options);
  Status started = connection->Spawn();
  if (!started.ok()) return started;
  return std::unique_ptr<Connection>(std::move(connection));
}

}  // namespace tfgrpo::mcp_internal
