// Escaping for the report page (HTML text, the JSON data block) and redaction of failure texts.
#include <regex>

#include "tfgrpo/http.h"
#include "tfgrpo/report.h"

namespace tfgrpo {

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string EscapeJsonForScript(std::string_view json) {
  // '<', '>' and '&' only occur inside JSON strings, where \u escapes mean the same characters.
  std::string out;
  out.reserve(json.size() + 64);
  for (char c : json) {
    switch (c) {
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default: out += c;
    }
  }
  return out;
}

std::string RedactForReport(std::string text, std::string_view secret) {
  text = RedactSecret(std::move(text), secret);
  // Header values that carry credentials, wherever an error message quoted them.
  static const std::regex kHeader(R"(((?:proxy-)?authorization|x-api-key|api-key)(\s*["']?\s*[:=]\s*["']?)[^\r\n"',;}]*)",
                                  std::regex::icase);
  static const std::regex kBearer(R"(\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+)", std::regex::icase);
  // OpenAI-style keys quoted anywhere else.
  static const std::regex kKeyShape(R"(\bsk-[A-Za-z0-9_-]{12,})");
  text = std::regex_replace(text, kHeader, "$1$2[redacted]");
  text = std::regex_replace(text, kBearer, "$1 [redacted]");
  text = std::regex_replace(text, kKeyShape, "[redacted]");
  return text;
}

}  // namespace tfgrpo
