// The subcommands of llmtrace_bench_load: each runs one row of the benchmark table against a real
// llmtrace-collector process it starts itself, appends its rows to --out and returns a process exit code.
// Threading: each function owns its threads and joins them before returning.
#pragma once

namespace llmtrace::bench {

int run_ingest(int argc, char** argv);     // row 2
int run_otlp(int argc, char** argv);       // row 2b: OTLP ingest beside the native batch route
int run_queries(int argc, char** argv);    // row 3 (on a database made by llmtrace_bench_gen_db)
int run_pg_ingest(int argc, char** argv);  // row 2c: PostgreSQL, 1 and 2 collectors, vs raw COPY
int run_live(int argc, char** argv);       // row 4
int run_proxy(int argc, char** argv);      // row 5
int run_footprint(int argc, char** argv);  // row 6

}  // namespace llmtrace::bench
