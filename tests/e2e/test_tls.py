"""TLS: the plaintext of OpenSSL's SSL_read and SSL_write, through uprobes
on the library each process uses (libssl.so.3 for nginx, curl and
python3; the node executable, which carries OpenSSL itself). Servers
count their own requests; every span must join its other end."""
import os

from lib import PYTHON, WIRESPAN, Recorder, attr, by_kind, check, check_eq, on_port, run, spans, sqlite, wait_port

# python3's http.server over TLS, HTTP/1.1 keep-alive, counting requests
# in a file (the server's own count)
PY_SERVER = r"""
import http.server, ssl, sys
port, cert, key, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"python over tls\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(log, "a") as f:
            f.write("GET " + self.path + "\n")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
"""

# http.client over TLS: n requests on one connection
PY_CLIENT = r"""
import http.client, ssl, sys
port, n, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPSConnection("127.0.0.1", port, context=ssl._create_unverified_context())
for i in range(n):
    c.request("GET", f"{prefix}{i}")
    r = c.getresponse()
    r.read()
c.close()
"""

# Node's https: a server counting its requests, or a client making n
# requests on one kept-alive connection
NODE = r"""
const https = require('https'), fs = require('fs');
const [mode, port] = [process.argv[2], +process.argv[3]];
if (mode === 'server') {
  const log = process.argv[6];
  https.createServer({cert: fs.readFileSync(process.argv[4]), key: fs.readFileSync(process.argv[5])}, (q, r) => {
    fs.appendFileSync(log, q.method + ' ' + q.url + '\n');
    r.end('node over tls\n');
  }).listen(port, '127.0.0.1');
} else {
  const n = +process.argv[4], prefix = process.argv[5];
  const agent = new https.Agent({keepAlive: true, maxSockets: 1});
  let i = 0;
  const next = () => {
    if (i >= n) { agent.destroy(); return; }
    https.get({host: '127.0.0.1', port, path: prefix + (i++), agent, rejectUnauthorized: false}, r => {
      r.resume();
      r.on('end', next);
    }).on('error', e => { console.error(e); process.exit(2); });
  };
  next();
}
"""


def write(env, name, text):
    p = env.path(name)
    with open(p, "w") as f:
        f.write(text)
    return p


def joined(srv, cli, what):
    """Every server span's parent is a client span of the same request,
    joined across the connection (TLS: by the place of the request's
    record on the wire)."""
    by_id = {s["span_id"]: s for s in cli}
    for s in srv:
        c = by_id.get(s["parent_span_id"])
        check(c is not None, f"{what}: server span {s['name']} (client port {attr(s, 'client.port')}) has no "
              f"client parent: {s['parent_span_id']!r}")
        check_eq(attr(c, "url.path"), attr(s, "url.path"), f"{what}: path of the parent of {s['name']}")
        check_eq(attr(c, "client.port"), attr(s, "client.port"), f"{what}: connection of {s['name']}")
        check_eq(attr(s, "wirespan.link.method"), "tcp", f"{what}: how {s['name']} was joined")


def tls_attrs(ss, what):
    for s in ss:
        check_eq(attr(s, "tls.established"), True, f"{what}: tls.established of {s['kind']} {s['name']}")
        check_eq(attr(s, "url.scheme"), "https", f"{what}: url.scheme of {s['kind']} {s['name']}")


def counters(db):
    return dict(line.split("|") for line in sqlite(db, "select name, value from counters").split())


def test_tls_nginx_clients(env):
    """nginx over TLS (a self-signed certificate), and three clients, each
    started after recording began: curl (one connection per request, and
    four requests on one connection with a POST), python3's http.client
    and Node's https (each five requests on one connection). nginx's access
    log, the spans of both ends, and their joins must agree; the events
    saved (masked) replay into the same spans."""
    port = 18443
    cert, key = env.cert()
    prefix = env.nginx(port, listen="ssl", extra=f"ssl_certificate {cert}; ssl_certificate_key {key};")
    with open(os.path.join(prefix, "www", "index.html"), "w") as f:
        f.write("tls index\n")
    pyc, node = write(env, "client.py", PY_CLIENT), write(env, "node.js", NODE)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port), "--save-events", env.path("ev.bin"))
    u = f"https://127.0.0.1:{port}"
    for i in range(5):
        run(["curl", "-sSk", "-o", "/dev/null", f"{u}/one/{i}"])
    run(["curl", "-sSk", "-o", "/dev/null", u + "/index.html", "--next", "-sSk", "-o", "/dev/null", u + "/missing",
         "--next", "-sSk", "-o", "/dev/null", "-X", "POST", "-d", "x=1", u + "/index.html",
         "--next", "-sSk", "-o", "/dev/null", u + "/index.html"])
    run([PYTHON, pyc, str(port), "5", "/py/"])
    run(["node", node, "client", str(port), "5", "/node/"])
    rec.stop_ok()

    log = open(os.path.join(prefix, "logs", "access.log")).read().splitlines()
    check_eq(len(log), 19, "nginx access log lines")
    logged = [(line.split('"')[1].split()[0], line.split('"')[1].split()[1], int(line.split('"')[2].split()[0]))
              for line in log]
    ss = on_port(spans(db), port)
    srv = by_kind(ss, "server")
    got = [(attr(s, "http.request.method"), attr(s, "url.path"), attr(s, "http.response.status_code")) for s in srv]
    check_eq(got, logged, "nginx's server spans against its access log")
    check(all(attr(s, "service.name") == "nginx" for s in srv), "server service.name")
    cli = by_kind(ss, "client")
    for service, n in (("curl", 9), ("python3", 5), ("node", 5)):
        check_eq(len([s for s in cli if attr(s, "service.name") == service]), n, f"{service} client spans")
    check_eq(len(cli), 19, "client spans")
    tls_attrs(ss, "nginx")
    joined(srv, cli, "nginx")
    post = [s for s in srv if attr(s, "http.request.method") == "POST"]
    check_eq(attr(post[0], "http.request.body.size"), 3, "POST body size, read as plaintext")
    # the saved events (payloads masked as they were written) give the same spans again
    db2 = env.path("replay.db")
    run([WIRESPAN, "replay", "--db", db2, env.path("ev.bin")])
    again = on_port(spans(db2), port)
    check_eq(sorted((s["kind"], s["name"], attr(s, "client.port")) for s in again),
             sorted((s["kind"], s["name"], attr(s, "client.port")) for s in ss), "spans replayed from --save-events")
    c = counters(db)
    check_eq(c.get("tls_plaintext_untied", "0"), "0", "plaintext of no socket")
    check_eq(c.get("tls_undecrypted_connections", "0"), "0", "TLS connections not decrypted")
    check_eq(int(c.get("tls_connections", 0)), 2 * 8, "TLS connections read as plaintext (both ends of 8)")
    # the system's libssl.so.3 and the node executable (others may be too)
    check(int(c.get("tls_files_probed", 0)) >= 2, f"files probed: {c.get('tls_files_probed')}")


def test_tls_python_and_node_servers(env):
    """python3's ssl module and Node's https as servers, each counting its
    own requests; curl and the other runtime as clients."""
    pport, nport = 18444, 18445
    cert, key = env.cert()
    pylog, nodelog = env.path("py.log"), env.path("node.log")
    pys, pyc, node = write(env, "server.py", PY_SERVER), write(env, "client.py", PY_CLIENT), write(env, "node.js", NODE)
    env.spawn([PYTHON, pys, str(pport), cert, key, pylog])
    env.spawn(["node", node, "server", str(nport), cert, key, nodelog])
    wait_port("127.0.0.1", pport)
    wait_port("127.0.0.1", nport)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(pport), "--port", str(nport))
    run(["curl", "-sSk", "-o", "/dev/null", f"https://127.0.0.1:{pport}/c/0", "--next", "-sSk", "-o", "/dev/null",
         f"https://127.0.0.1:{pport}/c/1", "--next", "-sSk", "-o", "/dev/null", f"https://127.0.0.1:{nport}/c/2"])
    run(["node", node, "client", str(pport), "4", "/from-node/"])
    run([PYTHON, pyc, str(nport), "4", "/from-python/"])
    rec.stop_ok()

    for port, logf, service, n in ((pport, pylog, "python3", 6), (nport, nodelog, "node", 5)):
        served = open(logf).read().splitlines()
        check_eq(len(served), n, f"requests {service} served")
        ss = on_port(spans(db), port)
        srv, cli = by_kind(ss, "server"), by_kind(ss, "client")
        check_eq(sorted(f"GET {attr(s, 'url.path')}" for s in srv), sorted(served), f"{service}'s server spans")
        check(all(attr(s, "service.name") == service for s in srv), f"{service} server service.name")
        check_eq(len(cli), n, f"client spans to {service}")
        tls_attrs(ss, service)
        joined(srv, cli, service)


def test_tls_not_decrypted_is_counted(env):
    """With the TLS probes off (as for a TLS stack wirespan does not see:
    Go's crypto/tls, rustls, Java), TLS connections make no spans, and are
    counted, with their bytes, where the totals are."""
    port = 18446
    cert, key = env.cert()
    env.nginx(port, listen="ssl", extra=f"ssl_certificate {cert}; ssl_certificate_key {key};")
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port), "--no-tls-probes")
    for i in range(3):
        run(["curl", "-sSk", "-o", "/dev/null", f"https://127.0.0.1:{port}/hidden/{i}"])
    rec.stop_ok()
    check_eq(len(on_port(spans(db), port)) if sqlite(db, "select count(*) from spans").strip() != "0" else 0, 0,
             "spans of TLS connections not decrypted")
    c = counters(db)
    # both ends of 3 connections, their handshakes and ciphertext
    check_eq(c.get("tls_undecrypted_connections"), "6", "TLS connections not decrypted")
    check(int(c.get("tls_undecrypted_bytes", 0)) > 6 * 1000, f"their bytes: {c.get('tls_undecrypted_bytes')}")
    check_eq(c.get("tls_connections", "0"), "0", "TLS connections read as plaintext")
    check_eq(c.get("tls_plaintext_calls", "0"), "0", "plaintext events with the probes off")
    check_eq(c.get("tls_files_probed", "0"), "0", "files probed with the probes off")


def test_tls_across_hosts(env):
    """Two hosts (network namespaces on a veth pair), one recording each:
    curl and python3's http.client on one, nginx over TLS on the other.
    The two databases, read together, join every request's two ends by the
    place of its TLS record on the wire, which each host saw on its own."""
    a, b = env.add_hosts()
    port = 18447
    cert, key = env.cert()
    env.nginx(port, ns=b, bind="198.18.0.2", listen="ssl", extra=f"ssl_certificate {cert}; ssl_certificate_key {key};")
    pyc = write(env, "client.py", PY_CLIENT.replace('"127.0.0.1"', '"198.18.0.2"'))
    db_a, db_b = env.path("a.db"), env.path("b.db")
    rec_a = Recorder(env, db_a, "--netns", f"/run/netns/{a}")
    rec_b = Recorder(env, db_b, "--netns", f"/run/netns/{b}")
    for i in range(3):
        run(env.in_ns(a, ["curl", "-sSk", "-o", "/dev/null", f"https://198.18.0.2:{port}/far/{i}"]))
    run(env.in_ns(a, [PYTHON, pyc, str(port), "3", "/far-py/"]))
    rec_b.stop_ok()
    rec_a.stop_ok()

    check_eq(len(by_kind(spans(db_a), "client")), 6, "client spans on host a")
    check_eq(len(by_kind(spans(db_b), "server")), 6, "server spans on host b")
    both = spans(db_a, "--db", db_b)
    srv, cli = by_kind(both, "server"), by_kind(both, "client")
    check_eq(len(srv), 6, "server spans, both databases")
    tls_attrs(both, "across hosts")
    joined(srv, cli, "across hosts")
