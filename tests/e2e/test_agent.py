"""`wirespan agent`: rotation, retention, OTLP push, Prometheus metrics,
reload, and stops (SIGTERM, SIGKILL, a collector that is down)."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

from lib import PYTHON, ROOT, WIRESPAN, check, check_eq, run, wait_port

OTLP = os.path.join(ROOT, "tests", "e2e", "otlp")


def npm_ci():
    if not os.path.isdir(os.path.join(OTLP, "node_modules")):
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=OTLP, timeout=600)


def agent(env, name, **kw):
    """Start an agent with a configuration of kw; returns (process, dir, conf)."""
    d = env.path(name)
    os.mkdir(d, 0o700)
    conf = env.path(name + ".conf")
    with open(conf, "w") as f:
        for k, v in kw.items():
            f.write(f"{k} = {v}\n")
    os.chmod(conf, 0o600)
    log = open(env.path(name + ".log"), "w+")
    p = env.spawn([WIRESPAN, "agent", "--config", conf], stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline:
        log.seek(0)
        if "wirespan: capturing since" in log.read():
            return p, d, conf, log
        check(p.poll() is None, f"the agent exited: {open(log.name).read()}")
        time.sleep(0.1)
    raise AssertionError(f"the agent did not start: {open(log.name).read()}")


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return text, out


def dbs(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".db"))


def load(port, ok, errors, seconds):
    """ok GETs of /item/N (404 from http.server, not an error of the
    server) and `errors` DELETEs (501: a server error), spread over
    `seconds`; returns when it ends."""
    t0 = time.time()
    n = ok + errors
    for i in range(n):
        method = "DELETE" if errors and i % (n // errors) == 0 else "GET"
        subprocess.run(["curl", "-s", "-o", "/dev/null", "-X", method, f"http://127.0.0.1:{port}/item/{i}"],
                       check=True, timeout=10)
        time.sleep(max(0, t0 + seconds * (i + 1) / n - time.time()))


def test_agent_rotates_sends_and_serves_prometheus(env):
    """A known load while Debian's Prometheus scrapes the agent each second:
    PromQL gives the request count, the request rate and the error count
    the load made, within 5%; the databases rotate, at most retain_files
    are kept, and every span reaches the OTLP receiver."""
    npm_ci()
    port, mport, oport, pport = 18470, 19470, 18471, 19090
    env.python_http(port)
    got = env.path("otlp.jsonl")
    env.spawn(["node", os.path.join(OTLP, "receiver.js"), str(oport), got], stdout=subprocess.DEVNULL)
    wait_port("127.0.0.1", oport)
    p, d, conf, log = agent(env, "a", db_dir=env.path("a"), rotate_seconds=2, retain_files=4,
                            otlp_endpoint=f"http://127.0.0.1:{oport}", metrics_listen=f"127.0.0.1:{mport}",
                            record=f"--port {port} --cpu-budget 0")
    prom = env.path("prom.yml")
    with open(prom, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                f"scrape_configs:\n  - job_name: wirespan\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{mport}']\n")
    env.spawn(["prometheus", f"--config.file={prom}", f"--storage.tsdb.path={env.path('tsdb')}",
               f"--web.listen-address=127.0.0.1:{pport}"])
    wait_port("127.0.0.1", pport, timeout=30)
    deadline = time.time() + 60  # the port opens before the query API is ready (503)
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{pport}/-/ready", timeout=5).status == 200:
                break
        except OSError:  # URLError and HTTPError (503) while it starts
            pass
        check(time.time() < deadline, "Prometheus became ready")
        time.sleep(0.3)

    def promql(q, at):
        url = f"http://127.0.0.1:{pport}/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": f"{at:.3f}"})
        r = json.load(urllib.request.urlopen(url, timeout=5))
        check_eq(r["status"], "success", f"{q}: {r}")
        res = r["data"]["result"]
        return float(res[0]["value"][1]) if res else 0.0

    # wait until Prometheus has scraped the agent
    deadline = time.time() + 30
    while time.time() < deadline and promql("up{job='wirespan'}", time.time()) != 1:
        time.sleep(0.5)
    time.sleep(2)
    t0 = time.time()
    ok, errors, secs = 180, 20, 8
    load(port, ok, errors, secs)
    t1 = time.time()
    time.sleep(3)  # two scrapes after the last request
    q_all = 'sum(http_server_request_duration_seconds_count{service_name="python3"})'
    q_err = 'sum(http_server_request_duration_seconds_count{service_name="python3",error_type!=""})'
    before, after = promql(q_all, t0 - 0.5), promql(q_all, t1 + 2.5)
    errs = promql(q_err, t1 + 2.5) - promql(q_err, t0 - 0.5)
    n = ok + errors
    check(abs((after - before) - n) <= 0.05 * n, f"requests: Prometheus {after - before}, the load {n}")
    rate, want = (after - before) / (t1 - t0), n / (t1 - t0)
    check(abs(rate - want) <= 0.05 * want, f"request rate: Prometheus {rate:.2f}/s, the load {want:.2f}/s")
    check(abs(errs - errors) <= max(1, 0.05 * errors), f"errors: Prometheus {errs}, the load {errors}")
    text, m = metrics(mport)
    check('http_route="/item/{id}"' in text and 'http_route="/item/0"' not in text,
          "routes are templates, not paths")
    check(m.get('wirespan_events_lost_total{cause="ringbuf_full"}') == 0, "own loss is served")
    check(m.get('wirespan_cpu_seconds_total{mode="bpf"}', 0) > 0, "own cost is served")
    files = dbs(d)
    check(1 <= len(files) <= 5, f"at most 4 closed databases and the current: {files}")
    check(m.get("wirespan_databases_opened_total", 0) >= 5, f"rotated every 2 s: {m.get('wirespan_databases_opened_total')}")
    p.send_signal(signal.SIGTERM)
    check_eq(p.wait(30), 0, f"a clean stop: {open(log.name).read()}")
    sent = [json.loads(l) for l in open(got)]
    check(all("error" not in s for s in sent), "the receiver decoded every request")
    servers = [s for s in sent if s["kind"] == 2 and s["resource"]["service.name"]["string"] == "python3"]
    check_eq(len(servers), n, "every server span was sent over OTLP, once")
    check_eq(sorted({s["name"] for s in servers}), ["DELETE /item/{id}", "GET /item/{id}"], "named by the route")
    check_eq(sorted(s["attributes"]["url.path"]["string"] for s in servers), sorted(f"/item/{i}" for i in range(n)),
             "the paths, as sent")
    check(all(s["attributes"]["url.template"] == {"string": "/item/{id}"} for s in servers), "url.template, a string")
    for f in dbs(d):
        st = json.loads(run([WIRESPAN, "status", "--db", os.path.join(d, f), "--json"]).stdout.splitlines()[-1])
        check_eq(st["state"], "complete", f"{f} was closed")


def test_agent_survives_collector_down_reload_and_kill(env):
    """The collector is down: closed databases wait for it up to the
    bound, then their spans are counted as dropped, and the disk stays
    bounded. SIGHUP reads the configuration again. SIGKILL leaves every
    database readable."""
    # a port below 1024: bound before the agent gives up root, served after
    port, mport = 18472, 947
    env.python_http(port)
    p, d, conf, log = agent(env, "b", db_dir=env.path("b"), rotate_seconds=1, retain_files=3, export_queue_files=1,
                            otlp_endpoint="http://127.0.0.1:9", metrics_listen=f"127.0.0.1:{mport}",
                            record=f"--port {port} --cpu-budget 0")
    # every thread, the metrics server's and the exporter's included, holds
    # what the recorder holds and no more (capabilities are per thread)
    want = (1 << 39) | (1 << 38) | (1 << 19) | (1 << 2)  # BPF, PERFMON, SYS_PTRACE, DAC_READ_SEARCH
    # the filter the agent says it installed (none in a sanitized build, whose leak check forks a tracer)
    st = json.loads(run([WIRESPAN, "status", "--db", os.path.join(d, dbs(d)[0]), "--json"]).stdout.splitlines()[-1])
    filtered = st["privileges"]["seccomp_syscalls"] > 0
    check(filtered or "asan" in WIRESPAN, f"a seccomp allow-list: {st['privileges']}")
    tasks = os.listdir(f"/proc/{p.pid}/task")
    check(len(tasks) >= 4, f"the agent's threads (recorder, store, metrics, exporter): {tasks}")
    for t in tasks:
        st = dict(l.split(":", 1) for l in open(f"/proc/{p.pid}/task/{t}/status") if ":" in l)
        for k in ("CapEff", "CapPrm", "CapBnd"):
            check_eq(int(st[k].strip(), 16), want, f"{k} of thread {t}")
        check_eq((st["NoNewPrivs"].strip(), st["Seccomp"].strip()), ("1", "2" if filtered else "0"),
                 f"thread {t}'s NoNewPrivs and filter")
    load(port, 60, 0, 6)
    time.sleep(2)
    _, m = metrics(mport)
    check(m.get("wirespan_export_dropped_spans_total", 0) > 0, f"spans counted as dropped: {m}")
    check(m.get("wirespan_export_queue_databases", 99) <= 1, f"the queue stays in its bound: {m}")
    check(m.get("wirespan_export_spans_total", -1) == 0, "nothing was sent")
    check(len(dbs(d)) <= 4, f"retention: {dbs(d)}")
    with open(conf, "a") as f:
        f.write("retain_files = 2\n")
    p.send_signal(signal.SIGHUP)
    time.sleep(2.5)
    log.seek(0)
    check("configuration read again" in log.read(), "SIGHUP reloads")
    check(len(dbs(d)) <= 3, f"the new retention holds: {dbs(d)}")
    load(port, 10, 0, 1)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    for f in dbs(d):
        r = run([WIRESPAN, "spans", "--db", os.path.join(d, f)], check_rc=False)
        check(r.returncode == 0 or "no spans" in r.stderr, f"{f} is readable after SIGKILL: {r.stderr}")
        st = run([WIRESPAN, "status", "--db", os.path.join(d, f)], check_rc=False)
        check_eq(st.returncode, 0, f"status of {f} after SIGKILL: {st.stderr}")


def test_agent_refuses_unsafe_configuration(env):
    conf = env.path("c.conf")
    with open(conf, "w") as f:
        f.write(f"db_dir = {env.path('c')}\n")
    os.chmod(conf, 0o666)
    r = run([WIRESPAN, "agent", "--config", conf], check_rc=False)
    check(r.returncode == 2 and "no one else can write" in r.stderr, r.stderr)
    os.chmod(conf, 0o600)
    os.mkdir(env.path("c"), 0o777)
    os.chmod(env.path("c"), 0o777)
    r = run([WIRESPAN, "agent", "--config", conf], check_rc=False)
    check(r.returncode == 2 and "db_dir" in r.stderr, r.stderr)
    with open(conf, "w") as f:
        f.write("db_dir = /tmp\nrotate_seconds = soon\n")
    r = run([WIRESPAN, "agent", "--config", conf], check_rc=False)
    check(r.returncode == 2 and "rotate_seconds" in r.stderr, r.stderr)
    # a metrics port already taken: said before anything is recorded
    os.mkdir(env.path("d"), 0o700)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    with open(conf, "w") as f:
        f.write(f"db_dir = {env.path('d')}\nmetrics_listen = 127.0.0.1:{taken.getsockname()[1]}\n")
    r = run([WIRESPAN, "agent", "--config", conf], check_rc=False, timeout=20)
    taken.close()
    check(r.returncode == 1 and "cannot serve metrics on 127.0.0.1:" in r.stderr and "in use" in r.stderr, r.stderr)
    check_eq(os.listdir(env.path("d")), [], "nothing recorded")
