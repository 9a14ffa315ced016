// Scores (feedback, evaluations) on records and sessions: POST /api/records/:id/scores and
// POST /api/sessions/:id/scores, the value canonicalisation shared with the search filter `score=name:value`,
// and loading the scores of a page of records/sessions (one list_scores per page) for the read routes.
// Thread safety: stateless; the store serialises writes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/routes.hpp"
#include "model/record.hpp"

namespace llmtrace::api {

inline constexpr std::size_t max_score_name_bytes = 200;
inline constexpr std::size_t max_score_comment_bytes = 4096;
inline constexpr std::size_t max_score_string_bytes = 1024;

// The stored JSON text of a score value: numbers as doubles (so 1 and 1.0 are the same text, which keeps
// the search filter a plain text comparison on every store), true/false, strings. nullopt: not a valid value
// (null, object, array, a string over max_score_string_bytes).
std::optional<std::string> canonical_score_value(const nlohmann::json& v);
// The value part of `score=name:value`: true/false, a number, else the text as a string.
std::string canonical_filter_value(std::string_view text);

// Fills r.scores / s.scores of every item (one list_scores query).
void load_scores(storage::store_reader& reads, std::vector<model::record>& records);
void load_scores(storage::store_reader& reads, std::vector<model::session>& sessions);

void mount_scores(httplib::Server& server, const api_deps& deps);

}  // namespace llmtrace::api
