// otlp_decode_tool: decodes the OTLP bodies an exporter sent (listed in a manifest written by
// node/scenario.cjs: signal, file, content type and encoding of each) through otlp::decode_traces /
// decode_logs, attaches content log records to their spans, maps every span with otlp::map_spans and prints
// {"records":[...]} (the drafts as JSON). A decode error prints {"error":{...}} and exits 1.
// Usage: otlp_decode_tool <manifest.json>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "otlp/decode.hpp"
#include "otlp/genai_map.hpp"

namespace {

using nlohmann::json;
using namespace llmtrace;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Appends one request to another, rebasing its resource and scope indexes.
template <class Request, class Items>
void append(Request& into, Request&& from, Items Request::*items) {
  const std::size_t r0 = into.resources.size(), s0 = into.scopes.size();
  for (auto& r : from.resources) into.resources.push_back(std::move(r));
  for (auto& s : from.scopes) into.scopes.push_back(std::move(s));
  for (auto& it : from.*items) {
    it.resource_index += r0;
    it.scope_index += s0;
    (into.*items).push_back(std::move(it));
  }
}

int fail(const std::string& file, const otlp::decode_error& e) {
  std::cout << json{{"error",
                     {{"file", file}, {"status", e.http_status}, {"message", e.message}, {"field", e.field}}}}
                   .dump()
            << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: otlp_decode_tool <manifest.json>\n";
    return 2;
  }
  try {
    const json manifest = json::parse(read_file(argv[1]));
    otlp::traces_request traces;
    otlp::logs_request logs;
    for (const auto& c : manifest.at("captured")) {
      const std::string file = c.at("file"), signal = c.at("signal");
      const std::string body = read_file(file);
      if (signal == "traces") {
        auto r = otlp::decode_traces(body, c.value("contentType", ""), c.value("contentEncoding", ""));
        if (!r.ok) return fail(file, r.error);
        append(traces, std::move(r.value), &otlp::traces_request::spans);
      } else if (signal == "logs") {
        auto r = otlp::decode_logs(body, c.value("contentType", ""), c.value("contentEncoding", ""));
        if (!r.ok) return fail(file, r.error);
        append(logs, std::move(r.value), &otlp::logs_request::records);
      }
    }
    const auto index = otlp::index_content_logs(logs);
    json out = {{"records", json::array()}, {"log_records", logs.records.size()}};
    for (const auto& d : otlp::map_spans(traces, &index)) out["records"].push_back(otlp::to_json(d));
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "otlp_decode_tool: " << e.what() << "\n";
    return 2;
  }
}
