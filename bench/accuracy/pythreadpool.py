#!/usr/bin/env python3
"""The service of the py-threadpool chain: python3's ThreadingHTTPServer
(HTTP/1.1, keep-alive, one thread per inbound connection) whose handler for
/front/N does not call the backend itself: it submits each call to one
shared concurrent.futures.ThreadPoolExecutor(max_workers=4) and waits for
it (`executor.submit(fn).result()`), one call after the other: GET /b1/ID,
then GET /b2/ID, then answers. The calls are made with http.client on
keep-alive connections that each worker thread keeps for itself
(threading.local), so the thread that reads the request is never the
thread that writes the call.

usage: pythreadpool.py IDS BIND PORT LEAF_HOST:PORT
  IDS: plain (ID = N) | hashed (first 12 hex digits of sha1("b1:N"), ...)
"""
import concurrent.futures
import hashlib
import http.client
import http.server
import os
import sys
import threading


def make_id(ids, tag, n):
    if ids == "plain":
        return n
    return hashlib.sha1(f"{tag}:{n}".encode()).hexdigest()[:12]


def main():
    ids, bind, port, leaf = sys.argv[1:5]
    name = os.environ.get("OTEL_SERVICE_NAME", "pythreadpool")
    host, lport = leaf.rsplit(":", 1)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="call")
    local = threading.local()  # each worker thread's own keep-alive connection

    def get(path):  # runs in a worker thread
        for attempt in (0, 1):
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(host, int(lport), timeout=10)
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                return resp.status
            except (ConnectionError, http.client.HTTPException):
                conn.close()  # an idle connection the server closed: retry once on a new one
                local.conn = None
                if attempt:
                    raise

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            path = self.path.split("?")[0]
            status = 200
            if not path.startswith("/front/"):
                status = 404
            else:
                n = path[len("/front/"):]
                try:
                    for tag in ("b1", "b2"):
                        if executor.submit(get, f"/{tag}/{make_id(ids, tag, n)}").result() >= 500:
                            status = 502
                except (OSError, http.client.HTTPException) as e:
                    print(f"{name}: {path}: {e!r}", file=sys.stderr, flush=True)
                    status = 502
            body = f"{name} {path} {status}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    Server((bind, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
