// ExportTraceServiceRequest and ExportLogsServiceRequest from OTLP/JSON: lowerCamelCase keys (the proto
// names are accepted too, as the protobuf JSON mapping allows), trace and span ids as hex strings, 64-bit
// integers as decimal strings or numbers, enums as numbers (or their names). The body is parsed once with
// a nesting limit derived from the AnyValue depth limit, then walked.
#include <charconv>
#include <cmath>
#include <vector>

#include "ingest/json_parse.hpp"
#include "otlp/decode.hpp"
#include "otlp/decode_common.hpp"

namespace llmtrace::otlp {
namespace {

using nlohmann::json;
using namespace detail;

const json& empty_array() {
  static const json a = json::array();
  return a;
}

// The member by its JSON name, else by its proto name; null members count as absent.
const json* member(const json& obj, const char* camel, const char* snake = nullptr) {
  auto it = obj.find(camel);
  if (it == obj.end() && snake) it = obj.find(snake);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& array_member(const json& obj, const char* camel, const char* snake = nullptr) {
  const json* v = member(obj, camel, snake);
  if (!v) return empty_array();
  if (!v->is_array()) within(camel, [] { fail("must be an array"); });
  return *v;
}

void need_object(const json& v) {
  if (!v.is_object()) fail(std::string("must be an object, got ") + v.type_name());
}

class json_decoder {
 public:
  explicit json_decoder(const limits& lim) : lim_(lim) {}

  traces_request traces(const json& doc) {
    return request_of<traces_request>(doc, {"resourceSpans", "resource_spans"}, {"scopeSpans", "scope_spans"},
                                      {"spans", "spans"}, &traces_request::spans, [&](const json& sp) {
                                        check_count(++spans_, lim_.max_spans, "spans");
                                        return span_of(sp);
                                      });
  }

  logs_request logs(const json& doc) {
    return request_of<logs_request>(doc, {"resourceLogs", "resource_logs"}, {"scopeLogs", "scope_logs"},
                                    {"logRecords", "log_records"}, &logs_request::records,
                                    [&](const json& lr) {
                                      check_count(++logs_, lim_.max_log_records, "log records");
                                      return log_of(lr);
                                    });
  }

 private:
  std::string string_member(const json& obj, const char* camel, const char* snake = nullptr) {
    const json* v = member(obj, camel, snake);
    if (!v) return {};
    return within(camel, [&] {
      if (!v->is_string()) fail(std::string("must be a string, got ") + v->type_name());
      const auto& s = v->get_ref<const std::string&>();
      check_string(s, lim_);
      return s;
    });
  }

  // fixed64 / uint64 fields: a decimal string (the OTLP/JSON form) or a non-negative integer number.
  uint64_t u64_member(const json& obj, const char* camel, const char* snake) {
    const json* v = member(obj, camel, snake);
    if (!v) return 0;
    return within(camel, [&]() -> uint64_t {
      if (v->is_number_unsigned()) return v->get<uint64_t>();
      if (v->is_number_integer()) fail("must not be negative");
      if (v->is_string()) {
        const auto& s = v->get_ref<const std::string&>();
        uint64_t out = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        if (ec != std::errc() || p != s.data() + s.size() || s.empty())
          fail("must be an unsigned integer as a decimal string");
        return out;
      }
      fail(std::string("must be an integer or a decimal string, got ") + v->type_name());
    });
  }

  // Enums: a number, or the enum value's name (accepted, though OTLP/JSON says numbers).
  int enum_member(const json& obj, const char* camel, std::initializer_list<const char*> names, int max) {
    const json* v = member(obj, camel);
    if (!v) return 0;
    return within(camel, [&]() -> int {
      if (v->is_number_integer()) {
        const auto n = v->get<int64_t>();
        if (n < 0) fail("must not be negative");
        return static_cast<int>(std::min<int64_t>(n, max));
      }
      if (v->is_string()) {
        int i = 0;
        for (const char* name : names) {
          if (v->get_ref<const std::string&>() == name) return i;
          ++i;
        }
        fail("unknown enum value \"" + v->get<std::string>() + "\"");
      }
      fail(std::string("must be an enum number, got ") + v->type_name());
    });
  }

  std::string id_member(const json& obj, const char* camel, const char* snake, id_kind kind, bool optional) {
    const json* v = member(obj, camel, snake);
    return within(camel, [&] {
      if (!v) return hex_id({}, kind, optional);  // "missing" unless optional
      if (!v->is_string()) fail(std::string("must be a hex string, got ") + v->type_name());
      return json_hex_id(v->get_ref<const std::string&>(), kind, optional);
    });
  }

  void check_depth(std::size_t depth) const {
    if (depth > lim_.max_any_value_depth)
      fail("AnyValue nested deeper than " + std::to_string(lim_.max_any_value_depth) + " levels");
  }

  json any_value(const json& v, std::size_t depth) {
    need_object(v);
    if (const json* s = member(v, "stringValue", "string_value")) {
      return within("stringValue", [&] {
        if (!s->is_string()) fail(std::string("must be a string, got ") + s->type_name());
        check_string(s->get_ref<const std::string&>(), lim_);
        return *s;
      });
    }
    if (const json* b = member(v, "boolValue", "bool_value")) {
      if (!b->is_boolean()) within("boolValue", [] { fail("must be a boolean"); });
      return *b;
    }
    if (const json* i = member(v, "intValue", "int_value")) {
      return within("intValue", [&]() -> json {
        if (i->is_number_integer() && !(i->is_number_unsigned() && i->get<uint64_t>() > INT64_MAX))
          return i->get<int64_t>();
        if (i->is_string()) {
          const auto& s = i->get_ref<const std::string&>();
          int64_t out = 0;
          auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
          if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return out;
        }
        fail("must be a 64-bit integer (number or decimal string)");
      });
    }
    if (const json* d = member(v, "doubleValue", "double_value")) {
      return within("doubleValue", [&]() -> json {
        if (d->is_number()) return d->get<double>();
        if (d->is_string() && (*d == "NaN" || *d == "Infinity" || *d == "-Infinity")) return *d;
        fail("must be a number");
      });
    }
    if (const json* a = member(v, "arrayValue", "array_value")) {
      return within("arrayValue", [&] {
        check_depth(depth + 1);
        need_object(*a);
        const json& values = array_member(*a, "values");
        check_count(values.size(), lim_.max_attributes, "array elements");
        json arr = json::array();
        for (std::size_t k = 0; k < values.size(); ++k)
          arr.push_back(within(indexed("values", k), [&] { return any_value(values[k], depth + 1); }));
        return arr;
      });
    }
    if (const json* kv = member(v, "kvlistValue", "kvlist_value")) {
      return within("kvlistValue", [&] {
        check_depth(depth + 1);
        need_object(*kv);
        json obj = json::object();
        key_values(array_member(*kv, "values"), depth + 1, obj, "values");
        return obj;
      });
    }
    if (const json* b = member(v, "bytesValue", "bytes_value")) {
      return within("bytesValue", [&] {
        if (!b->is_string()) fail("must be a base64 string");
        check_string(b->get_ref<const std::string&>(), lim_);
        return *b;
      });
    }
    return nullptr;
  }

  void key_values(const json& list, std::size_t depth, json& obj, const char* name) {
    check_count(list.size(), lim_.max_attributes, "attributes");
    for (std::size_t k = 0; k < list.size(); ++k)
      within(indexed(name, k), [&] {
        const json& kv = list[k];
        need_object(kv);
        std::string key = string_member(kv, "key");
        const json* value = member(kv, "value");
        obj[key] = value ? within("value", [&] { return any_value(*value, depth); }) : json();
      });
  }

  json attributes(const json& obj) {
    json out = json::object();
    key_values(array_member(obj, "attributes"), 0, out, "attributes");
    return out;
  }

  // A level's member name in OTLP/JSON (lowerCamelCase) and in the proto (snake_case).
  struct names {
    const char* camel;
    const char* snake;
  };

  // A request: resource groups > scope groups > items (spans or log records, read by `item`), each item
  // placed in out.*list with the indexes of its resource and scope.
  template <class Request, class T, class Item>
  Request request_of(const json& doc, names groups, names scopes, names items, std::vector<T> Request::*list,
                     Item&& item) {
    need_object(doc);
    Request out;
    const json& all = array_member(doc, groups.camel, groups.snake);
    for (std::size_t i = 0; i < all.size(); ++i)
      within(indexed(groups.camel, i), [&] {
        resource_group(all[i], out, scopes.camel, scopes.snake, [&](const json& sg, std::size_t ri) {
          scope_group(sg, out, items.camel, items.snake,
                      [&](const json& it, std::size_t si) { place(out.*list, item(it), ri, si); });
        });
      });
    return out;
  }

  template <class Request, class Items>
  void resource_group(const json& g, Request& out, const char* camel, const char* snake, Items&& items) {
    need_object(g);
    const std::size_t ri = out.resources.size();
    json res = json::object();
    if (const json* r = member(g, "resource"))
      res = within("resource", [&] {
        need_object(*r);
        return attributes(*r);
      });
    out.resources.push_back(std::move(res));
    const json& scopes = array_member(g, camel, snake);
    for (std::size_t i = 0; i < scopes.size(); ++i) within(indexed(camel, i), [&] { items(scopes[i], ri); });
  }

  template <class Request, class Item>
  void scope_group(const json& g, Request& out, const char* camel, const char* snake, Item&& item) {
    need_object(g);
    const std::size_t si = out.scopes.size();
    scope_info sc;
    if (const json* s = member(g, "scope"))
      within("scope", [&] {
        need_object(*s);
        sc.name = string_member(*s, "name");
        sc.version = string_member(*s, "version");
        sc.attributes = attributes(*s);
      });
    out.scopes.push_back(std::move(sc));
    const json& items = array_member(g, camel, snake);
    for (std::size_t i = 0; i < items.size(); ++i)
      within(indexed(camel, i), [&] {
        need_object(items[i]);
        item(items[i], si);
      });
  }

  span span_of(const json& j) {
    span s;
    s.trace_id = id_member(j, "traceId", "trace_id", id_kind::trace, false);
    s.span_id = id_member(j, "spanId", "span_id", id_kind::span, false);
    s.parent_span_id = id_member(j, "parentSpanId", "parent_span_id", id_kind::span, true);
    s.name = string_member(j, "name");
    s.kind =
        static_cast<span_kind>(enum_member(j, "kind",
                                           {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                                            "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"},
                                           5));
    s.start_time_unix_nano = u64_member(j, "startTimeUnixNano", "start_time_unix_nano");
    s.end_time_unix_nano = u64_member(j, "endTimeUnixNano", "end_time_unix_nano");
    s.attributes = attributes(j);
    if (const json* st = member(j, "status"))
      within("status", [&] {
        need_object(*st);
        s.status_message = string_member(*st, "message");
        s.status = static_cast<status_code>(
            enum_member(*st, "code", {"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"}, 2));
      });
    const json& events = array_member(j, "events");
    check_count(events.size(), lim_.max_attributes, "events in one span");
    for (std::size_t i = 0; i < events.size(); ++i)
      within(indexed("events", i), [&] {
        const json& e = events[i];
        need_object(e);
        span_event ev;
        ev.name = string_member(e, "name");
        ev.time_unix_nano = u64_member(e, "timeUnixNano", "time_unix_nano");
        ev.attributes = attributes(e);
        s.events.push_back(std::move(ev));
      });
    const json& links = array_member(j, "links");
    check_count(links.size(), lim_.max_attributes, "links in one span");
    for (std::size_t i = 0; i < links.size(); ++i)
      within(indexed("links", i), [&] {
        const json& l = links[i];
        need_object(l);
        span_link lk;
        lk.trace_id = id_member(l, "traceId", "trace_id", id_kind::trace, false);
        lk.span_id = id_member(l, "spanId", "span_id", id_kind::span, false);
        lk.attributes = attributes(l);
        s.links.push_back(std::move(lk));
      });
    return s;
  }

  log_record log_of(const json& j) {
    log_record l;
    l.time_unix_nano = u64_member(j, "timeUnixNano", "time_unix_nano");
    l.observed_time_unix_nano = u64_member(j, "observedTimeUnixNano", "observed_time_unix_nano");
    l.severity_number = enum_member(j, "severityNumber", {}, 24);
    l.severity_text = string_member(j, "severityText", "severity_text");
    l.event_name = string_member(j, "eventName", "event_name");
    if (const json* b = member(j, "body")) l.body = within("body", [&] { return any_value(*b, 0); });
    l.attributes = attributes(j);
    l.trace_id = id_member(j, "traceId", "trace_id", id_kind::trace, true);
    l.span_id = id_member(j, "spanId", "span_id", id_kind::span, true);
    event_name_from_attributes(l);
    return l;
  }

  const limits& lim_;
  std::size_t spans_ = 0;
  std::size_t logs_ = 0;
};

template <class T, class F>
decode_result<T> run(std::string_view text, const limits& lim, F&& walk) {
  decode_result<T> res;
  res.enc = encoding::json;
  // Envelope levels above the first AnyValue, then three JSON levels per AnyValue level (value/arrayValue/
  // values[] or kvlistValue/values[]/{key,value}).
  const std::size_t max_depth = 12 + 3 * (lim.max_any_value_depth + 1);
  auto parsed = ingest::parse_json_limited(text, max_depth);
  if (!parsed.ok) {
    res.error = {400,
                 parsed.too_deep
                     ? "JSON nested deeper than " + std::to_string(max_depth) +
                           " levels (AnyValue depth limit " + std::to_string(lim.max_any_value_depth) + ")"
                     : "malformed JSON: " + parsed.message,
                 ""};
    return res;
  }
  try {
    res.value = within("", [&] { return walk(parsed.value); });
    res.ok = true;
  } catch (const failure& f) {
    res.error.http_status = f.http_status;
    res.error.field = f.field;
    res.error.message = f.field.empty() ? f.message : f.field + ": " + f.message;
  } catch (const json::exception& e) {
    res.error = {400, std::string("malformed OTLP/JSON: ") + e.what(), ""};
  } catch (const std::bad_alloc&) {
    res.error = {413, "request too large to decode", ""};
  }
  return res;
}

}  // namespace

decode_result<traces_request> decode_traces_json(std::string_view text, const limits& lim) {
  return run<traces_request>(text, lim, [&](const json& doc) { return json_decoder(lim).traces(doc); });
}

decode_result<logs_request> decode_logs_json(std::string_view text, const limits& lim) {
  return run<logs_request>(text, lim, [&](const json& doc) { return json_decoder(lim).logs(doc); });
}

}  // namespace llmtrace::otlp
