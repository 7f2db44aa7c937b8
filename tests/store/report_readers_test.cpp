// The run store's readers for reports: every library version, the failed calls, the run's
// configuration, read back exactly as recorded.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "test_util.h"
#include "tfgrpo/store.h"

namespace tfgrpo {
namespace {

namespace fs = std::filesystem;

class ReportReadersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tfgrpo_report_readers_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto r = RunStore::Open(dir_ / "run.db");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    store_ = std::move(r).value();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::unique_ptr<RunStore> store_;
};

TEST_F(ReportReadersTest, LibrariesComeBackInStepOrderWithTheirJson) {
  EXPECT_TRUE(testing::Must(store_->Libraries()).empty());
  ASSERT_TRUE(store_->RecordLibrary(2, "{\"v\":2}", {}).ok());
  ASSERT_TRUE(store_->RecordLibrary(0, "{\"v\":0}", {}).ok());
  ASSERT_TRUE(store_->RecordLibrary(1, "{\"v\":1}", {}).ok());
  ASSERT_TRUE(store_->RecordLibrary(1, "{\"v\":\"1b\"}", {}).ok());  // a re-run step replaces
  auto versions = testing::Must(store_->Libraries());
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[0].step, 0);
  EXPECT_EQ(versions[1].step, 1);
  EXPECT_EQ(versions[1].library_json, "{\"v\":\"1b\"}");
  EXPECT_EQ(versions[2].library_json, "{\"v\":2}");
}

TEST_F(ReportReadersTest, FailedCallsListOnlyTheCallsThatFailed) {
  CallRecord ok;
  ok.fingerprint = "f1";
  ok.call_id = "s0/t1/r0";
  ok.role = "rollout";
  ok.ok = true;
  CallRecord bad = ok;
  bad.fingerprint = "f2";
  bad.call_id = "s0/t1/summary0";
  bad.role = "summary";
  bad.ok = false;
  bad.error = "HTTP 400: bad request";
  bad.attempts = 3;
  ASSERT_TRUE(store_->RecordCall(ok).ok());
  ASSERT_TRUE(store_->RecordCall(bad).ok());
  auto failed = testing::Must(store_->FailedCalls());
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].call_id, "s0/t1/summary0");
  EXPECT_EQ(failed[0].role, "summary");
  EXPECT_EQ(failed[0].error, "HTTP 400: bad request");
  EXPECT_EQ(failed[0].attempts, 3);
}

TEST_F(ReportReadersTest, RunConfigIsTheOneTheRunWasCreatedWith) {
  EXPECT_FALSE(testing::Must(store_->RunConfigJson()).has_value());
  ASSERT_TRUE(store_->BeginOrResume("{\"model\":{\"name\":\"m1\"}}").ok());
  ASSERT_TRUE(store_->BeginOrResume("{\"model\":{\"name\":\"m1\"}}").ok());
  EXPECT_EQ(testing::Must(store_->RunConfigJson()).value_or(""), "{\"model\":{\"name\":\"m1\"}}");
}

}  // namespace
}  // namespace tfgrpo
