#!/usr/bin/python3
"""Benchmark: remembered-device logins on a small store and on a large one.

Each store is built through the bulk path, `mfadctl import` with a
password hash and devices: SIZE active accounts u0000000.., each with the
hash of the load generator's password (made once by pwverify -H, at the
lowest cost mfad accepts) and DEVICES remembered devices, the first being
the one mfad_load logs in from (rhost:10.0.0.1). Then: p50/p99 of
remembered-device logins at 1 and 16 clients over every account of the
store, the CPU each of mfad's threads spends on a login at 16 clients,
the store's size on disk, and mfad's resident memory, idle and under
load. Every store is filled first, each by an mfad of its own; the
loads then go to the stores in turn, run after run, so that the sizes
are compared side by side.

The same sizes again with the store in memory (--memory-sizes; a tmpfs,
/dev/shm), loaded in the same rounds: the difference between the two
sizes with no disk under the store is what its larger B-trees cost; the
rest of the difference on disk is the writing of more distinct pages.

  tests/bench/bench_scale.py [--sizes N,N...] [--memory-sizes N,N...]
                             [--devices N] [--seconds S]
                             [--runs N] [--quick] [--stat]

--stat prints mdb_stat -a of each store (its pages per sub-database) to
standard error.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    ap.add_argument("--memory-sizes", default="1000,1000000")
    ap.add_argument("--devices", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--stat", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.seconds, args.runs = "200,2000", 1, 1
        args.memory_sizes = args.sizes
    sizes = [int(x) for x in args.sizes.split(",")]
    msizes = [int(x) for x in args.memory_sizes.split(",") if x]
    mdir = memory_dir() if msizes else None
    if msizes and mdir is None:
        print("bench_scale: no tmpfs at /dev/shm; no store in memory",
              file=sys.stderr)
        msizes = []
    tool = b.mfad_load()
    hasher = b.pwverify()
    pwhash = subprocess.run([hasher, "-H"], capture_output=True, text=True,
                            check=True).stdout.strip()
    stores = []
    try:
        for size in sizes:
            stores.append(fill(tool, size, args.devices, pwhash, args.stat))
        for size in msizes:
            stores.append(fill(tool, size, args.devices, pwhash, False,
                               memory=mdir))
        # Every store's mfad is idle while another is filled or loaded.
        time.sleep(1)
        for st in disk(stores):
            pid = st["env"].mfad.proc.pid
            st["idle"] = b.vmrss_kib(pid)
            st["idle_out"] = b.rss_outside_map_kib(pid)
            st["idle_anon"] = b.rss_anon_kib(pid)
        for c in (1, 16):
            for st in stores:
                st["p50s"], st["p99s"], st["rates"] = [], [], []
                st["runs"] = []
                st["cpu"] = {}
            # The stores in turn, run after run: side by side, so that
            # the machine's swings from one minute to the next fall on
            # every size alike.
            for _ in range(args.runs):
                for st in stores:
                    env, pid = st["env"], st["env"].mfad.proc.pid
                    before = b.thread_cpu_s(pid)
                    r = b.load(tool, env, st["smtp"].port, "device",
                               clients=c, accounts=st["size"],
                               seconds=args.seconds)
                    after = b.thread_cpu_s(pid)
                    for name in after:
                        st["cpu"].setdefault(name, []).append(
                            (after[name] - before.get(name, 0)) * 1e6 /
                            max(r["ops"], 1))
                    st["peak"] = max(st.get("peak", 0), b.vmrss_kib(pid))
                    st["peak_out"] = max(st.get("peak_out", 0),
                                         b.rss_outside_map_kib(pid))
                    st["runs"].append(r)
                    st["p50s"].append(r["p50_ms"])
                    st["p99s"].append(r["p99_ms"])
                    st["rates"].append(r["rate"])
            for st in stores:
                size, p99s = st["size"], st["p99s"]
                what, key = "%d accounts" % size, "scale_%d" % size
                if st["memory"]:
                    what += ", store in memory (tmpfs)"
                    key = "memscale_%d" % size
                b.row("%s: remembered-device login, %d clients, "
                      "latency p50 (p99 column)" % (what, c), "ms",
                      st["p50s"], p99=sorted(p99s)[len(p99s) // 2],
                      key="%s_c%d" % (key, c))
                b.row("%s: remembered-device logins, %d clients"
                      % (what, c), "logins/s", st["rates"],
                      key="%s_c%d_rate" % (key, c))
                if c == 1:
                    continue
                # How often the host stopped the whole machine, and the
                # p99 of the logins that met no such stop.
                b.stop_rows("remembered-device logins", "%s, %d clients"
                            % (what, c), "%s_c%d" % (key, c), st["runs"])
                if st["memory"]:
                    continue
                # Where mfad's CPU goes, per login, by thread: what a
                # larger store costs, and where.
                for name in sorted(st["cpu"]):
                    if max(st["cpu"][name]) >= 1 and name in b.THREADS:
                        b.row("%d accounts: remembered-device logins, %d "
                              "clients: CPU of %s per login" % (
                                  size, c, b.THREADS[name]), "us",
                              st["cpu"][name], key="scale_%d_c%d_cpu_%s"
                              % (size, c, name))
        for st in disk(stores):
            report(st)
    finally:
        for st in stores:
            close(st)


def disk(stores):
    """The stores on disk, whose size and memory rows are reported."""
    return [st for st in stores if not st["memory"]]


def memory_dir():
    """/dev/shm if a tmpfs is mounted there, else None."""
    try:
        with open("/proc/mounts") as f:
            for line in f:
                where, fstype = line.split()[1:3]
                if where == "/dev/shm" and fstype == "tmpfs":
                    return Path(where)
    except OSError:
        pass
    return None


def close(st):
    st["env"].close()
    if st["memory"]:
        shutil.rmtree(st["memory"], ignore_errors=True)


def fill(tool, size, devices, pwhash, stat, memory=None):
    """A running mfad with a store of SIZE accounts, imported: a dict of
    its smtp, env, size and the import's row. With memory (a tmpfs
    directory), the store is made there."""
    config, where = None, None
    if memory is not None:
        where = Path(tempfile.mkdtemp(prefix="mss-scale-", dir=memory))
        config = {"mfad": {"database": where / "db"}}
    smtp, env = b.bench_env(config)
    st = {"smtp": smtp, "env": env, "size": size, "memory": where}
    if where is not None:
        env.db = where / "db"
    try:
        env.start()
        path = env.dir / "bulk.csv"
        write_csv(path, size, devices, pwhash)
        dt = bulk_import(env, path)
        path.unlink()
        if where is None:
            b.row("%d accounts: mfadctl import, active with %d devices "
                  "each (%d devices)" % (size, devices, size * devices),
                  "s", [dt], key="fill_%d" % size)
        sample = ["u%07d" % i for i in (0, size // 2, size - 1)]
        if count_devices(env, sample) != len(sample) * devices:
            sys.exit("the import did not remember every device")
        if stat:
            print_stat(env.db, size)
    except BaseException:
        close(st)
        raise
    return st


def report(st):
    """The rows of one store's size and memory."""
    size, env = st["size"], st["env"]
    b.row("%d accounts: store on disk (du of the database dir)" % size,
          "MiB", [b.du_bytes(env.db) / 2 ** 20], key="scale_%d_du" % size)
    b.row("%d accounts: mfad VmRSS idle" % size, "KiB", [st["idle"]],
          key="scale_%d_rss_idle" % size)
    b.row("%d accounts: mfad resident outside the LMDB map, idle" % size,
          "KiB", [st["idle_out"]], key="scale_%d_rss_idle_out" % size)
    b.row("%d accounts: mfad private memory (RssAnon), idle" % size, "KiB",
          [st["idle_anon"]], key="scale_%d_rss_anon" % size)
    b.row("%d accounts: mfad VmRSS after load" % size, "KiB", [st["peak"]],
          key="scale_%d_rss_load" % size)
    b.row("%d accounts: mfad resident outside the LMDB map, after load" %
          size, "KiB", [st["peak_out"]], key="scale_%d_rss_load_out" % size)

if __name__ == "__main__":
    main()
