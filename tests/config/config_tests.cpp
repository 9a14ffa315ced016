// Config parsing as a pure function: env, flags, precedence, bad values.
#include <doctest/doctest.h>

#include <map>

#include "config.hpp"

using namespace llmtrace;

namespace {
env_lookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}
}  // namespace

TEST_CASE("config: defaults match the spec") {
  auto r = parse_config({}, fake_env({}));
  REQUIRE(r.what == parse_result::action::run);
  CHECK(r.cfg.host == "127.0.0.1");
  CHECK(r.cfg.port == 8080);
  CHECK(r.cfg.db_path == "./llmtrace.db");
  CHECK(r.cfg.api_key.empty());
  CHECK(r.cfg.upstream == "https://api.openai.com/v1");
  CHECK(r.cfg.max_body_bytes == 16u * 1024u * 1024u);
}

TEST_CASE("config: env is read, flags override env") {
  auto env = fake_env({{"LLMTRACE_HOST", "0.0.0.0"},
                       {"LLMTRACE_PORT", "9000"},
                       {"LLMTRACE_DB", "/tmp/x.db"},
                       {"LLMTRACE_API_KEY", "envkey"},
                       {"OPENAI_BASE_URL", "http://127.0.0.1:1234/v1/"},
                       {"OPENAI_API_KEY", "sk-upstream"}});
  auto r = parse_config({}, env);
  REQUIRE(r.what == parse_result::action::run);
  CHECK(r.cfg.host == "0.0.0.0");
  CHECK(r.cfg.port == 9000);
  CHECK(r.cfg.db_path == "/tmp/x.db");
  CHECK(r.cfg.api_key == "envkey");
  CHECK(r.cfg.upstream == "http://127.0.0.1:1234/v1");
  CHECK(r.cfg.upstream_api_key == "sk-upstream");

  auto f = parse_config({"--port", "9100", "--api-key=flagkey", "--db", "a.db", "--host", "::1"}, env);
  REQUIRE(f.what == parse_result::action::run);
  CHECK(f.cfg.port == 9100);
  CHECK(f.cfg.api_key == "flagkey");
  CHECK(f.cfg.db_path == "a.db");
  CHECK(f.cfg.host == "::1");
}

TEST_CASE("config: SERVER_PORT is a fallback, LLMTRACE_PORT wins") {
  CHECK(parse_config({}, fake_env({{"SERVER_PORT", "7000"}})).cfg.port == 7000);
  CHECK(parse_config({}, fake_env({{"SERVER_PORT", "7000"}, {"LLMTRACE_PORT", "7001"}})).cfg.port == 7001);
}

TEST_CASE("config: extras parse and allowed hosts accumulate") {
  auto r =
      parse_config({"--log-level", "debug", "--max-body-bytes", "2048", "--threads", "4", "--max-streams",
                    "2", "--allowed-host", "a.example,b.example", "--allowed-host", "c.example"},
                   fake_env({}));
  REQUIRE(r.what == parse_result::action::run);
  CHECK(r.cfg.log_level == "debug");
  CHECK(r.cfg.max_body_bytes == 2048);
  CHECK(r.cfg.threads == 4);
  CHECK(r.cfg.max_streams == 2);
  CHECK(r.cfg.allowed_hosts == std::vector<std::string>{"a.example", "b.example", "c.example"});
}

TEST_CASE("config: help and version") {
  CHECK(parse_config({"--help"}, fake_env({})).what == parse_result::action::help);
  CHECK(parse_config({"-h"}, fake_env({})).what == parse_result::action::help);
  CHECK(parse_config({"--version"}, fake_env({})).what == parse_result::action::version);
  auto h = help_text();
  for (auto flag : {"--host", "--port", "--db", "--api-key", "--upstream", "OPENAI_API_KEY", "--log-level",
                    "--max-body-bytes", "--threads", "--max-streams", "--allowed-host", "SERVER_PORT"})
    CHECK_MESSAGE(h.find(flag) != std::string::npos, flag);
}

TEST_CASE("config: bad flags and values are errors with a message") {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{{"--bogus"},
                                                                             {"--port"},
                                                                             {"--port", "abc"},
                                                                             {"--port", "70000"},
                                                                             {"--port", "-1"},
                                                                             {"--upstream", "ftp://x"},
                                                                             {"--log-level", "loud"},
                                                                             {"--threads", "0"},
                                                                             {"--max-body-bytes", "12x"},
                                                                             {"positional"}}) {
    auto r = parse_config(args, fake_env({}));
    CHECK(r.what == parse_result::action::error);
    CHECK(!r.message.empty());
  }
  auto e = parse_config({}, fake_env({{"LLMTRACE_PORT", "nope"}}));
  CHECK(e.what == parse_result::action::error);
  CHECK(e.message.find("LLMTRACE_PORT") != std::string::npos);
}

TEST_CASE("config: upstream CA and timeout come from flags or the environment, nowhere else") {
  auto r = parse_config({}, fake_env({}));
  REQUIRE(r.what == parse_result::action::run);
  CHECK(r.cfg.upstream_ca_file.empty());
  CHECK(r.cfg.upstream_ca_dir.empty());
  CHECK(r.cfg.upstream_timeout_ms == 600000);

  // SSL_CERT_FILE is the fallback; LLMTRACE_UPSTREAM_CA_FILE wins over it; the flag wins over both.
  r = parse_config({}, fake_env({{"SSL_CERT_FILE", "/etc/ssl/a.pem"}, {"SSL_CERT_DIR", "/etc/ssl/certs"}}));
  CHECK(r.cfg.upstream_ca_file == "/etc/ssl/a.pem");
  CHECK(r.cfg.upstream_ca_dir == "/etc/ssl/certs");
  r = parse_config({}, fake_env({{"SSL_CERT_FILE", "/etc/ssl/a.pem"},
                                 {"LLMTRACE_UPSTREAM_CA_FILE", "/srv/ca.pem"},
                                 {"LLMTRACE_UPSTREAM_TIMEOUT_MS", "1500"}}));
  CHECK(r.cfg.upstream_ca_file == "/srv/ca.pem");
  CHECK(r.cfg.upstream_timeout_ms == 1500);
  r = parse_config(
      {"--upstream-ca-file", "/flag/ca.pem", "--upstream-ca-dir=/flag/dir", "--upstream-timeout-ms", "250"},
      fake_env({{"LLMTRACE_UPSTREAM_CA_FILE", "/srv/ca.pem"}}));
  REQUIRE(r.what == parse_result::action::run);
  CHECK(r.cfg.upstream_ca_file == "/flag/ca.pem");
  CHECK(r.cfg.upstream_ca_dir == "/flag/dir");
  CHECK(r.cfg.upstream_timeout_ms == 250);

  r = parse_config({}, fake_env({{"LLMTRACE_UPSTREAM_TIMEOUT_MS", "soon"}}));
  CHECK(r.what == parse_result::action::error);
  CHECK(r.message.find("LLMTRACE_UPSTREAM_TIMEOUT_MS") != std::string::npos);
  CHECK(parse_config({"--upstream-timeout-ms", "0"}, fake_env({})).what == parse_result::action::error);
}

TEST_CASE("config: retention flags and their environment variables") {
  auto r = parse_config({"--retain-days", "30", "--max-db-mb=512"}, fake_env({}));
  REQUIRE(r.what == parse_result::action::run);
  CHECK(r.cfg.retain_days == 30);
  CHECK(r.cfg.max_db_mb == 512);
  auto e = parse_config({}, fake_env({{"LLMTRACE_RETAIN_DAYS", "7"}, {"LLMTRACE_MAX_DB_MB", "100"}}));
  REQUIRE(e.what == parse_result::action::run);
  CHECK(e.cfg.retain_days == 7);
  CHECK(e.cfg.max_db_mb == 100);
  CHECK(parse_config({}, fake_env({})).cfg.retain_days == 0);  // off unless asked for
  CHECK(parse_config({"--retain-days", "-1"}, fake_env({})).what == parse_result::action::error);
  CHECK(parse_config({"--max-db-mb", "lots"}, fake_env({})).what == parse_result::action::error);
  for (auto s : {"--retain-days", "LLMTRACE_RETAIN_DAYS", "--max-db-mb", "LLMTRACE_MAX_DB_MB"})
    CHECK_MESSAGE(help_text().find(s) != std::string::npos, s);
}
