"""Fleet mode through two hosts: mfad on host A and host B, each with its
own socket, LMDB, PAM services and SMTP sink, keeping accounts in the two
replicating providers of fleet_harness (hosts_harness.py). Everything is
the real thing: pam_mss through pam_driver, mfad, mfadctl, aiosmtpd and
slapd. Replication takes milliseconds: every wait for it is on a
condition read from the providers or from mfad, never a fixed sleep (one
short sleep stays, where no mail may come).

Slow tests take several seconds each.

    MSS_BUILDDIR=$PWD/build /usr/bin/python3 -m pytest -p no:cacheprovider \\
        tests/fleet/test_hosts.py
"""

import json
import re
import signal
import threading
import time

import argon2
import ldap3
import pytest

import fleet_harness as fh
import hosts_harness as hh
from hosts_harness import mh

PASSWORD = mh.PASSWORD
NEW_PASSWORD = "a brand new passphrase"
UNAVAILABLE = "The authentication service is unavailable."
WRONG_CODE = "Wrong code"


# Helpers ------------------------------------------------------------------


def addr_of(uid):
    return "%s@example.org" % uid


def shown(env, uid):
    """`mfadctl --json user show` on that host, or {} when it refuses."""
    rc, out, _ = env.ctl("--json", "user", "show", uid)
    return json.loads(out) if rc == mh.CTL_OK else {}


def wait_shown(env, uid, pred, what, timeout=10):
    """Waits until the host's own view of uid (through its own provider
    first) satisfies pred; returns it."""
    got = {}

    def ok():
        got.clear()
        got.update(shown(env, uid))
        return pred(got)
    mh.wait_until(ok, timeout, "%s on %s" % (what, env.name))
    return got


def enrolled(hosts, uid, on=None, password=PASSWORD):
    """uid made a person in the directory, added on one host with a
    password (--password-stdin), and seen active by the other."""
    on = on or hosts.a
    hosts.add_people(uid)
    on.add_user(uid, password=password)
    for env in hosts.hosts:
        wait_shown(env, uid, lambda u: u.get("state") == "active",
                   "%s active" % uid)
    return addr_of(uid)


def failed_login(env, uid, password, **kw):
    """Email and password, then the one generic failure."""
    login = env.login(uid, **kw)
    login.expect("ECHO_ON", mh.PROMPT_EMAIL)
    login.answer(addr_of(uid))
    login.expect("ECHO_OFF", mh.PROMPT_PASSWORD)
    login.answer(password)
    login.expect("ERROR", mh.GENERIC_FAILURE)
    assert login.result() == mh.PAM_AUTH_ERR, login.dump()
    login.close()


def remembered_login(env, uid, **kw):
    """Email and password, then success with no code asked."""
    login = env.login(uid, **kw)
    rc = login.run({mh.PROMPT_EMAIL: addr_of(uid),
                    mh.PROMPT_PASSWORD: PASSWORD})
    assert rc == mh.PAM_SUCCESS, login.dump()
    assert not any(mh.PROMPT_CODE in t for _, t in login.lines()), \
        login.dump()


def to_code_prompt(env, uid, password=PASSWORD):
    """Email and password up to the code prompt; the code mailed is
    taken from the host's sink, so that a later login reads its own."""
    login = env.login(uid)
    login.expect("ECHO_ON", mh.PROMPT_EMAIL)
    login.answer(addr_of(uid))
    login.expect("ECHO_OFF", mh.PROMPT_PASSWORD)
    login.answer(password)
    while True:
        style, text = login.next()
        if style == "ECHO_ON" and mh.PROMPT_CODE in text:
            env.smtp.wait_for_code(addr_of(uid))
            return login
        assert style not in login.PROMPTS and style != "RESULT", \
            "no code prompt\n%s" % login.dump()


def unavailable_login(env, uid):
    """The right password while no provider answers: the module says the
    service is unavailable and PAM gets PAM_AUTHINFO_UNAVAIL."""
    login = env.login(uid)
    rc = login.run({mh.PROMPT_EMAIL: addr_of(uid),
                    mh.PROMPT_PASSWORD: PASSWORD})
    assert rc == mh.PAM_AUTHINFO_UNAVAIL, login.dump()
    assert ("ERROR", UNAVAILABLE) in login.lines("ERROR"), login.dump()
    assert not any(mh.PROMPT_CODE in t for _, t in login.lines()), \
        login.dump()


def try_full_login(env, uid):
    """One login to the end if the host can serve it: True on success,
    False on "unavailable"; anything else fails the test."""
    login = env.login(uid)
    login.expect("ECHO_ON", mh.PROMPT_EMAIL)
    login.answer(addr_of(uid))
    login.expect("ECHO_OFF", mh.PROMPT_PASSWORD)
    login.answer(PASSWORD)
    while True:
        style, text = login.next()
        if style == "ERROR" and UNAVAILABLE in text:
            assert login.result() == mh.PAM_AUTHINFO_UNAVAIL, login.dump()
            login.close()
            return False
        if style == "ECHO_ON" and mh.PROMPT_CODE in text:
            break
        assert style not in login.PROMPTS and style != "RESULT", \
            login.dump()
    env.finish_login(login, env.smtp.wait_for_code(addr_of(uid)))
    login.close()
    return True


def passwd(env, uid, old, new):
    """pam_sm_chauthtok (pam_driver -c): the current password, then the
    new one twice. Returns the PAM result."""
    login = env.login(uid, extra_args=["-c"])
    answers = {"Current password": old, "New password": new,
               "Repeat the new password": new}
    n = 0
    while "chauthtok" not in login.results:
        style, text = login.next()
        if style in login.PROMPTS:
            n += 1
            assert n < 10, login.dump()
            for key, val in answers.items():
                if key in text:
                    login.answer(val)
                    break
            else:
                raise AssertionError("unexpected prompt %r\n%s" %
                                     (text, login.dump()))
    return login.results["chauthtok"]


def failures(hosts, node, uid):
    return hosts.read(node, uid, "mfadFailure")


# Enrollment and passwords ---------------------------------------------------


def test_enrolled_on_a_logs_in_on_b(hosts):
    """Added on A with a password, or invited on A and enrolled there
    through the mailed code: either logs in on B, with the code mailed by
    B; A mails nothing for B's logins."""
    ana = enrolled(hosts, "ana")
    assert hosts.read(hosts.fleet.b, "ana", "userPassword")[0] \
        .startswith("{ARGON2}$argon2id$")
    n_a = hosts.a.smtp.count(ana, mh.has_code)
    hosts.b.full_login("ana")
    assert hosts.a.smtp.count(ana, mh.has_code) == n_a
    # Each host runs on the build's directory module, with libldap.
    for host in hosts.hosts:
        maps = open("/proc/%d/maps" % host.mfad.proc.pid).read()
        assert "/mfad_store_dir.so" in maps and "libldap" in maps

    # Invited on A, enrolled on A: email, an empty password, A's code,
    # the new password twice.
    hosts.add_people("ben")
    ben = addr_of("ben")
    hosts.a.ctl_ok("user", "add", "ben", "--email", ben, "--lang", "en")
    login = hosts.a.start_empty_password("ben")
    login.answer(hosts.a.smtp.wait_for_code(ben))
    login.expect("INFO", "confirmed")
    login.expect("ECHO_OFF", "New password: ")
    login.answer(NEW_PASSWORD)
    login.expect("ECHO_OFF", "Repeat the new password: ")
    login.answer(NEW_PASSWORD)
    login.expect("INFO", "Enrollment complete")
    login.expect("INFO", "succeeded")
    assert login.result() == mh.PAM_SUCCESS, login.dump()
    wait_shown(hosts.b, "ben", lambda u: u.get("state") == "active",
               "ben enrolled")
    n_a = hosts.a.smtp.count(ben, mh.has_code)
    hosts.b.full_login("ben", password=NEW_PASSWORD)
    assert hosts.a.smtp.count(ben, mh.has_code) == n_a


def test_password_change_on_b_works_on_a(hosts):
    """A password changed on B (pam_sm_chauthtok) is the one A checks:
    the old one is refused on A, the new one logs in there."""
    enrolled(hosts, "cleo")
    old_hash = hosts.read(hosts.fleet.a, "cleo", "userPassword")
    assert passwd(hosts.b, "cleo", PASSWORD, NEW_PASSWORD) == mh.PAM_SUCCESS
    new_hash = hosts.read(hosts.fleet.b, "cleo", "userPassword")
    assert new_hash and new_hash != old_hash
    hosts.wait_both("cleo", "userPassword", lambda v: v == new_hash)
    failed_login(hosts.a, "cleo", PASSWORD)
    hosts.a.full_login("cleo", password=NEW_PASSWORD)
    hosts.b.full_login("cleo", password=NEW_PASSWORD)


# Lockout -------------------------------------------------------------------


def test_failures_on_both_hosts_lock_both_and_unlock_on_a_frees_b(hosts):
    """Wrong passwords alternating between A and B add up: the
    threshold's failure locks the account on both hosts (the right
    password is refused on each, and no code is mailed); an admin unlock
    on A lets the person in on B."""
    addr = enrolled(hosts, "dora")
    for i in range(hh.LOCK_THRESHOLD):
        env = hosts.hosts[i % 2]
        failed_login(env, "dora", mh.WRONG_PASSWORD)
        hosts.wait_both("dora", "mfadFailure",
                        lambda v, n=i + 1: len(v) == n)
    hosts.wait_both("dora", "mfadLockedUntil", lambda v: len(v) == 1)
    for env in hosts.hosts:
        u = wait_shown(env, "dora", lambda u: bool(u.get("locked_until")),
                       "dora locked")
        assert u["failures"] >= hh.LOCK_THRESHOLD, u
    codes = [env.smtp.count(addr, mh.has_code) for env in hosts.hosts]
    failed_login(hosts.a, "dora", PASSWORD)
    failed_login(hosts.b, "dora", PASSWORD)
    time.sleep(0.5)         # mail leaves asynchronously: none may come
    assert [env.smtp.count(addr, mh.has_code) for env in hosts.hosts] == \
        codes

    # The refused attempts may have counted failures: A's unlock clears
    # the values it reads, so let B's reach A's provider first.
    fh.wait_until(lambda: hosts.same_on_both("dora", "mfadFailure"), 10,
                  "the failures on both providers")
    assert "unlocked" in hosts.a.ctl_ok("user", "unlock", "dora")
    hosts.wait_both("dora", "mfadLockedUntil", lambda v: v == [])
    hosts.wait_both("dora", "mfadFailure", lambda v: v == [])
    wait_shown(hosts.b, "dora", lambda u: not u.get("locked_until") and
               u.get("failures") == 0, "dora unlocked")
    hosts.b.full_login("dora")


@pytest.mark.hosts(lockout={"threshold": 100})
def test_concurrent_failures_on_both_hosts_all_count(hosts):
    """Many wrong passwords at once, half on each host: after
    replication each provider holds one failure value per attempt, and
    each host counts them all."""
    enrolled(hosts, "emil")
    per_host = 10
    for env in hosts.hosts:
        # Written once before: env.login() writes a missing service
        # file, and twenty logins at once would race on it.
        env.service("mss-test")
    start = threading.Barrier(2 * per_host)
    errors = []

    def one(env):
        try:
            start.wait()
            failed_login(env, "emil", mh.WRONG_PASSWORD)
        except Exception as e:          # reported below, in the test
            errors.append(repr(e))
    threads = [threading.Thread(target=one, args=(hosts.hosts[i % 2],))
               for i in range(2 * per_host)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    total = 2 * per_host
    hosts.wait_both("emil", "mfadFailure", lambda v: len(v) >= total)
    values = failures(hosts, hosts.fleet.a, "emil")
    assert len(values) == total and len(set(values)) == total, values
    assert sorted(failures(hosts, hosts.fleet.b, "emil")) == sorted(values)
    # Each value names the host that wrote it: both hosts' are there.
    writers = {v.split(":")[1] for v in values}
    assert writers == {"host-a", "host-b"}, values
    for env in hosts.hosts:
        wait_shown(env, "emil", lambda u: u.get("failures") == total,
                   "%d failures" % total)


class BusyOnB:
    """Remembered-device logins of uid on host B, five at a time, for
    as long as the with block runs and nine attempts more; at the end
    B's queued records are written (a status waits for them)."""

    def __init__(self, hosts, uid, rhost="192.0.2.9"):
        self.hosts, self.uid, self.rhost = hosts, uid, rhost
        self.stop, self.results = threading.Event(), []

    def _logins(self):
        while not self.stop.is_set():
            login = self.hosts.b.login(self.uid, rhost=self.rhost)
            self.results.append(login.run({
                mh.PROMPT_EMAIL: addr_of(self.uid),
                mh.PROMPT_PASSWORD: PASSWORD}))
            login.close()

    def __enter__(self):
        self.hosts.a.full_login(self.uid, rhost=self.rhost, remember="y")
        fh.wait_until(lambda: len(self.hosts.children(
            self.hosts.fleet.b, self.uid)) == 1, 10,
            "the device on B's provider")
        self.hosts.b.service("mss-test")
        self.threads = [threading.Thread(target=self._logins)
                        for _ in range(5)]
        for t in self.threads:
            t.start()
        mh.wait_until(lambda: self.results.count(mh.PAM_SUCCESS) >= 6, 20,
                      "logins on B")
        return self

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                n = len(self.results)
                mh.wait_until(lambda: len(self.results) >= n + 9, 20,
                              "attempts on B after the change")
        finally:
            self.stop.set()
            for t in self.threads:
                t.join(30)
        self.hosts.b.ctl_ok("status")
        return False


@pytest.mark.slow
@pytest.mark.hosts(device={"scope": "fleet"})
def test_admin_lock_on_a_holds_while_b_logs_in(hosts):
    """An admin lock on A is not undone by the remembered-device logins
    that B serves at that moment: once B's records are written and the
    providers agree, the account is locked on both and B refuses it.
    A race: a few rounds, each on its own account."""
    for k in range(3):
        uid = "nora%d" % k
        enrolled(hosts, uid)
        with BusyOnB(hosts, uid) as busy:
            hosts.a.ctl_ok("user", "lock", uid)
        fh.wait_until(lambda: hosts.same_on_both(uid, "mfadState"), 10,
                      "the providers agree")
        assert hosts.read(hosts.fleet.a, uid, "mfadState") == ["locked"], \
            "round %d: the lock on A was undone by B (B's results: %r)" % (
                k, busy.results)
        failed_login(hosts.b, uid, PASSWORD, rhost="192.0.2.9")


@pytest.mark.slow
@pytest.mark.hosts(device={"scope": "fleet"})
def test_failure_lock_from_a_holds_while_b_logs_in(hosts):
    """The lock that host A writes when a failure streak reaches the
    threshold (mfadLockedUntil on A's provider, written here as A writes
    it, with A's credentials) is not undone by the remembered-device
    logins B serves at that moment: a login B decided before the lock
    arrived ends the failure streak, not a lock it never saw. A race:
    a few rounds, each on its own account."""
    for k in range(3):
        uid = "tove%d" % k
        enrolled(hosts, uid)
        until = str(int(time.time()) + 900)
        with BusyOnB(hosts, uid) as busy:
            c = hosts.fleet.conn(hosts.fleet.a, fh.HOST_A_DN, fh.HOST_PW)
            try:
                assert c.modify(hh.dn_of(uid), {"mfadLockedUntil": [
                    (hh.ldap3.MODIFY_REPLACE, [until])]}), c.result
            finally:
                c.unbind()
        fh.wait_until(lambda: hosts.same_on_both(uid, "mfadLockedUntil"),
                      10, "the providers agree")
        assert hosts.read(hosts.fleet.a, uid, "mfadLockedUntil") == \
            [until], "round %d: the lock written on A was undone by B " \
            "(B's results: %r)" % (k, busy.results)
        failed_login(hosts.b, uid, PASSWORD, rhost="192.0.2.9")


@pytest.mark.slow
@pytest.mark.hosts(device={"scope": "fleet"})
def test_recovery_code_used_on_a_stays_used_while_b_logs_in(hosts):
    """A recovery code used on A stays used although B serves the
    account's remembered device at that moment. A race: a few rounds."""
    for k in range(3):
        uid = "rita%d" % k
        enrolled(hosts, uid)
        codes = hosts.a.ctl_ok("user", "recovery", uid, "--count",
                               "3").split()
        hosts.wait_both(uid, "mfadRecoveryCode", lambda v: len(v) == 3)
        with BusyOnB(hosts, uid):
            login = to_code_prompt(hosts.a, uid)
            login.answer(codes[0])
            login.expect("INFO")
            assert login.result() == mh.PAM_SUCCESS, login.dump()
        fh.wait_until(lambda: hosts.same_on_both(uid, "mfadRecoveryCode"),
                      10, "the providers agree")
        left = hosts.read(hosts.fleet.a, uid, "mfadRecoveryCode")
        assert len(left) == 2, \
            "round %d: the code used on A is back (%d left)" % (k, len(left))


# Recovery codes and devices ------------------------------------------------


def test_recovery_code_used_on_a_is_refused_on_b(hosts):
    """A recovery code works once in the fleet: used on A, it is a wrong
    code on B, where an unused one still works."""
    enrolled(hosts, "finn")
    codes = hosts.a.ctl_ok("user", "recovery", "finn", "--count",
                           "2").split()
    assert len(codes) == 2, codes
    wait_shown(hosts.b, "finn", lambda u: u.get("recovery_codes") == 2,
               "2 recovery codes")
    login = to_code_prompt(hosts.a, "finn")
    login.answer(codes[0])
    login.expect("INFO")
    assert login.result() == mh.PAM_SUCCESS, login.dump()
    hosts.wait_both("finn", "mfadRecoveryCode", lambda v: len(v) == 1)
    wait_shown(hosts.b, "finn", lambda u: u.get("recovery_codes") == 1,
               "1 recovery code")

    login = to_code_prompt(hosts.b, "finn")
    login.answer(codes[0])
    login.expect("ERROR", WRONG_CODE)
    login.expect("ECHO_ON", mh.PROMPT_CODE)
    login.answer(codes[1])
    login.expect("INFO")
    assert login.result() == mh.PAM_SUCCESS, login.dump()
    hosts.wait_both("finn", "mfadRecoveryCode", lambda v: v == [])


@pytest.mark.hosts(device={"scope": "fleet"})
def test_device_remembered_on_a_skips_the_code_on_b_with_fleet_scope(
        hosts):
    """[device] scope = fleet: the device remembered on A is an entry
    under the account, and B asks it no code."""
    addr = enrolled(hosts, "gus")
    hosts.a.full_login("gus", rhost="192.0.2.7", remember="y")
    devs = hosts.children(hosts.fleet.a, "gus")
    assert len(devs) == 1, devs
    fh.wait_until(lambda: hosts.children(hosts.fleet.b, "gus") == devs, 10,
                  "the device on B's provider")
    n = hosts.b.smtp.count(addr, mh.has_code)
    remembered_login(hosts.b, "gus", rhost="192.0.2.7")
    # Another device still gets a code on B.
    hosts.b.full_login("gus", rhost="192.0.2.8", remember="n")
    assert hosts.b.smtp.count(addr, mh.has_code) == n + 1
    assert len(hosts.b.ctl_json("device", "list", "gus")) == 1


@pytest.mark.hosts(device={"scope": "host"})
def test_device_remembered_on_a_asks_the_code_on_b_with_host_scope(hosts):
    """[device] scope = host: the device remembered on A stays A's (in
    its LMDB): A asks no code, B does, and the directory has no device."""
    enrolled(hosts, "hugo")
    hosts.a.full_login("hugo", rhost="192.0.2.7", remember="y")
    remembered_login(hosts.a, "hugo", rhost="192.0.2.7")
    hosts.b.full_login("hugo", rhost="192.0.2.7", remember="n")
    assert hosts.children(hosts.fleet.a, "hugo") == []
    assert hosts.children(hosts.fleet.b, "hugo") == []
    assert len(hosts.a.ctl_json("device", "list", "hugo")) == 1
    assert hosts.b.ctl_json("device", "list", "hugo") == []


@pytest.mark.hosts(device={"scope": "fleet"})
def test_expired_fleet_device_swept_from_both_providers(hosts):
    """The sweep's step in the directory: a fleet device whose
    mfadExpires passed (written in the directory, as if thirty days had
    gone) is deleted by the host that sweeps (B, at its start), from both
    providers; the user's unexpired device and another user's stay, and
    logins see the difference."""
    enrolled(hosts, "lotte")
    enrolled(hosts, "moss")
    hosts.a.full_login("lotte", rhost="192.0.2.7", remember="y")
    old = hosts.children(hosts.fleet.a, "lotte")
    hosts.a.full_login("lotte", rhost="192.0.2.8", remember="y")
    keep = [d for d in hosts.children(hosts.fleet.a, "lotte") if d not in old]
    hosts.b.full_login("moss", rhost="192.0.2.7", remember="y")
    other = hosts.children(hosts.fleet.b, "moss")
    assert len(old) == len(keep) == len(other) == 1
    c = hosts.fleet.conn(hosts.fleet.a)
    assert c.modify(old[0], {"mfadExpires": [
        (ldap3.MODIFY_REPLACE, [str(int(time.time()) - 60)])]}), c.result
    c.unbind()
    for node in hosts.fleet.nodes:
        fh.wait_until(lambda: hosts.children(node, "lotte") == sorted(
            old + keep) and hosts.children(node, "moss") == other, 10,
            "the devices on %s" % node.url)
    # The housekeeping runs at the start, then once a minute.
    hosts.b.mfad.restart()
    log = hosts.b.mfad.wait_log("expired devices from the directory")
    assert "swept 1 expired devices from the directory" in log, log
    for node in hosts.fleet.nodes:
        fh.wait_until(lambda: hosts.children(node, "lotte") == keep, 10,
                      "the expired device gone from %s" % node.url)
        assert hosts.children(node, "moss") == other
    # The kept one spares the code; the swept one's rhost gets one.
    remembered_login(hosts.a, "lotte", rhost="192.0.2.8")
    addr = addr_of("lotte")
    n = hosts.a.smtp.count(addr, mh.has_code)
    hosts.a.full_login("lotte", rhost="192.0.2.7", remember="n")
    assert hosts.a.smtp.count(addr, mh.has_code) == n + 1



def iso(t):
    """A time as mfadctl --json shows it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def set_attrs(hosts, dn, **attrs):
    """Replaces attributes of dn on A's provider, as its administrator."""
    c = hosts.fleet.conn(hosts.fleet.a)
    try:
        assert c.modify(dn, {k: [(ldap3.MODIFY_REPLACE, [str(v)])]
                             for k, v in attrs.items()}), c.result
    finally:
        c.unbind()


def two_devices_used(hosts, uid, last_login, last_used):
    """uid enrolled, with two devices remembered on A; its mfadLastLogin
    and its devices' mfadLastUsed (in DN order) then set, and read back
    from both providers. Returns the devices' DNs."""
    enrolled(hosts, uid)
    hosts.a.full_login(uid, rhost="192.0.2.7", remember="y")
    hosts.a.full_login(uid, rhost="192.0.2.8", remember="y")
    devs = hosts.children(hosts.fleet.a, uid)
    assert len(devs) == 2, devs
    set_attrs(hosts, hh.dn_of(uid), mfadLastLogin=last_login)
    for dn, t in zip(devs, last_used):
        set_attrs(hosts, dn, mfadLastUsed=t)
    want = [[str(last_login)]] + [[str(t)] for t in last_used]
    for node in hosts.fleet.nodes:
        fh.wait_until(lambda: [hosts.read(node, uid, "mfadLastLogin")] +
                      [hosts.read_dn(node, dn, "mfadLastUsed")
                       for dn in devs] == want, 10,
                      "the old times on %s" % node.url)
    return devs


@pytest.mark.hosts(device={"scope": "fleet"})
def test_fleet_device_login_writes_its_device_alone(hosts):
    """[device] scope = fleet: a remembered-device login writes its
    device's mfadLastUsed and leaves the account entry alone; each host
    shows the later of mfadLastLogin and the devices' last use as the
    last login, and a device that goes (revoked on A, or expired and
    swept by B) leaves its last use in mfadLastLogin."""
    # Every time a day old, each one its own: what the logins below must
    # leave alone, and what the account must keep.
    old = int(time.time()) - 86400
    devs = two_devices_used(hosts, "ivo", old, [old + 100, old + 200])

    begun = int(time.time())
    remembered_login(hosts.b, "ivo", rhost="192.0.2.7")
    used = {dn: int(hosts.read_dn(hosts.fleet.b, dn, "mfadLastUsed")[0])
            for dn in devs}
    now_used = [dn for dn in devs if used[dn] >= begun]
    assert len(now_used) == 1, used
    dev = now_used[0]
    other = [dn for dn in devs if dn != dev][0]
    # The account entry was not written: its last login is still a day
    # old on both providers, and both hosts show the device's use.
    for node in hosts.fleet.nodes:
        fh.wait_until(lambda: hosts.read_dn(node, dev, "mfadLastUsed") ==
                      [str(used[dev])], 10, "the use on %s" % node.url)
        assert hosts.read(node, "ivo", "mfadLastLogin") == [str(old)]
    for env in hosts.hosts:
        wait_shown(env, "ivo", lambda u: u.get("last_login") ==
                   iso(used[dev]), "the last login")

    # Revoked on A: its last use stays in the account.
    ids = [d["id"] for d in hosts.a.ctl_json("device", "list", "ivo")
           if d["last_used"] == iso(used[dev])]
    assert len(ids) == 1, ids
    hosts.a.ctl_ok("device", "revoke", "ivo", ids[0])
    hosts.wait_both("ivo", "mfadLastLogin",
                    lambda v: v == [str(used[dev])])
    for env in hosts.hosts:
        wait_shown(env, "ivo", lambda u: u.get("last_login") ==
                   iso(used[dev]) and u.get("devices") == 1,
                   "the last login after the revoke")

    # The other, used later still (as a host would have) and expired:
    # B's sweep keeps its last use in the account.
    later = used[dev] + 500
    set_attrs(hosts, other, mfadLastUsed=later,
              mfadExpires=int(time.time()) - 60)
    for node in hosts.fleet.nodes:
        fh.wait_until(lambda: hosts.read_dn(node, other, "mfadLastUsed") ==
                      [str(later)], 10, "the expired device on %s" %
                      node.url)
    hosts.b.mfad.restart()
    hosts.b.mfad.wait_log("expired devices from the directory")
    hosts.wait_both("ivo", "mfadLastLogin", lambda v: v == [str(later)])
    for node in hosts.fleet.nodes:
        fh.wait_until(lambda: hosts.children(node, "ivo") == [], 10,
                      "the swept device gone from %s" % node.url)
    for env in hosts.hosts:
        wait_shown(env, "ivo", lambda u: u.get("last_login") ==
                   iso(later) and u.get("devices") == 0,
                   "the last login after the sweep")



@pytest.mark.hosts(device={"scope": "fleet"})
def test_fleet_devices_revoked_together_leave_the_latest_use(hosts):
    """`device revoke USER --all` with [device] scope = fleet: the
    latest last use of the devices revoked stays in mfadLastLogin."""
    old = int(time.time()) - 86400
    two_devices_used(hosts, "jup", old, [old + 300, old + 200])
    hosts.b.ctl_ok("device", "revoke", "jup", "--all")
    hosts.wait_both("jup", "mfadLastLogin", lambda v: v == [str(old + 300)])
    for env in hosts.hosts:
        wait_shown(env, "jup", lambda u: u.get("last_login") ==
                   iso(old + 300) and u.get("devices") == 0,
                   "the last login after the revoke")

# Providers down ------------------------------------------------------------


def test_one_provider_stopped_both_hosts_go_on(hosts):
    """Either provider stopped: both hosts log people in through the
    other one (A's own provider first, then B's)."""
    enrolled(hosts, "ines")
    for node in hosts.fleet.nodes:
        node.stop()
        try:
            for env in hosts.hosts:
                assert try_full_login(env, "ines"), \
                    "%s refused with %s stopped" % (env.name, node.url)
        finally:
            node.proc = None
            node.start()


def test_status_names_the_provider_that_answers(hosts):
    """`mfadctl status` says which provider answered: A's own first;
    with it stopped, the second; with both stopped, the URIs tried."""
    enrolled(hosts, "nils")
    first, second = (n.url.rstrip("/") for n in hosts.fleet.nodes)
    env = hosts.a
    out = env.ctl_ok("status")
    assert "directory        answering (%s)\n" % first in out, out
    st = env.ctl_json("status")
    assert st["directory"] == "answering" and st["directory_uri"] == first
    assert "directory_tried" not in st
    hosts.fleet.a.stop()
    out = env.ctl_ok("status")
    assert "directory        answering (%s)\n" % second in out, out
    st = env.ctl_json("status")
    assert st["directory_uri"] == second, st
    assert st["accounts"] >= 1
    hosts.fleet.b.stop()
    out = env.ctl_ok("status")
    assert "directory        unreachable (tried %s, %s)\n" % (
        first, second) in out, out
    st = env.ctl_json("status")
    assert st["directory"] == "unreachable" and st["accounts"] is None
    assert st["directory_uri"] is None
    assert st["directory_tried"] == [first, second]
    hosts.fleet.b.proc = None
    hosts.fleet.b.start()
    mh.wait_until(lambda: "answering (%s)" % second in env.ctl_ok("status"),
                  20, "B answering again")


@pytest.mark.slow
def test_first_provider_frozen_host_goes_on_through_the_second(hosts):
    """A's own provider frozen (SIGSTOP: it accepts connections and
    never answers): within [directory] timeout A gives it up and logs
    people in through the second provider."""
    enrolled(hosts, "jade")
    hosts.a.full_login("jade")          # a live connection to freeze
    hosts.fleet.a.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        assert try_full_login(hosts.a, "jade")
        took = time.monotonic() - t0
        assert took < mh.TIMEOUT, took
        assert try_full_login(hosts.a, "jade")
    finally:
        hosts.fleet.a.proc.send_signal(signal.SIGCONT)


def test_both_providers_stopped_fail_closed_and_recover(hosts):
    """No provider: both hosts refuse with "unavailable"
    (PAM_AUTHINFO_UNAVAIL) and mail nothing; when one provider comes
    back, the same mfad processes serve logins again."""
    addr = enrolled(hosts, "kai")
    pids = [env.mfad.proc.pid for env in hosts.hosts]
    for node in hosts.fleet.nodes:
        node.stop()
    codes = [env.smtp.count(addr, mh.has_code) for env in hosts.hosts]
    for env in hosts.hosts:
        unavailable_login(env, "kai")
    assert [env.smtp.count(addr, mh.has_code) for env in hosts.hosts] == \
        codes
    assert all(env.mfad.running for env in hosts.hosts)

    hosts.fleet.b.proc = None
    hosts.fleet.b.start()
    for env in hosts.hosts:
        mh.wait_until(lambda: try_full_login(env, "kai"), 20,
                      "a login on %s" % env.name)
    assert [env.mfad.proc.pid for env in hosts.hosts] == pids
    assert all(env.mfad.running for env in hosts.hosts)


# Import ----------------------------------------------------------------------


def test_import_on_a_people_log_in_on_b(hosts):
    """`mfadctl import` on A, with a password hash made elsewhere: the
    people log in on B; a row of no person in the directory is refused
    and stops nothing."""
    hosts.add_people("lena", "marc")
    pw_hash = argon2.PasswordHasher(time_cost=1, memory_cost=8,
                                    parallelism=1).hash(PASSWORD)
    q = '"%s"' % pw_hash
    rc, out, err = hosts.a.ctl(
        "--json", "import", "-",
        input="lena,lena@example.org,fr,%s\n"
              "nobody-here,nobody-here@example.org,en,%s\n"
              "marc,marc@example.org,en,%s\n" % (q, q, q))
    rows = json.loads(out) if out else []
    assert rc == mh.CTL_REFUSED, (rc, out, err)
    assert [(r["line"], r["user"], "result" in r) for r in rows] == \
        [(1, "lena", True), (2, "nobody-here", False), (3, "marc", True)], \
        rows
    for uid in ("lena", "marc"):
        wait_shown(hosts.b, uid, lambda u: u.get("state") == "active",
                   "%s imported" % uid)
        hosts.b.full_login(uid)
    assert shown(hosts.b, "lena")["lang"] == "fr"
    assert shown(hosts.b, "nobody-here") == {}


# The empty-password path's mail throttle ---------------------------------------


# A wrong code, then Enter until the module gives up (as
# tests/pam/test_reset_path.py): with resend_interval 0 and max_sends 3
# two codes are resent, then mfad throttles.
RESEND_ANSWERS = ["000000", "", "", "", "", "", ""]
THROTTLE_OU = "ou=mfad-throttle," + fh.PEOPLE


def reset_conversation(env, uid, addr, answers=RESEND_ANSWERS):
    """One empty-password login of uid typing addr, code prompts answered
    in turn; its transcript, the seconds of a wait left out (the two
    conversations compared run one after the other)."""
    login = env.login(uid)
    left = list(answers)
    while True:
        style, text = login.next()
        if style == "RESULT":
            break
        if style not in login.PROMPTS:
            continue
        if text == mh.PROMPT_EMAIL:
            login.answer(addr)
        elif text == mh.PROMPT_PASSWORD:
            login.answer("")
        elif text == mh.PROMPT_CODE:
            assert left, "more code prompts than answers\n" + login.dump()
            login.answer(left.pop(0))
        else:
            raise AssertionError("unexpected prompt %r\n%s" %
                                 (text, login.dump()))
    login.close()
    return [re.sub(r"\d+ seconds", "N seconds", line)
            for line in login.transcript]


def throttle_entries(fleet, node):
    """The throttle records on node, as the administrator reads them:
    [(dn, values)]."""
    c = fleet.conn(node)
    try:
        c.search(THROTTLE_OU, "(objectClass=mfadThrottle)", ldap3.LEVEL,
                 attributes=["*"])
        return [(e.entry_dn, e.entry_attributes_as_dict) for e in c.entries]
    finally:
        c.unbind()


@pytest.mark.hosts(code={"resend_interval": 0, "max_sends": 3})
def test_empty_password_mail_allowance_is_the_fleets(hosts):
    """The codes the empty-password path mailed for a user and a typed
    address on host A count on host B: B mails none. The conversation of
    a user with no person in the directory is the same as an enrolled
    one's on both hosts (their addresses mask alike)."""
    real = enrolled(hosts, "throa")
    cases = [("throa", real), ("throb", addr_of("throb"))]
    # The module's providers outlive a test: records of earlier ones.
    before = {dn for dn, _ in throttle_entries(hosts.fleet, hosts.fleet.a)}
    got = [reset_conversation(hosts.a, u, a) for u, a in cases]
    assert got[0] == got[1], "\n\n".join("\n".join(t) for t in got)
    lines = "\n".join(got[0])
    assert "Too many requests" in lines, lines
    sent = 1 + lines.count("A new code was sent")
    assert sent == 3, lines
    mh.wait_until(lambda: hosts.a.smtp.count(real, mh.has_code) == sent,
                  what="the codes mailed on A")
    # In the directory, one record per (user, address) and per user, for
    # the unknown user too, an entry a send named by the record's key and
    # the send; the sends are host A's; no name shows.
    recs = {}
    for dn, attrs in throttle_entries(hosts.fleet, hosts.fleet.a):
        if dn in before:
            continue
        rdn = dn.split(",", 1)[0]
        m = re.fullmatch(r"mfadThrottleId=([0-9a-f]{64})"
                         r"\+mfadThrottleSend=(\d+:host-a:[0-9a-f]{8})", rdn)
        assert m, dn
        assert attrs["mfadThrottleId"] == [m.group(1)]
        assert attrs["mfadThrottleSend"] == [m.group(2)]
        recs.setdefault(m.group(1), []).append(dn)
    assert len(recs) == 4, recs
    assert all(len(dns) == sent for dns in recs.values()), recs
    # On B, through its own provider, the allowance is spent.
    def on_b():
        got_b = dict(throttle_entries(hosts.fleet, hosts.fleet.b))
        return all(dn in got_b for dns in recs.values() for dn in dns)
    fh.wait_until(on_b, 10, "the records on B's provider")
    got_b = [reset_conversation(hosts.b, u, a) for u, a in cases]
    assert got_b[0] == got_b[1], "\n\n".join("\n".join(t) for t in got_b)
    lines_b = "\n".join(got_b[0])
    # Refused at the start: no code prompt, no mail.
    assert "Too many codes were requested" in lines_b, lines_b
    assert mh.PROMPT_CODE not in lines_b, lines_b
    assert hosts.b.smtp.count(real, mh.has_code) == 0
    assert hosts.a.smtp.count(real, mh.has_code) == sent


# Size ------------------------------------------------------------------------


@pytest.mark.slow
def test_status_and_user_list_past_the_directory_size_limit(hosts):
    """More accounts than one search may return (slapd's default size
    limit, 500, which the providers keep): `status` counts them and `user
    list` shows them all on either host, through paged searches and the
    hosts' size.prtotal of conf/ldap/mfad-acl.conf. The accounts are
    written to the directory as another host would have left them."""
    n = 700
    c = hosts.fleet.conn(hosts.fleet.a)
    try:
        for i in range(n):
            dn, oc, attrs = fh.person("many%04d" % i, mfadState="active",
                                      mfadCreated="1764547200")
            assert c.add(dn, oc, attrs), c.result
    finally:
        c.unbind()
    hosts.fleet.wait_replicated(hh.dn_of("many%04d" % (n - 1)))
    for env in hosts.hosts:
        count = env.ctl_json("status")["accounts"]
        assert count >= n
        listed = [u["user"] for u in env.ctl_json("user", "list")]
        assert listed == sorted(set(listed)) and len(listed) == count
        assert {"many%04d" % i for i in range(n)} <= set(listed)
