// Row 2c: ingest into PostgreSQL through one and through two llmtrace-collector processes sharing one
// database (the load generator of row 2: 2 KB records, 512 per POST, 2 keep-alive clients in all, spread over
// the collectors), against a raw binary COPY of the same rows (every column the collector stored) into the
// same table by one libpq client in the same run, and, informative, a raw COPY of the columns without the
// search text and tsvector. The server is scripts/bench.sh's throwaway PostgreSQL
// (tests/support/pg_test_server.py: --pg-dir DIR).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include <llmtrace/llmtrace.hpp>

#include "bench_util.hpp"
#include "ingest_load.hpp"
#include "load.hpp"
#include "pg_util.hpp"

namespace llmtrace::bench {
namespace {

constexpr int kClients = 2;  // in all, whatever the number of collectors (row 2 uses 2 too)

struct ingest_run {
  int collectors = 0;
  post_result load;
  double collector_cpu = 0, server_cpu = 0, client_cpu = 0;
  int64_t stored = 0;
};

ingest_run run_collectors(const std::string& bin, const std::string& base_url, const std::string& pg_dir,
                          const std::string& work, const row_source& src, int64_t batches, int n) {
  ingest_run out;
  out.collectors = n;
  const std::string url = pg_fresh_database(base_url, "bench_ingest_" + std::to_string(n));
  std::vector<std::unique_ptr<collector_process>> cols;
  std::vector<int> ports;
  for (int k = 0; k < n; ++k) {
    cols.push_back(std::make_unique<collector_process>());
    cols.back()->set_log(work + "/pg_ingest_" + std::to_string(n) + "_" + std::to_string(k) + ".log");
    cols.back()->start(bin, url);
    ports.push_back(cols.back()->port());
  }
  std::vector<double> cpu0;
  for (auto& c : cols) cpu0.push_back(process_cpu_seconds(c->pid()));
  const double server0 = pg_server_cpu_seconds(pg_dir);
  const double self0 = self_cpu_seconds();
  out.load = post_batches(ports, std::max(1, kClients / n), src, batches);
  out.client_cpu = self_cpu_seconds() - self0;
  out.server_cpu = pg_server_cpu_seconds(pg_dir) - server0;  // before the collectors' connections close
  for (std::size_t k = 0; k < cols.size(); ++k)
    out.collector_cpu += process_cpu_seconds(cols[k]->pid()) - cpu0[k];
  for (auto& c : cols) c->stop();
  pg_conn c(url);
  out.stored = std::atoll(c.value("SELECT count(*) FROM records").c_str());
  return out;
}

// A fresh database NAME with the collector's own schema and nothing else (a collector started once on it and
// stopped): what the raw peers COPY into.
std::string pg_schema_only_database(const std::string& bin, const std::string& base_url,
                                    const std::string& work, const std::string& name) {
  const std::string url = pg_fresh_database(base_url, name);
  collector_process col;
  col.set_log(work + "/" + name + "_schema.log");
  col.start(bin, url);
  col.stop();
  return url;
}

struct raw_result {
  double seconds = 0, client_cpu = 0, backend_cpu = 0;
  int64_t stored = 0;
};

// The peer: the collector's own schema (a collector started once on an empty database and stopped), the 64
// sessions inserted beforehand, then one COPY of 512 rows per transaction by one libpq connection: the same
// columns row 2's raw SQLite peer writes (no JSON parsing, no session counters, no search text).
raw_result raw_copy(const std::string& bin, const std::string& base_url, const std::string& work,
                    const row_source& src, int64_t batches) {
  const std::string url = pg_schema_only_database(bin, base_url, work, "bench_ingest_raw");
  pg_conn c(url);
  const auto now = static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  for (int s = 0; s < kIngestSessions; ++s)
    c.exec("INSERT INTO sessions (id, name, created_at, updated_at) VALUES ('" + ingest_session_of(s) +
           "', '', " + std::to_string(now) + ", " + std::to_string(now) + ")");
  const int backend = c.backend_pid();
  raw_result r;
  const double backend0 = process_cpu_seconds(backend);
  const double self0 = self_cpu_seconds();
  const auto t0 = steady::now();
  std::string data;
  for (int64_t b = 0; b < batches; ++b) {
    data.clear();
    for (int k = 0; k < kIngestBatch; ++k) {
      const int64_t i = b * kIngestBatch + k;
      const chat_pair& p = src.pair(i);
      const std::string ts = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
      data += llmtrace::new_id();
      data += '\t';
      data += ingest_session_of(i);
      data += '\t';
      data += std::to_string(ingest_turn_of(i));
      data += '\t';
      copy_field(data, p.request_json);
      data += '\t';
      copy_field(data, p.response_json);
      data += "\tsuccess\t";
      copy_field(data, R"({"app":"bench","env":"dev"})");
      data += '\t' + ts + '\t' + ts + "\t812.5\tgpt-4o-mini\n";
    }
    c.copy_in(
        "COPY records (id, session_id, turn_number, request, response, status, metadata, created_at, "
        "updated_at, latency_ms, model) FROM STDIN",
        data);
  }
  r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  r.client_cpu = self_cpu_seconds() - self0;
  r.backend_cpu = process_cpu_seconds(backend) - backend0;
  r.stored = std::atoll(c.value("SELECT count(*) FROM records").c_str());
  return r;
}

// A binary COPY stream cut into its tuples. The format: an 11-byte signature, flags, an extension area, then
// tuples (int16 field count, each field an int32 length, -1 for NULL, and its bytes) and the trailer -1.
struct copy_tuples {
  std::string header;
  std::vector<std::size_t> starts;  // each tuple's offset, then the trailer's
  std::vector<int64_t> first;       // each tuple's first field read as an int8 (the rid)

  explicit copy_tuples(const std::string& data) {
    auto be = [&](std::size_t at, int n) {
      uint64_t v = 0;
      for (int k = 0; k < n; ++k) v = (v << 8) | static_cast<unsigned char>(data.at(at + k));
      return v;
    };
    if (data.size() < 21) throw std::runtime_error("binary COPY: short header");
    const std::size_t header_end = 19 + static_cast<std::size_t>(be(15, 4));
    header = data.substr(0, header_end);
    std::size_t at = header_end;
    for (;;) {
      const auto fields = static_cast<int16_t>(be(at, 2));
      starts.push_back(at);
      if (fields < 0) break;
      first.push_back(static_cast<int64_t>(be(at + 6, 8)));
      at += 2;
      for (int f = 0; f < fields; ++f) {
        const auto len = static_cast<int32_t>(be(at, 4));
        at += 4 + (len > 0 ? static_cast<std::size_t>(len) : 0);
      }
    }
  }
  std::size_t size() const { return first.size(); }
  // Tuples [from, to) as a COPY stream of their own.
  std::string slice(const std::string& data, std::size_t from, std::size_t to) const {
    std::string out = header;
    out.append(data, starts[from], starts[to] - starts[from]);
    out.append("\xff\xff", 2);
    return out;
  }
};

// The target's peer: the rows one collector stored (url: run 1's database), every column it writes (the
// search_text, and the tsvector of its record_terms row), sent back by one libpq client with COPY ... (FORMAT
// binary), 512 records per transaction (their records rows, then their record_terms rows), into a fresh
// database with the collector's own schema (all indexes, GIN included, the session foreign key; the sessions
// copied first). Binary: the server parses nothing, so this is the physical limit of storing these rows here.
raw_result raw_copy_same_rows(const std::string& bin, const std::string& base_url, const std::string& work,
                              const std::string& run1_url) {
  static const std::string k_cols =
      "rid, id, session_id, turn_number, nested, request, response, status, error_message, metadata, "
      "created_at, updated_at, started_at, ended_at, latency_ms, model, prompt_tokens, completion_tokens, "
      "total_tokens, replay_of, parent_id, trace_id, name, kind, cost_usd, search_text";
  std::string rows, terms, sessions;
  {
    pg_conn src(run1_url);
    rows = src.copy_out("COPY (SELECT " + k_cols + " FROM records ORDER BY rid) TO STDOUT (FORMAT binary)");
    terms = src.copy_out(
        "COPY (SELECT rid, search_vec FROM record_terms ORDER BY rid) TO STDOUT (FORMAT binary)");
    sessions = src.copy_out("COPY (SELECT id, name, created_at, updated_at FROM sessions) TO STDOUT");
  }
  const copy_tuples row_at(rows), term_at(terms);
  const std::string url = pg_schema_only_database(bin, base_url, work, "bench_ingest_same_rows");
  pg_conn c(url);
  c.copy_in("COPY sessions (id, name, created_at, updated_at) FROM STDIN", sessions);
  const std::size_t n = row_at.size();
  raw_result r;
  const double backend0 = process_cpu_seconds(c.backend_pid());
  const double self0 = self_cpu_seconds();
  const auto t0 = steady::now();
  std::size_t term = 0;
  for (std::size_t first = 0; first < n; first += kIngestBatch) {
    const std::size_t last = std::min(n, first + kIngestBatch);
    std::size_t term_end = term;
    while (term_end < term_at.size() && term_at.first[term_end] <= row_at.first[last - 1]) ++term_end;
    c.exec("BEGIN");
    c.copy_in("COPY records (" + k_cols + ") FROM STDIN (FORMAT binary)", row_at.slice(rows, first, last));
    if (term_end > term) {
      c.copy_in("COPY record_terms (rid, search_vec) FROM STDIN (FORMAT binary)",
                term_at.slice(terms, term, term_end));
    }
    c.exec("COMMIT");
    term = term_end;
  }
  r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  r.client_cpu = self_cpu_seconds() - self0;
  r.backend_cpu = process_cpu_seconds(c.backend_pid()) - backend0;
  r.stored = std::atoll(c.value("SELECT count(*) FROM records").c_str());
  return r;
}

std::string per_record_us(double cpu_s, int64_t records) {
  return fmt_num(cpu_s / static_cast<double>(std::max<int64_t>(1, records)) * 1e6, 1) + " us";
}

}  // namespace

int run_pg_ingest(int argc, char** argv) {
  const std::string bin = arg_value(argc, argv, "--collector");
  const std::string work = arg_value(argc, argv, "--work", "/tmp");
  const std::string pg_dir = arg_value(argc, argv, "--pg-dir");
  result_sink out(arg_value(argc, argv, "--out"));
  std::string base_url;
  {
    std::ifstream f(pg_dir + "/url");
    if (!(f >> base_url)) throw std::runtime_error("no PostgreSQL server: " + pg_dir + "/url is missing");
  }
  // Fewer records than row 2 (LLMTRACE_BENCH_PG_INGEST_RECORDS, default 16384): the PostgreSQL store takes
  // several hundred records/s on this machine, and each run is bounded at 120 s.
  const int64_t batches =
      std::max<int64_t>(4, env_int("LLMTRACE_BENCH_PG_INGEST_RECORDS", 16384) / kIngestBatch);
  const int64_t records = batches * kIngestBatch;
  const row_source src;

  ingest_run runs[2];
  for (int n = 1; n <= 2; ++n) runs[n - 1] = run_collectors(bin, base_url, pg_dir, work, src, batches, n);
  const raw_result raw = raw_copy(bin, base_url, work, src, batches);
  const std::string run1_url = base_url.substr(0, base_url.rfind('/') + 1) + "bench_ingest_1";
  const raw_result same = raw_copy_same_rows(bin, base_url, work, run1_url);
  const double raw_rps = static_cast<double>(records) / raw.seconds;
  const double same_rps = static_cast<double>(same.stored) / same.seconds;
  std::printf(
      "pg ingest: raw COPY %lld rows in %.2f s (%lld stored); the same rows as stored, binary: %lld in "
      "%.2f s\n",
      static_cast<long long>(records), raw.seconds, static_cast<long long>(raw.stored),
      static_cast<long long>(same.stored), same.seconds);

  bool ok = raw.stored == records && same.stored == runs[0].stored;
  for (const auto& run : runs) {
    const double rps = static_cast<double>(run.load.accepted) / run.load.seconds;
    // Stored must equal accepted (2xx after COMMIT); fewer than `records` only when the 120 s bound hit.
    const bool clean = run.load.failures == 0 && run.load.rejected == 0 && run.stored == run.load.accepted;
    ok = ok && clean;
    std::printf(
        "pg ingest: %d collector(s): %lld accepted, %lld stored, %lld failed batches, %lld retries, %.2f s\n",
        run.collectors, static_cast<long long>(run.load.accepted), static_cast<long long>(run.stored),
        static_cast<long long>(run.load.failures), static_cast<long long>(run.load.retries),
        run.load.seconds);
    result_row r;
    r.row = "2c Ingest (PostgreSQL)";
    r.metric = "records/s, " + std::to_string(run.collectors) +
               (run.collectors == 1 ? " collector" : " collectors on one database") +
               ", POST /api/traces, 2 KB records, 512/batch, 2 keep-alive clients in all";
    r.ours = fmt_num(rps) + " rec/s";
    r.peer =
        "raw binary COPY of the same rows (every column the collector stored, search text + tsvector "
        "included; 512 rows/transaction, 1 client) " +
        fmt_num(same_rps) + " rec/s";
    r.ratio = fmt_ratio(rps / same_rps);
    if (run.collectors == 1) {
      r.target = ">= 0.5x raw COPY of the same rows";
      r.met = rps / same_rps >= 0.5 && clean ? "yes" : "no";
    } else {
      r.target = "(informative on 2 cores)";
      r.met = clean ? "-" : "no (errors)";
    }
    out.add(r);
    r = {};
    r.row = "2c Ingest (PostgreSQL)";
    r.metric =
        "records/s, " + std::to_string(run.collectors) +
        " collector(s), against a raw COPY of the columns row 2's raw SQLite peer writes (no search text, "
        "no tsvector: the GIN index gets nothing)";
    r.ours = fmt_num(rps) + " rec/s";
    r.peer = "raw COPY (512 rows/transaction, 1 client) " + fmt_num(raw_rps) + " rec/s";
    r.ratio = fmt_ratio(rps / raw_rps);
    r.target = "(informative)";
    out.add(r);
    r = {};
    r.row = "2c Ingest (PostgreSQL)";
    r.metric = "CPU per record, " + std::to_string(run.collectors) +
               " collector(s): collector processes / PostgreSQL server processes / load generator";
    r.ours = per_record_us(run.collector_cpu, run.load.accepted) + " / " +
             per_record_us(run.server_cpu, run.load.accepted) + " / " +
             per_record_us(run.client_cpu, run.load.accepted);
    r.peer = "raw binary COPY of the same rows: client " + per_record_us(same.client_cpu, same.stored) +
             ", server backend " + per_record_us(same.backend_cpu, same.stored) +
             "; raw COPY without search columns: client " + per_record_us(raw.client_cpu, records) +
             ", server backend " + per_record_us(raw.backend_cpu, records);
    r.target = "(informative)";
    out.add(r);
    const summary bs = summarize(run.load.batch_ms);
    r = {};
    r.row = "2c Ingest (PostgreSQL)";
    r.metric =
        "batch round trip (512 records), " + std::to_string(run.collectors) + " collector(s), p50 / p99";
    r.ours = fmt_ms(bs.p50) + " / " + fmt_ms(bs.p99);
    r.target = "(informative)";
    out.add(r);
  }
  out.note(
      "Row 2c: " + fmt_num(static_cast<double>(records)) + " records per run (" +
      std::to_string(runs[0].load.accepted) + " and " + std::to_string(runs[1].load.accepted) +
      " accepted within the 120 s bound), each run into a fresh database of one PostgreSQL " +
      "server (tests/support/pg_test_server.py: initdb, fsync off, synchronous_commit on) on this machine; "
      "row counts checked after each run (" +
      std::to_string(runs[0].stored) + ", " + std::to_string(runs[1].stored) + ", raw " +
      std::to_string(raw.stored) + ", same rows " + std::to_string(same.stored) +
      "). The target's peer sends the rows run 1 stored (every column, the search text and its tsvector "
      "included) back with a binary COPY, 512 rows a transaction, into a fresh database with the collector's "
      "schema (all indexes, GIN included, the session foreign key): the physical limit of storing these rows "
      "here, which the collector must reach half of while also parsing the JSON, applying the ingest rules "
      "and keeping the session counters. The second peer COPYs only the columns row 2's raw SQLite peer "
      "writes (no search columns, so the GIN index gets nothing).");
  return ok ? 0 : 1;
}

}  // namespace llmtrace::bench
