// Helpers shared by the proxy suites: a collector pointed at the fake upstream, request builders, and reads.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "support/fake_upstream.hpp"
#include "support/test_support.hpp"

namespace llmtrace::proxy_test {

using llmtrace::test::fake_upstream;
using llmtrace::testing::test_collector;
using json = nlohmann::json;

inline const char* server_key = "sk-proxy-server-key-456";

inline std::unique_ptr<test_collector> collector_for(const fake_upstream& f,
                                                     const std::string& key = server_key,
                                                     const std::string& api_key = "") {
  return std::make_unique<test_collector>([&](llmtrace::config& c) {
    c.upstream = f.base_url();
    c.upstream_api_key = key;
    c.api_key = api_key;
  });
}

inline json chat_request(const std::string& model, const std::string& text, bool stream = false) {
  json j = {{"model", model}, {"messages", json::array({json{{"role", "user"}, {"content", text}}})}};
  if (stream) {
    j["stream"] = true;
    j["stream_options"] = {{"include_usage", true}};
  }
  return j;
}

inline httplib::Headers headers_for(const std::string& session, const std::string& authorization = "") {
  httplib::Headers h;
  if (!session.empty()) h.emplace("X-LLMTrace-Session-Id", session);
  if (!authorization.empty()) h.emplace("Authorization", authorization);
  return h;
}

inline json session_records(test_collector& c, const std::string& session) {
  auto r = c.client()->Get("/api/sessions/" + session + "/records");
  REQUIRE(r);
  if (r->status != 200) return json::array();
  return json::parse(r->body)["items"];
}

// A streamed POST whose chunks go to on_chunk as they arrive; returns the transport outcome.
inline httplib::Error stream_post(test_collector& c, const std::string& path, const httplib::Headers& headers,
                                  const std::string& body,
                                  const std::function<bool(const std::string&)>& on_chunk,
                                  int* status = nullptr) {
  httplib::Client client("127.0.0.1", c.port());
  client.set_read_timeout(10, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = headers;
  req.headers.emplace("Content-Type", "application/json");
  req.body = body;
  req.response_handler = [&](const httplib::Response& res) {
    if (status != nullptr) *status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    return on_chunk(std::string(d, n));
  };
  auto result = client.send(req);
  return result.error();
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace llmtrace::proxy_test
