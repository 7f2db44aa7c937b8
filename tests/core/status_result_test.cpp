// Result's contract (status.h): never OK without a value.
#include <gtest/gtest.h>

#include "tfgrpo/status.h"

namespace tfgrpo {
namespace {

Result<int> BuggyProducer() { return Status::Ok(); }  // a caller's bug: "success" without a value

TEST(Result, BuiltFromAnOkStatusItHoldsAnInternalErrorNotAnEmptyValue) {
  Result<int> r = BuggyProducer();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInternal);
  EXPECT_NE(r.status().message().find("without a value"), std::string::npos);
}

TEST(Result, KeepsAValueOrTheErrorItWasGiven) {
  Result<int> value = 7;
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, 7);
  Result<int> error = Status::NotFound("no such task");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(error.status().message(), "no such task");
}

}  // namespace
}  // namespace tfgrpo
