// `tfgrpo data pull`: fetch a Hugging Face dataset split into our JSONL.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cli/commands.h"
#include "tfgrpo/pull.h"

namespace tfgrpo::cli {
namespace {

struct PullArgs {
  std::string dataset;
  std::string split;
  std::string config;
  std::string out;
  std::string map;
  std::string endpoint;
  int retries = 6;
  int64_t max_rows = 0;
};

int RunPull(const GlobalOptions& global, const PullArgs& args) {
  PullOptions options;
  options.dataset = args.dataset;
  options.split = args.split;
  options.config = args.config;
  options.out = args.out;
  options.endpoint = ResolveHfEndpoint(args.endpoint);
  options.max_retries = args.retries;
  options.max_rows = args.max_rows;
  if (!args.map.empty()) {
    auto map = ParseFieldMap(args.map);
    if (!map.ok()) return Fail(map.status().message());
    options.map = std::move(map).value();
  }
  if (const char* token = std::getenv("HF_TOKEN"); token && *token) options.token = token;
  auto progress = MakeProgress(global.verbosity());
  options.progress = progress.get();
  auto summary = PullDataset(options);
  progress.reset();
  if (!summary.ok()) return Fail(summary.status().message());
  std::printf("pull: %lld rows of %s (config %s, split %s) -> %s", static_cast<long long>(summary->rows),
              args.dataset.c_str(), summary->config.c_str(), args.split.c_str(), args.out.c_str());
  if (summary->total > summary->rows) {
    std::printf(" (the first %lld of %lld: --max-rows)", static_cast<long long>(summary->rows),
                static_cast<long long>(summary->total));
  }
  if (summary->resumed_from > 0) std::printf(", resumed from row %lld", static_cast<long long>(summary->resumed_from));
  std::printf(" (%d requests, %d retries)\n", summary->requests, summary->retries);
  return 0;
}

}  // namespace

void AddDataCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto* data = app.add_subcommand("data", "Fetch task data");
  data->require_subcommand(1);
  auto args = std::make_shared<PullArgs>();
  auto* pull = data->add_subcommand(
      "pull", "Download a Hugging Face dataset split (datasets-server rows API) into JSONL; resumable");
  pull->add_option("dataset", args->dataset, "Dataset name on the Hub, e.g. openai/gsm8k")->required();
  pull->add_option("--split", args->split, "Split to download, e.g. test")->required();
  pull->add_option("-o,--out", args->out, "Output JSONL file (FILE.partial while downloading)")->required();
  pull->add_option("--config", args->config, "Dataset config (default: the first one with this split)");
  pull->add_option("--map", args->map,
                   "Fields to keep, ours=theirs[,..], e.g. problem=question,groundtruth=answer "
                   "(dotted paths reach nested fields; default: rows as they are)");
  pull->add_option("--endpoint", args->endpoint,
                   std::string("datasets-server URL (default: $TFGRPO_HF_ENDPOINT or ") + kDefaultHfEndpoint + ")");
  pull->add_option("--retries", args->retries,
                   "Retries per request on network errors, truncated replies, 408, 409, 429 and 5xx")
      ->check(CLI::NonNegativeNumber);
  pull->add_option("--max-rows", args->max_rows, "Stop after the first N rows (default: the whole split)")
      ->check(CLI::PositiveNumber);
  pull->callback([&global, args, runner] { *runner = [&global, args] { return RunPull(global, *args); }; });
}

}  // namespace tfgrpo::cli
