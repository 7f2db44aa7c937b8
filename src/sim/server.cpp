// SimServer: SimModel behind cpp-httplib on 127.0.0.1, with per-attempt latency and faults
// drawn from a stream seeded by (seed, attempt number), and a log of every chat request.
#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "sim/sim_internal.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

namespace {

// Enough workers for the engine's default 64 requests in flight, each possibly holding a
// keep-alive connection, plus headroom for a test client or a health probe.
constexpr size_t kWorkerThreads = 128;
// The log is for tests and debugging; a long-running server keeps only the most recent entries.
constexpr size_t kMaxLogEntries = size_t{1} << 18;

enum class Fault { kNone, kTooManyRequests, kInternalError, kUnavailable, kInvalidJson, kDrop };
constexpr int kFaultKinds = 5;

std::string ErrorBody(const std::string& message, const std::string& type,
                      const std::string& code) {
  return nlohmann::json{{"error", {{"message", message}, {"type", type}, {"code", code}}}}.dump();
}

}  // namespace

struct SimServer::Impl {
  SimOptions options;
  SimModel model;
  std::unique_ptr<httplib::Server> server;
  std::thread listener;
  int port = 0;
  std::atomic<int64_t> requests{0};
  // Latency sleeps wake up early on Stop(), so stopping never waits out a heavy-tail draw.
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  mutable std::mutex log_mu;
  std::deque<SimRequestLog> log;

  explicit Impl(SimOptions o) : options(o), model(o) {}

  void Record(SimRequestLog entry) {
    std::lock_guard<std::mutex> lock(log_mu);
    log.push_back(std::move(entry));
    if (log.size() > kMaxLogEntries) log.pop_front();
  }

  // Latency and fault draws for HTTP attempt number `attempt`: independent of the answer, so a
  // fault never changes what a later successful attempt returns.
  void DrawAttempt(int64_t attempt, Fault* fault, double* latency_ms) {
    uint64_t state =
        options.seed ^ 0x5eedfa17d00dULL ^ (static_cast<uint64_t>(attempt) * 0x9e3779b97f4a7c15ULL);
    SplitMix64(state);
    *fault = Fault::kNone;
    if (UnitDouble(state) < options.fault_rate) {
      *fault = static_cast<Fault>(1 + SplitMix64(state) % kFaultKinds);
    }
    *latency_ms = 0;
    if (options.latency_ms_mean > 0) {
      // Log-normal with sigma 1: mean = exp(mu + 1/2). Box-Muller for the normal draw.
      double u1 = std::max(UnitDouble(state), 1e-12), u2 = UnitDouble(state);
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2);
      double mu = std::log(options.latency_ms_mean) - 0.5;
      // The cap trims the far tail (about 0.3% of draws) and moves the mean by about 1%.
      *latency_ms = std::min(std::exp(mu + z), 10 * options.latency_ms_mean);
    }
  }

  void HandleChat(const httplib::Request& req, httplib::Response& res) {
    int64_t attempt = requests.fetch_add(1);
    SimRequestLog entry;
    entry.role = req.get_header_value(std::string(kRoleHeader).c_str());
    entry.call_id = req.get_header_value(std::string(kCallIdHeader).c_str());
    entry.body_fingerprint = Fingerprint(req.body);

    auto body = nlohmann::json::parse(req.body, nullptr, false);
    std::string problem;
    if (body.is_discarded()) {
      problem = "request body is not valid JSON";
    } else if (!body.is_object()) {
      problem = "request body must be a JSON object";
    } else if (!body.contains("messages") || !body["messages"].is_array() ||
               body["messages"].empty()) {
      problem = "'messages' must be a non-empty array";
    } else {
      // Strict like OpenAI's API, so an agent loop that mangles its tool turns fails here too.
      problem = sim_internal::ToolHistoryProblem(body["messages"]);
    }
    if (!problem.empty()) {
      res.status = 400;
      res.set_content(ErrorBody(problem, "invalid_request_error", "invalid_request"),
                      "application/json");
      entry.status = 400;
      Record(std::move(entry));
      return;
    }

    Fault fault;
    double latency_ms;
    DrawAttempt(attempt, &fault, &latency_ms);
    if (latency_ms > 0) {
      std::unique_lock<std::mutex> lock(stop_mu);
      stop_cv.wait_for(lock, std::chrono::microseconds(static_cast<int64_t>(latency_ms * 1000)),
                       [this] { return stopping; });
    }

    switch (fault) {
      case Fault::kTooManyRequests:
        res.status = 429;
        res.set_header("Retry-After", "0");
        res.set_content(
            ErrorBody("simulated rate limit", "rate_limit_error", "rate_limit_exceeded"),
            "application/json");
        break;
      case Fault::kInternalError:
        res.status = 500;
        res.set_content(ErrorBody("simulated internal error", "server_error", "internal_error"),
                        "application/json");
        break;
      case Fault::kUnavailable:
        res.status = 503;
        res.set_content(ErrorBody("simulated overload", "server_error", "service_unavailable"),
                        "application/json");
        break;
      case Fault::kInvalidJson:
        res.status = 200;
        res.set_content(
            R"({"id": "chatcmpl-sim-broken", "object": "chat.completion", "choices": [{"ind)",
            "application/json");
        break;
      case Fault::kDrop:
        // Promise a body, then abort: the client sees the connection close mid-response.
        res.status = 200;
        res.set_content_provider(4096, "application/json",
                                 [](size_t, size_t, httplib::DataSink&) { return false; });
        break;
      case Fault::kNone: {
        nlohmann::json reply = model.Respond(body, entry.role, entry.call_id);
        res.status = 200;
        auto is_true = [](const nlohmann::json& object, const char* key) {
          const auto it = object.find(key);
          return it != object.end() && it->is_boolean() && it->get<bool>();
        };
        if (is_true(body, "stream")) {
          const auto options = body.find("stream_options");
          const bool include_usage = options != body.end() && options->is_object() && is_true(*options, "include_usage");
          res.set_content(sim_internal::CompletionEventStream(reply, include_usage), "text/event-stream");
        } else {
          res.set_content(reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                          "application/json");
        }
        break;
      }
    }
    entry.status = fault == Fault::kDrop ? 0 : res.status;
    Record(std::move(entry));
  }
};

SimServer::SimServer(SimOptions options) : impl_(std::make_unique<Impl>(options)) {}

SimServer::~SimServer() { Stop(); }

Status SimServer::Start(int port) {
  if (impl_->server)
    return Status::InvalidArgument("simulator already started on port " +
                                   std::to_string(impl_->port));
  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  // Replies are written in two parts; without nodelay each waits ~40 ms for a delayed ACK.
  server->set_tcp_nodelay(true);
  // An idle keep-alive connection holds a worker (and Stop()) until this timeout.
  server->set_keep_alive_timeout(1);
  server->set_keep_alive_max_count(1000);
  // httplib's default sets SO_REUSEPORT, which would let a second simulator share a port that
  // is in use; SO_REUSEADDR alone still allows a quick restart on a port in TIME_WAIT.
  auto listen_fd = std::make_shared<std::atomic<int>>(-1);
  server->set_socket_options([listen_fd](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd->store(sock);
  });
  Impl* impl = impl_.get();
  server->Post("/v1/chat/completions", [impl](const httplib::Request& req, httplib::Response& res) {
    impl->HandleChat(req, res);
  });
  server->Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
    nlohmann::json models = {{"object", "list"},
                             {"data", nlohmann::json::array({{{"id", "sim-1"},
                                                              {"object", "model"},
                                                              {"created", 0},
                                                              {"owned_by", "tfgrpo-sim"}}})}};
    res.set_content(models.dump(), "application/json");
  });
  server->Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  server->set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        res.set_content(ErrorBody("no route for " + req.method + " " + req.path,
                                  "invalid_request_error", "not_found"),
                        "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));

  int bound = 0;
  if (port == 0) {
    bound = server->bind_to_any_port("127.0.0.1");
    if (bound <= 0) return Status::Unavailable("simulator: cannot bind a free port on 127.0.0.1");
  } else {
    if (port < 0 || port > 65535)
      return Status::InvalidArgument("simulator: port " + std::to_string(port) + " out of range");
    if (!server->bind_to_port("127.0.0.1", port)) {
      return Status::Unavailable("simulator: cannot bind 127.0.0.1:" + std::to_string(port) +
                                 " (in use?)");
    }
    bound = port;
  }
  // httplib 0.11 listens with a backlog of 5: a burst of 64 new connections overflows it and
  // the dropped handshakes stall for a SYN retransmit. Calling listen() again on the bound
  // socket raises the backlog (Linux).
  if (listen_fd->load() >= 0) ::listen(listen_fd->load(), SOMAXCONN);
  httplib::Server* raw = server.get();
  {
    std::lock_guard<std::mutex> lock(impl_->stop_mu);
    impl_->stopping = false;
  }
  impl_->port = bound;
  impl_->server = std::move(server);
  impl_->listener = std::thread([raw] { raw->listen_after_bind(); });
  // The socket already accepts connections after bind; wait for the accept loop too, so that a
  // Stop() right after Start() never races with listen_after_bind() starting up.
  for (int i = 0; i < 2000 && !raw->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!raw->is_running()) {
    Stop();
    return Status::Internal("simulator: server did not start listening on port " +
                            std::to_string(bound));
  }
  return Status::Ok();
}

void SimServer::Stop() {
  if (!impl_->server) return;
  {
    std::lock_guard<std::mutex> lock(impl_->stop_mu);
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  impl_->server->stop();
  if (impl_->listener.joinable()) impl_->listener.join();
  impl_->server.reset();
}

int SimServer::port() const { return impl_->port; }

std::string SimServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + "/v1";
}

std::vector<SimRequestLog> SimServer::RequestLog() const {
  std::lock_guard<std::mutex> lock(impl_->log_mu);
  return {impl_->log.begin(), impl_->log.end()};
}

int64_t SimServer::requests() const { return impl_->requests.load(); }

}  // namespace tfgrpo
