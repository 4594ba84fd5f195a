"""What is recorded: --port, --pid, --comm, --netns hosts, and secrets that
must never reach the database."""
import os

from lib import (Recorder, attr, check, check_eq, curl, file_bytes, on_port, run, sides, spans, sqlite)


def test_port_filter(env):
    """--port records the connections of that port only."""
    keep, other = 18091, 18092
    www = env.python_http(keep, http11=True)
    env.python_http(other, http11=True)
    with open(os.path.join(www, "f.txt"), "w") as f:
        f.write("f")
    db = env.path("t.db")
    rec = Recorder(env, db, "--port", str(keep))
    for _ in range(3):
        curl(f"http://127.0.0.1:{keep}/f.txt")
        curl(f"http://127.0.0.1:{other}/f.txt")
    rec.stop_ok()
    ss = spans(db)
    check_eq(len(on_port(ss, keep)), 6, "spans on the recorded port")
    check_eq(len(ss), 6, "spans in all (none from the other port)")
    conns = sqlite(db, "SELECT count(*) FROM connections WHERE local_port = %d OR peer_port = %d" % (other, other))
    check_eq(conns.strip(), "0", "connections of the other port")


def test_pid_and_comm_filters(env):
    """--pid keeps one process's side; --comm keeps a program's side."""
    port = 18093
    www = env.python_http(port, http11=True)
    with open(os.path.join(www, "f.txt"), "w") as f:
        f.write("f")
    server_pid = env.procs[-1].pid
    db = env.path("pid.db")
    rec = Recorder(env, db, "--pid", str(server_pid))
    for _ in range(4):
        curl(f"http://127.0.0.1:{port}/f.txt")
    rec.stop_ok()
    ss = on_port(spans(db), port)
    check_eq(len(ss), 4, "spans with --pid of the server")
    check(all(s["kind"] == "server" and attr(s, "process.pid") == server_pid for s in ss), "only the server's")

    db = env.path("comm.db")
    rec = Recorder(env, db, "--comm", "curl", "--port", str(port))
    for _ in range(4):
        curl(f"http://127.0.0.1:{port}/f.txt")
    rec.stop_ok()
    ss = on_port(spans(db), port)
    check_eq(len(ss), 4, "spans with --comm curl")
    check(all(s["kind"] == "client" and attr(s, "service.name") == "curl" for s in ss), "only curl's")


def test_netns_hosts(env):
    """Two hosts in network namespaces joined by a veth pair. Recording the
    whole machine gives both sides; --netns records one host only."""
    a, b = env.add_hosts()
    port, n = 18094, 5
    www = env.python_http(port, ns=b, bind="198.18.0.2")
    with open(os.path.join(www, "n.txt"), "w") as f:
        f.write("netns")

    db_all, db_b = env.path("all.db"), env.path("b.db")
    rec_all = Recorder(env, db_all, "--port", str(port))
    rec_b = Recorder(env, db_b, "--netns", f"/run/netns/{b}")
    for _ in range(n):
        curl(f"http://198.18.0.2:{port}/n.txt", ns=a)
    rec_b.stop_ok()
    rec_all.stop_ok()

    srv, cli = sides(on_port(spans(db_all), port), n, ", whole machine")
    for s in srv:
        check_eq(attr(s, "network.local.address"), "198.18.0.2", "server address")
        check_eq(attr(s, "network.peer.address"), "198.18.0.1", "client address seen by the server")
    for c in cli:
        check_eq(attr(c, "network.local.address"), "198.18.0.1", "client address")

    only_b = spans(db_b)
    check_eq(len(only_b), n, "spans recorded with --netns of the server host")
    check(all(s["kind"] == "server" for s in only_b), "only the server side lives in that namespace")
    check(all(attr(s, "host.name") == b for s in only_b), "host.name is the namespace's name")


SECRETS = ["ws-secret-bearer-4f1d", "ws-secret-cookie-9a2c", "ws-secret-setcookie-77", "ws-secret-redis-pw-3e8",
           "ws-secret-hello-pw-1b", "ws-secret-proxy-55"]


def test_secrets_never_stored(env):
    """Authorization, Proxy-Authorization, Cookie and Set-Cookie values and
    Redis AUTH/HELLO passwords are absent from the database files, while
    the requests that carried them are recorded."""
    hport, rport = 18095, 16395
    prefix = env.nginx(hport, extra=f'location /login {{ add_header Set-Cookie "sid={SECRETS[2]}"; return 200 "ok"; }}')
    env.redis(rport, "--requirepass", SECRETS[3])
    db = env.path("t.db")
    rec = Recorder(env, db)
    curl("-H", f"Authorization: Bearer {SECRETS[0]}", "-H", f"Proxy-Authorization: Basic {SECRETS[5]}",
         "-b", f"session={SECRETS[1]}", f"http://127.0.0.1:{hport}/login")
    run(["redis-cli", "-p", str(rport), "-a", SECRETS[3], "--no-auth-warning", "SET", "k", "v"])
    run(["redis-cli", "-p", str(rport), "HELLO", "3", "AUTH", "default", SECRETS[3]])
    rec.stop_ok()

    data = file_bytes(db)
    for secret in SECRETS:
        check(secret.encode() not in data, f"{secret} found in the database files")
    ss = spans(db)
    login = [s for s in on_port(ss, hport) if attr(s, "url.path") == "/login"]
    check_eq(len(login), 2, "the login request, both sides")
    for s in login:
        check_eq(attr(s, "http.request.header.authorization"), "[REDACTED]", "authorization marked")
        check_eq(attr(s, "http.request.header.proxy-authorization"), "[REDACTED]", "proxy-authorization marked")
        check_eq(attr(s, "http.request.header.cookie"), "[REDACTED]", "cookie marked")
        check_eq(attr(s, "http.response.header.set-cookie"), "[REDACTED]", "set-cookie marked")
    redis = [s for s in on_port(ss, rport) if s["kind"] == "server"]
    ops = [attr(s, "db.operation.name") for s in redis]
    check_eq(ops, ["AUTH", "SET", "HELLO"], "redis commands")
    check(all(attr(s, "wirespan.redis.arguments") == "[REDACTED]" for s in redis if attr(s, "db.operation.name") != "SET"),
          "AUTH and HELLO arguments withheld")
    check(os.path.exists(prefix), "nginx ran")
