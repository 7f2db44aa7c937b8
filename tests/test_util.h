// Helpers shared by the test binaries: scratch directories and a scripted ChatClient.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tfgrpo/llm.h"
#include "tfgrpo/status.h"

namespace tfgrpo::testing {

// The value of a Result a test reads (a run store's rows, say); a failed one fails the test, named
// by its status, and gives an empty value.
template <typename T>
T Must(Result<T> result) {
  if (!result.ok()) {
    ADD_FAILURE() << result.status().ToString();
    return T{};
  }
  return std::move(result).value();
}

// A fresh directory under /tmp, removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("tfgrpo-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Answers every request with `script`, and keeps a copy of each request for assertions.
class ScriptedClient : public ChatClient {
 public:
  using Script = std::function<Result<ChatResponse>(const ChatRequest&)>;
  explicit ScriptedClient(Script script) : script_(std::move(script)) {}

  Result<ChatResponse> Complete(const ChatRequest& request) override {
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
    }
    return script_(request);
  }
  std::vector<ChatRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<ChatRequest> requests(Role role) const {
    std::vector<ChatRequest> out;
    for (auto& r : requests())
      if (r.role == role) out.push_back(r);
    return out;
  }

 private:
  Script script_;
  mutable std::mutex mu_;
  std::vector<ChatRequest> requests_;
};

// What `pattern`'s first group captures in the first message of `r` it matches, or "": how the
// scripted clients tell which task a request is about.
inline std::string FirstCapture(const ChatRequest& r, const std::regex& pattern) {
  std::smatch m;
  for (const auto& msg : r.messages)
    if (std::regex_search(msg.content, m, pattern)) return m[1];
  return "";
}

inline ChatResponse Reply(std::string content) {
  ChatResponse r;
  r.content = std::move(content);
  r.message = {{"role", "assistant"}, {"content", r.content}};
  r.usage.prompt_tokens = 10;
  r.usage.completion_tokens = 5;
  return r;
}

// A batch update that keeps every proposal as proposed: echoes the pretty-printed proposal array
// of the consolidation prompt back as the reply.
inline ChatResponse KeepEveryProposal(const ChatRequest& r) {
  const std::string& p = r.messages.back().content;
  auto start = p.find("\n[\n"), end = p.find("\n]", start);
  return Reply("```json\n" + p.substr(start + 1, end + 1 - start) + "\n```");
}

}  // namespace tfgrpo::testing
