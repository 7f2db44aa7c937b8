// Wall-clock cost of one Python tool call, sandboxed (bubblewrap) and unsandboxed, and the
// difference: what the sandbox adds to every call on top of starting python3 itself.
// Usage: bench_sandbox_overhead [calls=50]

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tfgrpo/sandbox.h"

namespace {

struct Figures {
  double p50 = 0;
  double p99 = 0;
  double mean = 0;
};

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

bool Measure(const std::string& mode, int calls, Figures* out) {
  tfgrpo::SandboxOptions options;
  options.mode = mode;
  auto sandbox = tfgrpo::PythonSandbox::Create(options);
  if (!sandbox.ok()) {
    std::fprintf(stderr, "%s: %s\n", mode.c_str(), sandbox.status().ToString().c_str());
    return false;
  }
  std::vector<double> ms;
  for (int i = 0; i < calls + 2; ++i) {
    auto run = (*sandbox)->Run("print(1)");
    if (!run.ok() || run->output != "1\n") {
      std::fprintf(stderr, "%s: unexpected result: %s\n", mode.c_str(),
                   run.ok() ? run->output.c_str() : run.status().ToString().c_str());
      return false;
    }
    if (i >= 2) ms.push_back(run->wall_ms);  // the first calls warm the page cache
  }
  out->p50 = Percentile(ms, 0.50);
  out->p99 = Percentile(ms, 0.99);
  double sum = 0;
  for (double m : ms) sum += m;
  out->mean = sum / static_cast<double>(ms.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::max(1, std::atoi(argv[1])) : 50;
  Figures bare, boxed;
  if (!Measure("none", calls, &bare) || !Measure("bwrap", calls, &boxed)) return 1;
  std::printf("python tool call, print(1), %d calls each (wall ms)\n", calls);
  std::printf("  unsandboxed   p50 %7.2f  p99 %7.2f  mean %7.2f\n", bare.p50, bare.p99, bare.mean);
  std::printf("  bubblewrap    p50 %7.2f  p99 %7.2f  mean %7.2f\n", boxed.p50, boxed.p99,
              boxed.mean);
  std::printf("  sandbox overhead per call: p50 %+.2f ms, mean %+.2f ms\n", boxed.p50 - bare.p50,
              boxed.mean - bare.mean);
  return 0;
}
