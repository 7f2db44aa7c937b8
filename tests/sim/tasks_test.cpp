#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "sim/sim_internal.h"
#include "sim_test_util.h"
#include "tfgrpo/config.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {
namespace {

using sim_internal::FindFamilyProblem;
using sim_internal::SolveProblem;

// The shipped example data: (file, task count, seed). Regenerate with
// TFGRPO_WRITE_SIM_EXAMPLES=1 ./test_sim --gtest_filter='*ShippedExample*'.
struct ExampleFile {
  const char* name;
  int n;
  uint64_t seed;
};
constexpr ExampleFile kExampleFiles[] = {{"train.jsonl", 24, 1}, {"eval.jsonl", 30, 2}};

std::string ToJsonl(const std::vector<nlohmann::json>& tasks) {
  std::string out;
  for (const auto& t : tasks) out += t.dump() + "\n";
  return out;
}

std::vector<double> Numbers(const std::string& text) {
  static const std::regex number_re(R"(-?\d+)");
  std::vector<double> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number_re);
       it != std::sregex_iterator(); ++it) {
    out.push_back(std::stod(it->str()));
  }
  return out;
}

// An independent computation of each template's answer from the numbers in the text.
double ExpectedAnswer(const std::string& pitfall, const std::string& problem) {
  std::vector<double> v = Numbers(problem);
  if (pitfall == "inclusive-range") return v[1] - v[0] + 1;
  if (pitfall == "percent-change") return v[0] * (1 + v[1] / 100) * (1 - v[2] / 100);
  if (pitfall == "negative-subtraction") return v[0] - v[1] - v[2];  // v[1] carries its minus
  if (pitfall == "hours-to-minutes") return v[2] * (60 * v[0] + v[1]);
  if (pitfall == "average-speed") return 2 * v[1] * v[2] / (v[1] + v[2]);
  if (pitfall == "negative-remainder") {
    long long a = static_cast<long long>(v[0]), n = static_cast<long long>(v[1]);
    return static_cast<double>(((a % n) + n) % n);
  }
  ADD_FAILURE() << "unknown pitfall " << pitfall;
  return 0;
}

TEST(SimPitfalls, KeywordsAreDistinctAndOnlyInTheirOwnExperience) {
  const auto& pitfalls = SimPitfalls();
  ASSERT_GE(pitfalls.size(), 6u);
  std::set<std::string> names;
  for (size_t i = 0; i < pitfalls.size(); ++i) {
    EXPECT_TRUE(names.insert(pitfalls[i].name).second) << pitfalls[i].name;
    EXPECT_TRUE(ContainsCaseInsensitive(pitfalls[i].experience, pitfalls[i].keyword))
        << pitfalls[i].name;
    EXPECT_FALSE(ContainsCaseInsensitive(sim_internal::kGenericLesson, pitfalls[i].keyword));
    EXPECT_FALSE(ContainsCaseInsensitive(simtest::kInstructions, pitfalls[i].keyword));
    for (size_t j = 0; j < pitfalls.size(); ++j) {
      if (i == j) continue;
      EXPECT_FALSE(ContainsCaseInsensitive(pitfalls[j].experience, pitfalls[i].keyword))
          << pitfalls[j].name << " mentions " << pitfalls[i].keyword;
    }
  }
}

TEST(GenerateSimTasks, DeterministicBalancedAndUnique) {
  auto a = GenerateSimTasks(30, 7);
  auto b = GenerateSimTasks(30, 7);
  auto c = GenerateSimTasks(30, 8);
  ASSERT_EQ(a.size(), 30u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::map<std::string, int> per_pitfall;
  std::set<std::string> problems;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["id"], "sim-" + std::to_string(i));
    ASSERT_TRUE(a[i]["problem"].is_string());
    ASSERT_TRUE(a[i]["groundtruth"].is_string());
    ++per_pitfall[a[i]["pitfall"].get<std::string>()];
    EXPECT_TRUE(problems.insert(a[i]["problem"].get<std::string>()).second) << a[i].dump();
  }
  EXPECT_EQ(per_pitfall.size(), SimPitfalls().size());
  for (const auto& [name, count] : per_pitfall) EXPECT_EQ(count, 5) << name;
  EXPECT_TRUE(GenerateSimTasks(0, 1).empty());
}

TEST(GenerateSimTasks, GroundTruthIsTheRightAnswerAndThePitfallGivesAnother) {
  for (uint64_t seed : {1, 2, 3}) {
    for (const auto& task : GenerateSimTasks(60, seed)) {
      std::string problem = task["problem"], truth = task["groundtruth"], pitfall = task["pitfall"];
      EXPECT_DOUBLE_EQ(std::stod(truth), ExpectedAnswer(pitfall, problem)) << problem;
      auto solved = FindFamilyProblem(problem);
      ASSERT_TRUE(solved.has_value()) << problem;
      EXPECT_EQ(SimPitfalls()[solved->pitfall].name, pitfall);
      EXPECT_EQ(solved->correct, truth);
      EXPECT_NE(std::stod(solved->wrong), std::stod(truth)) << problem;
      const std::string& keyword = SimPitfalls()[solved->pitfall].keyword;
      EXPECT_TRUE(ContainsCaseInsensitive(solved->failure_text, keyword)) << solved->failure_text;
      EXPECT_EQ(simtest::Boxed(solved->failure_text), solved->wrong);
      EXPECT_EQ(simtest::Boxed(solved->success_text), truth);
    }
  }
}

TEST(SolveProblem, FindsTheProblemInsideALongerPrompt) {
  auto task = GenerateSimTasks(1, 5)[0];
  std::string prompt =
      "## Task\n" + task["problem"].get<std::string>() + "\n\n## The attempt\nSomething 12 - 3.";
  auto solved = FindFamilyProblem(prompt);
  ASSERT_TRUE(solved.has_value());
  EXPECT_EQ(solved->correct, task["groundtruth"]);
}

TEST(SolveProblem, UnknownProblemsGetADeterministicWellFormedAnswer) {
  auto a = SolveProblem("What is the capital of France?");
  auto b = SolveProblem("What is the capital of France?");
  EXPECT_FALSE(a.in_family);
  EXPECT_EQ(a.correct, "0");
  EXPECT_EQ(a.pitfall, b.pitfall);
  EXPECT_EQ(a.failure_text, b.failure_text);
  auto c = SolveProblem("A farmer has 17 sheep and buys 4.5 more bales for them.");
  EXPECT_EQ(c.correct, "4.5");
  EXPECT_NE(c.wrong, c.correct);
  EXPECT_EQ(simtest::Boxed(c.success_text), "4.5");
  EXPECT_TRUE(ContainsCaseInsensitive(c.failure_text, SimPitfalls()[c.pitfall].keyword));
}

TEST(SimExamples, ShippedExampleFilesMatchTheGenerator) {
  std::filesystem::path dir = std::filesystem::path(TFGRPO_SOURCE_DIR) / "examples" / "sim";
  bool write = std::getenv("TFGRPO_WRITE_SIM_EXAMPLES") != nullptr;
  std::set<std::string> problems;
  for (const auto& file : kExampleFiles) {
    auto tasks = GenerateSimTasks(file.n, file.seed);
    std::string expected = ToJsonl(tasks);
    if (write) {
      ASSERT_TRUE(WriteFileAtomic(dir / file.name, expected).ok());
    }
    auto shipped = ReadFile(dir / file.name);
    ASSERT_TRUE(shipped.ok()) << shipped.status().ToString();
    EXPECT_EQ(*shipped, expected) << file.name << " drifted from GenerateSimTasks(" << file.n
                                  << ", " << file.seed << ")";
    for (const auto& t : tasks) {
      EXPECT_TRUE(problems.insert(t["problem"].get<std::string>()).second)
          << "train and eval share a problem: " << t["problem"];
    }
  }
}

TEST(SimExamples, ExampleConfigLoadsAndPointsAtTheData) {
  std::filesystem::path dir = std::filesystem::path(TFGRPO_SOURCE_DIR) / "examples" / "sim";
  auto config = LoadConfig(dir / "config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->model.name, "sim-1");
  EXPECT_TRUE(std::filesystem::exists(config->data.train)) << config->data.train;
  EXPECT_TRUE(std::filesystem::exists(config->data.eval)) << config->data.eval;
  EXPECT_EQ(Name(config->task.reward), "math");
  EXPECT_EQ(config->practice.group_size, 5);
  EXPECT_EQ(config->eval.k, 8);
}

}  // namespace
}  // namespace tfgrpo
