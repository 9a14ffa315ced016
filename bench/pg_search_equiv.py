#!/usr/bin/env python3
"""Row 3p's answers: searches on the PostgreSQL copy of the scale database answer as on its SQLite original.

  pg_search_equiv.py --collector BIN --sqlite DB --pg URL [--queries N] [--out ROWS]

A collector on each store (the PostgreSQL one first summarizes the sealed record_terms partitions: the script
waits until its /api/stats says none is pending, and reports how long that took). Then N searches (default
300) of one to three words taken from the texts of random records (words that occur together, and words of
different records), pages 1 to 30 of 20, on both; their totals and records' ids must be the same. Exit 1 on
any difference. scripts/bench.sh runs it between the copy into PostgreSQL and row 3p's queries.
"""

import argparse
import json
import os
import random
import re
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pg"))
from copy_roundtrip import Collector  # noqa: E402 (a real collector process and its HTTP client)

# Words of the records' JSON rather than of their text.
SKIP = {"model", "messages", "role", "content", "user", "system", "assistant", "temperature", "choices",
        "index", "message", "finish", "reason", "stop", "usage", "prompt", "tokens", "completion", "total",
        "object", "created", "chat", "bench", "chatcmpl", "mini", "gpt"}


def words_of(db, n, rng):
    """n lists of query words: from one record's text (they occur together) or from two records' texts."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    top = con.execute("SELECT MAX(rid) FROM records").fetchone()[0]

    def text_words():
        while True:
            row = con.execute("SELECT request, response FROM records WHERE rid >= ? ORDER BY rid LIMIT 1",
                              (rng.randint(1, top),)).fetchone()
            if row:
                ws = [w for w in re.findall(r"[a-z]{3,}", (row[0] + " " + (row[1] or "")).lower()) if w not in SKIP]
                if ws:
                    return ws

    out = []
    for i in range(n):
        k = rng.choice([1, 2, 2, 2, 3])
        if i % 3 == 2:
            out.append([rng.choice(text_words()) for _ in range(k)])
        else:
            ws = text_words()
            out.append([rng.choice(ws) for _ in range(k)])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--collector", required=True)
    ap.add_argument("--sqlite", required=True)
    ap.add_argument("--pg", required=True)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--out")
    args = ap.parse_args()
    rng = random.Random(12)
    work = tempfile.mkdtemp(prefix="llmtrace-equiv-")
    pg = Collector(args.collector, args.pg, os.path.join(work, "pg.log"))
    lite = None
    try:
        t0 = time.time()
        while True:
            st = pg.json("/api/stats")
            if st.get("search_summaries_pending") == 0:
                break
            if time.time() - t0 > 600:
                raise RuntimeError("the PostgreSQL collector did not summarize its partitions within 600 s")
            time.sleep(0.5)
        summarize_s = time.time() - t0
        lite = Collector(args.collector, args.sqlite, os.path.join(work, "sqlite.log"))
        same = differ = costly = 0
        for ws in words_of(args.sqlite, args.queries, rng):
            path = "/api/search?q=%s&page=%d&size=20" % ("%20".join(ws), rng.choice([1, 1, 1, 2, 5, 30]))
            (sa, da), (sb, db) = pg.request("GET", path), lite.request("GET", path)
            if 422 in (sa, sb):  # search_too_costly on either store: past the 2 s budget, not comparable
                costly += 1
                continue
            if sa != 200 or sb != 200:
                raise RuntimeError("GET %s -> %d on PostgreSQL, %d on SQLite" % (path, sa, sb))
            a, b = json.loads(da), json.loads(db)
            ka = (a.get("total"), [r["id"] for r in a.get("items", [])])
            kb = (b.get("total"), [r["id"] for r in b.get("items", [])])
            if ka == kb:
                same += 1
            else:
                differ += 1
                if differ <= 5:
                    print("DIFFER %s: PostgreSQL total %s, %d items; SQLite total %s, %d items" % (
                        path, ka[0], len(ka[1]), kb[0], len(kb[1])))
        print("%d of %d searches answered the same (%d past the budget on either store); summaries ready "
              "%.1f s after the collector started" % (same, same + differ, costly, summarize_s))
        if args.out:
            with open(args.out, "a") as f:
                f.write("| 3p Queries at scale (PostgreSQL) | search answers (total and page) on the PostgreSQL copy "
                        "and on SQLite, %d searches of 1-3 words, pages 1-30 | %d of %d the same (%d past the 2 s "
                        "budget) | summaries ready %.0f s after start | - | the same | %s |\n" % (
                            same + differ + costly, same, same + differ, costly, summarize_s,
                            "yes" if differ == 0 and costly <= 3 else "no"))
        return 0 if differ == 0 and same > 0 and costly <= 3 else 1
    finally:
        pg.stop()
        if lite:
            lite.stop()


if __name__ == "__main__":
    sys.exit(main())
