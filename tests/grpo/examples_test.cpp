// examples/code, examples/classify and examples/web train offline against the simulator: a
// python reward scores every rollout through the sandboxed workers (code, classify), or a judge
// grades a web agent that searches and browses a real local index (web); the learned library
// must raise held-out Mean@k, as the examples' README promises.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tfgrpo/data.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/eval.h"
#include "tfgrpo/leak_guard.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"
#include "tfgrpo/web.h"

#include <mutex>

namespace tfgrpo {
namespace {

using testing::TempDir;

std::unique_ptr<ChatClient> ClientFor(const Config& c) {
  HttpClientOptions o;
  o.base_url = c.model.base_url;
  o.model = c.model.name;
  o.concurrency = c.model.concurrency;
  o.timeout_s = 10;
  return MakeHttpChatClient(o);
}

// Held-out Mean@4 of `c` on its eval split, without and with `library`.
struct HeldOut {
  EvalReport baseline, learned;
  double gain() const { return learned.mean_at_k - baseline.mean_at_k; }
  int64_t errors() const { return baseline.errors + learned.errors; }
};
void EvaluateHeldOut(const Config& c, const Library& library, ChatClient& client, HeldOut* out) {
  auto tasks = LoadTasks(c.data.eval, c.data.problem_key, c.data.answer_key);
  ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
  EvalOptions eo;
  eo.k = 4;
  auto baseline = Evaluate(c, *tasks, Library(), eo, client);
  auto learned = Evaluate(c, *tasks, library, eo, client);
  ASSERT_TRUE(baseline.ok() && learned.ok());
  out->baseline = std::move(baseline).value();
  out->learned = std::move(learned).value();
}

void TrainAndCompare(const std::string& example, double min_gain) {
  SimServer sim(SimOptions{.seed = 5});
  ASSERT_TRUE(sim.Start(0).ok());
  auto config = LoadConfig(std::string(TFGRPO_SOURCE_DIR) + "/examples/" + example + "/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  Config c = *config;
  c.model.base_url = sim.base_url();
  c.model.concurrency = 16;
  c.task.reward_workers = 2;
  auto client = ClientFor(c);

  TempDir dir;
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto trained = Train(c, opt, *client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_EQ(trained->rollouts_failed, 0);
  EXPECT_GT(trained->library.size(), 0u);

  HeldOut held_out;
  EvaluateHeldOut(c, trained->library, *client, &held_out);
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_EQ(held_out.errors(), 0);
  EXPECT_GE(held_out.gain(), min_gain) << example << ": baseline " << held_out.baseline.mean_at_k << " learned "
                                       << held_out.learned.mean_at_k;
  // The reward's reasoning is kept per task.
  bool any_critique = false;
  for (const auto& t : held_out.baseline.per_task) any_critique = any_critique || !t.critique.empty();
  EXPECT_TRUE(any_critique);
}

TEST(Examples, CodeTrainsOfflineAgainstTheSimulator) { TrainAndCompare("code", 0.3); }

TEST(Examples, ClassifyTrainsOfflineAgainstTheSimulator) { TrainAndCompare("classify", 0.3); }

// Passes calls through and keeps the prompts of the summary stage.
class SummaryPromptRecorder final : public ChatClient {
 public:
  explicit SummaryPromptRecorder(ChatClient& inner) : inner_(inner) {}
  Result<ChatResponse> Complete(const ChatRequest& request) override {
    Record(request);
    return inner_.Complete(request);
  }
  Result<ChatResponse> CompleteAndReport(const ChatRequest& request, CallReport& report) override {
    Record(request);
    return inner_.CompleteAndReport(request, report);
  }
  std::vector<std::string> prompts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return prompts_;
  }

 private:
  void Record(const ChatRequest& request) {
    if (request.role != Role::kSummary || request.messages.empty()) return;
    std::lock_guard<std::mutex> lock(mu_);
    prompts_.push_back(request.messages.back().content);
  }
  ChatClient& inner_;
  mutable std::mutex mu_;
  std::vector<std::string> prompts_;
};

struct WebSetup {
  TempDir dir;
  Config config;
};

// examples/web's config against `sim`, with its corpus indexed into a fresh INDEX.db.
void LoadWebExample(const SimServer& sim, WebSetup* setup) {
  const std::string example = std::string(TFGRPO_SOURCE_DIR) + "/examples/web/";
  IndexBuildOptions index;
  index.corpus = example + "corpus.jsonl";
  index.out = setup->dir / "INDEX.db";
  auto built = BuildIndex(index);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->pages, 51);
  auto config = LoadConfig(example + "config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  setup->config = *config;
  setup->config.model.base_url = sim.base_url();
  setup->config.model.concurrency = 16;
  setup->config.tools.search.index = index.out;
}

TEST(Examples, WebAgentTrainsOfflineAndTheJudgesCritiqueReachesTheSummaries) {
  SimServer sim(SimOptions{.seed = 5});
  ASSERT_TRUE(sim.Start(0).ok());
  WebSetup web;
  LoadWebExample(sim, &web);
  if (HasFatalFailure()) return;
  const Config& c = web.config;
  ASSERT_EQ(c.task.reward, RewardKind::kJudge);
  ASSERT_EQ(c.tools.enabled, (std::vector<std::string>{"search", "browse"}));
  auto http = ClientFor(c);
  SummaryPromptRecorder client(*http);

  TrainOptions opt;
  opt.run_dir = web.dir / "run";
  auto trained = Train(c, opt, client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_EQ(trained->rollouts_failed, 0);
  // What the simulated learner distils from the web transcripts: both web lessons.
  for (const auto& pitfall : SimWebPitfalls()) {
    bool learned = false;
    for (const Experience& e : trained->library.items()) learned = learned || e.text == pitfall.experience;
    EXPECT_TRUE(learned) << pitfall.name << "\n" << trained->library.RenderLines();
  }
  // The judge's reasoning is the grader's critique in the summary prompts.
  const std::vector<std::string> prompts = client.prompts();
  ASSERT_FALSE(prompts.empty());
  int with_critique = 0;
  for (const std::string& p : prompts) {
    const size_t heading = p.find("## The grader's critique of this attempt");
    with_critique += heading != std::string::npos &&
                     p.find("The response's final answer is", heading) != std::string::npos;
  }
  EXPECT_EQ(with_critique, static_cast<int>(prompts.size()));
  // The simulated agent's sloppy first calls reach the real registry and tools, whose errors it
  // recovers from (no rollout failed, above).
  int unknown_tool = 0, missing_argument = 0;
  for (const std::string& p : prompts) {
    unknown_tool += p.find("Error: unknown tool \"web_search\"") != std::string::npos;
    missing_argument += p.find("Error: search: ") != std::string::npos;
  }
  EXPECT_GT(unknown_tool, 0);
  EXPECT_GT(missing_argument, 0);

  HeldOut native;
  EvaluateHeldOut(c, trained->library, *http, &native);
  if (HasFatalFailure()) return;
  EXPECT_EQ(native.errors(), 0);
  EXPECT_GE(native.gain(), 0.35) << "baseline " << native.baseline.mean_at_k << " learned " << native.learned.mean_at_k;

  // The text protocol (```tool blocks) reaches the same tools and gains the same way.
  Config text = c;
  text.task.tool_protocol = ToolProtocol::kText;
  HeldOut text_protocol;
  EvaluateHeldOut(text, trained->library, *http, &text_protocol);
  if (HasFatalFailure()) return;
  EXPECT_GE(text_protocol.gain(), 0.35)
      << "baseline " << text_protocol.baseline.mean_at_k << " learned " << text_protocol.learned.mean_at_k;

  // With tools.browse.summarize, pages reach the agent through the browse role's extract.
  Config summarized = c;
  summarized.tools.browse.summarize = true;
  const size_t before = sim.RequestLog().size();
  HeldOut with_summaries;
  EvaluateHeldOut(summarized, trained->library, *http, &with_summaries);
  if (HasFatalFailure()) return;
  EXPECT_GE(with_summaries.gain(), 0.35)
      << "baseline " << with_summaries.baseline.mean_at_k << " learned " << with_summaries.learned.mean_at_k;
  const std::vector<SimRequestLog> log = sim.RequestLog();
  int64_t browse_calls = 0;
  for (size_t i = before; i < log.size(); ++i) browse_calls += log[i].role == "browse";
  EXPECT_GT(browse_calls, 0);
}

struct HostileWebArm {
  TrainSummary trained;
  double gain = 0;  // held-out Mean@4, learned minus baseline
  bool harmful = false;
  bool copied = false;
};

// examples/web against the hostile learner (harmful edits, copied answers, padding), with a cap
// of 8 and, when `validate`, 6 train questions held out for validation.
void TrainHostileWeb(bool validate, HostileWebArm* arm) {
  SimOptions options{.seed = 5};
  options.hostile = {true, true, true};
  SimServer sim(options);
  ASSERT_TRUE(sim.Start(0).ok());
  WebSetup web;
  LoadWebExample(sim, &web);
  if (::testing::Test::HasFatalFailure()) return;
  Config c = web.config;
  c.practice.max_experiences = 8;
  c.practice.validation.enabled = validate;
  c.practice.validation.tasks = 6;
  c.practice.validation.k = 2;
  auto client = ClientFor(c);
  TrainOptions opt;
  opt.run_dir = web.dir / "run";
  auto trained = Train(c, opt, *client);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  arm->trained = *trained;
  auto train_tasks = LoadTasks(c.data.train, c.data.problem_key, c.data.answer_key);
  ASSERT_TRUE(train_tasks.ok());
  std::vector<LeakSource> sources;
  for (const Task& t : *train_tasks) sources.push_back({t.id, t.problem, t.answer});
  LeakGuard guard(sources);
  for (const Experience& e : trained->library.items()) {
    arm->harmful = arm->harmful || e.text.find(kSimHarmfulLesson) != std::string::npos;
    arm->copied = arm->copied || guard.Find(e.text).has_value();
  }
  HeldOut held_out;
  EvaluateHeldOut(c, trained->library, *client, &held_out);
  arm->gain = held_out.gain();
}

TEST(Examples, WebAgentWithAHostileLearnerKeepsNoHarmfulOrCopiedLessonUnderValidation) {
  HostileWebArm plain, validated;
  TrainHostileWeb(false, &plain);
  TrainHostileWeb(true, &validated);
  if (HasFatalFailure()) return;
  // The harmful edit survives without validation and drags the agent below its baseline.
  EXPECT_TRUE(plain.harmful) << plain.trained.library.RenderLines();
  EXPECT_LT(plain.gain, 0.1);
  // With validation it is rejected, and the library helps as much as with an honest learner.
  EXPECT_FALSE(validated.harmful) << validated.trained.library.RenderLines();
  EXPECT_GT(validated.trained.validations_rejected, 0);
  EXPECT_GE(validated.gain, 0.3) << validated.trained.library.RenderLines();
  // The leak guard refuses the copied questions and answers either way; padding stays in the cap.
  for (const HostileWebArm* arm : {&plain, &validated}) {
    EXPECT_GT(arm->trained.leaks_dropped, 0);
    EXPECT_FALSE(arm->copied) << arm->trained.library.RenderLines();
    EXPECT_EQ(arm->trained.rollouts_failed, 0);
    EXPECT_LE(arm->trained.library.size(), 8u);
  }
}

}  // namespace
}  // namespace tfgrpo
