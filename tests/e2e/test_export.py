"""`wirespan export`: spans sent to an OTLP/HTTP receiver that decodes them
with OpenTelemetry's own generated types (tests/e2e/otlp/receiver.js) come
back whole, for protobuf and for JSON: every span, id, parent, attribute
and status, each attribute of who made the span on its resource. A
collector that refuses for a while (503, Retry-After) gets every span in
the end; one that is down gets none, and they are counted as dropped."""
import json
import os
import socket
import subprocess

from lib import ROOT, WIRESPAN, Recorder, check, check_eq, run, spans

OTLP = os.path.join(ROOT, "tests", "e2e", "otlp")
RESOURCE_KEYS = ("service.name", "host.name", "process.pid", "process.executable.name", "process.executable.path",
                 "wirespan.service.name_from")


def npm_ci():
    if not os.path.isdir(os.path.join(OTLP, "node_modules")):
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=OTLP, timeout=600)


def receiver(env, port, out, *args):
    p = env.spawn(["node", os.path.join(OTLP, "receiver.js"), str(port), out] + [str(a) for a in args],
                  stdout=subprocess.PIPE, text=True)
    check_eq(p.stdout.readline().strip(), "listening", "the receiver started")
    return p


def typed(v):
    """An attribute value of `spans --json` as the receiver writes one."""
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"double": v}
    if isinstance(v, list):
        return {"array": [typed(e) for e in v]}
    return {"string": v}


def expected(s):
    """What an OTLP receiver should get for a span of `spans --json`."""
    a = s["attributes"]
    error = "error.type" in a and not (0 < a.get("http.response.status_code", 0) < 500)
    return {
        "resource": {k: typed(a[k]) for k in RESOURCE_KEYS if k in a},
        "traceId": s["trace_id"], "spanId": s["span_id"], "parentSpanId": s["parent_span_id"],
        "name": s["name"], "kind": {"server": 2, "client": 3}[s["kind"]],
        "start": str(s["start_time_unix_nano"]), "end": str(s["end_time_unix_nano"]),
        "attributes": {k: typed(v) for k, v in a.items() if k not in RESOURCE_KEYS},
        "status": {"code": 2 if error else 0, "message": a["error.type"] if error else ""},
    }


def received(out):
    got = [json.loads(l) for l in open(out)] if os.path.exists(out) else []
    errors = [g["error"] for g in got if "error" in g]
    check_eq(errors, [], "the receiver decoded every request")
    return got


def make_spans(env):
    """HTTP through nginx to a backend that is down (502 and a refused
    connect), a 404, a 200 with a query, and Redis with an error reply."""
    port, backend, rport = 18441, 18442, 16441
    env.nginx(port, f"location /up {{ proxy_pass http://127.0.0.1:{backend}; }}")
    with open(os.path.join(env.path("nginx"), "www", "ok.txt"), "w") as f:
        f.write("ok\n")
    env.redis(rport)
    db = env.path("e.db")
    rec = Recorder(env, db, "--port", str(port), "--port", str(backend), "--port", str(rport))
    for path in ("/up/a", "/missing", "/ok.txt?user=1"):
        run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}{path}"])
    run(["redis-cli", "-p", str(rport), "SET", "k", "v"])
    run(["redis-cli", "-p", str(rport), "INCR", "k"], check_rc=False)
    rec.stop_ok()
    return db


def test_export_round_trips(env):
    npm_ci()
    db = make_spans(env)
    want = sorted((expected(s) for s in spans(db)), key=lambda e: e["spanId"])
    check(len(want) >= 9, f"spans to export: {len(want)}")
    codes = sorted(e["status"]["code"] for e in want)
    check(codes.count(2) >= 4, f"error statuses (502 server and client, refused connect, Redis error): {codes}")
    for proto, port in (("http/protobuf", 18451), ("http/json", 18452)):
        out = env.path(f"got-{port}.jsonl")
        receiver(env, port, out)
        r = run([WIRESPAN, "export", "--db", db, "--otlp", f"http://127.0.0.1:{port}", "--protocol", proto,
                 "--batch", "4"])
        check(f"exported {len(want)} of {len(want)} spans" in r.stderr and "dropped 0" in r.stderr, r.stderr)
        got = sorted(received(out), key=lambda e: e["spanId"])
        check_eq(len(got), len(want), f"{proto}: spans received")
        for g, w in zip(got, want):
            check_eq(g, w, f"{proto}: span {w['spanId']} ({w['name']})")


def test_export_retries_then_counts_drops(env):
    npm_ci()
    db = make_spans(env)
    n = len(spans(db))
    out = env.path("retry.jsonl")
    receiver(env, 18453, out, 2, 503)  # the first two requests are refused
    r = run([WIRESPAN, "export", "--db", db, "--otlp", "http://127.0.0.1:18453/v1/traces", "--no-gzip"])
    check(f"exported {n} of {n} spans" in r.stderr and "(2 retried)" in r.stderr, r.stderr)
    check_eq(len(received(out)), n, "every span arrived after the retries")
    # a collector that refuses outright: no retry
    out = env.path("refused.jsonl")
    receiver(env, 18454, out, 100, 400)
    r = run([WIRESPAN, "export", "--db", db, "--otlp", "http://127.0.0.1:18454"], check_rc=False)
    check_eq(r.returncode, 1, f"exit status when spans were dropped: {r.stderr}")
    check(f"dropped {n}" in r.stderr and "after 1 attempts" in r.stderr and "HTTP 400" in r.stderr, r.stderr)
    # nothing listens: tried, then counted as dropped
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    r = run([WIRESPAN, "export", "--db", db, "--otlp", f"http://127.0.0.1:{free}", "--attempts", "2"],
            check_rc=False)
    check_eq(r.returncode, 1, f"exit status with the collector down: {r.stderr}")
    check(f"exported 0 of {n} spans" in r.stderr and f"dropped {n}" in r.stderr and "after 2 attempts" in r.stderr,
          r.stderr)
    # what the three exports came to is counted in the database, where status shows it
    st = json.loads(run([WIRESPAN, "status", "--db", db, "--json"]).stdout.splitlines()[-1])
    check_eq(st["export"], {"requests": 6, "retries": 3, "spans_dropped": 2 * n, "spans_sent": n},
             "export counters (3 + 1 + 2 requests)")
    text = run([WIRESPAN, "status", "--db", db]).stdout
    check(f"exported over OTLP: {n} spans sent, {2 * n} dropped (6 requests, 3 retried)" in text, text)


def test_record_sends_when_it_ends(env):
    """record --otlp: when the recording ends, its spans (traces
    assembled) go to the endpoint, under the recorder's sandbox."""
    npm_ci()
    port, oport = 18455, 18456
    env.python_http(port)
    out = env.path("rec.jsonl")
    receiver(env, oport, out)
    db = env.path("r.db")
    rec = Recorder(env, db, "--port", str(port), "--otlp", f"http://127.0.0.1:{oport}", "--otlp-protocol",
                   "http/json")
    for i in range(5):
        run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/?i={i}"])
    err = rec.stop_ok()
    want = sorted((expected(s) for s in spans(db)), key=lambda e: e["spanId"])
    check(len(want) == 10 and f"sent 10 of 10 spans to http://127.0.0.1:{oport}/v1/traces" in err, err)
    got = sorted(received(out), key=lambda e: e["spanId"])
    check_eq(got, want, "the spans as stored, parents included")
    check(any(w["parentSpanId"] for w in want), "server spans have their client as parent")
