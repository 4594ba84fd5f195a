#!/usr/bin/env python3
"""Score wirespan's traces against ground-truth spans (the OpenTelemetry JS
SDK's for the Node.js chain, the services' own for the python3 chain).

usage: score.py TRUTH_JSONL WIRESPAN_SPANS_JSONL

A span is identified by (service, kind, operation): every request carries a
unique number in its path and Redis keys, so each identity occurs once.
Reports span recall, parent-edge precision and recall, wrong links made with
confidence 1, and the share of ground-truth traces reproduced exactly (every
span found, every parent right), as one JSON object.
"""
import json
import sys
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


def our_key(s):
    a = s["attributes"]
    name = s["name"]
    if a.get("db.system") == "redis" and a.get("wirespan.redis.key"):
        name = f"{name} {a['wirespan.redis.key']}"
    return (a.get("service.name"), s["kind"], name)


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def score(truth, ours):
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
    matched = {}
    for s in ours:
        k = our_key(s)
        if k in t_parent:
            matched[k] = s
    gt_edges = {(p, c) for c, p in t_parent.items() if p}
    our_edges, wrong_conf1 = set(), 0
    o_parent = {}
    for k, s in matched.items():
        p = o_by_id.get(s["parent_span_id"])
        pk = our_key(p) if p else None
        o_parent[k] = pk if pk in t_parent else None
        if pk in t_parent:
            our_edges.add((pk, k))
            if (pk, k) not in gt_edges and s["attributes"].get("wirespan.link.confidence") == 1:
                wrong_conf1 += 1
    right = len(our_edges & gt_edges)
    traces = {}
    for s in truth:
        traces.setdefault(s["trace_id"], []).append(t_key[s["span_id"]])
    exact = sum(1 for keys in traces.values()
                if all(k in matched and o_parent[k] == t_parent[k] for k in keys))
    return {
        "truth_spans": len(t_parent), "spans_found": len(matched),
        "span_recall": len(matched) / max(1, len(t_parent)),
        "truth_edges": len(gt_edges), "edges": len(our_edges), "edges_right": right,
        "edge_precision": right / max(1, len(our_edges)), "edge_recall": right / max(1, len(gt_edges)),
        "wrong_links_confidence_1": wrong_conf1,
        "traces": len(traces), "traces_exact": exact, "exact_share": exact / max(1, len(traces)),
    }


def main():
    print(json.dumps(score(load(sys.argv[1]), load(sys.argv[2]))))


if __name__ == "__main__":
    main()
