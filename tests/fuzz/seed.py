#!/usr/bin/env python3
"""Write seed corpora for the fuzzers from the recorded conversations.

usage: seed.py OUTDIR   (creates OUTDIR/http1, OUTDIR/redis, OUTDIR/stream)
"""
import os
import re
import sys


def load(path):
    """Segments of a .conv file as (direction, bytes); direction 0 = client."""
    segs, cur = [], None
    for line in open(path, encoding="latin-1"):
        if line[:1] in "<>":
            text = line[1:].rstrip("\n")
            if text.startswith(" "):
                text = text[1:]
            data = re.sub(r"\\(x[0-9a-fA-F]{2}|r|n|t|\\)",
                          lambda m: {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}.get(m.group(1)) or chr(int(m.group(1)[1:], 16)),
                          text).encode("latin-1")
            d = 0 if line[0] == ">" else 1
            if cur is not None and cur[0] == d:
                cur[1].extend(data)
            else:
                cur = [d, bytearray(data)]
                segs.append(cur)
        elif line[:1] in "-.":
            cur = None
    return segs


def parser_seed(segs):
    out = bytearray([0])  # requests travel from the client (direction 0)
    for d, data in segs:
        for i in range(0, len(data), 255):
            chunk = data[i:i + 255]
            out += bytes([d, len(chunk)]) + chunk
    return bytes(out)


def stream_seed(segs):
    out = bytearray()
    for d, data in segs:
        for i in range(0, len(data), 255):
            chunk = data[i:i + 255]
            out += bytes([4 | (d << 3), 0, 0, len(chunk)]) + chunk
    return bytes(out)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
    outdir = sys.argv[1]
    for proto, target in (("http", "http1"), ("redis", "redis")):
        for name in sorted(os.listdir(os.path.join(root, proto))):
            if not name.endswith(".conv"):
                continue
            segs = load(os.path.join(root, proto, name))
            for t, data in ((target, parser_seed(segs)), ("stream", stream_seed(segs))):
                os.makedirs(os.path.join(outdir, t), exist_ok=True)
                with open(os.path.join(outdir, t, proto + "-" + name), "wb") as f:
                    f.write(data)


if __name__ == "__main__":
    main()
