"""MySQL / MariaDB end to end: mysqlslap (text protocol, four clients) and a
Connector/C client (prepared statements, a failed prepare, several result
sets) against Debian's MariaDB 10.11, counted against the server's own
Com_* status counters."""
import os
import shutil
import subprocess

from lib import ROOT, WIRESPAN, Failure, Recorder, attr, by_kind, check, check_eq, file_bytes, run, spans, wait_port

PASSWORD = "my-s3cr3t-e2e"


class MariaDB:
    """A server of the test's own, run as the mysql user, with a user that
    logs in over TCP with a password."""

    def __init__(self, env, port):
        if not shutil.which("mariadbd"):
            raise Failure("mariadb-server is not installed (scripts/deps.sh installs it)")
        self.port = port
        top = env.path("mysql")
        os.makedirs(top)
        shutil.chown(top, "mysql")
        self.sock = os.path.join(top, "sock")
        run(["mariadb-install-db", "--no-defaults", "--user=mysql", "--datadir=" + os.path.join(top, "data"),
             "--auth-root-authentication-method=socket", "--skip-test-db"], cwd=top, timeout=120)
        env.spawn(["runuser", "-u", "mysql", "--", "mariadbd", "--no-defaults", "--datadir=" + os.path.join(top, "data"),
                   "--socket=" + self.sock, "--port=" + str(port), "--bind-address=127.0.0.1",
                   "--pid-file=" + os.path.join(top, "pid"), "--log-error=" + os.path.join(top, "err.log"),
                   "--skip-log-bin", "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=0"],
                  cwd=top)
        wait_port("127.0.0.1", port, timeout=60)
        self.root(f"CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; "
                  "GRANT ALL ON *.* TO 'app'@'127.0.0.1'; CREATE DATABASE shop")

    def root(self, sql):
        return run(["mariadb", "--no-defaults", "-S", self.sock, "-u", "root", "-N", "-B", "-e", sql]).stdout

    def status(self):
        """The server's Com_* counters."""
        out = self.root("SHOW GLOBAL STATUS LIKE 'Com\\_%'")
        return {k: int(v) for k, v in (line.split("\t") for line in out.splitlines())}


def my_spans(db, port):
    return [s for s in spans(db) if attr(s, "db.system.name") == "mysql" and attr(s, "server.port") == port]


def delta(before, after, name):
    return after[name] - before[name]


def test_mysqlslap_counts(env):
    """mysqlslap, four clients, generated schema, inserts and selects: one
    server span per statement MariaDB ran, by operation, against its Com_*
    counters, and as many client spans."""
    port = 13306
    my = MariaDB(env, port)
    db = env.path("t.db")
    before = my.status()
    rec = Recorder(env, db)
    run(["mysqlslap", "--no-defaults", "-h", "127.0.0.1", "-P", str(port), "-u", "app", f"-p{PASSWORD}",
         "--ssl=0", "--concurrency=4", "--iterations=2", "--number-of-queries=200", "--auto-generate-sql",
         "--auto-generate-sql-load-type=mixed", "--auto-generate-sql-add-autoincrement"], timeout=300)
    rec.stop_ok()
    after = my.status()
    ss = my_spans(db, port)
    srv, cli = by_kind(ss, "server"), by_kind(ss, "client")
    check(len(srv) > 400, f"{len(srv)} server spans")
    for op, com in (("SELECT", "Com_select"), ("INSERT", "Com_insert"), ("CREATE", None), ("DROP", "Com_drop_db")):
        n = len([s for s in srv if attr(s, "db.operation.name") == op])
        if com:
            check_eq(n, delta(before, after, com), f"server {op} spans vs {com}")
        check_eq(len([s for s in cli if attr(s, "db.operation.name") == op]), n, f"client {op} spans")
    creates = delta(before, after, "Com_create_db") + delta(before, after, "Com_create_table")
    check_eq(len([s for s in srv if attr(s, "db.operation.name") == "CREATE"]), creates,
             "CREATE spans vs Com_create_db + Com_create_table")
    check(all(attr(s, "service.name") == "mariadbd" for s in srv), "server service.name")
    check(all(attr(s, "service.name") == "mysqlslap" for s in cli), "client service.name")
    ins = [s for s in srv if attr(s, "db.operation.name") == "INSERT"]
    check(all(attr(s, "db.collection.name") == "t1" and attr(s, "wirespan.mysql.affected_rows") == 1 for s in ins),
          "INSERT t1, one row each")
    check(all("'" not in attr(s, "db.query.text") for s in ins), "literals replaced")
    check(not any(s["attributes"].get("error.type") for s in ss), "no error")


def test_connector_c(env):
    """Connector/C: prepared statements (binary protocol) with parameters,
    a prepare the server refuses, two result sets and an OK from one
    COM_QUERY, an error, COM_PING. Spans against Com_stmt_prepare and
    Com_stmt_execute; no parameter, literal or password anywhere stored."""
    port = 13307
    my = MariaDB(env, port)
    exe = env.path("mysql_client")
    flags = run(["pkg-config", "--cflags", "--libs", "libmariadb"]).stdout.split()
    run(["cc", "-O1", "-o", exe, os.path.join(ROOT, "tests", "e2e", "mysql_client.c")] + flags)
    db = env.path("t.db")
    events = env.path("ev.bin")
    before = my.status()
    rec = Recorder(env, db, "--port", str(port), "--save-events", events)
    out = run([exe, "127.0.0.1", str(port), "app", PASSWORD, "shop", "20"]).stdout
    rec.stop_ok()
    after = my.status()
    ran = dict(line.split() for line in out.splitlines())
    srv = by_kind(my_spans(db, port), "server")
    by_cmd = lambda c: [s for s in srv if attr(s, "wirespan.mysql.command") == c]  # noqa: E731
    check_eq(len(by_cmd("COM_STMT_PREPARE")), delta(before, after, "Com_stmt_prepare"), "prepare spans")
    check_eq(len(by_cmd("COM_STMT_PREPARE")), int(ran["prepares"]), "prepare spans vs the client")
    check_eq(len(by_cmd("COM_STMT_EXECUTE")), delta(before, after, "Com_stmt_execute"), "execute spans")
    check_eq(len(by_cmd("COM_QUERY")), int(ran["queries"]), "query spans vs the client")
    check_eq(len(by_cmd("COM_PING")), 1, "ping")
    execs = by_cmd("COM_STMT_EXECUTE")
    check_eq(sorted({(attr(s, "db.operation.name"), attr(s, "db.collection.name")) for s in execs}),
             [("INSERT", "accounts"), ("SELECT", "accounts")], "executes named after their prepares")
    check(all(attr(s, "db.response.returned_rows") == 1 for s in execs if attr(s, "db.operation.name") == "SELECT"),
          "one row per SELECT")
    bad = [s for s in srv if s["attributes"].get("error.type")]
    check_eq(sorted((attr(s, "wirespan.mysql.command"), s["attributes"]["error.type"]) for s in bad),
             [("COM_QUERY", "1146"), ("COM_STMT_PREPARE", "1146")], "the two errors")
    multi = [s for s in by_cmd("COM_QUERY") if attr(s, "wirespan.mysql.result_sets") == 2]
    check_eq(len(multi), 1, "the query with two result sets")
    check(all(attr(s, "db.namespace") == "shop" for s in srv), "db.namespace")
    stored, saved = file_bytes(db), file_bytes(events)
    for secret in (b"s3cr3t-owner", PASSWORD.encode()):
        check(secret not in stored, f"{secret} in the database file")
        check(secret not in saved, f"{secret} in the saved event file")
    # the masked event file replays to the same spans
    rdb = env.path("replay.db")
    run([WIRESPAN, "replay", "--db", rdb, events])
    key = lambda s: (attr(s, "wirespan.mysql.command"), attr(s, "db.operation.name"),  # noqa: E731
                     attr(s, "db.collection.name"), attr(s, "db.query.text"), s["attributes"].get("error.type"),
                     attr(s, "db.response.returned_rows"), attr(s, "db.namespace"))
    order = lambda ss: [key(s) for s in sorted(ss, key=lambda s: int(s["start_time_unix_nano"]))]  # noqa: E731
    check_eq(order(by_kind(my_spans(rdb, port), "server")), order(srv), "the saved file's replay gives the same spans")
    check_eq(subprocess.run(["pkill", "-0", "-f", exe]).returncode, 1, "client gone")
