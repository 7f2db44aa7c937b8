#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "tfgrpo/library.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using nlohmann::json;

Library Lib(std::vector<std::string> texts) {
  std::vector<Experience> items;
  for (auto& t : texts) items.push_back(Experience{t, -1, ""});
  return Library(std::move(items));
}

std::vector<std::string> Texts(const Library& lib) {
  std::vector<std::string> out;
  for (const auto& e : lib.items()) out.push_back(e.text);
  return out;
}

Operation Op(OpKind kind, std::optional<std::string> id, std::string content, std::string group = "") {
  Operation op;
  op.kind = kind;
  op.id = std::move(id);
  op.content = std::move(content);
  op.group = std::move(group);
  return op;
}

// ---- rendering and JSON ------------------------------------------------------------------------

TEST(LibraryRender, LinesAreNumberedFromZeroWithoutTrailingNewline) {
  EXPECT_EQ(Lib({"Check units.", "Draw a diagram."}).RenderLines(), "[G0]. Check units.\n[G1]. Draw a diagram.");
  EXPECT_EQ(Library().RenderLines(), "");
}

TEST(LibraryJson, ToJsonUsesGKeys) {
  json j = Lib({"a", "b"}).ToJson();
  EXPECT_EQ(j, json({{"G0", "a"}, {"G1", "b"}}));
}

TEST(LibraryJson, FromJsonOrdersKeysNumerically) {
  json j = {{"G10", "ten"}, {"G2", "two"}, {"G9", "nine"}, {"G0", "zero"}};
  auto lib = Library::FromJson(j);
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  EXPECT_EQ(Texts(*lib), (std::vector<std::string>{"zero", "two", "nine", "ten"}));
  for (const auto& e : lib->items()) EXPECT_EQ(e.step, -1);
}

TEST(LibraryJson, FromJsonAcceptsArrayOfStrings) {
  auto lib = Library::FromJson(json::array({"x", "y"}));
  ASSERT_TRUE(lib.ok());
  EXPECT_EQ(Texts(*lib), (std::vector<std::string>{"x", "y"}));
}

TEST(LibraryJson, FromJsonRejectsBadKeysAndValuesNamingTheKey) {
  auto bad_key = Library::FromJson(json{{"G0", "a"}, {"tip", "b"}});
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad_key.status().message().find("'tip'"), std::string::npos) << bad_key.status().message();

  auto not_number = Library::FromJson(json{{"Gx", "a"}});
  ASSERT_FALSE(not_number.ok());
  EXPECT_NE(not_number.status().message().find("'Gx'"), std::string::npos);

  auto bad_value = Library::FromJson(json{{"G0", "a"}, {"G1", 5}});
  ASSERT_FALSE(bad_value.ok());
  EXPECT_NE(bad_value.status().message().find("'G1'"), std::string::npos) << bad_value.status().message();

  auto duplicate = Library::FromJson(json{{"G1", "a"}, {"G01", "b"}});
  EXPECT_FALSE(duplicate.ok());

  EXPECT_FALSE(Library::FromJson(json::array({"a", 3})).ok());
  EXPECT_FALSE(Library::FromJson(json("text")).ok());
}

TEST(LibraryJson, ToJsonFromJsonRoundTripKeepsOrderBeyondTen) {
  std::vector<std::string> texts;
  for (int i = 0; i < 12; ++i) texts.push_back("lesson " + std::to_string(i));
  auto back = Library::FromJson(Lib(texts).ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(Texts(*back), texts);
}

class LibraryFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tfgrpo_library_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(LibraryFileTest, SaveLoadRoundTripWritesPrettyNumericOrder) {
  std::vector<std::string> texts;
  for (int i = 0; i < 11; ++i) texts.push_back("lesson \"" + std::to_string(i) + "\" \xC3\xA9");
  auto path = dir_ / "sub" / "experiences.json";
  ASSERT_TRUE(Lib(texts).Save(path).ok());
  auto raw = ReadFile(path);
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE(StartsWith(*raw, "{\n  \"G0\": \"lesson \\\"0\\\" \xC3\xA9\",\n  \"G1\": ")) << *raw;
  EXPECT_LT(raw->find("\"G9\""), raw->find("\"G10\""));
  EXPECT_TRUE(EndsWith(*raw, "\n}\n"));
  auto loaded = Library::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(Texts(*loaded), texts);
}

TEST_F(LibraryFileTest, SaveEmptyLibraryLoadsEmpty) {
  auto path = dir_ / "empty.json";
  ASSERT_TRUE(Library().Save(path).ok());
  auto loaded = Library::Load(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
}

TEST_F(LibraryFileTest, LoadErrorsNameTheFile) {
  auto missing = Library::Load(dir_ / "missing.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.json"), std::string::npos);

  auto broken = dir_ / "broken.json";
  ASSERT_TRUE(WriteFileAtomic(broken, "{\"G0\": ").ok());
  auto r = Library::Load(broken);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("broken.json"), std::string::npos);

  auto wrong = dir_ / "wrong.json";
  ASSERT_TRUE(WriteFileAtomic(wrong, "{\"X1\": \"a\"}").ok());
  auto w = Library::Load(wrong);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("wrong.json"), std::string::npos);
  EXPECT_NE(w.status().message().find("'X1'"), std::string::npos);
}

// ---- AppendLibrary ----------------------------------------------------------------------------

TEST(AppendLibrary, BaseBlankLineHeadingAndLines) {
  std::string expected = "You are a solver.\n\n" + std::string(kLibraryHeading) + "\n[G0]. A\n[G1]. B";
  EXPECT_EQ(AppendLibrary("You are a solver.", Lib({"A", "B"})), expected);
}

TEST(AppendLibrary, EmptyLibraryLeavesBaseUntouched) {
  EXPECT_EQ(AppendLibrary("Base text\n", Library()), "Base text\n");
  EXPECT_EQ(AppendLibrary("", Library()), "");
}

TEST(AppendLibrary, EmptyBaseGivesHeadingAndLinesOnly) {
  EXPECT_EQ(AppendLibrary("", Lib({"A"})),
            "When solving, apply these experiences learned from earlier practice:\n[G0]. A");
}

TEST(AppendLibrary, IsByteStableAcrossCalls) {
  Library lib = Lib({"one", "two"});
  EXPECT_EQ(AppendLibrary("sys", lib), AppendLibrary("sys", Lib({"one", "two"})));
}

// ---- Apply ------------------------------------------------------------------------------------

TEST(LibraryApply, AddAppendsAndStampsStepAndGroup) {
  Library lib = Lib({"a"});
  lib.Apply({Op(OpKind::kAdd, std::nullopt, "  new lesson  ", "task-7")}, 3);
  ASSERT_EQ(lib.size(), 2u);
  EXPECT_EQ(lib.items()[1].text, "new lesson");
  EXPECT_EQ(lib.items()[1].step, 3);
  EXPECT_EQ(lib.items()[1].group, "task-7");
  EXPECT_EQ(lib.items()[0].step, -1);  // untouched
}

TEST(LibraryApply, UpdateReplacesTextInPlace) {
  Library lib = Lib({"a", "b", "c"});
  lib.Apply({Op(OpKind::kUpdate, "G1", "b2", "g")}, 5);
  EXPECT_EQ(Texts(lib), (std::vector<std::string>{"a", "b2", "c"}));
  EXPECT_EQ(lib.items()[1].step, 5);
  EXPECT_EQ(lib.items()[1].group, "g");
}

TEST(LibraryApply, UpdateOfUnknownOrMalformedIdBecomesAdd) {
  Library lib = Lib({"a"});
  lib.Apply({Op(OpKind::kUpdate, "G7", "seven"), Op(OpKind::kUpdate, "banana", "fruit"),
             Op(OpKind::kUpdate, std::nullopt, "no id")},
            1);
  EXPECT_EQ(Texts(lib), (std::vector<std::string>{"a", "seven", "fruit", "no id"}));
}

TEST(LibraryApply, DeleteRemovesAndRenumbers) {
  Library lib = Lib({"a", "b", "c"});
  lib.Apply({Op(OpKind::kDelete, "G0", "")}, 1);
  EXPECT_EQ(Texts(lib), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(lib.RenderLines(), "[G0]. b\n[G1]. c");
}

TEST(LibraryApply, DeleteOfUnknownIdIsIgnored) {
  Library lib = Lib({"a", "b"});
  lib.Apply({Op(OpKind::kDelete, "G9", ""), Op(OpKind::kDelete, std::nullopt, ""), Op(OpKind::kDelete, "x", "")},
            1);
  EXPECT_EQ(Texts(lib), (std::vector<std::string>{"a", "b"}));
}

TEST(LibraryApply, NoneChangesNothing) {
  Library lib = Lib({"a"});
  lib.Apply({Op(OpKind::kNone, "G0", "ignored"), Op(OpKind::kNone, std::nullopt, "also ignored")}, 1);
  EXPECT_EQ(Texts(lib), (std::vector<std::string>{"a"}));
  EXPECT_EQ(lib.items()[0].step, -1);
}

TEST(LibraryApply, EmptyOrWhitespaceContentIsSkipped) {
  Library lib = Lib({"a"});
  lib.Apply({Op(OpKind::kAdd, std::nullopt, "   \n "), Op(OpKind::kUpdate, "G0", "")}, 1);
  EXPECT_EQ(Texts(lib), (std::vector<std::string>{"a"}));
  EXPECT_EQ(lib.items()[0].step, -1);
}

TEST(LibraryApply, IdsReferToTheLibraryBeforeTheCall) {
  Library lib = Lib({"a", "b", "c", "d"});
  // Deleting G0 first must not make "G2" mean "d".
  lib.Apply({Op(OpKind::kDelete, "G0", ""), Op(OpKind::kUpdate, "G2", "c2"), Op(OpKind::kAdd, std::nullopt, "e"),
             Op(OpKind::kDelete, "G3", "")},
            2);
  EXPECT_EQ(Texts(lib), (std::vector<std::string>{"b", "c2", "e"}));
  EXPECT_EQ(lib.RenderLines(), "[G0]. b\n[G1]. c2\n[G2]. e");
}

TEST(LibraryApply, UpdateThenDeleteDeletes_DeleteThenUpdateStaysDeleted) {
  Library lib = Lib({"a", "b"});
  lib.Apply({Op(OpKind::kUpdate, "G0", "a2"), Op(OpKind::kDelete, "G0", "")}, 1);
  EXPECT_EQ(Texts(lib), (std::vector<std::string>{"b"}));

  Library lib2 = Lib({"a", "b"});
  lib2.Apply({Op(OpKind::kDelete, "G1", ""), Op(OpKind::kUpdate, "G1", "b2")}, 1);
  EXPECT_EQ(Texts(lib2), (std::vector<std::string>{"a"}));
}

TEST(LibraryApply, IdSpellingsAreTolerated) {
  for (std::string id : {"G1", "g1", " G1 ", "[G1]", " [g1] ", "1", "(G1)"}) {
    Library lib = Lib({"a", "b", "c"});
    lib.Apply({Op(OpKind::kUpdate, id, "updated")}, 1);
    EXPECT_EQ(Texts(lib), (std::vector<std::string>{"a", "updated", "c"})) << "id '" << id << "'";
  }
}

TEST(LibraryApply, LineBreaksInsideContentBecomeSpaces) {
  Library lib;
  lib.Apply({Op(OpKind::kAdd, std::nullopt, "first part\n  second part")}, 0);
  EXPECT_EQ(lib.RenderLines(), "[G0]. first part second part");
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

TEST(OpKindName, NamesEachKind) {
  EXPECT_EQ(OpKindName(OpKind::kAdd), "ADD");
  EXPECT_EQ(OpKindName(OpKind::kUpdate), "UPDATE");
  EXPECT_EQ(OpKindName(OpKind::kDelete), "DELETE");
  EXPECT_EQ(OpKindName(OpKind::kNone), "NONE");
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

// ---- stable ids, credit, cap, artifact -------------------------------------------------------

TEST(LibraryCredit, UidsSurviveRenumberingAndUpdateKeepsCredit) {
  Library lib = Lib({"a", "b", "c"});
  const uint64_t uid_c = lib.items()[2].uid;
  EXPECT_NE(lib.items()[0].uid, lib.items()[1].uid);
  lib.AddCredit(2, true);
  lib.AddCredit(2, true);
  lib.AddCredit(2, false);
  lib.AddCredit(9, true);  // out of range: ignored
  lib.Apply({Op(OpKind::kDelete, "G0", ""), Op(OpKind::kUpdate, "G2", "c sharpened", "t9")}, 4);
  ASSERT_EQ(lib.size(), 2u);
  EXPECT_EQ(lib.items()[1].text, "c sharpened");
  EXPECT_EQ(lib.items()[1].uid, uid_c);
  EXPECT_EQ(lib.items()[1].helpful, 2);
  EXPECT_EQ(lib.items()[1].harmful, 1);
  EXPECT_EQ(lib.items()[1].step, 4);
  EXPECT_EQ(lib.items()[1].created_step, -1);
  EXPECT_EQ(lib.RenderLinesWithCredit(), "[G0]. b (helpful=0 harmful=0)\n[G1]. c sharpened (helpful=2 harmful=1)");
  EXPECT_EQ(lib.RenderLines(), "[G0]. b\n[G1]. c sharpened");
}

TEST(LibraryCredit, AddedExperiencesGetFreshUidsAndOrigin) {
  Library lib = Lib({"a"});
  lib.Apply({Op(OpKind::kAdd, std::nullopt, "x", "t1"), Op(OpKind::kAdd, std::nullopt, "y", "t2")}, 2);
  ASSERT_EQ(lib.size(), 3u);
  EXPECT_NE(lib.items()[1].uid, lib.items()[2].uid);
  EXPECT_NE(lib.items()[0].uid, lib.items()[1].uid);
  EXPECT_EQ(lib.items()[2].origin_task, "t2");
  EXPECT_EQ(lib.items()[2].created_step, 2);
  lib.Apply({Op(OpKind::kUpdate, "G2", "y2", "t7")}, 3);
  EXPECT_EQ(lib.items()[2].origin_task, "t2");  // origin stays with the experience
  EXPECT_EQ(lib.items()[2].group, "t7");        // the last writer
}

TEST(LibraryCap, EvictsLowestNetCreditOldestFirst) {
  Library lib = Lib({"old-neutral", "hurts", "helps"});
  lib.AddCredit(1, false);
  lib.AddCredit(2, true);
  lib.Apply({Op(OpKind::kAdd, std::nullopt, "new-neutral", "t")}, 5);
  std::vector<Experience> out = lib.EvictOverCap(2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].text, "hurts");
  EXPECT_EQ(out[1].text, "old-neutral");  // tie with new-neutral: the older goes first
  EXPECT_EQ(Texts(lib), (std::vector<std::string>{"helps", "new-neutral"}));
  EXPECT_TRUE(lib.EvictOverCap(0).empty());
  EXPECT_TRUE(lib.EvictOverCap(5).empty());
}

TEST(LibraryReferences, FindsNamedIdsThatExist) {
  EXPECT_EQ(ReferencedExperiences("Applied [G2] and G0; also (g1). G2 again, G7 unknown.", 3),
            (std::vector<size_t>{2, 0, 1}));
  EXPECT_TRUE(ReferencedExperiences("MG3 G3x XG1 Gx G", 5).empty());
  EXPECT_EQ(ReferencedExperiences("G10, G1.", 11), (std::vector<size_t>{10, 1}));
}

TEST(LibraryArtifact, RoundTripsCreditStepsAndProvenance) {
  Library lib = Lib({"a"});
  lib.Apply({Op(OpKind::kAdd, std::nullopt, "b", "t3")}, 0);
  lib.AddCredit(1, true);
  lib.AddCredit(0, false);
  json prov = {{"model", "m"}, {"steps_run", 1}};
  json j = lib.ToArtifactJson(prov);
  EXPECT_EQ(j["format"], "tfgrpo-library/1");
  EXPECT_EQ(j["experiences"][1]["id"], "G1");
  EXPECT_EQ(j["experiences"][1]["created_step"], 1);
  EXPECT_EQ(j["experiences"][0]["created_step"], 0);
  EXPECT_EQ(j["experiences"][1]["origin_task"], "t3");
  EXPECT_EQ(Library::ProvenanceOf(j), prov);
  EXPECT_EQ(Library::ProvenanceOf(lib.ToJson()), json::object());

  const auto path = std::filesystem::temp_directory_path() / ("lib_artifact_" + std::to_string(::getpid()) + ".json");
  ASSERT_TRUE(lib.SaveArtifact(path, prov).ok());
  auto back = Library::Load(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back->items()[i].text, lib.items()[i].text);
    EXPECT_EQ(back->items()[i].helpful, lib.items()[i].helpful);
    EXPECT_EQ(back->items()[i].harmful, lib.items()[i].harmful);
    EXPECT_EQ(back->items()[i].created_step, lib.items()[i].created_step);
    EXPECT_EQ(back->items()[i].step, lib.items()[i].step);
    EXPECT_EQ(back->items()[i].uid, lib.items()[i].uid);
  }
  EXPECT_EQ(back->items()[1].origin_task, "t3");
}

TEST(LibraryArtifact, RejectsWrongFormatAndBadFieldsByName) {
  auto wrong = Library::FromJson(json{{"format", "other/2"}, {"experiences", json::array()}});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("tfgrpo-library/1"), std::string::npos);
  auto bad = Library::FromJson(json{{"format", "tfgrpo-library/1"},
                                    {"experiences", json::array({json{{"text", "a"}, {"helpful", "many"}}})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("experiences[0]"), std::string::npos);
  EXPECT_NE(bad.status().message().find("helpful"), std::string::npos);
  auto dup = Library::FromJson(json{{"format", "tfgrpo-library/1"},
                                    {"experiences", json::array({json{{"text", "a"}, {"uid", 3}},
                                                                 json{{"text", "b"}, {"uid", 3}}})}});
  ASSERT_TRUE(dup.ok());
  EXPECT_NE(dup->items()[0].uid, dup->items()[1].uid);
}

TEST(LibraryLoad, RefusesDeeplyNestedFiles) {
  const auto path = std::filesystem::temp_directory_path() / ("lib_deep_" + std::to_string(::getpid()) + ".json");
  ASSERT_TRUE(WriteFileAtomic(path, std::string(100000, '[') + std::string(100000, ']')).ok());
  auto lib = Library::Load(path);
  std::filesystem::remove(path);
  ASSERT_FALSE(lib.ok());
  EXPECT_NE(lib.status().message().find("nested"), std::string::npos);
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

TEST(Utf8Prefix, NeverEndsInsideACharacter) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
  EXPECT_EQ(Utf8Prefix(text, 100), text);
  EXPECT_EQ(Utf8Prefix(text, 1), "a");
  EXPECT_EQ(Utf8Prefix(text, 2), "a");
  EXPECT_EQ(Utf8Prefix(text, 3), "a\xC3\xA9");
  EXPECT_EQ(Utf8Prefix(text, 5), "a\xC3\xA9");
  EXPECT_EQ(Utf8Prefix(text, 6), "a\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(Utf8Prefix(text, 9), "a\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(Utf8Prefix(text, 10), "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(Utf8Prefix(text, 0), "");
  // Not UTF-8 at all (a run of continuation bytes): cut where asked.
  EXPECT_EQ(Utf8Prefix(std::string(10, '\x80'), 5), std::string(5, '\x80'));
}

}  // namespace
}  // namespace tfgrpo
