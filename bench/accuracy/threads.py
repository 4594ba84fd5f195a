#!/usr/bin/env python3
"""Which thread does what: strace the service under test of one of run.py's
single-service chains while it serves a few concurrent requests, and say,
for each request, which thread read the inbound request, wrote each
outbound call, read each reply, and wrote the inbound response.

usage: bench/accuracy/threads.py CHAIN [--concurrency 3] [--ids plain]
                                 [--warmup 40] [--raw FILE]

The chain is set up as run.py does (no wirespan); WARMUP requests fill the
service's connection pools first. Then `strace -f -tt -yy` (inside the
service's network namespace, so that sockets are shown with their
addresses) attaches to every thread of the service (every nginx worker),
CONCURRENCY requests are sent at once (numbers 500, 501, ...), and strace is
detached. Syscalls are attributed to requests from the bytes they carry
(paths, Redis keys) and, for responses and replies, by the order of the
requests on their connection (HTTP/1.1 and RESP answer in order; replies
are counted as Redis nil bulk strings: the keys never exist). --raw keeps
strace's output. Thread names are those in /proc/PID/task/TID/comm.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402
from run import lib  # noqa: E402

FIRST = 500
TRACED = "read,write,recvfrom,sendto,readv,writev,recvmsg,sendmsg,epoll_wait,futex,clone,clone3"
DATA = {"read": "in", "readv": "in", "recvfrom": "in", "recvmsg": "in",
        "write": "out", "writev": "out", "sendto": "out", "sendmsg": "out"}
LINE = re.compile(r"^(\d+)\s+(\d\d):(\d\d):(\d\d\.\d+)\s+(.*)$")
ADDR = r"\[?(?:::ffff:)?([\d.]+)\]?:(\d+)"  # 198.18.3.1:80 or [::ffff:198.18.3.1]:80 (TCPv6)
CALL = re.compile(r"^(\w+)\((\d+)<TCP(?:v6)?:\[" + ADDR + "->" + ADDR + r"\]>(.*)\)\s+=\s+(-?\d+)")
STR = re.compile(r'"((?:[^"\\]|\\.)*)"')


def descendants(pid):
    """pid and its child processes (nginx: master and workers)."""
    out = [pid]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(d))
    return out


def comms(pids):
    names = {}
    for pid in pids:
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    names[int(tid)] = f.read().strip()
        except OSError:
            pass
    return names


def parse(path):
    """Completed data syscalls on TCP sockets: (t, tid, name, dir, local, remote, bytes-as-text)."""
    pending, out = {}, []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            tid, rest = int(m.group(1)), m.group(5)
            t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
            if rest.endswith("<unfinished ...>"):
                pending[tid] = rest[:-len("<unfinished ...>")].rstrip()
                continue
            r = re.match(r"^<\.\.\. (\w+) resumed>\s?(.*)$", rest)
            if r:
                rest = pending.pop(tid, r.group(1) + "(?") + r.group(2)
            c = CALL.match(rest)
            if not c or c.group(1) not in DATA or int(c.group(8)) <= 0:
                continue
            text = "".join(STR.findall(c.group(7)))
            out.append((t, tid, c.group(1), DATA[c.group(1)], (c.group(3), int(c.group(4))),
                        (c.group(5), int(c.group(6))), text))
    return out


def attribute(calls, kind, ids, first, count):
    """Per request number: [(t, tid, syscall, what)]."""
    rev = {}
    for n in range(first, first + count):
        for tag in ("b1", "b2", "k"):
            rev[run.make_id(ids, tag, n)] = n
    fifo = {}  # connection -> request numbers awaiting an answer
    events = {n: [] for n in range(first, first + count)}

    def add(n, ev):
        if n in events:
            events[n].append(ev)

    for t, tid, name, d, local, remote, text in calls:
        conn = (local, remote)
        q = fifo.setdefault(conn, [])
        if local[1] == run.SVC_PORT:  # the inbound connection
            if d == "in":
                for m in re.finditer(r"GET /front/(\d+) ", text):
                    q.append(int(m.group(1)))
                    add(int(m.group(1)), (t, tid, name, "inbound request read"))
            else:
                for _ in range(max(1, text.count("HTTP/1.1 "))):
                    if q:
                        add(q.pop(0), (t, tid, name, "inbound response write"))
        elif remote[1] == run.LEAF_PORT:
            if d == "out":
                for m in re.finditer(r"GET /(b1|b2)/(\w+) ", text):
                    n = rev.get(m.group(2))
                    q.append((n, m.group(1)))
                    add(n, (t, tid, name, f"{m.group(1)} request write"))
            else:
                for _ in range(max(1, text.count("HTTP/1.1 "))):
                    if q:
                        n, tag = q.pop(0)
                        add(n, (t, tid, name, f"{tag} response read"))
        elif remote[1] == run.ACREDIS_PORT:
            if d == "out":
                for m in re.finditer(r"k:(\w+)\\r\\n", text):
                    n = rev.get(m.group(1))
                    q.append(n)
                    add(n, (t, tid, name, "redis GET write"))
            else:
                for _ in range(text.count("$-1\\r\\n")):
                    if q:
                        add(q.pop(0), (t, tid, name, "redis reply read"))
    return events


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chain", choices=list(run.CHAINS))
    ap.add_argument("--concurrency", type=int, default=3)
    ap.add_argument("--ids", default="plain", choices=["plain", "hashed"])
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--raw", help="copy strace's output to FILE")
    a = ap.parse_args()
    if a.chain in run.BUILT:
        run.build()
    env = lib.Env(f"accuracy-threads-{a.chain}")
    strace = None
    try:
        svc, _ = run.start_chain(env, a.chain, a.ids, FIRST + a.concurrency + 1)
        entry = f"http://{run.LAN['acsvc']}:{run.SVC_PORT}/front/"
        load = [lib.PYTHON, os.path.join(HERE, "load.py"), entry]
        lib.run(env.in_ns("aclg", load + [str(a.concurrency), str(a.warmup)]), timeout=60)
        pids = descendants(svc.pid)
        out = env.path("strace.txt")
        cmd = ["strace", "-f", "-tt", "-yy", "-s", "4096", "-e", "trace=" + TRACED, "-o", out]
        for p in pids:
            cmd += ["-p", str(p)]
        err = open(env.path("strace.err"), "w")
        strace = env.spawn(env.in_ns("acsvc", cmd), stderr=err)
        deadline = time.time() + 20
        while time.time() < deadline and "attached" not in open(env.path("strace.err")).read():
            time.sleep(0.1)
        time.sleep(1.0)  # every thread attached
        names = comms(pids)
        lib.run(env.in_ns("aclg", load + [str(a.concurrency), str(a.concurrency), str(FIRST)]), timeout=60)
        time.sleep(0.5)
        names.update(comms(pids))
        strace.send_signal(signal.SIGINT)
        strace.wait(30)
        if a.raw:
            shutil.copy(out, a.raw)
        events = attribute(parse(out), a.chain, a.ids, FIRST, a.concurrency)
        t0 = min((e[0] for evs in events.values() for e in evs), default=0)
        print(f"{a.chain} (ids={a.ids}, {a.concurrency} requests at once; pids {' '.join(map(str, pids))})")
        for n, evs in events.items():
            print(f"request {n}:")
            for t, tid, name, what in sorted(evs):
                print(f"  {(t - t0) * 1e6:9.0f}us  tid {tid:<7} {names.get(tid, '?'):<18} {name:<9} {what}")
        return 0
    finally:
        if strace and strace.poll() is None:
            strace.send_signal(signal.SIGINT)
            try:
                strace.wait(10)
            except subprocess.TimeoutExpired:
                pass
        env.cleanup()


if __name__ == "__main__":
    sys.exit(main())
