// Web index benchmark: build rate (pages/s) of `tfgrpo index build`'s BuildIndex over a generated
// corpus of 100,000 pages (deterministic), then p50/p99 latency of search queries against it.
// Usage: bench_web_index [pages] [queries]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/web.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  const int pages = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int queries = argc > 2 ? std::atoi(argv[2]) : 2000;
  const fs::path dir = fs::temp_directory_path() / ("tfgrpo-bench-web-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // A Zipf-ish vocabulary of 20,000 made-up words; pages of 150-400 words with a 4-8 word title.
  std::mt19937_64 rng(12345);
  std::vector<std::string> vocab;
  const char* syl[] = {"ka", "lo", "mi", "ren", "to", "va", "sel", "dor", "in", "qu", "bar", "es", "un", "tha", "po", "ri"};
  for (int i = 0; i < 20000; ++i) {
    std::string w;
    int n = 2 + static_cast<int>(rng() % 3);
    for (int k = 0; k < n; ++k) w += syl[rng() % 16];
    vocab.push_back(w + std::to_string(i % 97));
  }
  auto word = [&] {
    // Squared uniform: low ranks are common, as in text.
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return vocab[static_cast<size_t>(u * u * u * (vocab.size() - 1))];
  };
  const fs::path corpus = dir / "corpus.jsonl";
  {
    std::ofstream out(corpus);
    for (int p = 0; p < pages; ++p) {
      std::string title, text;
      const int tw = 4 + static_cast<int>(rng() % 5);
      for (int i = 0; i < tw; ++i) title += (i ? " " : "") + word();
      const int bw = 150 + static_cast<int>(rng() % 250);
      for (int i = 0; i < bw; ++i) text += (i ? " " : "") + word();
      out << nlohmann::json{{"url", "https://bench.example/page/" + std::to_string(p)}, {"title", title}, {"text", text}}.dump()
          << "\n";
    }
  }
  const auto corpus_bytes = fs::file_size(corpus);
  tfgrpo::IndexBuildOptions options;
  options.corpus = corpus;
  options.out = dir / "index.db";
  auto summary = tfgrpo::BuildIndex(options);
  if (!summary.ok()) {
    std::fprintf(stderr, "build failed: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  std::printf("index build: %lld pages (%.1f MB JSONL) in %.2f s = %.0f pages/s; index %.1f MB\n",
              static_cast<long long>(summary->pages), corpus_bytes / 1e6, summary->seconds,
              summary->pages / summary->seconds, fs::file_size(options.out) / 1e6);
  auto index = tfgrpo::SearchIndex::Open(options.out);
  if (!index.ok()) return 1;
  std::vector<double> ms;
  size_t total_hits = 0;
  for (int q = 0; q < queries; ++q) {
    std::string query;
    const int n = 2 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) query += (i ? " " : "") + word();
    const auto t0 = std::chrono::steady_clock::now();
    auto hits = (*index)->Search(query, 10);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (hits.ok()) total_hits += hits->size();
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
  std::printf("search (top 10, %d queries of 2-5 words, %.1f hits avg): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              queries, static_cast<double>(total_hits) / queries, pct(0.50), pct(0.99), ms.back());
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
