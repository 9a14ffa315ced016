#include "otlp/decode_common.hpp"

#include <utility>

namespace llmtrace::otlp::detail {

void fail(std::string message, int http_status) {
  throw failure{{}, std::move(message), http_status};
}

std::string indexed(std::string_view name, std::size_t i) {
  std::string s(name);
  s += '[';
  s += std::to_string(i);
  s += ']';
  return s;
}

namespace {

constexpr char k_hex[] = "0123456789abcdef";

std::size_t id_bytes(id_kind k) {
  return k == id_kind::trace ? 16 : 8;
}
const char* id_name(id_kind k) {
  return k == id_kind::trace ? "trace id" : "span id";
}

void check_not_zero(std::string_view hex, id_kind kind) {
  if (hex.find_first_not_of('0') == std::string_view::npos)
    fail(std::string("an all-zero ") + id_name(kind) + " is invalid");
}

}  // namespace

std::string hex_id(std::string_view raw, id_kind kind, bool optional) {
  if (raw.empty()) {
    if (optional) return {};
    fail(std::string(id_name(kind)) + " is missing");
  }
  if (raw.size() != id_bytes(kind))
    fail(std::string(id_name(kind)) + " has " + std::to_string(raw.size()) + " bytes, want " +
         std::to_string(id_bytes(kind)));
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(k_hex[c >> 4]);
    out.push_back(k_hex[c & 15]);
  }
  if (!optional) check_not_zero(out, kind);
  // An all-zero parent is how some SDKs say "no parent".
  if (optional && out.find_first_not_of('0') == std::string::npos) return {};
  return out;
}

std::string json_hex_id(std::string_view text, id_kind kind, bool optional) {
  if (text.empty()) {
    if (optional) return {};
    fail(std::string(id_name(kind)) + " is missing");
  }
  if (text.size() != id_bytes(kind) * 2)
    fail(std::string(id_name(kind)) + " has " + std::to_string(text.size()) + " hex digits, want " +
         std::to_string(id_bytes(kind) * 2));
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      fail(std::string(id_name(kind)) + " is not hex (OTLP/JSON ids are hex strings, not base64)");
  }
  if (!optional) check_not_zero(out, kind);
  if (optional && out.find_first_not_of('0') == std::string::npos) return {};
  return out;
}

bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (n - i < len) return false;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b1 < lo || b1 > hi) return false;
    for (std::size_t k = 2; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += len;
  }
  return true;
}

void check_string(std::string_view s, const limits& lim) {
  if (s.size() > lim.max_value_bytes)
    fail("value of " + std::to_string(s.size()) + " bytes is over the limit of " +
             std::to_string(lim.max_value_bytes),
         413);
  if (!valid_utf8(s)) fail("string is not valid UTF-8");
}

std::string base64(std::string_view raw) {
  static constexpr char k_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((raw.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < raw.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(raw[i]) << 16) | (static_cast<uint8_t>(raw[i + 1]) << 8) |
                       static_cast<uint8_t>(raw[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(k_b64[(v >> k) & 63]);
  }
  if (i < raw.size()) {
    uint32_t v = static_cast<uint8_t>(raw[i]) << 16;
    if (i + 1 < raw.size()) v |= static_cast<uint8_t>(raw[i + 1]) << 8;
    out.push_back(k_b64[(v >> 18) & 63]);
    out.push_back(k_b64[(v >> 12) & 63]);
    out.push_back(i + 1 < raw.size() ? k_b64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

void check_count(std::size_t n, std::size_t max, const char* what) {
  if (n > max)
    fail(std::string("more than ") + std::to_string(max) + " " + what +
             " in one request; send smaller batches",
         413);
}

void event_name_from_attributes(log_record& l) {
  if (!l.event_name.empty()) return;
  auto it = l.attributes.find("event.name");
  if (it != l.attributes.end() && it->is_string()) l.event_name = it->get<std::string>();
}

}  // namespace llmtrace::otlp::detail
