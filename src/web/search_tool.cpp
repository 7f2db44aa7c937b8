// The `search` tool and its three backends: the local FTS5 index, SearXNG's JSON API and the
// Serper API, the latter two over the shared HTTP transport.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>

#include "tfgrpo/http.h"
#include "tfgrpo/json.h"
#include "tfgrpo/util.h"
#include "tfgrpo/web.h"

namespace tfgrpo {

namespace {

std::string PercentEncode(std::string_view s) {
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

std::string StringOr(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? SanitizeUtf8(it->get<std::string>()) : std::string();
}

std::string CollapseLine(std::string_view s) {
  std::string out;
  bool space = false;
  for (unsigned char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(c);
  }
  return out;
}

ToolSpec SearchSpec(const SearchOptions& o) {
  ToolSpec spec;
  spec.name = "search";
  spec.description =
      "Search the web for pages about a query. Returns up to " + std::to_string(o.top_k) +
      " numbered results, each with its title, URL and a snippet; open one with the browse tool.";
  spec.parameters = {
      {"type", "object"},
      {"properties", {{"query", {{"type", "string"}, {"description", "What to search for: key words or a question"}}}}},
      {"required", nlohmann::json::array({"query"})}};
  return spec;
}

// Turns a remote backend's reply into hits: array `list` of objects with the three fields.
Result<std::vector<SearchHit>> ParseHits(const HttpResponse& response, const char* list, const char* title,
                                         const char* url, const char* snippet, int top_k, const char* backend) {
  nlohmann::json j = ParseUntrustedJson(response.body);
  if (j.is_discarded() || !j.is_object()) {
    return Status::ProviderError(std::string(backend) + " reply is not a JSON object");
  }
  auto it = j.find(list);
  if (it == j.end()) return std::vector<SearchHit>{};  // no results at all
  if (!it->is_array()) return Status::ProviderError(std::string(backend) + " reply: \"" + list + "\" is not an array");
  std::vector<SearchHit> hits;
  for (const nlohmann::json& r : *it) {
    if (static_cast<int>(hits.size()) >= top_k) break;
    if (!r.is_object()) continue;
    SearchHit h;
    h.title = CollapseLine(StringOr(r, title));
    h.url = StringOr(r, url);
    h.snippet = CollapseLine(StringOr(r, snippet));
    if (h.url.empty()) continue;
    hits.push_back(std::move(h));
  }
  return hits;
}

RetryPolicy BackendRetry() {
  RetryPolicy p;
  p.max_retries = 2;
  p.backoff_initial_s = 0.5;
  p.backoff_max_s = 4;
  p.retry_after_max_s = 10;
  return p;
}

}  // namespace

std::string FormatSearchResults(const std::vector<SearchHit>& hits, std::string_view query) {
  if (hits.empty()) return "No results for: " + CollapseLine(query);
  std::string out;
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i > 0) out += '\n';
    out += std::to_string(i + 1) + ". " + (hits[i].title.empty() ? "(untitled)" : hits[i].title) + "\n";
    out += "   " + hits[i].url + "\n";
    if (!hits[i].snippet.empty()) out += "   " + hits[i].snippet + "\n";
  }
  return out;
}

SearchTool::SearchTool(SearchOptions options, std::shared_ptr<SearchIndex> index)
    : options_(std::move(options)), index_(std::move(index)), spec_(SearchSpec(options_)) {}

Result<std::shared_ptr<SearchTool>> SearchTool::Create(const SearchOptions& options) {
  if (options.top_k < 1) return Status::InvalidArgument("tools.search.top_k must be at least 1");
  if (options.backend == "local") {
    if (options.index.empty()) {
      return Status::InvalidArgument("tools.search.index is required with the local search backend "
                                     "(build one with `tfgrpo index build CORPUS -o INDEX.db`)");
    }
    auto index = SearchIndex::Open(options.index);
    if (!index.ok()) return index.status().WithContext("tools.search.index");
    return std::make_shared<SearchTool>(options, *index);
  }
  if (options.backend == "searxng") {
    if (options.url.empty()) return Status::InvalidArgument("tools.search.url is required with the searxng backend");
    if (auto u = ParseHttpUrl(options.url); !u.ok()) {
      return Status::InvalidArgument("tools.search.url: " + u.status().message());
    }
    return std::make_shared<SearchTool>(options, nullptr);
  }
  if (options.backend == "serper") {
    const char* key = options.api_key_env.empty() ? nullptr : std::getenv(options.api_key_env.c_str());
    if (!key || !*key) {
      return Status::InvalidArgument("the serper search backend needs its API key in $" +
                                     (options.api_key_env.empty() ? std::string("SERPER_API_KEY") : options.api_key_env) +
                                     " (tools.search.api_key_env), which is not set");
    }
    if (auto u = ParseHttpUrl(options.serper_url); !u.ok()) {
      return Status::InvalidArgument("tools.search.url: " + u.status().message());
    }
    auto tool = std::make_shared<SearchTool>(options, nullptr);
    tool->api_key_ = key;
    return tool;
  }
  return Status::InvalidArgument("tools.search.backend \"" + options.backend +
                                 "\" is not one of: local, searxng, serper");
}

Result<std::vector<SearchHit>> SearchTool::Search(std::string_view query) { return Search(query, options_.timeout_s); }

Result<std::vector<SearchHit>> SearchTool::Search(std::string_view query, double timeout_s) {
  if (options_.backend == "local" || index_) {
    if (!index_) return Status::Internal("search: no index");
    return index_->Search(query, options_.top_k, timeout_s);
  }
  HttpRequest req;
  req.timeout_s = timeout_s;
  req.max_response_bytes = static_cast<size_t>(options_.max_response_bytes);
  req.user_agent = "tfgrpo-search";
  req.headers.push_back({"Accept", "application/json"});
  std::string base = options_.backend == "searxng" ? options_.url : options_.serper_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  // Both APIs answer at <base>/search; a URL given with that path already is taken as meant.
  if (base.ends_with("/search")) base.resize(base.size() - std::string_view("/search").size());
  if (options_.backend == "searxng") {
    req.url = base + "/search?q=" + PercentEncode(query) + "&format=json";
  } else {
    req.method = "POST";
    req.url = base + "/search";
    req.headers.push_back({"X-API-KEY", api_key_});
    req.headers.push_back({"Content-Type", "application/json"});
    req.body = nlohmann::json{{"q", std::string(query)}, {"num", options_.top_k}}.dump();
    req.secret = api_key_;
  }
  auto response = SendWithRetry(DefaultHttpTransport(), req, BackendRetry());
  if (!response.ok()) return response.status();
  if (response->status < 200 || response->status >= 300) return HttpStatusError(*response, api_key_);
  if (options_.backend == "searxng") {
    return ParseHits(*response, "results", "title", "url", "content", options_.top_k, "SearXNG");
  }
  return ParseHits(*response, "organic", "title", "link", "snippet", options_.top_k, "Serper");
}

Result<ToolOutput> SearchTool::Run(const nlohmann::json& arguments) { return Run(arguments, ToolCallContext{}); }

Result<ToolOutput> SearchTool::Run(const nlohmann::json& arguments, const ToolCallContext& context) {
  auto it = arguments.find("query");
  if (it == arguments.end() || !it->is_string()) {
    return ToolOutput{"search: the argument \"query\" (a string) is missing", true};
  }
  const std::string query = SanitizeUtf8(it->get<std::string>());
  if (Fts5QueryFor(query).empty()) {
    return ToolOutput{"search: the query is empty; give some words to search for", true};
  }
  // tools.timeout_s, or what is left of the rollout's task.timeout_s when that ends first (a
  // deadline already past still runs the query, to be interrupted at once: one code path).
  double timeout_s = options_.timeout_s;
  const char* limit = "tools.timeout_s";
  if (context.deadline != std::chrono::steady_clock::time_point::max()) {
    const double left = std::chrono::duration<double>(context.deadline - std::chrono::steady_clock::now()).count();
    if (left < timeout_s) {
      timeout_s = std::max(left, 1e-6);
      limit = "the rollout's task.timeout_s";
    }
  }
  auto hits = Search(query, timeout_s);
  if (!hits.ok() && hits.status().code() == Status::Code::kTimeout) {
    const std::string& why = hits.status().message();
    return ToolOutput{RedactSecret((why.starts_with("search") ? "" : "search failed: ") + why + " (" + limit + ")", api_key_),
                      true};
  }
  if (!hits.ok()) {
    return ToolOutput{RedactSecret("search failed: " + hits.status().message(), api_key_), true};
  }
  return ToolOutput{FormatSearchResults(*hits, query), false};
}

}  // namespace tfgrpo
