// Validated updates and the budget, against a scripted model: a candidate library that scores
// worse on the validation tasks is rejected and recorded; validation tasks are held out from
// training; both survive resume; a budget stops the run with its own status and a re-run with a
// larger budget ends where an unbudgeted run ends.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "test_util.h"
#include "train_config.h"
#include "tfgrpo/budget.h"
#include "tfgrpo/engine.h"
#include "tfgrpo/role_router.h"
#include "tfgrpo/json.h"
#include "tfgrpo/store.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using testing::Reply;
using testing::ScriptedClient;
using testing::TempDir;

std::string TaskNumber(const ChatRequest& r) {
  static const std::regex re("Problem number (\\d+)");
  return testing::FirstCapture(r, re);
}

std::string SystemPrompt(const ChatRequest& r) {
  for (const auto& msg : r.messages)
    if (msg.role == "system") return msg.content;
  return "";
}

// Rollouts are right when the system prompt holds a GOOD lesson and no BAD one (training sample 3
// excepted, so groups stay informative), and otherwise only as sample 0 (never with a BAD one).
// The learner proposes a GOOD lesson in the first step and a BAD one in every later step.
Result<ChatResponse> Model(const ChatRequest& r) {
  switch (r.role) {
    case Role::kRollout:
    case Role::kValidation: {
      const std::string system = SystemPrompt(r);
      const bool good = system.find("GOOD") != std::string::npos && system.find("BAD") == std::string::npos;
      const bool first = EndsWith(r.call_id, "/r0") || EndsWith(r.call_id, "/k0");
      const bool bad = system.find("BAD") != std::string::npos;
      const bool stumbles = EndsWith(r.call_id, "/r3");
      return Reply(((good && !stumbles) || (first && !bad)) ? "\\boxed{ANS" + TaskNumber(r) + "}" : "\\boxed{WRONG}");
    }
    case Role::kSummary: return Reply("1. An attempt.");
    case Role::kAdvantage: return Reply("<Experiences>\n1. Some lesson.\n</Experiences>");
    case Role::kGroupUpdate: {
      const bool first_step = StartsWith(r.call_id, "s0/");
      const std::string text = std::string(first_step ? "GOOD" : "BAD") + " lesson number " + TaskNumber(r) + " here";
      nlohmann::json ops = nlohmann::json::array({{{"operation", "ADD"}, {"id", nullptr}, {"content", text}}});
      return Reply("```json\n" + ops.dump() + "\n```");
    }
    case Role::kBatchUpdate: return testing::KeepEveryProposal(r);
    default: return Status::Internal("unexpected role");
  }
}

Config ValidatedConfig(const TempDir& dir) {
  Config c = testing::MakeTrainConfig(dir, 10, 4, 10, 2);
  c.practice.validation.enabled = true;
  c.practice.validation.tasks = 3;
  c.practice.validation.k = 2;
  return c;
}

bool Holds(const Library& library, const std::string& word) {
  for (const auto& e : library.items())
    if (e.text.find(word) != std::string::npos) return true;
  return false;
}

TEST(Validation, WithoutItTheBadLessonStays) {
  TempDir dir;
  Config c = testing::MakeTrainConfig(dir, 10, 4, 10, 2);
  ScriptedClient client(Model);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto r = Train(c, opt, client);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(Holds(r->library, "BAD"));
  EXPECT_TRUE(client.requests(Role::kValidation).empty());
}

TEST(Validation, AWorseCandidateIsRejectedRecordedAndTheLibraryKept) {
  TempDir dir;
  Config c = ValidatedConfig(dir);
  ScriptedClient client(Model);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto r = Train(c, opt, client);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(Holds(r->library, "GOOD"));
  EXPECT_FALSE(Holds(r->library, "BAD"));
  EXPECT_EQ(r->validations_accepted, 1);
  EXPECT_EQ(r->validations_rejected, 1);
  ASSERT_TRUE(r->validation_score.has_value());
  EXPECT_DOUBLE_EQ(*r->validation_score, 1.0);
  EXPECT_NE(FormatTrainSummary(*r).find("validation: 1 accepted, 1 rejected"), std::string::npos);

  // tasks x k calls per library version: the starting one and one candidate per step.
  auto validation = client.requests(Role::kValidation);
  EXPECT_EQ(validation.size(), 3u * 3u * 2u);
  static const std::regex id_re(R"(^s[0-2]/val/t\d+/k[01]$)");
  std::set<std::string> validation_tasks, trained_tasks;
  for (const auto& req : validation) {
    EXPECT_TRUE(std::regex_match(req.call_id, id_re)) << req.call_id;
    EXPECT_DOUBLE_EQ(req.temperature, c.eval.temperature);
    validation_tasks.insert(TaskNumber(req));
  }
  for (const auto& req : client.requests(Role::kRollout)) trained_tasks.insert(TaskNumber(req));
  EXPECT_EQ(validation_tasks.size(), 3u);
  EXPECT_EQ(trained_tasks.size(), 7u);  // held out: never trained on
  for (const auto& t : validation_tasks) EXPECT_EQ(trained_tasks.count(t), 0u) << "task " << t;

  // The verdicts are in the run store and in steps/<n>/validation.json.
  auto store = RunStore::Open(dir / "run" / "run.db");
  ASSERT_TRUE(store.ok());
  auto records = testing::Must((*store)->Validations());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].step, 0);
  EXPECT_DOUBLE_EQ(records[0].candidate_score, 0.5);  // only k0 right without a lesson
  EXPECT_TRUE(records[1].accepted);
  EXPECT_DOUBLE_EQ(records[1].candidate_score, 1.0);
  EXPECT_FALSE(records[2].accepted);
  EXPECT_DOUBLE_EQ(records[2].current_score, 1.0);
  EXPECT_DOUBLE_EQ(records[2].candidate_score, 0.0);
  EXPECT_NE(records[2].candidate_json.find("BAD"), std::string::npos);
  auto file = ReadFile(dir / "run" / "steps" / "2" / "validation.json");
  ASSERT_TRUE(file.ok());
  nlohmann::json j = ParseUntrustedJson(*file);
  EXPECT_EQ(j["accepted"], false);
  EXPECT_NE(j["rejected_candidate"].dump().find("BAD"), std::string::npos);
  // The library after the rejected step is the one before it.
  EXPECT_EQ(ReadFile(dir / "run" / "steps" / "2" / "experiences.json").value(),
            ReadFile(dir / "run" / "steps" / "1" / "experiences.json").value());
  // Its provenance carries the scores.
  nlohmann::json artifact = ParseUntrustedJson(ReadFile(dir / "run" / "library.json").value());
  EXPECT_DOUBLE_EQ(artifact["provenance"]["validation"]["score"].get<double>(), 1.0);
  EXPECT_EQ(artifact["provenance"]["validation"]["history"].size(), 3u);
}

TEST(Validation, ResumeReplaysTheScoresAndEndsTheSame) {
  TempDir whole_dir, split_dir;
  ScriptedClient whole(Model);
  TrainOptions opt;
  opt.run_dir = whole_dir / "run";
  auto full = Train(ValidatedConfig(whole_dir), opt, whole);
  ASSERT_TRUE(full.ok());

  Config c = ValidatedConfig(split_dir);
  TrainOptions first;
  first.run_dir = split_dir / "run";
  first.max_steps = 1;
  ScriptedClient before(Model);
  ASSERT_TRUE(Train(c, first, before).ok());
  ScriptedClient after(Model);
  TrainOptions rest;
  rest.run_dir = split_dir / "run";
  auto resumed = Train(c, rest, after);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  // The scores of versions 0 and 1 come from the store: only the new candidate is scored.
  for (const auto& req : after.requests(Role::kValidation)) EXPECT_TRUE(StartsWith(req.call_id, "s2/val/")) << req.call_id;
  EXPECT_EQ(after.requests(Role::kValidation).size(), 3u * 2u);
  EXPECT_EQ(resumed->library.RenderLines(), full->library.RenderLines());
  EXPECT_EQ(resumed->validations_rejected, 1);
  EXPECT_EQ(resumed->validations_accepted, 1);
}

TEST(Validation, HoldingOutEveryTrainTaskIsAConfigError) {
  TempDir dir;
  Config c = ValidatedConfig(dir);
  c.practice.validation.tasks = 10;
  ScriptedClient client(Model);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto r = Train(c, opt, client);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("practice.validation.tasks"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(client.requests().empty());
}

TEST(Validation, ADataFileGivesTheTasksAndItsAnswersAreGuardedToo) {
  TempDir dir;
  Config c = testing::MakeTrainConfig(dir, 4, 4, 10, 1);
  std::ofstream(dir / "val.jsonl") << R"({"id":"v1","problem":"Problem number 77","groundtruth":"ANS77"})" << "\n";
  c.practice.validation.enabled = true;
  c.practice.validation.data = dir / "val.jsonl";
  c.practice.validation.k = 3;
  ScriptedClient client([](const ChatRequest& r) -> Result<ChatResponse> {
    if (r.role == Role::kGroupUpdate) {  // a lesson that copies the validation task's answer
      nlohmann::json ops = nlohmann::json::array(
          {{{"operation", "ADD"}, {"id", nullptr}, {"content", "GOOD: the answer is ANS77."}}});
      return Reply("```json\n" + ops.dump() + "\n```");
    }
    return Model(r);
  });
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto r = Train(c, opt, client);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(client.requests(Role::kValidation).size(), 2u * 3u);
  for (const auto& req : client.requests(Role::kValidation)) EXPECT_EQ(TaskNumber(req), "77");
  EXPECT_EQ(r->rollouts, 4 * 4);  // all four train tasks trained on
  EXPECT_GT(r->leaks_dropped, 0);
  EXPECT_FALSE(Holds(r->library, "ANS77"));
}

// ---- budget ----

Config BudgetConfig(const TempDir& dir) { return testing::MakeTrainConfig(dir, 6, 4, 3, 2); }

TEST(Budget, ATokenLimitStopsTheRunAndARaisedOneEndsLikeAnUnbudgetedRun) {
  TempDir free_dir, dir;
  ScriptedClient unlimited(Model);
  TrainOptions free_opt;
  free_opt.run_dir = free_dir / "run";
  auto free_run = Train(BudgetConfig(free_dir), free_opt, unlimited);
  ASSERT_TRUE(free_run.ok());

  Config c = BudgetConfig(dir);
  c.budget.max_tokens = 300;  // 15 tokens a call: about 20 calls
  ScriptedClient first(Model);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto stopped = Train(c, opt, first);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().code(), Status::Code::kBudgetExhausted);
  EXPECT_TRUE(std::regex_match(stopped.status().message(),
                               std::regex(R"(budget reached: [0-9,]+ tokens of 300 tokens \(raise budget\.max_tokens and re-run to continue\))")))
      << stopped.status().message();
  const size_t sent_first = first.requests().size();
  EXPECT_GE(sent_first, 20u);
  EXPECT_LT(sent_first, unlimited.requests().size());

  // The same limit again: what was spent counts, so no new call goes out.
  ScriptedClient again(Model);
  auto still = Train(c, opt, again);
  ASSERT_FALSE(still.ok());
  EXPECT_EQ(still.status().code(), Status::Code::kBudgetExhausted);
  EXPECT_TRUE(again.requests().empty());

  // Raised: the run continues where it stopped and ends where the unbudgeted run ended, sending
  // each call once over both invocations.
  c.budget.max_tokens = 1000000;
  ScriptedClient rest(Model);
  auto finished = Train(c, opt, rest);
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  EXPECT_EQ(finished->library.RenderLinesWithCredit(), free_run->library.RenderLinesWithCredit());
  EXPECT_EQ(sent_first + rest.requests().size(), unlimited.requests().size());
  // Spend per role covers both invocations.
  int64_t tokens = 0;
  for (const auto& [role, u] : finished->spend) tokens += u.prompt_tokens + u.completion_tokens;
  EXPECT_EQ(tokens, static_cast<int64_t>(unlimited.requests().size()) * 15);
  EXPECT_TRUE(finished->spend.count("rollout"));
  EXPECT_TRUE(finished->spend.count("batch_update"));
}

TEST(Budget, ADollarLimitNamesBothAmounts) {
  TempDir dir;
  Config c = BudgetConfig(dir);
  c.budget.price_per_mtok = {1.0, 0.5, 2.0, true};  // 20e-6 $ a call
  c.budget.max_usd = 0.0002;
  ScriptedClient client(Model);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto r = Train(c, opt, client);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kBudgetExhausted);
  EXPECT_TRUE(std::regex_match(r.status().message(),
                               std::regex(R"(budget reached: \$0\.0[0-9]{3} of \$0\.0002 \(raise budget\.max_usd and re-run to continue\))")))
      << r.status().message();
  // Calls in flight finish, none starts after the limit: at most one per worker past it.
  EXPECT_GE(client.requests().size(), 10u);
  EXPECT_LE(client.requests().size(), 10u + static_cast<size_t>(c.model.concurrency));
}

size_t LearnerCalls(const ScriptedClient& client) {
  size_t n = 0;
  for (const auto& r : client.requests()) n += SectionForRole(r.role) == "learner";
  return n;
}

TEST(Budget, EachSectionsCallsCountAtItsOwnPricesTowardsTheDollarLimit) {
  // Rollouts at $1 per million tokens: 15e-6 $ a call. Learner calls at $1000: 0.015 $ a call.
  TempDir dir, uniform_dir;
  Config c = BudgetConfig(dir);
  c.budget.price_per_mtok = {1.0, 1.0, 1.0, true};
  c.learner_given = true;
  c.learner.name = "big-learner";
  c.learner_price_per_mtok = {1000.0, 1000.0, 1000.0, true};
  c.judge_given = true;
  c.judge.name = "cheap-judge";
  c.judge_price_per_mtok = {0.1, 0.1, 0.1, true};
  c.budget.max_usd = 0.05;  // reached by the 4th learner call, while the rollouts cost ~0.001 $
  ScriptedClient client(Model);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto r = Train(c, opt, client);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kBudgetExhausted);
  std::smatch m;
  const std::string message = r.status().message();
  ASSERT_TRUE(std::regex_match(message, m, std::regex(R"(budget reached: \$(0\.[0-9]{4}) of \$0\.0500 .*)"))) << message;
  const size_t learner_calls = LearnerCalls(client);
  const size_t policy_calls = client.requests().size() - learner_calls;
  // The limit is reached at the right total: every call sent, each at its section's price.
  const double total = policy_calls * 15e-6 + learner_calls * 0.015;
  EXPECT_NEAR(std::stod(m[1]), total, 0.0001) << message;
  EXPECT_GE(learner_calls, 4u);
  EXPECT_LE(learner_calls, 4u + static_cast<size_t>(c.model.concurrency));

  // Billed at budget.price_per_mtok alone, the same run stays far under the same limit.
  Config uniform = BudgetConfig(uniform_dir);
  uniform.budget = c.budget;
  uniform.learner_price_per_mtok = uniform.judge_price_per_mtok = c.budget.price_per_mtok;
  ScriptedClient all(Model);
  TrainOptions uniform_opt;
  uniform_opt.run_dir = uniform_dir / "run";
  auto finished = Train(uniform, uniform_opt, all);
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  EXPECT_GT(LearnerCalls(all), learner_calls);
}

TEST(Budget, SpendIsPrintedPerRoleAndPerModelEachAtItsSectionsPrices) {
  SpendPricing pricing = {{"small", {1.0, 0.5, 2.0, true}}, {"big", {10.0, 5.0, 20.0, true}}, {"judge-m", {0.1, 0.1, 0.1, true}}};
  SpendByRole spend;
  spend["rollout"] = {1000000, 0, 0};        // $1 at small's prices
  spend["validation"] = {0, 1000000, 0};     // $2 (Usage is {prompt, completion, cached})
  spend["summary"] = {1000000, 0, 0};        // $10 at big's
  spend["batch_update"] = {0, 0, 0};
  spend["judge"] = {0, 1000000, 0};          // $0.10 at judge-m's
  spend["browse"] = {1000000, 0, 0};         // $0.10
  EXPECT_NEAR(CostUsd(spend, pricing), 13.2, 1e-9);
  const std::string by_role = FormatSpend(spend, pricing);
  EXPECT_NE(by_role.find("rollout 1,000,000 tokens ($1.00)"), std::string::npos) << by_role;
  EXPECT_NE(by_role.find("summary 1,000,000 tokens ($10.00)"), std::string::npos) << by_role;
  EXPECT_NE(by_role.find("judge 1,000,000 tokens ($0.1000)"), std::string::npos) << by_role;
  EXPECT_NE(by_role.find("total 5,000,000 tokens ($13.20)"), std::string::npos) << by_role;
  EXPECT_EQ(FormatSpendByModel(spend, pricing),
            "big 1,000,000 tokens ($10.00), judge-m 2,000,000 tokens ($0.2000), small 2,000,000 tokens ($3.00)");
  const nlohmann::json j = SpendByModelJson(spend, pricing);
  EXPECT_EQ(j["small"]["tokens"], 2000000);
  EXPECT_EQ(j["small"]["prompt_tokens"], 1000000);
  EXPECT_NEAR(j["small"]["usd"].get<double>(), 3.0, 1e-9);
  EXPECT_NEAR(j["big"]["usd"].get<double>(), 10.0, 1e-9);
  EXPECT_NEAR(j["judge-m"]["usd"].get<double>(), 0.2, 1e-9);
  EXPECT_NEAR(SpendJson(spend, pricing)["usd"].get<double>(), 13.2, 1e-9);
  // One model in every section: one line, the roles summed.
  SpendPricing one = UniformPricing({1.0, 0.5, 2.0, true}, "m");
  EXPECT_EQ(FormatSpendByModel(spend, one), "m 5,000,000 tokens ($7.00)");
  // A config built in code with only budget.price_per_mtok bills every section at it.
  Config only_budget;
  only_budget.budget.price_per_mtok = {3.0, 1.0, 4.0, true};
  for (const char* role : {"rollout", "summary", "batch_update", "judge", "browse"})
    EXPECT_DOUBLE_EQ(PricingOf(only_budget).ForRole(role).prices.completion, 4.0) << role;
  // Unpriced: tokens only.
  EXPECT_EQ(FormatSpendByModel(spend, UniformPricing({}, "m")), "m 5,000,000 tokens");
  EXPECT_FALSE(SpendByModelJson(spend, UniformPricing({}, "m"))["m"].contains("usd"));
}

TEST(Budget, TheTrainSummaryPrintsSpendPerModel) {
  TempDir dir;
  Config c = BudgetConfig(dir);
  c.budget.price_per_mtok = {1.0, 1.0, 1.0, true};
  c.learner_given = true;
  c.learner.name = "big-learner";
  c.learner_price_per_mtok = {1000.0, 1000.0, 1000.0, true};
  c.judge_price_per_mtok = c.budget.price_per_mtok;
  ScriptedClient client(Model);
  TrainOptions opt;
  opt.run_dir = dir / "run";
  auto r = Train(c, opt, client);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::string line = FormatTrainSummary(*r);
  const size_t learner_calls = LearnerCalls(client), policy_calls = client.requests().size() - learner_calls;
  const std::string expected = "; spend by model: big-learner " + std::to_string(learner_calls * 15) + " tokens (" +
                               FormatUsd(learner_calls * 0.015) + "), " + c.model.name + " " +
                               std::to_string(policy_calls * 15) + " tokens (" + FormatUsd(policy_calls * 15e-6) + ")";
  EXPECT_NE(line.find(expected), std::string::npos) << line << "\nexpected: " << expected;
}

}  // namespace
}  // namespace tfgrpo
