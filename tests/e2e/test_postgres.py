"""PostgreSQL end to end: pgbench (simple, extended, prepared and pipelined
statements) and psql against Debian's postgresql-15, counted against the
server's own tally (pg_stat_statements) and pgbench's transactions."""
import collections
import os
import shutil
import subprocess

from lib import WIRESPAN, Failure, Recorder, attr, by_kind, check, check_eq, file_bytes, run, spans, sqlite, wait_port

PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "pw-s3cr3t-e2e"
# pgbench's built-in script (TPC-B like): operation and table of each statement
TPCB = [("BEGIN", None), ("UPDATE", "pgbench_accounts"), ("SELECT", "pgbench_accounts"), ("UPDATE", "pgbench_tellers"),
        ("UPDATE", "pgbench_branches"), ("INSERT", "pgbench_history"), ("END", None)]


class Postgres:
    """A cluster of the test's own, run as the postgres user, with
    pg_stat_statements and SCRAM passwords for TCP clients."""

    def __init__(self, env, port):
        if not os.path.exists(os.path.join(PG_BIN, "postgres")):
            raise Failure("postgresql-15 is not installed (scripts/deps.sh installs it)")
        self.port = port
        self.env = env
        top = env.path("pg")
        os.makedirs(top)
        shutil.chown(top, "postgres")
        pw = os.path.join(top, "pwfile")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        shutil.chown(pw, "postgres")
        self.data = os.path.join(top, "data")
        run(["runuser", "-u", "postgres", "--", os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "wsuser",
             "--pwfile", pw, "-A", "scram-sha-256", "--no-sync"], cwd=top)
        env.spawn(["runuser", "-u", "postgres", "--", os.path.join(PG_BIN, "postgres"), "-D", self.data,
                   "-p", str(port), "-k", top, "-c", "listen_addresses=127.0.0.1",
                   "-c", "shared_preload_libraries=pg_stat_statements", "-c", "fsync=off",
                   "-c", "synchronous_commit=off", "-c", "pg_stat_statements.track_utility=on"], cwd=top)
        wait_port("127.0.0.1", port, timeout=30)
        self.psql("postgres", "CREATE DATABASE bench")
        self.psql("bench", "CREATE EXTENSION pg_stat_statements")

    def client_env(self):
        return dict(os.environ, PGPASSWORD=PASSWORD, PGHOST="127.0.0.1", PGPORT=str(self.port), PGUSER="wsuser")

    def psql(self, db, sql, **kw):
        return run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql], env=self.client_env(),
                   **kw).stdout

    def pgbench(self, *args):
        out = run(["pgbench", "-n"] + list(args) + ["bench"], env=self.client_env()).stdout
        for line in out.splitlines():
            if line.startswith("number of transactions actually processed:"):
                return int(line.split(":")[1].split("/")[0])
        raise Failure(f"pgbench said: {out}")

    def statements(self):
        """pg_stat_statements' calls, summed over the statements of bench
        but BEGIN and END (it counts those of a prepared statement once,
        when prepared, not when run) and its own reset."""
        return int(self.psql("bench", "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s "
                                      "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bench' "
                                      "AND s.query NOT IN ('BEGIN', 'END') "
                                      "AND s.query NOT LIKE '%pg_stat_statements_reset%'"))

    def reset(self):
        self.psql("bench", "SELECT pg_stat_statements_reset()")


def pg_spans(db, port):
    return [s for s in spans(db) if attr(s, "db.system.name") == "postgresql" and attr(s, "server.port") == port]


def executed(ss):
    """Spans of statements the server ran (a Parse alone prepares, runs nothing)."""
    return [s for s in ss if attr(s, "db.operation.name") != "PREPARE"]


def counted(ss):
    """Spans of the statements pg_stat_statements counts as they run."""
    return [s for s in executed(ss) if attr(s, "db.operation.name") not in ("BEGIN", "END")]


def test_pgbench_counts(env):
    """pgbench, four ways (simple queries, extended protocol, prepared
    statements, a pipeline of three statements per Sync), two clients for
    a second:
    one server span per statement PostgreSQL ran, as many client spans,
    and the operations of pgbench's script in order."""
    port = 15432
    pg = Postgres(env, port)
    run(["pgbench", "-i", "-s", "1", "-q", "bench"], env=pg.client_env())
    pipeline = env.path("pipeline.sql")
    with open(pipeline, "w") as f:
        f.write("\\set aid random(1, 100000)\n\\startpipeline\n"
                "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n"
                "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n"
                "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n\\endpipeline\n")
    cases = [("simple", ["-M", "simple", "-T", "1", "-c", "2"], TPCB),
             ("extended", ["-M", "extended", "-T", "1", "-c", "2"], TPCB),
             ("prepared", ["-M", "prepared", "-T", "1", "-c", "2"], TPCB),
             ("pipeline", ["-M", "extended", "-T", "1", "-c", "2", "-f", pipeline],
              [("SELECT", "pgbench_accounts"), ("UPDATE", "pgbench_accounts"), ("SELECT", "pgbench_accounts")])]
    for name, args, script in cases:
        db = env.path(f"{name}.db")
        pg.reset()
        rec = Recorder(env, db)
        tx = pg.pgbench(*args)
        rec.stop_ok()
        ran = pg.statements()
        # a second: longer than the connections' first moments, when a
        # server's parent closes its copy of each accepted socket
        check(tx >= 100, f"{name}: {tx} pgbench transactions")
        # one connection per client and pgbench's own, each seen once from
        # each side (postgres's parent closing its copy of an accepted
        # socket is not the connection's end)
        # this server's: another PostgreSQL on the machine is none of the test's business
        conns = sqlite(db, "SELECT role, count(*) FROM connections WHERE protocol = 'postgresql' AND "
                       f"(local_port = {port} OR peer_port = {port}) GROUP BY role")
        check_eq(sorted(conns.split()), ["client|3", "server|3"], f"{name}: connections")
        ss = pg_spans(db, port)
        srv, cli = by_kind(ss, "server"), by_kind(ss, "client")
        # the server's own tally, every statement (pgbench's setup queries too)
        check_eq(len(counted(srv)), ran, f"{name}: server spans of statements run vs pg_stat_statements calls")
        check_eq(len(counted(cli)), ran, f"{name}: client spans of statements run")
        # and pgbench's for the transactions' BEGIN and END
        for op in ("BEGIN", "END"):
            want = tx if script == TPCB else 0
            check_eq(len([s for s in srv if attr(s, "db.operation.name") == op]), want, f"{name}: server {op} spans")
            check_eq(len([s for s in cli if attr(s, "db.operation.name") == op]), want, f"{name}: client {op} spans")
        check(all(attr(s, "service.name") == "postgres" for s in srv), f"{name}: server service.name")
        check(all(attr(s, "service.name") == "pgbench" for s in cli), f"{name}: client service.name")
        # the script's statements, per transaction, in order on each connection
        ops = collections.defaultdict(list)
        for s in sorted(executed(srv), key=lambda s: int(s["start_time_unix_nano"])):
            ops[attr(s, "wirespan.conn.id")].append((attr(s, "db.operation.name"), attr(s, "db.collection.name")))
        body = [o for conn in ops.values() for o in conn if o in set(script)]
        check_eq(len(body), tx * len(script), f"{name}: statements of the script")
        for conn in ops.values():
            seq = [o for o in conn if o in set(script)]
            check_eq(seq, script * (len(seq) // len(script)), f"{name}: the script's order on one connection")
        check(all(attr(s, "db.namespace") == "bench" for s in srv), f"{name}: db.namespace")
        check(not any(s.get("attributes", {}).get("error.type") for s in ss), f"{name}: no error")
        upd = [s for s in srv if attr(s, "db.collection.name") == "pgbench_accounts" and
               attr(s, "db.operation.name") == "UPDATE"]
        check_eq(len(upd), tx, f"{name}: UPDATE pgbench_accounts spans")
        check(all(s["name"] == "UPDATE pgbench_accounts" for s in upd), f"{name}: span names")
        text = upd[0]["attributes"]["db.query.text"]
        check("pgbench_accounts SET abalance = abalance +" in text and "WHERE aid =" in text, f"{name}: text {text}")
        if name == "prepared":
            check_eq(len([s for s in srv if attr(s, "db.operation.name") == "PREPARE"]), 2 * len(TPCB),
                     "prepared: one PREPARE span per statement and client")
        if name == "pipeline":
            # three statements per Sync: spans end at their own CommandComplete
            check(all(attr(s, "db.response.returned_rows") == 1 for s in srv
                      if attr(s, "db.operation.name") == "SELECT" and attr(s, "db.collection.name") ==
                      "pgbench_accounts"), "pipeline: one row per SELECT")
        for s in ss:
            blob = str(s)
            check(PASSWORD not in blob, f"{name}: the password reached a span")


def test_psql_errors_copy(env):
    """psql with literals, an error, a transaction and COPY FROM STDIN: the
    error's SQLSTATE, the COPY, and no literal value in any span, nor in
    the saved event file, whose replay gives the same spans."""
    port = 15433
    pg = Postgres(env, port)
    script = env.path("s.sql")
    with open(script, "w") as f:
        f.write("CREATE TABLE items (id int primary key, name text, price numeric);\n"
                "INSERT INTO items VALUES (42, 'secret widget', 9.99);\n"
                "SELECT name FROM items WHERE name = 'secret widget';\n"
                "SELECT * FROM nosuch_table;\n"
                "BEGIN;\nUPDATE items SET price = 10.5 WHERE id = 42;\nCOMMIT;\n"
                "\\copy items FROM STDIN\n1\tcopied secret\t1.5\n\\.\n"
                "SELECT count(*) FROM items;\n")
    db = env.path("t.db")
    events = env.path("ev.bin")
    rec = Recorder(env, db, "--port", str(port), "--save-events", events)
    p = subprocess.run(["psql", "-X", "-d", "bench", "-f", script], env=pg.client_env(), capture_output=True, text=True,
                       timeout=60)
    rec.stop_ok()
    check("nosuch_table" in p.stderr, f"psql: {p.stderr}")
    srv = by_kind(pg_spans(db, port), "server")
    ops = [(attr(s, "db.operation.name"), attr(s, "db.collection.name"), s["attributes"].get("error.type"))
           for s in sorted(srv, key=lambda s: int(s["start_time_unix_nano"]))]
    want = [("CREATE", "items", None), ("INSERT", "items", None), ("SELECT", "items", None),
            ("SELECT", "nosuch_table", "42P01"), ("BEGIN", None, None), ("UPDATE", "items", None),
            ("COMMIT", None, None), ("COPY", "items", None), ("SELECT", "items", None)]
    check_eq(ops[-len(want):], want, "psql's statements, in order")
    for s in srv:
        blob = str(s)
        for secret in ("secret widget", "9.99", "10.5", "copied secret", PASSWORD):
            check(secret not in blob, f"'{secret}' reached a span: {blob}")
    sel = [s for s in srv if attr(s, "db.query.text") == "SELECT name FROM items WHERE name = ?;"]
    check_eq(len(sel), 1, f"the SELECT's text with its literal replaced: {[attr(s, 'db.query.text') for s in srv]}")
    check_eq(attr(sel[0], "db.response.returned_rows"), 1, "rows returned")
    saved, stored = file_bytes(events), file_bytes(db)
    for secret in ("secret widget", "copied secret", "9.99", "10.5", PASSWORD):
        check(secret.encode() not in saved, f"'{secret}' in the saved event file")
        check(secret.encode() not in stored, f"'{secret}' in the database file")
    rdb = env.path("replay.db")
    run([WIRESPAN, "replay", "--db", rdb, events])
    again = by_kind(pg_spans(rdb, port), "server")
    check_eq([(attr(s, "db.operation.name"), attr(s, "db.collection.name"), attr(s, "db.query.text"),
               s["attributes"].get("error.type")) for s in again],
             [(attr(s, "db.operation.name"), attr(s, "db.collection.name"), attr(s, "db.query.text"),
               s["attributes"].get("error.type")) for s in sorted(srv, key=lambda s: int(s["start_time_unix_nano"]))],
             "the masked event file's replay gives the same spans")
