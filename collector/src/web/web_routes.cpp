// Serves the embedded UI. Lookup is an exact match against the table built at compile time, so no request
// path ever reaches the filesystem; suspicious paths are refused before the SPA fallback can answer them.
#include "web/web_routes.hpp"

#include <httplib.h>

#include <string>
#include <string_view>

#include "web/web_assets.hpp"

namespace llmtrace::web {
namespace {

const asset* find_asset(std::string_view path) noexcept {
  for (const asset& a : assets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

void set_security_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy", std::string(kContentSecurityPolicy));
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
}

void json_not_found(httplib::Response& res, std::string_view what) {
  set_security_headers(res);
  res.status = 404;
  std::string body = R"({"error":{"code":"not_found","message":")";
  body += what;
  body += R"(","field":null}})";
  res.set_content(body, "application/json");
}

// httplib has already percent-decoded req.path once. Anything still carrying '%' was encoded twice; dot
// segments, backslashes and control bytes have no business in a UI path. All of them get a plain 404, never
// the SPA page, so a probe cannot mistake index.html for a file it reached.
bool suspicious(std::string_view path) noexcept {
  if (path.empty() || path.front() != '/') return true;
  if (path.find("..") != std::string_view::npos) return true;
  if (path.find("//") != std::string_view::npos) return true;
  for (unsigned char c : path) {
    if (c == '\\' || c == '%' || c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// Vite puts content-hashed files under /assets/: their bytes never change for a given name.
bool is_hashed(std::string_view path) noexcept {
  return path.starts_with("/assets/");
}

void serve(const asset& a, httplib::Response& res) {
  set_security_headers(res);
  res.set_header("Cache-Control", is_hashed(a.path) ? "public, max-age=31536000, immutable" : "no-cache");
  res.status = 200;
  res.set_content(a.data.data(), a.data.size(), std::string(a.content_type));
}

void handle_ui(const httplib::Request& req, httplib::Response& res) {
  const std::string_view path = req.path;
  if (suspicious(path)) return json_not_found(res, "not found");
  if (path == "/" || path == "/index.html") {
    if (const asset* index = find_asset("/index.html")) return serve(*index, res);
    return json_not_found(res, "UI not built");
  }
  if (const asset* a = find_asset(path)) return serve(*a, res);
  // A missing hashed file must not come back as HTML: the browser would try to run it as a script.
  if (is_hashed(path)) return json_not_found(res, "no such asset");
  // Deep links (/sessions/:id, /records/:id, ...) are routed by the UI itself.
  if (const asset* index = find_asset("/index.html")) return serve(*index, res);
  json_not_found(res, "UI not built");
}

}  // namespace

void mount(httplib::Server& server) {
  // Every GET that is not an API, proxy, health or metrics path. The lookahead keeps this safe even if it is
  // registered before the API routes.
  server.Get(R"(^(?!/api/|/api$|/v1/|/v1$|/healthz|/metrics).*)", handle_ui);
  // Unknown API paths answer JSON, not the UI page. Must come after the real API routes.
  server.Get(R"(^/api(/.*)?$)", [](const httplib::Request&, httplib::Response& res) {
    json_not_found(res, "no such API route");
  });
}

}  // namespace llmtrace::web
