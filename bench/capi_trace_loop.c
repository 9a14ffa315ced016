/* The C side of llmtrace_bench_capi: calls lt_trace_json from real C, timing each call with the same clock
 * the C++ peer uses (CLOCK_MONOTONIC), so the comparison is the call and nothing else. */
#include <time.h>

#include "llmtrace.h"

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Traces `json` n times; writes each call's latency in ns to out[i]. Returns the number of calls not LT_OK.
 */
int capi_bench_trace_loop(lt_client* c, const char* json, size_t len, int n, double* out) {
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    const long long t0 = now_ns();
    const lt_status rc = lt_trace_json(c, json, len);
    const long long t1 = now_ns();
    out[i] = (double)(t1 - t0);
    if (rc != LT_OK) ++failures;
  }
  return failures;
}
