#!/usr/bin/env python3
"""Trace-accuracy harness: how often wirespan's zero-code traces are exactly
right, scored against a ground truth.

Chains of services, each service on its own network-namespace host. Two
chains of three services, Redis on a fourth host, the load generator on a
fifth (198.18.2.0/24), scored against the services' own spans:

  node:   express gateway -> express api -> (ioredis GET, express catalog)
          -> catalog: ioredis HGETALL; http keep-alive agents; instrumented
          with the OpenTelemetry JS SDK (its spans are the ground truth)
  python: the same calls from python3 ThreadingHTTPServer services
          (thread-per-request), which log their own spans the same way

and chains that measure the links inside one service under test, on the
runtimes services really run: load generator -> SERVICE -> leaf backends
(nginx answering `return 200`, redis-server), each on its own host
(198.18.3.0/24). The ground truth is built from the request numbers: request
N is "GET /front/N" at the service, its calls, and the leaves' server spans
(see CHAINS below):

  go-fanout:  Go net/http; two goroutines call GET /b1/ID and GET /b2/ID
              through one http.Client (MaxConnsPerHost 4), WaitGroup
  go-redis:   the same, then Redis GET k:ID through a redigo Pool
              (MaxActive 4, Wait)
  node-agent: express; ioredis GET k:ID (one shared connection), then
              GET /b1/ID through http.Agent({keepAlive, maxSockets: 4})
  py-asyncio: aiohttp server; aioredis GET k:ID on one pipelined
              connection, then (even N only) GET /b1/ID through an aiohttp
              ClientSession (TCPConnector(limit=4))
  java-pool:  com.sun.net.httpserver on a fixed pool of 4 threads; GET /b1/ID
              then GET /b2/ID with java.net.http.HttpClient (HTTP/1.1, send())
  nginx:      nginx reverse proxy (2 workers), upstream keepalive 16, to
              GET /b1/ID

and chains the in-process linker was not tuned on, other styles of the same
runtimes, to see whether the results hold:

  node-fanout:   express; GET /b1/ID and GET /b2/ID at once (Promise.all)
                 through http.Agent({keepAlive, maxSockets: 4}), then
                 ioredis GET k:ID (one shared connection)
  node-fetch:    express; Node's built-in fetch (undici, its own pool):
                 GET /b1/ID, then GET /b2/ID
  py-gather:     aiohttp server; asyncio.gather(GET /b1/ID, GET /b2/ID)
                 through one ClientSession (TCPConnector(limit=4)), then
                 aioredis GET k:ID on one shared connection
  py-threadpool: python3 ThreadingHTTPServer; each call submitted to one
                 ThreadPoolExecutor(max_workers=4) and waited for
                 (submit().result()), http.client keep-alive connections per
                 worker thread: GET /b1/ID, then GET /b2/ID (the thread that
                 reads the request never writes the calls)
  go-workers:    Go net/http; 4 worker goroutines started at program start
                 take jobs (URL + reply channel) from an unbuffered channel;
                 the handler sends GET /b1/ID, waits, then GET /b2/ID, waits;
                 one http.Client on http.DefaultTransport
  go-nested:     Go net/http; the handler starts one goroutine that starts
                 two goroutines calling GET /b1/ID and GET /b2/ID through one
                 http.Client (MaxConnsPerHost 4), WaitGroups
  go-spawn:      Go net/http; the handler starts two goroutines: one calls
                 GET /b1/ID through the http.Client, the other writes Redis
                 GET k:ID itself through a redigo Pool of 2 (Wait): it waits
                 for a connection another request's goroutine gives back
  java-urlconn:  com.sun.net.httpserver on a fixed pool of 4 threads;
                 GET /b1/ID then GET /b2/ID with java.net.HttpURLConnection
                 (keep-alive cache, body read fully, no disconnect())

ids=plain: ID is N. ids=hashed: ID is the first 12 hex digits of
sha1("b1:N") (b2, k likewise) at every hop, so no id is shared between the
inbound request and the outbound calls (node and python chains: each hop
hashes the id it received).

For each chain, ids and concurrency, one wirespan agent per recorded host
records into its own database (`record --netns`); the traces are assembled
across the databases with `wirespan spans --no-traceparent` (kernel evidence
only) and scored with score.py.

usage: bench/accuracy/run.py [--chains node,python (default) | all | go-fanout,...]
           [--concurrency 1,4,16,64] [--ids plain,hashed]
           [--requests-per-worker 20] [--min-requests 200]
           [--json] [--keep DIR] [--no-deps] [--record-arg=--no-asyncio-probes ...]
Needs root and the built wirespan (WIRESPAN=PATH for another build);
installs what it needs with deps.sh (Debian packages, `npm ci`). Go and Java
services are built at run time into build/accuracy/.
"""
import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.path.join(ROOT, "build", "accuracy")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import lib  # noqa: E402
import score  # noqa: E402

# ---- the node and python chains: three services scored against their own spans ----

HOSTS = {"wlg": "198.18.2.10", "wn1": "198.18.2.1", "wn2": "198.18.2.2", "wn3": "198.18.2.3",
         "wn4": "198.18.2.4"}
RECORDED = ["wn1", "wn2", "wn3"]
REDIS_PORT = 16410


def chain(kind, ids="plain"):
    """(service, host, port, routes) of a chain; entry path prefix."""
    base = 18300 if kind == "node" else 18310
    h = HOSTS
    r = f"redis://{h['wn4']}:{REDIS_PORT}"
    names = ("gateway", "api", "catalog") if kind == "node" else ("py-gateway", "py-api", "py-catalog")

    def t(tag):  # the id a call carries: the one received, or its hash
        return "{n}" if ids == "plain" else f"{{h:{tag}}}"
    return [
        (names[0], "wn1", base + 1, {"/front": [f"http://{h['wn2']}:{base + 2}/api/{t('api')}"]}),
        (names[1], "wn2", base + 2, {"/api": [f"{r}/GET k:{t('k')}",
                                              f"http://{h['wn3']}:{base + 3}/item/{t('item')}"]}),
        (names[2], "wn3", base + 3, {"/item": [f"{r}/HGETALL item:{t('item')}"]}),
    ], f"http://{h['wn1']}:{base + 1}/front/"


def run_otel_chain(kind, conc, requests, ids, keep=None, record_args=()):
    env = lib.Env(f"accuracy-{kind}-{conc}")
    try:
        env.add_lan(HOSTS, switch="wnsw")
        env.spawn(env.in_ns("wn4", ["redis-server", "--port", str(REDIS_PORT), "--bind", HOSTS["wn4"], "--save", "",
                                    "--appendonly", "no", "--protected-mode", "no", "--dir", env.dir]))
        lib.wait_port(HOSTS["wn4"], REDIS_PORT, "wn4")
        services, entry = chain(kind, ids)
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
        recs = [(h, lib.Recorder(env, env.path(f"{h}.db"), "--netns", f"/run/netns/{h}", *record_args))
                for h in RECORDED]
        t0 = time.time()
        load = lib.run(env.in_ns("wlg", [lib.PYTHON, os.path.join(HERE, "load.py"), entry, str(conc), str(requests)]),
                       check_rc=False, timeout=600)
        secs = time.time() - t0
        lost = stop_recorders(recs)
        for p in procs:  # services flush their spans on SIGTERM
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(30)
        return finish(env, kind, ids, conc, requests, load, secs, lost, RECORDED, truth, keep)
    finally:
        env.cleanup()


# ---- chains with one service under test, leaves around it, truth by construction ----

LAN = {"aclg": "198.18.3.10", "acsvc": "198.18.3.1", "acleaf": "198.18.3.2", "acredis": "198.18.3.4"}
SVC_PORT, LEAF_PORT, ACREDIS_PORT = 18401, 18402, 16420
LEAF_NAME, REDIS_NAME = "leaf", "redis"


def make_id(ids, tag, n):
    if ids == "plain":
        return str(n)
    return hashlib.sha1(f"{tag}:{n}".encode()).hexdigest()[:12]


def b1(n, ids):
    return ("http", f"GET /b1/{make_id(ids, 'b1', n)}")


def b2(n, ids):
    return ("http", f"GET /b2/{make_id(ids, 'b2', n)}")


def rget(n, ids):
    return ("redis", f"GET k:{make_id(ids, 'k', n)}")


# calls: the outbound calls request N makes, in the order the service makes
# them (concurrent ones too); redis: whether the chain has a Redis leaf
CHAINS = {
    "go-fanout": {"calls": lambda n, i: [b1(n, i), b2(n, i)], "redis": False},
    "go-redis": {"calls": lambda n, i: [b1(n, i), b2(n, i), rget(n, i)], "redis": True},
    "node-agent": {"calls": lambda n, i: [rget(n, i), b1(n, i)], "redis": True},
    "py-asyncio": {"calls": lambda n, i: [rget(n, i)] + ([b1(n, i)] if n % 2 == 0 else []), "redis": True},
    "java-pool": {"calls": lambda n, i: [b1(n, i), b2(n, i)], "redis": False},
    "nginx": {"calls": lambda n, i: [b1(n, i)], "redis": False},
    # not tuned on: other styles of the same runtimes
    "node-fanout": {"calls": lambda n, i: [b1(n, i), b2(n, i), rget(n, i)], "redis": True},
    "node-fetch": {"calls": lambda n, i: [b1(n, i), b2(n, i)], "redis": False},
    "py-gather": {"calls": lambda n, i: [b1(n, i), b2(n, i), rget(n, i)], "redis": True},
    "py-threadpool": {"calls": lambda n, i: [b1(n, i), b2(n, i)], "redis": False},
    "go-workers": {"calls": lambda n, i: [b1(n, i), b2(n, i)], "redis": False},
    "go-nested": {"calls": lambda n, i: [b1(n, i), b2(n, i)], "redis": False},
    "go-spawn": {"calls": lambda n, i: [b1(n, i), rget(n, i)], "redis": True},
    "java-urlconn": {"calls": lambda n, i: [b1(n, i), b2(n, i)], "redis": False},
}
GO_MODES = {"go-fanout": "fanout", "go-redis": "redis", "go-workers": "workers", "go-nested": "nested",
            "go-spawn": "spawn"}
JAVA_MODES = {"java-pool": "httpclient", "java-urlconn": "urlconn"}
BUILT = tuple(GO_MODES) + tuple(JAVA_MODES)  # chains whose service build() makes
OTEL_CHAINS = ("node", "python")
ALL_CHAINS = list(OTEL_CHAINS) + list(CHAINS)


def build():
    """Build the Go and Java services into build/accuracy/ (once per harness run)."""
    os.makedirs(BUILD, exist_ok=True)
    goenv = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOFLAGS="",
                 GOCACHE=os.path.join(BUILD, "gocache"))
    lib.run(["go", "build", "-o", os.path.join(BUILD, "gosvc"), "./bench/accuracy/gosvc"], cwd=ROOT, env=goenv,
            timeout=300)
    lib.run(["javac", "-d", os.path.join(BUILD, "java")]
            + [os.path.join(HERE, "java", "JavaSvc.java")], timeout=300)


def write_truth(path, kind, ids, requests):
    """The spans request 0..requests-1 make, by construction."""
    svc = kind
    with open(path, "w") as f:
        def span(**kw):
            f.write(json.dumps(kw) + "\n")
        for n in range(requests):
            tid, root = f"t{n}", f"{n}.s"
            span(trace_id=tid, span_id=root, parent_span_id="", kind="server", name=f"GET /front/{n}", service=svc)
            for i, (proto, name) in enumerate(CHAINS[kind]["calls"](n, ids)):
                span(trace_id=tid, span_id=f"{n}.{i}c", parent_span_id=root, kind="client", name=name, service=svc)
                span(trace_id=tid, span_id=f"{n}.{i}s", parent_span_id=f"{n}.{i}c", kind="server", name=name,
                     service=LEAF_NAME if proto == "http" else REDIS_NAME)


NGINX_COMMON = """daemon off;
master_process on;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
env OTEL_SERVICE_NAME;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    keepalive_timeout 120;
    keepalive_requests 1000000;
{body}
}}
"""


def nginx_conf(env, name, body, workers=2):
    prefix = env.path(name)
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_COMMON.format(prefix=prefix, workers=workers, body=body))
    return ["nginx", "-p", prefix, "-c", conf]


def leaf_conf(env):
    body = f"""    server {{
        listen {LAN['acleaf']}:{LEAF_PORT} backlog=1024;
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}"""
    return nginx_conf(env, "leaf-nginx", body)


def proxy_conf(env, ids, requests):
    # nginx computes no hash: the id of each request number is in a map
    entries = "\n".join(f"        /front/{n} {make_id(ids, 'b1', n)};" for n in range(requests))
    body = f"""    map_hash_max_size 65536;
    map_hash_bucket_size 64;
    map $uri $b1id {{
        default none;
{entries}
    }}
    upstream leaf {{
        server {LAN['acleaf']}:{LEAF_PORT};
        keepalive 16;
    }}
    server {{
        listen {LAN['acsvc']}:{SVC_PORT} backlog=1024;
        location /front/ {{
            proxy_pass http://leaf/b1/$b1id;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""
    return nginx_conf(env, "proxy-nginx", body)


def service_cmd(env, kind, ids, requests):
    leaf = f"{LAN['acleaf']}:{LEAF_PORT}"
    redis = f"{LAN['acredis']}:{ACREDIS_PORT}"
    bind = LAN["acsvc"]
    if kind in GO_MODES:
        cmd = [os.path.join(BUILD, "gosvc"), GO_MODES[kind], ids, f"{bind}:{SVC_PORT}", leaf]
        return cmd + ([redis] if CHAINS[kind]["redis"] else [])
    if kind in ("node-agent", "node-fanout", "node-fetch"):
        return ["node", os.path.join(HERE, "nodeloop.js"), kind[5:], ids, bind, str(SVC_PORT), leaf, redis]
    if kind in ("py-asyncio", "py-gather"):
        mode = "await" if kind == "py-asyncio" else "gather"
        return [lib.PYTHON, os.path.join(HERE, "pyasync.py"), mode, ids, bind, str(SVC_PORT), leaf, redis]
    if kind == "py-threadpool":
        return [lib.PYTHON, os.path.join(HERE, "pythreadpool.py"), ids, bind, str(SVC_PORT), leaf]
    if kind in JAVA_MODES:
        return ["java", "-Xmx256m", "-cp", os.path.join(BUILD, "java"), "JavaSvc", JAVA_MODES[kind], ids, bind,
                str(SVC_PORT), leaf]
    if kind == "nginx":
        return proxy_conf(env, ids, requests)
    raise ValueError(kind)


def start_chain(env, kind, ids, requests):
    """Hosts, leaves and the service under test; returns (service process, recorded hosts)."""
    env.add_lan(LAN, switch="acsw")
    recorded = ["acsvc", "acleaf"]
    if CHAINS[kind]["redis"]:
        env.spawn(env.in_ns("acredis", ["redis-server", "--port", str(ACREDIS_PORT), "--bind", LAN["acredis"],
                                        "--save", "", "--appendonly", "no", "--protected-mode", "no",
                                        "--dir", env.dir]),
                  env=dict(os.environ, OTEL_SERVICE_NAME=REDIS_NAME))
        lib.wait_port(LAN["acredis"], ACREDIS_PORT, "acredis")
        recorded.append("acredis")
    env.spawn(env.in_ns("acleaf", leaf_conf(env)), env=dict(os.environ, OTEL_SERVICE_NAME=LEAF_NAME),
              stderr=open(env.path("leaf.log"), "w"))
    lib.wait_port(LAN["acleaf"], LEAF_PORT, "acleaf")
    svc = env.spawn(env.in_ns("acsvc", service_cmd(env, kind, ids, requests)),
                    env=dict(os.environ, OTEL_SERVICE_NAME=kind), stderr=open(env.path("service.log"), "w"))
    lib.wait_port(LAN["acsvc"], SVC_PORT, "acsvc", timeout=30)
    return svc, recorded


def run_service_chain(kind, conc, requests, ids, keep=None, record_args=()):
    env = lib.Env(f"accuracy-{kind}-{ids}-{conc}")
    try:
        svc, recorded = start_chain(env, kind, ids, requests)
        truth = env.path("truth.jsonl")
        write_truth(truth, kind, ids, requests)
        recs = [(h, lib.Recorder(env, env.path(f"{h}.db"), "--netns", f"/run/netns/{h}", *record_args))
                for h in recorded]
        t0 = time.time()
        load = lib.run(env.in_ns("aclg", [lib.PYTHON, os.path.join(HERE, "load.py"),
                                          f"http://{LAN['acsvc']}:{SVC_PORT}/front/", str(conc), str(requests)]),
                       check_rc=False, timeout=300)
        secs = time.time() - t0
        lost = stop_recorders(recs)
        if svc.poll() is not None:
            raise lib.Failure(f"{kind} exited {svc.returncode}: {open(env.path('service.log')).read()[-2000:]}")
        # by host: nginx's service.name is "nginx" whatever its environment says
        names = {"acsvc": kind, "acleaf": LEAF_NAME, "acredis": REDIS_NAME}
        return finish(env, kind, ids, conc, requests, load, secs, lost, recorded, truth, keep,
                      lambda s: names.get(s["attributes"].get("host.name"), s["attributes"].get("service.name")))
    finally:
        env.cleanup()


# ---- common ----

def stop_recorders(recs):
    lost = 0
    for _, r in recs:
        rc, err = r.stop()
        if rc != 0:
            raise lib.Failure(f"wirespan record failed: {err}")
        for line in err.splitlines():
            if "events lost:" in line:
                lost += int(line.rsplit(":", 1)[1])
    return lost


def finish(env, kind, ids, conc, requests, load, secs, lost, recorded, truth, keep, service_of=None):
    dbs = []
    for h in recorded:
        dbs += ["--db", env.path(f"{h}.db")]
    ours = env.path("ours.jsonl")
    with open(ours, "w") as f:
        subprocess.run([lib.WIRESPAN, "spans", "--json", "--no-traceparent"] + dbs, stdout=f, check=True,
                       timeout=300)
    result = score.score(score.load(truth), score.load(ours), service_of)
    if keep:
        d = os.path.join(keep, f"{kind}-{ids}-{conc}")
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(env.dir):
            if f.endswith((".jsonl", ".db", ".log")):
                subprocess.run(["cp", env.path(f), d], check=True)
    try:
        failed = int(load.stdout.strip() or 0)
    except ValueError:
        failed = -1
    result = dict(chain=kind, ids=ids, concurrency=conc, requests=requests, failed_requests=failed,
                  seconds=round(secs, 1), events_lost=lost, wirespan=lib.WIRESPAN, **result)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chains", default="node,python",
                    help="comma-separated, or 'all': " + ",".join(ALL_CHAINS))
    ap.add_argument("--concurrency", default="1,4,16,64")
    ap.add_argument("--ids", default="plain", help="plain,hashed")
    ap.add_argument("--requests-per-worker", type=int, default=20)
    ap.add_argument("--min-requests", type=int, default=200)
    ap.add_argument("--json", action="store_true", help="one JSON object per run instead of the tables")
    ap.add_argument("--keep", metavar="DIR", help="keep each run's ground truth, spans, databases and logs in DIR")
    ap.add_argument("--no-deps", action="store_true", help="do not run deps.sh")
    ap.add_argument("--record-arg", action="append", default=[], metavar="ARG",
                    help="an argument for every `wirespan record` (repeatable), e.g. --record-arg=--no-asyncio-probes")
    a = ap.parse_args()
    chains = ALL_CHAINS if a.chains == "all" else a.chains.split(",")
    for c in chains:
        if c not in ALL_CHAINS:
            ap.error(f"unknown chain {c!r} (known: {', '.join(ALL_CHAINS)})")
    idss = a.ids.split(",")
    for i in idss:
        if i not in ("plain", "hashed"):
            ap.error(f"unknown ids {i!r}")
    if not a.no_deps:
        subprocess.run(["bash", os.path.join(HERE, "deps.sh")], check=True)
    if any(c in CHAINS for c in chains):
        build()
    if not os.access(lib.WIRESPAN, os.X_OK):
        sys.exit(f"no {lib.WIRESPAN}: run make first")
    results = []
    if not a.json:
        print(score.SUMMARY_HEAD, flush=True)
    for kind in chains:
        for ids in idss:
            for c in (int(x) for x in a.concurrency.split(",")):
                n = max(a.min_requests, c * a.requests_per_worker)
                run = run_otel_chain if kind in OTEL_CHAINS else run_service_chain
                try:
                    r = run(kind, c, n, ids, a.keep, a.record_arg)
                except (lib.Failure, subprocess.SubprocessError, OSError) as e:
                    print(f"{kind} ids={ids} concurrency={c}: failed: {e}", file=sys.stderr, flush=True)
                    continue
                results.append(r)
                if a.json:
                    print(json.dumps(r), flush=True)
                else:
                    print(score.summary_row(r), flush=True)
                    if r["failed_requests"] or r["events_lost"]:
                        print(f"  ({kind} ids={ids} concurrency={c}: failed requests {r['failed_requests']}, "
                              f"events lost {r['events_lost']})", flush=True)
    if not a.json and results:
        print("\nLinks by method (scope: in-process = a client span under a server span of its own service):\n")
        print(score.METHOD_HEAD)
        for r in results:
            print("\n".join(score.method_rows(r)))
        print("\nLinks by confidence:\n")
        print(score.CONF_HEAD)
        for r in results:
            print("\n".join(score.conf_rows(r)))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
