// llmtrace-collector: wiring only. config -> logger -> store -> collector_server (ingest, events, routes)
// -> listen. SIGINT/SIGTERM: stop accepting, let in-flight requests finish, close the store, exit 0.
// `llmtrace-collector copy --from A --to B` copies one store into another (ingest/copy) and exits.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "ingest/copy.hpp"
#include "server/collector_server.hpp"
#include "storage/store.hpp"

namespace {

// summarize: build PostgreSQL's search summaries in the background (the server; a copy leaves them to it).
std::unique_ptr<llmtrace::storage::store> open_store(const std::string& db, int connections, bool summarize) {
  using namespace llmtrace;
  if (storage::is_pg_url(db)) {
    storage::pg_options po;
    po.url = db;
    po.connections = connections;
    po.summarize = summarize;
    return storage::open_pg_store(po);
  }
  storage::sqlite_options so;
  so.path = db;
  return storage::open_sqlite_store(so);
}

// llmtrace-collector copy --from A --to B (docs/DEPLOY.md): exit 0 when the counts agree at the end.
int run_copy(const std::vector<std::string>& args) {
  using namespace llmtrace;
  std::string from, to;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--from" && i + 1 < args.size()) {
      from = args[++i];
    } else if (args[i] == "--to" && i + 1 < args.size()) {
      to = args[++i];
    } else {
      std::cerr
          << "usage: llmtrace-collector copy --from DB --to DB  (a SQLite file or a postgresql:// URL)\n";
      return 2;
    }
  }
  if (from.empty() || to.empty() || from == to) {
    std::cerr << "usage: llmtrace-collector copy --from DB --to DB  (two different databases)\n";
    return 2;
  }
  try {
    auto a = open_store(from, 2, false);
    auto b = open_store(to, 2, false);
    ingest::copy_progress p;
    std::string diff = ingest::copy_store(
        *a, *b,
        [](const ingest::copy_progress& q) {
          std::cerr << "\rcopy: " << q.records_done << "/" << q.records_total << " records ("
                    << q.records_copied << " new), " << q.sessions << " sessions, " << q.scores_copied
                    << " scores" << std::flush;
        },
        p);
    std::cerr << "\n";
    if (!diff.empty()) {
      std::cerr << "llmtrace-collector copy: counts differ after the copy (" << diff
                << "); was the target not empty, or the source written meanwhile?\n";
      return 1;
    }
    std::cerr << "copy: done, counts match (" << storage::redact_db_url(from) << " -> "
              << storage::redact_db_url(to) << ")\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "\nllmtrace-collector copy: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Request bodies, their trees and replies are up to --max-body-bytes each, allocated on whichever worker
  // thread serves them. glibc raises its mmap threshold after the first large free, and from then on serves
  // such blocks from per-thread arenas, which keep the memory after free: RSS then grows by every worker's
  // largest request. A fixed threshold keeps every block over 1 MiB in its own mapping, returned on free.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  using namespace llmtrace;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "copy") return run_copy(args);
  parse_result parsed = parse_config(args, process_env());
  switch (parsed.what) {
    case parse_result::action::help:
      std::cout << help_text();
      return 0;
    case parse_result::action::version:
      std::cout << version_text();
      return 0;
    case parse_result::action::error:
      std::cerr << "llmtrace-collector: " << parsed.message << "\n";
      return 2;
    case parse_result::action::run:
      break;
  }
  const config& cfg = parsed.cfg;

  // Signals are taken by one waiting thread (sigwait), so every other thread, including httplib's workers
  // created later, must start with them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto logger = spdlog::stderr_color_mt("llmtrace");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));

  std::unique_ptr<collector_server> server;
  try {
    auto store = open_store(cfg.db_path, std::max(4, cfg.threads), true);
    server = std::make_unique<collector_server>(cfg, std::move(store));
    server->bind();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    std::cerr << "llmtrace-collector: " << e.what() << "\n";
    return 1;
  }

  spdlog::info("llmtrace-collector {} listening on http://{}:{} (db {}, auth {}, upstream {})",
               LLMTRACE_VERSION, cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host,
               server->port(), storage::redact_db_url(cfg.db_path), cfg.api_key.empty() ? "off" : "on",
               cfg.upstream);

  std::atomic<bool> done{false};
  std::thread waiter([&] {
    while (!done.load()) {
      timespec ts{0, 200 * 1000 * 1000};
      int sig = sigtimedwait(&signals, nullptr, &ts);
      if (sig == SIGINT || sig == SIGTERM) {
        spdlog::info("signal {}: stopping (draining in-flight requests)", sig);
        server->stop();
        return;
      }
    }
  });

  bool ok = server->run();
  done.store(true);
  waiter.join();
  server.reset();  // closes the store after every request has finished
  spdlog::info("stopped");
  spdlog::shutdown();
  return ok ? 0 : 1;
}
