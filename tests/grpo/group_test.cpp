// The group statistics (grpo/group.h): informative groups and per-experience credit by uid.
#include "grpo/group.h"

#include <gtest/gtest.h>

namespace tfgrpo::grpo_internal {
namespace {

TEST(InformativeGroup, NeedsTwoScoredRollouts) {
  EXPECT_FALSE(IsInformative({}, true));
  EXPECT_FALSE(IsInformative({1.0}, true));
  EXPECT_FALSE(IsInformative({0.0}, false));
  EXPECT_TRUE(IsInformative({0.0, 1.0}, true));
}

TEST(InformativeGroup, WithGroundTruthEqualRewardsTeachNothing) {
  EXPECT_FALSE(IsInformative({1.0, 1.0, 1.0}, true));
  EXPECT_FALSE(IsInformative({0.0, 0.0}, true));
  EXPECT_TRUE(IsInformative({1.0, 1.0, 0.5}, true));
}

TEST(InformativeGroup, WithoutGroundTruthAnyTwoRolloutsCompare) {
  // The learner compares the attempts itself: equal (unseen) rewards do not rule the group out.
  EXPECT_TRUE(IsInformative({0.0, 0.0}, false));
  EXPECT_TRUE(IsInformative({1.0, 1.0, 1.0}, false));
}

TEST(GroupCredit, AboveTheMeanIsHelpfulBelowIsHarmfulAtTheMeanNothing) {
  // Mean of the scored attempts: (1 + 0 + 0.5) / 3 = 0.5.
  std::vector<Attempt> attempts = {{true, 1.0, true, {7, 9}}, {true, 0.0, true, {9}}, {true, 0.5, true, {3}}};
  std::vector<Credit> expected = {{7, true}, {9, true}, {9, false}};
  EXPECT_EQ(GroupCredit(attempts), expected);
}

TEST(GroupCredit, UnsummarizedAttemptsCountInTheMeanButCreditNothing) {
  // The failed summary's attempt (reward 0) pulls the mean to 0.5, so the 0.6 attempt is helpful.
  std::vector<Attempt> attempts = {{true, 0.6, true, {4}}, {true, 0.4, false, {5}}, {true, 0.5, true, {}}};
  std::vector<Credit> expected = {{4, true}};
  EXPECT_EQ(GroupCredit(attempts), expected);
}

TEST(GroupCredit, UnscoredAttemptsAreLeftOutOfTheMean) {
  // A rollout that failed is not a reward of 0: the mean is that of the scored two, 0.5.
  std::vector<Attempt> attempts = {{true, 1.0, true, {1}}, {true, 0.0, true, {2}}, {false, 0.0, false, {3}}};
  std::vector<Credit> expected = {{1, true}, {2, false}};
  EXPECT_EQ(GroupCredit(attempts), expected);
  EXPECT_TRUE(GroupCredit({{false, 0, false, {1}}}).empty());
  EXPECT_TRUE(GroupCredit({}).empty());
}

TEST(ApplyCredit, FollowsTheExperienceByUidNotByPosition) {
  Library library({{"first"}, {"second"}, {"third"}});
  const uint64_t second = library.items()[1].uid, third = library.items()[2].uid;
  // The first experience is deleted after the votes were cast: positions shift, uids do not.
  library.Apply({{OpKind::kDelete, "G0", "", "", {}}}, 0);
  ASSERT_EQ(library.size(), 2u);
  ApplyCredit(library, {{second, true}, {second, true}, {third, false}});
  EXPECT_EQ(library.items()[0].text, "second");
  EXPECT_EQ(library.items()[0].helpful, 2);
  EXPECT_EQ(library.items()[0].harmful, 0);
  EXPECT_EQ(library.items()[1].harmful, 1);
}

TEST(ApplyCredit, AVoteForAnExperienceNoLongerThereIsSkipped) {
  Library library({{"only"}});
  const uint64_t gone = library.items()[0].uid + 100;
  ApplyCredit(library, {{gone, true}});
  EXPECT_EQ(library.items()[0].helpful, 0);
  EXPECT_EQ(library.items()[0].harmful, 0);
}

TEST(UidsAt, MapsPositionsAndSkipsThoseOutOfRange) {
  Library library({{"a"}, {"b"}});
  std::vector<uint64_t> expected = {library.items()[1].uid, library.items()[0].uid};
  EXPECT_EQ(UidsAt(library, {1, 0, 2}), expected);
}

}  // namespace
}  // namespace tfgrpo::grpo_internal
