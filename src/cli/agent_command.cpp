// `tfgrpo agent try --config C [--task ID] [--experiences FILE]`: runs the user's agent once on one
// task through a gateway of its own, and prints each call (the request messages as sent upstream,
// the reply), the answer, the reward and the reasoning. How a user checks an integration before
// paying for a run. Exit status 1 when the agent failed (or the reward could not score it).
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "tfgrpo/budget.h"
#include "tfgrpo/data.h"
#include "tfgrpo/external_sampling.h"
#include "tfgrpo/library.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/reward.h"
#include "tfgrpo/role_router.h"
#include "tfgrpo/util.h"

namespace tfgrpo::cli {
namespace {

struct AgentTryArgs {
  std::string config;
  std::string task;
  std::string experiences;
};

std::string ContentText(const nlohmann::json& message) {
  if (!message.is_object() || !message.contains("content")) return "";
  const nlohmann::json& c = message["content"];
  if (c.is_string()) return c.get<std::string>();
  if (c.is_null()) return "";
  return c.dump();
}

// Every line of `text` indented by `pad`.
std::string Indented(const std::string& text, const std::string& pad) {
  std::string out;
  for (const std::string& line : SplitLines(text)) out += pad + line + "\n";
  return out.empty() ? pad + "(empty)\n" : out;
}

void PrintMessage(const nlohmann::json& m, const std::string& pad) {
  const std::string role = m.is_object() ? m.value("role", "?") : "?";
  std::string head = pad + "[" + role;
  if (m.is_object() && m.contains("tool_call_id")) head += " " + m["tool_call_id"].dump();
  std::printf("%s]\n%s", head.c_str(), Indented(ContentText(m), pad + "  ").c_str());
  if (m.is_object() && m.contains("tool_calls") && m["tool_calls"].is_array()) {
    for (const auto& tc : m["tool_calls"]) {
      const nlohmann::json fn = tc.is_object() ? tc.value("function", nlohmann::json::object()) : nlohmann::json();
      std::printf("%s  tool call %s: %s(%s)\n", pad.c_str(), tc.is_object() ? tc.value("id", "").c_str() : "",
                  fn.is_object() ? fn.value("name", "?").c_str() : "?",
                  fn.is_object() && fn.contains("arguments")
                      ? (fn["arguments"].is_string() ? fn["arguments"].get<std::string>() : fn["arguments"].dump()).c_str()
                      : "");
    }
  }
}

Result<Task> PickTask(const Config& config, const std::string& id) {
  if (config.data.train.empty() && config.data.eval.empty())
    return Status::InvalidArgument(config.source.string() + ": agent try needs data.train (or data.eval) for its task");
  for (const auto& path : {config.data.train, config.data.eval}) {
    if (path.empty()) continue;
    auto tasks = LoadTasks(path, config.data.problem_key, config.data.answer_key, config.data.max_task_bytes);
    if (!tasks.ok()) return tasks.status();
    for (const Task& t : *tasks)
      if (id.empty() || t.id == id) return t;
    if (id.empty()) return Status::InvalidArgument(path.string() + " holds no task");
  }
  return Status::NotFound("--task " + id + ": no task with that id in data.train or data.eval");
}

int RunAgentTry(const GlobalOptions& global, const AgentTryArgs& args) {
  auto config = LoadConfig(args.config);
  if (!config.ok()) return Fail(config.status().message());
  if (config->task.mode != TaskMode::kExternal || !config->agent.given)
    return Fail(config->source.string() + ": agent try runs the user's agent: it needs task.mode: external and an "
                                          "agent: section (command or url)");
  auto task = PickTask(*config, args.task);
  if (!task.ok()) return Fail(task.status().message());
  Library library;
  if (!args.experiences.empty()) {
    auto loaded = Library::Load(args.experiences);
    if (!loaded.ok()) return Fail(loaded.status().message());
    library = std::move(loaded).value();
  }
  auto prompts = PromptSet::Load(global.prompts());
  if (!prompts.ok()) return Fail(prompts.status().message());
  RoutedClients clients(*config);
  BudgetGate budget(clients.client(), config->budget, PricingOf(*config));
  auto reward = MakeRewardFor(*config, &budget, *prompts);
  if (!reward.ok()) return Fail(reward.status().message());
  auto agents = ExternalAgents::Start(*config, budget, nullptr);
  if (!agents.ok()) return Fail(agents.status().message());
  std::printf("agent try: task %s, library of %zu experiences, gateway %s\n", task->id.c_str(), library.size(),
              (*agents)->gateway().url().c_str());
  std::fflush(stdout);

  ExternalSampling external;
  external.agents = agents->get();
  external.library = &library;
  const TranscriptLimits limits{static_cast<size_t>(config->practice.tool_output_chars),
                                static_cast<size_t>(config->practice.trajectory_chars)};
  ScoredSample sample = SampleExternal(external, **reward, *task, config->practice.rollout_temperature, "try", "r0",
                                       Role::kRollout, limits);
  const ExternalRun empty;
  const ExternalRun& run = sample.external ? *sample.external : empty;
  for (size_t i = 0; i < run.calls.size(); ++i) {
    const GatewayCall& call = run.calls[i];
    std::printf("\ncall %zu (%s, %s, HTTP %d)\n", i + 1, call.call_id.c_str(), call.replayed ? "replayed" : "sent",
                call.http_status);
    std::printf("  request messages:\n");
    if (call.messages.is_array())
      for (const auto& m : call.messages) PrintMessage(m, "    ");
    std::printf("  reply:\n");
    if (call.http_status == 200) {
      PrintMessage(call.reply, "    ");
    } else {
      std::printf("%s", Indented(call.reply.dump(), "    ").c_str());
    }
  }
  std::printf("\n%zu calls", run.calls.size());
  if (sample.rollout)
    std::printf(", %lld prompt tokens, %lld completion tokens", static_cast<long long>(sample.rollout->usage.prompt_tokens),
                static_cast<long long>(sample.rollout->usage.completion_tokens));
  std::printf("; exit code %d\n", run.exit_code);
  if (!Trim(run.stderr_tail).empty()) std::printf("stderr (last 2 KiB):\n%s", Indented(run.stderr_tail, "  ").c_str());
  if (sample.rollout) std::printf("answer:\n%s", Indented(sample.rollout->final_reply, "  ").c_str());
  if (!sample.ok) {
    std::fflush(stdout);
    return Fail(sample.reward_failed ? "the reward could not score the answer: " + sample.error.ToString()
                                     : sample.error.message());
  }
  std::printf("reward: %g (%s)\n", sample.reward.score,
              run.self_reward ? "the agent's own" : ("task.reward " + std::string(Name(config->task.reward))).c_str());
  if (!sample.reward.reasoning.empty()) std::printf("reasoning:\n%s", Indented(sample.reward.reasoning, "  ").c_str());
  return 0;
}

}  // namespace

void AddAgentCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* runner) {
  auto* agent = app.add_subcommand("agent", "Your own agent (task.mode external)");
  agent->require_subcommand(1);
  auto args = std::make_shared<AgentTryArgs>();
  auto* cmd = agent->add_subcommand("try", "Run the agent once on one task through the gateway and print every call");
  cmd->add_option("--config", args->config, "YAML run configuration")->required()->check(CLI::ExistingFile);
  cmd->add_option("--task", args->task, "Task id (default: the first task of data.train)");
  cmd->add_option("--experiences", args->experiences, "A library to inject (experiences.json or library.json)")
      ->check(CLI::ExistingFile);
  cmd->callback([&global, args, runner] { *runner = [&global, args] { return RunAgentTry(global, *args); }; });
}

}  // namespace tfgrpo::cli
