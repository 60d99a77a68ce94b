#!/usr/bin/python3
"""Benchmark: fleet mode, mfad with [directory] over the two slapd
providers of tests/fleet/fleet_harness.py (delta-syncrepl, STARTTLS):

- remembered-device and full logins per second and their latency, from
  mfad_load.c, with the directory backend (accounts and remembered
  devices in the directory: [device] scope = fleet) and, in the same run,
  with the local LMDB backend;
- the replication delay of a lock: mfadLockedUntil set on host A's
  provider (as host A binds, as it locks after failures), until the
  value is on the other provider, and until host B refuses the
  account's remembered-device login;
- failover: host A's own provider stopped (SIGTERM: its connections
  close) or frozen (SIGSTOP: it accepts and never answers), until a
  login on host A succeeds through the second provider.

  tests/bench/bench_fleet.py [--accounts N] [--seconds S] [--runs R]
                             [--locks N] [--failovers N] [--quick]
"""

import argparse
import os
import signal
import statistics
import sys
import threading
import time

import ldap3

import benchlib as b

sys.path.insert(0, os.path.join(b.SRC, "tests", "fleet"))
import fleet_harness as fh  # noqa: E402
import hosts_harness as hh  # noqa: E402

h = b.h
DEV1 = "rhost:10.0.0.1"     # mfad_load's remembered device (LOAD_DEV1)
REQ_AUTH_START = 2
REP_AUTH = 101
REP_STATUS = 104
AUTH_DENIED, AUTH_OK = 0, 1
MODES = (("device", "remembered-device logins", "logins/s"),
         ("full", "full logins, code mailed to the sink", "logins/s"))
LOCK_USER = 1000000         # u1000000: the account of the lock measure


def user(i):
    return "u%07d" % i


def add_people(fleet, first, n):
    """The person entries of mfad_load's accounts, added on provider A as
    the directory's administrator (an organisation's own tools would),
    and waited for on B."""
    c = fleet.conn(fleet.a)
    try:
        for i in range(first, first + n):
            dn, oc, attrs = fh.person(user(i), mfad=False)
            if not c.add(dn, oc, attrs) and \
                    c.result.get("description") != "entryAlreadyExists":
                sys.exit("add %s: %s" % (dn, c.result))
    finally:
        c.unbind()
    fleet.wait_replicated(hh.dn_of(user(first + n - 1)), timeout=60)


def fleet_env(fleet, name, tmp, key, config=None):
    """A scratch mfad of benchlib with host name's [directory]."""
    conf = hh.directory_config(fleet, name, tmp, key)
    for sec, keys in (config or {}).items():
        conf.setdefault(sec, {}).update(keys)
    return b.bench_env(conf)


def probe(env, i, timeout=15):
    """One remembered-device login of account i on DEV1, spoken on the
    socket as pam_mss would: AUTH_OK, AUTH_DENIED, or None for any
    other answer (mfad unavailable, a RESULT with an error)."""
    payload = b"".join(h.pstr(s) for s in (
        "bench", user(i), "%s@example.org" % user(i), h.PASSWORD, DEV1,
        "", "", "en")) + (0).to_bytes(4, "big")
    rep = h.raw_request(env.sock, REQ_AUTH_START, payload, timeout)
    if rep is None or rep[0] != REP_AUTH or not rep[1]:
        return None
    return rep[1][0]


def wait_probe(env, i, want, timeout=30):
    deadline = time.monotonic() + timeout
    while probe(env, i) != want:
        if time.monotonic() > deadline:
            sys.exit("account %d never answered %d on %s:\n%s" % (
                i, want, env.sock, env.mfad.log_text()[-3000:]))
        time.sleep(0.01)


def settle(env, timeout=600):
    """Seconds until mfad answers STATUS: a reader waits for the records
    queued by earlier logins (their last use and last login, written by
    the committing thread after the reply), so this is the time the
    backlog of a load takes to be written."""
    t0 = time.monotonic()
    rep = h.raw_request(env.sock, h.REQ_STATUS, b"", timeout)
    if rep is None or rep[0] != REP_STATUS:
        sys.exit("no status from mfad: %r\n%s" % (
            rep, env.mfad.log_text()[-3000:]))
    return time.monotonic() - t0


def drain_outbox(env, port, timeout=180):
    """The setup's mail (each remembered device's notice) delivered
    before anything is measured: a sink of the harness on mfad_load's
    port until mfad's outbox is empty (a message that failed meanwhile
    is retried within seconds)."""
    sink = h.SmtpServer(port)
    sink.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            settle(env)
            if env.ctl_json("status").get("outbox", 0) == 0:
                return
            if time.monotonic() > deadline:
                sys.exit("the outbox did not drain: %s" %
                         env.ctl_json("status"))
            time.sleep(0.5)
    finally:
        sink.stop()


def setup_accounts(tool, env, port, first, n):
    b.load(tool, env, port, "add", clients=8, accounts=n, first=first)
    b.load(tool, env, port, "remember", clients=min(16, n), accounts=n,
           first=first)
    drain_outbox(env, port)


def throughput(tool, args, fleet, tmp, key):
    """Logins/s and latency, local LMDB then directory, same accounts.
    Each load is followed by the time its queued records take to be
    written (settle): the sustained rate counts it."""
    backends = (
        ("local LMDB", "local", lambda: b.bench_env()),
        ("directory", "dir",
         lambda: fleet_env(fleet, "host-a", tmp, key,
                           {"device": {"scope": "fleet"}})))
    for label, tag, make in backends:
        smtp, env = make()
        try:
            env.start()
            if tag == "dir":
                add_people(fleet, 0, args.accounts)
            setup_accounts(tool, env, smtp.port, 0, args.accounts)
            for mode, what, unit in MODES:
                for c in args.clients:
                    rates, sustained, p50s, p99s, errs = [], [], [], [], 0
                    for _ in range(args.runs):
                        r = b.load(tool, env, smtp.port, mode, clients=c,
                                   accounts=args.accounts,
                                   seconds=args.seconds)
                        backlog = settle(env)
                        rates.append(r["rate"])
                        sustained.append(r["ops"] /
                                         (r["seconds"] + backlog))
                        p50s.append(r["p50_ms"])
                        p99s.append(r["p99_ms"])
                        errs += r["errors"]
                    note = "%d errors" % errs if errs else None
                    b.row("fleet: mfad %s, %s, %d clients: throughput "
                          "(replies)" % (what, label, c), unit, rates,
                          key="fleet_%s_%s%d_rate" % (tag, mode, c),
                          note=note)
                    b.row("fleet: mfad %s, %s, %d clients: sustained "
                          "(until the load's records are written)" %
                          (what, label, c), unit, sustained,
                          key="fleet_%s_%s%d_sustained" % (tag, mode, c))
                    b.row("fleet: mfad %s, %s, %d clients: latency p50 "
                          "(p99 column)" % (what, label, c), "ms", p50s,
                          p99=max(p99s),
                          key="fleet_%s_%s%d_lat" % (tag, mode, c))
        finally:
            env.close()


def lock_delay(tool, args, fleet, a, a_smtp, b_env):
    """A lock written on A's provider, as host A writes the lock of a
    failure that reached the threshold (mfadLockedUntil): the time until
    the value is read on B's provider, and until host B refuses the
    account's remembered-device login."""
    i = LOCK_USER
    add_people(fleet, i, 1)
    setup_accounts(tool, a, a_smtp.port, i, 1)
    wait_probe(b_env, i, AUTH_OK)
    settle(b_env)
    dn = hh.dn_of(user(i))
    on_value, on_refusal = [], []
    w = fleet.conn(fleet.a, fh.HOST_A_DN, fh.HOST_PW)
    r = fleet.conn(fleet.b)

    def locked_on_b():
        r.search(dn, "(objectClass=*)", ldap3.BASE,
                 attributes=["mfadLockedUntil"])
        return bool(r.entries and r.entries[0].entry_attributes_as_dict
                    .get("mfadLockedUntil"))
    try:
        for _ in range(args.locks):
            got = {}

            def value(t0):
                while time.monotonic() - t0 < 30:
                    if locked_on_b():
                        got["value"] = time.monotonic() - t0
                        return

            def refusal(t0):
                while time.monotonic() - t0 < 30:
                    if probe(b_env, i) == AUTH_DENIED:
                        got["refusal"] = time.monotonic() - t0
                        return

            until = str(int(time.time()) + 900)
            if not w.modify(dn, {"mfadLockedUntil":
                                 [(ldap3.MODIFY_REPLACE, [until])]}):
                sys.exit("lock: %s" % w.result)
            t0 = time.monotonic()
            threads = [threading.Thread(target=f, args=(t0,))
                       for f in (value, refusal)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if "value" not in got or "refusal" not in got:
                sys.exit("the lock did not reach B within 30 s: %r; on "
                         "B's provider now: %s; B's log:\n%s" % (
                             got, locked_on_b(),
                             b_env.mfad.log_text()[-3000:]))
            on_value.append(got["value"] * 1e3)
            on_refusal.append(got["refusal"] * 1e3)
            # Unmeasured: the refusal's records written, the lock
            # removed on both providers, B lets the account in again.
            settle(b_env)
            if not w.modify(dn, {"mfadLockedUntil":
                                 [(ldap3.MODIFY_DELETE, [])]}):
                sys.exit("unlock: %s" % w.result)
            deadline = time.monotonic() + 30
            while locked_on_b():
                if time.monotonic() > deadline:
                    sys.exit("the unlock did not reach B's provider")
                time.sleep(0.005)
            wait_probe(b_env, i, AUTH_OK)
            settle(b_env)
    finally:
        w.unbind()
        r.unbind()
    b.row("fleet: a lock written on A's provider, until B's provider has "
          "it (median; p99 column), %d locks" % args.locks, "ms",
          [statistics.median(on_value)],
          p99=b.percentile(on_value, 99), key="fleet_lock_value")
    b.row("fleet: a lock written on A's provider, until host B refuses "
          "the account (median; p99 column), %d locks" % args.locks, "ms",
          [statistics.median(on_refusal)],
          p99=b.percentile(on_refusal, 99), key="fleet_lock_refusal")


def failover(args, fleet, a):
    """Host A's own provider stopped or frozen: the time until a login
    on host A succeeds again (through the second provider)."""
    i = LOCK_USER
    for kind in ("stopped (SIGTERM)", "frozen (SIGSTOP)"):
        times, refused = [], 0
        for _ in range(args.failovers):
            # A new mfad: its connections go to its own provider first.
            a.mfad.restart()
            for _ in range(3):
                if probe(a, i) != AUTH_OK:
                    sys.exit("host A does not log in:\n%s" %
                             a.mfad.log_text()[-3000:])
            if kind.startswith("stopped"):
                fleet.a.stop()
            else:
                fleet.a.proc.send_signal(signal.SIGSTOP)
            t0 = time.monotonic()
            try:
                while True:
                    res = probe(a, i, timeout=30)
                    if res == AUTH_OK:
                        times.append((time.monotonic() - t0) * 1e3)
                        break
                    refused += 1
                    if time.monotonic() - t0 > 60:
                        sys.exit("no login through the second provider "
                                 "within 60 s:\n%s" %
                                 a.mfad.log_text()[-3000:])
            finally:
                if kind.startswith("stopped"):
                    fleet.a.proc = None
                    fleet.a.start()
                else:
                    fleet.a.proc.send_signal(signal.SIGCONT)
            settle(a)
        b.row("fleet: host A's first provider %s, until a login succeeds "
              "through the second ([directory] timeout = 1)" % kind, "ms",
              times, key="fleet_failover_%s" % kind.split()[0],
              note="%d logins refused meanwhile" % refused
              if refused else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--locks", type=int, default=100)
    ap.add_argument("--failovers", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    args.clients = (1, 16)
    if args.quick:
        args.accounts, args.seconds, args.runs = 16, 1, 1
        args.locks, args.failovers, args.clients = 5, 1, (4,)
    missing = fh.missing_tools()
    if missing:
        sys.exit("missing (tests/setup.sh installs them): " +
                 ", ".join(missing))
    tool = b.mfad_load()
    fleet = fh.Fleet()
    envs = []
    try:
        fleet.start()
        tmp = fleet.tmp / "hosts"
        tmp.mkdir(mode=0o700)
        key = tmp / "fleet.key"
        hh.write_secret(key, os.urandom(32))
        throughput(tool, args, fleet, tmp, key)
        a_smtp, a = fleet_env(fleet, "host-a", tmp, key,
                              {"device": {"scope": "fleet"}})
        envs.append(a)
        _, b_env = fleet_env(fleet, "host-b", tmp, key,
                             {"device": {"scope": "fleet"}})
        envs.append(b_env)
        a.start()
        b_env.start()
        lock_delay(tool, args, fleet, a, a_smtp, b_env)
        failover(args, fleet, a)
    finally:
        for env in envs:
            try:
                env.close()
            except AssertionError as e:
                print("closing mfad: %s" % e, file=sys.stderr)
                env.mfad.kill()
        for n in fleet.nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.proc.send_signal(signal.SIGCONT)
        fleet.close()


if __name__ == "__main__":
    main()
