"""Traces inside the runtimes services really run: a Go service whose
handler fans out over goroutines through a saturated HTTP client pool, and
Node.js and Python asyncio services with one shared pipelined Redis
connection and a saturated connection pool, and asyncio.gather with the
asyncio probes on and off. Each runs the accuracy harness's chain
(bench/accuracy) on a small scale: every request's spans and parents are
known by construction, with ids hashed at every hop, so only kernel
evidence can link them. Then the Go runtime probes on their own: a Go
version wirespan does not support, a Go process that exits while recorded,
and 100,000 goroutines against bounded kernel tables."""
import importlib.util
import json
import os
import signal
import subprocess
import time

from lib import (ROOT, WIRESPAN, Failure, Recorder, check, check_eq, curl, of_path, run, sqlite, wait_port)

ACC = os.path.join(ROOT, "bench", "accuracy")
GO_ENV = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOFLAGS="",
              GOCACHE=os.path.join(ROOT, "build", "accuracy", "gocache"))


def harness():
    import sys
    if ACC not in sys.path:
        sys.path.insert(0, ACC)
    spec = importlib.util.spec_from_file_location("accuracy_run", os.path.join(ACC, "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_gosvc():
    os.makedirs(os.path.join(ROOT, "build", "accuracy"), exist_ok=True)
    run(["go", "build", "-o", os.path.join(ROOT, "build", "accuracy", "gosvc"), "./bench/accuracy/gosvc"], cwd=ROOT,
        env=GO_ENV, timeout=600)


def check_chain(r, what):
    """What a user checks of the traces: every span found, no wrong parent
    claimed with confidence, whole traces right."""
    check_eq(r["failed_requests"], 0, f"{what}: failed requests")
    check_eq(r["events_lost"], 0, f"{what}: events lost")
    check_eq(r["span_recall"], 1.0, f"{what}: share of the spans found")
    check_eq(r["wrong_links_confidence_1"], 0, f"{what}: wrong links at confidence 1")
    check(r["wrong_links_confidence_ge_0_9"] <= r["truth_edges"] // 100,
          f"{what}: {r['wrong_links_confidence_ge_0_9']} wrong links at confidence >= 0.9 of {r['truth_edges']}")
    check(r["inproc_right"] >= 0.98 * r["inproc_truth_edges"],
          f"{what}: {r['inproc_right']} of {r['inproc_truth_edges']} links inside the service right")
    check(r["traces_exact"] >= 0.95 * r["traces"], f"{what}: {r['traces_exact']} of {r['traces']} traces exact")


def methods(r):
    return {m["method"] for m in r["by_method"] if m["scope"] == "in-process" and m["links"]}


def test_go_goroutine_fanout(env):
    """net/http; each request's handler calls two backends from two
    goroutines through one http.Client of at most 4 connections, at 16
    requests in flight: the calls wait for connections, and the Transport's
    connection goroutines write them."""
    build_gosvc()
    acc = harness()
    r = acc.run_service_chain("go-fanout", 16, 160, "hashed")
    check_chain(r, "go-fanout")
    used = methods(r)
    check("go-handoff" in used, f"calls handed to connection writers are linked as such ({sorted(used)})")
    check(not used & {"thread", "last-read", "earlier-read"}, f"no thread evidence in a probed Go process ({used})")


def npm_ci():
    """The accuracy harness's Node packages (express, ioredis), from its lock file."""
    if not os.path.isdir(os.path.join(ACC, "node_modules")):
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ACC, timeout=600)


def test_node_event_loop_pool(env):
    """express on Node's one event-loop thread: every request's ioredis GET
    goes over one shared pipelined connection, then its GET /b1 waits for
    one of http.Agent's 4 sockets, at 16 in flight: calls are written after
    the replies to other requests' calls were read."""
    npm_ci()
    acc = harness()
    r = acc.run_service_chain("node-agent", 16, 160, "hashed")
    check_chain(r, "node-agent")
    used = methods(r)
    check("pool-fifo" in used, f"calls that waited for a pooled socket are linked as such ({sorted(used)})")
    check(not used & {"last-read", "read-order", "earlier-read"}, f"no last-read guesses on Node ({sorted(used)})")


def test_asyncio_pipelined_redis_and_pool(env):
    """aiohttp with one aioredis connection that pipelines every request's
    GET, and an aiohttp client pool of 4 connections, at 16 in flight: the
    asyncio task probes say which task wrote each call."""
    acc = harness()
    r = acc.run_service_chain("py-asyncio", 16, 160, "hashed")
    check_chain(r, "py-asyncio")
    check_eq(methods(r), {"task"}, "every call linked by the task that wrote it")


def test_asyncio_gather_without_probes(env):
    """asyncio.gather through a saturated pool, with the task probes off:
    the loop models cannot follow a gather's child tasks, so nothing is
    linked wrong; with them on, every call is linked through the children."""
    acc = harness()
    off = acc.run_service_chain("py-gather", 8, 80, "hashed", record_args=["--no-asyncio-probes"])
    check_eq(off["wrong_links_confidence_1"], 0, "py-gather without probes: wrong links at confidence 1")
    check(off["inproc_wrong"] <= off["inproc_truth_edges"] // 100,
          f"py-gather without probes: {off['inproc_wrong']} wrong of {off['inproc_truth_edges']}")
    on = acc.run_service_chain("py-gather", 8, 80, "hashed")
    check_chain(on, "py-gather")
    check_eq(methods(on), {"task", "task-spawn"}, "the gather's calls linked through its child tasks")


def _go_build(env, src, name):
    d = env.path(name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "main.go"), "w") as f:
        f.write(src)
    out = os.path.join(d, name)
    run(["go", "build", "-o", out, "main.go"], cwd=d, env=GO_ENV, timeout=600)
    return out


SERVER = r"""
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.ListenAndServe(os.Args[1], nil)
}
"""


def test_go_process_exits_while_recorded(env):
    """A probed Go server killed in the middle: its exchanges before are
    kept, the recording goes on, and a new one started after is probed."""
    port = 18520
    binary = _go_build(env, SERVER, "exits")
    db = env.path("exits.db")
    p = env.spawn([binary, f"127.0.0.1:{port}"])
    wait_port("127.0.0.1", port)
    rec = Recorder(env, db, "--port", str(port))
    for i in range(3):
        curl(f"http://127.0.0.1:{port}/a{i}")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    p2 = env.spawn([binary, f"127.0.0.1:{port}"])
    wait_port("127.0.0.1", port)
    for i in range(2):
        curl(f"http://127.0.0.1:{port}/b{i}")
    err = rec.stop_ok()
    check(f"pid {p.pid} (exits) runs Go go1." in err and "goroutines traced" in err, f"the first is probed: {err}")
    check(f"pid {p2.pid} (exits) runs Go" in err, f"the one started later is probed too: {err}")
    rows = sqlite(db, "SELECT name, pid, req_last_goid > 0 FROM spans WHERE kind = 'server' ORDER BY start_ns")
    got = [line.split("|") for line in rows.splitlines()]
    check_eq([g[0] for g in got], ["GET /a0", "GET /a1", "GET /a2", "GET /b0", "GET /b1"], "server spans")
    check_eq({g[1] for g in got[:3]}, {str(p.pid)}, "the first process's spans")
    check(all(g[2] == "1" for g in got), f"every request read by a known goroutine: {got}")
    check_eq(sqlite(db, f"SELECT count(*) FROM processes WHERE traced = 1 AND pid IN ({p.pid}, {p2.pid})").strip(), "2",
             "probed processes stored")


def test_go_unsupported_falls_back(env):
    """A Go binary of a version without verified runtime offsets (esbuild's
    own server, a stripped go1.23 binary from npm): refused with a message,
    and its exchanges are still recorded, linked from kernel evidence."""
    esbuild = os.path.join(ROOT, "build", "go", "esbuild-0.25.0")
    if not os.path.exists(esbuild):
        subprocess.run([os.path.join(ROOT, "tests", "data", "go", "fetch-esbuild.sh"),
                        os.path.join(ROOT, "build", "go")], capture_output=True, timeout=300)
    if not os.path.exists(esbuild):
        print("  (esbuild could not be fetched from the npm registry: skipped)")
        return
    port = 18521
    www = env.path("www")
    os.makedirs(www)
    with open(os.path.join(www, "x.txt"), "w") as f:
        f.write("hello\n")
    db = env.path("esbuild.db")
    rec = Recorder(env, db, "--port", str(port))
    # it serves while its stdin is open
    p = env.spawn([esbuild, f"--serve=127.0.0.1:{port}", f"--servedir={www}"], stdin=subprocess.PIPE)
    wait_port("127.0.0.1", port)
    for _ in range(3):
        curl(f"http://127.0.0.1:{port}/x.txt")
    err = rec.stop_ok()
    check(f"pid {p.pid} (esbuild" in err and "runs Go go1.23.5" in err and "no verified runtime struct offsets" in err
          and "kernel evidence only" in err, f"a clear refusal: {err}")
    check_eq(sqlite(db, "SELECT count(*) FROM spans WHERE kind = 'server' AND name = 'GET /x.txt'").strip(), "3",
             "its requests recorded anyway")
    check_eq(sqlite(db, f"SELECT runtime, traced FROM processes WHERE pid = {p.pid}").strip(), "go1.23.5|0",
             "stored as unprobed Go")


SPAWNER = r"""
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
)

// GET /spawn/N: N goroutines, each woken by a channel send and kept alive
// until all are, then a call to the backend from one of them.
func main() {
	backend := os.Args[2]
	http.HandleFunc("/spawn/", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Path[len("/spawn/"):])
		chans := make([]chan int, n)
		var started, woken sync.WaitGroup
		release := make(chan struct{})
		for i := range chans {
			chans[i] = make(chan int)
			started.Add(1)
			woken.Add(1)
			go func(c chan int) {
				started.Done()
				<-c
				woken.Done()
				<-release
			}(chans[i])
		}
		started.Wait()
		for _, c := range chans {
			c <- 1
		}
		woken.Wait()
		close(release)
		resp, err := http.Get(backend)
		if err == nil {
			resp.Body.Close()
		}
		fmt.Fprintln(w, n)
	})
	http.ListenAndServe(os.Args[1], nil)
}
"""


def test_go_100k_goroutines(env):
    """100,000 goroutines handed values at once: the kernel's goroutine
    table is bounded, what it could not keep is counted, nothing else is
    lost, and the handler's call is still linked to its request."""
    port, backend = 18522, 18523
    env.python_http(backend)
    binary = _go_build(env, SPAWNER, "spawner")
    db = env.path("spawn.db")
    env.spawn([binary, f"127.0.0.1:{port}", f"http://127.0.0.1:{backend}/"])
    wait_port("127.0.0.1", port)
    rec = Recorder(env, db, "--port", str(port), "--port", str(backend))
    curl(f"http://127.0.0.1:{port}/spawn/100000", "--max-time", "60")
    rc, err = rec.stop()
    check_eq(rc, 0, f"wirespan record: {err}")
    counters = dict(line.split("|", 1) for line in
                    sqlite(db, "SELECT name, value FROM counters WHERE name LIKE 'go_%'").split())
    check(int(counters["go_spawns"]) >= 100000, f"goroutines counted as created: {counters}")
    check(int(counters["go_wakes"]) >= 100000, f"hand-offs counted: {counters}")
    check(int(counters["go_wake_entries_evicted"]) > 0, f"entries beyond the table are counted: {counters}")
    check(int(sqlite(db, "SELECT count(*) FROM goroutines").strip()) >= 100000, "creations stored")
    spans = [json.loads(line) for line in run([WIRESPAN, "spans", "--db", db, "--json"]).stdout.splitlines()]
    srv = of_path(spans, "/spawn/100000", "server")  # named GET /spawn/{id}
    cli = [s for s in spans if s["kind"] == "client" and s["attributes"].get("server.port") == backend]
    check_eq((len(srv), len(cli)), (1, 1), "the request and its call")
    check_eq(cli[0]["parent_span_id"], srv[0]["span_id"], "the call's parent")
    check(cli[0]["attributes"].get("wirespan.link.method", "").startswith("go"),
          f"linked by goroutines: {cli[0]['attributes']}")
