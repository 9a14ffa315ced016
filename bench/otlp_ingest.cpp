// Row 2b: OTLP ingest throughput. The same 2 KB chat records as row 2, 512 per request, 2 keep-alive
// clients, each phase against a fresh real collector process: POST /api/traces (the native batch, the
// peer), then POST /v1/traces as OTLP/JSON, then as protobuf. Each record is one span in the OTel GenAI
// conventions (gen_ai.input.messages / output.messages, model, usage, conversation id), so the collector does
// everything an instrumented app makes it do: decode, map the dialect, rebuild the chat request, store.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <llmtrace/llmtrace.hpp>

#include "bench_util.hpp"
#include "load.hpp"

namespace llmtrace::bench {
namespace {

using nlohmann::json;

constexpr int kBatch = 512;
constexpr int kSessions = 64;
constexpr int kClients = 2;

std::string hex_of(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// --- protobuf, written from the published OTLP field numbers ---
void varint(std::string& o, uint64_t v) {
  while (v >= 0x80) {
    o.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  o.push_back(static_cast<char>(v));
}
void tag(std::string& o, uint32_t field, uint32_t wire) {
  varint(o, (static_cast<uint64_t>(field) << 3) | wire);
}
void bytes_field(std::string& o, uint32_t field, std::string_view b) {
  tag(o, field, 2);
  varint(o, b.size());
  o.append(b);
}
void fixed64_field(std::string& o, uint32_t field, uint64_t v) {
  tag(o, field, 1);
  for (int i = 0; i < 8; ++i) o.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::string hex_bytes(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}
std::string kv_string(std::string_view key, std::string_view v) {
  std::string any, kv;
  bytes_field(any, 1, v);
  bytes_field(kv, 1, key);
  bytes_field(kv, 2, any);
  return kv;
}
std::string kv_int(std::string_view key, int64_t v) {
  std::string any, kv;
  tag(any, 3, 0);
  varint(any, static_cast<uint64_t>(v));
  bytes_field(kv, 1, key);
  bytes_field(kv, 2, any);
  return kv;
}

// One span: its attributes (string or integer values), ids and times.
struct span_data {
  std::string trace_id, span_id, name;
  uint64_t start = 0, end = 0;
  std::vector<std::pair<std::string, json>> attributes;
};

json semconv(const json& m) {
  json parts = json::array();
  if (m.contains("content") && m["content"].is_string())
    parts.push_back({{"type", "text"}, {"content", m["content"]}});
  return {{"role", m.value("role", "user")}, {"parts", parts}};
}

span_data make_span(int64_t i, const chat_pair& p, uint64_t salt) {
  const json req = json::parse(p.request_json), resp = json::parse(p.response_json);
  span_data s;
  s.trace_id = hex_of(salt ^ 0x5bd1e995u) + hex_of(static_cast<uint64_t>(i + 1));
  s.span_id = hex_of(static_cast<uint64_t>(i + 1) ^ (salt << 32));
  s.name = "chat " + req.value("model", "gpt-4o-mini");
  s.start = 1'700'000'000'000'000'000ull + static_cast<uint64_t>(i) * 1'000'000ull;
  s.end = s.start + 812'500'000ull;
  json in = json::array(), out = json::array();
  for (const auto& m : req["messages"]) in.push_back(semconv(m));
  for (const auto& c : resp["choices"]) {
    json m = semconv(c["message"]);
    m["finish_reason"] = c.value("finish_reason", "stop");
    out.push_back(m);
  }
  s.attributes = {{"gen_ai.operation.name", "chat"},
                  {"gen_ai.provider.name", "openai"},
                  {"gen_ai.request.model", req.value("model", "gpt-4o-mini")},
                  {"gen_ai.response.model", resp.value("model", "gpt-4o-mini")},
                  {"gen_ai.conversation.id", "otlp-session-" + std::to_string(i % kSessions)},
                  {"gen_ai.input.messages", in.dump()},
                  {"gen_ai.output.messages", out.dump()},
                  {"gen_ai.usage.input_tokens", resp["usage"].value("prompt_tokens", 0)},
                  {"gen_ai.usage.output_tokens", resp["usage"].value("completion_tokens", 0)},
                  {"app", "bench"}};
  return s;
}

std::string json_body(const std::vector<span_data>& spans) {
  json arr = json::array();
  for (const auto& s : spans) {
    json attrs = json::array();
    for (const auto& [k, v] : s.attributes)
      attrs.push_back({{"key", k},
                       {"value", v.is_string() ? json{{"stringValue", v}}
                                               : json{{"intValue", std::to_string(v.get<int64_t>())}}}});
    arr.push_back({{"traceId", s.trace_id},
                   {"spanId", s.span_id},
                   {"name", s.name},
                   {"kind", 3},
                   {"startTimeUnixNano", std::to_string(s.start)},
                   {"endTimeUnixNano", std::to_string(s.end)},
                   {"attributes", attrs},
                   {"status", {{"code", 1}}}});
  }
  json body = {
      {"resourceSpans",
       {{{"resource", {{"attributes", {{{"key", "service.name"}, {"value", {{"stringValue", "bench"}}}}}}}},
         {"scopeSpans", {{{"scope", {{"name", "bench"}}}, {"spans", arr}}}}}}}};
  return body.dump();
}

std::string proto_body(const std::vector<span_data>& spans) {
  std::string scope_spans, scope;
  bytes_field(scope, 1, "bench");
  bytes_field(scope_spans, 1, scope);
  for (const auto& s : spans) {
    std::string sp;
    bytes_field(sp, 1, hex_bytes(s.trace_id));
    bytes_field(sp, 2, hex_bytes(s.span_id));
    bytes_field(sp, 5, s.name);
    tag(sp, 6, 0);
    varint(sp, 3);
    fixed64_field(sp, 7, s.start);
    fixed64_field(sp, 8, s.end);
    for (const auto& [k, v] : s.attributes)
      bytes_field(sp, 9, v.is_string() ? kv_string(k, v.get<std::string>()) : kv_int(k, v.get<int64_t>()));
    std::string status;
    tag(status, 3, 0);
    varint(status, 1);
    bytes_field(sp, 15, status);
    bytes_field(scope_spans, 2, sp);
  }
  std::string resource, rs, out;
  bytes_field(resource, 1, kv_string("service.name", "bench"));
  bytes_field(rs, 1, resource);
  bytes_field(rs, 2, scope_spans);
  bytes_field(out, 1, rs);
  return out;
}

struct phase_result {
  double seconds = 0, cpu = 0;
  int64_t stored = 0, failures = 0;
  double mb = 0;  // request bytes sent
};

// Posts `bodies` (each kBatch records) from kClients keep-alive clients to a fresh collector.
phase_result run_phase(const std::string& bin, const std::string& db, const std::string& path,
                       const std::string& content_type, const std::vector<std::string>& bodies) {
  for (auto suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  collector_process col;
  col.start(bin, db);
  std::atomic<int64_t> next{0}, ok{0}, failures{0}, sent{0};
  const double cpu0 = process_cpu_seconds(col.pid());
  const auto t0 = steady::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      httplib::Client cli("127.0.0.1", col.port());
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_read_timeout(60, 0);
      for (;;) {
        const int64_t b = next.fetch_add(1);
        if (b >= static_cast<int64_t>(bodies.size())) break;
        for (int attempt = 0;; ++attempt) {
          auto res = cli.Post(path, bodies[static_cast<std::size_t>(b)], content_type);
          if (res && res->status == 200) {
            ok += kBatch;
            sent += static_cast<int64_t>(bodies[static_cast<std::size_t>(b)].size());
            break;
          }
          if (res && (res->status == 503 || res->status == 429) && attempt < 50) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
          }
          ++failures;
          std::cerr << "otlp bench: " << path << " failed: "
                    << (res ? std::to_string(res->status) + " " + res->body.substr(0, 200)
                            : httplib::to_string(res.error()))
                    << "\n";
          break;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  phase_result r;
  r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  r.cpu = process_cpu_seconds(col.pid()) - cpu0;
  r.stored = ok.load();
  r.failures = failures.load();
  r.mb = static_cast<double>(sent.load()) / 1e6;
  col.stop();
  return r;
}

}  // namespace

int run_otlp(int argc, char** argv) {
  const std::string bin = arg_value(argc, argv, "--collector");
  const std::string work = arg_value(argc, argv, "--work", "/tmp");
  result_sink out(arg_value(argc, argv, "--out"));
  const int64_t batches = std::max<int64_t>(4, env_int("LLMTRACE_BENCH_OTLP_SPANS", 65536) / kBatch);
  const int64_t records = batches * kBatch;

  rng r(7);
  std::vector<chat_pair> pairs;
  for (int i = 0; i < 256; ++i) pairs.push_back(make_chat_pair(r, 1850));
  // Bodies built before the clock starts: every phase measures the collector, not the client.
  std::vector<std::string> native, otlp_json, otlp_proto;
  for (int64_t b = 0; b < batches; ++b) {
    std::string body = R"({"traces":[)";
    std::vector<span_data> spans;
    for (int k = 0; k < kBatch; ++k) {
      const int64_t i = b * kBatch + k;
      const chat_pair& p = pairs[static_cast<std::size_t>(i) % pairs.size()];
      if (k) body += ',';
      body += make_trace_json(llmtrace::new_id(), "native-session-" + std::to_string(i % kSessions), 0, p);
      spans.push_back(make_span(i, p, 0x1234));
    }
    body += "]}";
    native.push_back(std::move(body));
    otlp_json.push_back(json_body(spans));
    otlp_proto.push_back(proto_body(spans));
  }

  const auto nat = run_phase(bin, work + "/otlp_native.db", "/api/traces", "application/json", native);
  const auto js = run_phase(bin, work + "/otlp_json.db", "/v1/traces", "application/json", otlp_json);
  const auto pb = run_phase(bin, work + "/otlp_proto.db", "/v1/traces", "application/x-protobuf", otlp_proto);
  const double nat_rps = static_cast<double>(nat.stored) / nat.seconds;
  std::printf("otlp: native %lld in %.2f s, json %lld in %.2f s, protobuf %lld in %.2f s\n",
              static_cast<long long>(nat.stored), nat.seconds, static_cast<long long>(js.stored), js.seconds,
              static_cast<long long>(pb.stored), pb.seconds);

  auto add = [&](const char* what, const phase_result& p) {
    const double rps = static_cast<double>(p.stored) / p.seconds;
    result_row row;
    row.row = "2b OTLP ingest";
    row.metric =
        std::string("spans/s, POST /v1/traces ") + what + ", 2 KB GenAI spans, 512/request, 2 clients";
    row.ours = fmt_num(rps) + " spans/s (" +
               fmt_num(p.cpu / static_cast<double>(std::max<int64_t>(1, p.stored)) * 1e6, 1) +
               " us CPU/span)";
    row.peer = "native /api/traces " + fmt_num(nat_rps) + " rec/s (" +
               fmt_num(nat.cpu / static_cast<double>(std::max<int64_t>(1, nat.stored)) * 1e6, 1) +
               " us CPU/rec)";
    row.ratio = fmt_ratio(rps / nat_rps);
    row.target = "(informative)";
    row.met = p.failures == 0 ? "-" : "failed";
    out.add(row);
  };
  add("OTLP/JSON", js);
  add("protobuf", pb);
  out.note("Row 2b: " + fmt_num(static_cast<double>(records)) +
           " records per phase, each phase on a fresh collector "
           "and database; request bytes: native " +
           fmt_num(nat.mb, 1) + " MB, OTLP/JSON " + fmt_num(js.mb, 1) + " MB, protobuf " + fmt_num(pb.mb, 1) +
           " MB. OTLP spans carry the messages as gen_ai.input/output.messages "
           "(semconv parts); the collector rebuilds the OpenAI chat request and response from them.");
  return (nat.failures + js.failures + pb.failures) == 0 ? 0 : 1;
}

}  // namespace llmtrace::bench
