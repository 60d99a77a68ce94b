"""A local user cannot grow the store or the log without bound, and a full
store does not stop what needs no write (issue "Hardening" points 3, 6
and 8; SECURITY.md rules 30 and 35).

Everything runs for real: mfad, the module through Linux-PAM, mfadctl,
and an unprivileged caller (nobody) speaking to mfad's socket the way any
local user can. Each test prints its figures (run pytest with -s)."""

import json
import os
import re
import statistics
import subprocess
import sys
import time

import pytest

import mss_harness as h
from mss_harness import PAM_SUCCESS, PROMPT_EMAIL, PROMPT_PASSWORD

REQ_ACCT = 6
REQ_RESET_START = 8
REQ_USER_ADD = 20
REQ_USER_LOCK = 24             # and REQ_USER_UNLOCK = 25
REP_AUTH = 101
AUTH_THROTTLED = 3             # mss_auth_result

# What nobody runs: one frame per connection, each read to its answer.
# Reads the frames (hex, one a line) on stdin, prints the reply types.
FLOOD = r"""
import json, socket, sys
path = sys.argv[1]
seen = {}
for line in sys.stdin:
    data = bytes.fromhex(line.strip())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    s.sendall(data)
    got = b""
    while len(got) < 6 or len(got) < 4 + int.from_bytes(got[:4], "big"):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    key = str(got[5]) if len(got) >= 6 else "closed"
    seen[key] = seen.get(key, 0) + 1
print(json.dumps(seen))
"""


def _flood_as_nobody(env, frames):
    """Starts nobody sending frames (bytes) to mfad; returns the process
    (its stdout is the count of each reply type, as JSON)."""
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
           sys.executable, "-c", FLOOD, str(env.sock)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdin.write("".join(f.hex() + "\n" for f in frames))
    p.stdin.close()
    return p


def _flood_result(p, timeout=300):
    p.wait(timeout)
    out, err = p.stdout.read(), p.stderr.read()
    assert p.returncode == 0, err
    return json.loads(out)


def _root_logins_during(env, p, bound=10.0):
    """Root's logins through the real module while p runs: each must
    succeed within bound seconds (a login's normal time here is well
    under one second; the bound leaves room for a loaded machine).
    Returns (logins, slowest)."""
    n, slowest = 0, 0.0
    while p.poll() is None or n < 2:
        t0 = time.monotonic()
        env.full_login("alice")
        took = time.monotonic() - t0
        slowest = max(slowest, took)
        assert took < bound, "root's login took %.1f s" % took
        n += 1
    return n, slowest


def _entries(env, db):
    """Records in one sub-database of the store (mdb_stat, read-only)."""
    out = subprocess.run(["mdb_stat", "-s", db, str(env.db)],
                         capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Entries: (\d+)", out).group(1))


def _pages(env):
    """Pages in use in data.mdb (the last page LMDB wrote)."""
    out = subprocess.run(["mdb_stat", "-e", str(env.db)],
                         capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Number of pages used: (\d+)", out).group(1))


def _log_lines(env, text):
    return sum(1 for line in env.mfad.log_text().splitlines()
               if text in line)


def test_refused_admin_flood_keeps_store_and_log_bounded(env):
    """An unprivileged user sends 3,000 admin requests: each is refused;
    the store keeps one peer_denied record a minute for that uid (with a
    count), the log one line a minute, and root's logins through the
    real module succeed throughout. Before, each refusal was a record
    and a line: 3,000 of each."""
    n = 3000
    audit0, pages0 = _entries(env, "audit"), _pages(env)
    p = _flood_as_nobody(env, [h.frame(h.REQ_STATUS)] * n)
    logins, slowest = _root_logins_during(env, p)
    seen = _flood_result(p)
    assert seen == {str(h.REP_RESULT): n}, seen
    denied = [r for r in env.ctl_json("audit", "--limit", "100000")
              if r["event"] == "peer_denied"]
    lines = _log_lines(env, "event=peer_denied")
    grown = _entries(env, "audit") - audit0
    print("\n%d refused requests: %d peer_denied records, %d log lines, "
          "audit records +%d, pages %d -> %d; %d root logins, slowest "
          "%.2f s" % (n, len(denied), lines, grown, pages0, _pages(env),
                      logins, slowest))
    # One at the start, one more for each minute the flood lasted.
    assert 1 <= len(denied) <= 3, denied
    assert 1 <= lines <= 3, lines
    # Root's logins wrote their own records; the flood almost none.
    assert grown <= 3 + 4 * logins, grown
    # The count is kept: at the latest when mfad stops, the refusals
    # only counted get their record, and all n are accounted for.
    env.mfad.restart()
    counted = 0
    for r in env.ctl_json("audit", "--limit", "100000"):
        if r["event"] == "peer_denied":
            more = re.search(r"and (\d+) more like it", r["detail"])
            times = re.search(r"\((\d+) times since", r["detail"])
            counted += (1 + int(more.group(1)) if more else
                        int(times.group(1)) if times else 1)
    assert counted == n, counted


def _reset_frame(user, addr, service="flood"):
    return h.frame(REQ_RESET_START, b"".join(h.pstr(s) for s in (
        service, user, addr, "", "", "", "en")) + (0).to_bytes(4, "big"))


def _reset_answer(env, user, addr):
    """A reset start as root: (answer code, wait) of the AUTH reply."""
    rtype, payload = h.raw_request(env.sock, REQ_RESET_START,
                                   _reset_frame(user, addr)[6:])
    assert rtype == REP_AUTH, (rtype, payload)
    return payload[0]


def test_decoy_reset_flood_is_capped_per_user(env):
    """nobody starts 1,000 resets for its own name, each with another
    address (each a decoy that mails nothing): the store keeps at most
    the per-user cap of them an hour (4 x [code] max_sends, at most 64),
    the rest are answered "throttled" like a real reset over its limit,
    one "throttled" record a minute; root's logins succeed throughout.
    Then the real address gets the same answer as any other: the cap
    tells nothing. Before, each of the 1,000 stored a login, a throttle
    record and an audit record."""
    env.add_user("nobody", "nobody@example.org")
    n = 1000
    audit0, logins0 = _entries(env, "audit"), _entries(env, "logins")
    thr0, pages0 = _entries(env, "throttles"), _pages(env)
    frames = [_reset_frame("nobody", "x%d@example.org" % i)
              for i in range(n)]
    p = _flood_as_nobody(env, frames)
    logins, slowest = _root_logins_during(env, p)
    seen = _flood_result(p)
    stored = _entries(env, "logins") - logins0
    thr = _entries(env, "throttles") - thr0
    grown = _entries(env, "audit") - audit0
    recs = env.ctl_json("audit", "--user", "nobody", "--limit", "100000")
    requested = sum(1 for r in recs if r["event"] == "reset_requested")
    throttled = sum(1 for r in recs if r["event"] == "throttled")
    lines = _log_lines(env, "user=nobody")
    print("\n%d decoy resets: answers %s; logins +%d, throttle records "
          "+%d, audit +%d (reset_requested %d, throttled %d), log lines "
          "%d, pages %d -> %d; %d root logins, slowest %.2f s" %
          (n, seen, stored, thr, grown, requested, throttled, lines,
           pages0, _pages(env), logins, slowest))
    assert sum(seen.values()) == n and set(seen) == {str(REP_AUTH)}, seen
    assert requested <= 64, requested
    assert 1 <= throttled <= 3, throttled
    assert stored <= 64 + 4 * logins, stored
    assert thr <= 64 + 1, thr
    assert lines <= 64 + 3, lines
    # The cap is the user's, whatever the address: the real one is
    # refused alike, and nothing is mailed to it.
    real = _reset_answer(env, "nobody", "nobody@example.org")
    other = _reset_answer(env, "nobody", "y0@example.org")
    assert real == other == AUTH_THROTTLED, (real, other)
    env.smtp.assert_no_mail("nobody@example.org")


def _acct_time(env, user):
    payload = h.pstr("acct-timing") + h.pstr(user)
    t0 = time.perf_counter()
    rtype, _ = h.raw_request(env.sock, REQ_ACCT, payload)
    t = time.perf_counter() - t0
    assert rtype == 103, rtype         # MSS_REP_ACCT
    return t


def _iqr(values):
    q = statistics.quantiles(values, n=4)
    return q[2] - q[0]


def test_acct_timing_locked_and_active_alike(env):
    """Issue point 6: ACCT for an admin-locked account answers as fast as
    for an active one: 100 of each, interleaved, medians within a
    quarter of the spread of one request (at least 0.1 ms), in one of
    three rounds (a burst of load from elsewhere can skew one round; a
    real difference skews them all). Before, every refusal of the locked
    account was a write with a disk sync, 0.5 ms and more here, several
    times the bound."""
    env.add_user("ann", "ann@example.org")
    env.add_user("lck", "lck@example.org")
    env.ctl_ok("user", "lock", "lck")
    for _ in range(5):
        _acct_time(env, "ann")
        _acct_time(env, "lck")
    failures = []
    for _ in range(3):
        active, locked = [], []
        for _ in range(100):
            active.append(_acct_time(env, "ann"))
            locked.append(_acct_time(env, "lck"))
        bound = max(0.0001, (_iqr(active) + _iqr(locked)) / 2 / 4)
        diff = statistics.median(locked) - statistics.median(active)
        msg = ("median active %.3f ms, locked %.3f ms (IQR %.3f, %.3f): "
               "difference %.3f ms, bound %.3f ms" %
               (statistics.median(active) * 1e3,
                statistics.median(locked) * 1e3, _iqr(active) * 1e3,
                _iqr(locked) * 1e3, diff * 1e3, bound * 1e3))
        print("\n" + msg)
        if abs(diff) < bound:
            break
        failures.append(msg)
    else:
        pytest.fail("\n".join(failures))
    # The refusals are still on record: one, with the count to come.
    recs = env.ctl_json("audit", "--user", "lck")
    assert any(r["event"] == "account_refused" for r in recs), recs


def _user_add(env, name):
    """user add over the socket as root (with a password: no mail).
    Returns the RESULT code (0 done)."""
    payload = b"".join(h.pstr(s) for s in (
        name, name + "@example.org", "en", h.PASSWORD))
    rtype, rep = h.raw_request(env.sock, REQ_USER_ADD, payload)
    assert rtype == h.REP_RESULT, rtype
    return int.from_bytes(rep[:4], "big", signed=True)


def _device_login(env, rhost):
    login = env.login("alice", rhost=rhost)
    rc = login.run({PROMPT_EMAIL: "alice@example.org",
                    PROMPT_PASSWORD: h.PASSWORD})
    return rc, login


def _fill_with_small_writes(env, user):
    """Admin lock, unlock of user (an account and an audit record each)
    until 20 in a row are refused as full. Returns how many were done."""
    fails = tries = 0
    while fails < 20:
        rtype, rep = h.raw_request(env.sock, REQ_USER_LOCK + tries % 2,
                                   h.pstr(user))
        assert rtype == h.REP_RESULT, rtype
        fails = fails + 1 if int.from_bytes(rep[:4], "big") != 0 else 0
        tries += 1
        assert tries < 50000, "small writes never filled the map"
    return tries


def test_full_store_keeps_remembered_devices_and_logs_once(make_env):
    """A store filled to its map (1 MiB here): a remembered device still
    logs in (its decision needs no write; only the bookkeeping is
    skipped, and the log says so), every write is refused, and "store
    full" is logged a bounded number of times (once a minute with a
    count), not once per request. Before, the device login failed with
    "storage full" and each of the 300 refused writes logged a line."""
    env = make_env({"mfad": {"map_size": "1M"}})
    env.add_user("alice")
    rhost = "192.0.2.91"
    env.full_login("alice", remember="y", rhost=rhost)
    rc, login = _device_login(env, rhost)
    assert rc == PAM_SUCCESS, login.dump()

    added = 0
    while _user_add(env, "fill%05d" % added) == 0:
        added += 1
        assert added < 20000, "the 1 MiB map never filled"
    env.mfad.wait_log("store full")
    # Then small writes until none fits any more, not even in the pages
    # the last ones freed.
    tries = _fill_with_small_writes(env, "fill00000")
    refused = 0
    for i in range(300):
        if _user_add(env, "more%05d" % i) != 0:
            refused += 1
    results = []
    for _ in range(3):
        rc, login = _device_login(env, rhost)
        results.append(rc)
        assert rc == PAM_SUCCESS, login.dump() + env.mfad.log_text()[-3000:]
    full_lines = _log_lines(env, "store full during")
    print("\nfilled with %d users and %d small writes; %d of 300 further "
          "writes refused; device logins %s; 'store full' lines %d" %
          (added, tries, refused, results, full_lines))
    assert refused == 300
    assert 1 <= full_lines <= 3, full_lines
    env.mfad.wait_log("store full: not recorded")


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


@pytest.mark.skipif(not os.path.exists(FAKETIME_LIB) or h.SANITIZED,
                    reason="libfaketime is not installed, or cannot be "
                    "preloaded in a sanitizer build")
def test_sweep_frees_a_full_store(make_env):
    """A 16 MiB store filled with pending logins, throttle records and
    audit records that are all past their time: the sweep, in small
    transactions, deletes them although no page is left, and writes work
    again. Before, the sweep was one transaction, whose list of freed
    pages needed room of its own: it failed "store full" every minute,
    and the store stayed full for good."""
    env = make_env({"mfad": {"map_size": "16M", "audit_days": 1}},
                   start=False)
    env.mfad.wrapper = ["env", "LD_PRELOAD=" + FAKETIME_LIB, "FAKETIME=-3d"]
    env.start()
    tries = 0
    while True:
        rtype, rep = h.raw_request(env.sock, REQ_RESET_START,
                                   _reset_frame("u%06d" % tries,
                                                "u@example.org")[6:])
        tries += 1
        if rtype != REP_AUTH:
            break
        assert tries < 200000, "resets never filled the map"
    env.mfad.wait_log("store full")
    counts = {db: _entries(env, db) for db in ("logins", "throttles",
                                               "audit")}
    env.mfad.stop()
    env.mfad.wrapper = []
    env.start()
    env.mfad.wait_log("swept ", timeout=60)
    left = {db: _entries(env, db) for db in counts}
    print("\n%d resets filled the store: %s; after the sweep %s" %
          (tries, counts, left))
    assert sum(left.values()) < 10, left
    env.add_user("carol")
    env.full_login("carol")
