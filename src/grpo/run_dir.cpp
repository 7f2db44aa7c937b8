#include "grpo/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "tfgrpo/util.h"

namespace tfgrpo::grpo_internal {

Result<std::unique_ptr<RunDir>> RunDir::Open(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::IoError("cannot create run dir " + path.string() + ": " + ec.message());
  // Two processes training into one run dir would interleave their records.
  const int fd = ::open((path / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (fd >= 0) ::close(fd);
    return Status::IoError("run dir " + path.string() +
                           " is in use by another tfgrpo process (or its lock file cannot be opened)");
  }
  return std::unique_ptr<RunDir>(new RunDir(path, fd));
}

RunDir::~RunDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::filesystem::path RunDir::StepDir(int version) const {
  return path_ / "steps" / std::to_string(version);
}

Status RunDir::WriteLibrary(int version, const Library& library, const nlohmann::json& provenance) const {
  std::error_code ec;
  std::filesystem::create_directories(StepDir(version), ec);
  if (ec) return Status::IoError("cannot create " + StepDir(version).string() + ": " + ec.message());
  for (const auto& dir : {StepDir(version), path_}) {
    Status s = library.Save(dir / "experiences.json");
    if (s.ok()) s = library.SaveArtifact(dir / "library.json", provenance);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status RunDir::WriteStepJson(int version, const std::string& name, const nlohmann::json& value) const {
  std::error_code ec;
  std::filesystem::create_directories(StepDir(version), ec);
  if (ec) return Status::IoError("cannot create " + StepDir(version).string() + ": " + ec.message());
  return WriteFileAtomic(StepDir(version) / name, value.dump(2) + "\n");
}

}  // namespace tfgrpo::grpo_internal
