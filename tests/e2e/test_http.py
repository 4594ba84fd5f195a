"""HTTP/1.x end to end: curl, wrk and Node.js against python3 http.server,
nginx and a Node.js server, recorded live with eBPF."""
import os
import stat
import subprocess

from lib import (PYTHON, ROOT, Recorder, attr, by_kind, check, check_eq, curl, on_port, run, sides, spans, WIRESPAN)


def pairs(server_spans, client_spans):
    """Match each server span to its client span by the connection's client
    port and the TCP sequence number of the request's first byte, which both
    sides see alike."""
    key = lambda s: (attr(s, "client.port"), attr(s, "wirespan.request.seq"))
    srv = {key(s): s for s in server_spans}
    cli = {key(s): s for s in client_spans}
    check_eq(set(srv), set(cli), "server and client spans joined by (client port, request seq)")
    return [(srv[k], cli[k]) for k in srv]


def test_python_http10(env):
    """N curl processes against python3 -m http.server (HTTP/1.0, one
    connection per request): exactly N server and N client spans."""
    port, n = 18080, 20
    www = env.python_http(port)
    with open(os.path.join(www, "hello.txt"), "w") as f:
        f.write("hello\n")
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    for _ in range(n):
        curl(f"http://127.0.0.1:{port}/hello.txt")
    rec.stop_ok()

    check_eq(stat.S_IMODE(os.stat(db).st_mode), 0o600, "database file mode")
    ss = on_port(spans(db), port)
    srv, cli = sides(ss, n)
    for s in ss:
        check_eq(s["name"], "GET /hello.txt", "span name")
        check_eq(attr(s, "http.request.method"), "GET", "method")
        check_eq(attr(s, "url.path"), "/hello.txt", "path")
        check_eq(attr(s, "http.response.status_code"), 200, "status")
        check_eq(attr(s, "http.response.body.size"), 6, "response body size")
        check_eq(attr(s, "server.address"), "127.0.0.1", "server.address")
        check_eq(attr(s, "network.protocol.name"), "http", "protocol")
        check(len(s["trace_id"]) == 32 and len(s["span_id"]) == 16, f"ids: {s['trace_id']} {s['span_id']}")
        check(s["end_time_unix_nano"] >= s["start_time_unix_nano"], "end before start")
    for s in srv:
        check_eq(attr(s, "service.name"), "python3", "server service.name")
        check_eq(attr(s, "network.local.port"), port, "server local port")
    for s in cli:
        check_eq(attr(s, "service.name"), "curl", "client service.name")
        check_eq(attr(s, "network.peer.port"), port, "client peer port")
    for s, c in pairs(srv, cli):
        # the server's part lies inside the client's (one clock; the server's
        # last write may return a moment after the client read its bytes)
        check(c["start_time_unix_nano"] <= s["start_time_unix_nano"], "server span starts before its client span")
        check(s["end_time_unix_nano"] <= c["end_time_unix_nano"] + 2_000_000, "server span ends after its client span")
        check_eq(attr(s, "client.port"), attr(c, "network.local.port"), "client port seen from both sides")


def test_python_keepalive(env):
    """One curl, ten URLs on one keep-alive connection to a thread-per-
    connection HTTP/1.1 python server, and a POST with a body."""
    port, n = 18081, 10
    www = env.python_http(port, http11=True)
    for i in range(n):
        with open(os.path.join(www, f"k{i}.txt"), "w") as f:
            f.write("x" * (i + 1))
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    curl(*[f"http://127.0.0.1:{port}/k{i}.txt" for i in range(n)])
    curl("-X", "POST", "--data-binary", "a" * 1000, "-H", "Content-Type: text/plain",
         f"http://127.0.0.1:{port}/echo")
    rec.stop_ok()

    ss = on_port(spans(db), port)
    srv, cli = sides(ss, n + 1)
    for kind in (srv, cli):
        gets = [s for s in kind if attr(s, "http.request.method") == "GET"]
        check_eq([attr(s, "url.path") for s in gets], [f"/k{i}.txt" for i in range(n)], "paths in order")
        check_eq([attr(s, "http.response.body.size") for s in gets], list(range(1, n + 1)), "body sizes")
        check_eq(len({attr(s, "client.port") for s in gets}), 1, "one connection for the keep-alive requests")
        check_eq(len({attr(s, "wirespan.conn.id") for s in gets}), 1, "one connection id")
        seqs = [attr(s, "wirespan.request.seq") for s in gets]
        check(all((b - a) % 2**32 > 0 for a, b in zip(seqs, seqs[1:])), f"request seqs increase: {seqs}")
        post = [s for s in kind if attr(s, "http.request.method") == "POST"]
        check_eq(len(post), 1, "POST spans")
        check_eq(attr(post[0], "http.request.body.size"), 1000, "request body size")
        check_eq(attr(post[0], "http.request.header.content-type"), "text/plain", "request content type")
        check_eq(attr(post[0], "network.protocol.version"), "1.1", "protocol version")
    pairs(srv, cli)


def test_nginx_keepalive(env):
    """curl against nginx on one connection: static file, HEAD, 404, 405, a
    gzip'd chunked response, and a 100 KiB file sent with sendfile. The
    server spans must match nginx's own access log."""
    port = 18082
    prefix = env.nginx(port)
    www = os.path.join(prefix, "www")
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<html>" + "i" * 600 + "</html>\n")
    with open(os.path.join(www, "text.txt"), "w") as f:
        f.write("compress me please " * 300)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(os.urandom(100 * 1024))
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    u = f"http://127.0.0.1:{port}"
    run(["curl", "-sS", "-o", "/dev/null", u + "/index.html",
         "--next", "-sS", "-o", "/dev/null", "-I", u + "/index.html",
         "--next", "-sS", "-o", "/dev/null", u + "/missing",
         "--next", "-sS", "-o", "/dev/null", "-X", "POST", "-d", "x=1", u + "/index.html",
         "--next", "-sS", "-o", "/dev/null", "--compressed", u + "/text.txt",
         "--next", "-sS", "-o", "/dev/null", u + "/big.bin"])
    rec.stop_ok()

    want = [("GET", "/index.html", 200), ("HEAD", "/index.html", 200), ("GET", "/missing", 404),
            ("POST", "/index.html", 405), ("GET", "/text.txt", 200), ("GET", "/big.bin", 200)]
    log = open(os.path.join(prefix, "logs", "access.log")).read().splitlines()
    check_eq(len(log), len(want), "nginx access log lines")
    ss = on_port(spans(db), port)
    for kind, service in (("server", "nginx"), ("client", "curl")):
        k = by_kind(ss, kind)
        got = [(attr(s, "http.request.method"), attr(s, "url.path"), attr(s, "http.response.status_code")) for s in k]
        check_eq(got, want, f"{kind} spans")
        check(all(attr(s, "service.name") == service for s in k), f"{kind} service.name")
        check_eq(len({attr(s, "client.port") for s in k}), 1, f"{kind}: one connection")
        check_eq(attr(k[0], "http.response.body.size"), 614, "index.html body")
        check_eq(attr(k[1], "http.response.body.size"), 0, "HEAD body")
        check_eq(attr(k[4], "wirespan.response.chunked"), True, "gzip response is chunked")
        check(0 < attr(k[4], "http.response.body.size") < 5700, "compressed body is smaller")
        check_eq(attr(k[5], "http.response.body.size"), 100 * 1024, "sendfile body size")
        check_eq(attr(k[3], "http.request.body.size"), 3, "POST body size")
        if kind == "client":
            check_eq(attr(k[3], "error.type"), "405", "client 4xx is an error")
    statuses = [int(line.split('"')[2].split()[0]) for line in log]
    check_eq(statuses, [w[2] for w in want], "statuses in the access log")
    pairs(by_kind(ss, "server"), by_kind(ss, "client"))


def test_wrk_nginx(env):
    """wrk with keep-alive against nginx for two seconds: as many server and
    client spans as nginx logged requests, none lost."""
    port = 18083
    prefix = env.nginx(port)
    with open(os.path.join(prefix, "www", "index.html"), "w") as f:
        f.write("ok\n")
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    run(["wrk", "-t", "1", "-c", "4", "-d", "2s", f"http://127.0.0.1:{port}/index.html"])
    err = rec.stop_ok()
    log = open(os.path.join(prefix, "logs", "access.log")).read().splitlines()
    # wrk stops with up to one request in flight per connection: nginx logs
    # them, but its answer may fail on the closed socket (not completed) or
    # be written and never read by wrk (completed, no client span)
    n = sum(1 for line in log if line.endswith(" OK"))
    check(n > 1000 and len(log) - n <= 4, f"wrk made {len(log)} requests, {n} completed")
    ss = on_port(spans(db), port)
    # a request wrk left in flight is a span with an error (no response),
    # or, when nginx's answer was cut off by the closed socket, a span
    # that says its response is incomplete
    cut = [s for s in ss if attr(s, "wirespan.response.missing") or attr(s, "wirespan.response.incomplete")]
    check(len(cut) <= 8 and all(attr(s, "error.type") in ("no_response", "ECONNRESET") for s in cut
                                if attr(s, "wirespan.response.missing")),
          f"requests left in flight: {[(s['kind'], s['attributes']) for s in cut]}")
    ss = [s for s in ss if s not in cut]
    srv, cli = by_kind(ss, "server"), by_kind(ss, "client")
    check_eq(len(srv), n, f"server spans for {n} completed requests ({err.strip()})")
    check(n - 4 <= len(cli) <= n, f"client spans (wrk): {len(cli)} for {n} requests")
    check(all(attr(s, "http.response.status_code") == 200 for s in ss), "all 200")
    check(all(attr(s, "service.name") == "wrk" for s in cli), "client service is wrk")


NODE_SERVER = r"""
const http = require('http');
const srv = http.createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'text/plain'});
  res.write('first part;');
  setImmediate(() => { res.write('second part;'); res.end('end'); });
});
srv.keepAliveTimeout = 30000;
srv.listen(+process.argv[2], '127.0.0.1');
"""


def test_node_chunked(env):
    """A Node.js server streaming chunked responses (several writes each) on
    a keep-alive connection."""
    port, n = 18084, 5
    js = env.path("server.js")
    with open(js, "w") as f:
        f.write(NODE_SERVER)
    env.spawn(["node", js, str(port)])
    from lib import wait_port
    wait_port("127.0.0.1", port)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    curl(*[f"http://127.0.0.1:{port}/stream/{i}" for i in range(n)])
    rec.stop_ok()
    ss = on_port(spans(db), port)
    srv, cli = sides(ss, n)
    for s in ss:
        check_eq(attr(s, "wirespan.response.chunked"), True, "chunked")
        check_eq(attr(s, "http.response.body.size"), len("first part;second part;end"), "body size")
    check(all(attr(s, "service.name") == "node" for s in srv), "server service is node")
    check_eq([attr(s, "url.path") for s in srv], [f"/stream/{i}" for i in range(n)], "paths")
    check(all(s["name"] == "GET /stream/{id}" and attr(s, "url.template") == "/stream/{id}" for s in ss),
          f"named by the route: {[(s['name'], attr(s, 'url.template')) for s in ss]}")


CLIENT_SCRIPT = r"""
import http.client, sys, time
port = int(sys.argv[1])
c = http.client.HTTPConnection('127.0.0.1', port)
c.request('GET', '/before.txt'); c.getresponse().read()
print('connected', flush=True)
sys.stdin.readline()            # wait: the recording starts now
for i in range(3):
    c.request('GET', f'/after{i}.txt'); c.getresponse().read()
print('done', flush=True)
sys.stdin.readline()
"""


def test_started_mid_connection(env):
    """A keep-alive connection opened before recording starts: the requests
    made after the start are all recorded, on both sides."""
    port = 18085
    www = env.python_http(port, http11=True)
    for name in ("before.txt", "after0.txt", "after1.txt", "after2.txt"):
        with open(os.path.join(www, name), "w") as f:
            f.write(name)
    script = env.path("client.py")
    with open(script, "w") as f:
        f.write(CLIENT_SCRIPT)
    client = env.spawn([PYTHON, script, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    check_eq(client.stdout.readline().strip(), "connected", "client")
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    client.stdin.write("\n")
    client.stdin.flush()
    check_eq(client.stdout.readline().strip(), "done", "client")
    rec.stop_ok()
    client.stdin.write("\n")
    client.stdin.flush()
    ss = on_port(spans(db), port)
    for kind in ("server", "client"):
        k = by_kind(ss, kind)
        check_eq([attr(s, "url.path") for s in k], ["/after0.txt", "/after1.txt", "/after2.txt"], f"{kind} spans")
    check(all(attr(s, "service.name") == "python3" for s in ss), "both sides are python3")


def test_save_and_replay(env):
    """The raw event stream saved during a recording, replayed without the
    kernel, gives the same spans."""
    port, n = 18086, 8
    www = env.python_http(port, http11=True)
    with open(os.path.join(www, "r.txt"), "w") as f:
        f.write("replay")
    db, events, db2 = env.path("t.db"), env.path("events.bin"), env.path("replayed.db")
    rec = Recorder(env, db, "--port", str(port), "--save-events", events)
    curl(*[f"http://127.0.0.1:{port}/r.txt?i={i}" for i in range(n)])
    rec.stop_ok()
    run([WIRESPAN, "replay", "--db", db2, events])
    key = lambda s: (s["kind"], s["name"], attr(s, "url.query"), attr(s, "http.response.status_code"),
                     s["start_time_unix_nano"], s["end_time_unix_nano"])
    live = sorted(key(s) for s in on_port(spans(db), port))
    replayed = sorted(key(s) for s in on_port(spans(db2), port))
    check_eq(len(live), 2 * n, "live spans")
    check_eq(replayed, live, "replayed spans")


def test_ipv6_and_mapped(env):
    """IPv6 on ::1, and a dual-stack server reached over IPv4, whose
    IPv4-mapped addresses are reported as plain IPv4."""
    p6, pdual = 18087, 18088
    www = env.python_http(p6, http11=True, bind="::1")
    with open(os.path.join(www, "six.txt"), "w") as f:
        f.write("6")
    env.spawn([PYTHON, os.path.join(ROOT, "tests", "e2e", "pyserver.py"), "::", str(pdual), www])
    from lib import wait_port
    wait_port("127.0.0.1", pdual)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(p6), "--port", str(pdual))
    curl("-6", f"http://[::1]:{p6}/six.txt")
    curl("-4", f"http://127.0.0.1:{pdual}/six.txt")
    rec.stop_ok()
    ss = spans(db)
    six = on_port(ss, p6)
    check_eq(len(six), 2, "IPv6 spans")
    for s in six:
        check_eq(attr(s, "network.type"), "ipv6", "network.type")
        check_eq(attr(s, "network.peer.address"), "::1", "peer address")
        check_eq(attr(s, "server.address"), "::1", "server address")
    dual = on_port(ss, pdual)
    check_eq(len(dual), 2, "spans to the dual-stack server")
    for s in dual:
        check_eq(attr(s, "network.type"), "ipv4", "IPv4-mapped is IPv4")
        check_eq(attr(s, "network.peer.address"), "127.0.0.1", "mapped peer address")


def test_request_right_after_capturing(env):
    """The moment `capturing` is printed (even with --quiet) every program
    is attached: a request sent at once is captured whole, from both
    ends, and the line says how long start-up took."""
    import re
    import socket
    port = 18089
    env.python_http(port)
    for n in range(3):
        db = env.path(f"t{n}.db")
        rec = Recorder(env, db, "--port", str(port), "--quiet")
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(f"GET /first{n} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            while s.recv(65536):
                pass
        err = rec.stop_ok()
        m = re.search(r"capturing since \S+ \((\d+) ms after start\)", err)
        check(m is not None, f"the capturing line: {err}")
        got = [x for x in spans(db) if x["name"] == f"GET /first{n}"]
        check_eq(sorted(x["kind"] for x in got), ["client", "server"], f"the first request, run {n}")
        if os.environ.get("WS_TEST_REPORT"):
            print(f"start-up: {m.group(1)} ms")

