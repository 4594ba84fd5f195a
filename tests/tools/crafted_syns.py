#!/usr/bin/env python3
"""Write a capture of N IPv6 SYNs, each of its own connection.

usage: crafted_syns.py crafted|random N FILE

"crafted": every connection's key collides under wirespan's former
unkeyed flow hash (splitmix64 over the address words, then the ports):
the last 8 bytes of each source address are solved, through the inverse
of splitmix64, so that the hash state after them is one constant. A keyed
hash (SipHash under a random key) makes such a file cost what random flows
cost. "random": the same number of SYNs from random addresses.
"""
import os
import random
import struct
import sys

M64 = (1 << 64) - 1
C1, C2 = 0xbf58476d1ce4e5b9, 0x94d049bb133111eb
C1_INV, C2_INV = pow(C1, -1, 1 << 64), pow(C2, -1, 1 << 64)
AF_INET6 = 10


def mix(x):
    x ^= x >> 30
    x = (x * C1) & M64
    x ^= x >> 27
    x = (x * C2) & M64
    return x ^ (x >> 31)


def unshift(x, s):
    """Inverse of x ^= x >> s."""
    r = x
    for _ in range(64 // s + 1):
        r = x ^ (r >> s)
    return r & M64


def unmix(y):
    y = unshift(y, 31)
    y = (y * C2_INV) & M64
    y = unshift(y, 27)
    y = (y * C1_INV) & M64
    return unshift(y, 30)


def words(addr):
    return struct.unpack("<QQ", addr)


def hash_bytes(addr, h):
    for w in words(addr):
        h = mix(h ^ w)
    return h


def syn(src, dst, sport, dport, seq):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 65535, 0, 0)
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, src, dst)
    return ip6 + tcp


def main():
    mode, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    assert mode in ("crafted", "random")
    assert mix(unmix(0x0123456789abcdef)) == 0x0123456789abcdef
    dst = bytes(15) + b"\x01"  # ::1 sorts first: the key's first end is fixed
    h0 = hash_bytes(dst, AF_INET6)
    target = 0x5eed5eed5eed5eed
    rnd = random.Random(7)
    out = open(path, "wb")
    out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 229))  # LINKTYPE_IPV6
    for i in range(n):
        w0 = rnd.getrandbits(64) | (0x20 << 56)  # the first bytes differ, 2000::/3-like
        if mode == "crafted":
            h1 = mix((h0 ^ AF_INET6) ^ w0)
            w1 = unmix(target) ^ h1  # the state after the address: always target
        else:
            w1 = rnd.getrandbits(64)
        src = struct.pack("<QQ", w0, w1)
        pkt = syn(src, dst, 40000, 80, i)
        out.write(struct.pack("<IIII", 1000 + i // 1000, (i % 1000) * 1000, len(pkt), len(pkt)))
        out.write(pkt)
    out.close()


if __name__ == "__main__":
    main()
