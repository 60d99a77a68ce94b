#!/usr/bin/python3
"""Benchmark: remembered-device logins on a small store and on a large one.

Each store holds ACTIVE accounts with a password and one remembered device
(made by mfad_load: USER_ADD, then a full login and REMEMBER), and is
filled up to SIZE accounts with invitations through `mfadctl import`
(the only bulk path mfad offers today: it makes invitations, with no
password and no device). Then: p50/p99 of remembered-device logins at
1 and 16 clients, the store's size on disk, and mfad's resident memory,
idle and under load.

  tests/bench/bench_scale.py [--sizes N,N...] [--active N] [--seconds S]
                             [--quick]
"""

import argparse
import subprocess
import sys
import time

import benchlib as b
from benchlib import h


def fill(env, start, count, path):
    """Invitations start .. start + count - 1 through mfadctl import."""
    with open(path, "w") as f:
        for i in range(start, start + count):
            f.write("u%07d,u%07d@example.org,en\n" % (i, i))
    t0 = time.perf_counter()
    r = subprocess.run([str(h.MFADCTL), "-s", str(env.sock), "import",
                        str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("import failed: %s" % r.stderr[-2000:])
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,1000000")
    ap.add_argument("--active", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.active, args.seconds, args.runs = \
            "200,2000", 200, 1, 1
    sizes = [int(x) for x in args.sizes.split(",")]
    tool = b.cc("mfad_load", ["mfad_load.c"], ["-lsodium", "-lpthread"],
                common=True)
    for size in sizes:
        active = min(args.active, size)
        smtp, env = b.bench_env()
        try:
            env.start()
            pid = env.mfad.proc.pid
            b.load(tool, env, smtp.port, "add", clients=8, accounts=active)
            b.load(tool, env, smtp.port, "remember", clients=16,
                   accounts=active)
            if size > active:
                dt = fill(env, active, size - active, env.dir / "bulk.csv")
                b.row("mfadctl import of %d invitations (bulk fill)" %
                      (size - active), "s", [dt], key="fill_%d" % size)
            time.sleep(1)
            idle = b.vmrss_kib(pid)
            idle_out = b.rss_outside_map_kib(pid)
            for c in (1, 16):
                p50s, p99s, rates, peak, peak_out = [], [], [], 0, 0
                for _ in range(args.runs):
                    r = b.load(tool, env, smtp.port, "device", clients=c,
                               accounts=active, seconds=args.seconds)
                    peak = max(peak, b.vmrss_kib(pid))
                    peak_out = max(peak_out, b.rss_outside_map_kib(pid))
                    p50s.append(r["p50_ms"])
                    p99s.append(r["p99_ms"])
                    rates.append(r["rate"])
                b.row("%d accounts: remembered-device login, %d clients, "
                      "latency p50 (p99 column)" % (size, c), "ms", p50s,
                      p99=sorted(p99s)[len(p99s) // 2],
                      key="scale_%d_c%d" % (size, c))
                b.row("%d accounts: remembered-device logins, %d clients"
                      % (size, c), "logins/s", rates,
                      key="scale_%d_c%d_rate" % (size, c))
            b.row("%d accounts: store on disk (du of the database dir)" %
                  size, "MiB", [b.du_bytes(env.db) / 2 ** 20],
                  key="scale_%d_du" % size)
            b.row("%d accounts: mfad VmRSS idle" % size, "KiB", [idle],
                  key="scale_%d_rss_idle" % size)
            b.row("%d accounts: mfad resident outside the LMDB map, idle" %
                  size, "KiB", [idle_out], key="scale_%d_rss_idle_out" %
                  size)
            b.row("%d accounts: mfad VmRSS after load" % size, "KiB",
                  [peak], key="scale_%d_rss_load" % size)
            b.row("%d accounts: mfad resident outside the LMDB map, after "
                  "load" % size, "KiB", [peak_out],
                  key="scale_%d_rss_load_out" % size)
        finally:
            env.close()


if __name__ == "__main__":
    main()
