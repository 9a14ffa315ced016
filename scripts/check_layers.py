#!/usr/bin/env python3
"""Checks the collector's layering against ONE table: the CMake target graph and every #include edge.

Each folder of collector/src is a layer and a CMake target (llmtrace_collector_<folder>). A layer may use
only the layers below it (the transitive closure of LAYERS[layer]); anything else -- an upward or sideways
edge such as storage -> proxy or api -> replay -- is a back-edge and fails the check.

  check_layers.py --src collector/src --graph build/collector/collector_layers.txt
  check_layers.py --src collector/src --graph ... --self-test   # proves an injected back-edge is caught

The build runs the first form before compiling anything in the collector (collector/CMakeLists.txt) and CTest
runs both (collector/layers, collector/layers_self_test). Standard library only.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile

# The one table: each layer and the layers it may use directly (everything below those is allowed too).
# Keep docs/ARCHITECTURE.md's diagram in step with it.
LAYERS = {
    "model": [],  # plain data, ids, time
    "storage": ["model"],  # persistence only: the store interface and SQLite
    "ingest": ["storage"],  # every ingest rule, parsing and validation, for any store
    "config": [],  # the parsed configuration (read by the HTTP layers and the root)
    "upstream": ["ingest"],  # the one HTTP client to the model provider
    "http": ["ingest", "config"],  # shared HTTP toolkit: errors, bodies, auth, connection, rendering
    "api": ["http"],  # the REST routes, event hub, metrics, publish-after-commit
    "otlp": ["http"],  # OTLP ingest (api level)
    "replay": ["http", "upstream"],  # the replay service and its route
    "proxy": ["http", "upstream"],  # the recording proxy: forwarder, recorder, read-after-proxy reader
    "web": [],  # the embedded UI's routes
    "server": ["api", "otlp", "replay", "proxy", "web"],  # the composition root and the hardened server
    "main": ["server"],  # the executable
}

# Files directly in collector/src and the layer each belongs to.
ROOT_FILES = {"config.hpp": "config", "config.cpp": "config", "main.cpp": "main"}

TARGET_PREFIX = "llmtrace_collector_"
EXECUTABLE = "llmtrace-collector"

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def closure(layers):
    """layer -> every layer it may use (transitively), checking the table is acyclic."""
    out = {}

    def visit(name, path):
        if name in path:
            raise SystemExit("check_layers: the layer table has a cycle: " + " -> ".join(path + [name]))
        if name not in out:
            below = set()
            for dep in layers[name]:
                below.add(dep)
                below |= visit(dep, path + [name])
            out[name] = below
        return out[name]

    for name in layers:
        visit(name, [])
    return out


def layer_of_file(rel):
    parts = rel.split("/")
    if len(parts) == 1:
        return ROOT_FILES.get(parts[0])
    return parts[0]


def check_includes(src, allowed):
    """Problems in the #include edges of every .hpp/.cpp under src."""
    problems = []
    files = 0
    for dirpath, _, names in os.walk(src):
        for name in sorted(names):
            if not name.endswith((".hpp", ".cpp", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            layer = layer_of_file(rel)
            if layer is None or layer not in allowed:
                problems.append(f"{rel}: folder '{rel.split('/')[0]}' is not in the layer table "
                                "(add it to LAYERS in scripts/check_layers.py)")
                continue
            files += 1
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE_RE.match(line)
                    if not m:
                        continue
                    inc = m.group(1)
                    if "/" in inc:
                        target = inc.split("/")[0]
                        if target not in allowed:
                            continue  # not a collector folder (e.g. common/, a third-party path)
                    else:
                        target = ROOT_FILES.get(inc)
                        if target is None:
                            continue  # a file beside the includer, or not ours
                    if target != layer and target not in allowed[layer]:
                        problems.append(f"{rel}:{lineno}: back-edge {layer} -> {target} "
                                        f"(#include \"{inc}\"; {layer} may use: "
                                        f"{', '.join(sorted(allowed[layer])) or 'nothing'})")
    return problems, files


def read_graph(path):
    """target -> direct link items, from the file collector/CMakeLists.txt generates."""
    graph = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if ":" not in line:
                continue
            target, _, deps = line.partition(":")
            graph[target.strip()] = [d for d in re.split(r"[;\s]+", deps.strip()) if d]
    return graph


def layer_of_target(name):
    if name == EXECUTABLE:
        return "main"
    if name.startswith(TARGET_PREFIX):
        return name[len(TARGET_PREFIX):]
    return None


def check_graph(graph, allowed):
    problems = []
    for target, deps in sorted(graph.items()):
        layer = layer_of_target(target)
        if layer is None:
            continue
        if layer not in allowed:
            problems.append(f"target {target}: layer '{layer}' is not in the layer table")
            continue
        for dep in deps:
            dep_layer = layer_of_target(dep)
            if dep_layer is None or dep == "llmtrace_collector_core":
                continue  # third-party or the aggregate
            if dep_layer == layer or dep_layer not in allowed[layer]:
                problems.append(f"target {target}: back-edge {layer} -> {dep_layer} (links {dep}; {layer} may "
                                f"use: {', '.join(sorted(allowed[layer])) or 'nothing'})")
    return problems


def run(src, graph_path, quiet=False):
    allowed = closure(LAYERS)
    include_problems, files = check_includes(src, allowed)
    graph = read_graph(graph_path)
    graph_problems = check_graph(graph, allowed)
    problems = include_problems + graph_problems
    if problems:
        print(f"check_layers: {len(problems)} layering problem(s):", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    if not quiet:
        targets = sum(1 for t in graph if layer_of_target(t))
        print(f"check_layers: ok ({files} files, {targets} targets, {len(LAYERS)} layers)")
    return 0


def self_test(src, graph_path):
    """The check passes on the tree as it is and fails on an injected include and on an injected link edge."""
    if run(src, graph_path, quiet=True) != 0:
        print("self-test: the clean tree does not pass", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "src")
        shutil.copytree(src, tree)
        victim = os.path.join(tree, "storage", "store.hpp")
        with open(victim, "a", encoding="utf-8") as f:
            f.write('\n#include "proxy/recorder.hpp"\n')
        print("self-test: injected #include \"proxy/recorder.hpp\" into storage/store.hpp")
        if run(tree, graph_path) == 0:
            print("self-test: the include back-edge was NOT caught", file=sys.stderr)
            return 1
        graph = os.path.join(tmp, "graph.txt")
        with open(graph_path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        lines = [line + " llmtrace_collector_api" if line.startswith("llmtrace_collector_storage:") else line
                 for line in lines]
        with open(graph, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        print("self-test: injected the link edge llmtrace_collector_storage -> llmtrace_collector_api")
        if run(src, graph) == 0:
            print("self-test: the link back-edge was NOT caught", file=sys.stderr)
            return 1
    print("self-test: ok (clean tree passes, both back-edges fail)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", required=True, help="collector/src")
    ap.add_argument("--graph", required=True, help="collector_layers.txt generated by CMake")
    ap.add_argument("--self-test", action="store_true", help="prove that injected back-edges are caught")
    args = ap.parse_args()
    if args.self_test:
        return self_test(args.src, args.graph)
    return run(args.src, args.graph)


if __name__ == "__main__":
    sys.exit(main())
