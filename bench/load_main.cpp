// llmtrace_bench_load SUBCOMMAND --collector BIN --work DIR --out ROWS_FILE [...]: see load.hpp.
#include <cstring>
#include <exception>
#include <iostream>

#include "load.hpp"

int main(int argc, char** argv) {
  using namespace llmtrace::bench;
  if (argc < 2) {
    std::cerr << "usage: llmtrace_bench_load ingest|otlp|pgingest|queries|live|proxy|footprint --collector "
                 "BIN --work DIR "
                 "--out FILE [--db DB] [--store URL] [--pg-dir DIR]\n";
    return 2;
  }
  const char* cmd = argv[1];
  try {
    if (!std::strcmp(cmd, "ingest")) return run_ingest(argc, argv);
    if (!std::strcmp(cmd, "otlp")) return run_otlp(argc, argv);
    if (!std::strcmp(cmd, "pgingest")) return run_pg_ingest(argc, argv);
    if (!std::strcmp(cmd, "queries")) return run_queries(argc, argv);
    if (!std::strcmp(cmd, "live")) return run_live(argc, argv);
    if (!std::strcmp(cmd, "proxy")) return run_proxy(argc, argv);
    if (!std::strcmp(cmd, "footprint")) return run_footprint(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "llmtrace_bench_load " << cmd << ": " << e.what() << "\n";
    return 1;
  }
  std::cerr << "unknown subcommand " << cmd << "\n";
  return 2;
}
