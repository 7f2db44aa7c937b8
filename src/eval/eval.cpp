#include "tfgrpo/eval.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "tfgrpo/agent.h"
#include "tfgrpo/prompts.h"
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

nlohmann::json EvalReport::ToJson() const {
  nlohmann::json per = nlohmann::json::array();
  for (const auto& t : per_task)
    per.push_back({{"task_id", t.task_id}, {"samples", t.samples}, {"successes", t.successes},
                   {"errors", t.errors}, {"mean_reward", t.mean_reward}});
  return {{"k", k},
          {"tasks", tasks},
          {"mean_at_k", mean_at_k},
          {"pass_at_k", pass_at_k},
          {"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"cached_tokens", usage.cached_tokens},
          {"samples", samples},
          {"errors", errors},
          {"wall_s", wall_s},
          {"library_size", library_size},
          {"per_task", per}};
}

Result<EvalReport> Evaluate(const Config& config, const std::vector<Task>& tasks, const Library& library,
                            const EvalOptions& options, ChatClient& client) {
  const auto start = std::chrono::steady_clock::now();
  Progress& progress = options.progress ? *options.progress : NullProgress();
  auto prompts = PromptSet::Load(options.prompts_dir);
  if (!prompts.ok()) return prompts.status();
  auto reward = MakeReward(config.task.reward, &client, *prompts, config.task.math_precision);
  if (!reward.ok()) return reward.status();
  auto made_tools = MakeToolsFor(config);
  if (!made_tools.ok()) return made_tools.status();
  std::unique_ptr<ToolRunner> tools = std::move(made_tools).value();

  const int k = options.k;
  const std::string system_prompt = AppendLibrary(RolloutInstructions(config.task), library);
  struct Sample {
    double reward = 0;
    bool error = false;
  };
  std::vector<std::vector<Sample>> results(tasks.size(), std::vector<Sample>(k));
  std::mutex mu;
  Usage usage;
  Status fatal;
  std::atomic<bool> aborted{false};

  progress.Begin("eval", static_cast<int64_t>(tasks.size()) * k);
  {
    ThreadPool pool(config.model.concurrency);
    for (size_t t = 0; t < tasks.size(); ++t) {
      for (int j = 0; j < k; ++j) {
        pool.Submit([&, t, j] {
          Sample& out = results[t][j];
          if (aborted) {
            out.error = true;
            return;
          }
          const Task& task = tasks[t];
          RolloutSpec spec;
          spec.system_prompt = system_prompt;
          spec.problem = task.problem;
          spec.temperature = options.temperature;
          spec.call_id = "eval/t" + task.id + "/k" + std::to_string(j);
          auto r = RunRollout(client, spec, config.task, tools.get());
          Usage spent;
          if (r.ok()) {
            spent = r->usage;
            auto score = (*reward)->Score(task, r->final_reply, spec.call_id + "/judge");
            if (score.ok()) {
              out.reward = score->score;
              spent += score->usage;
            } else {
              out.error = true;
              spdlog::warn("eval task {} sample {}: reward failed: {}", task.id, j, score.status().ToString());
            }
          } else {
            out.error = true;
            if (r.status().code() == Status::Code::kUnauthorized) {
              std::lock_guard lock(mu);
              if (!aborted.exchange(true)) fatal = r.status();
            } else {
              spdlog::warn("eval task {} sample {}: {}", task.id, j, r.status().ToString());
            }
          }
          {
            std::lock_guard lock(mu);
            usage += spent;
          }
          progress.Advance("eval", spent.prompt_tokens + spent.completion_tokens);
        });
      }
    }
    pool.Wait();
  }
  progress.End("eval");
  if (aborted) return fatal;

  EvalReport report;
  report.k = k;
  report.tasks = static_cast<int>(tasks.size());
  report.usage = usage;
  report.library_size = static_cast<int>(library.size());
  double reward_sum = 0, pass_sum = 0;
  for (size_t t = 0; t < tasks.size(); ++t) {
    TaskEval te;
    te.task_id = tasks[t].id;
    te.samples = k;
    double sum = 0;
    for (const auto& s : results[t]) {
      sum += s.reward;
      te.errors += s.error ? 1 : 0;
      te.successes += s.reward >= 0.5 ? 1 : 0;
    }
    te.mean_reward = k ? sum / k : 0;
    reward_sum += sum;
    pass_sum += PassAtK(k, te.successes, k);
    report.errors += te.errors;
    report.samples += k;
    report.per_task.push_back(std::move(te));
  }
  report.mean_at_k = report.samples ? reward_sum / report.samples : 0;
  report.pass_at_k = tasks.empty() ? 0 : pass_sum / tasks.size();
  report.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace tfgrpo
