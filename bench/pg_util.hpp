// PostgreSQL helpers of the benchmark programs (libpq): run SQL on a URL, make a fresh database beside the
// base URL's, and the CPU the server's processes have used. The server itself is the throwaway one that
// scripts/bench.sh starts with tests/support/pg_test_server.py (its directory is DIR, its URL DIR/url).
// Threading: a pg_conn belongs to one thread; the free functions are thread-safe.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <string>

namespace llmtrace::bench {

class pg_conn {
 public:
  explicit pg_conn(const std::string& url);  // throws std::runtime_error when it cannot connect
  ~pg_conn();
  pg_conn(const pg_conn&) = delete;
  pg_conn& operator=(const pg_conn&) = delete;

  void exec(const std::string& sql);          // throws on error
  std::string value(const std::string& sql);  // first column of the first row ("" when none)
  void copy_in(const std::string& sql, const std::string& data);  // COPY ... FROM STDIN with the given text
  std::string copy_out(const std::string& sql);                   // COPY ... TO STDOUT: all it sends
  int backend_pid() const { return PQbackendPID(c_); }

 private:
  void finish_copy();

  PGconn* c_ = nullptr;
};

// base "postgresql://u@h:p/postgres" -> "postgresql://u@h:p/NAME" after DROP/CREATE DATABASE NAME.
std::string pg_fresh_database(const std::string& base_url, const std::string& name);

// CPU seconds (user + system) of the server's postmaster and every process it started that is alive now
// (backends of open connections, background writer, WAL writer, checkpointer). pg_dir: pg_test_server.py's
// DIR.
double pg_server_cpu_seconds(const std::string& pg_dir);

// One field of COPY's text format (backslash, tab, newline and carriage return escaped) appended to out.
void copy_field(std::string& out, const std::string& v);

}  // namespace llmtrace::bench
