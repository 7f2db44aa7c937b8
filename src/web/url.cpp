// URL parsing and reference resolution for links and redirects, and the address classes browse
// refuses to connect to.

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tfgrpo/web.h"

namespace tfgrpo {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The scheme of an absolute reference ("" when `ref` is relative).
std::string SchemeOf(std::string_view ref) {
  if (ref.empty() || !std::isalpha(static_cast<unsigned char>(ref[0]))) return "";
  for (size_t i = 1; i < ref.size(); ++i) {
    const char c = ref[i];
    if (c == ':') return Lower(ref.substr(0, i));
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return "";
  }
  return "";
}

std::string RemoveDotSegments(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  const bool absolute = !path.empty() && path[0] == '/';
  bool trailing = false;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view seg = path.substr(i, j - i);
    trailing = false;
    if (seg == ".") {
      trailing = true;
    } else if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing = true;
    } else if (!(seg.empty() && i == 0 && absolute)) {
      out.emplace_back(seg);
    }
    i = j + 1;
  }
  std::string r = absolute ? "/" : "";
  for (size_t k = 0; k < out.size(); ++k) {
    if (k > 0) r += '/';
    r += out[k];
  }
  if (trailing && (r.empty() || r.back() != '/')) r += '/';
  return r;
}

struct Parts {
  std::string scheme;     // "https"
  std::string authority;  // "host:port"
  std::string path;
  std::string query;      // with '?', or ""
};

bool SplitAbsolute(std::string_view url, Parts& p) {
  p.scheme = SchemeOf(url);
  if (p.scheme.empty()) return false;
  std::string_view rest = url.substr(p.scheme.size() + 1);
  if (rest.substr(0, 2) != "//") return false;
  rest.remove_prefix(2);
  const size_t frag = rest.find('#');
  if (frag != std::string_view::npos) rest = rest.substr(0, frag);
  const size_t end = rest.find_first_of("/?");
  p.authority = std::string(rest.substr(0, end));
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  const size_t q = rest.find('?');
  p.path = std::string(rest.substr(0, q));
  p.query = q == std::string_view::npos ? "" : std::string(rest.substr(q));
  return true;
}

bool IsPrivateV4(uint32_t a) {  // host byte order
  auto in = [a](uint32_t net, int bits) { return bits == 0 || (a >> (32 - bits)) == (net >> (32 - bits)); };
  return in(0x00000000, 8) ||    // 0/8 "this network", 0.0.0.0
         in(0x0A000000, 8) ||    // 10/8
         in(0x64400000, 10) ||   // 100.64/10 carrier-grade NAT
         in(0x7F000000, 8) ||    // 127/8 loopback
         in(0xA9FE0000, 16) ||   // 169.254/16 link-local (cloud metadata)
         in(0xAC100000, 12) ||   // 172.16/12
         in(0xC0000000, 24) ||   // 192.0.0/24 protocol assignments
         in(0xC0000200, 24) ||   // 192.0.2/24 documentation
         in(0xC0A80000, 16) ||   // 192.168/16
         in(0xC6120000, 15) ||   // 198.18/15 benchmarking
         in(0xC6336400, 24) ||   // 198.51.100/24 documentation
         in(0xCB007100, 24) ||   // 203.0.113/24 documentation
         in(0xE0000000, 4) ||    // 224/4 multicast
         in(0xF0000000, 4);      // 240/4 reserved, broadcast
}

}  // namespace

Result<ParsedUrl> ParseHttpUrl(std::string_view url) {
  ParsedUrl out;
  out.scheme = SchemeOf(url);
  if (out.scheme.empty()) return Status::InvalidArgument("not an absolute URL");
  if (out.scheme != "http" && out.scheme != "https") {
    return Status::InvalidArgument("scheme \"" + out.scheme + "\" is not allowed (http and https only)");
  }
  Parts p;
  if (!SplitAbsolute(url, p)) return Status::InvalidArgument("URL has no host");
  std::string_view auth = p.authority;
  if (auth.find('@') != std::string_view::npos) {
    return Status::InvalidArgument("URL carries credentials (user@host), which are not allowed");
  }
  std::string_view host = auth;
  std::string_view port;
  if (!auth.empty() && auth[0] == '[') {
    const size_t close = auth.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument("unterminated IPv6 address in URL");
    host = auth.substr(1, close - 1);
    std::string_view after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Status::InvalidArgument("junk after IPv6 address in URL");
      port = after.substr(1);
    }
    in6_addr a6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
      return Status::InvalidArgument("bad IPv6 address in URL");
    }
  } else {
    const size_t colon = auth.rfind(':');
    if (colon != std::string_view::npos) {
      host = auth.substr(0, colon);
      port = auth.substr(colon + 1);
    }
    for (char c : host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return Status::InvalidArgument("host \"" + SanitizeUtf8(host) +
                                       "\" has characters a host name cannot have (IDN hosts must be given in punycode)");
      }
    }
  }
  if (host.empty()) return Status::InvalidArgument("URL has no host");
  out.host = Lower(host);
  out.port = out.scheme == "https" ? 443 : 80;
  if (!port.empty()) {
    int v = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || v > 65535) return Status::InvalidArgument("bad port in URL");
      v = v * 10 + (c - '0');
    }
    if (v < 1 || v > 65535) return Status::InvalidArgument("bad port in URL");
    out.port = v;
  }
  std::string target = p.path.empty() ? "/" : p.path;
  target += p.query;
  // Bytes a request line cannot carry are percent-encoded.
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7F || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' ||
        c == '{' || c == '|' || c == '}') {
      out.target += '%';
      out.target += kHex[c >> 4];
      out.target += kHex[c & 15];
    } else {
      out.target += static_cast<char>(c);
    }
  }
  return out;
}

std::string ResolveUrl(std::string_view base, std::string_view ref) {
  if (!SchemeOf(ref).empty()) return std::string(ref);
  Parts b;
  if (!SplitAbsolute(base, b) || (b.scheme != "http" && b.scheme != "https")) return std::string(ref);
  const std::string origin = b.scheme + "://" + b.authority;
  if (ref.substr(0, 2) == "//") return b.scheme + ":" + std::string(ref);
  if (ref.empty()) return origin + (b.path.empty() ? "/" : b.path) + b.query;
  std::string_view r = ref;
  std::string fragment;
  if (size_t h = r.find('#'); h != std::string_view::npos) {
    fragment = std::string(r.substr(h));
    r = r.substr(0, h);
  }
  if (r.empty()) return origin + (b.path.empty() ? "/" : b.path) + b.query + fragment;
  if (r[0] == '?') return origin + (b.path.empty() ? "/" : b.path) + std::string(r) + fragment;
  std::string path;
  std::string query;
  if (size_t q = r.find('?'); q != std::string_view::npos) {
    query = std::string(r.substr(q));
    r = r.substr(0, q);
  }
  if (r[0] == '/') {
    path = RemoveDotSegments(r);
  } else {
    std::string merged = b.path.empty() ? "/" : b.path.substr(0, b.path.rfind('/') + 1);
    merged += r;
    path = RemoveDotSegments(merged);
  }
  return origin + path + query + fragment;
}

bool IsPrivateAddress(std::string_view ip_literal) {
  const std::string ip(ip_literal);
  in_addr a4{};
  if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) return IsPrivateV4(ntohl(a4.s_addr));
  in6_addr a6{};
  if (inet_pton(AF_INET6, ip.c_str(), &a6) != 1) return false;
  const uint8_t* b = a6.s6_addr;
  auto v4_at = [b](int off) {
    return (uint32_t(b[off]) << 24) | (uint32_t(b[off + 1]) << 16) | (uint32_t(b[off + 2]) << 8) | b[off + 3];
  };
  bool zero10 = true;
  for (int i = 0; i < 10; ++i) zero10 = zero10 && b[i] == 0;
  if (zero10 && b[10] == 0 && b[11] == 0) {
    // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
    return true;
  }
  // ::ffff:0:0/96, IPv4-mapped: the whole range. A dual-stack socket connecting to ::ffff:a.b.c.d
  // reaches the IPv4 host a.b.c.d, and no public server needs to be named this way, so none is
  // let through (not even a public a.b.c.d): one rule less for a hostile URL to play with.
  if (zero10 && b[10] == 0xFF && b[11] == 0xFF) return true;
  // ::ffff:0:a.b.c.d (::ffff:0:0:0/96, IPv4-translated, RFC 2765): refused the same way.
  bool zero8 = true;
  for (int i = 0; i < 8; ++i) zero8 = zero8 && b[i] == 0;
  if (zero8 && b[8] == 0xFF && b[9] == 0xFF && b[10] == 0 && b[11] == 0) return true;
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B) return IsPrivateV4(v4_at(12));  // 64:ff9b::/96
  if (b[0] == 0x20 && b[1] == 0x02) return IsPrivateV4(v4_at(2));  // 2002::/16 6to4
  if ((b[0] & 0xFE) == 0xFC) return true;                          // fc00::/7 unique local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return true;          // fe80::/10 link-local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) return true;          // fec0::/10 site-local (deprecated)
  if (b[0] == 0xFF) return true;                                   // ff00::/8 multicast
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8) return true;  // 2001:db8::/32 documentation
  return false;
}

}  // namespace tfgrpo
