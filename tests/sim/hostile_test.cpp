// The simulator's hostile learner: each failure mode does what the defences are tested against
// (a harmful lesson now and then that makes rollouts fail, answers copied into lessons, filler
// padding the library), and stays off unless asked for.
#include <gtest/gtest.h>

#include "sim/sim_internal.h"
#include "sim_test_util.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using namespace sim_internal;

std::string ProblemOf(int i) { return GenerateSimTasks(6, 50)[i]["problem"].get<std::string>(); }
std::string AnswerOf(int i) { return GenerateSimTasks(6, 50)[i]["groundtruth"].get<std::string>(); }

std::string AdvantagePrompt(int i, int variant) {
  return "Problem:\n" + ProblemOf(i) + "\nGround truth: " + AnswerOf(i) + "\n### Attempt 1 (reward 0)\nIt made a " +
         "mistake (variant " + std::to_string(variant) + ").\n### Attempt 2 (reward 1)\nFine.";
}

TEST(SimHostility, ParsesModeListsAndNamesABadOne) {
  auto all = ParseSimHostility("all");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->harmful && all->copy_answers && all->pad);
  auto some = ParseSimHostility("pad, harmful");
  ASSERT_TRUE(some.ok());
  EXPECT_TRUE(some->pad && some->harmful && !some->copy_answers);
  EXPECT_FALSE(ParseSimHostility("none")->any());
  EXPECT_FALSE(all->garbage);  // not part of "all": it would change what the hostile demo measures
  auto garbage = ParseSimHostility("garbage");
  ASSERT_TRUE(garbage.ok());
  EXPECT_TRUE(garbage->garbage && garbage->any() && !garbage->harmful);
  auto bad = ParseSimHostility("harmful,evil");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'evil'"), std::string::npos);
}

TEST(SimHostility, TheHarmfulLessonIsProposedSometimesAndOnlyWhenAskedFor) {
  SimHostility harmful;
  harmful.harmful = true;
  int added = 0, updated = 0, proposed_when_off = 0;
  const int n = 300;
  const std::string weak = SimPitfalls()[0].experience, strong = SimPitfalls()[1].experience;
  for (int v = 0; v < n; ++v) {
    const std::string proposals = "Proposed:\n[\n{\"operation\": \"ADD\", \"id\": null, \"content\": \"" +
                                  SimPitfalls()[2].experience + " (variant " + std::to_string(v) + ")\"}\n]\n";
    const std::string empty = "Library:\n(empty)\n" + proposals;
    const std::string credited = "Library:\n[G0]. " + weak + " (helpful=1 harmful=2)\n[G1]. " + strong +
                                 " (helpful=5 harmful=0)\n" + proposals;
    added += BatchUpdateReply(empty, harmful).find(kSimHarmfulLesson) != std::string::npos;
    auto ops = FirstJsonArray(BatchUpdateReply(credited, harmful)).value_or(nlohmann::json::array());
    for (const auto& op : ops) {
      if (op["operation"] != "UPDATE") continue;
      EXPECT_EQ(op["id"], "G1");  // the best-credited experience, whose credit it keeps
      EXPECT_EQ(op["content"], strong + " " + kSimHarmfulLesson);
      ++updated;
    }
    proposed_when_off += BatchUpdateReply(credited).find(kSimHarmfulLesson) != std::string::npos;
  }
  EXPECT_EQ(proposed_when_off, 0);
  EXPECT_GT(added, n / 6);  // about one in three
  EXPECT_LT(added, n / 2);
  EXPECT_GT(updated, n / 6);
  EXPECT_LT(updated, n / 2);
  // A library that already holds it gets no second one.
  const std::string poisoned = "Library:\n[G0]. " + strong + " " + kSimHarmfulLesson + " (helpful=5 harmful=0)\n[]\n";
  for (int v = 0; v < 50; ++v)
    EXPECT_EQ(BatchUpdateReply(poisoned + std::to_string(v), harmful).find("UPDATE"), std::string::npos);
}

TEST(SimHostility, RolloutsThatSeeTheHarmfulLessonFail) {
  SimOptions options;
  int with_lesson = 0, with_both = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    const std::string problem = ProblemOf(static_cast<int>(seed % 6));
    const SolvedProblem solved = SolveProblem(problem);
    const std::string good = SimPitfalls()[solved.pitfall].experience;
    with_lesson += RolloutReply(simtest::SystemWithLibrary({good}), problem, seed, options) == solved.success_text;
    with_both += RolloutReply(simtest::SystemWithLibrary({good, kSimHarmfulLesson}), problem, seed, options) ==
                 solved.success_text;
  }
  EXPECT_GT(with_lesson, 150);
  EXPECT_LT(with_both, 15);
}

TEST(SimHostility, CopyModeQuotesTheProblemAndItsAnswer) {
  SimHostility copy;
  copy.copy_answers = true;
  const std::string reply = AdvantageReply(AdvantagePrompt(2, 0), copy);
  const SolvedProblem solved = SolveProblem(ProblemOf(2));
  ASSERT_TRUE(solved.in_family);
  EXPECT_NE(reply.find("the answer is " + solved.correct), std::string::npos) << reply;
  // Eight words of the problem in a row: what the leak guard looks for.
  std::istringstream words(ProblemOf(2));
  std::string first_eight, w;
  for (int i = 0; i < 8 && words >> w; ++i) first_eight += (i ? " " : "") + w;
  EXPECT_NE(reply.find(first_eight), std::string::npos) << reply;
  EXPECT_EQ(AdvantageReply(AdvantagePrompt(2, 0)).find("the answer is"), std::string::npos);
}

TEST(SimHostility, PadModeAddsFillerBeforeTheRealLessons) {
  SimHostility pad;
  pad.pad = true;
  const std::string prompt = "Library:\n(empty)\nNew lessons:\n1. " + SimPitfalls()[0].experience + "\n";
  auto ops = FirstJsonArray(GroupUpdateReply(prompt, pad));
  ASSERT_TRUE(ops.has_value());
  ASSERT_GE(ops->size(), 3u);
  EXPECT_EQ((*ops)[0]["operation"], "ADD");
  EXPECT_EQ(FindKeyword((*ops)[0]["content"].get<std::string>()), -1);  // says nothing specific
  EXPECT_EQ(ops->back()["content"], SimPitfalls()[0].experience);  // the real lesson comes last
  auto plain = FirstJsonArray(GroupUpdateReply(prompt));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->size(), 1u);
}

TEST(SimHostility, GarbageModeCutsAboutTwoConsolidationRepliesInThreeByCallId) {
  SimHostility garbage;
  garbage.garbage = true;
  const std::string prompt = "## Current library\n(empty)\n\n## Proposals\n[\n{\"proposal\": \"P1\", \"operation\": "
                             "\"ADD\", \"id\": null, \"content\": \"" + SimPitfalls()[0].experience + "\"}\n]\n";
  int cut = 0;
  const int n = 300;
  for (int i = 0; i < n; ++i) {
    const std::string reply = BatchUpdateReply(prompt, garbage, "s" + std::to_string(i) + "/batch_update");
    const bool parses = simtest::FencedJson(reply).is_array();
    cut += parses ? 0 : 1;
  }
  EXPECT_GT(cut, n / 2);
  EXPECT_LT(cut, n * 5 / 6);
  // Off: always usable.
  EXPECT_TRUE(simtest::FencedJson(BatchUpdateReply(prompt, {}, "s0/batch_update")).is_array());
}

TEST(SimLearner, TheConsolidationSaysWhichProposalsEachOperationCameFrom) {
  const std::string lesson = SimPitfalls()[0].experience;
  const std::string prompt = "## Current library\n(empty)\n\n## Proposals\n[\n"
                             "{\"proposal\": \"P1\", \"operation\": \"ADD\", \"id\": null, \"content\": \"" + lesson + "\"},\n"
                             "{\"proposal\": \"P2\", \"operation\": \"ADD\", \"id\": null, \"content\": \"" + lesson + "\"}\n]\n";
  auto ops = simtest::FencedJson(BatchUpdateReply(prompt));
  ASSERT_TRUE(ops.is_array());
  ASSERT_EQ(ops.size(), 1u) << ops.dump();  // the duplicate merged
  EXPECT_EQ(ops[0]["from"], nlohmann::json::array({"P1", "P2"}));
}

}  // namespace
}  // namespace tfgrpo
