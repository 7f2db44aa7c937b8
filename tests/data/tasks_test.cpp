#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "tfgrpo/data.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class LoadTasksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tfgrpo_data_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Write(const std::string& content, const std::string& name = "train.jsonl") {
    fs::path p = dir_ / name;
    EXPECT_TRUE(WriteFileAtomic(p, content).ok());
    return p;
  }
  std::string Error(const std::string& content) {
    auto r = LoadTasks(Write(content), "problem", "groundtruth");
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  }

  fs::path dir_;
};

TEST_F(LoadTasksTest, ReadsProblemsAnswersIdsAndRecords) {
  auto r = LoadTasks(Write("{\"problem\": \"1+1?\", \"groundtruth\": \"2\", \"level\": 3}\n"
                           "{\"id\": \"q-7\", \"problem\": \"2+2?\", \"groundtruth\": \"4\"}\n"
                           "{\"id\": 17, \"problem\": \"3+3?\", \"groundtruth\": \"6\"}\n"),
                     "problem", "groundtruth");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  const std::vector<Task>& t = *r;
  EXPECT_EQ(t[0].id, "train:1");
  EXPECT_EQ(t[0].problem, "1+1?");
  EXPECT_EQ(t[0].answer, "2");
  EXPECT_EQ(t[0].line, 1);
  EXPECT_EQ(t[0].record["level"], 3);
  EXPECT_EQ(t[1].id, "q-7");
  EXPECT_EQ(t[1].line, 2);
  EXPECT_EQ(t[2].id, "17");
  EXPECT_EQ(t[2].answer, "6");
}

TEST(ParseTasksTest, ParsesTextInMemoryNamingTheGivenSource) {
  auto r = ParseTasks("\xEF\xBB\xBF{\"problem\": \"p\", \"groundtruth\": 5}\n\n{\"problem\": \"q\", \"groundtruth\": \"6\"}\n",
                      "/data/eval.jsonl", "problem", "groundtruth");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, "eval:1");
  EXPECT_EQ((*r)[0].answer, "5");
  EXPECT_EQ((*r)[1].id, "eval:3");
  auto bad = ParseTasks("{\"problem\": \"p\"}\n", "/data/eval.jsonl", "problem", "groundtruth");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "/data/eval.jsonl:1: missing field 'groundtruth'");
}

// Regression input fuzz/regressions/tasks/deep_record_stack_overflow: such a record parsed, then
// overflowed the stack when the task list was copied (nlohmann copies recursively).
TEST(ParseTasksTest, RefusesRecordsNestedTooDeep) {
  const std::string deep = std::string(50000, '[') + std::string(50000, ']');
  auto r = ParseTasks("{\"problem\": \"p\", \"groundtruth\": \"1\"}\n{\"problem\": \"p\", \"groundtruth\": \"1\", \"x\": " +
                          deep + "}\n",
                      "t.jsonl", "problem", "groundtruth");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "t.jsonl:2: not a task: JSON nested more than 128 levels deep");
  auto ok = ParseTasks("{\"problem\": \"p\", \"groundtruth\": \"1\", \"x\": [[[{}]]]}\n", "t.jsonl", "problem",
                       "groundtruth");
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

// Regression input fuzz/regressions/tasks/number_overflow_uncaught: nlohmann reports 1e400 as
// out_of_range, not parse_error, and the exception escaped LoadTasks.
TEST(ParseTasksTest, NumberTooLargeForADoubleIsAnErrorWithItsLine) {
  auto r = ParseTasks("{\"problem\": \"p\", \"groundtruth\": \"1\"}\n{\"problem\": \"p\", \"groundtruth\": 1e400}\n",
                      "t.jsonl", "problem", "groundtruth");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "t.jsonl:2: not a JSON object (number overflow parsing '1e400')");
}

TEST_F(LoadTasksTest, UsesTheConfiguredKeys) {
  auto r = LoadTasks(Write("{\"question\": \"q\", \"answer\": \"a\"}\n"), "question", "answer");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].problem, "q");
  EXPECT_EQ((*r)[0].answer, "a");
}

TEST_F(LoadTasksTest, HandlesBomCrlfAndBlankLines) {
  auto r = LoadTasks(Write("\xEF\xBB\xBF{\"problem\": \"a\", \"groundtruth\": \"1\"}\r\n"
                           "\r\n"
                           "   \r\n"
                           "{\"problem\": \"b\", \"groundtruth\": \"2\"}\r\n"
                           "\n"),
                     "problem", "groundtruth");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].problem, "a");
  EXPECT_EQ((*r)[0].answer, "1");
  EXPECT_EQ((*r)[1].problem, "b");
  EXPECT_EQ((*r)[1].line, 4);  // blank lines still count
  EXPECT_EQ((*r)[1].id, "train:4");
}

TEST_F(LoadTasksTest, NumericAndBooleanAnswersBecomeTheirText) {
  auto r = LoadTasks(Write("{\"problem\": \"a\", \"groundtruth\": 42}\n"
                           "{\"problem\": \"b\", \"groundtruth\": 0.5}\n"
                           "{\"problem\": \"c\", \"groundtruth\": -3.0}\n"
                           "{\"problem\": \"d\", \"groundtruth\": true}\n"
                           "{\"problem\": \"e\", \"groundtruth\": 1e20}\n"),
                     "problem", "groundtruth");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].answer, "42");
  EXPECT_EQ((*r)[1].answer, "0.5");
  EXPECT_EQ((*r)[2].answer, "-3");
  EXPECT_EQ((*r)[3].answer, "true");
  EXPECT_EQ((*r)[4].answer, "1e+20");
}

TEST_F(LoadTasksTest, ErrorsNameFileLineAndField) {
  const std::string good = "{\"problem\": \"a\", \"groundtruth\": \"1\"}\n";
  std::string e = Error(good + "{\"problem\": \"b\", \"groundtruth\": oops}\n");
  EXPECT_THAT(e, HasSubstr("train.jsonl:2: not a JSON object (parse error at byte "));
  EXPECT_THAT(Error(good + good + "[1, 2]\n"), HasSubstr("train.jsonl:3: not a JSON object (got array)"));
  EXPECT_THAT(Error(good + "{\"groundtruth\": \"1\"}\n"), HasSubstr("train.jsonl:2: missing field 'problem'"));
  EXPECT_THAT(Error(good + "{\"problem\": \"b\"}\n"), HasSubstr("train.jsonl:2: missing field 'groundtruth'"));
  EXPECT_THAT(Error("{\"problem\": \"b\", \"groundtruth\": [1]}\n"),
              HasSubstr("train.jsonl:1: field 'groundtruth' must be a string or number, got array"));
  EXPECT_THAT(Error("{\"problem\": 5, \"groundtruth\": \"1\"}\n"),
              HasSubstr("train.jsonl:1: field 'problem' must be a string, got number"));
  EXPECT_THAT(Error("{\"problem\": \"p\", \"groundtruth\": null}\n"),
              HasSubstr("field 'groundtruth' must be a string or number, got null"));
  EXPECT_THAT(Error("{\"id\": [1], \"problem\": \"p\", \"groundtruth\": \"1\"}\n"),
              HasSubstr("train.jsonl:1: field 'id' must be a string or integer, got array"));
}

// A task line of exactly `bytes` bytes.
std::string TaskLine(size_t bytes) {
  const std::string head = "{\"problem\": \"", tail = "\", \"groundtruth\": \"1\"}";
  return head + std::string(bytes - head.size() - tail.size(), 'x') + tail;
}

TEST_F(LoadTasksTest, ATaskLargerThanMaxTaskBytesIsRefusedBeforeItIsParsed) {
  const std::string good = "{\"problem\": \"a\", \"groundtruth\": \"1\"}\n";
  // The default limit is 4 MiB; a 50 MiB line names its file, line, size and the key.
  auto big = LoadTasks(Write(good + good + TaskLine(52428800) + "\n" + good), "problem", "groundtruth");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(big.status().message(),
              HasSubstr("train.jsonl:3: task is 52428800 bytes, more than data.max_task_bytes (4194304)"));
  // A configured limit: exactly at it is fine (the line ending does not count), one more is not.
  auto at = LoadTasks(Write(TaskLine(100) + "\r\n" + TaskLine(100)), "problem", "groundtruth", 100);
  ASSERT_TRUE(at.ok()) << at.status().ToString();
  EXPECT_EQ(at->size(), 2u);
  auto over = LoadTasks(Write(good + TaskLine(101)), "problem", "groundtruth", 100);  // last line, no newline
  ASSERT_FALSE(over.ok());
  EXPECT_THAT(over.status().message(), HasSubstr("train.jsonl:2: task is 101 bytes, more than data.max_task_bytes (100)"));
}

TEST_F(LoadTasksTest, LinesLongerThanTheReadBufferAreReadWhole) {
  auto r = LoadTasks(Write(TaskLine(200000) + "\n" + TaskLine(70000) + "\r\n" + TaskLine(65536)), "problem",
                     "groundtruth");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_GT((*r)[0].problem.size(), 199900u);
  EXPECT_EQ((*r)[0].problem, std::string((*r)[0].problem.size(), 'x'));
  EXPECT_EQ((*r)[1].problem.size() + 130000, (*r)[0].problem.size());
  EXPECT_EQ((*r)[1].line, 2);
  EXPECT_EQ((*r)[2].problem, std::string((*r)[2].problem.size(), 'x'));
}

TEST_F(LoadTasksTest, ATaskNestedTooDeeplyIsAnErrorNotACrash) {
  const std::string deep = "{\"problem\": \"p\", \"groundtruth\": \"1\", \"meta\": " + std::string(100000, '[') +
                           std::string(100000, ']') + "}\n";
  EXPECT_THAT(Error(deep), HasSubstr("train.jsonl:1: not a task: JSON nested more than 128 levels deep"));
}

TEST_F(LoadTasksTest, DuplicateIdsNameBothLines) {
  std::string e = Error("{\"id\": \"x\", \"problem\": \"a\", \"groundtruth\": \"1\"}\n"
                        "{\"problem\": \"b\", \"groundtruth\": \"2\"}\n"
                        "{\"id\": \"x\", \"problem\": \"c\", \"groundtruth\": \"3\"}\n");
  EXPECT_THAT(e, HasSubstr("train.jsonl:3: duplicate id 'x' (first used on line 1)"));
  // Integer and string forms of the same id collide too.
  EXPECT_THAT(Error("{\"id\": 5, \"problem\": \"a\", \"groundtruth\": \"1\"}\n"
                    "{\"id\": \"5\", \"problem\": \"b\", \"groundtruth\": \"2\"}\n"),
              HasSubstr("train.jsonl:2: duplicate id '5' (first used on line 1)"));
}

TEST_F(LoadTasksTest, EmptyFileHasNoTasks) {
  EXPECT_THAT(Error(""), HasSubstr("train.jsonl: no tasks"));
  EXPECT_THAT(Error("\n  \n\r\n"), HasSubstr("train.jsonl: no tasks"));
}

TEST_F(LoadTasksTest, MissingFileIsAnIoErrorNamingThePath) {
  auto r = LoadTasks(dir_ / "nope.jsonl", "problem", "groundtruth");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kIoError);
  EXPECT_THAT(r.status().message(), HasSubstr((dir_ / "nope.jsonl").string()));

  auto d = LoadTasks(dir_, "problem", "groundtruth");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Status::Code::kIoError);
  EXPECT_THAT(d.status().message(), HasSubstr("is a directory"));
}

}  // namespace
}  // namespace tfgrpo
