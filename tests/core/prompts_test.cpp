#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tfgrpo/prompts.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

TEST(RenderTemplate, SubstitutesAndKeepsNonEmptySections) {
  auto r = RenderTemplate("A {{x}}\n{{#gt}}\nGT: {{gt}}\n{{/gt}}\nB", {{"x", "1"}, {"gt", "42"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "A 1\nGT: 42\nB");
}

TEST(RenderTemplate, DropsEmptySectionWithoutLeavingBlankLine) {
  auto r = RenderTemplate("A\n{{#gt}}\nGT: {{gt}}\n{{/gt}}\nB", {{"gt", ""}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "A\nB");
}

TEST(RenderTemplate, InvertedSectionShowsOnlyWhenEmpty) {
  PromptVars with{{"gt", "5"}}, without{{"gt", ""}};
  EXPECT_EQ(*RenderTemplate("{{#gt}}yes{{/gt}}{{^gt}}no{{/gt}}", with), "yes");
  EXPECT_EQ(*RenderTemplate("{{#gt}}yes{{/gt}}{{^gt}}no{{/gt}}", without), "no");
}

TEST(RenderTemplate, UnknownVariableIsAnErrorNamingIt) {
  auto r = RenderTemplate("hello {{nmae}}", {{"name", "x"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nmae"), std::string::npos);
}

TEST(RenderTemplate, UnclosedSectionIsAnError) {
  EXPECT_FALSE(RenderTemplate("{{#a}} never closed", {{"a", "1"}}).ok());
}

TEST(PromptSet, BuiltinsPresentAndOverridable) {
  auto builtin = PromptSet::Load(std::nullopt);
  ASSERT_TRUE(builtin.ok());
  for (auto name : {"summary", "advantage", "group_update", "batch_update", "judge"})
    EXPECT_NE(builtin->Find(name), nullptr) << name;

  auto dir = std::filesystem::temp_directory_path() / "tfgrpo_prompt_override";
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomic(dir / "judge.txt", "custom {{problem}}").ok());
  auto custom = PromptSet::Load(dir);
  ASSERT_TRUE(custom.ok());
  auto r = custom->Render("judge", {{"problem", "P"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "custom P");
  EXPECT_EQ(*custom->Find("summary"), *builtin->Find("summary"));
  std::filesystem::remove_all(dir);
}

TEST(PromptSet, CheckNamesTheFileAndAnUnknownOrMissingVariableEvenInADroppedSection) {
  auto builtin = PromptSet::Load(std::nullopt);
  ASSERT_TRUE(builtin.ok());
  EXPECT_TRUE(CheckPromptContracts(*builtin, /*judge=*/true).ok());

  auto dir = std::filesystem::temp_directory_path() / "tfgrpo_prompt_check";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // A typo inside a section that renders to nothing when the objective is empty: found anyway.
  ASSERT_TRUE(WriteFileAtomic(dir / "advantage.txt",
                              "{{summaries}}\n{{#agent_objective}}Goal: {{agent_objectve}}{{/agent_objective}}")
                  .ok());
  auto typo = PromptSet::Load(dir);
  ASSERT_TRUE(typo.ok());
  Status s = CheckPromptContracts(*typo, false);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find((dir / "advantage.txt").string()), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("unknown variable 'agent_objectve'"), std::string::npos) << s.message();

  // A summary that never shows the attempt.
  std::filesystem::remove(dir / "advantage.txt");
  ASSERT_TRUE(WriteFileAtomic(dir / "summary.txt", "Summarise {{problem}}.").ok());
  auto missing = PromptSet::Load(dir);
  ASSERT_TRUE(missing.ok());
  s = CheckPromptContracts(*missing, false);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find((dir / "summary.txt").string()), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("never uses the variable 'trajectory'"), std::string::npos) << s.message();

  // The judge is checked only when it is used.
  std::filesystem::remove(dir / "summary.txt");
  ASSERT_TRUE(WriteFileAtomic(dir / "judge.txt", "Grade {{answer}}").ok());
  auto judge = PromptSet::Load(dir);
  ASSERT_TRUE(judge.ok());
  EXPECT_TRUE(CheckPromptContracts(*judge, false).ok());
  s = CheckPromptContracts(*judge, true);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unknown variable 'answer'"), std::string::npos) << s.message();
  std::filesystem::remove_all(dir);
}

TEST(Util, ShuffleIsDeterministicPermutation) {
  auto a = ShuffledIndices(50, 42), b = ShuffledIndices(50, 42), c = ShuffledIndices(50, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<size_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) EXPECT_EQ(sorted[i], i);
}

TEST(Util, FingerprintStableAndDistinct) {
  EXPECT_EQ(Fingerprint("abc"), Fingerprint("abc"));
  EXPECT_NE(Fingerprint("abc"), Fingerprint("abd"));
  EXPECT_EQ(Fingerprint("abc").size(), 32u);
}

}  // namespace
}  // namespace tfgrpo
