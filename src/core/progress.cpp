#include "tfgrpo/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "tfgrpo/secrets.h"

namespace tfgrpo {

namespace {

// Every log line passes RedactRunSecrets on its way to stderr: the last guard for a message that
// quotes outside text (a server's error, a tool's output).
class RedactingSink final : public spdlog::sinks::sink {
 public:
  explicit RedactingSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}
  void log(const spdlog::details::log_msg& msg) override {
    const std::string text = RedactRunSecrets(std::string(msg.payload.data(), msg.payload.size()));
    spdlog::details::log_msg redacted = msg;
    redacted.payload = spdlog::string_view_t(text.data(), text.size());
    inner_->log(redacted);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

}  // namespace

void InitLogging(Verbosity v) {
  auto sink = std::make_shared<RedactingSink>(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  auto logger = std::make_shared<spdlog::logger>("tfgrpo", std::move(sink));
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%H:%M:%S %^%l%$ %v");
  switch (v) {
    case Verbosity::kQuiet: spdlog::set_level(spdlog::level::warn); break;
    case Verbosity::kNormal: spdlog::set_level(spdlog::level::info); break;
    case Verbosity::kVerbose: spdlog::set_level(spdlog::level::debug); break;
  }
}

namespace {

using Clock = std::chrono::steady_clock;

class NullProgressImpl : public Progress {
 public:
  void Begin(const std::string&, int64_t) override {}
  void AddTotal(const std::string&, int64_t) override {}
  void Advance(const std::string&, int64_t) override {}
  void End(const std::string&) override {}
};

struct StageState {
  int64_t total = 0;
  int64_t done = 0;
  int64_t tokens = 0;
  Clock::time_point start;
  Clock::time_point last_report;
};

// On a TTY, redraws one line on stderr (at most 10 times a second); elsewhere logs a line when a
// stage ends and every 10 seconds while it runs.
class ConsoleProgress : public Progress {
 public:
  explicit ConsoleProgress(bool tty) : tty_(tty) {}
  ~ConsoleProgress() override {
    if (tty_ && drawn_) std::fputc('\n', stderr);
  }

  void Begin(const std::string& stage, int64_t total) override {
    std::lock_guard lock(mu_);
    auto& s = stages_[stage];
    s = StageState{};
    s.total = total;
    s.start = s.last_report = Clock::now();
    Draw(stage, s, /*force=*/true);
  }

  void AddTotal(const std::string& stage, int64_t n) override {
    std::lock_guard lock(mu_);
    stages_[stage].total += n;
  }

  void Advance(const std::string& stage, int64_t tokens) override {
    std::lock_guard lock(mu_);
    auto& s = stages_[stage];
    if (s.start == Clock::time_point{}) s.start = s.last_report = Clock::now();
    ++s.done;
    s.tokens += tokens;
    Draw(stage, s, false);
  }

  void End(const std::string& stage) override {
    std::lock_guard lock(mu_);
    auto it = stages_.find(stage);
    if (it == stages_.end()) return;
    Draw(stage, it->second, true);
    if (tty_) {
      std::fputc('\n', stderr);
      drawn_ = false;
    } else {
      spdlog::info("{}", Line(stage, it->second));
    }
    stages_.erase(it);
  }

 private:
  static std::string Line(const std::string& stage, const StageState& s) {
    double elapsed = std::chrono::duration<double>(Clock::now() - s.start).count();
    double rate = elapsed > 0 ? s.done / elapsed : 0;
    char buf[256];
    if (s.total > 0 && rate > 0 && s.done < s.total) {
      std::snprintf(buf, sizeof buf, "%-14s %lld/%lld  %.1f/s  ETA %.0fs  %lld tokens", stage.c_str(),
                    (long long)s.done, (long long)s.total, rate, (s.total - s.done) / rate, (long long)s.tokens);
    } else {
      std::snprintf(buf, sizeof buf, "%-14s %lld/%lld  %.1f/s  %.1fs  %lld tokens", stage.c_str(),
                    (long long)s.done, (long long)s.total, rate, elapsed, (long long)s.tokens);
    }
    return buf;
  }

  void Draw(const std::string& stage, StageState& s, bool force) {
    auto now = Clock::now();
    if (tty_) {
      if (!force && now - s.last_report < std::chrono::milliseconds(100)) return;
      s.last_report = now;
      std::fprintf(stderr, "\r\033[K%s", Line(stage, s).c_str());
      std::fflush(stderr);
      drawn_ = true;
    } else if (!force && now - s.last_report >= std::chrono::seconds(10)) {
      s.last_report = now;
      spdlog::info("{}", Line(stage, s));
    }
  }

  bool tty_;
  bool drawn_ = false;
  std::mutex mu_;
  std::map<std::string, StageState> stages_;
};

}  // namespace

std::unique_ptr<Progress> MakeProgress(Verbosity v) {
  if (v == Verbosity::kQuiet) return std::make_unique<NullProgressImpl>();
  return std::make_unique<ConsoleProgress>(::isatty(STDERR_FILENO) != 0);
}

Progress& NullProgress() {
  static NullProgressImpl instance;
  return instance;
}

}  // namespace tfgrpo
