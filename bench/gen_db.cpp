// Row 3 set-up: writes a large database (default 1M ~1 KB records in 10k sessions; env LLMTRACE_BENCH_RECORDS
// scales it) through the collector's own ingest parser (ingest::parse_trace) and store (open_sqlite_store +
// ingest::write_batch), so it holds exactly what ingest would make. Also writes DB.sample (session ids and a
// sample of record ids) for the query load, and appends the database size per record to the results. Usage:
// llmtrace_bench_gen_db --db PATH --out ROWS_FILE [--row NAME] (NAME: the rows' label, default "3 Queries at
// scale")
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.hpp"
#include "ingest/record_parser.hpp"
#include "ingest/write_rules.hpp"
#include "model/ids.hpp"
#include "storage/store.hpp"

namespace lb = llmtrace::bench;

int main(int argc, char** argv) {
  const std::string db = lb::arg_value(argc, argv, "--db");
  lb::result_sink out(lb::arg_value(argc, argv, "--out"));
  const std::string row_name = lb::arg_value(argc, argv, "--row", "3 Queries at scale");
  if (db.empty()) {
    std::cerr << "usage: llmtrace_bench_gen_db --db PATH [--out FILE]\n";
    return 2;
  }
  const int64_t records = lb::env_int("LLMTRACE_BENCH_RECORDS", 1000000);
  constexpr int64_t kPerSession = 100;
  constexpr int64_t kWindow = 64;  // sessions active at the same time: their turns interleave
  constexpr std::size_t kBatch = 512;
  const int64_t sessions = std::max<int64_t>(1, records / kPerSession);
  for (auto suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());

  llmtrace::storage::sqlite_options so;
  so.path = db;
  auto store = llmtrace::storage::open_sqlite_store(so);

  std::vector<std::string> session_ids(static_cast<std::size_t>(sessions));
  for (auto& s : session_ids) s = llmtrace::model::new_session_id();
  std::ofstream sample(db + ".sample");
  for (auto& s : session_ids) sample << "s " << s << "\n";

  // Two-stage pipeline (2 cores): this thread generates and parses batches, a writer thread commits them.
  // A time budget (LLMTRACE_BENCH_GEN_SECONDS, default 240) bounds the run on a busy machine; the rows say
  // how many records were actually written.
  const int64_t budget_s = lb::env_int("LLMTRACE_BENCH_GEN_SECONDS", 240);
  using batch_t = std::vector<llmtrace::storage::record_write>;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<batch_t> ready;
  bool done = false;
  std::string write_error;
  std::thread writer([&] {
    for (;;) {
      batch_t b;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !ready.empty() || done; });
        if (ready.empty()) return;
        b = std::move(ready.front());
        ready.pop_front();
      }
      cv.notify_all();
      try {
        llmtrace::ingest::write_batch(*store, b);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        write_error = e.what();
        return;
      }
    }
  });

  lb::rng r(2024);
  batch_t batch;
  batch.reserve(kBatch);
  int64_t written = 0, payload_bytes = 0;
  const auto t0 = lb::steady::now();
  const auto deadline = t0 + std::chrono::seconds(budget_s);
  bool out_of_time = false;
  auto push = [&] {
    if (batch.empty()) return;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return ready.size() < 4 || !write_error.empty(); });
    ready.push_back(std::move(batch));
    batch = batch_t();
    batch.reserve(kBatch);
    cv.notify_all();
  };
  for (int64_t w0 = 0; w0 < sessions && written < records && !out_of_time; w0 += kWindow) {
    const int64_t w1 = std::min(sessions, w0 + kWindow);
    for (int64_t turn = 1; turn <= kPerSession && written < records && !out_of_time; ++turn) {
      for (int64_t s = w0; s < w1 && written < records; ++s) {
        // A per-session token makes "rare word" searches with ~100 hits possible.
        const lb::chat_pair p = lb::make_chat_pair(r, 900, "topic" + std::to_string(s));
        const std::string id = llmtrace::model::new_record_id();
        const std::string text =
            lb::make_trace_json(id, session_ids[static_cast<std::size_t>(s)], turn, p, r.below(50) == 0);
        payload_bytes += static_cast<int64_t>(text.size());
        const auto j = nlohmann::json::parse(text);
        llmtrace::storage::record_write wr;
        llmtrace::ingest::field_error err;
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        if (!llmtrace::ingest::parse_trace(j, now_ms, wr, err)) {
          std::cerr << "gen_db: generated trace rejected: " << err.message << " (" << err.field << ")\n";
          return 1;
        }
        batch.push_back(std::move(wr));
        if (written % 100 == 0) sample << "r " << id << "\n";
        ++written;
        if (batch.size() == kBatch) {
          push();
          if (lb::steady::now() > deadline) out_of_time = true;
        }
        if (written % 100000 == 0) {
          std::printf("gen_db: %lld records (%.0f s)\n", static_cast<long long>(written),
                      std::chrono::duration<double>(lb::steady::now() - t0).count());
          std::fflush(stdout);
        }
      }
    }
  }
  push();
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  writer.join();
  if (!write_error.empty()) {
    std::cerr << "gen_db: write failed: " << write_error << "\n";
    return 1;
  }
  const double seconds = std::chrono::duration<double>(lb::steady::now() - t0).count();
  store.reset();  // closes the connections (checkpoints the WAL)
  sample.close();
  const int64_t bytes = lb::file_size(db) + std::max<int64_t>(0, lb::file_size(db + "-wal"));
  std::printf("gen_db: %lld records in %lld sessions, %.1f s, %s\n", static_cast<long long>(written),
              static_cast<long long>(sessions), seconds, lb::fmt_bytes(static_cast<double>(bytes)).c_str());

  lb::result_row row;
  row.row = row_name;
  row.metric = "database size per record (" + lb::fmt_num(static_cast<double>(written)) + " records, " +
               lb::fmt_num(static_cast<double>(sessions)) + " sessions)";
  row.ours = lb::fmt_num(static_cast<double>(bytes) / static_cast<double>(written)) + " B/record";
  row.peer = "payload JSON " +
             lb::fmt_num(static_cast<double>(payload_bytes) / static_cast<double>(written)) + " B/record";
  row.ratio = lb::fmt_ratio(static_cast<double>(bytes) / static_cast<double>(payload_bytes));
  row.target = "(informative)";
  out.add(row);
  row.metric = "generation through parse_trace + write_batch (512/transaction)" +
               std::string(out_of_time ? ", stopped by the time budget" : "");
  row.ours = lb::fmt_num(static_cast<double>(written) / seconds) + " rec/s";
  row.peer = "-";
  row.ratio = "-";
  out.add(row);
  return 0;
}
