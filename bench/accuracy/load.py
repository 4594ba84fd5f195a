#!/usr/bin/env python3
"""Closed-loop load: CONCURRENCY threads, each on its own keep-alive
connection, send REQUESTS GET requests in all to URL_PREFIX + a unique
number, so that every request (and every span it causes) can be told apart.

usage: load.py URL_PREFIX CONCURRENCY REQUESTS [FIRST]
(numbers FIRST .. FIRST+REQUESTS-1; FIRST defaults to 0)
Prints the number of requests that did not answer 200; exits 1 if any.
"""
import http.client
import sys
import threading
import urllib.parse


def main():
    prefix, conc, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    u = urllib.parse.urlsplit(prefix)
    lock = threading.Lock()
    state = {"next": 0, "bad": 0}

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        while True:
            with lock:
                n = state["next"]
                if n >= total:
                    break
                state["next"] += 1
            try:
                conn.request("GET", f"{u.path}{first + n}")
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                ok = False
            if not ok:
                with lock:
                    state["bad"] += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(state["bad"])
    return 1 if state["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
