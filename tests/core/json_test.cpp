#include "tfgrpo/json.h"

#include <gtest/gtest.h>

#include <string>

namespace tfgrpo {
namespace {

std::string Nested(int levels, char open = '[', char close = ']') {
  return std::string(levels, open) + std::string(levels, close);
}

TEST(JsonNestingDepth, CountsArraysAndObjects) {
  EXPECT_EQ(JsonNestingDepth("1"), 0);
  EXPECT_EQ(JsonNestingDepth("[]"), 1);
  EXPECT_EQ(JsonNestingDepth(R"({"a":[{"b":[1]}],"c":{}})"), 4);
}

TEST(JsonNestingDepth, IgnoresBracketsInsideStrings) {
  EXPECT_EQ(JsonNestingDepth(R"({"a":"[[[[{{{{"})"), 1);
  EXPECT_EQ(JsonNestingDepth(R"(["say \"[[[\" and \\", [1]])"), 2);
}

TEST(JsonNestingDepth, StopsCountingPastTheLimit) {
  EXPECT_EQ(JsonNestingDepth(Nested(100000), 10), 11);
}

TEST(ParseUntrustedJson, RefusesDeepNestingWithoutCrashing) {
  const std::string deep = Nested(100000);
  EXPECT_TRUE(ParseUntrustedJson(deep).is_discarded());
  EXPECT_TRUE(ParseUntrustedOrderedJson(Nested(100000, '{', '}')).is_discarded());
  // Invalid unbalanced input is refused too, long before the end.
  EXPECT_TRUE(ParseUntrustedJson(std::string(1 << 20, '[')).is_discarded());
}

TEST(ParseUntrustedJson, AcceptsUpToTheLimit) {
  EXPECT_FALSE(ParseUntrustedJson(Nested(kMaxJsonDepth)).is_discarded());
  EXPECT_TRUE(ParseUntrustedJson(Nested(kMaxJsonDepth + 1)).is_discarded());
  auto j = ParseUntrustedJson(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["messages"][0]["content"], "hi");
  EXPECT_TRUE(ParseUntrustedJson("{not json").is_discarded());
}

}  // namespace
}  // namespace tfgrpo
