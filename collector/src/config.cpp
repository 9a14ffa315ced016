#include "config.hpp"

#include <charconv>
#include <cstdlib>
#include <sstream>

#include <spdlog/version.h>
#include <sqlite3.h>

namespace llmtrace {
namespace {

template <class T>
bool parse_int(std::string_view s, T& out, T lo, T hi) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

void split_hosts(std::string_view s, std::vector<std::string>& out) {
  while (!s.empty()) {
    auto comma = s.find(',');
    auto part = s.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
}

bool valid_log_level(std::string_view l) {
  for (auto v : {"trace", "debug", "info", "warn", "error", "critical", "off"})
    if (l == v) return true;
  return false;
}

// Applies one setting by its flag name; used for env and flags alike so both validate the same way.
// Returns an error message, empty on success.
std::string apply(config& c, std::string_view name, const std::string& value) {
  auto bad = [&](std::string_view what) {
    return "invalid value '" + value + "' for --" + std::string(name) + ": " + std::string(what);
  };
  if (name == "host") {
    if (value.empty()) return bad("must not be empty");
    c.host = value;
  } else if (name == "port") {
    if (!parse_int(value, c.port, 0, 65535)) return bad("expected a port number 0..65535");
  } else if (name == "db") {
    if (value.empty()) return bad("must not be empty");
    c.db_path = value;
  } else if (name == "api-key") {
    c.api_key = value;
  } else if (name == "upstream") {
    if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0)
      return bad("expected an http:// or https:// base URL");
    c.upstream = value;
    while (c.upstream.size() > 8 && c.upstream.back() == '/') c.upstream.pop_back();
  } else if (name == "upstream-ca-file") {
    c.upstream_ca_file = value;
  } else if (name == "upstream-ca-dir") {
    c.upstream_ca_dir = value;
  } else if (name == "upstream-timeout-ms") {
    if (!parse_int(value, c.upstream_timeout_ms, 1, 2147483647)) return bad("expected milliseconds >= 1");
  } else if (name == "log-level") {
    if (!valid_log_level(value)) return bad("expected trace|debug|info|warn|error|critical|off");
    c.log_level = value;
  } else if (name == "max-body-bytes") {
    if (!parse_int<std::size_t>(value, c.max_body_bytes, 1024, std::size_t{1} << 32))
      return bad("expected bytes between 1024 and 4294967296");
  } else if (name == "threads") {
    if (!parse_int(value, c.threads, 2, 256)) return bad("expected 2..256");
  } else if (name == "max-streams") {
    if (!parse_int(value, c.max_streams, 0, 1024)) return bad("expected 0..1024");
  } else if (name == "max-ingest-inflight") {
    if (!parse_int(value, c.max_ingest_inflight, 1, 1024)) return bad("expected 1..1024");
  } else if (name == "allowed-host") {
    split_hosts(value, c.allowed_hosts);
  } else if (name == "prices") {
    if (value.empty()) return bad("must not be empty");
    c.prices_file = value;
  } else if (name == "heartbeat-ms") {
    if (!parse_int(value, c.heartbeat_ms, 10, 3600000)) return bad("expected 10..3600000");
  } else if (name == "retain-days") {
    if (!parse_int(value, c.retain_days, 0, 36500)) return bad("expected days 0..36500 (0: keep forever)");
  } else if (name == "max-db-mb") {
    if (!parse_int<int64_t>(value, c.max_db_mb, 0, int64_t{1} << 30))
      return bad("expected MiB >= 0 (0: no limit)");
  } else {
    return "unknown option --" + std::string(name) + " (see --help)";
  }
  return {};
}

bool known_flag(std::string_view n) {
  for (auto v : {"host", "port", "db", "api-key", "upstream", "upstream-ca-file", "upstream-ca-dir",
                 "upstream-timeout-ms", "log-level", "max-body-bytes", "threads", "max-streams",
                 "max-ingest-inflight", "allowed-host", "heartbeat-ms", "retain-days", "max-db-mb", "prices"})
    if (n == v) return true;
  return false;
}

}  // namespace

// Grouped by topic; every setting shows its environment variable, and the variables without a flag are listed
// too.
std::string help_text() {
  std::ostringstream o;
  o << "llmtrace-collector " << LLMTRACE_VERSION << " - stores LLM call traces and serves the API and UI\n\n"
    << "Usage: llmtrace-collector [options]\n"
    << "Each option may also be set by its environment variable (shown in brackets); a flag overrides it.\n"
    << "As a systemd service, the variables come from /etc/default/llmtrace-collector.\n\n"
    << "Server:\n"
    << "  --host HOST              listen address [LLMTRACE_HOST] (default 127.0.0.1)\n"
    << "  --port PORT              listen port, 0 = any free port [LLMTRACE_PORT, or SERVER_PORT] (default "
       "8080)\n"
    << "  --allowed-host NAME      extra Host header value to accept, repeatable or comma separated\n"
    << "                           [LLMTRACE_ALLOWED_HOSTS]; loopback names and --host are always "
       "accepted\n\n"
    << "Storage:\n"
    << "  --db PATH|URL            SQLite database file, or postgresql://user@host:port/db for a PostgreSQL\n"
    << "                           database shared by several collectors [LLMTRACE_DB] (default "
       "./llmtrace.db)\n"
    << "  --retain-days N          delete sessions whose last activity is older than N days, in the\n"
    << "                           background [LLMTRACE_RETAIN_DAYS] (default 0 = keep forever)\n"
    << "  --max-db-mb N            delete the oldest sessions while the stored data exceeds N MiB\n"
    << "                           [LLMTRACE_MAX_DB_MB] (default 0 = no limit)\n\n"
    << "Cost:\n"
    << "  --prices FILE            JSON price table that adds to or overrides the built-in one (USD per 1M\n"
    << "                           input / cached input / output tokens by model) [LLMTRACE_PRICES];\n"
    << "                           a file that does not parse or has a negative price stops the start\n\n"
    << "Security:\n"
    << "  --api-key KEY            require 'Authorization: Bearer KEY' on /api and /v1 [LLMTRACE_API_KEY]\n\n"
    << "Upstream (replay and the OpenAI-compatible proxy /v1):\n"
    << "  --upstream URL           OpenAI-compatible base URL [OPENAI_BASE_URL]\n"
    << "                           (default https://api.openai.com/v1)\n"
    << "  --upstream-ca-file PATH  PEM CA bundle to verify an HTTPS upstream\n"
    << "                           [LLMTRACE_UPSTREAM_CA_FILE, else SSL_CERT_FILE] (default the system "
       "store)\n"
    << "  --upstream-ca-dir DIR    hashed CA directory for an HTTPS upstream [SSL_CERT_DIR]\n"
    << "  --upstream-timeout-ms N  upstream read timeout, per read [LLMTRACE_UPSTREAM_TIMEOUT_MS]\n"
    << "                           (default 600000)\n"
    << "  environment only:\n"
    << "    OPENAI_API_KEY         the upstream key; used by the server, never stored or shown\n\n"
    << "Limits and threads:\n"
    << "  --max-body-bytes N       request body limit, also after gzip decompression "
       "[LLMTRACE_MAX_BODY_BYTES]\n"
    << "                           (default 16777216)\n"
    << "  --threads N              HTTP worker threads for API requests [LLMTRACE_THREADS] (default 16)\n"
    << "  --max-streams N          concurrent /api/events streams, each with its own thread\n"
    << "                           [LLMTRACE_MAX_STREAMS] (default 16)\n"
    << "  --max-ingest-inflight N  concurrent ingest requests before 503 + Retry-After\n"
    << "                           [LLMTRACE_MAX_INGEST_INFLIGHT] (default 12)\n"
    << "  --heartbeat-ms N         event stream heartbeat interval [LLMTRACE_HEARTBEAT_MS] (default "
       "15000)\n\n"
    << "Logging:\n"
    << "  --log-level LEVEL        trace|debug|info|warn|error|critical|off [LLMTRACE_LOG_LEVEL] (default "
       "info)\n\n"
    << "Other:\n"
    << "  -h, --help               print this help and exit\n"
    << "  -V, --version            print the version and build information and exit\n";
  return o.str();
}

// What an admin or a bug report needs: version, compiler and build flavour, and the library versions compiled
// in.
std::string version_text() {
  std::ostringstream o;
  o << "llmtrace-collector " << LLMTRACE_VERSION << "\n";
#if defined(__clang__)
  o << "built with clang " << __clang_major__ << "." << __clang_minor__ << "." << __clang_patchlevel__;
#elif defined(__GNUC__)
  o << "built with GCC " << __GNUC__ << "." << __GNUC_MINOR__ << "." << __GNUC_PATCHLEVEL__;
#else
  o << "built with an unknown compiler";
#endif
  o << ", C++ " << __cplusplus;
#if defined(__OPTIMIZE__)
  o << ", optimized";
#else
  o << ", not optimized";
#endif
#if defined(NDEBUG)
  o << ", assertions off";
#else
  o << ", assertions on";
#endif
#if defined(__SANITIZE_ADDRESS__)
  o << ", AddressSanitizer";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  o << ", AddressSanitizer";
#endif
#endif
  o << "\nlibraries: SQLite " << SQLITE_VERSION << ", spdlog " << SPDLOG_VER_MAJOR << "." << SPDLOG_VER_MINOR
    << "." << SPDLOG_VER_PATCH << "\n";
  return o.str();
}

parse_result parse_config(const std::vector<std::string>& args, const env_lookup& env) {
  parse_result r;
  config& c = r.cfg;
  auto fail = [&](std::string msg) {
    r.what = parse_result::action::error;
    r.message = std::move(msg);
    return r;
  };

  // Environment first. SERVER_PORT is a fallback name for hosting platforms (LLMTRACE_PORT wins), and
  // SSL_CERT_FILE, the OpenSSL convention, one for LLMTRACE_UPSTREAM_CA_FILE.
  static const std::pair<const char*, const char*> env_names[] = {
      {"LLMTRACE_HOST", "host"},
      {"SERVER_PORT", "port"},
      {"LLMTRACE_PORT", "port"},
      {"LLMTRACE_DB", "db"},
      {"LLMTRACE_API_KEY", "api-key"},
      {"OPENAI_BASE_URL", "upstream"},
      {"SSL_CERT_FILE", "upstream-ca-file"},
      {"LLMTRACE_UPSTREAM_CA_FILE", "upstream-ca-file"},
      {"SSL_CERT_DIR", "upstream-ca-dir"},
      {"LLMTRACE_UPSTREAM_TIMEOUT_MS", "upstream-timeout-ms"},
      {"LLMTRACE_LOG_LEVEL", "log-level"},
      {"LLMTRACE_MAX_BODY_BYTES", "max-body-bytes"},
      {"LLMTRACE_THREADS", "threads"},
      {"LLMTRACE_MAX_STREAMS", "max-streams"},
      {"LLMTRACE_MAX_INGEST_INFLIGHT", "max-ingest-inflight"},
      {"LLMTRACE_ALLOWED_HOSTS", "allowed-host"},
      {"LLMTRACE_HEARTBEAT_MS", "heartbeat-ms"},
      {"LLMTRACE_RETAIN_DAYS", "retain-days"},
      {"LLMTRACE_MAX_DB_MB", "max-db-mb"},
      {"LLMTRACE_PRICES", "prices"},
  };
  if (env) {
    for (auto [var, flag] : env_names) {
      auto v = env(var);
      if (!v || v->empty()) continue;
      auto err = apply(c, flag, *v);
      if (!err.empty()) return fail("environment variable " + std::string(var) + ": " + err);
    }
    if (auto k = env("OPENAI_API_KEY")) c.upstream_api_key = *k;
  }

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      r.what = parse_result::action::help;
      return r;
    }
    if (a == "-V" || a == "--version") {
      r.what = parse_result::action::version;
      return r;
    }
    if (a.rfind("--", 0) != 0 || a.size() == 2) return fail("unexpected argument '" + a + "' (see --help)");
    std::string name = a.substr(2), value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else {
      if (!known_flag(name)) return fail("unknown option --" + name + " (see --help)");
      if (i + 1 >= args.size()) return fail("option --" + name + " needs a value (see --help)");
      value = args[++i];
    }
    auto err = apply(c, name, value);
    if (!err.empty()) return fail(err);
  }
  return r;
}

env_lookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace llmtrace
