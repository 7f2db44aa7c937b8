// HTML to readable text over gumbo's HTML5 tree, walked iteratively (a page may nest elements
// deeper than a recursive walk's stack allows), parsed within a memory budget.

#include <gumbo.h>

#include <csetjmp>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "tfgrpo/web.h"

namespace tfgrpo {

namespace {

bool IsWs(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Elements whose whole subtree is never readable text.
bool IsDropped(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_SVG: case GUMBO_TAG_IFRAME: case GUMBO_TAG_OBJECT: case GUMBO_TAG_EMBED:
    case GUMBO_TAG_CANVAS: case GUMBO_TAG_NAV: case GUMBO_TAG_ASIDE: case GUMBO_TAG_BUTTON:
    case GUMBO_TAG_SELECT: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_HEAD: case GUMBO_TAG_TITLE:
    case GUMBO_TAG_AUDIO: case GUMBO_TAG_VIDEO: case GUMBO_TAG_MAP:
      return true;
    default:
      return false;
  }
}

bool IsBlock(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_MAIN: case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4:
    case GUMBO_TAG_H5: case GUMBO_TAG_H6: case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_LI:
    case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_DD: case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_PRE: case GUMBO_TAG_TABLE: case GUMBO_TAG_THEAD: case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TFOOT: case GUMBO_TAG_TR: case GUMBO_TAG_CAPTION: case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_ADDRESS: case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_SUMMARY: case GUMBO_TAG_BODY: case GUMBO_TAG_CENTER: case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_LEGEND: case GUMBO_TAG_HR: case GUMBO_TAG_BR: case GUMBO_TAG_HEADER:
    case GUMBO_TAG_FOOTER: case GUMBO_TAG_FORM: case GUMBO_TAG_HGROUP:
      return true;
    default:
      return false;
  }
}

int HeadingLevel(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_H1: return 1;
    case GUMBO_TAG_H2: return 2;
    case GUMBO_TAG_H3: return 3;
    case GUMBO_TAG_H4: return 4;
    case GUMBO_TAG_H5: return 5;
    case GUMBO_TAG_H6: return 6;
    default: return 0;
  }
}

const char* Attr(const GumboElement& e, const char* name) {
  const GumboAttribute* a = gumbo_get_attribute(&e.attributes, name);
  return a ? a->value : nullptr;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Hidden from readers: the hidden attribute, aria-hidden, site-chrome landmark roles, or an
// inline display:none.
bool IsHidden(const GumboElement& e) {
  if (Attr(e, "hidden")) return true;
  if (const char* v = Attr(e, "aria-hidden"); v && Lower(v) == "true") return true;
  if (const char* v = Attr(e, "role")) {
    const std::string role = Lower(v);
    if (role == "navigation" || role == "banner" || role == "contentinfo" || role == "search") return true;
  }
  if (const char* v = Attr(e, "style")) {
    std::string compact;
    for (char c : Lower(v)) {
      if (!IsWs(static_cast<unsigned char>(c))) compact += c;
    }
    if (compact.find("display:none") != std::string::npos) return true;
  }
  return false;
}

class TextBuilder {
 public:
  // Appends nothing more once the finished lines hold `max_bytes` (links resolved against a long
  // base url could otherwise multiply a page's size).
  explicit TextBuilder(int64_t max_bytes = kMaxHtmlTextBytes) : max_bytes_(max_bytes) {}
  bool full() const { return static_cast<int64_t>(out_.size() + line_.size()) >= max_bytes_; }
  void Text(std::string_view s) {
    if (full()) return;
    for (size_t i = 0; i < s.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      // U+00A0 (no-break space) is whitespace to a reader.
      if (IsWs(c) || (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0)) {
        if (c == 0xC2) ++i;
        space_ = true;
        continue;
      }
      if (line_.empty()) {
        line_ = prefix_;
      } else if (space_) {
        line_ += ' ';
      }
      space_ = false;
      line_ += static_cast<char>(c);
      ++chars_;
    }
  }
  void Preformatted(std::string_view s) {
    if (full()) return;
    size_t start = 0;
    while (start <= s.size()) {
      size_t nl = s.find('\n', start);
      std::string_view piece = s.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
      if (!piece.empty() && piece.back() == '\r') piece.remove_suffix(1);
      if (line_.empty()) line_ = prefix_;
      line_.append(piece);
      chars_ += piece.size();
      if (nl == std::string_view::npos) break;
      Break(true);
      start = nl + 1;
    }
  }
  void Space() { space_ = true; }
  void Raw(std::string_view s) {  // appended to a line that has content already
    if (line_.empty() || full()) return;
    line_.append(s);
    space_ = false;
  }
  // Ends the current line; `keep_empty` keeps a blank line (inside <pre>).
  void Break(bool keep_empty = false) {
    std::string_view l = line_;
    while (!l.empty() && IsWs(static_cast<unsigned char>(l.back()))) l.remove_suffix(1);
    if (l.size() > prefix_.size() || (keep_empty && !out_.empty())) {
      out_.append(l);
      out_ += '\n';
    }
    line_.clear();
    space_ = false;
    ++breaks_;
  }
  void SetPrefix(std::string p) { prefix_ = std::move(p); }
  int64_t chars() const { return chars_; }
  int64_t breaks() const { return breaks_; }
  bool line_empty() const { return line_.size() <= prefix_.size(); }
  std::string Finish() {
    Break();
    if (static_cast<int64_t>(out_.size()) > max_bytes_) out_ = CutUtf8(out_, max_bytes_);
    while (!out_.empty() && out_.back() == '\n') out_.pop_back();
    return std::move(out_);
  }

 private:
  std::string out_;
  std::string line_;
  std::string prefix_;
  int64_t max_bytes_;
  bool space_ = false;
  int64_t chars_ = 0;
  int64_t breaks_ = 0;
};

std::string CollapseWs(std::string_view s) {
  TextBuilder b;
  b.Text(s);
  return b.Finish();
}

void AppendNodeText(const GumboNode* node, std::string& out) {
  std::vector<const GumboNode*> stack{node};
  while (!stack.empty()) {
    const GumboNode* n = stack.back();
    stack.pop_back();
    if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE || n->type == GUMBO_NODE_CDATA) {
      out += n->v.text.text;
    } else if (n->type == GUMBO_NODE_ELEMENT) {
      const GumboVector& ch = n->v.element.children;
      for (unsigned i = ch.length; i-- > 0;) stack.push_back(static_cast<const GumboNode*>(ch.data[i]));
    }
  }
}

struct Frame {
  explicit Frame(const GumboNode* n) : node(n) {}
  const GumboNode* node;
  bool entered = false;
  // Set on entry, used on exit.
  std::string link;          // resolved href of an <a>
  int64_t chars_at_entry = 0;
  int cells = 0;             // <tr>: cells seen so far
};

// Gumbo's memory for one parse, capped: every block it allocates is counted and linked here, and
// the allocation that would pass the cap jumps back to ParseWithinBudget, which frees them all.
// Gumbo is C and holds nothing but this memory, so leaving its frames by longjmp is safe.
class TreeBudget {
 public:
  explicit TreeBudget(int64_t limit) : limit_(limit) {}
  TreeBudget(const TreeBudget&) = delete;
  TreeBudget& operator=(const TreeBudget&) = delete;
  ~TreeBudget() { FreeAll(); }

  // The page's tree, or null when it would outgrow the budget (nothing is then held).
  GumboOutput* Parse(std::string_view html) {
    options_ = kGumboDefaultOptions;
    options_.allocator = &TreeBudget::Allocate;
    options_.deallocator = &TreeBudget::Deallocate;
    options_.userdata = this;
    // Gumbo's default keeps every parse error, each with a copy of the open-element stack: 5 MiB
    // of NUL bytes or 4,000 nested tables took 1-2 GB. Nothing reads them, so keep none.
    options_.max_errors = 0;
    return ParseOrNull(html);
  }
  void Destroy(GumboOutput* output) {
    if (output) gumbo_destroy_output(&options_, output);
    FreeAll();
  }
 private:
  struct alignas(alignof(std::max_align_t)) Header {
    Header* prev;
    Header* next;
    size_t size;
  };

  // No object with a destructor lives in this frame, so the jump back into it skips nothing.
  GumboOutput* ParseOrNull(std::string_view html) {
    if (setjmp(overflow_) != 0) {
      FreeAll();
      return nullptr;
    }
    return gumbo_parse_with_options(&options_, html.data(), html.size());
  }

  static void* Allocate(void* userdata, size_t size) {
    auto* self = static_cast<TreeBudget*>(userdata);
    const int64_t cost = static_cast<int64_t>(sizeof(Header) + size);
    if (self->used_ + cost > self->limit_) std::longjmp(self->overflow_, 1);
    auto* h = static_cast<Header*>(std::malloc(sizeof(Header) + size));
    if (h == nullptr) std::longjmp(self->overflow_, 1);
    h->prev = nullptr;
    h->next = self->head_;
    h->size = size;
    if (self->head_) self->head_->prev = h;
    self->head_ = h;
    self->used_ += cost;
    return h + 1;
  }

  static void Deallocate(void* userdata, void* ptr) {
    if (ptr == nullptr) return;
    auto* self = static_cast<TreeBudget*>(userdata);
    Header* h = static_cast<Header*>(ptr) - 1;
    if (h->prev) h->prev->next = h->next; else self->head_ = h->next;
    if (h->next) h->next->prev = h->prev;
    self->used_ -= static_cast<int64_t>(sizeof(Header) + h->size);
    std::free(h);
  }

  void FreeAll() {
    while (head_) {
      Header* next = head_->next;
      std::free(head_);
      head_ = next;
    }
    used_ = 0;
  }

  int64_t limit_;
  int64_t used_ = 0;
  Header* head_ = nullptr;
  GumboOptions options_{};
  std::jmp_buf overflow_;
};

// NUL bytes and control characters other than tab, LF, FF and CR carry no text; each was also one
// more gumbo parse error. Dropped before parsing (bytes below 0x20 never sit inside a UTF-8
// sequence, so nothing else changes).
std::string WithoutControls(std::string_view html) {
  std::string out;
  out.reserve(html.size());
  for (char ch : html) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r') || c == 0x7F) continue;
    out += ch;
  }
  return out;
}

}  // namespace

size_t DeepNestingCut(std::string_view html, int max_open_elements) {
  // Elements that never deepen the tree: void ones, and those whose end tag is optional (the next
  // sibling closes them), so a page of 10,000 <p> or <li> is not mistaken for a deep one.
  static const std::set<std::string, std::less<>> kFlat = {
      "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
      "wbr", "keygen", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody",
      "tfoot", "rb", "rt", "rp", "colgroup", "caption"};
  static const std::set<std::string, std::less<>> kRawText = {"script", "style", "textarea", "title", "xmp",
                                                               "iframe", "noembed", "noframes"};
  auto lower_name = [&](size_t at, size_t* end) {
    std::string name;
    size_t j = at;
    while (j < html.size() && (std::isalnum(static_cast<unsigned char>(html[j])) || html[j] == '-' || html[j] == ':')) {
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(html[j])));
      ++j;
    }
    *end = j;
    return name;
  };
  int depth = 0;
  for (size_t i = html.find('<'); i != std::string_view::npos && i + 1 < html.size(); i = html.find('<', i + 1)) {
    if (html.compare(i, 4, "<!--") == 0) {
      i = html.find("-->", i + 4);
      if (i == std::string_view::npos) break;
      continue;
    }
    const bool closing = html[i + 1] == '/';
    const size_t name_at = i + (closing ? 2 : 1);
    if (name_at >= html.size() || !std::isalpha(static_cast<unsigned char>(html[name_at]))) continue;
    size_t name_end = 0;
    const std::string name = lower_name(name_at, &name_end);
    const size_t close = html.find('>', name_end);
    if (close == std::string_view::npos) break;
    if (closing) {
      if (!kFlat.count(name) && depth > 0) --depth;
    } else if (kRawText.count(name)) {
      // Raw text runs to its end tag; a "<div>" inside a script is not an element.
      size_t end = close;
      for (;;) {
        end = html.find("</", end + 1);
        if (end == std::string_view::npos) return std::string_view::npos;
        size_t e = 0;
        if (lower_name(end + 2, &e) == name) break;
      }
      i = end;
    } else if (!kFlat.count(name) && html[close - 1] != '/') {
      if (++depth > max_open_elements) return i;
    }
    if (!kRawText.count(name)) i = close;
  }
  return std::string_view::npos;
}

PageText HtmlToText(std::string_view raw_html, std::string_view base_url) {
  PageText page;
  const std::string cleaned = WithoutControls(raw_html);
  std::string_view html = cleaned;
  if (size_t cut = DeepNestingCut(html); cut != std::string_view::npos) {
    html = html.substr(0, cut);
    page.nesting_cut = true;
  }
  TreeBudget budget(kMaxHtmlTreeBytes);
  GumboOutput* output = budget.Parse(html);
  // A tree past the budget: the page's first half, then its first quarter, ... until one fits.
  while (output == nullptr && !html.empty()) {
    page.size_cut = true;
    html = html.substr(0, html.size() / 2);
    output = budget.Parse(html);
  }
  if (output == nullptr) return page;  // not even an empty document fits: out of memory
  TextBuilder b;
  std::string base(base_url);
  std::vector<Frame> stack;
  stack.emplace_back(output->root);
  int pre_depth = 0;
  int article_depth = 0;
  std::vector<size_t> row_index;  // stack indices of the open <tr> frames, innermost last
  while (!stack.empty()) {
    Frame& f = stack.back();
    const GumboNode* node = f.node;
    if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_CDATA) {
      if (pre_depth > 0) {
        b.Preformatted(node->v.text.text);
      } else {
        b.Text(node->v.text.text);
      }
      stack.pop_back();
      continue;
    }
    if (node->type == GUMBO_NODE_WHITESPACE) {
      if (pre_depth > 0) {
        b.Preformatted(node->v.text.text);
      } else {
        b.Space();
      }
      stack.pop_back();
      continue;
    }
    if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_DOCUMENT &&
        node->type != GUMBO_NODE_TEMPLATE) {
      stack.pop_back();  // comments
      continue;
    }
    const bool is_doc = node->type == GUMBO_NODE_DOCUMENT;
    const GumboVector& children = is_doc ? node->v.document.children : node->v.element.children;
    const GumboTag tag = is_doc ? GUMBO_TAG_UNKNOWN : node->v.element.tag;
    if (!f.entered) {
      f.entered = true;
      if (!is_doc) {
        const GumboElement& e = node->v.element;
        if (tag == GUMBO_TAG_TITLE && page.title.empty()) {
          std::string raw;
          AppendNodeText(node, raw);
          page.title = CollapseWs(raw);
        }
        if (tag == GUMBO_TAG_HEAD) {
          // Only <title> and <link rel=canonical> matter in <head>.
          std::vector<const GumboNode*> hs{node};
          while (!hs.empty()) {
            const GumboNode* h = hs.back();
            hs.pop_back();
            if (h->type != GUMBO_NODE_ELEMENT) continue;
            if (h->v.element.tag == GUMBO_TAG_TITLE && page.title.empty()) {
              std::string raw;
              AppendNodeText(h, raw);
              page.title = CollapseWs(raw);
            } else if (h->v.element.tag == GUMBO_TAG_LINK) {
              const char* rel = Attr(h->v.element, "rel");
              const char* href = Attr(h->v.element, "href");
              if (rel && href && Lower(rel) == "canonical" && page.canonical_url.empty()) {
                page.canonical_url = base.empty() ? std::string(href) : ResolveUrl(base, href);
              }
            } else if (h->v.element.tag == GUMBO_TAG_BASE && base.empty()) {
              // keep base_url given by the caller; a <base> only matters when none was given
              if (const char* href = Attr(h->v.element, "href")) base = href;
            }
            const GumboVector& ch = h->v.element.children;
            for (unsigned i = 0; i < ch.length; ++i) hs.push_back(static_cast<const GumboNode*>(ch.data[i]));
          }
        }
        const bool chrome = (tag == GUMBO_TAG_HEADER || tag == GUMBO_TAG_FOOTER) && article_depth == 0;
        if (IsDropped(tag) || chrome || IsHidden(e)) {
          stack.pop_back();
          continue;
        }
        if (tag == GUMBO_TAG_IMG) {
          // An image says something only as a link's only content.
          if (!stack.empty() && stack.size() >= 2) {
            for (size_t i = stack.size() - 1; i-- > 0;) {
              if (!stack[i].link.empty()) {
                if (b.chars() == stack[i].chars_at_entry) {
                  if (const char* alt = Attr(e, "alt")) b.Text(alt);
                }
                break;
              }
            }
          }
          stack.pop_back();
          continue;
        }
        if (IsBlock(tag)) b.Break();
        if (int level = HeadingLevel(tag); level > 0) {
          b.SetPrefix(std::string(level, '#') + " ");
        } else if (tag == GUMBO_TAG_LI) {
          b.SetPrefix("- ");
        } else if (tag == GUMBO_TAG_PRE) {
          ++pre_depth;
        } else if (tag == GUMBO_TAG_ARTICLE) {
          ++article_depth;
        } else if (tag == GUMBO_TAG_TR) {
          row_index.push_back(stack.size() - 1);
        } else if (tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH) {
          if (!row_index.empty()) {
            Frame& row = stack[row_index.back()];
            if (row.cells++ > 0) b.Raw(" |");
            b.Space();
          }
        } else if (tag == GUMBO_TAG_A) {
          if (const char* href = Attr(e, "href")) {
            std::string h = CollapseWs(href);
            const std::string lower = Lower(h);
            if (!h.empty() && h[0] != '#' && lower.rfind("javascript:", 0) != 0) {
              f.link = base.empty() ? h : ResolveUrl(base, h);
              f.chars_at_entry = b.chars();
            }
          }
        }
        // Push children in reverse so the first child is processed first. `f` may dangle after
        // push_back, so it is not used below.
        for (unsigned i = children.length; i-- > 0;) {
          stack.emplace_back(static_cast<const GumboNode*>(children.data[i]));
        }
        continue;
      }
      for (unsigned i = children.length; i-- > 0;) {
        stack.emplace_back(static_cast<const GumboNode*>(children.data[i]));
      }
      continue;
    }
    // Exit.
    if (!is_doc) {
      if (HeadingLevel(tag) > 0 || tag == GUMBO_TAG_LI) {
        b.Break();
        b.SetPrefix("");
      } else if (tag == GUMBO_TAG_PRE) {
        --pre_depth;
      } else if (tag == GUMBO_TAG_ARTICLE) {
        --article_depth;
      } else if (tag == GUMBO_TAG_TR) {
        if (!row_index.empty()) row_index.pop_back();
      } else if (tag == GUMBO_TAG_A && !f.link.empty()) {
        if (b.chars() > f.chars_at_entry && !b.line_empty()) b.Raw(" [" + f.link + "]");
      }
      if (IsBlock(tag)) b.Break();
    }
    stack.pop_back();
  }
  if (b.full()) page.size_cut = true;
  // Character references ("&#4;", "&#x1b;") bring control characters back after parsing.
  page.text = SanitizeUtf8(WithoutControls(b.Finish()));
  page.title = SanitizeUtf8(WithoutControls(CutUtf8(page.title, kMaxHtmlTextBytes)));
  budget.Destroy(output);
  return page;
}

std::string CutUtf8(std::string_view text, int64_t max_bytes, bool* cut) {
  if (max_bytes < 0) max_bytes = 0;
  if (static_cast<int64_t>(text.size()) <= max_bytes) {
    if (cut) *cut = false;
    return std::string(text);
  }
  if (cut) *cut = true;
  size_t end = static_cast<size_t>(max_bytes);
  // Back up over continuation bytes so the cut never splits a character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

}  // namespace tfgrpo
