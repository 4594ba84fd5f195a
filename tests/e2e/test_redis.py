"""Redis end to end: redis-benchmark and redis-cli against redis-server,
checked against the server's own count of the commands it ran."""
import collections
import socket

from lib import WIRESPAN, Recorder, attr, by_kind, check, check_eq, run, spans


def commandstats(port):
    """redis-server's own tally: {"set": 1000, "config|get": 2, ...}"""
    out = run(["redis-cli", "-p", str(port), "INFO", "commandstats"]).stdout
    calls = {}
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            name, fields = line[len("cmdstat_"):].split(":", 1)
            calls[name] = int(dict(f.split("=") for f in fields.split(","))["calls"])
    return calls


def tally(spans_):
    """Spans counted per command, named as redis names them ("config|get")."""
    return dict(collections.Counter(attr(s, "db.operation.name").lower().replace(" ", "|") for s in spans_))


def redis_spans(db, port):
    return [s for s in spans(db) if attr(s, "db.system") == "redis" and attr(s, "server.port") == port]


def test_redis_benchmark(env):
    """redis-benchmark, plain and pipelined (-P 16), four clients: one server
    span per command redis ran, and as many client spans."""
    port = 16379
    db = env.path("t.db")
    # record from before the server starts: every command it runs is ours
    rec = Recorder(env, db, "--port", str(port))
    env.redis(port)
    run(["redis-benchmark", "-p", str(port), "-q", "-t", "set,get", "-n", "2000", "-c", "4"])
    run(["redis-benchmark", "-p", str(port), "-q", "-t", "set,get", "-n", "3000", "-c", "4", "-P", "16"])
    rec.stop_ok()
    stats = commandstats(port)
    check(stats.get("set", 0) >= 5000 and stats.get("get", 0) >= 5000, f"redis ran {stats}")
    ss = redis_spans(db, port)
    srv, cli = by_kind(ss, "server"), by_kind(ss, "client")
    check_eq(tally(srv), stats, "server spans per command vs INFO commandstats")
    check_eq(tally([c for c in cli if attr(c, "service.name") == "redis-benchmark"]),
             {k: v for k, v in stats.items() if k != "ping"}, "client spans per command")
    check(all(attr(s, "service.name") == "redis-server" for s in srv), "server service.name")
    sets = [s for s in srv if attr(s, "db.operation.name") == "SET"]
    check(all(attr(s, "wirespan.redis.key", "").startswith("key:") for s in sets), "SET keys")


def test_redis_cli_pipe(env):
    """redis-cli --pipe with 1000 commands of several kinds in RESP."""
    port = 16380
    env.redis(port)
    cmds = []
    for i in range(400):
        cmds.append(["SET", f"k{i}", "v" * (i % 50 + 1)])
    for i in range(300):
        cmds.append(["INCR", "counter"])
    for i in range(200):
        cmds.append(["RPUSH", "list", f"item{i}"])
    for i in range(100):
        cmds.append(["HSET", f"h{i % 10}", f"f{i}", "x"])
    payload = b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in c)
                       for c in cmds)
    run(["redis-cli", "-p", str(port), "CONFIG", "RESETSTAT"])
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    p = run(["redis-cli", "-p", str(port), "--pipe"], input=payload.decode())
    check("errors: 0, replies: 1000" in p.stdout, f"redis-cli --pipe: {p.stdout}")
    rec.stop_ok()
    stats = commandstats(port)
    stats.pop("config|resetstat", None)
    srv = by_kind(redis_spans(db, port), "server")
    check_eq(tally(srv), stats, "server spans vs INFO commandstats")
    check_eq(stats.get("set"), 400, "SET count")
    # --pipe ends with an ECHO of a random marker to know when replies end
    check_eq(stats.get("echo"), 1, "the ECHO redis-cli --pipe adds")
    cli = by_kind(redis_spans(db, port), "client")
    check_eq(tally(cli), stats, "client spans")


def test_redis_inline_and_errors(env):
    """Inline commands over a plain socket, error replies, RESP3 after HELLO."""
    port = 16381
    env.redis(port)
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(port))
    with socket.create_connection(("127.0.0.1", port)) as s:
        f = s.makefile("rb")
        for line in (b"PING\r\n", b"SET inline-key 5\r\n", b"INCR inline-key\r\n", b"LPUSH inline-key x\r\n"):
            s.sendall(line)
            f.readline()
    run(["redis-cli", "-p", str(port), "-3", "HSET", "h3", "a", "1"])
    run(["redis-cli", "-p", str(port), "-3", "HGETALL", "h3"])
    run(["redis-cli", "-p", str(port), "NOSUCHCOMMAND", "arg"], check_rc=False)
    rec.stop_ok()
    srv = by_kind(redis_spans(db, port), "server")
    ops = [(attr(s, "db.operation.name"), attr(s, "wirespan.redis.key"), attr(s, "error.type")) for s in srv]
    want = [("PING", None, None), ("SET", "inline-key", None), ("INCR", "inline-key", None),
            ("LPUSH", "inline-key", "WRONGTYPE")]
    check_eq(ops[:4], want, "inline commands")
    names = [o[0] for o in ops[4:]]
    check("HELLO" in names and "HSET" in names and "HGETALL" in names, f"RESP3 commands: {names}")
    check(("NOSUCHCOMMAND", "arg", "ERR") in ops, f"unknown command error: {ops}")
    hello = [s for s in srv if attr(s, "db.operation.name") == "HELLO"][0]
    check_eq(attr(hello, "wirespan.redis.arguments"), "[REDACTED]", "HELLO arguments withheld")


def test_blocking_command_is_not_a_slow_server(env):
    """BLPOP, and XREAD and XREADGROUP with their BLOCK option, wait by
    design: their traces' verdicts say the server waited as asked, not that
    it was slow. The same commands without BLOCK, and a SET, are not called
    blocking."""
    port = 16383
    db = env.path("t.db")
    env.redis(port)
    cli = ["redis-cli", "-p", str(port)]
    run(cli + ["XGROUP", "CREATE", "st", "g", "$", "MKSTREAM"])
    rec = Recorder(env, db, "--port", str(port))
    run(cli + ["BLPOP", "nothing-here", "0.3"])
    run(cli + ["XREAD", "COUNT", "1", "BLOCK", "300", "STREAMS", "st", "$"])
    run(cli + ["XREADGROUP", "GROUP", "g", "c1", "BLOCK", "300", "STREAMS", "st", ">"])
    run(cli + ["XREAD", "COUNT", "1", "STREAMS", "st", "0"])
    run(cli + ["SET", "k", "v"])
    rec.stop_ok()
    got = redis_spans(db, port)
    srv = [s for s in got if s["kind"] == "server"]
    check_eq(sorted(s["name"] for s in srv), ["BLPOP", "SET", "XREAD", "XREAD", "XREADGROUP"], "server spans")

    def verdict_of(s):
        out = run([WIRESPAN, "explain", "--db", db, s["trace_id"][:8]]).stdout
        v = [line for line in out.splitlines() if line.startswith("verdict:")]
        check_eq(len(v), 1, f"one verdict in:\n{out}")
        return v[0]
    blocked = [s for s in srv if s["name"] in ("BLPOP", "XREADGROUP") or
               (s["name"] == "XREAD" and int(s["end_time_unix_nano"]) - int(s["start_time_unix_nano"]) > 200e6)]
    check_eq(len(blocked), 3, "the blocked commands")
    for s in blocked:
        dur = int(s["end_time_unix_nano"]) - int(s["start_time_unix_nano"])
        check(280e6 < dur < 1000e6, f"{s['name']} lasted {dur / 1e6:.1f} ms, want about 300")
        v = verdict_of(s)
        check(f"waiting as {s['name']} asks" in v and "blocking command" in v, v)
        check("server processing" not in v, v)
    for s in srv:
        if s not in blocked:
            v = verdict_of(s)
            check("blocking" not in v, f"{s['name']} is not blocking: {v}")
