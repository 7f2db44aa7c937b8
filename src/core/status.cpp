#include "tfgrpo/status.h"

namespace tfgrpo {

const char* Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kIoError: return "I/O error";
    case Code::kUnavailable: return "unavailable";
    case Code::kUnauthorized: return "unauthorized";
    case Code::kProviderError: return "provider error";
    case Code::kTimeout: return "timeout";
    case Code::kCancelled: return "cancelled";
    case Code::kInternal: return "internal error";
    case Code::kBudgetExhausted: return "budget exhausted";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  Status out(code_, context + ": " + message_);
  out.http_status_ = http_status_;
  out.retry_after_s_ = retry_after_s_;
  return out;
}

Status Status::WithHttpStatus(int status, std::optional<double> retry_after_s) const {
  Status out = *this;
  out.http_status_ = status;
  out.retry_after_s_ = retry_after_s;
  return out;
}

}  // namespace tfgrpo
