// The SQLite schema and its migrations, versioned with PRAGMA user_version. Each version is one function
// applied in its own transaction on open; a newer file than this build understands is refused.
// Threading: call on the writer connection before any reader connection is opened.
#pragma once

#include <SQLiteCpp/Database.h>

namespace llmtrace::storage::sqlite_schema {

// The version this build writes.
int current_version();
// Brings the database up to current_version(). Throws std::runtime_error when the file is newer.
void migrate(SQLite::Database& db);

}  // namespace llmtrace::storage::sqlite_schema
