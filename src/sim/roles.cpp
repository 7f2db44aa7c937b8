// Reply builders of the simulated learner, one per X-Tfgrpo-Role. They find what they need by
// markers (pitfall keywords, "[Gn]. " lines, numbered items, the first JSON array, \boxed{}),
// never by the exact wording of the prompt templates, so overridden prompts still work.
#include <cctype>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "sim/sim_internal.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

const char* const kSimHarmfulLesson =
    "Answer at once with the first number that comes to mind; working the problem through only "
    "introduces errors.";

Result<SimHostility> ParseSimHostility(const std::string& list) {
  SimHostility h;
  std::istringstream in(list);
  for (std::string raw; std::getline(in, raw, ',');) {
    const std::string item = ToLower(Trim(raw));
    if (item.empty() || item == "none") continue;
    if (item == "all") h.harmful = h.copy_answers = h.pad = true;
    else if (item == "harmful") h.harmful = true;
    else if (item == "copy") h.copy_answers = true;
    else if (item == "pad") h.pad = true;
    else if (item == "garbage") h.garbage = true;
    else return Status::InvalidArgument("--hostile: unknown mode '" + item +
                                        "' (expected harmful, copy, pad, garbage, all or none)");
  }
  return h;
}

}  // namespace tfgrpo

namespace tfgrpo::sim_internal {

namespace {

// A reward shown in the text ("Reward of this attempt\n1 (...)", "reward: 0", "(reward 0.0)").
std::optional<double> FirstReward(std::string_view text) {
  static const std::regex reward_re(R"(reward[^0-9\n]{0,40}\n?\s*([01](?:\.\d+)?)\b)",
                                    std::regex::ECMAScript | std::regex::icase);
  std::string s(text);
  std::smatch m;
  if (!std::regex_search(s, m, reward_re)) return std::nullopt;
  return std::stod(m[1].str());
}

bool ShowsZeroReward(std::string_view text) {
  static const std::regex zero_re(R"(reward[^0-9\n]{0,40}\n?\s*0(?:\.0+)?\b)",
                                  std::regex::ECMAScript | std::regex::icase);
  std::string s(text);
  return std::regex_search(s, zero_re);
}

std::string ToUpper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string NormalizedLesson(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : Trim(ToLower(text))) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// What a lesson is about: "kw:<index>" for a pitfall keyword, else its normalised text, so
// two lessons with the same key are duplicates.
std::string LessonKey(std::string_view lesson) {
  int k = FindKeyword(lesson);
  if (k >= 0) return "kw:" + std::to_string(k);
  return "text:" + NormalizedLesson(lesson);
}

bool LibraryCovers(const std::vector<LibraryLine>& library, const std::string& key) {
  for (const auto& line : library) {
    if (LessonKey(line.text) == key) return true;
    if (StartsWith(key, "kw:")) {
      int k = std::stoi(key.substr(3));
      if (ContainsCaseInsensitive(line.text, LessonPitfall(k).keyword)) return true;
    }
  }
  return false;
}

std::string OperationsReply(const std::string& prose, const nlohmann::json& ops) {
  return prose + "\n\n```json\n" + ops.dump(2) + "\n```";
}

nlohmann::json Op(const std::string& kind, const std::optional<std::string>& id,
                  const std::string& content) {
  return {{"operation", kind},
          {"id", id ? nlohmann::json(*id) : nlohmann::json(nullptr)},
          {"content", content}};
}

// The prompt without its library lines ("[G3]. ..."), so that what an attempt did is read from
// the attempt, not from the experiences shown beside it.
std::string WithoutLibraryLines(std::string_view text) {
  static const std::regex line_re(R"(^\s*\[G\d+\]\.)");
  std::string out;
  for (const std::string& line : SplitLines(text)) {
    if (std::regex_search(line, line_re)) continue;
    out += line;
    out += '\n';
  }
  return out;
}

// What every harmful lesson says, so rollouts recognise it however the learner rephrased it.
constexpr std::string_view kHarmfulMarker = "first number that comes to mind";

// A deterministic unit draw from `text` (the prompt), for "sometimes" behaviours.
double DrawFrom(std::string_view text, std::string_view salt) {
  uint64_t state = Fnv1a64(text, Fnv1a64(salt));
  return UnitDouble(state);
}

// The first `n` words of `text`, joined by single spaces.
std::string FirstWords(std::string_view text, size_t n) {
  std::istringstream in{std::string(text)};
  std::string out;
  size_t count = 0;
  for (std::string word; count < n && in >> word; ++count) out += (out.empty() ? "" : " ") + word;
  return out;
}

// A heading: a markdown heading line, or a short line ending with ':' ("Reference answer:").
bool IsHeading(const std::string& line) {
  return StartsWith(line, "#") || (EndsWith(line, ":") && line.size() < 40);
}

// The first non-empty line after the first heading that mentions `word`, "" when none.
std::string FirstLineUnderHeading(std::string_view text, std::string_view word) {
  const std::vector<std::string> lines = SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string t = Trim(lines[i]);
    if (!IsHeading(t) || !ContainsCaseInsensitive(t, word)) continue;
    for (size_t j = i + 1; j < lines.size() && !IsHeading(Trim(lines[j])); ++j)
      if (!Trim(lines[j]).empty()) return Trim(lines[j]);
    return "";
  }
  return "";
}

// Filler lessons that say nothing specific (the padding mode): three per call, chosen from the
// prompt so that different groups pad with different ones.
std::vector<std::string> FillerLessons(std::string_view prompt) {
  static const char* const kOpenings[] = {"Stay focused", "Be thorough", "Keep a positive attitude",
                                          "Work step by step", "Take your time", "Stay organised",
                                          "Think clearly", "Be careful and precise"};
  static const char* const kEndings[] = {"throughout the task", "at every stage", "from start to finish",
                                         "when things get hard", "before answering",
                                         "while reading the statement"};
  std::vector<std::string> out;
  uint64_t state = Fnv1a64(prompt, Fnv1a64("pad"));
  for (int i = 0; i < 3; ++i) {
    const uint64_t r = SplitMix64(state);
    out.push_back(std::string(kOpenings[r % 8]) + " " + kEndings[(r >> 8) % 6] + ".");
  }
  return out;
}

}  // namespace

std::vector<LibraryLine> ParseLibraryLines(std::string_view text) {
  static const std::regex line_re(R"(^\s*\[(G\d+)\]\.\s?(.*)$)");
  // The consolidation prompt adds each experience's credit; it is not part of the text.
  static const std::regex credit_re(R"(\s*\(helpful=(\d+) harmful=(\d+)\)$)");
  std::vector<LibraryLine> lines;
  for (const std::string& line : SplitLines(text)) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) continue;
    std::string body = m[2].str();
    LibraryLine parsed{m[1].str(), ""};
    std::smatch c;
    if (std::regex_search(body, c, credit_re)) {
      parsed.helpful = std::stoll(c[1].str());
      parsed.harmful = std::stoll(c[2].str());
      body = body.substr(0, static_cast<size_t>(c.position(0)));
    }
    parsed.text = Trim(body);
    lines.push_back(std::move(parsed));
  }
  return lines;
}

std::optional<nlohmann::json> FirstJsonArray(std::string_view text) {
  for (size_t start = text.find('['); start != std::string_view::npos;
       start = text.find('[', start + 1)) {
    // Find the matching close bracket, skipping string contents.
    int depth = 0;
    bool in_string = false, escaped = false;
    size_t end = std::string_view::npos;
    for (size_t i = start; i < text.size(); ++i) {
      char c = text[i];
      if (in_string) {
        if (escaped)
          escaped = false;
        else if (c == '\\')
          escaped = true;
        else if (c == '"')
          in_string = false;
        continue;
      }
      if (c == '"')
        in_string = true;
      else if (c == '[' || c == '{')
        ++depth;
      else if ((c == ']' || c == '}') && --depth == 0) {
        end = i;
        break;
      }
    }
    if (end == std::string_view::npos) continue;
    auto parsed = nlohmann::json::parse(text.substr(start, end - start + 1), nullptr, false);
    if (parsed.is_discarded() || !parsed.is_array()) continue;
    bool all_objects = true;
    for (const auto& item : parsed) all_objects = all_objects && item.is_object();
    if (all_objects) return parsed;
  }
  return std::nullopt;
}

double SuccessProbability(std::string_view system, int pitfall, const SimOptions& options) {
  // A harmful lesson wins over a helpful one: following it is what makes the attempt fail.
  if (ContainsCaseInsensitive(system, kHarmfulMarker)) return options.p_success_harmful;
  if (IsTopicLesson(pitfall)) return TopicSuccessProbability(system, pitfall, options);
  return ContainsCaseInsensitive(system, LessonPitfall(pitfall).keyword) ? options.p_success_with
                                                                         : options.p_success_without;
}

std::string RolloutReply(std::string_view system, std::string_view user, uint64_t draw_seed,
                         const SimOptions& options) {
  SolvedProblem solved = SolveProblem(user);
  const double p = SuccessProbability(system, solved.pitfall, options);
  uint64_t state = draw_seed;
  bool success = UnitDouble(state) < p;
  return success ? solved.success_text : solved.failure_text;
}

std::string SummaryReply(std::string_view prompt) {
  const std::vector<LibraryLine> library = ParseLibraryLines(prompt);
  const std::string attempt = WithoutLibraryLines(prompt);
  std::string_view text = attempt;
  std::optional<SolvedProblem> family = FindFamilyProblem(text);
  int pitfall = family ? family->pitfall : FindKeyword(text);
  std::string boxed = LastBoxed(text);
  if (boxed.empty()) {
    // A free-text answer (the web agent's "Final answer: ..." line).
    const size_t at = text.rfind("Final answer:");
    if (at != std::string_view::npos) {
      const std::vector<std::string> rest = SplitLines(text.substr(at + 13));
      if (!rest.empty()) boxed = Trim(rest.front());
    }
  }
  std::optional<double> reward = FirstReward(text);

  bool success;
  if (reward) {
    success = *reward >= 0.5;
  } else if (family) {
    success = AnswersMatch(boxed, family->correct);
  } else {
    success = !ContainsCaseInsensitive(text, "skipped the usual care") &&
              !ContainsCaseInsensitive(text, "mistake");
  }

  std::string out = "1. The agent restated the task and identified the quantities involved.\n";
  if (pitfall < 0) {
    out += "2. It worked through the problem without any recognisable method.\n";
    out += "3. It gave the final answer " + (boxed.empty() ? std::string("(none)") : boxed) + ".\n";
    if (reward) out += "The attempt earned reward " + FormatNumber(*reward) + ".\n";
    out += success ? "Verdict: the attempt looks sound; checking the final answer against the "
                     "question is worth repeating."
                   : "Verdict: the attempt made a mistake somewhere; a future attempt should check "
                     "the final answer against the question.";
    return out;
  }
  const std::string& keyword = LessonPitfall(pitfall).keyword;
  // The attempt applied the experiences about its own pitfall, whatever came of it.
  std::string applied;
  for (const auto& line : library)
    if (ContainsCaseInsensitive(line.text, keyword)) applied += (applied.empty() ? "" : ", ") + line.id;
  if (success) {
    out +=
        "2. It handled the " + keyword + " correctly, which moved it toward the correct result.\n";
  } else {
    out += "2. It made a mistake with the " + keyword + ": " + MistakePhrase(pitfall) +
           ", which moved it away from the correct result.\n";
  }
  out += "3. It gave the final answer " + (boxed.empty() ? std::string("(none)") : boxed) +
         (success ? ", consistent with the correct method.\n" : ", which is not correct.\n");
  if (reward) out += "The attempt earned reward " + FormatNumber(*reward) + ".\n";
  out += success ? "Verdict: the attempt applied the right idea about the " + keyword +
                       "; future attempts should repeat it."
                 : "Verdict: the attempt made a mistake with the " + keyword +
                       "; future attempts should avoid it.";
  out += "\nApplied: " + (applied.empty() ? std::string("none") : applied);
  return out;
}

std::string AdvantageReply(std::string_view prompt, const SimHostility& hostile) {
  const std::string summaries = WithoutLibraryLines(prompt);
  std::string_view text = summaries;
  std::vector<int> present, failing;
  bool zero_reward = ShowsZeroReward(text);
  for (int i = 0; i < LessonPitfallCount(); ++i) {
    const std::string& keyword = LessonPitfall(i).keyword;
    if (!ContainsCaseInsensitive(text, keyword)) continue;
    present.push_back(i);
    if (zero_reward || ContainsCaseInsensitive(text, "mistake with the " + keyword)) failing.push_back(i);
  }
  if (present.empty()) {
    if (auto family = FindFamilyProblem(text)) present.push_back(family->pitfall);
  }
  const std::vector<int>& chosen = failing.empty() ? present : failing;

  std::string reasoning;
  std::vector<std::string> lessons;
  for (int k : chosen) {
    reasoning += "The attempts that went wrong made a mistake with the " + LessonPitfall(k).keyword +
                 ", while the successful ones handled it explicitly. ";
    lessons.push_back(LessonPitfall(k).experience);
  }
  if (chosen.empty()) {
    reasoning = "No specific method separates the attempts; the difference is care in checking. ";
  }
  reasoning += "Checking the final answer against the question also helps.";
  lessons.push_back(kGenericLesson);
  // A hostile learner puts its bad ideas first, so they survive a cap on lessons per group.
  if (hostile.copy_answers) {
    if (auto family = FindFamilyProblem(text)) {
      // The line quoting the problem, as a learner that memorises would copy it.
      std::string line = family->matched_text;
      for (const std::string& l : SplitLines(text))
        if (l.find(family->matched_text) != std::string::npos) line = l;
      const std::string problem = FirstWords(line, 14);
      if (!problem.empty())
        lessons.insert(lessons.begin(), "For the problem \"" + problem + "\" the answer is " + family->correct + ".");
    } else if (const std::string question = FirstLineUnderHeading(text, "task"),
               answer = FirstLineUnderHeading(text, "reference");
               !question.empty() && !answer.empty()) {
      // Any other task (a web question): the task and reference sections, copied as they are.
      lessons.insert(lessons.begin(), "For the question \"" + FirstWords(question, 14) + "\" the answer is " + answer + ".");
    }
  }

  std::string out = reasoning + "\n\n<Experiences>\n";
  for (size_t i = 0; i < lessons.size(); ++i) {
    out += std::to_string(i + 1) + ". " + lessons[i] + "\n";
  }
  out += "</Experiences>";
  return out;
}

std::string GroupUpdateReply(std::string_view text, const SimHostility& hostile) {
  static const std::regex lesson_re(R"(^\s*(\d+)[.)]\s+(\S.*)$)");
  std::vector<LibraryLine> library = ParseLibraryLines(text);
  nlohmann::json ops = nlohmann::json::array();
  std::set<std::string> added;
  if (hostile.pad) {
    for (const std::string& filler : FillerLessons(text))
      if (added.insert(LessonKey(filler)).second && !LibraryCovers(library, LessonKey(filler)))
        ops.push_back(Op("ADD", std::nullopt, filler));
  }
  for (const std::string& line : SplitLines(text)) {
    std::smatch m;
    if (!std::regex_match(line, m, lesson_re)) continue;
    std::string lesson = Trim(m[2].str());
    std::string key = LessonKey(lesson);
    if (LibraryCovers(library, key) || added.count(key)) {
      ops.push_back(Op("NONE", std::nullopt, lesson));
    } else {
      added.insert(key);
      ops.push_back(Op("ADD", std::nullopt, lesson));
    }
  }
  return OperationsReply(
      "Each new lesson was compared with the library: lessons whose idea is already covered get "
      "NONE, new ideas are added.",
      ops);
}

std::string BatchUpdateReply(std::string_view text, const SimHostility& hostile, std::string_view draw_key) {
  if (hostile.garbage && DrawFrom(draw_key, "garbage") < 2.0 / 3.0)
    return "Merged the proposals:\n\n```json\n[{\"operation\": \"ADD\", \"id\": null, \"content\": \"Check";
  std::vector<LibraryLine> library = ParseLibraryLines(text);
  nlohmann::json proposed = FirstJsonArray(text).value_or(nlohmann::json::array());
  nlohmann::json ops = nlohmann::json::array();
  // Now and then the learner "sharpens" its best-credited experience into a harmful one (an
  // UPDATE keeps the credit, so the cap does not evict it), or adds the harmful lesson when
  // there is nothing to edit.
  std::optional<std::string> poisoned;
  if (hostile.harmful && DrawFrom(text, "harmful") < 0.3) {
    bool already = false;
    const LibraryLine* best = nullptr;
    for (const auto& line : library) {
      already = already || line.text.find(kHarmfulMarker) != std::string::npos;
      if (!best || line.helpful - line.harmful > best->helpful - best->harmful) best = &line;
    }
    if (!already && best) {
      ops.push_back(Op("UPDATE", best->id, best->text + " " + kSimHarmfulLesson));
      poisoned = best->id;
    } else if (!already) {
      ops.push_back(Op("ADD", std::nullopt, kSimHarmfulLesson));
    }
  }

  // Redundant library entries: a later line repeating an earlier line's idea is deleted.
  std::set<std::string> library_keys, deleted;
  for (const auto& line : library) {
    // Redundant, or blamed far more often than credited: the learner reads the credit.
    const bool blamed = line.harmful >= 3 && line.harmful > 2 * line.helpful;
    if (!library_keys.insert(LessonKey(line.text)).second || blamed) {
      ops.push_back(Op("DELETE", line.id, ""));
      deleted.insert(line.id);
    }
  }

  std::map<std::string, size_t> kept_add_keys;  // lesson key -> its ADD in ops
  std::set<std::string> kept_ops;
  for (const auto& item : proposed) {
    std::string kind = ToUpper(item.value("operation", std::string()));
    std::string content = item.contains("content") && item["content"].is_string()
                              ? item["content"].get<std::string>()
                              : "";
    std::optional<std::string> id;
    if (item.contains("id") && item["id"].is_string()) id = item["id"].get<std::string>();
    // Which numbered proposal ("P3") an operation came from, as a careful learner reports it.
    const std::string number = item.contains("proposal") && item["proposal"].is_string()
                                   ? item["proposal"].get<std::string>()
                                   : "";
    auto with_from = [&number](nlohmann::json op) {
      if (!number.empty()) op["from"] = nlohmann::json::array({number});
      return op;
    };
    if (kind == "ADD") {
      std::string key = LessonKey(content);
      if (Trim(content).empty() || LibraryCovers(library, key)) continue;
      if (auto [it, fresh] = kept_add_keys.emplace(key, ops.size()); !fresh) {
        // A duplicate merged into the first: it came from both.
        if (!number.empty() && ops[it->second].contains("from")) ops[it->second]["from"].push_back(number);
        continue;
      }
      ops.push_back(with_from(Op("ADD", std::nullopt, Trim(content))));
    } else if (kind == "UPDATE" || kind == "DELETE") {
      if (!id || deleted.count(*id) || id == poisoned) continue;
      std::string signature = kind + "|" + *id + "|" + NormalizedLesson(content);
      if (!kept_ops.insert(signature).second) continue;
      if (kind == "DELETE") deleted.insert(*id);
      ops.push_back(kind == "DELETE" ? Op(kind, id, "") : with_from(Op(kind, id, Trim(content))));
    }
    // NONE proposals change nothing and are omitted.
  }
  return OperationsReply(
      "Merged the proposals: one addition per idea not yet in the library, duplicates dropped.",
      ops);
}

std::string JudgeReply(std::string_view text) {
  // Sections start at heading lines ("## Reference answer", "Response:"); the reference is the
  // first line of a section whose heading mentions "reference", the response the section whose
  // heading mentions "response".
  std::vector<std::string> lines = SplitLines(text);
  std::string reference, response_section;
  bool have_response = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string t = Trim(lines[i]);
    if (!IsHeading(t)) continue;
    bool is_reference = ContainsCaseInsensitive(t, "reference");
    bool is_response = !is_reference && ContainsCaseInsensitive(t, "response");
    if (!is_reference && !is_response) continue;
    // The response runs to the end (it may hold its own markdown headings); the reference
    // stops at the next heading.
    std::string section;
    for (size_t j = i + 1; j < lines.size() && (is_response || !StartsWith(Trim(lines[j]), "#"));
         ++j) {
      section += lines[j] + "\n";
    }
    if (is_reference && reference.empty()) {
      for (const std::string& line : SplitLines(section)) {
        if (!Trim(line).empty()) {
          reference = Trim(line);
          break;
        }
      }
    }
    if (is_response && !have_response) {
      response_section = section;
      have_response = true;
    }
  }
  if (reference.empty()) {
    if (auto family = FindFamilyProblem(text)) reference = family->correct;
  }
  // The response's answer: its last \boxed{}, else its last non-empty line without an
  // "Answer:" label. A free-text answer is read the way a lenient grader reads it: it is right
  // when it states the reference (in a sentence, with other words around it) and does not hedge.
  std::string predicted = LastBoxed(have_response ? std::string_view(response_section) : text);
  const bool boxed = !predicted.empty();
  if (predicted.empty() && have_response) {
    // The grading instruction after the response ("... end with GRADE: ...") is not part of it;
    // a line labelled as the answer wins over the lines after it.
    bool labelled = false;
    for (const std::string& line : SplitLines(response_section)) {
      const std::string t = Trim(line);
      if (t.empty() || t.find("GRADE:") != std::string::npos) continue;
      const bool label = StartsWith(ToLower(t), "final answer:");
      if (label || !labelled) predicted = t;
      labelled = labelled || label;
    }
    static const std::regex label_re(R"(^\**(final answer|answer)\**\s*:\s*\**)", std::regex::ECMAScript | std::regex::icase);
    predicted = Trim(std::regex_replace(predicted, label_re, ""));
  }
  const bool hedged = ContainsCaseInsensitive(predicted, " or ") && !ContainsCaseInsensitive(reference, " or ");
  bool correct = !reference.empty() &&
                 (AnswersMatch(predicted, reference) || (!boxed && !hedged && WebAnswerMatches(predicted, reference)));
  return "The response's final answer is " +
         (predicted.empty() ? std::string("missing") : predicted) +
         " and the reference answer is " +
         (reference.empty() ? std::string("unknown") : reference) + "; they " +
         (correct ? "agree." : "do not agree.") + "\nGRADE: " + (correct ? "CORRECT" : "INCORRECT");
}

}  // namespace tfgrpo::sim_internal
