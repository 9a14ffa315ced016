#include "proxy/consistent_reader.hpp"

#include "proxy/recorder.hpp"

namespace llmtrace::proxy {

consistent_reader::consistent_reader(storage::store_reader& inner, recorder& records,
                                     std::chrono::milliseconds max_wait)
    : inner_(inner), records_(records), max_wait_(max_wait) {}

void consistent_reader::settle() {
  records_.wait_flushed(max_wait_);
}

storage::page<model::session> consistent_reader::list_sessions(const storage::page_request& p) {
  settle();
  return inner_.list_sessions(p);
}

std::optional<model::session> consistent_reader::get_session(const std::string& id) {
  settle();
  return inner_.get_session(id);
}

storage::page<model::record> consistent_reader::list_records(const std::string& session_id,
                                                             const storage::page_request& p) {
  settle();
  return inner_.list_records(session_id, p);
}

std::optional<model::record> consistent_reader::get_record(const std::string& id) {
  settle();
  return inner_.get_record(id);
}

storage::page<model::record> consistent_reader::search(const storage::search_query& q) {
  settle();
  return inner_.search(q);
}

storage::store_stats consistent_reader::stats() {
  settle();
  return inner_.stats();
}

void consistent_reader::for_each_record(const std::string& session_id,
                                        const std::function<bool(const model::record&)>& fn) {
  settle();
  inner_.for_each_record(session_id, fn);
}

std::vector<model::score> consistent_reader::list_scores(model::score_target target,
                                                         const std::vector<std::string>& target_ids) {
  settle();
  return inner_.list_scores(target, target_ids);
}

std::vector<storage::timeseries_row> consistent_reader::timeseries(const storage::timeseries_query& q) {
  settle();
  return inner_.timeseries(q);
}

}  // namespace llmtrace::proxy
