// The one mapping from the store's overload/failure exceptions to HTTP: storage::store_busy -> 503 with
// Retry-After: 1, storage::store_unavailable -> 503 with Retry-After: 5. Used by handlers around store calls
// and by the server's last-resort exception handler, so both answer alike. Thread safety: stateless.
#pragma once

#include <exception>
#include <functional>

namespace httplib {
struct Response;
}

namespace llmtrace::http {

// Writes the 503 for a store exception and returns true; false (nothing written) for any other exception.
bool write_store_error(httplib::Response& res, const std::exception_ptr& error);

// Runs fn, answering a store exception with its 503. Returns false when it answered one; any other
// exception propagates.
bool with_store(httplib::Response& res, const std::function<void()>& fn);

}  // namespace llmtrace::http
