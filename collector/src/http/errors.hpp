// The one JSON error shape of the API: {"error":{"code","message","field"}}, and a JSON response helper.
// Every route (ours, replay, proxy) writes errors through these so clients see a single contract.
// Thread safety: stateless free functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace httplib {
struct Response;
}

namespace llmtrace::http {

// Serialises any JSON for the wire; invalid UTF-8 is replaced, never thrown on.
std::string dump_json(const nlohmann::json& j);

std::string error_body(std::string_view code, std::string_view message, std::string_view field = {});

void write_error(httplib::Response& res, int status, std::string_view code, std::string_view message,
                 std::string_view field = {});

void write_json(httplib::Response& res, int status, const nlohmann::json& body);

// An error answer decided by a service and written by its handler.
struct failure {
  int status = 500;
  std::string code;
  std::string message;
  std::string field;
  std::string retry_after;  // the Retry-After header's value; empty: none
};

void write_failure(httplib::Response& res, const failure& f);

// Short code for an HTTP status, used when httplib itself rejects a request (e.g. 413, 414, 400).
std::string_view default_error_code(int status) noexcept;

}  // namespace llmtrace::http
