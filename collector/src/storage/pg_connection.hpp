// One libpq connection of the PostgreSQL store and its pool. A connection prepares each SQL text once (a
// per-connection statement cache) and runs it with text parameters; every failure becomes a pg_error that
// carries the SQLSTATE, which pg_pool maps onto store_busy / store_unavailable. The connection string is kept
// by the pool only: it is never put into a message (a URL's password must not reach logs or errors).
// Thread safety: a connection belongs to one thread at a time (the pool's lease); the pool is thread-safe.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace llmtrace::storage::pg {

// A statement failed. sqlstate is PostgreSQL's five-character code ("" when the connection itself failed).
struct pg_error : std::runtime_error {
  pg_error(std::string state, const std::string& msg, bool connection_lost)
      : std::runtime_error(msg), sqlstate(std::move(state)), lost(connection_lost) {}
  std::string sqlstate;
  bool lost = false;
};

// True for the failures a whole transaction may simply be run again after: serialisation failure, deadlock,
// and a unique key taken by a concurrent writer that committed first.
bool retryable(const pg_error& e);
// Rethrows e as store_busy (overload, lock timeouts, retryable conflicts), store_unavailable (connection
// lost, server shutting down, disk full, read-only) or std::runtime_error.
[[noreturn]] void rethrow_mapped(const pg_error& e);

// Text parameters; nullopt binds SQL NULL.
using params = std::vector<std::optional<std::string>>;

// A query result (owns the PGresult).
class result {
 public:
  explicit result(PGresult* r) : r_(r, PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  bool null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col)));
  }
  int64_t i64(int row, int col) const;
  double f64(int row, int col) const;
  std::optional<int64_t> opt_i64(int row, int col) const {
    if (null(row, col)) return std::nullopt;
    return i64(row, col);
  }
  int64_t affected() const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_;
};

class connection {
 public:
  // Throws pg_error (lost = true) when the server cannot be reached or refuses the login.
  explicit connection(const std::string& conninfo);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Runs a prepared statement (prepared on first use on this connection).
  result run(const std::string& sql, const params& p = {});
  // Runs SQL text without parameters (BEGIN, COMMIT, DDL; may hold several statements).
  void exec(const std::string& sql);
  // Runs `COPY ... FROM STDIN` (sql) with `data` as its whole input; failures as run's. A COPY is one
  // statement for any number of rows: the write transaction stores its new records with one.
  void copy_in(const std::string& sql, std::string_view data);
  bool ok() const { return PQstatus(c_) == CONNECTION_OK; }
  PGconn* raw() { return c_; }

 private:
  [[noreturn]] void fail(PGresult* r);
  PGconn* c_ = nullptr;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
};

// A transaction on a connection: BEGIN when made, ROLLBACK when destroyed unless committed (a lost connection
// needs none).
class transaction {
 public:
  explicit transaction(connection& c);
  ~transaction();
  void commit();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

 private:
  connection& c_;
  bool done_ = false;
};

// Formats a PostgreSQL text[] literal of these strings.
std::string text_array(const std::vector<std::string>& v);

// A fixed number of connections opened lazily, handed out one caller at a time; a connection that was lost
// is dropped and a new one is opened on the next lease (so a restarted server is picked up again).
class pool {
 public:
  pool(std::string conninfo, int size, std::chrono::milliseconds wait);

  class lease {
   public:
    lease(pool& p);
    ~lease();
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    connection& operator*() { return *c_; }
    connection* operator->() { return c_.get(); }
    // The connection failed: close it instead of giving it back.
    void discard() { c_.reset(); }

   private:
    pool& p_;
    std::unique_ptr<connection> c_;
  };

  // f(connection&) with every pg_error mapped (and a lost connection discarded).
  template <class F>
  auto with(F&& f) -> decltype(f(std::declval<connection&>())) {
    lease l(*this);
    try {
      return f(*l);
    } catch (const pg_error& e) {
      if (e.lost || !l->ok()) l.discard();
      rethrow_mapped(e);
    }
  }

  const std::string& conninfo() const { return conninfo_; }

 private:
  std::string conninfo_;
  std::chrono::milliseconds wait_;
  std::mutex mu_;
  std::condition_variable cv_;
  int free_slots_;
  std::vector<std::unique_ptr<connection>> idle_;
};

}  // namespace llmtrace::storage::pg
