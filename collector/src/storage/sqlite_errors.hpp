// SQLite result codes to the store's error contract: locked/busy -> store_busy (retry later), full disk,
// read-only, I/O error and the like -> store_unavailable (nothing acked), anything else -> runtime_error.
// Thread safety: pure functions.
#pragma once

#include <SQLiteCpp/Exception.h>

#include "storage/store.hpp"

namespace llmtrace::storage::sqlite {

[[noreturn]] void rethrow_mapped(const SQLite::Exception& e);

// Runs f, translating SQLite exceptions as above; every other exception passes through unchanged.
template <class F>
auto mapped(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    rethrow_mapped(e);
  }
}

}  // namespace llmtrace::storage::sqlite
