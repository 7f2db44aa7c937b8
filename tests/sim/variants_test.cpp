// The simulator's code and labelling variants (examples/code, examples/classify): each is
// recognised with its hidden pitfall, answers right or into the trap, and a lesson naming the
// pitfall in the system prompt makes the right answer likely.
#include <gtest/gtest.h>

#include "sim/sim_internal.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo::sim_internal {
namespace {

const char* kCode =
    "Write a Python function `count_seats(first, last)` that returns how many seats are numbered from first to "
    "last, inclusive. Assume first <= last.";

std::string Labelling(const std::string& student) {
  return "A student answered this question:\n\nA raffle used every ticket number from 344 to 631, inclusive. How "
         "many tickets were used?\n\nThe student's answer: " +
         student + "\n\nClassify the student's answer with one label. Give it as \"Label: <label>\".";
}

TEST(SimVariants, CodeTaskHidesItsPitfallInTheFunction) {
  auto solved = FindFamilyProblem(kCode);
  ASSERT_TRUE(solved);
  EXPECT_EQ(SimPitfalls()[solved->pitfall].name, "inclusive-range");
  EXPECT_NE(solved->success_text.find("def count_seats(first, last):\n    return last - first + 1\n```"),
            std::string::npos)
      << solved->success_text;
  EXPECT_NE(solved->failure_text.find("    return last - first\n```"), std::string::npos);
  // Summaries quote the problem: the same pitfall is found there.
  auto in_summary = FindFamilyProblem(std::string("## Task\n") + kCode + "\n\n## The attempt\n...");
  ASSERT_TRUE(in_summary);
  EXPECT_EQ(in_summary->pitfall, solved->pitfall);
}

TEST(SimVariants, LabellingTaskKnowsTheRightLabel) {
  auto right = FindFamilyProblem(Labelling("288"));
  auto wrong = FindFamilyProblem(Labelling("287"));
  ASSERT_TRUE(right && wrong);
  EXPECT_EQ(right->correct, "correct");
  EXPECT_TRUE(EndsWith(right->success_text, "Label: correct"));
  EXPECT_TRUE(EndsWith(right->failure_text, "Label: off-by-one"));
  EXPECT_EQ(wrong->correct, "off-by-one");
  EXPECT_TRUE(EndsWith(wrong->success_text, "Label: off-by-one"));
  EXPECT_TRUE(EndsWith(wrong->failure_text, "Label: correct"));
}

TEST(SimVariants, ALessonNamingThePitfallMakesTheRightAnswerLikely) {
  const std::string lesson = "[G0]. " + SimPitfalls()[0].experience;
  int with = 0, without = 0;
  auto solved = FindFamilyProblem(kCode);
  ASSERT_TRUE(solved);
  for (uint64_t seed = 0; seed < 200; ++seed) {
    with += RolloutReply("Write code.\n" + lesson, kCode, seed * 7919, SimOptions{}) == solved->success_text;
    without += RolloutReply("Write code.", kCode, seed * 7919, SimOptions{}) == solved->success_text;
  }
  EXPECT_GT(with, 150);
  EXPECT_LT(without, 60);
}

}  // namespace
}  // namespace tfgrpo::sim_internal
