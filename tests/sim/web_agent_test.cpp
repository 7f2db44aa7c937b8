// The simulator's web-research agent: it reads its tool outputs back out of the conversation
// (search results, pages), follows the careful path when the library names its question's
// pitfall, and the learner stages, the judge and the browse role understand what it did.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "sim/sim_internal.h"
#include "sim_test_util.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using json = nlohmann::json;
using sim_internal::BestSentence;
using sim_internal::WebPitfallOf;

constexpr const char* kInstructions = "Answer the question. End with a line \"Final answer: ...\".";
constexpr const char* kQuestion = "How high is Mount Ceral in metres?";

// Two tiny "pages" and the search output the search tool would show for kQuestion (the shape of
// FormatSearchResults: "N. title", the url and the snippet indented by three spaces).
constexpr const char* kSearchOutput =
    "1. Mount Ceral\n"
    "   https://t.example/wiki/Mount_Ceral\n"
    "   Mount Ceral is the highest mountain in the archipelago, rising to 1,284 metres on Veyra.\n"
    "\n"
    "2. Orn (village)\n"
    "   https://t.example/wiki/Orn\n"
    "   Orn is a village on the western slope of Mount Ceral. Its church tower is 31 metres high.\n";
constexpr const char* kCeralPage =
    "Title: Mount Ceral\nURL: https://t.example/wiki/Mount_Ceral\n\n"
    "Mount Ceral is a mountain on Veyra.\nIts summit rises to 1,284 metres above the sea. The Shepherd's Path "
    "leads there from Orn.";

std::string SystemWith(const std::vector<std::string>& lessons) {
  std::string s = kInstructions;
  if (lessons.empty()) return s;
  s += "\n\n" + std::string(kLibraryHeading);
  for (size_t i = 0; i < lessons.size(); ++i) s += "\n[G" + std::to_string(i) + "]. " + lessons[i];
  return s;
}

std::vector<std::string> WebLessons() {
  std::vector<std::string> out;
  for (const auto& p : SimWebPitfalls()) out.push_back(p.experience);
  return out;
}

json WebTools() {
  return json::array({{{"type", "function"}, {"function", {{"name", "search"}, {"parameters", {{"type", "object"}}}}}},
                      {{"type", "function"}, {"function", {{"name", "browse"}, {"parameters", {{"type", "object"}}}}}}});
}

json Message(const json& response) { return response["choices"][0]["message"]; }

// A question whose hash gives it pitfall `web_pitfall`.
std::string QuestionWithPitfall(int web_pitfall) {
  for (int i = 0; i < 100; ++i) {
    std::string q = "How many lighthouses stand on island number " + std::to_string(i) + "?";
    if (WebPitfallOf(q) == web_pitfall) return q;
  }
  return "";
}

// One native-protocol rollout: answers each tool call from `tools` (name, arguments -> output)
// until a reply without a tool call; returns every assistant message.
std::vector<json> RunNative(SimModel& model, const std::string& system, const std::string& question,
                            const std::string& call_id,
                            const std::function<std::string(const std::string&, const json&)>& tools) {
  json body = simtest::Body(system, question);
  body["tools"] = WebTools();
  std::vector<json> replies;
  for (int turn = 0; turn < 8; ++turn) {
    json m = Message(model.Respond(body, "rollout", call_id + "/turn" + std::to_string(turn)));
    replies.push_back(m);
    body["messages"].push_back(m);
    if (!m.contains("tool_calls")) break;
    for (const auto& call : m["tool_calls"]) {
      json args = json::parse(call["function"]["arguments"].get<std::string>());
      body["messages"].push_back({{"role", "tool"},
                                  {"tool_call_id", call["id"]},
                                  {"content", tools(call["function"]["name"], args)}});
    }
  }
  return replies;
}

// Tool errors as the agent loop and the tools word them.
std::string FakeTools(const std::string& name, const json& args) {
  if (name != "search" && name != "browse") return "Error: unknown tool \"" + name + "\"; the available tools are: search, browse";
  if (name == "search" && !args.contains("query")) return "Error: search: the argument \"query\" (a string) is missing";
  if (name == "search") return kSearchOutput;
  if (name == "browse" && args.value("url", "") == "https://t.example/wiki/Mount_Ceral") return kCeralPage;
  return "Error: browse: cannot open " + args.value("url", std::string("?"));
}

TEST(SimWebAgent, WithTheLessonsItSearchesOpensTheTopResultAndAnswersFromThePage) {
  SimModel model(SimOptions{.p_success_with = 1.0});
  auto replies = RunNative(model, SystemWith(WebLessons()), kQuestion, "w1", FakeTools);
  ASSERT_EQ(replies.size(), 3u);
  json search = replies[0]["tool_calls"][0]["function"];
  EXPECT_EQ(search["name"], "search");
  const std::string query = json::parse(search["arguments"].get<std::string>())["query"];
  EXPECT_EQ(query, "high mount ceral metres") << "the question's words without stop words";
  json browse = replies[1]["tool_calls"][0]["function"];
  EXPECT_EQ(browse["name"], "browse");
  json args = json::parse(browse["arguments"].get<std::string>());
  EXPECT_EQ(args["url"], "https://t.example/wiki/Mount_Ceral");
  EXPECT_EQ(args["goal"], kQuestion);
  const std::string answer = replies[2]["content"];
  EXPECT_NE(answer.find("Final answer: Its summit rises to 1,284 metres above the sea."), std::string::npos) << answer;
}

TEST(SimWebAgent, APageThatFailsToLoadMakesItOpenTheNextResult) {
  SimModel model(SimOptions{.p_success_with = 1.0});
  auto tools = [](const std::string& name, const json& args) -> std::string {
    if (name == "search") return kSearchOutput;
    if (args.value("url", "") == "https://t.example/wiki/Orn")
      return "Title: Orn\nURL: https://t.example/wiki/Orn\n\nThe church tower of Orn is 31 metres high.";
    return "Error: browse: https://t.example/wiki/Mount_Ceral answered HTTP 503";
  };
  auto replies = RunNative(model, SystemWith(WebLessons()), kQuestion, "w2", tools);
  ASSERT_EQ(replies.size(), 4u);
  json second = json::parse(replies[2]["tool_calls"][0]["function"]["arguments"].get<std::string>());
  EXPECT_EQ(second["url"], "https://t.example/wiki/Orn");
  EXPECT_NE(replies[3]["content"].get<std::string>().find("31 metres"), std::string::npos);
}

TEST(SimWebAgent, NoResultsOrNoSearchToolGiveAnHonestNonAnswer) {
  SimModel model(SimOptions{.p_success_with = 1.0});
  auto none = RunNative(model, SystemWith(WebLessons()), kQuestion, "w3",
                        [](const std::string&, const json&) { return std::string("No results for: x"); });
  ASSERT_EQ(none.size(), 2u);
  EXPECT_NE(none[1]["content"].get<std::string>().find("Final answer: I could not find the answer."),
            std::string::npos);

  json body = simtest::Body(SystemWith(WebLessons()), kQuestion);
  body["tools"] = json::array({WebTools()[1]});  // browse only
  json m = Message(model.Respond(body, "rollout", "w4/turn0"));
  EXPECT_FALSE(m.contains("tool_calls"));
  EXPECT_NE(m["content"].get<std::string>().find("could not find"), std::string::npos);
}

TEST(SimWebAgent, WithoutTheLessonItFallsIntoItsQuestionsPitfall) {
  SimModel model(SimOptions{.p_success_without = 0.0});
  // Answering from memory: no tool call at all, and a made-up answer.
  const std::string memory_q = QuestionWithPitfall(1);
  ASSERT_FALSE(memory_q.empty());
  auto memory = RunNative(model, kInstructions, memory_q, "m1", FakeTools);
  ASSERT_EQ(memory.size(), 1u);
  EXPECT_NE(memory[0]["content"].get<std::string>().find(SimWebPitfalls()[1].keyword), std::string::npos)
      << "the transcript shows what it relied on";
  // Answering from the snippets: a search, no browse, and the other page's sentence.
  const std::string snippet_q = QuestionWithPitfall(0);
  auto snippet = RunNative(model, kInstructions, snippet_q, "m2", FakeTools);
  ASSERT_EQ(snippet.size(), 2u);
  EXPECT_EQ(snippet[0]["tool_calls"][0]["function"]["name"], "search");
  const std::string final_text = snippet[1]["content"];
  EXPECT_NE(final_text.find(SimWebPitfalls()[0].keyword), std::string::npos) << final_text;
  EXPECT_NE(final_text.find("Final answer: Orn"), std::string::npos) << "the second result: " << final_text;
}

TEST(SimWebAgent, SuccessFollowsTheLessonOfTheQuestionsOwnPitfall) {
  SimOptions options;
  options.p_success_without = 0.2;
  options.p_success_with = 0.9;
  SimModel model(options);
  // The careful path is the one that opens a page; count it over many rollouts.
  auto careful_rate = [&](const std::string& system, const std::string& question) {
    int careful = 0;
    const int n = 300;
    for (int i = 0; i < n; ++i) {
      auto replies = RunNative(model, system, question, "rate" + std::to_string(i), FakeTools);
      bool opened = false;
      for (const auto& r : replies)
        opened = opened || (r.contains("tool_calls") && r["tool_calls"][0]["function"]["name"] == "browse");
      careful += opened;
    }
    return static_cast<double>(careful) / n;
  };
  for (int pitfall = 0; pitfall < 2; ++pitfall) {
    const std::string q = QuestionWithPitfall(pitfall);
    const std::string own = SimWebPitfalls()[pitfall].experience;
    const std::string other = SimWebPitfalls()[1 - pitfall].experience;
    EXPECT_NEAR(careful_rate(kInstructions, q), 0.2, 0.07) << pitfall;
    EXPECT_NEAR(careful_rate(SystemWith({other}), q), 0.2, 0.07) << "the other lesson does not help " << pitfall;
    EXPECT_NEAR(careful_rate(SystemWith({own}), q), 0.9, 0.05) << pitfall;
  }
}

TEST(SimWebAgent, SomeFirstCallsAreSloppyAndTheToolErrorMakesItCallAgainProperly) {
  SimModel model(SimOptions{.p_success_with = 1.0});
  int unknown_tool = 0, wrong_argument = 0, answered = 0;
  const int n = 400;
  for (int i = 0; i < n; ++i) {
    auto replies = RunNative(model, SystemWith(WebLessons()), kQuestion, "s" + std::to_string(i), FakeTools);
    json first = replies[0]["tool_calls"][0]["function"];
    json args = json::parse(first["arguments"].get<std::string>());
    const bool sloppy = first["name"] != "search" || !args.contains("query");
    unknown_tool += first["name"] == "web_search";
    wrong_argument += first["name"] == "search" && args.contains("q");
    if (sloppy) {
      json again = replies[1]["tool_calls"][0]["function"];
      EXPECT_EQ(again["name"], "search");
      EXPECT_EQ(json::parse(again["arguments"].get<std::string>())["query"], "high mount ceral metres");
    }
    answered += replies.back()["content"].get<std::string>().find("1,284 metres") != std::string::npos;
  }
  EXPECT_NEAR(static_cast<double>(unknown_tool) / n, sim_internal::kSimSloppyToolCallRate / 2, 0.03);
  EXPECT_NEAR(static_cast<double>(wrong_argument) / n, sim_internal::kSimSloppyToolCallRate / 2, 0.03);
  EXPECT_EQ(answered, n) << "a sloppy call costs a turn, not the answer";
}

TEST(SimWebAgent, SpeaksTheTextProtocolWithToolBlocks) {
  SimModel model(SimOptions{.p_success_with = 1.0});
  const std::string system = SystemWith(WebLessons()) +
                             "\n\nTools you can call (each with what it does, then its arguments as a JSON schema):\n"
                             "- search: Search.\n  arguments: {}\n- browse: Open a page.\n  arguments: {}\n";
  json body = simtest::Body(system, kQuestion);
  std::string first = simtest::Content(model.Respond(body, "rollout", "t/turn0"));
  ASSERT_NE(first.find("```tool\n"), std::string::npos) << first;
  EXPECT_NE(first.find("\"name\":\"search\""), std::string::npos) << first;
  body["messages"].push_back({{"role", "assistant"}, {"content", first}});
  body["messages"].push_back({{"role", "user"}, {"content", "search output:\n```\n" + std::string(kSearchOutput) + "```"}});
  std::string second = simtest::Content(model.Respond(body, "rollout", "t/turn1"));
  EXPECT_NE(second.find("\"name\":\"browse\""), std::string::npos) << second;
  EXPECT_NE(second.find("https://t.example/wiki/Mount_Ceral"), std::string::npos) << second;
  body["messages"].push_back({{"role", "assistant"}, {"content", second}});
  body["messages"].push_back({{"role", "user"}, {"content", "browse output:\n```\n" + std::string(kCeralPage) + "\n```"}});
  std::string third = simtest::Content(model.Respond(body, "rollout", "t/turn2"));
  EXPECT_EQ(third.find("```tool"), std::string::npos) << third;
  EXPECT_NE(third.find("Final answer: Its summit rises to 1,284 metres"), std::string::npos) << third;
}

TEST(SimWebAgent, MathProblemsKeepThePythonAgentWhenSearchIsOfferedToo) {
  SimModel model(SimOptions{});
  auto t = GenerateSimTasks(1, 4)[0];
  json body = simtest::Body(simtest::kInstructions, t["problem"]);
  body["tools"] = WebTools();
  body["tools"].push_back({{"type", "function"}, {"function", {{"name", "python"}}}});
  json m = Message(model.Respond(body, "rollout", "p/turn0"));
  ASSERT_TRUE(m.contains("tool_calls"));
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "python");
}

TEST(SimWebReading, BestSentenceFindsTheSentenceThatAnswers) {
  // Title words do not count, rarer words count more: the founding sentence, not the lead.
  const std::string page =
      "Title: Port Amsel\n\nPort Amsel is the capital of the Tessaly Archipelago. It was founded in 1612 by salt "
      "traders. The harbour office sits in the Customs House.";
  EXPECT_EQ(BestSentence(page, "In what year did salt traders found Port Amsel?"),
            "It was founded in 1612 by salt traders.");
  // A quantity question prefers the sentence with a number.
  EXPECT_EQ(BestSentence("Kilbrae has a school. A stone bridge of five arches crosses the river.",
                         "How many arches does the bridge in Kilbrae have?", "Kilbrae"),
            "A stone bridge of five arches crosses the river.");
  // "Which island ...": the sentence naming an island.
  EXPECT_EQ(BestSentence("Mira Castell is speaker of the Council of Nine. She represents Sorrel Island.",
                         "Which island does Mira Castell represent on the Council of Nine?", "Mira Castell"),
            "She represents Sorrel Island.");
  EXPECT_EQ(BestSentence("Nothing relevant here.", kQuestion), "");
  // A browse summary's framing line quotes the question; the answer is in its list.
  EXPECT_EQ(BestSentence("Extract from https://t.example/c for the goal \"How high is Mount Ceral in metres?\":\n\n"
                         "What the page says about the goal:\n- Mount Ceral rises to 1,284 metres.\n",
                         kQuestion),
            "Mount Ceral rises to 1,284 metres.");
}

TEST(SimWebReading, ReadsSearchResultsBackOutOfAToolOutput) {
  auto hits = sim_internal::ReadSearchResults(std::string("search output:\n```\n") + kSearchOutput + "```");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].title, "Mount Ceral");
  EXPECT_EQ(hits[0].url, "https://t.example/wiki/Mount_Ceral");
  EXPECT_NE(hits[0].snippet.find("1,284 metres"), std::string::npos);
  EXPECT_EQ(hits[1].url, "https://t.example/wiki/Orn");
  EXPECT_TRUE(sim_internal::ReadSearchResults("No results for: x").empty());
}

std::string Grade(SimModel& model, const std::string& truth, const std::string& response) {
  const std::string prompt = "## Question\nq\n\n## Reference answer\n" + truth + "\n\n## Response\n" + response +
                             "\n\nExplain briefly, then end with exactly one line: GRADE: CORRECT or GRADE: INCORRECT";
  return SplitLines(Trim(simtest::Content(model.Respond(simtest::Body("", prompt), "judge", "j")))).back();
}

TEST(SimWebJudge, ReadsAFreeTextAnswerLikeALenientGrader) {
  SimModel model(SimOptions{});
  EXPECT_EQ(Grade(model, "1284", "The page says so.\n\nFinal answer: Its summit rises to 1,284 metres."), "GRADE: CORRECT");
  EXPECT_EQ(Grade(model, "juniper honey", "Final answer: It is cooked with a spoon of Juniper Honey."),
            "GRADE: CORRECT");
  EXPECT_EQ(Grade(model, "1284", "Final answer: 1,284 or 1,300 metres."), "GRADE: INCORRECT") << "a hedge";
  EXPECT_EQ(Grade(model, "1284", "Final answer: 12,840 metres."), "GRADE: INCORRECT") << "whole words only";
  EXPECT_EQ(Grade(model, "12 November 1953", "Final answer: on 12 November."), "GRADE: INCORRECT");
  // The answer line wins over text after it; a boxed answer is still read strictly.
  EXPECT_EQ(Grade(model, "Fenn", "Final answer: Fenn\nI hope this helps."), "GRADE: CORRECT");
  EXPECT_EQ(Grade(model, "12", "So \\boxed{12 + 1}."), "GRADE: INCORRECT");
}

TEST(SimWebLearner, SummaryAndAdvantageNameTheWebPitfall) {
  SimModel model(SimOptions{});
  const std::string attempt =
      "## Task\nHow high is Mount Ceral?\n\n## Reference answer\n1284\n\n## Reward of this attempt\n0 (1 means "
      "correct, 0 means incorrect)\n\n## The attempt\nStep 1 (assistant):\nI will search for the question's key "
      "terms first.\n\nStep 2 (assistant, final answer):\n" +
      std::string("The snippets already show what I need, so I will answer from them and skip the full page text.") +
      "\n\nFinal answer: Orn is a village.";
  const std::string summary = simtest::Content(model.Respond(simtest::Body("", attempt), "summary", "s"));
  EXPECT_NE(summary.find("mistake with the full page text"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Orn is a village"), std::string::npos) << "the free-text answer is quoted: " << summary;
  const std::string advantage =
      simtest::Content(model.Respond(simtest::Body("", "Summaries:\n" + summary), "advantage", "a"));
  auto items = simtest::ExperienceItems(advantage);
  ASSERT_FALSE(items.empty()) << advantage;
  EXPECT_EQ(items[0], SimWebPitfalls()[0].experience);
}

TEST(SimWebLearner, TheCopyingLearnerQuotesAWebQuestionAndItsAnswer) {
  SimOptions options;
  options.hostile.copy_answers = true;
  SimModel model(options);
  const std::string prompt =
      "## Task\nHow tall is Kell Lighthouse in metres?\n\n## Reference answer\n38\n\n## Summaries of the attempts\n"
      "1. It made a mistake with the full page text.\n";
  auto items = simtest::ExperienceItems(simtest::Content(model.Respond(simtest::Body("", prompt), "advantage", "a")));
  ASSERT_FALSE(items.empty());
  EXPECT_EQ(items[0], "For the question \"How tall is Kell Lighthouse in metres?\" the answer is 38.");
  SimModel honest(SimOptions{});
  auto plain = simtest::ExperienceItems(simtest::Content(honest.Respond(simtest::Body("", prompt), "advantage", "a")));
  ASSERT_FALSE(plain.empty());
  EXPECT_EQ(plain[0], SimWebPitfalls()[0].experience);
}

TEST(SimWebBrowseRole, ExtractsTheSentencesThatServeTheGoal) {
  SimModel model(SimOptions{});
  const std::string prompt = "Goal: How high does the summit of Mount Ceral rise?\n\nPage:\n" + std::string(kCeralPage);
  const std::string reply = simtest::Content(model.Respond(simtest::Body("", prompt), "browse", "b"));
  EXPECT_NE(reply.find("- Its summit rises to 1,284 metres above the sea.\n"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("Shepherd"), std::string::npos) << "only what serves the goal: " << reply;
  EXPECT_EQ(reply.find("Goal:"), std::string::npos) << reply;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SimWebExampleData, TheCompiledInCopyIsExamplesWeb) {
  const std::string dir = std::string(TFGRPO_SOURCE_DIR) + "/examples/web/";
  EXPECT_EQ(BuiltinWebExample().corpus, ReadFile(dir + "corpus.jsonl"));
  EXPECT_EQ(BuiltinWebExample().train, ReadFile(dir + "train.jsonl"));
  EXPECT_EQ(BuiltinWebExample().eval, ReadFile(dir + "eval.jsonl"));
  // Learning is needed: the recipe's instructions do not already hold a lesson's keyword.
  const std::string config = ReadFile(dir + "config.yaml");
  for (const auto& p : SimWebPitfalls()) EXPECT_FALSE(ContainsCaseInsensitive(config, p.keyword)) << p.keyword;
}

}  // namespace
}  // namespace tfgrpo
