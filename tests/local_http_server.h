// A cpp-httplib server on 127.0.0.1 for tests (free port, stopped and joined on destruction), and
// a loopback port nothing listens on. Shared by every suite that needs a purpose-built peer.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <httplib.h>

namespace tfgrpo::testing {

// Register handlers on server(), then Start(). Stops and joins on destruction; declare clients
// after the server so their keep-alive connections close first.
class LocalHttpServer {
 public:
  // `threads` > 0 sizes the worker pool (tests that hold many requests open at once need more
  // than httplib's default).
  explicit LocalHttpServer(int threads = 0) {
    server_.set_keep_alive_timeout(1);
    // Without it, a reply written in two parts on a keep-alive connection waits ~40 ms for the
    // client's delayed ACK (Nagle).
    server_.set_tcp_nodelay(true);
    if (threads > 0) server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  }
  ~LocalHttpServer() { Stop(); }
  void Stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  httplib::Server& server() { return server_; }

  bool Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) return false;
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return server_.is_running();
  }
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

// A port on 127.0.0.1 that nothing listens on (bound, then closed).
inline int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

}  // namespace tfgrpo::testing
