// Internals of the simulated LLM shared by its source files and its tests: the task family's
// problem parser/solver, answer helpers, and the per-role reply builders (pure functions).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tfgrpo/sim.h"

namespace tfgrpo::sim_internal {

// What the simulated learner knows about one problem.
struct SolvedProblem {
  int pitfall = 0;           // index into SimPitfalls()
  bool in_family = false;    // false: an unknown problem with a hash-chosen pitfall
  std::string correct;       // the right final answer
  std::string wrong;         // the answer the pitfall leads to
  std::string success_text;  // a rollout that avoids the pitfall, ending with \boxed{correct}
  std::string failure_text;  // a rollout that falls into it (naming the keyword), \boxed{wrong}
  // Agent mode: a python script that prints the right answer, and one that embodies the pitfall.
  std::string success_code;
  std::string failure_code;
  std::string matched_text;  // the problem's words as found in the text (math family only)
};

// The first task-family problem found anywhere in `text` (so it also works on summary or judge
// prompts that quote the problem); nullopt when none is found.
std::optional<SolvedProblem> FindFamilyProblem(std::string_view text);
// The math problems only (FindFamilyProblem also knows the variants below).
std::optional<SolvedProblem> FindMathFamilyProblem(std::string_view text);
// The task variants of examples/code and examples/classify, each hiding one of the six pitfalls:
// "Write a Python function `f(a, b)` that ..." (the reply is a ```python block) and "A student
// answered this question: ... The student's answer: N ... Label: ..." (the reply ends with
// "Label: <label>"). nullopt when `text` holds neither.
std::optional<SolvedProblem> FindVariantProblem(std::string_view text);
// FindFamilyProblem on `problem`, else an unknown problem: hash-chosen pitfall, the last number
// of the text (or 0) as the answer. Always well-formed and deterministic.
SolvedProblem SolveProblem(std::string_view problem);

// Every pitfall a lesson can be about: SimPitfalls() at 0..5, then SimWebPitfalls(). The
// keyword-driven stages (summary, advantage, updates, rollout success) index this table.
const SimPitfall& LessonPitfall(int index);
int LessonPitfallCount();
// The sentence summaries use for "made the pitfall's mistake", with the keyword inside (any
// LessonPitfall index).
std::string MistakePhrase(int pitfall);
// A general lesson that mentions no pitfall keyword.
extern const char* const kGenericLesson;

// Integer when whole, else a trimmed decimal ("7.5").
std::string FormatNumber(double value);
// Content of the last \boxed{...} (balanced braces), "" when none.
std::string LastBoxed(std::string_view text);
// Equal as numbers (commas, $, spaces and a trailing period ignored) or as trimmed lower-case text.
bool AnswersMatch(std::string_view a, std::string_view b);
// Index (into LessonPitfall) of the first pitfall whose keyword occurs in `text`
// (case-insensitive), or -1.
int FindKeyword(std::string_view text);

// "[Gn]. text" lines of a library listing, in order of appearance.
struct LibraryLine {
  std::string id;  // "G3"
  std::string text;
  int64_t helpful = 0;  // credit, when the prompt shows it ("(helpful=N harmful=M)")
  int64_t harmful = 0;
};
std::vector<LibraryLine> ParseLibraryLines(std::string_view text);
// The first JSON array of objects (or empty array) embedded in `text`; nullopt when none.
std::optional<nlohmann::json> FirstJsonArray(std::string_view text);

// Reply builders per role. `text` is every message's content joined by newlines (the simulated
// model reads the whole conversation); `system`/`user` are the system and last user messages.
// How likely a rollout is to succeed, given its system prompt and the problem's pitfall.
double SuccessProbability(std::string_view system, int pitfall, const SimOptions& options);
std::string RolloutReply(std::string_view system, std::string_view user, uint64_t draw_seed,
                         const SimOptions& options);
std::string SummaryReply(std::string_view text);
std::string AdvantageReply(std::string_view text, const SimHostility& hostile = {});
std::string GroupUpdateReply(std::string_view text, const SimHostility& hostile = {});
// `draw_key` (the seed and call id) draws the garbage replies of hostile.garbage (a retry has its own id).
std::string BatchUpdateReply(std::string_view text, const SimHostility& hostile = {}, std::string_view draw_key = {});
std::string JudgeReply(std::string_view text);

// The tools a rollout request offers: the function names of a native `tools` array (`native`),
// else the text protocol's tool list in the system message (`listed`: the "- <name>: ..." lines
// after the heading src/agent/tool_protocol.cpp writes), in order.
struct OfferedTools {
  bool native = false;
  bool listed = false;
  std::vector<std::string> names;
};
OfferedTools ReadOfferedTools(const nlohmann::json& body, std::string_view system);
// A message's role ("" when missing or not a string) and its text: a string content, or the
// text parts of an array of content parts.
std::string RoleOf(const nlohmann::json& message);
std::string ContentText(const nlohmann::json& message);

// Agent mode (a rollout request that offers the python tool, natively or in the system message).
// Turn 0 calls the tool with the code of the path drawn by `draw_seed`; every later turn gives
// that path's final answer. The draw happens the same way at every turn, so the answer stays
// consistent with the tool call.
struct AgentReply {
  nlohmann::json content;  // string, or null for a native tool call without text
  nlohmann::json tool_calls = nlohmann::json::array();  // native only
  std::string finish_reason = "stop";
  std::string arguments_text;  // the tool calls' arguments, for token counts
};
AgentReply AgentRolloutReply(std::string_view system, std::string_view problem, int turn,
                             bool native, uint64_t draw_seed, const SimOptions& options);
// A rollout that offers native tools none of which is python, search or browse (the user's own
// agent through the gateway or `serve`): while no tool has been called in the conversation, a
// call to the first offered tool, its argument the schema's first required string parameter
// filled with the problem's text ({} when the schema has none); after that, the prompt-mode
// answer (RolloutReply on the system message and the problem, drawn by `draw_seed`), so success
// follows the library injected into the system message exactly as for built-in rollouts.
AgentReply ToolAgentRolloutReply(const nlohmann::json& body, std::string_view system, std::string_view problem,
                                 uint64_t draw_seed, const SimOptions& options);
// The name of `tool`'s first required parameter whose type is string, "" when there is none.
std::string FirstRequiredStringParameter(const nlohmann::json& tool);

// A chat.completion object as the `stream: true` answer of an OpenAI-compatible server: the
// `data: <chat.completion.chunk>` events (the role, the content in pieces, each tool call's id
// and name then its arguments in pieces, the finish reason; with `include_usage` a last chunk
// with empty choices and the usage, every other chunk carrying "usage": null), then
// `data: [DONE]`. Pieces never split a UTF-8 sequence.
std::string CompletionEventStream(const nlohmann::json& completion, bool include_usage);

// ---- the web-research agent (web_agent.cpp) ----

// One result of a search tool output as the agent reads it back ("1. title / url / snippet").
struct ShownSearchHit {
  std::string title;
  std::string url;
  std::string snippet;
};
std::vector<ShownSearchHit> ReadSearchResults(std::string_view output);
// The question's words without stop words ("How high is Mount Ceral?" -> "high mount ceral").
std::string SearchTermsFor(std::string_view question);
// The sentence of `text` (a page, or a snippet) that answers `question` best, "" when none
// shares a content word with it; ties go to the earlier sentence. Words are weighted by how
// rare they are on the page, words of the page's title (`title`, else a "Title: " line of
// `text`) do not count, and a sentence holding the kind of answer asked for (a year, a
// quantity, the "which X" noun) gets a bonus.
std::string BestSentence(std::string_view text, std::string_view question, std::string_view title = "");
// Every sentence of `text` in order, with the score BestSentence ranks by (0: no content word
// of the question).
struct ScoredSentence {
  std::string text;
  double score = 0;
};
std::vector<ScoredSentence> ScoreSentences(std::string_view text, std::string_view question,
                                           std::string_view title = "");
// Index into SimWebPitfalls() of the pitfall `question` hides.
int WebPitfallOf(std::string_view question);
std::string WebMistakePhrase(int web_pitfall);
// ---- the many-topics world (topics.cpp) ----
// Topic lessons come last in LessonPitfall's table: TopicLessonBase() + topic.
int TopicLessonBase();
bool IsTopicLesson(int index);
std::optional<SolvedProblem> FindTopicProblem(std::string_view text);
std::string TopicMistakePhrase(int index);
// SuccessProbability for a topic task: diluted by how many experiences the prompt shows.
double TopicSuccessProbability(std::string_view system, int index, const SimOptions& options);
// A lenient judge's test for a free-text answer: the reference's words appear, in order and
// contiguous, among the answer's words (case, punctuation and thousands commas ignored).
bool WebAnswerMatches(std::string_view predicted, std::string_view reference);
// Role `browse`: the page sentences that serve the "Goal: ..." line of the prompt.
std::string BrowseSummaryReply(std::string_view text);
// One turn of the web agent, read from the conversation so far: the careful path (drawn once
// per rollout by `draw_seed`) searches, opens the best unopened result (the next one when a page
// fails) and answers with the page's best sentence; the careless one answers from the snippets
// or from memory, by the question's pitfall.
// The share of web rollouts whose first call is sloppy: half name a tool that does not exist
// ("web_search"), half misname search's argument ({"q": ...}); the next turn calls properly.
inline constexpr double kSimSloppyToolCallRate = 0.12;
AgentReply WebAgentRolloutReply(const nlohmann::json& messages, const OfferedTools& offered,
                                std::string_view system, std::string_view question, uint64_t draw_seed,
                                const SimOptions& options);

// What a strict OpenAI-compatible server rejects in a conversation's tool turns: tool_calls
// that are malformed or left unanswered, tool messages that answer nothing, an assistant message
// with neither content nor tool_calls. "" when the history is acceptable.
std::string ToolHistoryProblem(const nlohmann::json& messages);

}  // namespace tfgrpo::sim_internal
