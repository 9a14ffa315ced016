// Helpers of the reliability suite: the real llmtrace-collector as a child process (so it can be killed with
// SIGKILL, given a file-size limit, or pointed at a tmpfs), raw loopback sockets for requests httplib's
// client would refuse to send, batch posting with client ids and an ack ledger, and direct SQLite checks
// (integrity_check, which ids are present). Header-only; used by the fast suite and by reliability_stress.
// Threading: each object belongs to one thread, except ack_ledger (mutex inside).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace llmtrace::reliability {

using llmtrace::testing::free_port;
using llmtrace::testing::temp_dir;
using llmtrace::testing::wait_until;
using json = nlohmann::json;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// --- the collector as a child process ---------------------------------------------------------------------

struct process_options {
  std::vector<std::string> args;                         // besides --host/--port/--db
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing in) the environment
  std::optional<rlim_t> file_size_limit;                 // RLIMIT_FSIZE, SIGXFSZ ignored: writes fail EFBIG
  std::string db_path;                                   // required
  int port = 0;                                          // 0: a free port is picked
  bool omit_host = false;                                // true: no --host (the default bind is under test)
  std::string log_path;                                  // empty: db_path + ".log" (set it when db is a URL)
};

class collector_process {
 public:
  explicit collector_process(process_options o) : opts_(std::move(o)) {
    if (opts_.port == 0) opts_.port = free_port();
    log_path_ = opts_.log_path.empty() ? opts_.db_path + ".log" : opts_.log_path;
  }
  ~collector_process() { kill9(); }
  collector_process(const collector_process&) = delete;
  collector_process& operator=(const collector_process&) = delete;

  // Starts the binary and waits until /healthz answers. Returns false (and leaves it stopped) otherwise.
  bool start(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
    // LLMTRACE_TEST_COLLECTOR_BIN runs the tests against another build (scripts/prefix_check.sh: the
    // collector before a change).
    const char* other_bin = std::getenv("LLMTRACE_TEST_COLLECTOR_BIN");
    std::vector<std::string> args = {other_bin && *other_bin ? other_bin : LLMTRACE_COLLECTOR_BIN,
                                     "--port",
                                     std::to_string(opts_.port),
                                     "--db",
                                     opts_.db_path,
                                     "--log-level",
                                     "info"};
    if (!opts_.omit_host) args.insert(args.begin() + 1, {"--host", "127.0.0.1"});
    args.insert(args.end(), opts_.args.begin(), opts_.args.end());
    std::map<std::string, std::string> envm;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq == std::string::npos) continue;
      std::string k = kv.substr(0, eq);
      // The collector must see only what the test gives it.
      if (k.rfind("LLMTRACE_", 0) == 0 || k.rfind("OPENAI_", 0) == 0 || k == "SERVER_PORT") continue;
      envm[k] = kv.substr(eq + 1);
    }
    for (auto& [k, v] : opts_.env) envm[k] = v;
    std::vector<std::string> env_strings;
    for (auto& [k, v] : envm) env_strings.push_back(k + "=" + v);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return false;
    std::optional<rlim_t> fsize = opts_.file_size_limit;
    pid_t pid = ::fork();
    if (pid == 0) {
      // Child: async-signal-safe calls only until execve.
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::signal(SIGXFSZ, SIG_IGN);  // inherited through exec: a write past the limit fails with EFBIG
      if (fsize) {
        rlimit rl{};
        ::getrlimit(RLIMIT_FSIZE, &rl);
        rl.rlim_cur = *fsize;
        ::setrlimit(RLIMIT_FSIZE, &rl);
      }
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(log_fd);
    if (pid < 0) return false;
    pid_ = pid;
    bool up = wait_until(
        [&] {
          if (exited()) return true;
          httplib::Client c("127.0.0.1", opts_.port);
          c.set_connection_timeout(0, 200000);
          c.set_read_timeout(1, 0);
          auto r = c.Get("/healthz");
          return r && r->status == 200;
        },
        timeout);
    if (!up || pid_ < 0) {
      kill9();
      return false;
    }
    return true;
  }

  bool exited() {
    if (pid_ < 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      last_status_ = status;
      return true;
    }
    return false;
  }

  void kill9() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    last_status_ = status;
    pid_ = -1;
  }

  // SIGTERM and wait; returns the exit code (or -1 when it had to be killed).
  int terminate(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
    if (pid_ < 0) return -1;
    ::kill(pid_, SIGTERM);
    if (!wait_until([&] { return exited(); }, timeout)) {
      kill9();
      return -1;
    }
    return WIFEXITED(last_status_) ? WEXITSTATUS(last_status_) : -1;
  }

  // Peak resident set (VmHWM) in KiB, 0 when not running.
  long peak_rss_kib() const {
    if (pid_ < 0) return 0;
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
    return 0;
  }
  long rss_kib() const {
    if (pid_ < 0) return 0;
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    return 0;
  }

  // Changes RLIMIT_FSIZE of the running collector (prlimit(2)): lifts or imposes a "disk full".
  // Only the soft limit moves: raising a hard limit needs CAP_SYS_RESOURCE, which a sandbox may not grant.
  bool set_file_size_limit(rlim_t limit) {
    if (pid_ <= 0) return false;
    rlimit old{};
    if (::prlimit(pid_, RLIMIT_FSIZE, nullptr, &old) != 0) return false;
    rlimit rl{std::min(limit, old.rlim_max), old.rlim_max};
    return ::prlimit(pid_, RLIMIT_FSIZE, &rl, nullptr) == 0;
  }

  std::unique_ptr<httplib::Client> client(const std::string& bearer = {}) const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", opts_.port);
    c->set_tcp_nodelay(true);
    c->set_connection_timeout(2, 0);
    c->set_read_timeout(15, 0);
    c->set_write_timeout(15, 0);
    if (!bearer.empty()) c->set_bearer_token_auth(bearer.c_str());
    return c;
  }

  pid_t pid() const { return pid_; }
  int port() const { return opts_.port; }
  const std::string& log_path() const { return log_path_; }
  std::string log() const { return read_file(log_path_); }

 private:
  process_options opts_;
  std::string log_path_;
  pid_t pid_ = -1;
  int last_status_ = 0;
};

// --- raw sockets -------------------------------------------------------------------------------------------

class raw_conn {
 public:
  explicit raw_conn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (fd_ >= 0) {
      int one = 1;
      ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
  }
  ~raw_conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  raw_conn(const raw_conn&) = delete;
  raw_conn& operator=(const raw_conn&) = delete;

  bool ok() const { return fd_ >= 0; }

  // Sends everything; false when the peer closed (EPIPE/ECONNRESET) before all was written.
  bool send_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads until the peer closes or `timeout` passes without data; returns what arrived.
  std::string read_until_close(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read_some(out, deadline)) {
    }
    return out;
  }

  // Reads one HTTP response (headers + Content-Length body) or until close/timeout.
  std::string read_response(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto he = out.find("\r\n\r\n");
      if (he != std::string::npos) {
        std::string head = out.substr(0, he);
        std::string lower = head;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto cl = lower.find("content-length:");
        std::size_t len = cl == std::string::npos ? 0 : std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
        if (out.size() >= he + 4 + len) return out;
      }
      if (!read_some(out, deadline)) return out;
    }
  }

  // Appends what one read brings before `deadline`; false when nothing came (timeout) or the peer closed.
  bool read_some(std::string& out, std::chrono::steady_clock::time_point deadline) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    pollfd p{fd_, POLLIN, 0};
    const int left =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
    if (::poll(&p, 1, std::max(left, 1)) <= 0) return false;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    out.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  // True when the server has closed the connection (a read returns EOF or reset) within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout) {
    read_until_close(timeout);
    return closed_;
  }

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

// "HTTP/1.1 413 Payload Too Large\r\n..." -> 413; 0 when there is no status line.
inline int status_of(const std::string& raw) {
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return 0;
  return std::atoi(raw.c_str() + 9);
}
inline std::string body_of(const std::string& raw) {
  auto he = raw.find("\r\n\r\n");
  return he == std::string::npos ? std::string() : raw.substr(he + 4);
}

// --- SQLite checks, on a separate connection like any other tool would use -------------------------------

inline std::string integrity_check(const std::string& db_path) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    out = std::string("open failed: ") + (db ? sqlite3_errmsg(db) : "?");
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      if (!out.empty()) out += "; ";
      out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
  } else {
    out = std::string("prepare failed: ") + sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;  // "ok" when clean
}

// Every record id in the database, with how many rows carry it (to see duplicates).
inline std::map<std::string, int> record_ids(const std::string& db_path) {
  std::map<std::string, int> ids;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return ids;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT id FROM records", -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) ids[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))]++;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return ids;
}

inline std::uintmax_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

// --- ingest with client ids --------------------------------------------------------------------------------

// A batch of `n` traces with ids "<prefix>-<first+i>", a fixed session per prefix and an auto turn.
inline std::string batch_body(const std::string& prefix, int first, int n, std::size_t pad = 200) {
  json traces = json::array();
  std::string filler(pad, 'x');
  for (int i = 0; i < n; ++i) {
    traces.push_back(
        {{"id", prefix + "-" + std::to_string(first + i)},
         {"session_id", "sess-" + prefix},
         {"request",
          {{"model", "gpt-test"},
           {"messages", json::array({{{"role", "user"}, {"content", "hello " + filler}}})}}},
         {"response",
          {{"choices", json::array({{{"message", {{"role", "assistant"}, {"content", "hi"}}}}})}}},
         {"status", "success"}});
  }
  return json{{"traces", traces}}.dump();
}

inline std::vector<std::string> batch_ids(const std::string& prefix, int first, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(prefix + "-" + std::to_string(first + i));
  return ids;
}

// What the clients were told: ids in batches that got a 2xx, and how each attempt ended.
struct ack_ledger {
  std::mutex m;
  std::set<std::string> acked;
  std::map<int, uint64_t> statuses;  // HTTP status -> count (0: no response)
  uint64_t retry_after_missing = 0;  // 429/503 without Retry-After (must stay 0)
  uint64_t attempts = 0;

  void record(int status, bool has_retry_after, const std::vector<std::string>* ids) {
    std::lock_guard<std::mutex> lock(m);
    ++attempts;
    ++statuses[status];
    if ((status == 429 || status == 503) && !has_retry_after) ++retry_after_missing;
    if (ids && status >= 200 && status < 300) acked.insert(ids->begin(), ids->end());
  }
  uint64_t count(int status) {
    std::lock_guard<std::mutex> lock(m);
    auto it = statuses.find(status);
    return it == statuses.end() ? 0 : it->second;
  }
  std::string summary() {
    std::lock_guard<std::mutex> lock(m);
    std::string s;
    for (auto& [k, v] : statuses) s += std::to_string(k) + ":" + std::to_string(v) + " ";
    return s;
  }
};

// Posts a batch; on a 2xx also checks that the reply lists every item as stored (not rejected).
inline int post_batch(httplib::Client& c, const std::string& body, const std::vector<std::string>& ids,
                      ack_ledger& ledger) {
  auto r = c.Post("/api/traces", body, "application/json");
  int status = r ? r->status : 0;
  bool ra = r && r->has_header("Retry-After");
  if (status >= 200 && status < 300) {
    auto j = json::parse(r->body, nullptr, false);
    // A 2xx whose items are not all stored would be a false ack of the missing ones: count it apart.
    std::size_t stored = 0;
    if (j.is_object() && j.contains("results") && j["results"].is_array())
      for (auto& it : j["results"]) stored += it.contains("id") && !it.contains("error") ? 1 : 0;
    if (stored != ids.size()) status = 299;  // not a real status: "2xx with rejected items"
  }
  ledger.record(status, ra, status >= 200 && status < 299 ? &ids : nullptr);
  return status;
}

}  // namespace llmtrace::reliability
