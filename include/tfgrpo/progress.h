// Progress and logging: a live status line per stage on a terminal, plain log lines elsewhere,
// and the --quiet / --verbose switches. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace tfgrpo {

enum class Verbosity { kQuiet, kNormal, kVerbose };

// Sets up spdlog on stderr at the level matching `v`.
void InitLogging(Verbosity v);

class Progress {
 public:
  virtual ~Progress() = default;
  virtual void Begin(const std::string& stage, int64_t total) = 0;
  // Grows a stage's total when more work is discovered (summaries once groups finish, say).
  virtual void AddTotal(const std::string& stage, int64_t n) = 0;
  // One unit of `stage` done; `tokens` spent on it.
  virtual void Advance(const std::string& stage, int64_t tokens = 0) = 0;
  virtual void End(const std::string& stage) = 0;
};

// Live line on a TTY (stage done/total, rate, ETA, tokens), periodic log lines otherwise,
// nothing when quiet.
std::unique_ptr<Progress> MakeProgress(Verbosity v);
// Discards everything (tests, benchmarks).
Progress& NullProgress();

}  // namespace tfgrpo
