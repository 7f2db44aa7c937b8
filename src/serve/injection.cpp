// The pure parts of `tfgrpo serve`: putting the library into a request body, and parsing the
// --listen and --model-map flags.

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>
#include <cstring>

#include "tfgrpo/retrieval.h"
#include "tfgrpo/serve.h"
#include "tfgrpo/util.h"

namespace tfgrpo {

namespace {

// Index of the message that receives the library: first "system", else first "developer".
std::optional<size_t> TargetMessage(const nlohmann::ordered_json& messages) {
  std::optional<size_t> developer;
  for (size_t i = 0; i < messages.size(); ++i) {
    auto role = messages[i].find("role");
    if (role == messages[i].end() || !role->is_string()) continue;
    const auto& r = role->get_ref<const std::string&>();
    if (r == "system") return i;
    if (r == "developer" && !developer) developer = i;
  }
  return developer;
}

}  // namespace

Result<bool> InjectLibrary(nlohmann::ordered_json& body, const Library& library) {
  return InjectLibrary(body, library, AllPositions(library.size()));
}

std::string UserMessagesText(const nlohmann::ordered_json& body) {
  std::string out;
  auto messages = body.is_object() ? body.find("messages") : body.end();
  if (!body.is_object() || messages == body.end() || !messages->is_array()) return out;
  auto add = [&out](const std::string& text) {
    if (!out.empty()) out += '\n';
    out += text;
  };
  for (const auto& m : *messages) {
    if (!m.is_object() || m.value("role", nlohmann::ordered_json()) != "user") continue;
    auto content = m.find("content");
    if (content == m.end()) continue;
    if (content->is_string()) add(content->get<std::string>());
    if (content->is_array())
      for (const auto& part : *content)
        if (part.is_object() && part.value("type", nlohmann::ordered_json()) == "text" && part.contains("text") &&
            part["text"].is_string())
          add(part["text"].get<std::string>());
  }
  return out;
}

Result<bool> InjectLibrary(nlohmann::ordered_json& body, const Library& library, const std::vector<size_t>& positions) {
  auto render = [&](std::string_view base) { return AppendLibrary(base, library, positions); };
  if (!body.is_object()) return Status::InvalidArgument("request body must be a JSON object");
  auto messages = body.find("messages");
  if (messages == body.end()) {
    return Status::InvalidArgument("request body has no \"messages\" field");
  }
  if (!messages->is_array()) {
    return Status::InvalidArgument("request field \"messages\" must be an array");
  }
  for (size_t i = 0; i < messages->size(); ++i) {
    if (!(*messages)[i].is_object()) {
      return Status::InvalidArgument("messages[" + std::to_string(i) + "] must be an object");
    }
  }
  if (library.empty() || positions.empty()) return false;

  std::optional<size_t> target = TargetMessage(*messages);
  if (!target) {
    nlohmann::ordered_json system = nlohmann::ordered_json::object();
    system["role"] = "system";
    system["content"] = render("");
    messages->insert(messages->begin(), std::move(system));
    return true;
  }

  nlohmann::ordered_json& message = (*messages)[*target];
  auto content = message.find("content");
  if (content == message.end() || content->is_null()) {
    message["content"] = render("");
    return true;
  }
  if (content->is_string()) {
    *content = render(content->get_ref<const std::string&>());
    return true;
  }
  if (content->is_array()) {
    // Appending to the last text part keeps the joined text equal to what training renders.
    for (size_t k = content->size(); k-- > 0;) {
      nlohmann::ordered_json& part = (*content)[k];
      if (!part.is_object()) continue;
      auto type = part.find("type");
      auto text = part.find("text");
      if (type != part.end() && type->is_string() && *type == "text" && text != part.end() &&
          text->is_string()) {
        *text = render(text->get_ref<const std::string&>());
        return true;
      }
    }
    nlohmann::ordered_json part = nlohmann::ordered_json::object();
    part["type"] = "text";
    part["text"] = render("");
    content->push_back(std::move(part));
    return true;
  }
  return Status::InvalidArgument("messages[" + std::to_string(*target) +
                                 "].content must be a string or an array of content parts");
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  std::string t = Trim(text);
  std::string host;
  std::string port_text;
  if (!t.empty() && t.front() == '[') {
    size_t close = t.find(']');
    if (close == std::string::npos || close + 1 >= t.size() || t[close + 1] != ':') {
      return Status::InvalidArgument("--listen \"" + t + "\": expected [IPV6]:PORT");
    }
    host = t.substr(1, close - 1);
    port_text = t.substr(close + 2);
  } else {
    size_t colon = t.rfind(':');
    if (colon == std::string::npos) {
      return Status::InvalidArgument("--listen \"" + t + "\": expected HOST:PORT");
    }
    host = t.substr(0, colon);
    port_text = t.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return Status::InvalidArgument("--listen \"" + t +
                                     "\": write IPv6 addresses in brackets, as [::1]:8080");
    }
    if (host.empty()) host = "127.0.0.1";
  }
  if (host.empty()) return Status::InvalidArgument("--listen \"" + t + "\": empty host");
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument("--listen \"" + t + "\": port must be a number 0-65535");
  }
  int port = std::stoi(port_text);
  if (port > 65535) {
    return Status::InvalidArgument("--listen \"" + t + "\": port must be a number 0-65535");
  }
  return ListenAddress{host, port};
}

bool IsLoopbackHost(std::string_view host) {
  std::string h = ToLower(Trim(host));
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0) return true;
    // ::ffff:127.x.x.x
    static const unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(v6.s6_addr, kMappedPrefix, 12) == 0 && v6.s6_addr[12] == 127;
  }
  return false;
}

Result<std::pair<std::string, std::string>> ParseModelMapping(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return Status::InvalidArgument("--model-map \"" + std::string(text) + "\": expected FROM=TO");
  }
  std::string from = Trim(text.substr(0, eq));
  std::string to = Trim(text.substr(eq + 1));
  if (from.empty() || to.empty()) {
    return Status::InvalidArgument("--model-map \"" + std::string(text) +
                                   "\": FROM and TO must both be non-empty");
  }
  return std::make_pair(from, to);
}

}  // namespace tfgrpo
