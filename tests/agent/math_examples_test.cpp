// The shipped math example (examples/math): the three configs load, run the agent with the
// native protocol, and share one task section, so a library learned with practice.yaml is
// evaluated under the instructions it was learned with.
#include <gtest/gtest.h>

#include <filesystem>

#include "tfgrpo/config.h"

namespace tfgrpo {
namespace {

std::filesystem::path MathExample(const std::string& name) {
  return std::filesystem::path(TFGRPO_SOURCE_DIR) / "examples" / "math" / name;
}

TEST(MathExample, ConfigsLoadAndShareTheAgentTask) {
  auto practice = LoadConfig(MathExample("practice.yaml"));
  ASSERT_TRUE(practice.ok()) << practice.status().ToString();
  EXPECT_EQ(Name(practice->task.mode), "agent");
  EXPECT_EQ(Name(practice->task.tool_protocol), "native");
  EXPECT_EQ(Name(practice->task.reward), "math");
  EXPECT_EQ(Name(practice->tools.sandbox), "bwrap");
  EXPECT_EQ(practice->practice.epochs, 3);
  EXPECT_EQ(practice->practice.batch_size, 100);
  EXPECT_EQ(practice->practice.group_size, 5);
  EXPECT_DOUBLE_EQ(practice->practice.rollout_temperature, 0.7);
  EXPECT_EQ(practice->data.train, MathExample("dapo100.jsonl"));
  EXPECT_NE(practice->task.instructions.find("\\boxed{}"), std::string::npos);
  EXPECT_NE(practice->task.instructions.find("python"), std::string::npos);

  for (const char* year : {"24", "25"}) {
    auto eval = LoadConfig(MathExample(std::string("eval-aime") + year + ".yaml"));
    ASSERT_TRUE(eval.ok()) << eval.status().ToString();
    EXPECT_EQ(eval->data.eval, MathExample(std::string("aime") + year + ".jsonl"));
    EXPECT_EQ(eval->eval.k, 32);
    EXPECT_DOUBLE_EQ(eval->eval.temperature, 0.3);
    EXPECT_EQ(eval->task.mode, practice->task.mode) << year;
    EXPECT_EQ(eval->task.tool_protocol, practice->task.tool_protocol) << year;
    EXPECT_EQ(eval->task.instructions, practice->task.instructions) << year;
    EXPECT_EQ(eval->task.max_turns, practice->task.max_turns) << year;
    EXPECT_EQ(eval->task.reward, practice->task.reward) << year;
    EXPECT_EQ(eval->model.name, practice->model.name) << year;
    EXPECT_EQ(eval->model.base_url, practice->model.base_url) << year;
  }
}

}  // namespace
}  // namespace tfgrpo
