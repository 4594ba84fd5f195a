#!/usr/bin/env python3
"""wirespan's overhead, side by side with the baseline, in one invocation.

    sudo bench/overhead.py [http] [redis] [node] [agent] [kernel] [cores] [pg] [tls] [h2]
                           (default: all but pg, tls, h2)

Environment: REPS (3), RUN_SECONDS (5, per wrk run), REDIS_N (200000),
CORES ("1 2 4 ..." up to the CPUs online), WIRESPAN (build/wirespan),
WIRESPAN_BASE (agent: a second build, e.g. the previous commit's, replayed
side by side with WIRESPAN, interleaved).

Every benchmark runs the baseline and wirespan in the same invocation,
repetitions interleaved (base, wirespan, budget, base, ...), and reports
medians and ratios. Modes:
  base      the workload alone
  wirespan  `wirespan record --cpu-budget 0`: everything captured, payload
            prefix 4096 bytes (the default), no shedding
  budget    `wirespan record` with its default CPU budget (5% of the host)
Servers run on loopback with throwaway configurations in a temp dir; every
load is bounded (wrk -d, redis-benchmark -n, pgbench -T) and everything started is
stopped on exit."""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIRESPAN = os.environ.get("WIRESPAN", os.path.join(ROOT, "build", "wirespan"))
BASE = os.environ.get("WIRESPAN_BASE", "")  # agent: another build, replayed side by side
REPS = int(os.environ.get("REPS", "3"))
SECS = int(os.environ.get("RUN_SECONDS", "5"))
REDIS_N = int(os.environ.get("REDIS_N", "200000"))
NCPU = os.cpu_count() or 1
HTTP_PORT, REDIS_PORT, HTTPS_PORT, H2_PORT = 18180, 18181, 18182, 18183
MODES = ["base", "wirespan", "budget"]
TMP = tempfile.mkdtemp(prefix="wirespan-bench-")
os.chmod(TMP, 0o755)  # nginx's workers (nobody) serve files from it: 0700 would make every answer a 403
procs = []


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def start_nginx(workers=1, cpus=None, tls=False):
    prefix = os.path.join(TMP, "nginx")
    stop_nginx()
    for d in ("www", "logs"):
        os.makedirs(os.path.join(prefix, d), exist_ok=True)
    with open(os.path.join(prefix, "www", "small.txt"), "w") as f:
        f.write("x" * 128)
    https = ""
    if tls:  # the same file over TLS, with a throwaway self-signed certificate
        cert, key = os.path.join(prefix, "cert.pem"), os.path.join(prefix, "key.pem")
        sh(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=localhost"], check=True)
        https = (f"server {{ listen 127.0.0.1:{HTTPS_PORT} ssl reuseport; ssl_certificate {cert}; "
                 f"ssl_certificate_key {key}; root {prefix}/www; }}")
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(f"""daemon on; worker_processes {workers}; pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 10000000; open_file_cache max=16;
  server {{ listen 127.0.0.1:{HTTP_PORT} reuseport; root {prefix}/www; }}
  server {{ listen 127.0.0.1:{H2_PORT} http2 reuseport; root {prefix}/www; }}
  {https} }}
""")
    cmd = ["nginx", "-p", prefix, "-c", "nginx.conf"]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    sh(cmd, check=True)
    time.sleep(0.3)


def stop_nginx():
    prefix = os.path.join(TMP, "nginx")
    if os.path.exists(os.path.join(prefix, "nginx.pid")):
        sh(["nginx", "-p", prefix, "-c", "nginx.conf", "-s", "stop"])
        time.sleep(0.3)


def start_redis():
    p = subprocess.Popen(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", TMP], stdout=subprocess.DEVNULL,
                         start_new_session=True)
    procs.append(p)
    time.sleep(0.5)


class Recorder:
    def __init__(self, mode, db, *extra):
        args = [WIRESPAN, "record", "--db", db] + list(extra)
        if mode == "wirespan":
            args += ["--cpu-budget", "0"]
        self.p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(self.p)
        line = self.p.stderr.readline()
        if "recording to" not in line:
            sys.exit(f"wirespan record did not start: {line}{self.p.stderr.read()}")
        self.db = db
        time.sleep(0.5)

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        err = self.p.stderr.read()
        self.p.wait()
        st = json.loads(sh([WIRESPAN, "status", "--db", self.db, "--json"], check=True).stdout.splitlines()[-1])
        return st, err


def record_run(mode, fn, *extra):
    """Run fn() alone or under wirespan; returns (fn's result, status or None)."""
    if mode == "base":
        return fn(), None
    db = os.path.join(TMP, "b.db")
    for s in ("", "-wal", "-shm"):
        if os.path.exists(db + s):
            os.unlink(db + s)
    rec = Recorder(mode, db, *extra)
    r = fn()
    st, _ = rec.stop()
    return r, st


def tcpdump_run(fn, port):
    """The peer: fn() while tcpdump writes every packet of the same traffic
    (whole packets, the port's both directions) to a file."""
    pcap = os.path.join(TMP, "peer.pcap")
    p = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "0", "-w", pcap, "-U", "tcp", "port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    procs.append(p)
    line = p.stderr.readline()  # "listening on lo ..." once capturing
    if "listening" not in line:
        sys.exit(f"tcpdump did not start: {line}{p.stderr.read()}")
    time.sleep(0.3)
    r = fn()
    p.send_signal(signal.SIGINT)
    err = p.stderr.read()
    p.wait()
    m = re.search(r"(\d+) packets? captured", err)
    r["packets"] = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) packets? dropped by kernel", err)
    r["dropped"] = int(m.group(1)) if m else 0
    os.unlink(pcap)
    return r


def us(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def wrk(threads=1, conns=16, cpus=None, url=None, secs=None):
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{secs or SECS}s", "--latency",
           url or f"http://127.0.0.1:{HTTP_PORT}/small.txt"]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    out = sh(cmd, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p50": us(lat["50"]), "p99": us(lat["99"])}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def cost(st, requests):
    """Agent CPU and BPF time per request, in microseconds."""
    s = st["stat"]
    return ((s["agent_user_ns"] + s["agent_sys_ns"]) / 1e3 / requests, s["bpf_run_ns"] / 1e3 / requests)


programs = {}  # hook -> [ns per run] over the full-capture runs


def keep_programs(st):
    for p in st["bpf_programs"]:
        programs.setdefault(p["hook"], []).append((p["runs"], p["run_ns"]))


def bench_http():
    print(f"\n## HTTP: wrk -t1 -c16 -d{SECS}s keep-alive, nginx (1 worker, 128-byte file), loopback; {REPS} reps")
    start_nginx()
    modes = MODES + ["tcpdump"]
    res = {m: [] for m in modes}
    for rep in range(REPS):
        for m in modes:
            if m == "tcpdump":
                res[m].append(tcpdump_run(wrk, HTTP_PORT))
                continue
            r, st = record_run(m, wrk)
            if st:
                r["cpu"], r["bpf"] = cost(st, r["requests"])
                r["shed"] = st["shed"].get("shed_level_max", 0)
                if m == "wirespan":
                    keep_programs(st)
            res[m].append(r)
    stop_nginx()
    base = med([r["rps"] for r in res["base"]])
    p50 = med([r["p50"] for r in res["base"]])
    print("| mode | req/s (median) | of baseline | p50 | p50 added | p99 | agent CPU/req | BPF/req | shed level |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in modes:
        rs = res[m]
        rps = med([r["rps"] for r in rs])
        row = [m, f"{rps:,.0f}", f"{rps / base:.2f}", f"{med([r['p50'] for r in rs]):.0f} us",
               "-" if m == "base" else f"{med([r['p50'] for r in rs]) - p50:+.0f} us",
               f"{med([r['p99'] for r in rs]):.0f} us"]
        if m == "tcpdump":  # the peer: its packets and what the kernel dropped, not its CPU
            row += [f"{med([r['packets'] for r in rs]):,.0f} packets", f"{max(r['dropped'] for r in rs):,} dropped",
                    "-"]
            print("| tcpdump -w (peer) | " + " | ".join(row[1:]) + " |")
            continue
        row += ["-", "-", "-"] if m == "base" else [f"{med([r['cpu'] for r in rs]):.1f} us",
                                                   f"{med([r['bpf'] for r in rs]):.1f} us",
                                                   str(max(r["shed"] for r in rs))]
        print("| " + " | ".join(row) + " |")
    print("every run (req/s): " + "; ".join(f"{m} " + ", ".join(f"{r['rps']:,.0f}" for r in res[m]) for m in modes))
    full = med([r["rps"] for r in res["wirespan"]]) / base
    budget = med([r["rps"] for r in res["budget"]]) / base
    peer = med([r["rps"] for r in res["tcpdump"]]) / base
    added = med([r["p50"] for r in res["wirespan"]]) - p50
    print(f"aim: >= 0.85 of baseline req/s with full capture: {full:.2f} ({'met' if full >= 0.85 else 'NOT met'}); "
          f">= 0.95 with the default budget: {budget:.2f} ({'met' if budget >= 0.95 else 'NOT met'}); "
          f"<= 5 us added at p50: {added:+.0f} us ({'met' if added <= 5 else 'NOT met'}); "
          f"tcpdump -w (peer): {peer:.2f}")


def bench_tls():
    """The TLS probes' cost: the same file over HTTP and over HTTPS, each
    alone and recorded; HTTPS also recorded with the TLS probes off (its
    connections then counted, not decoded). wrk's own OpenSSL is probed
    too (the system's libssl is), so both ends pay, as on a host where
    both run."""
    print(f"\n## TLS: wrk -t1 -c16 -d{SECS}s keep-alive, nginx (1 worker, 128-byte file) over HTTP and HTTPS, "
          f"loopback; {REPS} reps")
    start_nginx(tls=True)
    http = f"http://127.0.0.1:{HTTP_PORT}/small.txt"
    https = f"https://127.0.0.1:{HTTPS_PORT}/small.txt"
    cases = [("http", "base", http, ()), ("http", "wirespan", http, ()), ("https", "base", https, ()),
             ("https", "wirespan", https, ()), ("https", "no-tls-probes", https, ("--no-tls-probes",))]
    res = {(c[0], c[1]): [] for c in cases}
    for rep in range(REPS):
        for scheme, m, url, extra in cases:
            r, st = record_run("base" if m == "base" else "wirespan", lambda: wrk(url=url), *extra)
            if st:
                r["cpu"], r["bpf"] = cost(st, r["requests"])
                r["spans"] = st["stat"].get("spans", 0)
                r["tls_calls"] = st["stat"].get("tls_plaintext_calls", 0)
            res[(scheme, m)].append(r)
    stop_nginx()
    print("| traffic | mode | req/s (median) | of its baseline | p50 | p50 added | agent CPU/req | BPF/req | "
          "spans/req | TLS calls/req |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for scheme, m, _, _ in cases:
        rs, base = res[(scheme, m)], res[(scheme, "base")]
        rps, brps = med([r["rps"] for r in rs]), med([r["rps"] for r in base])
        p50, bp50 = med([r["p50"] for r in rs]), med([r["p50"] for r in base])
        row = [scheme, m, f"{rps:,.0f}", f"{rps / brps:.2f}", f"{p50:.0f} us", "-" if m == "base" else f"{p50 - bp50:+.0f} us"]
        if m == "base":
            row += ["-"] * 4
        else:
            n = med([r["requests"] for r in rs])
            row += [f"{med([r['cpu'] for r in rs]):.1f} us", f"{med([r['bpf'] for r in rs]):.1f} us",
                    f"{med([r['spans'] for r in rs]) / n:.2f}", f"{med([r['tls_calls'] for r in rs]) / n:.2f}"]
        print("| " + " | ".join(row) + " |")
    print("every run (req/s): " + "; ".join(f"{s}/{m} " + ", ".join(f"{r['rps']:,.0f}" for r in res[(s, m)])
                                           for s, m, _, _ in cases))
    r_http = med([r["rps"] for r in res[("http", "wirespan")]]) / med([r["rps"] for r in res[("http", "base")]])
    r_tls = med([r["rps"] for r in res[("https", "wirespan")]]) / med([r["rps"] for r in res[("https", "base")]])
    r_off = med([r["rps"] for r in res[("https", "no-tls-probes")]]) / med([r["rps"] for r in res[("https", "base")]])
    per_req = (1 / med([r["rps"] for r in res[("https", "wirespan")]]) -
               1 / med([r["rps"] for r in res[("https", "no-tls-probes")]])) * 1e6
    print(f"full capture keeps {r_http:.2f} of cleartext HTTP and {r_tls:.2f} of HTTPS ({r_off:.2f} with the TLS "
          f"probes off); the probes and the plaintext they report add {per_req:+.1f} us of wall time per request "
          f"on this single-connection-per-slot load")


def h2load(conns=4, streams=16):
    """h2load over h2c: conns connections, streams requests in flight on
    each, for RUN_SECONDS."""
    out = sh(["h2load", "-c", str(conns), "-m", str(streams), "-D", str(SECS),
              f"http://127.0.0.1:{H2_PORT}/small.txt"], check=True).stdout
    m = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    return {"rps": float(m.group(1)), "requests": int(done.group(2)), "p50": us(mean.group(1)), "p99": 0.0}


def bench_h2():
    """HTTP/2: the same file over h2c, many streams at once on each
    connection (h2load -c4 -m16), nginx (1 worker); the peer is tcpdump
    -w on the same traffic. HTTP/2 connections are captured whole."""
    print(f"\n## HTTP/2: h2load -c4 -m16 -D{SECS} over h2c, nginx (1 worker, 128-byte file), loopback; {REPS} reps")
    start_nginx()
    modes = MODES + ["tcpdump"]
    res = {m: [] for m in modes}
    for rep in range(REPS):
        for m in modes:
            if m == "tcpdump":
                res[m].append(tcpdump_run(h2load, H2_PORT))
                continue
            r, st = record_run(m, h2load)
            if st:
                r["cpu"], r["bpf"] = cost(st, r["requests"])
                r["spans"] = st["stat"].get("spans", 0)
                r["shed"] = st["shed"].get("shed_level_max", 0)
            res[m].append(r)
    stop_nginx()
    base = med([r["rps"] for r in res["base"]])
    lat = med([r["p50"] for r in res["base"]])
    print("| mode | req/s (median) | of baseline | mean latency | added | agent CPU/req | BPF/req | spans/req | shed level |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in modes:
        rs = res[m]
        rps, mean = med([r["rps"] for r in rs]), med([r["p50"] for r in rs])
        row = ["tcpdump -w (peer)" if m == "tcpdump" else m, f"{rps:,.0f}", f"{rps / base:.2f}", f"{mean:.0f} us",
               "-" if m == "base" else f"{mean - lat:+.0f} us"]
        if m in ("base", "tcpdump"):
            row += ["-"] * 4
        else:
            n = med([r["requests"] for r in rs])
            row += [f"{med([r['cpu'] for r in rs]):.1f} us", f"{med([r['bpf'] for r in rs]):.1f} us",
                    f"{med([r['spans'] for r in rs]) / n:.2f}", str(max(r["shed"] for r in rs))]
        print("| " + " | ".join(row) + " |")
    print("every run (req/s): " + "; ".join(f"{m} " + ", ".join(f"{r['rps']:,.0f}" for r in res[m]) for m in modes))


def redis_n(pipeline):
    """Requests per test: pipelined runs get 10x, so that they last as long."""
    return REDIS_N * (10 if pipeline > 1 else 1)


def redis_bench(pipeline):
    def fn():
        out = sh(["redis-benchmark", "-p", str(REDIS_PORT), "-t", "get,set", "-n", str(redis_n(pipeline)), "-c", "50",
                  "-P", str(pipeline), "--csv"], check=True).stdout
        rows = {}
        for line in out.splitlines()[1:]:
            f = [x.strip('"') for x in line.split(",")]
            rows[f[0]] = float(f[1])
        return rows
    return fn


def bench_redis():
    print(f"\n## Redis: redis-benchmark -t get,set -c 50: -P 1 -n {REDIS_N}, -P 16 -n {redis_n(16)}; "
          f"loopback; {REPS} reps")
    start_redis()
    res = {}
    for rep in range(REPS):
        for pl in (1, 16):
            for m in MODES:
                r, st = record_run(m, redis_bench(pl))
                for test, rps in r.items():
                    res.setdefault((test, pl, m), []).append(rps)
                if st:
                    n = 2 * redis_n(pipeline=pl)
                    res.setdefault(("cpu", pl, m), []).append(cost(st, n)[0])
                    res.setdefault(("bpf", pl, m), []).append(cost(st, n)[1])
                    res.setdefault(("shed", pl, m), []).append(st["shed"].get("shed_level_max", 0))
                    if m == "wirespan" and pl == 1:
                        keep_programs(st)
    print("| test | pipeline | base req/s | wirespan | of baseline | budget | of baseline | agent CPU/req | BPF/req |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst = 1.0
    for test in ("SET", "GET"):
        for pl in (1, 16):
            b = med(res[(test, pl, "base")])
            w = med(res[(test, pl, "wirespan")])
            g = med(res[(test, pl, "budget")])
            worst = min(worst, w / b)
            print(f"| {test} | {pl} | {b:,.0f} | {w:,.0f} | {w / b:.2f} | {g:,.0f} | {g / b:.2f} | "
                  f"{med(res[('cpu', pl, 'wirespan')]):.1f} us | {med(res[('bpf', pl, 'wirespan')]):.1f} us |")
    print(f"aim: >= 0.90 of baseline with full capture: worst {worst:.2f} ({'met' if worst >= 0.90 else 'NOT met'})")


def bench_agent():
    print(f"\n## Agent: replaying a recorded event stream on one core, without the kernel; {REPS} reps")
    start_nginx()
    ev = os.path.join(TMP, "events.bin")
    db = os.path.join(TMP, "a.db")
    rec = Recorder("wirespan", db, "--save-events", ev)
    wrk()
    rec.stop()
    stop_nginx()
    size = os.path.getsize(ev)
    # WIRESPAN_BASE: another build replayed side by side (interleaved)
    builds = [("wirespan", WIRESPAN)] + ([("base", BASE)] if BASE else [])
    rates = {name: [] for name, _ in builds}
    for rep in range(REPS):
        for name, binary in builds:
            out = os.path.join(TMP, "replay.db")
            for s in ("", "-wal", "-shm"):
                if os.path.exists(out + s):
                    os.unlink(out + s)
            t0 = time.monotonic()
            p = sh(["/usr/bin/time", "-f", "maxrss_kb=%M", "taskset", "-c", str(NCPU - 1), binary, "replay",
                    "--db", out, ev], check=True)
            wall = time.monotonic() - t0
            m = re.search(r"recorded ([\d.]+)s: (\d+) events, (\d+) spans", p.stderr)
            events, spans = int(m.group(2)), int(m.group(3))
            rss = int(re.search(r"maxrss_kb=(\d+)", p.stderr).group(1)) / 1024
            rates[name].append((events / wall, spans / wall, wall, float(m.group(1)), rss))
    print(f"stream: {events:,} events, {spans:,} spans, {size / 1e6:.0f} MB (wrk/nginx keep-alive, {SECS}s)")
    print("| build | events/s | spans (exchanges)/s | wall s, each run | peak RSS |")
    print("|---|---|---|---|---|")
    for name, _ in builds:
        rs = rates[name]
        print(f"| {name}: replay, to stored and linked spans | {med([r[0] for r in rs]):,.0f} | "
              f"{med([r[1] for r in rs]):,.0f} | " + ", ".join(f"{r[2]:.2f}" for r in rs)
              + f" | {med([r[4] for r in rs]):.0f} MiB |")
    if BASE:
        ratio = med([a[2] / b[2] for a, b in zip(rates["wirespan"], rates["base"])])
        print(f"wall time, wirespan / base (median of the pairs): {ratio:.2f}")
    events_s = med([r[0] for r in rates["wirespan"]])
    spans_s = med([r[1] for r in rates["wirespan"]])
    print(f"aim: >= 1,000,000 events/s: {events_s:,.0f} ({'met' if events_s >= 1e6 else 'NOT met'}); "
          f">= 500,000 spans/s: {spans_s:,.0f} ({'met' if spans_s >= 5e5 else 'NOT met'})")


def bench_kernel():
    if not programs:
        print("\n## Kernel: (run with http or redis to collect BPF run-time statistics)")
        return
    print("\n## Kernel: cost of each BPF program per run (kernel.bpf_stats, full-capture runs of http and redis)")
    print("| hook | runs | ns per run |")
    print("|---|---|---|")
    rows = []
    for hook, v in programs.items():
        runs = sum(r for r, _ in v)
        ns = sum(n for _, n in v)
        if runs:
            rows.append((ns, hook, runs))
    for ns, hook, runs in sorted(rows, reverse=True):
        print(f"| {hook} | {runs:,} | {ns / runs:.0f} |")


def bench_cores():
    counts = [int(c) for c in os.environ.get("CORES", " ".join(
        str(c) for c in (1, 2, 4, 8, 16) if c <= NCPU)).split()]
    print(f"\n## Cores: nginx (one worker per core) and wrk (one thread per core, 16 connections each) "
          f"on the same k cores, {SECS}s; {REPS} reps")
    print("| cores | base req/s | wirespan req/s | of baseline | budget req/s | of baseline |")
    print("|---|---|---|---|---|---|")
    for k in counts:
        cpus = f"0-{k - 1}"
        start_nginx(workers=k, cpus=cpus)
        res = {m: [] for m in MODES}
        for rep in range(REPS):
            for m in MODES:
                r, _ = record_run(m, lambda: wrk(threads=k, conns=16 * k, cpus=cpus))
                res[m].append(r["rps"])
        stop_nginx()
        b, w, g = med(res["base"]), med(res["wirespan"]), med(res["budget"])
        print(f"| {k} | {b:,.0f} | {w:,.0f} | {w / b:.2f} | {g:,.0f} | {g / b:.2f} |")


NODE_PORT = 18182
NODE_DIR = os.path.join(ROOT, "bench", "node")


def node_deps():
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules")):
        sh(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)


def start_hello(otel):
    args = ["node", os.path.join(NODE_DIR, "hello.js"), str(NODE_PORT)] + (["otel"] if otel else [])
    p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, start_new_session=True)
    procs.append(p)
    if "listening" not in p.stderr.readline():
        sys.exit("bench/node/hello.js did not start")
    return p


def stop_hello(p):
    p.send_signal(signal.SIGTERM)
    err = p.stderr.read()
    p.wait()
    m = re.search(r"spans exported: (\d+)", err)
    return int(m.group(1)) if m else None


def bench_node():
    """express "hello": alone, under wirespan (full capture, budget), and
    with the OpenTelemetry JS SDK (http + express instrumentations, batch
    processor, an exporter that drops the batches: the SDK's least cost)."""
    print(f"\n## Node.js: wrk -t1 -c16 -d{SECS}s keep-alive, express 4 \"hello\" (bench/node/hello.js), loopback; "
          f"{REPS} reps")
    node_deps()
    modes = MODES + ["otel"]
    res = {m: [] for m in modes}
    url = f"http://127.0.0.1:{NODE_PORT}/hello"
    for rep in range(REPS):
        for m in modes:
            p = start_hello(m == "otel")
            wrk(url=url, secs=1)  # warm the JIT
            r, st = record_run("base" if m == "otel" else m, lambda: wrk(url=url))
            spans = stop_hello(p)
            if st:
                r["cpu"], r["bpf"] = cost(st, r["requests"])
            if spans is not None:
                r["sdk_spans"] = spans
            res[m].append(r)
    base = med([r["rps"] for r in res["base"]])
    p50 = med([r["p50"] for r in res["base"]])
    print("| mode | req/s (median) | of baseline | p50 | p50 added | p99 | agent CPU/req |")
    print("|---|---|---|---|---|---|---|")
    names = {"base": "base", "wirespan": "wirespan (full capture)", "budget": "wirespan (default budget)",
             "otel": "OpenTelemetry JS SDK"}
    for m in modes:
        rs = res[m]
        rps = med([r["rps"] for r in rs])
        print(f"| {names[m]} | {rps:,.0f} | {rps / base:.2f} | {med([r['p50'] for r in rs]):.0f} us | "
              + ("-" if m == "base" else f"{med([r['p50'] for r in rs]) - p50:+.0f} us") + " | "
              f"{med([r['p99'] for r in rs]):.0f} us | "
              + (f"{med([r['cpu'] for r in rs]):.1f} us" if "cpu" in rs[0] else "-") + " |")
    print("every run (req/s): " + "; ".join(f"{m} " + ", ".join(f"{r['rps']:,.0f}" for r in res[m]) for m in modes))
    full = med([r["rps"] for r in res["wirespan"]]) / base
    print(f"aim: >= 0.98 of baseline req/s with full capture: {full:.2f} ({'met' if full >= 0.98 else 'NOT met'}); "
          f"the SDK keeps {med([r['rps'] for r in res['otel']]) / base:.2f}")


PG_BIN = "/usr/lib/postgresql/15/bin"
PG_PORT = 18182


def start_postgres():
    """A PostgreSQL 15 cluster of the benchmark's own (run as postgres,
    trust on loopback), pgbench's tables at scale 1."""
    top = os.path.join(TMP, "pg")
    os.chmod(TMP, 0o755)  # the postgres user reaches its directory through it
    os.makedirs(top)
    shutil.chown(top, "postgres")
    data = os.path.join(top, "data")
    sh(["runuser", "-u", "postgres", "--", os.path.join(PG_BIN, "initdb"), "-D", data, "-U", "bench", "-A", "trust",
        "--no-sync"], cwd=top, check=True)
    p = subprocess.Popen(["runuser", "-u", "postgres", "--", os.path.join(PG_BIN, "postgres"), "-D", data,
                          "-p", str(PG_PORT), "-k", top, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                         cwd=top, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs.append(p)
    for _ in range(100):
        if sh(["pg_isready", "-h", "127.0.0.1", "-p", str(PG_PORT)]).returncode == 0:
            break
        time.sleep(0.1)
    env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(PG_PORT), PGUSER="bench")
    sh(["createdb", "bench"], env=env, check=True)
    sh(["pgbench", "-i", "-s", "1", "-q", "bench"], env=env, check=True)
    return env


def bench_pg():
    print(f"\n## PostgreSQL: pgbench -c 4 -T {SECS}, select-only (-S) and TPC-B-like, loopback; {REPS} reps")
    env = start_postgres()

    def pgbench(*args):
        def fn():
            out = sh(["pgbench", "-n", "-c", "4", "-T", str(SECS)] + list(args) + ["bench"], env=env,
                     check=True).stdout
            return {"tps": float(re.search(r"^tps = ([\d.]+)", out, re.M).group(1)),
                    "tx": int(re.search(r"actually processed: (\d+)", out).group(1))}
        return fn
    res = {}
    for rep in range(REPS):
        for test, args in (("select-only", ["-S"]), ("tpc-b", [])):
            for m in MODES:
                r, st = record_run(m, pgbench(*args))
                if st:
                    r["cpu"], r["bpf"] = cost(st, r["tx"])
                res.setdefault((test, m), []).append(r)
    print("| script | mode | tps (median) | of baseline | agent CPU/tx | BPF/tx |")
    print("|---|---|---|---|---|---|")
    for test in ("select-only", "tpc-b"):
        b = med([r["tps"] for r in res[(test, "base")]])
        for m in MODES:
            rs = res[(test, m)]
            t = med([r["tps"] for r in rs])
            extra = ["-", "-"] if m == "base" else [f"{med([r['cpu'] for r in rs]):.1f} us",
                                                    f"{med([r['bpf'] for r in rs]):.1f} us"]
            print(f"| {test} | {m} | {t:,.0f} | {t / b:.2f} | " + " | ".join(extra) + " |")
        print(f"every run (tps), {test}: " + "; ".join(
            f"{m} " + ", ".join(f"{r['tps']:,.0f}" for r in res[(test, m)]) for m in MODES))


def main():
    if os.geteuid() != 0:
        sys.exit("bench/overhead.py loads eBPF programs: run it as root")
    for tool in ("wrk", "nginx", "redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (scripts/deps.sh installs it)")
    want = sys.argv[1:] or ["http", "redis", "node", "agent", "kernel", "cores"]
    print(f"# wirespan overhead: {NCPU} CPUs, kernel {os.uname().release}, {time.strftime('%Y-%m-%d %H:%M')}")
    try:
        for name in want:
            {"http": bench_http, "redis": bench_redis, "node": bench_node, "agent": bench_agent,
             "kernel": bench_kernel, "cores": bench_cores, "pg": bench_pg, "tls": bench_tls,
             "h2": bench_h2}[name]()
    finally:
        stop_nginx()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
