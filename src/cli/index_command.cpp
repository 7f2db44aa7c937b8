// `tfgrpo index build CORPUS -o INDEX.db` and `tfgrpo index search INDEX.db QUERY`: the local
// search index of the web tools, built and queried the way the search tool queries it.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "tfgrpo/web.h"

namespace tfgrpo::cli {
namespace {

struct IndexArgs {
  std::string corpus;
  std::string out;
  int batch = 2000;
  bool follow_symlinks = false;
};

int RunIndexBuild(const GlobalOptions& global, const IndexArgs& args) {
  IndexBuildOptions options;
  options.corpus = args.corpus;
  options.out = args.out;
  options.batch_pages = args.batch;
  options.follow_symlinks = args.follow_symlinks;
  int64_t reported = 0;
  options.on_batch = [&](int64_t pages) {
    // A line per 100,000 pages: a big corpus shows it is moving, a small one stays quiet.
    if (global.verbosity() != Verbosity::kQuiet && pages - reported >= 100000) {
      reported = pages;
      std::fprintf(stderr, "index: %lld pages...\n", static_cast<long long>(pages));
    }
  };
  auto summary = BuildIndex(options);
  if (!summary.ok()) return Fail(summary.status().message());
  for (const std::string& link : summary->skipped_symlinks) {
    std::fprintf(stderr, "index: skipped symlink %s (not indexed; --follow-symlinks indexes what links point to)\n",
                 link.c_str());
  }
  const double rate = summary->seconds > 0 ? summary->pages / summary->seconds : 0;
  std::printf("index: %lld pages -> %s in %.1f s (%.0f pages/s)", static_cast<long long>(summary->pages),
              args.out.c_str(), summary->seconds, rate);
  if (summary->skipped_duplicate > 0) {
    std::printf(", %lld duplicate urls skipped", static_cast<long long>(summary->skipped_duplicate));
  }
  std::printf("\n");
  if (summary->skipped_bad > 0) {
    std::fprintf(stderr, "warning: %lld bad lines skipped: %s%s\n", static_cast<long long>(summary->skipped_bad),
                 summary->first_bad.c_str(), summary->skipped_bad > 3 ? "; ..." : "");
  }
  return 0;
}

struct IndexSearchArgs {
  std::string index;
  std::string query;
  int top_k = 10;
  double timeout_s = 30;  // as the search tool's default tools.timeout_s
};

int RunIndexSearch(const IndexSearchArgs& args) {
  auto index = SearchIndex::Open(args.index);
  if (!index.ok()) return Fail(index.status().message());
  auto hits = (*index)->Search(args.query, args.top_k, args.timeout_s);
  if (!hits.ok()) return Fail(hits.status().message());
  const std::string shown = FormatSearchResults(*hits, args.query);
  std::printf("%s%s", shown.c_str(), shown.empty() || shown.back() == '\n' ? "" : "\n");
  return 0;
}

}  // namespace

void AddIndexCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto* index = app.add_subcommand("index", "The local search index of the search and browse tools");
  index->require_subcommand(1);
  auto args = std::make_shared<IndexArgs>();
  auto* build = index->add_subcommand(
      "build", "Build an SQLite FTS5 index from JSONL lines {\"url\",\"title\",\"text\"} or a folder of HTML files");
  build->add_option("corpus", args->corpus, "A JSONL file or a folder of *.html / *.htm files")->required();
  build->add_option("-o,--out", args->out, "The index file to write (INDEX.db; replaced when it exists)")->required();
  build->add_option("--batch", args->batch, "Pages per transaction")->check(CLI::PositiveNumber);
  build->add_flag("--follow-symlinks", args->follow_symlinks,
                  "Index what symlinks in a corpus folder point to (by default they are skipped and named)");
  build->callback([&global, args, runner] { *runner = [&global, args] { return RunIndexBuild(global, *args); }; });

  auto search_args = std::make_shared<IndexSearchArgs>();
  auto* search = index->add_subcommand("search", "Query an index as the search tool does (bm25, title first)");
  search->add_option("index", search_args->index, "The index file (INDEX.db)")->required();
  search->add_option("query", search_args->query, "Free text, as a model would send it")->required();
  search->add_option("--top-k", search_args->top_k, "Results shown")->check(CLI::PositiveNumber);
  search->add_option("--timeout-s", search_args->timeout_s,
                     "Stop the query after this many seconds, as tools.timeout_s stops the search tool (0 = no limit)")
      ->check(CLI::NonNegativeNumber);
  search->callback([search_args, runner] { *runner = [search_args] { return RunIndexSearch(*search_args); }; });
}

}  // namespace tfgrpo::cli
