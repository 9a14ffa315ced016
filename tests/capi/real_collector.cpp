#include "real_collector.h"

#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

struct real_collector {
  std::unique_ptr<llmtrace::testing::test_collector> col;
};

namespace {

nlohmann::json scores_of(real_collector* rc, const char* target, const char* id) {
  auto http = rc->col->client();
  const std::string path =
      std::string(std::strcmp(target, "session") == 0 ? "/api/sessions/" : "/api/records/") + id;
  auto r = http->Get(path);
  if (!r || r->status != 200) return nullptr;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("scores") || !j["scores"].is_array()) return nullptr;
  return j["scores"];
}

}  // namespace

extern "C" {

real_collector* real_collector_start(char* endpoint, size_t len, const char* api_key) {
  try {
    const std::string key = api_key ? api_key : "";
    auto rc = std::make_unique<real_collector>();
    rc->col =
        std::make_unique<llmtrace::testing::test_collector>([&](llmtrace::config& c) { c.api_key = key; });
    std::snprintf(endpoint, len, "%s", rc->col->base_url().c_str());
    return rc.release();
  } catch (...) {
    return nullptr;
  }
}

int real_collector_score_count(real_collector* rc, const char* target, const char* id) {
  try {
    const auto s = scores_of(rc, target, id);
    return s.is_array() ? static_cast<int>(s.size()) : -1;
  } catch (...) {
    return -1;
  }
}

int real_collector_has_score(real_collector* rc, const char* target, const char* id, const char* name,
                             const char* value_json, const char* comment) {
  try {
    const auto value = nlohmann::json::parse(value_json);
    for (const auto& s : scores_of(rc, target, id)) {
      const bool same_comment = comment ? s["comment"] == comment : s["comment"].is_null();
      if (s["name"] == name && s["value"] == value && same_comment) return 1;
    }
    return 0;
  } catch (...) {
    return 0;
  }
}

void real_collector_stop(real_collector* rc) {
  delete rc;
}

}  // extern "C"
