#include "tfgrpo/eval.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>

#include "tfgrpo/agent.h"
#include "tfgrpo/budget.h"
#include "tfgrpo/external_sampling.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/retrieval.h"
#include "tfgrpo/thread_pool.h"

namespace tfgrpo {

double PassAtK(int n, int c, int k) {
  if (n <= 0 || k <= 0) return 0;
  if (k > n) k = n;
  if (n - c < k) return 1.0;
  // 1 - prod_{i=n-c+1}^{n} (1 - k/i): the numerically stable form of 1 - C(n-c,k)/C(n,k).
  double miss = 1.0;
  for (int i = n - c + 1; i <= n; ++i) miss *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - miss;
}

std::optional<double> EvalReport::usd() const {
  if (!pricing.priced()) return std::nullopt;
  return CostUsd(usage_by_role, pricing);
}

nlohmann::json EvalReport::ToJson() const {
  nlohmann::json per = nlohmann::json::array();
  for (const auto& t : per_task) {
    per.push_back({{"task_id", t.task_id}, {"samples", t.samples}, {"successes", t.successes},
                   {"errors", t.errors}, {"mean_reward", t.mean_reward}});
    if (!t.critique.empty()) per.back()["critique"] = t.critique;
  }
  nlohmann::json j = {{"k", k},
          {"tasks", tasks},
          {"mean_at_k", mean_at_k},
          {"pass_at_k", pass_at_k},
          {"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"cached_tokens", usage.cached_tokens},
          {"samples", samples},
          {"errors", errors},
          {"truncated", truncated},
          {"wall_s", wall_s},
          {"library_size", library_size},
          {"spend", SpendJson(usage_by_role, pricing)},
          {"spend_by_model", SpendByModelJson(usage_by_role, pricing)},
          {"per_task", per}};
  if (auto cost = usd()) j["usd"] = *cost;
  if (retrieval_top_k > 0) j["retrieval"] = {{"top_k", retrieval_top_k}, {"fallbacks", retrieval_fallbacks}};
  if (agent) j["agent"] = agent->ToJson();
  return j;
}

Result<EvalReport> Evaluate(const Config& config, const std::vector<Task>& tasks, const Library& library,
                            const EvalOptions& options, ChatClient& inner_client) {
  const auto start = std::chrono::steady_clock::now();
  Progress& progress = options.progress ? *options.progress : NullProgress();
  TruncationCountingClient client(inner_client);
  auto prompts = PromptSet::Load(options.prompts_dir);
  if (!prompts.ok()) return prompts.status();
  if (config.task.reward == RewardKind::kJudge) {
    if (Status s = prompts->Check("judge", JudgePromptContract().known, JudgePromptContract().required); !s.ok())
      return s;
  }
  auto reward = MakeRewardFor(config, &client, *prompts);
  if (!reward.ok()) return reward.status();
  auto made_tools = MakeToolsFor(config, &client);
  if (!made_tools.ok()) return made_tools.status();
  const ToolRegistry tools = std::move(made_tools).value();

  const int k = options.k;
  SamplerSetup setup{client, **reward, config.task, &tools, AppendLibrary(RolloutInstructions(config.task, &tools), library),
                     options.temperature, Role::kRollout, "eval"};
  // retrieval.top_k: each task's prompt holds only its most relevant experiences.
  std::unique_ptr<Retriever> retriever = Retriever::FromConfig(config, DefaultHttpTransport(), options.embedding_cache);
  ExternalAgents* agents = options.external_agents;
  std::unique_ptr<ExternalAgents> own_agents;  // task.mode external: the gateway listens while this eval runs
  if (!agents && config.task.mode == TaskMode::kExternal) {
    auto started = ExternalAgents::Start(config, client, options.call_store);
    if (!started.ok()) return started.status();
    own_agents = std::move(started).value();
    agents = own_agents.get();
  }
  ExternalSampling external{agents, &library};
  if (retriever) {
    std::vector<std::string> queries;
    for (const Task& t : tasks) queries.push_back(t.problem);
    RolloutPrompts prompts = PromptsForTasks(retriever.get(), RolloutInstructions(config.task, &tools), library, queries);
    setup.task_prompts = std::move(prompts.system_prompts);
    external.task_positions = std::move(prompts.seen);
  }
  if (agents) setup.external = &external;
  const ExternalCounts agents_before = agents ? agents->counts() : ExternalCounts{};
  std::mutex mu;
  Usage usage;
  std::map<std::string, Usage> usage_by_role;
  progress.Begin("eval", static_cast<int64_t>(tasks.size()) * k);
  SampleGrid grid;
  {
    ThreadPool pool(config.model.concurrency);
    grid = SampleTasks(pool, setup, tasks, k, [&](size_t t, int j, const ScoredSample& sample) {
      if (sample.error.code() == Status::Code::kCancelled) return;
      Usage spent;
      if (sample.rollout) spent = sample.rollout->usage;
      if (sample.ok) spent += sample.reward.usage;
      {
        std::lock_guard lock(mu);
        if (sample.rollout) usage_by_role["rollout"] += sample.rollout->usage;
        if (sample.ok && sample.reward.usage.prompt_tokens + sample.reward.usage.completion_tokens > 0)
          usage_by_role["judge"] += sample.reward.usage;
      }
      if (!sample.ok && !IsFatalForRun(sample.error)) {
        spdlog::warn("eval task {} sample {}: {}{}", tasks[t].id, j, sample.reward_failed ? "reward failed: " : "",
                     sample.error.ToString());
      }
      {
        std::lock_guard lock(mu);
        usage += spent;
      }
      progress.Advance("eval", spent.prompt_tokens + spent.completion_tokens);
    });
  }
  progress.End("eval");
  if (grid.fatal) return *grid.fatal;

  EvalReport report;
  report.k = k;
  report.tasks = static_cast<int>(tasks.size());
  report.usage = usage;
  report.usage_by_role = usage_by_role;
  report.pricing = PricingOf(config);
  report.library_size = static_cast<int>(library.size());
  if (retriever) {
    report.retrieval_top_k = retriever->top_k();
    report.retrieval_fallbacks = retriever->stats().fallbacks;
  }
  double reward_sum = 0, pass_sum = 0;
  for (size_t t = 0; t < tasks.size(); ++t) {
    TaskEval te;
    te.task_id = tasks[t].id;
    te.samples = k;
    double sum = 0;
    double critique_reward = 2;
    for (const ScoredSample& s : grid.samples[t]) {
      const double score = s.ok ? s.reward.score : 0;  // a failed sample scores 0
      if (s.ok && !s.reward.reasoning.empty() && score < critique_reward) {
        critique_reward = score;
        te.critique = s.reward.reasoning;
      }
      sum += score;
      te.errors += s.ok ? 0 : 1;
      te.successes += score >= 0.5 ? 1 : 0;
    }
    te.mean_reward = k ? sum / k : 0;
    reward_sum += sum;
    pass_sum += PassAtK(k, te.successes, k);
    report.errors += te.errors;
    report.samples += k;
    report.per_task.push_back(std::move(te));
  }
  // Zero for every sample is not a score but a broken setup (the endpoint down, a server that
  // refuses every call, a reward that cannot run): say why and write nothing.
  if (report.samples > 0 && report.errors == report.samples) {
    if (grid.retryable) {
      const std::string why = "every eval sample failed: " + EveryFailureReason(*grid.retryable, false);
      return grid.retryable->code() == Status::Code::kTimeout ? Status::Timeout(why) : Status::Unavailable(why);
    }
    const Status permanent = grid.permanent.value_or(Status::Internal("no sample could be scored"));
    const std::string why = "every eval sample failed: " + EveryFailureReason(permanent, grid.permanent_in_reward);
    return grid.permanent_in_reward ? Status::InvalidArgument(why) : Status::ProviderError(why);
  }
  if (agents) report.agent = agents->counts() - agents_before;
  report.truncated = client.truncated();
  report.mean_at_k = report.samples ? reward_sum / report.samples : 0;
  report.pass_at_k = tasks.empty() ? 0 : pass_sum / tasks.size();
  report.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace tfgrpo
