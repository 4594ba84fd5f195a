#!/usr/bin/env python3
"""What the runtime probes (Go, CPython asyncio) cost, side by side with the
baseline.

    sudo bench/probes.py [micro] [http] [asyncio]        (default: all)

Environment: REPS (5), N (200000 operations per micro run), RUN_SECONDS (5,
per wrk run), WIRESPAN (build/wirespan).

Modes, repetitions interleaved (base, noprobes, probes, base, ...):
  base      the program alone
  noprobes  under `wirespan record --cpu-budget 0 --no-go-probes` (asyncio:
            --no-asyncio-probes): syscalls traced, the runtime not probed
  probes    under `wirespan record --cpu-budget 0`: the runtime probes on

micro: bench/goprobes/main.go waits a second (the recorder attaches its
probes when it sees the program start), then times N goroutine creations
(each ends at once) and N channel hand-offs to a parked receiver, in
nanoseconds per operation (a run whose probes saw fewer than N goroutines
created is an error); the difference between probes and noprobes is the
probes' cost per goroutine and per hand-off.
http: bench/accuracy/gosvc (net/http; each request fans out to two calls
through an http.Client of 4 connections) in front of an nginx on loopback,
driven by `wrk -t1 -c16`: requests per second, the cost per request, and
the probe hits per request (from the recording's counters).
asyncio: bench/accuracy/pyasync.py (aiohttp; each request a Redis GET on
one pipelined aioredis connection, then a GET through an aiohttp pool of 4
connections) in front of redis-server and nginx on loopback, the same way.
Everything started is stopped on exit; loads are bounded."""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIRESPAN = os.environ.get("WIRESPAN", os.path.join(ROOT, "build", "wirespan"))
REPS = int(os.environ.get("REPS", "5"))
N = int(os.environ.get("N", "200000"))
SECS = int(os.environ.get("RUN_SECONDS", "5"))
MODES = ["base", "noprobes", "probes"]
TMP = tempfile.mkdtemp(prefix="wirespan-probes-")
SVC_PORT, LEAF_PORT, REDIS_PORT = 18190, 18191, 18192
GO_ENV = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOFLAGS="",
              GOCACHE=os.path.join(ROOT, "build", "accuracy", "gocache"))
procs = []


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def build():
    out = os.path.join(ROOT, "build", "goprobes")
    os.makedirs(out, exist_ok=True)
    sh(["go", "build", "-o", os.path.join(out, "goprobes"), "main.go"], cwd=os.path.join(ROOT, "bench", "goprobes"),
       env=GO_ENV, check=True)
    sh(["go", "build", "-o", os.path.join(out, "gosvc"), "./bench/accuracy/gosvc"], cwd=ROOT, env=GO_ENV, check=True)
    return out


class Recording:
    """wirespan record around a run, ready once it says so."""

    def __init__(self, mode, off_flag="--no-go-probes"):
        self.p = None
        self.db = os.path.join(TMP, f"{mode}.db")
        self.counters = {}
        if mode == "base":
            return
        args = [WIRESPAN, "record", "--db", self.db, "--cpu-budget", "0"]
        if mode == "noprobes":
            args.append(off_flag)
        self.p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, start_new_session=True)
        for line in self.p.stderr:
            if "recording to" in line:
                break

    def stop(self):
        """Stop it; the goroutines it saw created (None: not recording)."""
        if not self.p:
            return None
        self.p.send_signal(signal.SIGINT)
        _, err = self.p.communicate(timeout=120)
        st = sh([WIRESPAN, "status", "--db", self.db, "--json"])
        if st.returncode == 0:
            self.counters = json.loads(st.stdout).get("stat", {})
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.unlink(self.db + suffix)
        m = re.search(r"(\d+) (?:goroutines|tasks) created", err)
        return int(m.group(1)) if m else 0


def micro(out):
    rows = {}
    for what in ("spawn", "handoff"):
        res = {m: [] for m in MODES}
        for _ in range(REPS):
            for m in MODES:
                r = Recording(m)
                # the program waits a second for the probes before it times
                res[m].append(float(sh([os.path.join(out, "goprobes"), what, str(N)], check=True).stdout))
                seen = r.stop()
                if m == "probes" and what == "spawn" and seen < N:
                    sys.exit(f"probes: the probes saw {seen} of {N} goroutines created: not attached in time")
        rows[what] = res
    print(f"\n### Micro: ns per operation (median of {REPS}, N={N})\n")
    print("| operation | base | noprobes | probes | probes' cost |")
    print("|---|---:|---:|---:|---:|")
    for what, res in rows.items():
        b, n, p = (statistics.median(res[m]) for m in MODES)
        name = "goroutine created and ended" if what == "spawn" else "value handed to a parked receiver"
        print(f"| {name} | {b:.0f} | {n:.0f} | {p:.0f} | {p - n:+.0f} ns |")
    print("\nEvery run (ns/op): " + "; ".join(f"{w} {m}: " + ", ".join(f"{x:.0f}" for x in res[m])
                                          for w, res in rows.items() for m in MODES))


def wrk(path):
    """req/s and requests done."""
    r = sh(["wrk", "-t1", "-c16", f"-d{SECS}s", f"http://127.0.0.1:{SVC_PORT}{path}"], timeout=SECS + 60)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    n = re.search(r"(\d+) requests in", r.stdout)
    return (float(m.group(1)) if m else 0.0), (int(n.group(1)) if n else 0)


def nginx_leaf():
    prefix = os.path.join(TMP, "nginx")
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(f"""daemon on; worker_processes 1; pid {prefix}/nginx.pid; error_log {prefix}/logs/error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 10000000;
  server {{ listen 127.0.0.1:{LEAF_PORT}; location / {{ return 200 "ok\\n"; }} }} }}
""")
    sh(["nginx", "-p", prefix, "-c", "nginx.conf"], check=True)
    return lambda: sh(["nginx", "-p", prefix, "-c", "nginx.conf", "-s", "stop"])


def service(title, cmd, path, off_flag, hit_counters):
    """The service under wrk in each mode: req/s, cost per request, probe
    hits per request (the counters named, summed)."""
    res = {m: [] for m in MODES}
    hits = []
    for _ in range(REPS):
        for m in MODES:
            r = Recording(m, off_flag)
            svc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, start_new_session=True)
            procs.append(svc)
            time.sleep(1.0)
            rate, done = wrk(path)
            res[m].append(rate)
            svc.terminate()
            svc.wait(10)
            seen = r.stop()
            if m == "probes":
                if not seen:
                    sys.exit(f"probes: {title}: nothing was traced: probes not attached")
                hits.append(sum(int(r.counters.get(c, 0)) for c in hit_counters) / max(1, done))
    b, n, p = (statistics.median(res[m]) for m in MODES)
    print(f"\n### {title}, wrk -t1 -c16, {SECS} s (median of {REPS})\n")
    print("| mode | requests/s | ratio to base | us per request |")
    print("|---|---:|---:|---:|")
    for m, v in zip(MODES, (b, n, p)):
        print(f"| {m} | {v:.0f} | {v / b:.3f} | {1e6 / v:.1f} |")
    print(f"\nThe probes cost {1e6 / p - 1e6 / n:+.1f} us per request (wall time of the machine, probes vs "
          f"noprobes); probe hits per request: {statistics.median(hits):.1f} ({' + '.join(hit_counters)}).")
    print("Every run (req/s): " + "; ".join(f"{m}: " + ", ".join(f"{x:.0f}" for x in res[m]) for m in MODES))


def http(out):
    stop = nginx_leaf()
    try:
        service("Go service", [os.path.join(out, "gosvc"), "fanout", "plain", f"127.0.0.1:{SVC_PORT}",
                               f"127.0.0.1:{LEAF_PORT}"], "/front/1", "--no-go-probes", ["go_spawns", "go_wakes"])
    finally:
        stop()


def asyncio_bench(out):
    stop = nginx_leaf()
    redis = subprocess.Popen(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, start_new_session=True)
    procs.append(redis)
    try:
        time.sleep(0.5)
        # even request numbers make both calls
        service("asyncio service", ["/usr/bin/python3", os.path.join(ROOT, "bench", "accuracy", "pyasync.py"), "await", "plain",
                                    "127.0.0.1", str(SVC_PORT), f"127.0.0.1:{LEAF_PORT}", f"127.0.0.1:{REDIS_PORT}"],
                "/front/2", "--no-asyncio-probes", ["py_task_steps", "py_task_creations"])
    finally:
        stop()


def main():
    want = sys.argv[1:] or ["micro", "http", "asyncio"]
    out = build()
    try:
        if "micro" in want:
            micro(out)
        if "http" in want:
            http(out)
        if "asyncio" in want:
            asyncio_bench(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        subprocess.run(["rm", "-rf", TMP])
    return 0


if __name__ == "__main__":
    sys.exit(main())
