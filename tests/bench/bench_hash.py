#!/usr/bin/python3
"""Benchmark: password verifications per second through mfad at
[password] strength=interactive (AUTH_START with a wrong password on
existing accounts, spread below the lockout threshold), against the limit
of this machine: cores / the time of one verification at the interactive
limits the faster of the two ways mfad can make it (pwverify.c, same
run): libargon2 in memory kept mapped, or libsodium's
crypto_pwhash_str_verify, which maps its memory afresh each time
([password] implementation = auto, mfad.conf(5), takes the faster at
start; the row of mfad's rate names its choice). One hash (enrollment, a
password change) both ways too.

  tests/bench/bench_hash.py [--seconds S] [--runs R] [--quick]
"""

import argparse
import json
import os
import re
import subprocess

import benchlib as b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.runs = 2, 1
    cores = os.cpu_count()
    verify = b.pwverify()
    tool = b.mfad_load()
    accounts = 64
    smtp, env = b.bench_env({"password": {"strength": "interactive",
                                          "opslimit": None,
                                          "memlimit": None}})
    one, par, spar, rates, p50s, p99s, ksh = [], [], [], [], [], [], []
    sone, sksh, hms, shms = [], [], [], []
    chosen = None
    try:
        env.start()
        m = re.search(r"password hashing: (\w+)", env.mfad.log_text())
        chosen = m.group(1) if m else None
        b.load(tool, env, smtp.port, "add", clients=cores,
               accounts=accounts)
        for _ in range(args.runs):
            r = subprocess.run([verify, "-n", "5" if args.quick else "20",
                                "-t", str(cores)], capture_output=True,
                               text=True, check=True)
            v = json.loads(r.stdout)
            one.append(v["one_ms"])
            ksh.append(v["kernel_share"])
            sone.append(v["sodium_one_ms"])
            sksh.append(v["sodium_kernel_share"])
            hms.append(v["hash_ms"])
            shms.append(v["sodium_hash_ms"])
            par.append(v["parallel_per_s"])
            spar.append(v["sodium_parallel_per_s"])
            r = b.load(tool, env, smtp.port, "badpw", clients=args.clients,
                       accounts=accounts, seconds=args.seconds)
            rates.append(r["rate"])
            p50s.append(r["p50_ms"])
            p99s.append(r["p99_ms"])
    finally:
        env.close()
    b.row("argon2id verify at interactive, one thread, memory kept mapped "
          "as mfad does (pwverify)", "ms", one, key="hash_one")
    b.row("argon2id verify at interactive, one thread, memory kept mapped: "
          "time in the kernel", "%", ksh, key="hash_kernel")
    b.row("libsodium crypto_pwhash_str_verify at interactive, one thread "
          "(pwverify)", "ms", sone, key="hash_sodium_one")
    b.row("libsodium crypto_pwhash_str_verify at interactive, one thread: "
          "time in the kernel (page faults and zeroing of its fresh memory)",
          "%", sksh, key="hash_sodium_kernel")
    b.row("argon2id hash at interactive (enrollment, a password change), "
          "one thread, memory kept mapped as mfad does (pwverify)", "ms",
          hms, key="hash_make")
    b.row("libsodium crypto_pwhash_str_alg at interactive, one thread "
          "(pwverify)", "ms", shms, key="hash_sodium_make")
    limits = [cores * 1000.0 / min(x, y) for x, y in zip(one, sone)]
    b.row("hashing limit = %d cores / one verify, the faster way" % cores,
          "verifies/s", limits, key="hash_limit")
    b.row("argon2id verify at interactive, %d threads at once, memory "
          "kept mapped as mfad does (pwverify)" % cores, "verifies/s", par,
          key="hash_parallel")
    b.row("libsodium crypto_pwhash_str_verify at interactive, %d threads "
          "at once (pwverify)" % cores, "verifies/s", spar,
          key="hash_sodium_parallel")
    b.row("mfad wrong-password logins at interactive, %d clients" %
          args.clients, "verifies/s", rates, key="hash_mfad",
          note="mfad chose %s" % chosen if chosen else None)
    b.row("mfad wrong-password logins at interactive: latency p50 "
          "(p99 column)", "ms", p50s, p99=max(p99s), key="hash_mfad_lat")
    lim = sorted(limits)[len(limits) // 2]
    b.row("mfad verifications as a share of the hashing limit", "%",
          [x / lim * 100 for x in rates], key="hash_share")


if __name__ == "__main__":
    main()
