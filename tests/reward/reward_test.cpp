#include <gtest/gtest.h>

#include <mutex>

#include "tfgrpo/prompts.h"
#include "tfgrpo/math_verify.h"
#include "tfgrpo/reward.h"

namespace tfgrpo {
namespace {

Task MakeTask(std::string problem, std::string answer) {
  Task t;
  t.id = "t1";
  t.problem = std::move(problem);
  t.answer = std::move(answer);
  return t;
}

// ---- extraction -------------------------------------------------------------------------------

TEST(ExtractFinalAnswer, BoxedWithNestedBraces) {
  EXPECT_EQ(ExtractFinalAnswer("so the answer is \\boxed{\\frac{1}{2}}."), "\\frac{1}{2}");
  EXPECT_EQ(ExtractFinalAnswer("\\boxed{\\left\\{1, 2\\right\\}}"), "\\left\\{1, 2\\right\\}");
}

TEST(ExtractFinalAnswer, LastBoxedWins) {
  EXPECT_EQ(ExtractFinalAnswer("first \\boxed{3}, then corrected: \\boxed{4}"), "4");
  EXPECT_EQ(ExtractFinalAnswer("\\fbox{7} and later \\boxed{8}"), "8");
  EXPECT_EQ(ExtractFinalAnswer("\\boxed{8} and later \\fbox{9}"), "9");
}

TEST(ExtractFinalAnswer, BoxedWithSpaceAndFbox) {
  EXPECT_EQ(ExtractFinalAnswer("\\boxed {12}"), "12");
  EXPECT_EQ(ExtractFinalAnswer("\\fbox{x+1}"), "x+1");
}

TEST(ExtractFinalAnswer, UnbalancedLastBoxedFallsBackToEarlierBalancedOne) {
  EXPECT_EQ(ExtractFinalAnswer("\\boxed{5} ... \\boxed{\\frac{1}{2}"), "5");
}

TEST(ExtractFinalAnswer, AnswerLine) {
  EXPECT_EQ(ExtractFinalAnswer("Work...\nAnswer: 42"), "42");
  EXPECT_EQ(ExtractFinalAnswer("Work...\n**Answer:** 42\n"), "42");
  EXPECT_EQ(ExtractFinalAnswer("answer: first\nmore work\nFinal Answer: second"), "second");
  EXPECT_EQ(ExtractFinalAnswer("ANSWER: Paris."), "Paris.");
  EXPECT_EQ(ExtractFinalAnswer("Answer:\n  17\n"), "17");
}

TEST(ExtractFinalAnswer, BoxedBeatsAnswerLine) {
  EXPECT_EQ(ExtractFinalAnswer("\\boxed{1}\nAnswer: 2"), "1");
}

TEST(ExtractFinalAnswer, NothingToCompare) {
  EXPECT_EQ(ExtractFinalAnswer("I am not sure about this one."), "");
  EXPECT_EQ(ExtractFinalAnswer("The answers are all wrong"), "");
  EXPECT_EQ(ExtractFinalAnswer(""), "");
}

// ---- normalisation and equality -----------------------------------------------------------------

struct Pair {
  const char* gold;
  const char* predicted;
};

// The first table of pairs written for the string-level checker, now held against the symbolic one.
TEST(MathAnswersEqual, EqualPairs) {
  const Pair pairs[] = {
      {"42", "42"},
      {"42", " 42 "},
      {"42", "42."},
      {"42", "$42$"},
      {"42", "\\boxed{42}"},
      {"\\boxed{42}", "42"},
      {"1000", "1,000"},
      {"1,000,000", "1000000"},
      {"1000", "1\\,000"},
      {"0.5", "0.50"},
      {"0.5", ".5"},
      {"0.5", "1/2"},
      {"0.5", "\\frac{1}{2}"},
      {"\\frac{1}{2}", "\\frac12"},
      {"\\frac{1}{2}", "\\dfrac{1}{2}"},
      {"\\frac{1}{2}", "\\tfrac{1}{2}"},
      {"\\frac{1}{2}", "2/4"},
      {"-3", "-3"},
      {"-0.5", "-\\frac{1}{2}"},
      {"-\\frac{1}{2}", "\\frac{-1}{2}"},
      {"-1/2", "-0.5"},
      {"5", "5.0"},
      {"5", "005"},
      {"2", "\\frac{4}{2}"},
      {"90", "90^\\circ"},
      {"90^{\\circ}", "90"},
      {"\\sqrt{2}", "\\sqrt2"},
      {"\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt3}{2}"},
      {"\\frac{\\sqrt{3}}{2}", "\\dfrac{\\sqrt{3}}{2}"},
      {"(1, 2)", "\\left(1,2\\right)"},
      {"x+1", "x + 1"},
      {"\\text{Monday}", "Monday"},
      {"3", "x = 3"},
      {"\\pi", "\\pi"},
      {"2\\pi", "2 \\pi"},
      {"{7}", "7"},
      {"12345678901234567890", "12,345,678,901,234,567,890"},
      {"0", "-0"},
      {"10\\%", "10"},
      {"\\$5", "5"},
      {"1.25", "\\frac{5}{4}"},
      {"3/4", "0.75"},
      {"42", "\\(42\\)"},
      // Numeric agreement is relative 1e-6 (the rule): these sit inside it.
      {"\\pi", "3.14159"},
      {"1", "1.000001"},
  };
  for (const Pair& p : pairs) {
    EXPECT_EQ(VerifyMath(p.gold, p.predicted).score, 1.0) << "gold '" << p.gold << "' predicted '" << p.predicted
                                                           << "' parsed '" << VerifyMath(p.gold, p.predicted).pred_parsed
                                                         << "'";
  }
}

TEST(MathAnswersEqual, NotEqualPairs) {
  const Pair pairs[] = {
      {"42", "43"},
      {"42", ""},
      {"", ""},
      {"42", "4.2"},
      {"0.5", "0.51"},
      {"1", "1.0000011"},  // just outside the relative 1e-6
      {"\\pi", "3.1415"},
      {"1/2", "1/3"},
      {"\\frac{1}{2}", "\\frac{2}{1}"},
      {"-3", "3"},
      {"-\\frac{1}{2}", "\\frac{1}{2}"},
      {"1000", "100"},
      {"1,000", "1,00"},         // not a thousands grouping
      {"12", "1,2"},
      {"\\sqrt{2}", "\\sqrt{3}"},
      {"x+1", "x-1"},
      {"(1,2)", "(2,1)"},
      {"12345678901234567890", "12345678901234567891"},
      {"0", "0.0000000001"},
      {"Monday", "Tuesday"},
      {"2", "2x"},
      {"5", "\\frac{5}{0}"},
  };
  for (const Pair& p : pairs) {
    EXPECT_EQ(VerifyMath(p.gold, p.predicted).score, 0.0) << "gold '" << p.gold << "' predicted '" << p.predicted
                                                          << "'";
  }
}

TEST(NormalizeExactAnswer, LowerCollapsedTrimmedNoTrailingPeriod) {
  EXPECT_EQ(NormalizeExactAnswer("  The   Eiffel\tTower. "), "the eiffel tower");
  EXPECT_EQ(NormalizeExactAnswer("Paris"), NormalizeExactAnswer("paris."));
  EXPECT_NE(NormalizeExactAnswer("Paris"), NormalizeExactAnswer("Parisian"));
}

// ---- reward functions ---------------------------------------------------------------------------

TEST(MakeReward, UnknownKindNamesItAndListsValidOnes) {
  auto r = MakeReward("fuzzy", nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'fuzzy'"), std::string::npos);
  EXPECT_NE(r.status().message().find("math, exact, judge"), std::string::npos);
}

TEST(MakeReward, JudgeNeedsClientAndValidTemplate) {
  auto no_client = MakeReward("judge", nullptr, "{{problem}}");
  ASSERT_FALSE(no_client.ok());
  EXPECT_EQ(no_client.status().code(), Status::Code::kInvalidArgument);
}

TEST(MathReward, UsesConfiguredPrecision) {
  Task task = MakeTask("2/3 as a decimal?", "\\frac{2}{3}");
  auto coarse = MakeReward("math", nullptr, std::string(), 3);
  ASSERT_TRUE(coarse.ok());
  auto r3 = (*coarse)->Score(task, "\\boxed{0.667}", "c1");
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->score, 1.0);
  auto fine = MakeReward("math", nullptr);
  ASSERT_TRUE(fine.ok());
  auto r6 = (*fine)->Score(task, "\\boxed{0.667}", "c2");
  ASSERT_TRUE(r6.ok());
  EXPECT_EQ(r6->score, 0.0);
}

TEST(MathReward, ScoresBoxedAnswer) {
  auto fn = MakeReward("math", nullptr);
  ASSERT_TRUE(fn.ok());
  Task task = MakeTask("1/2 + 0?", "0.5");
  auto right = (*fn)->Score(task, "Compute... so \\boxed{\\frac{1}{2}}", "c1");
  ASSERT_TRUE(right.ok());
  EXPECT_EQ(right->score, 1.0);
  EXPECT_EQ(right->extracted, "1/2");  // VerifyMath's canonical form of what it compared
  auto wrong = (*fn)->Score(task, "\\boxed{\\frac{1}{3}}", "c2");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->score, 0.0);
  auto none = (*fn)->Score(task, "I think it is one half, written\nas a fraction 1/2 maybe", "c3");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->score, 0.0);
  auto bare = (*fn)->Score(task, " 1/2 ", "c4");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->score, 1.0);
}

TEST(ExactReward, UsesExtractedAnswerOrWholeReply) {
  auto fn = MakeReward("exact", nullptr);
  ASSERT_TRUE(fn.ok());
  Task task = MakeTask("Capital of France?", "Paris");
  EXPECT_EQ((*fn)->Score(task, "Let me think.\nAnswer: **paris.**", "c")->score, 1.0);
  EXPECT_EQ((*fn)->Score(task, "\\boxed{PARIS}", "c")->score, 1.0);
  EXPECT_EQ((*fn)->Score(task, "  Paris  ", "c")->score, 1.0);
  EXPECT_EQ((*fn)->Score(task, "It is Paris", "c")->score, 0.0);
  EXPECT_EQ((*fn)->Score(task, "Answer: Lyon", "c")->score, 0.0);
  EXPECT_EQ((*fn)->Score(task, "Answer: Lyon", "c")->extracted, "Lyon");
}

// A ChatClient that records the request and returns a scripted reply.
class FakeJudgeClient : public ChatClient {
 public:
  explicit FakeJudgeClient(Result<ChatResponse> reply) : reply_(std::move(reply)) {}
  Result<ChatResponse> Complete(const ChatRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = request;
    ++calls_;
    return reply_;
  }
  ChatRequest last_;
  int calls_ = 0;

 private:
  std::mutex mu_;
  Result<ChatResponse> reply_;
};

ChatResponse Reply(std::string content) {
  ChatResponse r;
  r.content = std::move(content);
  r.usage.prompt_tokens = 120;
  r.usage.completion_tokens = 30;
  return r;
}

std::string JudgeTemplate() { return BuiltinPrompts().at("judge"); }

TEST(JudgeReward, CorrectScoresOneAndReportsUsage) {
  FakeJudgeClient client(Reply("The response says 7, the reference says 7.\nGRADE: CORRECT"));
  auto fn = MakeReward("judge", &client, JudgeTemplate());
  ASSERT_TRUE(fn.ok()) << fn.status().ToString();
  auto r = (*fn)->Score(MakeTask("What is 3+4?", "7"), "It is \\boxed{7}", "e0/s1/t2/r3/judge");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->score, 1.0);
  EXPECT_EQ(r->usage.prompt_tokens, 120);
  EXPECT_EQ(r->usage.completion_tokens, 30);
  EXPECT_EQ(r->reasoning, "The response says 7, the reference says 7.");  // the critique: text before GRADE

  ASSERT_EQ(client.calls_, 1);
  const ChatRequest& req = client.last_;
  EXPECT_EQ(req.role, Role::kJudge);
  EXPECT_EQ(req.temperature, 0.0);
  EXPECT_EQ(req.call_id, "e0/s1/t2/r3/judge");
  ASSERT_EQ(req.messages.size(), 1u);
  EXPECT_EQ(req.messages[0].role, "user");
  const std::string& prompt = req.messages[0].content;
  EXPECT_NE(prompt.find("What is 3+4?"), std::string::npos);
  EXPECT_NE(prompt.find("## Reference answer\n7"), std::string::npos);
  EXPECT_NE(prompt.find("It is \\boxed{7}"), std::string::npos);
  EXPECT_EQ(prompt.find("{{"), std::string::npos);
}

TEST(JudgeReward, IncorrectScoresZero) {
  FakeJudgeClient client(Reply("Different values.\n\n**GRADE: INCORRECT.**\n\n"));
  auto fn = MakeReward("judge", &client, JudgeTemplate());
  ASSERT_TRUE(fn.ok());
  auto r = (*fn)->Score(MakeTask("q", "7"), "8", "id");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->score, 0.0);
  EXPECT_EQ(r->reasoning, "Different values.");
}

TEST(JudgeReward, GradeSpellingsAreTolerated) {
  for (std::string reply : {"grade: correct", "Grade:CORRECT.", "`GRADE: CORRECT`", "### GRADE: Correct",
                            "GRADE: CORRECT (same value)", "GRADE: CORRECT\nThanks for asking."}) {
    FakeJudgeClient client(Reply("reasoning\n" + reply));
    auto fn = MakeReward("judge", &client, JudgeTemplate());
    ASSERT_TRUE(fn.ok());
    auto r = (*fn)->Score(MakeTask("q", "a"), "a", "id");
    ASSERT_TRUE(r.ok()) << reply << ": " << r.status().ToString();
    EXPECT_EQ(r->score, 1.0) << reply;
  }
}

TEST(JudgeReward, ReplyWithoutGradeIsAnError) {
  FakeJudgeClient client(Reply("I think the response is right."));
  auto fn = MakeReward("judge", &client, JudgeTemplate());
  ASSERT_TRUE(fn.ok());
  auto r = (*fn)->Score(MakeTask("q", "a"), "a", "id");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("judge reply has no GRADE line"), std::string::npos);

  for (std::string reply : {"GRADE: PARTIAL", "GRADE: CORRECT or GRADE: INCORRECT", "GRADE: CORRECTNESS unclear"}) {
    FakeJudgeClient other(Reply(reply));
    auto fn2 = MakeReward("judge", &other, JudgeTemplate());
    ASSERT_TRUE(fn2.ok());
    EXPECT_FALSE((*fn2)->Score(MakeTask("q", "a"), "a", "id").ok()) << reply;
  }
}

TEST(JudgeReward, ClientFailurePropagatesItsStatus) {
  FakeJudgeClient client(Status::Unauthorized("HTTP 401 from provider"));
  auto fn = MakeReward("judge", &client, JudgeTemplate());
  ASSERT_TRUE(fn.ok());
  auto r = (*fn)->Score(MakeTask("q", "a"), "a", "id");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnauthorized);
  EXPECT_NE(r.status().message().find("HTTP 401"), std::string::npos);
}

TEST(JudgeReward, TemplateWithUnknownVariableFailsAtConstruction) {
  FakeJudgeClient client(Reply("GRADE: CORRECT"));
  auto fn = MakeReward("judge", &client, "Grade {{reponse}} please");
  ASSERT_FALSE(fn.ok());
  EXPECT_NE(fn.status().message().find("reponse"), std::string::npos);
  EXPECT_EQ(client.calls_, 0);

  auto empty = MakeReward("judge", &client, "");
  EXPECT_FALSE(empty.ok());
}

TEST(JudgeReward, ResponseTextIsNotReinterpretedAsTemplate) {
  FakeJudgeClient client(Reply("GRADE: CORRECT"));
  auto fn = MakeReward("judge", &client, "{{problem}}|{{ground_truth}}|{{response}}");
  ASSERT_TRUE(fn.ok());
  ASSERT_TRUE((*fn)->Score(MakeTask("p", "g"), "uses {{braces}}", "id").ok());
  EXPECT_EQ(client.last_.messages[0].content, "p|g|uses {{braces}}");
}

}  // namespace
}  // namespace tfgrpo

namespace tfgrpo {
namespace {

// task.math.precision reaches the math reward through the one constructor train and eval use.
TEST(MakeRewardFor, MathRewardUsesTheConfiguredPrecision) {
  auto prompts = PromptSet::Load(std::nullopt);
  ASSERT_TRUE(prompts.ok());
  Task task;
  task.id = "t";
  task.answer = "3.1416";
  Config coarse, fine;
  coarse.task.math_precision = 3;
  fine.task.math_precision = 6;
  auto lenient = MakeRewardFor(coarse, nullptr, *prompts);
  auto strict = MakeRewardFor(fine, nullptr, *prompts);
  ASSERT_TRUE(lenient.ok() && strict.ok());
  EXPECT_EQ((*lenient)->Score(task, "\\boxed{3.1415}", "c")->score, 1.0);
  EXPECT_EQ((*strict)->Score(task, "\\boxed{3.1415}", "c")->score, 0.0);
}

}  // namespace
}  // namespace tfgrpo
