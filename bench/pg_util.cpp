#include "pg_util.hpp"

#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "bench_util.hpp"

namespace llmtrace::bench {

pg_conn::pg_conn(const std::string& url) : c_(PQconnectdb(url.c_str())) {
  if (PQstatus(c_) != CONNECTION_OK) {
    std::string e = PQerrorMessage(c_);
    PQfinish(c_);
    c_ = nullptr;
    throw std::runtime_error("cannot connect to PostgreSQL: " + e);
  }
}

pg_conn::~pg_conn() {
  if (c_) PQfinish(c_);
}

void pg_conn::exec(const std::string& sql) {
  PGresult* r = PQexec(c_, sql.c_str());
  const auto st = PQresultStatus(r);
  std::string e = PQresultErrorMessage(r);
  PQclear(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error(sql.substr(0, 60) + ": " + e);
}

std::string pg_conn::value(const std::string& sql) {
  PGresult* r = PQexec(c_, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::string e = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error(sql.substr(0, 60) + ": " + e);
  }
  std::string v = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  return v;
}

// The results after a COPY's data: each must be COMMAND_OK.
void pg_conn::finish_copy() {
  PGresult* r = nullptr;
  while ((r = PQgetResult(c_)) != nullptr) {
    const auto st = PQresultStatus(r);
    std::string e = PQresultErrorMessage(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK) throw std::runtime_error("COPY: " + e);
  }
}

void pg_conn::copy_in(const std::string& sql, const std::string& data) {
  PGresult* r = PQexec(c_, sql.c_str());
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    std::string e = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error("COPY: " + e);
  }
  PQclear(r);
  if (PQputCopyData(c_, data.data(), static_cast<int>(data.size())) != 1 || PQputCopyEnd(c_, nullptr) != 1)
    throw std::runtime_error(std::string("COPY data: ") + PQerrorMessage(c_));
  finish_copy();
}

std::string pg_conn::copy_out(const std::string& sql) {
  PGresult* r = PQexec(c_, sql.c_str());
  if (PQresultStatus(r) != PGRES_COPY_OUT) {
    std::string e = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error("COPY: " + e);
  }
  PQclear(r);
  std::string out;
  char* buf = nullptr;
  int n = 0;
  while ((n = PQgetCopyData(c_, &buf, 0)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    PQfreemem(buf);
  }
  if (n == -2) throw std::runtime_error(std::string("COPY data: ") + PQerrorMessage(c_));
  finish_copy();
  return out;
}

std::string pg_fresh_database(const std::string& base_url, const std::string& name) {
  {
    pg_conn c(base_url);
    c.exec("DROP DATABASE IF EXISTS " + name);
    c.exec("CREATE DATABASE " + name);
  }
  const auto slash = base_url.rfind('/');
  if (slash == std::string::npos || slash < 13) throw std::runtime_error("unexpected URL " + base_url);
  return base_url.substr(0, slash + 1) + name;
}

namespace {
pid_t parent_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(all.substr(close + 2));
  std::string state;
  long ppid = -1;
  in >> state >> ppid;
  return static_cast<pid_t>(ppid);
}
}  // namespace

double pg_server_cpu_seconds(const std::string& pg_dir) {
  std::ifstream f(pg_dir + "/data/postmaster.pid");
  long pm = 0;
  if (!(f >> pm) || pm <= 0) return 0;
  double total = process_cpu_seconds(static_cast<pid_t>(pm));
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      char* end = nullptr;
      const long pid = std::strtol(e->d_name, &end, 10);
      if (pid <= 0 || *end) continue;
      if (parent_of(static_cast<pid_t>(pid)) == pm) total += process_cpu_seconds(static_cast<pid_t>(pid));
    }
    ::closedir(d);
  }
  return total;
}

void copy_field(std::string& out, const std::string& v) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

}  // namespace llmtrace::bench
