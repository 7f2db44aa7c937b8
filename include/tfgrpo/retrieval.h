// Retrieval (retrieval.top_k > 0): which experiences a rollout's prompt holds. Ranks the library
// against the task's text with BM25 (embedded, no model) or an embeddings endpoint, renders the
// chosen ones after the instructions with their own [G<n>] ids (AppendLibrary), and restricts
// per-experience credit to what a rollout saw. Learner prompts are not its business: they see all.
// Threading: Bm25Index is immutable once built; Retriever and the caches are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tfgrpo/config.h"
#include "tfgrpo/http.h"
#include "tfgrpo/library.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

class RunStore;

// ---- BM25 -------------------------------------------------------------------------------------

// The terms BM25 matches on: maximal runs of ASCII letters and digits, lowercased, and of
// non-ASCII bytes (a UTF-8 word stays whole). Everything else separates terms.
std::vector<std::string> Bm25Terms(std::string_view text);

// Okapi BM25 (k1 = 1.2, b = 0.75) over a fixed set of documents, with an inverted index so a
// query costs only the postings of its terms.
class Bm25Index {
 public:
  Bm25Index() = default;
  explicit Bm25Index(const std::vector<std::string>& documents);
  size_t size() const { return doc_length_.size(); }
  // One score per document (0 when it shares no term with the query).
  std::vector<double> Scores(std::string_view query) const;
  // The positions of the k best documents, best first; equal scores (documents sharing no term
  // with the query included) in position order. k >= size(): every position.
  std::vector<size_t> TopK(std::string_view query, size_t k) const;

 private:
  struct Posting {
    uint32_t doc;
    uint32_t tf;
  };
  struct Term {
    std::vector<Posting> postings;
    double idf = 0;
  };
  std::vector<Term> terms_;
  std::unordered_map<std::string, uint32_t> term_ids_;
  std::vector<uint32_t> doc_length_;
  double mean_length_ = 0;
};

// The k best positions of `scores`, best first, equal scores in position order (k >= size: all).
std::vector<size_t> TopPositions(const std::vector<double>& scores, size_t k);

// ---- Embeddings -------------------------------------------------------------------------------

// Longest vector accepted from an endpoint (text-embedding-3-large has 3072 dimensions).
inline constexpr size_t kMaxEmbeddingDimension = 16384;

struct EmbeddingsEndpoint {
  std::string base_url;  // POST {base_url}/embeddings
  std::string model;
  std::string api_key;   // "" = no Authorization header; redacted from every error
  double timeout_s = 60;
  int max_retries = 6;   // THE retry rule of tfgrpo/http.h (429/5xx/network retried)
  double backoff_initial_s = 0.5;
  size_t max_batch = 128;                   // texts per request
  size_t max_reply_bytes = 64u << 20;       // a longer reply is refused (kProviderError)
};

// Parses an OpenAI-shaped embeddings reply for `expected` inputs:
// {"data": [{"index": i, "embedding": [numbers]}, ...]}, returned in index order (entries without
// "index" are taken in order). kProviderError naming what is wrong when it is not JSON, holds
// another number of vectors, an index twice or out of range, a vector of another dimension than
// the first, empty, longer than kMaxEmbeddingDimension, or with a value that is not a finite number.
Result<std::vector<std::vector<float>>> ParseEmbeddingsReply(std::string_view body, size_t expected);

// Thread-safe; the transport must outlive it.
class EmbeddingsClient {
 public:
  EmbeddingsClient(EmbeddingsEndpoint endpoint, HttpTransport& transport)
      : endpoint_(std::move(endpoint)), transport_(transport) {}
  // One vector per text, in order (batches of max_batch). Errors: SendWithRetry's (kUnavailable
  // after the retries), kUnauthorized for 401/403, kProviderError for another final status or
  // an unusable reply (ParseEmbeddingsReply).
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts);
  const std::string& model() const { return endpoint_.model; }

 private:
  EmbeddingsEndpoint endpoint_;
  HttpTransport& transport_;
};

// Where vectors outlive a process, keyed by embedding model and SHA-256 (hex) of the text.
class EmbeddingCache {
 public:
  virtual ~EmbeddingCache() = default;
  virtual std::optional<std::vector<float>> Find(const std::string& model, const std::string& text_sha256) = 0;
  virtual Status Record(const std::string& model, const std::string& text_sha256, const std::vector<float>& vector) = 0;
};
// In the run store's embeddings table (training and eval of a run dir; survives resume).
std::unique_ptr<EmbeddingCache> MakeRunStoreEmbeddingCache(RunStore& store);
// In a JSONL file ({"model","sha256","vector"} per line), read when made (a line that does not
// parse is skipped) and appended to by Record. `tfgrpo serve` keeps one next to the library.
Result<std::unique_ptr<EmbeddingCache>> MakeFileEmbeddingCache(const std::filesystem::path& path);
// "<library>.embeddings.jsonl": the cache file of a served library.
std::filesystem::path EmbeddingCacheFileFor(const std::filesystem::path& library_path);

// ---- The retriever ----------------------------------------------------------------------------

struct RetrievalStats {
  int64_t queries = 0;    // selections made with top_k > 0
  int64_t fallbacks = 0;  // of them ranked by BM25 because the embeddings call failed
  std::string last_fallback_reason;  // the last such failure (no secrets: the client redacts)
};

class Retriever {
 public:
  // `embeddings` (and `cache`, optional) only for RetrievalMethod::kEmbeddings; `cache` must
  // outlive the retriever.
  Retriever(int top_k, RetrievalMethod method, std::unique_ptr<EmbeddingsClient> embeddings = nullptr,
            EmbeddingCache* cache = nullptr);
  // The retriever `config.retrieval` asks for; null when top_k is 0. Embeddings go to
  // retrieval.embeddings.base_url (else model.base_url) with the key in its api_key_env (else
  // the model's key), model.timeout_s and model.max_retries.
  static std::unique_ptr<Retriever> FromConfig(const Config& config, HttpTransport& transport,
                                               EmbeddingCache* cache);

  int top_k() const { return top_k_; }
  // Whether query vectors go to the cache too (default true: a run's task texts recur). The
  // proxy turns it off: its queries are users' messages, which must not pile up in a file.
  void set_cache_queries(bool on) { cache_queries_ = on; }
  // Indexes a library version, replacing the last. With embeddings, its experiences' vectors
  // are taken from the cache or computed once here; if that fails, every query of this version
  // is ranked by BM25 (each counted as a fallback).
  void SetLibrary(const Library& library);
  // For each query, the positions of the experiences its prompt shows, in library order: the
  // top_k most relevant, or every position when top_k is 0 or at least the library's size.
  // Query embeddings are cached per text; a failed embeddings call falls back to BM25 for the
  // queries it carried, counted.
  std::vector<std::vector<size_t>> SelectMany(const std::vector<std::string>& queries);
  std::vector<size_t> Select(const std::string& query);
  RetrievalStats stats() const;

 private:
  struct Version;
  std::shared_ptr<const Version> Current() const;
  void Fallback(int64_t queries, const Status& why);
  // Vectors for `texts`, from the cache or one batch of calls (recorded in the cache).
  Result<std::vector<std::vector<float>>> Embeddings(const std::vector<std::string>& texts, bool use_cache);

  const int top_k_;
  const RetrievalMethod method_;
  std::unique_ptr<EmbeddingsClient> embeddings_;
  EmbeddingCache* cache_;
  bool cache_queries_ = true;
  mutable std::mutex mu_;
  std::shared_ptr<const Version> version_;
  RetrievalStats stats_;
};

// What the rollout prompts of a set of tasks hold: per task, the system prompt (the instructions,
// then the library or the task's retrieved part of it, AppendLibrary) and the positions shown.
// Without a retriever (top_k 0) every task gets the whole library. With one, it is first indexed
// on `library` (SetLibrary) and each task's text is its query.
struct RolloutPrompts {
  std::vector<std::string> system_prompts;
  std::vector<std::vector<size_t>> seen;
};
RolloutPrompts PromptsForTasks(Retriever* retriever, const std::string& instructions, const Library& library,
                               const std::vector<std::string>& task_texts);

// Every position of a library of `size` experiences, in order (what top_k 0 shows).
std::vector<size_t> AllPositions(size_t size);

// The experiences a rollout may be credited for: those of `referenced` (ReferencedExperiences of
// its summary) that are in `seen` (what its prompt held), in `referenced` order. A summary that
// names an experience its rollout never saw earns that experience nothing.
std::vector<size_t> CreditableExperiences(const std::vector<size_t>& referenced, const std::vector<size_t>& seen);

// ["G1","G4"]: RolloutRecord::experiences_seen for the positions a prompt held.
std::string SeenIdsJson(const std::vector<size_t>& seen);

}  // namespace tfgrpo
