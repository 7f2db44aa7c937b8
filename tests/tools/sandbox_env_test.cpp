// A tool process (the python sandbox, in both modes) sees none of the run's secrets in its
// environment (issue 16): not the provider key, not a variable holding a configured secret.
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include "tfgrpo/sandbox.h"
#include "tfgrpo/sandboxed_process.h"
#include "tfgrpo/secrets.h"

namespace tfgrpo {
namespace {

void ExpectNoSecretIn(const std::string& mode) {
  ::setenv("TFGRPO_API_KEY", "sk-sandbox-env-test-key-1111", 1);
  ::setenv("OPENAI_API_KEY", "sk-sandbox-env-test-key-2222", 1);
  ::setenv("TFGRPO_TEST_SANDBOX_TOKEN", "sandbox-token-3333", 1);
  SecretSet installed;
  installed.AddVariable("TFGRPO_TEST_SANDBOX_TOKEN");
  InstallRunSecrets(installed);
  SandboxOptions options;
  options.mode = mode;
  options.wall_timeout_s = 10;
  auto sandbox = PythonSandbox::Create(options);
  if (!sandbox.ok()) GTEST_SKIP() << mode << " sandbox unavailable: " << sandbox.status().ToString();
  auto run = (*sandbox)->Run("import os\nfor k, v in sorted(os.environ.items()):\n    print(k, '=', v)\n");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->output.find("sk-sandbox"), std::string::npos) << run->output;
  EXPECT_EQ(run->output.find("sandbox-token"), std::string::npos) << run->output;
  EXPECT_EQ(run->output.find("API_KEY"), std::string::npos) << run->output;
  EXPECT_NE(run->output.find("PATH ="), std::string::npos) << run->output;  // it did print its env
  ::unsetenv("TFGRPO_API_KEY");
  ::unsetenv("OPENAI_API_KEY");
  ::unsetenv("TFGRPO_TEST_SANDBOX_TOKEN");
}

// A reward worker (SandboxedProcess) given extra variables: those that are, or hold, a run secret
// are dropped on the way in.
void ExpectWorkerDropsSecrets(const std::string& mode) {
  ::setenv("TFGRPO_API_KEY", "sk-sandbox-env-test-key-1111", 1);
  SandboxOptions options;
  options.mode = mode;
  auto sandbox = PythonSandbox::Create(options);
  if (!sandbox.ok()) GTEST_SKIP() << mode << " sandbox unavailable: " << sandbox.status().ToString();
  SandboxedProcessSpec spec;
  spec.argv = {"env"};  // one process: a worker may not start others
  spec.env = {"TFGRPO_API_KEY=sk-sandbox-env-test-key-1111", "COPY_OF_IT=sk-sandbox-env-test-key-1111",
              "HARMLESS=yes"};
  auto worker = SandboxedProcess::Spawn(**sandbox, spec);
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  (*worker)->ExitCode(true);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read((*worker)->stdout_fd(), buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  EXPECT_NE(out.find("HARMLESS=yes"), std::string::npos) << out;
  EXPECT_EQ(out.find("sk-sandbox"), std::string::npos) << out;
  ::unsetenv("TFGRPO_API_KEY");
}

TEST(SandboxEnvironment, AWorkersExtraVariablesCarryNoRunSecretUnsandboxed) { ExpectWorkerDropsSecrets("none"); }
TEST(SandboxEnvironment, AWorkersExtraVariablesCarryNoRunSecretInBwrap) { ExpectWorkerDropsSecrets("bwrap"); }

TEST(SandboxEnvironment, NoRunSecretReachesAToolProcessUnsandboxed) { ExpectNoSecretIn("none"); }
TEST(SandboxEnvironment, NoRunSecretReachesAToolProcessInBwrap) { ExpectNoSecretIn("bwrap"); }

}  // namespace
}  // namespace tfgrpo
