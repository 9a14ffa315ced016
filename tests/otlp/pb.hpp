// Hand-built OTLP protobuf messages for the decoder tests: each helper returns the bytes of one message,
// written field by field from the published field numbers, so a test reads like the .proto it exercises.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "otlp/wire_reader.hpp"

namespace otlp_test::pb {

using llmtrace::otlp::wire::put_bytes_field;
using llmtrace::otlp::wire::put_tag;
using llmtrace::otlp::wire::put_varint_field;
using llmtrace::otlp::wire::wire_type;

inline std::string bytes_field(uint32_t n, std::string_view b) {
  std::string out;
  put_bytes_field(out, n, b);
  return out;
}
inline std::string varint_field(uint32_t n, uint64_t v) {
  std::string out;
  put_varint_field(out, n, v);
  return out;
}
inline std::string fixed64_field(uint32_t n, uint64_t v) {
  std::string out;
  put_tag(out, n, wire_type::fixed64);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}
inline std::string double_field(uint32_t n, double d) {
  uint64_t v = 0;
  std::memcpy(&v, &d, sizeof v);
  return fixed64_field(n, v);
}

// AnyValue
inline std::string str(std::string_view s) {
  return bytes_field(1, s);
}
inline std::string boolean(bool b) {
  return varint_field(2, b ? 1 : 0);
}
inline std::string integer(int64_t i) {
  return varint_field(3, static_cast<uint64_t>(i));
}
inline std::string dbl(double d) {
  return double_field(4, d);
}
inline std::string array(const std::vector<std::string>& values) {
  std::string arr;
  for (const auto& v : values) arr += bytes_field(1, v);
  return bytes_field(5, arr);
}
inline std::string kv(std::string_view key, const std::string& any) {
  return bytes_field(1, key) + bytes_field(2, any);
}
inline std::string kvlist(const std::vector<std::string>& kvs) {
  std::string list;
  for (const auto& k : kvs) list += bytes_field(1, k);
  return bytes_field(6, list);
}

inline std::string hex_bytes(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

struct span_spec {
  std::string trace_id = "5b8efff798038103d269b633813fc60c";
  std::string span_id = "eee19b7ec3c1b174";
  std::string parent;
  std::string name = "chat gpt-4o";
  uint64_t kind = 3;
  uint64_t start = 1'700'000'000'000'000'000ull;
  uint64_t end = 1'700'000'001'500'000'000ull;
  std::vector<std::string> attributes;  // KeyValue bodies (kv(...))
  std::vector<std::string> events;      // Event bodies
  uint64_t status_code = 0;
  std::string status_message;
};

inline std::string span(const span_spec& s) {
  std::string out = bytes_field(1, hex_bytes(s.trace_id)) + bytes_field(2, hex_bytes(s.span_id));
  if (!s.parent.empty()) out += bytes_field(4, hex_bytes(s.parent));
  out +=
      bytes_field(5, s.name) + varint_field(6, s.kind) + fixed64_field(7, s.start) + fixed64_field(8, s.end);
  for (const auto& a : s.attributes) out += bytes_field(9, a);
  for (const auto& e : s.events) out += bytes_field(11, e);
  if (s.status_code || !s.status_message.empty()) {
    std::string st;
    if (!s.status_message.empty()) st += bytes_field(2, s.status_message);
    if (s.status_code) st += varint_field(3, s.status_code);
    out += bytes_field(15, st);
  }
  return out;
}

inline std::string event(std::string_view name, uint64_t time, const std::vector<std::string>& attributes) {
  std::string out = fixed64_field(1, time) + bytes_field(2, name);
  for (const auto& a : attributes) out += bytes_field(3, a);
  return out;
}

// ExportTraceServiceRequest with one resource (attributes) and one scope holding `spans` (Span bodies).
inline std::string traces_request(const std::vector<std::string>& spans,
                                  const std::vector<std::string>& resource_attrs = {
                                      kv("service.name", str("svc"))}) {
  std::string resource;
  for (const auto& a : resource_attrs) resource += bytes_field(1, a);
  std::string scope = bytes_field(1, "my.scope") + bytes_field(2, "1.2.3");
  std::string scope_spans = bytes_field(1, scope);
  for (const auto& s : spans) scope_spans += bytes_field(2, s);
  std::string rs = bytes_field(1, resource) + bytes_field(2, scope_spans);
  return bytes_field(1, rs);
}

// ExportLogsServiceRequest with one resource and one scope holding `records` (LogRecord bodies).
inline std::string logs_request(const std::vector<std::string>& records) {
  std::string scope_logs = bytes_field(1, bytes_field(1, "logs.scope"));
  for (const auto& r : records) scope_logs += bytes_field(2, r);
  return bytes_field(1, bytes_field(1, "") + bytes_field(2, scope_logs));
}

inline std::string log_record(std::string_view event_name, const std::string& body_any,
                              std::string_view trace_hex, std::string_view span_hex, uint64_t time) {
  return fixed64_field(1, time) + bytes_field(5, body_any) + bytes_field(9, hex_bytes(trace_hex)) +
         bytes_field(10, hex_bytes(span_hex)) + bytes_field(12, event_name);
}

}  // namespace otlp_test::pb
