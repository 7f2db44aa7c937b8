// Status and Result<T>: the error value every module returns across its boundary.
// A Status is cheap when OK and carries a code plus a human-readable message otherwise;
// messages say what failed and where (file, line, field), never secrets. Both are [[nodiscard]]:
// a status is handled, or dropped with an explicit (void) and a comment saying why.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace tfgrpo {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // bad input: config, data file, flag, reply we cannot parse
    kNotFound,
    kIoError,
    kUnavailable,      // endpoint unreachable or retries exhausted on a retryable error
    kUnauthorized,     // 401/403: fatal for a whole run, never retried
    kProviderError,    // the provider refused the request for good (400, 404, ...)
    kTimeout,
    kCancelled,
    kInternal,
    kBudgetExhausted,  // budget.max_usd or budget.max_tokens reached: no new call is started
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status IoError(std::string m) { return Status(Code::kIoError, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  static Status Unauthorized(std::string m) { return Status(Code::kUnauthorized, std::move(m)); }
  static Status ProviderError(std::string m) { return Status(Code::kProviderError, std::move(m)); }
  static Status Timeout(std::string m) { return Status(Code::kTimeout, std::move(m)); }
  static Status Cancelled(std::string m) { return Status(Code::kCancelled, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
  static Status BudgetExhausted(std::string m) { return Status(Code::kBudgetExhausted, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid argument: <message>"
  std::string ToString() const;
  static const char* CodeName(Code code);

  // Prefixes context ("while reading train.jsonl: ...") and keeps the code (and the HTTP
  // details below).
  Status WithContext(const std::string& context) const;

  // For an error that came from an HTTP reply: the status the server answered (0: none, e.g. a
  // network error) and the seconds its Retry-After header asked for (nullopt: none). Lets a
  // relay (the agent gateway) pass the provider's status on.
  int http_status() const { return http_status_; }
  std::optional<double> retry_after_s() const { return retry_after_s_; }
  // A copy carrying those details; the code and message are unchanged.
  Status WithHttpStatus(int status, std::optional<double> retry_after_s = std::nullopt) const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
  int http_status_ = 0;
  std::optional<double> retry_after_s_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // A Result is never OK without a value: built from an OK status (a bug in the caller) it holds
  // an internal error instead, in every build type, so the bug stops the run (IsFatalForRun)
  // rather than handing out an empty value.
  Result(Status status)  // NOLINT: implicit by design
      : status_(status.ok() ? Status::Internal("Result built from an OK status without a value")
                            : std::move(status)) {}
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace tfgrpo
