// The web-research tools: the local page index (SQLite FTS5 with bm25 ranking) and the
// `tfgrpo index build` that fills it, HTML-to-text over gumbo, the `search` tool (local, SearXNG
// or Serper backend) and the `browse` tool (index lookup, else a guarded fetch of the page).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tfgrpo/llm.h"
#include "tfgrpo/status.h"
#include "tfgrpo/tool.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

// ---- options (the config keys tools.search.* and tools.browse.*) ----

struct SearchOptions {
  std::string backend = "local";  // tools.search.backend: local | searxng | serper
  int top_k = 10;                 // tools.search.top_k: results shown, at least 1
  std::filesystem::path index;    // tools.search.index: INDEX.db (local backend; browse too)
  std::string url;                // tools.search.url: SearXNG base URL ("http://host:8888")
  std::string api_key_env = "SERPER_API_KEY";  // tools.search.api_key_env: Serper key's env var
  // The Serper endpoint: tools.search.url when the backend is serper (a proxy, a test double).
  std::string serper_url = "https://google.serper.dev";
  // Not config keys: the HTTP limits of a backend request.
  double timeout_s = 30;
  int64_t max_response_bytes = 8 << 20;
};

struct BrowseOptions {
  int64_t max_chars = 20000;   // tools.browse.max_chars: longest page text returned (bytes)
  bool allow_private = false;  // tools.browse.allow_private: may fetch loopback/private addresses
  bool summarize = false;      // tools.browse.summarize: an LLM call (role "browse") keeps what serves the goal
  // Not config keys: limits of a fetch.
  double timeout_s = 30;                 // whole fetch, all redirects together
  int64_t max_bytes = 5 << 20;           // body bytes read; the rest is not downloaded
  int max_redirects = 5;
  int64_t summarize_input_chars = 100000;  // page text the summarizing call sees
  // Numeric addresses fetched although private ("10.1.2.3", "127.0.0.1": an internal host you
  // trust, or a test server) while every other private address stays refused.
  std::vector<std::string> private_allowlist;
};

// ---- HTML to text ----

struct PageText {
  std::string title;  // <title>, whitespace collapsed ("" when absent)
  std::string text;   // readable text, one block (heading, paragraph, list item, row) per line
  std::string canonical_url;  // <link rel="canonical" href>, resolved ("" when absent)
  // The page opened more than kMaxHtmlOpenElements elements at once (50,000 unclosed <div>s,
  // say): only the part before that point was parsed.
  bool nesting_cut = false;
  // The page's tree would have outgrown kMaxHtmlTreeBytes, or its text kMaxHtmlTextBytes: only a
  // leading part of the page is in `text`.
  bool size_cut = false;
};

// What one HtmlToText call may cost, whatever the page holds (the bounds of browse and of
// indexing one page):
// - NUL bytes and control characters other than tab, LF, FF and CR are dropped before parsing
//   (and from the text, where character references such as "&#27;" bring them back);
// - gumbo keeps no parse errors (its default keeps each one, with a copy of the open-element
//   stack: 5 MiB of NUL bytes or 4,000 nested tables took 1-2 GB);
// - depth: at most kMaxHtmlOpenElements elements open at once (below);
// - nodes: the tree (elements, attributes, text nodes: about 250,000 elements) lives within
//   kMaxHtmlTreeBytes; a page whose tree would outgrow it is parsed again from its first half,
//   then its first quarter, ..., until the tree fits (size_cut is set);
// - text: at most kMaxHtmlTextBytes of it.
// Peak memory of a call is therefore at most about kMaxHtmlTreeBytes + 3 x kMaxHtmlTextBytes (the
// text while built, finished and checked as UTF-8) + 2 x the page's size (the page and its copy
// without control characters): under 150 MB for browse's 5 MiB pages, whatever they hold.
inline constexpr int64_t kMaxHtmlTreeBytes = int64_t{64} << 20;
inline constexpr int64_t kMaxHtmlTextBytes = int64_t{16} << 20;

// Gumbo's tree builder is quadratic in how many elements are open at once (250 KB of unclosed
// tags took 50 s of CPU), so HtmlToText parses a page only up to the tag that would open one
// more than this many (about 0.3 s of parsing at worst). Real pages stay far below (a few dozen
// levels).
inline constexpr int kMaxHtmlOpenElements = 4096;
// Where that cut falls: the offset of the tag that would open element number
// `max_open_elements + 1` (void elements, elements whose end tag is optional such as <p> and
// <li>, self-closed tags and the contents of script/style/textarea/title do not count), or npos
// when the page stays within it. One linear pass.
size_t DeepNestingCut(std::string_view html, int max_open_elements = kMaxHtmlOpenElements);

// Parses `html` with gumbo (an HTML5 parser: any input gives a tree) and returns its readable
// text: script, style, noscript, template, svg, iframe, form controls, nav, header, footer,
// aside (header and footer too, except inside an <article>, where they hold its title and
// byline) and elements marked hidden / aria-hidden / role=navigation|banner|contentinfo dropped;
// headings ("# ", "## ", ...), paragraphs, list items ("- "), table rows (cells joined by " | ")
// and other blocks on their own lines; whitespace collapsed outside <pre>; links kept as
// "anchor text [url]" with the url resolved against `base_url` (when given); javascript: and
// same-page "#..." links kept as their text only. Output is valid UTF-8 (bad bytes become U+FFFD).
// Cost: linear for ordinary pages; nesting beyond kMaxHtmlOpenElements is cut (see above) since
// gumbo's tree builder is quadratic in it; memory within the bounds above. Thread-safe.
PageText HtmlToText(std::string_view html, std::string_view base_url = "");

// `text` cut to at most `max_bytes` bytes on a UTF-8 character boundary (never splitting a
// character); `*cut` tells whether anything was dropped.
std::string CutUtf8(std::string_view text, int64_t max_bytes, bool* cut = nullptr);
// SanitizeUtf8 (invalid UTF-8 to U+FFFD) is in tfgrpo/util.h, included here.

// ---- URLs and addresses ----

struct ParsedUrl {
  std::string scheme;  // lower case
  std::string host;    // lower case; IPv6 literals without brackets
  int port = 0;        // explicit port, or 80 / 443 by scheme
  std::string target;  // path + query ("/" when empty); the fragment is dropped
};
// http and https URLs only; InvalidArgument naming what is wrong otherwise.
Result<ParsedUrl> ParseHttpUrl(std::string_view url);
// `ref` resolved against `base` (RFC 3986 reference resolution, good enough for links and
// Location headers); `ref` unchanged when it is absolute or `base` is not an http(s) URL.
std::string ResolveUrl(std::string_view base, std::string_view ref);
// True for loopback, private, link-local, unspecified, CGNAT (100.64/10), multicast and
// reserved addresses (127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, 0/8, ::, ::1, fc00::/7,
// fe80::/10, the whole IPv4-mapped ::ffff:0:0/96 and IPv4-translated ::ffff:0:0:0/96 ranges
// whatever address they embed, 6to4 and NAT64 forms of private IPv4 addresses): what browse
// refuses unless allow_private. A string that is not an IP literal is false.
bool IsPrivateAddress(std::string_view ip_literal);

// ---- the local index ----

struct IndexBuildOptions {
  // A JSONL file of {"url","title","text"} lines, or a folder: every *.html / *.htm file under
  // it (recursively, in sorted path order) becomes a page with url its <link rel=canonical>
  // when that is an http(s) URL, else its path relative to the folder ("guides/intro.html"),
  // title from <title> (else the file name) and text from HtmlToText (within its bounds, above).
  std::filesystem::path corpus;
  // In a corpus folder only regular files and real subfolders are read: a symlink (to a file or
  // a folder, inside the corpus or out of it: /etc/passwd) is skipped and named in
  // IndexBuildSummary::skipped_symlinks. True (`index build --follow-symlinks`) follows them
  // (each real folder walked once, so a link to an ancestor does not loop).
  bool follow_symlinks = false;
  std::filesystem::path out;  // INDEX.db; written as OUT.partial and renamed when complete
  int batch_pages = 2000;     // pages per transaction (bounded memory whatever the corpus size)
  // JSONL lines: the longest accepted; a longer one is a bad line.
  int64_t max_line_bytes = 64 << 20;
  // Called every batch with pages indexed so far (progress); may be empty.
  std::function<void(int64_t pages)> on_batch;
};

struct IndexBuildSummary {
  int64_t pages = 0;             // pages in the index
  int64_t skipped_bad = 0;       // JSONL lines that were not a usable page (see first_bad)
  int64_t skipped_duplicate = 0; // pages whose url was already indexed (the first one is kept)
  std::string first_bad;         // "corpus.jsonl:17: field \"url\" is missing" (first few joined by "; ")
  std::vector<std::string> skipped_symlinks;  // paths of the symlinks not followed, as listed
  double seconds = 0;
};

// Streams the corpus into a new index at options.out (replacing it). A bad JSONL line (not JSON,
// not an object, url/title/text missing or not strings, url empty, longer than max_line_bytes)
// is skipped and counted, its file:line kept in first_bad; blank lines are ignored. A corpus
// that yields no page at all, a missing corpus or an unwritable output is an error.
Result<IndexBuildSummary> BuildIndex(const IndexBuildOptions& options);

struct SearchHit {
  std::string title;
  std::string url;
  std::string snippet;  // the best-matching stretch of the text (30 words; see SnippetFor)
  double score = 0;     // local: -bm25 (higher is better); remote backends: 0
};

struct IndexedPage {
  std::string url;
  std::string title;
  std::string text;
};

// An index opened read-only. Thread-safe: each call takes a connection from a small pool
// (opening another when all are busy), so concurrent rollouts do not wait on each other.
class SearchIndex {
 public:
  // NotFound when the file is missing; InvalidArgument when it is not an index we built.
  static Result<std::shared_ptr<SearchIndex>> Open(const std::filesystem::path& path);
  ~SearchIndex();

  // Ranked by bm25 with title matches weighted above text matches. `query` is free text: it
  // is split into words, each quoted, joined with OR (common English stop words dropped unless
  // nothing else is left), so FTS5 syntax in it (quotes, AND/OR/NOT/NEAR, column filters, *, ^,
  // parentheses) is searched as plain words and never errors. InvalidArgument when it holds no
  // word at all.
  // `timeout_s` > 0 bounds the whole call: the query is interrupted (SQLite's progress handler)
  // once it has run that long, whatever the index holds, and the call fails with Timeout "search
  // timed out after N s". 0 = no limit. Snippets: SnippetFor over each hit's stored text.
  Result<std::vector<SearchHit>> Search(std::string_view query, int top_k, double timeout_s = 0);
  // The page stored under exactly `url`, or nullopt.
  Result<std::optional<IndexedPage>> FindPage(std::string_view url);
  int64_t page_count() const { return page_count_; }

 private:
  struct Connection;
  explicit SearchIndex(std::filesystem::path path) : path_(std::move(path)) {}
  Result<Connection*> Acquire();  // owned by the caller until Release
  void Release(Connection* c);
  std::filesystem::path path_;
  int64_t page_count_ = 0;
  std::mutex mu_;
  std::vector<Connection*> idle_;
};

// The FTS5 MATCH expression Search uses for `query` ("" when it holds no word).
std::string Fts5QueryFor(std::string_view query);

// A search hit's snippet is found in at most this much of the start of the page's text, so its
// cost stays linear in this bound whatever the page holds (FTS5's snippet() was quadratic in a
// page's matches: a page repeating the query word 262,144 times took minutes).
inline constexpr int64_t kSnippetTextBytes = 64 << 10;
// The `max_words` consecutive words of the first kSnippetTextBytes of `text` holding the most
// words of `query` (the first such stretch; the text's first words when none matches), matched
// case-insensitively allowing a short ending ("bridge" matches "bridges"), with the punctuation
// attached to its ends ("tall."), whitespace collapsed, and "…" where text was left out before or
// after. "" for a text without words. Valid UTF-8.
// One pass over the bounded text.
std::string SnippetFor(std::string_view text, std::string_view query, int max_words = 30);

// ---- the tools ----

// What the search tool prints: for each hit "<n>. <title>\n   <url>\n   <snippet>\n" (snippet line
// left out when empty), hits separated by a blank line; "No results for: <query>" when none.
std::string FormatSearchResults(const std::vector<SearchHit>& hits, std::string_view query);

// `search` tool, parameters {"query": string}. Output is FormatSearchResults of the top_k hits.
// An empty or missing query, a backend error (HTTP status, unreachable, unusable JSON) is an
// is_error output naming it; the backend's API key never appears in it.
// Create fails (InvalidArgument) for an unknown backend, local without an index that opens,
// searxng without url, serper without the key in its env var.
class SearchTool final : public Tool {
 public:
  static Result<std::shared_ptr<SearchTool>> Create(const SearchOptions& options);
  // Local backend over an already opened index (shared with browse).
  SearchTool(SearchOptions options, std::shared_ptr<SearchIndex> index);
  const ToolSpec& spec() const override { return spec_; }
  Result<ToolOutput> Run(const nlohmann::json& arguments) override;
  // Bounded by tools.timeout_s (options.timeout_s) or by context.deadline (the rollout's
  // task.timeout_s) when that comes first: a local query past it is interrupted, a remote
  // backend's request cut, and the output is an is_error "search timed out after N s (<which
  // limit>)".
  Result<ToolOutput> Run(const nlohmann::json& arguments, const ToolCallContext& context) override;
  // The backend query itself, for callers other than the model: bounded by options.timeout_s, or
  // by `timeout_s` (0 = no limit for the local index).
  Result<std::vector<SearchHit>> Search(std::string_view query);
  Result<std::vector<SearchHit>> Search(std::string_view query, double timeout_s);

 private:
  SearchOptions options_;
  std::shared_ptr<SearchIndex> index_;
  std::string api_key_;  // serper only
  ToolSpec spec_;
};

// `browse` tool, parameters {"url": string, "goal": string}. A page held in `index` (exact url)
// is served from it; any other url is fetched: http/https only; an IP-literal host is checked
// (IsPrivateAddress) before anything is sent, and so is the peer address of every connection
// (HttpRequest::check_address), so a host name that resolves or rebinds to a private address is
// refused too; fetched directly, never through a proxy named by http_proxy / https_proxy /
// ALL_PROXY (the peer checked must be the page's server; see HttpRequest::check_address);
// redirects (301/302/303/307/308) followed up to max_redirects, each target re-checked
// the same way; the whole fetch bounded by timeout_s (or by ToolCallContext::deadline, the
// rollout's task.timeout_s, when that comes first) and the body by max_bytes (what is past it
// is not read, and a note says so). text/html and application/xhtml+xml go through HtmlToText;
// text/plain is served as is; any other type is an is_error output naming it. The output is
// "Title: <title>\nURL: <final url>\n\n<text>" cut to max_chars with a note giving the full
// length. With summarize, one LLM call (Role::kBrowse, temperature 0) gets the goal and the page
// text and its reply is returned instead; when that call fails the cut text is returned with a
// note (kUnauthorized and kCancelled fail the call). That call's ChatRequest::call_id is
// "<ToolCallContext::call_id>/browse" ("s3/t17/r2/turn1/call0/browse"), so a resumed run replays
// it from the run store like the rollout's own turns; called without a context (Run(arguments)),
// it is "browse/<16 hex digits of the url and goal's fingerprint>".
// Every refusal (scheme, private address, too many redirects, HTTP error status, timeout,
// unreachable) is an is_error output naming the url and the reason.
class BrowseTool final : public Tool {
 public:
  // `index` may be null (no local pages); `summarizer` is needed only when options.summarize
  // (Create-time check: InvalidArgument when summarize is set without one). Both must outlive
  // the tool.
  static Result<std::shared_ptr<BrowseTool>> Create(const BrowseOptions& options,
                                                    std::shared_ptr<SearchIndex> index,
                                                    ChatClient* summarizer = nullptr);
  const ToolSpec& spec() const override { return spec_; }
  Result<ToolOutput> Run(const nlohmann::json& arguments) override;
  Result<ToolOutput> Run(const nlohmann::json& arguments, const ToolCallContext& context) override;

 private:
  BrowseTool(BrowseOptions options, std::shared_ptr<SearchIndex> index, ChatClient* summarizer);
  Result<ToolOutput> Summarize(const std::string& url, const std::string& goal, const std::string& page,
                               const ToolCallContext& context);
  BrowseOptions options_;
  std::shared_ptr<SearchIndex> index_;
  ChatClient* summarizer_;
  ToolSpec spec_;
};

}  // namespace tfgrpo
