// A model per role: each call goes to the client of the section that serves its role, and a
// learner's or judge's failure names its section.
#include <gtest/gtest.h>

#include <set>

#include "test_util.h"
#include "tfgrpo/role_router.h"

namespace tfgrpo {
namespace {

using testing::Reply;
using testing::ScriptedClient;

TEST(RoleRouter, EachSectionsClientSeesOnlyItsRoles) {
  ScriptedClient model([](const ChatRequest&) -> Result<ChatResponse> { return Reply("policy"); });
  ScriptedClient learner([](const ChatRequest&) -> Result<ChatResponse> { return Reply("learner"); });
  ScriptedClient judge([](const ChatRequest&) -> Result<ChatResponse> { return Reply("judge"); });
  RoleRouter router(model, learner, judge);
  for (Role role : {Role::kRollout, Role::kSummary, Role::kAdvantage, Role::kGroupUpdate, Role::kBatchUpdate,
                    Role::kJudge, Role::kValidation, Role::kBrowse}) {
    ChatRequest r;
    r.role = role;
    r.call_id = "s0/t1/" + std::string(RoleName(role));
    auto reply = router.Complete(r);
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->content, std::string(SectionForRole(role)) == "model" ? "policy" : SectionForRole(role));
  }
  auto roles = [](const ScriptedClient& c) {
    std::set<Role> seen;
    for (const auto& r : c.requests()) seen.insert(r.role);
    return seen;
  };
  EXPECT_EQ(roles(model), (std::set<Role>{Role::kRollout, Role::kValidation}));
  EXPECT_EQ(roles(learner), (std::set<Role>{Role::kSummary, Role::kAdvantage, Role::kGroupUpdate, Role::kBatchUpdate}));
  EXPECT_EQ(roles(judge), (std::set<Role>{Role::kJudge, Role::kBrowse}));
  // The call id reaches each client unchanged.
  EXPECT_EQ(judge.requests()[0].call_id, "s0/t1/judge");
}

TEST(RoleRouter, ARejectedJudgeKeyNamesTheJudgeSection) {
  ScriptedClient model([](const ChatRequest&) -> Result<ChatResponse> { return Reply("ok"); });
  ScriptedClient judge([](const ChatRequest&) -> Result<ChatResponse> {
    return Status::Unauthorized(
        "HTTP 401 from u: the API key was rejected; check the environment variable named in model.api_key_env");
  });
  RoleRouter router(model, model, judge);
  ChatRequest r;
  r.role = Role::kJudge;
  auto reply = router.Complete(r);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), Status::Code::kUnauthorized);  // still stops the run
  EXPECT_EQ(reply.status().message(),
            "judge: HTTP 401 from u: the API key was rejected; check the environment variable named in "
            "judge.api_key_env");
  // The policy's own errors are as they were.
  ScriptedClient refusing([](const ChatRequest&) -> Result<ChatResponse> {
    return Status::Unauthorized("check model.api_key_env");
  });
  RoleRouter policy(refusing, model, model);
  r.role = Role::kRollout;
  EXPECT_EQ(policy.Complete(r).status().message(), "check model.api_key_env");
}

}  // namespace
}  // namespace tfgrpo
