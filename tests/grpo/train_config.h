// The training config the engine suites share: tasks "t0".."t{n-1}" with problems
// "Problem number <i>" and answers "ANS<i>", scored by exact match, against a scripted client.
#pragma once

#include <fstream>

#include "test_util.h"
#include "tfgrpo/config.h"

namespace tfgrpo::testing {

inline Config MakeTrainConfig(const TempDir& dir, int n_tasks, int group_size = 4, int batch_size = 10,
                              int epochs = 1) {
  std::ofstream out(dir / "train.jsonl");
  for (int i = 0; i < n_tasks; ++i)
    out << "{\"id\":\"t" << i << "\",\"problem\":\"Problem number " << i << "\",\"groundtruth\":\"ANS" << i << "\"}\n";
  out.close();
  Config c;
  c.source = dir / "config.yaml";
  c.model.base_url = "http://unused";
  c.model.name = "scripted";
  c.model.concurrency = 8;
  c.data.train = dir / "train.jsonl";
  c.task.reward = RewardKind::kExact;
  c.task.instructions = "Answer.";
  c.practice.epochs = epochs;
  c.practice.batch_size = batch_size;
  c.practice.group_size = group_size;
  c.practice.experiences_per_group = 2;
  return c;
}

}  // namespace tfgrpo::testing
