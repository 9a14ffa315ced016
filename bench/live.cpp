// Row 4: live latency. From llmtrace::client::trace() returning (SDK default settings) to the SSE `record`
// event for that record arriving at a subscriber of GET /api/events on a real collector.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <llmtrace/llmtrace.hpp>

#include "bench_util.hpp"
#include "load.hpp"

namespace llmtrace::bench {

int run_live(int argc, char** argv) {
  const std::string bin = arg_value(argc, argv, "--collector");
  const std::string work = arg_value(argc, argv, "--work", "/tmp");
  result_sink out(arg_value(argc, argv, "--out"));
  const int n = static_cast<int>(env_int("LLMTRACE_BENCH_LIVE_RECORDS", 300));

  const std::string db = work + "/live.db";
  for (auto suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  collector_process col;
  col.start(bin, db);

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<std::string, int64_t> sent_ns;  // id -> when trace() returned
  std::vector<double> lat_ms;
  int64_t seen_any = 0, unmatched = 0;
  std::atomic<bool> stop{false};

  httplib::Client sub("127.0.0.1", col.port());
  sub.set_tcp_nodelay(true);
  sub.set_read_timeout(60, 0);
  std::thread subscriber([&] {
    std::string buf;
    sub.Get("/api/events", httplib::Headers{{"Accept", "text/event-stream"}},
            [&](const char* data, size_t len) {
              const int64_t arrived = now_ns();
              buf.append(data, len);
              std::size_t end;
              while ((end = buf.find("\n\n")) != std::string::npos) {
                const std::string ev = buf.substr(0, end);
                buf.erase(0, end + 2);
                if (ev.find("event: record") == std::string::npos) continue;
                const auto d = ev.find("data: ");
                if (d == std::string::npos) continue;
                auto j = nlohmann::json::parse(ev.substr(d + 6, ev.find('\n', d) - d - 6), nullptr, false);
                if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) continue;
                const std::string id = j["id"].get<std::string>();
                std::lock_guard<std::mutex> lock(mu);
                ++seen_any;
                auto it = sent_ns.find(id);
                if (it != sent_ns.end()) {
                  // 0: the event beat the timestamp taken right after trace() returned.
                  lat_ms.push_back(it->second ? static_cast<double>(arrived - it->second) / 1e6 : 0.0);
                  sent_ns.erase(it);
                } else {
                  ++unmatched;
                }
                cv.notify_all();
              }
              return !stop.load();
            });
  });

  // Wait until the stream is live: direct POSTs until the subscriber has seen one of them.
  {
    httplib::Client poster("127.0.0.1", col.port());
    const auto deadline = steady::now() + std::chrono::seconds(10);
    for (;;) {
      poster.Post("/api/trace", R"({"session_id":"live-warmup","request":{"model":"m"},"response":null})",
                  "application/json");
      std::unique_lock<std::mutex> lock(mu);
      if (cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return seen_any > 0; })) break;
      if (steady::now() > deadline) throw std::runtime_error("the event stream never delivered an event");
    }
  }

  {
    llmtrace::options o;  // SDK defaults apart from the endpoint
    o.endpoint = col.base_url();
    llmtrace::client client(o);
    rng r(11);
    const chat_pair p = make_chat_pair(r, 2000);
    const std::string session = "live-session";
    for (int i = 0; i < n; ++i) {
      const std::string id = llmtrace::new_id();
      llmtrace::record rec;
      rec.id = id;
      rec.session_id = session;
      rec.turn_number = i + 1;
      rec.request_json = p.request_json;
      rec.response_json = p.response_json;
      {
        // Registered before the call so a very fast event cannot arrive unmatched.
        std::lock_guard<std::mutex> lock(mu);
        sent_ns[id] = 0;
      }
      client.trace(rec);
      const int64_t t = now_ns();
      {
        std::lock_guard<std::mutex> lock(mu);
        auto it = sent_ns.find(id);
        if (it != sent_ns.end()) it->second = t;
      }
      // 5-15 ms apart, random so the calls do not phase-lock with the flush interval.
      std::this_thread::sleep_for(std::chrono::microseconds(5000 + r.below(10000)));
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return sent_ns.empty(); });
  }
  stop = true;
  {
    httplib::Client poster("127.0.0.1", col.port());
    poster.Post("/api/trace", R"({"session_id":"live-warmup","request":{"model":"m"},"response":null})",
                "application/json");
  }
  sub.stop();
  subscriber.join();
  col.stop();

  std::size_t missing;
  std::vector<double> lat;
  {
    std::lock_guard<std::mutex> lock(mu);
    missing = sent_ns.size();
    lat = lat_ms;
  }
  const summary s = summarize(lat);
  std::printf("live: %zu events matched, %zu missing, p50 %.1f ms p99 %.1f ms max %.1f ms\n", s.n, missing,
              s.p50, s.p99, s.max);
  result_row row;
  row.row = "4 Live latency";
  row.metric = "trace() return -> SSE `record` event, p50 (SDK defaults)";
  row.ours = fmt_ms(s.p50);
  row.target = "<= 100 ms";
  row.met = s.p50 <= 100 && missing == 0 ? "yes" : "no";
  out.add(row);
  row.metric = "trace() return -> SSE `record` event, p99 (SDK defaults)";
  row.ours = fmt_ms(s.p99);
  row.target = "<= 500 ms";
  row.met = s.p99 <= 500 && missing == 0 ? "yes" : "no";
  out.add(row);
  out.note(
      "Row 4: " + std::to_string(n) + " records, one every 5-15 ms from one thread, " + std::to_string(s.n) +
      " events matched, " + std::to_string(missing) + " never arrived; max " + fmt_ms(s.max) +
      ". The SDK's default flush_interval (" +
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(llmtrace::options{}.flush_interval).count()) +
      " ms) bounds the wait of a record that does not fill a batch.");
  return missing == 0 ? 0 : 1;
}

}  // namespace llmtrace::bench
