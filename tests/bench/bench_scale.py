#!/usr/bin/python3
"""Benchmark: remembered-device logins on a small store and on a large one.

Each store is built through the bulk path, `mfadctl import` with a
password hash and devices: SIZE active accounts u0000000.., each with the
hash of the load generator's password (made once by pwverify -H, at the
lowest cost mfad accepts) and DEVICES remembered devices, the first being
the one mfad_load logs in from (rhost:10.0.0.1). Then: p50/p99 of
remembered-device logins at 1 and 16 clients over every account of the
store, the store's size on disk, and mfad's resident memory, idle and
under load.

  tests/bench/bench_scale.py [--sizes N,N...] [--devices N] [--seconds S]
                             [--runs N] [--quick] [--stat]

--stat prints mdb_stat -a of each store (its pages per sub-database) to
standard error.
"""

import argparse
import subprocess
import sys
import time

import benchlib as b
from benchlib import h


def write_csv(path, size, devices, pwhash):
    """SIZE rows: user, address, language, the hash (quoted: it holds
    commas), then DEVICES device identities."""
    with open(path, "w") as f:
        for i in range(size):
            devs = ["rhost:10.0.0.1"]
            if devices > 1:
                devs.append("rhost:10.%d.%d.%d" % (
                    1 + i // 65536, i // 256 % 256, i % 256))
            for k in range(2, devices):
                devs.append("sshkey:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5%07d%02d"
                            % (i, k))
            f.write('u%07d,u%07d@example.org,en,"%s",%s\n' % (
                i, i, pwhash, ",".join(devs)))


def bulk_import(env, path):
    """mfadctl import of path; returns the seconds it took."""
    t0 = time.perf_counter()
    r = subprocess.run([str(h.MFADCTL), "-s", str(env.sock), "import",
                        str(path)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit("import failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
    return dt


def count_devices(env, users):
    n = 0
    for u in users:
        n += len(env.ctl_json("device", "list", u))
    return n


def print_stat(db, size):
    """Pages per sub-database (mdb_stat -a), to standard error."""
    r = subprocess.run(["mdb_stat", "-a", str(db)], capture_output=True,
                       text=True)
    print("mdb_stat -a, %d accounts:" % size, file=sys.stderr)
    name = "(main)"
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("Status of "):
            name = line[len("Status of "):]
        elif line.endswith("pages:") or "pages:" in line:
            print("  %-10s %s" % (name, line), file=sys.stderr)
    if r.returncode != 0:
        print("  mdb_stat failed: %s" % r.stderr.strip(), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,1000000")
    ap.add_argument("--devices", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--stat", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.seconds, args.runs = "200,2000", 1, 1
    sizes = [int(x) for x in args.sizes.split(",")]
    tool = b.mfad_load()
    hasher = b.pwverify()
    pwhash = subprocess.run([hasher, "-H"], capture_output=True, text=True,
                            check=True).stdout.strip()
    for size in sizes:
        smtp, env = b.bench_env()
        try:
            env.start()
            pid = env.mfad.proc.pid
            path = env.dir / "bulk.csv"
            write_csv(path, size, args.devices, pwhash)
            dt = bulk_import(env, path)
            path.unlink()
            b.row("%d accounts: mfadctl import, active with %d devices each "
                  "(%d devices)" % (size, args.devices, size * args.devices),
                  "s", [dt], key="fill_%d" % size)
            sample = ["u%07d" % i for i in (0, size // 2, size - 1)]
            if count_devices(env, sample) != len(sample) * args.devices:
                sys.exit("the import did not remember every device")
            time.sleep(1)
            idle = b.vmrss_kib(pid)
            idle_out = b.rss_outside_map_kib(pid)
            idle_anon = b.rss_anon_kib(pid)
            for c in (1, 16):
                p50s, p99s, rates, peak, peak_out = [], [], [], 0, 0
                for _ in range(args.runs):
                    r = b.load(tool, env, smtp.port, "device", clients=c,
                               accounts=size, seconds=args.seconds)
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
            b.row("%d accounts: mfad private memory (RssAnon), idle" % size,
                  "KiB", [idle_anon], key="scale_%d_rss_anon" % size)
            b.row("%d accounts: mfad VmRSS after load" % size, "KiB",
                  [peak], key="scale_%d_rss_load" % size)
            b.row("%d accounts: mfad resident outside the LMDB map, after "
                  "load" % size, "KiB", [peak_out],
                  key="scale_%d_rss_load_out" % size)
            if args.stat:
                print_stat(env.db, size)
        finally:
            env.close()


if __name__ == "__main__":
    main()
