#!/usr/bin/env python3
"""Starts or stops the throwaway PostgreSQL server that a CTest run shares (fixture tests pg/start, pg/stop).

  pg_test_server.py start DIR   initdb + pg_ctl start in DIR/data on a free loopback port (as `nobody` when
                                run as root), writes postgresql://postgres@127.0.0.1:PORT/postgres to DIR/url
  pg_test_server.py stop DIR    stops it (immediate) and removes DIR

With no server binary installed, start prints why and exits 0 without a url file: the tests then try to
start a server of their own and report the same reason. Standard library only.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys


def pg_bin():
    for v in ("17", "16", "15", "14", "13"):
        d = "/usr/lib/postgresql/%s/bin" % v
        if os.path.exists(d + "/initdb") and os.path.exists(d + "/pg_ctl"):
            return d
    return None


def as_user():
    return ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []


def start(d):
    stop(d)
    b = pg_bin()
    if not b:
        print("pg_test_server: no PostgreSQL server binary under /usr/lib/postgresql (install postgresql-15)")
        return 0
    os.makedirs(d)
    if os.geteuid() == 0:
        shutil.chown(d, "nobody")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    data = os.path.join(d, "data")
    subprocess.run(as_user() + [b + "/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                "--locale=C.UTF-8", "--no-sync"], check=True, stdout=subprocess.DEVNULL)
    opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -F -c max_connections=400" % (port, d)
    subprocess.run(as_user() + [b + "/pg_ctl", "-D", data, "-l", os.path.join(d, "server.log"), "-w", "-t",
                                "60", "-o", opts, "start"], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(d, "url"), "w") as f:
        f.write("postgresql://postgres@127.0.0.1:%d/postgres\n" % port)
    print("pg_test_server: PostgreSQL on 127.0.0.1:%d (%s)" % (port, d))
    return 0


def stop(d):
    b = pg_bin()
    data = os.path.join(d, "data")
    if b and os.path.exists(os.path.join(data, "postmaster.pid")):
        subprocess.run(as_user() + [b + "/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit(__doc__)
    sys.exit(start(sys.argv[2]) if sys.argv[1] == "start" else stop(sys.argv[2]))
