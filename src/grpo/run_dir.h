// The run directory of `tfgrpo train`: its layout (run.db, lock, experiences.json, library.json,
// steps/<n>/...) and the lock that keeps two processes out of one run. Private to the grpo module.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tfgrpo/library.h"
#include "tfgrpo/status.h"

namespace tfgrpo::grpo_internal {

class RunDir {
 public:
  // Creates the folder when missing and takes its lock. IoError when it cannot be created, or
  // when another process holds the lock. The kernel drops the lock when a process dies, so a
  // killed run never blocks its own resume.
  static Result<std::unique_ptr<RunDir>> Open(const std::filesystem::path& path);
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path db_path() const { return path_ / "run.db"; }
  // steps/<version>/ (created on demand): version 0 is the starting library, n the one after
  // step n.
  std::filesystem::path StepDir(int version) const;
  // experiences.json and library.json of `version`, in steps/<version>/ and at the top (the
  // latest).
  Status WriteLibrary(int version, const Library& library, const nlohmann::json& provenance) const;
  // steps/<version>/<name>, pretty-printed, written atomically.
  Status WriteStepJson(int version, const std::string& name, const nlohmann::json& value) const;

 private:
  RunDir(std::filesystem::path path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}
  std::filesystem::path path_;
  int lock_fd_ = -1;
};

}  // namespace tfgrpo::grpo_internal
