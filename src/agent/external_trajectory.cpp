// The learner's view of an external rollout: the gateway calls in arrival order, each shown as
// the messages new since the previous call (the agent's own prompt, tool results) and the model's
// reply (text and tool calls), then the final answer; items and the whole within the transcript
// limits, elided the way the ReAct loop's transcript is (ElideMiddle).
#include "agent/agent_internal.h"
#include "agent/external_internal.h"
#include "tfgrpo/util.h"

namespace tfgrpo::external_internal {
namespace {

// A message's text: a string, or the text parts of a content array ("" for null).
std::string ContentText(const nlohmann::json& message) {
  if (!message.is_object() || !message.contains("content")) return "";
  const nlohmann::json& c = message["content"];
  if (c.is_string()) return c.get<std::string>();
  std::string out;
  if (c.is_array()) {
    for (const auto& part : c) {
      if (part.is_object() && part.contains("text") && part["text"].is_string()) {
        if (!out.empty()) out += "\n";
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

std::string RoleOf(const nlohmann::json& message) {
  return message.is_object() && message.contains("role") && message["role"].is_string()
             ? message["role"].get<std::string>()
             : "";
}

std::string Fence(const std::string& body) {
  std::string out = "```\n" + body;
  if (out.back() != '\n') out += '\n';
  return out + "```";
}

class Writer {
 public:
  explicit Writer(TranscriptLimits limits) : limits_(limits) {}

  void Message(const nlohmann::json& m) {
    const std::string role = RoleOf(m);
    const std::string text = Trim(ContentText(m));
    if (role == "system" || role == "developer") {
      // The agent's instructions with the library injected: the learner has the library already.
      Line("[" + role + " message: " + std::to_string(text.size()) + " characters, the library included]");
    } else if (role == "tool") {
      std::string id = m.contains("tool_call_id") && m["tool_call_id"].is_string()
                           ? m["tool_call_id"].get<std::string>() : "";
      Line("[tool output" + (id.empty() ? "" : " for " + id) + "]\n" + Fence(agent_internal::ElideMiddle(text, limits_.item_chars)));
    } else {
      Line("[" + (role.empty() ? std::string("message") : role) + "]\n" +
           (text.empty() ? "(no text)" : agent_internal::ElideMiddle(text, limits_.item_chars)));
      ToolCalls(m);
    }
  }

  // Returns the tool calls the reply made.
  int Reply(int n, const GatewayCall& call) {
    std::string head = "Reply " + std::to_string(n) + " (assistant";
    if (call.replayed) head += ", from the run store";
    if (call.http_status != 200) {
      Line(head + "): HTTP " + std::to_string(call.http_status) + " " +
           agent_internal::ElideMiddle(call.reply.is_null() ? "" : call.reply.dump(), limits_.item_chars));
      return 0;
    }
    const std::string reasoning = call.reply.is_object() && call.reply.contains("reasoning_content") &&
                                          call.reply["reasoning_content"].is_string()
                                      ? Trim(call.reply["reasoning_content"].get<std::string>())
                                      : "";
    std::string body = head + "):\n";
    if (!reasoning.empty())
      body += "[reasoning]\n" + agent_internal::ElideMiddle(reasoning, limits_.item_chars) + "\n[/reasoning]\n";
    const std::string text = Trim(ContentText(call.reply));
    body += text.empty() ? "(no text)" : agent_internal::ElideMiddle(text, limits_.item_chars);
    Line(body);
    return ToolCalls(call.reply);
  }

  void Header(const std::string& h) { Line(h); }
  std::string Take() { return agent_internal::ElideMiddle(text_, limits_.total_chars); }

 private:
  int ToolCalls(const nlohmann::json& m) {
    if (!m.is_object() || !m.contains("tool_calls") || !m["tool_calls"].is_array()) return 0;
    int n = 0;
    for (const auto& tc : m["tool_calls"]) {
      ++n;
      const nlohmann::json fn = tc.is_object() && tc.contains("function") ? tc["function"] : nlohmann::json();
      std::string name = fn.is_object() && fn.contains("name") && fn["name"].is_string() ? fn["name"].get<std::string>() : "?";
      std::string args;
      if (fn.is_object() && fn.contains("arguments"))
        args = fn["arguments"].is_string() ? fn["arguments"].get<std::string>() : fn["arguments"].dump();
      std::string id = tc.is_object() && tc.contains("id") && tc["id"].is_string() ? tc["id"].get<std::string>() : "";
      text_ += "\nTool call: " + name + (id.empty() ? "" : " (" + id + ")") + "\n" +
               Fence(agent_internal::ElideMiddle(args, limits_.item_chars));
    }
    return n;
  }
  void Line(const std::string& s) {
    if (!text_.empty()) text_ += "\n\n";
    text_ += s;
  }

  TranscriptLimits limits_;
  std::string text_;
};

}  // namespace

CallsView ViewOfCalls(const std::vector<GatewayCall>& calls, std::string_view final_answer, TranscriptLimits limits) {
  CallsView view;
  Writer w(limits);
  nlohmann::json previous = nlohmann::json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const GatewayCall& call = calls[i];
    view.usage += call.usage;
    const Status::Code code = call.status.code();
    if (call.replayed) {
      ++view.replayed;
    } else if (code != Status::Code::kInvalidArgument && code != Status::Code::kBudgetExhausted) {
      ++view.sent;  // the gateway's own refusals (max_turns, a malformed request) and the budget's never left
    }
    const nlohmann::json messages = call.messages.is_array() ? call.messages : nlohmann::json::array();
    // What the agent sends again (its conversation so far) was shown with an earlier call.
    size_t common = 0;
    while (common < previous.size() && common < messages.size() && previous[common] == messages[common]) ++common;
    size_t from = common;
    // The previous reply, echoed back by the agent, was shown as that call's reply.
    if (i > 0 && common == previous.size() && from < messages.size() && RoleOf(messages[from]) == "assistant") ++from;
    w.Header("Call " + std::to_string(i + 1) + ":");
    for (size_t m = from; m < messages.size(); ++m) {
      w.Message(messages[m]);
      view.messages.push_back(messages[m]);
    }
    view.tool_calls += w.Reply(static_cast<int>(i + 1), call);
    if (call.http_status == 200 && call.reply.is_object()) view.messages.push_back(call.reply);
    previous = messages;
  }
  w.Header("Final answer:\n" + (final_answer.empty() ? std::string("(none)")
                                                     : agent_internal::ElideMiddle(final_answer, limits.item_chars)));
  view.trajectory = w.Take();
  return view;
}

std::optional<Status> FatalStatusOfCalls(const std::vector<GatewayCall>& calls) {
  for (const GatewayCall& call : calls) {
    const Status::Code code = call.status.code();
    if (code == Status::Code::kBudgetExhausted || code == Status::Code::kUnauthorized) return call.status;
  }
  return std::nullopt;
}

}  // namespace tfgrpo::external_internal
