// The external agent runner's pieces, private to the agent module: the failure status every
// reason is reported with, the answer contract's parser, running one command agent (spawn, feed,
// capture, deadline, kill), and the learner's view of a lease's calls.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/agent.h"
#include "tfgrpo/gateway.h"
#include "tfgrpo/process.h"
#include "tfgrpo/status.h"

namespace tfgrpo::external_internal {

inline constexpr size_t kStdoutKeptBytes = size_t{1} << 20;  // the answer on stdout: 1 MiB kept
inline constexpr size_t kStderrTailBytes = 2048;             // the last 2 KiB of stderr
inline constexpr size_t kAnswerFileMaxBytes = size_t{16} << 20;  // a larger answer file is a bad answer

// The status of a failed agent run: "agent failed (<reason>): <detail>[; stderr: <tail>]" with
// the code that says how the run treats it (timeout: kTimeout, unreachable: kUnavailable, a
// program not found: kNotFound, the rest kProviderError). AgentFailureReason reads the reason back.
Status AgentFailure(std::string_view reason, std::string_view detail, std::string_view stderr_tail = {},
                    Status::Code code = Status::Code::kProviderError);

// What the agent answered: the answer contract's fields.
struct AgentAnswer {
  std::string answer;
  std::optional<double> reward;  // in [0, 1]
  std::string reasoning;
};

// An answer file's or URL reply's text. A JSON object with a string "answer" (optional numeric
// "reward" in [0, 1], optional string "reasoning") gives those fields; with `json_required`
// anything else is an error, without it any other text is the answer itself (trimmed). Errors
// (kInvalidArgument, naming `what`): not valid UTF-8, a reward that is not a number in [0, 1], a
// field of the wrong type.
Result<AgentAnswer> ParseAgentAnswer(std::string_view text, bool json_required, std::string_view what);

// One run of a command agent, everything decided by the caller.
struct CommandRun {
  SpawnSpec spec;          // argv, env, cwd, wrapper; stdio is set by RunCommandAgent
  std::string stdin_text;  // what the agent reads on stdin
  std::filesystem::path scratch;  // a private directory for the stdin file (the caller removes it)
  double timeout_s = 600;  // wall clock, then SIGKILL to the group
  // Called once the agent has ended and its group was killed, before the pipes are drained (the
  // rollout is over for the gateway: a process that escaped the group must get 401 from now on).
  std::function<void()> on_end;
};

// How it went. The agent's group is gone when RunCommandAgent returns, whatever happened.
struct CommandResult {
  ExitStatus exit;              // kRunning never: a timed-out agent is reported killed
  bool timed_out = false;
  std::string stdout_head;      // the first kStdoutKeptBytes bytes of stdout
  int64_t stdout_bytes = 0;     // all bytes read from stdout, kept or not
  std::string stderr_tail;      // the last kStderrTailBytes bytes of stderr (not redacted)
};

// Starts the agent through `launcher` and reads its stdout and stderr at once, without blocking
// on either, until it exits or the deadline passes; then kills its whole group and reads what the
// pipes still hold (a child left behind cannot keep the run waiting: the group is killed first).
// Errors: the spawn's (a program that cannot be run), and I/O failures of the stdin file.
Result<CommandResult> RunCommandAgent(Launcher& launcher, CommandRun run);

// agent.sandbox: bwrap: the wrapper (SpawnSpec::wrapper, ending in "--") that runs an agent with
// the host's network, a read-only system, `config_dir` read-only as its working directory,
// `scratch` writable, no capabilities, and that dies with its parent.
inline constexpr const char* kBwrapPath = "/usr/bin/bwrap";
std::vector<std::string> BwrapAgentWrapper(const std::filesystem::path& config_dir,
                                           const std::filesystem::path& scratch);

// The learner's view of a lease's calls (header of external_agent.h): `messages` is one
// conversation (each call's messages new since the previous call, then its reply) and
// `trajectory` the readable transcript within `limits`, ending with the final answer.
struct CallsView {
  nlohmann::json messages = nlohmann::json::array();
  std::string trajectory;
  int tool_calls = 0;
  Usage usage;
  int sent = 0, replayed = 0;
};
CallsView ViewOfCalls(const std::vector<GatewayCall>& calls, std::string_view final_answer, TranscriptLimits limits);

// The run-stopping status behind a call (GatewayCall::status: the budget spent, kBudgetExhausted;
// the provider rejecting our key, kUnauthorized), if any call met one.
std::optional<Status> FatalStatusOfCalls(const std::vector<GatewayCall>& calls);

}  // namespace tfgrpo::external_internal
