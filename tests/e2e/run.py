#!/usr/bin/env python3
"""Run the end-to-end tests: real servers, real clients, real eBPF (root).

usage: run.py [NAME_SUBSTRING ...]
Prints one line per test and a summary line; exits 1 when a test fails.
"""
import importlib
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

MODULES = ["test_http", "test_redis", "test_postgres", "test_mysql", "test_tls", "test_h2", "test_filters", "test_errors", "test_traces", "test_phases", "test_pcap",
           "test_overhead", "test_runtimes", "test_secrets", "test_export", "test_agent"]


def main():
    wanted = sys.argv[1:]
    tests = []
    for m in MODULES:
        mod = importlib.import_module(m)
        found = [(getattr(mod, n).__code__.co_firstlineno, n) for n in dir(mod)
                 if n.startswith("test_") and callable(getattr(mod, n))]
        for _, name in sorted(found):  # in the order they are written
            if not wanted or any(w in name for w in wanted):
                tests.append((name, getattr(mod, name)))
    passed, failed = 0, []
    for name, fn in tests:
        env = lib.Env(name)
        t0 = time.time()
        try:
            fn(env)
            passed += 1
            print(f"PASS {name} ({time.time() - t0:.1f}s)", flush=True)
        except Exception as e:  # a failed check or an unexpected error
            failed.append(name)
            detail = str(e) if isinstance(e, lib.Failure) else traceback.format_exc()
            print(f"FAIL {name} ({time.time() - t0:.1f}s): {detail}", flush=True)
        finally:
            env.cleanup()
    print("e2e: phases checked on spans read: " + ", ".join(f"{k} {v}" for k, v in lib.PHASE_CHECKS.items()))
    print(f"e2e: {passed + len(failed)} tests, {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
