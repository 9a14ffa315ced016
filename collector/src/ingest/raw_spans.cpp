// A structural scan over already validated JSON: it only needs to find where values start and end, so it
// skips strings (minding escapes) and counts brackets. Keys are compared as raw bytes; an object with an
// escaped key is refused, because a key like "requ\u0065st" would name the same member as the parser sees it
// while the bytes differ, and then "the last duplicate wins" could pick a different value than the tree.
#include "ingest/raw_spans.hpp"

#include <cstring>

namespace llmtrace::ingest {
namespace {

class scanner {
 public:
  explicit scanner(std::string_view s) : s_(s) {}

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  bool at_end() {
    ws();
    return i_ >= s_.size();
  }

  // A string at i_ (the opening quote); sets `escaped` when it holds a backslash. Strings are most of the
  // bytes, so the closing quote is found with memchr; a quote preceded by an odd run of backslashes is
  // escaped.
  bool string(std::string_view& out, bool& escaped, bool find_escapes = true) {
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    const std::size_t start = ++i_;
    escaped = false;
    const char* base = s_.data();
    for (;;) {
      const void* q = std::memchr(base + i_, '"', s_.size() - i_);
      if (!q) return false;
      const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(q) - base);
      std::size_t backslashes = 0;
      while (at - backslashes > start && base[at - backslashes - 1] == '\\') ++backslashes;
      if (backslashes > 0) escaped = true;
      i_ = at + 1;
      if (backslashes % 2 == 0) {
        out = s_.substr(start, at - start);
        if (!escaped && find_escapes) escaped = std::memchr(base + start, '\\', at - start) != nullptr;
        return true;
      }
    }
  }

  // Skips one value, returning its exact bytes.
  bool value(std::string_view& out) {
    ws();
    if (i_ >= s_.size()) return false;
    const std::size_t start = i_;
    const char c = s_[i_];
    if (c == '"') {
      std::string_view ignored;
      bool esc = false;
      if (!string(ignored, esc, false)) return false;
    } else if (c == '{' || c == '[') {
      std::size_t depth = 0;
      while (i_ < s_.size()) {
        const char d = s_[i_];
        if (d == '"') {
          std::string_view ignored;
          bool esc = false;
          if (!string(ignored, esc, false)) return false;
          continue;
        }
        if (d == '{' || d == '[') ++depth;
        if (d == '}' || d == ']') {
          if (--depth == 0) {
            ++i_;
            break;
          }
        }
        ++i_;
      }
      if (depth != 0) return false;
    } else {
      // Number, true, false, null: up to the next delimiter.
      while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && s_[i_] != ' ' &&
             s_[i_] != '\n' && s_[i_] != '\r' && s_[i_] != '\t')
        ++i_;
      if (i_ == start) return false;
    }
    out = s_.substr(start, i_ - start);
    return true;
  }

  // One object at i_: calls fn(key, value bytes) per member, in order. False on an escaped key.
  template <class F>
  bool object(F&& fn) {
    if (!eat('{')) return false;
    if (eat('}')) return true;
    for (;;) {
      ws();
      std::string_view key, val;
      bool escaped = false;
      if (!string(key, escaped) || escaped) return false;
      if (!eat(':')) return false;
      if (!value(val)) return false;
      if (!fn(key, val)) return false;
      if (eat(',')) continue;
      return eat('}');
    }
  }

  std::size_t pos() const { return i_; }
  void seek(std::size_t p) { i_ = p; }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

// The object at the scanner's position; the last duplicate wins, as in the parsed tree.
bool members_of(scanner& sc, raw_spans& out) {
  out = {};
  return sc.object([&](std::string_view key, std::string_view val) {
    if (key == "request")
      out.request = val;
    else if (key == "response")
      out.response = val;
    else if (key == "metadata")
      out.metadata = val;
    return true;
  });
}

}  // namespace

std::optional<raw_spans> scan_trace_spans(std::string_view body) {
  scanner sc(body);
  raw_spans out;
  if (!members_of(sc, out) || !sc.at_end()) return std::nullopt;
  return out;
}

std::optional<std::vector<raw_spans>> scan_batch_spans(std::string_view body) {
  // One pass: the items are scanned where they stand (a later duplicate "traces" replaces an earlier one).
  scanner sc(body);
  std::optional<std::vector<raw_spans>> out;
  bool ok = sc.eat('{');
  if (ok && !sc.eat('}')) {
    for (;;) {
      std::string_view key, val;
      bool escaped = false;
      sc.ws();
      if (!sc.string(key, escaped) || escaped || !sc.eat(':')) return std::nullopt;
      if (key == "traces" && sc.peek('[')) {
        std::vector<raw_spans> items;
        sc.eat('[');
        if (!sc.eat(']')) {
          for (;;) {
            std::string_view item;
            const std::size_t start = sc.pos();
            raw_spans spans;
            // A non-object item is rejected by the parser anyway; it still takes its place in the list. An
            // object with an escaped key is skipped as a whole and gets no spans.
            if (!sc.peek('{') || !members_of(sc, spans)) {
              spans = {};
              sc.seek(start);
              if (!sc.value(item)) return std::nullopt;
            }
            items.push_back(spans);
            if (sc.eat(',')) continue;
            if (!sc.eat(']')) return std::nullopt;
            break;
          }
        }
        out = std::move(items);
      } else if (!sc.value(val)) {
        return std::nullopt;
      }
      if (sc.eat(',')) continue;
      if (!sc.eat('}')) return std::nullopt;
      break;
    }
  }
  if (!ok || !sc.at_end()) return std::nullopt;
  return out;
}

}  // namespace llmtrace::ingest
