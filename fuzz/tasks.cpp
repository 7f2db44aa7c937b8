// Fuzzes the task JSONL reader (data.train / data.eval files) through ParseTasks, which
// LoadTasks calls on the file's text.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

#include "tfgrpo/data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tasks = tfgrpo::ParseTasks(text, "/fuzz/train.jsonl", "problem", "groundtruth");
  if (!tasks.ok()) return 0;
  std::vector<tfgrpo::Task> copy = *tasks;  // callers copy and print tasks and their records
  (void)copy.back().record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::set<std::string> ids;
  for (const tfgrpo::Task& t : *tasks) {
    if (t.id.empty() || !ids.insert(t.id).second) __builtin_trap();  // ids are non-empty, unique
    if (t.line <= 0) __builtin_trap();
  }
  return 0;
}
