// Hostile pages against the bounds of HtmlToText, browse and `index build` (web.h): peak memory
// measured in-process stays far below what gumbo's default options took (0.9-4 GB).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <fstream>
#include <thread>

#include "test_util.h"
#include "tfgrpo/web.h"

namespace tfgrpo {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

constexpr long kBoundKb = 200 * 1024;  // generous: the old code took 0.5-4 GB on each page below

// AddressSanitizer keeps freed blocks in its quarantine (256 MiB by default), pads every block with
// redzones and maps shadow memory, so under it peak RSS says little about what the code holds at
// once (the link page measured 0.9 GB there, under 200 MB without it). The bound is checked in the
// plain build that `make test` runs; under ASan the same pages still run, for memory errors.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssIsMeaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kRssIsMeaningful = false;
#else
constexpr bool kRssIsMeaningful = true;
#endif
#else
constexpr bool kRssIsMeaningful = true;
#endif

long PeakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  out.reserve(s.size() * n);
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(HtmlBoundedCost, FiveMebibytesOfNulBytesParseInBoundedMemory) {
  std::string page = "<p>before</p>" + std::string(5 << 20, '\0') + "<p>after\x01\x1b[31m red</p>";
  const long before = PeakRssKb();
  PageText text = HtmlToText(page);
  if (kRssIsMeaningful) { EXPECT_LT(PeakRssKb() - before, kBoundKb); }
  // NUL bytes and control characters are dropped, the text around them kept.
  EXPECT_EQ(text.text, "before\nafter[31m red");
  EXPECT_FALSE(text.size_cut);
  // Character references do not bring them back (the fuzzer's find).
  EXPECT_EQ(HtmlToText("<title>t&#1;t</title><p>a&#4;b&#x1b;[0m&#0;c</p>").text, "ab[0m\xEF\xBF\xBD" "c");
  EXPECT_EQ(HtmlToText("<title>t&#1;t</title>").title, "tt");
}

TEST(HtmlBoundedCost, FourThousandNestedTablesParseInBoundedMemory) {
  const std::string page = Repeat("<table><tr><td>", 4000) + "CELL";
  ASSERT_LT(page.size(), 61000u);
  const long before = PeakRssKb();
  PageText text = HtmlToText(page);
  if (kRssIsMeaningful) { EXPECT_LT(PeakRssKb() - before, kBoundKb); }
  EXPECT_NE(text.text.find("CELL"), std::string::npos);
}

TEST(HtmlBoundedCost, ATreeThatWouldOutgrowItsBudgetIsCutNotAllocated) {
  // 3,000 distinct formatting elements closed by their <div>, then paragraphs that each make
  // gumbo reopen all of them (the HTML5 "reconstruct the active formatting elements" step): a
  // 0.5 MB page asking for 3,000 x 40,000 elements. The tree stays within kMaxHtmlTreeBytes.
  std::string page = "<div>";
  for (int i = 0; i < 3000; ++i) page += "<b id=" + std::to_string(i) + ">";
  page += "</div><p>FIRST</p>";
  page += Repeat("<p>x</p>", 40000);
  const long before = PeakRssKb();
  PageText text = HtmlToText(page);
  if (kRssIsMeaningful) { EXPECT_LT(PeakRssKb() - before, kBoundKb); }
  EXPECT_TRUE(text.size_cut);
  // An ordinary page too big for the budget (5 MiB of paragraphs, about 500,000 elements) keeps
  // its leading part.
  const std::string paragraphs = Repeat("<p>word</p>", (5 << 20) / 11);
  const long before_paragraphs = PeakRssKb();
  PageText leading = HtmlToText(paragraphs);
  if (kRssIsMeaningful) { EXPECT_LT(PeakRssKb() - before_paragraphs, kBoundKb); }
  EXPECT_TRUE(leading.size_cut);
  EXPECT_EQ(leading.text.rfind("word\nword\nword\n", 0), 0u) << leading.text.substr(0, 100);
  EXPECT_GT(leading.text.size(), 100000u);
}

TEST(HtmlBoundedCost, TextIsCappedWhateverLinksAddToIt) {
  // Every relative link is written out resolved against the base: a 10 KB base url would make a
  // 5 MiB page of links into 3.6 GB of text.
  const std::string base = "https://example.com/" + std::string(10000, 'd') + "/";
  const std::string page = Repeat("<a href=x>y</a> ", 5 << 16);
  const long before = PeakRssKb();
  PageText text = HtmlToText(page, base);
  if (kRssIsMeaningful) { EXPECT_LT(PeakRssKb() - before, kBoundKb); }
  EXPECT_TRUE(text.size_cut);
  EXPECT_LE(static_cast<int64_t>(text.text.size()), kMaxHtmlTextBytes);
  EXPECT_EQ(text.text.rfind("y [" + base + "x]", 0), 0u);
}

TEST(HtmlBoundedCost, IndexBuildOverATwentyMebibyteNulPageStaysInBoundedMemory) {
  TempDir dir;
  fs::create_directories(dir / "corpus");
  {
    std::ofstream f(dir / "corpus" / "nul.html", std::ios::binary);
    f << "<title>Zeros</title><p>needle</p>" << std::string(20 << 20, '\0');
  }
  IndexBuildOptions o;
  o.corpus = dir / "corpus";
  o.out = dir / "index.db";
  const long before = PeakRssKb();
  auto summary = BuildIndex(o);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  if (kRssIsMeaningful) { EXPECT_LT(PeakRssKb() - before, kBoundKb); }
  EXPECT_EQ(summary->pages, 1);
  auto index = SearchIndex::Open(o.out);
  ASSERT_TRUE(index.ok());
  auto hits = (*index)->Search("needle", 5);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].title, "Zeros");
}

// ---- a gzip bomb served on loopback ----

// CRC-32 (IEEE) of `n` zero bytes, for the gzip trailer.
uint32_t Crc32OfZeros(size_t n) {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) crc = table[crc & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

// A gzip member inflating to `n` zero bytes (n - 1 a multiple of 258) in about n / 160 bytes:
// one fixed-Huffman deflate block of a literal 0 and then matches of length 258 at distance 1.
std::string GzipBombOfZeros(size_t n) {
  std::string out = std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  uint64_t bits = 0;
  int nbits = 0;
  auto put = [&](uint32_t value, int count) {  // LSB first
    bits |= static_cast<uint64_t>(value) << nbits;
    nbits += count;
    while (nbits >= 8) {
      out += static_cast<char>(bits & 0xFF);
      bits >>= 8;
      nbits -= 8;
    }
  };
  auto put_code = [&](uint32_t code, int len) {  // Huffman codes go MSB first
    uint32_t rev = 0;
    for (int i = 0; i < len; ++i) rev |= ((code >> i) & 1) << (len - 1 - i);
    put(rev, len);
  };
  put(1, 1);             // BFINAL
  put(1, 2);             // BTYPE 01: fixed Huffman codes
  put_code(0x30, 8);     // literal 0
  for (size_t i = 0; i < (n - 1) / 258; ++i) {
    put_code(0xC5, 8);   // length code 285: 258 bytes
    put_code(0, 5);      // distance code 0: distance 1
  }
  put_code(0, 7);        // end of block (256)
  if (nbits > 0) put(0, 8 - nbits);
  const uint32_t crc = Crc32OfZeros(n);
  for (int i = 0; i < 4; ++i) out += static_cast<char>((crc >> (8 * i)) & 0xFF);
  for (int i = 0; i < 4; ++i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
  return out;
}

// Answers every connection with `head` + `body` as they are (no HTTP library that might encode
// the body again), until destroyed.
class RawHttpServer {
 public:
  RawHttpServer(std::string head, std::string body) : reply_(std::move(head) + std::move(body)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 4) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        const int c = accept(fd_, nullptr, nullptr);
        if (c < 0 || stopping_) {
          if (c >= 0) close(c);
          return;
        }
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
          const ssize_t got = read(c, buf, sizeof(buf));
          if (got <= 0) break;
          request.append(buf, static_cast<size_t>(got));
        }
        size_t sent = 0;
        while (sent < reply_.size()) {
          const ssize_t put = send(c, reply_.data() + sent, reply_.size() - sent, MSG_NOSIGNAL);
          if (put <= 0) break;
          sent += static_cast<size_t>(put);
        }
        close(c);
      }
    });
  }
  ~RawHttpServer() {
    stopping_ = true;
    if (port_ > 0) {
      // Wake the accept with one last connection.
      const int c = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(port_));
      connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      close(c);
    }
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

TEST(HtmlBoundedCost, BrowsingAGzipBombCutAtTheSizeCapStaysInBoundedMemory) {
  const size_t inflated = 1 + 258 * size_t{260000};  // 67 MB of NUL bytes from 420 KB
  const std::string body = GzipBombOfZeros(inflated);
  RawHttpServer server("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n"
                       "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n",
                       body);
  ASSERT_GT(server.port(), 0);
  BrowseOptions o;
  o.private_allowlist = {"127.0.0.1"};
  o.timeout_s = 30;
  auto tool = BrowseTool::Create(o, nullptr);
  ASSERT_TRUE(tool.ok()) << tool.status().ToString();
  const long before = PeakRssKb();
  auto out = (*tool)->Run({{"url", "http://127.0.0.1:" + std::to_string(server.port()) + "/bomb"}, {"goal", "read"}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  if (kRssIsMeaningful) { EXPECT_LT(PeakRssKb() - before, kBoundKb); }
  EXPECT_FALSE(out->is_error) << out->text;
  // Read up to the 5 MiB cap of decoded bytes, and said so.
  EXPECT_NE(out->text.find("only the first " + std::to_string(o.max_bytes)), std::string::npos) << out->text;
}

}  // namespace
}  // namespace tfgrpo
