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
