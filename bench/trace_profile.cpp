// A minimal trace() driver for profiling (valgrind --tool=callgrind) and for one question the percentiles
// cannot answer: how much of trace()'s tail is the once-per-max_batch_records wake of the flusher. It times
// the calls that wake (every 512th record of a fresh client) apart from the others. No collector needed: the
// endpoint is a closed loopback port. Usage: llmtrace_bench_trace_profile [calls per round, default 16384]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <llmtrace/llmtrace.hpp>

#include "bench_util.hpp"

namespace lb = llmtrace::bench;

int main(int argc, char** argv) {
  const int per_round = argc > 1 ? std::max(512, std::atoi(argv[1])) : 16384;
  constexpr int kRounds = 8;
  lb::rng r(42);
  const lb::chat_pair p = lb::make_chat_pair(r, 1858);
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(lb::free_loopback_port());
  std::vector<double> wake, other;
  for (int round = 0; round < kRounds; ++round) {
    // A fresh thread and client per round, as an application's first burst would see them.
    std::thread([&] {
      llmtrace::options o;
      o.endpoint = endpoint;
      o.exit_flush_deadline = std::chrono::milliseconds(20);
      o.on_warning = [](std::string_view) {};
      llmtrace::client c(o);
      for (int i = 0; i < per_round; ++i) {
        llmtrace::record rec;
        rec.session_id = "bench-session";
        rec.turn_number = 1 + i;
        rec.request_json = p.request_json;
        rec.response_json = p.response_json;
        rec.model = "gpt-4o-mini";
        rec.latency_ms = 812.5;
        const auto t0 = lb::steady::now();
        c.trace(rec);
        const double ns = std::chrono::duration<double, std::nano>(lb::steady::now() - t0).count();
        // enqueue() signals the flusher when the count reaches a multiple of max_batch_records (512).
        ((i + 1) % 512 == 0 ? wake : other).push_back(ns);
      }
    }).join();
  }
  auto show = [](const char* name, std::vector<double> v) {
    const lb::summary s = lb::summarize(v);
    std::printf("%-22s n=%-7zu p50=%-9s p90=%-9s p99=%-9s p99.9=%-9s max=%s\n", name, s.n,
                lb::fmt_ns(s.p50).c_str(), lb::fmt_ns(lb::percentile(v, 0.9)).c_str(),
                lb::fmt_ns(s.p99).c_str(), lb::fmt_ns(s.p999).c_str(), lb::fmt_ns(s.max).c_str());
  };
  show("calls that wake", wake);
  show("all other calls", other);
  return 0;
}
