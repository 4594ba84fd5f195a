#!/usr/bin/env python3
"""An HTTP/1.1 server whose handlers misbehave on request, for the
fault-injection tests (thread per connection, like ThreadingHTTPServer):

  GET /ok/N           a short answer
  GET /sleep/MS/N     sleeps MS ms before answering (server delay)
  GET /burn/MS/N      burns MS ms of CPU time before answering
  GET /big/BYTES/N    answers with BYTES bytes
  GET /pause/MS/N     answers at once, then the server stops calling
                      accept() for MS ms (connections wait in the backlog)
  GET /die/N          the server is killed (SIGKILL) before it answers

usage: faultserver.py BIND PORT
"""
import http.server
import os
import signal
import socket
import sys
import threading
import time

pause_accept = {"ms": 0}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        body = b"ok\n"
        if parts[0] == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if parts[0] == "sleep":
            time.sleep(int(parts[1]) / 1000)
        elif parts[0] == "burn":
            end = time.thread_time() + int(parts[1]) / 1000
            x = 0
            while time.thread_time() < end:
                x += 1
        elif parts[0] == "big":
            body = b"x" * int(parts[1])
        elif parts[0] == "pause":
            with lock:
                pause_accept["ms"] = int(parts[1])
        elif parts[0] != "ok":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 64

    def get_request(self):
        with lock:
            ms, pause_accept["ms"] = pause_accept["ms"], 0
        if ms:
            time.sleep(ms / 1000)
        return super().get_request()

    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().server_bind()


def main():
    Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
