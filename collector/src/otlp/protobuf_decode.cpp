// ExportTraceServiceRequest and ExportLogsServiceRequest from the protobuf wire format, walked message by
// message with the field numbers of the published OTLP .proto files (opentelemetry/proto/{collector,trace,
// logs,common,resource}/v1). Unknown fields are skipped, as proto3 readers must; a known field with the wrong
// wire type is an error, since silently skipping it would drop data the client meant to send.
#include <cmath>
#include <cstring>
#include <vector>

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
    each_message(body, 0, 1, "resource_spans", [&](std::string_view b, std::size_t base) {
      resource_group(b, base, out, "scope_spans", "spans", out.spans,
                     [&](std::string_view sb, std::size_t ss) {
                       check_count(++spans_, lim_.max_spans, "spans");
                       return span_of(sb, ss);
                     });
    });
    return out;
  }

  logs_request logs(std::string_view body) {
    logs_request out;
    each_message(body, 0, 1, "resource_logs", [&](std::string_view b, std::size_t base) {
      resource_group(b, base, out, "scope_logs", "log_records", out.records,
                     [&](std::string_view lb, std::size_t ls) {
                       check_count(++logs_, lim_.max_log_records, "log records");
                       return log_of(lb, ls);
                     });
    });
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
  // The same, for a named field: a failure's path names it.
  std::string string_at(reader& r, const field_header& f, const char* name) {
    return within(name, [&] { return string_of(r, f); });
  }
  static uint64_t fixed64_at(reader& r, const field_header& f, const char* name) {
    return within(name, [&] { return fixed64_of(r, f); });
  }

  // The walk of every message: on(r, f) for each field in wire order; a field it does not take (it returns
  // false) is skipped, as proto3 readers must skip unknown fields.
  template <class On>
  static void each_field(std::string_view bytes, std::size_t base, On&& on) {
    reader r(bytes, base);
    while (!r.done()) {
      auto f = r.next_field();
      if (!on(r, f)) r.skip(f);
    }
  }

  // An embedded message field: decode(bytes, base) on its bytes, with `step` on the path of a failure inside.
  template <class Decode>
  static decltype(auto) message_of(reader& r, const field_header& f, std::string_view step, Decode&& decode) {
    std::size_t sub = 0;
    auto b = bytes_of(r, f, sub);
    return within(step, [&]() -> decltype(auto) { return decode(b, sub); });
  }

  // Each occurrence of the repeated message field `number`, as name[0], name[1], ...; other fields are
  // skipped.
  template <class Decode>
  static void each_message(std::string_view bytes, std::size_t base, uint32_t number, const char* name,
                           Decode&& decode) {
    std::size_t i = 0;
    each_field(bytes, base, [&](reader& r, const field_header& f) {
      if (f.number != number) return false;
      message_of(r, f, indexed(name, i++), decode);
      return true;
    });
  }

  // Field bindings for the plain fields of a message: "field `number`, named `name` on a failure's path, is
  // read into `out`". read_fields takes a message's bindings and its attributes field.
  struct string_into {
    uint32_t number;
    const char* name;
    std::string& out;
  };
  struct fixed64_into {
    uint32_t number;
    const char* name;
    uint64_t& out;
  };
  struct id_into {
    uint32_t number;
    const char* name;
    id_kind kind;
    bool optional;
    std::string& out;
  };
  bool take(reader& r, const field_header& f, const string_into& b) {
    if (f.number != b.number) return false;
    b.out = string_at(r, f, b.name);
    return true;
  }
  static bool take(reader& r, const field_header& f, const fixed64_into& b) {
    if (f.number != b.number) return false;
    b.out = fixed64_at(r, f, b.name);
    return true;
  }
  static bool take(reader& r, const field_header& f, const id_into& b) {
    if (f.number != b.number) return false;
    b.out = id_field(r, f, b.name, b.kind, b.optional);
    return true;
  }

  // A message of plain fields (the bindings) and attributes (field `attributes_number`, KeyValues into
  // attrs); a field neither takes is offered to `other` (r, f) -> bool, then skipped.
  template <class Other, class... Bindings>
  void read_fields(std::string_view bytes, std::size_t base, uint32_t attributes_number, json& attrs,
                   Other&& other, const Bindings&... bindings) {
    std::size_t i = 0;
    each_field(bytes, base, [&](reader& r, const field_header& f) {
      if (f.number == attributes_number) {
        attribute(r, f, attrs, i);
        return true;
      }
      return (take(r, f, bindings) || ...) || other(r, f);
    });
  }
  static bool no_other(reader&, const field_header&) { return false; }

  json any_value(std::string_view bytes, std::size_t base, std::size_t depth) {
    json v;  // an AnyValue with no field set is null
    each_field(bytes, base, [&](reader& r, const field_header& f) {
      switch (f.number) {
        case 1:
          v = string_at(r, f, "string_value");
          return true;
        case 2:
          v = varint_of(r, f) != 0;
          return true;
        case 3:
          v = static_cast<int64_t>(varint_of(r, f));
          return true;
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
          return true;
        }
        case 5:
          v = message_of(r, f, "array_value",
                         [&](std::string_view b, std::size_t sub) { return array_value(b, sub, depth + 1); });
          return true;
        case 6:
          message_of(r, f, "kvlist_value", [&](std::string_view b, std::size_t sub) {
            v = json::object();
            key_values(b, sub, depth + 1, v);
          });
          return true;
        case 7: {
          std::size_t sub = 0;
          auto b = bytes_of(r, f, sub);
          if (b.size() > lim_.max_value_bytes)
            within("bytes_value", [&] { check_string(b, lim_); });  // reports the size
          v = base64(b);
          return true;
        }
        default:
          return false;
      }
    });
    return v;
  }

  void check_depth(std::size_t depth) const {
    if (depth > lim_.max_any_value_depth)
      fail("AnyValue nested deeper than " + std::to_string(lim_.max_any_value_depth) + " levels");
  }

  json array_value(std::string_view bytes, std::size_t base, std::size_t depth) {
    check_depth(depth);
    json arr = json::array();
    each_field(bytes, base, [&](reader& r, const field_header& f) {
      if (f.number != 1) return false;
      std::size_t sub = 0;
      auto b = bytes_of(r, f, sub);
      check_count(arr.size() + 1, lim_.max_attributes, "array elements");
      arr.push_back(within(indexed("values", arr.size()), [&] { return any_value(b, sub, depth); }));
      return true;
    });
    return arr;
  }

  // KeyValueList.values, or any message's `attributes`, when called per KeyValue field.
  void key_values(std::string_view bytes, std::size_t base, std::size_t depth, json& obj) {
    check_depth(depth);
    each_message(bytes, base, 1, "values",
                 [&](std::string_view b, std::size_t sub) { key_value(b, sub, depth, obj); });
  }

  void key_value(std::string_view bytes, std::size_t base, std::size_t depth, json& obj) {
    std::string key;
    json value;
    each_field(bytes, base, [&](reader& r, const field_header& f) {
      if (f.number == 1)
        key = string_at(r, f, "key");
      else if (f.number == 2)
        value = message_of(r, f, "value",
                           [&](std::string_view b, std::size_t sub) { return any_value(b, sub, depth); });
      else
        return false;
      return true;
    });
    if (obj.size() >= lim_.max_attributes && !obj.contains(key))
      check_count(obj.size() + 1, lim_.max_attributes, "attributes");
    obj[key] = std::move(value);
  }

  // One `attributes` entry (a KeyValue) of a message, at AnyValue depth 0.
  void attribute(reader& r, const field_header& f, json& attrs, std::size_t& i) {
    message_of(r, f, indexed("attributes", i++),
               [&](std::string_view b, std::size_t sub) { key_value(b, sub, 0, attrs); });
  }

  json resource(std::string_view bytes, std::size_t base) {
    json attrs = json::object();
    each_message(bytes, base, 1, "attributes",
                 [&](std::string_view b, std::size_t sub) { key_value(b, sub, 0, attrs); });
    return attrs;
  }

  scope_info scope(std::string_view bytes, std::size_t base) {
    scope_info s;
    read_fields(bytes, base, 3, s.attributes, no_other, string_into{1, "name", s.name},
                string_into{2, "version", s.version});
    return s;
  }

  // A group message: its header (field 1, read by `header`) goes into a slot of `slots` taken first, since it
  // may follow the items on the wire; each item (repeated field 2) is handed to `item` with the slot's index.
  template <class Slot, class Header, class Item>
  void group(std::string_view bytes, std::size_t base, std::vector<Slot>& slots, Slot empty,
             const char* header_name, Header&& header, const char* items_name, Item&& item) {
    const std::size_t index = slots.size();
    slots.push_back(std::move(empty));
    std::size_t i = 0;
    each_field(bytes, base, [&](reader& r, const field_header& f) {
      if (f.number == 1)
        slots[index] = message_of(r, f, header_name, header);
      else if (f.number == 2)
        message_of(r, f, indexed(items_name, i++),
                   [&](std::string_view b, std::size_t sub) { item(b, sub, index); });
      else
        return false;
      return true;
    });
  }

  // ResourceSpans / ResourceLogs: the resource, its scope groups and their items (spans / log records, read
  // by `item`), each item placed in `items` with the indexes of its resource and scope.
  template <class Request, class T, class Item>
  void resource_group(std::string_view bytes, std::size_t base, Request& out, const char* scopes_name,
                      const char* items_name, std::vector<T>& items, Item&& item) {
    auto resource_of = [&](std::string_view b, std::size_t sub) { return resource(b, sub); };
    auto scope_of = [&](std::string_view b, std::size_t sub) { return scope(b, sub); };
    group(bytes, base, out.resources, json::object(), "resource", resource_of, scopes_name,
          [&](std::string_view sb, std::size_t ss, std::size_t ri) {
            group(sb, ss, out.scopes, scope_info{}, "scope", scope_of, items_name,
                  [&](std::string_view ib, std::size_t is, std::size_t si) {
                    place(items, item(ib, is), ri, si);
                  });
          });
  }

  static std::string id_field(reader& r, const field_header& f, const char* name, id_kind kind,
                              bool optional) {
    return message_of(r, f, name, [&](std::string_view b, std::size_t) { return hex_id(b, kind, optional); });
  }

  span span_of(std::string_view bytes, std::size_t base) {
    span s;
    std::size_t events = 0, links = 0;
    auto other = [&](reader& r, const field_header& f) {
      switch (f.number) {
        case 6:
          s.kind = static_cast<span_kind>(std::min<uint64_t>(varint_of(r, f), 5));
          return true;
        case 11: {
          std::size_t sub = 0;
          auto b = bytes_of(r, f, sub);
          check_count(s.events.size() + 1, lim_.max_attributes, "events in one span");
          s.events.push_back(within(indexed("events", events++), [&] { return event_of(b, sub); }));
          return true;
        }
        case 13: {
          std::size_t sub = 0;
          auto b = bytes_of(r, f, sub);
          check_count(s.links.size() + 1, lim_.max_attributes, "links in one span");
          s.links.push_back(within(indexed("links", links++), [&] { return link_of(b, sub); }));
          return true;
        }
        case 15:
          message_of(r, f, "status", [&](std::string_view b, std::size_t sub) { status_of(b, sub, s); });
          return true;
        default:
          return false;
      }
    };
    read_fields(
        bytes, base, 9, s.attributes, other, id_into{1, "trace_id", id_kind::trace, false, s.trace_id},
        id_into{2, "span_id", id_kind::span, false, s.span_id},
        id_into{4, "parent_span_id", id_kind::span, true, s.parent_span_id}, string_into{5, "name", s.name},
        fixed64_into{7, "start_time_unix_nano", s.start_time_unix_nano},
        fixed64_into{8, "end_time_unix_nano", s.end_time_unix_nano});
    // A required id read from the wire is never empty (hex_id refuses that), so empty means it was missing.
    if (s.trace_id.empty()) within("trace_id", [] { fail("trace id is missing"); });
    if (s.span_id.empty()) within("span_id", [] { fail("span id is missing"); });
    return s;
  }

  void status_of(std::string_view bytes, std::size_t base, span& s) {
    each_field(bytes, base, [&](reader& r, const field_header& f) {
      if (f.number == 2)
        s.status_message = string_at(r, f, "message");
      else if (f.number == 3)
        s.status = static_cast<status_code>(std::min<uint64_t>(varint_of(r, f), 2));
      else
        return false;
      return true;
    });
  }

  span_event event_of(std::string_view bytes, std::size_t base) {
    span_event e;
    read_fields(bytes, base, 3, e.attributes, no_other, fixed64_into{1, "time_unix_nano", e.time_unix_nano},
                string_into{2, "name", e.name});
    return e;
  }

  span_link link_of(std::string_view bytes, std::size_t base) {
    span_link l;
    read_fields(bytes, base, 4, l.attributes, no_other,
                id_into{1, "trace_id", id_kind::trace, false, l.trace_id},
                id_into{2, "span_id", id_kind::span, false, l.span_id});
    return l;
  }

  log_record log_of(std::string_view bytes, std::size_t base) {
    log_record l;
    auto other = [&](reader& r, const field_header& f) {
      if (f.number == 2)
        l.severity_number = static_cast<int>(std::min<uint64_t>(varint_of(r, f), 24));
      else if (f.number == 5)
        l.body = message_of(r, f, "body",
                            [&](std::string_view b, std::size_t sub) { return any_value(b, sub, 0); });
      else
        return false;
      return true;
    };
    read_fields(bytes, base, 6, l.attributes, other, fixed64_into{1, "time_unix_nano", l.time_unix_nano},
                fixed64_into{11, "observed_time_unix_nano", l.observed_time_unix_nano},
                string_into{3, "severity_text", l.severity_text},
                id_into{9, "trace_id", id_kind::trace, true, l.trace_id},
                id_into{10, "span_id", id_kind::span, true, l.span_id},
                string_into{12, "event_name", l.event_name});
    event_name_from_attributes(l);
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
