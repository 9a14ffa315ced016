// Collector configuration: one plain aggregate, filled from the environment and the command line.
// parse_config is a pure function (argv + an env lookup in, config or message out) so it is unit-testable;
// the real process environment is read in exactly one place, process_env().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmtrace {

struct config {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string db_path = "./llmtrace.db";
  std::string api_key;  // empty: no auth
  std::string upstream = "https://api.openai.com/v1";
  std::string upstream_api_key;       // OPENAI_API_KEY; never logged, never sent to clients
  std::string upstream_ca_file;       // PEM bundle for an HTTPS upstream; empty: the system trust store
  std::string upstream_ca_dir;        // hashed CA directory (SSL_CERT_DIR); empty: the system trust store
  int upstream_timeout_ms = 600'000;  // per read: a model may think for minutes before its first byte
  std::string log_level = "info";
  std::size_t max_body_bytes = 16u * 1024u * 1024u;
  int threads = 16;              // HTTP workers for ordinary requests (event streams get their own on top)
  int max_streams = 16;          // concurrent /api/events streams
  int max_ingest_inflight = 12;  // concurrent ingest requests before 503 + Retry-After
  std::vector<std::string> allowed_hosts;  // extra Host header values accepted besides loopback and --host
  int heartbeat_ms = 15000;                // SSE keep-alive comment interval
  int read_timeout_s = 10;
  int write_timeout_s = 10;
  std::size_t max_header_count = 100;
  std::size_t max_header_bytes = 64u * 1024u;
  std::string prices_file;  // --prices: entries added to / overriding the built-in price table; empty: none
};

// What to do after parsing: run, or print help/version and exit 0, or print an error and exit 2.
struct parse_result {
  enum class action { run, help, version, error } what = action::run;
  config cfg;
  std::string message;  // error text (action::error)
};

using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;

// Env first, then flags (flags override env). args excludes argv[0].
parse_result parse_config(const std::vector<std::string>& args, const env_lookup& env);

// The real process environment (getenv).
env_lookup process_env();

std::string help_text();
std::string version_text();  // version, compiler and build flavour, library versions

}  // namespace llmtrace
