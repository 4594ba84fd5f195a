#!/usr/bin/env python3
"""One service of a thread-per-request chain: python3's ThreadingHTTPServer
(HTTP/1.1, keep-alive, one thread per connection) whose routes call other
services over HTTP (pooled keep-alive connections) and Redis (RESP over a
socket), one after another, in the handling thread.

usage: pychain.py NAME BIND PORT ROUTES_JSON [--truth FILE] [--propagate]
                  [--no-pool]

ROUTES_JSON maps a path to the calls it makes, in order:
  {"/order": ["http://198.18.1.2:18201/price", "redis://198.18.1.4:16400/GET stock"]}
A call's path may use {n}: the last path segment of the request, and
{h:TAG}: the first 12 hex digits of sha1("TAG:" + n), so that the call
carries no id the request carried.

--truth FILE   write this service's own spans (what an OpenTelemetry SDK would
               record: server spans, and client spans under them) as JSON lines
               to FILE: the ground truth the accuracy harness scores against
--propagate    send W3C traceparent on outbound HTTP (to match spans)
--no-pool      a new connection per call instead of pooled keep-alive ones
"""
import hashlib
import http.client
import http.server
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse


def new_id(nbytes):
    return os.urandom(nbytes).hex()


class Truth:
    def __init__(self, path, service):
        self.f = open(path, "a", buffering=1) if path else None
        self.service = service
        self.lock = threading.Lock()

    def span(self, **kw):
        if not self.f:
            return
        kw["service"] = self.service
        with self.lock:
            self.f.write(json.dumps(kw) + "\n")


class Pool:
    """Idle keep-alive connections per downstream, shared by all threads."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.idle = {}
        self.lock = threading.Lock()

    def get(self, key, make):
        if self.enabled:
            with self.lock:
                lst = self.idle.get(key)
                if lst:
                    return lst.pop()
        return make()

    def put(self, key, conn):
        if not self.enabled:
            conn.close()
            return
        with self.lock:
            self.idle.setdefault(key, []).append(conn)


class RedisConn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b""

    def local_port(self):
        return self.sock.getsockname()[1]

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind = line[:1]
        if kind in (b"+", b"-", b":"):
            return line[1:]
        if kind == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("redis closed the connection")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self._reply() for _ in range(int(line[1:]))]
        raise ValueError(f"unexpected reply {line!r}")

    def command(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def close(self):
        self.sock.close()


def make_handler(name, routes, truth, pool, propagate):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def call_http(self, url, ctx):
            u = urllib.parse.urlsplit(url)
            key = ("http", u.hostname, u.port)
            start = time.time_ns()
            span_id = new_id(8)
            headers = {}
            if propagate:
                headers["traceparent"] = f"00-{ctx['trace_id']}-{span_id}-01"
            for attempt in (0, 1):
                conn = pool.get(key, lambda: http.client.HTTPConnection(u.hostname, u.port, timeout=10))
                try:
                    conn.request("GET", u.path, headers=headers)
                    resp = conn.getresponse()
                    body = resp.read()
                    break
                except (ConnectionError, http.client.HTTPException):
                    conn.close()  # an idle connection the server closed: retry once on a new one
                    if attempt:
                        raise
            local = conn.sock.getsockname()[1] if conn.sock else 0
            pool.put(key, conn)
            truth.span(trace_id=ctx["trace_id"], span_id=span_id, parent_span_id=ctx["span_id"], kind="client",
                       name="GET " + u.path, protocol="http", start=start, end=time.time_ns(),
                       server_port=u.port, client_port=local)
            return resp.status, body

        def call_redis(self, url, ctx):
            u = urllib.parse.urlsplit(url)
            key = ("redis", u.hostname, u.port)
            args = urllib.parse.unquote(u.path.lstrip("/")).split(" ")
            start = time.time_ns()
            conn = pool.get(key, lambda: RedisConn(u.hostname, u.port))
            local = conn.local_port()
            conn.command(*args)
            pool.put(key, conn)
            truth.span(trace_id=ctx["trace_id"], span_id=new_id(8), parent_span_id=ctx["span_id"], kind="client",
                       name=" ".join([args[0].upper()] + args[1:2]), protocol="redis", start=start, end=time.time_ns(),
                       server_port=u.port, client_port=local)

        def do_GET(self):
            start = time.time_ns()
            path = self.path.split("?")[0]
            tp = self.headers.get("traceparent", "")
            parts = tp.split("-")
            if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
                ctx = {"trace_id": parts[1], "parent": parts[2]}
            else:
                ctx = {"trace_id": new_id(16), "parent": ""}
            ctx["span_id"] = new_id(8)
            route = None
            for prefix, calls in routes.items():
                if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                    route = calls
                    break
            status = 200
            if route is None:
                status = 404
            else:
                n = path.rstrip("/").rsplit("/", 1)[-1]
                try:
                    for call in route:
                        call = re.sub(r"\{h:([^}]*)\}",
                                      lambda m: hashlib.sha1(f"{m.group(1)}:{n}".encode()).hexdigest()[:12],
                                      call.replace("{n}", n))
                        if call.startswith("redis://"):
                            self.call_redis(call, ctx)
                        else:
                            code, _ = self.call_http(call, ctx)
                            if code >= 500:
                                status = 502
                except (OSError, ValueError) as e:
                    print(f"{name}: {path}: {e!r}", file=sys.stderr, flush=True)
                    status = 502
            body = f"{name} {path} {status}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            truth.span(trace_id=ctx["trace_id"], span_id=ctx["span_id"], parent_span_id=ctx["parent"],
                       kind="server", name="GET " + path, protocol="http", start=start, end=time.time_ns(),
                       server_port=self.server.server_address[1], client_port=self.client_address[1])

    return Handler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opts = sys.argv[1:]
    truth_path = None
    if "--truth" in opts:
        truth_path = opts[opts.index("--truth") + 1]
        args.remove(truth_path)
    name, bind, port, routes = args[0], args[1], int(args[2]), json.loads(args[3])
    truth = Truth(truth_path, name)
    pool = Pool("--no-pool" not in opts)
    handler = make_handler(name, routes, truth, pool, "--propagate" in opts)
    Server((bind, port), handler).serve_forever()


if __name__ == "__main__":
    main()
