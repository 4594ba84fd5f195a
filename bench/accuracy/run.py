#!/usr/bin/env python3
"""Trace-accuracy harness: how often wirespan's zero-code traces are exactly
right, scored against the services' own spans.

Two chains of three services, each service on its own network-namespace
host, Redis on a fourth, the load generator on a fifth (198.18.2.0/24):

  node:   express gateway -> express api -> (ioredis GET, express catalog)
          -> catalog: ioredis HGETALL; http keep-alive agents; instrumented
          with the OpenTelemetry JS SDK (its spans are the ground truth)
  python: the same calls from python3 ThreadingHTTPServer services
          (thread-per-request), which log their own spans the same way

For each chain and concurrency, one wirespan agent per service host records
into its own database (`record --netns`); the traces are assembled across
the three databases with `wirespan spans --no-traceparent` (kernel evidence
only: the services propagate W3C traceparent, which would make it trivial)
and scored with score.py.

usage: bench/accuracy/run.py [--chains node,python] [--concurrency 1,4,16,64]
                             [--requests-per-worker 40] [--min-requests 200]
Needs root, the built wirespan, and `npm ci` in bench/accuracy for the Node
chain (the harness runs it when node_modules is missing).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import lib  # noqa: E402
import score  # noqa: E402

HOSTS = {"wlg": "198.18.2.10", "wn1": "198.18.2.1", "wn2": "198.18.2.2", "wn3": "198.18.2.3",
         "wn4": "198.18.2.4"}
RECORDED = ["wn1", "wn2", "wn3"]
REDIS_PORT = 16410


def chain(kind):
    """(service, host, port, routes) of a chain; entry path prefix."""
    base = 18300 if kind == "node" else 18310
    h = HOSTS
    r = f"redis://{h['wn4']}:{REDIS_PORT}"
    names = ("gateway", "api", "catalog") if kind == "node" else ("py-gateway", "py-api", "py-catalog")
    return [
        (names[0], "wn1", base + 1, {"/front": [f"http://{h['wn2']}:{base + 2}/api/{{n}}"]}),
        (names[1], "wn2", base + 2, {"/api": [f"{r}/GET k:{{n}}", f"http://{h['wn3']}:{base + 3}/item/{{n}}"]}),
        (names[2], "wn3", base + 3, {"/item": [f"{r}/HGETALL item:{{n}}"]}),
    ], f"http://{h['wn1']}:{base + 1}/front/"


def run_one(kind, conc, requests, keep=None):
    env = lib.Env(f"accuracy-{kind}-{conc}")
    try:
        env.add_lan(HOSTS, switch="wnsw")
        env.spawn(env.in_ns("wn4", ["redis-server", "--port", str(REDIS_PORT), "--bind", HOSTS["wn4"], "--save", "",
                                    "--appendonly", "no", "--protected-mode", "no", "--dir", env.dir]))
        lib.wait_port(HOSTS["wn4"], REDIS_PORT, "wn4")
        services, entry = chain(kind)
        truth = env.path("truth.jsonl")
        procs = []
        for name, ns, port, routes in services:
            if kind == "node":
                cmd = ["node", os.path.join(HERE, "nodesvc.js"), name, HOSTS[ns], str(port), json.dumps(routes), truth]
            else:
                cmd = [lib.PYTHON, os.path.join(HERE, "pychain.py"), name, HOSTS[ns], str(port), json.dumps(routes),
                       "--truth", truth, "--propagate"]
            procs.append(env.spawn(env.in_ns(ns, cmd), env=dict(os.environ, OTEL_SERVICE_NAME=name),
                                   stderr=open(env.path(f"{name}.log"), "w")))
        for _, ns, port, _ in services:
            lib.wait_port(HOSTS[ns], port, ns, timeout=30)
        recs = [lib.Recorder(env, env.path(f"{h}.db"), "--netns", f"/run/netns/{h}") for h in RECORDED]
        t0 = time.time()
        load = lib.run(env.in_ns("wlg", [lib.PYTHON, os.path.join(HERE, "load.py"), entry, str(conc), str(requests)]),
                       check_rc=False, timeout=600)
        secs = time.time() - t0
        lost = 0
        for r in recs:
            rc, err = r.stop()
            if rc != 0:
                raise lib.Failure(f"wirespan record failed: {err}")
            for line in err.splitlines():
                if "events lost:" in line:
                    lost += int(line.rsplit(":", 1)[1])
        for p in procs:  # services flush their spans on SIGTERM
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(30)
        dbs = []
        for h in RECORDED:
            dbs += ["--db", env.path(f"{h}.db")]
        ours = env.path("ours.jsonl")
        with open(ours, "w") as f:
            subprocess.run([lib.WIRESPAN, "spans", "--json", "--no-traceparent"] + dbs, stdout=f, check=True)
        result = score.score(score.load(truth), score.load(ours))
        if keep:
            os.makedirs(keep, exist_ok=True)
            for f in ["truth.jsonl", "ours.jsonl"] + [f"{h}.db" for h in RECORDED]:
                subprocess.run(["cp", env.path(f), os.path.join(keep, f"{kind}-{conc}-{f}")], check=True)
        result.update(chain=kind, concurrency=conc, requests=requests, failed_requests=int(load.stdout.strip() or 0),
                      seconds=round(secs, 1), events_lost=lost)
        return result
    finally:
        env.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chains", default="node,python")
    ap.add_argument("--concurrency", default="1,4,16,64")
    ap.add_argument("--requests-per-worker", type=int, default=20)
    ap.add_argument("--min-requests", type=int, default=200)
    ap.add_argument("--json", action="store_true", help="one JSON object per run instead of the table")
    ap.add_argument("--keep", metavar="DIR", help="keep each run's ground truth, spans and databases in DIR")
    a = ap.parse_args()
    if "node" in a.chains and not os.path.isdir(os.path.join(HERE, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, stdout=subprocess.DEVNULL)
    rows = []
    if not a.json:
        print("| chain | concurrency | requests | span recall | edge precision | edge recall | "
              "wrong links at confidence 1 | traces exact |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in a.chains.split(","):
        for c in (int(x) for x in a.concurrency.split(",")):
            n = max(a.min_requests, c * a.requests_per_worker)
            r = run_one(kind, c, n, a.keep)
            rows.append(r)
            if a.json:
                print(json.dumps(r), flush=True)
            else:
                print(f"| {kind} | {c} | {n} | {r['span_recall']:.4f} | {r['edge_precision']:.4f} | "
                      f"{r['edge_recall']:.4f} | {r['wrong_links_confidence_1']} | "
                      f"{r['traces_exact']}/{r['traces']} ({r['exact_share']:.1%}) |", flush=True)
                if r["failed_requests"] or r["events_lost"]:
                    print(f"  (failed requests {r['failed_requests']}, events lost {r['events_lost']})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
