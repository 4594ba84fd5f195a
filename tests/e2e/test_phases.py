"""Where the time went: faults injected between two network-namespace
hosts (client wsa, server wsb, one agent per host), and the phases,
retransmissions and verdicts wirespan reports for them. Each scenario
also checks that the requests the fault did not touch are not blamed."""
import os
import re
import subprocess
import time

from lib import (PYTHON, ROOT, WIRESPAN, Failure, Recorder, Tcpdump, attr, check, check_eq, curl, of_path, run,
                 spans, wait_port)

SERVER = os.path.join(ROOT, "tests", "e2e", "faultserver.py")
WSDROP = os.path.join(ROOT, "build", "wsdrop")
CLI, SRV = "198.18.0.1", "198.18.0.2"
PORT = 18420
MS = 1000000


def setup(env):
    env.add_hosts()
    env.spawn(env.in_ns("wsb", [PYTHON, SERVER, SRV, str(PORT)]))
    wait_port(SRV, PORT, "wsb")
    recs = {h: Recorder(env, env.path(f"{h}.db"), "--netns", f"/run/netns/{h}", "--port", str(PORT))
            for h in ("wsa", "wsb")}
    return recs


def get(path, ns="wsa", port=PORT):
    curl(f"http://{SRV}:{port}{path}", ns=ns)


def finish(env, recs):
    for r in recs.values():
        r.stop_ok()
    dbs = ["--db", env.path("wsa.db"), "--db", env.path("wsb.db")]
    all_spans = spans(env.path("wsa.db"), "--db", env.path("wsb.db"))
    return dbs, all_spans


def exchange(all_spans, path):
    """The client span (recorded on wsa) and server span (on wsb) of path,
    named by its route (/ok/{id})."""
    cli = of_path(all_spans, path, "client")
    srv = of_path(all_spans, path, "server")
    check_eq(len(cli), 1, f"client spans of {path}")
    check_eq(len(srv), 1, f"server spans of {path}")
    check_eq(attr(srv[0], "wirespan.link.method"), "tcp", f"link of the server span of {path}")
    check_eq(srv[0]["parent_span_id"], cli[0]["span_id"], f"parent of the server span of {path}")
    return cli[0], srv[0]


def phase(s, name):
    v = attr(s, f"wirespan.phase.{name}_ns")
    check(v is not None, f"{s['name']} has no phase {name}: {s['attributes']}")
    return v


def verdict(dbs, trace_id):
    out = run([WIRESPAN, "explain"] + dbs + [trace_id]).stdout
    m = re.search(r"^verdict: (.*)$", out, re.M)
    check(m is not None, f"explain printed no verdict:\n{out}")
    if os.environ.get("WIRESPAN_SHOW"):  # the waterfall, for a person reading the run
        print(out)
    return m.group(1), out


def network_small(cli, what, limit_ms=5):
    for p in ("request_in_flight", "response_in_flight"):
        check(phase(cli, p) < limit_ms * MS, f"{what}: {p} {phase(cli, p) / MS:.2f} ms, want < {limit_ms} ms")
    check_eq(attr(cli, "wirespan.tcp.retransmits"), 0, f"{what}: retransmissions")


def test_fault_loss(env):
    """A tc/BPF program on the server's veth drops the first segment of one
    request: that exchange shows one retransmission and a stall of one RTO
    (within 10%), in the request's flight; the others none."""
    recs = setup(env)
    drop = env.spawn(env.in_ns("wsb", [WSDROP, "--dev", "veth-wsb", "--ingress", "--match", "GET /ok/loss",
                                       "--for", "60"]), stdout=subprocess.PIPE, text=True)
    check("attached" in drop.stdout.readline(), "wsdrop did not attach")
    for n in range(3):
        get(f"/ok/{n}")
    get("/ok/loss")
    for n in range(3, 6):
        get(f"/ok/{n}")
    drop.terminate()
    out = drop.communicate(timeout=10)[0]
    check("dropped 1" in out, f"wsdrop: {out}")
    dbs, all_spans = finish(env, recs)

    cli, srv = exchange(all_spans, "/ok/loss")
    for s in (cli, srv):
        check_eq(attr(s, "wirespan.tcp.retransmits"), 1, f"retransmissions on the {s['kind']} span of /ok/loss")
    rto = attr(cli, "wirespan.tcp.rto_us") * 1000
    stall = attr(cli, "wirespan.tcp.retransmit_stall_ns")
    check(abs(stall - rto) <= 0.1 * rto, f"stall {stall / MS:.1f} ms, RTO {rto / MS:.1f} ms: not within 10%")
    flight = phase(cli, "request_in_flight")
    check(abs(flight - stall) <= 0.1 * rto, f"request in flight {flight / MS:.1f} ms, stall {stall / MS:.1f} ms")
    check(phase(cli, "server_processing") < 50 * MS, "the server is blamed for a lost segment")
    check("wirespan.clock.offset_ns" in srv["attributes"], "no clock offset between the two hosts")
    check(abs(attr(srv, "wirespan.clock.offset_ns")) < 1 * MS, "the hosts share a clock: offset should be ~0")
    v, out = verdict(dbs, cli["trace_id"])
    check(v.startswith(f"{flight / MS:.2f}ms of") or "request in flight" in v, f"verdict: {v}")
    check("request in flight from curl to python3" in v and "1 retransmission" in v, f"verdict: {v}")
    check("clock: " in out, f"explain shows no clock offset:\n{out}")
    for n in range(6):
        c, _ = exchange(all_spans, f"/ok/{n}")
        network_small(c, f"/ok/{n}")
    # TCP health: the client's connection to the server retransmitted once
    health = run([WIRESPAN, "tcp", "--json", "--by", "peer"] + dbs).stdout
    check(re.search(r'"group":"to 198\.18\.0\.2:18420"[^}]*"retransmits":1,', health),
          f"wirespan tcp does not show the retransmission:\n{health}")


def test_fault_server_delay(env):
    """One request sleeps 300 ms in the server: its server processing is
    300 ms within 5% (off CPU), its network phases stay small, and the
    verdict names the server."""
    recs = setup(env)
    for n in range(3):
        get(f"/ok/{n}")
    get("/sleep/300/x")
    for n in range(3, 5):
        get(f"/ok/{n}")
    dbs, all_spans = finish(env, recs)
    cli, srv = exchange(all_spans, "/sleep/300/x")
    proc = phase(srv, "server_processing")
    check(abs(proc - 300 * MS) <= 0.05 * 300 * MS, f"server processing {proc / MS:.1f} ms, want 300 ms +-5%")
    check(attr(srv, "wirespan.sched.off_cpu_ns") >= 290 * MS, f"off CPU: {srv['attributes']}")
    network_small(cli, "/sleep/300")
    v, _ = verdict(dbs, cli["trace_id"])
    check(re.match(r"\d+\.\d+ms of \d+\.\d+ms: server processing at python3 \(pid \d+\) after the request was read"
                   r"(, [^;]*)?; network ", v), f"verdict: {v}")
    for n in range(5):
        c, s = exchange(all_spans, f"/ok/{n}")
        network_small(c, f"/ok/{n}")
        check(phase(s, "server_processing") < 50 * MS, f"/ok/{n} blamed on the server")


def test_fault_bandwidth(env):
    """A tbf qdisc caps the server's link at 8 Mbit/s: a 1 MB response's
    transfer time grows to about 1 s and is attributed to the network, not
    to the server; small responses stay quick."""
    recs = setup(env)
    get("/ok/0")
    run(["ip", "netns", "exec", "wsb", "tc", "qdisc", "add", "dev", "veth-wsb", "root", "tbf", "rate", "8mbit",
         "burst", "32kb", "latency", "400ms"])
    get("/big/1000000/x")
    get("/ok/1")
    dbs, all_spans = finish(env, recs)
    cli, srv = exchange(all_spans, "/big/1000000/x")
    want = 1000000 * 8 / 8e6 * 1e9  # ns at the capped rate
    transfer = phase(cli, "response_send") + phase(cli, "response_in_flight")
    check(0.8 * want <= transfer <= 1.5 * want,
          f"response send + in flight {transfer / MS:.0f} ms, want about {want / MS:.0f} ms")
    check(phase(srv, "server_processing") < 50 * MS, "the server is blamed for a slow link")
    v, _ = verdict(dbs, cli["trace_id"])
    check("response" in v and "server processing" not in v, f"verdict: {v}")
    for n in range(2):
        c, s = exchange(all_spans, f"/ok/{n}")
        check(phase(c, "response_in_flight") + phase(s, "response_send") < 20 * MS, f"/ok/{n}: slow transfer")


def cpu_cgroup(env, pid, quota_us):
    """Put pid in a cgroup with a CPU quota per 100 ms (v2 or v1)."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        base = "/sys/fs/cgroup/wirespan-test"
        os.makedirs(base, exist_ok=True)
        with open(os.path.join(base, "cpu.max"), "w") as f:
            f.write(f"{quota_us} 100000")
    else:
        base = "/sys/fs/cgroup/cpu/wirespan-test"
        os.makedirs(base, exist_ok=True)
        with open(os.path.join(base, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(base, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(quota_us))
    with open(os.path.join(base, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    return base


def test_fault_cpu_quota(env):
    """The server's cgroup gets 10% of a CPU: a request that needs 150 ms of
    CPU waits runnable but not running for most of its server processing.
    Requests served before the quota are not blamed on the scheduler."""
    env.add_hosts()
    server = env.spawn(env.in_ns("wsb", [PYTHON, SERVER, SRV, str(PORT)]))
    wait_port(SRV, PORT, "wsb")
    recs = {h: Recorder(env, env.path(f"{h}.db"), "--netns", f"/run/netns/{h}", "--port", str(PORT))
            for h in ("wsa", "wsb")}
    for n in range(3):
        get(f"/ok/{n}")
    # ip netns exec runs python as a child: move the whole server
    pids = run(["pgrep", "-f", f"{SERVER} {SRV} {PORT}"]).stdout.split()
    base = None
    try:
        for p in pids:
            base = cpu_cgroup(env, int(p), 10000)
        get("/burn/150/x")
    finally:
        for p in pids:  # back to the root group, then remove ours
            root = os.path.dirname(base) if base else None
            if root:
                try:
                    with open(os.path.join(root, "cgroup.procs"), "w") as f:
                        f.write(p)
                except OSError:
                    pass
        if base:
            os.rmdir(base)
    dbs, all_spans = finish(env, recs)
    cli, srv = exchange(all_spans, "/burn/150/x")
    proc = phase(srv, "server_processing")
    runq = attr(srv, "wirespan.sched.runnable_ns")
    check(proc >= 500 * MS, f"server processing {proc / MS:.0f} ms: the quota did not slow it")
    check(runq >= 0.5 * proc, f"runnable but not running {runq / MS:.0f} ms of {proc / MS:.0f} ms processing")
    v, _ = verdict(dbs, cli["trace_id"])
    check("server processing at python3" in v and "runnable but not running" in v, f"verdict: {v}")
    for n in range(3):
        c, s = exchange(all_spans, f"/ok/{n}")
        check(attr(s, "wirespan.sched.runnable_ns") < 20 * MS, f"/ok/{n} blamed on the scheduler")
        network_small(c, f"/ok/{n}")


def test_fault_accept_backlog(env):
    """The server stops calling accept() for 400 ms: the next connection
    waits in the accept queue for that long, and only that one."""
    recs = setup(env)
    get("/ok/0")
    get("/pause/400/x")
    get("/ok/1")
    get("/ok/2")
    dbs, all_spans = finish(env, recs)
    cli, srv = exchange(all_spans, "/ok/1")
    aq = phase(srv, "accept_queue")
    check(350 * MS <= aq <= 600 * MS, f"accept queue {aq / MS:.0f} ms, want about 400 ms")
    check(phase(cli, "connect") < 50 * MS, "the handshake is blamed for the accept queue")
    v, _ = verdict(dbs, cli["trace_id"])
    check("accept queue at python3" in v, f"verdict: {v}")
    for path in ("/ok/0", "/pause/400/x", "/ok/2"):
        c, s = exchange(all_spans, path)
        check(phase(s, "accept_queue") < 50 * MS, f"{path}: accept queue {phase(s, 'accept_queue') / MS:.0f} ms")


def test_server_killed_mid_request(env):
    """The server is killed after reading a request and before answering:
    the request is not lost silently. The client's span ends when the
    connection did, as an error that says the peer closed it (or reset
    it); the server's own span says it closed with no response; the
    request before it is whole, and nothing is counted as lost."""
    recs = setup(env)
    get("/ok/1")
    p = subprocess.run(env.in_ns("wsa", ["curl", "-sS", "-o", "/dev/null", "--max-time", "10",
                                         f"http://{SRV}:{PORT}/die/1"]), capture_output=True, text=True)
    check(p.returncode != 0, f"curl should fail: {p.stderr}")
    time.sleep(0.3)
    dbs, all_spans = finish(env, recs)
    exchange(all_spans, "/ok/1")
    cli = of_path(all_spans, "/die/1", "client")  # named GET /die/{id}
    srv = of_path(all_spans, "/die/1", "server")
    check_eq((len(cli), len(srv)), (1, 1), "spans of the killed request")
    why = attr(cli[0], "wirespan.response.missing")
    check(why in ("peer closed the connection", "connection reset"), f"client: {cli[0]['attributes']}")
    check(attr(cli[0], "error.type") in ("no_response", "ECONNRESET"), f"client error: {cli[0]['attributes']}")
    check_eq(attr(cli[0], "http.response.status_code"), None, "no status")
    check(attr(srv[0], "wirespan.response.missing") in ("connection closed", "connection reset"),
          f"server: {srv[0]['attributes']}")
    check_eq(srv[0]["parent_span_id"], cli[0]["span_id"], "the server span under the client's")
    dur = int(cli[0]["end_time_unix_nano"]) - int(cli[0]["start_time_unix_nano"])
    check(0 < dur < 5000 * MS, f"the client span ends when the connection did: {dur / MS:.1f} ms")
    for db in (env.path("wsa.db"), env.path("wsb.db")):
        n = run(["sqlite3", db, "SELECT value FROM counters WHERE name = 'requests_without_response'"]).stdout
        check_eq(n.strip(), "1", f"{db}: requests without response")



def test_two_recorders_one_machine_share_a_clock(env):
    """Two recorders on one machine, each calling it a host of its own
    (--host edge for curl, --host app for the python3 server): they share
    the kernel's boot id, so the clock offset between them is 0 by fact,
    not an estimate, and no made-up flight time comes of it."""
    port = 18431
    env.python_http(port)
    recs = [Recorder(env, env.path("edge.db"), "--host", "edge", "--comm", "curl", "--port", str(port)),
            Recorder(env, env.path("app.db"), "--host", "app", "--comm", "python3", "--port", str(port))]
    for n in range(5):
        curl(f"http://127.0.0.1:{port}/?n={n}")
    for r in recs:
        r.stop_ok()
    dbs = ["--db", env.path("edge.db"), "--db", env.path("app.db")]
    got = spans(env.path("edge.db"), "--db", env.path("app.db"))
    srv = [s for s in got if s["kind"] == "server"]
    check_eq(len(srv), 5, "server spans")
    for s in srv:
        check_eq(attr(s, "host.name"), "app", "server host")
        check_eq(attr(s, "wirespan.link.method"), "tcp", "joined to curl's span")
        check_eq(attr(s, "wirespan.clock.offset_ns"), 0, "offset between edge and app")
    _, out = verdict(dbs, srv[0]["trace_id"])
    check("clock: edge and app share one clock" in out or "clock: app and edge share one clock" in out, out)
    check("behind" not in out and "ahead of" not in out, out)


def test_refused_backend_inside_its_request(env):
    """nginx proxies to a backend that is down: its refused connect is a
    span inside the request's trace (under nginx's server span), the trace
    is an error trace, and the verdict names the failed connect, with no
    phase longer than the trace."""
    port, backend = 18433, 18434  # nothing listens on the backend port
    env.nginx(port, f"location / {{ proxy_pass http://127.0.0.1:{backend}; }}")
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port), "--port", str(backend))
    p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/x"],
                       capture_output=True, text=True, timeout=30)
    check_eq(p.stdout, "502", "curl's status")
    rec.stop_ok()
    got = spans(db)
    srv = [s for s in got if s["kind"] == "server" and s["name"] == "GET /x"]
    cli = [s for s in got if s["kind"] == "client" and s["name"] == "GET /x"]
    conn = [s for s in got if s["name"] == "connect"]
    check_eq((len(cli), len(srv), len(conn)), (1, 1, 1), f"spans: {[(s['kind'], s['name']) for s in got]}")
    check_eq(attr(srv[0], "http.response.status_code"), 502, "nginx answered 502")
    check_eq(attr(conn[0], "error.type"), "ECONNREFUSED", "the connect failed")
    check_eq(conn[0]["parent_span_id"], srv[0]["span_id"], "the connect is nginx's call for the request")
    check_eq(conn[0]["trace_id"], cli[0]["trace_id"], "one trace")
    out = run([WIRESPAN, "traces", "--db", db]).stdout
    line = [l for l in out.splitlines() if l.startswith(cli[0]["trace_id"])]
    check(len(line) == 1 and "errors" in line[0], f"an error trace:\n{out}")
    v, text = verdict(["--db", db], cli[0]["trace_id"])
    m = re.match(r"(\S+) of (\S+): ", v)
    check(m is not None, v)

    def ns(d):
        units = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}
        u = re.sub(r"[0-9.]", "", d)
        return float(d[:-len(u)]) * units[u]
    check(ns(m.group(1)) <= ns(m.group(2)), f"a phase longer than the trace: {v}")
    check("connect from nginx" in v and "ECONNREFUSED" in v, f"the verdict names the failed connect: {v}")


NAGLE_SERVER = r"""
import socket, sys, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(8)
body = b"x" * 33 + b"\n"
head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" % len(body)
        + b"X-Padding: " + b"p" * 60 + b"\r\n\r\n")
while True:
    c, _ = srv.accept()
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        buf += d
        while b"\r\n\r\n" in buf:
            req, buf = buf.split(b"\r\n\r\n", 1)
            c.send(head)   # two writes, Nagle on: the second waits for
            if b"/slow" in req:  # (not here: the body is late, not held)
                time.sleep(0.06)
            c.send(body)   # the ACK of the first, which the client delays
    c.close()
"""


def test_nagle_hold_is_not_network(env):
    """A server writes a response's header and body in two small writes
    with Nagle on; the client delays its ACKs, so the body waits in the
    server's TCP for about 40 ms. Those bytes were never in flight: the
    phase is `response_held` (Nagle), not network, and the verdict says so,
    live and from a capture of the same traffic. A body the server itself
    wrote 60 ms late is not called held, in either."""
    import socket
    port = 18435
    script = env.path("nagle.py")
    with open(script, "w") as f:
        f.write(NAGLE_SERVER)
    env.spawn([PYTHON, script, str(port)])
    wait_port("127.0.0.1", port)
    db = env.path("t.db")
    dump = Tcpdump(env, None, env.path("lo.pcap"), "-i", "lo", "tcp port %d" % port)
    rec = Recorder(env, db, "--port", str(port))
    paths = [f"/n{n}" for n in range(12)] + ["/slow0", "/slow1"]
    with socket.create_connection(("127.0.0.1", port)) as s:
        for path in paths:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            got = b""
            while not got.endswith(b"x\n"):
                got += s.recv(65536)
    rec.stop_ok()
    dump.stop()
    pdb = env.path("p.db")
    run([WIRESPAN, "pcap", "--db", pdb, env.path("lo.pcap")])
    for what, d in (("live", db), ("capture", pdb)):
        got = spans(d)
        srv = [s for s in got if s["kind"] == "server" and s["name"].startswith("GET /n")]
        check_eq(len(srv), 12, f"{what}: server spans")
        held = [s for s in srv if (attr(s, "wirespan.phase.response_held_ns") or 0) > 30 * MS]
        check(len(held) >= 3, f"{what}: responses held about 40 ms: "
              f"{[attr(s, 'wirespan.phase.response_held_ns') for s in srv]}")
        for s in held:
            check(attr(s, "wirespan.phase.response_held_ns") < 60 * MS,
                  f"{what}: held {attr(s, 'wirespan.phase.response_held_ns')}")
            flight = attr(s, "wirespan.phase.response_in_flight_ns")
            check(flight is None or flight < 5 * MS, f"{what}: the hold is not flight: {flight}")
        who = "python3" if what == "live" else f"127.0.0.1:{port}"
        v, _ = verdict(["--db", d], held[0]["trace_id"])
        check(f"response held by {who}" in v and "Nagle" in v, f"{what}: verdict: {v}")
        m = re.search(r"network ([0-9.]+)(ns|us|ms|s)$", v)
        net = float(m.group(1)) * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[m.group(2)] if m else 0
        check(net < 5 * MS, f"{what}: network stays small (the hold is not network): {v}")
        for s in (s for s in got if s["kind"] == "server" and s["name"].startswith("GET /slow")):
            check(not attr(s, "wirespan.phase.response_held_ns"), f"{what}: {s['name']}: the late body is not held")
            v, _ = verdict(["--db", d], s["trace_id"])
            check("held" not in v, f"{what}: {s['name']}: the late body is not held: {v}")


def test_backend_syn_retransmission_counted_once(env):
    """nginx's first SYN to its backend is dropped: its connect takes one
    SYN timeout (1 s). That second belongs to nginx's call, once: the
    verdict names the connect and its retransmission, nginx's own
    processing is not blamed for it, and the network total counts it once."""
    env.add_hosts()
    port, backend = 18436, 18437
    env.python_http(backend, ns="wsb")
    env.nginx(port, f"location / {{ proxy_pass http://127.0.0.1:{backend}; }}", ns="wsb", bind=SRV)
    drop = env.spawn(env.in_ns("wsb", [WSDROP, "--dev", "lo", "--ingress", "--syn", "--dport", str(backend),
                                       "--for", "60"]), stdout=subprocess.PIPE, text=True)
    check("attached" in drop.stdout.readline(), "wsdrop did not attach")
    db = env.path("wsb.db")
    rec = Recorder(env, db, "--netns", "/run/netns/wsb", "--port", str(port), "--port", str(backend))
    get("/slow", port=port)
    rec.stop_ok()
    got = spans(db)
    srv = [s for s in got if s["kind"] == "server" and s["name"] == "GET /slow" and attr(s, "server.port") == port]
    call = [s for s in got if s["kind"] == "client" and s["name"] == "GET /slow"]
    check_eq((len(srv), len(call)), (1, 1), f"spans: {[(s['kind'], s['name']) for s in got]}")
    check_eq(call[0]["parent_span_id"], srv[0]["span_id"], "nginx's call under its request")
    check(900 * MS < phase(call[0], "connect") < 1500 * MS, f"connect {phase(call[0], 'connect') / MS:.0f} ms")
    v, _ = verdict(["--db", db], srv[0]["trace_id"])
    check("connect from nginx" in v and "1 retransmission" in v, f"the connect is the cause: {v}")
    m = re.search(r"; network ([0-9.]+)(s|ms|us|ns)\b", v)
    check(m is not None and m.group(2) == "s" and float(m.group(1)) < 1.5, f"the second counted once: {v}")
    check("server processing at nginx" not in v, f"nginx is not blamed for its call's connect: {v}")
