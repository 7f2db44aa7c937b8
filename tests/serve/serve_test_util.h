// Helpers for the `tfgrpo serve` tests: a purpose-built upstream on 127.0.0.1 (any httplib
// handlers), a temporary experiences file, and a proxy started in-process on a free port.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "local_http_server.h"
#include "tfgrpo/library.h"
#include "tfgrpo/serve.h"
#include "tfgrpo/util.h"

namespace tfgrpo::serve_testing {

// Register handlers on server(), then Start(). Stops and joins on destruction.
class Upstream : public testing::LocalHttpServer {
 public:
  Upstream() : LocalHttpServer(16) {}
};

// What an echoing upstream received for one request.
struct Received {
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// An upstream whose chat endpoint records each request and answers a chat completion whose
// content is the system message it received (first message with role "system", else "").
class EchoUpstream : public Upstream {
 public:
  EchoUpstream() {
    server().Post("/v1/chat/completions", [this](const httplib::Request& req,
                                                 httplib::Response& res) {
      Received r;
      r.body = req.body;
      for (const auto& [k, v] : req.headers) r.headers[ToLower(k)] = v;
      std::string system;
      auto body = nlohmann::json::parse(req.body, nullptr, false);
      if (!body.is_discarded() && body.contains("messages") && body["messages"].is_array()) {
        for (const auto& m : body["messages"]) {
          if (m.value("role", "") == "system" && m.contains("content") &&
              m["content"].is_string()) {
            system = m["content"];
            break;
          }
        }
      }
      {
        std::lock_guard lock(mu_);
        received_.push_back(std::move(r));
      }
      nlohmann::json reply = {
          {"id", "chatcmpl-echo"},
          {"object", "chat.completion"},
          {"choices", {{{"index", 0},
                        {"message", {{"role", "assistant"}, {"content", system}}},
                        {"finish_reason", "stop"}}}},
          {"usage", {{"prompt_tokens", 11}, {"completion_tokens", 7},
                     {"prompt_tokens_details", {{"cached_tokens", 5}}}}}};
      res.set_content(reply.dump(), "application/json");
    });
  }
  std::vector<Received> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Received> received_;
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tfgrpo-serve-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline Library MakeLibrary(const std::vector<std::string>& texts) {
  std::vector<Experience> items;
  for (const auto& t : texts) items.push_back(Experience{t, -1, ""});
  return Library(std::move(items));
}

inline Library DefaultLibrary() {
  return MakeLibrary({"Check whether a range's endpoints are inclusive before counting.",
                      "Re-read the question for the unit it asks for.",
                      "Verify the answer by substituting it back."});
}

inline ServeOptions OptionsFor(const std::filesystem::path& experiences,
                               const std::string& upstream) {
  ServeOptions o;
  o.experiences = experiences;
  o.upstream = upstream;
  o.listen_host = "127.0.0.1";
  o.listen_port = 0;
  o.threads = 16;
  o.reload_poll = std::chrono::milliseconds(20);
  return o;
}

inline std::unique_ptr<httplib::Client> ClientFor(const ProxyServer& proxy) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", proxy.port());
  c->set_read_timeout(10, 0);
  c->set_keep_alive(false);
  c->set_tcp_nodelay(true);
  return c;
}

inline std::string ChatBody(const std::string& user, const std::string& system = "",
                            bool stream = false) {
  nlohmann::ordered_json body;
  body["model"] = "sim-1";
  body["messages"] = nlohmann::ordered_json::array();
  if (!system.empty()) body["messages"].push_back({{"role", "system"}, {"content", system}});
  body["messages"].push_back({{"role", "user"}, {"content", user}});
  if (stream) body["stream"] = true;
  return body.dump();
}

using testing::ClosedPort;

// The value of a metric line "NAME VALUE" in Prometheus text (-1 when absent).
inline double MetricValue(const std::string& text, const std::string& name) {
  for (const std::string& line : SplitLines(text)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ' ') {
      return std::stod(line.substr(name.size() + 1));
    }
  }
  return -1;
}

}  // namespace tfgrpo::serve_testing
