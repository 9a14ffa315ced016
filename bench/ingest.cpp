// Row 2: ingest throughput through POST /api/traces over loopback (2 KB records, 512-record batches,
// keep-alive, 2 client threads) against a real collector process, versus a raw SQLite bulk insert of the same
// rows into a similar table (WAL, synchronous=FULL, 512 rows per transaction, one prepared statement).
#include <sys/resource.h>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <httplib.h>

#include <llmtrace/llmtrace.hpp>

#include "bench_util.hpp"
#include "ingest_load.hpp"
#include "load.hpp"

namespace llmtrace::bench {
namespace {

constexpr int kBatch = kIngestBatch;
constexpr int kClients = 2;

std::string session_of(int64_t i) {
  return ingest_session_of(i);
}
int64_t turn_of(int64_t i) {
  return ingest_turn_of(i);
}

double thread_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

struct raw_result {
  double seconds = 0, cpu_seconds = 0;
  int64_t bytes = 0;
};

// The peer: what SQLite alone does with the same rows and the same durability settings.
raw_result raw_sqlite_insert(const std::string& path, const row_source& src, int64_t records) {
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) throw std::runtime_error("cannot open " + path);
  check(sqlite3_exec(db,
                     "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE records (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
                     " session_id TEXT NOT NULL, turn_number INTEGER NOT NULL, request TEXT NOT NULL,"
                     " response TEXT NOT NULL, status TEXT NOT NULL, error_message TEXT NOT NULL DEFAULT '',"
                     " metadata TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
                     " latency_ms REAL, model TEXT);"
                     "CREATE INDEX records_by_turn ON records (session_id, turn_number);",
                     nullptr, nullptr, nullptr),
        db, "schema");
  sqlite3_stmt* ins = nullptr;
  check(sqlite3_prepare_v2(
            db,
            "INSERT INTO records (id, session_id, turn_number, request, response, status, metadata,"
            " created_at, updated_at, latency_ms, model) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            -1, &ins, nullptr),
        db, "prepare");
  const double cpu0 = thread_cpu_seconds();
  const auto t0 = steady::now();
  for (int64_t i = 0; i < records;) {
    check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
    for (int k = 0; k < kBatch && i < records; ++k, ++i) {
      const std::string id = llmtrace::new_id();
      const std::string sid = session_of(i);
      const chat_pair& p = src.pair(i);
      const auto now = static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
      sqlite3_bind_text(ins, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
      sqlite3_bind_text(ins, 2, sid.data(), static_cast<int>(sid.size()), SQLITE_TRANSIENT);
      sqlite3_bind_int64(ins, 3, turn_of(i));
      sqlite3_bind_text(ins, 4, p.request_json.data(), static_cast<int>(p.request_json.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(ins, 5, p.response_json.data(), static_cast<int>(p.response_json.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(ins, 6, "success", -1, SQLITE_STATIC);
      sqlite3_bind_text(ins, 7, R"({"app":"bench","env":"dev"})", -1, SQLITE_STATIC);
      sqlite3_bind_int64(ins, 8, now);
      sqlite3_bind_int64(ins, 9, now);
      sqlite3_bind_double(ins, 10, 812.5);
      sqlite3_bind_text(ins, 11, "gpt-4o-mini", -1, SQLITE_STATIC);
      check(sqlite3_step(ins), db, "insert");
      sqlite3_reset(ins);
    }
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  }
  raw_result r;
  r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  r.cpu_seconds = thread_cpu_seconds() - cpu0;
  sqlite3_finalize(ins);
  sqlite3_close(db);
  r.bytes = file_size(path) + std::max<int64_t>(0, file_size(path + "-wal"));
  return r;
}

}  // namespace

int run_ingest(int argc, char** argv) {
  const std::string bin = arg_value(argc, argv, "--collector");
  const std::string work = arg_value(argc, argv, "--work", "/tmp");
  result_sink out(arg_value(argc, argv, "--out"));
  const int64_t batches = std::max<int64_t>(4, env_int("LLMTRACE_BENCH_INGEST_RECORDS", 131072) / kBatch);
  const int64_t records = batches * kBatch;
  const row_source src;

  const std::string db = work + "/ingest.db";
  for (auto suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  collector_process col;
  col.start(bin, db);

  post_result load;
  const double cpu0 = process_cpu_seconds(col.pid());
  const double self0 = self_cpu_seconds();
  std::thread poster([&] { load = post_batches({col.port()}, kClients, src, batches); });
  // The full-text index trails the commit (issue 14): sample how far behind it is while the clients post
  // (GET /api/stats every 100 ms), then how long it takes to catch up after the last 2xx.
  std::atomic<bool> posting{true};
  std::atomic<int64_t> max_lag{0};
  auto stats_lag = [&](httplib::Client& cli) -> int64_t {
    auto res = cli.Get("/api/stats");
    if (!res || res->status != 200) return -1;
    const auto p = res->body.find("\"search_index_lag\":");
    return p == std::string::npos ? -1 : std::atoll(res->body.c_str() + p + 19);
  };
  std::thread sampler([&] {
    httplib::Client cli("127.0.0.1", col.port());
    cli.set_keep_alive(true);
    while (posting.load()) {
      const int64_t lag = stats_lag(cli);
      if (lag > max_lag.load()) max_lag = lag;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  poster.join();
  const double self_cpu = self_cpu_seconds() - self0;
  const double seconds = load.seconds;
  const int64_t accepted = load.accepted, rejected = load.rejected, retries = load.retries,
                failures = load.failures;
  posting = false;
  sampler.join();
  double catch_up_ms = -1;
  {
    httplib::Client cli("127.0.0.1", col.port());
    const auto c0 = steady::now();
    while (steady::now() - c0 < std::chrono::seconds(30)) {
      const int64_t lag = stats_lag(cli);
      if (lag == 0) {
        catch_up_ms = std::chrono::duration<double, std::milli>(steady::now() - c0).count();
        break;
      }
      if (lag < 0) break;  // a collector without the field (indexes in the write transaction)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  const double cpu = process_cpu_seconds(col.pid()) - cpu0;
  const std::string rss = rss_text(col.pid());
  col.stop();
  const int64_t db_bytes = file_size(db) + std::max<int64_t>(0, file_size(db + "-wal"));

  const raw_result raw = raw_sqlite_insert(work + "/ingest_raw.db", src, records);

  const double ours_rps = static_cast<double>(accepted) / seconds;
  const double raw_rps = static_cast<double>(records) / raw.seconds;
  const summary bs = summarize(load.batch_ms);
  std::printf(
      "ingest: %lld accepted, %lld rejected, %lld failed batches, %lld 503 retries in %.2f s; raw %.2f s\n",
      static_cast<long long>(accepted), static_cast<long long>(rejected), static_cast<long long>(failures),
      static_cast<long long>(retries), seconds, raw.seconds);

  result_row r;
  r.row = "2 Ingest";
  r.metric = "records/s, POST /api/traces, 2 KB records, 512/batch, 2 keep-alive clients";
  r.ours = fmt_num(ours_rps) + " rec/s";
  r.peer = "raw SQLite insert " + fmt_num(raw_rps) + " rec/s";
  r.ratio = fmt_ratio(ours_rps / raw_rps);
  r.target = ">= 0.5x raw";
  r.met = (ours_rps / raw_rps >= 0.5 && failures == 0 && rejected == 0) ? "yes" : "no";
  out.add(r);

  r = {};
  r.row = "2 Ingest";
  r.metric = "CPU per record (collector process, user+sys from /proc/<pid>/stat)";
  r.ours = fmt_num(cpu / static_cast<double>(std::max<int64_t>(1, accepted)) * 1e6, 1) + " us";
  r.peer = "raw SQLite " + fmt_num(raw.cpu_seconds / static_cast<double>(records) * 1e6, 1) + " us";
  r.ratio = fmt_ratio((cpu / static_cast<double>(std::max<int64_t>(1, accepted))) /
                      (raw.cpu_seconds / static_cast<double>(records)));
  r.target = "(informative)";
  out.add(r);

  r = {};
  r.row = "2 Ingest";
  r.metric =
      "load generator CPU per record (this process: 2 client threads building and posting the batches)";
  r.ours = fmt_num(self_cpu / static_cast<double>(std::max<int64_t>(1, accepted)) * 1e6, 1) + " us";
  r.peer = fmt_num(self_cpu / seconds * 100, 0) + "% of one core over the run";
  r.target = "(informative)";
  out.add(r);

  r = {};
  r.row = "2 Ingest";
  r.metric =
      "search index lag while ingesting (max of GET /api/stats every 100 ms) / caught up after the last 2xx";
  const double lag_s = ours_rps > 0 ? static_cast<double>(max_lag.load()) / ours_rps : 0;
  r.ours = fmt_num(static_cast<double>(max_lag.load())) + " records (" + fmt_ms(lag_s * 1e3) +
           " of ingest) / " + (catch_up_ms < 0 ? std::string("n/a") : fmt_ms(catch_up_ms));
  r.target = "<= 1 s behind";
  r.met = catch_up_ms >= 0 && lag_s <= 1.0 && catch_up_ms <= 1000 ? "yes" : "no";
  out.add(r);

  r = {};
  r.row = "2 Ingest";
  r.metric = "batch round trip (512 records, ~1 MB) p50 / p99";
  r.ours = fmt_ms(bs.p50) + " / " + fmt_ms(bs.p99);
  r.target = "(informative)";
  out.add(r);

  out.note("Row 2: " + fmt_num(static_cast<double>(records)) + " records (" + std::to_string(batches) +
           " batches) over " + fmt_num(seconds, 2) + " s; " + std::to_string(rejected) + " rejected, " +
           std::to_string(failures) + " failed batches, " + std::to_string(retries) +
           " 503 retries; collector RSS at the end " + rss + "; database " +
           fmt_bytes(static_cast<double>(db_bytes)) + " (" +
           fmt_num(static_cast<double>(db_bytes) / static_cast<double>(std::max<int64_t>(1, accepted)), 0) +
           " B/record; raw table " +
           fmt_num(static_cast<double>(raw.bytes) / static_cast<double>(records), 0) +
           " B/record). The raw peer stores the same request/response text with id, session, turn, status, "
           "metadata, times, latency and model, one UNIQUE id index and one (session, turn) index, page_size "
           "16384 like the collector; it does no JSON parsing, no session rows, no FTS.");
  return failures == 0 ? 0 : 1;
}

}  // namespace llmtrace::bench
