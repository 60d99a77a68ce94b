"""Shared helpers of the tests/bench/bench_*.py scripts: building the small
C programs of this directory, statistics, JSON rows, and a scratch mfad
(tests/pam/mss_harness.py) configured for benchmarks."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "pam"))
import mss_harness as h  # noqa: E402

COMMON = os.path.join(SRC, "common")
BIN = os.path.join(tempfile.gettempdir(), "mss-bench-bin")


def builddir():
    return os.environ.get("MSS_BUILDDIR", os.path.join(SRC, "build"))


def pkg(*names):
    out = subprocess.run(["pkg-config", "--cflags", "--libs"] + list(names),
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def cc(name, sources, libs=(), common=False):
    """Compiles tests/bench sources into BIN/name; returns its path."""
    os.makedirs(BIN, exist_ok=True)
    out = os.path.join(BIN, name)
    cmd = ["cc", "-O2", "-Wall", "-Wextra", "-o", out] + \
        [os.path.join(HERE, s) for s in sources]
    if common:
        cmd += ["-I" + builddir(), "-I" + COMMON] + \
            [os.path.join(COMMON, f) for f in
             ("mss_buf.c", "mss_io.c", "mss_client.c", "mss_err.c")]
    cmd += list(libs)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("cc failed: %s\n%s" % (" ".join(cmd), r.stderr))
    return out


def mfad_load():
    """Builds mfad_load.c, the load generator; returns its path."""
    return cc("mfad_load", ["mfad_load.c"], ["-lsodium", "-lpthread"],
              common=True)


def sock_floor():
    """Builds sock_floor.c, the simplest server; returns its path."""
    return cc("sock_floor", ["sock_floor.c"], ["-lsodium"], common=True)


def pwverify():
    """Builds pwverify.c with mfad's own password check
    (mfad/mfad_argon2.c); returns its path."""
    return cc("pwverify", ["pwverify.c",
                           os.path.join(SRC, "mfad", "mfad_argon2.c")],
              ["-I" + builddir(), "-I" + os.path.join(SRC, "mfad")] +
              pkg("libsodium", "libargon2") + ["-lpthread"])


def load_args():
    """The options of the mfad_load benchmarks (bench_load.py,
    bench_sandbox.py): --accounts, --seconds, --runs, --quick."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=2048)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.accounts, args.seconds, args.runs = 128, 1, 1
    return args


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return 0.0
    k = int(round(p / 100.0 * (len(xs) - 1)))
    return xs[min(k, len(xs) - 1)]


def row(bench, unit, xs, p99=None, key=None, note=None):
    """Prints one JSON row: xs are the repeated measures (median, min,
    max, spread); p99 is a latency percentile given by the caller when
    xs are medians of latency samples."""
    xs = sorted(xs)
    med = statistics.median(xs)
    r = {"bench": bench, "unit": unit, "runs": len(xs), "median": med,
         "min": xs[0], "max": xs[-1],
         "spread": (xs[-1] - xs[0]) / med * 100 if med else 0.0}
    if p99 is not None:
        r["p99"] = p99
    if key is not None:
        r["key"] = key
    if note is not None:
        r["note"] = note
    print(json.dumps(r), flush=True)
    return r


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_anon_kib(pid):
    """Resident memory outside file mappings (the LMDB map is a file
    mapping): RssAnon from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class StoreCommits:
    """The group commits mfad made during a load: LMDB's last
    transaction id, read with mdb_stat, before and after."""

    def __init__(self, env):
        self.env = env

    def _now(self):
        out = subprocess.run(["mdb_stat", "-e", str(self.env.db)],
                             capture_output=True, text=True,
                             check=True).stdout
        return [int(line.split(":")[1]) for line in out.splitlines()
                if line.strip().startswith("Last transaction ID:")][0]

    def start(self):
        self.before = self._now()

    def stop(self):
        return self._now() - self.before


def disk_sync_ms(directory, pages, apart, syncs=100):
    """The mean time of one fdatasync of a file in directory after pages
    4 KiB pages were written into it, each apart from the others or all
    side by side: what the disk under the store makes a commit wait."""
    size = 16 << 20
    fd, path = tempfile.mkstemp(prefix="disk-", dir=directory)
    try:
        os.pwrite(fd, b"\0" * size, 0)
        os.fsync(fd)
        page = os.urandom(4096)
        run = page * pages
        span = size // 4096 - pages
        total = 0.0
        for i in range(syncs):
            # A different place each time, as commits write.
            first = (i * 7919) % span
            if apart:
                for k in range(pages):
                    os.pwrite(fd, page,
                              ((first + k * 97) % (size // 4096)) * 4096)
            else:
                os.pwrite(fd, run, first * 4096)
            t = time.perf_counter()
            os.fdatasync(fd)
            total += time.perf_counter() - t
        return total / syncs * 1000
    finally:
        os.close(fd)
        os.unlink(path)


def du_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.stat(os.path.join(root, f)).st_blocks * 512
    return total


def bench_env(config=None):
    """A scratch mfad with the lowest password cost and limits wide
    enough for load: (smtp stand-in, env). The SMTP relay is the port of
    the load generator's own sink (mfad_load -P), so the aiosmtpd server
    of the harness is only made to reserve a free port."""
    smtp = h.SmtpServer()
    base = {
        "code": {"ttl": 300, "max_attempts": 100, "resend_interval": 0,
                 "max_sends": 64},
        "password": {"opslimit": 1, "memlimit": "8K", "min_length": 12},
        "lockout": {"threshold": 100},
        "mail": {"max_per_minute": 100000},
        "mfad": {"map_size": 8 * 1024 ** 3},
    }
    for sec, keys in (config or {}).items():
        base.setdefault(sec, {}).update(keys)
    env = h.MssEnv(smtp, base)
    return smtp, env


def load(tool, env, port, mode, clients=1, accounts=1, first=0, seconds=5,
         wrong=90, password=None, rate=None):
    """Runs mfad_load once; returns its JSON result. With rate, the
    measured requests are paced at rate a second in all (mfad_load -r)."""
    # An env in other namespaces (bench_sandbox.py) names the command
    # prefix that enters them.
    cmd = list(getattr(env, "wrap", ())) + [
           tool, "-s", str(env.sock), "-m", mode, "-c", str(clients),
           "-n", str(accounts), "-f", str(first), "-d", str(seconds),
           "-P", str(port), "-w", str(wrong)]
    if password is not None:
        cmd += ["-p", password]
    if rate is not None:
        cmd += ["-r", str(rate)]
    if getattr(env, "owner", None) is not None:
        cmd += ["-o", env.owner]
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=seconds + 600)
    if r.returncode != 0 or not r.stdout.startswith("{"):
        sys.exit("mfad_load %s failed (%d): %s%s\n%s" % (
            mode, r.returncode, r.stdout, r.stderr,
            env.mfad.log_text()[-3000:] if env.mfad else ""))
    return json.loads(r.stdout)


def stop_rows(what, how, key, runs):
    """The stops of the whole machine during runs (mfad_load's probe)
    and the p99 of the requests that met none; nothing when the probe
    had no real-time priority."""
    if any(r["stops"] is None for r in runs):
        return
    row("mfad %s, %s: time the whole machine was stopped (a probe "
        "thread at real-time priority woke late), per second of load"
        % (what, how), "ms", [r["stopped_ms"] / r["seconds"]
                              for r in runs], key=key + "_stopped")
    row("mfad %s, %s: stops of the whole machine, per second of load"
        % (what, how), "stops", [r["stops"] / r["seconds"]
                                 for r in runs], key=key + "_stops")
    row("mfad %s, %s: latency p99 of the requests that met no such "
        "stop (%d of %d)" % (what, how, sum(r["clear"] for r in runs),
                             sum(r["ops"] for r in runs)),
        "ms", [r["p99_clear_ms"] for r in runs], key=key + "_clear")


def drain_outbox(tool, env, port, accounts, timeout=120):
    """Setup queues mail (the notice of each remembered device) that mfad
    may not have delivered yet: its relay is the sink of mfad_load, which
    runs only with it. Keeps a sink up (remembered-device logins, not
    measured) until the outbox is empty, so that no setup mail is sent
    during a measure."""
    deadline = time.monotonic() + timeout
    while env.ctl_json("status").get("outbox", 0) > 0:
        if time.monotonic() > deadline:
            sys.exit("the outbox did not drain: %s" % env.ctl_json("status"))
        load(tool, env, port, "device", clients=1, accounts=accounts,
             seconds=2)


# mfad's threads by name (pthread_setname_np), as the rows name them.
THREADS = {"mfad": "the event loop (mfad)",
           "mfad-commit": "the committing thread (mfad-commit)",
           "mfad-worker": "the workers (mfad-worker)",
           "mfad-reader": "the reading thread (mfad-reader)",
           "mfad-log": "the log thread (mfad-log)",
           "mfad-mail": "the mail threads (mfad-mail)"}


def thread_cpu_s(pid):
    """CPU seconds (user + system) each of a process's threads has used,
    summed by thread name (mfad names its threads: mfad-worker, ...)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            name, cpu = stat_cpu_s("/proc/%d/task/%s/stat" % (pid, tid))
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + cpu
    return out


def stat_cpu_s(path):
    """(name, CPU seconds of user + system) from a /proc stat file: a
    thread's (task/TID/stat) or a whole process's (PID/stat)."""
    with open(path) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (stat[stat.index("(") + 1:stat.rindex(")")],
            (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))


def machine_busy_s():
    """CPU seconds the whole machine spent working, all cores (the first
    line of /proc/stat)."""
    with open("/proc/stat") as f:
        t = [int(x) for x in f.readline().split()[1:]]
    # user, nice, system, irq, softirq: not idle, I/O wait nor the time
    # a hypervisor gave to others (steal).
    return (t[0] + t[1] + t[2] + t[5] + t[6]) / os.sysconf("SC_CLK_TCK")


def syslog_daemon():
    """(pid, name) of the process that listens on /dev/log (rsyslogd,
    systemd-journald, ...), found through the socket's inode; None when
    there is none or it is not visible from here."""
    try:
        path = os.path.realpath("/dev/log")
        inodes = set()
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) >= 8 and parts[7] == path:
                    inodes.add("socket:[%s]" % parts[6])
    except OSError:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
            for fd in fds:
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) in inodes:
                    with open("/proc/%s/comm" % pid) as f:
                        return int(pid), f.read().strip()
        except OSError:
            continue
    return None


class CpuShares:
    """The processor time of one load, split between mfad, the load
    generator (the children this process waits for in between), the
    syslog daemon and everything else on the machine."""

    def __init__(self, mfad_pid):
        self.mfad_pid = mfad_pid
        self.daemon = syslog_daemon()

    def parts(self):
        """The parts stop() measures: the syslog daemon's only when one
        was found."""
        return ("mfad", "generator") + (
            ("syslog",) if self.daemon is not None else ()) + ("other",)

    def _now(self):
        kids = os.times()
        daemon = 0.0
        if self.daemon is not None:
            try:
                daemon = stat_cpu_s("/proc/%d/stat" % self.daemon[0])[1]
            except OSError:
                self.daemon = None
        return (stat_cpu_s("/proc/%d/stat" % self.mfad_pid)[1],
                kids.children_user + kids.children_system, daemon,
                machine_busy_s())

    def start(self):
        self.t0 = self._now()

    def stop(self):
        """{mfad, generator, syslog, other}: CPU seconds since start."""
        t1 = self._now()
        d = [b - a for a, b in zip(self.t0, t1)]
        out = {"mfad": d[0], "generator": d[1], "syslog": d[2]}
        out["other"] = max(d[3] - d[0] - d[1] - d[2], 0.0)
        return out


def rss_outside_map_kib(pid):
    """VmRSS less the resident pages of the LMDB map (data.mdb), from
    /proc/PID/smaps."""
    total, inmap, cur = 0, 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                cur = line.rstrip().endswith("/data.mdb")
            elif first == "Rss:":
                kb = int(line.split()[1])
                total += kb
                if cur:
                    inmap += kb
    return total - inmap
