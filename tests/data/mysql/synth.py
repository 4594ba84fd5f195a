#!/usr/bin/env python3
"""Write the MySQL conversations the recorded ones (MariaDB 10.11, its
client and Connector/C; tests/tools/pcap2conv.py) do not hold: a client
with CLIENT_DEPRECATE_EOF (MySQL 8's result sets end with an OK packet),
an SSL request, and a refused password."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import convfile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def pkt(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def greeting():
    body = (b"\x0a" + b"8.0.36\0" + struct.pack("<I", 7) + b"abcdefgh\0" + struct.pack("<H", 0xffff) + b"\x21" +
            struct.pack("<H", 2) + struct.pack("<H", 0x01ff) + b"\x15" + b"\0" * 10 + b"ijklmnopqrst\0" +
            b"caching_sha2_password\0")
    return pkt(0, body)


def handshake(caps, db=b"shop", ssl=False):
    fixed = struct.pack("<IIB", caps, 1 << 24, 0x21) + b"\0" * 23
    if ssl:
        return pkt(1, fixed)
    return pkt(1, fixed + b"app\0" + b"\x20" + b"S" * 32 + db + b"\0" + b"caching_sha2_password\0")


def ok(seq, affected=0, status=2, header=b"\x00"):
    return pkt(seq, header + bytes([affected, 0]) + struct.pack("<HH", status, 0))


def coldef(seq, name):
    def le(s):
        return bytes([len(s)]) + s
    return pkt(seq, le(b"def") + le(b"shop") + le(b"t") + le(b"t") + le(name) + le(name) + b"\x0c" +
               struct.pack("<HIBHB", 33, 64, 253, 0, 0) + b"\0\0")


def row(seq, *vals):
    return pkt(seq, b"".join(bytes([len(v)]) + v for v in vals))


def err(seq, code, state, text):
    return pkt(seq, b"\xff" + struct.pack("<H", code) + b"#" + state + text)


def write(name, title, segs, expect):
    convfile.write(os.path.join(HERE, name), title, segs, expect)


CAPS = 0x0002a20d | 0x00080000 | 0x00010000  # protocol 4.1, secure conn., with db, plugin auth, multi results
DEPRECATE_EOF = 0x01000000


def main():
    write("deprecate_eof.conv", "CLIENT_DEPRECATE_EOF: no EOF after the definitions, an OK (0xfe) closes the rows",
          [("<", greeting()), (">", handshake(CAPS | DEPRECATE_EOF)), ("<", ok(2)),
           (">", pkt(0, b"\x03SELECT id, note FROM t WHERE note = 's3cr3t-literal' LIMIT 2")),
           ("<", pkt(1, b"\x02") + coldef(2, b"id") + coldef(3, b"note") + row(4, b"1", b"s3cr3t-row-1") +
            row(5, b"2", b"s3cr3t-row-2") + ok(6, header=b"\xfe")),
           (">", pkt(0, b"\x03SELECT id FROM t WHERE 1 = 0")),
           ("<", pkt(1, b"\x01") + coldef(2, b"id") + ok(3, header=b"\xfe")),
           (">", pkt(0, b"\x02other_db")), ("<", ok(1)),
           (">", pkt(0, b"\x03UPDATE t SET note = 'x' WHERE id = 7")), ("<", ok(1, affected=3)),
           (">", pkt(0, b"\x03SELECT `id` FROM `t` WHERE note = \"s3cr3t-dq\" AND x = 'a\\'s3cr3t-bs' "
                        b"/* s3cr3t-block */ # s3cr3t-hash\n")),
           ("<", pkt(1, b"\x01") + coldef(2, b"id") + ok(3, header=b"\xfe")),
           (">", pkt(0, b"\x01")), (".", b"")],
          ["SELECT t sets=1 rows=2 affected=0 db=shop | SELECT id, note FROM t WHERE note = ? LIMIT ?",
           "SELECT t sets=1 rows=0 affected=0 db=shop | SELECT id FROM t WHERE ? = ?",
           "INIT_DB - sets=0 rows=0 affected=0 db=shop | ",
           "UPDATE t sets=0 rows=0 affected=3 db=other_db | UPDATE t SET note = ? WHERE id = ?",
           "SELECT t sets=1 rows=0 affected=0 db=other_db | SELECT `id` FROM `t` WHERE note = ? AND x = ?"])
    one = pkt(1, b"\x01") + coldef(2, b"1") + pkt(3, b"\xfe\0\0\x02\0") + row(4, b"1") + pkt(5, b"\xfe\0\0\x02\0")
    write("use_change_user.conv", "USE as a query, then COM_CHANGE_USER with an auth switch: the database follows both",
          [("<", greeting()), (">", handshake(CAPS)), ("<", ok(2)),
           (">", pkt(0, b"\x03USE `other`")), ("<", ok(1)),
           (">", pkt(0, b"\x03SELECT 1")), ("<", one),
           (">", pkt(0, b"\x11bob\0" + b"\x14" + b"P" * 20 + b"third\0" + b"\x21\0" + b"mysql_native_password\0")),
           ("<", pkt(1, b"\xfe" + b"mysql_native_password\0" + b"s3cr3t-salt-0123456\0")),
           (">", pkt(2, b"Q" * 20)), ("<", ok(3)),
           (">", pkt(0, b"\x03SELECT 1")), ("<", one),
           (">", pkt(0, b"\x03USE nosuch")), ("<", err(1, 1049, b"42000", b"Unknown database 'nosuch'")),
           (">", pkt(0, b"\x03SELECT 1")), ("<", one), (".", b"")],
          ["USE - sets=0 rows=0 affected=0 db=shop | USE `other`",
           "SELECT - sets=1 rows=1 affected=0 db=other | SELECT ?",
           "CHANGE_USER - sets=0 rows=0 affected=0 db=other | ",
           "SELECT - sets=1 rows=1 affected=0 db=third | SELECT ?",
           "USE - err=1049/42000 db=third | USE nosuch",
           "SELECT - sets=1 rows=1 affected=0 db=third | SELECT ?"])
    write("ssl_request.conv", "the client asks for SSL: the rest is TLS, nothing is parsed",
          [("<", greeting()), (">", handshake(CAPS | 0x800, ssl=True)),
           (">", bytes.fromhex("1603010200010001fc0303") + pkt(0, b"\x03SELECT 1")),
           ("<", bytes.fromhex("160303005a") + pkt(1, b"\x00\x00\x00\x02\x00\x00\x00")), (".", b"")], [])
    write("auth_failed.conv", "a refused password: no command, no span",
          [("<", greeting()), (">", handshake(CAPS)),
           ("<", err(2, 1045, b"28000", b"Access denied for user 'app'@'localhost' (using password: YES)")),
           (".", b"")], [])


main()
