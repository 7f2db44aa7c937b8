#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "sim/sim_internal.h"
#include "sim_test_util.h"
#include "tfgrpo/prompts.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using simtest::Body;
using simtest::Boxed;
using simtest::Content;
using simtest::SystemWithLibrary;

std::string Render(const std::string& name, const PromptVars& vars) {
  static const PromptSet prompts = *PromptSet::Load(std::nullopt);
  auto r = prompts.Render(name, vars);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : "";
}

std::string Ask(SimModel& model, const std::string& role, const std::string& user,
                const std::string& call_id = "") {
  return Content(model.Respond(Body("", user, 0.0), role, call_id));
}

struct Rollout {
  std::string reply;
  bool correct;
};

std::vector<Rollout> Rollouts(SimModel& model, const nlohmann::json& task,
                              const std::string& system, int g,
                              const std::string& prefix = "e0/s0") {
  std::vector<Rollout> out;
  nlohmann::json body = Body(system, task["problem"].get<std::string>());
  for (int r = 0; r < g; ++r) {
    std::string reply = Content(model.Respond(body, "rollout", prefix + "/r" + std::to_string(r)));
    out.push_back({reply, Boxed(reply) == task["groundtruth"].get<std::string>()});
  }
  return out;
}

std::string SummaryPrompt(const nlohmann::json& task, const Rollout& rollout, bool with_truth) {
  return Render("summary",
                {{"agent_objective", ""},
                 {"problem", task["problem"]},
                 {"ground_truth", with_truth ? task["groundtruth"].get<std::string>() : ""},
                 {"reward", rollout.correct ? "1" : "0"},
                 {"critique", ""},
                 {"library", "(empty)"},
                 {"trajectory", rollout.reply}});
}

// Summaries numbered the way an engine would list them for the advantage prompt.
std::string AdvantagePrompt(SimModel& model, const nlohmann::json& task,
                            const std::vector<Rollout>& rollouts, bool with_truth) {
  std::string summaries;
  for (size_t i = 0; i < rollouts.size(); ++i) {
    std::string summary = Ask(model, "summary", SummaryPrompt(task, rollouts[i], with_truth));
    summaries += "### Attempt " + std::to_string(i + 1);
    if (with_truth) summaries += " (reward " + std::string(rollouts[i].correct ? "1" : "0") + ")";
    summaries += "\n" + summary + "\n\n";
  }
  return Render("advantage",
                {{"agent_objective", ""},
                 {"library", "(empty)"},
                 {"learning_objective", ""},
                 {"problem", task["problem"]},
                 {"ground_truth", with_truth ? task["groundtruth"].get<std::string>() : ""},
                 {"summaries", summaries},
                 {"max_experiences", "2"}});
}

std::string LibraryListing(const std::vector<std::string>& lines) {
  if (lines.empty()) return "(empty)";
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += (i ? "\n" : "") + std::string("[G") + std::to_string(i) + "]. " + lines[i];
  }
  return out;
}

std::string GroupUpdatePrompt(const std::vector<std::string>& library,
                              const std::vector<std::string>& lessons) {
  std::string numbered;
  for (size_t i = 0; i < lessons.size(); ++i)
    numbered += std::to_string(i + 1) + ". " + lessons[i] + "\n";
  return Render("group_update", {{"agent_objective", ""},
                                 {"learning_objective", ""},
                                 {"library", LibraryListing(library)},
                                 {"experiences", numbered}});
}

double SuccessRate(SimModel& model, const std::vector<nlohmann::json>& tasks,
                   const std::string& system, int per_task) {
  int wins = 0, total = 0;
  for (const auto& task : tasks) {
    for (const auto& r : Rollouts(model, task, system, per_task)) {
      wins += r.correct;
      ++total;
    }
  }
  return static_cast<double>(wins) / total;
}

std::vector<nlohmann::json> TasksOf(const std::string& pitfall, int n, uint64_t seed) {
  std::vector<nlohmann::json> out;
  for (const auto& t : GenerateSimTasks(n * 6, seed)) {
    if (t["pitfall"] == pitfall) out.push_back(t);
  }
  return out;
}

TEST(SimModelRollout, SameRequestAndCallIdGiveTheSameAnswerAcrossInstancesAndOrder) {
  SimOptions options;
  options.seed = 11;
  SimModel first(options), second(options);
  auto tasks = GenerateSimTasks(6, 3);
  std::vector<std::string> forward, backward(tasks.size());
  for (const auto& t : tasks) {
    forward.push_back(Content(
        first.Respond(Body(simtest::kInstructions, t["problem"]), "rollout", "e0/s1/t2/r3")));
  }
  for (size_t i = tasks.size(); i-- > 0;) {
    backward[i] = Content(second.Respond(Body(simtest::kInstructions, tasks[i]["problem"]),
                                         "rollout", "e0/s1/t2/r3"));
  }
  EXPECT_EQ(forward, backward);

  // The temperature does not enter the draw: evaluation samples behave like training ones.
  for (int r = 0; r < 10; ++r) {
    std::string id = "e0/s0/t0/r" + std::to_string(r);
    EXPECT_EQ(Content(first.Respond(Body(simtest::kInstructions, tasks[0]["problem"], 0.7),
                                    "rollout", id)),
              Content(first.Respond(Body(simtest::kInstructions, tasks[0]["problem"], 0.3),
                                    "rollout", id)));
  }

  SimOptions other_seed = options;
  other_seed.seed = 12;
  SimModel third(other_seed);
  int differing = 0;
  for (int r = 0; r < 20; ++r) {
    std::string id = "e0/s0/t0/r" + std::to_string(r);
    auto body = Body(simtest::kInstructions, tasks[0]["problem"]);
    differing +=
        Content(first.Respond(body, "rollout", id)) != Content(third.Respond(body, "rollout", id));
  }
  EXPECT_GT(differing, 0) << "the seed should change the draws";
}

TEST(SimModelRollout, ConcurrentCallsAnswerAsSequentialOnes) {
  SimOptions options;
  options.seed = 5;
  options.p_success_without = 0.5;
  SimModel sequential(options), concurrent(options);
  auto tasks = GenerateSimTasks(12, 9);
  std::vector<std::string> expected;
  for (const auto& t : tasks) {
    expected.push_back(
        Content(sequential.Respond(Body(simtest::kInstructions, t["problem"]), "rollout", "x")));
  }
  std::vector<std::string> got(tasks.size());
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (size_t i = w; i < tasks.size(); i += 4) {
        size_t j = tasks.size() - 1 - i;  // reversed order
        got[j] = Content(
            concurrent.Respond(Body(simtest::kInstructions, tasks[j]["problem"]), "rollout", "x"));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(got, expected);
}

TEST(SimModelRollout, CallIdsVaryTheSamplesOfOneGroup) {
  SimOptions options;
  options.p_success_without = 0.5;
  SimModel model(options);
  auto task = GenerateSimTasks(1, 4)[0];
  auto group = Rollouts(model, task, simtest::kInstructions, 16);
  int wins = 0;
  for (const auto& r : group) wins += r.correct;
  EXPECT_GT(wins, 0);
  EXPECT_LT(wins, 16);
  // Every reply still ends with a boxed answer.
  for (const auto& r : group) EXPECT_FALSE(Boxed(r.reply).empty()) << r.reply;
}

TEST(SimModelRollout, SuccessRateFollowsTheKeywordInTheSystemMessage) {
  SimOptions options;
  options.seed = 3;
  SimModel model(options);
  auto tasks = GenerateSimTasks(24, 21);  // 4 tasks of each pitfall
  std::vector<std::string> all_experiences;
  for (const auto& p : SimPitfalls()) all_experiences.push_back(p.experience);

  double without = SuccessRate(model, tasks, simtest::kInstructions, 20);
  double with = SuccessRate(model, tasks, SystemWithLibrary(all_experiences), 20);
  EXPECT_NEAR(without, options.p_success_without, 0.06);
  EXPECT_NEAR(with, options.p_success_with, 0.06);

  // An experience about another pitfall does not help; the keyword matches in any letter case.
  auto range_tasks = TasksOf("inclusive-range", 4, 21);
  const auto& speed = SimPitfalls()[4];
  ASSERT_EQ(speed.name, "average-speed");
  double unrelated = SuccessRate(model, range_tasks, SystemWithLibrary({speed.experience}), 50);
  EXPECT_NEAR(unrelated, options.p_success_without, 0.08);
  double upper =
      SuccessRate(model, range_tasks, SystemWithLibrary({"COUNT AN INCLUSIVE RANGE WITH +1."}), 50);
  EXPECT_NEAR(upper, options.p_success_with, 0.08);
}

TEST(SimModelRollout, UnknownOrMissingRoleAnswersLikeARollout) {
  SimModel model(SimOptions{});
  auto task = GenerateSimTasks(1, 2)[0];
  auto body = Body(simtest::kInstructions, task["problem"]);
  std::string rollout = Content(model.Respond(body, "rollout", "a"));
  EXPECT_EQ(Content(model.Respond(body, "", "a")), rollout);
  EXPECT_EQ(Content(model.Respond(body, "mystery", "a")), rollout);
  std::string unknown = Content(model.Respond(Body("", "Tell me about 42 cats."), "rollout", ""));
  EXPECT_FALSE(Boxed(unknown).empty());
}

TEST(SimModelSummary, KeepsTheKeywordTheVerdictAndTheReward) {
  SimOptions options;
  options.p_success_without = 0.5;
  SimModel model(options);
  auto task = TasksOf("percent-change", 1, 8)[0];
  const std::string keyword = SimPitfalls()[1].keyword;
  auto group = Rollouts(model, task, simtest::kInstructions, 12);
  int seen_wins = 0, seen_losses = 0;
  for (const auto& r : group) {
    (r.correct ? seen_wins : seen_losses)++;
    for (bool with_truth : {true, false}) {
      std::string summary = Ask(model, "summary", SummaryPrompt(task, r, with_truth));
      EXPECT_TRUE(StartsWith(summary, "1. ")) << summary;
      EXPECT_TRUE(ContainsCaseInsensitive(summary, keyword)) << summary;
      EXPECT_EQ(ContainsCaseInsensitive(summary, "mistake"), !r.correct) << summary;
      EXPECT_EQ(ContainsCaseInsensitive(summary, "reward"), with_truth) << summary;
      if (with_truth) {
        EXPECT_TRUE(ContainsCaseInsensitive(summary, r.correct ? "reward 1" : "reward 0"))
            << summary;
      }
    }
  }
  ASSERT_GT(seen_wins, 0);
  ASSERT_GT(seen_losses, 0);
}

TEST(SimModelAdvantage, DistilsTheFailingPitfallsExperience) {
  SimOptions options;
  options.p_success_without = 0.4;
  SimModel model(options);
  for (size_t p = 0; p < SimPitfalls().size(); ++p) {
    auto task = TasksOf(SimPitfalls()[p].name, 1, 30)[0];
    auto group = Rollouts(model, task, simtest::kInstructions, 5);
    for (bool with_truth : {true, false}) {
      std::string reply = Ask(model, "advantage", AdvantagePrompt(model, task, group, with_truth));
      auto items = simtest::ExperienceItems(reply);
      ASSERT_GE(items.size(), 1u) << reply;
      EXPECT_LE(items.size(), 2u);
      EXPECT_EQ(items[0], SimPitfalls()[p].experience) << reply;
      EXPECT_LT(reply.find_first_not_of(" \n"), reply.find("<Experiences>"))
          << "reasoning comes first";
    }
  }
  // Nothing recognisable: a generic lesson, still in the format.
  auto items =
      simtest::ExperienceItems(Ask(model, "advantage", "Two attempts at an essay question."));
  ASSERT_EQ(items.size(), 1u);
  for (const auto& p : SimPitfalls()) EXPECT_FALSE(ContainsCaseInsensitive(items[0], p.keyword));
}

// The whole learning loop on the simulator: lessons distilled from a group, added by the group
// update, raise the success rate once they are in the system message.
TEST(SimModelLearning, DistilledExperienceRaisesSuccessOnHeldOutTasks) {
  SimModel model(SimOptions{});
  std::vector<std::string> library;
  auto train = GenerateSimTasks(24, 40);
  for (int epoch = 0; epoch < 2; ++epoch) {
    for (size_t t = 0; t < train.size(); ++t) {
      std::string prefix = "e" + std::to_string(epoch) + "/t" + std::to_string(t);
      auto group = Rollouts(model, train[t], SystemWithLibrary(library), 5, prefix);
      int wins = 0;
      for (const auto& r : group) wins += r.correct;
      if (wins == 0 || wins == 5) continue;  // no contrast to learn from, as in the engine
      auto lessons = simtest::ExperienceItems(
          Ask(model, "advantage", AdvantagePrompt(model, train[t], group, true)));
      nlohmann::json ops =
          simtest::FencedJson(Ask(model, "group_update", GroupUpdatePrompt(library, lessons)));
      ASSERT_TRUE(ops.is_array());
      for (const auto& op : ops) {
        if (op["operation"] == "ADD") library.push_back(op["content"]);
      }
    }
  }
  // Each pitfall's experience is learned, once.
  for (const auto& p : SimPitfalls()) {
    int holding = 0;
    for (const auto& line : library) holding += ContainsCaseInsensitive(line, p.keyword);
    EXPECT_EQ(holding, 1) << p.keyword;
  }
  auto held_out = GenerateSimTasks(12, 41);
  double before = SuccessRate(model, held_out, simtest::kInstructions, 10);
  double after = SuccessRate(model, held_out, SystemWithLibrary(library), 10);
  EXPECT_LT(before, 0.3);
  EXPECT_GT(after, 0.75);
}

TEST(SimModelGroupUpdate, AddsOnlyNewIdeasAndNeverAKeywordAlreadyPresent) {
  SimModel model(SimOptions{});
  const auto& p = SimPitfalls();
  std::vector<std::string> library = {p[0].experience};
  std::vector<std::string> lessons = {"Remember that an Inclusive Range counts both ends.",
                                      p[1].experience, p[1].experience,
                                      sim_internal::kGenericLesson};
  std::string reply = Ask(model, "group_update", GroupUpdatePrompt(library, lessons));
  EXPECT_LT(0u, reply.find("```json")) << "prose comes first";
  nlohmann::json ops = simtest::FencedJson(reply);
  ASSERT_TRUE(ops.is_array()) << reply;
  ASSERT_EQ(ops.size(), 4u) << reply;
  std::vector<std::string> kinds;
  for (const auto& op : ops) {
    kinds.push_back(op["operation"]);
    EXPECT_TRUE(op.contains("id"));
    EXPECT_TRUE(op["content"].is_string());
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"NONE", "ADD", "NONE", "ADD"}));
  EXPECT_EQ(ops[1]["content"], p[1].experience);

  // Once the generic lesson is in the library it is not added again.
  library.push_back(lessons[3]);
  nlohmann::json again =
      simtest::FencedJson(Ask(model, "group_update", GroupUpdatePrompt(library, {lessons[3]})));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0]["operation"], "NONE");
}

TEST(SimModelBatchUpdate, DedupesProposalsAndDeletesRedundantLibraryLines) {
  SimModel model(SimOptions{});
  const auto& p = SimPitfalls();
  std::vector<std::string> library = {p[0].experience, p[2].experience,
                                      "Count the inclusive range with +1."};
  nlohmann::json proposed = nlohmann::json::array({
      {{"operation", "ADD"}, {"id", nullptr}, {"content", p[0].experience}},  // already present
      {{"operation", "ADD"}, {"id", nullptr}, {"content", p[3].experience}},
      {{"operation", "ADD"},
       {"id", nullptr},
       {"content", "Use 60 minutes per hour."}},  // same idea
      {{"operation", "NONE"}, {"id", nullptr}, {"content", p[2].experience}},
      {{"operation", "ADD"}, {"id", nullptr}, {"content", p[5].experience}},
      {{"operation", "UPDATE"}, {"id", "G1"}, {"content", "Subtracting a negative adds its size."}},
  });
  std::string prompt = Render(
      "batch_update",
      {{"library", LibraryListing(library)},
       {"operations", proposed.dump(2)},
       {"max_library", "64"},
       {"agent_objective", ""},
       {"learning_objective", ""}});
  nlohmann::json ops = simtest::FencedJson(Ask(model, "batch_update", prompt));
  ASSERT_TRUE(ops.is_array());
  std::multiset<std::string> summary;
  for (const auto& op : ops) {
    summary.insert(op["operation"].get<std::string>() + " " +
                   (op["id"].is_string() ? op["id"].get<std::string>() : "-") + " " +
                   op["content"].get<std::string>());
  }
  std::multiset<std::string> expected = {
      "DELETE G2 ",
      "ADD - " + p[3].experience,
      "ADD - " + p[5].experience,
      "UPDATE G1 Subtracting a negative adds its size.",
  };
  EXPECT_EQ(summary, expected) << ops.dump(2);

  // A clean library and nothing new: an empty array.
  std::string quiet =
      Render("batch_update",
             {{"library", LibraryListing({p[0].experience})},
              {"max_library", ""},
              {"agent_objective", ""},
              {"learning_objective", ""},
              {"operations",
               nlohmann::json::array({{{"operation", "NONE"}, {"id", nullptr}, {"content", "x"}}})
                   .dump()}});
  nlohmann::json none = simtest::FencedJson(Ask(model, "batch_update", quiet));
  ASSERT_TRUE(none.is_array());
  EXPECT_TRUE(none.empty());
}

TEST(SimModelJudge, GradesTheBoxedAnswerAgainstTheReference) {
  SimModel model(SimOptions{});
  auto grade = [&](const std::string& truth, const std::string& response) {
    std::string reply =
        Ask(model, "judge",
            Render("judge",
                   {{"problem", "How many?"}, {"ground_truth", truth}, {"response", response}}));
    auto lines = SplitLines(Trim(reply));
    return lines.back();
  };
  EXPECT_EQ(grade("346", "Counting gives \\boxed{346}."), "GRADE: CORRECT");
  EXPECT_EQ(grade("1234", "So \\boxed{1,234}."), "GRADE: CORRECT");
  EXPECT_EQ(grade("346", "Counting gives \\boxed{345}."), "GRADE: INCORRECT");
  EXPECT_EQ(grade("346", "I am not sure."), "GRADE: INCORRECT");
}

TEST(SimModelJudge, ALenientJudgeGradesEveryAnswerCorrect) {
  SimModel lenient(SimOptions{.lenient_judge = true}), truthful(SimOptions{});
  auto grade = [&](SimModel& model, const std::string& response) {
    std::string reply = Ask(model, "judge",
                            Render("judge", {{"problem", "How many?"}, {"ground_truth", "346"}, {"response", response}}));
    return SplitLines(Trim(reply)).back();
  };
  EXPECT_EQ(grade(lenient, "Counting gives \\boxed{345}."), "GRADE: CORRECT");
  EXPECT_EQ(grade(lenient, "I am not sure."), "GRADE: CORRECT");
  EXPECT_EQ(grade(truthful, "Counting gives \\boxed{345}."), "GRADE: INCORRECT");
  // Only the judge is lenient: rollouts answer as a truthful server's do.
  auto body = Body("You are a careful solver.", "What is the value of 3 - (-4) - 5?");
  EXPECT_EQ(Content(lenient.Respond(body, "rollout", "r0")), Content(truthful.Respond(body, "rollout", "r0")));
}

TEST(SimModelUsage, CountsTokensAndTheSharedPrefix) {
  SimModel model(SimOptions{});
  std::string system =
      SystemWithLibrary({SimPitfalls()[0].experience, SimPitfalls()[1].experience});
  auto body = Body(system, "What is the value of 3 - (-4) - 5?");
  auto first = model.Respond(body, "rollout", "r0");
  const auto& usage = first["usage"];
  EXPECT_EQ(usage["prompt_tokens"], ApproxTokens(system + "What is the value of 3 - (-4) - 5?"));
  EXPECT_EQ(usage["completion_tokens"], ApproxTokens(Content(first)));
  EXPECT_EQ(usage["prompt_cache_hit_tokens"], 0);
  EXPECT_EQ(usage["prompt_tokens_details"]["cached_tokens"], 0);

  auto repeat = model.Respond(body, "rollout", "r1");
  int64_t repeat_cached = repeat["usage"]["prompt_cache_hit_tokens"];
  EXPECT_GT(repeat_cached, 0);
  EXPECT_LE(repeat_cached, repeat["usage"]["prompt_tokens"].get<int64_t>());
  EXPECT_EQ(repeat["usage"]["prompt_tokens_details"]["cached_tokens"], repeat_cached);

  auto same_system =
      model.Respond(Body(system, "A different question entirely, 7 cats."), "rollout", "r2");
  int64_t shared = same_system["usage"]["prompt_cache_hit_tokens"];
  EXPECT_GT(shared, 0);
  EXPECT_LT(shared, repeat_cached);

  SimModel fresh(SimOptions{});
  EXPECT_EQ(fresh.Respond(body, "rollout", "r0")["usage"]["prompt_cache_hit_tokens"], 0);
}

TEST(SimModelResponse, IsAnOpenAIChatCompletion) {
  SimOptions always_right;
  always_right.p_success_without = always_right.p_success_with = 1.0;
  SimModel model(always_right);
  nlohmann::json body = Body(simtest::kInstructions, "What is 2 + 2?");
  body["model"] = "my-model";
  auto r = model.Respond(body, "rollout", "");
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_TRUE(r["id"].is_string());
  EXPECT_TRUE(r["created"].is_number_integer());
  EXPECT_EQ(r["model"], "my-model");
  ASSERT_EQ(r["choices"].size(), 1u);
  EXPECT_EQ(r["choices"][0]["index"], 0);
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(
      r["usage"]["total_tokens"].get<int64_t>(),
      r["usage"]["prompt_tokens"].get<int64_t>() + r["usage"]["completion_tokens"].get<int64_t>());

  // Odd but legal shapes still get an answer: content parts, null content, no messages.
  nlohmann::json parts = {
      {"messages",
       {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "What is 5?"}}}}}}}};
  EXPECT_EQ(Boxed(Content(model.Respond(parts, "rollout", ""))), "5");
  nlohmann::json null_content = {{"messages", {{{"role", "user"}, {"content", nullptr}}}}};
  EXPECT_FALSE(Boxed(Content(model.Respond(null_content, "rollout", ""))).empty());
  EXPECT_FALSE(Boxed(Content(model.Respond(nlohmann::json::object(), "rollout", ""))).empty());
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

// The consolidation prompt shows each experience's credit: the simulated learner reads it apart
// from the text, and deletes an experience blamed far more often than credited.
TEST(SimLearnerCredit, ReadsCreditApartFromTextAndDeletesWhatHurts) {
  auto lines = sim_internal::ParseLibraryLines(
      "[G0]. Count both endpoints. (helpful=4 harmful=1)\n[G1]. Always round up. (helpful=0 harmful=5)\n[G2]. Plain.");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "Count both endpoints.");
  EXPECT_EQ(lines[0].helpful, 4);
  EXPECT_EQ(lines[1].harmful, 5);
  EXPECT_EQ(lines[2].text, "Plain.");
  EXPECT_EQ(lines[2].helpful + lines[2].harmful, 0);

  const std::string reply = sim_internal::BatchUpdateReply(
      "## Current library\n[G0]. Count both endpoints. (helpful=4 harmful=1)\n[G1]. Always round up. "
      "(helpful=0 harmful=5)\n\n## Proposed operations\n[]");
  auto ops = simtest::FencedJson(reply);
  ASSERT_TRUE(ops.is_array()) << reply;
  ASSERT_EQ(ops.size(), 1u) << reply;
  EXPECT_EQ(ops[0]["operation"], "DELETE");
  EXPECT_EQ(ops[0]["id"], "G1");
}

}  // namespace
}  // namespace tfgrpo
