// The one JSON rendering of sessions and records for every route, event and export (others reuse it).
// Stored JSON text (request/response/metadata) is returned as JSON values, times as RFC 3339 UTC with ms,
// empty optional references as null. Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "model/record.hpp"
#include "storage/store.hpp"

namespace llmtrace::api {

nlohmann::json to_json(const model::record& r);
nlohmann::json to_json(const model::session& s);
nlohmann::json to_json(const model::token_usage& u);
nlohmann::json to_json(const storage::store_stats& s);

// {"items":[...],"page","size","total"}
template <class T>
nlohmann::json to_json(const storage::page<T>& p) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& item : p.items) items.push_back(to_json(item));
  return {{"items", std::move(items)}, {"page", p.page}, {"size", p.size}, {"total", p.total}};
}

// Parses stored JSON text back into a value; text that is not valid JSON comes back as a JSON string.
nlohmann::json stored_json(const std::string& text);

}  // namespace llmtrace::api
