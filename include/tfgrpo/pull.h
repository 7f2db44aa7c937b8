// Pulling a Hugging Face dataset split into our JSONL through the datasets-server HTTP API:
// /splits to pick the config, /rows page by page with retries, a resumable FILE.partial, and an
// optional mapping of their fields onto ours. Nothing here runs at build or test time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/progress.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

inline constexpr const char* kDefaultHfEndpoint = "https://datasets-server.huggingface.co";

// One `ours=theirs` pair of --map. `theirs` may be a dotted path into nested objects
// ("solution.answer"; a numeric segment indexes an array).
struct FieldMapping {
  std::string ours;
  std::string theirs;
};

// Parses "problem=question,groundtruth=solution.answer". Errors name the bad pair.
Result<std::vector<FieldMapping>> ParseFieldMap(std::string_view spec);

struct PullOptions {
  std::string dataset;  // "openai/gsm8k"
  std::string split;    // "test"
  std::string config;   // "" = the first config listing `split` in /splits ("default" if none does)
  std::filesystem::path out;  // FILE.jsonl; FILE.jsonl.partial while in progress
  std::vector<FieldMapping> map;  // empty: rows are written as they come
  std::string endpoint = kDefaultHfEndpoint;
  std::string token;  // sent as "Authorization: Bearer"; never logged or put in errors
  int page_size = 100;  // the API serves at most 100 rows per request
  int64_t max_rows = 0;  // --max-rows: stop after this many rows (the first ones); 0 = all of them
  int max_retries = 6;  // per request, on network errors, truncated bodies, 408, 409, 429 and 5xx
  double initial_backoff_s = 1.0;
  double max_backoff_s = 60.0;  // also caps a server's Retry-After
  double timeout_s = 60.0;      // per request
  Progress* progress = nullptr;  // stage "pull": rows done of num_rows_total
};

struct PullSummary {
  std::string config;        // the config pulled (resolved when options.config was empty)
  int64_t rows = 0;          // rows in the finished file
  int64_t total = -1;        // num_rows_total as the server first reported it (-1: never asked)
  int64_t resumed_from = 0;  // rows already in FILE.partial when this call started
  int requests = 0;          // HTTP requests sent, retries included
  int retries = 0;
};

// The endpoint to use: `flag` when set, else $TFGRPO_HF_ENDPOINT when set, else the default.
std::string ResolveHfEndpoint(const std::string& flag);

// Our record for one API row: the mapped fields (or the row as is), plus "id" =
// "<dataset>:<split>:<row_idx>" unless the record or the source row already has one.
// A mapped field missing from the row is an error naming the row index and the field.
Result<nlohmann::json> MapRow(const nlohmann::json& row, int64_t row_idx, const PullOptions& options);

// Downloads the split into options.out. Appends each page to FILE.partial (flushed per page) and
// records what it holds in FILE.partial.meta; a later call with the same dataset, split and map
// continues after the complete lines already there (a different pull is refused), and the file
// is renamed to FILE when every row is in. The split's size is num_rows_total as first reported
// (a resumed pull keeps the one recorded in the meta file), capped at max_rows; a page is asked
// for exactly the rows still wanted. Errors: 404 names the dataset/config/split, 401/403 suggest
// HF_TOKEN, exhausted retries give Unavailable (the partial file is kept). ProviderError, never
// retried: a reply that is not valid UTF-8, nests deeper than kMaxJsonDepth or is not JSON (each
// naming the page's offset and, where it can, the row_idx), a page longer than asked or running
// past num_rows_total, rows out of order, a truncated cell the map needs.
Result<PullSummary> PullDataset(const PullOptions& options);

}  // namespace tfgrpo
