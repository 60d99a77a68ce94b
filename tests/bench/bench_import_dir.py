#!/usr/bin/python3
"""Benchmark: `mfadctl import` into the directory (fleet mode: mfad with
[directory] over the two slapd providers of tests/fleet/fleet_harness.py),
the people's entries already in the directory as an organisation's own
tools leave them: seconds per 1,000 rows, first run (every person becomes
an account, invited) and second run (every row unchanged), for each size,
with the figure measured before the rows of a request were read and
written together as each row's note.

  tests/bench/bench_import_dir.py [--sizes N,N] [--runs R] [--quick]
"""

import argparse
import os
import subprocess
import sys
import time

import benchlib as b

sys.path.insert(0, os.path.join(b.SRC, "tests", "fleet"))
import fleet_harness as fh  # noqa: E402
import hosts_harness as hh  # noqa: E402

h = b.h


# The same measure before rows were read and written together (one
# account's six synchronous round trips a row), 2026-12-01 on the 2-core
# machine of BENCHMARKS.md, under load: s per 1,000 rows, by size.
ROW_BY_ROW = {"added": {1000: 24.7, 5000: 26.4},
              "unchanged": {1000: 1.03, 5000: 2.51}}


def before(what, n):
    s = ROW_BY_ROW[what].get(n)
    return "row by row: %.3g s" % s if s is not None else None


def user(i):
    return "imp%07d" % i


def add_people(fleet, first, n):
    """The person entries, added on provider A as the directory's
    administrator, and waited for on B."""
    c = fleet.conn(fleet.a)
    try:
        for i in range(first, first + n):
            dn, oc, attrs = fh.person(user(i), mfad=False)
            if not c.add(dn, oc, attrs):
                sys.exit("add %s: %s" % (dn, c.result))
    finally:
        c.unbind()
    fleet.wait_replicated(hh.dn_of(user(first + n - 1)), timeout=120)


def import_file(env, path, want, n):
    t0 = time.perf_counter()
    r = subprocess.run([str(h.MFADCTL), "-s", str(env.sock), "import",
                        str(path)], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    got = r.stdout.count(": %s" % want)
    if r.returncode != 0 or got != n:
        sys.exit("import (%s): exit %d, %d of %d rows %s\n%s\n%s" % (
            path, r.returncode, got, n, want, r.stderr,
            env.mfad.log_text()[-3000:]))
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.runs = [200], 1
    missing = fh.missing_tools()
    if missing:
        sys.exit("missing (tests/setup.sh installs them): " +
                 ", ".join(missing))
    fleet = fh.Fleet()
    env = None
    try:
        fleet.start()
        tmp = fleet.tmp / "hosts"
        tmp.mkdir(mode=0o700)
        key = tmp / "fleet.key"
        hh.write_secret(key, os.urandom(32))
        conf = hh.directory_config(fleet, "host-a", tmp, key)
        _, env = b.bench_env(conf)
        env.start()
        first = 0
        for n in sizes:
            added, again = [], []
            for run in range(args.runs):
                add_people(fleet, first, n)
                path = env.dir / ("people-%d-%d.csv" % (n, run))
                with open(path, "w") as f:
                    for i in range(first, first + n):
                        f.write("%s,%s@example.org,%s\n" %
                                (user(i), user(i), "fr" if i % 2 else "en"))
                first += n
                added.append(import_file(env, path, "added", n) * 1000 / n)
                again.append(import_file(env, path, "unchanged", n) *
                             1000 / n)
            b.row("import into the directory, %d people, all added: "
                  "per 1,000 rows" % n, "s", added,
                  key="import_dir_added_%d" % n, note=before("added", n))
            b.row("import into the directory, %d people again, all "
                  "unchanged: per 1,000 rows" % n, "s", again,
                  key="import_dir_unchanged_%d" % n,
                  note=before("unchanged", n))
    finally:
        if env is not None:
            try:
                env.close()
            except AssertionError as e:
                print("closing mfad: %s" % e, file=sys.stderr)
                env.mfad.kill()
        fleet.close()


if __name__ == "__main__":
    main()
