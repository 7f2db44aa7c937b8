// `tfgrpo data pull`: a Hugging Face dataset split through the datasets-server rows API.
#include "tfgrpo/pull.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "tfgrpo/json.h"
#include "tfgrpo/http.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

std::string Truncate(std::string s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  s.resize(max_chars);
  return s + "...";
}

// RFC 3986 query-component encoding ("openai/gsm8k" -> "openai%2Fgsm8k").
std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string MapSpec(const std::vector<FieldMapping>& map) {
  std::string spec;
  for (const auto& m : map) spec += (spec.empty() ? "" : ",") + m.ours + "=" + m.theirs;
  return spec;
}

// The server's {"error": "..."} text, else the body itself, shortened.
std::string ServerMessage(const std::string& body) {
  json j = ParseUntrustedJson(body);
  if (!j.is_discarded() && j.is_object()) {
    auto e = j.find("error");
    if (e != j.end() && e->is_string()) return Truncate(e->get<std::string>(), 300);
  }
  std::string text = Trim(body);
  return text.empty() ? "(empty body)" : Truncate(text, 300);
}

// Offset of the first byte of `text` that is not part of well-formed UTF-8 (overlong forms,
// surrogates and code points past U+10FFFF included), or npos.
size_t FirstInvalidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > text.size()) return i;
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

// Where in a /rows reply a byte lies: the index of the element of the top-level "rows" array it
// falls in. Only strings and brackets are tracked, so this works on the invalid text it is used
// for. With `until` = npos it stops at the first byte nesting deeper than kMaxJsonDepth instead.
struct BodySpot {
  size_t byte = std::string_view::npos;
  std::optional<int64_t> row_element;
};

BodySpot LocateInRows(std::string_view body, size_t until) {
  int depth = 0;
  bool in_string = false, in_rows = false;
  size_t string_start = 0;
  std::string_view last_key;
  int64_t element = 0;
  const size_t end = std::min(until, body.size());
  for (size_t i = 0; i < end; ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
        if (depth == 1) last_key = body.substr(string_start, i - string_start);
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      string_start = i + 1;
    } else if (c == '[' || c == '{') {
      if (depth == 1 && c == '[' && last_key == "rows") in_rows = true;
      if (++depth > kMaxJsonDepth && until == std::string_view::npos) {
        return {i, in_rows ? std::optional<int64_t>(element) : std::nullopt};
      }
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
      if (depth == 1) in_rows = false;
    } else if (c == ',' && in_rows && depth == 2) {
      ++element;
    }
  }
  return {end, in_rows ? std::optional<int64_t>(element) : std::nullopt};
}

// Why a 200 body did not parse as a JSON object, and whether asking again could help: a body cut
// short in transit can arrive whole next time; bad bytes, excessive nesting or broken syntax in
// what the server generated come back the same on every attempt.
struct BodyProblem {
  bool transient = false;
  std::string what;
};

class SaxErrorCatcher : public nlohmann::json_sax<json> {
 public:
  size_t position = 0;
  std::string message;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& ex) override {
    position = pos;
    message = ex.what();
    return false;
  }
};

BodyProblem DiagnoseBody(const std::string& body, int64_t first_row) {
  auto where = [&](size_t byte) {
    std::string text = " at body offset " + std::to_string(byte);
    if (first_row >= 0) {
      if (auto element = LocateInRows(body, byte).row_element) {
        text += " (in row_idx " + std::to_string(first_row + *element) + ")";
      }
    }
    return text;
  };
  if (Trim(body).empty()) return {true, "the reply body is empty"};
  if (size_t bad = FirstInvalidUtf8(body); bad != std::string_view::npos) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(body[bad]));
    return {false, std::string("the reply is not valid UTF-8: byte ") + hex + where(bad)};
  }
  if (JsonNestingDepth(body) > kMaxJsonDepth) {
    const BodySpot spot = LocateInRows(body, std::string_view::npos);
    return {false, "the reply nests arrays or objects deeper than " + std::to_string(kMaxJsonDepth) +
                       " levels" + where(spot.byte)};
  }
  SaxErrorCatcher sax;
  const bool parsed = json::sax_parse(body, &sax);
  if (!parsed) {
    // A body cut short fails where the text ends (inside a string or after a complete value).
    const bool cut_short = sax.position >= body.size() || sax.message.find("end of input") != std::string::npos;
    return {cut_short, std::string(cut_short ? "the reply ends early (truncated?)" : "the reply is invalid JSON") +
                           where(sax.position > 0 ? sax.position - 1 : 0) + ": " + Truncate(sax.message, 200)};
  }
  return {false, "the reply is JSON but not an object: " + Truncate(Trim(body), 200)};
}

// GETs `url` and parses its JSON body through SendWithRetry (tfgrpo/http.h): network errors,
// the statuses IsRetryableHttpStatus names and bodies cut short are retried with backoff (or the
// server's Retry-After). A body that is invalid in a way a retry cannot fix (bad UTF-8, nesting
// past kMaxJsonDepth, broken syntax) is a ProviderError at once. `what` describes the request for
// errors; `not_found` is the 404 message; `first_row` (the page's offset, -1 for other requests)
// lets errors name the row at fault.
Result<json> GetJson(HttpTransport& transport, const std::string& url, const std::string& what,
                     const std::string& not_found, int64_t first_row, const PullOptions& options,
                     PullSummary& summary) {
  HttpRequest request;
  request.url = url;
  request.headers = {{"Accept", "application/json"}};
  // Not sent on to a redirect target on another host (credentials stay on the original host).
  if (!options.token.empty()) request.headers.push_back({"Authorization", "Bearer " + options.token});
  request.user_agent = "tfgrpo-data-pull/0.1";
  request.decompress = true;
  request.max_redirects = 5;
  request.timeout_s = options.timeout_s;
  request.connect_timeout_s = std::min(options.timeout_s, 30.0);
  request.secret = options.token;

  std::optional<json> parsed;
  RetryPolicy policy;
  policy.max_retries = options.max_retries;
  policy.backoff_initial_s = options.initial_backoff_s;
  policy.backoff_max_s = options.max_backoff_s;
  policy.retry_after_max_s = options.max_backoff_s;
  policy.describe_error = [](const HttpResponse& r) { return ServerMessage(r.body); };
  policy.check_response = [&](const HttpResponse& r) {
    if (r.status != 200) return Status::Ok();  // another 2xx: reported below
    json j = ParseUntrustedJson(r.body);
    if (!j.is_discarded() && j.is_object()) {
      parsed = std::move(j);
      return Status::Ok();
    }
    BodyProblem problem = DiagnoseBody(r.body, first_row);
    if (!problem.transient) return Status::ProviderError(what + ": " + problem.what);
    return Status::Unavailable("HTTP 200: " + problem.what);
  };
  policy.on_retry = [&](const RetryEvent& e) {
    ++summary.retries;
    spdlog::warn("{}: {}; retry {}/{} in {:.1f} s", what, e.error, e.attempt, options.max_retries, e.wait_s);
  };
  int attempts = 0;
  Result<HttpResponse> reply = SendWithRetry(transport, request, policy, &attempts);
  summary.requests += attempts;
  if (!reply.ok()) {
    if (reply.status().code() == Status::Code::kProviderError &&
        StartsWith(reply.status().message(), what + ": ")) {
      return reply.status();  // a body problem, already worded
    }
    return reply.status().WithContext(what);
  }
  const long status = reply->status;
  if (status == 200 && parsed) return std::move(*parsed);
  const std::string server_says = RedactSecret(ServerMessage(reply->body), options.token);
  if (status == 401 || status == 403) {
    return Status::Unauthorized(what + ": HTTP " + std::to_string(status) +
                                " (the dataset may be private or gated: set HF_TOKEN to a token with access): " +
                                server_says);
  }
  if (status == 404) return Status::NotFound(not_found + ": " + server_says);
  return Status::ProviderError(what + ": HTTP " + std::to_string(status) + ": " + server_says);
}

// A field of `row` by name, or by dotted path into objects and arrays. A key containing dots
// that exists as is wins over the path reading.
const json* Lookup(const json& row, const std::string& path) {
  if (auto it = row.find(path); it != row.end()) return &*it;
  const json* node = &row;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (node->is_object()) {
      auto it = node->find(part);
      if (it == node->end()) return nullptr;
      node = &*it;
    } else if (node->is_array() && !part.empty() && part.size() <= 9 &&
               std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); })) {
      size_t index = std::stoul(part);
      if (index >= node->size()) return nullptr;
      node = &(*node)[index];
    } else {
      return nullptr;
    }
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
  return nullptr;
}

std::string KeyList(const json& row) {
  std::string keys;
  if (row.is_object()) {
    for (auto it = row.begin(); it != row.end(); ++it) keys += (keys.empty() ? "" : ", ") + it.key();
  }
  return keys.empty() ? "none" : keys;
}

// The resumption record next to FILE.partial: what the partial file holds rows of.
struct PartialMeta {
  std::string dataset, config, split, map;
  int64_t total = -1;  // num_rows_total once a page has been seen
  json ToJson() const {
    return {{"dataset", dataset}, {"config", config}, {"split", split}, {"map", map}, {"num_rows_total", total}};
  }
};

std::optional<PartialMeta> ReadMeta(const std::filesystem::path& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  json j = ParseUntrustedJson(*text);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  PartialMeta m;
  m.dataset = j.value("dataset", "");
  m.config = j.value("config", "");
  m.split = j.value("split", "");
  m.map = j.value("map", "");
  m.total = j.value("num_rows_total", int64_t{-1});
  return m;
}

// Complete (newline-terminated) lines in `path`; a torn last line from an interrupted write is
// cut off so appending continues on a line boundary.
Result<int64_t> CountCompleteLines(const std::filesystem::path& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  int64_t lines = std::count(text->begin(), text->end(), '\n');
  size_t keep = text->rfind('\n');
  keep = keep == std::string::npos ? 0 : keep + 1;
  if (keep < text->size()) {
    std::error_code ec;
    std::filesystem::resize_file(path, keep, ec);
    if (ec) return Status::IoError(path.string() + ": cannot cut the incomplete last line: " + ec.message());
    spdlog::info("{}: dropped an incomplete last line ({} bytes)", path.string(), text->size() - keep);
  }
  return lines;
}

// Appends JSONL lines and makes each page durable before the next request, so an interruption
// loses at most the page in flight.
class PartialWriter {
 public:
  ~PartialWriter() {
    if (file_) std::fclose(file_);
  }
  Status Open(const std::filesystem::path& path) {
    path_ = path;
    file_ = std::fopen(path.c_str(), "ab");
    if (!file_) return Status::IoError(path.string() + ": cannot open for appending");
    return Status::Ok();
  }
  Status Append(const std::string& lines) {
    if (std::fwrite(lines.data(), 1, lines.size(), file_) != lines.size() || std::fflush(file_) != 0 ||
        ::fsync(::fileno(file_)) != 0) {
      return Status::IoError(path_.string() + ": write failed");
    }
    return Status::Ok();
  }
  bool is_open() const { return file_ != nullptr; }
  Status Close() {
    int rc = std::fclose(file_);
    file_ = nullptr;
    return rc == 0 ? Status::Ok() : Status::IoError(path_.string() + ": close failed");
  }

 private:
  std::filesystem::path path_;
  FILE* file_ = nullptr;
};

Result<std::string> ResolveConfig(HttpTransport& transport, const std::string& endpoint, const PullOptions& options,
                                  PullSummary& summary) {
  const std::string url = endpoint + "/splits?dataset=" + UrlEncode(options.dataset);
  auto splits = GetJson(transport, url, "listing the splits of dataset '" + options.dataset + "'",
                        "dataset '" + options.dataset + "' not found at " + endpoint +
                            " (if it is private or gated, set HF_TOKEN)",
                        /*first_row=*/-1, options, summary);
  if (!splits.ok()) return splits.status();
  auto list = splits->find("splits");
  if (list == splits->end() || !list->is_array() || list->empty()) return std::string("default");
  std::string available;
  for (const auto& entry : *list) {
    if (!entry.is_object()) continue;
    std::string config = entry.value("config", ""), split = entry.value("split", "");
    if (split == options.split && !config.empty()) return config;
    available += (available.empty() ? "" : ", ") + config + "/" + split;
  }
  return Status::NotFound("dataset '" + options.dataset + "' has no split '" + options.split +
                          "' (available config/split: " + available + ")");
}

bool UsesCell(const PullOptions& options, const std::string& cell) {
  if (options.map.empty()) return true;
  for (const auto& m : options.map) {
    if (m.theirs == cell || StartsWith(m.theirs, cell + ".")) return true;
  }
  return false;
}

}  // namespace

Result<std::vector<FieldMapping>> ParseFieldMap(std::string_view spec) {
  std::vector<FieldMapping> map;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string pair = Trim(spec.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    size_t eq = pair.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("--map: '" + pair + "' is not of the form ours=theirs");
    }
    FieldMapping m{Trim(pair.substr(0, eq)), Trim(pair.substr(eq + 1))};
    if (m.ours.empty() || m.theirs.empty()) {
      return Status::InvalidArgument("--map: '" + pair + "' needs a field name on both sides of '='");
    }
    for (const auto& prior : map) {
      if (prior.ours == m.ours) return Status::InvalidArgument("--map: field '" + m.ours + "' is mapped twice");
    }
    map.push_back(std::move(m));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return map;
}

std::string ResolveHfEndpoint(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("TFGRPO_HF_ENDPOINT");
  if (env && *env) return env;
  return kDefaultHfEndpoint;
}

Result<json> MapRow(const json& row, int64_t row_idx, const PullOptions& options) {
  const std::string where = "row " + std::to_string(row_idx);
  if (!row.is_object()) return Status::InvalidArgument(where + ": not a JSON object");
  json record;
  if (options.map.empty()) {
    record = row;
  } else {
    record = json::object();
    for (const auto& m : options.map) {
      const json* value = Lookup(row, m.theirs);
      if (!value) {
        return Status::InvalidArgument(where + ": no field '" + m.theirs + "' (for '" + m.ours +
                                       "'); the row has: " + KeyList(row));
      }
      record[m.ours] = *value;
    }
  }
  if (!record.contains("id")) {
    auto source_id = row.find("id");
    if (source_id != row.end() && (source_id->is_string() || source_id->is_number_integer())) {
      record["id"] = *source_id;
    } else {
      record["id"] = options.dataset + ":" + options.split + ":" + std::to_string(row_idx);
    }
  }
  return record;
}

Result<PullSummary> PullDataset(const PullOptions& options) {
  if (options.dataset.empty()) return Status::InvalidArgument("no dataset given");
  if (options.split.empty()) return Status::InvalidArgument("no split given (--split)");
  if (options.out.empty()) return Status::InvalidArgument("no output file given (-o)");
  if (options.page_size < 1 || options.page_size > 100) {
    return Status::InvalidArgument("page size must be within 1..100, got " + std::to_string(options.page_size));
  }
  std::string endpoint = options.endpoint.empty() ? kDefaultHfEndpoint : options.endpoint;
  while (EndsWith(endpoint, "/")) endpoint.pop_back();
  Progress& progress = options.progress ? *options.progress : NullProgress();
  const std::filesystem::path partial = options.out.string() + ".partial";
  const std::filesystem::path meta_path = options.out.string() + ".partial.meta";
  const std::string map_spec = MapSpec(options.map);

  PullSummary summary;
  HttpTransport transport;  // one keep-alive connection for every page
  std::error_code ec;
  int64_t offset = 0;
  if (std::filesystem::exists(partial, ec)) {
    auto lines = CountCompleteLines(partial);
    if (!lines.ok()) return lines.status();
    offset = *lines;
  }
  // An empty partial file (a first page that failed to map, say) holds nothing worth keeping.
  const bool resuming = offset > 0;
  PartialMeta meta{options.dataset, options.config, options.split, map_spec, -1};
  if (resuming) {
    if (auto prior = ReadMeta(meta_path)) {
      const bool same = prior->dataset == options.dataset && prior->split == options.split &&
                        prior->map == map_spec && (options.config.empty() || prior->config == options.config);
      if (!same) {
        return Status::InvalidArgument(
            partial.string() + " holds rows of dataset '" + prior->dataset + "' config '" + prior->config +
            "' split '" + prior->split + "' map '" + prior->map + "', not of this pull; delete it to start over");
      }
      meta = *prior;
    } else {
      spdlog::warn("{}: no {} next to it; resuming on the assumption it holds rows of this pull", partial.string(),
                   meta_path.filename().string());
    }
  }
  if (meta.config.empty()) {
    auto config = ResolveConfig(transport, endpoint, options, summary);
    if (!config.ok()) return config.status();
    meta.config = *config;
  }
  summary.config = meta.config;

  if (resuming) {
    summary.resumed_from = offset;
    spdlog::info("pull: resuming {} from row {} ({} already in {})", options.dataset, offset, offset,
                 partial.string());
  }
  // FILE.partial and its meta appear only once a page has arrived, so a pull that fails on its
  // first request (a misspelt split, say) leaves nothing behind to trip over later.
  PartialWriter writer;
  Status s;

  const std::string label = "dataset '" + options.dataset + "' config '" + meta.config + "' split '" +
                            options.split + "'";
  const std::string not_found = "split '" + options.split + "' (config '" + meta.config + "') of dataset '" +
                                options.dataset + "' not found at " + endpoint;
  // The row count as first reported bounds the pull: a server that reports more on every page
  // would otherwise keep it going for ever.
  int64_t total = meta.total;
  const int64_t cap = options.max_rows > 0 ? options.max_rows : std::numeric_limits<int64_t>::max();
  if (offset > cap) {
    return Status::InvalidArgument(partial.string() + " already holds " + std::to_string(offset) +
                                   " rows, more than --max-rows " + std::to_string(cap) +
                                   "; delete it to start over or raise --max-rows");
  }
  bool begun = false;
  bool warned_total = false;
  while (offset < (total < 0 ? cap : std::min(total, cap))) {
    const int64_t want = std::min<int64_t>(options.page_size, (total < 0 ? cap : std::min(total, cap)) - offset);
    const std::string url = endpoint + "/rows?dataset=" + UrlEncode(options.dataset) + "&config=" +
                            UrlEncode(meta.config) + "&split=" + UrlEncode(options.split) +
                            "&offset=" + std::to_string(offset) + "&length=" + std::to_string(want);
    const std::string what = label + " rows from " + std::to_string(offset);
    auto page = GetJson(transport, url, what, not_found, offset, options, summary);
    if (!page.ok()) return page.status();
    auto rows = page->find("rows");
    auto reported_total = page->find("num_rows_total");
    if (rows == page->end() || !rows->is_array() || reported_total == page->end() ||
        !reported_total->is_number_integer()) {
      return Status::ProviderError(what + ": response lacks a 'rows' array or an integer 'num_rows_total'");
    }
    const int64_t reported = reported_total->get<int64_t>();
    if (total < 0) {
      total = reported;
    } else if (reported != total && !warned_total) {
      spdlog::warn("{}: the server now reports {} rows; keeping to the {} it reported first", what, reported, total);
      warned_total = true;
    }
    if (static_cast<int64_t>(rows->size()) > want) {
      return Status::ProviderError(what + ": asked for " + std::to_string(want) + " rows from offset " +
                                   std::to_string(offset) + ", the server sent " + std::to_string(rows->size()) +
                                   "; refusing a page longer than asked");
    }
    if (offset + static_cast<int64_t>(rows->size()) > total && offset <= total) {
      return Status::ProviderError(what + ": the page holds " + std::to_string(rows->size()) +
                                   " rows, which runs past num_rows_total " + std::to_string(total));
    }
    if (!writer.is_open()) {
      meta.total = total;
      s = WriteFileAtomic(meta_path, meta.ToJson().dump() + "\n");
      if (s.ok()) s = writer.Open(partial);
      if (!s.ok()) return s;
    }
    if (offset > total) {
      return Status::InvalidArgument(partial.string() + " holds " + std::to_string(offset) + " rows but " + label +
                                     " has only " + std::to_string(total) + "; delete it to start over");
    }
    const int64_t target = std::min(total, cap);
    if (!begun) {
      progress.Begin("pull", target);
      for (int64_t i = 0; i < offset; ++i) progress.Advance("pull");
      begun = true;
    }
    if (offset >= target) break;
    if (rows->empty()) {
      return Status::ProviderError(label + ": the server returned no rows at offset " + std::to_string(offset) +
                                   " of " + std::to_string(total));
    }

    std::string lines;
    for (size_t i = 0; i < rows->size(); ++i) {
      const json& item = (*rows)[i];
      const int64_t expected = offset + static_cast<int64_t>(i);
      if (!item.is_object() || !item.contains("row")) {
        return Status::ProviderError(label + ": row " + std::to_string(expected) + " has no 'row' object");
      }
      const int64_t row_idx = item.value("row_idx", expected);
      if (row_idx != expected) {
        // The partial file's line count is the resume offset, so rows must arrive in order.
        return Status::ProviderError(label + ": expected row_idx " + std::to_string(expected) + ", got " +
                                     std::to_string(row_idx));
      }
      if (auto cut = item.find("truncated_cells"); cut != item.end() && cut->is_array()) {
        for (const auto& cell : *cut) {
          if (cell.is_string() && UsesCell(options, cell.get<std::string>())) {
            return Status::ProviderError(label + ": row " + std::to_string(row_idx) + ": the server truncated cell '" +
                                         cell.get<std::string>() + "' (too large for the rows API)");
          }
        }
      }
      auto record = MapRow(item["row"], row_idx, options);
      if (!record.ok()) return record.status().WithContext(label);
      lines += record->dump() + "\n";
    }
    s = writer.Append(lines);
    if (!s.ok()) return s;
    offset += static_cast<int64_t>(rows->size());
    for (size_t i = 0; i < rows->size(); ++i) progress.Advance("pull");
  }
  if (begun) progress.End("pull");
  if (!writer.is_open()) s = writer.Open(partial);  // resumed at the very end: nothing fetched
  if (s.ok()) s = writer.Close();
  if (!s.ok()) return s;
  std::filesystem::rename(partial, options.out, ec);
  if (ec) return Status::IoError("cannot rename " + partial.string() + " to " + options.out.string() + ": " + ec.message());
  std::filesystem::remove(meta_path, ec);
  summary.rows = offset;
  summary.total = total;
  return summary;
}

}  // namespace tfgrpo
