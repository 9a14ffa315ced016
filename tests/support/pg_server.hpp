// A throwaway PostgreSQL 15 server for tests, never a mock. Under CTest the fixture tests pg/start and
// pg/stop (pg_test_server.py) run one server for the whole run and write its URL to
// $LLMTRACE_TEST_PG_DIR/url; a test binary run by hand starts a private server instead (initdb + pg_ctl in a
// temp dir, as `nobody` when running as root, on a free loopback port) and stops it at exit. Each store a
// test opens lives in a fresh schema of its own (search_path in the URL), so tests never see each other's
// rows and nothing needs dropping. Thread safety: the functions may be called from any thread.
#pragma once

#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>

#include "model/ids.hpp"

namespace llmtrace::testing {

struct pg_server_info {
  std::string base_url;  // postgresql://postgres@127.0.0.1:PORT/postgres; empty: none
  std::string problem;   // why there is none
};

namespace pg_detail {

inline std::string find_pg_bin() {
  if (const char* e = std::getenv("LLMTRACE_TEST_PG_BIN")) return e;
  for (const char* v : {"17", "16", "15", "14", "13"}) {
    std::string dir = std::string("/usr/lib/postgresql/") + v + "/bin";
    if (std::filesystem::exists(dir + "/initdb") && std::filesystem::exists(dir + "/pg_ctl")) return dir;
  }
  return {};
}

inline int pick_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// A server this process started; stopped (immediate) and removed at exit.
struct private_server {
  std::filesystem::path dir;
  std::string bin;
  std::string as_user;  // "runuser -u nobody -- " when root
  pg_server_info info;

  private_server() {
    bin = find_pg_bin();
    if (bin.empty()) {
      info.problem =
          "no PostgreSQL server binary (initdb, pg_ctl) under /usr/lib/postgresql: install postgresql-15";
      return;
    }
    dir = std::filesystem::temp_directory_path() / ("llmtrace-pg-" + model::new_record_id());
    std::filesystem::create_directories(dir);
    if (::geteuid() == 0) {
      as_user = "runuser -u nobody -- ";
      if (std::system(("chown nobody " + dir.string()).c_str()) != 0) {
        info.problem = "cannot give the test server's directory to user nobody";
        return;
      }
    }
    const int port = pick_port();
    const std::string data = (dir / "data").string();
    const std::string init = as_user + bin + "/initdb -D " + data +
                             " -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync > " +
                             (dir / "initdb.log").string() + " 2>&1";
    if (std::system(init.c_str()) != 0) {
      info.problem = "initdb failed (see " + (dir / "initdb.log").string() + ")";
      return;
    }
    const std::string start =
        as_user + bin + "/pg_ctl -D " + data + " -l " + (dir / "server.log").string() + " -w -t 30 -o \"-p " +
        std::to_string(port) + " -k " + dir.string() +
        " -c listen_addresses=127.0.0.1 -F -c max_connections=300\" start > /dev/null 2>&1";
    if (std::system(start.c_str()) != 0) {
      info.problem = "pg_ctl start failed (see " + (dir / "server.log").string() + ")";
      return;
    }
    info.base_url = "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/postgres";
  }
  ~private_server() {
    if (!info.base_url.empty()) {
      std::system(
          (as_user + bin + "/pg_ctl -D " + (dir / "data").string() + " -m immediate stop > /dev/null 2>&1")
              .c_str());
    }
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace pg_detail

// The server the tests use (started on first call when CTest's fixture did not provide one).
inline const pg_server_info& test_pg_server() {
  static pg_server_info shared = [] {
    pg_server_info i;
    if (const char* d = std::getenv("LLMTRACE_TEST_PG_DIR")) {
      std::ifstream in(std::filesystem::path(d) / "url");
      std::getline(in, i.base_url);
    }
    return i;
  }();
  if (!shared.base_url.empty()) return shared;
  static pg_detail::private_server server;
  return server.info;
}

// Runs SQL on the test server (as its superuser); throws with the server's message on failure.
inline void pg_admin_exec(const std::string& sql) {
  const auto& s = test_pg_server();
  if (s.base_url.empty()) throw std::runtime_error(s.problem);
  PGconn* c = PQconnectdb(s.base_url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string m = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("test PostgreSQL: " + m);
  }
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  std::string m = ok ? "" : PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error("test PostgreSQL: " + m);
}

// SQL that takes a store's schema (named `schema`) from version 7 back to version 3's shape: v5's session
// count and its triggers gone; the tsvector back in records (from record_terms) with its GIN index,
// record_terms (v6: partitioned, with the function that makes its partitions) and its trigger gone, and v7's
// search summaries. The version row is the caller's to set.
inline std::string pg_schema_back_to_v3(const std::string& schema) {
  const std::string s = schema + ".";
  return "DROP TRIGGER sessions_count_added ON " + s + "sessions; DROP TRIGGER sessions_count_gone ON " + s +
         "sessions; DROP FUNCTION " + s + "llmtrace_count_sessions(); DROP TABLE " + s + "session_counts; " +
         "ALTER TABLE " + s + "records ADD COLUMN search_vec TSVECTOR; UPDATE " + s +
         "records r SET search_vec = t.search_vec FROM " + s + "record_terms t WHERE t.rid = r.rid; " +
         "CREATE INDEX records_search ON " + s + "records USING GIN (search_vec); " +
         "DROP TRIGGER records_forget_terms ON " + s + "records; DROP FUNCTION " + s +
         "llmtrace_forget_terms(); DROP TABLE " + s + "record_terms; DROP FUNCTION " + s +
         "llmtrace_terms_partitions(bigint, bigint); DROP TABLE " + s + "record_terms_summary, " + s +
         "record_terms_summary_state; DROP FUNCTION " + s + "llmtrace_terms_summary_stale()";
}

// A URL whose tables live in a new, empty schema of the test server.
inline std::string fresh_pg_url() {
  std::string id = model::new_record_id();
  std::string schema = "t_";
  for (char ch : id)
    if (ch != '-') schema += ch;
  pg_admin_exec("CREATE SCHEMA " + schema);
  return test_pg_server().base_url + "?options=-csearch_path%3D" + schema;
}

}  // namespace llmtrace::testing
