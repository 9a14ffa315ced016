#include "api/event_publisher.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/event_hub.hpp"
#include "storage/store.hpp"

namespace llmtrace::api {

ingest::ingest_service::commit_listener publish_after_commit(event_hub& hub, storage::store_reader& reads) {
  return [&hub, &reads](const std::vector<storage::write_result>& results) {
    std::vector<std::string> touched;
    for (const auto& r : results) {
      if (r.outcome == storage::write_outcome::stale) continue;
      hub.publish_record(r.record, r.outcome == storage::write_outcome::created ? "created" : "updated");
      for (const auto& m : r.moved) hub.publish_record(m, "updated");  // spans re-homed under their root
      if (std::find(touched.begin(), touched.end(), r.record.session_id) == touched.end())
        touched.push_back(r.record.session_id);
    }
    // Session counts changed: one session event per touched session, read after the commit.
    for (const auto& sid : touched) {
      try {
        if (auto s = reads.get_session(sid)) hub.publish_session(*s);
      } catch (const std::exception& e) {
        spdlog::warn("session event for {} skipped: {}", sid, e.what());
      }
    }
  };
}

}  // namespace llmtrace::api
