// Task data: JSONL files of problems and ground-truth answers, read with the configured keys.
// Errors name the file, the line and the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/status.h"

namespace tfgrpo {

struct Task {
  std::string id;       // the record's "id" field when present, else "<file stem>:<line>"
  std::string problem;  // the problem_key field
  std::string answer;   // the answer_key field (numbers are turned into their JSON text)
  nlohmann::json record = nlohmann::json::object();  // the whole line, for reward fns that need more
  int line = 0;         // 1-based line number in the source file
};

inline constexpr int64_t kDefaultMaxTaskBytes = 4194304;  // data.max_task_bytes

// Blank lines are skipped. A line that is not a JSON object, or lacks a key, or has a key of the
// wrong type is an error "FILE:LINE: ...". Duplicate ids are an error too. A line longer than
// `max_task_bytes` is an error before it is parsed (and is never held in memory whole); the
// file is read line by line, not all at once.
Result<std::vector<Task>> LoadTasks(const std::filesystem::path& path, const std::string& problem_key,
                                    const std::string& answer_key,
                                    int64_t max_task_bytes = kDefaultMaxTaskBytes);
// The same for JSONL text already in memory; `path` only names the source in errors and gives the
// stem of default ids. Thread-safe.
Result<std::vector<Task>> ParseTasks(std::string_view text, const std::filesystem::path& path,
                                     const std::string& problem_key, const std::string& answer_key,
                                     int64_t max_task_bytes = kDefaultMaxTaskBytes);

}  // namespace tfgrpo
