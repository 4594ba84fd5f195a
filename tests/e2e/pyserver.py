#!/usr/bin/env python3
"""python3's http.server speaking HTTP/1.1 with keep-alive, thread per
connection (ThreadingHTTPServer). GET and HEAD serve files; POST /echo
answers with the length of the body it read.

usage: pyserver.py BIND PORT DOCROOT
"""
import functools
import http.server
import socket
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        reply = f"{len(body)}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, fmt, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        if self.address_family == socket.AF_INET6:  # "::" takes IPv4 too
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    bind, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    Server.address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    handler = functools.partial(Handler, directory=root)
    Server((bind, port), handler).serve_forever()


if __name__ == "__main__":
    main()
