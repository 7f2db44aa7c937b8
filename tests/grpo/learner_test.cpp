// The learner's reply parsers (<Experiences>, operations, "Applied:") and its four stages' prompt
// variables (tfgrpo/learner.h), on plain data: no simulator, no calls.
#include "tfgrpo/learner.h"

#include <gtest/gtest.h>

#include <set>

#include "tfgrpo/prompts.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

Operation Op(OpKind kind, std::optional<std::string> id, std::string content, std::string group = "") {
  Operation op;
  op.kind = kind;
  op.id = std::move(id);
  op.content = std::move(content);
  op.group = std::move(group);
  return op;
}

// ---- ParseExperiences ---------------------------------------------------------------------------

TEST(ParseExperiences, WellFormedBlock) {
  auto r = ParseExperiences("<Experiences>\n1. Check units.\n2. Verify the answer.\n</Experiences>", 5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<std::string>{"Check units.", "Verify the answer."}));
}

TEST(ParseExperiences, TagsInAnyCaseWithProseAround) {
  auto r = ParseExperiences(
      "Looking at the attempts, the winners checked their work.\n"
      "<EXPERIENCES>\n  1. Re-derive key steps.\n</experiences>\nThat is all.",
      5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<std::string>{"Re-derive key steps."}));
}

TEST(ParseExperiences, UsesTheLastBlock) {
  auto r = ParseExperiences(
      "Draft:\n<Experiences>\n1. draft lesson\n</Experiences>\nFinal:\n<Experiences>\n1. final lesson\n"
      "</Experiences>",
      5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{"final lesson"}));
}

TEST(ParseExperiences, ContinuationLinesJoinWithASpace) {
  auto r = ParseExperiences(
      "<Experiences>\n1. When a problem asks for a probability,\n   enumerate the sample space.\n\n"
      "2. Second lesson.\n</Experiences>",
      5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{
                    "When a problem asks for a probability, enumerate the sample space.", "Second lesson."}));
}

TEST(ParseExperiences, ParenStyleAndBoldNumbers) {
  auto r = ParseExperiences("<Experiences>\n1) paren style\n**2.** bold number\n**3. bold lead** rest\n</Experiences>",
                            5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{"paren style", "bold number", "bold lead rest"}));
}

TEST(ParseExperiences, DecimalsAreNotItemNumbers) {
  auto r = ParseExperiences("<Experiences>\n1. Round only at the end:\n1.5 stays 1.5 until then.\n</Experiences>", 5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{"Round only at the end: 1.5 stays 1.5 until then."}));
}

TEST(ParseExperiences, KeepsAtMostMaxItems) {
  auto r = ParseExperiences("<Experiences>\n1. a\n2. b\n3. c\n4. d\n</Experiences>", 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{"a", "b"}));
}

TEST(ParseExperiences, EmptyItemsAreDropped) {
  auto r = ParseExperiences("<Experiences>\n1.\n2. real\n3.   \n</Experiences>", 5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{"real"}));
}

TEST(ParseExperiences, MissingClosingTagTakesTheRest) {
  auto r = ParseExperiences("reasoning\n<Experiences>\n1. truncated reply lesson", 5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{"truncated reply lesson"}));
}

TEST(ParseExperiences, OpeningTagMentionedAfterTheBlockFallsBackToTheClosedBlock) {
  auto r = ParseExperiences("<Experiences>\n1. real lesson\n</Experiences>\nI listed them in <Experiences> above.", 5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<std::string>{"real lesson"}));
}

TEST(ParseExperiences, MissingTagsIsAnErrorQuotingTheReply) {
  auto r = ParseExperiences("1. a lesson without tags", 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("1. a lesson without tags"), std::string::npos) << r.status().message();
}

TEST(ParseExperiences, TagsWithoutNumberedItemsIsAnError) {
  auto r = ParseExperiences("<Experiences>\n- bullet instead\n</Experiences>", 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no numbered item"), std::string::npos);
  EXPECT_FALSE(ParseExperiences("<Experiences></Experiences>", 5).ok());
}

TEST(ParseExperiences, LongRepliesAreQuotedShortly) {
  std::string reply(5000, 'x');
  auto r = ParseExperiences(reply, 5);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 200u);
}

// ---- ParseOperations ---------------------------------------------------------------------------

// Regression input fuzz/regressions/operations/deep_nesting_stack_overflow: a reply nested 50,000
// levels deep overflowed the stack while the parsed array was copied.
TEST(ParseOperations, DeeplyNestedReplyIsAnErrorNotACrash) {
  std::string deep_objects;
  for (int i = 0; i < 50000; ++i) deep_objects += "{\"a\":";
  deep_objects += "1" + std::string(50000, '}');
  auto fenced = ParseOperations("```json\n" + deep_objects + "\n```");
  ASSERT_FALSE(fenced.ok());
  EXPECT_NE(fenced.status().message().find("nested deeper than 128 levels"), std::string::npos)
      << fenced.status().message();
  // Arrays: spans deeper than the bound are skipped; the innermost 128 levels are an array of
  // arrays, not of operations.
  const std::string deep_arrays = std::string(50000, '[') + "1" + std::string(50000, ']');
  EXPECT_FALSE(ParseOperations("```json\n[{\"operation\": \"ADD\", \"y\": " + deep_arrays + "}]\n```").ok());
  EXPECT_FALSE(ParseOperations("ops: " + deep_arrays).ok());
  // Nesting within the bound still parses.
  auto shallow = ParseOperations(R"([{"operation": "ADD", "content": "x", "y": [[[1]]]}])");
  ASSERT_TRUE(shallow.ok()) << shallow.status().ToString();
  EXPECT_EQ(shallow->size(), 1u);
}

TEST(ParseOperations, FencedJsonBlock) {
  auto r = ParseOperations(
      "Here is my decision:\n```json\n[{\"operation\": \"ADD\", \"id\": null, \"content\": \"new\"},\n"
      " {\"operation\": \"UPDATE\", \"id\": \"G2\", \"content\": \"better\"},\n"
      " {\"operation\": \"DELETE\", \"id\": \"G0\"},\n {\"operation\": \"NONE\"}]\n```\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].kind, OpKind::kAdd);
  EXPECT_FALSE((*r)[0].id.has_value());
  EXPECT_EQ((*r)[0].content, "new");
  EXPECT_EQ((*r)[1].kind, OpKind::kUpdate);
  EXPECT_EQ((*r)[1].id, std::optional<std::string>("G2"));
  EXPECT_EQ((*r)[2].kind, OpKind::kDelete);
  EXPECT_EQ((*r)[2].content, "");
  EXPECT_EQ((*r)[3].kind, OpKind::kNone);
}

TEST(ParseOperations, LastOfSeveralFencedBlocks) {
  auto r = ParseOperations(
      "First thought:\n```json\n[{\"operation\": \"ADD\", \"content\": \"draft\"}]\n```\n"
      "Actually:\n```json\n[{\"operation\": \"ADD\", \"content\": \"final\"}]\n```");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].content, "final");
}

TEST(ParseOperations, PlainFenceStartingWithBracket) {
  auto r = ParseOperations("```\n[{\"operation\": \"DELETE\", \"id\": \"G1\"}]\n```\n```python\nprint(1)\n```");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].kind, OpKind::kDelete);
}

TEST(ParseOperations, ProseWrappedBareArray) {
  auto r = ParseOperations(
      "I think [G3] is redundant. Final answer:\n[{\"operation\": \"DELETE\", \"id\": \"G3\", \"content\": \"\"}]\n"
      "Hope this helps.");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].id, std::optional<std::string>("G3"));
}

TEST(ParseOperations, BracketsInsideStringsDoNotEndTheArray) {
  auto r = ParseOperations(
      "ops: [{\"operation\": \"ADD\", \"content\": \"use [brackets] and \\\"quotes]\\\" freely\"}] done");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].content, "use [brackets] and \"quotes]\" freely");
}

TEST(ParseOperations, ArrayOfNumbersInProseIsSkipped) {
  auto r = ParseOperations("Items [1, 2] overlap.\n[{\"operation\": \"NONE\"}]");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].kind, OpKind::kNone);
}

TEST(ParseOperations, OperationsObjectIsAccepted) {
  auto r = ParseOperations("```json\n{\"operations\": [{\"operation\": \"ADD\", \"content\": \"x\"}]}\n```");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].content, "x");
}

TEST(ParseOperations, NumericIdAndLowercaseOperation) {
  auto r = ParseOperations("```json\n[{\"operation\": \"update\", \"id\": 3, \"content\": \"c\"}]\n```");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].kind, OpKind::kUpdate);
  EXPECT_EQ((*r)[0].id, std::optional<std::string>("G3"));
}

TEST(ParseOperations, EmptyArrayMeansNoOperations) {
  auto r = ParseOperations("```json\n[]\n```");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(ParseOperations, TrailingCommaIsTolerated) {
  auto r = ParseOperations("```json\n[{\"operation\": \"ADD\", \"content\": \"x\",},]\n```");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), 1u);
}

TEST(ParseOperations, UnknownOperationIsAnErrorNamingItemAndValue) {
  auto r = ParseOperations(
      "```json\n[{\"operation\": \"ADD\", \"content\": \"a\"}, {\"operation\": \"MERGE\", \"content\": \"b\"}]\n```");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("item 2: unknown operation 'MERGE'"), std::string::npos)
      << r.status().message();
}

TEST(ParseOperations, InvalidItemShapesAreErrors) {
  auto missing = ParseOperations("```json\n[{\"id\": \"G1\"}]\n```");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("item 1: missing \"operation\""), std::string::npos);

  auto not_object = ParseOperations("```json\n[\"ADD x\"]\n```");
  ASSERT_FALSE(not_object.ok());
  EXPECT_NE(not_object.status().message().find("item 1: expected an object"), std::string::npos);

  auto bad_content = ParseOperations("```json\n[{\"operation\": \"ADD\", \"content\": 5}]\n```");
  ASSERT_FALSE(bad_content.ok());
  EXPECT_NE(bad_content.status().message().find("\"content\""), std::string::npos);

  auto bad_id = ParseOperations("```json\n[{\"operation\": \"DELETE\", \"id\": [1]}]\n```");
  ASSERT_FALSE(bad_id.ok());
  EXPECT_NE(bad_id.status().message().find("\"id\""), std::string::npos);

  auto other_object = ParseOperations("```json\n{\"ops\": []}\n```");
  EXPECT_FALSE(other_object.ok());
}

TEST(ParseOperations, NoArrayIsAnErrorQuotingTheReply) {
  auto r = ParseOperations("I would not change anything.");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no JSON array found in reply: 'I would not change anything.'"),
            std::string::npos)
      << r.status().message();
}

TEST(ParseOperations, TruncatedJsonIsAnError) {
  auto fenced = ParseOperations("```json\n[{\"operation\": \"ADD\", \"content\": \"cut sh");
  ASSERT_FALSE(fenced.ok());
  EXPECT_EQ(fenced.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(fenced.status().message().find("never closed"), std::string::npos) << fenced.status().message();

  auto bare = ParseOperations("[{\"operation\": \"ADD\", \"content\": \"cut sh");
  ASSERT_FALSE(bare.ok());
  EXPECT_NE(bare.status().message().find("no JSON array"), std::string::npos);
}

TEST(OperationsJson, RoundTripsThroughParseOperations) {
  std::vector<Operation> ops = {Op(OpKind::kAdd, std::nullopt, "new"), Op(OpKind::kUpdate, "G1", "up"),
                                Op(OpKind::kDelete, "G0", ""), Op(OpKind::kNone, std::nullopt, "")};
  json j = OperationsToJson(ops);
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j[0], json({{"operation", "ADD"}, {"id", nullptr}, {"content", "new"}}));
  EXPECT_EQ(j[1]["id"], "G1");
  auto back = ParseOperations("```json\n" + j.dump() + "\n```");
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ((*back)[i].kind, ops[i].kind);
    EXPECT_EQ((*back)[i].id, ops[i].id);
    EXPECT_EQ((*back)[i].content, ops[i].content);
  }
}

TEST(SummaryApplied, FindsNamedIdsThatExist) {
  EXPECT_EQ(ReferencedExperiences("Applied [G2] and G0; also (g1). G2 again, G7 unknown.", 3),
            (std::vector<size_t>{2, 0, 1}));
  EXPECT_TRUE(ReferencedExperiences("MG3 G3x XG1 Gx G", 5).empty());
  EXPECT_EQ(ReferencedExperiences("G10, G1.", 11), (std::vector<size_t>{10, 1}));
}

// True when `s` is well-formed UTF-8 (no cut-off sequence at the end, say).
bool IsUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

TEST(QuotedReplies, AreCutOnCharacterBoundaries) {
  // 3-byte characters: the 80-byte cut lands inside the 27th one.
  std::string euros;
  for (int i = 0; i < 60; ++i) euros += "\xE2\x82\xAC";
  for (const std::string& reply : {euros, "x" + euros, "xx" + euros}) {
    auto r = ParseExperiences(reply, 3);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(IsUtf8(r.status().message())) << r.status().message();
    EXPECT_NE(r.status().message().find("...'"), std::string::npos);
  }
}

// ---- Stages -----------------------------------------------------------------------------------

std::set<std::string> Keys(const PromptVars& vars) {
  std::set<std::string> keys;
  for (const auto& [k, v] : vars) keys.insert(k);
  return keys;
}

std::set<std::string> Known(Role role) {
  const auto& contract = LearnerPromptContracts().at(std::string(RoleName(role)));
  return {contract.known.begin(), contract.known.end()};
}

TEST(LearnerStages, EachFillsExactlyTheVariablesItsTemplateContractNames) {
  EXPECT_EQ(Keys(SummaryStage::Vars({})), Known(SummaryStage::kRole));
  EXPECT_EQ(Keys(AdvantageStage::Vars({})), Known(AdvantageStage::kRole));
  EXPECT_EQ(Keys(GroupUpdateStage::Vars({})), Known(GroupUpdateStage::kRole));
  Library library({{"a"}});
  BatchUpdateStage::Input in;
  in.library = &library;
  in.proposals = {{Op(OpKind::kAdd, std::nullopt, "b", "t1"), std::nullopt}};
  EXPECT_EQ(Keys(BatchUpdateStage::Build(in).vars), Known(BatchUpdateStage::kRole));
}

TEST(LearnerStages, TheBuiltInTemplatesRenderWithEachStagesVariables) {
  auto prompts = PromptSet::Load(std::nullopt);
  ASSERT_TRUE(prompts.ok()) << prompts.status().ToString();
  SummaryStage::Input summary{"What is 2+2?", "[G0]. check", "I said 5", true, "4", 0, "wrong sum", ""};
  auto rendered = prompts->Render(std::string(RoleName(SummaryStage::kRole)), SummaryStage::Vars(summary));
  ASSERT_TRUE(rendered.ok()) << rendered.status().ToString();
  EXPECT_NE(rendered->find("I said 5"), std::string::npos);
  EXPECT_NE(rendered->find("wrong sum"), std::string::npos);
  AdvantageStage::Input adv{"p", "(empty)", true, "4", {{1, "right"}, {0, "wrong"}}, 2, "", ""};
  rendered = prompts->Render(std::string(RoleName(AdvantageStage::kRole)), AdvantageStage::Vars(adv));
  ASSERT_TRUE(rendered.ok()) << rendered.status().ToString();
  EXPECT_NE(rendered->find("### Attempt 2 (reward 0)"), std::string::npos);
}

TEST(SummaryStage, TheGroundTruthRewardAndCritiqueAreShownOnlyWhenGiven) {
  SummaryStage::Input in{"p", "(empty)", "t", false, "42", 0.5, "the grader's view", "be brief"};
  PromptVars vars = SummaryStage::Vars(in);
  EXPECT_EQ(vars["ground_truth"], "");
  EXPECT_EQ(vars["reward"], "");
  EXPECT_EQ(vars["critique"], "");
  EXPECT_EQ(vars["agent_objective"], "be brief");
  in.given_ground_truth = true;
  vars = SummaryStage::Vars(in);
  EXPECT_EQ(vars["ground_truth"], "42");
  EXPECT_EQ(vars["reward"], "0.5");
  EXPECT_EQ(vars["critique"], "the grader's view");
}

TEST(SummaryStage, ParseCreditsOnlyExperiencesTheLibraryHas) {
  EXPECT_EQ(SummaryStage::Parse("Step 1 ... \nApplied: G1, G4", 3), (std::vector<size_t>{1}));
  EXPECT_TRUE(SummaryStage::Parse("Applied: none", 3).empty());
}

TEST(AdvantageStage, SummariesAreNumberedWithTheirRewardsOnlyWithGroundTruth) {
  AdvantageStage::Input in{"p", "(empty)", true, "4", {{1, "  good  "}, {0.25, "bad\n"}}, 3, "", "learn"};
  PromptVars vars = AdvantageStage::Vars(in);
  EXPECT_EQ(vars["summaries"], "### Attempt 1 (reward 1)\ngood\n\n### Attempt 2 (reward 0.25)\nbad");
  EXPECT_EQ(vars["max_experiences"], "3");
  EXPECT_EQ(vars["ground_truth"], "4");
  EXPECT_EQ(vars["learning_objective"], "learn");
  in.given_ground_truth = false;
  vars = AdvantageStage::Vars(in);
  EXPECT_EQ(vars["summaries"], "### Attempt 1\ngood\n\n### Attempt 2\nbad");
  EXPECT_EQ(vars["ground_truth"], "");
}

TEST(AdvantageStage, ParseKeepsAtMostTheAskedNumberAndRefusesAReplyWithoutTheList) {
  auto lessons = AdvantageStage::Parse("<Experiences>\n1. a\n2. b\n3. c\n</Experiences>", 2);
  ASSERT_TRUE(lessons.ok());
  EXPECT_EQ(*lessons, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(AdvantageStage::Parse("I have no lessons.", 2).ok());
}

TEST(GroupUpdateStage, LessonsAreNumberedAndEveryOperationIsMarkedWithTheGroup) {
  PromptVars vars = GroupUpdateStage::Vars({"[G0]. x", {"first", "second"}, "", ""});
  EXPECT_EQ(vars["experiences"], "1. first\n2. second");
  EXPECT_EQ(vars["library"], "[G0]. x");
  auto ops = GroupUpdateStage::Parse(R"([{"operation": "ADD", "content": "n"}, {"operation": "NONE"}])", "task-9");
  ASSERT_TRUE(ops.ok());
  ASSERT_EQ(ops->size(), 2u);
  EXPECT_EQ((*ops)[0].group, "task-9");
  EXPECT_EQ((*ops)[1].group, "task-9");
  EXPECT_FALSE(GroupUpdateStage::Parse("```json\n[{\"operation\": \"ADD\", \"content\": \"cut", "t").ok());
}

TEST(BatchUpdateStage, ProposalsAreNumberedBesideTheirTargetThenTheAdds) {
  Library library({{"keep units"}, {"re-read the question"}});
  const uint64_t first = library.items()[0].uid, second = library.items()[1].uid;
  library.AddCredit(1, true);
  BatchUpdateStage::Input in;
  in.library = &library;
  in.max_library = 10;
  in.proposals = {{Op(OpKind::kAdd, std::nullopt, "new one", "t1"), std::nullopt},
                  {Op(OpKind::kUpdate, "G1", "re-read twice", "t2"), second},
                  {Op(OpKind::kDelete, "G0", "", "t3"), first}};
  BatchUpdateStage::Prompt prompt = BatchUpdateStage::Build(in);
  ASSERT_EQ(prompt.numbered.size(), 3u);
  EXPECT_EQ(prompt.numbered[0].op.group, "t3");  // G0's DELETE is P1
  EXPECT_EQ(prompt.numbered[1].op.group, "t2");  // G1's UPDATE is P2
  EXPECT_EQ(prompt.numbered[2].op.group, "t1");  // the ADD comes last
  EXPECT_EQ(prompt.vars["library"],
            "[G0]. keep units (helpful=0 harmful=0)\n    proposals aimed at it: P1 DELETE\n"
            "[G1]. re-read the question (helpful=1 harmful=0)\n    proposals aimed at it: P2 UPDATE");
  EXPECT_EQ(prompt.vars["max_library"], "10");
  json listed = json::parse(prompt.vars["operations"]);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[2], json({{"proposal", "P3"}, {"operation", "ADD"}, {"id", nullptr}, {"content", "new one"}}));
  EXPECT_EQ(listed[1]["id"], "G1");
}

TEST(BatchUpdateStage, ATargetNoLongerThereTurnsAnUpdateIntoAnAddAndDropsADelete) {
  Library library({{"only"}});
  const uint64_t gone = library.items()[0].uid + 50;
  BatchUpdateStage::Input in;
  in.library = &library;
  in.proposals = {{Op(OpKind::kUpdate, "G3", "revised", "t1"), gone}, {Op(OpKind::kDelete, "G4", "", "t2"), gone}};
  BatchUpdateStage::Prompt prompt = BatchUpdateStage::Build(in);
  ASSERT_EQ(prompt.numbered.size(), 1u);
  EXPECT_EQ(prompt.numbered[0].op.kind, OpKind::kAdd);
  EXPECT_FALSE(prompt.numbered[0].op.id.has_value());
  EXPECT_EQ(prompt.vars["max_library"], "");
  // Nothing left to ask: no variables, no call.
  in.proposals = {{Op(OpKind::kDelete, "G4", "", "t2"), gone}};
  prompt = BatchUpdateStage::Build(in);
  EXPECT_TRUE(prompt.numbered.empty());
  EXPECT_TRUE(prompt.vars.empty());
}

TEST(BatchUpdateStage, ParseTakesTheOriginFromFromThenFromTheSameTextElseUnknown) {
  std::vector<BatchUpdateStage::Proposal> numbered = {{Op(OpKind::kAdd, std::nullopt, "alpha", "t1"), std::nullopt},
                                                      {Op(OpKind::kAdd, std::nullopt, "beta", "t2"), std::nullopt}};
  auto ops = BatchUpdateStage::Parse(R"([{"operation": "ADD", "content": "merged", "from": ["P9", "p2", "P1"]},
                                         {"operation": "ADD", "content": " alpha "},
                                         {"operation": "ADD", "content": "gamma", "from": ["X1", "P0"]}])",
                                     numbered);
  ASSERT_TRUE(ops.ok()) << ops.status().ToString();
  ASSERT_EQ(ops->size(), 3u);
  EXPECT_EQ((*ops)[0].group, "t2");  // P9 does not exist; p2 does
  EXPECT_EQ((*ops)[1].group, "t1");  // no "from": the proposal with the very same text
  EXPECT_EQ((*ops)[2].group, "");    // origin unknown
  EXPECT_FALSE(BatchUpdateStage::Parse("garbage", numbered).ok());
}

}  // namespace
}  // namespace tfgrpo
