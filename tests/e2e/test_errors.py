"""Bad input: each gets one clear message, and what was already recorded
is kept."""
import json
import os
import random
import signal
import socket
import subprocess
import time

from lib import (PYTHON, WIRESPAN, Recorder, attr, by_kind, check, check_eq, curl, on_port, run, spans, sqlite,
                 wait_port)


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


def test_cli_usage_errors(env):
    """The reading commands share one option parser (src/cli/opts.c): the
    same exit status and wording for each kind of usage error."""
    def fails(args, want_rc, want_msg):
        p = run([WIRESPAN] + args, check_rc=False, cwd=env.dir)
        check_eq(p.returncode, want_rc, f"exit status of {' '.join(args)} ({p.stderr.strip()[:300]})")
        check(want_msg in p.stderr, f"{' '.join(args)}: {want_msg!r} not in {p.stderr!r}")
        return p

    before = os.listdir(env.dir)
    dbs17 = [a for i in range(17) for a in ("--db", env.path(f"d{i}.db"))]
    tid = "0123456789abcdef"
    for cmd, operands in (("spans", []), ("traces", []), ("explain", [tid]), ("export", ["--otlp", "http://x"]),
                          ("status", []), ("tcp", [])):
        p = run([WIRESPAN, cmd, "--help"], check_rc=False)
        check(p.returncode == 0 and p.stdout.startswith(f"usage: wirespan {cmd}") and not p.stderr,
              f"{cmd} --help: {p.returncode} {p.stdout[:80]!r} {p.stderr!r}")
        # no database here: wirespan.db is the default, and missing
        fails([cmd] + operands, 1, "cannot read database wirespan.db")
        p = fails([cmd, "--bogus"] + operands, 2, "unrecognized option '--bogus'")
        check(f"usage: wirespan {cmd}" in p.stderr, f"{cmd} --bogus: usage on stderr")
        p = fails([cmd, "stray", "stray2"] + operands, 2, "unexpected argument 'stray")
        check(f"usage: wirespan {cmd}" in p.stderr, f"{cmd} stray: usage on stderr")
        if cmd == "status":  # one database: the last --db given
            fails([cmd] + dbs17, 1, "cannot read database " + env.path("d16.db"))
        else:
            fails([cmd] + dbs17 + operands, 2, "at most 16 --db options")
    fails(["explain"], 2, "explain needs one trace id")
    for args, msg in ((["spans", "--limit", "x"], "--limit needs a positive number, not 'x'"),
                      (["spans", "--limit", "-1"], "--limit needs a positive number, not '-1'"),
                      (["spans", "--kind", "x"], "--kind is server or client, not 'x'"),
                      (["status", "--id", "0"], "--id needs a recording number, not '0'"),
                      (["traces", "--min-confidence", "2"], "--min-confidence needs a number from 0 to 1, not '2'"),
                      (["traces", "--min-ms", "-1"], "--min-ms needs a number of milliseconds, not '-1'"),
                      (["tcp", "--by", "x"], "--by is peer, conn or host, not 'x'"),
                      (["export", "--otlp", "http://x", "--attempts", "101"],
                       "--attempts needs a number from 1 to 100, not '101'"),
                      (["export", "--otlp", "http://x", "--header", "x"], "--header needs 'NAME: VALUE', not 'x'"),
                      (["export"], "export needs --otlp URL")):
        p = fails(args, 2, msg)
        check_eq(len(p.stderr.splitlines()), 1, f"{' '.join(args)}: one line, no usage")

    # and the commands that write: refused before anything is opened or created
    for cmd, operands in (("record", []), ("replay", ["ev"]), ("pcap", ["c.pcap"]), ("link", []),
                          ("agent", ["--config", "a.conf"])):
        p = run([WIRESPAN, cmd, "--help"], check_rc=False)
        check(p.returncode == 0 and p.stdout.startswith(f"usage: wirespan {cmd}") and not p.stderr,
              f"{cmd} --help: {p.returncode} {p.stdout[:80]!r} {p.stderr!r}")
        p = fails([cmd, "--bogus"] + operands, 2, "unrecognized option '--bogus'")
        check(f"usage: wirespan {cmd}" in p.stderr, f"{cmd} --bogus: usage on stderr")
        if cmd != "pcap":  # pcap takes any number of files
            p = fails([cmd, "stray", "stray2"] + operands, 2, "unexpected argument 'stray")
            check(f"usage: wirespan {cmd}" in p.stderr, f"{cmd} stray: usage on stderr")
        if cmd != "agent":
            p = fails([cmd] + operands + ["--db"], 2, "option '--db' requires an argument")
            check(f"usage: wirespan {cmd}" in p.stderr, f"{cmd} --db: usage on stderr")
    for args, msg in ((["replay"], "replay needs an event file"),
                      (["pcap"], "pcap needs at least one capture file"),
                      (["agent"], "agent needs --config FILE")):
        p = fails(args, 2, msg)
        check(f"usage: wirespan {args[0]}" in p.stderr, f"{args[0]}: usage on stderr")
    for args, msg in ((["record", "--duration", "x"], "--duration needs a positive number of seconds, not 'x'"),
                      (["record", "--duration", "0"], "--duration needs a positive number of seconds, not '0'"),
                      (["record", "--port", "65536"], "--port needs a port number from 1 to 65535, not '65536'"),
                      (["record", "--pid", "-1"], "--pid needs a process id, not '-1'"),
                      (["record", "--ring-kb", "63"], "--ring-kb needs a size from 64 to 1048576 KiB, not '63'"),
                      (["record", "--cpu-budget", "nan"], "--cpu-budget needs a percentage of the host's CPU"),
                      (["record", "--otlp-protocol", "grpc"],
                       "--otlp-protocol is http/protobuf or http/json, not 'grpc'"),
                      (["record"] + [a for i in range(17) for a in ("--port", str(i + 1))],
                       "at most 16 --port options"),
                      (["record", "--keep-header", "Cookie"], "Cookie carries credentials"),
                      (["pcap", "--max-packets", "x", "c.pcap"],
                       "--max-packets needs a number from 0 to 100000000, not 'x'"),
                      (["pcap", "--max-flows", "9", "c.pcap"], "--max-flows needs a number from 10 to 100000000, not '9'"),
                      (["pcap", "--local", "x", "c.pcap"], "--local needs an IPv4 or IPv6 address, not 'x'"),
                      (["pcap", "--service-map", "x", "c.pcap"], "--service-map needs ADDR=NAME or ADDR:PORT=NAME"),
                      (["pcap", "--host", "", "c.pcap"], "--host needs a name of 1 to 63 characters, not ''")):
        p = fails(args, 2, msg)
        check_eq(len(p.stderr.splitlines()), 1, f"{' '.join(args)}: one line, no usage")
    check_eq(sorted(os.listdir(env.dir)), sorted(before), "nothing created by a refused command")


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
    # room for an empty database (16 KiB pages: ~400 KB with its WAL's
    # first copy of each page) and the first spans, far less than the load
    run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small])
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



NOBODY = 65534


def test_planted_files_are_refused(env):
    """Files an unprivileged user planted where wirespan (as root) writes:
    a symbolic link to a root-only file, a dangling link, a database owned
    by nobody and writable by all, a world-writable database of our own,
    and a hard link. Each is refused with a message naming the file and
    the fix; the link targets are untouched; nothing is created through a
    link; a database wirespan makes is 0600 with its -wal and -shm."""
    d = env.path("shared")
    os.mkdir(d)
    os.chmod(d, 0o1777)
    target = os.path.join(d, "root-only")
    with open(target, "w") as f:
        f.write("precious\n")
    os.chmod(target, 0o600)

    def planted_link(name, to):
        p = os.path.join(d, name)
        os.symlink(to, p)
        os.lchown(p, NOBODY, NOBODY)
        return p
    link = planted_link("link.db", target)
    dangling = planted_link("dangling.events", os.path.join(d, "cron-entry"))
    foreign = os.path.join(d, "foreign.db")
    open(foreign, "w").close()
    os.chown(foreign, NOBODY, NOBODY)
    os.chmod(foreign, 0o666)
    loose = os.path.join(d, "loose.db")
    open(loose, "w").close()
    os.chmod(loose, 0o666)
    hard = os.path.join(d, "hard.db")
    os.link(target, hard)
    rec = [WIRESPAN, "record", "--duration", "1", "--quiet"]
    record_fails(rec + ["--db", link], 1, "it is a symbolic link")
    record_fails(rec + ["--db", foreign], 1, "owned by uid 65534, not by you")
    record_fails(rec + ["--db", loose], 1, f"chmod 600 {loose}")
    record_fails(rec + ["--db", hard], 1, "hard links")
    ok = os.path.join(d, "ok.db")
    record_fails(rec + ["--db", ok, "--save-events", dangling], 1, "it is a symbolic link")
    with open(target) as f:
        check_eq(f.read(), "precious\n", "the link's target is untouched")
    check(not os.path.exists(os.path.join(d, "cron-entry")), "a file was created through a dangling link")
    # a foreign journal beside a database of ours
    os.unlink(ok)
    wal = ok + "-wal"
    open(wal, "w").close()
    os.chown(wal, NOBODY, NOBODY)
    record_fails(rec + ["--db", ok], 1, f"refusing database journal {wal}")
    os.unlink(wal)
    p = run(rec + ["--db", ok, "--save-events", os.path.join(d, "ev.bin")])
    check("secrets included" not in p.stderr, f"a masked event file is no raw one: {p.stderr!r}")
    p = run(rec + ["--db", ok, "--save-events", os.path.join(d, "raw.bin"), "--save-raw"])
    check("secrets included" in p.stderr, f"the raw event file's warning: {p.stderr!r}")
    check_eq(oct(os.stat(os.path.join(d, "raw.bin")).st_mode & 0o777), "0o600", "mode of the raw event file")
    for f in (ok, ok + "-wal", ok + "-shm", os.path.join(d, "ev.bin")):
        if os.path.exists(f):
            check_eq(oct(os.stat(f).st_mode & 0o777), "0o600", f"mode of {f}")
    # a world-writable directory without the sticky bit is named
    open_dir = env.path("open")
    os.mkdir(open_dir)
    os.chmod(open_dir, 0o777)
    p = run(rec + ["--db", os.path.join(open_dir, "x.db")])
    check("writable by anyone and has no sticky bit" in p.stderr, f"no warning: {p.stderr!r}")


def test_privileges_dropped_while_recording(env):
    """Once it captures, the recorder keeps CAP_BPF, CAP_PERFMON,
    CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH only, with NoNewPrivs and a
    seccomp filter (read from /proc/PID/status while it runs), still
    records, and `status` says so; --no-sandbox keeps everything."""
    port = 18103
    env.python_http(port)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    def status(path):
        st = {}
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                st[k] = v.strip()
        return st
    want = (1 << 39) | (1 << 38) | (1 << 19) | (1 << 2)  # BPF, PERFMON, SYS_PTRACE, DAC_READ_SEARCH
    tasks = os.listdir(f"/proc/{rec.proc.pid}/task")
    check(len(tasks) >= 2, f"the recorder's threads: {tasks}")
    for t in tasks:  # capabilities are per thread: every one of them
        st = status(f"/proc/{rec.proc.pid}/task/{t}/status")
        for k in ("CapEff", "CapPrm", "CapBnd"):
            check_eq(int(st[k], 16), want, f"{k} of thread {t} while recording")
        check_eq(int(st["CapInh"], 16), 0, "CapInh")
        check_eq(st["NoNewPrivs"], "1", "NoNewPrivs")
        check_eq(st["Seccomp"], "2", "seccomp filter mode")
    # the helper that creates uprobes keeps CAP_SYS_ADMIN (bit 21) too, under its own filter
    helper = [c for c in os.listdir("/proc")
              if c.isdigit() and os.path.exists(f"/proc/{c}/comm") and
              open(f"/proc/{c}/comm").read().strip() == "wirespan-attach" and
              status(f"/proc/{c}/status").get("PPid") == str(rec.proc.pid)]
    check_eq(len(helper), 1, "the uprobe attacher")
    st = status(f"/proc/{helper[0]}/status")
    check_eq(int(st["CapEff"], 16), want | (1 << 21), "the attacher's capabilities")
    check_eq((st["NoNewPrivs"], st["Seccomp"]), ("1", "2"), "the attacher's NoNewPrivs and filter")
    # its socket and five programs (Go, asyncio step and return, TLS entry
    # and return): no copy of the recorder's links, rings or database
    check(len(os.listdir(f"/proc/{helper[0]}/fd")) <= 6, f"the attacher's files: {os.listdir(f'/proc/{helper[0]}/fd')}")
    for n in range(5):
        curl(f"http://127.0.0.1:{port}/?n={n}")
    out = run([WIRESPAN, "status", "--db", db]).stdout
    check("privileges while capturing: cap_dac_read_search, cap_sys_ptrace, cap_perfmon, cap_bpf only; NoNewPrivs; "
          "seccomp allow-list of" in out, f"status:\n{out}")
    rec.stop_ok()
    check_eq(len(on_port(spans(db), port)), 10, "spans recorded inside the sandbox")
    j = json.loads(run([WIRESPAN, "status", "--db", db, "--json"]).stdout.splitlines()[0])
    check(j["privileges"]["no_new_privs"] and j["privileges"]["seccomp_syscalls"] > 50, f"status --json: {j}")
    db2 = env.path("full.db")
    rec = Recorder(env, db2, "--port", str(port), "--no-sandbox")
    with open(f"/proc/{rec.proc.pid}/status") as f:
        eff = [l for l in f if l.startswith("CapEff")][0]
    rec.stop_ok()
    check(int(eff.split()[1], 16) != want, f"--no-sandbox keeps every capability: {eff}")
    check("every capability kept" in run([WIRESPAN, "status", "--db", db2]).stdout, "status names --no-sandbox")


def test_crafted_database(env):
    """A database someone else made to trap its reader: the spans table
    replaced by a recursive view, or a trigger added. Readers refuse it at
    once, naming the file, instead of hanging or running its SQL."""
    port = 18104
    env.python_http(port)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    curl(f"http://127.0.0.1:{port}/")
    rec.stop_ok()
    check_eq(len(on_port(spans(db), port)), 2, "spans before the change")
    viewed = env.path("view.db")
    run(["cp", db, viewed])
    sqlite(viewed, "ALTER TABLE spans RENAME TO spans_old; CREATE VIEW spans AS WITH RECURSIVE r(x) AS "
                   "(SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT * FROM spans_old, r;")
    trig = env.path("trigger.db")
    run(["cp", db, trig])
    sqlite(trig, "CREATE TABLE log(x); CREATE TRIGGER t AFTER INSERT ON spans BEGIN INSERT INTO log VALUES (1); END;")
    for f, what in ((viewed, "a view (spans)"), (trig, "a trigger (t)")):
        for cmd in (["spans", "--limit", "5"], ["traces"], ["status"]):
            t0 = time.time()
            p = run([WIRESPAN] + cmd + ["--db", f], check_rc=False, timeout=30)
            check(p.returncode == 1 and what in p.stderr and f in p.stderr,
                  f"{cmd[0]} on {what}: exit {p.returncode}, {p.stderr.strip()!r}")
            check(time.time() - t0 < 10, f"{cmd[0]} took {time.time() - t0:.1f}s")
    record_fails([WIRESPAN, "record", "--db", trig, "--duration", "1"], 1, "a trigger (t)")


LABEL_SERVER = r"""
import ctypes, http.server, sys
# a process name with a terminal escape in it (prctl PR_SET_NAME)
ctypes.CDLL(None).prctl(15, b"\x1b]0;owned\x07x", 0, 0, 0)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def test_names_are_labels(env):
    """A process may call itself anything (here OTEL_SERVICE_NAME "sshd"
    with a terminal escape) and name its thread with escapes: service.name
    is kept as a label, beside what the kernel says the process is
    (process.executable.name and .path, and where the name came from), and
    no control character reaches the text outputs."""
    port = 18105
    script = env.path("label.py")
    with open(script, "w") as f:
        f.write(LABEL_SERVER)
    envv = dict(os.environ, OTEL_SERVICE_NAME="sshd\x1b[2J\x1b]0;pwned\x07")
    env.spawn([PYTHON, script, str(port)], env=envv, cwd=env.path())
    wait_port("127.0.0.1", port)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    curl(f"http://127.0.0.1:{port}/")
    rec.stop_ok()
    srv = [s for s in on_port(spans(db), port) if s["kind"] == "server"]
    check_eq(len(srv), 1, "server spans")
    a = srv[0]["attributes"]
    check(srv[0]["resource"]["service.name"].startswith("sshd") if "resource" in srv[0] else
          a.get("service.name", "").startswith("sshd"), f"the label is kept: {srv[0]}")
    check_eq(a.get("wirespan.service.name_from"), "OTEL_SERVICE_NAME", "where the name came from")
    check_eq(a.get("process.executable.path"), os.path.realpath(PYTHON), "the executable beside it")
    check(a.get("process.executable.name", "").endswith("x"), f"the kernel's name: {a}")
    for cmd in (["spans"], ["traces"], ["tcp"], ["status"], ["explain", srv[0]["trace_id"]]):
        out = subprocess.run([WIRESPAN] + cmd + ["--db", db], capture_output=True, timeout=60).stdout
        bad = [c for c in out if (c < 0x20 and c not in (0x0a, 0x09)) or c == 0x7f]
        check(not bad, f"{cmd[0]}: control characters reach the terminal: {out[:400]!r}")
