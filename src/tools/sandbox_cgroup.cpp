// Per-call cgroup v2 directories for the python sandbox (see sandbox_cgroup.h).
#include "tools/sandbox_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "tfgrpo/util.h"

namespace tfgrpo::sandbox_internal {
namespace {

std::string ErrnoText(int err) {
  char buf[256];
  return std::string(strerror_r(err, buf, sizeof buf));
}

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool HasWord(const std::string& text, std::string_view word) {
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    if (w == word) return true;
  }
  return false;
}

// Opens a cgroup interface file the way a shell's `>` does (O_CREAT is a no-op on cgroupfs, where
// the kernel made the file; it lets tests stand in a plain directory tree).
int OpenInterfaceFile(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

// Writes `value` in one write(2), so the kernel sees the whole value and reports its verdict as
// that write's errno.
Status WriteInterfaceFile(const std::string& path, const std::string& value) {
  int fd = OpenInterfaceFile(path);
  if (fd < 0) return Status::IoError(path + ": " + ErrnoText(errno));
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) return Status::IoError(path + ": writing '" + value + "': " + ErrnoText(err));
  return Status::Ok();
}

std::string UniqueChildName() {
  static std::atomic<uint64_t> counter{0};
  return "tfgrpo-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

}  // namespace

Result<std::string> DefaultCgroupMount() {
  struct statfs fs {};
  if (::statfs("/sys/fs/cgroup", &fs) != 0) return Status::NotFound("/sys/fs/cgroup: " + ErrnoText(errno));
  if (static_cast<unsigned long>(fs.f_type) != CGROUP2_SUPER_MAGIC) {
    return Status::NotFound("/sys/fs/cgroup is not a cgroup v2 mount (cgroup v1 or hybrid hierarchy)");
  }
  return std::string("/sys/fs/cgroup");
}

Result<std::string> FindDelegatedCgroup(const std::string& mount, std::string_view self_cgroup) {
  std::string own;
  bool found = false;
  for (const auto& line : SplitLines(std::string(self_cgroup))) {
    if (StartsWith(line, "0::")) {
      own = line.substr(3);
      found = true;
    }
  }
  if (!found) return Status::NotFound("/proc/self/cgroup has no cgroup v2 entry (\"0::/path\")");
  while (EndsWith(own, "/")) own.pop_back();
  const std::string dir = mount + own;
  if (::access(dir.c_str(), W_OK) != 0) {
    return Status::NotFound("our cgroup " + dir + " is not writable: " + ErrnoText(errno));
  }
  auto controllers = ReadSmallFile(dir + "/cgroup.controllers");
  if (!controllers) return Status::NotFound(dir + "/cgroup.controllers cannot be read");
  for (const char* needed : {"memory", "pids"}) {
    if (!HasWord(*controllers, needed)) {
      return Status::NotFound("our cgroup " + dir + " does not offer the " + needed + " controller");
    }
  }
  auto subtree = ReadSmallFile(dir + "/cgroup.subtree_control");
  if (!subtree) return Status::NotFound(dir + "/cgroup.subtree_control cannot be read");
  if (!HasWord(*subtree, "memory") || !HasWord(*subtree, "pids")) {
    // Fails with EBUSY when processes (we ourselves) live in this cgroup: a cgroup that hands
    // controllers to children may hold no processes of its own.
    Status s = WriteInterfaceFile(dir + "/cgroup.subtree_control", "+memory +pids");
    if (!s.ok()) return Status::NotFound("cannot hand memory and pids to child cgroups of " + dir + ": " + s.message());
  }
  const std::string trial = dir + "/" + UniqueChildName();
  if (::mkdir(trial.c_str(), 0755) != 0) {
    return Status::NotFound("cannot create a child cgroup in " + dir + ": " + ErrnoText(errno));
  }
  if (::rmdir(trial.c_str()) != 0) {
    spdlog::warn("tools sandbox: cannot remove the trial cgroup {}: {}", trial, ErrnoText(errno));
  }
  return dir;
}

Status CallCgroup::Create(const std::string& parent, uint64_t memory_bytes, int max_pids) {
  const std::string path = parent + "/" + UniqueChildName();
  if (::mkdir(path.c_str(), 0755) != 0) {
    return Status::IoError("cannot create the tool call's cgroup " + path + ": " + ErrnoText(errno));
  }
  path_ = path;
  Status s = WriteInterfaceFile(path + "/memory.max", std::to_string(memory_bytes));
  if (s.ok()) s = WriteInterfaceFile(path + "/pids.max", std::to_string(max_pids));
  if (!s.ok()) return s;
  // Without swap accounting the file is absent; memory.max alone then bounds resident memory.
  if (::access((path + "/memory.swap.max").c_str(), F_OK) == 0) {
    if (Status swap = WriteInterfaceFile(path + "/memory.swap.max", "0"); !swap.ok()) return swap;
  }
  procs_fd_ = OpenInterfaceFile(path + "/cgroup.procs");
  if (procs_fd_ < 0) return Status::IoError(path + "/cgroup.procs: " + ErrnoText(errno));
  return Status::Ok();
}

int64_t CallCgroup::OomKills() const {
  auto events = ReadSmallFile(path_ + "/memory.events");
  if (!events) return 0;
  std::istringstream in(*events);
  std::string key;
  int64_t value = 0;
  while (in >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return 0;
}

CallCgroup::~CallCgroup() {
  if (procs_fd_ >= 0) ::close(procs_fd_);
  if (path_.empty()) return;
  const std::string kill_file = path_ + "/cgroup.kill";  // Linux 5.14+
  if (::access(kill_file.c_str(), F_OK) == 0) (void)WriteInterfaceFile(kill_file, "1");
  // The sandbox is already dead when we get here; its last processes may still be exiting.
  int err = 0;
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (::rmdir(path_.c_str()) == 0) return;
    err = errno;
    if (err != EBUSY) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  spdlog::warn("tools sandbox: cannot remove the tool call's cgroup {}: {}", path_, ErrnoText(err));
}

}  // namespace tfgrpo::sandbox_internal
