// Okapi BM25 over a library's experiences: the ranking retrieval uses without any model.

#include <algorithm>
#include <cctype>
#include <cmath>

#include "tfgrpo/retrieval.h"

namespace tfgrpo {
namespace {

constexpr double kK1 = 1.2;
constexpr double kB = 0.75;

bool IsTermByte(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

}  // namespace

std::vector<std::string> Bm25Terms(std::string_view text) {
  std::vector<std::string> terms;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !IsTermByte(static_cast<unsigned char>(text[i]))) ++i;
    size_t start = i;
    while (i < text.size() && IsTermByte(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) {
      std::string term(text.substr(start, i - start));
      for (char& c : term)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      terms.push_back(std::move(term));
    }
  }
  return terms;
}

Bm25Index::Bm25Index(const std::vector<std::string>& documents) {
  doc_length_.reserve(documents.size());
  uint64_t total_length = 0;
  for (uint32_t d = 0; d < documents.size(); ++d) {
    std::vector<std::string> words = Bm25Terms(documents[d]);
    doc_length_.push_back(static_cast<uint32_t>(words.size()));
    total_length += words.size();
    std::sort(words.begin(), words.end());
    for (size_t i = 0; i < words.size();) {
      size_t j = i;
      while (j < words.size() && words[j] == words[i]) ++j;
      auto [it, inserted] = term_ids_.try_emplace(words[i], static_cast<uint32_t>(terms_.size()));
      if (inserted) terms_.emplace_back();
      terms_[it->second].postings.push_back({d, static_cast<uint32_t>(j - i)});
      i = j;
    }
  }
  mean_length_ = documents.empty() ? 0 : static_cast<double>(total_length) / documents.size();
  const double n = static_cast<double>(documents.size());
  for (Term& t : terms_) {
    const double df = static_cast<double>(t.postings.size());
    t.idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));  // never negative (the "+1" variant)
  }
}

std::vector<double> Bm25Index::Scores(std::string_view query) const {
  std::vector<double> scores(size(), 0.0);
  if (scores.empty()) return scores;
  std::vector<std::string> words = Bm25Terms(query);
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());  // a repeated word counts once
  const double mean = mean_length_ > 0 ? mean_length_ : 1;
  for (const std::string& w : words) {
    auto it = term_ids_.find(w);
    if (it == term_ids_.end()) continue;
    const Term& t = terms_[it->second];
    for (const Posting& p : t.postings) {
      const double tf = p.tf;
      const double norm = kK1 * (1 - kB + kB * doc_length_[p.doc] / mean);
      scores[p.doc] += t.idf * tf * (kK1 + 1) / (tf + norm);
    }
  }
  return scores;
}

std::vector<size_t> Bm25Index::TopK(std::string_view query, size_t k) const {
  return TopPositions(Scores(query), k);
}

std::vector<size_t> TopPositions(const std::vector<double>& scores, size_t k) {
  k = std::min(k, scores.size());
  auto better = [&](size_t a, size_t b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a < b; };
  // Most documents of a large library share no term with a query: only the scored ones are
  // sorted, and zero scores fill up in position order.
  std::vector<size_t> order;
  for (size_t i = 0; i < scores.size(); ++i)
    if (scores[i] > 0) order.push_back(i);
  if (order.size() > k) {
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), better);
    order.resize(k);
    return order;
  }
  std::sort(order.begin(), order.end(), better);
  for (size_t i = 0; i < scores.size() && order.size() < k; ++i)
    if (!(scores[i] > 0)) order.push_back(i);
  return order;
}

}  // namespace tfgrpo
