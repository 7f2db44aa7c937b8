#include <cerrno>
#include <cmath>
#include <memory>
#include <cstring>
#include <fstream>
#include <sstream>
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

// Reads a file one line at a time, holding at most one line of at most `max_bytes` bytes: a line
// longer than that is skipped over (only its length is counted), never kept.
class LineReader {
 public:
  LineReader(std::istream& in, int64_t max_bytes) : in_(in), max_bytes_(max_bytes) {}

  // The next line without its "\n" (and a "\r" before it). False at the end of the file or on a
  // read error (then bad() is true). `bytes` is the line's length; when it is over the limit,
  // `line` is left empty.
  bool Next(std::string& line, int64_t& bytes) {
    line.clear();
    bytes = 0;
    bool any = false;
    bool last_was_cr = false;
    for (;;) {
      if (pos_ == end_ && !Fill()) {
        if (!any) return false;
        break;  // a last line without "\n"
      }
      any = true;
      const char* start = buffer_ + pos_;
      const void* nl = std::memchr(start, '\n', end_ - pos_);
      const size_t n = nl ? static_cast<const char*>(nl) - start : end_ - pos_;
      bytes += static_cast<int64_t>(n);
      if (n > 0) last_was_cr = start[n - 1] == '\r';
      if (bytes - 1 <= max_bytes_) line.append(start, n);  // + 1: room for a "\r" to drop
      pos_ += n;
      if (nl) {
        ++pos_;
        break;
      }
    }
    if (last_was_cr) {
      --bytes;
      if (!line.empty() && line.back() == '\r') line.pop_back();
    }
    if (bytes > max_bytes_) line.clear();
    return true;
  }
  bool bad() const { return in_.bad(); }

 private:
  bool Fill() {
    in_.read(buffer_, sizeof buffer_);
    pos_ = 0;
    end_ = static_cast<size_t>(in_.gcount());
    return end_ > 0;
  }

  std::istream& in_;
  const int64_t max_bytes_;
  char buffer_[1 << 16];
  size_t pos_ = 0, end_ = 0;
};

// The tasks of JSONL read from `in`; `path` names the source in errors and gives default ids.
Result<std::vector<Task>> ReadTasks(std::istream& in, const std::filesystem::path& path,
                                    const std::string& problem_key, const std::string& answer_key,
                                    int64_t max_task_bytes) {
  const std::string file = path.string();
  auto reader = std::make_unique<LineReader>(in, max_task_bytes);

  const std::string stem = path.stem().string();
  std::vector<Task> tasks;
  std::unordered_map<std::string, int> line_of_id;
  std::string text;
  int64_t bytes = 0;
  for (int line_no = 1; reader->Next(text, bytes); ++line_no) {
    const std::string where = file + ":" + std::to_string(line_no) + ": ";
    if (line_no == 1 && StartsWith(text, "\xEF\xBB\xBF")) {  // UTF-8 BOM from Windows editors
      text.erase(0, 3);
      bytes -= 3;
    }
    if (bytes > max_task_bytes) {
      return Status::InvalidArgument(where + "task is " + std::to_string(bytes) +
                                     " bytes, more than data.max_task_bytes (" + std::to_string(max_task_bytes) +
                                     ")");
    }
    if (Trim(text).empty()) continue;

    if (JsonNestingDepth(text) > kMaxJsonDepth) {
      return Status::InvalidArgument(where + "not a task: JSON nested more than " + std::to_string(kMaxJsonDepth) +
                                     " levels deep");
    }
    json record;
    try {
      record = json::parse(text);  // depth checked above; parse for its precise error message
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
  if (reader->bad()) return Status::IoError("cannot read " + file + ": " + std::strerror(errno));
  if (tasks.empty()) return Status::InvalidArgument(file + ": no tasks");
  return tasks;
}

}  // namespace

Result<std::vector<Task>> LoadTasks(const std::filesystem::path& path, const std::string& problem_key,
                                    const std::string& answer_key, int64_t max_task_bytes) {
  const std::string file = path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Status::IoError(file + ": is a directory, expected a JSONL file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open " + file + ": " + std::strerror(errno));
  return ReadTasks(in, path, problem_key, answer_key, max_task_bytes);
}

Result<std::vector<Task>> ParseTasks(std::string_view text, const std::filesystem::path& path,
                                     const std::string& problem_key, const std::string& answer_key,
                                     int64_t max_task_bytes) {
  std::istringstream in{std::string(text)};
  return ReadTasks(in, path, problem_key, answer_key, max_task_bytes);
}

}  // namespace tfgrpo
