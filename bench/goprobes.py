#!/usr/bin/env python3
"""What the Go runtime probes cost, side by side with the baseline.

    sudo bench/goprobes.py [micro] [http]        (default: both)

Environment: REPS (5), N (200000 operations per micro run), RUN_SECONDS (5,
per wrk run), WIRESPAN (build/wirespan).

Modes, repetitions interleaved (base, noprobes, probes, base, ...):
  base      the Go program alone
  noprobes  under `wirespan record --cpu-budget 0 --no-go-probes`: syscalls
            traced, the Go runtime not probed
  probes    under `wirespan record --cpu-budget 0`: the runtime probes on
            (goroutine created, handed a value over a channel, ended)

micro: bench/goprobes/main.go waits a second (the recorder attaches its
probes when it sees the program start), then times N goroutine creations
(each ends at once) and N channel hand-offs to a parked receiver, in
nanoseconds per operation (a run whose probes saw fewer than N goroutines
created is an error); the difference between probes and noprobes is the probes' cost
per goroutine and per hand-off.
http: bench/accuracy/gosvc (net/http; each request fans out to two calls
through an http.Client of 4 connections) in front of an nginx on loopback,
driven by `wrk -t1 -c16`: requests per second and the cost per request.
Everything started is stopped on exit; loads are bounded."""
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
TMP = tempfile.mkdtemp(prefix="wirespan-goprobes-")
SVC_PORT, LEAF_PORT = 18190, 18191
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

    def __init__(self, mode):
        self.p = None
        self.db = os.path.join(TMP, f"{mode}.db")
        if mode == "base":
            return
        args = [WIRESPAN, "record", "--db", self.db, "--cpu-budget", "0"]
        if mode == "noprobes":
            args.append("--no-go-probes")
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
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.unlink(self.db + suffix)
        m = re.search(r"(\d+) goroutines created", err)
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
                    sys.exit(f"goprobes: the probes saw {seen} of {N} goroutines created: not attached in time")
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


def wrk():
    r = sh(["wrk", "-t1", "-c16", f"-d{SECS}s", f"http://127.0.0.1:{SVC_PORT}/front/1"], timeout=SECS + 60)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    return float(m.group(1)) if m else 0.0


def http(out):
    prefix = os.path.join(TMP, "nginx")
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(f"""daemon on; worker_processes 1; pid {prefix}/nginx.pid; error_log {prefix}/logs/error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 10000000;
  server {{ listen 127.0.0.1:{LEAF_PORT}; location / {{ return 200 "ok\\n"; }} }} }}
""")
    sh(["nginx", "-p", prefix, "-c", "nginx.conf"], check=True)
    res = {m: [] for m in MODES}
    try:
        for _ in range(REPS):
            for m in MODES:
                r = Recording(m)
                svc = subprocess.Popen([os.path.join(out, "gosvc"), "fanout", "plain", f"127.0.0.1:{SVC_PORT}",
                                        f"127.0.0.1:{LEAF_PORT}"], stderr=subprocess.DEVNULL, start_new_session=True)
                procs.append(svc)
                time.sleep(0.5)
                res[m].append(wrk())
                svc.terminate()
                svc.wait(10)
                seen = r.stop()
                if m == "probes" and not seen:
                    sys.exit("goprobes: the service's goroutines were not traced: probes not attached")
    finally:
        sh(["nginx", "-p", prefix, "-c", "nginx.conf", "-s", "stop"])
    b, n, p = (statistics.median(res[m]) for m in MODES)
    print(f"\n### Go service, wrk -t1 -c16, {SECS} s (median of {REPS})\n")
    print("| mode | requests/s | ratio to base | us per request |")
    print("|---|---:|---:|---:|")
    for m, v in zip(MODES, (b, n, p)):
        print(f"| {m} | {v:.0f} | {v / b:.3f} | {1e6 / v:.1f} |")
    print(f"\nThe probes cost {1e6 / p - 1e6 / n:+.1f} us per request (wall time of the 2-core machine, "
          "probes vs noprobes).")
    print("Every run (req/s): " + "; ".join(f"{m}: " + ", ".join(f"{x:.0f}" for x in res[m]) for m in MODES))


def main():
    want = sys.argv[1:] or ["micro", "http"]
    out = build()
    try:
        if "micro" in want:
            micro(out)
        if "http" in want:
            http(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        subprocess.run(["rm", "-rf", TMP])
    return 0


if __name__ == "__main__":
    sys.exit(main())
