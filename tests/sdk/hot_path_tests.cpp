// White-box tests of the SDK hot path: its own formatting and memory reuse (the record text must stay exactly
// what the collector expects while trace() avoids snprintf, fresh allocations and cross-thread frees), its
// results, that it never wakes the flusher, and trace_json()'s one-copy id insertion with validation moved
// to the flusher. The in-memory exporter stands in for the network where the network is not the subject.
#include <chrono>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "client_access.hpp"
#include "fake_servers.hpp"
#include "llmtrace/llmtrace.hpp"
#include "memory_exporter.hpp"
#include "record_json.hpp"

namespace {

constexpr auto k_ok = llmtrace::trace_result::ok;

// A real client (hot path, queue, flusher) whose exporter keeps batches in `store`.
llmtrace::client memory_client(llmtrace::options o, std::shared_ptr<llmtrace::detail::memory_store> store) {
  return llmtrace::detail_access::make(
      std::move(o), [store] { return std::make_unique<llmtrace::detail::memory_exporter>(store); });
}

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

TEST_CASE("batch: a full batch is sent without waiting for the flush interval") {
  using namespace std::chrono_literals;
  llmtrace::test::fake_collector fc;
  llmtrace::options o;
  o.endpoint = fc.endpoint();
  o.flush_interval = 30s;  // far longer than the test: only the full-batch check can send
  o.max_batch_records = 64;
  o.on_warning = [](std::string_view) {};
  llmtrace::client c(o);
  for (int i = 0; i < 64; ++i) REQUIRE(c.trace("s", 0, "{\"i\":" + std::to_string(i) + "}", "null") == k_ok);
  CHECK(llmtrace::test::wait_for([&] { return fc.record_count() == 64; }, 10s));
  // A part batch waits for the interval (or an explicit flush), so records are still batched.
  for (int i = 0; i < 10; ++i) REQUIRE(c.trace("s", 0, "{}", "null") == k_ok);
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  CHECK(fc.record_count() == 74);
  CHECK(c.shutdown(5s) == llmtrace::flush_result::ok);
}

TEST_CASE("hot path: a burst of trace() and trace_json() never wakes the flusher") {
  using namespace std::chrono_literals;
  auto store = std::make_shared<llmtrace::detail::memory_store>();
  llmtrace::options o;
  o.flush_interval = 30s;  // nothing but a signal (or a full batch, made impossible here) could end its sleep
  o.max_batch_records = 1u << 20;
  o.max_batch_bytes = 1u << 30;
  llmtrace::client c = memory_client(o, store);
  REQUIRE(c.flush(5s) == llmtrace::flush_result::ok);  // the flusher is up and back asleep
  auto& impl = llmtrace::detail_access::impl_of(c);
  const uint64_t wakes_before = impl.flusher_wakes.load();
  const uint64_t calls_before = store->export_calls();
  for (int i = 0; i < 5000; ++i) {
    REQUIRE(c.trace("s", 0, "{\"i\":1}", "null") == k_ok);
    REQUIRE(c.trace_json("{\"session_id\":\"s\",\"request\":{}}") == k_ok);
    if (i % 500 == 0) std::this_thread::sleep_for(1ms);  // let a woken flusher run, were it woken
  }
  std::this_thread::sleep_for(20ms);
  CHECK(impl.flusher_wakes.load() == wakes_before);
  CHECK(store->export_calls() == calls_before);  // nothing was sent early either
  REQUIRE(c.flush(5s) == llmtrace::flush_result::ok);
  CHECK(store->records().size() == 10000);
}

TEST_CASE("trace_json: one copy with an id in front, a record's own id kept, fields unchanged") {
  using namespace std::chrono_literals;
  auto store = std::make_shared<llmtrace::detail::memory_store>();
  llmtrace::client c = memory_client({}, store);
  REQUIRE(c.trace_json(R"(  {"session_id":"a", "request":{"id":"inner"}}  )") == k_ok);
  REQUIRE(c.trace_json(R"({"session_id":"b","id":"mine"})") == k_ok);
  REQUIRE(c.trace_json("{ \n }") == k_ok);
  REQUIRE(c.trace_json(R"({"id":"first","session_id":"c"})") == k_ok);
  REQUIRE(c.flush(5s) == llmtrace::flush_result::ok);
  const auto recs = store->records();
  REQUIRE(recs.size() == 4);
  std::vector<nlohmann::json> j;
  for (const auto& r : recs) j.push_back(nlohmann::json::parse(r));
  CHECK(j[0]["id"].get<std::string>().size() == 36);
  CHECK(j[0]["session_id"] == "a");
  CHECK(j[0]["request"]["id"] == "inner");
  CHECK(recs[1] == R"({"session_id":"b","id":"mine"})");  // our id dropped, not a duplicate key
  CHECK(j[2].size() == 1);
  CHECK(j[2]["id"].get<std::string>().size() == 36);
  CHECK(recs[3] == R"({"id":"first","session_id":"c"})");
}

TEST_CASE("trace_json: the caller's thread checks the shape, the flusher drops and counts invalid records") {
  using namespace std::chrono_literals;
  auto store = std::make_shared<llmtrace::detail::memory_store>();
  llmtrace::options o;
  o.on_warning = [](std::string_view) {};
  llmtrace::client c = memory_client(o, store);
  for (const char* bad : {"", "  ", "[1]", "{", "\"x\"", "{} x"})
    CHECK_MESSAGE(c.trace_json(bad) == llmtrace::trace_result::invalid, bad);
  CHECK(c.stats().enqueued == 0);
  // Shaped like objects, so queued; the flusher's full check rejects all but the good ones.
  REQUIRE(c.trace_json(R"({"n":1})") == k_ok);
  REQUIRE(c.trace_json(R"({"n":[1,})") == k_ok);
  REQUIRE(c.trace_json("{\"n\":\"\xff\"}") == k_ok);   // invalid UTF-8
  REQUIRE(c.trace_json(R"({"n":"\ud800"})") == k_ok);  // lone surrogate: the collector would refuse it
  REQUIRE(c.trace_json(std::string(70, '{') + std::string(70, '}')) == k_ok);  // nests past the limit
  REQUIRE(c.trace("s", 0, "{\"broken\"", "null") == k_ok);  // C++ record with a bad embedded field
  REQUIRE(c.trace_json(R"({"n":2})") == k_ok);
  REQUIRE(c.flush(5s) == llmtrace::flush_result::ok);
  const auto recs = store->records();
  REQUIRE(recs.size() == 2);
  for (const auto& r : recs) CHECK(nlohmann::json::accept(r));  // nothing half or broken was sent
  CHECK(nlohmann::json::parse(recs[0])["n"] == 1);
  CHECK(nlohmann::json::parse(recs[1])["n"] == 2);
  const auto s = c.stats();
  CHECK(s.invalid == 5);
  CHECK(s.failed == 5);
  CHECK(s.sent == 2);
  CHECK(s.queue_bytes == 0);
}

TEST_CASE("trace: results say why a record was not queued") {
  using namespace std::chrono_literals;
  auto store = std::make_shared<llmtrace::detail::memory_store>();
  llmtrace::options o;
  o.queue_limit_bytes = 1;  // nothing fits
  o.on_warning = [](std::string_view) {};
  llmtrace::client c = memory_client(o, store);
  CHECK(c.trace("s", 0, "{}", "null") == llmtrace::trace_result::queue_full);
  CHECK(c.trace_json("{}") == llmtrace::trace_result::queue_full);
  CHECK(c.stats().dropped == 2);
  CHECK(c.shutdown(5s) == llmtrace::flush_result::ok);
  CHECK(c.trace("s", 0, "{}", "null") == llmtrace::trace_result::stopped);
  CHECK(c.trace_json("{}") == llmtrace::trace_result::stopped);
  CHECK(std::string(llmtrace::to_string(llmtrace::trace_result::queue_full)) == "queue_full");
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
