#include <csignal>
#include <cstdio>

#include "cli/commands.h"

namespace tfgrpo::cli {

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

int Fail(const Status& status) {
  std::fprintf(stderr, "error: %s\n", status.message().c_str());
  return status.code() == Status::Code::kBudgetExhausted ? kExitBudget : 1;
}

HttpClientOptions ClientOptionsFrom(const Config& config) {
  HttpClientOptions o;
  o.base_url = config.model.base_url;
  o.model = config.model.name;
  o.api_key = config.ApiKey();
  o.timeout_s = config.model.timeout_s;
  o.max_retries = config.model.max_retries;
  o.concurrency = config.model.concurrency;
  o.max_tokens = config.model.max_tokens;
  return o;
}

static sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void WaitForTerminationSignal(const std::function<void()>& on_hup) {
  sigset_t set = TerminationSignals();
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return;
    if (sig == SIGHUP && on_hup) {
      on_hup();
      continue;
    }
    if (sig != SIGHUP) return;
  }
}

}  // namespace tfgrpo::cli
