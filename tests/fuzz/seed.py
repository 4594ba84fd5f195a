#!/usr/bin/env python3
"""Write seed corpora for the fuzzers from the recorded conversations, and
small capture files (generated here) for the pcap fuzzer.

usage: seed.py OUTDIR   (creates OUTDIR/http1, OUTDIR/h2, OUTDIR/redis, OUTDIR/mask, OUTDIR/stream,
                         OUTDIR/pcap)
"""
import os
import re
import struct
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


# ---- capture files (fuzz_pcap) ----

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def tcp_seg(src, dst, sport, dport, seq, ack, flags, win, data=b"", opts=b""):
    """A TCP header with a valid checksum; src/dst are 4 or 16 bytes."""
    opts += b"\x01" * (-len(opts) % 4)
    hl = 20 + len(opts)
    t = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, (hl // 4) << 4, flags,
                    win, 0, 0) + opts + data
    if len(src) == 4:
        ph = src + dst + struct.pack("!BBH", 0, 6, len(t))
    else:
        ph = src + dst + struct.pack("!IxxxB", len(t), 6)
    c = csum(ph + t)
    return t[:16] + struct.pack("!H", c) + t[18:]


def ip_packet(src, dst, l4, ipid, proto=6):
    if len(src) == 4:
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ipid, 0x4000, 64, proto, 0, src, dst)
        return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4
    return struct.pack("!IHBB16s16s", 0x60000000, len(l4), proto, 64, src, dst) + l4


FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16


def http_conversation(client, server, cport=40000, sport=80):
    """(seconds, from_client, ip packet) of a connection: handshake with
    MSS/SACK/WS options, an HTTP request and response, a duplicate ACK, a
    retransmission, and the close."""
    c, s = 1000, 5000
    req = b"GET /index.html HTTP/1.1\r\nHost: example\r\nUser-Agent: seed\r\n\r\n"
    body = b"<html>hello</html>\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    syn_opts = b"\x02\x04\x05\xb4\x04\x02\x01\x03\x03\x07"
    pk = [
        (0.000, True, c, 0, SYN, 64240, b"", syn_opts),
        (0.010, False, s, c + 1, SYN | ACK, 65160, b"", syn_opts),
        (0.011, True, c + 1, s + 1, ACK, 502, b"", b""),
        (0.012, True, c + 1, s + 1, PSH | ACK, 502, req, b""),
        (0.022, False, s + 1, c + 1 + len(req), ACK, 509, b"", b""),
        (0.030, False, s + 1, c + 1 + len(req), PSH | ACK, 509, resp, b""),
        (0.031, True, c + 1 + len(req), s + 1 + len(resp), ACK, 501, b"", b""),
        (0.032, True, c + 1 + len(req), s + 1 + len(resp), ACK, 501, b"", b""),
        (0.240, False, s + 1, c + 1 + len(req), PSH | ACK, 509, resp, b""),
        (0.300, True, c + 1 + len(req), s + 1 + len(resp), FIN | ACK, 501, b"", b""),
        (0.310, False, s + 1 + len(resp), c + 2 + len(req), FIN | ACK, 509, b"", b""),
        (0.311, True, c + 2 + len(req), s + 2 + len(resp), ACK, 501, b"", b""),
    ]
    out = []
    for i, (t, fc, seq, ack, fl, win, data, opts) in enumerate(pk):
        a, b = (client, server) if fc else (server, client)
        pa, pb = (cport, sport) if fc else (sport, cport)
        seg = tcp_seg(a, b, pa, pb, seq, ack, fl, win, data, opts)
        out.append((t, fc, ip_packet(a, b, seg, 0x100 + i if fc else 0x200 + i)))
    return out


def eth_frame(ip, v6, fc, vlan=False):
    cm, sm = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
    dst, src = (sm, cm) if fc else (cm, sm)
    tag = struct.pack("!HH", 0x8100, 7) if vlan else b""
    return dst + src + tag + struct.pack("!H", 0x86DD if v6 else 0x0800) + ip


def sll_frame(ip, v6, fc):
    # captured at the client: what it sends is outgoing (4), the rest to it (0)
    return struct.pack("!HHH8sH", 4 if fc else 0, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00",
                       0x86DD if v6 else 0x0800) + ip


def sll2_frame(ip, v6, fc):
    return struct.pack("!HHIHBB8s", 0x86DD if v6 else 0x0800, 0, 2, 1, 4 if fc else 0, 6,
                       b"\x02\x00\x00\x00\x00\x01\x00\x00") + ip


def null_frame(ip, v6, fc):
    return struct.pack("<I", 30 if v6 else 2) + ip


def pcap_file(linktype, frames, nano=False, snaplen=65535, t0=1700000000):
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = bytearray(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    for t, f in frames:
        sec = int(t)
        frac = int(round((t - sec) * (1e9 if nano else 1e6)))
        cap = f[:snaplen]
        out += struct.pack("<IIII", t0 + sec, frac, len(cap), len(f)) + cap
    return bytes(out)


def pcapng_file(linktype, frames, t0=1700000000):
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    out = bytearray(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
    # interface with if_tsresol = 9 (ns)
    out += block(1, struct.pack("<HHI", linktype, 0, 0) + struct.pack("<HHB3x", 9, 1, 9) + b"\0" * 4)
    for t, f in frames:
        ts = t0 * 1000000000 + int(round(t * 1e9))
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f)
    return bytes(out)


def pcap_seeds():
    v4c, v4s = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    v6c, v6s = bytes.fromhex("20010db8000000000000000000000001"), bytes.fromhex("20010db8000000000000000000000002")
    conv4 = http_conversation(v4c, v4s)
    conv6 = http_conversation(v6c, v6s, 40001, 8080)
    seeds = {
        "eth-ipv4.pcap": pcap_file(1, [(t, eth_frame(ip, False, fc)) for t, fc, ip in conv4]),
        "eth-vlan-ipv6-ns.pcap": pcap_file(1, [(t, eth_frame(ip, True, fc, True)) for t, fc, ip in conv6], nano=True),
        "sll2-ipv4.pcap": pcap_file(276, [(t, sll2_frame(ip, False, fc)) for t, fc, ip in conv4]),
        "sll-ipv6.pcap": pcap_file(113, [(t, sll_frame(ip, True, fc)) for t, fc, ip in conv6]),
        "raw-ipv4.pcap": pcap_file(101, [(t, ip) for t, fc, ip in conv4]),
        "raw-ipv6-snap96.pcap": pcap_file(101, [(t, ip) for t, fc, ip in conv6], snaplen=96),
        "null-ipv6.pcap": pcap_file(0, [(t, null_frame(ip, True, fc)) for t, fc, ip in conv6]),
        "eth-ipv4.pcapng": pcapng_file(1, [(t, eth_frame(ip, False, fc)) for t, fc, ip in conv4]),
    }
    # two connections interleaved on one capture
    both = sorted([(t, eth_frame(ip, False, fc)) for t, fc, ip in conv4] +
                  [(t + 0.0005, eth_frame(ip, False, fc)) for t, fc, ip in http_conversation(v4c, v4s, 40002)])
    seeds["eth-two-conns.pcap"] = pcap_file(1, both)
    return seeds


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
    outdir = sys.argv[1]
    for proto, target in (("http", "http1"), ("redis", "redis"), ("pg", "pg"), ("mysql", "mysql"), ("h2", "h2")):
        for name in sorted(os.listdir(os.path.join(root, proto))):
            if not name.endswith(".conv"):
                continue
            segs = load(os.path.join(root, proto, name))
            for t, data in ((target, parser_seed(segs)), ("mask", parser_seed(segs)), ("stream", stream_seed(segs))):
                os.makedirs(os.path.join(outdir, t), exist_ok=True)
                with open(os.path.join(outdir, t, proto + "-" + name), "wb") as f:
                    f.write(data)
    os.makedirs(os.path.join(outdir, "pcap"), exist_ok=True)
    for name, data in pcap_seeds().items():
        with open(os.path.join(outdir, "pcap", name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
