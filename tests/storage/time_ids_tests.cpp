// Ids and time helpers: UUIDv7 layout and ordering, RFC 3339 formatting and parsing, session names.
#include <doctest/doctest.h>

#include <algorithm>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include "model/ids.hpp"
#include "model/record.hpp"
#include "model/time.hpp"

using namespace llmtrace::model;

TEST_CASE("ids: uuidv7 layout is lowercase hex with version 7 and RFC variant") {
  const std::regex layout("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 100; ++i) {
    const auto id = new_record_id();
    CHECK_MESSAGE(std::regex_match(id, layout), id);
  }
  CHECK(std::regex_match(new_session_id(), layout));
}

TEST_CASE("ids: timestamp prefix is the current millisecond") {
  const int64_t before = now_ms();
  const auto id = new_record_id();
  const int64_t after = now_ms();
  std::string hex = id.substr(0, 8) + id.substr(9, 4);
  const auto ts = static_cast<int64_t>(std::stoull(hex, nullptr, 16));
  CHECK(ts >= before);
  CHECK(ts <= after + 1);
}

TEST_CASE("ids: monotonic and unique across threads within a millisecond") {
  constexpr int threads = 4;
  constexpr int per_thread = 5000;
  std::vector<std::vector<std::string>> got(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      got[t].reserve(per_thread);
      for (int i = 0; i < per_thread; ++i) got[t].push_back(new_record_id());
    });
  }
  for (auto& t : ts) t.join();
  std::set<std::string> all;
  for (const auto& v : got) {
    CHECK(std::is_sorted(v.begin(), v.end()));  // each thread sees strictly increasing ids
    CHECK(std::adjacent_find(v.begin(), v.end()) == v.end());
    all.insert(v.begin(), v.end());
  }
  CHECK(all.size() == static_cast<size_t>(threads * per_thread));
}

TEST_CASE("time: format rfc3339 with milliseconds in UTC") {
  CHECK(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339_ms(1795674725123) == "2026-11-26T06:32:05.123Z");
  CHECK(format_rfc3339_ms(951782400000) == "2000-02-29T00:00:00.000Z");
  CHECK(format_rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("time: parse rfc3339 with Z, offsets and fractions") {
  CHECK(parse_rfc3339_ms("2026-11-26T06:32:05.123Z") == 1795674725123);
  CHECK(parse_rfc3339_ms("2026-11-26T06:32:05Z") == 1795674725000);
  CHECK(parse_rfc3339_ms("2026-11-26T06:32:05.1Z") == 1795674725100);
  CHECK(parse_rfc3339_ms("2026-11-26T06:32:05.123456789Z") == 1795674725123);
  CHECK(parse_rfc3339_ms("2026-11-26T14:32:05.123+08:00") == 1795674725123);
  CHECK(parse_rfc3339_ms("2026-11-26T01:32:05.123-05:00") == 1795674725123);
  CHECK(parse_rfc3339_ms("2026-11-26 06:32:05z") == 1795674725000);
  for (int64_t ms : {int64_t{0}, int64_t{1795674725123}, int64_t{4102444799999}}) {
    CHECK(parse_rfc3339_ms(format_rfc3339_ms(ms)) == ms);
  }
}

TEST_CASE("time: parse rejects malformed text") {
  for (const char* bad :
       {"", "2026-11-26", "2026-11-26T06:32:05", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2026-11-26T24:00:00Z", "2026-11-26T06:32:05.Z", "2026-11-26T06:32:05Zjunk", "2026-11-26T06:32:05+8",
        "abcd-11-26T06:32:05Z", "2026-11-26T06:32:05+25:00"}) {
    CHECK_MESSAGE(!parse_rfc3339_ms(bad).has_value(), bad);
  }
}

TEST_CASE("time: local session name has the default shape") {
  const std::string name = format_local_session_name(now_ms());
  const std::regex shape("^对话-[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$");
  CHECK_MESSAGE(std::regex_match(name, shape), name);
}

TEST_CASE("model: status names round-trip") {
  for (auto s : {record_status::pending, record_status::success, record_status::error}) {
    CHECK(parse_status(to_string(s)) == s);
  }
  CHECK(!parse_status("done").has_value());
  CHECK(!parse_status("").has_value());
}
