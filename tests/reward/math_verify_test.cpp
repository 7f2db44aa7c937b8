// VerifyMath against a table of gold/prediction pairs spanning every answer form the issue lists
// (equivalent and not), plus extraction, malformed input, the time limit, threads and the JSONL driver.
#include "tfgrpo/math_verify.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "tfgrpo/reward.h"

namespace tfgrpo {
namespace {

struct Case {
  const char* gold;
  const char* pred;
  bool equal;
};

void ExpectCases(const char* group, std::initializer_list<Case> cases) {
  for (const Case& c : cases) {
    MathVerdict v = VerifyMath(c.gold, c.pred);
    EXPECT_EQ(v.score, c.equal ? 1.0 : 0.0)
        << group << ": gold '" << c.gold << "' pred '" << c.pred << "' parsed as '" << v.gold_parsed << "' vs '"
        << v.pred_parsed << "'" << (v.error.empty() ? "" : " error: " + v.error);
    EXPECT_FALSE(v.timed_out) << c.gold << " vs " << c.pred;
    // An equivalence must come from understanding both sides, not from the raw-text fallback.
    if (c.equal) {
      EXPECT_EQ(v.error, "") << group << ": " << c.gold << " vs " << c.pred;
    }
  }
}

TEST(VerifyMath, Integers) {
  ExpectCases("integers", {
                              {"42", "42", true},
                              {"42", " 42 ", true},
                              {"42", "042", true},
                              {"42", "42.", true},
                              {"42", "43", false},
                              {"42", "-42", false},
                              {"-7", "-7", true},
                              {"-7", "- 7", true},
                              {"-7", "+7", false},
                              {"7", "+7", true},
                              {"0", "-0", true},
                              {"1000000", "1000001", false},
                              {"12345678901234567890", "12345678901234567890", true},
                              {"12345678901234567890", "12345678901234567891", false},
                              {"1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890",
                               true},
                              {"1234567890123456789012345678901234567890", "1234567890123456789012345678901234567891",
                               false},
                              {"100", "10^2", true},
                              {"1024", "2^{10}", true},
                              {"1024", "2^10", true},
                              {"120", "5!", true},
                              {"10", "\\binom{5}{2}", true},
                              {"10", "\\dbinom52", true},
                          });
}

// Regression input fuzz/regressions/math/zero_scientific_empty_digits: "0E-002" emptied the digit
// string while trailing zeros were dropped, then read its last character (UBSan).
TEST(VerifyMath, ScientificZeroWithNegativeExponentIsZero) {
  EXPECT_EQ(VerifyMath("0", "0E-002").score, 1.0);
  EXPECT_EQ(VerifyMath("0", "00e-3").score, 1.0);
  EXPECT_EQ(VerifyMath("1", "0e-2").score, 0.0);
}

TEST(VerifyMath, ThousandsSeparators) {
  ExpectCases("thousands", {
                               {"1000", "1,000", true},
                               {"1000000", "1,000,000", true},
                               {"1000", "1{,}000", true},
                               {"1000", "1\\,000", true},
                               {"1234567", "1\\,234\\,567", true},
                               {"1234567", "1{,}234{,}567", true},
                               {"1000", "1 000", true},
                               {"1,000", "1000", true},
                               {"\\$1,000", "1000", true},
                               {"12", "1,2", false},
                               {"1000", "1,00", false},
                               {"1000", "10,00", false},
                               {"2023", "2,023", true},
                               {"1000", "1,001", false},
                           });
}

TEST(VerifyMath, Decimals) {
  ExpectCases("decimals", {
                              {"0.5", "0.5", true},
                              {"0.5", "0.50", true},
                              {"0.5", ".5", true},
                              {"0.5", "1/2", true},
                              {"0.5", "\\frac{1}{2}", true},
                              {"0.5", "0.51", false},
                              {"3.14", "3.14", true},
                              {"3.14", "3.15", false},
                              {"2.5", "\\frac{5}{2}", true},
                              {"5", "5.0", true},
                              {"5", "5.00001", false},
                              {"0.3333333", "\\frac{1}{3}", true},
                              {"\\frac{1}{3}", "0.333", false},
                              {"1.5", "1\\frac{1}{2}", true},
                              {"0", "0.0000000001", false},
                              {"0.1", "0.1000000001", true},
                              {"1.2\\times 10^{3}", "1200", true},
                              {"-0.25", "-\\frac14", true},
                          });
}

TEST(VerifyMath, Fractions) {
  ExpectCases("fractions", {
                               {"\\frac{1}{2}", "\\frac{1}{2}", true},
                               {"\\frac{1}{2}", "\\dfrac{1}{2}", true},
                               {"\\frac{1}{2}", "\\tfrac{1}{2}", true},
                               {"\\frac{1}{2}", "\\frac12", true},
                               {"\\frac{1}{2}", "2/4", true},
                               {"\\frac{1}{2}", "\\frac{2}{4}", true},
                               {"\\frac{1}{2}", "\\frac{1}{3}", false},
                               {"\\frac{1}{2}", "\\frac{2}{1}", false},
                               {"\\frac{3}{4}", "3/4", true},
                               {"\\frac{3}{4}", "0.75", true},
                               {"-\\frac{1}{2}", "\\frac{-1}{2}", true},
                               {"-\\frac{1}{2}", "\\frac{1}{-2}", true},
                               {"-\\frac{1}{2}", "-1/2", true},
                               {"-\\frac{1}{2}", "\\frac{1}{2}", false},
                               {"\\frac{7}{3}", "2\\frac{1}{3}", true},
                               {"\\frac{7}{3}", "2 \\frac{1}{3}", true},
                               {"\\frac{a}{b}", "a/b", true},
                               {"\\frac{\\frac{1}{2}}{3}", "\\frac{1}{6}", true},
                               {"2", "\\frac{4}{2}", true},
                               {"5", "\\frac{5}{0}", false},
                               {"\\frac{1}{2}", "\\frac{1}{2.0}", true},
                           });
}

TEST(VerifyMath, MixedSigns) {
  ExpectCases("signs", {
                           {"-3", "-(3)", true},
                           {"-3", "(-3)", true},
                           {"3", "-(-3)", true},
                           {"3", "--3", true},
                           {"-3", "+-3", true},
                           {"2-3", "-1", true},
                           {"-2+5", "3", true},
                           {"-x", "-1\\cdot x", true},
                           {"x-y", "-(y-x)", true},
                           {"x-y", "y-x", false},
                       });
}

TEST(VerifyMath, Radicals) {
  ExpectCases("radicals", {
                              {"\\sqrt{2}", "\\sqrt{2}", true},
                              {"\\sqrt{2}", "\\sqrt2", true},
                              {"\\sqrt{2}", "\\sqrt{3}", false},
                              {"2\\sqrt{2}", "\\sqrt{8}", true},
                              {"2\\sqrt{3}", "\\sqrt{12}", true},
                              {"2\\sqrt{3}", "2 \\sqrt 3", true},
                              {"2\\sqrt{3}", "3\\sqrt{2}", false},
                              {"\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", true},
                              {"\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt3}2", true},
                              {"\\sqrt[3]{2}", "2^{1/3}", true},
                              {"\\sqrt[3]{8}", "2", true},
                              {"\\sqrt[3]{-8}", "-2", true},
                              {"\\sqrt[4]{16}", "2", true},
                              {"\\sqrt[3]{2}", "\\sqrt{2}", false},
                              {"1+\\sqrt{2}", "\\sqrt{2}+1", true},
                              {"\\sqrt{2}", "1.41421356", true},
                              {"\\sqrt{2}", "1.41", false},
                              {"3+2\\sqrt{2}", "(1+\\sqrt{2})^2", true},
                              {"\\sqrt{5}-1", "\\frac{4}{\\sqrt{5}+1}", true},
                              {"4", "\\sqrt{16}", true},
                          });
}

TEST(VerifyMath, PowersPiAndE) {
  ExpectCases("powers/constants", {
                                      {"x^2", "x^{2}", true},
                                      {"x^2", "x*x", true},
                                      {"x^2", "x^3", false},
                                      {"2^{-1}", "\\frac{1}{2}", true},
                                      {"2^{-1}", "0.5", true},
                                      {"4^{1/2}", "2", true},
                                      {"\\pi", "\\pi", true},
                                      {"2\\pi", "2 \\pi", true},
                                      {"2\\pi", "\\pi \\cdot 2", true},
                                      {"\\frac{\\pi}{2}", "\\frac{1}{2}\\pi", true},
                                      {"\\pi", "3.14159265", true},
                                      {"\\pi", "3.14", false},
                                      {"\\pi", "2\\pi", false},
                                      {"\\pi^2", "\\pi\\cdot\\pi", true},
                                      {"e", "e", true},
                                      {"e^2", "e\\cdot e", true},
                                      {"e", "2.718281828", true},
                                      {"e", "\\pi", false},
                                      {"e^{i\\pi}", "-1", true},
                                      {"\\ln(e^3)", "3", true},
                                      {"\\log_2 8", "3", true},
                                      {"\\sin(\\pi/6)", "\\frac{1}{2}", true},
                                      {"0", "\\sin(\\pi)", true},
                                      {"\\cos^2 x + \\sin^2 x", "1", true},
                                      {"\\pi r^2", "r^2\\pi", true},
                                      {"\\pi r^2", "2\\pi r", false},
                                      {"2^{100}", "1267650600228229401496703205376", true},
                                      {"2^{100}", "1267650600228229401496703205377", false},
                                      {"2^{1000}", "2^{1000}", true},
                                      {"2^{1000}", "2\\cdot 2^{999}", true},
                                      {"2^{1000}", "2^{1000}+1", false},
                                  });
}

TEST(VerifyMath, MultiplicationSigns) {
  ExpectCases("multiplication", {
                                    {"6", "2\\cdot 3", true},
                                    {"6", "2\\times 3", true},
                                    {"6", "2 * 3", true},
                                    {"6", "2(3)", true},
                                    {"6x", "6 x", true},
                                    {"6x", "2\\cdot 3x", true},
                                    {"6x", "x \\times 6", true},
                                    {"3x", "3\\cdot x", true},
                                    {"3x", "x3", true},
                                    {"3x", "3y", false},
                                    {"2\\sqrt{3}", "2\\cdot\\sqrt{3}", true},
                                    {"(x+1)(x-1)", "x^2-1", true},
                                    {"(x+1)^2", "x^2+2x+1", true},
                                    {"(x+1)^2", "x^2+x+1", false},
                                    {"2xy", "2yx", true},
                                    {"\\frac{x}{2}", "0.5x", true},
                                    {"6", "12 \\div 2", true},
                                });
}

TEST(VerifyMath, LeftRightAndDelimiters) {
  ExpectCases("delimiters", {
                                {"\\left( \\frac{1}{2} \\right)", "\\frac{1}{2}", true},
                                {"(1, 2)", "\\left(1,2\\right)", true},
                                {"\\left[1, 2\\right)", "[1,2)", true},
                                {"\\left\\{1, 2\\right\\}", "\\{2,1\\}", true},
                                {"\\left| -3 \\right|", "3", true},
                                {"|x|", "\\left|x\\right|", true},
                                {"42", "$42$", true},
                                {"42", "\\(42\\)", true},
                                {"42", "\\[42\\]", true},
                                {"42", "$$42$$", true},
                                {"{7}", "7", true},
                                {"\\displaystyle\\frac{1}{2}", "0.5", true},
                            });
}

TEST(VerifyMath, Percentages) {
  ExpectCases("percent", {
                             // gold is a percentage: the number, the number with %, or the fraction
                             {"50\\%", "50\\%", true},
                             {"50\\%", "50", true},
                             {"50\\%", "0.5", true},
                             {"50\\%", "\\frac{1}{2}", true},
                             {"50\\%", "50%", true},
                             {"50\\%", "0.5\\%", false},
                             {"50\\%", "5", false},
                             {"12.5\\%", "0.125", true},
                             {"12.5\\%", "\\frac{1}{8}", true},
                             // gold is not a percentage: a % in the prediction is only a unit
                             {"50", "50\\%", true},
                             {"0.5", "50\\%", false},
                             {"\\frac{1}{2}", "50\\%", false},
                             {"10\\%", "10", true},
                             {"10\\%", "11\\%", false},
                         });
}

TEST(VerifyMath, Degrees) {
  ExpectCases("degrees", {
                             {"90^\\circ", "90", true},
                             {"90", "90^\\circ", true},
                             {"90^{\\circ}", "90^\\circ", true},
                             {"90^\\circ", "90\xC2\xB0", true},
                             {"30^\\circ", "\\frac{\\pi}{6}", true},
                             {"\\frac{\\pi}{6}", "30^\\circ", true},
                             {"30^\\circ", "60^\\circ", false},
                             {"45^\\circ", "45 \\text{ degrees}", true},
                             {"\\frac{1}{2}", "\\sin 30^\\circ", true},
                             {"\\frac{1}{2}", "\\cos(60^{\\circ})", true},
                             {"90^\\circ", "30^\\circ + 60^\\circ", true},
                             {"-45^\\circ", "-45", true},
                         });
}

TEST(VerifyMath, UnitsAndWords) {
  ExpectCases("units", {
                           {"5", "5 \\text{ cm}", true},
                           {"5", "5\\text{cm}", true},
                           {"5", "5 \\mbox{ meters}", true},
                           {"5", "\\text{5 apples}", true},
                           {"5", "5 apples", true},
                           {"5", "\\$5", true},
                           {"5", "5 \\text{ dollars}", true},
                           {"5", "6 \\text{ cm}", false},
                           {"10", "\\text{The answer is } 10", true},
                           {"12 \\text{ inches}", "12", true},
                           {"12 \\text{ inches}", "12 \\text{ in}", true},
                           {"12 \\text{ inches}", "13", false},
                           {"3\\text{ m}^2", "3", true},
                       });
}

TEST(VerifyMath, InfinityAndIntervals) {
  ExpectCases("intervals", {
                               {"\\infty", "\\infty", true},
                               {"\\infty", "+\\infty", true},
                               {"-\\infty", "-\\infty", true},
                               {"\\infty", "-\\infty", false},
                               {"\\infty", "\xE2\x88\x9E", true},
                               {"[1, 2)", "[1,2)", true},
                               {"[1, 2)", "[1, 2]", false},
                               {"[1, 2)", "(1, 2)", false},
                               {"[1, 2)", "[1, 3)", false},
                               {"(0, 1]", "(0,1]", true},
                               {"[0, 1]", "\\left[0, 1\\right]", true},
                               {"[0, 1]", "[0, \\frac{2}{2}]", true},
                               {"(-\\infty, 3)", "(-\\infty,3)", true},
                               {"(-\\infty, 3)", "(-\\infty, 3]", false},
                               {"[2, \\infty)", "[2, \\infty]", true},
                               {"[2, \\infty)", "(2, \\infty)", false},
                               {"(-\\infty, 0) \\cup (1, \\infty)", "(1,\\infty)\\cup(-\\infty,0)", true},
                               {"(-\\infty, 0) \\cup (1, \\infty)", "(-\\infty,0)\\cup[1,\\infty)", false},
                               {"[\\frac{1}{2}, \\sqrt{2}]", "[0.5, \\sqrt{2}]", true},
                               {"x \\in [1, 2]", "[1, 2]", true},
                           });
}

TEST(VerifyMath, TuplesAndSets) {
  ExpectCases("tuples/sets", {
                                 {"(1, 2)", "(1, 2)", true},
                                 {"(1, 2)", "(2, 1)", false},
                                 {"(1, 2)", "(1, 2, 3)", false},
                                 {"(1, -2, 3)", "\\left(1,-2,3\\right)", true},
                                 {"(\\frac{1}{2}, \\sqrt{3})", "(0.5, \\sqrt 3)", true},
                                 {"(0, 1)", "(0,1)", true},
                                 {"\\{1, 2\\}", "\\{2, 1\\}", true},
                                 {"\\{1, 2\\}", "\\{1, 3\\}", false},
                                 {"\\{1, 2\\}", "\\{1, 2, 3\\}", false},
                                 {"\\{1, 2\\}", "1, 2", true},
                                 {"\\{1, 2\\}", "2, 1", true},
                                 {"\\{5\\}", "5", true},
                                 {"5", "\\{5\\}", true},
                                 {"\\{1, 1, 2\\}", "\\{1, 2, 1\\}", true},
                                 {"\\{1, 1, 2\\}", "\\{1, 2, 2\\}", false},
                                 {"\\emptyset", "\\varnothing", true},
                                 {"\\emptyset", "\\{\\}", true},
                                 {"\\emptyset", "\\{0\\}", false},
                                 {"\\{(1,2), (3,4)\\}", "\\{(3,4), (1,2)\\}", true},
                                 {"\\{(1,2), (3,4)\\}", "\\{(2,1), (3,4)\\}", false},
                                 {"\\langle 1, 2 \\rangle", "(1, 2)", true},
                             });
}

TEST(VerifyMath, EquationsAgainstValues) {
  ExpectCases("equations", {
                               {"5", "x=5", true},
                               {"5", "x = 5", true},
                               {"x=5", "5", true},
                               {"a=5", "5", true},
                               {"5", "a = 5", true},
                               {"5", "x=6", false},
                               {"x=5", "x=5", true},
                               {"x=5", "y=5", true},
                               {"x=5", "x=6", false},
                               {"y=2x+1", "y=1+2x", true},
                               {"y=2x+1", "y=2x-1", false},
                               {"x+y=5", "y+x=5", true},
                               {"x+y=5", "5=x+y", true},
                               {"x+y=5", "x+y=6", false},
                               {"1, 2", "x=1, x=2", true},
                               {"1, 2", "x = 2 \\text{ or } x = 1", true},
                               {"3", "k = \\frac{6}{2}", true},
                               {"x > 2", "x>2", true},
                               {"x > 2", "2 < x", true},
                               {"x > 2", "x \\ge 2", false},
                               {"1 \\le x < 3", "1 \\leq x < 3", true},
                           });
}

TEST(VerifyMath, MultipleAnswers) {
  ExpectCases("multiple", {
                              {"1, 2", "1, 2", true},
                              {"1, 2", "2, 1", true},
                              {"1, 2", "1,2", true},
                              {"1, 2", "1", false},
                              {"1, 2", "1, 2, 3", false},
                              {"1, 2", "1 \\text{ and } 2", true},
                              {"1, 2", "2 and 1", true},
                              {"-1, 3", "3, -1", true},
                              {"1 \\pm \\sqrt{2}", "1+\\sqrt{2}, 1-\\sqrt{2}", true},
                              {"1 \\pm \\sqrt{2}", "1-\\sqrt2, 1+\\sqrt2", true},
                              {"\\pm 2", "2, -2", true},
                              {"\\pm 2", "2", false},
                              {"\\frac{1}{2}, \\frac{1}{3}", "\\frac13, 0.5", true},
                              {"1, 2", "(1, 2)", false},
                          });
}

TEST(VerifyMath, TextAnswers) {
  ExpectCases("text", {
                          {"yes", "yes", true},
                          {"yes", "Yes", true},
                          {"yes", "YES.", true},
                          {"yes", "\\text{yes}", true},
                          {"\\text{Yes}", "yes", true},
                          {"yes", "no", false},
                          {"Monday", "monday", true},
                          {"Monday", "Tuesday", false},
                          {"\\text{no solution}", "No Solution", true},
                          {"\\text{no solution}", "no", false},
                          {"B", "B", true},
                          {"B", "(B)", true},
                          {"B", "\\text{B}", true},
                          {"B", "\\textbf{(B)}", true},
                          {"B", "b", true},
                          {"B", "C", false},
                          {"B", "(C)", false},
                          {"(C)", "C", true},
                          {"(C)", "\\text{(C)}", true},
                          {"(C)", "(C) 12", true},
                          {"(C)", "(D) 12", false},
                          {"C", "c)", true},
                          {"\\text{(A)}", "A", true},
                      });
}

TEST(VerifyMath, BoxedAndReplies) {
  ExpectCases("replies", {
                             {"42", "\\boxed{42}", true},
                             {"\\boxed{42}", "42", true},
                             {"$\\boxed{42}$", "42", true},
                             {"42", "The answer is $\\boxed{42}$.", true},
                             {"42", "We get $x = \\boxed{42}$ in the end.", true},
                             {"42", "First \\boxed{41}, then corrected: \\boxed{42}", true},
                             {"42", "\\boxed{42} was wrong, it is \\boxed{43}", false},
                             {"\\frac{1}{2}", "so \\boxed{\\frac{1}{2}}", true},
                             {"\\frac{1}{2}", "\\fbox{\\dfrac{1}{2}}", true},
                             {"\\{1,2\\}", "\\boxed{\\left\\{1, 2\\right\\}}", true},
                             {"42", "Some work...\n<answer>42</answer>", true},
                             {"42", "Work...\nAnswer: 42", true},
                             {"42", "Work...\n**Answer:** $42$\n", true},
                             {"42", "Lots of work\nso the answer is 42.", true},
                             {"42", "Final Answer: The final answer is $42$. I hope it is correct.", true},
                             {"42", "I think it is forty-two, written\nas a number maybe 42 or so", false},
                             {"42", "", false},
                         });
}

TEST(VerifyMath, SymbolicExpressions) {
  ExpectCases("symbolic", {
                              {"\\frac{x^2-1}{x-1}", "x+1", true},
                              {"\\frac{1}{x}+\\frac{1}{y}", "\\frac{x+y}{xy}", true},
                              {"\\frac{1}{x}+\\frac{1}{y}", "\\frac{2}{x+y}", false},
                              {"a^2-b^2", "(a-b)(a+b)", true},
                              {"x^{10}", "(x^5)^2", true},
                              {"\\sqrt{x^2}", "x", true},
                              {"2\\sin x\\cos x", "\\sin(2x)", true},
                              {"\\ln(xy)", "\\ln x + \\ln y", true},
                              {"3+4i", "4i+3", true},
                              {"3+4i", "3-4i", false},
                              {"i^2", "-1", true},
                              {"\\alpha+\\beta", "\\beta+\\alpha", true},
                              {"x_1+x_2", "x_2+x_1", true},
                              {"x_1", "x_2", false},
                              {"n(n+1)/2", "\\frac{n^2+n}{2}", true},
                          });
}

// Plausible wrong answers a model gives: each must score 0 (a lenient checker is a hackable reward).
TEST(VerifyMath, NearMissesAreRejected) {
  ExpectCases("near misses", {
                                 {"204", "240", false},
                                 {"204", "20.4", false},
                                 {"204", "2040", false},
                                 {"204", "204x", false},
                                 {"204", "x", false},
                                 {"204", "\\infty", false},
                                 {"204", "204, 205", false},
                                 {"204", "204 \\text{ or } 205", false},
                                 {"204", "\\{204, 205\\}", false},
                                 {"204", "(204, 205)", false},
                                 {"204", "204 \\pm 1", false},
                                 {"204", "x = 205", false},
                                 {"204", "204 = 205", false},
                                 {"204", "\\frac{204}{1000}", false},
                                 {"204", "2.04\\%", false},
                                 {"\\frac{2}{3}", "\\frac{3}{2}", false},
                                 {"\\frac{2}{3}", "0.67", false},
                                 {"\\frac{2}{3}", "\\frac{2}{3}x", false},
                                 {"\\frac{2}{3}", "-\\frac{2}{3}", false},
                                 {"\\frac{2}{3}", "2/3/2", false},
                                 {"2\\sqrt{3}", "2\\sqrt{3}+1", false},
                                 {"2\\sqrt{3}", "\\sqrt{6}", false},
                                 {"2\\sqrt{3}", "3.46", false},
                                 {"2\\sqrt{3}", "2\\sqrt[3]{3}", false},
                                 {"\\frac{\\pi}{3}", "\\frac{\\pi}{6}", false},
                                 {"\\frac{\\pi}{3}", "60", false},
                                 {"\\frac{\\pi}{3}", "1.047", false},
                                 {"e", "2.718", false},
                                 {"x^2+1", "x^2-1", false},
                                 {"x^2+1", "(x+1)^2", false},
                                 {"\\frac{1}{x}", "x", false},
                                 {"\\sqrt{x}", "x^2", false},
                                 {"\\{1, 2, 3\\}", "\\{1, 2\\}", false},
                                 {"\\{1, 2, 3\\}", "\\{1, 2, 4\\}", false},
                                 {"(1, 2, 3)", "(1, 3, 2)", false},
                                 {"(-\\infty, 1]", "(-\\infty, 1)", false},
                                 {"(-\\infty, 1]", "[1, \\infty)", false},
                                 {"(-\\infty, 1]", "(-\\infty, 2]", false},
                                 {"[0, 1]", "\\{0, 1\\}", false},
                                 {"\\text{yes}", "\\text{yes and no}", false},
                                 {"\\text{A}", "\\text{A and B}", false},
                                 {"B", "(B) or (C)", false},
                                 {"35", "Not 5 but 7", false},
                                 {"6", "2 3", false},
                             });
}

TEST(VerifyMath, NumericToleranceIsRelative) {
  MathVerifyOptions loose;
  loose.rel_tol = 1e-2;
  EXPECT_EQ(VerifyMath("\\pi", "3.14", loose).score, 1.0);
  EXPECT_EQ(VerifyMath("\\pi", "3.14").score, 0.0);
  EXPECT_EQ(VerifyMath("1000000", "1000000.5").score, 1.0);  // decimal: relative 5e-7
  EXPECT_EQ(VerifyMath("1000000", "1000001").score, 0.0);    // integers: exact
}

// ---- agreement with Math-Verify's conventions (issue 9), one table per rule -------------------------

TEST(VerifyMath, ChainsAndApproximations) {
  ExpectCases("chains", {
                            {"y = 9", "y = 4+4+1 = 9", true},
                            {"y = 9", "y = 3 \\cdot 3 = 8 + 1 = 9", true},
                            {"9", "y = 4+5 = 9", true},
                            {"y = 9", "y = 4+4+1 = 10", false},
                            {"y = 9", "y = 9 = 10", false},
                            {"\\frac{2}{7}", "\\frac27 \\approx 0.286", true},
                            {"\\frac{2}{7}", "y=\\frac{2}{7}\\approx 0.3", true},
                            {"y = \\frac{2}{7}", "y = 1+1 = \\frac{2}{7} \\approx 5", true},
                            {"\\frac{2}{7}", "0.3 \\approx \\frac{2}{7}", false},
                            {"\\frac{2}{7}", "\\frac{3}{7} \\approx 0.286", false},
                            {"13", "y \\approx 13", true},
                            {"(\\frac{1}{3}, 2)", "(\\frac13 \\approx 0.33, 2)", true},
                            {"13", "y \\approx 12", false},
                            {"\\frac{3}{5}", "\\frac{6}{5} - \\frac{3}{5} = \\frac{3}{5}", true},  // a computation
                            {"0", "2 = y = 0", true},
                            {"9 = 4b + d", "4b + d", false},  // a gold equation is not its right side
                            {"b + 2d = 0", "0", false},
                        });
}

TEST(VerifyMath, AsciiRelations) {
  ExpectCases("ascii relations", {
                                     {"t \\geq 4", "t >= 4", true},
                                     {"t <= 4", "t \\le 4", true},
                                     {"t \\neq 4", "t != 4", true},
                                     {"t != 4", "t \\ne 4", true},
                                     {"t >= 4", "t > 4", false},
                                     {"t <= 4", "t >= 4", false},
                                     {"t != 4", "t != 5", false},
                                     {"24", "4!", true},  // a factorial stays a factorial
                                     {"t >= 4", "4 <= t", true},
                                 });
}

TEST(VerifyMath, InequalitiesAsIntervals) {
  ExpectCases("inequalities", {
                                  {"-3 \\le t \\le 8", "t \\in [-3, 8]", true},
                                  {"-3 \\le t \\le 8", "[-3, 8]", true},
                                  {"-3 \\le t < 8", "[-3, 8)", true},
                                  {"-3 \\le t \\le 8", "(-3, 8]", false},
                                  {"-3 \\le t \\le 8", "[-3, 9]", false},
                                  {"0 < g(t) < 2", "(0, 2)", true},
                                  {"0 < g(t) < 2", "(0, 3)", false},
                                  {"t > 5", "(5, \\infty)", true},
                                  {"t \\le 5", "(-\\infty, 5]", true},
                                  {"t \\le 5", "(-\\infty, 5)", false},
                                  {"t > 5", "[5, \\infty)", false},
                                  {"2 \\le |t| \\le 5", "t \\in [-5, -2] \\cup [2, 5]", true},
                                  {"2 \\le |t| < 5", "(-5, -2] \\cup [2, 5)", true},
                                  {"0 \\le |t| \\le 5", "[-5, 5]", true},
                                  {"0 < |t| \\le 5", "[-5, 0) \\cup (0, 5]", true},
                                  {"2 \\le |t| \\le 5", "[2, 5]", false},
                                  {"|t| < 5", "(-\\infty, 5)", false},
                                  {"2 \\le |t| \\le 5", "t \\in [-5, -2] \\cup [2, 6]", false},
                                  {"t \\in [1, 2] \\cup [3, 4]", "[3, 4] \\cup [1, 2]", true},
                                  {"t \\in [1, 2] \\cup [3, 4]", "[1, 2] \\cup [3, 5]", false},
                                  // A gold interval equals the inequality that describes it (issue 16).
                                  {"[-3, 8]", "-3 \\le t \\le 8", true},
                                  // Negated and flipped inequalities.
                                  {"t < 2", "-t > -2", true},
                                  {"t \\le 2", "-t \\ge -2", true},
                                  {"t < 2", "2t < 4", true},
                                  {"t < 2", "-t < -2", false},
                                  {"t < 2", "t > -2", false},
                                  {"t < 2", "t \\le 2", false},
                              });
}

// An inequality and its interval are one answer whichever side is the gold (as Math-Verify);
// an end or a bracket that differs keeps them apart, both ways round.
TEST(VerifyMath, InequalityAndIntervalEqualBothWays) {
  const std::vector<std::tuple<std::string, std::string, bool>> pairs = {
      {"x \\ge 2", "[2, \\infty)", true},
      {"x \\geq 2", "x \\in [2, \\infty)", true},
      {"x >= 2", "[2, \\infty]", true},
      {"2 \\le x", "[2, \\infty)", true},
      {"1 < t < 5", "(1, 5)", true},
      {"-3 \\le x \\le 4", "[-3, 4]", true},
      {"-3 \\le x < 4", "[-3, 4)", true},
      {"x < 3", "(-\\infty, 3)", true},
      {"x \\le -1", "(-\\infty, -1]", true},
      {"5 > y > -1", "(-1, 5)", true},
      // A different end or bracket is a different answer.
      {"x > 2", "[2, \\infty)", false},
      {"x \\ge 2", "(2, \\infty)", false},
      {"x \\ge 3", "[2, \\infty)", false},
      {"1 \\le t < 5", "(1, 5)", false},
      {"1 < t < 5", "(1, 6)", false},
      {"-3 \\le x \\le 4", "[-3, 4)", false},
      {"-3 \\le x \\le 4", "[3, 4]", false},
      {"x < 3", "(-\\infty, 3]", false},
      {"x < 3", "(3, \\infty)", false},
  };
  for (const auto& [inequality, interval, equal] : pairs) {
    for (bool swapped : {false, true}) {
      const std::string& gold = swapped ? interval : inequality;
      const std::string& pred = swapped ? inequality : interval;
      MathVerdict v = VerifyMath(gold, pred);
      EXPECT_EQ(v.score, equal ? 1.0 : 0.0) << "gold '" << gold << "' pred '" << pred << "' parsed as '"
                                           << v.gold_parsed << "' vs '" << v.pred_parsed << "'";
      if (equal) {
        EXPECT_EQ(v.error, "") << gold << " vs " << pred;
      }
    }
  }
  // Inside a whole reply too.
  EXPECT_EQ(VerifyMath("[2, \\infty)", "So the solution set is $x \\ge 2$, i.e. \\boxed{x \\ge 2}.").score, 1.0);
  EXPECT_EQ(VerifyMath("[2, \\infty)", "\\boxed{x > 2}").score, 0.0);
}

TEST(VerifyMath, EquationsUpToAConstantFactor) {
  ExpectCases("equation factor", {
                                     {"3a + 6b - 9 = 0", "b = -\\frac{1}{2}a + \\frac{3}{2}", true},
                                     {"3a + 6b - 9 = 0", "a + 2b = 3", true},
                                     {"3a + 6b - 9 = 0", "-a - 2b + 3 = 0", true},
                                     {"\\frac{a^2}{9} + \\frac{b^2}{4} = 1", "\\frac{a^2}{18} + \\frac{b^2}{8} = \\frac12", true},
                                     {"3a + 6b - 9 = 0", "a + 2b = 4", false},
                                     {"3a + 6b - 9 = 0", "a + 3b = 3", false},
                                     {"a = 2", "a^2 = 4", false},
                                     {"\\frac{a^2}{9} + \\frac{b^2}{4} = 1", "\\frac{a^2}{9} + \\frac{b^2}{4} = 2", false},
                                 });
}

TEST(VerifyMath, LeftHandSidesThatNameAQuantity) {
  ExpectCases("named left sides", {
                                      {"(m,n)=(4,1)", "(4,1)", true},
                                      {"(m, n, k) = (4, 1, 9)", "\\left(4,1,9\\right)", true},
                                      {"(m,n)=(4,1)", "(1,4)", false},
                                      {"|PQ| = 3", "3", true},
                                      {"PQ = 6, RS = 2", "6, 2", true},
                                      {"PQ = 6, RS = 2", "2, 6", true},
                                      {"PQ = 6, RS = 2", "6, 3", false},
                                      {"\\frac{PM}{QM} = \\frac{2}{\\sqrt{5}}", "\\frac{2\\sqrt5}{5}", true},
                                      {"\\frac{PM}{QM} = \\frac{2}{\\sqrt{5}}", "\\frac{2}{5}", false},
                                      {"P:Q = 2", "2", true},
                                      {"A_1:A_2 = 5:9", "5:9", true},
                                      {"A_1:A_2 = 5:9", "9:5", false},
                                      {"5:9", "5:9", true},
                                      {"10:30", "1:30", false},
                                      {"(m,n) = (4,1)", "(m, n) = (4, 1)", true},
                                      // Not a name: a sum or a coefficient makes the equation the answer.
                                      {"3m + n = 2", "2", false},
                                      {"m^2 + n = 5", "5", false},
                                      {"m + n = 2", "2", false},
                                  });
}

TEST(VerifyMath, NumberFormats) {
  ExpectCases("number formats", {
                                    {"2000.25", "2000,25", true},
                                    {"3,45", "3.45", true},
                                    {"0,222", "0.222", true},
                                    {"3.45", "3,46", false},
                                    {"3.45", "3,450", false},  // "3,450" is three thousand four hundred fifty
                                    {"3450", "3,450", true},
                                    {"2,5", "2.5", false},     // one digit after a comma: a pair, not a decimal
                                    {"45678", "45,\\!678", true},
                                    {"22222222200", "22,\\! 222,\\! 222,\\! 200", true},
                                    {"45678", "45, 678", false},
                                    {"2000.25", "$2,000.25", true},
                                    {"2000.25", "2,000.25$", true},
                                    {"2000.25", "we paid 30 and then 2,000.25\xE2\x82\xAC", true},
                                    {"2000.25", "the floor is 12 by 9, so 2,000.25m\xC2\xB2", true},
                                    {"2000.25", "the floor is 2,000.26m\xC2\xB2", false},
                                    {"16386.2", "It is worth $\\boxed{\\$16,\\!386.20}$ by then.", true},
                                });
}

TEST(VerifyMath, SeveralBoxedAnswersAreOneAnswer) {
  ExpectCases("several boxes", {
                                   {"(1, 4), (5, 4)", "\\boxed{(1, 4)} \\quad \\text{and} \\quad \\boxed{(5, 4)}", true},
                                   {"3, 5, 11", "\\boxed{3}, \\boxed{5}, \\boxed{11}", true},
                                   {"3, 5, 11", "\\boxed{3} and \\boxed{5} and \\boxed{11}", true},
                                   {"3, 5", "\\boxed{3}\\boxed{5}", true},
                                   {"3, 5", "\\(\\boxed{5}\\) or \\(\\boxed{3}\\)", true},
                                   {"(2, 2), (4, 4)", "\\boxed{(2, 2)} \\text{ for the first case and } \\boxed{(4, 4)}", true},
                                   {"a = 7, b = 1", "\\boxed{a = 7} \\quad \\text{and} \\quad \\boxed{b = 1}", true},
                                   {"u_1 = t^2 + 2t, u_2 = 2t - 1", "$u_1 = \\boxed{t(t + 2)}$ and $u_2 = \\boxed{2t-1}$", true},
                                   // Other text between boxes: the last box is the answer.
                                   {"5", "\\boxed{3} no wait, it is \\boxed{5}", true},
                                   {"3, 5", "\\boxed{3} no wait, it is \\boxed{5}", false},
                                   {"3, 5", "\\boxed{3} ++ \\boxed{5}", false},
                                   // A hedge between two answers names both: it matches neither alone.
                                   {"3", "\\boxed{3} or \\boxed{5}", false},
                                   // A closing final-answer statement after the last box wins.
                                   {"120", "so \\boxed{40} per day. Final Answer: The final answer is $120$. I hope it is correct.", true},
                                   {"40", "so \\boxed{40} per day. Final Answer: The final answer is $120$. I hope it is correct.", false},
                                   {"\\boxed{3} and \\boxed{-5}", "\\boxed{-5, 3}", true},
                                   {"5", "\\boxed{5} is the final answer; the answer is not 6", true},
                                   {"5", "\\boxed{5}\n\n**Final Answer**\n\\boxed{5}", true},
                               });
}

TEST(VerifyMath, ProseAndListAnswers) {
  ExpectCases("prose and lists", {
                                     {"27", "Final Answer: The smallest $k$ is 27.", true},
                                     {"27", "Final Answer: The smallest $k$ is 28.", false},
                                     {"11, 35, and 70", "11, 35, \\text{ and } 70", true},
                                     {"11, 35, and 70", "11, 35, and 71", false},
                                     {"(4,9)or(9,4)", "(9,4), (4,9)", true},
                                     {"(4,9)or(9,4)", "(9,4), (4,8)", false},
                                     {"m=3,n=1;m=5,n=1", "(3,1),(5,1)", true},
                                     {"m=3,n=1;m=5,n=1", "(1,3),(5,1)", false},
                                     {"-9;-8;-7", "\\{-7, -8, -9\\}", true},
                                     {"(2, 5), (2, 5), (1, 1)", "(1, 1), (2, 5)", true},  // a set written twice over
                                     {"(2, 5), (1, 1)", "(1, 1), (2, 4), (2, 5)", false},
                                     {"13, 14", "Final Answer: The final answer is \"$13$ and $14$\". I hope it is correct.", true},
                                 });
}

TEST(VerifyMath, RepliesWithoutAMarker) {
  ExpectCases("no marker", {
                               {"3/4", "We flip twice and so on. Therefore the chance that she wins is 3/4. <|im_start|>user", true},
                               {"3/4", "We flip twice and so on. Therefore the chance that she wins is 3/5.", false},
                               {"15", "There are 6 ways for the first and then 15 distinct ways in total. I hope it is correct.", true},
                               {"(4, 2)", "Solving, $u = 4$ and $v = 2$, so the pair $(u, v)$ is $(4, 2)$. <|im_start|>", true},
                               {"u \\le 3", "Hence $u <= 3$ is what we wanted.", true},
                               {"8", "First \\[ \n 8 \n \\]", true},
                               {"8", "First $$ \n 8 \n $$", true},
                               // Inline math does not span lines.
                               {"8", "First $ \n 8 \n $", false},
                               {"8", "First \\( \n 8 \n \\)", false},
                               // A last number that belongs to an expression is not read on its own.
                               {"2", "so the length comes out as 2 \\sqrt{3}", false},
                               {"3", "the total is 5 + 3", false},
                               {"2", "we get 2 x in the end", false},
                               {"43", "We tried 41 and 42.\nIn the end the count is 43.", true},
                               {"42", "We tried 41 and 42.\nIn the end the count is 43.", false},
                               // A hedge states no answer.
                               {"43", "It should be about 43 maybe.", false},
                               {"43", "We think it is $43$ or so.", false},
                               {"2", "H2O is the formula", false},
                               {"50\\%", "so the price rises by 50%.", true},
                           });
}

TEST(VerifyMath, MatricesByValue) {
  ExpectCases("matrices", {
                              {"\\begin{pmatrix}2 & 0 \\\\ 0 & 3\\end{pmatrix}", "\\begin{bmatrix}2 & 0 \\\\ 0 & 3\\end{bmatrix}", true},
                              {"\\begin{pmatrix}2 & 0 \\\\ 0 & 3\\end{pmatrix}", "\\left[\\begin{array}{cc}2 & 0 \\\\ 0 & 3\\end{array}\\right]", true},
                              {"\\begin{pmatrix}\\frac{1}{4} & 1 \\\\ 0 & 2\\end{pmatrix}", "\\begin{pmatrix}0.25 & 1 \\\\ 0 & 2\\end{pmatrix}", true},
                              {"\\begin{pmatrix}2 & 0 \\\\ 0 & 3\\end{pmatrix}", "\\begin{pmatrix}2 & 0 \\\\ 0 & 4\\end{pmatrix}", false},
                              {"\\begin{pmatrix}2 & 0 \\\\ 0 & 3\\end{pmatrix}", "\\begin{pmatrix}2 & 0 & 0 \\\\ 0 & 3 & 0\\end{pmatrix}", false},
                              {"\\begin{pmatrix}2 \\\\ 3\\end{pmatrix}", "(2, 3)", false},
                              {"\\begin{pmatrix}3 & 5 \\\\ 7 & 9\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}2 & 3 \\\\ 4 & 5\\end{pmatrix}", true},
                              {"\\begin{pmatrix}2 & 1 \\\\ 4 & 3\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} \\begin{pmatrix}0 & 1 \\\\ 1 & 0\\end{pmatrix}", true},
                              {"\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} \\begin{pmatrix}0 & 1 \\\\ 1 & 0\\end{pmatrix}", false},
                              {"\\begin{pmatrix}2t \\\\ t^2\\end{pmatrix}", "\\begin{pmatrix}t+t \\\\ t \\cdot t\\end{pmatrix}", true},
                              {"$\\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$", "The result is $ \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix} $.", true},
                          });
}

TEST(VerifyMath, SumsAndProductsWithNumericBounds) {
  ExpectCases("sums", {
                          {"385", "\\sum_{k=1}^{10} k^2", true},
                          {"384", "\\sum_{k=1}^{10} k^2", false},
                          {"55", "\\sum_{i=1}^{10} i", true},
                          {"\\frac{1}{5}", "\\prod_{j=2}^{5} \\left(1 - \\frac{1}{j}\\right)", true},
                          {"120", "\\prod_{j=1}^5 j", true},
                          {"121", "\\prod_{j=1}^5 j", false},
                          {"6", "\\sum_{k=1}^{2} 2k^2 - 2", false},  // the body is one term: 2 + 8 - 2
                          {"8", "\\sum_{k=1}^{2} 2k^2 - 2", true},
                          {"0", "\\sum_{k=-2}^{2} k^3", true},
                          {"x + x^2 + x^3", "\\sum_{k=1}^{3} x^k", true},
                      });
  // Symbolic bounds are not evaluated: such answers compare as text.
  EXPECT_EQ(VerifyMath("\\sum_{k=1}^{n} k", "\\frac{n(n+1)}{2}").score, 0.0);
  EXPECT_EQ(VerifyMath("\\sum_{k=1}^{100000} k", "5000050000").score, 0.0);  // too many terms
}

TEST(VerifyMath, DoublyEscapedCommands) {
  ExpectCases("double backslashes", {
                                        {"\\\\left(\\\\frac{2}{3},\\\\frac{1}{7}\\\\right)", "(\\frac{2}{3}, \\frac{1}{7})", true},
                                        {"\\\\left(\\\\frac{2}{3},\\\\frac{1}{7}\\\\right)", "(\\frac{2}{3}, \\frac{1}{8})", false},
                                        {"-1 \\\\le t \\\\le 4", "t \\in [-1, 4]", true},
                                        {"x_{1}=2,\\quadx_{2}=5", "2, 5", true},
                                    });
}

TEST(VerifyMath, PrecisionIsSignificantDigits) {
  MathVerifyOptions three;
  three.precision = 3;
  EXPECT_EQ(VerifyMath("\\frac{2}{3}", "0.667", three).score, 1.0);
  EXPECT_EQ(VerifyMath("\\frac{2}{3}", "0.665", three).score, 0.0);
  EXPECT_EQ(VerifyMath("\\frac{2}{3}", "0.667").score, 0.0);         // default: six digits
  EXPECT_EQ(VerifyMath("\\frac{2}{3}", "0.666667").score, 1.0);
  EXPECT_EQ(VerifyMath("\\frac{2}{3}", "0.66667").score, 0.0);
  EXPECT_EQ(VerifyMath("12345.6", "12345.61").score, 1.0);  // relative difference 8e-7
  EXPECT_EQ(VerifyMath("12345.6", "12345.66").score, 0.0);  // 5e-6
  EXPECT_EQ(VerifyMath("\\frac{1}{3}", "0.333", three).score, 1.0);
  MathVerifyOptions four;
  four.precision = 4;
  EXPECT_EQ(VerifyMath("\\frac{1}{3}", "0.333", four).score, 0.0);
  EXPECT_EQ(VerifyMath("\\frac{4}{3}", "1.333", three).score, 1.0);
  EXPECT_EQ(VerifyMath("\\frac{4}{3}", "1.333", four).score, 0.0);
  EXPECT_EQ(VerifyMath("\\sqrt{7}", "2.645751").score, 1.0);
  EXPECT_EQ(VerifyMath("\\sqrt{7}", "2.6458", three).score, 1.0);
  EXPECT_EQ(VerifyMath("\\sqrt{7}", "2.6458").score, 0.0);
  EXPECT_EQ(VerifyMath("3", "3.0001", three).score, 1.0);
  EXPECT_EQ(VerifyMath("3", "4", three).score, 0.0);  // integers stay exact at any precision
  EXPECT_EQ(VerifyMath("3", "3.01", three).score, 0.0);
}

// ---- parsed forms -------------------------------------------------------------------------------------

TEST(VerifyMath, ParsedFormsAreCanonical) {
  struct Printed {
    const char* input;
    const char* expected;
  };
  for (const Printed& p : std::initializer_list<Printed>{
           {"\\frac{2}{4}", "1/2"},
           {"0.50", "0.5"},
           {"1,000", "1000"},
           {"2\\sqrt{3}", "2*sqrt(3)"},
           {"\\{1, 2\\}", "{1, 2}"},
           {"[1, 2)", "[1, 2)"},
           {"(1, 2)", "(1, 2)"},
           {"x = 5", "x = 5"},
           {"50\\%", "50%"},
           {"\\text{Yes}", "yes"},
           {"(B)", "B"},
           {"-\\infty", "-inf"},
           {"\\frac{\\pi}{2}", "pi/2"},
           {"x^{2}+1", "x^2 + 1"},
       }) {
    MathVerdict v = VerifyMath(p.input, p.input);
    EXPECT_EQ(v.gold_parsed, p.expected) << p.input;
    EXPECT_EQ(v.pred_parsed, p.expected) << p.input;
    EXPECT_EQ(v.score, 1.0) << p.input;
  }
}

// ---- extraction ---------------------------------------------------------------------------------------

TEST(ExtractAnswerForVerify, Priorities) {
  EXPECT_EQ(ExtractAnswerForVerify("so \\boxed{\\frac{1}{2}}."), "\\frac{1}{2}");
  EXPECT_EQ(ExtractAnswerForVerify("\\boxed{1} then \\fbox{2}"), "2");
  EXPECT_EQ(ExtractAnswerForVerify("\\boxed {12}"), "12");
  EXPECT_EQ(ExtractAnswerForVerify("\\boxed{5} ... \\boxed{\\frac{1}{2}"), "5");  // last one unbalanced
  EXPECT_EQ(ExtractAnswerForVerify("<answer>7</answer>\nAnswer: 8"), "7");
  EXPECT_EQ(ExtractAnswerForVerify("<ANSWER> 7 </ANSWER>"), "7");
  EXPECT_EQ(ExtractAnswerForVerify("\\boxed{1}\n<answer>2</answer>"), "1");
  EXPECT_EQ(ExtractAnswerForVerify("work\nAnswer: 9\nmore work\nAnswer: 10"), "10");
  EXPECT_EQ(ExtractAnswerForVerify("Answer:\n\n  17\n"), "17");
  EXPECT_EQ(ExtractAnswerForVerify("Therefore the answer is $\\frac{3}{4}$."), "\\frac{3}{4}");
  EXPECT_EQ(ExtractAnswerForVerify(" 3/4 "), "3/4");
  EXPECT_EQ(ExtractAnswerForVerify("line one\nline two"), "");
  EXPECT_EQ(ExtractAnswerForVerify(std::string(3000, 'x')), "");
  EXPECT_EQ(ExtractAnswerForVerify(std::string(300, 'x')), std::string(300, 'x'));
  EXPECT_EQ(ExtractAnswerForVerify(""), "");
}

TEST(VerifyMath, GoldWithoutBoxedIsTakenWhole) {
  // A gold answer that happens to contain "Answer:" or several lines is still the answer itself.
  EXPECT_EQ(VerifyMath("1, 2", "\\boxed{1, 2}").score, 1.0);
  EXPECT_EQ(VerifyMath("\\text{yes}", "\\boxed{\\text{yes}}").score, 1.0);
  EXPECT_EQ(VerifyMath("The answer is \\boxed{3}", "3").score, 1.0);
}

// ---- robustness ---------------------------------------------------------------------------------------

TEST(VerifyMath, MalformedInputsNeverThrowOrMatch) {
  const char* junk[] = {
      "\\frac{1}{",       "\\frac",         "((((",          "))))",          "\\sqrt[",
      "{",                "}",              "^",             "1/",            "\\left(",
      "\\unknowncommand", "\xFF\xFE\xFD",   "1 +* 2",        "x^^2",          "\\boxed{",
      "$",                "\\",             "[1,",           "\\{1, 2",       "1 = = 2",
      "\\frac{1}{0}",     "0^0",            "\\sqrt{-1}",    "\\ln(0)",       "\\log_1 5",
      "10!!!!!!!!",       "\\binom{-1}{3}", "|||",           "\\text{",       "\\sqrt[0]{2}",
  };
  for (const char* g : junk) {
    for (const char* p : junk) {
      MathVerdict v;
      ASSERT_NO_THROW(v = VerifyMath(g, p)) << g << " vs " << p;
      EXPECT_FALSE(v.timed_out) << g << " vs " << p;
    }
    EXPECT_EQ(VerifyMath(g, "42").score, 0.0) << g;
    EXPECT_EQ(VerifyMath("42", g).score, 0.0) << g;
  }
  std::string deep(5000, '(');
  EXPECT_EQ(VerifyMath("1", deep + "1" + std::string(5000, ')')).score, 0.0);
  std::string nested;
  for (int i = 0; i < 300; ++i) nested += "\\sqrt{";
  nested += "2" + std::string(300, '}');
  MathVerdict v = VerifyMath("2", nested);
  EXPECT_EQ(v.score, 0.0);
  EXPECT_FALSE(v.error.empty());
}

TEST(VerifyMath, UnparsableAnswersFallBackToTextEquality) {
  MathVerdict same = VerifyMath("\\ldots", "\\ldots");
  EXPECT_EQ(same.score, 1.0);
  EXPECT_FALSE(same.error.empty());
  EXPECT_EQ(VerifyMath("\\ldots", "\\cdots").score, 0.0);
}

TEST(VerifyMath, GuardedHugeInputsAreDecidedQuickly) {
  // Each of these is refused or short-circuited by a guard rather than computed.
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(VerifyMath("10^{10^{10}}", "10^{10^{10}}").score, 1.0);
  EXPECT_EQ(VerifyMath("10^{10^{10}}", "10^{10^{10}}+1").score, 0.0);
  EXPECT_EQ(VerifyMath("100000!", "100000!").score, 1.0);
  EXPECT_EQ(VerifyMath("(x+1)^{100000}", "(1+x)^{100000}").score, 1.0);
  EXPECT_EQ(VerifyMath("9^{9^{9}}", "9^{9^{9}}").score, 1.0);
  EXPECT_EQ(VerifyMath("1", std::string(100000, '1')).score, 0.0);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(elapsed, 5.0);
  EXPECT_EQ(VerifyMath("1", "1").score, 1.0);
}

long PeakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST(VerifyMath, PowerTowersAtTestPointsStayInBoundedMemory) {
  // At a test point (11/5)^(10^9 x) is an exact power and 2^(2.2^(...)) a float whose exponent has
  // a billion bits: CLN would allocate gigabytes (the fuzzer found it). Both are refused.
  MathVerifyOptions patient;
  patient.timeout_s = 60;
  long before = PeakRssKb();
  for (const char* gold : {"2^{2.2^{10^9 x}}", "2^{2.2^{4224p422e2eVp100}}", "2.2^{10^9 x}", "e^{e^{10^{30} x}}"}) {
    MathVerdict v = VerifyMath(gold, "55", patient);
    EXPECT_EQ(v.score, 0.0) << gold;
    EXPECT_FALSE(v.timed_out) << gold;
  }
  EXPECT_LT(PeakRssKb() - before, 200 * 1024);
  // Ordinary functions of a variable are still compared numerically at the test points.
  EXPECT_EQ(VerifyMath("\\sinh(x)", "\\frac{e^{x}-e^{-x}}{2}", patient).score, 1.0);
  EXPECT_EQ(VerifyMath("x^{x}", "e^{x\\ln x}", patient).score, 1.0);
  EXPECT_EQ(VerifyMath("2^{3^{x}}", "2^{3^{x}+1}", patient).score, 0.0);
  EXPECT_EQ(VerifyMath("e^{100 x}", "e^{100x}\\cdot 1", patient).score, 1.0);
}

TEST(VerifyMath, TimeLimitScoresZeroAndCounts) {
  MathVerifyOptions tiny;
  tiny.timeout_s = 1e-6;
  int64_t before = MathVerifyTimeouts();
  // Exact integers past 128 bits need GiNaC, which the deadline does not wait for.
  MathVerdict v = VerifyMath("3^{200000}", "3^{200000}", tiny);
  EXPECT_TRUE(v.timed_out);
  EXPECT_EQ(v.score, 0.0);
  EXPECT_EQ(MathVerifyTimeouts(), before + 1);
  EXPECT_FALSE(v.gold_parsed.empty());
  // The fast paths are not subject to GiNaC's queue, and GiNaC recovers once the job is done.
  EXPECT_EQ(VerifyMath("1/2", "0.5", tiny).score, 1.0);
  MathVerdict later = VerifyMath("3^{200000}", "3^{200000}");
  EXPECT_EQ(later.score, 1.0);
  EXPECT_FALSE(later.timed_out);
  EXPECT_EQ(MathVerifyTimeouts(), before + 1);
}

TEST(VerifyMath, ConcurrentCallersGetTheSameAnswers) {
  const Case cases[] = {
      {"\\frac{1}{2}", "0.5", true},        {"2\\sqrt{2}", "\\sqrt{8}", true}, {"x^2-1", "(x-1)(x+1)", true},
      {"2^{200}", "2^{200}+1", false},      {"3+4i", "4i+3", true},            {"\\{1,2\\}", "2, 1", true},
      {"[1,2)", "[1,2]", false},            {"0", "\\sin(\\pi)", true},        {"yes", "No", false},
      {"2^{300}", "2\\cdot 2^{299}", true}, {"\\pi", "3.14", false},           {"e^{i\\pi}", "-1", true},
  };
  std::vector<double> expected;
  for (const Case& c : cases) expected.push_back(VerifyMath(c.gold, c.pred).score);
  for (size_t k = 0; k < std::size(cases); ++k) ASSERT_EQ(expected[k], cases[k].equal ? 1.0 : 0.0) << cases[k].gold;
  std::vector<std::vector<double>> got(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (const Case& c : cases) got[t].push_back(VerifyMath(c.gold, c.pred).score);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) {
    ASSERT_EQ(got[t].size(), 20 * std::size(cases));
    for (size_t i = 0; i < got[t].size(); ++i) EXPECT_EQ(got[t][i], expected[i % std::size(cases)]) << t << "/" << i;
  }
}

// ---- the math reward ------------------------------------------------------------------------------------

TEST(MathRewardUsesVerifier, ScoresAndReportsParsedForm) {
  auto fn = MakeReward("math", nullptr);
  ASSERT_TRUE(fn.ok());
  Task task;
  task.id = "t";
  task.answer = "50\\%";
  auto r = (*fn)->Score(task, "Half of them: \\boxed{\\frac{1}{2}}", "c");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->score, 1.0);
  EXPECT_EQ(r->extracted, "1/2");
  task.answer = "(1, 2)";
  EXPECT_EQ((*fn)->Score(task, "\\boxed{(2, 1)}", "c")->score, 0.0);
}

// ---- JSONL driver ---------------------------------------------------------------------------------------

TEST(VerifyMathJsonl, OneLinePerInputInOrderWithErrorsInPlace) {
  std::istringstream in(
      "{\"gold\": \"\\\\frac{1}{2}\", \"pred\": \"The answer is \\\\boxed{0.5}.\"}\n"
      "{\"gold\": \"3\", \"pred\": \"4\"}\n"
      "not json\n"
      "{\"gold\": \"1\"}\n"
      "[1, 2]\n"
      "{\"gold\": 42, \"pred\": \"42\"}\n"
      "{\"gold\": \"x\", \"pred\": null}\n"
      "\n"
      "{\"gold\": \"\\\\{1,2\\\\}\", \"pred\": \"2, 1\"}\r\n");
  std::ostringstream out;
  MathJsonlSummary summary = VerifyMathJsonl(in, out);
  std::vector<nlohmann::json> lines;
  std::istringstream result(out.str());
  std::string line;
  while (std::getline(result, line)) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 9u) << out.str();
  EXPECT_EQ(summary.lines, 9);
  EXPECT_EQ(summary.errors, 5);
  EXPECT_EQ(summary.score_sum, 3.0);

  EXPECT_EQ(lines[0]["score"], 1.0);
  EXPECT_EQ(lines[0]["gold_parsed"], "1/2");
  EXPECT_EQ(lines[0]["pred_parsed"], "0.5");
  EXPECT_EQ(out.str().substr(0, out.str().find('\n')), R"({"score":1.0,"gold_parsed":"1/2","pred_parsed":"0.5"})");
  EXPECT_EQ(lines[1]["score"], 0.0);
  EXPECT_EQ(lines[1]["pred_parsed"], "4");
  ASSERT_TRUE(lines[2].contains("error"));
  EXPECT_NE(lines[2]["error"].get<std::string>().find("line 3"), std::string::npos);
  EXPECT_FALSE(lines[2].contains("score"));
  EXPECT_NE(lines[3]["error"].get<std::string>().find("\"pred\""), std::string::npos);
  EXPECT_NE(lines[4]["error"].get<std::string>().find("JSON object"), std::string::npos);
  EXPECT_EQ(lines[5]["score"], 1.0);
  EXPECT_NE(lines[6]["error"].get<std::string>().find("must be a string"), std::string::npos);
  EXPECT_TRUE(lines[7].contains("error"));
  EXPECT_EQ(lines[8]["score"], 1.0);
  EXPECT_EQ(lines[8]["gold_parsed"], "{1, 2}");
}

TEST(VerifyMathJsonl, InvalidUtf8IsReplacedNotFatal) {
  std::istringstream in(std::string("{\"gold\": \"1\", \"pred\": \"1\"}\n{\"gold\": \"\xFF\", \"pred\": \"1\"}\n"));
  std::ostringstream out;
  MathJsonlSummary summary = VerifyMathJsonl(in, out);
  EXPECT_EQ(summary.lines, 2);
  EXPECT_EQ(summary.errors, 1);
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_NE(text.find("line 2: invalid JSON"), std::string::npos) << text;
}

}  // namespace
}  // namespace tfgrpo
