#include "ingest_load.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include <httplib.h>

#include <llmtrace/llmtrace.hpp>

namespace llmtrace::bench {

row_source::row_source() {
  rng r(7);
  for (int i = 0; i < 256; ++i) pairs.push_back(make_chat_pair(r, 1850));
}

std::string ingest_session_of(int64_t i) {
  return "ingest-session-" + std::to_string(i % kIngestSessions);
}

int64_t ingest_turn_of(int64_t i) {
  return 1 + i / kIngestSessions;
}

void ingest_batch_body(const row_source& src, int64_t b, std::string& body) {
  body.clear();
  body += R"({"traces":[)";
  for (int k = 0; k < kIngestBatch; ++k) {
    const int64_t i = b * kIngestBatch + k;
    if (k) body += ',';
    body += make_trace_json(llmtrace::new_id(), ingest_session_of(i), ingest_turn_of(i), src.pair(i));
  }
  body += "]}";
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

post_result post_batches(const std::vector<int>& ports, int clients_per_port, const row_source& src,
                         int64_t batches, int hard_stop_s) {
  std::atomic<int64_t> next_batch{0}, accepted{0}, rejected{0}, retries{0}, failures{0};
  post_result out;
  std::mutex mu;
  const auto hard_stop =
      steady::now() + std::chrono::seconds(hard_stop_s);  // bound even if a collector stalls
  const auto t0 = steady::now();
  std::vector<std::thread> clients;
  for (int port : ports) {
    for (int c = 0; c < clients_per_port; ++c) {
      clients.emplace_back([&, port] {
        httplib::Client cli("127.0.0.1", port);
        cli.set_keep_alive(true);
        cli.set_tcp_nodelay(true);
        cli.set_read_timeout(30, 0);
        std::string body;
        std::vector<double> mine;
        for (;;) {
          const int64_t b = next_batch.fetch_add(1);
          if (b >= batches || steady::now() > hard_stop) break;
          ingest_batch_body(src, b, body);
          for (int attempt = 0;; ++attempt) {
            const auto s = steady::now();
            auto res = cli.Post("/api/traces", body, "application/json");
            if (res && res->status == 200) {
              mine.push_back(std::chrono::duration<double, std::milli>(steady::now() - s).count());
              // {"accepted":N,"rejected":M,...}: read the two counters without a JSON library.
              auto num = [&](const char* key) -> int64_t {
                auto p = res->body.find(key);
                return p == std::string::npos ? 0 : std::atoll(res->body.c_str() + p + std::strlen(key));
              };
              accepted += num("\"accepted\":");
              rejected += num("\"rejected\":");
              break;
            }
            if (res && (res->status == 503 || res->status == 429) && attempt < 50 &&
                steady::now() < hard_stop) {
              ++retries;
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
              continue;
            }
            ++failures;
            std::cerr << "ingest: batch failed: "
                      << (res ? std::to_string(res->status) : httplib::to_string(res.error())) << "\n";
            break;
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        out.batch_ms.insert(out.batch_ms.end(), mine.begin(), mine.end());
      });
    }
  }
  for (auto& t : clients) t.join();
  out.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  out.accepted = accepted;
  out.rejected = rejected;
  out.retries = retries;
  out.failures = failures;
  return out;
}

}  // namespace llmtrace::bench
