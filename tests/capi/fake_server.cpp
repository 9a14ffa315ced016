#include "fake_server.h"

#include <cstdio>
#include <memory>

#include "fake_servers.hpp"

struct fake_server {
  std::unique_ptr<llmtrace::test::fake_collector> collector;
  std::unique_ptr<llmtrace::test::script_server> script;
};

namespace {
void write_endpoint(const std::string& ep, char* buf, size_t len) {
  std::snprintf(buf, len, "%s", ep.c_str());
}
}  // namespace

extern "C" {

fake_server* fake_collector_start(char* endpoint, size_t len) {
  auto* s = new fake_server;
  s->collector = std::make_unique<llmtrace::test::fake_collector>();
  write_endpoint(s->collector->endpoint(), endpoint, len);
  return s;
}

fake_server* fake_hang_start(char* endpoint, size_t len) {
  auto* s = new fake_server;
  s->script = std::make_unique<llmtrace::test::script_server>(
      std::vector<llmtrace::test::scripted>(100, llmtrace::test::scripted::never_answer()));
  write_endpoint(s->script->endpoint(), endpoint, len);
  return s;
}

size_t fake_records(fake_server* s) {
  return s->collector ? s->collector->record_count() : s->script->requests();
}
size_t fake_duplicates(fake_server* s) {
  return s->collector ? s->collector->duplicates() : 0;
}

int fake_all_have_ids(fake_server* s) {
  if (!s->collector) return 0;
  for (auto& r : s->collector->records())
    if (!r.contains("id") || !r["id"].is_string() || r["id"].get<std::string>().size() < 1) return 0;
  return 1;
}

int fake_has_record_with(fake_server* s, const char* key, const char* value) {
  if (!s->collector) return 0;
  for (auto& r : s->collector->records())
    if (r.contains(key) && r[key].is_string() && r[key].get<std::string>() == value) return 1;
  return 0;
}

void fake_stop(fake_server* s) {
  delete s;
}
}
