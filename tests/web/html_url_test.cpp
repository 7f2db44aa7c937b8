// HTML to text, UTF-8 cutting, URL parsing/resolution and the private-address classes.
#include <gtest/gtest.h>

#include "tfgrpo/web.h"

namespace tfgrpo {
namespace {

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(HtmlToText, DropsScriptsStylesAndSiteChromeKeepsLinksAndPutsBlocksOnTheirOwnLines) {
  const std::string html = R"HTML(<!doctype html><html><head><title>  The   Page </title>
    <style>body { color: red }</style><script>alert("boo")</script></head>
    <body><header><a href="/">Site logo</a></header>
    <nav><ul><li><a href="/a">Menu A</a></li></ul></nav>
    <main><h1>Main   heading</h1><p>First    paragraph with a <a href="/wiki/Link?x=1">useful
      link</a> and <b>bold</b> text.</p>
    <h2>Sub</h2><ul><li>item one</li><li>item <i>two</i></li></ul>
    <p>See <a href="javascript:void(0)">this script link</a> and <a href="#top">top</a>.</p>
    <div hidden>hidden div</div><div aria-hidden="true">aria hidden</div>
    <div style="display: none">styled away</div><div role="navigation">role nav</div>
    <table><tr><th>Name</th><th>Year</th></tr><tr><td>Bridge</td><td>1871</td></tr></table>
    <pre>line  one
  line two</pre>
    <noscript>enable js</noscript><aside>related stuff</aside></main>
    <footer>Copyright 2026</footer></body></html>)HTML";
  PageText page = HtmlToText(html, "https://site.example/dir/page.html");
  EXPECT_EQ(page.title, "The Page");
  const std::string& t = page.text;
  for (const char* gone : {"color", "alert", "Site logo", "Menu A", "hidden div", "aria hidden", "styled away",
                           "role nav", "enable js", "related stuff", "Copyright"}) {
    EXPECT_FALSE(Has(t, gone)) << gone << " in:\n" << t;
  }
  EXPECT_TRUE(Has(t, "# Main heading\n")) << t;
  EXPECT_TRUE(Has(t, "\nFirst paragraph with a useful link [https://site.example/wiki/Link?x=1] and bold text.\n")) << t;
  EXPECT_TRUE(Has(t, "\n## Sub\n- item one\n- item two\n")) << t;
  EXPECT_TRUE(Has(t, "See this script link and top.")) << t;
  EXPECT_FALSE(Has(t, "javascript:"));
  EXPECT_TRUE(Has(t, "Name | Year\nBridge | 1871\n")) << t;
  EXPECT_TRUE(Has(t, "line  one\n  line two")) << t;
  EXPECT_FALSE(Has(t, "\n\n"));
}

TEST(HtmlToText, KeepsAnArticlesOwnHeaderAndAnImageLinksAlt) {
  PageText page = HtmlToText(
      "<article><header><h1>Article title</h1><p>by Ana</p></header><p>Body.</p></article>"
      "<p><a href=\"https://x.example/\"><img src=a.png alt=\"Logo of X\"></a></p>");
  EXPECT_TRUE(Has(page.text, "# Article title\nby Ana\nBody.")) << page.text;
  EXPECT_TRUE(Has(page.text, "Logo of X [https://x.example/]")) << page.text;
}

TEST(HtmlToText, SurvivesDeepNestingBrokenMarkupAndBadUtf8) {
  std::string deep;
  for (int i = 0; i < 3000; ++i) deep += "<div>";
  deep += "bottom";
  EXPECT_EQ(HtmlToText(deep).text, "bottom");
  PageText broken = HtmlToText("<p>unclosed <b>bold <i>it</p><p>next \xff\xfe end");
  EXPECT_TRUE(Has(broken.text, "unclosed bold it\nnext")) << broken.text;
  EXPECT_EQ(SanitizeUtf8(broken.text), broken.text);
  EXPECT_EQ(SanitizeUtf8("a\xffz"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(DeepNestingCut, CountsOnlyElementsThatStayOpen) {
  const std::string head = "<html><body><p>before</p>";
  const std::string deep = head + Repeat("<div>", 5000) + "deep";
  // The cut falls on the tag that would open element 1001 (html and body count too).
  EXPECT_EQ(DeepNestingCut(deep, 1000), head.size() + 998 * 5);
  EXPECT_EQ(DeepNestingCut(deep, 10000), std::string::npos);
  // Closed elements, void ones, optional-end ones, self-closed ones and script text do not add up.
  EXPECT_EQ(DeepNestingCut(Repeat("<div><span>x</span></div>", 5000), 1000), std::string::npos);
  EXPECT_EQ(DeepNestingCut(Repeat("<p>a<li>b<br><img src=x><td>", 5000), 1000), std::string::npos);
  EXPECT_EQ(DeepNestingCut(Repeat("<x-widget/>", 5000), 1000), std::string::npos);
  EXPECT_EQ(DeepNestingCut("<script>" + Repeat("<div>", 5000) + "</script><style>" + Repeat("<b>", 5000) + "</STYLE>",
                           1000),
            std::string::npos);
  EXPECT_EQ(DeepNestingCut("<!--" + Repeat("<div>", 5000) + "-->", 1000), std::string::npos);
  EXPECT_EQ(DeepNestingCut(Repeat("<div>", 5000)), static_cast<size_t>(kMaxHtmlOpenElements) * 5);
}

TEST(HtmlToText, ParsesAPageOfUnclosedTagsOnlyUpToTheNestingLimit) {
  // 50,000 unclosed <div>s took gumbo about 50 s of CPU; cut at the limit it is a few ms.
  const PageText page = HtmlToText("<html><body><h1>Top</h1><p>kept text</p>" + Repeat("<div>", 50000) + "lost");
  EXPECT_TRUE(page.nesting_cut);
  EXPECT_NE(page.text.find("kept text"), std::string::npos) << page.text;
  EXPECT_EQ(page.text.find("lost"), std::string::npos);
  const PageText fine = HtmlToText("<p>" + Repeat("<div>x</div>", 3000));
  EXPECT_FALSE(fine.nesting_cut);
}

TEST(CutUtf8, NeverSplitsACharacter) {
  const std::string s = "ab\xC3\xA9\xE2\x82\xAC";  // a b é €
  bool cut = false;
  EXPECT_EQ(CutUtf8(s, 3, &cut), "ab");
  EXPECT_TRUE(cut);
  EXPECT_EQ(CutUtf8(s, 4), "ab\xC3\xA9");
  EXPECT_EQ(CutUtf8(s, 6), "ab\xC3\xA9");
  EXPECT_EQ(CutUtf8(s, 7, &cut), s);
  EXPECT_FALSE(cut);
}

TEST(ParseHttpUrl, AcceptsHttpAndHttpsOnly) {
  auto u = ParseHttpUrl("HTTPS://Example.COM:8443/a/b?q=1#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/a/b?q=1");
  auto v6 = ParseHttpUrl("http://[::1]/");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 80);
  for (const char* bad : {"file:///etc/passwd", "ftp://x.example/", "gopher://x", "relative/path", "http://",
                          "http://user:pw@x.example/", "http://x.example:99999/", "http://[::1/"}) {
    EXPECT_FALSE(ParseHttpUrl(bad).ok()) << bad;
  }
  EXPECT_NE(ParseHttpUrl("file:///etc/passwd").status().message().find("\"file\""), std::string::npos);
}

TEST(ResolveUrl, ResolvesReferencesAgainstABase) {
  const std::string base = "https://h.example/a/b/c.html?x=1";
  EXPECT_EQ(ResolveUrl(base, "d.html"), "https://h.example/a/b/d.html");
  EXPECT_EQ(ResolveUrl(base, "../d"), "https://h.example/a/d");
  EXPECT_EQ(ResolveUrl(base, "/root"), "https://h.example/root");
  EXPECT_EQ(ResolveUrl(base, "//other.example/p"), "https://other.example/p");
  EXPECT_EQ(ResolveUrl(base, "?y=2"), "https://h.example/a/b/c.html?y=2");
  EXPECT_EQ(ResolveUrl(base, "http://abs.example/"), "http://abs.example/");
  EXPECT_EQ(ResolveUrl("https://h.example", "p"), "https://h.example/p");
}

TEST(IsPrivateAddress, CoversLoopbackPrivateLinkLocalAndMappedForms) {
  for (const char* ip : {"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                         "169.254.169.254", "0.0.0.0", "100.64.0.1", "::1", "::", "fc00::1", "fd12:3456::1",
                         "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "224.0.0.1"}) {
    EXPECT_TRUE(IsPrivateAddress(ip)) << ip;
  }
  for (const char* ip : {"8.8.8.8", "172.32.0.1", "172.15.255.255", "192.169.0.1", "1.1.1.1",
                         "2606:4700:4700::1111", "not-an-ip", "example.com"}) {
    EXPECT_FALSE(IsPrivateAddress(ip)) << ip;
  }
}

TEST(IsPrivateAddress, RefusesTheWholeIpv4MappedRange) {
  // ::ffff:0:0/96 reaches IPv4 hosts through a dual-stack socket; the whole range is refused, in
  // every spelling, public embedded addresses too (no public server needs to be named this way).
  for (const char* ip : {"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:7f00:1", "::FFFF:A00:1", "0:0:0:0:0:ffff:127.0.0.1",
                         "::ffff:8.8.8.8", "::ffff:0:0", "::ffff:255.255.255.255", "::ffff:0:127.0.0.1",
                         "::ffff:0:8.8.8.8"}) {
    EXPECT_TRUE(IsPrivateAddress(ip)) << ip;
  }
  // Neighbours of the range are judged on their own.
  for (const char* ip : {"::fffe:8.8.8.8", "1::ffff:8.8.8.8", "2606:4700::ffff:808:808"}) {
    EXPECT_FALSE(IsPrivateAddress(ip)) << ip;
  }
}

}  // namespace
}  // namespace tfgrpo
