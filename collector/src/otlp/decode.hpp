// OTLP/HTTP request bodies to the neutral model (otlp_model.hpp): `application/x-protobuf` (decoded in-house
// from the published field numbers) and `application/json` (the OTLP/JSON mapping), gzip or not. Strict:
// any malformed part refuses the whole request with a message that names the field and, for protobuf, the
// byte offset, so nothing is stored half. Never throws for bad input.
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "otlp/otlp_model.hpp"

namespace llmtrace::otlp {

enum class encoding { protobuf, json };

// `application/x-protobuf` or `application/json` (parameters such as charset ignored); nullopt otherwise.
std::optional<encoding> encoding_of(std::string_view content_type) noexcept;
// The reply's Content-Type for an encoding.
std::string_view content_type_of(encoding e) noexcept;

struct decode_error {
  int http_status = 400;  // 400 malformed, 413 over a limit, 415 unsupported content type or encoding
  std::string message;    // what and where: "resource_spans[0].scope_spans[0].spans[3].span_id: 7 bytes, ..."
  std::string field;      // the path of the offending field, empty when the body as a whole is at fault
};

template <class T>
struct decode_result {
  bool ok = false;
  T value;
  decode_error error;
  encoding enc = encoding::json;  // the encoding to answer in (json when the content type was not understood)
};

// Full pipeline for a route: content type, content encoding (gzip | identity | empty), size caps, decoding.
decode_result<traces_request> decode_traces(std::string_view body, std::string_view content_type,
                                            std::string_view content_encoding, const limits& lim = {});
decode_result<logs_request> decode_logs(std::string_view body, std::string_view content_type,
                                        std::string_view content_encoding, const limits& lim = {});

// The decoders alone, on an already inflated body (tests and the fuzz target call these).
decode_result<traces_request> decode_traces_protobuf(std::string_view bytes, const limits& lim = {});
decode_result<traces_request> decode_traces_json(std::string_view text, const limits& lim = {});
decode_result<logs_request> decode_logs_protobuf(std::string_view bytes, const limits& lim = {});
decode_result<logs_request> decode_logs_json(std::string_view text, const limits& lim = {});

// Inflates a gzip body up to max_bytes. nullopt + message when it is not gzip, is truncated, or inflates past
// max_bytes (too_big set: a 413, not a 400).
struct inflate_result {
  bool ok = false;
  std::string bytes;
  std::string message;
  bool too_big = false;
};
inflate_result gunzip(std::string_view body, std::size_t max_bytes);

}  // namespace llmtrace::otlp
