// The agent gateway (gateway.h): an HTTP front door on serve's GuardedHttpServer with per-lease
// tokens, the OpenAI routes under /r/<token>/v1 and bare /v1 (bearer), and one upstream call per
// agent request through the run's ChatClient stack.

#include <openssl/rand.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <unordered_map>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "gateway/agent_request.h"
#include "gateway/chat_stream.h"
#include "serve/guarded_server.h"
#include "serve/request_body.h"
#include "tfgrpo/gateway.h"
#include "tfgrpo/json.h"
#include "tfgrpo/responses_api.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/serve.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

using serve_internal::ErrorBody;
using serve_internal::FrontLimits;
using serve_internal::GuardedHttpServer;
using serve_internal::HeadError;
using serve_internal::ParseRequestBody;
using serve_internal::ReadBody;
using serve_internal::RejectTooLarge;
using serve_internal::SetError;
using gateway_internal::AgentChatRequest;
using gateway_internal::Endpoint;
using gateway_internal::ParseRoute;
using gateway_internal::Route;

namespace {

constexpr size_t kTokenBytes = 24;  // 192 bits
constexpr size_t kTokenLogPrefix = 6;

// Set while a response is one of ours, so the error hook leaves it alone (as in serve).
thread_local bool t_response_is_ours = false;

Result<std::string> NewToken() {
  unsigned char bytes[kTokenBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Status::Internal("the random token generator failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  token.reserve(2 * sizeof bytes);
  for (unsigned char b : bytes) {
    token += kHex[b >> 4];
    token += kHex[b & 15];
  }
  return token;
}

std::string TokenForLogs(std::string_view token) {
  return std::string(token.substr(0, std::min(token.size(), kTokenLogPrefix))) + "...";
}

// What an upstream failure looks like to the agent: the provider's status when the stack kept
// it (a 429 with its Retry-After), else a status for the kind of failure.
struct AgentError {
  int status = 500;
  std::string type;
  std::string code;
  std::string message;
  std::optional<double> retry_after_s;
};

AgentError ErrorForUpstream(const Status& s) {
  AgentError e;
  e.message = s.message();
  e.code = "upstream_error";
  if (s.code() == Status::Code::kBudgetExhausted) {
    e.status = 429;
    e.type = "insufficient_quota";
    e.code = "budget_exhausted";
    return e;
  }
  int http_status = s.http_status();
  if (http_status == 0) {
    // A client stack that did not carry the status (a decorator rebuilding the Status) still
    // names it: "HTTP 429 from ...", "last error: HTTP 503: ...".
    static const std::regex kHttpStatus(R"(HTTP ([45]\d\d)\b)");
    std::smatch m;
    if (std::regex_search(s.message(), m, kHttpStatus)) http_status = std::stoi(m[1].str());
  }
  if (http_status >= 400 && http_status <= 599) {
    e.status = http_status;
    e.retry_after_s = s.retry_after_s();
  } else {
    switch (s.code()) {
      case Status::Code::kTimeout: e.status = 504; break;
      case Status::Code::kUnauthorized: e.status = 401; break;
      case Status::Code::kNotFound: e.status = 404; break;
      case Status::Code::kInvalidArgument:
      case Status::Code::kProviderError: e.status = s.code() == Status::Code::kInvalidArgument ? 400 : 502; break;
      case Status::Code::kCancelled: e.status = 503; break;
      default: e.status = 502; break;
    }
  }
  e.type = e.status == 429 ? "rate_limit_error" : e.status >= 500 ? "server_error" : "invalid_request_error";
  return e;
}

void SetAgentError(httplib::Response& res, const AgentError& e) {
  SetError(res, e.status, e.message, e.type, e.code);
  if (e.retry_after_s) {
    res.set_header("Retry-After", std::to_string(static_cast<int64_t>(std::ceil(std::max(0.0, *e.retry_after_s)))));
  }
}

void RejectUnknownToken(httplib::Response& res) {
  res.set_header("WWW-Authenticate", "Bearer");
  SetError(res, 401,
           "unknown or expired token: each rollout's OPENAI_API_KEY works only while that rollout runs",
           "invalid_request_error", "invalid_api_key");
}

}  // namespace

namespace gateway_internal {

struct LeaseState {
  std::string token;
  RolloutTicket ticket;
  // The run store's calls under "<rollout id>/a" at Open, then each call this lease got answered
  // (so a URL agent's retry, on the same token, replays the calls its failed attempt made).
  std::vector<CallRecord> recorded;

  mutable std::mutex mu;
  std::vector<GatewayCall> calls;
  std::unordered_map<std::string, int> k_by_request;  // request fingerprint without id -> k
  std::set<int> used_k;                                // bound in this lease
  int max_recorded_k = 0;
  int turns = 0;  // calls admitted (max_turns)
};

// The k of "<rollout id>/a<k>", or 0 when `call_id` is not one.
int CallIndex(std::string_view call_id, std::string_view rollout_id) {
  if (call_id.size() <= rollout_id.size() + 2 || !StartsWith(call_id, rollout_id)) return 0;
  std::string_view tail = call_id.substr(rollout_id.size());
  if (!StartsWith(tail, "/a")) return 0;
  tail = tail.substr(2);
  if (tail.empty() || tail.size() > 9 || tail.find_first_not_of("0123456789") != std::string_view::npos ||
      tail.front() == '0') {
    return 0;
  }
  return std::stoi(std::string(tail));
}

// The open leases by token. Shared by the gateway and its leases, so that a lease closed after
// the gateway is gone (a runner's error path) is still safe.
class LeaseRegistry {
 public:
  void Add(std::shared_ptr<LeaseState> state) {
    std::lock_guard lock(mu_);
    leases_[state->token] = std::move(state);
  }
  void Remove(const std::string& token) {
    std::lock_guard lock(mu_);
    leases_.erase(token);
  }
  std::shared_ptr<LeaseState> Find(const std::string& token) const {
    if (token.empty()) return nullptr;
    std::lock_guard lock(mu_);
    auto it = leases_.find(token);
    return it == leases_.end() ? nullptr : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<LeaseState>> leases_;
};

class Lease final : public GatewayLease {
 public:
  Lease(std::shared_ptr<LeaseRegistry> registry, std::shared_ptr<LeaseState> state, const std::string& gateway_url)
      : registry_(std::move(registry)),
        state_(std::move(state)),
        base_url_(gateway_url + "/r/" + state_->token + "/v1") {}
  ~Lease() override { Close(); }
  const std::string& token() const override { return state_->token; }
  std::string base_url() const override { return base_url_; }
  std::vector<GatewayCall> Calls() const override {
    std::lock_guard lock(state_->mu);
    return state_->calls;
  }
  void Close() override {
    if (!closed_.exchange(true)) registry_->Remove(state_->token);
  }

 private:
  std::shared_ptr<LeaseRegistry> registry_;
  std::shared_ptr<LeaseState> state_;
  const std::string base_url_;
  std::atomic<bool> closed_{false};
};

// One agent request's journey: the chat body as the gateway will send it, and the result.
struct CallOutcome {
  bool ok = false;
  AgentError error;
  ChatResponse response;
  std::string call_id;
  std::string model;  // what the reply says it came from
};

class Gateway final : public AgentGateway {
 public:
  Gateway(GatewayOptions options, ChatClient& upstream)
      : options_(std::move(options)), upstream_(upstream), server_(Limits()) {}

  ~Gateway() override {
    server_.Shutdown();
    if (thread_.joinable()) thread_.join();
  }

  Status Start() {
    Result<ListenAddress> listen = ParseListenAddress(options_.listen);
    if (!listen.ok()) return listen.status().WithContext("agent.gateway.listen");
    host_ = listen->host;
    InstallRoutes();
    if (listen->port == 0) {
      port_ = server_.bind_to_any_port(host_);
      if (port_ <= 0) return Status::Unavailable("agent.gateway.listen: could not listen on " + host_ + " (any port)");
    } else {
      if (!server_.bind_to_port(host_, listen->port)) {
        return Status::Unavailable("agent.gateway.listen: could not listen on " + options_.listen +
                                   " (address in use?)");
      }
      port_ = listen->port;
    }
    if (listen_socket_ >= 0) ::listen(listen_socket_, SOMAXCONN);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 2500 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (!server_.is_running()) return Status::Internal("the gateway's HTTP server did not start");
    std::string h = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
    url_ = options_.public_url.empty() ? "http://" + h + ":" + std::to_string(port_) : options_.public_url;
    while (EndsWith(url_, "/")) url_.pop_back();
    spdlog::info("gateway: listening on {} (public {})", "http://" + h + ":" + std::to_string(port_), url_);
    return Status::Ok();
  }

  std::string url() const override { return url_; }

  Result<std::unique_ptr<GatewayLease>> Open(const RolloutTicket& ticket) override {
    if (ticket.rollout_id.empty()) return Status::InvalidArgument("gateway: a lease needs the rollout's call id");
    auto state = std::make_shared<LeaseState>();
    Result<std::string> token = NewToken();
    if (!token.ok()) return token.status();
    state->token = std::move(token).value();
    state->ticket = ticket;
    if (options_.store != nullptr) {
      // A resumed rollout replays its agent's recorded calls in order; a store that cannot say
      // which they are would have the agent's calls sent again under other ids, so it is an error.
      auto recorded = options_.store->CallsUnder(ticket.rollout_id + "/a");
      if (!recorded.ok()) return recorded.status();
      for (CallRecord& r : *recorded) {
        int k = CallIndex(r.call_id, ticket.rollout_id);
        if (k == 0) continue;
        state->max_recorded_k = std::max(state->max_recorded_k, k);
        state->recorded.push_back(std::move(r));
      }
    }
    registry_->Add(state);
    spdlog::debug("gateway: lease {} for {}", TokenForLogs(state->token), ticket.rollout_id);
    return std::unique_ptr<GatewayLease>(std::make_unique<Lease>(registry_, state, url_));
  }

 private:
  static FrontLimits Limits() {
    FrontLimits limits;
    limits.max_head_bytes = kServeMaxHeaderBytes;
    limits.max_line_bytes = kServeMaxHeaderLineBytes;
    limits.max_header_count = kServeMaxHeaderCount;
    // Each agent makes one call at a time and the upstream client caps what is in flight, so a
    // slot per agent of a large agent.concurrency costs only a waiting thread.
    limits.request_slots = 256;
    return limits;
  }

  std::shared_ptr<LeaseState> FindLease(const std::string& token) const { return registry_->Find(token); }

  // The lease a request names: the token in its path, else its bearer token on a bare /v1 path.
  std::shared_ptr<LeaseState> Authenticate(const httplib::Request& req, const Route& route) const {
    if (route.in_path) return FindLease(route.path_token);
    std::string header = req.get_header_value("Authorization");
    if (header.size() < 7 || ToLower(std::string_view(header).substr(0, 7)) != "bearer ") return nullptr;
    return FindLease(Trim(std::string_view(header).substr(7)));
  }

  // Records a call the agent made and was refused before anything went upstream.
  static void RecordRefusal(LeaseState& lease, int status, const Status& why) {
    GatewayCall call;
    call.http_status = status;
    call.status = why;
    call.messages = nullptr;
    std::lock_guard lock(lease.mu);
    lease.calls.push_back(std::move(call));
  }

  // Turns a chat body (already injected) into the upstream request, numbers it and answers it:
  // from the run store when a resumed rollout recorded it, else through the upstream stack.
  CallOutcome Call(LeaseState& lease, const nlohmann::ordered_json& body) {
    CallOutcome out;
    const RolloutTicket& ticket = lease.ticket;
    ChatRequest request = AgentChatRequest(body, ticket, options_, &out.model);
    const auto& messages = body["messages"];
    // Number the body: the same body again keeps its k; a resumed rollout's recorded body gets
    // its recorded k; anything else the next k neither this lease nor the store has used.
    const std::string body_key = RequestFingerprint(request, options_.model_name, options_.max_tokens);
    int k = 0;
    std::optional<CallRecord> replay;
    {
      std::lock_guard lock(lease.mu);
      if (auto it = lease.k_by_request.find(body_key); it != lease.k_by_request.end()) k = it->second;
      for (const CallRecord& r : lease.recorded) {
        const int rk = CallIndex(r.call_id, ticket.rollout_id);
        if (k != 0 && rk != k) continue;
        if (k == 0 && lease.used_k.count(rk)) continue;
        request.call_id = r.call_id;
        if (RequestFingerprint(request, options_.model_name, options_.max_tokens) == r.fingerprint) {
          k = rk;
          if (r.ok) replay = r;
          break;
        }
      }
      if (k == 0) {
        k = std::max(lease.max_recorded_k, lease.used_k.empty() ? 0 : *lease.used_k.rbegin()) + 1;
      }
      lease.k_by_request.emplace(body_key, k);
      lease.used_k.insert(k);
    }
    request.call_id = ticket.rollout_id + "/a" + std::to_string(k);
    out.call_id = request.call_id;

    GatewayCall call;
    call.call_id = request.call_id;
    call.messages = nlohmann::json(messages);

    Result<ChatResponse> result = Status::Internal("not answered");
    if (replay) {
      std::optional<CallRecord> full = options_.store->FindCall(replay->fingerprint);
      nlohmann::json stored = full ? ParseUntrustedJson(full->response_json) : nlohmann::json(nullptr);
      if (!stored.is_discarded() && stored.is_object()) {
        result = ChatResponseFromJson(stored);
        call.replayed = true;
      }
    }
    if (!call.replayed) result = upstream_.Complete(request);

    if (result.ok()) {
      out.ok = true;
      out.response = std::move(result).value();
      call.reply = ReplyMessage(out.response);
      call.usage = out.response.usage;
      call.http_status = 200;
    } else {
      out.error = ErrorForUpstream(result.status());
      call.http_status = out.error.status;
      call.status = result.status();
      spdlog::debug("gateway: {} failed: {}", call.call_id, result.status().ToString());
    }
    std::lock_guard lock(lease.mu);
    if (out.ok && !call.replayed && options_.store) {
      // Recorded by the upstream stack's RecordingClient under this key (when the run records):
      // the same body again in this lease is answered from the store, not sent a second time.
      CallRecord answered;
      answered.call_id = request.call_id;
      answered.fingerprint = RequestFingerprint(request, options_.model_name, options_.max_tokens);
      answered.ok = true;
      lease.recorded.push_back(std::move(answered));
    }
    lease.calls.push_back(std::move(call));
    return out;
  }

  // Everything the chat and responses routes share before the upstream call: the lease, the body,
  // max_turns. False when `res` holds the answer already.
  bool Admit(const httplib::Request& req, const httplib::ContentReader& reader, httplib::Response& res,
             const Route& route, std::shared_ptr<LeaseState>* lease, nlohmann::ordered_json* body) {
    *lease = Authenticate(req, route);
    if (!*lease) {
      RejectUnknownToken(res);
      return false;
    }
    std::string text;
    if (!ReadBody(req, reader, res, &text)) return false;
    if (!ParseRequestBody(text, res, body)) {
      RecordRefusal(**lease, res.status, Status::InvalidArgument("the request body is not a JSON object"));
      return false;
    }
    {
      std::unique_lock lock((*lease)->mu);
      if ((*lease)->turns >= options_.max_turns) {
        lock.unlock();
        const std::string message = "this rollout has made its " + std::to_string(options_.max_turns) +
                                    " calls (task.max_turns); no more are answered";
        SetError(res, 400, message, "invalid_request_error", "max_turns_exceeded");
        RecordRefusal(**lease, 400, Status::InvalidArgument(message));
        return false;
      }
      ++(*lease)->turns;
    }
    return true;
  }

  // The lease's library into a chat body, as serve does it; false when `res` holds the 400.
  bool Inject(LeaseState& lease, nlohmann::ordered_json& body, httplib::Response& res) {
    const RolloutTicket& t = lease.ticket;
    auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array()) {
      const std::string message = messages == body.end() ? "request body has no \"messages\" field"
                                                         : "request field \"messages\" must be an array";
      SetError(res, 400, message, "invalid_request_error", "invalid_request");
      RecordRefusal(lease, 400, Status::InvalidArgument(message));
      return false;
    }
    for (size_t i = 0; i < messages->size(); ++i) {
      if (!(*messages)[i].is_object()) {
        const std::string message = "messages[" + std::to_string(i) + "] must be an object";
        SetError(res, 400, message, "invalid_request_error", "invalid_request");
        RecordRefusal(lease, 400, Status::InvalidArgument(message));
        return false;
      }
    }
    if (options_.inject == InjectMode::kNone || t.library == nullptr || t.library->empty()) return true;
    Result<bool> injected = t.positions.empty() ? InjectLibrary(body, *t.library)
                                                : InjectLibrary(body, *t.library, t.positions);
    if (!injected.ok()) {
      SetError(res, 400, injected.status().message(), "invalid_request_error", "invalid_request");
      RecordRefusal(lease, 400, injected.status());
      return false;
    }
    return true;
  }

  void HandleChat(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    const Route route = ParseRoute(req.method, req.path);
    std::shared_ptr<LeaseState> lease;
    nlohmann::ordered_json body;
    if (!Admit(req, reader, res, route, &lease, &body)) return;
    if (!Inject(*lease, body, res)) return;
    const auto stream = body.find("stream");
    const bool streamed = stream != body.end() && stream->is_boolean() && stream->get<bool>();
    bool include_usage = false;
    if (auto so = body.find("stream_options"); so != body.end() && so->is_object()) {
      auto iu = so->find("include_usage");
      include_usage = iu != so->end() && iu->is_boolean() && iu->get<bool>();
    }
    CallOutcome outcome = Call(*lease, body);
    if (!outcome.ok) {
      SetAgentError(res, outcome.error);
      return;
    }
    const int64_t created = static_cast<int64_t>(std::time(nullptr));
    const std::string id = CompletionId(outcome.call_id, lease->token);
    res.status = 200;
    if (streamed) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(ChatCompletionChunks(outcome.response, id, outcome.model, created, include_usage),
                      "text/event-stream");
    } else {
      res.set_content(ChatCompletionJson(outcome.response, id, outcome.model, created).dump(), "application/json");
    }
  }

  void HandleResponses(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    const Route route = ParseRoute(req.method, req.path);
    std::shared_ptr<LeaseState> lease;
    nlohmann::ordered_json request;
    if (!Admit(req, reader, res, route, &lease, &request)) return;
    Result<nlohmann::ordered_json> chat = ResponsesToChat(request, response_items_.Lookup());
    if (!chat.ok()) {
      serve_internal::SetResponsesTranslationError(res, chat.status());
      RecordRefusal(*lease, 400, chat.status());
      return;
    }
    if (!Inject(*lease, *chat, res)) return;
    CallOutcome outcome = Call(*lease, *chat);
    if (!outcome.ok) {
      SetAgentError(res, outcome.error);
      return;
    }
    const int64_t created = static_cast<int64_t>(std::time(nullptr));
    nlohmann::json reply =
        ChatCompletionJson(outcome.response, CompletionId(outcome.call_id, lease->token), outcome.model, created);
    Result<nlohmann::ordered_json> response = ChatToResponse(reply, request);
    if (!response.ok()) {
      SetError(res, 502, "the upstream's reply cannot become a Response: " + response.status().message(),
               "server_error", "upstream_invalid_reply");
      return;
    }
    response_items_.Add(*response);
    const auto stream = request.find("stream");
    res.status = 200;
    if (stream != request.end() && stream->is_boolean() && stream->get<bool>()) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(ResponseEventStream(*response), "text/event-stream");
    } else {
      res.set_content(response->dump(), "application/json");
    }
  }

  void HandleModels(const httplib::Request& req, httplib::Response& res) {
    const Route route = ParseRoute(req.method, req.path);
    if (!Authenticate(req, route)) {
      RejectUnknownToken(res);
      return;
    }
    nlohmann::json model = {{"id", options_.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "tfgrpo"}};
    nlohmann::json list = {{"object", "list"}, {"data", nlohmann::json::array({model})}};
    res.set_content(list.dump(), "application/json");
  }

  // The id of a chat completion the gateway answers: stable for a call of a lease, and telling
  // nothing about the token.
  static std::string CompletionId(const std::string& call_id, const std::string& token) {
    return "chatcmpl-" + Fingerprint(token + "\n" + call_id).substr(0, 24);
  }

  template <typename F>
  httplib::Server::HandlerWithContentReader WithBody(F f) {
    return [this, f](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
      t_response_is_ours = true;
      try {
        (this->*f)(req, res, reader);
      } catch (const std::exception& e) {
        spdlog::error("gateway: internal error on {}: {}", req.method, e.what());
        SetError(res, 500, "internal gateway error", "server_error", "internal_error");
      }
    };
  }

  void InstallRoutes() {
    server_.set_payload_max_length(kServeMaxBodyBytes);
    server_.set_tcp_nodelay(true);
    server_.set_refusal_hook([](const HeadError& e) {
      return ErrorBody(e.message, e.status >= 500 ? "server_error" : "invalid_request_error", e.code);
    });
    server_.set_socket_options([this](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_socket_ = sock;
    });
    // Unknown routes are answered before a body would be read; so are unknown tokens.
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      t_response_is_ours = false;
      const Route route = ParseRoute(req.method, req.path);
      if (route.endpoint == Endpoint::kNone) {
        res.status = 404;  // the error hook writes the body
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!Authenticate(req, route)) {
        t_response_is_ours = true;
        RejectUnknownToken(res);
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server_.set_expect_100_continue_handler([](const httplib::Request& req, httplib::Response& res) {
      if (req.has_header("Content-Length") && req.get_header_value<uint64_t>("Content-Length") > kServeMaxBodyBytes) {
        t_response_is_ours = true;
        RejectTooLarge(res);
        res.set_header("Content-Length", std::to_string(res.body.size()));
        return 413;
      }
      return 100;
    });
    server_.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
      serve_internal::RequestContext* context = serve_internal::CurrentRequest();
      if (context != nullptr && context->body_unread) {
        res.headers.erase("Keep-Alive");
        res.set_header("Connection", "close");
      }
    });
    server_.set_logger([](const httplib::Request&, const httplib::Response&) { t_response_is_ours = false; });
    server_.set_error_handler(
        httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
          if (t_response_is_ours) return httplib::Server::HandlerResponse::Unhandled;
          if (res.status == 413) {
            RejectTooLarge(res);
          } else if (res.status == 404) {
            // The path may hold a token: it is not echoed.
            SetError(res, 404, "no such endpoint: " + req.method + " (the gateway serves /v1/chat/completions, "
                               "/v1/responses and /v1/models)",
                     "invalid_request_error", "not_found");
          } else {
            SetError(res, res.status, "the HTTP request could not be processed", "invalid_request_error",
                     "bad_request");
          }
          return httplib::Server::HandlerResponse::Handled;
        }));
    // Tokens are hex; the pre-routing handler already refused anything else.
    const std::string prefix = R"((?:/r/[^/]+)?)";
    server_.Post(prefix + "/v1/chat/completions", WithBody(&Gateway::HandleChat));
    server_.Post(prefix + "/v1/responses", WithBody(&Gateway::HandleResponses));
    server_.Get(prefix + "/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      t_response_is_ours = true;
      HandleModels(req, res);
    });
  }

  const GatewayOptions options_;
  ChatClient& upstream_;
  GuardedHttpServer server_;
  ResponseItemCache response_items_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
  socket_t listen_socket_ = -1;
  std::string url_;
  std::shared_ptr<LeaseRegistry> registry_ = std::make_shared<LeaseRegistry>();
};

}  // namespace gateway_internal

GatewayOptions GatewayOptionsFor(const Config& config, RunStore* store) {
  GatewayOptions o;
  o.listen = config.agent.gateway.listen;
  o.public_url = config.agent.gateway.public_url;
  o.model_name = config.model.name;
  o.max_tokens = config.model.max_tokens;
  o.inject = config.agent.inject;
  o.keep_model = config.agent.keep_model;
  o.keep_temperature = config.agent.keep_temperature;
  o.max_turns = config.task.max_turns;
  o.store = store;
  return o;
}

Result<std::unique_ptr<AgentGateway>> StartGateway(const GatewayOptions& options, ChatClient& upstream) {
  auto gateway = std::make_unique<gateway_internal::Gateway>(options, upstream);
  Status started = gateway->Start();
  if (!started.ok()) return started;
  return std::unique_ptr<AgentGateway>(std::move(gateway));
}

}  // namespace tfgrpo
