// White-box tests of the SDK hot path's own formatting and memory reuse: the record text must stay exactly
// what the collector expects while trace() avoids snprintf, fresh allocations and cross-thread frees.
#include <chrono>
#include <limits>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "llmtrace/llmtrace.hpp"
#include "record_json.hpp"

namespace {

nlohmann::json record_with_latency(double v) {
  llmtrace::record r;
  r.latency_ms = v;
  std::string out;
  llmtrace::detail::append_record(out, r, "id-1");
  return nlohmann::json::parse(out);
}

std::string latency_text(double v) {
  llmtrace::record r;
  r.latency_ms = v;
  std::string out;
  llmtrace::detail::append_record(out, r, "id-1");
  const auto at = out.find("\"latency_ms\":");
  REQUIRE(at != std::string::npos);
  return out.substr(at + 13, out.size() - at - 14);
}

}  // namespace

TEST_CASE("json: latency is written with three decimals, and huge or non-finite values stay valid JSON") {
  CHECK(latency_text(812.5) == "812.500");
  CHECK(latency_text(0.0004) == "0.000");
  CHECK(latency_text(1.0005) == "1.000");  // the binary value is just below 1.0005: same as printf("%.3f")
  CHECK(latency_text(-3.25) == "-3.250");
  CHECK(latency_text(123456789.0625) == "123456789.062");
  CHECK(record_with_latency(1e200)["latency_ms"].get<double>() == doctest::Approx(1e200));
  CHECK(record_with_latency(-1e20)["latency_ms"].get<double>() == doctest::Approx(-1e20));
  CHECK(record_with_latency(std::numeric_limits<double>::quiet_NaN())["latency_ms"].is_null());
  CHECK(record_with_latency(std::numeric_limits<double>::infinity())["latency_ms"].is_null());
}

TEST_CASE("json: RFC 3339 times with millisecond precision, before and after the epoch") {
  using std::chrono::milliseconds;
  using tp = std::chrono::system_clock::time_point;
  std::string s;
  llmtrace::detail::append_rfc3339(s, tp(milliseconds(1700000000123)));
  CHECK(s == "2023-11-14T22:13:20.123Z");
  s.clear();
  llmtrace::detail::append_rfc3339(s, tp(milliseconds(0)));
  CHECK(s == "1970-01-01T00:00:00.000Z");
  s.clear();
  llmtrace::detail::append_rfc3339(s, tp(milliseconds(-1)));
  CHECK(s == "1969-12-31T23:59:59.999Z");
  s.clear();
  llmtrace::detail::append_rfc3339(s, tp(milliseconds(951782400007)));  // leap day 2000
  CHECK(s == "2000-02-29T00:00:00.007Z");
}
