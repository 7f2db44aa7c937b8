// The simulated learner as a web-research agent: offered `search` and `browse`, it searches the
// question's key terms, opens the top result and answers with the page sentence that overlaps the
// question most. Each question hides one of two pitfalls (answering from the snippets, answering
// from memory); the experience naming it makes the careful path likely, as in the math family.
// Everything it knows comes from the tool outputs in the conversation: nothing is looked up.
#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <set>

#include "sim/sim_internal.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

const std::vector<SimPitfall>& SimWebPitfalls() {
  static const std::vector<SimPitfall> pitfalls = {
      {"answer-from-snippet", "full page text",
       "Search snippets cut sentences short and mix up pages: after searching, open the top result "
       "with browse and answer from its full page text, never from the snippets."},
      {"answer-from-memory", "recalled facts",
       "Do not trust recalled facts about specific places, people or dates: search for the "
       "question's key terms first and answer from the page the search finds."},
  };
  return pitfalls;
}

namespace sim_internal {

namespace {

// Per web pitfall: what the summary says went wrong (naming the keyword).
const char* const kWebMistakes[] = {
    "it answered from the search snippets instead of opening the top result and reading its "
    "full page text",
    "it relied on recalled facts and answered without searching",
};

// What the agent says at each step; the summary stage reads the keyword back out of them.
constexpr const char* kSearchThought = "I will search for the question's key terms first.";
const char* const kCarefulOpening[] = {
    "Snippets often cut the sentence that matters, so I will open the top result and read the "
    "full page text.",
    "I should not rely on recalled facts here, so I will search for the key terms first.",
};
const char* const kCarelessAnswer[] = {
    "The snippets already show what I need, so I will answer from them and skip the full page "
    "text.",
    "I am sure of my recalled facts on this, so I will answer without a tool call.",
};

const std::set<std::string>& StopWords() {
  static const std::set<std::string> words = {
      "a", "an", "and", "are", "as", "at", "be", "by", "called", "can", "did", "do", "does",
      "for", "from", "has", "have", "how", "in", "into", "is", "it", "its", "least", "many",
      "much", "name", "of", "on", "or", "the", "their", "there", "this", "to", "was", "were",
      "what", "when", "where", "which", "who", "whom", "whose", "why", "with",
      // words naming the kind of answer wanted, not what it is about
      "date", "year"};
  return words;
}

// Lower-case words of `text` (letters, digits, internal ' and -), digit groups' commas dropped
// ("1,284" -> "1284"), so that numbers compare as written.
std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    while (!cur.empty() && (cur.back() == '\'' || cur.back() == '-' || cur.back() == '.')) cur.pop_back();
    if (!cur.empty()) words.push_back(cur);
    cur.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const bool inner = i + 1 < text.size() && std::isalnum(static_cast<unsigned char>(text[i + 1]));
    if (std::isalnum(c) || c >= 0x80) {
      cur += static_cast<char>(std::tolower(c));
    } else if ((c == '\'' || c == '-') && !cur.empty() && inner) {
      cur += static_cast<char>(c);
    } else if ((c == ',' || c == '.') && !cur.empty() && std::isdigit(static_cast<unsigned char>(cur.back())) &&
               inner && std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
      if (c == '.') cur += '.';  // a decimal point; a thousands comma is dropped
    } else {
      flush();
    }
  }
  flush();
  return words;
}

// A word's crude stem, so "puffins"/"puffin" and "islands"/"island" meet.
std::string Stem(std::string w) {
  if (w.size() > 3 && w.back() == 's' && w[w.size() - 2] != 's') w.pop_back();
  return w;
}

std::set<std::string> ContentStems(std::string_view text) {
  std::set<std::string> out;
  for (const std::string& w : Words(text))
    if (!StopWords().count(w)) out.insert(Stem(w));
  return out;
}

// Sentences of a page's text: split at ". ", "? ", "! " and line ends; tool-output framing lines
// (fences, "Title:", "URL:", notes in brackets, a label line ending with ':' such as a summary's
// "Extract from URL for the goal ...:") are not part of the page, and a list item's "- " is dropped.
std::vector<std::string> Sentences(std::string_view text) {
  std::vector<std::string> out;
  for (const std::string& raw : SplitLines(text)) {
    std::string line = Trim(raw);
    if (line.empty() || StartsWith(line, "```") || StartsWith(line, "Title: ") || StartsWith(line, "URL: ") ||
        StartsWith(line, "[") || line.back() == ':') {
      continue;
    }
    if (StartsWith(line, "- ")) line = Trim(line.substr(2));
    size_t start = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if ((c == '.' || c == '?' || c == '!') && (i + 1 == line.size() || line[i + 1] == ' ')) {
        std::string s = Trim(std::string_view(line).substr(start, i + 1 - start));
        if (!s.empty()) out.push_back(s);
        start = i + 1;
      }
    }
    std::string rest = Trim(std::string_view(line).substr(start));
    if (!rest.empty()) out.push_back(rest);
  }
  return out;
}

}  // namespace

std::string SearchTermsFor(std::string_view question) {
  std::string out;
  std::set<std::string> seen;
  for (const std::string& w : Words(question)) {
    if (StopWords().count(w) || !seen.insert(w).second) continue;
    out += (out.empty() ? "" : " ") + w;
  }
  return out.empty() ? Trim(question) : out;
}

std::vector<ScoredSentence> ScoreSentences(std::string_view text, std::string_view question, std::string_view title) {
  std::string page_title(title);
  if (page_title.empty()) {
    for (const std::string& line : SplitLines(text))
      if (StartsWith(Trim(line), "Title: ")) page_title = Trim(Trim(line).substr(7));
  }
  // The page's own subject says nothing about which sentence answers: words of the title do not
  // count, and a word counts less the more sentences of the page hold it.
  std::set<std::string> wanted = ContentStems(question);
  for (const std::string& stem : ContentStems(page_title)) wanted.erase(stem);
  const std::vector<std::string> sentences = Sentences(text);
  std::vector<std::set<std::string>> stems;
  std::map<std::string, int> sentences_with;
  for (const std::string& sentence : sentences) {
    stems.push_back(ContentStems(sentence));
    for (const std::string& stem : stems.back()) ++sentences_with[stem];
  }
  // What kind of answer the question wants: a year, a quantity, or the thing its "which X" names.
  static const std::regex year_re(R"(\b(1[0-9]{3}|20[0-9]{2})\b)");
  static const std::regex digit_re(R"([0-9])");
  static const std::regex quantity_re(R"(\bhow (many|high|long|tall|far|deep|old|much)\b)", std::regex::icase);
  static const std::regex which_re(R"(\b(which|what) ([a-z]+))", std::regex::icase);
  static const std::set<std::string> kNumberWords = {"one", "two", "three", "four", "five", "six", "seven",
                                                     "eight", "nine", "ten", "eleven", "twelve", "twenty",
                                                     "hundred", "thousand"};
  const std::string q(question);
  const std::set<std::string> question_words = [&] {
    std::vector<std::string> w = Words(question);
    return std::set<std::string>(w.begin(), w.end());
  }();
  const bool wants_year = question_words.count("year") || StartsWith(ToLower(Trim(question)), "when");
  const bool wants_quantity = std::regex_search(q, quantity_re);
  std::string which_noun;
  if (std::smatch m; std::regex_search(q, m, which_re)) {
    const std::string noun = ToLower(m[2].str());
    static const std::set<std::string> kNotNouns = {"is", "was", "are", "were", "does", "did", "do", "has", "have", "kind"};
    if (!kNotNouns.count(noun) && !StopWords().count(noun) && noun != "year") which_noun = Stem(noun);
  }
  std::vector<ScoredSentence> scored;
  for (size_t i = 0; i < sentences.size(); ++i) {
    double score = 0;
    for (const std::string& stem : stems[i])
      if (wanted.count(stem)) score += 1.0 / sentences_with[stem];
    if (score == 0) {
      scored.push_back({sentences[i], 0});
      continue;
    }
    if (wants_year && std::regex_search(sentences[i], year_re)) {
      score += 1.5;
    } else if (wants_quantity) {
      bool number = std::regex_search(sentences[i], digit_re);
      for (const std::string& stem : stems[i]) number = number || kNumberWords.count(stem);
      if (number) score += 1;
    }
    if (!which_noun.empty() && stems[i].count(which_noun)) score += 1;
    scored.push_back({sentences[i], score});
  }
  return scored;
}

std::string BestSentence(std::string_view text, std::string_view question, std::string_view title) {
  std::string best;
  double best_score = 0;
  for (const ScoredSentence& s : ScoreSentences(text, question, title)) {
    if (s.score > best_score) {
      best_score = s.score;
      best = s.text;
    }
  }
  return best;
}

std::vector<ShownSearchHit> ReadSearchResults(std::string_view output) {
  static const std::regex numbered(R"(^(\d+)\. (.*)$)");
  std::vector<ShownSearchHit> hits;
  for (const std::string& raw : SplitLines(output)) {
    std::string line = Trim(raw);
    std::smatch m;
    if (std::regex_match(line, m, numbered) && !StartsWith(raw, " ")) {
      hits.push_back({m[2].str(), "", ""});
    } else if (!hits.empty() && hits.back().url.empty() && (StartsWith(line, "http://") || StartsWith(line, "https://"))) {
      hits.back().url = line;
    } else if (!hits.empty() && !hits.back().url.empty() && !line.empty() && !StartsWith(line, "```")) {
      hits.back().snippet += (hits.back().snippet.empty() ? "" : " ") + line;
    }
  }
  hits.erase(std::remove_if(hits.begin(), hits.end(), [](const ShownSearchHit& h) { return h.url.empty(); }),
             hits.end());
  return hits;
}

int WebPitfallOf(std::string_view question) {
  return static_cast<int>(Fnv1a64(Trim(question), Fnv1a64("web-pitfall")) % SimWebPitfalls().size());
}

std::string WebMistakePhrase(int web_pitfall) {
  if (web_pitfall < 0 || web_pitfall >= static_cast<int>(SimWebPitfalls().size())) {
    return "it made an unidentified mistake";
  }
  return kWebMistakes[web_pitfall];
}

bool WebAnswerMatches(std::string_view predicted, std::string_view reference) {
  const std::vector<std::string> said = Words(predicted), wanted = Words(reference);
  if (wanted.empty() || said.empty()) return false;
  for (size_t i = 0; i + wanted.size() <= said.size(); ++i) {
    if (std::equal(wanted.begin(), wanted.end(), said.begin() + static_cast<std::ptrdiff_t>(i))) return true;
  }
  return false;
}

std::string BrowseSummaryReply(std::string_view text) {
  std::string goal, page;
  for (const std::string& line : SplitLines(text)) {
    if (goal.empty() && StartsWith(Trim(line), "Goal:")) {
      goal = Trim(Trim(line).substr(5));
      continue;
    }
    page += line + "\n";
  }
  // The two sentences that serve the goal best, read as the agent reads a page, in page order.
  std::vector<ScoredSentence> scored = ScoreSentences(page, goal);
  std::vector<size_t> order(scored.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scored[a].score > scored[b].score; });
  std::vector<size_t> kept;
  for (size_t i : order)
    if (kept.size() < 2 && scored[i].score > 0) kept.push_back(i);
  std::sort(kept.begin(), kept.end());
  if (kept.empty()) return "The page says nothing about the goal.";
  std::string out = "What the page says about the goal:\n";
  for (size_t i : kept) out += "- " + scored[i].text + "\n";
  return out;
}

namespace {

// The tool calls of the conversation so far, in order, each with the output that answered it.
struct PastCall {
  std::string name;
  nlohmann::json arguments;
  std::string output;
};

// The ```tool blocks of a text-protocol reply, as (name, arguments).
std::vector<std::pair<std::string, nlohmann::json>> TextCalls(std::string_view content) {
  std::vector<std::pair<std::string, nlohmann::json>> calls;
  std::vector<std::string> lines = SplitLines(content);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (Trim(lines[i]) != "```tool") continue;
    std::string body;
    size_t j = i + 1;
    for (; j < lines.size() && !StartsWith(Trim(lines[j]), "```"); ++j) body += lines[j] + "\n";
    nlohmann::json call = nlohmann::json::parse(body, nullptr, false);
    if (call.is_object() && call.contains("name") && call["name"].is_string()) {
      calls.push_back({call["name"].get<std::string>(), call.value("arguments", nlohmann::json::object())});
    }
    i = j;
  }
  return calls;
}

std::vector<PastCall> PastCalls(const nlohmann::json& messages, bool native) {
  std::vector<PastCall> calls;
  if (!messages.is_array()) return calls;
  for (size_t i = 0; i < messages.size(); ++i) {
    const nlohmann::json& m = messages[i];
    if (RoleOf(m) != "assistant") continue;
    if (native) {
      if (!m.contains("tool_calls") || !m["tool_calls"].is_array()) continue;
      std::vector<std::string> outputs;
      for (size_t j = i + 1; j < messages.size() && RoleOf(messages[j]) == "tool"; ++j) outputs.push_back(ContentText(messages[j]));
      size_t n = 0;
      for (const auto& call : m["tool_calls"]) {
        PastCall past;
        if (call.is_object() && call.contains("function") && call["function"].is_object()) {
          const auto& fn = call["function"];
          past.name = fn.value("name", std::string());
          if (fn.contains("arguments") && fn["arguments"].is_string())
            past.arguments = nlohmann::json::parse(fn["arguments"].get<std::string>(), nullptr, false);
        }
        past.output = n < outputs.size() ? outputs[n] : "";
        ++n;
        calls.push_back(std::move(past));
      }
    } else {
      const std::string answer = i + 1 < messages.size() && RoleOf(messages[i + 1]) == "user" ? ContentText(messages[i + 1]) : "";
      for (auto& [name, arguments] : TextCalls(ContentText(m))) calls.push_back({name, arguments, answer});
    }
  }
  return calls;
}

bool Offers(const OfferedTools& offered, const char* name) {
  return std::find(offered.names.begin(), offered.names.end(), name) != offered.names.end();
}

// A made-up answer of the question's kind, for the agent that answers from memory.
std::string Fabricated(std::string_view question, uint64_t seed) {
  static const char* const kNames[] = {"Anna Berg", "Piet Olsen", "Hale Point", "Greyhaven", "Maren Holt"};
  const std::string q = ToLower(question);
  uint64_t state = seed ^ Fnv1a64(question);
  const uint64_t r = SplitMix64(state);
  const bool numeric = StartsWith(q, "how ") || q.find("year") != std::string::npos ||
                       q.find("how many") != std::string::npos;
  if (numeric) return std::to_string(1700 + r % 300);
  return kNames[r % 5];
}

AgentReply Call(bool native, const std::string& thought, const std::string& name, const nlohmann::json& arguments,
                uint64_t draw_seed, size_t turn) {
  AgentReply reply;
  reply.arguments_text = arguments.dump();
  if (!native) {
    reply.content = thought + "\n\n```tool\n" + nlohmann::json{{"name", name}, {"arguments", arguments}}.dump() + "\n```";
    return reply;
  }
  reply.content = thought;
  reply.tool_calls = nlohmann::json::array(
      {{{"id", "call_" + Fingerprint(std::to_string(draw_seed) + "/" + std::to_string(turn)).substr(0, 16)},
        {"type", "function"},
        {"function", {{"name", name}, {"arguments", reply.arguments_text}}}}});
  reply.finish_reason = "tool_calls";
  return reply;
}

AgentReply Final(const std::string& text, const std::string& answer) {
  AgentReply reply;
  reply.content = text + "\n\nFinal answer: " + (answer.empty() ? std::string("I could not find the answer.") : answer);
  return reply;
}

}  // namespace

AgentReply WebAgentRolloutReply(const nlohmann::json& messages, const OfferedTools& offered,
                                std::string_view system, std::string_view question, uint64_t draw_seed,
                                const SimOptions& options) {
  const int web_pitfall = WebPitfallOf(question);
  const int pitfall = static_cast<int>(SimPitfalls().size()) + web_pitfall;
  uint64_t state = draw_seed;
  const bool careful = UnitDouble(state) < SuccessProbability(system, pitfall, options);
  // Drawn after the outcome, so the outcome's draw stays what it is without sloppiness. Like real
  // models now and then, the first call names a tool that does not exist or misnames its
  // argument; the tool error that comes back makes it call again properly.
  const double sloppy_draw = UnitDouble(state);
  const bool native = offered.native;
  const std::vector<PastCall> calls = PastCalls(messages, native);
  const size_t turn = calls.size();
  const bool can_search = Offers(offered, "search"), can_browse = Offers(offered, "browse");

  if (!careful && web_pitfall == 1) {
    return Final(kCarelessAnswer[1], Fabricated(question, draw_seed));
  }
  const std::string terms = SearchTermsFor(question);
  if (calls.empty()) {
    if (!can_search) return Final("There is no search tool, and I cannot find a page without one.", "");
    const std::string thought = careful && web_pitfall == 1 ? kCarefulOpening[1] : kSearchThought;
    if (sloppy_draw < kSimSloppyToolCallRate / 2) return Call(native, thought, "web_search", {{"query", terms}}, draw_seed, turn);
    if (sloppy_draw < kSimSloppyToolCallRate) return Call(native, thought, "search", {{"q", terms}}, draw_seed, turn);
    return Call(native, thought, "search", {{"query", terms}}, draw_seed, turn);
  }
  if (calls.size() <= 2 && StartsWith(Trim(calls.back().output), "Error:") && calls.back().name != "browse") {
    return Call(native, "That call went wrong; calling the search tool again as its description says.", "search",
                {{"query", terms}}, draw_seed, turn);
  }
  // The search results the agent saw last, and the pages it opened since.
  std::vector<ShownSearchHit> hits;
  std::set<std::string> opened;
  for (const PastCall& c : calls) {
    if (c.name == "search" && !StartsWith(Trim(c.output), "Error:")) {
      hits = ReadSearchResults(c.output);
      opened.clear();
    }
    if (c.name == "browse" && c.arguments.is_object() && c.arguments.contains("url") && c.arguments["url"].is_string())
      opened.insert(c.arguments["url"].get<std::string>());
  }
  if (hits.empty()) return Final("The search found nothing that answers the question.", "");
  if (!careful) {
    // The snippets of another page than the one that answers: what skimming them picks up.
    const ShownSearchHit& skimmed = hits.size() > 1 ? hits[1] : hits[0];
    const std::string said = BestSentence(skimmed.snippet, question, skimmed.title);
    return Final(kCarelessAnswer[0], said.empty() ? skimmed.title : said);
  }
  const PastCall& last = calls.back();
  if (last.name == "browse" && !StartsWith(Trim(last.output), "Error:")) {
    const std::string sentence = BestSentence(last.output, question);
    const std::string url = last.arguments.is_object() ? last.arguments.value("url", std::string()) : std::string();
    if (!sentence.empty()) return Final("The page " + url + " says: " + sentence, sentence);
  }
  // Open the best result not opened yet (the next one when a page failed to load or said nothing).
  if (can_browse && opened.size() < 3) {
    for (const ShownSearchHit& hit : hits) {
      if (opened.count(hit.url)) continue;
      const std::string thought = web_pitfall == 0 ? kCarefulOpening[0] : "I will open the top result and read it.";
      return Call(native, opened.empty() ? thought : "That page did not help; I will open the next result.", "browse",
                  {{"url", hit.url}, {"goal", Trim(question)}}, draw_seed, turn);
    }
  }
  const std::string sentence = BestSentence(hits[0].snippet, question, hits[0].title);
  return Final("I could not read a page, so I answer from the top result's snippet.", sentence);
}

}  // namespace sim_internal
}  // namespace tfgrpo
