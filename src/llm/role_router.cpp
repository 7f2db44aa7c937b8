#include "tfgrpo/role_router.h"

namespace tfgrpo {

std::string_view SectionForRole(Role role) {
  switch (role) {
    case Role::kSummary:
    case Role::kAdvantage:
    case Role::kGroupUpdate:
    case Role::kBatchUpdate:
      return "learner";
    case Role::kJudge:
    case Role::kBrowse:
      return "judge";
    case Role::kRollout:
    case Role::kValidation:
      return "model";
  }
  return "model";
}

ChatClient& RoleRouter::For(Role role) {
  const std::string_view section = SectionForRole(role);
  if (section == "learner") return learner_;
  if (section == "judge") return judge_;
  return model_;
}

namespace {

Status NameSection(const Status& status, std::string_view section) {
  if (status.ok() || section == "model") return status;
  std::string message = status.message();
  const std::string from = "model.api_key_env", to = std::string(section) + ".api_key_env";
  for (size_t at = message.find(from); at != std::string::npos; at = message.find(from, at + to.size()))
    message.replace(at, from.size(), to);
  message = std::string(section) + ": " + message;
  auto renamed = [&status](Status s) { return s.WithHttpStatus(status.http_status(), status.retry_after_s()); };
  switch (status.code()) {
    case Status::Code::kUnauthorized: return renamed(Status::Unauthorized(message));
    case Status::Code::kUnavailable: return renamed(Status::Unavailable(message));
    case Status::Code::kTimeout: return renamed(Status::Timeout(message));
    case Status::Code::kProviderError: return renamed(Status::ProviderError(message));
    case Status::Code::kNotFound: return renamed(Status::NotFound(message));
    case Status::Code::kInvalidArgument: return renamed(Status::InvalidArgument(message));
    default: return status;  // budget, cancellation, I/O: their wording is not the endpoint's
  }
}

}  // namespace

Result<ChatResponse> RoleRouter::Complete(const ChatRequest& request) {
  auto r = For(request.role).Complete(request);
  if (r.ok()) return r;
  return NameSection(r.status(), SectionForRole(request.role));
}

Result<ChatResponse> RoleRouter::CompleteAndReport(const ChatRequest& request, CallReport& report) {
  auto r = For(request.role).CompleteAndReport(request, report);
  if (r.ok()) return r;
  return NameSection(r.status(), SectionForRole(request.role));
}

HttpClientOptions ClientOptionsForSection(const Config& config, const ModelConfig& section) {
  HttpClientOptions o;
  o.base_url = section.base_url;
  o.model = section.name;
  o.api_key = config.ApiKeyFor(section);
  o.timeout_s = section.timeout_s;
  o.max_retries = section.max_retries;
  o.concurrency = section.concurrency;
  o.max_tokens = section.max_tokens;
  return o;
}

RoutedClients::RoutedClients(const Config& config) {
  model_ = MakeHttpChatClient(ClientOptionsForSection(config, config.model));
  if (config.learner_given) learner_ = MakeHttpChatClient(ClientOptionsForSection(config, config.learner));
  if (config.judge_given) judge_ = MakeHttpChatClient(ClientOptionsForSection(config, config.judge));
  router_ = std::make_unique<RoleRouter>(*model_, learner_ ? *learner_ : *model_, judge_ ? *judge_ : *model_);
}

}  // namespace tfgrpo
