"""Distributed traces: spans of several hosts, each recorded by its own
agent into its own database, assembled into whole traces."""
import json
import os
import re
import threading

from lib import (PYTHON, ROOT, WIRESPAN, Failure, Recorder, attr, check, check_eq, curl, of_path, route, run,
                 spans)

CHAIN = os.path.join(ROOT, "bench", "accuracy", "pychain.py")
HOSTS = {"wsc": "198.18.1.10", "wh1": "198.18.1.1", "wh2": "198.18.1.2", "wh3": "198.18.1.3"}
PA, PB, PC = 18210, 18211, 18212


def start_chain(env, pool=True):
    """svc-a calls svc-b then svc-c; svc-b calls svc-c: three hosts, python3
    thread-per-request servers with no tracing of their own."""
    env.add_lan(HOSTS)
    b, c = HOSTS["wh2"], HOSTS["wh3"]
    services = [
        ("svc-a", "wh1", PA, {"/order": [f"http://{b}:{PB}/price/{{n}}", f"http://{c}:{PC}/stock/{{n}}"]}),
        ("svc-b", "wh2", PB, {"/price": [f"http://{c}:{PC}/tax/{{n}}"]}),
        ("svc-c", "wh3", PC, {"/stock": [], "/tax": []}),
    ]
    for name, ns, port, routes in services:
        cmd = [PYTHON, CHAIN, name, HOSTS[ns], str(port), json.dumps(routes)] + ([] if pool else ["--no-pool"])
        env.spawn(env.in_ns(ns, cmd), env=dict(os.environ, OTEL_SERVICE_NAME=name))
    from lib import wait_port
    for _, ns, port, _ in services:
        wait_port(HOSTS[ns], port, ns)


def record_hosts(env, hosts):
    recs = {}
    for h in hosts:
        db = env.path(f"{h}.db")
        recs[h] = Recorder(env, db, "--netns", f"/run/netns/{h}")
    return recs


def dbs_args(env, hosts):
    out = []
    for h in hosts:
        out += ["--db", env.path(f"{h}.db")]
    return out


def order(n, *extra):
    curl(f"http://{HOSTS['wh1']}:{PA}/order/{n}", *extra, ns="wsc")


# the expected tree of one /order/N request, as (kind service method path)
# lines under their parents (each span named by the route, GET /order/{id}:
# the path tells the requests apart); the client span of curl is not
# recorded (host wsc)
def expected_tree(n):
    return ("server svc-a GET /order/{n}", [
        ("client svc-a GET /price/{n}", [
            ("server svc-b GET /price/{n}", [
                ("client svc-b GET /tax/{n}", [
                    ("server svc-c GET /tax/{n}", [])])])]),
        ("client svc-a GET /stock/{n}", [
            ("server svc-c GET /stock/{n}", [])])])


def tree_of(trace_spans):
    """The spans of one trace as a (label, [children]) tree in start order;
    also checks there is exactly one root."""
    by_id = {s["span_id"]: s for s in trace_spans}
    kids = {}
    roots = []
    for s in sorted(trace_spans, key=lambda s: s["start_time_unix_nano"]):
        p = s["parent_span_id"]
        (kids.setdefault(p, []) if p in by_id else roots).append(s)
    check_eq(len(roots), 1, "roots of the trace")

    def build(s):
        path, what = attr(s, "url.path"), s["name"]
        if path is not None:
            what = f"{attr(s, 'http.request.method')} {path}"
            check_eq(s["name"], f"{attr(s, 'http.request.method')} {route(path)}", f"name of the span of {path}")
        label = f"{s['kind']} {attr(s, 'service.name')} {what}"
        return (label, [build(k) for k in kids.get(s["span_id"], [])])
    return build(roots[0]), roots[0]


def fill(tree, n):
    label, kids = tree
    return (label.replace("{n}", str(n)), [fill(k, n) for k in kids])


def by_trace(ss):
    out = {}
    for s in ss:
        out.setdefault(s["trace_id"], []).append(s)
    return out


def test_three_host_chain(env):
    """Every request through three hosts becomes exactly one trace with the
    expected shape, assembled from three databases; every link is exact."""
    start_chain(env)
    recs = record_hosts(env, ["wh1", "wh2", "wh3"])
    n_seq, n_par, par = 5, 12, 4
    for i in range(n_seq):
        order(i)
    errors = []

    def worker(k):
        try:
            for i in range(n_seq + k, n_seq + n_par, par):
                order(i)
        except Failure as e:
            errors.append(str(e))
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(par)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"requests failed: {errors}")
    for r in recs.values():
        r.stop_ok()

    dbs = dbs_args(env, ["wh1", "wh2", "wh3"])
    ss = spans(dbs[1], *dbs[2:])
    check_eq(len(ss), 7 * (n_seq + n_par), "spans on the three hosts")
    traces = by_trace(ss)
    check_eq(len(traces), n_seq + n_par, "traces")
    seen = set()
    for tid, tss in traces.items():
        tree, root = tree_of(tss)
        n = int(attr(root, "url.path").rsplit("/", 1)[1])
        seen.add(n)
        check_eq(tree, fill(expected_tree(n), n), f"trace of /order/{n}")
        check_eq(root["parent_span_id"], "", "parent of the root")
        for s in tss:
            if s is root:
                continue
            want = "tcp" if s["kind"] == "server" else "thread"
            check_eq(attr(s, "wirespan.link.method"), want, f"link method of {s['name']}")
            check_eq(attr(s, "wirespan.link.confidence"), 1, f"link confidence of {s['name']}")
    check_eq(seen, set(range(n_seq + n_par)), "requests with a trace")

    # `wirespan traces` lists the same traces, one line each
    out = run([WIRESPAN, "traces", "--json"] + dbs).stdout.splitlines()
    listed = [json.loads(line) for line in out]
    check_eq(sorted(t["trace_id"] for t in listed), sorted(traces), "trace ids listed by `wirespan traces`")
    for t in listed:
        check_eq(t["spans"], 7, "spans per listed trace")
        check_eq(t["root"]["service.name"], "svc-a", "root service")
        check_eq(sorted(t["services"]), ["svc-a", "svc-b", "svc-c"], "services of a trace")
    slow = run([WIRESPAN, "traces", "--slowest", "3"] + dbs).stdout.splitlines()
    check_eq(len(slow), 4, "lines of --slowest 3 (header and three traces)")
    only_b = run([WIRESPAN, "traces", "--json", "--service", "svc-b"] + dbs).stdout.splitlines()
    check_eq(len(only_b), n_seq + n_par, "traces through svc-b")

    # explain draws the waterfall: 7 spans indented under their parents
    tid = listed[0]["trace_id"]
    text = run([WIRESPAN, "explain", tid[:12]] + dbs).stdout
    rows = [line for line in text.splitlines()[3:] if re.match(r"\s*(server|client) ", line)]
    check_eq(len(rows), 7, f"explain rows:\n{text}")
    # the phases of each exchange (three calls, and the root's server side)
    # and a verdict naming the largest cause
    check_eq(len(re.findall(r"^\s+phases: ", text, re.M)), 4, f"phase lines:\n{text}")
    check(re.search(r"^verdict: [0-9.]+[mu]?s of [0-9.]+[mu]?s: ", text, re.M), f"verdict:\n{text}")
    check(rows[0].startswith("server svc-a: GET /order/"), f"first row is the root:\n{text}")
    check(rows[1].startswith("  client svc-a: GET /price/"), f"second row is indented under it:\n{text}")
    check(rows[3].startswith("      client svc-b: GET /tax/"), f"fourth row three levels down:\n{text}")
    check("tcp 1" in rows[2] and "thread 1" in rows[1], f"link confidence shown:\n{text}")

    # each database alone keeps its own side: svc-b's server spans have no
    # parent there, and the store holds what record assembled at its end
    alone = spans(env.path("wh2.db"))
    check_eq(len(alone), 2 * (n_seq + n_par), "spans of svc-b's host")
    stored = run(["sqlite3", env.path("wh2.db"),
                  "SELECT count(*) FROM spans s JOIN spans p ON s.parent_span_id = p.span_id "
                  "AND s.trace_id = p.trace_id WHERE s.kind = 'client' AND s.link_method = 'thread'"]).stdout
    check_eq(stored.strip(), str(n_seq + n_par), "links stored by record in svc-b's database")


def test_traceparent_from_curl(env):
    """A traceparent sent by curl becomes the trace id of the whole trace,
    though the services never propagate it; the entry span's parent is the
    caller's span named in the header."""
    start_chain(env)
    recs = record_hosts(env, ["wh1", "wh2", "wh3"])
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = "00f067aa0ba902b7"
    order(41, "-H", f"traceparent: 00-{trace}-{parent}-01")
    order(42)
    for r in recs.values():
        r.stop_ok()
    ss = spans(*dbs_args(env, ["wh1", "wh2", "wh3"])[1:])
    traces = by_trace(ss)
    check_eq(len(traces), 2, "traces")
    check(trace in traces, f"the curl trace id is a trace: {sorted(traces)}")
    check_eq(len(traces[trace]), 7, "spans in the traceparent's trace")
    tree, root = tree_of(traces[trace])
    check_eq(tree, fill(expected_tree(41), 41), "shape of the trace")
    check_eq(root["parent_span_id"], parent, "the root's parent is the span named by traceparent")
    check_eq(attr(root, "wirespan.link.method"), "traceparent", "how the root was linked")
    other = [t for t in traces if t != trace][0]
    check(len(of_path(traces[other], "/order/42")) == 1, "the other request is its own trace (GET /order/{id})")
    # --no-traceparent: links from kernel evidence only, same shape
    ss = spans(*dbs_args(env, ["wh1", "wh2", "wh3"])[1:], "--no-traceparent")
    traces = by_trace(ss)
    check(trace not in traces, "--no-traceparent does not use the header's trace id")
    check_eq(sorted(len(t) for t in traces.values()), [7, 7], "spans per trace without traceparent")


def test_keepalive_connection_carries_two_traces(env):
    """Two requests of different traces on one keep-alive connection (curl
    to svc-a, and svc-a's pooled connection to svc-b) stay apart."""
    start_chain(env)
    recs = record_hosts(env, ["wh1", "wh2", "wh3"])
    t1, t2 = "11111111111111111111111111111111", "22222222222222222222222222222222"
    url = f"http://{HOSTS['wh1']}:{PA}/order/"
    curl("-H", f"traceparent: 00-{t1}-1111111111111111-01", url + "1", "--next",
         "-sS", "-o", "/dev/null", "-H", f"traceparent: 00-{t2}-2222222222222222-01", url + "2", ns="wsc")
    for r in recs.values():
        r.stop_ok()
    ss = spans(*dbs_args(env, ["wh1", "wh2", "wh3"])[1:])
    traces = by_trace(ss)
    check_eq(sorted(traces), [t1, t2], "trace ids")
    a_servers = [s for s in ss if s["kind"] == "server" and attr(s, "service.name") == "svc-a"]
    check_eq(len({attr(s, "wirespan.conn.id") for s in a_servers}), 1, "curl's requests shared one connection")
    a_to_b = [s for s in ss if s["kind"] == "client" and s["name"] == "GET /price/{id}"]
    check_eq(len({attr(s, "wirespan.conn.id") for s in a_to_b}), 1, "svc-a's calls to svc-b shared one connection")
    for n, t in ((1, t1), (2, t2)):
        tree, _ = tree_of(traces[t])
        check_eq(tree, fill(expected_tree(n), n), f"trace {t[:4]}")


def test_trace_ids_stay_valid(env):
    """An id `traces` lists during a recording still finds its trace
    afterwards. The client reads its response late: for a while only the
    server's span is stored, and leads a trace of its own; once the
    client's span is stored it is the caller, and the old id must lead
    to the grown trace."""
    import socket
    import time
    port = 18334
    env.python_http(port)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /late HTTP/1.0\r\nHost: x\r\n\r\n")
    before = []
    for _ in range(40):  # until the server's span is stored (once a second)
        time.sleep(0.25)
        out = run([WIRESPAN, "traces", "--db", db], check_rc=False).stdout
        before = [line.split()[0] for line in out.splitlines()[1:] if "GET /late" in line]
        if before:
            break
    check_eq(len(before), 1, "the server's span listed as a trace during the recording")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    check(data.startswith(b"HTTP/1.0 404"), f"response: {data[:40]!r}")
    rec.stop_ok()
    got = [x for x in spans(db) if x["name"] == "GET /late"]
    check_eq(sorted(x["kind"] for x in got), ["client", "server"], "both spans stored")
    p = run([WIRESPAN, "explain", "--db", db, before[0]], check_rc=False)
    check_eq(p.returncode, 0, f"explain {before[0]} after the recording: {p.stderr}")
    check("2 spans" in p.stdout, f"the grown trace:\n{p.stdout}")
    for short in (before[0][:8], before[0][:16]):
        check_eq(run([WIRESPAN, "explain", "--db", db, short], check_rc=False).returncode, 0, f"explain {short}")
