#include "ingest/json_parse.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "json_text/json_text.hpp"

namespace llmtrace::ingest {
namespace {

using json = nlohmann::json;

// Delegates to nlohmann's own DOM builder and only adds the depth check, so the tree is built in the same
// pass that validates it (the body is parsed once).
class limited_sax {
 public:
  limited_sax(json& out, std::size_t max_depth) : dom_(out, false), max_depth_(max_depth) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return dom_.number_float(v, s); }
  bool string(json::string_t& v) { return dom_.string(v); }
  bool binary(json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return enter() && dom_.start_object(n); }
  bool key(json::string_t& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return enter() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& ex) {
    std::string what = ex.what();
    // nlohmann prefixes "[json.exception.parse_error.101] "; keep the human part.
    if (auto p = what.find("] "); p != std::string::npos) what.erase(0, p + 2);
    message_ = what;
    if (message_.find("byte") == std::string::npos) message_ += " at byte " + std::to_string(position);
    (void)token;
    return false;
  }

  bool too_deep() const { return too_deep_; }
  const std::string& message() const { return message_; }

 private:
  bool enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      message_ = "JSON nesting deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
  std::string message_;
};

// The fast path: a strict RFC 8259 parser that builds the same tree as nlohmann's (same number types, last
// duplicate key wins, \u escapes decoded, UTF-8 checked as nlohmann checks it) at a few instructions per
// byte, where nlohmann's lexer spends tens (it copies every byte twice, one push_back at a time). It only
// decides "valid, here is the tree" or "not sure": on anything it rejects, the reference SAX path above runs
// again so that errors, messages and the depth verdict stay exactly nlohmann's.
class fast_parser {
 public:
  fast_parser(std::string_view s, std::size_t max_depth)
      : p_(s.data()), end_(s.data() + s.size()), max_depth_(max_depth) {}

  bool parse(json& out) {
    ws();
    if (!value(out, 0)) return false;
    ws();
    return p_ == end_;
  }

 private:
  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool literal(const char* word, std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
    p_ += n;
    return true;
  }

  bool value(json& out, std::size_t depth) {
    if (p_ >= end_) return false;
    switch (*p_) {
      case '{':
        return object(out, depth + 1);
      case '[':
        return array(out, depth + 1);
      case '"': {
        std::string str;
        if (!string(str)) return false;
        out = std::move(str);
        return true;
      }
      case 't':
        if (!literal("true", 4)) return false;
        out = true;
        return true;
      case 'f':
        if (!literal("false", 5)) return false;
        out = false;
        return true;
      case 'n':
        if (!literal("null", 4)) return false;
        out = nullptr;
        return true;
      default:
        return number(out);
    }
  }

  bool object(json& out, std::size_t depth) {
    if (depth > max_depth_) return false;
    ++p_;
    out = json::object();
    ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      ws();
      if (p_ >= end_ || *p_ != '"') return false;
      std::string key;
      if (!string(key)) return false;
      ws();
      if (p_ >= end_ || *p_ != ':') return false;
      ++p_;
      ws();
      json v;
      if (!value(v, depth)) return false;
      out[std::move(key)] = std::move(v);  // a later duplicate replaces the earlier one, as nlohmann does
      ws();
      if (p_ >= end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '}') return false;
      ++p_;
      return true;
    }
  }

  bool array(json& out, std::size_t depth) {
    if (depth > max_depth_) return false;
    ++p_;
    out = json::array();
    ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      ws();
      json v;
      if (!value(v, depth)) return false;
      out.get_ref<json::array_t&>().push_back(std::move(v));
      ws();
      if (p_ >= end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != ']') return false;
      ++p_;
      return true;
    }
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool u4(unsigned& cp) {
    if (end_ - p_ < 4) return false;
    cp = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hex(p_[k]);
      if (h < 0) return false;
      cp = (cp << 4) | static_cast<unsigned>(h);
    }
    p_ += 4;
    return true;
  }

  // One UTF-8 sequence at p_ (lead byte >= 0x80), checked against RFC 3629's table as nlohmann does.
  bool utf8_sequence() {
    const std::size_t n = json_text::utf8_sequence(p_, static_cast<std::size_t>(end_ - p_));
    p_ += n;
    return n != 0;
  }

  // True when none of the 8 bytes is a quote, a backslash, a control character or non-ASCII (the classic
  // "has zero byte" / "has byte less than n" word tricks; both are exact for n <= 128).
  static bool plain8(uint64_t w) {
    constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    const uint64_t quote = w ^ (ones * '"');
    const uint64_t slash = w ^ (ones * '\\');
    const uint64_t special =
        ((quote - ones) & ~quote) | ((slash - ones) & ~slash) | ((w - ones * 0x20) & ~w) | w;
    return (special & highs) == 0;
  }

  bool string(std::string& out) {
    ++p_;  // opening quote
    for (;;) {
      // Plain ASCII runs are copied in one append; eight bytes are checked at a time while none is special.
      const char* run = p_;
      while (end_ - p_ >= 8) {
        uint64_t w;
        std::memcpy(&w, p_, 8);
        if (!plain8(w)) break;
        p_ += 8;
      }
      while (p_ < end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
        ++p_;
      }
      out.append(run, static_cast<std::size_t>(p_ - run));
      if (p_ >= end_) return false;
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      if (c >= 0x80) {
        const char* start = p_;
        if (!utf8_sequence()) return false;
        out.append(start, static_cast<std::size_t>(p_ - start));
        continue;
      }
      // Escape.
      if (end_ - p_ < 2) return false;
      const char e = p_[1];
      p_ += 2;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned cp = 0;
          if (!u4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            if (!u4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          json_text::append_utf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number(json& out) {
    const char* start = p_;
    bool negative = false, is_float = false;
    if (p_ < end_ && *p_ == '-') {
      negative = true;
      ++p_;
    }
    if (p_ >= end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && digit(*p_)) ++p_;
    } else {
      return false;
    }
    if (p_ < end_ && *p_ == '.') {
      is_float = true;
      ++p_;
      if (p_ >= end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      is_float = true;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (!is_float) {
      if (negative) {
        int64_t v = 0;
        auto [q, ec] = std::from_chars(start, p_, v);
        if (ec == std::errc{} && q == p_) {
          out = v;
          return true;
        }
      } else {
        uint64_t v = 0;
        auto [q, ec] = std::from_chars(start, p_, v);
        if (ec == std::errc{} && q == p_) {
          out = v;
          return true;
        }
      }
      // Too large for 64 bits: nlohmann reads it as a double, and so do we.
    }
    double d = 0;
    auto [q, ec] = std::from_chars(start, p_, d);
    if (ec != std::errc{} || q != p_ || !std::isfinite(d))
      return false;  // 1e999, 1e-999: the reference decides
    out = d;
    return true;
  }

  const char* p_;
  const char* end_;
  std::size_t max_depth_;
};

}  // namespace

json_parse_result parse_json_limited(std::string_view text, std::size_t max_depth) {
  json_parse_result r;
  // The fast path recurses once per level: bounded by the depth limit, which callers keep small. A caller
  // asking for a very deep limit gets nlohmann's non-recursive parser only.
  if (max_depth <= 512) {
    fast_parser fast(text, max_depth);
    json value;
    if (fast.parse(value)) {
      r.ok = true;
      r.value = std::move(value);
      return r;
    }
  }
  return parse_json_reference(text, max_depth);
}

json_parse_result parse_json_reference(std::string_view text, std::size_t max_depth) {
  json_parse_result r;
  limited_sax sax(r.value, max_depth);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, true, false);
  } catch (const std::exception& e) {  // defensive: the SAX path reports errors, it should not throw
    r.message = e.what();
    r.value = nullptr;
    return r;
  }
  if (!ok) {
    r.too_deep = sax.too_deep();
    r.message = sax.message().empty() ? "malformed JSON" : sax.message();
    r.value = nullptr;
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace llmtrace::ingest
