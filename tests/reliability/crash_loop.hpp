// The kill -9 crash loop, shared by the fast test (3 kills) and reliability_stress (20 kills, 10k records):
// N client threads post batches with client ids to the real collector binary and retry the same batch until
// it is acknowledged, while the main thread SIGKILLs the collector at random moments (random points of the
// acked count, plus a random delay into the next batch) and restarts it on the same database. Afterwards
// every id whose batch got a 2xx must be in the database exactly once, and integrity_check must be clean
// after every kill.
#pragma once

#include <random>

#include "reliability/rel_support.hpp"

namespace llmtrace::reliability {

struct crash_loop_options {
  int kills = 3;
  int records = 1500;  // in total, over all clients
  int clients = 4;
  int batch = 25;
  unsigned seed = 1;
  std::string dir;  // where the database lives
  std::chrono::seconds deadline{300};
};

struct crash_loop_report {
  int kills = 0;
  int restarts_failed = 0;
  int integrity_failures = 0;
  std::string integrity_detail;
  uint64_t acked = 0;         // distinct ids in batches that got a 2xx
  uint64_t present = 0;       // of those, found in the database
  uint64_t lost = 0;          // acked but missing
  uint64_t duplicates = 0;    // extra rows for one id
  uint64_t rows = 0;          // rows in the records table at the end
  uint64_t partial_acks = 0;  // 2xx replies that rejected items (must be 0)
  uint64_t attempts = 0;
  bool finished = false;  // every client got every batch acknowledged before the deadline
  std::string statuses;
  double seconds = 0;
};

inline crash_loop_report run_crash_loop(const crash_loop_options& o) {
  crash_loop_report rep;
  auto t0 = std::chrono::steady_clock::now();
  auto deadline = t0 + o.deadline;
  process_options po;
  po.db_path = o.dir + "/crash.db";
  po.args = {"--max-ingest-inflight", "64"};
  collector_process p(po);
  if (!p.start()) {
    rep.restarts_failed = 1;
    return rep;
  }
  ack_ledger ledger;
  std::atomic<int> clients_done{0};
  const int per_client = o.records / o.clients;
  std::vector<std::thread> clients;
  for (int k = 0; k < o.clients; ++k) {
    clients.emplace_back([&, k] {
      std::string prefix = "crash-c" + std::to_string(k);
      auto c = p.client();
      c->set_read_timeout(5, 0);
      int next = 0;
      while (next < per_client && std::chrono::steady_clock::now() < deadline) {
        int n = std::min(o.batch, per_client - next);
        std::string body = batch_body(prefix, next, n);
        auto ids = batch_ids(prefix, next, n);
        for (;;) {
          if (std::chrono::steady_clock::now() >= deadline) break;
          int st = post_batch(*c, body, ids, ledger);
          if (st >= 200 && st < 299) {
            next += n;
            break;
          }
          // Dead or restarting collector: reconnect and send the very same batch again (same ids).
          c = p.client();
          c->set_read_timeout(5, 0);
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
      clients_done.fetch_add(1);
    });
  }
  std::mt19937 rng(o.seed);
  std::vector<int> points;
  std::uniform_int_distribution<int> at(o.records / 20, o.records - o.records / 20);
  for (int i = 0; i < o.kills; ++i) points.push_back(at(rng));
  std::sort(points.begin(), points.end());
  std::uniform_int_distribution<int> jitter_us(0, 20000);
  for (int point : points) {
    wait_until(
        [&] {
          std::lock_guard<std::mutex> lock(ledger.m);
          return static_cast<int>(ledger.acked.size()) >= point || clients_done.load() == o.clients;
        },
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    // A random moment inside whatever batch is in flight now.
    std::this_thread::sleep_for(std::chrono::microseconds(jitter_us(rng)));
    p.kill9();
    ++rep.kills;
    std::string ic = integrity_check(po.db_path);
    if (ic != "ok") {
      ++rep.integrity_failures;
      rep.integrity_detail = ic;
    }
    if (!p.start()) ++rep.restarts_failed;
  }
  for (auto& t : clients) t.join();
  rep.finished = std::chrono::steady_clock::now() < deadline;
  p.terminate();
  std::string ic = integrity_check(po.db_path);
  if (ic != "ok") {
    ++rep.integrity_failures;
    rep.integrity_detail = ic;
  }
  auto ids = record_ids(po.db_path);
  {
    std::lock_guard<std::mutex> lock(ledger.m);
    rep.acked = ledger.acked.size();
    for (const auto& id : ledger.acked) {
      auto it = ids.find(id);
      if (it == ids.end())
        ++rep.lost;
      else
        ++rep.present;
    }
    rep.partial_acks = ledger.statuses.count(299) ? ledger.statuses[299] : 0;
    rep.attempts = ledger.attempts;
  }
  for (auto& [id, n] : ids) {
    rep.rows += static_cast<uint64_t>(n);
    if (n > 1) rep.duplicates += static_cast<uint64_t>(n - 1);
  }
  rep.statuses = ledger.summary();
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace llmtrace::reliability
