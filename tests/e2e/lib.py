"""Helpers for end-to-end tests: real servers, real clients, real eBPF.

Every test gets a fresh work directory; every process and network
namespace a test starts is stopped when it ends, pass or fail. Test
traffic goes only to loopback or to 198.18.0.0/15 hosts in namespaces.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WIRESPAN = os.environ.get("WIRESPAN", os.path.join(ROOT, "build", "wirespan"))
PYTHON = "/usr/bin/python3"  # Debian's: its processes are named "python3"


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def check_eq(got, want, what):
    if got != want:
        raise Failure(f"{what}: got {got!r}, want {want!r}")


def run(cmd, check_rc=True, timeout=120, **kw):
    """Run a command to completion; returns CompletedProcess with text output."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check_rc and p.returncode != 0:
        raise Failure(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p


class Env:
    """What one test owns: a directory, processes, namespaces."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"wirespan-{name}-")
        os.chmod(self.dir, 0o755)  # servers that drop privileges read from here
        self.procs = []
        self.netns = []
        self.nginx_prefixes = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def spawn(self, cmd, **kw):
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def cleanup(self):
        for prefix in self.nginx_prefixes:
            subprocess.run(["nginx", "-p", prefix, "-c", "nginx.conf", "-s", "stop"], capture_output=True)
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        for ns in self.netns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if os.environ.get("WS_TEST_KEEP"):  # for a person looking into a failure
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- hosts ----

    def add_hosts(self, a="wsa", b="wsb", addr_a="198.18.0.1", addr_b="198.18.0.2"):
        """Two network-namespace hosts joined by a veth pair."""
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            run(["ip", "netns", "add", ns])
            self.netns.append(ns)
        run(["ip", "link", "add", "veth-" + a, "netns", a, "type", "veth", "peer", "name", "veth-" + b, "netns", b])
        for ns, addr in ((a, addr_a), (b, addr_b)):
            run(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", "veth-" + ns])
            run(["ip", "-n", ns, "link", "set", "veth-" + ns, "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return a, b

    def add_lan(self, hosts, switch="wssw"):
        """Network-namespace hosts on one LAN: each host's veth ends on a
        bridge in a switch namespace. hosts: {name: address in 198.18.0.0/15}."""
        for ns in [switch] + list(hosts):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            run(["ip", "netns", "add", ns])
            self.netns.append(ns)
        run(["ip", "-n", switch, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", switch, "link", "set", "br0", "up"])
        for ns, addr in hosts.items():
            run(["ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", "p-" + ns, "netns", switch])
            run(["ip", "-n", switch, "link", "set", "p-" + ns, "master", "br0", "up"])
            run(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return list(hosts)

    def in_ns(self, ns, cmd):
        return ["ip", "netns", "exec", ns] + cmd if ns else cmd

    # ---- servers ----

    def python_http(self, port, http11=False, ns=None, bind="127.0.0.1"):
        """python3's http.server serving this test's directory."""
        docroot = self.path("www")
        os.makedirs(docroot, exist_ok=True)
        if http11:
            cmd = [PYTHON, os.path.join(ROOT, "tests", "e2e", "pyserver.py"), bind, str(port), docroot]
        else:
            cmd = [PYTHON, "-m", "http.server", str(port), "--bind", bind, "--directory", docroot]
        self.spawn(self.in_ns(ns, cmd))
        wait_port(bind, port, ns)
        return docroot

    def nginx(self, port, extra="", ns=None, bind="127.0.0.1", listen=""):
        prefix = self.path("nginx")
        for d in ("www", "logs", "tmp"):
            os.makedirs(os.path.join(prefix, d), exist_ok=True)
        conf = f"""
daemon on;
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 256; }}
http {{
    # "$request_completion" is OK when the whole response was written
    log_format wirespan '"$request" $status $body_bytes_sent $request_completion';
    access_log {prefix}/logs/access.log wirespan;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    sendfile on;
    keepalive_timeout 30;
    keepalive_requests 100000;
    types {{ text/html html; text/plain txt; application/octet-stream bin; }}
    gzip on;
    gzip_types text/plain;
    gzip_min_length 10;
    server {{
        listen {bind}:{port} {listen};
        root {prefix}/www;
        {extra}
    }}
}}
"""
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(conf)
        run(self.in_ns(ns, ["nginx", "-p", prefix, "-c", "nginx.conf"]))
        self.nginx_prefixes.append(prefix)
        wait_port(bind, port, ns)
        return prefix

    def cert(self):
        """A self-signed certificate for localhost (and its key): (cert, key)."""
        cert, key = self.path("cert.pem"), self.path("key.pem")
        if not os.path.exists(cert):
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                 "-subj", "/CN=localhost"])
            os.chmod(key, 0o644)  # read by servers that dropped privileges (a throwaway key)
        return cert, key

    def redis(self, port, *args, ns=None, bind="127.0.0.1"):
        cmd = ["redis-server", "--port", str(port), "--bind", bind, "--save", "", "--appendonly", "no",
               "--dir", self.dir] + list(args)
        self.spawn(self.in_ns(ns, cmd))
        wait_port(bind, port, ns)


def wait_port(host, port, ns=None, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ns:
            r = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Htln", f"sport = :{port}"], capture_output=True,
                               text=True)
            if r.stdout.strip():
                return
        else:
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                pass
        time.sleep(0.05)
    raise Failure(f"nothing listens on {host}:{port} after {timeout}s")


class Recorder:
    """wirespan record in the background; ready once it says so."""

    def __init__(self, env, db, *args, timeout=30):
        self.db = db
        args = list(args)
        # These tests count every exchange, so they record without a CPU
        # budget: on a 2-core CI machine the load they make would have
        # wirespan shed some of it. The budget has its own tests.
        if not any(a.startswith("--cpu-budget") for a in args):
            args += ["--cpu-budget", "0"]
        self.cmd = [WIRESPAN, "record", "--db", db] + args
        self.proc = env.spawn(self.cmd, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not self.ready.wait(timeout):
            self.proc.kill()
            raise Failure(f"wirespan record did not start: {''.join(self.lines)[-2000:]}")

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.startswith("wirespan: capturing since "):  # every program is attached
                self.ready.set()
        self.ready.set()

    def stop(self, sig=signal.SIGINT, timeout=60):
        """Stop it; returns (exit status, stderr text)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("wirespan record did not stop")
        self.reader.join(5)
        return rc, "".join(self.lines)

    def stop_ok(self):
        rc, err = self.stop()
        check(rc == 0, f"wirespan record exited {rc}: {err}")
        check("events lost: 0" in err, f"events were lost: {err}")
        return err


class Tcpdump:
    """tcpdump writing a capture in a namespace; ready once it listens."""

    def __init__(self, env, ns, path, *args):
        self.path = path
        self.proc = env.spawn(env.in_ns(ns, ["tcpdump", "-n", "-U", "--immediate-mode", "-B", "65536", "-w", path] + list(args)),
                              stderr=subprocess.PIPE, text=True)
        lines = []
        while not lines or ("listening on" not in lines[-1] and lines[-1]):
            lines.append(self.proc.stderr.readline())
        check("listening on" in lines[-1], f"tcpdump did not start: {''.join(lines)}")

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        err = self.proc.communicate(timeout=20)[1]
        m = re.search(r"(\d+) packets? dropped by kernel", err)
        check(m is not None and m.group(1) == "0", f"tcpdump dropped packets ({self.path}): {err}")
        return self.path


EXCHANGE_PATH = ("request_send", "request_held", "request_in_flight", "accept_queue", "server_queue",
                 "server_processing", "response_send", "response_held", "response_in_flight", "client_queue")
CLIENT_ALONE_PATH = ("request_send", "server_and_network", "response_in_flight", "client_queue")
OWN_STEPS = {"client": ("request_send", "wait", "response_receive"),
             "server": ("request_receive", "processing", "response_send")}


PHASE_CHECKS = {"spans": 0, "own steps": 0, "exchange, exactly": 0, "exchange, at most": 0}


def check_phases(s):
    """The property every span read in every test must have: no phase is
    negative or longer than its span; the span's own steps partition it
    exactly; on a client span the exchange's phases partition it exactly
    (both sides on one known clock, or the client alone), and never sum to
    more than it when one of them is unknown."""
    a = s["attributes"]
    PHASE_CHECKS["spans"] += 1
    d = int(s["end_time_unix_nano"]) - int(s["start_time_unix_nano"])
    what = f"{s['kind']} {s['name']} ({s['span_id']})"
    ph = {k[len("wirespan.phase."):-3]: v for k, v in a.items() if k.startswith("wirespan.phase.")}
    for k, v in ph.items():
        check(v >= 0, f"{what}: phase {k} is negative: {v}")
    if s["kind"] not in OWN_STEPS:
        return
    if s["name"] == "connect":
        check(ph.get("connect", 0) <= d, f"{what}: connect {ph.get('connect')} longer than the span {d}")
        return
    own = OWN_STEPS[s["kind"]]
    check(all(k in ph for k in own) and sum(ph[k] for k in own) == d,
          f"{what}: its steps {[(k, ph.get(k)) for k in own]} do not partition its {d} ns")
    PHASE_CHECKS["own steps"] += 1
    if s["kind"] != "client":
        return
    for k, v in ph.items():
        check(k == "connect" or v <= d, f"{what}: phase {k} {v} ns is longer than the span's {d} ns")
    path = CLIENT_ALONE_PATH if "server_and_network" in ph else EXCHANGE_PATH
    if "server_and_network" not in ph and "wirespan.clock.offset_ns" not in a:
        return  # both sides on clocks not related: each side on its own
    total = sum(ph.get(k, 0) for k in path)
    optional = ("request_held", "response_held", "accept_queue", "response_in_flight" if path is CLIENT_ALONE_PATH
                else "")
    known = all(k in ph for k in path if k not in optional)
    PHASE_CHECKS["exchange, exactly" if known else "exchange, at most"] += 1
    if known:
        check(total == d, f"{what}: phases {[(k, ph[k]) for k in path if k in ph]} sum to {total}, "
              f"the span is {d} ns")
    else:
        check(total <= d, f"{what}: phases {[(k, ph[k]) for k in path if k in ph]} sum to {total}, "
              f"more than the span's {d} ns")


def spans(db, *args, check=True):
    """The spans of db as JSON; each checked by check_phases unless not
    asked to."""
    out = run([WIRESPAN, "spans", "--db", db, "--json"] + list(args)).stdout
    result = []
    for line in out.splitlines():
        result.append(json.loads(line))
    for s in result:
        if check:
            check_phases(s)
    return result


def route(path):
    """The route a span of a test path is named by: its all-digit segments
    as {id} (the only variable parts the tests' paths have; every rule is
    src/proto/route.h's, unit-tested in test_http1.c)."""
    return re.sub(r"(?<=/)[0-9]+(?=/|$)", "{id}", path)


def of_path(spans_, path, kind=None, method="GET"):
    """The HTTP spans of one request path (of one kind), found by url.path,
    the path as sent; each is checked to be named by the path's route, and
    to say that route in url.template when it differs from the path."""
    got = [s for s in spans_ if attr(s, "url.path") == path and (kind is None or s["kind"] == kind)]
    for s in got:
        check_eq(s["name"], f"{method} {route(path)}", f"name of the {s['kind']} span of {path}")
        check_eq(attr(s, "url.template"), route(path) if route(path) != path else None,
                 f"url.template of the {s['kind']} span of {path}")
    return got


def on_port(spans_, port):
    """Spans of connections to or from a server port."""
    return [s for s in spans_ if s["attributes"].get("server.port") == port]


def by_kind(spans_, kind):
    return [s for s in spans_ if s["kind"] == kind]


def sides(spans_, n, what=""):
    """The server and client spans, checking there are exactly n of each."""
    srv, cli = by_kind(spans_, "server"), by_kind(spans_, "client")
    check_eq(len(srv), n, f"server spans{what}")
    check_eq(len(cli), n, f"client spans{what}")
    return srv, cli


def attr(s, key, default=None):
    return s["attributes"].get(key, default)


def curl(*args, ns=None, env=None):
    cmd = ["curl", "-sS", "-o", "/dev/null", "--max-time", "10"] + list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    return run(cmd)


def sqlite(db, sql):
    return run(["sqlite3", db, sql]).stdout


def file_bytes(db):
    """The database and any WAL/journal, as bytes."""
    data = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = db + suffix
        if os.path.exists(p):
            with open(p, "rb") as f:
                data += f.read()
    return data
