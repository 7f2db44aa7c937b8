// The ReAct loop of agent mode: call the model, run the tool calls it asks for (by name, from the
// rollout's ToolRegistry), return their output, and repeat until a reply asks for no tool, or
// max_turns or timeout_s is reached. Native protocol: OpenAI `tools` / `tool_calls` / role "tool"
// messages. Text protocol: ```tool blocks ({"name", "arguments"} JSON, any tool) and ```python
// blocks (the python tool's code) in the reply, run in order, all outputs returned in one user
// message.
#include <chrono>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "agent/agent_internal.h"
#include "tfgrpo/json.h"
#include "tfgrpo/secrets.h"
#include "tfgrpo/util.h"

namespace tfgrpo::agent_internal {

namespace {

using Clock = std::chrono::steady_clock;

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

// Bytes from `at` up to (not past) `n` UTF-8 characters forward.
size_t Utf8Advance(std::string_view text, size_t at, size_t n) {
  for (; at < text.size() && n > 0; --n) {
    ++at;
    while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
  }
  return at;
}

size_t Utf8Length(std::string_view text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

// `text` when it has at most `max_chars` characters (0 = no limit); else its first and last
// max_chars/2 characters around a note saying how many were left out. The learner needs both
// ends: what a tool was asked and started printing, and how it ended (the result, the error).
std::string ElideMiddle(std::string_view text, size_t max_chars) {
  const size_t length = max_chars == 0 ? 0 : Utf8Length(text);
  if (max_chars == 0 || length <= max_chars) return std::string(text);
  const size_t head_chars = max_chars / 2, tail_chars = max_chars - head_chars;
  const size_t head_end = Utf8Advance(text, 0, head_chars);
  const size_t tail_start = Utf8Advance(text, head_end, length - head_chars - tail_chars);
  return std::string(text.substr(0, head_end)) + "\n[... " + std::to_string(length - head_chars - tail_chars) +
         " characters omitted ...]\n" + std::string(text.substr(tail_start));
}

namespace {

std::string Fenced(std::string_view body, std::string_view lang = "") {
  std::string out = "```" + std::string(lang) + "\n" + std::string(body);
  if (out.back() != '\n') out += '\n';
  return out + "```";
}

bool IsPythonFence(std::string_view info) {
  std::string lang = ToLower(Trim(info));
  return lang == "python" || lang == "python3" || lang == "py";
}

bool IsToolFence(std::string_view info) { return ToLower(Trim(info)) == "tool"; }

// One call of the text protocol: a ```python block (the python tool's code) or a ```tool block
// (JSON naming any tool and its arguments).
struct TextBlock {
  bool python = false;
  std::string body;
};

// The ```python (also ```python3, ```py; only when `python` is offered) and ```tool blocks of
// `text`, in order. A block left open (a reply cut at max_tokens) runs to the end of the text;
// running it shows the model the error rather than silently treating the reply as an answer.
std::vector<TextBlock> ToolBlocks(std::string_view text, bool python) {
  std::vector<TextBlock> blocks;
  std::vector<std::string> lines = SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string opening = Trim(lines[i]);
    if (!StartsWith(opening, "```")) continue;
    std::string_view info = std::string_view(opening).substr(3);
    const bool is_python = python && IsPythonFence(info);
    if (!is_python && !IsToolFence(info)) continue;
    std::string body;
    size_t j = i + 1;
    for (; j < lines.size() && !StartsWith(Trim(lines[j]), "```"); ++j) body += lines[j] + "\n";
    blocks.push_back({is_python, std::move(body)});
    i = j;
  }
  return blocks;
}

std::string ToolNames(const ToolRegistry* tools) {
  std::string names;
  if (tools != nullptr) {
    for (const auto& tool : tools->tools()) names += (names.empty() ? "" : ", ") + tool->spec().name;
  }
  return names;
}

std::string AvailableTools(const ToolRegistry* tools) {
  std::string names = ToolNames(tools);
  return names.empty() ? "no tools are available; answer without a tool call"
                       : "the available tools are: " + names;
}

// Tool-call arguments: a JSON string per the OpenAI format (some servers send the object itself,
// or nothing for a tool without parameters). The arguments object, or nullopt when unusable.
std::optional<nlohmann::json> ArgumentsObject(const nlohmann::json& arguments) {
  if (arguments.is_null()) return nlohmann::json::object();
  nlohmann::json parsed = arguments;
  if (arguments.is_string()) {
    const std::string& text = arguments.get_ref<const std::string&>();
    if (Trim(text).empty()) return nlohmann::json::object();
    parsed = ParseUntrustedJson(text);
  }
  if (!parsed.is_object()) return std::nullopt;
  return parsed;
}

std::string RawText(const nlohmann::json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

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

// What the model sees of one call: the tool's text, marked when it is an error; empty output
// would look like a failure, so it says there was none. Every tool output reaches the history
// and the transcript through here, so this is where bytes that are not UTF-8 (python printing
// raw bytes, an MCP server, a fetched page) become U+FFFD: the next request body is JSON, and
// invalid UTF-8 would make it fail to serialize or be refused by the provider. It is also where
// every run secret is redacted (a tool may print what it found in its environment).
std::string ForModel(const ToolOutput& output) {
  const std::string text = RedactRunSecrets(SanitizeUtf8(output.text));
  if (output.is_error) return "Error: " + text;
  if (Trim(text).empty()) return "(no output)";
  return text;
}

// A call the loop could not hand to a tool (unknown name, unusable arguments): an error for the
// model, never a failed rollout.
ToolOutput CallError(std::string message, const ToolRegistry* tools) {
  return ToolOutput{std::move(message) + "; " + AvailableTools(tools), true};
}

// Runs one call. Unknown names and unusable arguments come back as errors for the model; only a
// tool that cannot work at all (a non-OK status) fails the rollout.
Result<ToolOutput> Dispatch(const ToolRegistry* tools, const std::string& name,
                            const nlohmann::json& raw_arguments, const ToolCallContext& context) {
  Tool* tool = tools != nullptr ? tools->Find(name) : nullptr;
  if (tool == nullptr) return CallError("unknown tool \"" + Clip(name, 64) + "\"", tools);
  std::optional<nlohmann::json> arguments = ArgumentsObject(raw_arguments);
  if (!arguments) {
    return CallError("the arguments of " + name + " must be a JSON object like " +
                         ExampleArguments(tool->spec().parameters).dump() + ", got: " +
                         Clip(RawText(raw_arguments), kQuotedArgumentBytes),
                     tools);
  }
  try {
    auto ran = tool->Run(*arguments, context);
    if (!ran.ok()) return ran.status().WithContext("tool " + name);
    return std::move(ran).value();
  } catch (const std::exception& e) {
    // A tool must report failures as a Status; one that throws is a bug, not the model's doing.
    return Status::Internal("tool " + name + " threw: " + e.what());
  }
}

// The ToolCallContext of the `index`-th (0-based) call asked for in `turn`; see tool.h.
// `deadline` is when the rollout's task.timeout_s runs out.
ToolCallContext CallContext(const RolloutSpec& spec, int turn, size_t index, Clock::time_point deadline) {
  return ToolCallContext{spec.call_id + "/turn" + std::to_string(turn) + "/call" + std::to_string(index), deadline};
}

// Builds the learner-facing transcript turn by turn.
class Transcript {
 public:
  explicit Transcript(TranscriptLimits limits) : limits_(limits) {}
  void Assistant(int turn, std::string_view content, std::string_view reasoning,
                 bool final_answer) {
    text_ += text_.empty() ? "" : "\n\n";
    text_ += "Step " + std::to_string(turn + 1) + " (assistant" +
             (final_answer ? ", final answer" : "") + "):\n";
    if (!Trim(reasoning).empty()) {
      text_ +=
          "[reasoning]\n" + ElideMiddle(Trim(reasoning), limits_.item_chars) + "\n[/reasoning]\n";
    }
    std::string shown = ElideMiddle(Trim(content), limits_.item_chars);
    text_ += shown.empty() ? "(no text)" : shown;
  }
  // A native call (text-protocol calls are in the assistant's text already).
  void Call(int n, std::string_view name, std::string_view code_or_arguments, bool is_code) {
    text_ += "\n\nTool call " + std::to_string(n) + ": " + std::string(name) + "\n";
    text_ += Fenced(ElideMiddle(code_or_arguments, limits_.item_chars), is_code ? "python" : "");
  }
  // `block`: the text protocol's block the output belongs to (0 for a native call, whose call
  // line names the tool already).
  void Output(int n, std::string_view name, std::string_view output, size_t block = 0) {
    text_ += block ? "\n\nTool output " + std::to_string(n) + " (" + std::string(name) +
                         " block " + std::to_string(block) + "):\n"
                   : "\nTool output " + std::to_string(n) + ":\n";
    text_ += Fenced(ElideMiddle(output, limits_.item_chars));
  }
  void Note(const std::string& note) { text_ += "\n\n[" + note + "]"; }
  std::string Take() { return ElideMiddle(text_, limits_.total_chars); }

 private:
  TranscriptLimits limits_;
  std::string text_;
};

// A text-protocol block as a call: python blocks call the python tool with their code; a ```tool
// block holds {"name": ..., "arguments": {...}}. `name` stays empty when the block names nothing
// usable, and `error` then says why.
struct TextCall {
  std::string name;
  nlohmann::json arguments;
  std::string error;
};

TextCall ReadTextCall(const TextBlock& block, const ToolRegistry* tools) {
  if (block.python) return {"python", nlohmann::json{{"code", block.body}}, ""};
  nlohmann::json call = ParseUntrustedJson(block.body);
  if (call.is_object()) {
    auto name = call.find("name");
    if (name != call.end() && name->is_string() && !name->get_ref<const std::string&>().empty()) {
      auto arguments = call.find("arguments");
      return {name->get<std::string>(), arguments == call.end() ? nlohmann::json() : *arguments, ""};
    }
  }
  return {"", nlohmann::json(),
          CallError("a ```tool block must hold one JSON object {\"name\": \"<tool>\", \"arguments\": "
                    "{...}}, got: " + Clip(Trim(block.body), kQuotedArgumentBytes),
                    tools)
              .text};
}

// How a text-protocol output is introduced: "Python output" for python, "<tool> output" for the
// others, "Tool output" when the block named no tool.
std::string OutputLabel(const std::string& name) {
  if (name == "python") return "Python output";
  return (name.empty() ? std::string("Tool") : name) + " output";
}

}  // namespace

Result<RolloutOutcome> RunAgentLoop(ChatClient& client, const RolloutSpec& spec,
                                    const TaskConfig& task, const ToolRegistry* tools) {
  const bool native = task.tool_protocol == ToolProtocol::kNative;
  if (task.max_turns < 1) {
    return Status::InvalidArgument("task.max_turns: expected at least 1, got " +
                                   std::to_string(task.max_turns));
  }
  if (tools != nullptr && tools->empty()) tools = nullptr;
  // Some providers reject an empty `tools` array: with no tools, the request declares none.
  const nlohmann::json declared = tools != nullptr ? tools->OpenAiTools() : nlohmann::json();
  const bool python_offered = tools != nullptr && tools->Find("python") != nullptr;

  const auto start = Clock::now();
  // task.timeout_s past the start; far timeouts (1e300 s) saturate instead of overflowing.
  const Clock::time_point deadline =
      task.timeout_s >= 1e9 ? Clock::time_point::max()
                            : start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(task.timeout_s));
  auto elapsed_s = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

  std::vector<Message> history = {{"system", spec.system_prompt}, {"user", spec.problem}};
  RolloutOutcome out;
  out.messages = nlohmann::json::array({{{"role", "system"}, {"content", spec.system_prompt}},
                                        {{"role", "user"}, {"content", spec.problem}}});
  Transcript transcript(spec.transcript);
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
    if (native && !declared.is_null()) req.extra_body = {{"tools", declared}};
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
    std::vector<TextBlock> blocks;
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
    } else if (tools != nullptr) {
      blocks = ToolBlocks(r->content, python_offered);
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
      for (size_t i = 0; i < tool_calls.size(); ++i) {
        const nlohmann::json& call = tool_calls[i];
        const int n = ++out.tool_calls;
        const nlohmann::json function = call.contains("function") && call["function"].is_object()
                                            ? call["function"]
                                            : nlohmann::json::object();
        const std::string name = StringOr(function, "name", "(unnamed)");
        const nlohmann::json arguments =
            function.contains("arguments") ? function["arguments"] : nlohmann::json();
        // The learner reads python code as code, not as an escaped JSON string.
        std::optional<nlohmann::json> parsed = ArgumentsObject(arguments);
        if (name == "python" && parsed && parsed->contains("code") && (*parsed)["code"].is_string()) {
          transcript.Call(n, name, (*parsed)["code"].get<std::string>(), true);
        } else {
          transcript.Call(n, name, parsed ? parsed->dump() : RawText(arguments), false);
        }
        auto ran = Dispatch(tools, name, arguments, CallContext(spec, turn, i, deadline));
        if (!ran.ok()) return ran.status();
        const std::string output = ForModel(*ran);
        transcript.Output(n, name, output);
        const std::string id = StringOr(call, "id");
        history.push_back({"tool", output, {{"tool_call_id", id}}});
        out.messages.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", output}});
      }
    } else {
      std::string reply;
      for (size_t i = 0; i < blocks.size(); ++i) {
        const int n = ++out.tool_calls;
        TextCall call = ReadTextCall(blocks[i], tools);
        std::string output;
        if (call.name.empty()) {
          output = ForModel(ToolOutput{call.error, true});
        } else {
          auto ran = Dispatch(tools, call.name, call.arguments, CallContext(spec, turn, i, deadline));
          if (!ran.ok()) return ran.status();
          output = ForModel(*ran);
        }
        transcript.Output(n, call.name.empty() ? "tool" : call.name, output, i + 1);
        reply += reply.empty() ? "" : "\n\n";
        reply += OutputLabel(call.name) +
                 (blocks.size() == 1 ? std::string(":\n") : " of block " + std::to_string(i + 1) + ":\n");
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
