// libFuzzer target over the collector's ingest path for untrusted bodies: the bounded JSON parser, the trace
// validator/normaliser (parse_trace: ids, turns, times, unknown fields into metadata) and the extraction of
// model, usage and search text (fill_derived_fields). Built with clang -fsanitize=fuzzer,address,undefined
// by scripts/fuzz.sh. Besides crashes and sanitizer reports it checks the invariants the rest of the
// collector relies on, and aborts when one breaks:
//   - parsing never throws; an accepted document dumps to text that parses back to an equal value;
//   - every JSON text a valid trace would store (request, response, metadata) parses again, and metadata is
//     an object (the API serves them as JSON values: unparsable stored text would be a 500 later);
//   - search text and ids are valid UTF-8 (they go to FTS5 and into JSON replies).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ingest/json_parse.hpp"
#include "ingest/record_parser.hpp"
#include "support/utf8_oracle.hpp"

namespace {

using json = nlohmann::json;
using namespace llmtrace;
using llmtrace::testing::is_valid_utf8;

[[noreturn]] void broken(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "invariant broken: %s: %.*s\n", what,
               static_cast<int>(std::min<std::size_t>(detail.size(), 400)), detail.data());
  std::abort();
}

void check_stored_json(const std::optional<std::string>& text, const char* what, bool must_be_object) {
  if (!text) return;
  auto r = ingest::parse_json_limited(*text);
  if (!r.ok) broken(what, *text);
  if (must_be_object && !r.value.is_object()) broken(what, *text);
}

void check_trace(const json& trace) {
  storage::record_write w;
  ingest::field_error err;
  bool ok = false;
  try {
    ok = ingest::parse_trace(trace, 1'700'000'000'000, w, err);
  } catch (const std::exception& e) {
    broken("parse_trace threw", e.what());
  }
  if (!ok) {
    if (err.message.empty()) broken("rejected without a message");
    return;
  }
  check_stored_json(w.request_json, "stored request is not JSON", false);
  check_stored_json(w.response_json, "stored response is not JSON", false);
  check_stored_json(w.metadata_json, "stored metadata is not a JSON object", true);
  if (w.turn_number < 0) broken("negative turn accepted");
  if (w.id && !is_valid_utf8(*w.id)) broken("id is not UTF-8", *w.id);
  if (w.session_id && !is_valid_utf8(*w.session_id)) broken("session id is not UTF-8", *w.session_id);
  try {
    ingest::fill_derived_fields(w);
  } catch (const std::exception& e) {
    broken("fill_derived_fields threw", e.what());
  }
  if (!is_valid_utf8(w.search_text)) broken("search text is not UTF-8", w.search_text);
  if (w.model && !is_valid_utf8(*w.model)) broken("model is not UTF-8", *w.model);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ingest::json_parse_result parsed;
  try {
    parsed = ingest::parse_json_limited(text);
  } catch (const std::exception& e) {
    broken("parse_json_limited threw", e.what());
  }
  if (!parsed.ok) {
    if (parsed.message.empty()) broken("parse failure without a message");
    return 0;
  }
  // Round trip: what the collector stores must read back as the same value.
  std::string stored = ingest::to_stored_text(parsed.value);
  auto again = ingest::parse_json_limited(stored);
  if (!again.ok) broken("stored text does not parse", stored);
  if (again.value != parsed.value) broken("round trip changed the value", stored);

  if (parsed.value.is_object()) {
    check_trace(parsed.value);
    auto it = parsed.value.find("traces");
    if (it != parsed.value.end() && it->is_array())
      for (const auto& t : *it)
        if (t.is_object()) check_trace(t);
  } else if (parsed.value.is_array()) {
    for (const auto& t : parsed.value)
      if (t.is_object()) check_trace(t);
  }
  return 0;
}
