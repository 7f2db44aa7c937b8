// The user's own agent as a rollout (task.mode external): runs the agent program (agent.command)
// or calls the agent service (agent.url) once per sample, with a gateway lease whose token is the
// agent's OPENAI_API_KEY, and turns what it answered plus the calls it made into a RolloutOutcome
// the reward and the learner stages use exactly as a built-in rollout's.
//
// Contract (README, "Your own agent"; issue 18):
//  - Command agent: started through the process module with the config file's folder as working
//    directory, in a new process group, stdin = the task's JSONL record as one JSON line. Its
//    environment is the parent's without the provider keys (every configured api_key_env,
//    TFGRPO_API_KEY, OPENAI_API_KEY), plus
//      OPENAI_BASE_URL, OPENAI_API_BASE = the lease's base URL ("<gateway>/r/<token>/v1")
//      OPENAI_API_KEY                   = the lease's token
//      TFGRPO_ROLLOUT_ID (the rollout's call id, "s3/t17/r2"), TFGRPO_TASK_ID, TFGRPO_PROBLEM,
//      TFGRPO_ANSWER_FILE (a path the agent may write), TFGRPO_LIBRARY (the injected library
//      text; empty for a baseline).
//    Its answer: the answer file when written, either a JSON object {"answer": "...",
//    "reward": 0.7, "reasoning": "..."} (reward and reasoning optional) or plain text; otherwise
//    its standard output, trimmed (at most 1 MiB kept, the rest read and dropped).
//  - URL agent: POST agent.url {"rollout_id","task","problem","base_url","api_key","library"},
//    expecting 200 {"answer", "reward"?, "reasoning"?} within agent.timeout_s; 408/429/5xx and
//    network errors are retried as LLM calls are (SendWithRetry), with the same lease.
//  - A reward in [0, 1] from the agent is used instead of the configured reward (its reasoning
//    too); any other reward value is an error of that rollout.
//  - Failures of one rollout (the run goes on, as for any failed rollout), each with a reason
//    the end summary counts: "exit <n>" (non-zero exit), "signal <n>", "timeout" (agent.timeout_s
//    of wall clock; the whole process group is killed), "no answer" (empty answer), "bad answer"
//    (an answer file or stdout that is not valid UTF-8, a reward out of range, a URL agent's reply
//    that is not the expected JSON), "not started" (the program cannot be run), "http <status>"
//    (a URL agent's final non-200 status), "unreachable" (a URL agent not reached, retries
//    exhausted). The status message reads "agent failed (<reason>): <detail>; stderr: <the last
//    2 KiB of stderr>", secrets redacted.
//  - When the rollout ends, whatever the outcome, the lease is closed (its token answers 401) and
//    every process left in the agent's group is killed; the answer file's private directory is
//    removed.
//  - agent.sandbox bwrap: the program runs under bubblewrap sharing the host's network (it must
//    reach the gateway), with a read-only system, the config's folder read-only, its own
//    writable temporary directory (HOME and TMPDIR) and no privileges.
//
// Threading: Run may be called from many threads at once; at most agent.concurrency agents run at
// once (the others wait). Lifetime: the runner must outlive its Run calls; the gateway must
// outlive the runner.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/agent.h"
#include "tfgrpo/config.h"
#include "tfgrpo/data.h"
#include "tfgrpo/gateway.h"
#include "tfgrpo/llm.h"
#include "tfgrpo/process.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/status.h"

namespace tfgrpo {

// One rollout of the user's agent.
struct ExternalRolloutSpec {
  std::string rollout_id;          // the rollout's call id ("s3/t17/r2", "eval/t17/k4")
  Role role = Role::kRollout;      // rollout | validation | (eval samples: as today)
  double temperature = 0.7;        // what the gateway sets unless agent.keep_temperature
  const Library* library = nullptr;    // injected by the gateway; null or empty: baseline
  std::vector<size_t> positions;       // retrieval.top_k: the experiences this task sees (empty: all)
  // TFGRPO_LIBRARY / "library": the library text being injected; empty: rendered here from
  // `library` and `positions` (AppendLibrary("", ...)), "" for a baseline or agent.inject none.
  std::string library_text;
  TranscriptLimits transcript;         // what RolloutOutcome::trajectory keeps
};

// What one run of the agent gave: its answer and the calls it made (outcome.final_reply = the
// answer; messages = the calls' messages and replies as one conversation; trajectory = the
// learner's view: for each call, the messages new since the previous call and the reply, then the
// final answer; turns = calls made; usage = the calls' tokens). The calls, exit code and stderr
// tail are kept when the agent failed too: tokens spent by a failed agent are still spent.
struct ExternalRun {
  Status status;                            // OK: the agent answered; else why not (see above)
  RolloutOutcome outcome;
  std::optional<RewardResult> self_reward;  // the agent's own reward in [0, 1], when it gave one
  int exit_code = 0;                        // command agents; -1 when killed or not started
  std::string stderr_tail;                  // the last 2 KiB of stderr, secrets redacted
  int calls_sent = 0;                       // gateway calls sent upstream
  int calls_replayed = 0;                   // gateway calls answered from the run store
  std::vector<GatewayCall> calls;           // the calls as the gateway kept them (agent try prints them)
};

// Why an external rollout failed, as counted in the end summary ("exit 1", "timeout", ...); empty
// for a status that is not an agent failure (e.g. an upstream error the agent passed on).
std::string AgentFailureReason(const Status& status);

// What the external rollouts of a train or eval did.
struct ExternalCounts {
  int64_t rollouts = 0;        // agent runs
  int64_t calls = 0;           // gateway calls they made
  int64_t calls_sent = 0;      // ... sent upstream
  int64_t calls_replayed = 0;  // ... answered from the run store (resume)
  int64_t self_rewarded = 0;   // runs scored by the agent's own reward
  std::map<std::string, int64_t> failures;  // reason ("exit 1", "timeout", "no answer") -> runs

  double CallsPerRollout() const { return rollouts ? static_cast<double>(calls) / rollouts : 0; }
  int64_t failed() const;
  ExternalCounts operator-(const ExternalCounts& earlier) const;
  // {"rollouts","calls","calls_per_rollout","calls_sent","calls_replayed","self_rewarded","failures":{...}}
  nlohmann::json ToJson() const;
  // "12 agent runs, 3.2 calls each (30 sent, 8 replayed); failed: 2 exit 1, 1 timeout"
  std::string Line() const;
};

class ExternalAgentRunner {
 public:
  virtual ~ExternalAgentRunner() = default;
  // Runs the agent once on `task`. ExternalRun::status: the agent's failure (see the reasons
  // above), a lease the gateway would not open, or a fatal status of the run (budget exhausted:
  // kBudgetExhausted; the provider refusing the key: kUnauthorized) met by the agent's calls,
  // which stops the run as a built-in rollout's would.
  virtual ExternalRun Run(const Task& task, const ExternalRolloutSpec& spec) = 0;
};

// The runner of config.agent (command or url), opening its leases on `gateway`. `launcher` is the
// process seam (null: the real one).
std::unique_ptr<ExternalAgentRunner> MakeExternalAgentRunner(const Config& config, AgentGateway& gateway,
                                                             Launcher* launcher = nullptr);

}  // namespace tfgrpo
