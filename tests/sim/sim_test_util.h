// Helpers shared by the simulator tests: request bodies in the engine's shape and small local
// parsers for the documented reply formats (kept independent of the library module).
#pragma once

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "tfgrpo/library.h"
#include "tfgrpo/sim.h"
#include "tfgrpo/util.h"

namespace tfgrpo::simtest {

inline const char* kInstructions = "Solve the problem. Put the final answer in \\boxed{}.";

// The engine's rollout system message: instructions, then the library under its heading.
inline std::string SystemWithLibrary(const std::vector<std::string>& experiences) {
  std::string s = kInstructions;
  if (experiences.empty()) return s;
  s += "\n\n" + std::string(kLibraryHeading);
  for (size_t i = 0; i < experiences.size(); ++i) {
    s += "\n[G" + std::to_string(i) + "]. " + experiences[i];
  }
  return s;
}

inline nlohmann::json Body(const std::string& system, const std::string& user,
                           double temperature = 0.7) {
  nlohmann::json messages = nlohmann::json::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  messages.push_back({{"role", "user"}, {"content", user}});
  return {{"model", "sim-1"}, {"messages", messages}, {"temperature", temperature}};
}

inline std::string Content(const nlohmann::json& response) {
  return response["choices"][0]["message"]["content"].get<std::string>();
}

// The content of the last \boxed{...} (no nesting needed for the simulator's answers).
inline std::string Boxed(const std::string& text) {
  size_t pos = text.rfind("\\boxed{");
  if (pos == std::string::npos) return "";
  size_t end = text.find('}', pos);
  return text.substr(pos + 7, end - pos - 7);
}

// Items of <Experiences>...</Experiences>; empty when the tags are missing.
inline std::vector<std::string> ExperienceItems(const std::string& reply) {
  std::vector<std::string> items;
  size_t open = reply.find("<Experiences>");
  size_t close = reply.find("</Experiences>");
  if (open == std::string::npos || close == std::string::npos || close < open) return items;
  std::string inside = reply.substr(open + 13, close - open - 13);
  static const std::regex item_re(R"(^\s*\d+\.\s+(.+)$)");
  for (const auto& line : SplitLines(inside)) {
    std::smatch m;
    if (std::regex_match(line, m, item_re)) items.push_back(m[1].str());
  }
  return items;
}

// The array inside the last ```json fence; `discarded` json when absent or unparsable.
inline nlohmann::json FencedJson(const std::string& reply) {
  size_t open = reply.rfind("```json");
  if (open == std::string::npos) return nlohmann::json(nlohmann::json::value_t::discarded);
  size_t start = reply.find('\n', open);
  size_t close = reply.find("```", start);
  if (start == std::string::npos || close == std::string::npos) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  return nlohmann::json::parse(reply.substr(start, close - start), nullptr, false);
}

inline int PitfallIndexByName(const std::string& name) {
  const auto& p = SimPitfalls();
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace tfgrpo::simtest
