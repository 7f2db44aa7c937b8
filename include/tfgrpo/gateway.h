// The agent gateway: the OpenAI-compatible endpoint the user's own agent programs call during a
// train or eval with task.mode external. It owns per-rollout tokens, injects the library into
// every call, sends each call upstream through the run's ChatClient stack and keeps the calls as
// the rollout's trajectory. The agent runner (external_agent.h) opens one lease per rollout.
//
// Contract (README, "Your own agent"; issue 18):
//  - Routes, under `<base>/r/<token>/v1` and, with `Authorization: Bearer <token>`, under `<base>/v1`:
//      POST /chat/completions  (stream true or false; stream_options.include_usage honoured)
//      POST /responses         (OpenAI Responses API, translated to one chat completion upstream)
//      GET  /models            (lists model.name)
//    Anything else: 404 in OpenAI's error format. A token that is not an open lease's (unknown, or
//    of a lease already closed) gets 401 with error.code "invalid_api_key".
//  - Upstream calls: role = the lease's role; call id "<rollout id>/a<k>", k = 1, 2, ... numbering
//    the distinct request bodies of that rollout in arrival order; a body equal to one the run
//    store already recorded for the same rollout reuses that recorded id (resume, any order).
//    temperature = the lease's, unless keep_temperature; model = model.name, unless keep_model.
//    The library is injected as `tfgrpo serve` does (InjectLibrary), nothing when the lease has no
//    library or inject is none.
//  - More than max_turns calls in one lease: 400 with error.code "max_turns_exceeded".
//    Budget exhausted: 429 with error.code "budget_exhausted" (and the run stops as today).
//    Other upstream failures: the provider's status and an OpenAI-format error (429 keeps Retry-After).
//
//  - Tokens: 192 random bits (OpenSSL RAND_bytes) as 48 hex characters, fresh per lease; only a
//    6-character prefix ever reaches a log, and no reply echoes one. Requests are read behind
//    serve's guard and limits (GuardedHttpServer; 8 MiB body -> 413, malformed JSON -> 400).
//  - Resume: at Open the calls recorded under "<rollout id>/a" (RunStore::CallsUnder) are read;
//    a body whose RequestFingerprint under one of those ids (with model_name and max_tokens, the
//    RecordingClient's key) matches a successful record is answered from the store without an
//    upstream call (GatewayCall::replayed); a body never seen gets the next k unused by the store
//    and the lease. Within a lease the same holds for the calls it already got answered: a body
//    sent again on the same token (a URL agent retried after 408/429/5xx, or an agent repeating
//    itself) is answered from the store when the upstream stack recorded it, not sent again.
//  - Streaming: upstream is always called without streaming; a streamed request is answered with
//    chat.completion.chunk events (or the Responses event stream) written from the whole reply.
//
// Threading: StartGateway/Open/Close and the lease accessors are thread-safe; requests are served
// on the gateway's own threads. Lifetime: a lease may outlive the gateway (closing it then does
// nothing more); the upstream client and the store must outlive the gateway; destroying the
// gateway stops listening, closes idle connections and waits for requests in flight (their
// upstream calls end under the stack's own timeouts).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/config.h"
#include "tfgrpo/library.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

class RunStore;

struct GatewayOptions {
  std::string listen = "127.0.0.1:0";  // agent.gateway.listen
  std::string public_url;              // agent.gateway.public_url; empty: http://<bound address>
  std::string model_name;              // model.name: sent upstream and listed by /models
  InjectMode inject = InjectMode::kSystem;
  bool keep_model = false;
  bool keep_temperature = false;
  int max_turns = 50;                  // task.max_turns: calls per lease
  // model.max_tokens: with model_name, the key the run store records calls under (the
  // RecordingClient's), so that a resumed rollout's bodies are found.
  std::optional<int> max_tokens;
  RunStore* store = nullptr;           // for the recorded ids of resumed rollouts; null: none
};

// The options a train or eval with `config` runs its gateway with: agent.gateway.listen and
// public_url, model.name, model.max_tokens (the run store's key), agent.inject / keep_model /
// keep_temperature, task.max_turns, and `store` (null: no resume lookups).
GatewayOptions GatewayOptionsFor(const Config& config, RunStore* store);

// What one rollout tells the gateway when it opens its lease.
struct RolloutTicket {
  std::string rollout_id;        // the rollout's call id ("s3/t17/r2", "eval/t17/k4")
  Role role = Role::kRollout;    // rollout | validation (eval samples use their own role as today)
  double temperature = 0.7;      // practice.rollout_temperature or eval.temperature
  const Library* library = nullptr;  // null or empty: nothing injected (baseline)
  std::vector<size_t> positions;     // which experiences (retrieval); empty with a library: all
};

// One call the agent made through its lease, as sent upstream and answered.
struct GatewayCall {
  std::string call_id;             // "<rollout id>/a<k>"
  nlohmann::json messages;         // the request's messages as sent upstream (library injected)
  nlohmann::json reply;            // the assistant message (content, tool_calls)
  Usage usage;
  bool replayed = false;           // answered from the run store
  int http_status = 200;           // what the agent got (429, 400 max_turns_exceeded, ...)
  // Why the call failed (ok when it did not): the upstream stack's status as returned, so the
  // runner can stop the run on a fatal one (kBudgetExhausted, kUnauthorized: IsFatalForRun);
  // kInvalidArgument for the agent's own mistakes (max_turns, a malformed request).
  Status status;
};

// A rollout's access to the gateway: its token works while the lease lives. Closing (or
// destroying) it revokes the token; calls in flight finish, later ones get 401.
class GatewayLease {
 public:
  virtual ~GatewayLease() = default;
  virtual const std::string& token() const = 0;
  virtual std::string base_url() const = 0;    // "<public>/r/<token>/v1"
  virtual std::vector<GatewayCall> Calls() const = 0;  // in arrival order
  virtual void Close() = 0;
};

class AgentGateway {
 public:
  virtual ~AgentGateway() = default;
  virtual std::string url() const = 0;  // the public base, without /r/... or /v1
  virtual Result<std::unique_ptr<GatewayLease>> Open(const RolloutTicket& ticket) = 0;
};

// Listens on options.listen and sends upstream through `upstream` (the run's client stack:
// budget gate, run store, retries). Errors: the address cannot be bound (the message names it).
Result<std::unique_ptr<AgentGateway>> StartGateway(const GatewayOptions& options, ChatClient& upstream);

}  // namespace tfgrpo
