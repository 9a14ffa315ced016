// ExportTraceServiceRequest and ExportLogsServiceRequest from the protobuf wire format, walked message by
// message with the field numbers of the published OTLP .proto files (opentelemetry/proto/{collector,trace,
// logs,common,resource}/v1). Unknown fields are skipped, as proto3 readers must; a known field with the wrong
// wire type is an error, since silently skipping it would drop data the client meant to send.
#include <cmath>
#include <cstring>

#include "otlp/decode.hpp"
#include "otlp/decode_common.hpp"
#include "otlp/wire_reader.hpp"

namespace llmtrace::otlp {
namespace {

using nlohmann::json;
using namespace detail;
using wire::field_header;
using wire::reader;
using wire::wire_type;

const char* type_name(wire_type t) {
  switch (t) {
    case wire_type::varint:
      return "varint";
    case wire_type::fixed64:
      return "fixed64";
    case wire_type::len:
      return "length-delimited";
    case wire_type::fixed32:
      return "fixed32";
    default:
      return "group";
  }
}

class pb_decoder {
 public:
  explicit pb_decoder(const limits& lim) : lim_(lim) {}

  traces_request traces(std::string_view body) {
    traces_request out;
    reader r(body);
    std::size_t i = 0;
    while (!r.done()) {
      auto f = r.next_field();
      if (f.number != 1) {
        r.skip(f);
        continue;
      }
      std::size_t base = 0;
      auto bytes = bytes_of(r, f, base);
      within(indexed("resource_spans", i++), [&] { resource_spans(bytes, base, out); });
    }
    return out;
  }

  logs_request logs(std::string_view body) {
    logs_request out;
    reader r(body);
    std::size_t i = 0;
    while (!r.done()) {
      auto f = r.next_field();
      if (f.number != 1) {
        r.skip(f);
        continue;
      }
      std::size_t base = 0;
      auto bytes = bytes_of(r, f, base);
      within(indexed("resource_logs", i++), [&] { resource_logs(bytes, base, out); });
    }
    return out;
  }

 private:
  static void need(const field_header& f, wire_type t) {
    if (f.type != t)
      fail("field " + std::to_string(f.number) + " has wire type " + type_name(f.type) + ", want " +
           type_name(t) + " (at byte " + std::to_string(f.offset) + ")");
  }
  static std::string_view bytes_of(reader& r, const field_header& f, std::size_t& base) {
    need(f, wire_type::len);
    return r.read_bytes(&base);
  }
  std::string string_of(reader& r, const field_header& f) {
    std::size_t base = 0;
    auto s = bytes_of(r, f, base);
    check_string(s, lim_);
    return std::string(s);
  }
  static uint64_t varint_of(reader& r, const field_header& f) {
    need(f, wire_type::varint);
    return r.read_varint();
  }
  static uint64_t fixed64_of(reader& r, const field_header& f) {
    need(f, wire_type::fixed64);
    return r.read_fixed64();
  }

  json any_value(std::string_view bytes, std::size_t base, std::size_t depth) {
    json v;  // an AnyValue with no field set is null
    reader r(bytes, base);
    while (!r.done()) {
      auto f = r.next_field();
      std::size_t sub = 0;
      switch (f.number) {
        case 1:
          v = within("string_value", [&] { return string_of(r, f); });
          break;
        case 2:
          v = varint_of(r, f) != 0;
          break;
        case 3:
          v = static_cast<int64_t>(varint_of(r, f));
          break;
        case 4: {
          const uint64_t raw = fixed64_of(r, f);
          double d = 0;
          std::memcpy(&d, &raw, sizeof d);
          // JSON has no NaN or infinities; OTLP/JSON spells them as strings.
          if (std::isnan(d))
            v = "NaN";
          else if (std::isinf(d))
            v = d > 0 ? "Infinity" : "-Infinity";
          else
            v = d;
          break;
        }
        case 5: {
          auto b = bytes_of(r, f, sub);
          v = within("array_value", [&] { return array_value(b, sub, depth + 1); });
          break;
        }
        case 6: {
          auto b = bytes_of(r, f, sub);
          v = json::object();
          within("kvlist_value", [&] { key_values(b, sub, depth + 1, v); });
          break;
        }
        case 7: {
          auto b = bytes_of(r, f, sub);
          if (b.size() > lim_.max_value_bytes)
            within("bytes_value", [&] { check_string(b, lim_); });  // reports the size
          v = base64(b);
          break;
        }
        default:
          r.skip(f);
      }
    }
    return v;
  }

  void check_depth(std::size_t depth) const {
    if (depth > lim_.max_any_value_depth)
      fail("AnyValue nested deeper than " + std::to_string(lim_.max_any_value_depth) + " levels");
  }

  json array_value(std::string_view bytes, std::size_t base, std::size_t depth) {
    check_depth(depth);
    json arr = json::array();
    reader r(bytes, base);
    while (!r.done()) {
      auto f = r.next_field();
      if (f.number != 1) {
        r.skip(f);
        continue;
      }
      std::size_t sub = 0;
      auto b = bytes_of(r, f, sub);
      check_count(arr.size() + 1, lim_.max_attributes, "array elements");
      arr.push_back(within(indexed("values", arr.size()), [&] { return any_value(b, sub, depth); }));
    }
    return arr;
  }

  // KeyValueList.values, or any message's `attributes`, when called per KeyValue field.
  void key_values(std::string_view bytes, std::size_t base, std::size_t depth, json& obj) {
    check_depth(depth);
    reader r(bytes, base);
    std::size_t i = 0;
    while (!r.done()) {
      auto f = r.next_field();
      if (f.number != 1) {
        r.skip(f);
        continue;
      }
      std::size_t sub = 0;
      auto b = bytes_of(r, f, sub);
      within(indexed("values", i++), [&] { key_value(b, sub, depth, obj); });
    }
  }

  void key_value(std::string_view bytes, std::size_t base, std::size_t depth, json& obj) {
    reader r(bytes, base);
    std::string key;
    json value;
    while (!r.done()) {
      auto f = r.next_field();
      if (f.number == 1) {
        key = within("key", [&] { return string_of(r, f); });
      } else if (f.number == 2) {
        std::size_t sub = 0;
        auto b = bytes_of(r, f, sub);
        value = within("value", [&] { return any_value(b, sub, depth); });
      } else {
        r.skip(f);
      }
    }
    if (obj.size() >= lim_.max_attributes && !obj.contains(key))
      check_count(obj.size() + 1, lim_.max_attributes, "attributes");
    obj[key] = std::move(value);
  }

  // One `attributes` entry (a KeyValue) of a message, at AnyValue depth 0.
  void attribute(reader& r, const field_header& f, json& attrs, std::size_t& i) {
    std::size_t sub = 0;
    auto b = bytes_of(r, f, sub);
    within(indexed("attributes", i++), [&] { key_value(b, sub, 0, attrs); });
  }

  json resource(std::string_view bytes, std::size_t base) {
    json attrs = json::object();
    reader r(bytes, base);
    std::size_t i = 0;
    while (!r.done()) {
      auto f = r.next_field();
      if (f.number == 1)
        attribute(r, f, attrs, i);
      else
        r.skip(f);
    }
    return attrs;
  }

  scope_info scope(std::string_view bytes, std::size_t base) {
    scope_info s;
    reader r(bytes, base);
    std::size_t i = 0;
    while (!r.done()) {
      auto f = r.next_field();
      switch (f.number) {
        case 1:
          s.name = within("name", [&] { return string_of(r, f); });
          break;
        case 2:
          s.version = within("version", [&] { return string_of(r, f); });
          break;
        case 3:
          attribute(r, f, s.attributes, i);
          break;
        default:
          r.skip(f);
      }
    }
    return s;
  }

  // Resource and scope may follow the spans on the wire, so their slots are taken first and filled in place.
  template <class Request, class Items>
  void resource_group(std::string_view bytes, std::size_t base, Request& out, const char* items_name,
                      Items&& items) {
    const std::size_t resource_index = out.resources.size();
    out.resources.push_back(json::object());
    reader r(bytes, base);
    std::size_t i = 0;
    while (!r.done()) {
      auto f = r.next_field();
      std::size_t sub = 0;
      if (f.number == 1) {
        auto b = bytes_of(r, f, sub);
        out.resources[resource_index] = within("resource", [&] { return resource(b, sub); });
      } else if (f.number == 2) {
        auto b = bytes_of(r, f, sub);
        within(indexed(items_name, i++), [&] { items(b, sub, resource_index); });
      } else {
        r.skip(f);
      }
    }
  }

  template <class Request, class Item>
  void scope_group(std::string_view bytes, std::size_t base, Request& out, std::size_t resource_index,
                   const char* item_name, Item&& item) {
    const std::size_t scope_index = out.scopes.size();
    out.scopes.emplace_back();
    reader r(bytes, base);
    std::size_t i = 0;
    while (!r.done()) {
      auto f = r.next_field();
      std::size_t sub = 0;
      if (f.number == 1) {
        auto b = bytes_of(r, f, sub);
        out.scopes[scope_index] = within("scope", [&] { return scope(b, sub); });
      } else if (f.number == 2) {
        auto b = bytes_of(r, f, sub);
        within(indexed(item_name, i++), [&] { item(b, sub, resource_index, scope_index); });
      } else {
        r.skip(f);
      }
    }
  }

  void resource_spans(std::string_view bytes, std::size_t base, traces_request& out) {
    resource_group(bytes, base, out, "scope_spans", [&](std::string_view b, std::size_t sub, std::size_t ri) {
      scope_group(b, sub, out, ri, "spans",
                  [&](std::string_view sb, std::size_t ss, std::size_t ri2, std::size_t si) {
                    check_count(++spans_, lim_.max_spans, "spans");
                    out.spans.push_back(span_of(sb, ss));
                    out.spans.back().resource_index = ri2;
                    out.spans.back().scope_index = si;
                  });
    });
  }

  void resource_logs(std::string_view bytes, std::size_t base, logs_request& out) {
    resource_group(bytes, base, out, "scope_logs", [&](std::string_view b, std::size_t sub, std::size_t ri) {
      scope_group(b, sub, out, ri, "log_records",
                  [&](std::string_view lb, std::size_t ls, std::size_t ri2, std::size_t si) {
                    check_count(++logs_, lim_.max_log_records, "log records");
                    out.records.push_back(log_of(lb, ls));
                    out.records.back().resource_index = ri2;
                    out.records.back().scope_index = si;
                  });
    });
  }

  std::string id_field(reader& r, const field_header& f, const char* name, id_kind kind, bool optional) {
    std::size_t sub = 0;
    auto b = bytes_of(r, f, sub);
    return within(name, [&] { return hex_id(b, kind, optional); });
  }

  span span_of(std::string_view bytes, std::size_t base) {
    span s;
    bool has_trace = false, has_span = false;
    reader r(bytes, base);
    std::size_t attrs = 0, events = 0, links = 0;
    while (!r.done()) {
      auto f = r.next_field();
      std::size_t sub = 0;
      switch (f.number) {
        case 1:
          s.trace_id = id_field(r, f, "trace_id", id_kind::trace, false), has_trace = true;
          break;
        case 2:
          s.span_id = id_field(r, f, "span_id", id_kind::span, false), has_span = true;
          break;
        case 4:
          s.parent_span_id = id_field(r, f, "parent_span_id", id_kind::span, true);
          break;
        case 5:
          s.name = within("name", [&] { return string_of(r, f); });
          break;
        case 6:
          s.kind = static_cast<span_kind>(std::min<uint64_t>(varint_of(r, f), 5));
          break;
        case 7:
          s.start_time_unix_nano = within("start_time_unix_nano", [&] { return fixed64_of(r, f); });
          break;
        case 8:
          s.end_time_unix_nano = within("end_time_unix_nano", [&] { return fixed64_of(r, f); });
          break;
        case 9:
          attribute(r, f, s.attributes, attrs);
          break;
        case 11: {
          auto b = bytes_of(r, f, sub);
          check_count(s.events.size() + 1, lim_.max_attributes, "events in one span");
          s.events.push_back(within(indexed("events", events++), [&] { return event_of(b, sub); }));
          break;
        }
        case 13: {
          auto b = bytes_of(r, f, sub);
          check_count(s.links.size() + 1, lim_.max_attributes, "links in one span");
          s.links.push_back(within(indexed("links", links++), [&] { return link_of(b, sub); }));
          break;
        }
        case 15: {
          auto b = bytes_of(r, f, sub);
          within("status", [&] { status_of(b, sub, s); });
          break;
        }
        default:
          r.skip(f);
      }
    }
    if (!has_trace) within("trace_id", [] { fail("trace id is missing"); });
    if (!has_span) within("span_id", [] { fail("span id is missing"); });
    return s;
  }

  void status_of(std::string_view bytes, std::size_t base, span& s) {
    reader r(bytes, base);
    while (!r.done()) {
      auto f = r.next_field();
      if (f.number == 2)
        s.status_message = within("message", [&] { return string_of(r, f); });
      else if (f.number == 3)
        s.status = static_cast<status_code>(std::min<uint64_t>(varint_of(r, f), 2));
      else
        r.skip(f);
    }
  }

  span_event event_of(std::string_view bytes, std::size_t base) {
    span_event e;
    reader r(bytes, base);
    std::size_t attrs = 0;
    while (!r.done()) {
      auto f = r.next_field();
      switch (f.number) {
        case 1:
          e.time_unix_nano = within("time_unix_nano", [&] { return fixed64_of(r, f); });
          break;
        case 2:
          e.name = within("name", [&] { return string_of(r, f); });
          break;
        case 3:
          attribute(r, f, e.attributes, attrs);
          break;
        default:
          r.skip(f);
      }
    }
    return e;
  }

  span_link link_of(std::string_view bytes, std::size_t base) {
    span_link l;
    reader r(bytes, base);
    std::size_t attrs = 0;
    while (!r.done()) {
      auto f = r.next_field();
      switch (f.number) {
        case 1:
          l.trace_id = id_field(r, f, "trace_id", id_kind::trace, false);
          break;
        case 2:
          l.span_id = id_field(r, f, "span_id", id_kind::span, false);
          break;
        case 4:
          attribute(r, f, l.attributes, attrs);
          break;
        default:
          r.skip(f);
      }
    }
    return l;
  }

  log_record log_of(std::string_view bytes, std::size_t base) {
    log_record l;
    reader r(bytes, base);
    std::size_t attrs = 0;
    while (!r.done()) {
      auto f = r.next_field();
      std::size_t sub = 0;
      switch (f.number) {
        case 1:
          l.time_unix_nano = within("time_unix_nano", [&] { return fixed64_of(r, f); });
          break;
        case 11:
          l.observed_time_unix_nano = within("observed_time_unix_nano", [&] { return fixed64_of(r, f); });
          break;
        case 2:
          l.severity_number = static_cast<int>(std::min<uint64_t>(varint_of(r, f), 24));
          break;
        case 3:
          l.severity_text = within("severity_text", [&] { return string_of(r, f); });
          break;
        case 5: {
          auto b = bytes_of(r, f, sub);
          l.body = within("body", [&] { return any_value(b, sub, 0); });
          break;
        }
        case 6:
          attribute(r, f, l.attributes, attrs);
          break;
        case 9:
          l.trace_id = id_field(r, f, "trace_id", id_kind::trace, true);
          break;
        case 10:
          l.span_id = id_field(r, f, "span_id", id_kind::span, true);
          break;
        case 12:
          l.event_name = within("event_name", [&] { return string_of(r, f); });
          break;
        default:
          r.skip(f);
      }
    }
    if (l.event_name.empty()) {
      auto it = l.attributes.find("event.name");
      if (it != l.attributes.end() && it->is_string()) l.event_name = it->get<std::string>();
    }
    return l;
  }

  const limits& lim_;
  std::size_t spans_ = 0;
  std::size_t logs_ = 0;
};

template <class T, class F>
decode_result<T> run(F&& body) {
  decode_result<T> res;
  res.enc = encoding::protobuf;
  try {
    res.value = within("", body);
    res.ok = true;
  } catch (const failure& f) {
    res.error.http_status = f.http_status;
    res.error.field = f.field;
    res.error.message = f.field.empty() ? f.message : f.field + ": " + f.message;
  } catch (const std::bad_alloc&) {
    res.error = {413, "request too large to decode", ""};
  }
  return res;
}

}  // namespace

decode_result<traces_request> decode_traces_protobuf(std::string_view bytes, const limits& lim) {
  return run<traces_request>([&] { return pb_decoder(lim).traces(bytes); });
}

decode_result<logs_request> decode_logs_protobuf(std::string_view bytes, const limits& lim) {
  return run<logs_request>([&] { return pb_decoder(lim).logs(bytes); });
}

}  // namespace llmtrace::otlp
