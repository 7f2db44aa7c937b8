// The simulated LLM: a deterministic stand-in for an OpenAI-compatible model, so that everything
// can be tested offline. It answers each X-Tfgrpo-Role in the formats the engine expects, has a
// task family whose success depends on the library holding the right experience, reports usage
// with a prefix-cache count, and can inject latency and faults. Served over HTTP on loopback.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tfgrpo/status.h"

namespace tfgrpo {

// One pitfall of the simulated task family. A rollout on a task hiding this pitfall succeeds
// with high probability only when the system message contains `keyword` (case-insensitive).
struct SimPitfall {
  std::string name;        // short id, e.g. "inclusive-range"
  std::string keyword;     // phrase an experience must contain to help
  std::string experience;  // the lesson the simulated learner distils
};
const std::vector<SimPitfall>& SimPitfalls();
// The pitfalls of web-research questions (an agent offered `search`/`browse`): answering from the
// search snippets instead of the page, and answering from memory without searching. Each
// question hides one, chosen by a hash of its text.
const std::vector<SimPitfall>& SimWebPitfalls();

// The many-topics world (retrieval): 24 task types ("in the glacier ledger ..."), each helped
// only by its own experience (keyword "<word> rule"). With the right experience in the prompt, a
// rollout succeeds with p_success_with when the prompt holds at most kSimTopicAttention
// experiences, and with a share kSimTopicAttention / shown of the gain beyond: the model finds the
// one that matters less often the more it is shown.
inline constexpr double kSimTopicAttention = 4;
const std::vector<SimPitfall>& SimTopicPitfalls();
// `n` tasks {"id","problem","groundtruth","pitfall"}, each block of 24 holding every topic once.
std::vector<nlohmann::json> GenerateSimTopicTasks(int n, uint64_t seed);

// examples/web's offline data, compiled in (JSONL texts): pages {"url","title","text"} about a
// fictional archipelago, and questions {"id","problem","groundtruth","url"} answered by them.
// The simulator's web agent learns on these in `tfgrpo demo --web`.
struct SimWebExample {
  const char* corpus;
  const char* train;
  const char* eval;
};
const SimWebExample& BuiltinWebExample();

// examples/agents' agent programs, compiled in for `tfgrpo demo --agent`: the folder name
// ("python", "openai-sdk", ...), the file to write ("agent.py"), the interpreter that runs it
// ("python3", "node") and the program's text. The node ones need their npm packages at run time.
struct SimAgentExample {
  const char* name;
  const char* file;
  const char* interpreter;
  const char* source;
};
const std::vector<SimAgentExample>& BuiltinAgentExamples();

// `n` tasks as JSONL-ready objects {"id","problem","groundtruth","pitfall"}; deterministic in
// (n, seed); each pitfall appears about equally often.
std::vector<nlohmann::json> GenerateSimTasks(int n, uint64_t seed);

// Failure modes of the simulated learner, to test the defences against a learner that is wrong
// (all off by default).
struct SimHostility {
  // The consolidation stage sometimes (about one call in three) turns the best-credited
  // experience into a harmful one (an UPDATE appending kSimHarmfulLesson, which keeps its credit)
  // or adds kSimHarmfulLesson to an empty library. Rollouts whose system prompt holds it almost
  // always fail, so their groups stop being informative.
  bool harmful = false;
  // The advantage stage copies the task's problem and its answer into a lesson.
  bool copy_answers = false;
  // The group update stage pads the library: three filler lessons before its real ones.
  bool pad = false;
  // The consolidation stage replies garbage (JSON cut off mid-array) to about two calls in three,
  // drawn from the seed and the call id, so a retry may get a usable reply. Not part of "all".
  bool garbage = false;
  bool any() const { return harmful || copy_answers || pad || garbage; }
};
// The harmful lesson, word for word; every harmful experience contains it.
extern const char* const kSimHarmfulLesson;
// "harmful,copy,pad,garbage" or "all" (harmful, copy and pad; or "none") -> the modes; InvalidArgument naming a bad item.
Result<SimHostility> ParseSimHostility(const std::string& list);

struct SimOptions {
  uint64_t seed = 0;
  double latency_ms_mean = 0;  // per request, heavy-tailed (log-normal) around the mean
  double fault_rate = 0;       // probability that a request gets a fault instead of an answer
  double p_success_without = 0.15;  // rollout success without the right experience
  double p_success_with = 0.9;      // ... with it
  double p_success_harmful = 0.02;  // ... when the system prompt holds kSimHarmfulLesson
  SimHostility hostile{};
  // The judge role grades every answer CORRECT, whatever it says: a model grading its own
  // answers leniently. Every group then looks uniform, so nothing is learned from it.
  bool lenient_judge = false;
};

// Pure request -> response logic (no HTTP): the OpenAI chat completion object for a request
// body, given the role header and call id. Same inputs and seed, same output.
class SimModel {
 public:
  explicit SimModel(SimOptions options);
  ~SimModel();
  nlohmann::json Respond(const nlohmann::json& body, const std::string& role,
                         const std::string& call_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct SimRequestLog {
  std::string role;
  std::string call_id;
  std::string body_fingerprint;
  int status = 0;  // HTTP status sent (0 = connection dropped)
};

// The simulator as an HTTP server on 127.0.0.1: POST /v1/chat/completions, GET /v1/models,
// GET /health. Port 0 picks a free port. Like a strict provider, it answers 400 to a malformed
// body and to a broken tool history (a tool call left unanswered, a tool message answering
// nothing). Rollouts that declare a `python` tool, or whose system message explains ```python
// blocks, get the agent protocol: a tool call first, the final answer after its output.
// Rollouts offered `search` (and `browse`) on a question outside the math family get the web
// agent: search the key terms, open the top result, answer with the page's best sentence (the
// careful path; answering from the snippets or from memory are its pitfalls). Role `browse`
// gets the sentences of the page that serve the goal. Rollouts offered other native tools (the
// user's own agent, task.mode external) get a call to the first tool, its first required string
// parameter filled with the problem, until a tool has been called; then the prompt-mode answer.
// A body with `stream: true` is answered as chat.completion.chunk server-sent events (tool-call
// deltas included; `stream_options.include_usage` honoured), ending with `data: [DONE]`.
class SimServer {
 public:
  explicit SimServer(SimOptions options);
  ~SimServer();
  Status Start(int port);  // returns once listening
  void Stop();
  int port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT/v1"
  std::vector<SimRequestLog> RequestLog() const;
  int64_t requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tfgrpo
