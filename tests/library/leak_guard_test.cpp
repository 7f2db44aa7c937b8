#include "tfgrpo/leak_guard.h"

#include <gtest/gtest.h>

namespace tfgrpo {
namespace {

LeakGuard Guard() {
  return LeakGuard({{"t1", "A train leaves the station at noon and travels at sixty miles per hour toward the city.", "1234"},
                    {"t2", "Find the probability that two dice sum to seven.", "\\frac{7}{36}"},
                    {"t3", "What fraction of the square is shaded?", "13/17"},
                    {"t4", "Short answer problem.", "42"},
                    {"t5", "Name the capital.", "New  York"}});
}

TEST(LeakGuard, FindsAnAnswerOfFourOrMoreCharacters) {
  auto m = Guard().Find("Remember that the result is 1234 here.");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->kind, LeakMatch::Kind::kAnswer);
  EXPECT_EQ(m->task_id, "t1");
  EXPECT_NE(m->Describe().find("t1"), std::string::npos);
}

TEST(LeakGuard, IgnoresShortAnswersAndPartialNumbers) {
  LeakGuard g = Guard();
  EXPECT_FALSE(g.Find("Multiply by 42 only when the units agree.").has_value());
  EXPECT_FALSE(g.Find("12345 and a12345b").has_value());
}

TEST(LeakGuard, FractionsMatchInBothForms) {
  LeakGuard g = Guard();
  auto a = g.Find("The probability is 7/36 for such sums.");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->task_id, "t2");
  auto b = g.Find("Shaded part: \\frac{13}{17} of the area.");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->task_id, "t3");
  EXPECT_TRUE(g.Find("write \\dfrac{13}{17}").has_value());
  EXPECT_TRUE(g.Find("so 13/17 it is").has_value());
  EXPECT_FALSE(g.Find("simplify 7/3 first").has_value());
}

TEST(LeakGuard, AnswersMatchCaseInsensitivelyWithWhitespaceFolded) {
  auto m = Guard().Find("The capital is new york, as always.");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->task_id, "t5");
  EXPECT_TRUE(Guard().Find("NEW\n\tYORK").has_value());
}

TEST(LeakGuard, FindsAnEightWordRunOfAProblem) {
  LeakGuard g = Guard();
  auto m = g.Find("Hint: A train leaves the station at noon, and travels fast.");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->kind, LeakMatch::Kind::kProblemText);
  EXPECT_EQ(m->task_id, "t1");
  EXPECT_EQ(m->matched, "a train leaves the station at noon and");
  // Seven words of it are not a copy.
  EXPECT_FALSE(g.Find("a train leaves the station at noon").has_value());
}

TEST(LeakGuard, FindsAWholeShortProblemOfFiveToSevenWords) {
  // A web question is often shorter than eight words; a lesson quoting it whole is a copy.
  LeakGuard g({{"w1", "How tall is Kell Lighthouse, in metres?", "38"}, {"w2", "Name the capital.", "Oslo"},
               {"w3", "Who keeps the light?", "Aird"}});
  auto m = g.Find("For the question \"How tall is Kell Lighthouse in metres\" the answer is 38.");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->kind, LeakMatch::Kind::kProblemText);
  EXPECT_EQ(m->task_id, "w1");
  EXPECT_EQ(m->matched, "how tall is kell lighthouse in metres");
  EXPECT_EQ(m->Describe(), "copies 7 words of task w1's problem ('how tall is kell lighthouse in metres')");
  // Part of it is not, nor a whole problem under five words.
  EXPECT_FALSE(g.Find("Check how tall is the tower before answering.").has_value());
  EXPECT_FALSE(g.Find("Ask who keeps the light before you answer.").has_value());
}

TEST(LeakGuard, GeneralLessonsPass) {
  EXPECT_FALSE(Guard().Find("When a rate is given per hour, convert minutes to hours before multiplying.").has_value());
  EXPECT_FALSE(LeakGuard().Find("anything").has_value());
}

}  // namespace
}  // namespace tfgrpo
