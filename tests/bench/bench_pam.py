#!/usr/bin/python3
"""Benchmark: the cost of one PAM authentication, side by side in one run:
pam_permit, pam_google_authenticator (TOTP) and pam_mss on a remembered
device (mfad at the lowest password cost), each looped by pam_loop.c
(pam_start_confdir / pam_authenticate / pam_end).

  tests/bench/bench_pam.py [--n N] [--runs R] [--quick]
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


def loop(tool, confdir, service, n, **kw):
    cmd = [tool, "-D", str(confdir), "-s", service, "-u",
           kw.get("user", "root"), "-n", str(n)]
    for opt, k in (("-r", "rhost"), ("-e", "email"), ("-p", "password"),
                   ("-c", "code")):
        if kw.get(k) is not None:
            cmd += [opt, kw[k]]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit("pam_loop %s failed: %s" % (service, r.stderr))
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.n, args.runs = 100, 1
    tool = b.cc("pam_loop", ["pam_loop.c"], b.pkg("pam"))
    work = tempfile.mkdtemp(prefix="mss-bench-pam-")
    os.chmod(work, 0o755)
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

    smtp = h.SmtpServer()
    smtp.start()
    env = h.MssEnv(smtp)
    try:
        env.start()
        addr = env.add_user("alice")
        env.full_login("alice", rhost="192.0.2.7", remember="y")
        svc = env.service("mss-bench")
        results = {"permit": [], "gauth": [], "mss": []}
        p99 = {"permit": [], "gauth": [], "mss": []}
        for _ in range(args.runs):
            # Interleaved, so that drifts of the machine hit all three.
            r = loop(tool, pamd, "permit", args.n)
            results["permit"].append(r["median_us"])
            p99["permit"].append(r["p99_us"])
            if have_gauth:
                r = loop(tool, pamd, "gauth", args.n, code=totp(secret))
                results["gauth"].append(r["median_us"])
                p99["gauth"].append(r["p99_us"])
            r = loop(tool, env.pamd, svc, args.n, user="alice",
                     rhost="192.0.2.7", email=addr, password=h.PASSWORD)
            results["mss"].append(r["median_us"])
            p99["mss"].append(r["p99_us"])
        names = {"permit": "PAM pam_permit",
                 "gauth": "PAM pam_google_authenticator (TOTP)",
                 "mss": "PAM pam_mss, remembered device"}
        base = sorted(results["permit"])[len(results["permit"]) // 2]
        for k in ("permit", "gauth", "mss"):
            if not results[k]:
                print(json.dumps({"bench": names[k], "unit": "us",
                                  "runs": 0, "median": 0, "min": 0,
                                  "max": 0, "note":
                                  "libpam-google-authenticator missing"}))
                continue
            b.row("%s, time per transaction (%d a run)" % (names[k],
                                                           args.n),
                  "us", results[k], p99=sorted(p99[k])[len(p99[k]) // 2],
                  key="pam_" + k)
            if k != "permit":
                b.row("%s, overhead over pam_permit" % names[k], "us",
                      [x - base for x in results[k]],
                      key="pam_%s_overhead" % k)
    finally:
        env.close()
        smtp.stop()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
