// Row 6: footprint of a fresh collector: cold start to the first /healthz answer (median of several starts on
// a new database), idle RSS, binary size. RSS after the query load is measured by the queries subcommand.
#include <sys/stat.h>

#include <cstdio>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "load.hpp"

namespace llmtrace::bench {

int run_footprint(int argc, char** argv) {
  const std::string bin = arg_value(argc, argv, "--collector");
  const std::string work = arg_value(argc, argv, "--work", "/tmp");
  const std::string ui = arg_value(argc, argv, "--ui", "unknown");
  result_sink out(arg_value(argc, argv, "--out"));

  std::vector<double> starts;
  int64_t idle_rss = 0;
  std::string idle_text;
  for (int i = 0; i < 7; ++i) {
    const std::string db = work + "/footprint-" + std::to_string(i) + ".db";
    for (auto suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
    collector_process col;
    col.start(bin, db);
    starts.push_back(col.start_ms());
    if (i == 0) {
      // Idle: let start-up allocations settle, then read VmRSS.
      std::this_thread::sleep_for(std::chrono::seconds(1));
      idle_rss = process_rss_bytes(col.pid());
      idle_text = rss_text(col.pid());
    }
    col.stop();
  }
  const summary s = summarize(starts);
  result_row r;
  r.row = "6 Footprint";
  r.metric = "collector idle RSS (fresh database, 1 s after start)";
  r.ours = idle_text;
  r.target = "<= 20 MB";
  r.met = idle_rss <= 20ll * 1024 * 1024 ? "yes" : "no";
  out.add(r);
  r.metric = "cold start to first /healthz 200 (new database), median of 7";
  r.ours = fmt_ms(s.p50) + " (max " + fmt_ms(s.max) + ")";
  r.target = "<= 100 ms";
  r.met = s.p50 <= 100 ? "yes" : "no";
  out.add(r);
  r.metric = std::string("llmtrace-collector binary size (UI ") +
             (ui == "ON" ? "embedded" : "not built: fallback page") + ")";
  r.ours = fmt_bytes(static_cast<double>(file_size(bin)));
  r.target = "(informative)";
  r.met = "-";
  out.add(r);
  return 0;
}

}  // namespace llmtrace::bench
