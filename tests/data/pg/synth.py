#!/usr/bin/env python3
"""Write the PostgreSQL conversations no client here produces on demand
(tests/data/pg/*.conv beside this file): a pipeline whose second statement
fails, an encryption request the server accepts, a failed password, and a
result set larger than a capture prefix. The recorded ones (psql, pgbench)
come from tests/tools/pcap2conv.py."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import convfile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return s.encode() + b"\0"


def startup(db="shop"):
    body = struct.pack("!I", 0x30000) + cstr("user") + cstr("app") + cstr("database") + cstr(db) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


def auth_ok():
    return (msg(b"R", struct.pack("!I", 0)) + msg(b"S", cstr("server_version") + cstr("15.18")) +
            msg(b"K", struct.pack("!II", 1234, 5678)) + msg(b"Z", b"I"))


def parse(sql, name=""):
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!H", 0))


def bind(params, stmt=""):
    body = cstr("") + cstr(stmt) + struct.pack("!H", 0) + struct.pack("!H", len(params))
    for p in params:
        body += struct.pack("!I", len(p)) + p
    return msg(b"B", body + struct.pack("!H", 0))


def execute():
    return msg(b"E", cstr("") + struct.pack("!I", 0))


def error(code, text):
    return msg(b"E", b"S" + cstr("ERROR") + b"V" + cstr("ERROR") + b"C" + cstr(code) + b"M" + cstr(text) + b"\0")


def write(name, title, segs, expect):
    convfile.write(os.path.join(HERE, name), title, segs, expect)


def main():
    ins = "INSERT INTO orders (id, note) VALUES ($1, $2)"
    write("pipeline_error.conv", "a pipeline of three INSERTs whose second violates a key: the third is skipped",
          [(">", startup()), ("<", auth_ok()),
           (">", parse(ins) + bind([b"1", b"s3cr3t-card-4111"]) + execute() + parse(ins) +
            bind([b"1", b"dup"]) + execute() + parse(ins) + bind([b"2", b"x"]) + execute() + msg(b"S")),
           ("<", msg(b"1") + msg(b"2") + msg(b"n") + msg(b"C", cstr("INSERT 0 1")) + msg(b"1") + msg(b"2") +
            error("23505", 'duplicate key value violates unique constraint "orders_pkey": s3cr3t-detail') + msg(b"Z", b"I")),
           (">", msg(b"Q", cstr("SELECT note FROM orders WHERE id = 1 AND note <> 's3cr3t-literal' -- s3cr3t-comment\n"
                            "/* a /* nested */ s3cr3t-nested */ AND \"kept-ident\" IS NOT NULL"))),
           ("<", msg(b"T", struct.pack("!H", 1) + cstr("note") + struct.pack("!IHIhiH", 0, 0, 25, -1, -1, 0)) +
            msg(b"D", struct.pack("!HI", 1, 16) + b"s3cr3t-card-4111") + msg(b"C", cstr("SELECT 1")) +
            msg(b"Z", b"I")),
           (">", msg(b"X")), (".", b"")],
          ["INSERT orders rows=0 tag=INSERT 0 1 | INSERT INTO orders (id, note) VALUES ($1, $2)",
           "INSERT orders err=23505 | INSERT INTO orders (id, note) VALUES ($1, $2)",
           "INSERT orders skipped | INSERT INTO orders (id, note) VALUES ($1, $2)",
           "SELECT orders rows=1 tag=SELECT 1 | SELECT note FROM orders WHERE id = ? AND note <> ? AND \"kept-ident\" IS NOT NULL"])
    write("ssl_accepted.conv", "the server accepts an SSLRequest: the rest is TLS, nothing is parsed",
          [(">", struct.pack("!II", 8, 80877103)), ("<", b"S"),
           (">", bytes.fromhex("160301020001") + b"Q\0\0\0\x0dSELECT 1\0"), ("<", bytes.fromhex("1603030058") + b"Z\0\0\0\x05I"),
           (".", b"")], [])
    write("auth_failed.conv", "a wrong password: the server refuses the startup; no request was made",
          [(">", startup()), ("<", msg(b"R", struct.pack("!I", 3))), (">", msg(b"p", cstr("wrong-s3cr3t"))),
           ("<", error("28P01", 'password authentication failed for user "app"')), (".", b"")], [])
    data = [b"".join(msg(b"d", b"%d\n" % (w * 1000 + i)) for i in range(1000)) for w in range(3)]
    write("copy_in.conv", "COPY FROM STDIN of 3000 rows, one CopyData each, in three 10 KB writes, then a query",
          [(">", startup()), ("<", auth_ok()),
           (">", msg(b"Q", cstr("COPY t FROM STDIN"))), ("<", msg(b"G", b"\0" + struct.pack("!Hh", 1, 0))),
           (">", data[0]), (">", data[1]), (">", data[2] + msg(b"c")),
           ("<", msg(b"C", cstr("COPY 3000")) + msg(b"Z", b"I")),
           (">", msg(b"Q", cstr("SELECT 42"))),
           ("<", msg(b"T", struct.pack("!H", 1) + cstr("x") + struct.pack("!IHIhiH", 0, 0, 23, 4, -1, 0)) +
            msg(b"D", struct.pack("!HI", 1, 2) + b"42") + msg(b"C", cstr("SELECT 1")) + msg(b"Z", b"I")),
           (".", b"")],
          ["COPY t rows=0 tag=COPY 3000 | COPY t FROM STDIN", "SELECT - rows=1 tag=SELECT 1 | SELECT ?"])
    rows = b"".join(msg(b"D", struct.pack("!HI", 1, 40) + (b"row %04d " % i) * 4) for i in range(60))
    write("big_result.conv", "a result of 60 rows (2.8 KB in one write), then a small query",
          [(">", startup()), ("<", auth_ok()),
           (">", msg(b"Q", cstr("SELECT payload FROM events ORDER BY id LIMIT 60"))),
           ("<", msg(b"T", struct.pack("!H", 1) + cstr("payload") + struct.pack("!IHIhiH", 0, 0, 25, -1, -1, 0)) +
            rows + msg(b"C", cstr("SELECT 60")) + msg(b"Z", b"I")),
           (">", msg(b"Q", cstr("SELECT 1"))),
           ("<", msg(b"T", struct.pack("!H", 1) + cstr("x") + struct.pack("!IHIhiH", 0, 0, 23, 4, -1, 0)) +
            msg(b"D", struct.pack("!HI", 1, 1) + b"1") + msg(b"C", cstr("SELECT 1")) + msg(b"Z", b"I")),
           (".", b"")],
          ["SELECT events rows=60 tag=SELECT 60 | SELECT payload FROM events ORDER BY id LIMIT ?",
           "SELECT - rows=1 tag=SELECT 1 | SELECT ?"])


main()
