// SimModel: request body + role + call id -> OpenAI chat.completion object. The answer is a pure
// function of (seed, body, role, call id); only the prefix-cache count in usage depends on what
// this instance has seen before.
#include <algorithm>
#include <mutex>
#include <unordered_set>

#include "sim/sim_internal.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

namespace {

constexpr size_t kCacheBlockChars = 64;
// Bounds the memory of a long-running `tfgrpo sim serve`; clearing is a cache eviction.
constexpr size_t kMaxCachedBlocks = size_t{1} << 21;

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

using sim_internal::ContentText;

// The arguments of an assistant message's tool calls, concatenated (they cost tokens too).
std::string ToolCallArguments(const nlohmann::json& message) {
  std::string out;
  if (!message.is_object()) return out;
  auto calls = message.find("tool_calls");
  if (calls == message.end() || !calls->is_array()) return out;
  for (const auto& call : *calls) {
    if (call.is_object() && call.contains("function") && call["function"].is_object() &&
        call["function"].contains("arguments") && call["function"]["arguments"].is_string()) {
      out += call["function"]["arguments"].get<std::string>();
    }
  }
  return out;
}

struct Conversation {
  std::string system;      // all system messages, joined
  std::string user;        // the last user message
  std::string first_user;  // the first user message (an agent's problem)
  std::string all;         // every message's content, joined
  std::string contents;    // every message's content and tool-call arguments (for token counts)
  int assistant_turns = 0;
  size_t opening = 0;      // messages before the first assistant message
};

Conversation ReadConversation(const nlohmann::json& messages) {
  Conversation c;
  if (!messages.is_array()) return c;
  bool first_user_seen = false;
  for (const auto& m : messages) {
    std::string role = m.is_object() ? m.value("role", std::string()) : std::string();
    std::string text = ContentText(m);
    if (role == "system") c.system += (c.system.empty() ? "" : "\n") + text;
    if (role == "user") c.user = text;
    if (role == "user" && !first_user_seen) {
      c.first_user = text;
      first_user_seen = true;
    }
    if (role == "assistant") ++c.assistant_turns;
    if (c.assistant_turns == 0) ++c.opening;
    c.all += (c.all.empty() ? "" : "\n") + text;
    c.contents += text + ToolCallArguments(m);
  }
  if (c.user.empty()) c.user = c.all;  // no user turn: treat everything as the problem
  if (c.first_user.empty()) c.first_user = c.user;
  return c;
}

enum class AgentProtocol { kNone, kNative, kText };
enum class AgentKind { kPython, kWeb, kTool };

struct DetectedAgent {
  AgentProtocol protocol = AgentProtocol::kNone;
  AgentKind kind = AgentKind::kPython;
  sim_internal::OfferedTools offered;
};

// A rollout is an agent's when it offers the python tool: natively (a function in `tools`) or in
// the text protocol's tool list; a system message that shows a ```python fence without a tool
// list is a text-protocol agent too (what the protocol looked like before other tools existed).
// Offered `search` or `browse` on a problem outside the math family (a question to research), it
// is a web agent. Offered native tools that are none of these, it is the user's own agent
// (ToolAgentRolloutReply).
DetectedAgent DetectAgent(const nlohmann::json& body, const Conversation& conv) {
  DetectedAgent agent;
  agent.offered = sim_internal::ReadOfferedTools(body, conv.system);
  const auto& names = agent.offered.names;
  auto offers = [&](const char* name) { return std::find(names.begin(), names.end(), name) != names.end(); };
  const bool python = offers("python"), web = offers("search") || offers("browse");
  if (web && !sim_internal::FindFamilyProblem(conv.first_user)) {
    agent.kind = AgentKind::kWeb;
    agent.protocol = agent.offered.native ? AgentProtocol::kNative : AgentProtocol::kText;
    return agent;
  }
  if (agent.offered.native && !python && !web && !names.empty()) {
    // The user's own agent with its own tools (through the gateway or `serve`).
    agent.kind = AgentKind::kTool;
    agent.protocol = AgentProtocol::kNative;
    return agent;
  }
  if (agent.offered.native) agent.protocol = python ? AgentProtocol::kNative : AgentProtocol::kNone;
  else if (agent.offered.listed) agent.protocol = python ? AgentProtocol::kText : AgentProtocol::kNone;
  else if (conv.system.find("```python") != std::string::npos) agent.protocol = AgentProtocol::kText;
  return agent;
}

// The part of an agent call id shared by all turns of one rollout: "<id>/turn3" (the built-in
// agent) and "<id>/a3" (the gateway's k-th call of an external agent) -> "<id>".
std::string RolloutCallId(const std::string& call_id) {
  const size_t slash = call_id.rfind('/');
  if (slash == std::string::npos) return call_id;
  std::string_view last = std::string_view(call_id).substr(slash + 1);
  if (last.starts_with("turn")) last.remove_prefix(4);
  else if (last.starts_with("a")) last.remove_prefix(1);
  else return call_id;
  const bool numbered = !last.empty() && std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
  return numbered ? call_id.substr(0, slash) : call_id;
}

}  // namespace

struct SimModel::Impl {
  SimOptions options;
  std::mutex mu;
  std::unordered_set<uint64_t> seen_prefixes;

  // Characters of `serialized` covered by whole 64-char blocks whose prefix was seen before;
  // then remembers every block prefix of this request.
  size_t CachedPrefixChars(const std::string& serialized) {
    std::vector<uint64_t> prefix_hashes;
    uint64_t h = Fnv1a64("");
    for (size_t start = 0; start + kCacheBlockChars <= serialized.size();
         start += kCacheBlockChars) {
      h = Fnv1a64(std::string_view(serialized).substr(start, kCacheBlockChars), h);
      prefix_hashes.push_back(h);
    }
    std::lock_guard<std::mutex> lock(mu);
    size_t matched = 0;
    while (matched < prefix_hashes.size() && seen_prefixes.count(prefix_hashes[matched])) ++matched;
    if (seen_prefixes.size() + prefix_hashes.size() > kMaxCachedBlocks) seen_prefixes.clear();
    seen_prefixes.insert(prefix_hashes.begin(), prefix_hashes.end());
    return matched * kCacheBlockChars;
  }
};

SimModel::SimModel(SimOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
}

SimModel::~SimModel() = default;

nlohmann::json SimModel::Respond(const nlohmann::json& body, const std::string& role,
                                 const std::string& call_id) {
  using namespace sim_internal;
  const SimOptions& opt = impl_->options;
  nlohmann::json messages =
      body.is_object() && body.contains("messages") ? body["messages"] : nlohmann::json::array();
  Conversation conv = ReadConversation(messages);
  std::string body_text = Dump(body);
  std::string role_name = ToLower(Trim(role));

  std::string reply;
  sim_internal::AgentReply agent;
  bool is_agent = false;
  try {
    if (role_name == "summary") {
      reply = SummaryReply(conv.all);
    } else if (role_name == "advantage") {
      reply = AdvantageReply(conv.all, opt.hostile);
    } else if (role_name == "group_update") {
      reply = GroupUpdateReply(conv.all, opt.hostile);
    } else if (role_name == "batch_update") {
      reply = BatchUpdateReply(conv.all, opt.hostile, std::to_string(opt.seed) + "/" + call_id);
    } else if (role_name == "judge") {
      reply = opt.lenient_judge ? "The response looks right to me.\nGRADE: CORRECT" : JudgeReply(conv.all);
    } else if (role_name == "browse") {
      reply = BrowseSummaryReply(conv.all);
    } else if (DetectedAgent detected = DetectAgent(body, conv); detected.protocol != AgentProtocol::kNone) {
      // An agent's turns share one draw, from the opening messages and the rollout's call id,
      // so the final answer follows the path its tool call took.
      nlohmann::json draw_body = body;
      draw_body.erase("temperature");
      draw_body.erase("tools");
      draw_body.erase("stream");  // streamed or not, the same answer
      draw_body.erase("stream_options");
      nlohmann::json opening = nlohmann::json::array();
      for (size_t i = 0; i < conv.opening && i < messages.size(); ++i) {
        opening.push_back(messages[i]);
      }
      draw_body["messages"] = opening;
      uint64_t state =
          opt.seed ^ Fnv1a64(RolloutCallId(call_id), Fnv1a64(Dump(draw_body) + '\x1f'));
      uint64_t draw_seed = SplitMix64(state);
      if (detected.kind == AgentKind::kWeb) {
        agent = WebAgentRolloutReply(messages, detected.offered, conv.system, conv.first_user, draw_seed, opt);
      } else if (detected.kind == AgentKind::kTool) {
        agent = ToolAgentRolloutReply(body, conv.system, conv.first_user, draw_seed, opt);
      } else {
        agent = AgentRolloutReply(conv.system, conv.first_user, conv.assistant_turns,
                                  detected.protocol == AgentProtocol::kNative, draw_seed, opt);
      }
      is_agent = true;
      reply = agent.content.is_string() ? agent.content.get<std::string>() : "";
    } else {
      // rollout, and anything unknown: answer the problem. The draw ignores the temperature,
      // so training (0.7) and evaluation (0.3) samples follow the same success probabilities.
      nlohmann::json draw_body = body;
      if (draw_body.is_object()) {
        draw_body.erase("temperature");
        draw_body.erase("stream");  // streamed or not, the same answer
        draw_body.erase("stream_options");
      }
      uint64_t state = opt.seed ^ Fnv1a64(call_id, Fnv1a64(Dump(draw_body) + '\x1f'));
      uint64_t draw_seed = SplitMix64(state);
      reply = RolloutReply(conv.system, conv.user, draw_seed, opt);
    }
  } catch (const std::exception& e) {
    // A parsing corner case must not take the simulator down; answer something well-formed.
    reply =
        std::string("I could not work this out (") + e.what() + ").\n\nThe answer is \\boxed{0}.";
    is_agent = false;
  }

  int64_t prompt_tokens = ApproxTokens(conv.contents);
  int64_t completion_tokens = ApproxTokens(reply + (is_agent ? agent.arguments_text : ""));
  int64_t cached_tokens = std::min<int64_t>(
      prompt_tokens, static_cast<int64_t>(impl_->CachedPrefixChars(Dump(messages)) / 4));

  std::string model = body.is_object() && body.contains("model") && body["model"].is_string()
                          ? body["model"].get<std::string>()
                          : "sim-1";
  nlohmann::json message = {{"role", "assistant"}, {"content", reply}};
  std::string finish_reason = "stop";
  if (is_agent) {
    message["content"] = agent.content;
    if (!agent.tool_calls.empty()) message["tool_calls"] = agent.tool_calls;
    finish_reason = agent.finish_reason;
  }
  return {
      {"id", "chatcmpl-sim-" +
                 Fingerprint(body_text + '\x1f' + role_name + '\x1f' + call_id).substr(0, 24)},
      {"object", "chat.completion"},
      {"created", 0},
      {"model", model},
      {"choices",
       nlohmann::json::array(
           {{{"index", 0}, {"message", message}, {"finish_reason", finish_reason}}})},
      {"usage",
       {{"prompt_tokens", prompt_tokens},
        {"completion_tokens", completion_tokens},
        {"total_tokens", prompt_tokens + completion_tokens},
        {"prompt_cache_hit_tokens", cached_tokens},
        {"prompt_cache_miss_tokens", prompt_tokens - cached_tokens},
        {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}}},
  };
}

}  // namespace tfgrpo
