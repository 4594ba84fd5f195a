#!/usr/bin/env python3
"""pcap2conv.py CAPTURE SERVER_PORT [COMMENT] -- the TCP payloads of one
connection of a tcpdump capture as a .conv file (see tests/unit/harness.h):
one segment per packet, client bytes '>', server bytes '<', and '.' where
the server closed. The expected '=' lines are written by hand after it."""
import subprocess
import sys


def esc(b):
    out = []
    for c in b:
        if 32 <= c < 127 and c != 0x5c:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def main():
    cap, port = sys.argv[1], sys.argv[2]
    fields = subprocess.run(["tshark", "-r", cap, "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport",
                             "-e", "tcp.flags.fin", "-e", "tcp.payload"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    if len(sys.argv) > 3:
        print("# " + sys.argv[3])
    last = None
    stream0 = None
    for line in fields:
        parts = line.split("\t")
        stream, sport, fin = parts[0], parts[1], parts[2]
        payload = bytes.fromhex(parts[3].replace(":", "")) if len(parts) > 3 and parts[3] else b""
        if stream0 is None:
            stream0 = stream
        if stream != stream0:
            continue
        d = "<" if sport == port else ">"
        if payload:
            if last == d:
                print("-")
            for i in range(0, len(payload), 2048):
                print(d + " " + esc(payload[i:i + 2048]))
            last = d
        if fin in ("1", "True") and d == "<":
            print(".")
            last = None


main()
