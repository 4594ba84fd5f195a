"""Secrets in traffic never reach a file wirespan writes: a corpus of more
than 100 placements (query values under names on no list, tokens in paths,
credential headers, userinfo, tracestate, bodies, Redis values, scripts,
passwords and error texts that echo arguments), recorded live and read from
a capture of the same traffic, and saved as an event file (masked by
default); every byte of every database, -wal and -shm, and of the event
file, is searched for each secret. The masked event file replays into the
spans the recording made."""
import glob
import os
import secrets
import socket
import subprocess

from lib import (PYTHON, WIRESPAN, Recorder, Tcpdump, check, check_eq, run, spans, wait_port)

QUERY_NAMES = [
    "private_token", "auth_token", "jwt", "pass", "client_assertion", "access-token", "api%5Fkey",
    "user%5Bpassword%5D", "X-Goog-Credential", "token", "access_token", "refresh_token", "id_token", "code",
    "state", "nonce", "otp", "pin", "ssn", "card", "cvv", "iban", "email", "phone", "secret_key", "privateKey",
    "passphrase", "credentials", "bearer", "session_id", "sid", "ticket", "hash", "hmac", "digest", "salt",
    "mfa", "totp", "recovery", "invite", "reset", "magic", "license", "serial", "account", "q", "search",
    "redirect_uri", "callback", "data", "payload", "p", "k", "v", "x", "AWSAccessKeyId", "Signature",
    "X-Amz-Security-Token", "sig", "key",
]


def marker():
    # letters and digits, 20 characters: what a token looks like
    return "Zq" + secrets.token_hex(9)


def send(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass


def test_no_secret_reaches_storage(env):
    port, rport = 18106, 16384
    env.python_http(port)
    env.redis(rport)
    db, pdb, rdb = env.path("live.db"), env.path("capture.db"), env.path("replay.db")
    events = env.path("events.bin")
    dump = Tcpdump(env, None, env.path("lo.pcap"), "-i", "lo", f"tcp port {port} or tcp port {rport}")
    rec = Recorder(env, db, "--port", str(port), "--port", str(rport), "--save-events", events)
    placed = []

    def req(target, headers=(), body=b""):
        h = "".join(f"{k}: {v}\r\n" for k, v in headers)
        if body:
            h += f"Content-Length: {len(body)}\r\n"
        method = "POST" if body else "GET"
        send(port, f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{h}\r\n".encode()
             + body)
    for name in QUERY_NAMES:  # query values under any name
        m = marker()
        placed.append(m)
        req(f"/search?page=1&{name}={m}")
    for tmpl in ("/reset-password/{m}", "/bot123456:{m}/sendMessage", "/cart;jsessionid={m}/items",
                 "/api/token/{m}", "/files/{m}/raw", "/unsubscribe/{m}", "/verify/{m}", "/invite/{m}",
                 "/a/{m}", "/oauth/{m}/callback", "/s?{m}", "/k/key/{m}"):
        m = marker()
        placed.append(m)
        req(tmpl.format(m=m))
    for name, fmt in (("Authorization", "Bearer {m}"), ("Proxy-Authorization", "Basic {m}"),
                      ("Cookie", "session={m}; theme=dark"), ("X-Api-Key", "{m}"), ("X-Auth-Token", "{m}"),
                      ("tracestate", "vendor={m}"), ("X-Forwarded-Authorization", "{m}"), ("Api-Key", "{m}"),
                      ("X-Csrf-Token", "{m}"), ("Referer", "http://x/reset?token={m}")):
        m = marker()
        placed.append(m)
        req("/h", [(name, fmt.format(m=m))])
    for _ in range(4):  # userinfo in Host, and bodies
        m = marker()
        placed.append(m)
        send(port, f"GET /u HTTP/1.1\r\nHost: admin:{m}@127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        m = marker()
        placed.append(m)
        req("/form", body=f"user=a&password={m}".encode())
    cli = ["redis-cli", "-p", str(rport)]
    for tmpl in (["SET", "k", "{m}"], ["HSET", "h", "f", "{m}"], ["MSET", "k1", "{m}"], ["ECHO", "{m}"],
                 ["PING", "{m}"], ["EVAL", "return '{m}'", "0"], ["SCRIPT", "LOAD", "return '{m}'"],
                 ["CLIENT", "SETNAME", "{m}"], ["PUBLISH", "ch", "{m}"], ["XADD", "st", "*", "f", "{m}"],
                 ["ACL", "SETUSER", "u1", "on", ">{m}"], ["ACL", "SETUSER", "u2", "bad{m}"],
                 ["LPUSH", "l", "{m}"], ["SADD", "s", "{m}"], ["GETSET", "k", "{m}"], ["APPEND", "k", "{m}"],
                 ["SET", "k2", "v", "{m}"]):
        m = marker()
        placed.append(m)
        run(cli + [a.format(m=m) for a in tmpl], check_rc=False)
    m = marker()
    placed.append(m)
    run(cli + ["CONFIG", "SET", "requirepass", m])
    run(cli + ["-a", m, "--no-auth-warning", "SET", "after", "auth"])
    m2 = marker()
    placed.append(m2)
    run(cli + ["-a", m2, "--no-auth-warning", "GET", "x"], check_rc=False)  # a wrong password
    run(cli + ["-a", m, "--no-auth-warning", "CONFIG", "SET", "requirepass", ""])
    err = rec.stop_ok()
    check("--save-raw" not in err, f"a masked event file is not warned about as raw: {err}")
    dump.stop()
    run([WIRESPAN, "pcap", "--db", pdb, env.path("lo.pcap")])
    replayed = run([WIRESPAN, "replay", "--db", rdb, events])
    check("payloads masked when recorded" in replayed.stderr, replayed.stderr)
    check(len(placed) >= 100, f"{len(placed)} placements")
    got = spans(db)
    check(len([s for s in got if s["kind"] == "server"]) >= 100, f"the requests were recorded: {len(got)} spans")
    # the masked file gives the spans the recording gave
    def shape(ss):
        return sorted((s["kind"], s["name"], s["attributes"].get("http.response.status_code", 0),
                       s["attributes"].get("db.operation.name", ""), s["attributes"].get("url.query", ""))
                      for s in ss)
    check_eq(shape(spans(rdb)), shape(got), "spans replayed from the masked event file")
    files = sorted(set(glob.glob(db + "*") + glob.glob(pdb + "*") + glob.glob(rdb + "*") + [events]))
    found = []
    for f in files:
        data = open(f, "rb").read()
        found += [(m, os.path.basename(f)) for m in placed if m.encode() in data]
    check_eq(found, [], f"secrets in {', '.join(os.path.basename(f) for f in files)} of {len(placed)} placed")
    if os.environ.get("WS_TEST_REPORT"):
        print(f"     {len(placed)} secrets placed, {len(found)} found in {len(files)} files")


def test_save_raw_is_asked_for(env):
    """--save-raw keeps the payloads as captured, with a warning; it means
    nothing without --save-events."""
    port = 18107
    env.python_http(port)
    db, events = env.path("raw.db"), env.path("raw.bin")
    r = run([WIRESPAN, "record", "--db", db, "--save-raw", "--duration", "1"], check_rc=False)
    check_eq(r.returncode, 2, f"--save-raw alone: {r.stderr}")
    check("give --save-events too" in r.stderr, r.stderr)
    rec = Recorder(env, db, "--port", str(port), "--save-events", events, "--save-raw")
    m = marker()
    send(port, f"GET /q?token={m} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".encode())
    err = rec.stop_ok()
    check("--save-raw" in err and "secrets included" in err, f"no warning: {err}")
    check(m.encode() in open(events, "rb").read(), "the raw event file holds the bytes as captured")
    check(m.encode() not in open(db, "rb").read(), "the database is redacted all the same")
    check_eq(oct(os.stat(events).st_mode & 0o777), "0o600", "the raw event file's mode")
    replayed = run([WIRESPAN, "replay", "--db", env.path("raw-replay.db"), events])
    check("as captured" in replayed.stderr, replayed.stderr)
