// The PostgreSQL store's schema, versioned in llmtrace_schema and migrated on start. Several collectors may
// start at once on one database: the migration runs under a transaction-scoped advisory lock, so exactly one
// of them applies each step and the others find the schema current. Thread safety: call once per store open.
#pragma once

#include "storage/pg_connection.hpp"

namespace llmtrace::storage::pg_schema {

// The advisory lock key the migration holds (any constant the collector owns).
inline constexpr int64_t k_migration_lock = 0x6c6c6d7472616365;  // "llmtrace"

int current_version();
// Throws std::runtime_error when the database is newer than this collector, pg_error on SQL failures.
void migrate(pg::connection& c);

}  // namespace llmtrace::storage::pg_schema
