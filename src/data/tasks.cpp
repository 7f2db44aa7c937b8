#include <cmath>
#include <string_view>
#include <unordered_map>

#include "tfgrpo/data.h"
#include "tfgrpo/json.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

const char* TypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "number";
    default: return "unsupported value";
  }
}

// Numbers become the text a person would write: 42 stays "42" even when stored as 42.0.
std::string NumberText(const json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 1e15) {
      return std::to_string(static_cast<long long>(d));
    }
  }
  return v.dump();
}

// "parse error at byte 12: syntax error while parsing value - ..." from nlohmann's message,
// without its "[json.exception.parse_error.101] parse error at line 1, column 12: " preamble.
std::string DescribeParseError(const json::parse_error& e) {
  std::string what = e.what();
  size_t colon = what.find(": ");
  std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
  return "parse error at byte " + std::to_string(e.byte) + ": " + detail;
}

}  // namespace

Result<std::vector<Task>> LoadTasks(const std::filesystem::path& path, const std::string& problem_key,
                                    const std::string& answer_key) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Status::IoError(path.string() + ": is a directory, expected a JSONL file");
  }
  auto content = ReadFile(path);
  if (!content.ok()) return content.status();
  return ParseTasks(*content, path, problem_key, answer_key);
}

Result<std::vector<Task>> ParseTasks(std::string_view text, const std::filesystem::path& path,
                                     const std::string& problem_key, const std::string& answer_key) {
  const std::string file = path.string();
  if (StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 BOM from Windows editors

  const std::string stem = path.stem().string();
  std::vector<Task> tasks;
  std::unordered_map<std::string, int> line_of_id;
  const std::vector<std::string> lines = SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const int line_no = static_cast<int>(i) + 1;
    const std::string where = file + ":" + std::to_string(line_no) + ": ";
    if (Trim(lines[i]).empty()) continue;

    // A record nested thousands deep would overflow the stack when a Task is copied or printed.
    if (JsonNestingDepth(lines[i]) > kMaxJsonDepth) {
      return Status::InvalidArgument(where + "not a JSON object (nested deeper than " +
                                     std::to_string(kMaxJsonDepth) + " levels)");
    }
    json record;
    try {
      record = json::parse(lines[i]);
    } catch (const json::parse_error& e) {
      return Status::InvalidArgument(where + "not a JSON object (" + DescribeParseError(e) + ")");
    } catch (const json::exception& e) {
      // out_of_range: a number no double holds, as in 1e400.
      std::string what = e.what();
      size_t tag_end = what.find("] ");
      return Status::InvalidArgument(where + "not a JSON object (" +
                                     (tag_end == std::string::npos ? what : what.substr(tag_end + 2)) + ")");
    }
    if (!record.is_object()) {
      return Status::InvalidArgument(where + "not a JSON object (got " + TypeName(record) + ")");
    }

    Task task;
    task.line = line_no;
    auto problem = record.find(problem_key);
    if (problem == record.end()) return Status::InvalidArgument(where + "missing field '" + problem_key + "'");
    if (!problem->is_string()) {
      return Status::InvalidArgument(where + "field '" + problem_key + "' must be a string, got " +
                                     TypeName(*problem));
    }
    task.problem = problem->get<std::string>();

    auto answer = record.find(answer_key);
    if (answer == record.end()) return Status::InvalidArgument(where + "missing field '" + answer_key + "'");
    if (answer->is_string()) {
      task.answer = answer->get<std::string>();
    } else if (answer->is_number()) {
      task.answer = NumberText(*answer);
    } else if (answer->is_boolean()) {
      task.answer = answer->get<bool>() ? "true" : "false";
    } else {
      return Status::InvalidArgument(where + "field '" + answer_key + "' must be a string or number, got " +
                                     TypeName(*answer));
    }

    auto id = record.find("id");
    if (id == record.end()) {
      task.id = stem + ":" + std::to_string(line_no);
    } else if (id->is_string()) {
      task.id = id->get<std::string>();
      if (Trim(task.id).empty()) return Status::InvalidArgument(where + "field 'id' must not be empty");
    } else if (id->is_number_integer()) {
      task.id = id->dump();
    } else {
      return Status::InvalidArgument(where + "field 'id' must be a string or integer, got " +
                                     (id->is_number_float() ? std::string("a fractional number") : TypeName(*id)));
    }
    auto [first, inserted] = line_of_id.emplace(task.id, line_no);
    if (!inserted) {
      return Status::InvalidArgument(where + "duplicate id '" + task.id + "' (first used on line " +
                                     std::to_string(first->second) + ")");
    }

    task.record = std::move(record);
    tasks.push_back(std::move(task));
  }
  if (tasks.empty()) return Status::InvalidArgument(file + ": no tasks");
  return tasks;
}

}  // namespace tfgrpo
