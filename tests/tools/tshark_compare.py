#!/usr/bin/env python3
"""Compare wirespan's per-packet TCP analysis with tshark's on a capture.

usage: tshark_compare.py WIRESPAN CAPTURE [--verbose]

Runs `tshark -r CAPTURE` (one pass, default preferences) and
`wirespan pcap --analysis`, then compares, frame by frame, the flags both
report (retransmission, fast and spurious retransmission, out of order,
duplicate ACK and its number, zero window, zero-window probe, keep-alive,
window update, segment not captured) and the ACK RTT with the frame it
acknowledges. Prints a JSON summary; exits 1 on any disagreement."""
import json
import os
import subprocess
import sys
import tempfile

FLAGS = ["retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
         "duplicate_ack", "zero_window", "zero_window_probe", "keep_alive", "window_update",
         "lost_segment"]


def tshark(path):
    fields = ["frame.number", "tcp.analysis.acks_frame", "tcp.analysis.ack_rtt",
              "tcp.analysis.duplicate_ack_num"] + ["tcp.analysis." + f for f in FLAGS]
    cmd = ["tshark", "-n", "-r", path, "-Y", "tcp", "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        c = line.split("\t")
        c += [""] * (len(fields) - len(c))
        frame = int(c[0])
        flags = {f for f, v in zip(FLAGS, c[4:]) if v}
        res[frame] = {
            "flags": flags,
            "acks_frame": int(c[1]) if c[1] else 0,
            "ack_rtt": float(c[2]) if c[2] else None,
            "dupack_num": int(c[3]) if c[3] else 0,
        }
    return res


def wirespan(binary, path):
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([binary, "pcap", "--quiet", "--db", os.path.join(d, "a.db"), "--analysis", path],
                             check=True, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        c = line.split("\t")
        frame = int(c[1])
        flags = set(c[2].split(",")) & set(FLAGS) if c[2] else set()
        res[frame] = {
            "flags": flags,
            "acks_frame": int(c[3]) if c[3] else 0,
            "ack_rtt": float(c[4]) if c[4] else None,
            "dupack_num": int(c[5]) if len(c) > 5 and c[5] else 0,
        }
    return res


def compare(binary, path, verbose=False):
    t, w = tshark(path), wirespan(binary, path)
    summary = {"frames": len(t), "frames_wirespan": len(w), "disagreements": 0}
    for f in FLAGS:
        summary[f] = sum(1 for v in t.values() if f in v["flags"])
    summary["ack_rtt"] = sum(1 for v in t.values() if v["ack_rtt"] is not None)
    bad = []
    for frame in sorted(set(t) | set(w)):
        a, b = t.get(frame), w.get(frame)
        if a is None or b is None:
            bad.append((frame, "only in " + ("wirespan" if a is None else "tshark")))
            continue
        if a["flags"] != b["flags"]:
            bad.append((frame, "flags tshark=%s wirespan=%s" % (sorted(a["flags"]), sorted(b["flags"]))))
        if a["dupack_num"] != b["dupack_num"]:
            bad.append((frame, "dup ack # tshark=%d wirespan=%d" % (a["dupack_num"], b["dupack_num"])))
        # tshark shows an ACK RTT only when it is not zero
        if (a["ack_rtt"] is not None) != (b["ack_rtt"] is not None and b["ack_rtt"] > 0) or \
                (a["ack_rtt"] is not None and (a["acks_frame"] != b["acks_frame"] or
                                               abs(a["ack_rtt"] - b["ack_rtt"]) > 1.5e-6)):
            bad.append((frame, "ack rtt tshark=%s/%s wirespan=%s/%s" % (a["acks_frame"], a["ack_rtt"],
                                                                        b["acks_frame"], b["ack_rtt"])))
    summary["disagreements"] = len(bad)
    summary["first_disagreements"] = ["frame %d: %s" % x for x in bad[:10]]
    return summary


if __name__ == "__main__":
    s = compare(sys.argv[1], sys.argv[2], "--verbose" in sys.argv)
    print(json.dumps(s, indent=1))
    sys.exit(1 if s["disagreements"] else 0)
