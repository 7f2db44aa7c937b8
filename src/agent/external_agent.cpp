// The external agent runner (external_agent.h): one lease per rollout, the agent run as a command
// (environment, answer file, bubblewrap when asked) or as a POST to its service, and the run's
// answer, calls and failure put together. Command spawning and output capture are in
// command_agent.cpp, the answer contract in external_answer.cpp, the learner's view of the calls
// in external_trajectory.cpp.
#include "tfgrpo/external_agent.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "agent/external_internal.h"
#include "tfgrpo/http.h"
#include "tfgrpo/json.h"
#include "tfgrpo/library.h"
#include "tfgrpo/sandbox.h"
#include "tfgrpo/secrets.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;
using namespace external_internal;
using Clock = std::chrono::steady_clock;

// At most `n` holders at once; the others wait their turn.
class Slots {
 public:
  explicit Slots(int n) : free_(std::max(1, n)) {}
  void Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return free_ > 0; });
    --free_;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
};

class SlotGuard {
 public:
  explicit SlotGuard(Slots& s) : s_(s) { s_.Acquire(); }
  ~SlotGuard() { s_.Release(); }
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;

 private:
  Slots& s_;
};

// A private (0700) directory under TMPDIR for one rollout, removed with what is in it.
class ScratchDir {
 public:
  static Result<std::unique_ptr<ScratchDir>> Make() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/tfgrpo-agent-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
      return Status::IoError("cannot create a temporary directory " + pattern + ": " + std::strerror(errno));
    return std::unique_ptr<ScratchDir>(new ScratchDir(pattern));
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit ScratchDir(fs::path p) : path_(std::move(p)) {}
  fs::path path_;
};

double Elapsed(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

// The answer file when the agent wrote one (nullopt: it did not). Opened without following a
// symlink and only as a regular file, so an agent cannot have us read, store and show another file
// (our own /proc/self/environ, say); larger than kAnswerFileMaxBytes is an error.
Result<std::optional<std::string>> ReadAnswerFile(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Status::InvalidArgument("cannot open TFGRPO_ANSWER_FILE (" + std::string(std::strerror(errno)) +
                                   "): it must be a regular file, not a symlink");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument("TFGRPO_ANSWER_FILE is not a regular file");
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > external_internal::kAnswerFileMaxBytes) {
      ::close(fd);
      return Status::InvalidArgument("TFGRPO_ANSWER_FILE is larger than " +
                                     std::to_string(external_internal::kAnswerFileMaxBytes) + " bytes");
    }
  }
  ::close(fd);
  return std::optional<std::string>(std::move(text));
}

class Runner : public ExternalAgentRunner {
 public:
  Runner(const Config& config, AgentGateway& gateway, Launcher& launcher)
      : config_(config), gateway_(gateway), launcher_(launcher),
        slots_(config.agent.concurrency > 0 ? config.agent.concurrency : config.model.concurrency) {
    secrets_ = CollectSecrets(config);
    secrets_.Merge(RunSecrets());
  }

  ExternalRun Run(const Task& task, const ExternalRolloutSpec& spec) override {
    SlotGuard slot(slots_);
    ExternalRun run;
    const auto start = Clock::now();
    RolloutTicket ticket;
    ticket.rollout_id = spec.rollout_id;
    ticket.role = spec.role;
    ticket.temperature = spec.temperature;
    ticket.library = spec.library;
    ticket.positions = spec.positions;
    auto lease = gateway_.Open(ticket);
    if (!lease.ok()) {
      run.exit_code = -1;
      run.status = lease.status().WithContext("agent gateway");
      return run;
    }
    const std::string library_text = LibraryText(spec);
    Result<AgentAnswer> answer = config_.agent.url.empty() ? RunCommand(task, spec, library_text, **lease, run)
                                                           : PostToService(task, spec, library_text, **lease, run);
    // The token stops working before the calls are read, so no call can slip in after them.
    (*lease)->Close();
    const std::vector<GatewayCall> calls = (*lease)->Calls();
    run.stderr_tail = Redact(run.stderr_tail);
    if (answer.ok() && answer->answer.empty())
      answer = AgentFailure("no answer", "the agent wrote no answer file and printed nothing", run.stderr_tail);
    const CallsView view = ViewOfCalls(calls, answer.ok() ? answer->answer : "", spec.transcript);
    RolloutOutcome& o = run.outcome;
    o.messages = view.messages;
    o.trajectory = view.trajectory;
    o.usage = view.usage;
    o.turns = static_cast<int>(calls.size());
    o.tool_calls = view.tool_calls;
    o.latency_ms = Elapsed(start);
    run.calls_sent = view.sent;
    run.calls_replayed = view.replayed;
    run.calls = calls;
    if (auto fatal = FatalStatusOfCalls(calls)) {
      run.status = *fatal;
      o.stop_reason = "error";
      return run;
    }
    if (!answer.ok()) {
      run.status = answer.status();
      o.stop_reason = AgentFailureReason(run.status);
      return run;
    }
    o.final_reply = answer->answer;
    o.stop_reason = "answer";
    if (answer->reward) {
      RewardResult r;
      r.score = *answer->reward;
      r.extracted = answer->answer;
      r.reasoning = answer->reasoning;
      run.self_reward = r;
    }
    return run;
  }

 private:
  std::string LibraryText(const ExternalRolloutSpec& spec) const {
    if (!spec.library_text.empty() || spec.library == nullptr || config_.agent.inject == InjectMode::kNone)
      return spec.library_text;
    return spec.positions.empty() ? AppendLibrary("", *spec.library) : AppendLibrary("", *spec.library, spec.positions);
  }

  std::string Redact(std::string text) const { return RedactRunSecrets(secrets_.Redact(std::move(text))); }
  // The agent's environment: ours without any provider key, plus the contract's variables.
  std::vector<std::string> Environment(const Task& task, const ExternalRolloutSpec& spec,
                                       const std::string& library_text, GatewayLease& lease,
                                       const fs::path& answer_file, const fs::path& scratch) const {
    std::vector<std::string> ours;
    for (const std::string& entry : ChildEnvironment({})) {
      const size_t eq = entry.find('=');
      const std::string name = entry.substr(0, eq), value = eq == std::string::npos ? "" : entry.substr(eq + 1);
      const auto& names = secrets_.variables();
      const auto& values = secrets_.values();
      if (std::find(names.begin(), names.end(), name) != names.end()) continue;
      if (!value.empty() && std::find(values.begin(), values.end(), value) != values.end()) continue;
      ours.push_back(entry);
    }
    std::map<std::string, std::string> pass = {
        {"OPENAI_BASE_URL", lease.base_url()},
        {"OPENAI_API_BASE", lease.base_url()},
        {"OPENAI_API_KEY", lease.token()},
        {"TFGRPO_ROLLOUT_ID", spec.rollout_id},
        {"TFGRPO_TASK_ID", task.id},
        {"TFGRPO_PROBLEM", task.problem},
        {"TFGRPO_ANSWER_FILE", answer_file.string()},
        {"TFGRPO_LIBRARY", library_text},
    };
    if (config_.agent.sandbox == SandboxMode::kBwrap) {
      pass["HOME"] = scratch.string();
      pass["TMPDIR"] = scratch.string();
    }
    return ChildEnvironmentFrom(ours, pass);
  }

  fs::path ConfigFolder() const {
    std::error_code ec;
    fs::path dir = config_.source.empty() ? fs::current_path(ec) : fs::absolute(config_.source, ec).parent_path();
    return dir;
  }

  Result<AgentAnswer> RunCommand(const Task& task, const ExternalRolloutSpec& spec, const std::string& library_text,
                                 GatewayLease& lease, ExternalRun& run) {
    run.exit_code = -1;
    auto scratch = ScratchDir::Make();
    if (!scratch.ok()) return scratch.status();
    const fs::path answer_file = (*scratch)->path() / "answer";
    const fs::path cwd = ConfigFolder();
    CommandRun command;
    command.scratch = (*scratch)->path();
    command.timeout_s = config_.agent.timeout_s;
    command.stdin_text = task.record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    command.on_end = [&lease] { lease.Close(); };
    command.spec.Argv(config_.agent.command)
        .Env(Environment(task, spec, library_text, lease, answer_file, (*scratch)->path()))
        .Cwd(cwd.string())
        .ParentDeathSignal(SIGKILL);
    if (config_.agent.sandbox == SandboxMode::kBwrap) {
      command.spec.wrapper = BwrapAgentWrapper(cwd, (*scratch)->path());
      command.spec.parent_death_signal = 0;
      command.spec.lasting_parent = true;  // bwrap --die-with-parent
    }
    auto ran = RunCommandAgent(launcher_, std::move(command));
    if (!ran.ok()) {
      return AgentFailure("not started", ran.status().message(), "",
                          ran.status().code() == Status::Code::kNotFound ? Status::Code::kNotFound
                                                                         : Status::Code::kProviderError);
    }
    run.stderr_tail = ran->stderr_tail;
    const std::string tail = Redact(ran->stderr_tail);
    if (ran->timed_out) {
      run.exit_code = -1;
      return AgentFailure("timeout", "no answer within agent.timeout_s (" + FormatSeconds(config_.agent.timeout_s) +
                                         " s); its process group was killed",
                          tail, Status::Code::kTimeout);
    }
    run.exit_code = ran->exit.exited() ? ran->exit.code : -1;
    if (ran->exit.signaled())
      return AgentFailure("signal " + std::to_string(ran->exit.signal), "the agent " + ran->exit.Describe(), tail);
    if (ran->exit.code != 0)
      return AgentFailure("exit " + std::to_string(ran->exit.code), "the agent " + ran->exit.Describe(), tail);
    auto file = ReadAnswerFile(answer_file);
    if (!file.ok()) return AgentFailure("bad answer", file.status().message(), tail);
    if (*file) {
      auto parsed = ParseAgentAnswer(**file, /*json_required=*/false, "TFGRPO_ANSWER_FILE");
      if (!parsed.ok()) return AgentFailure("bad answer", Redact(parsed.status().message()), tail);
      parsed->answer = Redact(parsed->answer);
      parsed->reasoning = Redact(parsed->reasoning);
      return parsed;
    }
    // stdout: its first MiB, cut on a character.
    std::string out(Utf8Prefix(ran->stdout_head, ran->stdout_head.size()));
    if (SanitizeUtf8(out) != out) return AgentFailure("bad answer", "the agent's standard output is not valid UTF-8", tail);
    AgentAnswer a;
    a.answer = Redact(Trim(out));
    return a;
  }

  Result<AgentAnswer> PostToService(const Task& task, const ExternalRolloutSpec& spec, const std::string& library_text,
                                    GatewayLease& lease, ExternalRun& run) {
    run.exit_code = 0;
    const nlohmann::json body = {{"rollout_id", spec.rollout_id}, {"task", task.record},   {"problem", task.problem},
                                 {"base_url", lease.base_url()},  {"api_key", lease.token()}, {"library", library_text}};
    HttpRequest request;
    request.method = "POST";
    request.url = config_.agent.url;
    request.headers = {{"Content-Type", "application/json"}};
    request.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    request.timeout_s = config_.agent.timeout_s;
    request.max_response_bytes = kAnswerFileMaxBytes;
    request.secret = lease.token();
    RetryPolicy policy;
    policy.max_retries = config_.model.max_retries;
    auto response = SendWithRetry(DefaultHttpTransport(), request, policy);
    if (!response.ok()) {
      const Status& s = response.status();
      if (s.code() == Status::Code::kTimeout)
        return AgentFailure("timeout", Redact(s.message()), "", Status::Code::kTimeout);
      return AgentFailure("unreachable", Redact(s.message()), "", Status::Code::kUnavailable);
    }
    if (response->status != 200) {
      run.stderr_tail = std::string(Utf8Prefix(Trim(response->body), kStderrTailBytes));
      return AgentFailure("http " + std::to_string(response->status), "POST " + config_.agent.url,
                          Redact(run.stderr_tail));
    }
    auto parsed = ParseAgentAnswer(response->body, /*json_required=*/true, "the agent service's reply");
    if (!parsed.ok()) return AgentFailure("bad answer", Redact(parsed.status().message()));
    return parsed;
  }

  static std::string FormatSeconds(double s) {
    std::string t = std::to_string(s);
    while (!t.empty() && t.back() == '0') t.pop_back();
    if (!t.empty() && t.back() == '.') t.pop_back();
    return t;
  }

  const Config& config_;
  AgentGateway& gateway_;
  Launcher& launcher_;
  Slots slots_;
  SecretSet secrets_;
};

}  // namespace

std::unique_ptr<ExternalAgentRunner> MakeExternalAgentRunner(const Config& config, AgentGateway& gateway,
                                                             Launcher* launcher) {
  return std::make_unique<Runner>(config, gateway, launcher ? *launcher : DefaultLauncher());
}

}  // namespace tfgrpo
