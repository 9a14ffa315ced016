// A minimal trace() driver for profiling (valgrind --tool=callgrind) and for one question the percentiles
// cannot answer: how much of trace()'s tail is the once-per-max_batch_records wake of the flusher. It times
// the calls that wake (every 512th record of a fresh client) apart from the others. No collector needed: the
// endpoint is a closed loopback port. Usage: llmtrace_bench_trace_profile [calls per round, default 16384]
//
// Tail mode (issue 14: why is p99.9 worse with the collector up?): llmtrace_bench_trace_profile --tail
// --collector BIN --work DIR [--warm] [calls per round] runs the same loop against a real collector and
// against a closed port, and after every call reads this thread's getrusage counters (outside the timed span)
// to attribute each call above 5 us: an involuntary context switch (the thread lost its CPU), a minor page
// fault (a fresh buffer touched), or neither. It also reports the flusher's share of CPU over the loop.
#include <sys/resource.h>

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

namespace {

// The i-th record of a burst: the same chat pair every time, as a chat loop's calls look to the SDK.
llmtrace::record bench_record(const lb::chat_pair& p, int i) {
  llmtrace::record rec;
  rec.session_id = "bench-session";
  rec.turn_number = 1 + i;
  rec.request_json = p.request_json;
  rec.response_json = p.response_json;
  rec.model = "gpt-4o-mini";
  rec.latency_ms = 812.5;
  return rec;
}

// Nanoseconds one trace() call takes on the caller's thread (the record is built before the clock starts).
double timed_trace(llmtrace::client& c, const llmtrace::record& rec) {
  const auto t0 = lb::steady::now();
  c.trace(rec);
  return std::chrono::duration<double, std::nano>(lb::steady::now() - t0).count();
}

struct tail_counts {
  std::vector<double> ns;
  long slow = 0, slow_csw = 0, slow_flt = 0, slow_none = 0, csw = 0, flt = 0;
  double cpu_ms = 0, wall_ms = 0;
  std::vector<long> round_faults;  // minor faults of each round (the first fills the buffer pool)
};

// One round of `n` trace() calls on a fresh thread and client; per-call latency and, for the calls above
// 5 us, what this thread's rusage says happened during them.
void tail_round(const std::string& endpoint, const lb::chat_pair& p, int n, tail_counts& out) {
  std::thread([&] {
    llmtrace::options o;
    o.endpoint = endpoint;
    o.max_retries = 0;
    o.exit_flush_deadline = std::chrono::milliseconds(500);
    o.on_warning = [](std::string_view) {};
    llmtrace::client c(o);
    rusage before{}, after{}, self0{}, self1{};
    getrusage(RUSAGE_SELF, &self0);
    const auto w0 = lb::steady::now();
    getrusage(RUSAGE_THREAD, &before);
    const long faults0 = out.flt;
    for (int i = 0; i < n; ++i) {
      const double ns = timed_trace(c, bench_record(p, i));
      getrusage(RUSAGE_THREAD, &after);
      const long csw = after.ru_nivcsw - before.ru_nivcsw, flt = after.ru_minflt - before.ru_minflt;
      out.csw += csw;
      out.flt += flt;
      out.ns.push_back(ns);
      if (ns > 5000) {
        ++out.slow;
        if (csw) ++out.slow_csw;
        if (flt) ++out.slow_flt;
        if (!csw && !flt) ++out.slow_none;
      }
      before = after;
    }
    getrusage(RUSAGE_SELF, &self1);
    out.round_faults.push_back(out.flt - faults0);
    out.wall_ms += std::chrono::duration<double, std::milli>(lb::steady::now() - w0).count();
    auto ms = [](const timeval& a, const timeval& b) {
      return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_usec - a.tv_usec) / 1e3;
    };
    // The whole process's CPU over the loop (producer + flusher): above the loop's wall time means the
    // flusher ran on the other core at the same time.
    out.cpu_ms += ms(self0.ru_utime, self1.ru_utime) + ms(self0.ru_stime, self1.ru_stime);
  }).join();
}

int tail_main(int argc, char** argv, int per_round) {
  const std::string bin = lb::arg_value(argc, argv, "--collector");
  const std::string work = lb::arg_value(argc, argv, "--work", "/tmp");
  if (bin.empty()) {
    std::fprintf(stderr, "usage: llmtrace_bench_trace_profile --tail --collector BIN --work DIR [calls]\n");
    return 2;
  }
  lb::rng r(42);
  const lb::chat_pair p = lb::make_chat_pair(r, 1858);
  const std::string db = work + "/trace_profile_tail.db";
  std::remove(db.c_str());
  lb::collector_process collector;
  collector.start(bin, db);
  const std::string down = "http://127.0.0.1:" + std::to_string(lb::free_loopback_port());
  tail_counts up_c, down_c;
  // --warm: one unrecorded round first, so that neither side pays for filling the process-wide buffer pool
  // (without it the collector-up side, which runs first, takes all of the cold pool's page faults).
  if (std::any_of(argv + 1, argv + argc, [](const char* a) { return std::string(a) == "--warm"; })) {
    tail_counts warm;
    tail_round(down, p, per_round, warm);
  }
  for (int round = 0; round < 6; ++round) {
    tail_round(collector.base_url(), p, per_round, up_c);
    tail_round(down, p, per_round, down_c);
  }
  collector.stop();
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  auto show = [](const char* name, tail_counts& t) {
    const lb::summary s = lb::summarize(t.ns);
    std::printf(
        "%-14s n=%zu p50=%s p99=%s p99.9=%s | calls > 5 us: %ld, of which with an involuntary context "
        "switch %ld, with a minor fault %ld, with neither %ld | per call: %.4f csw, %.4f faults | process "
        "CPU %.0f ms over %.0f ms of loop\n",
        name, s.n, lb::fmt_ns(s.p50).c_str(), lb::fmt_ns(s.p99).c_str(), lb::fmt_ns(s.p999).c_str(), t.slow,
        t.slow_csw, t.slow_flt, t.slow_none, static_cast<double>(t.csw) / static_cast<double>(s.n),
        static_cast<double>(t.flt) / static_cast<double>(s.n), t.cpu_ms, t.wall_ms);
    std::printf("%-14s minor faults per round:", name);
    for (long f : t.round_faults) std::printf(" %ld", f);
    std::printf("\n");
  };
  show("collector up", up_c);
  show("collector down", down_c);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool tail = false;
  int per_round = 16384;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tail")
      tail = true;
    else if (a == "--warm")
      continue;
    else if (a == "--collector" || a == "--work")
      ++i;
    else
      per_round = std::max(512, std::atoi(argv[i]));
  }
  if (tail) return tail_main(argc, argv, per_round);
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
        const double ns = timed_trace(c, bench_record(p, i));
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
