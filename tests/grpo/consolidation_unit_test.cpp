// The consolidation (grpo/consolidation.h) on its own: a scripted learner, a run store in a
// scratch directory and plain operations; no engine, no simulator.
#include "grpo/consolidation.h"

#include <gtest/gtest.h>

#include "test_util.h"
#include "train_config.h"

namespace tfgrpo::grpo_internal {
namespace {

using tfgrpo::testing::Must;
using tfgrpo::testing::Reply;
using tfgrpo::testing::ScriptedClient;
using tfgrpo::testing::TempDir;

Operation Add(std::string content, std::string group) {
  Operation op;
  op.kind = OpKind::kAdd;
  op.content = std::move(content);
  op.group = std::move(group);
  return op;
}

// A run context over a scripted learner: what Consolidate needs and nothing more.
struct Harness {
  explicit Harness(ScriptedClient::Script script, int per_call = 40)
      : config(tfgrpo::testing::MakeTrainConfig(dir, 2)), client(std::move(script)) {
    config.practice.max_proposals_per_call = per_call;
    store = std::move(RunStore::Open(dir / "run.db")).value();
    prompts = std::move(PromptSet::Load(std::nullopt)).value();
    ctx = std::make_unique<RunContext>(config, NullProgress(), *store, client, prompts);
  }
  Consolidation Run(const std::vector<Operation>& proposed, Library& library) {
    return Consolidate(*ctx, st, guard, 0, proposed, library);
  }
  std::vector<std::string> CallIds() const {
    std::vector<std::string> ids;
    for (const ChatRequest& r : client.requests()) ids.push_back(r.call_id);
    return ids;
  }

  TempDir dir;
  Config config;
  ScriptedClient client;
  std::unique_ptr<RunStore> store;
  PromptSet prompts;
  std::unique_ptr<RunContext> ctx;
  StepState st;
  LeakGuard guard;
};

TEST(ConsolidateUnit, AGarbageReplyIsAskedAgainAndTheThirdAnswerApplies) {
  int calls = 0;
  Harness h([&](const ChatRequest&) -> Result<ChatResponse> {
    if (++calls < 3) return Reply("I merged them all, trust me.");
    return Reply(R"(```json
[{"operation": "ADD", "content": "merged lesson", "from": ["P2"]}]
```)");
  });
  Library library;
  Consolidation c = h.Run({Add("first", "t1"), Add("second", "t2")}, library);
  EXPECT_EQ(c.chunks, 1);
  EXPECT_EQ(c.chunks_failed, 0);
  EXPECT_EQ(h.CallIds(), (std::vector<std::string>{"s0/batch_update", "s0/batch_update/try2", "s0/batch_update/try3"}));
  ASSERT_EQ(library.size(), 1u);
  EXPECT_EQ(library.items()[0].text, "merged lesson");
  EXPECT_EQ(library.items()[0].origin_task, "t2");  // from P2, not guessed from the words
}

TEST(ConsolidateUnit, ThreeGarbageRepliesLeaveTheLibraryExactlyAsItWasAndRecordTheProposals) {
  Harness h([](const ChatRequest&) -> Result<ChatResponse> { return Reply("[{\"operation\": \"ADD\", \"cont"); });
  Library library({{"keep units"}});
  const std::string before = library.ToArtifactJson().dump();
  Consolidation c = h.Run({Add("raw one", "t1"), Add("raw two", "t1")}, library);
  EXPECT_EQ(c.chunks_failed, 1);
  EXPECT_EQ(h.client.requests().size(), 3u);
  EXPECT_EQ(library.ToArtifactJson().dump(), before);  // never applied raw
  bool recorded = false;
  for (const FailureRecord& f : Must(h.store->Failures())) {
    if (f.stage != "batch_update" || f.task_id != "t1") continue;
    recorded = true;
    EXPECT_NE(f.error.find("library unchanged, proposals not applied: ADD: raw one | ADD: raw two"), std::string::npos)
        << f.error;
  }
  EXPECT_TRUE(recorded);
}

TEST(ConsolidateUnit, ManyProposalsGoInChunksEachAgainstTheLibraryTheLastOneMade) {
  std::vector<size_t> library_lines;
  Harness h(
      [&](const ChatRequest& r) -> Result<ChatResponse> {
        // Count the experiences the prompt shows: each chunk sees the previous chunk's additions.
        const std::string& p = r.messages.back().content;
        size_t n = 0;
        for (size_t at = p.find("[G"); at != std::string::npos; at = p.find("[G", at + 1)) ++n;
        library_lines.push_back(n);
        return tfgrpo::testing::KeepEveryProposal(r);
      },
      /*per_call=*/2);
  Library library;
  Consolidation c =
      h.Run({Add("one", "t1"), Add("two", "t1"), Add("three", "t2"), Add("four", "t2"), Add("five", "t3")}, library);
  EXPECT_EQ(c.chunks, 3);
  EXPECT_EQ(c.chunks_failed, 0);
  EXPECT_EQ(h.CallIds(), (std::vector<std::string>{"s0/batch_update", "s0/batch_update/c2", "s0/batch_update/c3"}));
  EXPECT_EQ(library_lines, (std::vector<size_t>{0, 2, 4}));
  EXPECT_EQ(library.size(), 5u);
}

TEST(ConsolidateUnit, NoneOperationsAreNoProposalsAndAskNothing) {
  Harness h([](const ChatRequest&) -> Result<ChatResponse> { return Reply("[]"); });
  Operation none;
  Library library;
  Consolidation c = h.Run({none, none}, library);
  EXPECT_EQ(c.proposed, 0);
  EXPECT_EQ(c.chunks, 0);
  EXPECT_TRUE(h.client.requests().empty());
}

}  // namespace
}  // namespace tfgrpo::grpo_internal
