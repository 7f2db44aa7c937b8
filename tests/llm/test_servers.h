// Local servers for the LLM client tests: the shared cpp-httplib server (local_http_server.h) and
// a raw-socket server that drops the first N connections without answering.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include <httplib.h>

#include "local_http_server.h"

namespace tfgrpo::testing {

// Reads each request fully; closes the first `drops` connections without a byte of reply (the
// client sees "empty reply"), then answers every later one with `reply_body` (200, JSON).
class DroppingServer {
 public:
  DroppingServer(int drops, std::string reply_body)
      : drops_(drops), reply_body_(std::move(reply_body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~DroppingServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int connections() const { return connections_.load(); }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0) continue;
      int n = ++connections_;
      ReadRequest(conn);
      if (n > drops_) {
        std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Connection: close\r\nContent-Length: " +
                               std::to_string(reply_body_.size()) + "\r\n\r\n" + reply_body_;
        (void)!::write(conn, response.data(), response.size());
      }
      ::close(conn);
    }
  }

  static void ReadRequest(int conn) {
    std::string data;
    char buf[4096];
    size_t header_end = std::string::npos;
    size_t want = 0;
    for (int i = 0; i < 1000; ++i) {
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) return;
      ssize_t got = ::read(conn, buf, sizeof(buf));
      if (got <= 0) return;
      data.append(buf, static_cast<size_t>(got));
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end == std::string::npos) continue;
        std::string lower;
        for (char c : data.substr(0, header_end)) lower.push_back(static_cast<char>(std::tolower(c)));
        size_t cl = lower.find("content-length:");
        want = header_end + 4 + (cl == std::string::npos ? 0 : std::strtoul(lower.c_str() + cl + 15, nullptr, 10));
      }
      if (data.size() >= want) return;
    }
  }

  int drops_;
  std::string reply_body_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

}  // namespace tfgrpo::testing
