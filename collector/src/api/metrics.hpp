// Prometheus metrics (text format 0.0.4) for GET /metrics: request counts and latency histograms by
// route, ingest counters, rejections by reason, session/record gauges, open event streams.
// Thread safety: observe() and render() may be called from any thread (one mutex, short sections).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace llmtrace::storage {
class store_reader;
}
namespace llmtrace::ingest {
class ingest_service;
}

namespace llmtrace::api {

class event_hub;

// Collapses ids out of a path so labels stay bounded: "/api/sessions/abc/records" ->
// "/api/sessions/:id/records".
std::string route_label(std::string_view path);

// The method label: one of GET HEAD POST PUT PATCH DELETE OPTIONS, else "other" (a raw method of any
// length, even one httplib rejects before auth, must not become a label).
std::string method_label(std::string_view method);

// A Prometheus label value escaped (backslash, double quote, newline).
std::string escape_label(std::string_view v);

class metrics {
 public:
  static constexpr std::array<double, 10> buckets{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                  0.025,  0.05,  0.1,    0.5,   2.5};

  void observe(std::string_view method, std::string_view path, int status, double seconds);
  std::string render(const ingest::ingest_service& ingest, const event_hub& events,
                     storage::store_reader& reads) const;

 private:
  struct series {
    uint64_t count = 0;
    double sum = 0;
    std::array<uint64_t, buckets.size()> bucket_counts{};
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // method, route, status
  std::map<std::pair<std::string, std::string>, series> latency_;           // method, route
};

}  // namespace llmtrace::api
