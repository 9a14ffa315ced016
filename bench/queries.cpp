// Row 3: query latency at scale on a database made by llmtrace_bench_gen_db: sessions page, a session's
// records page, record detail and full-text search, each p50/p95/p99, from 2 client threads while a
// background writer ingests at a moderate rate. Also RSS of the collector after this load (row 6).
// With --store URL the collector runs on that store instead (row 3p: the same database copied into
// PostgreSQL with `llmtrace-collector copy`); the sample of ids still comes from --db's DB.sample.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include <llmtrace/llmtrace.hpp>

#include "bench_util.hpp"
#include "load.hpp"

namespace llmtrace::bench {
namespace {

enum kind { k_sessions, k_records, k_detail, k_search_common, k_search_topic, k_search_two, k_count };
const char* kind_name[] = {"sessions page (GET /api/sessions, size 20, pages 1-50)",
                           "a session's records page (GET /api/sessions/:id/records, size 50)",
                           "record detail (GET /api/records/:id)",
                           "search, one common word (GET /api/search?q=, size 20)",
                           "search, a session's topic word (~100 hits)",
                           "search, two common words"};

std::string url_escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == ' ' ? std::string("%20") : std::string(1, c);
  return o;
}

}  // namespace

int run_queries(int argc, char** argv) {
  const std::string bin = arg_value(argc, argv, "--collector");
  const std::string db = arg_value(argc, argv, "--db");
  const std::string store = arg_value(argc, argv, "--store", db);
  const bool pg = store != db;
  const std::string row_name = pg ? "3p Queries at scale (PostgreSQL)" : "3 Queries at scale";
  result_sink out(arg_value(argc, argv, "--out"));
  const int iters = static_cast<int>(env_int("LLMTRACE_BENCH_QUERY_ITERS", 200));  // per thread and kind
  constexpr int kReaders = 2;
  constexpr int kWriterBatch = 50;
  constexpr int kWriterPeriodMs = 50;  // 1,000 records/s in the background

  std::vector<std::string> sessions, records;
  {
    std::ifstream f(db + ".sample");
    std::string tag, id;
    while (f >> tag >> id) (tag == "s" ? sessions : records).push_back(id);
  }
  if (sessions.empty() || records.empty())
    throw std::runtime_error("no " + db + ".sample: run llmtrace_bench_gen_db");

  collector_process col;
  if (pg) col.set_log(db + ".pg.log");
  col.start(bin, store, {}, {}, std::chrono::seconds(60));
  const double start_ms = col.start_ms();
  // On PostgreSQL the collector first summarizes the copied database's sealed record_terms partitions
  // (docs/DEPLOY.md): the queries are measured once it has, the state of a database that grew by ingest.
  double summaries_s = 0;
  if (pg) {
    httplib::Client cli("127.0.0.1", col.port());
    const auto t0 = steady::now();
    for (;;) {
      auto res = cli.Get("/api/stats");
      if (res && res->status == 200 && res->body.find("\"search_summaries_pending\":0") != std::string::npos)
        break;
      if (steady::now() - t0 > std::chrono::seconds(600))
        throw std::runtime_error("the collector did not summarize its partitions within 600 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    summaries_s = std::chrono::duration<double>(steady::now() - t0).count();
  }

  auto make_path = [&](int k, rng& r) {
    std::string path;
    switch (k) {
      case k_sessions:
        path = "/api/sessions?page=" + std::to_string(1 + r.below(50)) + "&size=20";
        break;
      case k_records:
        path = "/api/sessions/" + sessions[r.below(sessions.size())] +
               "/records?page=" + std::to_string(1 + r.below(2)) + "&size=50";
        break;
      case k_detail:
        path = "/api/records/" + records[r.below(records.size())];
        break;
      case k_search_common:
        path = "/api/search?q=" + vocab_word(static_cast<uint32_t>(r.below(64))) + "&page=1&size=20";
        break;
      case k_search_topic:
        path = "/api/search?q=topic" + std::to_string(r.below(sessions.size())) + "&page=1&size=20";
        break;
      case k_search_two:
        path = "/api/search?q=" +
               url_escape(vocab_word(static_cast<uint32_t>(r.below(256))) + " " +
                          vocab_word(static_cast<uint32_t>(r.below(256)))) +
               "&page=1&size=20";
        break;
    }
    return path;
  };

  // Phase 0: queries alone. Phase 1: the same queries while a background writer ingests (the target).
  std::vector<double> lat[2][k_count];
  int64_t errors = 0, empty_search = 0, written_total = 0, writer_errors_total = 0;
  std::map<int, int64_t> error_codes;  // HTTP status (-1: no answer) -> count
  double phase_cpu[2] = {0, 0}, phase_wall[2] = {0, 0};
  const auto hard_stop = steady::now() + std::chrono::seconds(150);
  for (int phase = 0; phase < 2; ++phase) {
    std::atomic<bool> stop_writer{false};
    std::atomic<int64_t> written{0}, writer_errors{0};
    std::thread writer;
    if (phase == 1) {
      writer = std::thread([&] {
        httplib::Client cli("127.0.0.1", col.port());
        cli.set_keep_alive(true);
        cli.set_tcp_nodelay(true);
        rng r(99);
        std::vector<chat_pair> pairs;
        for (int i = 0; i < 64; ++i) pairs.push_back(make_chat_pair(r, 900));
        const std::string session = llmtrace::new_id();
        int64_t turn = 0;
        auto next = steady::now();
        while (!stop_writer.load()) {
          std::string body = R"({"traces":[)";
          for (int k = 0; k < kWriterBatch; ++k) {
            if (k) body += ',';
            ++turn;
            body += make_trace_json(llmtrace::new_id(), session, turn,
                                    pairs[static_cast<std::size_t>(turn) % 64]);
          }
          body += "]}";
          auto res = cli.Post("/api/traces", body, "application/json");
          if (res && res->status == 200)
            written += kWriterBatch;
          else
            ++writer_errors;
          next += std::chrono::milliseconds(kWriterPeriodMs);
          std::this_thread::sleep_until(next);
        }
      });
    }

    std::mutex mu;
    std::atomic<int64_t> phase_errors{0}, phase_empty{0};
    const double cpu0 = process_cpu_seconds(col.pid());
    const auto wall0 = steady::now();
    std::vector<std::thread> readers;
    for (int t = 0; t < kReaders; ++t) {
      readers.emplace_back([&, t] {
        httplib::Client cli("127.0.0.1", col.port());
        cli.set_keep_alive(true);
        cli.set_tcp_nodelay(true);
        cli.set_read_timeout(30, 0);
        rng r(1000 + static_cast<uint64_t>(t) + 10 * static_cast<uint64_t>(phase));
        std::vector<double> mine[k_count];
        for (int i = 0; i < iters && steady::now() < hard_stop; ++i) {
          for (int k = 0; k < k_count; ++k) {
            const std::string path = make_path(k, r);
            const auto s = steady::now();
            auto res = cli.Get(path);
            const double ms = std::chrono::duration<double, std::milli>(steady::now() - s).count();
            if (!res || res->status != 200) {
              ++phase_errors;
              std::lock_guard<std::mutex> lock(mu);
              ++error_codes[res ? res->status : -1];
              continue;
            }
            if (k >= k_search_common && res->body.find("\"total\":0") != std::string::npos) ++phase_empty;
            mine[k].push_back(ms);
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        for (int k = 0; k < k_count; ++k)
          lat[phase][k].insert(lat[phase][k].end(), mine[k].begin(), mine[k].end());
      });
    }
    for (auto& t : readers) t.join();
    phase_cpu[phase] = process_cpu_seconds(col.pid()) - cpu0;
    phase_wall[phase] = std::chrono::duration<double>(steady::now() - wall0).count();
    stop_writer = true;
    if (writer.joinable()) writer.join();
    errors += phase_errors;
    empty_search += phase_empty;
    written_total += written;
    writer_errors_total += writer_errors;
  }
  // Server CPU per query, one kind at a time from one client, no ingest: independent of the machine's load.
  std::string cpu_per_query;
  {
    httplib::Client cli("127.0.0.1", col.port());
    cli.set_keep_alive(true);
    cli.set_tcp_nodelay(true);
    cli.set_read_timeout(30, 0);
    rng r(77);
    const int n = 40;
    for (int k = 0; k < k_count && steady::now() < hard_stop + std::chrono::seconds(20); ++k) {
      const double c0 = process_thread_cpu_seconds(col.pid());
      for (int i = 0; i < n; ++i) cli.Get(make_path(k, r));
      const double c1 = process_thread_cpu_seconds(col.pid());
      cpu_per_query +=
          std::string(cpu_per_query.empty() ? "" : "; ") + kind_name[k] + " " + fmt_ms((c1 - c0) * 1e3 / n);
    }
  }
  // The dashboard's query: GET /api/stats/timeseries over the last 24 h (every record of the database made
  // minutes ago), 5-minute buckets by model, sequentially from one client with no ingest. Separate from the
  // rounds above so a slow answer cannot eat their time budget.
  std::vector<double> ts_lat;
  int64_t ts_errors = 0;
  {
    httplib::Client cli("127.0.0.1", col.port());
    cli.set_keep_alive(true);
    cli.set_tcp_nodelay(true);
    cli.set_read_timeout(60, 0);
    const auto ts_stop = steady::now() + std::chrono::seconds(60);
    const int ts_iters = static_cast<int>(env_int("LLMTRACE_BENCH_TIMESERIES_ITERS", 40));
    for (int i = 0; i < ts_iters && steady::now() < ts_stop; ++i) {
      const auto s = steady::now();
      auto res = cli.Get("/api/stats/timeseries?bucket=5m&group_by=model");
      const double ms = std::chrono::duration<double, std::milli>(steady::now() - s).count();
      if (!res || res->status != 200) {
        ++ts_errors;
        continue;
      }
      ts_lat.push_back(ms);
    }
  }
  const std::string rss = rss_text(col.pid());
  col.stop();
  {
    const summary s = summarize(ts_lat);
    result_row r;
    r.row = row_name;
    r.metric =
        "dashboard timeseries, 24 h in 5 min buckets by model (GET /api/stats/timeseries) p50 / p95 / p99";
    r.ours = fmt_ms(s.p50) + " / " + fmt_ms(s.p95) + " / " + fmt_ms(s.p99);
    r.peer = std::to_string(s.n) + " sequential queries, no ingest, " + std::to_string(ts_errors) + " errors";
    r.target = "p95 <= 50 ms";
    r.met = s.p95 <= 50 && s.n > 0 ? "yes" : "no";
    out.add(r);
  }

  for (int k = 0; k < k_count; ++k) {
    const summary s = summarize(lat[1][k]);
    const summary idle = summarize(lat[0][k]);
    result_row r;
    r.row = row_name;
    r.metric = std::string(kind_name[k]) + " p50 / p95 / p99 under ingest";
    r.ours = fmt_ms(s.p50) + " / " + fmt_ms(s.p95) + " / " + fmt_ms(s.p99);
    r.peer = "same queries without ingest: " + fmt_ms(idle.p50) + " / " + fmt_ms(idle.p95) + " / " +
             fmt_ms(idle.p99);
    r.ratio = fmt_ratio(idle.p95 > 0 ? s.p95 / idle.p95 : 0) + " (p95)";
    const double limit = k >= k_search_common ? 50 : 5;
    r.target = "p95 <= " + fmt_num(limit) + " ms";
    r.met = s.p95 <= limit && s.n > 0 ? "yes" : "no";
    out.add(r);
  }
  result_row r;
  r.row = pg ? "6 Footprint (PostgreSQL)" : "6 Footprint";
  r.metric = std::string("collector RSS after row ") + (pg ? "3p" : "3") + "'s load";
  r.ours = rss;
  r.target = "(informative)";
  out.add(r);
  r.metric = std::string("start to first /healthz 200 on row ") + (pg ? "3p" : "3") + "'s database";
  r.ours = fmt_ms(start_ms);
  out.add(r);
  std::string codes;
  for (auto& [code, count] : error_codes)
    codes += " HTTP " + (code < 0 ? std::string("no answer") : std::to_string(code)) + ": " +
             std::to_string(count) + ".";
  out.note(
      std::string(pg ? "Row 3p (PostgreSQL): " : "Row 3: ") + std::to_string(kReaders) +
      " reader threads x " + std::to_string(iters) +
      " rounds of the 6 queries without ingest, then again while a background writer ingested " +
      fmt_num(static_cast<double>(written_total)) + " records (" + std::to_string(kWriterBatch) + " every " +
      std::to_string(kWriterPeriodMs) + " ms, ~1 KB each), " + std::to_string(writer_errors_total) +
      " writer errors; " + std::to_string(errors) + " query errors; " + std::to_string(empty_search) +
      " searches with no hit. Peer column: the same queries in the same run with no writer. Collector CPU: " +
      fmt_num(phase_cpu[0], 1) + " s over " + fmt_num(phase_wall[0], 1) + " s without ingest, " +
      fmt_num(phase_cpu[1], 1) + " s over " + fmt_num(phase_wall[1], 1) + " s with ingest." + codes +
      (pg ? " Measured after the collector had summarized the sealed partitions, " + fmt_num(summaries_s, 1) +
                " s after it started."
          : std::string()));
  out.note(std::string(pg ? "Row 3p" : "Row 3") +
           ", collector CPU per query (all its threads, from /proc/<pid>/task/*/schedstat; 40 sequential "
           "queries of one kind, no ingest): " +
           cpu_per_query + ".");
  return errors == 0 ? 0 : 1;
}

}  // namespace llmtrace::bench
