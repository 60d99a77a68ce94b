#!/usr/bin/python3
"""Benchmark: `mfadctl import` of 10,000 CSV lines into a real mfad
(full-sync LMDB), first run (all added) and second run (all unchanged),
repeated; prints one JSON object per measure on stdout.

  tests/bench/bench_import.py [--lines N] [--runs R] [--quick]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "pam"))
import mss_harness as h  # noqa: E402


def measure(env, path):
    t0 = time.perf_counter()
    r = subprocess.run([str(h.MFADCTL), "-s", str(env.sock), "import",
                        str(path)], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit("import failed: %s" % r.stderr)
    return dt, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.lines, args.runs = 1000, 1
    first, second = [], []
    for run in range(args.runs):
        smtp = h.SmtpServer()
        smtp.start()
        env = h.MssEnv(smtp)
        try:
            env.start()
            path = env.dir / "staff.csv"
            with open(path, "w") as f:
                for i in range(args.lines):
                    f.write("user%06d,user%06d@example.org,%s\n" %
                            (i, i, "fr" if i % 2 else "en"))
            dt, out = measure(env, path)
            assert out.count(": added") == args.lines
            first.append(dt)
            dt, out = measure(env, path)
            assert out.count(": unchanged") == args.lines
            second.append(dt)
        finally:
            env.close()
            smtp.stop()
    for name, xs in (("import %d lines, all added" % args.lines, first),
                     ("import %d lines again, all unchanged" % args.lines,
                      second)):
        xs = sorted(xs)
        med = statistics.median(xs)
        print(json.dumps({"bench": name, "unit": "s", "runs": len(xs),
                          "median": med, "min": xs[0], "max": xs[-1],
                          "spread": (xs[-1] - xs[0]) / med * 100}))


if __name__ == "__main__":
    main()
