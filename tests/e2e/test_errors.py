"""Bad input: each gets one clear message, and what was already recorded
is kept."""
import json
import os
import random
import signal
import socket
import subprocess
import time

from lib import (WIRESPAN, Recorder, attr, by_kind, check, check_eq, curl, on_port, run, spans, sqlite)


def record_fails(cmd, want_rc, want_msg, **kw):
    p = run(cmd, check_rc=False, **kw)
    check_eq(p.returncode, want_rc, f"exit status of {' '.join(cmd)} ({p.stderr.strip()})")
    check(want_msg in p.stderr, f"message {want_msg!r} not in {p.stderr!r}")
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(len(lines) <= 2, f"one clear message, got: {p.stderr!r}")
    return p


def test_not_root(env):
    record_fails(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                  WIRESPAN, "record", "--db", env.path("x.db"), "--duration", "1"], 1, "needs root")


def test_unwritable_database(env):
    record_fails([WIRESPAN, "record", "--db", "/proc/wirespan-test.db", "--duration", "1"], 1,
                 "cannot open database /proc/wirespan-test.db")
    record_fails([WIRESPAN, "record", "--db", env.path("no", "such", "dir.db"), "--duration", "1"], 1,
                 "No such file or directory")
    other = env.path("other.db")
    run(["sqlite3", other, "CREATE TABLE accounts(id INTEGER); INSERT INTO accounts VALUES (1);"])
    record_fails([WIRESPAN, "record", "--db", other, "--duration", "1"], 1, "database of another program")
    check_eq(sqlite(other, "SELECT count(*) FROM accounts").strip(), "1", "the other program's data is untouched")
    record_fails([WIRESPAN, "spans", "--db", env.path("absent.db")], 1, "cannot read database")


def test_no_btf(env):
    """A kernel without BTF (hidden here in a private mount namespace)."""
    record_fails(["unshare", "-m", "sh", "-c",
                  f"mount -t tmpfs none /sys/kernel/btf && exec {WIRESPAN} record --db {env.path('x.db')} --duration 1"],
                 1, "BTF")


def test_tracefs_unmounted(env):
    """tracefs not mounted: wirespan mounts it and records."""
    port = 18096
    env.python_http(port)
    db = env.path("t.db")
    script = (f"umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; "
              f"test ! -e /sys/kernel/tracing/events || exit 9; "
              f"exec {WIRESPAN} record --db {db} --port {port}")
    rec = subprocess.Popen(["unshare", "-m", "sh", "-c", script], stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    env.procs.append(rec)
    line = rec.stderr.readline()
    check("tracefs was not mounted; mounted it" in line, f"first message: {line!r}")
    check("recording to" in rec.stderr.readline(), "recording started")
    curl(f"http://127.0.0.1:{port}/")
    rec.send_signal(signal.SIGINT)
    check_eq(rec.wait(30), 0, "exit status")
    check_eq(len(on_port(spans(db), port)), 2, "spans recorded")


def test_bad_arguments(env):
    db = env.path("x.db")
    for args, msg in ((["--port", "0"], "--port needs a port number"),
                      (["--port", "http"], "--port needs a port number"),
                      (["--duration", "-1"], "--duration needs a positive number"),
                      (["--pid", "x"], "--pid needs a process id"),
                      (["--comm", "a-name-longer-than-15"], "process names have 1 to 15 characters"),
                      (["--netns", "/nonexistent/ns"], "--netns /nonexistent/ns: No such file"),
                      (["--payload-bytes", "99999"], "--payload-bytes needs a number"),
                      (["stray"], "unexpected argument 'stray'")):
        p = run([WIRESPAN, "record", "--db", db] + args, check_rc=False)
        check_eq(p.returncode, 2, f"exit status for {args}")
        check(msg in p.stderr, f"{args}: {msg!r} not in {p.stderr!r}")
    check(not os.path.exists(db), "no database created for bad arguments")
    p = run([WIRESPAN, "frobnicate"], check_rc=False)
    check(p.returncode == 2 and "unknown command 'frobnicate'" in p.stderr, p.stderr)


def test_garbage_streams(env):
    """Random bytes to a server, and valid requests after them: no crash,
    the valid exchanges recorded exactly."""
    port = 18097
    env.python_http(port, http11=True)
    www = env.path("www")
    with open(os.path.join(www, "ok.txt"), "w") as f:
        f.write("ok")
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    rnd = random.Random(7)
    for i in range(20):
        with socket.create_connection(("127.0.0.1", port)) as s:
            junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000)))
            if i % 4 == 0:
                junk = b"GET /" + junk  # looks like HTTP, then is not
            s.sendall(junk + b"\r\n\r\n")
            s.settimeout(2)
            try:
                s.recv(65536)
            except OSError:
                pass
    curl(*[f"http://127.0.0.1:{port}/ok.txt"] * 3)
    rec.stop_ok()
    ok = [s for s in on_port(spans(db), port) if attr(s, "url.path") == "/ok.txt"]
    check_eq(len(by_kind(ok, "server")), 3, "valid server spans after garbage")
    check_eq(len(by_kind(ok, "client")), 3, "valid client spans after garbage")


def test_sigterm_and_append(env):
    """SIGTERM ends a recording cleanly; a second recording appends."""
    port = 18098
    env.python_http(port)
    db = env.path("t.db")
    for sig in (signal.SIGINT, signal.SIGTERM):
        rec = Recorder(env, db, "--port", str(port))
        curl(f"http://127.0.0.1:{port}/")
        rc, err = rec.stop(sig)
        check_eq(rc, 0, f"exit status after {sig.name}")
        check("1 server, 1 client" in err, f"summary after {sig.name}: {err}")
    check_eq(sqlite(db, "SELECT count(*), min(status), max(status) FROM recordings").strip(), "2|complete|complete",
             "two complete recordings")
    check_eq(len(spans(db)), 4, "spans of both recordings")
    lost = sqlite(db, "SELECT sum(value) FROM counters WHERE kind = 'lost' AND name != 'incomplete_at_end'")
    check_eq(lost.strip(), "0", "nothing lost")


def test_sigkill_keeps_database(env):
    """SIGKILL mid-recording, after a traced server crashed with a request
    in flight: the database opens, with what was committed; `status` says
    the recording was interrupted; the next recording appends to it."""
    port, rport = 18099, 18119
    env.python_http(port)
    env.redis(rport)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port), "--port", str(rport))
    for _ in range(5):
        curl(f"http://127.0.0.1:{port}/")
    # a traced process crashes: redis-server killed while a client waits
    blpop = env.spawn(["redis-cli", "-p", str(rport), "BLPOP", "nothing", "0"])
    time.sleep(0.5)
    run(["pkill", "-KILL", "-f", f"redis-server.*{rport}"])
    blpop.wait(10)
    time.sleep(1.5)  # several commits, and a status update
    st = json.loads(run([WIRESPAN, "status", "--db", db, "--json"]).stdout)
    check_eq(st["state"], "running", "status of the running recording")
    rec.proc.send_signal(signal.SIGKILL)
    rec.proc.wait()
    check_eq(sqlite(db, "PRAGMA integrity_check").strip(), "ok", "integrity")
    check_eq(len(on_port(spans(db), port)), 10, "committed spans survive SIGKILL")
    check_eq(sqlite(db, "SELECT status FROM recordings").strip(), "recording", "the recording never ended")
    st = json.loads(run([WIRESPAN, "status", "--db", db, "--json"]).stdout)
    check_eq(st["state"], "interrupted", "status after SIGKILL")
    check(st["spans"] >= 10, f"spans as of the last update: {st['spans']}")
    text = run([WIRESPAN, "status", "--db", db]).stdout
    check("stopped without finishing" in text, text)
    # the database takes the next recording; SIGTERM ends it cleanly
    rec = Recorder(env, db, "--port", str(port))
    curl(f"http://127.0.0.1:{port}/")
    time.sleep(0.5)
    rc, err = rec.stop(signal.SIGTERM)
    check_eq(rc, 0, f"exit status after SIGTERM ({err})")
    check_eq(sqlite(db, "SELECT status FROM recordings ORDER BY id").split(), ["recording", "complete"],
             "the second recording ended")
    check_eq(json.loads(run([WIRESPAN, "status", "--db", db, "--json"]).stdout)["state"], "complete",
             "status of the second recording")
    check_eq(len(on_port(spans(db), port)), 12, "spans of both recordings")
    check_eq(sqlite(db, "PRAGMA integrity_check").strip(), "ok", "integrity after both")


def test_disk_full(env):
    """The database's disk fills up mid-recording: wirespan stops with a
    clear message and what it stored before stays readable."""
    port = 18100
    small = env.path("small")
    os.makedirs(small)
    run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", small])
    try:
        prefix = env.nginx(port)
        with open(os.path.join(prefix, "www", "index.html"), "w") as f:
            f.write("x")
        db = os.path.join(small, "t.db")
        rec = Recorder(env, db, "--port", str(port))
        for _ in range(10):
            curl(f"http://127.0.0.1:{port}/index.html")
        time.sleep(1.0)  # committed
        subprocess.run(["wrk", "-t", "1", "-c", "2", "-d", "3s", f"http://127.0.0.1:{port}/index.html"],
                       capture_output=True)
        rc, err = rec.stop()
        check_eq(rc, 1, f"exit status when the disk is full ({err})")
        check_eq(err.count("cannot write to"), 1, f"one message: {err}")
        check("what was recorded before is kept" in err and "database or disk is full" in err, f"message: {err}")
        check("of those spans are in the database" in err, f"summary: {err}")
        n = len(on_port(spans(db), port))
        check(n >= 20, f"spans kept: {n} ({err})")
        check_eq(sqlite(db, "PRAGMA integrity_check").strip(), "ok", "integrity")
        # status tells what the file holds, not the totals the recorder
        # could no longer write
        st = json.loads(run([WIRESPAN, "status", "--db", db, "--json"]).stdout.splitlines()[-1])
        check_eq(st["spans"], int(sqlite(db, "SELECT count(*) FROM spans").strip()), "status: spans in the file")
        text = run([WIRESPAN, "status", "--db", db]).stdout
        check(f"spans {st['spans']}," in text, text)
        if st["spans_counted"] != st["spans"]:  # its last totals could not be written
            check("behind what it stored" in text, text)
    finally:
        subprocess.run(["umount", "-l", small], capture_output=True)


def test_damaged_database(env):
    """A database whose pages were overwritten: every reader says the
    file cannot be read and exits non-zero, instead of printing part of
    it as if that were all."""
    port = 18102
    env.python_http(port)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    for n in range(40):
        curl(f"http://127.0.0.1:{port}/?n={n}")
    rec.stop_ok()
    check_eq(len(on_port(spans(db), port)), 80, "spans before the damage")
    size = os.path.getsize(db)
    with open(db, "r+b") as f:  # keep the header page, overwrite the rest
        f.seek(4096)
        f.write(bytes([0xA5]) * (size - 4096))
    for cmd in (["status"], ["tcp"], ["spans"], ["traces"]):
        p = run([WIRESPAN] + cmd + ["--db", db], check_rc=False)
        check(p.returncode == 1, f"{cmd[0]}: exit status {p.returncode} ({p.stderr.strip()})")
        check(db in p.stderr, f"{cmd[0]}: the message names the file: {p.stderr!r}")

