#!/usr/bin/env python3
"""CPU of a row 2 ingest run by thread role and by phase, from `perf script` output (docs/BENCHMARKS.md,
"Row 2, ingest: bottleneck").

  perf record -e cpu-clock -F 299 --call-graph dwarf,8192 -o perf.data -- \\
      llmtrace_bench_load ingest --collector C --work W --out W/rows
  perf script -i perf.data -F comm,tid,ip,sym,dso > script.txt
  python3 bench/perf_phases.py script.txt

Thread roles come from the frames each thread's samples reach (the FTS indexer's loop, httplib's dispatch);
the bench program's main thread is left out (after the run it measures the raw SQLite peer). Within the HTTP
worker threads each sample goes to the first phase whose function is on its stack, in the order below; a
sample whose stack perf could not unwind past the allocator (glibc has no frame pointers) is counted apart.
Standard library only.
"""

import collections
import re
import sys

# (phase, substrings of a frame's symbol or object file); first match wins.
PHASES = [
    ("FTS indexing inline (fts_indexer on the request thread)", ["fts_indexer"]),
    ("JSON parse of the body (ingest::parse_json_limited)", ["parse_json_limited", "fast_parser"]),
    ("JSON size pre-check (http::estimated_tree_bytes)", ["estimated_tree_bytes"]),
    ("record parse (ingest::parse_trace)", ["parse_trace", "record_parser"]),
    ("event publish (api::event_hub)", ["publish_after_commit", "event_hub", "event_publisher"]),
    ("SQLite write transaction (insert, indexes, fts_pending queue, COMMIT, WAL I/O)",
     ["libsqlite3", "sqlite3", "sqlite_store", "sqlite_write_tx", "sqlite_pool", "sys_pwrite64", "sys_pread64",
      "sys_fdatasync", "ext4"]),
    ("write_rules / ingest service (C++ around the store)", ["write_batch", "write_rules", "ingest_service"]),
    ("JSON serialise (nlohmann dump: reply text, event payloads)", ["batch_reply_text", "dump_json", "serializer"]),
    ("HTTP read (recv) and parse (httplib)", ["sys_recvfrom", "sys_read", "tcp_recvmsg", "httplib::detail::read",
                                             "read_headers", "parse_request_line", "read_content"]),
    ("HTTP reply send", ["sys_sendto", "sys_write", "tcp_sendmsg", "write_response"]),
    ("HTTP dispatch (httplib, other)", ["httplib"]),
    ("allocator / mem* (caller not unwound)", ["malloc", "free", "_int_", "unlink_chunk", "memmove", "memcpy",
                                               "memcmp", "memset", "operator new", "operator delete"]),
]


def read_samples(path):
    samples, cur = [], None
    for line in open(path, errors="replace"):
        if not line.strip():
            if cur:
                samples.append(cur)
            cur = None
        elif not line.startswith((" ", "\t")):
            parts = line.split()
            cur = {"comm": parts[0], "tid": parts[1] if len(parts) > 1 else "?", "frames": []}
        else:
            m = re.match(r"\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$", line)
            if m and cur is not None:
                cur["frames"].append(m.group(2) + " " + m.group(3))
    if cur:
        samples.append(cur)
    return samples


def phase(sample):
    stack = " | ".join(sample["frames"])
    for name, keys in PHASES:
        if any(k in stack for k in keys):
            return name
    return "not unwound"


def main():
    samples = read_samples(sys.argv[1])
    threads = collections.defaultdict(list)
    for s in samples:
        threads[(s["comm"], s["tid"])].append(s)

    def count(ss, key):
        return sum(1 for s in ss if any(key in f for f in s["frames"]))

    role = {}
    for key, ss in threads.items():
        if key[0].startswith("llmtrace_bench"):
            main_thread = count(ss, "raw_sqlite_insert") or count(ss, "sqlite3") > len(ss) // 4
            role[key] = None if main_thread else "load generator (client threads and the stats sampler)"
        elif count(ss, "fts_indexer") and count(ss, "fts_indexer") >= count(ss, "dispatch_request"):
            role[key] = "collector: FTS indexing worker thread"
        elif count(ss, "dispatch_request"):
            role[key] = "collector: HTTP worker threads (POST /api/traces -> 2xx)"
        elif key[0].startswith("llmtrace-collec"):
            role[key] = "collector: other threads"
        else:
            role[key] = "other process: " + key[0]
    by_role = collections.Counter()
    for key, ss in threads.items():
        if role[key]:
            by_role[role[key]] += len(ss)
    total = sum(by_role.values())
    print("%d samples (bench main thread left out)" % total)
    for name, n in by_role.most_common():
        print("  %5.1f%%  %6d  %s" % (100.0 * n / total, n, name))
    http = [s for key, ss in threads.items() if role[key] and "HTTP worker" in role[key] for s in ss]
    if http:
        print("HTTP worker threads by phase (%d samples):" % len(http))
        for name, n in collections.Counter(phase(s) for s in http).most_common():
            print("  %5.1f%% of these threads, %5.1f%% of all  %6d  %s" % (100.0 * n / len(http),
                                                                          100.0 * n / total, n, name))


if __name__ == "__main__":
    main()
