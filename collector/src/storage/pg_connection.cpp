#include "storage/pg_connection.hpp"

#include <algorithm>
#include <cstdlib>

#include "storage/store.hpp"

namespace llmtrace::storage::pg {
namespace {

// libpq ends its messages with a newline; the API's error text is one line.
std::string one_line(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (auto& ch : s)
    if (ch == '\n') ch = ' ';
  return s;
}

}  // namespace

bool retryable(const pg_error& e) {
  return e.sqlstate == "40001" || e.sqlstate == "40P01" || e.sqlstate == "23505";
}

void rethrow_mapped(const pg_error& e) {
  const std::string& s = e.sqlstate;
  const std::string cls = s.substr(0, 2);
  if (e.lost || cls == "08" || s == "57P01" || s == "57P02" || s == "57P03" || s == "53100" || s == "25006" ||
      cls == "58") {
    throw store_unavailable(std::string("database unavailable: ") + e.what());
  }
  if (retryable(e) || cls == "53" || s == "55P03" || s == "57014") {
    throw store_busy(std::string("database is busy: ") + e.what());
  }
  throw std::runtime_error(std::string("database error: ") + e.what());
}

int64_t result::i64(int row, int col) const {
  return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10);
}

double result::f64(int row, int col) const {
  return std::strtod(PQgetvalue(r_.get(), row, col), nullptr);
}

int64_t result::affected() const {
  const char* n = PQcmdTuples(r_.get());
  return (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
}

connection::connection(const std::string& conninfo) {
  // expand_dbname: the first "dbname" is the user's URL or key=value string; the keys after it apply on top.
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "5", "llmtrace-collector", nullptr};
  c_ = PQconnectdbParams(keys, values, 1);
  if (!c_ || PQstatus(c_) != CONNECTION_OK) {
    std::string msg = c_ ? one_line(PQerrorMessage(c_)) : "out of memory";
    if (c_) PQfinish(c_);
    c_ = nullptr;
    throw pg_error("", "cannot connect to PostgreSQL: " + msg, true);
  }
  // Notices (e.g. "relation already exists, skipping") are not the collector's log lines.
  PQsetNoticeProcessor(
      c_, [](void*, const char*) {}, nullptr);
}

connection::~connection() {
  if (c_) PQfinish(c_);
}

void connection::fail(PGresult* r) {
  std::string state;
  std::string msg;
  if (r) {
    const char* st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    state = st ? st : "";
    const char* m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    msg = m ? m : one_line(PQresultErrorMessage(r));
    PQclear(r);
  } else {
    msg = one_line(PQerrorMessage(c_));
  }
  const bool lost = PQstatus(c_) != CONNECTION_OK;
  if (msg.empty()) msg = lost ? "connection to PostgreSQL lost" : "PostgreSQL error";
  throw pg_error(state, msg, lost);
}

result connection::run(const std::string& sql, const params& p) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = std::to_string(prepared_.size() + 1);
    name.insert(name.begin(), 's');  // not "s" + to_string(): GCC 12 -Wrestrict false positive (PR 105329)
    PGresult* r = PQprepare(c_, name.c_str(), sql.c_str(), 0, nullptr);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) fail(r);
    PQclear(r);
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  std::vector<const char*> values(p.size());
  for (size_t i = 0; i < p.size(); ++i) values[i] = p[i] ? p[i]->c_str() : nullptr;
  PGresult* r =
      PQexecPrepared(c_, it->second.c_str(), static_cast<int>(p.size()), values.data(), nullptr, nullptr, 0);
  const auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r);
  return result(r);
}

void connection::exec(const std::string& sql) {
  PGresult* r = PQexec(c_, sql.c_str());
  const auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r);
  PQclear(r);
}

void connection::copy_in(const std::string& sql, std::string_view data) {
  PGresult* r = PQexec(c_, sql.c_str());
  if (!r || PQresultStatus(r) != PGRES_COPY_IN) fail(r);
  PQclear(r);
  // libpq takes at most INT_MAX bytes a call; a batch is far smaller, but chunks cost nothing.
  constexpr std::size_t k_chunk = 1 << 20;
  bool sent = true;
  for (std::size_t at = 0; sent && at < data.size(); at += k_chunk) {
    const std::size_t n = std::min(k_chunk, data.size() - at);
    sent = PQputCopyData(c_, data.data() + at, static_cast<int>(n)) == 1;
  }
  // A failed send ends the COPY with an error message, so the server aborts it instead of committing part.
  if (PQputCopyEnd(c_, sent ? nullptr : "llmtrace: sending the COPY data failed") != 1) fail(nullptr);
  // The COPY's own result, then nullptr; the first failure is the one to report.
  PGresult* bad = nullptr;
  while ((r = PQgetResult(c_)) != nullptr) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && !bad) {
      bad = r;
    } else {
      PQclear(r);
    }
  }
  if (bad) fail(bad);
  if (!sent) fail(nullptr);
}

transaction::transaction(connection& c) : c_(c) {
  c_.exec("BEGIN");
}

transaction::~transaction() {
  if (!done_ && c_.ok()) {
    try {
      c_.exec("ROLLBACK");
    } catch (...) {
    }
  }
}

void transaction::commit() {
  c_.exec("COMMIT");
  done_ = true;
}

std::string text_array(const std::vector<std::string>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char ch : v[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += '}';
  return out;
}

pool::pool(std::string conninfo, int size, std::chrono::milliseconds wait)
    : conninfo_(std::move(conninfo)), wait_(wait), free_slots_(size < 1 ? 1 : size) {}

pool::lease::lease(pool& p) : p_(p) {
  std::unique_lock<std::mutex> lock(p_.mu_);
  if (!p_.cv_.wait_for(lock, p_.wait_, [&] { return p_.free_slots_ > 0; })) {
    throw store_busy("database is busy: every PostgreSQL connection of this collector is in use");
  }
  --p_.free_slots_;
  if (!p_.idle_.empty()) {
    c_ = std::move(p_.idle_.back());
    p_.idle_.pop_back();
  }
  lock.unlock();
  try {
    if (c_ && !c_->ok()) c_.reset();
    if (!c_) c_ = std::make_unique<connection>(p_.conninfo_);
  } catch (const pg_error& e) {
    std::lock_guard<std::mutex> g(p_.mu_);
    ++p_.free_slots_;
    p_.cv_.notify_one();
    throw store_unavailable(std::string("database unavailable: ") + e.what());
  }
}

pool::lease::~lease() {
  std::lock_guard<std::mutex> g(p_.mu_);
  if (c_ && c_->ok()) p_.idle_.push_back(std::move(c_));
  ++p_.free_slots_;
  p_.cv_.notify_one();
}

}  // namespace llmtrace::storage::pg
