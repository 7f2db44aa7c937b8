// The retriever: one index per library version (BM25 always, the experiences' vectors too with
// method embeddings), the selection of each prompt's top_k, and the embedding caches.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>

#include "tfgrpo/json.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

class RunStoreCache final : public EmbeddingCache {
 public:
  explicit RunStoreCache(RunStore& store) : store_(store) {}
  std::optional<std::vector<float>> Find(const std::string& model, const std::string& sha) override {
    return store_.FindEmbedding(model, sha);
  }
  Status Record(const std::string& model, const std::string& sha, const std::vector<float>& v) override {
    return store_.RecordEmbedding(model, sha, v);
  }

 private:
  RunStore& store_;
};

class FileCache final : public EmbeddingCache {
 public:
  explicit FileCache(std::filesystem::path path) : path_(std::move(path)) {}
  Status Load() {
    std::ifstream in(path_);
    if (!in) return Status::Ok();  // no file yet
    std::string line;
    while (std::getline(in, line)) {
      nlohmann::json j = ParseUntrustedJson(line);
      if (!j.is_object() || !j.contains("model") || !j.contains("sha256") || !j.contains("vector")) continue;
      const auto& m = j["model"];
      const auto& s = j["sha256"];
      const auto& v = j["vector"];
      if (!m.is_string() || !s.is_string() || !v.is_array() || v.empty()) continue;
      std::vector<float> vec;
      bool good = true;
      for (const auto& x : v) {
        if (!x.is_number() || !std::isfinite(x.get<double>())) { good = false; break; }
        vec.push_back(x.get<float>());
      }
      if (good) entries_[{m.get<std::string>(), s.get<std::string>()}] = std::move(vec);
    }
    return Status::Ok();
  }
  std::optional<std::vector<float>> Find(const std::string& model, const std::string& sha) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find({model, sha});
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }
  Status Record(const std::string& model, const std::string& sha, const std::vector<float>& v) override {
    std::lock_guard lock(mu_);
    entries_[{model, sha}] = v;
    std::ofstream out(path_, std::ios::app);
    out << nlohmann::json{{"model", model}, {"sha256", sha}, {"vector", v}}.dump() << '\n';
    out.flush();
    if (!out) return Status::IoError("cannot append to the embedding cache " + path_.string());
    return Status::Ok();
  }

 private:
  std::filesystem::path path_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::vector<float>> entries_;
};

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0;
}

// Library order: the prompt reads like the whole library with lines left out, and two tasks
// retrieving the same experiences get the same bytes.
std::vector<size_t> InLibraryOrder(std::vector<size_t> positions) {
  std::sort(positions.begin(), positions.end());
  return positions;
}

std::string EnvValue(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  return value ? Trim(value) : std::string();
}

}  // namespace

std::unique_ptr<EmbeddingCache> MakeRunStoreEmbeddingCache(RunStore& store) {
  return std::make_unique<RunStoreCache>(store);
}

Result<std::unique_ptr<EmbeddingCache>> MakeFileEmbeddingCache(const std::filesystem::path& path) {
  auto cache = std::make_unique<FileCache>(path);
  if (Status s = cache->Load(); !s.ok()) return s;
  return std::unique_ptr<EmbeddingCache>(std::move(cache));
}

std::filesystem::path EmbeddingCacheFileFor(const std::filesystem::path& library_path) {
  return library_path.string() + ".embeddings.jsonl";
}

std::vector<size_t> AllPositions(size_t size) {
  std::vector<size_t> all(size);
  for (size_t i = 0; i < size; ++i) all[i] = i;
  return all;
}

std::vector<size_t> CreditableExperiences(const std::vector<size_t>& referenced, const std::vector<size_t>& seen) {
  std::vector<size_t> out;
  for (size_t r : referenced)
    if (std::find(seen.begin(), seen.end(), r) != seen.end()) out.push_back(r);
  return out;
}

RolloutPrompts PromptsForTasks(Retriever* retriever, const std::string& instructions, const Library& library,
                               const std::vector<std::string>& task_texts) {
  RolloutPrompts out;
  if (!retriever || retriever->top_k() == 0) {
    // One string for every task: byte-identical prompts, as without retrieval.
    const std::string whole = AppendLibrary(instructions, library);
    out.system_prompts.assign(task_texts.size(), whole);
    out.seen.assign(task_texts.size(), AllPositions(library.size()));
    return out;
  }
  retriever->SetLibrary(library);
  out.seen = retriever->SelectMany(task_texts);
  for (const auto& seen : out.seen) out.system_prompts.push_back(AppendLibrary(instructions, library, seen));
  return out;
}

std::string SeenIdsJson(const std::vector<size_t>& seen) {
  nlohmann::json ids = nlohmann::json::array();
  for (size_t i : seen) ids.push_back("G" + std::to_string(i));
  return ids.dump();
}

struct Retriever::Version {
  size_t size = 0;
  std::vector<std::string> texts;
  Bm25Index bm25;
  std::vector<std::vector<float>> vectors;  // one per experience; empty: ranked by BM25
  Status embeddings_failed;                 // why `vectors` is empty (method embeddings)
};

Retriever::Retriever(int top_k, RetrievalMethod method, std::unique_ptr<EmbeddingsClient> embeddings,
                     EmbeddingCache* cache)
    : top_k_(std::max(0, top_k)), method_(method), embeddings_(std::move(embeddings)), cache_(cache),
      version_(std::make_shared<Version>()) {}

std::unique_ptr<Retriever> Retriever::FromConfig(const Config& config, HttpTransport& transport,
                                                 EmbeddingCache* cache) {
  const RetrievalConfig& r = config.retrieval;
  if (r.top_k <= 0) return nullptr;
  std::unique_ptr<EmbeddingsClient> client;
  if (r.method == RetrievalMethod::kEmbeddings) {
    EmbeddingsEndpoint endpoint;
    endpoint.base_url = r.embeddings.base_url.empty() ? config.model.base_url : r.embeddings.base_url;
    endpoint.model = r.embeddings.model;
    endpoint.api_key = r.embeddings.api_key_env.empty() ? config.ApiKey() : EnvValue(r.embeddings.api_key_env);
    endpoint.timeout_s = config.model.timeout_s;
    endpoint.max_retries = config.model.max_retries;
    client = std::make_unique<EmbeddingsClient>(std::move(endpoint), transport);
  }
  return std::make_unique<Retriever>(r.top_k, r.method, std::move(client), cache);
}

std::shared_ptr<const Retriever::Version> Retriever::Current() const {
  std::lock_guard lock(mu_);
  return version_;
}

void Retriever::Fallback(int64_t queries, const Status& why) {
  std::lock_guard lock(mu_);
  if (stats_.fallbacks == 0 || stats_.last_fallback_reason != why.ToString())
    spdlog::warn("retrieval: embeddings failed, ranking by bm25 instead: {}", why.ToString());
  stats_.fallbacks += queries;
  stats_.last_fallback_reason = why.ToString();
}

Result<std::vector<std::vector<float>>> Retriever::Embeddings(const std::vector<std::string>& texts, bool use_cache) {
  EmbeddingCache* cache = use_cache ? cache_ : nullptr;
  if (!embeddings_) return Status::Internal("retrieval method embeddings without an endpoint");
  const std::string& model = embeddings_->model();
  std::vector<std::vector<float>> out(texts.size());
  std::vector<std::string> missing;
  std::vector<size_t> missing_at;
  std::vector<std::string> shas(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    shas[i] = Sha256Hex(texts[i]);
    std::optional<std::vector<float>> hit = cache ? cache->Find(model, shas[i]) : std::nullopt;
    if (hit) {
      out[i] = std::move(*hit);
    } else {
      missing.push_back(texts[i]);
      missing_at.push_back(i);
    }
  }
  if (!missing.empty()) {
    auto fresh = embeddings_->Embed(missing);
    if (!fresh.ok()) return fresh.status();
    for (size_t m = 0; m < missing_at.size(); ++m) {
      const size_t i = missing_at[m];
      out[i] = std::move((*fresh)[m]);
      if (cache) {
        if (Status s = cache->Record(model, shas[i], out[i]); !s.ok())
          spdlog::warn("retrieval: cannot keep an embedding: {}", s.ToString());
      }
    }
  }
  return out;
}

void Retriever::SetLibrary(const Library& library) {
  auto v = std::make_shared<Version>();
  v->size = library.size();
  for (const Experience& e : library.items()) v->texts.push_back(e.text);
  v->bm25 = Bm25Index(v->texts);
  if (top_k_ > 0 && method_ == RetrievalMethod::kEmbeddings && v->size > static_cast<size_t>(top_k_)) {
    auto vectors = Embeddings(v->texts, /*use_cache=*/true);
    if (vectors.ok()) {
      v->vectors = std::move(vectors).value();
    } else {
      v->embeddings_failed = vectors.status();
    }
  }
  std::lock_guard lock(mu_);
  version_ = std::move(v);
}

std::vector<std::vector<size_t>> Retriever::SelectMany(const std::vector<std::string>& queries) {
  std::shared_ptr<const Version> v = Current();
  std::vector<std::vector<size_t>> out(queries.size());
  if (top_k_ == 0 || v->size <= static_cast<size_t>(top_k_)) {
    for (auto& o : out) o = AllPositions(v->size);
    return out;
  }
  {
    std::lock_guard lock(mu_);
    stats_.queries += static_cast<int64_t>(queries.size());
  }
  const size_t k = static_cast<size_t>(top_k_);
  if (method_ == RetrievalMethod::kEmbeddings) {
    Status why = v->embeddings_failed;
    if (why.ok() && !queries.empty()) {
      auto query_vectors = Embeddings(queries, cache_queries_);
      if (query_vectors.ok()) {
        for (size_t q = 0; q < queries.size() && why.ok(); ++q) {
          const std::vector<float>& qv = (*query_vectors)[q];
          if (qv.size() != v->vectors.front().size()) {
            why = Status::ProviderError("embeddings reply: a query vector of " + std::to_string(qv.size()) +
                                        " dimensions for experiences of " + std::to_string(v->vectors.front().size()));
            break;
          }
          std::vector<double> scores(v->size);
          for (size_t d = 0; d < v->size; ++d) scores[d] = Cosine(qv, v->vectors[d]);
          out[q] = InLibraryOrder(TopPositions(scores, k));
        }
        if (why.ok()) return out;
      } else {
        why = query_vectors.status();
      }
    }
    Fallback(static_cast<int64_t>(queries.size()), why);
  }
  for (size_t q = 0; q < queries.size(); ++q) out[q] = InLibraryOrder(v->bm25.TopK(queries[q], k));
  return out;
}

std::vector<size_t> Retriever::Select(const std::string& query) { return SelectMany({query}).front(); }

RetrievalStats Retriever::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace tfgrpo
