#!/usr/bin/env python3
"""pcap2conv.py FILE.pcap SERVER_PORT [TITLE [STREAM]]: one TCP connection
to SERVER_PORT in a capture (tshark's stream number STREAM, or the one that
carried the most bytes) as a tests/data conversation: one segment per
packet with data, client lines '>', server lines '<', '.' where the server
closes. The expected exchanges ('=' lines) are written by hand."""
import subprocess, sys

pcap, port = sys.argv[1], int(sys.argv[2])
title = sys.argv[3] if len(sys.argv) > 3 else pcap
out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport",
                      "-e", "tcp.payload", "-e", "tcp.flags.fin", "-Y", f"tcp.port == {port}"],
                     capture_output=True, text=True, check=True).stdout
sizes = {}
for line in out.splitlines():
    f = line.split("\t")
    sizes[f[0]] = sizes.get(f[0], 0) + len(f[2])
stream = sys.argv[4] if len(sys.argv) > 4 else max(sizes, key=sizes.get)  # the busiest connection
print(f"# {title}")
last = None
for line in out.splitlines():
    f = line.split("\t")
    if stream is None:
        stream = f[0]
    if f[0] != stream:
        continue
    frm = "<" if int(f[1]) == port else ">"
    data = bytes.fromhex(f[2].replace(":", "")) if f[2] else b""
    if data:
        if last == frm:
            print("-")
        s = "".join(chr(b) if 32 <= b < 127 and b != 0x5c else "\\\\" if b == 0x5c else f"\\x{b:02x}" for b in data)
        print(frm + " " + s)
        last = frm
    if f[3] in ("1", "True") and frm == "<":
        print(".")
        last = None
