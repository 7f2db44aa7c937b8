// The embeddings client (POST {base_url}/embeddings over the shared transport and its one retry
// rule) and the strict reading of its replies: an endpoint is untrusted input.

#include <cmath>
#include <string>

#include "tfgrpo/json.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

Status BadReply(const std::string& what) {
  return Status::ProviderError("embeddings reply: " + what);
}

std::string HeaderSafe(std::string_view value) {
  std::string out;
  for (char c : value)
    if (c != '\r' && c != '\n') out.push_back(c);
  return out;
}

}  // namespace

Result<std::vector<std::vector<float>>> ParseEmbeddingsReply(std::string_view body, size_t expected) {
  const nlohmann::json j = ParseUntrustedJson(body);
  if (j.is_discarded()) return BadReply("not JSON (or nested too deep)");
  auto data = j.is_object() ? j.find("data") : j.end();
  if (!j.is_object() || data == j.end() || !data->is_array())
    return BadReply("expected an object with a \"data\" array");
  if (data->size() != expected)
    return BadReply(std::to_string(data->size()) + " vectors for " + std::to_string(expected) + " inputs");
  std::vector<std::vector<float>> out(expected);
  std::vector<bool> filled(expected, false);
  size_t dimension = 0;
  for (size_t i = 0; i < data->size(); ++i) {
    const nlohmann::json& item = (*data)[i];
    const std::string where = "data[" + std::to_string(i) + "]";
    if (!item.is_object()) return BadReply(where + ": expected an object");
    size_t index = i;
    if (auto idx = item.find("index"); idx != item.end()) {
      if (!idx->is_number_unsigned() || idx->get<uint64_t>() >= expected)
        return BadReply(where + ".index: expected an integer below " + std::to_string(expected));
      index = static_cast<size_t>(idx->get<uint64_t>());
    }
    if (filled[index]) return BadReply(where + ".index: " + std::to_string(index) + " given twice");
    auto emb = item.find("embedding");
    if (emb == item.end() || !emb->is_array()) return BadReply(where + ".embedding: expected an array of numbers");
    if (emb->empty()) return BadReply(where + ".embedding: empty");
    if (emb->size() > kMaxEmbeddingDimension)
      return BadReply(where + ".embedding: " + std::to_string(emb->size()) + " dimensions, more than " +
                      std::to_string(kMaxEmbeddingDimension));
    if (dimension == 0) dimension = emb->size();
    if (emb->size() != dimension)
      return BadReply(where + ".embedding: " + std::to_string(emb->size()) + " dimensions, the first vector has " +
                      std::to_string(dimension));
    std::vector<float>& v = out[index];
    v.reserve(dimension);
    for (const nlohmann::json& x : *emb) {
      const double d = x.is_number() ? x.get<double>() : NAN;
      const float f = static_cast<float>(d);
      if (!std::isfinite(f)) return BadReply(where + ".embedding: a value that is not a finite number");
      v.push_back(f);
    }
    filled[index] = true;
  }
  return out;
}

Result<std::vector<std::vector<float>>> EmbeddingsClient::Embed(const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  std::string base = endpoint_.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + "/embeddings";
  const std::string& key = endpoint_.api_key;
  const size_t batch = std::max<size_t>(1, endpoint_.max_batch);
  for (size_t from = 0; from < texts.size(); from += batch) {
    const size_t n = std::min(batch, texts.size() - from);
    nlohmann::json input = nlohmann::json::array();
    for (size_t i = 0; i < n; ++i) input.push_back(texts[from + i]);
    HttpRequest http;
    http.method = "POST";
    http.url = url;
    http.body = nlohmann::json{{"model", endpoint_.model}, {"input", std::move(input)}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    http.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    if (!key.empty()) http.headers.push_back({"Authorization", "Bearer " + HeaderSafe(key)});
    http.timeout_s = endpoint_.timeout_s;
    http.max_response_bytes = endpoint_.max_reply_bytes;
    http.secret = key;
    RetryPolicy policy;
    policy.max_retries = endpoint_.max_retries;
    policy.backoff_initial_s = endpoint_.backoff_initial_s;
    std::vector<std::vector<float>> parsed;
    // A 2xx whose body is unusable is the server's answer, not a hiccup: not retried.
    policy.check_response = [&](const HttpResponse& r) {
      auto vectors = ParseEmbeddingsReply(r.body, n);
      if (!vectors.ok()) return Status::ProviderError(RedactSecret(vectors.status().message() + " (from " + url + ")", key));
      parsed = std::move(vectors).value();
      return Status::Ok();
    };
    auto sent = SendWithRetry(transport_, http, policy);
    if (!sent.ok()) return sent.status();
    if (sent->status < 200 || sent->status >= 300) return HttpStatusError(*sent, key);
    for (auto& v : parsed) out.push_back(std::move(v));
  }
  return out;
}

}  // namespace tfgrpo
