// Fuzzes what `tfgrpo report` reads from outside and shows: an eval report file (--eval: parsed,
// compared with itself) and any text of the run (experiences, task ids, errors) through the
// page's escaping and redaction. The page must never carry a raw '<' from the text, the data
// block must parse back to the same text, and the secret must not survive.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tfgrpo/compare.h"
#include "tfgrpo/json.h"
#include "tfgrpo/report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  const nlohmann::json j = tfgrpo::ParseUntrustedJson(text);
  if (!j.is_discarded()) {
    auto report = tfgrpo::EvalReportFromJson(j);
    if (report.ok() && report->per_task.size() <= 64) {
      tfgrpo::CompareOptions options;
      options.resamples = 20;
      (void)tfgrpo::CompareReports(*report, *report, options);
    }
  }

  if (tfgrpo::EscapeHtml(text).find('<') != std::string::npos) __builtin_trap();
  const std::string dumped = nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string block = tfgrpo::EscapeJsonForScript(dumped);
  if (block.find('<') != std::string::npos) __builtin_trap();
  if (nlohmann::json::parse(block, nullptr, false) != nlohmann::json::parse(dumped, nullptr, false)) __builtin_trap();

  constexpr std::string_view kSecret = "SECRETsecret0123";
  const std::string redacted = tfgrpo::RedactForReport(text.substr(0, 4096), kSecret);
  if (redacted.find(kSecret) != std::string::npos) __builtin_trap();
  return 0;
}
