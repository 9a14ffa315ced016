// The C API's hot path (issue 14): lt_trace_json called from C (capi_trace_loop.c) on a 2 KB record, against
// a bare moodycamel enqueue of a copy of the same 2,048 bytes drained by a consumer thread (the floor), in
// the same run. Rounds alternate between the two; each round uses a fresh client / queue; the collector is
// down (a closed loopback port, no retries), so the library's flusher only validates and drops. Reports
// per-call p50 and p99 (median over rounds) and the p50 ratio (target <= 1.5x). Usage: llmtrace_bench_capi
// [rounds=5] [calls_per_round=20000] [--out ROWS] (--out appends row-7 table lines, as scripts/bench.sh runs
// it)
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "bench_util.hpp"
#include "llmtrace.h"

extern "C" int capi_bench_trace_loop(lt_client* c, const char* json, size_t len, int n, double* out);

namespace lb = llmtrace::bench;

namespace {

constexpr std::size_t k_record_bytes = 2048;

std::string make_record_text() {
  lb::rng r(42);
  const lb::chat_pair pair = lb::make_chat_pair(r, k_record_bytes - 190);
  // No id: lt_trace_json writes one in place, as it does for bindings.
  std::string text =
      R"({"session_id":"bench-session","turn_number":1,"model":"gpt-4o-mini","latency_ms":812.5,)"
      R"("status":"success","request":)" +
      pair.request_json + R"(,"response":)" + pair.response_json;
  if (text.size() + 1 > k_record_bytes) text.resize(k_record_bytes - 1);  // never in practice (sized above)
  text.append(k_record_bytes - 1 - text.size(), ' ');
  text += '}';
  return text;
}

long long now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

struct round_result {
  double p50, p99;
};

round_result summarize(std::vector<double>& v) {
  return {lb::percentile(v, 0.5), lb::percentile(v, 0.99)};
}

round_result capi_round(const std::string& text, int n, int& failures) {
  lt_options o;
  lt_options_init(&o);
  o.endpoint = "http://127.0.0.1:1";  // refused at once: the flusher validates, tries once, drops
  o.max_retries = -1;
  o.exit_flush_deadline_ms = 200;
  lt_client* c = nullptr;
  if (lt_client_new(&c, &o) != LT_OK) {
    std::fprintf(stderr, "lt_client_new: %s\n", lt_last_error());
    std::exit(1);
  }
  std::vector<double> lat(static_cast<std::size_t>(n));
  failures += capi_bench_trace_loop(c, text.data(), text.size(), n, lat.data());
  lt_client_free(c);
  return summarize(lat);
}

round_result queue_round(const std::string& text, int n) {
  moodycamel::ConcurrentQueue<std::string> q(4096);
  std::atomic<bool> stop{false};
  // Drains like a flusher would: the strings are freed on another thread, as in the SDK.
  std::thread consumer([&] {
    std::vector<std::string> buf(512);
    for (;;) {
      const std::size_t got = q.try_dequeue_bulk(buf.begin(), buf.size());
      for (std::size_t i = 0; i < got; ++i) std::string().swap(buf[i]);
      if (got == 0) {
        if (stop.load()) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  });
  std::vector<double> lat(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const long long t0 = now_ns();
    q.enqueue(std::string(text));
    const long long t1 = now_ns();
    lat[static_cast<std::size_t>(i)] = static_cast<double>(t1 - t0);
  }
  stop = true;
  consumer.join();
  return summarize(lat);
}

double median(std::vector<double> v) {
  return lb::percentile(v, 0.5);
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 && argv[1][0] != '-' ? std::max(1, std::atoi(argv[1])) : 5;
  const int calls = argc > 2 && argv[2][0] != '-' ? std::max(100, std::atoi(argv[2])) : 20000;
  lb::result_sink out(lb::arg_value(argc, argv, "--out"));
  const std::string text = make_record_text();
  std::vector<double> c50, c99, q50, q99;
  int failures = 0;
  (void)capi_round(text, 2000, failures);  // warm the buffer pool and the code
  (void)queue_round(text, 2000);
  failures = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto c = capi_round(text, calls, failures);
    const auto q = queue_round(text, calls);
    c50.push_back(c.p50);
    c99.push_back(c.p99);
    q50.push_back(q.p50);
    q99.push_back(q.p99);
    std::printf(
        "round %d: lt_trace_json p50 %.0f ns p99 %.0f ns | moodycamel enqueue p50 %.0f ns p99 %.0f ns\n",
        r + 1, c.p50, c.p99, q.p50, q.p99);
  }
  const double cm = median(c50), qm = median(q50);
  std::printf("record %zu bytes, %d rounds x %d calls, collector down\n", text.size(), rounds, calls);
  std::printf("lt_trace_json (from C)        p50 %.0f ns  p99 %.0f ns  (median of rounds)\n", cm,
              median(c99));
  std::printf("moodycamel enqueue (same 2KB) p50 %.0f ns  p99 %.0f ns  (median of rounds)\n", qm,
              median(q99));
  std::printf("ratio p50: %.2fx (target <= 1.5x)\n", qm > 0 ? cm / qm : 0.0);
  if (failures) std::printf("calls not LT_OK: %d (queue full?)\n", failures);
  const double c99m = median(c99), q99m = median(q99);
  const std::string what = "lt_trace_json from C, 2 KB record, collector down, 1 thread";
  out.add({"7 C API", what + " p50", lb::fmt_ns(cm), "enqueue " + lb::fmt_ns(qm),
           lb::fmt_ratio(qm > 0 ? cm / qm : 0), "<= 1.5x enqueue", cm <= 1.5 * qm ? "yes" : "no"});
  out.add({"7 C API", what + " p99", lb::fmt_ns(c99m), "enqueue " + lb::fmt_ns(q99m),
           lb::fmt_ratio(q99m > 0 ? c99m / q99m : 0), "(informative)", "-"});
  return 0;
}
