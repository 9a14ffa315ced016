#include "storage/sqlite_errors.hpp"

#include <sqlite3.h>

#include <string>

namespace llmtrace::storage::sqlite {

void rethrow_mapped(const SQLite::Exception& e) {
  switch (e.getErrorCode()) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw store_busy(std::string("database is busy: ") + e.what());
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
      throw store_unavailable(std::string("database unavailable: ") + e.what());
    default:
      throw std::runtime_error(std::string("database error: ") + e.what());
  }
}

}  // namespace llmtrace::storage::sqlite
