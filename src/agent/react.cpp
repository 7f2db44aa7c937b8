// The ReAct loop of agent mode: call the model, run the python tool calls it asks for, return
// their output, and repeat until a reply asks for no tool, or max_turns or timeout_s is reached.
// Native protocol: OpenAI `tools` / `tool_calls` / role "tool" messages. Text protocol: ```python
// blocks in the reply, each run as its own script in order, all outputs returned in one user
// message.
#include <chrono>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "agent/agent_internal.h"
#include "tfgrpo/util.h"

namespace tfgrpo::agent_internal {

namespace {

using Clock = std::chrono::steady_clock;

// The transcript is what the summary prompt sees; a tool that prints megabytes must not crowd
// out the reasoning around it.
constexpr size_t kTranscriptOutputBytes = 2048;
constexpr size_t kTranscriptCodeBytes = 4096;
constexpr size_t kTranscriptReasoningBytes = 2048;
// How much of unusable tool-call arguments to quote back to the model.
constexpr size_t kQuotedArgumentBytes = 200;

// The first `limit` bytes of `text`, cut on a UTF-8 character boundary, plus a marker saying how
// much was left out.
std::string Clip(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "\n[... " + std::to_string(text.size() - cut) +
         " more bytes not shown]";
}

std::string Fenced(std::string_view body, std::string_view lang = "") {
  std::string out = "```" + std::string(lang) + "\n" + std::string(body);
  if (out.back() != '\n') out += '\n';
  return out + "```";
}

bool IsPythonFence(std::string_view info) {
  std::string lang = ToLower(Trim(info));
  return lang == "python" || lang == "python3" || lang == "py";
}

// The bodies of the ```python (also ```python3, ```py) blocks of `text`, in order. A block left
// open (a reply cut at max_tokens) runs to the end of the text; running it shows the model the
// syntax error rather than silently treating the reply as an answer.
std::vector<std::string> PythonBlocks(std::string_view text) {
  std::vector<std::string> blocks;
  std::vector<std::string> lines = SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string opening = Trim(lines[i]);
    if (!StartsWith(opening, "```") || !IsPythonFence(std::string_view(opening).substr(3)))
      continue;
    std::string body;
    size_t j = i + 1;
    for (; j < lines.size() && !StartsWith(Trim(lines[j]), "```"); ++j) body += lines[j] + "\n";
    blocks.push_back(std::move(body));
    i = j;
  }
  return blocks;
}

// A tool call's `function.arguments`: a JSON string per the OpenAI format; some servers send the
// object itself. The code, or nullopt when the arguments are unusable.
std::optional<std::string> CodeFromArguments(const nlohmann::json& arguments) {
  nlohmann::json parsed = arguments;
  if (arguments.is_string()) {
    parsed = nlohmann::json::parse(arguments.get<std::string>(), nullptr, false);
    if (parsed.is_discarded()) return std::nullopt;
  }
  if (!parsed.is_object()) return std::nullopt;
  auto code = parsed.find("code");
  if (code == parsed.end() || !code->is_string()) return std::nullopt;
  return code->get<std::string>();
}

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

std::string StringOr(const nlohmann::json& j, const char* key, std::string fallback = "") {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// What the model sees as a tool's output: empty output would look like a failure, so say why.
std::string ToolOutputForModel(std::string output) {
  if (Trim(output).empty()) return "(no output: print() the values you need to see)";
  return output;
}

// Builds the learner-facing transcript turn by turn.
class Transcript {
 public:
  void Assistant(int turn, std::string_view content, std::string_view reasoning,
                 bool final_answer) {
    text_ += text_.empty() ? "" : "\n\n";
    text_ += "Step " + std::to_string(turn + 1) + " (assistant" +
             (final_answer ? ", final answer" : "") + "):\n";
    if (!Trim(reasoning).empty()) {
      text_ +=
          "[reasoning]\n" + Clip(Trim(reasoning), kTranscriptReasoningBytes) + "\n[/reasoning]\n";
    }
    std::string shown = Trim(content);
    text_ += shown.empty() ? "(no text)" : shown;
  }
  void ToolCall(int n, std::string_view name, std::string_view code_or_arguments, bool is_code) {
    text_ += "\n\nTool call " + std::to_string(n) + ": " + std::string(name) + "\n";
    text_ += Fenced(Clip(code_or_arguments, kTranscriptCodeBytes), is_code ? "python" : "");
  }
  // `block`: the text protocol's python block the output belongs to (0 for a native call).
  void ToolOutput(int n, std::string_view output, size_t block = 0) {
    text_ += block ? "\n\nTool output " + std::to_string(n) + " (python block " +
                         std::to_string(block) + "):\n"
                   : "\nTool output " + std::to_string(n) + ":\n";
    text_ += Fenced(Clip(output, kTranscriptOutputBytes));
  }
  void Note(const std::string& note) { text_ += "\n\n[" + note + "]"; }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace

Result<RolloutOutcome> RunAgentLoop(ChatClient& client, const RolloutSpec& spec,
                                    const TaskConfig& task, ToolRunner* tools) {
  if (tools == nullptr) {
    return Status::InvalidArgument(
        "task.mode: agent needs a python tool runner, but none was given (the caller must create "
        "one with MakePythonToolRunner(config.tools))");
  }
  const bool native = task.tool_protocol == "native";
  if (!native && task.tool_protocol != "text") {
    return Status::InvalidArgument("task.tool_protocol: expected native or text, got '" +
                                   task.tool_protocol + "'");
  }
  if (task.max_turns < 1) {
    return Status::InvalidArgument("task.max_turns: expected at least 1, got " +
                                   std::to_string(task.max_turns));
  }

  const auto start = Clock::now();
  auto elapsed_s = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

  std::vector<Message> history = {{"system", spec.system_prompt}, {"user", spec.problem}};
  RolloutOutcome out;
  out.messages = nlohmann::json::array({{{"role", "system"}, {"content", spec.system_prompt}},
                                        {{"role", "user"}, {"content", spec.problem}}});
  Transcript transcript;
  std::string last_content;

  for (int turn = 0;; ++turn) {
    if (turn >= task.max_turns) {
      out.stop_reason = "max_turns";
      transcript.Note("Stopped: reached task.max_turns = " + std::to_string(task.max_turns) +
                      " before a reply without a tool call");
      break;
    }
    if (turn > 0 && elapsed_s() >= task.timeout_s) {
      out.stop_reason = "timeout";
      transcript.Note("Stopped: exceeded task.timeout_s = " + FormatSeconds(task.timeout_s) +
                      " before a reply without a tool call");
      break;
    }

    ChatRequest req;
    req.role = spec.role;
    req.messages = history;
    req.temperature = spec.temperature;
    req.call_id = spec.call_id + "/turn" + std::to_string(turn);
    if (native) req.extra_body = {{"tools", PythonToolSchema()}};
    auto r = client.Complete(req);
    if (!r.ok()) return r.status().WithContext("agent turn " + std::to_string(turn));
    out.usage += r->usage;
    out.turns = turn + 1;
    last_content = r->content;

    nlohmann::json received = r->message.is_object() && !r->message.empty()
                                  ? r->message
                                  : nlohmann::json{{"role", "assistant"}, {"content", r->content}};
    // Strict servers want the assistant turn back as they sent it: "content" may be null next to
    // "tool_calls". Other fields (reasoning_content, refusal, ...) stay out of the history,
    // since some providers reject them in requests.
    Message assistant{"assistant", r->content};
    assistant.extra = {{"content", received.contains("content") ? received["content"]
                                                                : nlohmann::json(r->content)}};

    nlohmann::json tool_calls = nlohmann::json::array();
    std::vector<std::string> blocks;
    if (native) {
      if (auto it = received.find("tool_calls"); it != received.end() && it->is_array()) {
        tool_calls = *it;
      }
      // A call without an id could not be answered; give it one, in the history too.
      for (size_t i = 0; i < tool_calls.size(); ++i) {
        if (!tool_calls[i].is_object()) tool_calls[i] = nlohmann::json::object();
        if (StringOr(tool_calls[i], "id").empty()) {
          tool_calls[i]["id"] = "call_" + std::to_string(turn) + "_" + std::to_string(i);
        }
      }
      if (!tool_calls.empty()) {
        assistant.extra["tool_calls"] = tool_calls;
        received["tool_calls"] = tool_calls;
      }
    } else {
      blocks = PythonBlocks(r->content);
    }
    history.push_back(std::move(assistant));
    out.messages.push_back(received);

    const bool final_answer = native ? tool_calls.empty() : blocks.empty();
    transcript.Assistant(turn, r->content, r->reasoning_content, final_answer);
    if (final_answer) {
      out.stop_reason = "answer";
      break;
    }

    if (native) {
      for (const auto& call : tool_calls) {
        const int n = ++out.tool_calls;
        const nlohmann::json function = call.contains("function") && call["function"].is_object()
                                            ? call["function"]
                                            : nlohmann::json::object();
        const std::string name = StringOr(function, "name", "(unnamed)");
        const nlohmann::json arguments =
            function.contains("arguments") ? function["arguments"] : nlohmann::json();
        const std::string raw =
            arguments.is_string() ? arguments.get<std::string>() : arguments.dump();
        std::optional<std::string> code =
            name == "python" ? CodeFromArguments(arguments) : std::nullopt;
        std::string output;
        if (name != "python") {
          output = "error: unknown tool \"" + name +
                   "\"; the only tool is python, called with arguments {\"code\": \"...\"}";
          transcript.ToolCall(n, name, raw, false);
        } else if (!code) {
          output = "error: expected arguments {\"code\": \"<python script>\"}, got: " +
                   Clip(raw, kQuotedArgumentBytes);
          transcript.ToolCall(n, name, raw, false);
        } else {
          transcript.ToolCall(n, name, *code, true);
          auto ran = tools->RunPython(*code);
          if (!ran.ok()) return ran.status().WithContext("python tool");
          output = ToolOutputForModel(std::move(ran).value());
        }
        transcript.ToolOutput(n, output);
        const std::string id = StringOr(call, "id");
        history.push_back({"tool", output, {{"tool_call_id", id}}});
        out.messages.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", output}});
      }
    } else {
      std::string reply;
      for (size_t i = 0; i < blocks.size(); ++i) {
        const int n = ++out.tool_calls;
        auto ran = tools->RunPython(blocks[i]);
        if (!ran.ok()) return ran.status().WithContext("python tool");
        std::string output = ToolOutputForModel(std::move(ran).value());
        transcript.ToolOutput(n, output, i + 1);
        reply += reply.empty() ? "" : "\n\n";
        reply += blocks.size() == 1 ? std::string("Python output:\n")
                                    : "Python output of block " + std::to_string(i + 1) + ":\n";
        reply += Fenced(output);
      }
      history.push_back({"user", reply});
      out.messages.push_back({{"role", "user"}, {"content", reply}});
    }
  }

  out.final_reply = last_content;
  out.trajectory = transcript.Take();
  out.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return out;
}

}  // namespace tfgrpo::agent_internal
