#!/usr/bin/env python3
"""Score wirespan's traces against ground-truth spans (the OpenTelemetry JS
SDK's for the node chain, the services' own for the python chain, and for
the other chains a truth the harness builds from the request numbers).

usage: score.py TRUTH_JSONL WIRESPAN_SPANS_JSONL [--markdown] [--host-service HOST=NAME,...]
       score.py --results RUN_JSONL     (run.py --json output as Markdown tables)

--host-service  the service of spans recorded on HOST is NAME, whatever their
                service.name (run.py's single-service chains:
                acsvc=CHAIN,acleaf=leaf,acredis=redis)

A span is identified by (service, kind, operation): every request carries a
unique id in its paths and Redis keys (the request number, or a hash of it),
so each identity occurs once. Prints one JSON object (or, with --markdown,
tables) with:

- span recall: ground-truth spans found in wirespan's output;
- parent links, each span of the truth that wirespan found being the child:
  right (the parent the truth has), wrong (a parent, but another one, or a
  parent for a span that is a root in the truth), missing (no parent, or the
  span not found); edge precision = right / (right + wrong), edge recall =
  right / ground-truth edges. `inproc_*` counts the same for the links
  inside a process only (a client span under a server span of its own
  service), which are made by inference; the others are made across a
  connection, from TCP sequence numbers;
- wrong links made with confidence 1, and with confidence >= 0.9;
- traces exact: ground-truth traces reproduced exactly (every span found,
  every parent right);
- by_method and by_confidence: for each `wirespan.link.method` (and scope:
  in-process or across) and each `wirespan.link.confidence`, the links made,
  how many were right and wrong, precision, and the mean of
  `wirespan.link.candidates` (requests in flight when the link was made).
"""
import json
import urllib.parse


def truth_key(s):
    a = s.get("attributes") or {}
    name = s["name"]
    if "db.statement" in a:  # ioredis: "get k:5"
        words = a["db.statement"].split(" ")
        name = " ".join([words[0].upper()] + words[1:2])
    elif "http.target" in a or "http.url" in a:
        path = a.get("http.target") or urllib.parse.urlsplit(a["http.url"]).path
        name = f"{a.get('http.method', 'GET')} {path.split('?')[0]}"
    return (s["service"], s["kind"], name)


def our_key(s, service_of=None):
    a = s["attributes"]
    name = s["name"]
    if a.get("db.system") == "redis" and a.get("wirespan.redis.key"):
        name = f"{name} {a['wirespan.redis.key']}"
    elif a.get("url.path") is not None:  # named by the route (GET /b1/{id}): the path says which request
        name = f"{a.get('http.request.method')} {a['url.path']}"
    return (service_of(s) if service_of else a.get("service.name"), s["kind"], name)


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _ratio(a, b):
    return a / b if b else None


def _table(groups):
    rows = []
    for key, g in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        cands = g.pop("cands")
        g["precision"] = _ratio(g["right"], g["links"])
        g["candidates_mean"] = round(sum(cands) / len(cands), 2) if cands else None
        rows.append(g)
    return rows


def score(truth, ours, service_of=None):
    """service_of(span): the service a span of ours belongs to, when
    service.name cannot tell (nginx overwrites its environment with its
    process title, so wirespan names it "nginx" whatever OTEL_SERVICE_NAME
    says); by default the span's service.name."""
    # exchanges only: ioredis's "connect" span is connection set-up, which
    # wirespan reports as a phase of the first exchange, not as a span
    truth = [s for s in truth if s["kind"] in ("server", "client")
             and (s.get("attributes") or {}).get("db.statement") != "connect"]
    t_by_id = {s["span_id"]: s for s in truth}
    t_key = {s["span_id"]: truth_key(s) for s in truth}
    t_parent = {}  # key -> parent key (None: a root)
    for s in truth:
        p = t_by_id.get(s["parent_span_id"])
        t_parent[t_key[s["span_id"]]] = t_key[p["span_id"]] if p else None
    o_by_id = {s["span_id"]: s for s in ours}
    matched, dup = {}, 0
    for s in ours:
        k = our_key(s, service_of)
        if k in t_parent:
            if k in matched:
                dup += 1
            matched[k] = s

    def inproc(child, parent):  # a client span under a server span of its own service
        return bool(parent) and child[1] == "client" and parent[1] == "server" and child[0] == parent[0]

    right = wrong = missing = 0
    ip = {"right": 0, "wrong": 0, "missing": 0}
    wrong_c1 = wrong_c09 = 0
    o_parent = {}
    by_method, by_conf = {}, {}
    for k, tp in t_parent.items():
        s = matched.get(k)
        pk, linked = None, False
        if s is not None:
            pid = s.get("parent_span_id") or ""
            if pid:
                linked = True
                p = o_by_id.get(pid)
                pk = our_key(p, service_of) if p else ("?", "?", pid)
            o_parent[k] = pk
        scope = "in-process" if inproc(k, tp) or (tp is None and inproc(k, pk)) else "across"
        if linked and pk == tp:
            outcome = "right"
        elif linked:
            outcome = "wrong"
        elif tp is not None:
            outcome = "missing"
        else:
            outcome = None  # a root left a root
        if outcome == "right":
            right += 1
        elif outcome == "wrong":
            wrong += 1
        elif outcome == "missing":
            missing += 1
        if scope == "in-process" and outcome:
            ip[outcome] += 1
        if not linked:
            continue
        a = s["attributes"]
        method = a.get("wirespan.link.method", "?")
        conf = a.get("wirespan.link.confidence")
        cands = a.get("wirespan.link.candidates")
        if outcome == "wrong":
            if conf is not None and conf >= 1:
                wrong_c1 += 1
            if conf is not None and conf >= 0.9:
                wrong_c09 += 1
        for groups, gk, base in ((by_method, (method, scope), {"method": method, "scope": scope}),
                                 (by_conf, (conf if conf is not None else -1,), {"confidence": conf})):
            g = groups.setdefault(gk, dict(base, links=0, right=0, wrong=0, cands=[]))
            g["links"] += 1
            g[outcome] += 1
            if cands is not None:
                g["cands"].append(cands)

    gt_edges = sum(1 for p in t_parent.values() if p)
    ip_edges = sum(1 for k, p in t_parent.items() if inproc(k, p))
    traces = {}
    for s in truth:
        traces.setdefault(s["trace_id"], []).append(t_key[s["span_id"]])
    exact = sum(1 for keys in traces.values()
                if all(k in matched and o_parent.get(k) == t_parent[k] for k in keys))
    return {
        "truth_spans": len(t_parent), "spans_found": len(matched), "duplicate_spans": dup,
        "span_recall": len(matched) / max(1, len(t_parent)),
        "truth_edges": gt_edges, "edges": right + wrong, "edges_right": right, "edges_wrong": wrong,
        "edges_missing": missing,
        "edge_precision": right / max(1, right + wrong), "edge_recall": right / max(1, gt_edges),
        "inproc_truth_edges": ip_edges, "inproc_right": ip["right"], "inproc_wrong": ip["wrong"],
        "inproc_missing": ip["missing"],
        "inproc_precision": ip["right"] / max(1, ip["right"] + ip["wrong"]),
        "inproc_recall": ip["right"] / max(1, ip_edges),
        "wrong_links_confidence_1": wrong_c1, "wrong_links_confidence_ge_0_9": wrong_c09,
        "traces": len(traces), "traces_exact": exact, "exact_share": exact / max(1, len(traces)),
        "by_method": _table(by_method), "by_confidence": _table(by_conf),
    }


# ---- Markdown ----

def _f(x, digits=4):
    return "-" if x is None else f"{x:.{digits}f}"


SUMMARY_HEAD = ("| chain | ids | conc | requests | failed | span recall | edges right / wrong / missing | "
                "edge precision | edge recall | in-process right / wrong / missing | in-process precision | "
                "in-process recall | wrong at conf 1 | wrong at conf >= 0.9 | traces exact |\n"
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def summary_row(r):
    return (f"| {r.get('chain', '')} | {r.get('ids', '')} | {r.get('concurrency', '')} | {r.get('requests', '')} | "
            f"{r.get('failed_requests', '')} | {_f(r['span_recall'])} | "
            f"{r['edges_right']} / {r['edges_wrong']} / {r['edges_missing']} | {_f(r['edge_precision'])} | "
            f"{_f(r['edge_recall'])} | {r['inproc_right']} / {r['inproc_wrong']} / {r['inproc_missing']} | "
            f"{_f(r['inproc_precision'])} | {_f(r['inproc_recall'])} | {r['wrong_links_confidence_1']} | "
            f"{r['wrong_links_confidence_ge_0_9']} | {r['traces_exact']}/{r['traces']} ({r['exact_share']:.1%}) |")


METHOD_HEAD = ("| chain | ids | conc | method | scope | links | right | wrong | precision | mean candidates |\n"
               "|---|---|---:|---|---|---:|---:|---:|---:|---:|")
CONF_HEAD = ("| chain | ids | conc | confidence | links | right | wrong | precision |\n"
             "|---|---|---:|---:|---:|---:|---:|---:|")


def method_rows(r):
    pre = f"| {r.get('chain', '')} | {r.get('ids', '')} | {r.get('concurrency', '')} "
    return [pre + f"| {m['method']} | {m['scope']} | {m['links']} | {m['right']} | {m['wrong']} | "
            f"{_f(m['precision'])} | {_f(m['candidates_mean'], 2)} |" for m in r["by_method"]]


def conf_rows(r):
    pre = f"| {r.get('chain', '')} | {r.get('ids', '')} | {r.get('concurrency', '')} "
    return [pre + f"| {_f(c['confidence'], 2)} | {c['links']} | {c['right']} | {c['wrong']} | "
            f"{_f(c['precision'])} |" for c in r["by_confidence"]]


def markdown(results):
    out = [SUMMARY_HEAD] + [summary_row(r) for r in results]
    out += ["", "Links by method:", "", METHOD_HEAD]
    for r in results:
        out += method_rows(r)
    out += ["", "Links by confidence:", "", CONF_HEAD]
    for r in results:
        out += conf_rows(r)
    return "\n".join(out)


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("truth", nargs="?")
    ap.add_argument("ours", nargs="?")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--host-service", default="")
    ap.add_argument("--results", metavar="RUN_JSONL", help="print run.py --json results as Markdown tables")
    a = ap.parse_args()
    if a.results:
        print(markdown(load(a.results)))
        return
    if not a.ours:
        ap.error("TRUTH_JSONL and WIRESPAN_SPANS_JSONL are needed")
    service_of = None
    if a.host_service:
        names = dict(x.split("=", 1) for x in a.host_service.split(","))
        service_of = lambda s: names.get(s["attributes"].get("host.name"), s["attributes"].get("service.name"))  # noqa
    r = score(load(a.truth), load(a.ours), service_of)
    print(markdown([r]) if a.markdown else json.dumps(r))


if __name__ == "__main__":
    main()
