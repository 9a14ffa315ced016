// libFuzzer target over collector/src/otlp for untrusted OTLP/HTTP bodies: the protobuf wire reader and
// message walk, the OTLP/JSON decoder, and the GenAI mapping of whatever decodes. The first input byte picks
// the decoder (protobuf or JSON, traces or logs); the rest is the body. Besides crashes and sanitizer reports
// it checks the invariants the routes will rely on, and aborts when one breaks:
//   - decoding never throws; a refusal always has a message and a 4xx status;
//   - every decoded id is lowercase hex of the right length (the store keys records by them);
//   - mapping never throws and its JSON view dumps (nothing the UI would fail to serve).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "otlp/decode.hpp"
#include "otlp/genai_map.hpp"

namespace {

using namespace llmtrace;

[[noreturn]] void broken(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "invariant broken: %s: %.*s\n", what,
               static_cast<int>(std::min<std::size_t>(detail.size(), 400)), detail.data());
  std::abort();
}

void check_hex(const std::string& id, std::size_t len, bool optional, const char* what) {
  if (id.empty() && optional) return;
  if (id.size() != len) broken(what, id);
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) broken(what, id);
}

template <class R>
void check_refusal(const R& r) {
  if (r.ok) return;
  if (r.error.message.empty()) broken("refused without a message");
  if (r.error.http_status < 400 || r.error.http_status > 499) broken("refusal is not a 4xx", r.error.message);
}

// Small limits so the fuzzer reaches the limit paths with small inputs.
otlp::limits fuzz_limits() {
  otlp::limits lim;
  lim.max_spans = 64;
  lim.max_log_records = 64;
  lim.max_any_value_depth = 8;
  lim.max_value_bytes = 4096;
  lim.max_attributes = 64;
  return lim;
}

void check_traces(const otlp::decode_result<otlp::traces_request>& r) {
  check_refusal(r);
  if (!r.ok) return;
  for (const auto& s : r.value.spans) {
    check_hex(s.trace_id, 32, false, "trace id");
    check_hex(s.span_id, 16, false, "span id");
    check_hex(s.parent_span_id, 16, true, "parent span id");
    if (s.resource_index >= r.value.resources.size() || s.scope_index >= r.value.scopes.size())
      broken("span points past its resource or scope");
  }
  try {
    for (const auto& d : otlp::map_spans(r.value))
      (void)otlp::to_json(d).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const std::exception& e) {
    broken("mapping threw", e.what());
  }
}

void check_logs(const otlp::decode_result<otlp::logs_request>& r) {
  check_refusal(r);
  if (!r.ok) return;
  for (const auto& l : r.value.records) {
    check_hex(l.trace_id, 32, true, "log trace id");
    check_hex(l.span_id, 16, true, "log span id");
  }
  try {
    auto idx = otlp::index_content_logs(r.value);
    for (const auto& [key, logs] : idx.by_span) {
      nlohmann::json req, resp;
      otlp::apply_content_logs(req, resp, logs);
      (void)req.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
      (void)resp.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    }
  } catch (const std::exception& e) {
    broken("content logs threw", e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const otlp::limits lim = fuzz_limits();
  try {
    switch (data[0] & 3) {
      case 0:
        check_traces(otlp::decode_traces_protobuf(body, lim));
        break;
      case 1:
        check_traces(otlp::decode_traces_json(body, lim));
        break;
      case 2:
        check_logs(otlp::decode_logs_protobuf(body, lim));
        break;
      default:
        check_logs(otlp::decode_logs_json(body, lim));
        break;
    }
  } catch (const std::exception& e) {
    broken("decoder threw", e.what());
  }
  return 0;
}
