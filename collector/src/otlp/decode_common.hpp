// Shared by the protobuf and JSON decoders (internal to otlp/): the failure that carries a field path up
// the message tree, id and limit checks that both encodings must apply the same way.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "otlp/decode.hpp"
#include "otlp/wire_reader.hpp"

namespace llmtrace::otlp::detail {

// Thrown inside a decoder; each enclosing message prepends its own path step, and the entry point turns it
// into a decode_error. Exceptions cost nothing on the success path, which is the common one.
struct failure {
  std::string field;
  std::string message;
  int http_status = 400;
};

[[noreturn]] void fail(std::string message, int http_status = 400);
// Prepends "step." (or "step" + "[i]") to the path of a failure thrown by `body`.
template <class F>
decltype(auto) within(std::string_view step, F&& body) {
  try {
    return body();
  } catch (failure& f) {
    if (!step.empty())
      f.field =
          f.field.empty() ? std::string(step) : std::string(step) + (f.field[0] == '[' ? "" : ".") + f.field;
    throw;
  } catch (const wire::wire_error& e) {
    throw failure{std::string(step), e.message + " at byte " + std::to_string(e.offset), 400};
  }
}
std::string indexed(std::string_view name, std::size_t i);

enum class id_kind { trace, span };
// Raw id bytes (protobuf) to lowercase hex. Empty input gives "" (allowed only where `optional`).
std::string hex_id(std::string_view raw, id_kind kind, bool optional);
// A hex id from OTLP/JSON to lowercase hex, with the same rules.
std::string json_hex_id(std::string_view text, id_kind kind, bool optional);

bool valid_utf8(std::string_view s) noexcept;
// A string value: UTF-8 and under the value limit.
void check_string(std::string_view s, const limits& lim);
std::string base64(std::string_view raw);

void check_count(std::size_t n, std::size_t max, const char* what);

// A log record with no event_name takes its "event.name" attribute (where older semantic conventions put it).
void event_name_from_attributes(log_record& l);

// Appends a decoded item (a span or a log record) with the indexes of its resource and scope in the request.
template <class T>
void place(std::vector<T>& items, T item, std::size_t resource_index, std::size_t scope_index) {
  item.resource_index = resource_index;
  item.scope_index = scope_index;
  items.push_back(std::move(item));
}

}  // namespace llmtrace::otlp::detail
