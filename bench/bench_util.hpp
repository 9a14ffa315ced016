// Shared helpers of the benchmark programs: percentiles, result rows for results.md, realistic OpenAI-shaped
// payloads, and a real llmtrace-collector child process (spawn, wait for /healthz, CPU and RSS from /proc,
// stop). Threading: free functions are thread-safe; a collector_process and a result_sink belong to one
// thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace llmtrace::bench {

using steady = std::chrono::steady_clock;

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count();
}

// Nearest-rank percentile (q in [0, 1]) of samples; sorts them in place. 0 when empty.
double percentile(std::vector<double>& samples, double q);

struct summary {
  std::size_t n = 0;
  double p50 = 0, p95 = 0, p99 = 0, p999 = 0, max = 0;
};
summary summarize(std::vector<double> samples);

// "123 ns", "4.56 us", "7.89 ms" from nanoseconds.
std::string fmt_ns(double ns);
std::string fmt_ms(double ms);
std::string fmt_num(double v, int decimals = 0);  // thousands separated: 12,345
std::string fmt_ratio(double r);                  // "0.42x"
std::string fmt_bytes(double b);                  // "1.2 MB"

// One line of the results table: row, metric, ours, peer, ratio, target, met?
struct result_row {
  std::string row, metric, ours, peer = "-", ratio = "-", target = "-", met = "-";
};

// Appends rows as markdown table lines to a file (the script assembles results.md) and echoes them.
class result_sink {
 public:
  explicit result_sink(std::string path) : path_(std::move(path)) {}
  void add(const result_row& r);
  // A free-text note that goes under the table (bottlenecks, caveats).
  void note(const std::string& text);

 private:
  std::string path_;
};

// Deterministic pseudo-random numbers (splitmix64): the same seed gives the same payloads in every run.
class rng {
 public:
  explicit rng(uint64_t seed) : s_(seed) {}
  uint64_t next();
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_;
};

// A synthetic vocabulary word (lowercase ASCII letters, 3-9 chars) for index i; words differ for i < 65536.
std::string vocab_word(uint32_t i);
inline constexpr uint32_t vocab_size = 4096;
// `bytes` characters of space-separated vocabulary words.
std::string words(rng& r, std::size_t bytes);

// An OpenAI chat.completions request and response whose JSON together is about `bytes` long.
struct chat_pair {
  std::string request_json;
  std::string response_json;
};
chat_pair make_chat_pair(rng& r, std::size_t bytes, const std::string& extra_token = {});

// One trace object in the POST /api/trace shape (what the SDK sends), with the given id / session / turn.
std::string make_trace_json(const std::string& id, const std::string& session_id, int64_t turn,
                            const chat_pair& p, bool error = false);

// A free TCP port on 127.0.0.1 (bound to port 0 and released; another process may take it in between, rare).
int free_loopback_port();

// CPU time (user + system, all threads) of a process from /proc/<pid>/stat, in seconds.
double process_cpu_seconds(pid_t pid);
// CPU time of all live threads of a process in seconds, from /proc/<pid>/task/*/schedstat (nanosecond
// resolution; threads that already exited are not counted, so use it around steady work only).
double process_thread_cpu_seconds(pid_t pid);
// Resident set size from /proc/<pid>/status (VmRSS), in bytes; 0 when unknown.
int64_t process_rss_bytes(pid_t pid);
// The same, split: anonymous memory (heap, stacks) and file-backed pages (binary, libraries, mmap'd
// database).
int64_t process_rss_anon_bytes(pid_t pid);
int64_t process_rss_file_bytes(pid_t pid);
// "12.3 MB (anon 4.5 MB, file 7.8 MB)"
std::string rss_text(pid_t pid);
int64_t file_size(const std::string& path);  // -1 when missing

// A real llmtrace-collector child process on a free loopback port.
class collector_process {
 public:
  collector_process() = default;
  ~collector_process();
  collector_process(const collector_process&) = delete;
  collector_process& operator=(const collector_process&) = delete;

  // Starts `binary` with --db db and extra args; waits (bounded) for the first 200 from /healthz.
  // Throws std::runtime_error when it does not come up within `timeout`.
  void start(const std::string& binary, const std::string& db,
             const std::vector<std::string>& extra_args = {}, const std::vector<std::string>& extra_env = {},
             std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGTERM, then SIGKILL after a bounded wait. Returns the exit status (or -1).
  int stop();

  // Where the collector's stderr goes (default: db + ".log"; set it when db is a postgresql:// URL).
  void set_log(std::string path) { log_ = std::move(path); }

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  double start_ms() const { return start_ms_; }  // spawn to the first /healthz 200

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  double start_ms_ = 0;
  std::string log_;
};

// Value of argv "--name value" (or fallback).
std::string arg_value(int argc, char** argv, const std::string& name, const std::string& fallback = {});
int64_t env_int(const char* name, int64_t fallback);

}  // namespace llmtrace::bench
