#include "serve/request_body.h"

#include <cstdint>
#include <optional>

#include "serve/guarded_server.h"
#include "tfgrpo/json.h"
#include "tfgrpo/responses_api.h"
#include "tfgrpo/serve.h"
#include "tfgrpo/util.h"

namespace tfgrpo::serve_internal {

std::string ErrorBody(std::string_view message, std::string_view type, std::string_view code) {
  nlohmann::json j;
  j["error"]["message"] = message;
  j["error"]["type"] = type;
  j["error"]["code"] = code;
  return j.dump();
}

void SetError(httplib::Response& res, int status, std::string_view message,
              std::string_view type, std::string_view code) {
  res.status = status;
  res.set_content(ErrorBody(message, type, code), "application/json");
}

void RejectTooLarge(httplib::Response& res) {
  SetError(res, 413, "request body exceeds the 8 MiB limit", "invalid_request_error",
           "request_too_large");
}

// Reads the request body into `out`, stopping as soon as it passes the limit (a chunked body
// has no length to check first). On failure `res` holds the error; the unread rest of the
// body is never read, and the connection closes after the reply.
bool ReadBody(const httplib::Request& req, const httplib::ContentReader& reader,
                     httplib::Response& res, std::string* out) {
  serve_internal::RequestContext* context = serve_internal::CurrentRequest();
  const serve_internal::RequestHead* head = context ? context->head : nullptr;
  const bool chunked =
      head ? head->chunked : ToLower(req.get_header_value("Transfer-Encoding")) == "chunked";
  std::optional<uint64_t> length;
  if (head) {
    length = head->content_length;
  } else if (req.has_header("Content-Length")) {
    length = req.get_header_value<uint64_t>("Content-Length");
  }
  if (!chunked && !length) {
    if (context) context->body_unread = false;
    return true;  // no body at all
  }
  if (length && *length > kServeMaxBodyBytes) {
    RejectTooLarge(res);
    return false;
  }
  if (length) out->reserve(static_cast<size_t>(*length));
  bool too_large = false;
  bool complete = reader([&](const char* data, size_t n) {
    if (out->size() + n > kServeMaxBodyBytes) {
      too_large = true;
      return false;
    }
    out->append(data, n);
    return true;
  });
  if (too_large) {
    RejectTooLarge(res);
    return false;
  }
  if (!complete) {
    SetError(res, 400,
             "the request body could not be read (connection closed or timed out, malformed "
             "chunked encoding, or an unsupported Content-Encoding)",
             "invalid_request_error", "bad_request");
    return false;
  }
  if (context) context->body_unread = false;
  return true;
}

// Parses a client's JSON object body; on failure `res` holds the 400.
bool ParseRequestBody(const std::string& text, httplib::Response& res,
                             nlohmann::ordered_json* body) {
  *body = ParseUntrustedOrderedJson(text);
  if (body->is_discarded()) {
    SetError(res, 400,
             JsonNestingDepth(text) > kMaxJsonDepth
                 ? "request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) +
                       " levels"
                 : std::string("request body is not valid JSON"),
             "invalid_request_error", "invalid_json");
    return false;
  }
  if (!body->is_object()) {
    SetError(res, 400, "request body must be a JSON object", "invalid_request_error",
             "invalid_json");
    return false;
  }
  return true;
}

void SetResponsesTranslationError(httplib::Response& res, const Status& error) {
  nlohmann::json j;
  j["error"]["message"] = error.message();
  j["error"]["type"] = "invalid_request_error";
  j["error"]["param"] = ResponsesErrorParam(error);
  j["error"]["code"] = ContainsCaseInsensitive(error.message(), "is not supported") ? "unsupported_parameter"
                                                                                  : "invalid_request";
  res.status = 400;
  res.set_content(j.dump(), "application/json");
}

}  // namespace tfgrpo::serve_internal
