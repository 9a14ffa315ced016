// White-box tests of the SDK hot path's own formatting and memory reuse: the record text must stay exactly
// what the collector expects while trace() avoids snprintf, fresh allocations and cross-thread frees.
#include <chrono>
#include <cstdio>
#include <limits>
#include <random>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "fake_servers.hpp"
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

TEST_CASE("json: latency digits equal printf(\"%.3f\") for random values and exact ties") {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> wide(0, 5e9);
  std::uniform_int_distribution<int64_t> halves(0, 1 << 30);
  auto expect = [](double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.3f", v);
    return std::string(buf);
  };
  for (int i = 0; i < 20000; ++i) {
    double v = wide(gen) / static_cast<double>(1 << (i % 24));
    if (i % 3 == 0) v = static_cast<double>(halves(gen)) / 2048.0;  // many exact x.xxx5 ties
    if (i % 7 == 0) v = -v;
    const std::string got = latency_text(v);
    REQUIRE_MESSAGE(got == expect(v), v);
  }
  for (double v : {0.0625, 0.0005, 0.0015, 2.5e-4, 1023.9995, 4294967295.9995, 4294967296.0, -0.0})
    CHECK_MESSAGE(latency_text(v) == expect(v), v);
}

TEST_CASE("batch: a full batch is sent without waiting for the flush interval, and trace() never signals") {
  using namespace std::chrono_literals;
  llmtrace::test::fake_collector fc;
  llmtrace::options o;
  o.endpoint = fc.endpoint();
  o.flush_interval = 30s;  // far longer than the test: only the full-batch check can send
  o.max_batch_records = 64;
  o.on_warning = [](std::string_view) {};
  llmtrace::client c(o);
  for (int i = 0; i < 64; ++i) REQUIRE(c.trace("s", 0, "{\"i\":" + std::to_string(i) + "}", "null"));
  CHECK(llmtrace::test::wait_for([&] { return fc.record_count() == 64; }, 10s));
  // A part batch waits for the interval (or an explicit flush), so records are still batched.
  for (int i = 0; i < 10; ++i) REQUIRE(c.trace("s", 0, "{}", "null"));
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  CHECK(fc.record_count() == 74);
  CHECK(c.shutdown(5s) == llmtrace::flush_result::ok);
}

TEST_CASE("pool: record buffers come in size classes and a released buffer is reused, not freed") {
  using namespace llmtrace::detail;
  CHECK(slot_capacity(1) == kSlotGrain);
  CHECK(slot_capacity(kSlotGrain) == kSlotGrain);
  CHECK(slot_capacity(kSlotGrain + 1) == 2 * kSlotGrain);
  CHECK(slot_capacity(kSlotMax) == kSlotMax);
  CHECK(slot_capacity(kSlotMax + 1) == kSlotMax + 1);  // above the classes: exact, malloc'd

  // The largest class is not used by the other tests' small records.
  char* b = buffer_take(kSlotMax - 100);
  REQUIRE(b != nullptr);
  b[0] = 'x';
  b[kSlotMax - 1] = 'y';  // the whole class capacity is usable
  const std::size_t idle = buffer_pool_idle_bytes();
  buffer_give(b, kSlotMax);
  CHECK(buffer_pool_idle_bytes() == idle + kSlotMax);
  char* again = buffer_take(kSlotMax);
  CHECK(again == b);
  CHECK(buffer_pool_idle_bytes() == idle);
  buffer_give(again, kSlotMax);

  // A record's payload draws from the pool and returns to it when destroyed.
  {
    payload p(kSlotMax - 1);
    CHECK(p.capacity() == kSlotMax);
    CHECK(p.data() == b);
  }
  CHECK(buffer_pool_idle_bytes() == idle + kSlotMax);
}

TEST_CASE("json: the validator's 8-byte fast path still finds every special byte at every offset") {
  using llmtrace::detail::valid_json;
  const std::string plain(40, 'a');
  for (std::size_t at = 0; at < plain.size(); ++at) {
    std::string s = plain;
    CHECK(valid_json("\"" + s + "\"", 8));
    s[at] = '"';  // ends the string early: trailing garbage
    CHECK_FALSE(valid_json("\"" + s + "\"", 8));
    s = plain;
    s[at] = '\x1f';
    CHECK_FALSE(valid_json("\"" + s + "\"", 8));
    s = plain;
    s[at] = '\xff';
    CHECK_FALSE(valid_json("\"" + s + "\"", 8));
    s = plain.substr(0, at) + "\xc3\xa9" + plain.substr(at + 1);
    CHECK(valid_json("\"" + s + "\"", 8));
    s = plain.substr(0, at) + "\\n" + plain.substr(at + 1);
    CHECK(valid_json("\"" + s + "\"", 8));
    s = plain.substr(0, at) + "\\q" + plain.substr(at + 1);
    CHECK_FALSE(valid_json("\"" + s + "\"", 8));
    std::string open_only(1, '"');
    open_only.append(plain, 0, at);
    CHECK_FALSE(valid_json(open_only, 8));  // unterminated
  }
  CHECK(valid_json("\" !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~\x7f\"", 8));
}
