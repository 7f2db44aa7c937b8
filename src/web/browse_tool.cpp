// The `browse` tool: a page from the local index, or a guarded fetch (scheme and address checks
// on every hop, caps on time and size) turned into readable text, optionally condensed by an LLM
// call towards the caller's goal.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>

#include "tfgrpo/http.h"
#include "tfgrpo/util.h"
#include "tfgrpo/web.h"

namespace tfgrpo {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

ToolSpec BrowseSpec(const BrowseOptions& o) {
  ToolSpec spec;
  spec.name = "browse";
  spec.description =
      "Open a web page (a URL from the search results or a link) and read it as text: "
      "navigation and scripts removed, links shown as \"text [url]\". Say what you are looking "
      "for in goal.";
  spec.parameters = {
      {"type", "object"},
      {"properties",
       {{"url", {{"type", "string"}, {"description", "The page's URL (http or https, or a URL from the search results)"}}},
        {"goal", {{"type", "string"}, {"description", "What you want to find out from this page"}}}}},
      {"required", nlohmann::json::array({"url", "goal"})}};
  return spec;
}

// The media type of a Content-Type value, lower case, parameters dropped.
std::string MediaType(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
  return Lower(t);
}

std::string Charset(std::string_view content_type) {
  const std::string lower = Lower(content_type);
  const size_t at = lower.find("charset=");
  if (at == std::string::npos) return "";
  std::string v = lower.substr(at + 8);
  v = v.substr(0, v.find(';'));
  std::string out;
  for (char c : v) {
    if (c != '"' && c != '\'' && c != ' ') out += c;
  }
  return out;
}

// ISO-8859-1 (and, close enough for reading, windows-1252) to UTF-8.
std::string Latin1ToUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (unsigned char c : s) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

bool LooksLikeHtml(std::string_view body) {
  const std::string head = Lower(body.substr(0, 512));
  return head.find("<!doctype html") != std::string::npos || head.find("<html") != std::string::npos ||
         head.find("<head") != std::string::npos || head.find("<body") != std::string::npos;
}

std::string PageHeader(std::string_view title, std::string_view url) {
  std::string out;
  if (!title.empty()) out += "Title: " + std::string(title) + "\n";
  out += "URL: " + std::string(url) + "\n\n";
  return out;
}

// `text` cut to max_chars with a note giving its full length.
std::string CutWithNote(const std::string& text, int64_t max_chars) {
  bool cut = false;
  std::string out = CutUtf8(text, max_chars, &cut);
  if (cut) {
    out += "\n[... cut at " + std::to_string(out.size()) + " of " + std::to_string(text.size()) +
           " characters (tools.browse.max_chars)]";
  }
  return out;
}

constexpr const char* kSummarizeSystem =
    "You read one web page for someone who is researching a question. From the page text, "
    "extract everything that serves their goal: facts, figures, names, dates, definitions and "
    "the links worth following next (as \"text [url]\"), keeping the page's own wording for "
    "key facts. Use only what the page says. If nothing on the page serves the goal, say so in "
    "one sentence and name what the page is about.";

}  // namespace

BrowseTool::BrowseTool(BrowseOptions options, std::shared_ptr<SearchIndex> index, ChatClient* summarizer)
    : options_(std::move(options)), index_(std::move(index)), summarizer_(summarizer), spec_(BrowseSpec(options_)) {}

Result<std::shared_ptr<BrowseTool>> BrowseTool::Create(const BrowseOptions& options,
                                                       std::shared_ptr<SearchIndex> index,
                                                       ChatClient* summarizer) {
  if (options.max_chars < 1) return Status::InvalidArgument("tools.browse.max_chars must be at least 1");
  if (options.summarize && !summarizer) {
    return Status::InvalidArgument("tools.browse.summarize needs an LLM client for the browse role");
  }
  return std::shared_ptr<BrowseTool>(new BrowseTool(options, std::move(index), summarizer));
}

Result<ToolOutput> BrowseTool::Summarize(const std::string& url, const std::string& goal, const std::string& page,
                                         const ToolCallContext& context) {
  ChatRequest req;
  req.role = Role::kBrowse;
  req.temperature = 0;
  // Tied to the tool call, so that every call in a run has its own id (and its own run-store
  // row) and a resumed rollout replays exactly its own summaries.
  req.call_id = context.call_id.empty() ? CallId("browse", "", Fingerprint(url + "\n" + goal).substr(0, 16))
                                        : context.call_id + "/browse";
  req.messages.push_back({"system", kSummarizeSystem});
  req.messages.push_back({"user", "Goal: " + (goal.empty() ? std::string("(none given: summarize the page)") : goal) +
                                      "\n\nPage " + url + ":\n\n" +
                                      CutUtf8(page, options_.summarize_input_chars)});
  auto reply = summarizer_->Complete(req);
  if (!reply.ok()) {
    const Status::Code code = reply.status().code();
    if (code == Status::Code::kUnauthorized || code == Status::Code::kCancelled) return reply.status();
    return ToolOutput{CutWithNote(page, options_.max_chars) + "\n[the summary for the goal failed (" +
                          reply.status().message() + "); the page text is shown instead]",
                      false};
  }
  return ToolOutput{CutWithNote("Extract from " + url + " for the goal \"" + goal + "\":\n\n" +
                                    SanitizeUtf8(reply->content),
                                options_.max_chars),
                    false};
}

Result<ToolOutput> BrowseTool::Run(const nlohmann::json& arguments) { return Run(arguments, ToolCallContext{}); }

Result<ToolOutput> BrowseTool::Run(const nlohmann::json& arguments, const ToolCallContext& context) {
  auto url_it = arguments.find("url");
  if (url_it == arguments.end() || !url_it->is_string() || url_it->get_ref<const std::string&>().empty()) {
    return ToolOutput{"browse: the argument \"url\" (a string) is missing", true};
  }
  const std::string url = SanitizeUtf8(url_it->get<std::string>());
  std::string goal;
  if (auto g = arguments.find("goal"); g != arguments.end() && g->is_string()) goal = SanitizeUtf8(g->get<std::string>());

  auto finish = [&](const std::string& page_url, const std::string& page,
                    const std::string& note = "") -> Result<ToolOutput> {
    if (options_.summarize) {
      auto out = Summarize(page_url, goal, page, context);
      if (out.ok()) out->text += note;
      return out;
    }
    return ToolOutput{CutWithNote(page, options_.max_chars) + note, false};
  };

  if (index_) {
    auto found = index_->FindPage(url);
    if (!found.ok()) return found.status();
    if (!found->has_value()) {
      if (size_t hash = url.find('#'); hash != std::string::npos) {
        found = index_->FindPage(url.substr(0, hash));
        if (!found.ok()) return found.status();
      }
    }
    if (found->has_value()) {
      const IndexedPage& p = **found;
      return finish(p.url, PageHeader(p.title, p.url) + p.text);
    }
  }

  auto parsed = ParseHttpUrl(url);
  if (!parsed.ok()) {
    return ToolOutput{"browse: cannot open " + url + ": " + parsed.status().message() +
                          (index_ ? " (and it is not a page of the local index)" : ""),
                      true};
  }
  const bool allow_all = options_.allow_private;
  const std::vector<std::string> allowlist = options_.private_allowlist;
  auto refused = [allow_all, allowlist](std::string_view ip) {
    if (allow_all || !IsPrivateAddress(ip)) return false;
    for (const std::string& a : allowlist) {
      if (a == ip) return false;
    }
    return true;
  };
  HttpRequest req;
  req.url = url;
  req.timeout_s = options_.timeout_s;
  // The rollout's task.timeout_s, when it runs out first, ends the fetch too.
  if (context.deadline != std::chrono::steady_clock::time_point::max()) {
    const double left = std::chrono::duration<double>(context.deadline - std::chrono::steady_clock::now()).count();
    req.timeout_s = std::min(req.timeout_s, std::max(left, 0.001));
  }
  req.connect_timeout_s = std::min(10.0, req.timeout_s);
  req.max_redirects = options_.max_redirects;
  req.max_response_bytes = static_cast<size_t>(options_.max_bytes);
  req.truncate_at_max = true;
  req.decompress = true;
  req.user_agent = "Mozilla/5.0 (compatible; tfgrpo-browse)";
  req.headers.push_back({"Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1"});
  req.check_url = [refused](std::string_view target) -> Status {
    auto u = ParseHttpUrl(target);
    if (!u.ok()) return Status::InvalidArgument(u.status().message());
    if (refused(u->host)) {
      return Status::InvalidArgument("address " + u->host +
                                     " is loopback/private/link-local (tools.browse.allow_private is false)");
    }
    return Status::Ok();
  };
  req.check_address = [refused](std::string_view ip) -> Status {
    if (refused(ip)) {
      return Status::InvalidArgument("the host resolves to " + std::string(ip) +
                                     ", a loopback/private/link-local address (tools.browse.allow_private is false)");
    }
    return Status::Ok();
  };
  auto response = DefaultHttpTransport().Send(req);
  if (!response.ok()) {
    return ToolOutput{"browse: cannot open " + url + ": " + response.status().message(), true};
  }
  const HttpResponse& r = *response;
  const std::string final_url = r.final_url.empty() ? url : r.final_url;
  if (r.status < 200 || r.status >= 300) {
    return ToolOutput{"browse: " + final_url + " answered HTTP " + std::to_string(r.status), true};
  }
  const std::string content_type = r.Header("Content-Type").value_or("");
  std::string media = MediaType(content_type);
  if (media.empty()) media = LooksLikeHtml(r.body) ? "text/html" : "text/plain";
  std::string body = r.body;
  const std::string charset = Charset(content_type);
  if (charset == "iso-8859-1" || charset == "latin1" || charset == "windows-1252" || charset == "us-ascii") {
    body = Latin1ToUtf8(body);
  }
  std::string page;
  if (media == "text/html" || media == "application/xhtml+xml") {
    PageText text = HtmlToText(body, final_url);
    page = PageHeader(text.title, final_url) + text.text;
    if (text.nesting_cut) {
      page += "\n[the page nests more than " + std::to_string(kMaxHtmlOpenElements) +
              " elements deep; only the part before that was read]";
    }
  } else if (media == "text/plain") {
    page = PageHeader("", final_url) + SanitizeUtf8(body);
  } else {
    return ToolOutput{"browse: " + final_url + " is " + media + ", not an HTML or plain-text page", true};
  }
  std::string note;
  if (r.truncated) {
    note = "\n[the page is larger than " + std::to_string(options_.max_bytes) + " bytes; only the first " +
            std::to_string(options_.max_bytes) + " were read]";
  }
  return finish(final_url, page, note);
}

}  // namespace tfgrpo
