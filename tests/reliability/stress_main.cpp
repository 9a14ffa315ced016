// reliability_stress: the long runs of the reliability suite, driven by scripts/stress.sh (and by CTest with
// label `stress` when configured with -DLLMTRACE_STRESS=ON).
//   reliability_stress crash-loop [--kills 20] [--records 10000] [--clients 4] [--seed N]
//   reliability_stress load [--seconds 60] [--producers 8] [--sdk-producers 2] [--streams 16] [--inflight N]
// Each prints a human summary and one line "RESULT {json}" with its figures, and exits non-zero when a
// guarantee was broken (an acked record missing, a duplicate, a 5xx other than 503, an integrity error, a
// dropped event stream, or memory growing without bound).
#include <llmtrace/llmtrace.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>

#include "reliability/crash_loop.hpp"
#include "reliability/rel_support.hpp"

using namespace llmtrace::reliability;

namespace {

std::map<std::string, std::string> parse_flags(int argc, char** argv, int first) {
  std::map<std::string, std::string> f;
  for (int i = first; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) == 0) f[k.substr(2)] = argv[i + 1];
  }
  return f;
}

int flag(const std::map<std::string, std::string>& f, const std::string& k, int def) {
  auto it = f.find(k);
  return it == f.end() ? def : std::atoi(it->second.c_str());
}

int crash_loop_main(const std::map<std::string, std::string>& f) {
  temp_dir dir;
  crash_loop_options o;
  o.kills = flag(f, "kills", 20);
  o.records = flag(f, "records", 10000);
  o.clients = flag(f, "clients", 4);
  o.batch = flag(f, "batch", 25);
  o.seed = static_cast<unsigned>(flag(f, "seed", static_cast<int>(std::random_device{}() & 0x7fffffff)));
  o.deadline = std::chrono::seconds(flag(f, "deadline", 600));
  o.dir = dir.path().string();
  auto r = run_crash_loop(o);
  std::cout << "crash loop: seed " << o.seed << ", " << r.kills << " kills, " << o.clients << " clients, "
            << r.acked << " records acked, " << r.present << " present, " << r.lost << " lost, "
            << r.duplicates << " duplicates, " << r.rows << " rows, " << r.attempts << " batch attempts ("
            << r.statuses << "), integrity failures " << r.integrity_failures << ", restarts failed "
            << r.restarts_failed << ", " << r.seconds << " s\n";
  json j = {{"scenario", "crash_loop"},
            {"seed", o.seed},
            {"kills", r.kills},
            {"clients", o.clients},
            {"records", o.records},
            {"acked", r.acked},
            {"present", r.present},
            {"lost", r.lost},
            {"duplicates", r.duplicates},
            {"rows", r.rows},
            {"attempts", r.attempts},
            {"statuses", r.statuses},
            {"integrity_failures", r.integrity_failures},
            {"restarts_failed", r.restarts_failed},
            {"partial_acks", r.partial_acks},
            {"seconds", r.seconds}};
  std::cout << "RESULT " << j.dump() << "\n";
  bool ok = r.finished && r.lost == 0 && r.duplicates == 0 && r.integrity_failures == 0 &&
            r.restarts_failed == 0 && r.partial_acks == 0 && r.acked == static_cast<uint64_t>(o.records) &&
            r.rows == r.acked && r.kills == o.kills;
  std::cout << (ok ? "crash loop: PASS\n" : "crash loop: FAIL\n");
  return ok ? 0 : 1;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

int load_main(const std::map<std::string, std::string>& f) {
  const int seconds = flag(f, "seconds", 60);
  const int producers = flag(f, "producers", 8);
  const int sdk_producers = std::min(producers, flag(f, "sdk-producers", 2));
  const int streams = flag(f, "streams", 16);
  temp_dir dir;
  process_options po;
  po.db_path = dir.file("load.db");
  // The run's streams all come from 127.0.0.1 and one address may hold half of --max-streams: twice as many
  // slots as streams, so the hostile extra streams below meet the per-client cap, not the run's own.
  po.args = {"--max-streams", std::to_string(2 * streams), "--heartbeat-ms", "1000", "--log-level", "warn"};
  const bool hostile = flag(f, "hostile", 1) != 0;
  // A small ingest admission limit makes overload (503 + Retry-After) part of the run, not a rare event.
  if (f.count("inflight")) po.args.insert(po.args.end(), {"--max-ingest-inflight", f.at("inflight")});
  collector_process p(po);
  if (!p.start()) {
    std::cout << "load: the collector did not start\n" << p.log();
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto end = t0 + std::chrono::seconds(seconds);
  std::atomic<bool> stop{false};

  // 16 event streams, open for the whole run.
  std::atomic<int> streams_open{0};
  std::atomic<uint64_t> events_seen{0};
  std::atomic<int> streams_dropped{0};
  std::vector<std::thread> stream_threads;
  for (int i = 0; i < streams; ++i) {
    stream_threads.emplace_back([&] {
      raw_conn c(p.port());
      if (!c.ok() || !c.send_all("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) {
        ++streams_dropped;
        return;
      }
      std::string head = c.read_response(std::chrono::milliseconds(3000));
      if (status_of(head) != 200) {
        ++streams_dropped;
        return;
      }
      ++streams_open;
      char buf[65536];
      while (!stop.load()) {
        pollfd pf{c.fd(), POLLIN, 0};
        if (::poll(&pf, 1, 100) <= 0) continue;
        ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
        if (n <= 0) {
          if (!stop.load()) ++streams_dropped;
          break;
        }
        std::string_view chunk(buf, static_cast<std::size_t>(n));
        for (auto pos = chunk.find("event:"); pos != std::string_view::npos;
             pos = chunk.find("event:", pos + 1))
          ++events_seen;
      }
      --streams_open;
    });
  }
  wait_until([&] { return streams_open.load() + streams_dropped.load() == streams; });

  // httplib producers with client ids: retry the same batch after Retry-After.
  ack_ledger ledger;
  std::atomic<uint64_t> transport_errors{0};
  std::atomic<uint64_t> backoff_ms_total{0};
  std::vector<std::thread> producer_threads;
  for (int k = 0; k < producers - sdk_producers; ++k) {
    producer_threads.emplace_back([&, k] {
      std::string prefix = "load-h" + std::to_string(k);
      auto c = p.client();
      int next = 0;
      while (std::chrono::steady_clock::now() < end) {
        const int n = 100;
        std::string body = batch_body(prefix, next, n);
        auto ids = batch_ids(prefix, next, n);
        for (;;) {
          auto r = c->Post("/api/traces", body, "application/json");
          int st = r ? r->status : 0;
          bool ra = r && r->has_header("Retry-After");
          if (st >= 200 && st < 300) {
            ledger.record(st, ra, &ids);
            break;
          }
          ledger.record(st, ra, nullptr);
          if (st == 0) {
            ++transport_errors;
            c = p.client();
          }
          if (st == 429 || st == 503) {
            // Honour Retry-After (capped, as the SDK does) and keep the batch.
            int64_t ms = 1000 * std::max(1, std::atoi(r->get_header_value("Retry-After").c_str()));
            ms = std::min<int64_t>(ms, 1000);
            backoff_ms_total += static_cast<uint64_t>(ms);
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            c = p.client();
          } else if (st != 0) {
            break;  // a 4xx/5xx that is not overload: counted, not retried
          }
          if (std::chrono::steady_clock::now() >= end + std::chrono::seconds(30)) break;
        }
        next += n;
      }
    });
  }
  // SDK producers: trace() at full speed, overflow = block; the SDK batches, retries and backs off itself.
  std::vector<llmtrace::stats> sdk_stats(static_cast<std::size_t>(sdk_producers));
  std::atomic<uint64_t> sdk_traced{0};
  for (int k = 0; k < sdk_producers; ++k) {
    producer_threads.emplace_back([&, k] {
      llmtrace::options opts;
      opts.endpoint = "http://127.0.0.1:" + std::to_string(p.port());
      opts.overflow = llmtrace::overflow_policy::block;
      opts.block_timeout = std::chrono::milliseconds(100);
      opts.max_retries = 20;
      opts.on_warning = [](std::string_view) {};
      llmtrace::client cl(opts);
      std::string req = R"({"model":"gpt-test","messages":[{"role":"user","content":"hello from the sdk )" +
                        std::string(200, 'y') + R"("}]})";
      std::string session = "load-sdk" + std::to_string(k);
      uint64_t i = 0;
      while (std::chrono::steady_clock::now() < end) {
        std::string id = session + "-" + std::to_string(i++);
        llmtrace::record r;
        r.id = id;
        r.session_id = session;
        r.request_json = req;
        r.response_json = R"({"choices":[{"message":{"role":"assistant","content":"hi"}}]})";
        cl.trace(r);
        ++sdk_traced;
      }
      cl.flush(std::chrono::seconds(30));
      sdk_stats[static_cast<std::size_t>(k)] = cl.stats();
      cl.shutdown(std::chrono::seconds(5));
    });
  }

  // UI-like queries: what the browser asks while it is open.
  std::mutex lat_m;
  std::vector<double> latencies;
  std::atomic<uint64_t> query_errors{0};
  std::vector<std::thread> query_threads;
  for (int q = 0; q < 2; ++q) {
    query_threads.emplace_back([&, q] {
      auto c = p.client();
      const std::vector<std::string> paths = {
          "/api/sessions?page=1&size=20", "/api/sessions/sess-load-h0/records?size=50",
          "/api/search?q=hello&size=20", "/api/stats", "/api/sessions/load-sdk0/records?size=50&page=2"};
      std::size_t i = static_cast<std::size_t>(q);
      while (std::chrono::steady_clock::now() < end) {
        const auto& path = paths[i++ % paths.size()];
        auto t = std::chrono::steady_clock::now();
        auto r = c->Get(path);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
        if (!r || (r->status != 200 && r->status != 404)) {
          ++query_errors;
          c = p.client();
        } else {
          std::lock_guard<std::mutex> lock(lat_m);
          latencies.push_back(ms);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }

  // Hostile clients beside the load (issue 13's findings, all at once): cross-site and wrongly typed posts,
  // huge methods, a 500-word and a prefix-heavy search, unreachable ids, a 4 MiB body of tiny values,
  // trickled bodies, stalled exports, extra event streams. Each must get its 4xx (or 503 + Retry-After);
  // any other 5xx, or a 2xx where a refusal is due, fails the run.
  std::atomic<uint64_t> hostile_requests{0}, hostile_bad{0};
  std::mutex hostile_m;
  std::map<int, uint64_t> hostile_statuses;
  std::vector<std::thread> hostile_threads;
  auto hostile_seen = [&](int st, bool retry_after, bool refusal_due) {
    ++hostile_requests;
    std::lock_guard<std::mutex> lock(hostile_m);
    ++hostile_statuses[st];
    const bool bad = (st >= 500 && !(st == 503 && retry_after)) || (refusal_due && st >= 200 && st < 300);
    if (bad) ++hostile_bad;
  };
  for (int h = 0; hostile && h < 2; ++h) {
    hostile_threads.emplace_back([&, h] {
      std::string zeros = R"({"session_id":"hostile","request":[)";
      while (zeros.size() < (4u << 20)) zeros += "0,";
      zeros += "0]}";
      std::string words;
      for (int i = 0; i < 500; ++i) words += std::string(1, static_cast<char>('a' + i % 26)) + "%20";
      const std::string trace = R"({"session_id":"hostile-x","request":{"m":1}})";
      int round = 0;
      while (std::chrono::steady_clock::now() < end) {
        auto c = p.client();
        auto status = [](const httplib::Result& r) { return r ? r->status : 0; };
        auto ra = [](const httplib::Result& r) { return r && r->has_header("Retry-After"); };
        std::optional<httplib::Result> r;
        switch (round++ % 10) {
          case 0:
            r = c->Post("/api/trace", {{"Origin", "https://evil.example"}}, trace, "text/plain");
            break;
          case 1:
            r = c->Post("/api/trace", trace, "text/plain");
            break;
          case 2:
            r = c->Get("/api/search?q=" + words);
            break;
          case 3:
            r = c->Get("/api/search?q=s*%20l*%20h*%20y*");  // answered or stopped at the budget
            hostile_seen(status(*r), ra(*r), false);
            continue;
          case 4:
            r = c->Post("/api/trace", R"({"id":"..","session_id":"hostile"})", "application/json");
            break;
          case 5:
            r = c->Post("/api/trace", zeros, "application/json");
            break;
          case 6: {  // an 8 KB method
            raw_conn rc(p.port());
            rc.send_all(std::string(8192, 'M') + " /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            hostile_seen(status_of(rc.read_response(std::chrono::milliseconds(5000))), false, true);
            continue;
          }
          case 7: {  // a trickled body, abandoned
            raw_conn rc(p.port());
            rc.send_all(
                "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 1000000\r\n\r\n{\"session_id\":");
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            ++hostile_requests;
            continue;
          }
          case 8: {  // an export that reads nothing for a second
            raw_conn rc(p.port());
            rc.send_all("GET /api/sessions/sess-load-h" + std::to_string(h) +
                        "/export HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            std::this_thread::sleep_for(std::chrono::milliseconds(1000));
            ++hostile_requests;
            continue;
          }
          default: {  // one more event stream than this address may hold
            raw_conn rc(p.port());
            rc.send_all("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            std::string head = rc.read_response(std::chrono::milliseconds(1000));
            hostile_seen(status_of(head), head.find("Retry-After") != std::string::npos, false);
            continue;
          }
        }
        if (r) hostile_seen(status(*r), ra(*r), true);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }

  // Memory samples once a second.
  std::vector<long> rss;
  while (std::chrono::steady_clock::now() < end) {
    rss.push_back(p.rss_kib());
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  for (auto& t : query_threads) t.join();
  for (auto& t : hostile_threads) t.join();
  for (auto& t : producer_threads) t.join();
  long peak = p.peak_rss_kib();
  const int streams_open_at_end = streams_open.load();
  stop.store(true);
  for (auto& t : stream_threads) t.join();
  int exit_code = p.terminate(std::chrono::seconds(30));
  double run_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::string ic = integrity_check(po.db_path);
  auto ids = record_ids(po.db_path);
  uint64_t lost = 0, sdk_rows = 0;
  for (const auto& id : ledger.acked)
    if (!ids.count(id)) ++lost;
  for (const auto& [id, n] : ids)
    if (id.rfind("load-sdk", 0) == 0) sdk_rows += static_cast<uint64_t>(n);
  llmtrace::stats sdk{};
  for (auto& s : sdk_stats) {
    sdk.enqueued += s.enqueued;
    sdk.dropped += s.dropped;
    sdk.sent += s.sent;
    sdk.failed += s.failed;
    sdk.retried += s.retried;
    sdk.requests += s.requests;
  }
  uint64_t server_errors = 0;
  {
    std::lock_guard<std::mutex> lock(ledger.m);
    for (auto& [st, n] : ledger.statuses)
      if ((st >= 500 && st != 503) || (st >= 400 && st < 500 && st != 429) || st == 299) server_errors += n;
  }
  // Memory is "stable" when the second half of the run grew it by less than half of the first half's level.
  long rss_mid = rss.empty() ? 0 : rss[rss.size() / 2];
  long rss_end = rss.empty() ? 0 : rss.back();
  bool memory_stable = rss_end <= rss_mid + rss_mid / 2 + 64 * 1024;
  double p50 = percentile(latencies, 0.50), p99 = percentile(latencies, 0.99),
         pmax = latencies.empty() ? 0 : *std::max_element(latencies.begin(), latencies.end());
  uint64_t acked = ledger.acked.size();
  std::cout << "load: " << seconds << " s, " << producers << " producers (" << sdk_producers << " SDK), "
            << streams << " event streams\n"
            << "  httplib producers: " << acked << " records acked (" << acked / std::max(1, seconds)
            << "/s), lost " << lost << ", replies " << ledger.summary() << ", 429/503 without Retry-After "
            << ledger.retry_after_missing << ", transport errors " << transport_errors.load() << ", backoff "
            << backoff_ms_total.load() << " ms\n"
            << "  SDK producers: traced " << sdk_traced.load() << ", enqueued " << sdk.enqueued << ", sent "
            << sdk.sent << ", failed " << sdk.failed << ", dropped (client queue full) " << sdk.dropped
            << ", retried batches " << sdk.retried << ", rows in db " << sdk_rows << "\n"
            << "  queries: " << latencies.size() << ", errors " << query_errors.load() << ", p50 " << p50
            << " ms, p99 " << p99 << " ms, max " << pmax << " ms\n"
            << "  event streams: " << streams_open_at_end << " open at the end, dropped "
            << streams_dropped.load() << ", events seen " << events_seen.load() << "\n"
            << "  memory: peak RSS " << peak / 1024 << " MiB, at mid-run " << rss_mid / 1024
            << " MiB, at the end " << rss_end / 1024 << " MiB\n"
            << "  hostile: " << hostile_requests.load() << " requests, " << hostile_bad.load()
            << " answered wrongly (5xx other than 503 + Retry-After, or accepted)\n"
            << "  integrity_check: " << ic << ", collector exit " << exit_code << ", " << run_s << " s\n";
  json j = {{"scenario", "load"},
            {"seconds", seconds},
            {"producers", producers},
            {"sdk_producers", sdk_producers},
            {"streams", streams},
            {"overload_replies", ledger.count(429) + ledger.count(503)},
            {"acked", acked},
            {"lost", lost},
            {"replies", ledger.summary()},
            {"retry_after_missing", ledger.retry_after_missing},
            {"transport_errors", transport_errors.load()},
            {"sdk",
             {{"traced", sdk_traced.load()},
              {"sent", sdk.sent},
              {"failed", sdk.failed},
              {"dropped", sdk.dropped},
              {"retried", sdk.retried},
              {"rows", sdk_rows}}},
            {"queries", latencies.size()},
            {"query_errors", query_errors.load()},
            {"query_p50_ms", p50},
            {"query_p99_ms", p99},
            {"query_max_ms", pmax},
            {"events_seen", events_seen.load()},
            {"streams_dropped", streams_dropped.load()},
            {"streams_open_at_end", streams_open_at_end},
            {"peak_rss_mib", peak / 1024},
            {"rss_mid_mib", rss_mid / 1024},
            {"rss_end_mib", rss_end / 1024},
            {"hostile_requests", hostile_requests.load()},
            {"hostile_bad", hostile_bad.load()},
            {"integrity", ic}};
  std::cout << "RESULT " << j.dump() << "\n";
  bool ok = lost == 0 && ic == "ok" && server_errors == 0 && ledger.retry_after_missing == 0 &&
            transport_errors.load() == 0 && query_errors.load() == 0 && streams_dropped.load() == 0 &&
            sdk.failed == 0 && sdk_rows >= sdk.sent && memory_stable && exit_code == 0 &&
            streams_open_at_end == streams && hostile_bad.load() == 0 && p99 <= 100.0;
  std::cout << (ok ? "load: PASS\n" : "load: FAIL\n");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string mode = argc > 1 ? argv[1] : "";
  auto f = parse_flags(argc, argv, 2);
  if (mode == "crash-loop") return crash_loop_main(f);
  if (mode == "load") return load_main(f);
  std::cerr << "usage: reliability_stress crash-loop [--kills N --records N --clients N --seed N]\n"
               "       reliability_stress load [--seconds N --producers N --sdk-producers N --streams N "
               "--inflight N]\n";
  return 2;
}
