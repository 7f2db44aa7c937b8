// Per-call cgroups for the python sandbox: finding a cgroup v2 subtree the host delegates to us,
// and one child cgroup per tool call that bounds the memory and process count of everything the
// call starts, together. Internal to the tools module (and its tests).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tfgrpo/status.h"

namespace tfgrpo::sandbox_internal {

// Where per-call cgroups can go: our own cgroup's directory under `mount`, when `self_cgroup`
// (the text of /proc/self/cgroup) names a cgroup v2 path there that we may write to, whose
// cgroup.controllers offers memory and pids and whose cgroup.subtree_control hands them to
// children (enabled here when it does not yet and the kernel lets us). A trial child cgroup is
// created and removed. The error says which condition failed. `mount` is not checked to be a
// cgroup2 file system (see DefaultCgroupMount), so tests can point it at a plain directory tree.
Result<std::string> FindDelegatedCgroup(const std::string& mount, std::string_view self_cgroup);

// "/sys/fs/cgroup" when a cgroup2 file system is mounted there, else an error saying what is.
Result<std::string> DefaultCgroupMount();

// One tool call's cgroup: created with memory.max (and memory.swap.max = 0 where it exists) and
// pids.max; the child process moves itself in by writing "0" to procs_fd() before it execs, so
// nothing it starts can escape. Destruction kills what is left (cgroup.kill) and removes the
// directory, retrying briefly while exiting processes still populate it. Not thread-safe; one per
// call.
class CallCgroup {
 public:
  CallCgroup() = default;
  CallCgroup(const CallCgroup&) = delete;
  CallCgroup& operator=(const CallCgroup&) = delete;
  ~CallCgroup();

  Status Create(const std::string& parent, uint64_t memory_bytes, int max_pids);
  int procs_fd() const { return procs_fd_; }
  // Processes the OOM killer killed in this cgroup so far ("oom_kill" of memory.events; 0 when
  // unreadable).
  int64_t OomKills() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int procs_fd_ = -1;
};

}  // namespace tfgrpo::sandbox_internal
