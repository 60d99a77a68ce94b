#!/usr/bin/python3
"""Benchmark: the cost of one PAM authentication, side by side in one run:
pam_permit, pam_google_authenticator (TOTP), pam_unix (a yescrypt
password) and pam_mss on a remembered device (mfad at the lowest password
cost), each looped by pam_loop.c (pam_start_confdir / pam_authenticate /
pam_end). Every module gets the same PAM_RHOST (pam_mss needs it for its
device identity): libpam's own audit record resolves it on every
transaction, a cost that belongs to none of the modules.

For scale, the same run also times sock_floor.c: a connection, one
request and one reply to the simplest server a Unix socket can have, the
least any module that asks a daemon can cost.

pam_mss stays loaded once loaded (-z nodelete) where libpam unloads the
other modules at every pam_end, so a process that loops transactions
pays pam_mss's loading once. Two more ways to look at one login, closer
to a real host's, where logins come one at a time: transactions 5 ms
apart (pam_loop -w, sock_floor -w: the processes, mfad's threads among
them, sleep in between, SPARSE a run), and the first transaction of a
new process, as in sshd's child for each session or a one-shot su,
which pays every module's loading (pam_loop once per process, COLD
times per module, interleaved).

Always with a syslog daemon on /dev/log, as on every real machine: a
module that logs costs its syslog writes, and without a reader on
/dev/log glibc's syslog() fails to connect on every call, which costs a
module that logs much more than a real daemon does. When /dev/log is
missing the bench reruns itself in a private mount namespace (root and
unshare(1) needed) whose /dev is an overlay, and starts rsyslogd there
with a minimal configuration (imuxsock on /dev/log, every message to a
file of its scratch directory); the machine's /dev is not touched. The
pam_unix user is made the same way, in an overlay of /etc inside that
namespace.

  tests/bench/bench_pam.py [--n N] [--runs R] [--sparse SPARSE]
                           [--cold COLD] [--quick]
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import struct
import subprocess
import sys
import tempfile
import time

import ctypes
import shutil
import statistics

import benchlib as b
from benchlib import h

SECURITY = "/lib/x86_64-linux-gnu/security"
GAUTH = os.path.join(SECURITY, "pam_google_authenticator.so")


def totp(secret_b32, t=None, step=30, digits=6):
    key = base64.b32decode(secret_b32)
    counter = int((time.time() if t is None else t) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    n = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return "%0*d" % (digits, n % 10 ** digits)


NS_ENV = "MSS_BENCH_PAM_NS"
UNIX_USER = "mssbench"
UNIX_PASSWORD = "correct horse battery staple"
RHOST = "192.0.2.7"
SPARSE_US = 5000


def in_namespace(work):
    """Runs in the private mount namespace: /dev as an overlay (so that
    rsyslogd's /dev/log stays in here), /dev/shm as a tmpfs, and private
    /etc/passwd, /etc/group and /etc/shadow with the pam_unix user (in an
    overlay of /etc)."""
    for d in ("dev-upper", "dev-work"):
        os.mkdir(os.path.join(work, d))
    if not os.path.exists("/dev/log"):
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=/dev,upperdir=%s,workdir=%s" % (
                            os.path.join(work, "dev-upper"),
                            os.path.join(work, "dev-work")), "/dev"],
                       check=True)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/dev/shm"],
                       check=True)
    libcrypt = ctypes.CDLL("libcrypt.so.1")
    libcrypt.crypt_gensalt.restype = ctypes.c_char_p
    libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                       ctypes.c_char_p, ctypes.c_int]
    libcrypt.crypt.restype = ctypes.c_char_p
    libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    # yescrypt at libxcrypt's default cost, as passwd(1) makes it.
    setting = libcrypt.crypt_gensalt(b"$y$", 0, None, 0)
    pwhash = libcrypt.crypt(UNIX_PASSWORD.encode(), setting).decode()
    if not pwhash.startswith("$y$"):
        sys.exit("libcrypt made no yescrypt hash: %r" % pwhash)
    uid = 64000 + os.getpid() % 1000
    # /etc as an overlay too: a file bound over /etc/passwd would be
    # unmounted when the machine replaces that file (useradd renames).
    for d in ("etc-upper", "etc-work"):
        os.mkdir(os.path.join(work, d))
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    "lowerdir=/etc,upperdir=%s,workdir=%s" % (
                        os.path.join(work, "etc-upper"),
                        os.path.join(work, "etc-work")), "/etc"],
                   check=True)
    for name, line in (
            ("passwd", "%s:x:%d:%d::/nonexistent:/usr/sbin/nologin\n" % (
                UNIX_USER, uid, uid)),
            ("group", "%s:x:%d:\n" % (UNIX_USER, uid)),
            ("shadow", "%s:%s:20000:0:99999:7:::\n" % (UNIX_USER,
                                                       pwhash))):
        with open("/etc/" + name, "a") as f:
            f.write(line)
    return pwhash


def start_syslog(work):
    """A syslog daemon on /dev/log: the machine's, or an rsyslogd of our
    own (namespace only). Returns (process or None, description)."""
    if os.path.exists("/dev/log"):
        return None, "syslog daemon of the machine on /dev/log"
    conf = os.path.join(work, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write('global(workDirectory="%s")\n'
                'module(load="imuxsock" SysSock.Name="/dev/log")\n'
                '*.* action(type="omfile" file="%s")\n' % (
                    work, os.path.join(work, "syslog.txt")))
    proc = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i",
                             os.path.join(work, "rsyslogd.pid")])
    deadline = time.monotonic() + 10
    while not os.path.exists("/dev/log"):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("rsyslogd did not open /dev/log")
        time.sleep(0.05)
    return proc, "rsyslogd on /dev/log started by the bench"


def loop(tool, confdir, service, n, **kw):
    cmd = [tool, "-D", str(confdir), "-s", service, "-u",
           kw.get("user", "root"), "-n", str(n)]
    for opt, k in (("-r", "rhost"), ("-e", "email"), ("-p", "password"),
                   ("-c", "code"), ("-w", "pause")):
        if kw.get(k) is not None:
            cmd += [opt, str(kw[k])]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit("pam_loop %s failed: %s" % (service, r.stderr))
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sparse", type=int, default=300)
    ap.add_argument("--cold", type=int, default=300)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.n, args.runs, args.sparse, args.cold = 100, 1, 20, 20
    if os.environ.get(NS_ENV) is None:
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            sys.exit("bench_pam.py needs root and unshare(1): it makes a "
                     "pam_unix user and, without /dev/log, a syslog daemon, "
                     "both in a private mount namespace")
        r = subprocess.run(["unshare", "-m", "--propagation", "private",
                            sys.executable] + sys.argv,
                           env=dict(os.environ, **{NS_ENV: "1"}))
        sys.exit(r.returncode)
    tool = b.cc("pam_loop", ["pam_loop.c"], b.pkg("pam"))
    floor_tool = b.sock_floor()
    work = tempfile.mkdtemp(prefix="mss-bench-pam-")
    os.chmod(work, 0o755)
    in_namespace(work)
    syslogd, logging = start_syslog(work)
    pamd = os.path.join(work, "pam.d")
    os.mkdir(pamd)
    with open(os.path.join(pamd, "permit"), "w") as f:
        f.write("auth required pam_permit.so\n")

    # pam_google_authenticator: a TOTP secret in its file format, without
    # DISALLOW_REUSE and RATE_LIMIT so that one code serves N logins.
    have_gauth = os.path.exists(GAUTH)
    secret = base64.b32encode(secrets.token_bytes(10)).decode()
    gfile = os.path.join(work, "gauth")
    with open(gfile, "w") as f:
        f.write('%s\n" WINDOW_SIZE 17\n" TOTP_AUTH\n' % secret)
    os.chmod(gfile, 0o400)
    with open(os.path.join(pamd, "gauth"), "w") as f:
        f.write("auth required %s secret=%s user=root\n" % (GAUTH, gfile))
    # pam_unix: the yescrypt hash of a real (namespace) user; a verify
    # takes tens of milliseconds, so fewer transactions a run.
    with open(os.path.join(pamd, "unix"), "w") as f:
        f.write("auth required pam_unix.so\n")
    n_unix = max(10, args.n // 20)

    smtp = h.SmtpServer()
    smtp.start()
    env = h.MssEnv(smtp)
    try:
        env.start()
        addr = env.add_user("alice")
        env.full_login("alice", rhost=RHOST, remember="y")
        svc = env.service("mss-bench")
        keys = ("permit", "gauth", "unix", "mss", "floor")
        sparse_keys = ("permit", "gauth", "mss", "floor")
        results = {k: [] for k in keys + tuple(k + "_sparse"
                                               for k in sparse_keys)}
        p99 = {k: [] for k in results}

        def measure(k, n, pause):
            if k == "floor":
                r = subprocess.run([floor_tool, "-d", work, "-n", str(n),
                                    "-w", str(pause)], capture_output=True,
                                   text=True, timeout=600)
                if r.returncode != 0:
                    sys.exit("sock_floor failed: %s" % r.stderr)
                return json.loads(r.stdout)
            if k == "permit":
                return loop(tool, pamd, "permit", n, rhost=RHOST,
                            pause=pause)
            if k == "gauth":
                return loop(tool, pamd, "gauth", n, rhost=RHOST,
                            code=totp(secret), pause=pause)
            if k == "unix":
                return loop(tool, pamd, "unix", n, user=UNIX_USER,
                            rhost=RHOST, password=UNIX_PASSWORD,
                            pause=pause)
            return loop(tool, env.pamd, svc, n, user="alice", rhost=RHOST,
                        email=addr, password=h.PASSWORD, pause=pause)

        for _ in range(args.runs):
            # Interleaved, so that drifts of the machine hit them all.
            for k in keys:
                if k == "gauth" and not have_gauth:
                    continue
                r = measure(k, n_unix if k == "unix" else args.n, 0)
                results[k].append(r["median_us"])
                p99[k].append(r["p99_us"])
            # Then SPARSE_US apart: the processes wait in between, as on
            # a host where logins come one by one.
            for k in sparse_keys:
                if k == "gauth" and not have_gauth:
                    continue
                r = measure(k, args.sparse, SPARSE_US)
                results[k + "_sparse"].append(r["median_us"])
                p99[k + "_sparse"].append(r["p99_us"])
        # First transactions: one process each, every module in turn.
        cold = {k: [] for k in ("permit", "gauth", "mss")}
        for _ in range(args.cold):
            for k in cold:
                if k != "gauth" or have_gauth:
                    cold[k].append(measure(k, 1, 0)["median_us"])
        names = {"permit": "PAM pam_permit",
                 "gauth": "PAM pam_google_authenticator (TOTP)",
                 "unix": "PAM pam_unix (yescrypt)",
                 "mss": "PAM pam_mss, remembered device",
                 "floor": "Unix socket: connection, request and reply to "
                          "the simplest server (sock_floor, no PAM)"}
        counts = {"unix": n_unix}
        base = sorted(results["permit"])[len(results["permit"]) // 2]
        for k in keys:
            if not results[k]:
                print(json.dumps({"bench": names[k], "unit": "us",
                                  "runs": 0, "median": 0, "min": 0,
                                  "max": 0, "note":
                                  "libpam-google-authenticator missing"}))
                continue
            b.row("%s, time per transaction (%d a run)" % (
                names[k], counts.get(k, args.n)),
                  "us", results[k], p99=sorted(p99[k])[len(p99[k]) // 2],
                  key="pam_" + k, note=logging)
            if k not in ("permit", "floor"):
                b.row("%s, overhead over pam_permit" % names[k], "us",
                      [x - base for x in results[k]],
                      key="pam_%s_overhead" % k, note=logging)
        sparse_base = statistics.median(results["permit_sparse"])
        for k in sparse_keys:
            xs = results[k + "_sparse"]
            if not xs:
                continue
            b.row("%s, %d ms apart, time per transaction (%d a run)" % (
                names[k], SPARSE_US // 1000, args.sparse), "us", xs,
                  p99=statistics.median(p99[k + "_sparse"]),
                  key="pam_%s_sparse" % k, note=logging)
            if k not in ("permit", "floor"):
                b.row("%s, %d ms apart, overhead over pam_permit" % (
                    names[k], SPARSE_US // 1000), "us",
                      [x - sparse_base for x in xs],
                      key="pam_%s_sparse_overhead" % k, note=logging)
        # One sample a process: runs is the number of processes, and the
        # overhead is each sample's over pam_permit's median.
        cold_base = statistics.median(cold["permit"])
        for k in ("permit", "gauth", "mss"):
            if not cold[k]:
                continue
            b.row("%s, first transaction of a new process" % names[k],
                  "us", cold[k], p99=b.percentile(cold[k], 99),
                  key="pam_%s_cold" % k, note=logging)
            if k != "permit":
                b.row("%s, first transaction of a new process, overhead "
                      "over pam_permit" % names[k], "us",
                      [x - cold_base for x in cold[k]],
                      key="pam_%s_cold_overhead" % k, note=logging)
    finally:
        env.close()
        smtp.stop()
        if syslogd is not None:
            syslogd.terminate()
            syslogd.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
