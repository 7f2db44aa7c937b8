// `tfgrpo index build CORPUS -o INDEX.db`: the local search index of the web tools.
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
};

int RunIndexBuild(const GlobalOptions& global, const IndexArgs& args) {
  IndexBuildOptions options;
  options.corpus = args.corpus;
  options.out = args.out;
  options.batch_pages = args.batch;
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
  build->callback([&global, args, runner] { *runner = [&global, args] { return RunIndexBuild(global, *args); }; });
}

}  // namespace tfgrpo::cli
