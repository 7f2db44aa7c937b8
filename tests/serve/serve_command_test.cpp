// The `tfgrpo serve` command as a process: refusal of unsafe flags, serving, SIGHUP reload and
// a clean exit on SIGTERM. Skipped when the tfgrpo binary has not been built.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "serve_test_util.h"
#include "tfgrpo/sim.h"

extern char** environ;

namespace tfgrpo {
namespace {

using namespace serve_testing;

// A child process with stdout and stderr on pipes.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
    int out[2], err[2];
    if (::pipe(out) != 0 || ::pipe(err) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, err[0]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<std::string> env_strings = extra_env;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(), envp.data()) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
    if (err_ >= 0) ::close(err_);
  }
  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Reads stdout until it holds `needle` or `timeout_ms` passes.
  bool WaitForOutput(const std::string& needle, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (stdout_.find(needle) == std::string::npos) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) return false;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, left) <= 0) return false;
      char buf[4096];
      ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return false;
      stdout_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // Waits for exit (bounded); returns the exit status or -1.
  int Wait(int timeout_ms) {
    for (int i = 0; i < timeout_ms / 10; ++i) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  std::string Stderr() {
    std::string all;
    int flags = ::fcntl(err_, F_GETFL);
    ::fcntl(err_, F_SETFL, flags | O_NONBLOCK);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(err_, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
    return all;
  }
  const std::string& stdout_text() const { return stdout_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool exited_ = false;
  std::string stdout_;
};

class ServeCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = TFGRPO_BINARY;
    if (::access(binary_.c_str(), X_OK) != 0) GTEST_SKIP() << "no binary at " << binary_;
    library_path_ = dir_.path() / "experiences.json";
    ASSERT_TRUE(DefaultLibrary().Save(library_path_).ok());
  }
  std::string binary_;
  TempDir dir_;
  std::filesystem::path library_path_;
};

TEST_F(ServeCommandTest, RefusesANonLoopbackListenerWithoutAClientKey) {
  Child child({binary_, "serve", "--experiences", library_path_.string(), "--upstream",
               "http://127.0.0.1:9/v1", "--listen", "0.0.0.0:0"},
              {});
  ASSERT_TRUE(child.started());
  EXPECT_EQ(child.Wait(5000), 1);
  std::string err = child.Stderr();
  EXPECT_NE(err.find("error: --listen 0.0.0.0:0 is not a loopback address"), std::string::npos)
      << err;
  EXPECT_NE(err.find("--client-key-env"), std::string::npos);
}

TEST_F(ServeCommandTest, ServesReloadsOnSighupAndExitsOnSigterm) {
  SimServer sim(SimOptions{});
  ASSERT_TRUE(sim.Start(0).ok());
  Child child({binary_, "serve", "--experiences", library_path_.string(), "--upstream",
               sim.base_url(), "--listen", "127.0.0.1:0", "--client-key-env", "SERVE_TEST_KEY",
               "--upstream-key-env", "SERVE_TEST_UPSTREAM"},
              {"SERVE_TEST_KEY=proxy-key-1", "SERVE_TEST_UPSTREAM=upstream-key-2"});
  ASSERT_TRUE(child.started());
  ASSERT_TRUE(child.WaitForOutput(" experiences)\n", 5000)) << child.Stderr();
  const std::string& out = child.stdout_text();
  size_t at = out.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << out;
  int port = std::atoi(out.c_str() + at + 17);
  ASSERT_GT(port, 0);

  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(5, 0);
  auto denied = client.Post("/v1/chat/completions", ChatBody("q"), "application/json");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  auto ok = client.Post("/v1/chat/completions", {{"Authorization", "Bearer proxy-key-1"}},
                        ChatBody("q"), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;

  // The new file is picked up (by SIGHUP or the watcher, whichever is first) while serving.
  ASSERT_TRUE(MakeLibrary({"One lesson."}).Save(library_path_).ok());
  ASSERT_EQ(::kill(child.pid(), SIGHUP), 0);
  int experiences = -1;
  for (int i = 0; i < 100 && experiences != 1; ++i) {
    auto health = client.Get("/health");
    if (health && health->status == 200) {
      experiences = nlohmann::json::parse(health->body)["experiences"];
    }
    if (experiences != 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(experiences, 1);

  ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
  EXPECT_EQ(child.Wait(5000), 0);
  std::string err = child.Stderr();
  EXPECT_EQ(err.find("proxy-key-1"), std::string::npos) << err;
  EXPECT_EQ(err.find("upstream-key-2"), std::string::npos) << err;
  EXPECT_NE(err.find("reloaded"), std::string::npos) << err;
}

TEST_F(ServeCommandTest, TopKInjectsOnlyTheMostRelevantExperiences) {
  EchoUpstream upstream;
  ASSERT_TRUE(upstream.Start());
  Child child({binary_, "serve", "--experiences", library_path_.string(), "--upstream", upstream.base_url(),
               "--listen", "127.0.0.1:0", "--top-k", "1", "--retrieval-method", "bm25"},
              {});
  ASSERT_TRUE(child.started());
  ASSERT_TRUE(child.WaitForOutput(" experiences)\n", 5000)) << child.Stderr();
  const std::string& out = child.stdout_text();
  EXPECT_NE(out.find("retrieval: top 1 by bm25 per request, 3 experiences)"), std::string::npos) << out;
  size_t at = out.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << out;
  httplib::Client client("127.0.0.1", std::atoi(out.c_str() + at + 17));
  client.set_read_timeout(5, 0);
  auto r = client.Post("/v1/chat/completions", ChatBody("Which unit does the question ask for?", "Be brief."),
                       "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(upstream.received().size(), 1u);
  auto sent = nlohmann::json::parse(upstream.received()[0].body);
  EXPECT_EQ(sent["messages"][0]["content"], AppendLibrary("Be brief.", DefaultLibrary(), {1}));
  ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
  EXPECT_EQ(child.Wait(5000), 0);
}

TEST_F(ServeCommandTest, AnUnknownRetrievalMethodIsRefused) {
  Child child({binary_, "serve", "--experiences", library_path_.string(), "--upstream", "http://127.0.0.1:9/v1",
               "--top-k", "2", "--retrieval-method", "tfidf"},
              {});
  ASSERT_TRUE(child.started());
  EXPECT_NE(child.Wait(5000), 0);
  EXPECT_NE(child.Stderr().find("--retrieval-method"), std::string::npos) << child.Stderr();
}

// Issue 7: a FIFO put where the library was blocked the reload watcher in open(), and SIGTERM
// then waited for it forever.
TEST_F(ServeCommandTest, AFifoInPlaceOfTheLibraryDoesNotBlockSigterm) {
  Child child({binary_, "serve", "--experiences", library_path_.string(), "--upstream",
               "http://127.0.0.1:9/v1", "--listen", "127.0.0.1:0"},
              {});
  ASSERT_TRUE(child.started());
  ASSERT_TRUE(child.WaitForOutput(" experiences)\n", 5000)) << child.Stderr();
  std::filesystem::remove(library_path_);
  ASSERT_EQ(::mkfifo(library_path_.c_str(), 0600), 0);
  std::string err;
  for (int i = 0; i < 200 && err.find("not a regular file") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    err += child.Stderr();
  }
  EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;
  ASSERT_EQ(::kill(child.pid(), SIGHUP), 0);  // a reload on request must not block either
  ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
  EXPECT_EQ(child.Wait(3000), 0);
}

}  // namespace
}  // namespace tfgrpo
