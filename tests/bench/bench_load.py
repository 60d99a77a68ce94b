#!/usr/bin/python3
"""Benchmark: mfad under load from mfad_load.c at 1, 16 and 64 concurrent
clients: remembered-device logins, wrong-code checks and full logins with
the code read from the mail by the generator's own SMTP sink. The password
hash is at the lowest cost mfad accepts (opslimit=1, memlimit=8K), so the
figures measure mfad, its store and its mail path, not argon2.

Each client sends its next request as soon as it has its answer, so the
clients keep mfad as busy as they can. Remembered-device logins and
wrong-code checks then run again from 64 clients paced at PACE a second
in all (mfad_load -r), the rate of the targets. During every 64-client
load, mfad_load's probe thread counts the time the whole machine was
stopped (a virtual machine's host may stop it), and the p99 of the
requests that met no such stop.

The same remembered-device load then goes, at 1, 16 and 64 clients, to
the simplest server (sock_floor -S: one thread that answers each request
at once with mfad's answer to a remembered device; no store, no password
check, no log line): what the machine gives the load itself, in the same
run, beside what mfad makes of it. For the 64-client loads it counts the
store's group commits, and last it times the disk under the stores: one
fdatasync after one page written, after 40 pages apart (as a commit's
pages lie, LMDB taking them from its free pages) and after 40 side by
side.

  tests/bench/bench_load.py [--accounts N] [--seconds S] [--runs R]
                            [--quick]
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time
import types

import benchlib as b

MODES = (("device", "remembered-device logins", "logins/s"),
         ("wrong", "wrong-code checks", "checks/s"),
         ("full", "full logins, code mailed to the sink", "logins/s"))


# The rate of the targets (BENCHMARKS.md): 64 clients paced at this many
# requests a second in all.
PACE = 5000

# The machine's processor time during a load, by whom (CpuShares).
PARTS = {"mfad": "mfad, all its threads",
         "generator": "the load generator (mfad_load)",
         "syslog": "the syslog daemon",
         "other": "everything else on the machine"}


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.peak_out = pid, 0, 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            try:
                self.peak = max(self.peak, b.vmrss_kib(self.pid))
                self.peak_out = max(self.peak_out,
                                    b.rss_outside_map_kib(self.pid))
            except OSError:
                return


def paced(args, tool, env, smtp, mode, what, unit):
    """mode again from 64 clients, paced at PACE a second in all."""
    runs = [b.load(tool, env, smtp.port, mode, clients=64,
                   accounts=args.accounts, seconds=args.seconds,
                   rate=PACE) for _ in range(args.runs)]
    errs = sum(r["errors"] for r in runs)
    how = "64 clients paced at %s a second" % format(PACE, ",")
    b.row("mfad %s, %s: throughput" % (what, how), unit,
          [r["rate"] for r in runs], key="%s64p_rate" % mode,
          note="%d errors" % errs if errs else None)
    b.row("mfad %s, %s: latency p50 (p99 column)" % (what, how), "ms",
          [r["p50_ms"] for r in runs], p99=max(r["p99_ms"] for r in runs),
          key="%s64p_lat" % mode)
    b.stop_rows(what, how, "%s64p" % mode, runs)


def floor(args, tool):
    """The remembered-device load, aimed at sock_floor -S."""
    work = tempfile.mkdtemp(prefix="mss-floor-")
    sock = os.path.join(work, "floor.sock")
    srv = subprocess.Popen([b.sock_floor(), "-S", sock])
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        env = types.SimpleNamespace(sock=sock, mfad=None)
        for c in (1, 16, 64):
            runs = [b.load(tool, env, 0, "device", clients=c,
                           accounts=args.accounts, seconds=args.seconds)
                    for _ in range(args.runs)]
            what = "the simplest server (sock_floor -S), " \
                "remembered-device requests, %d clients" % c
            b.row("%s: throughput" % what, "requests/s",
                  [r["rate"] for r in runs], key="floor%d_rate" % c)
            b.row("%s: latency p50 (p99 column)" % what, "ms",
                  [r["p50_ms"] for r in runs],
                  p99=max(r["p99_ms"] for r in runs),
                  key="floor%d_lat" % c)
    finally:
        srv.kill()
        srv.wait()
        shutil.rmtree(work, ignore_errors=True)


def store_rows(what, mode, commits):
    """The group commits of a 64-client load: how many a second, and how
    many requests each carried; commits holds (commits, requests,
    requests a second) of each run."""
    commits = [c for c in commits if c[0] > 0]
    if not commits:
        return
    b.row("mfad %s, 64 clients: commits of the store a second" % what,
          "commits/s", [c[0] * c[2] / c[1] for c in commits],
          key="%s64_commits" % mode)
    b.row("mfad %s, 64 clients: requests a commit" % what, "requests",
          [c[1] / c[0] for c in commits], key="%s64_per_commit" % mode)


def disk_rows(args, directory):
    """The disk under the stores: one sync after a commit's worth of
    pages, apart as LMDB's free pages lie or side by side."""
    syncs = 20 if args.quick else 100
    for pages, apart, how in ((1, False, "one 4 KiB page"),
                              (40, True, "40 pages 4 KiB apart"),
                              (40, False, "40 pages side by side")):
        b.row("the disk under the stores: one fdatasync after %s "
              "written" % how, "ms",
              [b.disk_sync_ms(directory, pages, apart, syncs)
               for _ in range(args.runs)],
              key="disk_sync_%d%s" % (pages, "a" if apart else ""))


def main():
    args = b.load_args()
    tool = b.mfad_load()
    smtp, env = b.bench_env()
    try:
        env.start()
        pid = env.mfad.proc.pid
        b.load(tool, env, smtp.port, "add", clients=8,
               accounts=args.accounts)
        b.load(tool, env, smtp.port, "remember", clients=16,
               accounts=args.accounts)
        b.drain_outbox(tool, env, smtp.port, args.accounts)
        idle, idle_out = b.vmrss_kib(pid), b.rss_outside_map_kib(pid)
        shares = b.CpuShares(pid)
        commits_of = b.StoreCommits(env)
        sampler = RssSampler(pid)
        sampler.start()
        for mode, what, unit in MODES:
            for c in (1, 16, 64):
                rates, p50s, p99s, errs, runs = [], [], [], 0, []
                cpu, split, commits = {}, {}, []
                for _ in range(args.runs):
                    before = b.thread_cpu_s(pid)
                    commits_of.start()
                    shares.start()
                    r = b.load(tool, env, smtp.port, mode, clients=c,
                               accounts=args.accounts,
                               seconds=args.seconds)
                    for name, secs in shares.stop().items():
                        split.setdefault(name, []).append(
                            secs * 1e6 / max(r["ops"], 1))
                    after = b.thread_cpu_s(pid)
                    commits.append((commits_of.stop(), r["ops"], r["rate"]))
                    for name in after:
                        cpu.setdefault(name, []).append(
                            (after[name] - before.get(name, 0)) * 1e6 /
                            max(r["ops"], 1))
                    rates.append(r["rate"])
                    p50s.append(r["p50_ms"])
                    p99s.append(r["p99_ms"])
                    errs += r["errors"]
                    runs.append(r)
                note = "%d errors" % errs if errs else None
                b.row("mfad %s, %d clients: throughput" % (what, c), unit,
                      rates, key="%s%d_rate" % (mode, c), note=note)
                b.row("mfad %s, %d clients: latency p50 (p99 column)" %
                      (what, c), "ms", p50s, p99=max(p99s),
                      key="%s%d_lat" % (mode, c))
                if c == 64 and mode != "full":
                    b.stop_rows(what, "64 clients", "%s64" % mode, runs)
                    store_rows(what, mode, commits)
                    paced(args, tool, env, smtp, mode, what, unit)
                    # Where mfad's CPU goes, per request, by thread.
                    for name in sorted(cpu):
                        if max(cpu[name]) >= 1:
                            b.row("mfad %s, %d clients: CPU of %s per "
                                  "request" % (what, c, b.THREADS.get(
                                      name, name + " threads")), "us",
                                  cpu[name], key="%s%d_cpu_%s" %
                                  (mode, c, name))
                    # And the whole machine's: who else wants the cores.
                    for name in shares.parts():
                        b.row("mfad %s, %d clients: CPU of %s per request"
                              % (what, c, PARTS[name] + (
                                  " (%s)" % shares.daemon[1]
                                  if name == "syslog" else "")),
                              "us", split[name],
                              key="%s%d_split_%s" % (mode, c, name))
        sampler.stop.set()
        sampler.join()
        b.row("mfad resident memory, idle, %d accounts (VmRSS)" %
              args.accounts, "KiB", [idle], key="rss_idle_small")
        b.row("mfad resident memory outside the LMDB map, idle", "KiB",
              [idle_out], key="rss_idle_out_small")
        b.row("mfad resident memory, peak under load (VmRSS)", "KiB",
              [sampler.peak], key="rss_load")
        b.row("mfad resident memory outside the LMDB map, peak under load",
              "KiB", [sampler.peak_out], key="rss_load_out")
        floor(args, tool)
        disk_rows(args, env.dir)
    finally:
        env.close()


if __name__ == "__main__":
    main()
