#!/usr/bin/python3
"""A gRPC server and client for the HTTP/2 tests (Debian's python3-grpcio,
no generated stubs: methods take and return raw bytes).

  grpc_app.py serve PORT COUNTS_FILE     serve until SIGTERM; then write
                                         {"/svc/Method": calls, ...} (the
                                         server's own count, by its
                                         interceptor) to COUNTS_FILE
  grpc_app.py call PORT N [--threads T] [--wait FILE]
                                         N rounds of: Echo (OK), Fail (NOT_FOUND),
                                         Stream (3 replies), and with --big Big (300 kB
                                         each way), on one channel, from T
                                         threads at once; --wait: one Echo first,
                                         then wait (up to 60 s) for FILE to exist
"""
import os
import time
import json
import signal
import sys
import threading
from concurrent import futures

import grpc

SVC = "demo.v1.Greeter"


class Counter(grpc.ServerInterceptor):
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = {}

    def intercept_service(self, continuation, details):
        with self.lock:
            self.calls[details.method] = self.calls.get(details.method, 0) + 1
        return continuation(details)


def echo(req, ctx):
    return b"hello " + req


def fail(req, ctx):
    ctx.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")


BIG = 300000  # bytes each way: HTTP/2 frames past 16 KiB in one sendmsg


def big(req, ctx):
    return b"b" * BIG


def stream(req, ctx):
    for i in range(3):
        yield b"part %d of " % i + req


def serve(port, counts_file):
    counter = Counter()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[counter])
    handler = grpc.method_handlers_generic_handler(SVC, {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Big": grpc.unary_unary_rpc_method_handler(big),
    })
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    print("ready", flush=True)
    done.wait()
    server.stop(1).wait()
    with open(counts_file, "w") as f:
        json.dump(counter.calls, f)


def call(port, n, threads, wait, with_big=False):
    channel = grpc.insecure_channel("127.0.0.1:%d" % port)
    grpc.channel_ready_future(channel).result(timeout=10)
    echo_m = channel.unary_unary("/%s/Echo" % SVC)
    fail_m = channel.unary_unary("/%s/Fail" % SVC)
    stream_m = channel.unary_stream("/%s/Stream" % SVC)
    big_m = channel.unary_unary("/%s/Big" % SVC)
    errors = []
    if wait:
        echo_m(b"first", timeout=10)
        print("waiting", flush=True)
        deadline = time.time() + 60
        while not os.path.exists(wait) and time.time() < deadline:
            time.sleep(0.05)

    def rounds(k):
        for i in range(k):
            assert echo_m(b"n%d" % i, timeout=10) == b"hello n%d" % i
            try:
                fail_m(b"x", timeout=10)
                errors.append("Fail succeeded")
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    errors.append(str(e.code()))
            assert len(list(stream_m(b"s", timeout=10))) == 3
            if with_big:
                assert len(big_m(b"a" * BIG, timeout=10)) == BIG

    ts = [threading.Thread(target=rounds, args=(n // threads + (1 if t < n % threads else 0),)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    channel.close()
    if errors:
        sys.exit("errors: %s" % errors[:3])


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    else:
        threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
        wait = sys.argv[sys.argv.index("--wait") + 1] if "--wait" in sys.argv else None
        call(int(sys.argv[2]), int(sys.argv[3]), threads, wait, "--big" in sys.argv)
