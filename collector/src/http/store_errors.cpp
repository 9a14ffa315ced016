#include "http/store_errors.hpp"

#include <string>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "http/errors.hpp"
#include "storage/store.hpp"

namespace llmtrace::http {

bool write_store_error(httplib::Response& res, const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const storage::store_busy& e) {
    spdlog::debug("store busy: {}", e.what());
    res.set_header("Retry-After", "1");
    write_error(res, 503, "store_busy", "the database is busy; retry after a second");
    return true;
  } catch (const storage::search_too_costly& e) {
    write_error(res, 422, "search_too_costly", e.what(), "q");
    return true;
  } catch (const storage::store_unavailable& e) {
    spdlog::error("store unavailable: {}", e.what());
    res.set_header("Retry-After", "5");
    write_error(res, 503, "store_unavailable", std::string("the database cannot take writes: ") + e.what());
    return true;
  } catch (...) {
    return false;
  }
}

bool with_store(httplib::Response& res, const std::function<void()>& fn) {
  try {
    fn();
    return true;
  } catch (const storage::store_busy&) {
    write_store_error(res, std::current_exception());
  } catch (const storage::store_unavailable&) {
    write_store_error(res, std::current_exception());
  } catch (const storage::search_too_costly&) {
    write_store_error(res, std::current_exception());
  }
  return false;
}

}  // namespace llmtrace::http
