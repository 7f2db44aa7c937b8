// The many-topics world (`tfgrpo demo --topics`, retrieval.top_k): tasks of many types, each
// helped by its own experience, and a model that finds the experience that matters less often
// the more experiences its prompt holds, as people report of real models and long playbooks.

#include <algorithm>
#include <regex>

#include "sim/sim_internal.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

constexpr const char* kTopicWords[] = {"glacier", "lantern", "harbor",  "orchard", "falcon",  "quarry",
                                       "meadow",  "beacon",  "canyon",  "ferry",   "granary", "kiln",
                                       "lagoon",  "mill",    "nectar",  "oasis",   "pasture", "quiver",
                                       "reef",    "saddle",  "tannery", "vineyard", "windmill", "yarrow"};

}  // namespace

const std::vector<SimPitfall>& SimTopicPitfalls() {
  static const std::vector<SimPitfall> pitfalls = [] {
    std::vector<SimPitfall> out;
    for (const char* w : kTopicWords) {
      const std::string word = w;
      out.push_back({"topic-" + word, word + " rule",
                     "In a " + word + " ledger, apply the " + word + " rule: report the recorded total as it "
                     "stands, without the usual adjustment."});
    }
    return out;
  }();
  return pitfalls;
}

std::vector<nlohmann::json> GenerateSimTopicTasks(int n, uint64_t seed) {
  std::vector<nlohmann::json> tasks;
  const size_t topics = SimTopicPitfalls().size();
  uint64_t state = seed ^ Fnv1a64("tfgrpo-sim-topics");
  std::vector<size_t> order;
  for (int i = 0; i < n; ++i) {
    // Each block of tasks holds every topic once, in a seeded order.
    if (i % static_cast<int>(topics) == 0) order = ShuffledIndices(topics, seed * 0x9e3779b97f4a7c15ULL + i);
    const size_t topic = order[i % topics];
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const int total = 100 + static_cast<int>((state >> 33) % 900);
    const std::string problem = "Topics task " + std::to_string(i) + ": in the " + kTopicWords[topic] +
                                " ledger the recorded total is " + std::to_string(total) +
                                ". What total should be reported?";
    tasks.push_back({{"id", "topic-" + std::to_string(i)},
                     {"problem", problem},
                     {"groundtruth", std::to_string(total)},
                     {"pitfall", SimTopicPitfalls()[topic].name}});
  }
  return tasks;
}

namespace sim_internal {

int TopicLessonBase() { return LessonPitfallCount() - static_cast<int>(SimTopicPitfalls().size()); }

bool IsTopicLesson(int index) { return index >= TopicLessonBase() && index < LessonPitfallCount(); }

std::optional<SolvedProblem> FindTopicProblem(std::string_view text) {
  static const std::regex re(R"(in the ([a-z]+) ledger the recorded total is (\d+))");
  std::string s(text);
  std::smatch m;
  if (!std::regex_search(s, m, re)) return std::nullopt;
  const auto& pitfalls = SimTopicPitfalls();
  for (size_t t = 0; t < pitfalls.size(); ++t) {
    if (m[1].str() != kTopicWords[t]) continue;
    SolvedProblem p;
    p.in_family = true;
    p.pitfall = TopicLessonBase() + static_cast<int>(t);
    p.correct = m[2].str();
    p.wrong = FormatNumber(std::stod(p.correct) + 10);
    const std::string& keyword = pitfalls[t].keyword;
    p.success_text = "I kept the " + keyword + " in mind and reported the total as it stands.\n\nThe answer is \\boxed{" +
                     p.correct + "}.";
    p.failure_text = "I applied the usual adjustment, ignoring the " + keyword + ".\n\nThe answer is \\boxed{" +
                     p.wrong + "}.";
    p.success_code = "print(" + p.correct + ")";
    p.failure_code = "print(" + p.wrong + ")";
    p.matched_text = m[0].str();
    return p;
  }
  return std::nullopt;
}

std::string TopicMistakePhrase(int index) {
  return "it applied the usual adjustment and ignored the " + LessonPitfall(index).keyword;
}

double TopicSuccessProbability(std::string_view system, int index, const SimOptions& options) {
  if (!ContainsCaseInsensitive(system, LessonPitfall(index).keyword)) return options.p_success_without;
  // The right experience is there, but among many the model picks it out less often: fully with
  // up to kSimTopicAttention experiences, in proportion beyond.
  const double shown = static_cast<double>(std::max<size_t>(1, ParseLibraryLines(system).size()));
  const double found = std::min(1.0, kSimTopicAttention / shown);
  return options.p_success_without + (options.p_success_with - options.p_success_without) * found;
}

}  // namespace sim_internal
}  // namespace tfgrpo
