// Reading and refusing requests on a GuardedHttpServer, shared by `tfgrpo serve` and the agent
// gateway (so both hold a body to the same limit and answer errors in the same OpenAI shape):
// {"error": {"message", "type", "code"}}. Private to the serve and gateway modules.
#pragma once

#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tfgrpo/status.h"

namespace tfgrpo::serve_internal {

// {"error":{"message":..., "type":..., "code":...}}
std::string ErrorBody(std::string_view message, std::string_view type, std::string_view code);
// `res` becomes that error with `status`.
void SetError(httplib::Response& res, int status, std::string_view message, std::string_view type,
              std::string_view code);
// 413 request_too_large (over kServeMaxBodyBytes).
void RejectTooLarge(httplib::Response& res);

// Reads the request body into `out`, stopping as soon as it passes kServeMaxBodyBytes (a chunked
// body has no length to check first). On failure `res` holds the error (413, or 400 for a body
// cut short); the unread rest of the body is never read, and the connection closes after the
// reply. No body at all is an empty `out` and true.
bool ReadBody(const httplib::Request& req, const httplib::ContentReader& reader, httplib::Response& res,
              std::string* out);

// Parses a client's JSON object body with the untrusted-input bounds (json.h); on failure `res`
// holds the 400 invalid_json (naming nesting that is too deep).
bool ParseRequestBody(const std::string& text, httplib::Response& res, nlohmann::ordered_json* body);

// 400 for a Responses request ResponsesToChat refused: OpenAI's error with the field as "param",
// code "unsupported_parameter" for what the translation does not support, else "invalid_request".
void SetResponsesTranslationError(httplib::Response& res, const Status& error);

}  // namespace tfgrpo::serve_internal
