// The route-facing entry points: content type and encoding first (415 for what OTLP/HTTP does not define),
// gzip inflation under the size cap (413), then the decoder for the encoding.
#include "otlp/decode.hpp"

#include <zlib.h>

#include <cctype>

namespace llmtrace::otlp {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

template <class T, class Pb, class Js>
decode_result<T> decode_body(std::string_view body, std::string_view content_type,
                             std::string_view content_encoding, const limits& lim, Pb&& pb, Js&& js) {
  decode_result<T> res;
  const auto enc = encoding_of(content_type);
  if (!enc) {
    res.error = {415,
                 "unsupported Content-Type \"" + std::string(content_type.substr(0, 100)) +
                     "\": OTLP/HTTP takes application/x-protobuf or application/json",
                 ""};
    return res;
  }
  res.enc = *enc;
  std::string inflated;
  const auto ce = trim(content_encoding);
  if (iequals(ce, "gzip")) {
    auto g = gunzip(body, lim.max_body_bytes);
    if (!g.ok) {
      res.error = {g.too_big ? 413 : 400, g.message, ""};
      return res;
    }
    inflated = std::move(g.bytes);
    body = inflated;
  } else if (!ce.empty() && !iequals(ce, "identity")) {
    res.error = {
        415, "unsupported Content-Encoding \"" + std::string(ce.substr(0, 100)) + "\": use gzip or none", ""};
    return res;
  }
  if (body.size() > lim.max_body_bytes) {
    res.error = {413,
                 "body of " + std::to_string(body.size()) + " bytes is over the limit of " +
                     std::to_string(lim.max_body_bytes),
                 ""};
    return res;
  }
  return *enc == encoding::protobuf ? pb(body) : js(body);
}

}  // namespace

std::optional<encoding> encoding_of(std::string_view content_type) noexcept {
  auto semi = content_type.find(';');
  auto base = trim(content_type.substr(0, semi));
  if (iequals(base, "application/x-protobuf")) return encoding::protobuf;
  if (iequals(base, "application/json")) return encoding::json;
  return std::nullopt;
}

std::string_view content_type_of(encoding e) noexcept {
  return e == encoding::protobuf ? "application/x-protobuf" : "application/json";
}

inflate_result gunzip(std::string_view body, std::size_t max_bytes) {
  inflate_result res;
  z_stream zs{};
  // 16 + MAX_WBITS: a gzip header and trailer (CRC and length are checked by zlib).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    res.message = "gzip: cannot initialise zlib";
    return res;
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  zs.avail_in = static_cast<uInt>(body.size());
  char buf[64 * 1024];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      res.message =
          std::string("gzip body is corrupt or truncated") + (zs.msg ? std::string(": ") + zs.msg : "");
      inflateEnd(&zs);
      return res;
    }
    const std::size_t produced = sizeof buf - zs.avail_out;
    if (res.bytes.size() + produced > max_bytes) {
      res.too_big = true;
      res.message = "gzip body inflates past the limit of " + std::to_string(max_bytes) + " bytes";
      inflateEnd(&zs);
      return res;
    }
    res.bytes.append(buf, produced);
    if (rc == Z_OK && produced == 0 && zs.avail_in == 0) {
      res.message = "gzip body is truncated";
      inflateEnd(&zs);
      return res;
    }
  }
  inflateEnd(&zs);
  res.ok = true;
  return res;
}

decode_result<traces_request> decode_traces(std::string_view body, std::string_view content_type,
                                            std::string_view content_encoding, const limits& lim) {
  return decode_body<traces_request>(
      body, content_type, content_encoding, lim,
      [&](std::string_view b) { return decode_traces_protobuf(b, lim); },
      [&](std::string_view b) { return decode_traces_json(b, lim); });
}

decode_result<logs_request> decode_logs(std::string_view body, std::string_view content_type,
                                        std::string_view content_encoding, const limits& lim) {
  return decode_body<logs_request>(
      body, content_type, content_encoding, lim,
      [&](std::string_view b) { return decode_logs_protobuf(b, lim); },
      [&](std::string_view b) { return decode_logs_json(b, lim); });
}

}  // namespace llmtrace::otlp
