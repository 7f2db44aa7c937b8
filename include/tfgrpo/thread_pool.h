// A fixed-size pool of worker threads running queued jobs; the engine's dataflow scheduler and
// the evaluator submit one job per LLM call, so the pool size bounds the calls in flight.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tfgrpo {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();  // finishes queued jobs, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> job);
  // Runs before everything already queued. The engine uses it for a group's later stages, so a
  // group that finished its rollouts is not kept waiting behind other groups' rollouts: that
  // wait would lengthen the step's critical path.
  void SubmitFirst(std::function<void()> job);
  // Blocks until the queue is empty and no job is running.
  void Wait();

 private:
  void Worker();
  std::mutex mu_;
  std::condition_variable work_cv_, idle_cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  int running_ = 0;
  bool stopping_ = false;
};

}  // namespace tfgrpo
