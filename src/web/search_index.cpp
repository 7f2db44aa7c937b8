// The local page index: one SQLite file with a `pages` table (url, title, text) and an FTS5
// index over it (external content, porter + unicode61 tokens), ranked by bm25 with the title
// weighted above the text. Built by streaming the corpus in batched transactions.

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "tfgrpo/json.h"
#include "tfgrpo/util.h"
#include "tfgrpo/web.h"

namespace tfgrpo {

namespace {

namespace fs = std::filesystem;

constexpr const char* kFormat = "tfgrpo-web-index";
constexpr const char* kFormatVersion = "1";
// bm25 weights per FTS5 column: url (not indexed), title, text.
constexpr const char* kRank = "bm25(0.0, 5.0, 1.0)";
// How often a query looks at its deadline, in SQLite virtual-machine steps (a clock read per
// 100 steps costs nothing next to them).
constexpr int kProgressSteps = 100;

std::string SqliteError(sqlite3* db, const std::string& what) {
  return what + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
}

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::IoError(std::string("index: ") + msg + " (in: " + std::string(sql).substr(0, 60) + ")");
  }
  return Status::Ok();
}

struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

void BindText(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

std::string ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s, i)) : std::string();
}

// Writes pages into a fresh index file, one transaction per batch.
class IndexWriter {
 public:
  ~IndexWriter() {
    // Statements first: a connection with live statements does not close.
    sqlite3_finalize(insert_page_.s);
    sqlite3_finalize(insert_fts_.s);
    insert_page_.s = insert_fts_.s = nullptr;
    if (db_) sqlite3_close(db_);
  }
  Status Open(const fs::path& path, int batch_pages) {
    batch_pages_ = std::max(1, batch_pages);
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
      return Status::IoError(SqliteError(db_, "cannot create index " + path.string()));
    }
    // A partial file is thrown away on failure, so no journal is needed; the page cache is
    // bounded (32 MiB) whatever the corpus size.
    for (const char* sql : {"PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "PRAGMA cache_size=-32768",
                            "PRAGMA temp_store=FILE",
                            "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                            "CREATE TABLE pages(id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE, "
                            "title TEXT NOT NULL, text TEXT NOT NULL)",
                            "CREATE VIRTUAL TABLE pages_fts USING fts5(url UNINDEXED, title, text, "
                            "content='pages', content_rowid='id', "
                            "tokenize='porter unicode61 remove_diacritics 2')"}) {
      if (Status st = Exec(db_, sql); !st.ok()) return st;
    }
    const std::string rank = std::string("INSERT INTO pages_fts(pages_fts, rank) VALUES('rank', '") + kRank + "')";
    if (Status st = Exec(db_, rank.c_str()); !st.ok()) return st;
    if (sqlite3_prepare_v2(db_, "INSERT OR IGNORE INTO pages(url, title, text) VALUES(?1, ?2, ?3)", -1,
                           &insert_page_.s, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_, "INSERT INTO pages_fts(rowid, url, title, text) VALUES(?1, ?2, ?3, ?4)", -1,
                           &insert_fts_.s, nullptr) != SQLITE_OK) {
      return Status::IoError(SqliteError(db_, "index"));
    }
    return Exec(db_, "BEGIN");
  }

  // False (and no error) when the url is already indexed.
  Result<bool> Add(std::string_view url, std::string_view title, std::string_view text) {
    sqlite3_reset(insert_page_.s);
    BindText(insert_page_.s, 1, url);
    BindText(insert_page_.s, 2, title);
    BindText(insert_page_.s, 3, text);
    if (sqlite3_step(insert_page_.s) != SQLITE_DONE) return Status::IoError(SqliteError(db_, "index insert"));
    if (sqlite3_changes(db_) == 0) return false;
    sqlite3_reset(insert_fts_.s);
    sqlite3_bind_int64(insert_fts_.s, 1, sqlite3_last_insert_rowid(db_));
    BindText(insert_fts_.s, 2, url);
    BindText(insert_fts_.s, 3, title);
    BindText(insert_fts_.s, 4, text);
    if (sqlite3_step(insert_fts_.s) != SQLITE_DONE) return Status::IoError(SqliteError(db_, "index insert"));
    ++pages_;
    if (++in_batch_ >= batch_pages_) {
      if (Status st = Commit(); !st.ok()) return st;
    }
    return true;
  }

  Status Commit() {
    in_batch_ = 0;
    if (Status st = Exec(db_, "COMMIT"); !st.ok()) return st;
    if (on_batch) on_batch(pages_);
    return Exec(db_, "BEGIN");
  }

  Status Finish() {
    if (Status st = Exec(db_, "COMMIT"); !st.ok()) return st;
    // One merged b-tree per term: fewer segments to visit per query.
    if (Status st = Exec(db_, "INSERT INTO pages_fts(pages_fts) VALUES('optimize')"); !st.ok()) return st;
    const std::string meta = std::string("INSERT INTO meta(key, value) VALUES('format', '") + kFormat +
                             "'), ('version', '" + kFormatVersion + "'), ('pages', '" + std::to_string(pages_) + "')";
    if (Status st = Exec(db_, meta.c_str()); !st.ok()) return st;
    return Status::Ok();
  }

  int64_t pages() const { return pages_; }
  std::function<void(int64_t)> on_batch;

 private:
  sqlite3* db_ = nullptr;
  Stmt insert_page_;
  Stmt insert_fts_;
  int batch_pages_ = 2000;
  int in_batch_ = 0;
  int64_t pages_ = 0;
};

// Reads lines of at most `max` bytes; a longer line is reported as too long (and skipped to its
// end) without being held in memory.
class LineReader {
 public:
  LineReader(std::FILE* f, int64_t max) : f_(f), max_(max) {}
  // False at end of file.
  bool Next(std::string& line, bool& too_long) {
    line.clear();
    too_long = false;
    bool any = false;
    int c;
    while ((c = std::getc(f_)) != EOF) {
      any = true;
      if (c == '\n') return true;
      if (too_long) continue;
      if (static_cast<int64_t>(line.size()) >= max_) {
        too_long = true;
        line.clear();
        line.shrink_to_fit();
        continue;
      }
      line += static_cast<char>(c);
    }
    return any;
  }

 private:
  std::FILE* f_;
  int64_t max_;
};

struct BadLines {
  int64_t count = 0;
  std::string first;
  void Add(const std::string& where) {
    if (++count <= 3) first += (first.empty() ? "" : "; ") + where;
  }
};

Status BuildFromJsonl(const fs::path& file, IndexWriter& writer, const IndexBuildOptions& options,
                      IndexBuildSummary& summary) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return Status::NotFound("cannot open corpus " + file.string());
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, std::fclose);
  // A big stdio buffer: getc is then a few instructions per byte.
  std::vector<char> buffer(1 << 20);
  std::setvbuf(f, buffer.data(), _IOFBF, buffer.size());
  LineReader reader(f, options.max_line_bytes);
  BadLines bad;
  std::string line;
  bool too_long = false;
  int64_t lineno = 0;
  while (reader.Next(line, too_long)) {
    ++lineno;
    const std::string where = file.filename().string() + ":" + std::to_string(lineno);
    if (too_long) {
      bad.Add(where + ": line longer than " + std::to_string(options.max_line_bytes) + " bytes");
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = ParseUntrustedJson(line);
    if (j.is_discarded()) {
      bad.Add(where + ": not valid JSON");
      continue;
    }
    if (!j.is_object()) {
      bad.Add(where + ": not a JSON object");
      continue;
    }
    std::string missing;
    for (const char* key : {"url", "title", "text"}) {
      auto it = j.find(key);
      if (it == j.end()) {
        missing = std::string("field \"") + key + "\" is missing";
        break;
      }
      if (!it->is_string()) {
        missing = std::string("field \"") + key + "\" is not a string";
        break;
      }
    }
    if (missing.empty() && j["url"].get_ref<const std::string&>().empty()) missing = "field \"url\" is empty";
    if (!missing.empty()) {
      bad.Add(where + ": " + missing);
      continue;
    }
    auto added = writer.Add(j["url"].get_ref<const std::string&>(), j["title"].get_ref<const std::string&>(),
                            j["text"].get_ref<const std::string&>());
    if (!added.ok()) return added.status();
    if (!*added) ++summary.skipped_duplicate;
  }
  if (std::ferror(f)) return Status::IoError("error reading corpus " + file.string());
  summary.skipped_bad = bad.count;
  summary.first_bad = bad.first;
  return Status::Ok();
}

// The bytes of the regular file at `path`, read without following a symlink in its last
// component (the listing saw a regular file; a symlink swapped in since then is not read).
Result<std::string> ReadRegularFile(const fs::path& path, bool follow_symlinks) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow_symlinks ? 0 : O_NOFOLLOW));
  if (fd < 0) return Status::IoError(std::string("cannot open: ") + std::strerror(errno));
  std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* f) {
    ::close(*f);
    delete f;
  });
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return Status::IoError("not a regular file");
  std::string bytes;
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(std::string("cannot read: ") + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

Status BuildFromHtmlFolder(const fs::path& dir, IndexWriter& writer, const IndexBuildOptions& options,
                           IndexBuildSummary& summary) {
  std::vector<fs::path> files;
  std::error_code ec;
  // Folders already walked, by their real path (with follow_symlinks only): a link to an ancestor
  // would otherwise be walked forever, and one to a sibling would index it twice.
  std::set<fs::path> walked;
  walked.insert(fs::weakly_canonical(dir, ec));
  auto dir_options = fs::directory_options::skip_permission_denied;
  if (options.follow_symlinks) dir_options |= fs::directory_options::follow_directory_symlink;
  // Only paths are held in memory, never pages.
  for (fs::recursive_directory_iterator it(dir, dir_options, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code entry_ec;
    if (!options.follow_symlinks && it->is_symlink(entry_ec)) {
      // A link may point anywhere (/etc/passwd, a home folder): only what is in the corpus
      // folder itself is indexed unless the user says otherwise.
      summary.skipped_symlinks.push_back(it->path().string());
      continue;
    }
    if (options.follow_symlinks && it->is_directory(entry_ec) &&
        !walked.insert(fs::weakly_canonical(it->path(), entry_ec)).second) {
      it.disable_recursion_pending();  // reached again through a link
      continue;
    }
    if (!it->is_regular_file(entry_ec)) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".html" || ext == ".htm") files.push_back(it->path());
  }
  if (ec) return Status::IoError("cannot list corpus folder " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  BadLines bad;
  for (const fs::path& file : files) {
    auto html = ReadRegularFile(file, options.follow_symlinks);
    if (!html.ok()) {
      bad.Add(file.string() + ": " + html.status().message());
      continue;
    }
    // Lexically: fs::relative resolves symlinks, which would name a followed link's page by
    // where it points ("../../etc/passwd") rather than where it sits in the corpus.
    const std::string id = file.lexically_relative(dir).generic_string();
    PageText page = HtmlToText(*html);
    const std::string url = !page.canonical_url.empty() && ParseHttpUrl(page.canonical_url).ok()
                                ? page.canonical_url
                                : (id.empty() ? file.generic_string() : id);
    const std::string title = page.title.empty() ? file.stem().string() : page.title;
    auto added = writer.Add(url, title, page.text);
    if (!added.ok()) return added.status();
    if (!*added) ++summary.skipped_duplicate;
  }
  summary.skipped_bad = bad.count;
  summary.first_bad = bad.first;
  return Status::Ok();
}

}  // namespace

Result<IndexBuildSummary> BuildIndex(const IndexBuildOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  const bool is_dir = fs::is_directory(options.corpus, ec);
  if (!is_dir && !fs::is_regular_file(options.corpus, ec)) {
    return Status::NotFound("corpus " + options.corpus.string() + " does not exist");
  }
  if (options.out.empty()) return Status::InvalidArgument("index build: no output file (-o INDEX.db)");
  const fs::path partial = options.out.string() + ".partial";
  fs::remove(partial, ec);
  IndexBuildSummary summary;
  Status built;
  {
    IndexWriter writer;
    writer.on_batch = options.on_batch;
    built = writer.Open(partial, options.batch_pages);
    if (built.ok()) {
      built = is_dir ? BuildFromHtmlFolder(options.corpus, writer, options, summary)
                     : BuildFromJsonl(options.corpus, writer, options, summary);
    }
    if (built.ok() && writer.pages() == 0) {
      const size_t links = summary.skipped_symlinks.size();
      built = Status::InvalidArgument(
          "corpus " + options.corpus.string() + " holds no usable page" +
          (summary.first_bad.empty() ? "" : " (" + summary.first_bad + ")") +
          (links == 0 ? ""
                      : "; " + std::to_string(links) + " symlink" + (links == 1 ? "" : "s") + " skipped (" +
                            summary.skipped_symlinks.front() + (links > 1 ? ", ..." : "") +
                            "): --follow-symlinks indexes what they point to"));
    }
    if (built.ok()) built = writer.Finish();
    summary.pages = writer.pages();
  }
  if (!built.ok()) {
    fs::remove(partial, ec);
    return built;
  }
  fs::rename(partial, options.out, ec);
  if (ec) {
    fs::remove(partial, ec);
    return Status::IoError("cannot write index " + options.out.string() + ": " + ec.message());
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

// ---- queries ----

std::string Fts5QueryFor(std::string_view query) {
  static const std::set<std::string> kStop = {
      "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do",
      "does", "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into",
      "is", "it", "its", "me", "my", "of", "on", "or", "our", "she", "so", "than", "that", "the",
      "their", "them", "then", "there", "these", "they", "this", "those", "to", "was", "we", "were",
      "what", "when", "where", "which", "who", "whom", "whose", "why", "will", "with", "would",
      "you", "your"};
  constexpr size_t kMaxTerms = 32;
  std::vector<std::string> terms;
  std::vector<std::string> stop_terms;
  std::set<std::string> seen;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    std::string lower = cur;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (seen.insert(lower).second) (kStop.count(lower) ? stop_terms : terms).push_back(cur);
    cur.clear();
  };
  for (unsigned char c : query) {
    // Letters, digits and every non-ASCII byte are word characters; everything else (FTS5's
    // operators and quotes among it) separates words.
    if (std::isalnum(c) || c >= 0x80) {
      cur += static_cast<char>(c);
    } else {
      flush();
    }
  }
  flush();
  if (terms.empty()) terms = std::move(stop_terms);
  if (terms.size() > kMaxTerms) terms.resize(kMaxTerms);
  std::string expr;
  for (const std::string& t : terms) {
    if (!expr.empty()) expr += " OR ";
    expr += '"' + SanitizeUtf8(t) + '"';  // a word never holds '"', so quoting is complete
  }
  return expr;
}

namespace {

bool IsWordByte(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whether a word of the text is one the query asked for, as FTS5's porter stemmer would see it,
// roughly: equal, or sharing all but a short ending ("bridge" / "bridges", "search" / "searched").
bool WordMatches(std::string_view word, std::string_view term) {
  size_t common = 0;
  while (common < word.size() && common < term.size() && word[common] == term[common]) ++common;
  if (common == word.size() && common == term.size()) return true;
  const size_t stem = std::min(word.size(), term.size());
  if (stem < 3) return false;
  const size_t need = stem > 5 ? stem - 2 : stem;
  return common >= need && word.size() - common <= 4 && term.size() - common <= 4;
}

}  // namespace

std::string SnippetFor(std::string_view text, std::string_view query, int max_words) {
  max_words = std::max(1, max_words);
  bool cut = false;
  const std::string bounded = CutUtf8(text, kSnippetTextBytes, &cut);
  // The query's words, as Fts5QueryFor takes them (stop words included: they only tip ties).
  std::vector<std::string> terms;
  {
    std::string cur;
    for (size_t i = 0; i <= query.size() && terms.size() < 32; ++i) {
      if (i < query.size() && IsWordByte(static_cast<unsigned char>(query[i]))) {
        cur += query[i];
      } else if (!cur.empty()) {
        terms.push_back(LowerAscii(cur));
        cur.clear();
      }
    }
  }
  struct Word {
    size_t begin, end;
    bool hit;
  };
  std::vector<Word> words;
  for (size_t i = 0; i < bounded.size();) {
    if (!IsWordByte(static_cast<unsigned char>(bounded[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < bounded.size() && IsWordByte(static_cast<unsigned char>(bounded[j]))) ++j;
    const std::string lower = LowerAscii(std::string_view(bounded).substr(i, j - i));
    bool hit = false;
    for (const std::string& t : terms) hit = hit || WordMatches(lower, t);
    words.push_back({i, j, hit});
    i = j;
  }
  if (words.empty()) return "";
  // The window of max_words words holding the most matches (the first such), in one pass.
  const size_t width = std::min(words.size(), static_cast<size_t>(max_words));
  int in_window = 0;
  for (size_t i = 0; i < width; ++i) in_window += words[i].hit;
  int best = in_window;
  size_t best_start = 0;
  for (size_t start = 1; start + width <= words.size(); ++start) {
    in_window += words[start + width - 1].hit - words[start - 1].hit;
    if (in_window > best) {
      best = in_window;
      best_start = start;
    }
  }
  const size_t last = best_start + width - 1;
  // Punctuation attached to the stretch's ends stays with it ("(the", "tall.").
  auto is_space = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  size_t from = words[best_start].begin;
  const size_t floor = best_start > 0 ? words[best_start - 1].end : 0;
  while (from > floor && !is_space(static_cast<unsigned char>(bounded[from - 1]))) --from;
  size_t to = words[last].end;
  const size_t ceiling = last + 1 < words.size() ? words[last + 1].begin : bounded.size();
  while (to < ceiling && !is_space(static_cast<unsigned char>(bounded[to]))) ++to;
  std::string out = best_start > 0 ? "…" : "";
  bool space = false;
  for (size_t i = from; i < to; ++i) {
    const unsigned char c = static_cast<unsigned char>(bounded[i]);
    if (is_space(c)) {
      space = true;
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(c);
  }
  if (last + 1 < words.size() || cut) out += "…";
  return SanitizeUtf8(out);
}

struct SearchIndex::Connection {
  sqlite3* db = nullptr;
  Stmt search;
  Stmt text;
  Stmt find;
  // The running query's deadline, read by the progress handler (one query per connection at a
  // time: a connection is owned by one caller between Acquire and Release).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  ~Connection() {
    sqlite3_finalize(search.s);
    sqlite3_finalize(text.s);
    sqlite3_finalize(find.s);
    search.s = text.s = find.s = nullptr;
    if (db) sqlite3_close(db);
  }
  // SQLite calls it every kProgressSteps virtual-machine steps (nested statements too: FTS5's bm25
  // ordering runs as one); non-zero interrupts the query with SQLITE_INTERRUPT.
  static int Progress(void* self) {
    return std::chrono::steady_clock::now() >= static_cast<Connection*>(self)->deadline ? 1 : 0;
  }
};

SearchIndex::~SearchIndex() {
  for (Connection* c : idle_) delete c;
}

Result<std::shared_ptr<SearchIndex>> SearchIndex::Open(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return Status::NotFound("search index " + path.string() + " does not exist (build it with `tfgrpo index build CORPUS -o " +
                            path.string() + "`)");
  std::shared_ptr<SearchIndex> index(new SearchIndex(path));
  auto conn = index->Acquire();
  if (!conn.ok()) return conn.status();
  Stmt meta;
  std::string format;
  std::string pages;
  if (sqlite3_prepare_v2((*conn)->db, "SELECT key, value FROM meta", -1, &meta.s, nullptr) == SQLITE_OK) {
    while (sqlite3_step(meta.s) == SQLITE_ROW) {
      const std::string key = ColumnText(meta.s, 0);
      if (key == "format") format = ColumnText(meta.s, 1);
      if (key == "pages") pages = ColumnText(meta.s, 1);
    }
  }
  sqlite3_finalize(meta.s);
  meta.s = nullptr;
  index->Release(*conn);
  if (format != kFormat) {
    return Status::InvalidArgument(path.string() + " is not a search index built by `tfgrpo index build`");
  }
  index->page_count_ = std::atoll(pages.c_str());
  return index;
}

Result<SearchIndex::Connection*> SearchIndex::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      Connection* c = idle_.back();
      idle_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<Connection>();
  if (sqlite3_open_v2(path_.c_str(), &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    return Status::IoError(SqliteError(c->db, "cannot open search index " + path_.string()));
  }
  sqlite3_busy_timeout(c->db, 5000);
  sqlite3_progress_handler(c->db, kProgressSteps, &Connection::Progress, c.get());
  // No snippet() here: FTS5's is quadratic in a page's matches (a page repeating the query word
  // 262,144 times took minutes). SnippetFor works on a bounded start of each top hit's text.
  if (sqlite3_prepare_v2(c->db,
                         "SELECT title, url, rowid, rank FROM pages_fts "
                         "WHERE pages_fts MATCH ?1 ORDER BY rank LIMIT ?2",
                         -1, &c->search.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(c->db, "SELECT substr(text, 1, ?2) FROM pages WHERE id = ?1", -1, &c->text.s, nullptr) !=
          SQLITE_OK ||
      sqlite3_prepare_v2(c->db, "SELECT url, title, text FROM pages WHERE url = ?1", -1, &c->find.s, nullptr) !=
          SQLITE_OK) {
    return Status::InvalidArgument(SqliteError(c->db, path_.string() + " is not a search index built by `tfgrpo index build`"));
  }
  return c.release();
}

void SearchIndex::Release(Connection* c) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(c);
}

Result<std::vector<SearchHit>> SearchIndex::Search(std::string_view query, int top_k, double timeout_s) {
  const std::string expr = Fts5QueryFor(query);
  if (expr.empty()) return Status::InvalidArgument("the query holds no word to search for");
  auto conn = Acquire();
  if (!conn.ok()) return conn.status();
  Connection* c = *conn;
  const auto start = std::chrono::steady_clock::now();
  c->deadline = timeout_s > 0 && timeout_s < 1e9
                    ? start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(timeout_s))
                    : std::chrono::steady_clock::time_point::max();
  sqlite3_stmt* s = c->search.s;
  sqlite3_reset(s);
  BindText(s, 1, expr);
  sqlite3_bind_int(s, 2, std::max(1, top_k));
  std::vector<SearchHit> hits;
  std::vector<int64_t> rowids;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    SearchHit h;
    h.title = ColumnText(s, 0);
    h.url = ColumnText(s, 1);
    rowids.push_back(sqlite3_column_int64(s, 2));
    h.score = -sqlite3_column_double(s, 3);
    hits.push_back(std::move(h));
  }
  sqlite3_reset(s);
  // Each hit's snippet from the start of its text: kSnippetTextBytes at most (characters are at
  // most 4 bytes, so that many characters hold them).
  for (size_t i = 0; rc == SQLITE_DONE && i < hits.size(); ++i) {
    sqlite3_stmt* t = c->text.s;
    sqlite3_reset(t);
    sqlite3_bind_int64(t, 1, rowids[i]);
    sqlite3_bind_int64(t, 2, kSnippetTextBytes);
    const int trc = sqlite3_step(t);
    if (trc == SQLITE_ROW) {
      hits[i].snippet = SnippetFor(ColumnText(t, 0), query);
    } else if (trc != SQLITE_DONE) {
      rc = trc;
    }
    sqlite3_reset(t);
    if (rc == SQLITE_DONE && Connection::Progress(c)) rc = SQLITE_INTERRUPT;
  }
  Status st = Status::Ok();
  if (rc == SQLITE_INTERRUPT) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", timeout_s);
    st = Status::Timeout(std::string("search timed out after ") + seconds + " s");
  } else if (rc != SQLITE_DONE) {
    st = Status::IoError(SqliteError(c->db, "search"));
  }
  c->deadline = std::chrono::steady_clock::time_point::max();
  Release(c);
  if (!st.ok()) return st;
  return hits;
}

Result<std::optional<IndexedPage>> SearchIndex::FindPage(std::string_view url) {
  auto conn = Acquire();
  if (!conn.ok()) return conn.status();
  sqlite3_stmt* s = (*conn)->find.s;
  sqlite3_reset(s);
  BindText(s, 1, url);
  std::optional<IndexedPage> page;
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) page = IndexedPage{ColumnText(s, 0), ColumnText(s, 1), ColumnText(s, 2)};
  Status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? Status::Ok() : Status::IoError(SqliteError((*conn)->db, "lookup"));
  sqlite3_reset(s);
  Release(*conn);
  if (!st.ok()) return st;
  return page;
}

}  // namespace tfgrpo
