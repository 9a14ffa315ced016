// The OTLP replies: Export*ServiceResponse with partial_success, google.rpc.Status, in both encodings.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "otlp/reply.hpp"
#include "otlp/wire_reader.hpp"

using namespace llmtrace::otlp;

TEST_CASE("otlp reply: full success is an empty message in both encodings") {
  CHECK(export_response(signal::traces, encoding::protobuf).empty());
  CHECK(export_response(signal::traces, encoding::json) == "{}");
  CHECK(export_response(signal::metrics, encoding::json) == "{}");
}

TEST_CASE("otlp reply: partial success carries the rejected count and the message") {
  auto j = nlohmann::json::parse(export_response(signal::traces, encoding::json, 3, "3 spans too old"));
  CHECK(j["partialSuccess"]["rejectedSpans"] == 3);
  CHECK(j["partialSuccess"]["errorMessage"] == "3 spans too old");
  auto lj = nlohmann::json::parse(export_response(signal::logs, encoding::json, 1, "x"));
  CHECK(lj["partialSuccess"]["rejectedLogRecords"] == 1);

  // protobuf: field 1 (partial_success) holding 1 = rejected (varint), 2 = error_message.
  const std::string pbody = export_response(signal::traces, encoding::protobuf, 3, "why");
  wire::reader r(pbody);
  auto f = r.next_field();
  REQUIRE(f.number == 1);
  REQUIRE(f.type == wire::wire_type::len);
  wire::reader inner(r.read_bytes());
  CHECK(r.done());
  auto f1 = inner.next_field();
  CHECK(f1.number == 1);
  CHECK(inner.read_varint() == 3);
  auto f2 = inner.next_field();
  CHECK(f2.number == 2);
  CHECK(inner.read_bytes() == "why");
}

TEST_CASE("otlp reply: an error is a google.rpc.Status with the matching gRPC code") {
  auto j = nlohmann::json::parse(status_body(encoding::json, 400, "bad trace id"));
  CHECK(j["code"] == 3);
  CHECK(j["message"] == "bad trace id");
  CHECK(nlohmann::json::parse(status_body(encoding::json, 503, "busy"))["code"] == 14);
  CHECK(nlohmann::json::parse(status_body(encoding::json, 429, "slow down"))["code"] == 8);

  const std::string p = status_body(encoding::protobuf, 413, "too big");
  wire::reader r(p);
  CHECK(r.next_field().number == 1);
  CHECK(r.read_varint() == 3);
  CHECK(r.next_field().number == 2);
  CHECK(r.read_bytes() == "too big");
}
