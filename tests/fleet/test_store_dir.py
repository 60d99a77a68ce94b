"""mfad's store with its directory backend (mfad/mfad_store_dir*.c)
through two real slapd providers, driven by tests/fleet/store_driver: the
account's fields as conf/ldap/README maps them, one account per person
and per address, the counters as values that writes made at once on both
providers all keep, a recovery code used once, remembered devices as
child entries, the store failing closed (MSS_ERR_UNAVAIL) while no
provider answers, then working again by itself, and the accounts listed
and counted in pages past slapd's default size limit."""

import os
import secrets
import socket
import threading
import time
from pathlib import Path

import ldap3
import pytest

import fleet_harness as h

BUILDDIR = Path(os.environ.get("MSS_BUILDDIR", h.SRC / "build"))
DRIVER = BUILDDIR / "tests" / "fleet" / "store_driver"
TIMEOUT_MS = 1000

NOTFOUND, EXISTS, STORE, UNAVAIL = -7, -8, -11, -16
PWHASH = ("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA"
          "$qnB0H2ZpJk1sVmdzZlNobmF1b3Z0d2VhbG1vc3R0aGVyZQ")


class Store(h.DriverProc):
    """One store_driver process: a local LMDB and the directory."""

    def __init__(self, fleet, uris, pw_file, host="host-a",
                 bind=h.HOST_A_DN, scope="fleet"):
        tag = "%s-%d" % (host, time.monotonic_ns())
        self.db = fleet.tmp / ("store-" + tag)
        args = ["-d", str(self.db), "-b", h.PEOPLE,
                "-D", bind, "-y", str(pw_file), "-c", str(fleet.ca),
                "-t", str(TIMEOUT_MS), "-H", host, "-s", scope]
        for u in uris:
            args += ["-u", u]
        super().__init__(fleet, DRIVER, args, "store-" + tag)
        assert self.proc.stdout.readline().strip() == "ready", self.log()

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def reply(self):
        line = self.proc.stdout.readline()
        assert line, "driver died:\n" + self.log()
        return line.split()

    def ask(self, cmd):
        """(True, [words]) or (False, code)"""
        self.send(cmd)
        w = self.reply()
        if w[0] == "ok":
            return True, w[1:]
        return False, int(w[1])

    def ok(self, cmd):
        ok, rest = self.ask(cmd)
        assert ok, "%s: error %s\n%s" % (cmd, rest, self.log())
        return rest

    def acct(self, cmd):
        """The account a command answered, as a dict."""
        return dict(kv.split("=", 1) for kv in self.ok(cmd))



@pytest.fixture
def stores(fleet, pw_file):
    """store(uris, **kw) opens a driver, closed after the test."""
    made = []

    def make(uris=None, **kw):
        s = Store(fleet, uris or [fleet.a.url, fleet.b.url], pw_file, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def add_person(fleet, uid, **extra):
    """A person the directory's own tools made (no mfadAccount)."""
    c = fleet.conn(fleet.a)
    dn, oc, attrs = h.person(uid, mfad=False, **extra)
    assert c.add(dn, oc, attrs), c.result
    c.unbind()
    fleet.wait_replicated(dn)
    return dn


def entry(fleet, dn, node=None):
    """The entry's attributes as the administrator reads them, or None."""
    c = fleet.conn(node or fleet.a)
    try:
        if not c.search(dn, "(objectClass=*)", ldap3.BASE,
                        attributes=["*"]):
            return None
        return {k: v for k, v in
                c.entries[0].entry_attributes_as_dict.items()}
    finally:
        c.unbind()


def children(fleet, dn, node=None):
    c = fleet.conn(node or fleet.a)
    try:
        c.search(dn, "(objectClass=*)", ldap3.LEVEL, attributes=[])
        return [e.entry_dn for e in c.entries]
    finally:
        c.unbind()


def hexkey():
    return secrets.token_hex(32)


def put(s, user, email=None, lang="en", state="active", pw=PWHASH,
        created=1764547200, enrolled=1764547300, last=0, reenroll=0,
        codes=(), cur=None, old=None):
    cmd = "put %s %s %s %s %s %d %d %d %d %s %s" % (
        user, email or "%s@example.org" % user, lang, state, pw or "-",
        created, enrolled, last, reenroll, ",".join(codes) or "-",
        cur or "-")
    if old:
        cmd += " " + old
    return s.ask(cmd)


def test_round_trip_every_field(fleet, stores):
    dn = add_person(fleet, "bob", preferredLanguage="en-GB")
    a = stores()
    codes = [hexkey(), hexkey()]
    cur = hexkey()
    assert put(a, "bob", email="Bob.Smith@example.org", lang="fr",
               last=1764550000, reenroll=1, codes=codes, cur=cur) == \
        (True, [])
    got = a.acct("get bob")
    assert got["user"] == "bob"
    assert got["email"] == "Bob.Smith@example.org"
    assert got["lang"] == "fr"
    assert got["state"] == "active"
    assert got["pw"] == PWHASH
    assert (got["created"], got["enrolled"], got["last_login"]) == \
        ("1764547200", "1764547300", "1764550000")
    assert got["reenroll"] == "1"
    assert sorted(got["recovery"].split(",")) == sorted(codes)
    assert got["cur"] == cur
    # put wrote none of the counters the driver put in its account.
    assert (got["failures"], got["locked_until"], got["sends"]) == \
        ("0", "0", "-")
    # As conf/ldap/README says, on the other provider too.
    fleet.wait_replicated(dn)
    h.wait_until(lambda: "mfadState" in (entry(fleet, dn, fleet.b) or {}),
                 10, "account on B")
    e = entry(fleet, dn, fleet.b)
    assert "mfadAccount" in e["objectClass"]
    assert e["userPassword"] == [b"{ARGON2}" + PWHASH.encode()]
    assert e["mfadState"] == ["active"]
    assert e["mfadReenroll"] == [True]
    assert e["mfadCurrentLogin"] == ["host-a:" + cur]
    assert sorted(e["mfadRecoveryCode"]) == sorted(codes)
    assert e["cn"] == ["Bob"]          # the person's own stay
    # A login is its host's: host-b sees none, and its put keeps host-a's.
    b = stores([fleet.b.url], host="host-b", bind=h.HOST_B_DN)
    got_b = b.acct("get bob")
    assert got_b["cur"] == "-"
    assert put(b, "bob", email="Bob.Smith@example.org", lang="fr",
               state="locked", codes=codes)[0]
    h.wait_until(lambda: entry(fleet, dn)["mfadState"] == ["locked"], 10,
                 "state on A")
    assert entry(fleet, dn)["mfadCurrentLogin"] == ["host-a:" + cur]
    # host-a's put without a login removes its own.
    assert put(a, "bob", email="Bob.Smith@example.org", lang="fr",
               pw=None, state="invited")[0]
    e = entry(fleet, dn)
    assert "mfadCurrentLogin" not in e and "userPassword" not in e
    assert "mfadRecoveryCode" not in e
    got = a.acct("get bob")
    assert (got["pw"], got["state"], got["recovery"]) == \
        ("-", "invited", "-")


def test_language_region_and_other_addresses_kept(fleet, stores):
    dn = add_person(fleet, "lena", preferredLanguage="fr-CA")
    a = stores()
    assert put(a, "lena", lang="fr")[0]
    e = entry(fleet, dn)
    assert e["preferredLanguage"] == ["fr-CA"]
    assert a.acct("get lena")["lang"] == "fr"


def test_put_on_missing_person_not_found(fleet, stores):
    a = stores()
    assert put(a, "nobody") == (False, NOTFOUND)
    assert a.ask("get nobody") == (False, NOTFOUND)
    # A person without the class is no account either.
    add_person(fleet, "plain")
    assert a.ask("get plain") == (False, NOTFOUND)
    # Names are exact: the directory's uid matches without case, a login
    # name does not.
    add_person(fleet, "quinn")
    assert put(a, "quinn")[0]
    assert a.ask("get Quinn") == (False, NOTFOUND)
    assert put(a, "QUINN", email="q2@example.org") == (False, NOTFOUND)
    assert a.acct("get quinn")["email"] == "quinn@example.org"


def test_address_of_another_account_exists(fleet, stores):
    add_person(fleet, "carol")
    add_person(fleet, "chris")
    a = stores()
    assert put(a, "carol", email="shared@example.org")[0]
    assert put(a, "chris", email="SHARED@example.org") == (False, EXISTS)
    assert a.ok("by_email Shared@Example.org") == ["carol"]
    assert a.ask("by_email none@example.org") == (False, NOTFOUND)
    # Its own address again is no conflict.
    assert put(a, "carol", email="shared@example.org")[0]


def test_del_keeps_the_person(fleet, stores):
    dn = add_person(fleet, "dave")
    a = stores()
    assert put(a, "dave", codes=[hexkey()])[0]
    a.ok("fail_add dave %d 0" % int(time.time()))
    key = hexkey()
    a.ok("dev_put dave %s sshkey sshd 1764547200 1767139200 0" % key)
    assert len(children(fleet, dn)) == 1
    assert a.ok("del dave") == []
    assert a.ask("get dave") == (False, NOTFOUND)
    e = entry(fleet, dn)
    assert e is not None and e["cn"] == ["Dave"]
    assert e["mail"] == ["dave@example.org"]
    assert "mfadAccount" not in e["objectClass"]
    assert not [k for k in e if k.startswith("mfad")]
    assert "userPassword" not in e
    assert children(fleet, dn) == []
    assert a.ask("del dave") == (False, NOTFOUND)
    # And it can become an account again.
    assert put(a, "dave")[0]
    assert a.acct("get dave")["failures"] == "0"


def test_concurrent_failures_on_both_providers_all_counted(fleet, stores):
    """N failures through each provider at once, from two hosts (eight
    threads on A's four connections, four on B's): after replication
    both count all of them."""
    add_person(fleet, "erin")
    a = stores([fleet.a.url])
    b = stores([fleet.b.url], host="host-b", bind=h.HOST_B_DN)
    assert put(a, "erin")[0]
    fleet.wait_replicated("uid=erin," + h.PEOPLE)
    h.wait_until(lambda: b.ask("get erin")[0], 10, "account on B")
    n, now = 40, int(time.time())
    a.send("fail_many erin %d 8 %d" % (n, now))
    b.send("fail_many erin %d 4 %d" % (n, now))
    assert a.reply() == ["ok", "errors=0"], a.log()
    assert b.reply() == ["ok", "errors=0"], b.log()
    want = str(2 * n)
    h.wait_until(lambda: a.acct("get erin")["failures"] == want and
                 b.acct("get erin")["failures"] == want, 15,
                 "%s failures on both" % want)
    # Both hosts' values, one each.
    vals = entry(fleet, "uid=erin," + h.PEOPLE)["mfadFailure"]
    assert len(set(vals)) == 2 * n
    assert sum(":host-a:" in v for v in vals) == n
    assert sum(":host-b:" in v for v in vals) == n


def test_counters_lock_and_notices(fleet, stores):
    add_person(fleet, "gina")
    a = stores()
    assert put(a, "gina")[0]
    now = int(time.time())
    got = a.acct("fail_add gina %d %d" % (now, now + 100))
    assert (got["failures"], got["locked_until"]) == ("1", str(now + 100))
    # An earlier lock does not shorten it.
    got = a.acct("fail_add gina %d %d" % (now, now + 50))
    assert (got["failures"], got["locked_until"]) == ("2", str(now + 100))
    # A lock that ran out ends first.
    got = a.acct("fail_add gina %d 0" % (now + 200))
    assert (got["failures"], got["locked_until"]) == ("3", "0")
    got = a.acct("fail_add gina %d %d" % (now, now + 300))
    assert got["locked_until"] == str(now + 300)
    assert a.acct("notice_set gina lock 100")["lock_noticed"] == "100"
    assert a.acct("notice_set gina lock 50")["lock_noticed"] == "100"
    assert a.acct("notice_set gina throttle 70")["throttle_noticed"] == \
        "70"
    got = a.acct("failures_clear gina")
    assert (got["failures"], got["locked_until"], got["lock_noticed"],
            got["throttle_noticed"]) == ("0", "0", "0", "70")
    e = entry(fleet, "uid=gina," + h.PEOPLE)
    assert "mfadFailure" not in e and "mfadLockedUntil" not in e
    # A put after an event with other counters in its account changes
    # none of them.
    a.ok("fail_add gina %d 0" % now)
    assert put(a, "gina", state="locked")[0]
    got = a.acct("get gina")
    assert (got["failures"], got["state"]) == ("1", "locked")


def test_sends_window(fleet, stores):
    add_person(fleet, "hugo")
    a = stores()
    assert put(a, "hugo")[0]
    now = int(time.time())
    a.ok("send_add hugo %d" % (now - 4000))
    a.ok("send_add hugo %d" % (now - 10))
    got = a.acct("send_add hugo %d" % now)
    assert got["sends"] == "%d,%d" % (now - 10, now)
    # The one past the hour was deleted by value.
    assert len(entry(fleet, "uid=hugo," + h.PEOPLE)["mfadSend"]) == 2
    assert a.acct("get hugo")["sends"] == "%d,%d" % (now - 10, now)
    # An unlock's clear deletes them, and only them.
    assert a.acct("sends_clear hugo")["sends"] == "-"
    assert "mfadSend" not in entry(fleet, "uid=hugo," + h.PEOPLE)
    assert a.acct("send_add hugo %d" % now)["sends"] == str(now)


def test_failures_clear_keeps_one_added_meanwhile(both, stores):
    """A clear deletes the failures it read: one counted meanwhile on the
    other provider (here during a partition) survives the merge."""
    fleet = both
    dn = add_person(fleet, "ivan")
    a = stores([fleet.a.url])
    b = stores([fleet.b.url], host="host-b", bind=h.HOST_B_DN)
    assert put(a, "ivan")[0]
    now = int(time.time())
    for _ in range(3):
        a.ok("fail_add ivan %d 0" % now)
    h.wait_until(lambda: b.ask("get ivan")[0] and
                 b.acct("get ivan")["failures"] == "3", 10, "3 on B")
    fleet.a.stop()
    assert b.acct("fail_add ivan %d 0" % now)["failures"] == "4"
    fleet.b.stop()
    fleet.a.start()
    got = a.acct("failures_clear ivan")
    assert got["failures"] == "0"
    fleet.b.start()
    h.wait_until(lambda: a.acct("get ivan")["failures"] == "1" and
                 b.acct("get ivan")["failures"] == "1", 15,
                 "the failure of the partition on both")
    vals = entry(fleet, dn)["mfadFailure"]
    assert len(vals) == 1 and ":host-b:" in vals[0]


def test_login_clear_keeps_a_lock_that_holds(fleet, stores):
    """The clear of a login that succeeded ends the failures, and the
    lock only when it ran out: a lock that holds was written after the
    login's decision (by another host). Nothing is replaced: each value
    goes by value, so a lock written meanwhile on the other provider
    stays."""
    add_person(fleet, "karl")
    a = stores()
    assert put(a, "karl")[0]
    now = int(time.time())
    a.ok("fail_add karl %d %d" % (now, now + 600))
    a.ok("notice_set karl lock %d" % now)
    got = a.acct("login_clear karl %d" % now)
    assert (got["failures"], got["locked_until"], got["lock_noticed"]) == \
        ("0", str(now + 600), str(now))
    e = entry(fleet, "uid=karl," + h.PEOPLE)
    assert "mfadFailure" not in e
    assert e["mfadLockedUntil"] == [now + 600]
    # Ran out by then: the lock and its notice go too.
    a.ok("fail_add karl %d 0" % now)
    got = a.acct("login_clear karl %d" % (now + 600))
    assert (got["failures"], got["locked_until"], got["lock_noticed"]) == \
        ("0", "0", "0")
    e = entry(fleet, "uid=karl," + h.PEOPLE)
    assert not {"mfadFailure", "mfadLockedUntil", "mfadLockNoticed"} & \
        set(e)
    assert a.ask("login_clear nobody %d" % now) == (False, NOTFOUND)


def test_locks_at_once_on_both_providers_agree(both, stores):
    """Two hosts lock one account at the same moment on their own
    providers: each adds its lock time, so that both providers end with
    both values (a replace on each could leave them different for good,
    each with the other's value), and the latest holds on both; an unlock
    on one host then ends the lock on both."""
    fleet = both
    dn = add_person(fleet, "leif")
    a = stores([fleet.a.url])
    b = stores([fleet.b.url], host="host-b", bind=h.HOST_B_DN)
    assert put(a, "leif")[0]
    h.wait_until(lambda: b.ask("get leif")[0], 10, "leif on B")
    for k in range(5):
        now = int(time.time())
        got = {}
        ts = [threading.Thread(target=lambda s=s, t=t: got.update(
            {t: s.acct("fail_add leif %d %d" % (now, now + 600 + t))}))
            for s, t in ((a, 0), (b, 1))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        # Each value a lock (A adds none when it read B's later one
        # first); the latest holds.
        def agree():
            va = sorted(entry(fleet, dn).get("mfadLockedUntil", []))
            vb = sorted(entry(fleet, dn, fleet.b).get("mfadLockedUntil",
                                                      []))
            return va == vb and va[-1:] == [now + 601]
        try:
            h.wait_until(agree, 10, "round %d: both providers agree" % k)
        except AssertionError:
            raise AssertionError("round %d, locks at %d: A has %r, B %r" % (
                k, now + 600, entry(fleet, dn).get("mfadLockedUntil"),
                entry(fleet, dn, fleet.b).get("mfadLockedUntil")))
        assert a.acct("get leif")["locked_until"] == str(now + 601)
        assert b.acct("get leif")["locked_until"] == str(now + 601)
        assert a.acct("failures_clear leif")["locked_until"] == "0"
        for node in fleet.nodes:
            h.wait_until(lambda: "mfadLockedUntil" not in entry(
                fleet, dn, node), 10,
                "round %d: the unlock on %s" % (k, node.url))


def test_recovery_code_used_once(fleet, stores):
    add_person(fleet, "jill")
    a = stores([fleet.a.url])
    b = stores([fleet.b.url], host="host-b", bind=h.HOST_B_DN)
    c1, c2, c3 = hexkey(), hexkey(), hexkey()
    assert put(a, "jill", codes=[c1, c2])[0]
    got = a.acct("recovery_take jill %s" % c1)
    assert got["recovery"] == c2
    assert a.ask("recovery_take jill %s" % c1) == (False, NOTFOUND)
    assert a.ask("recovery_take jill %s" % c3) == (False, NOTFOUND)
    # After replication, not on the other provider either.
    h.wait_until(lambda: b.ask("get jill")[0] and
                 b.acct("get jill")["recovery"] == c2, 10, "use on B")
    assert b.ask("recovery_take jill %s" % c1) == (False, NOTFOUND)
    assert b.acct("recovery_take jill %s" % c2)["recovery"] == "-"
    h.wait_until(lambda: a.acct("get jill")["recovery"] == "-", 10,
                 "use on A")
    assert a.ask("recovery_take jill %s" % c2) == (False, NOTFOUND)
    assert a.ask("recovery_take nobody %s" % c2) == (False, NOTFOUND)


def test_both_down_unavailable_then_recovers(both, stores):
    fleet = both
    add_person(fleet, "kate")
    a = stores()
    assert put(a, "kate")[0]
    assert a.ok("get kate")
    fleet.a.stop()
    fleet.b.stop()
    for cmd in ("get kate", "fail_add kate %d 0" % int(time.time()),
                "by_email kate@example.org", "count",
                "dev_list kate"):
        t0 = time.monotonic()
        assert a.ask(cmd) == (False, UNAVAIL), cmd
        assert time.monotonic() - t0 < 2 * TIMEOUT_MS / 1000 + 1, cmd
    # Logged, a line a minute for each kind, not lines for every call.
    log = a.log()
    print(log)
    assert log.count("failing closed") == 1
    assert 1 <= log.count("Can't contact LDAP server") <= 2
    # One back: the next call connects by itself, without a reopen.
    fleet.b.start()
    assert a.acct("get kate")["state"] == "active"
    fleet.a.start()


def test_failover_to_second_provider(both, stores):
    fleet = both
    add_person(fleet, "lars")
    a = stores([fleet.a.url, fleet.b.url])
    assert put(a, "lars")[0]
    fleet.wait_replicated("uid=lars," + h.PEOPLE)
    h.wait_until(lambda: "mfadState" in entry(fleet, "uid=lars," + h.PEOPLE,
                                              fleet.b), 10, "on B")
    fleet.a.kill()
    assert a.acct("get lars")["state"] == "active"
    got = a.acct("fail_add lars %d 0" % int(time.time()))
    assert got["failures"] == "1"
    assert entry(fleet, "uid=lars," + h.PEOPLE, fleet.b)["mfadFailure"]


def test_devices_in_the_directory(fleet, stores):
    dn = add_person(fleet, "mona")
    a = stores()
    assert put(a, "mona")[0]
    keys = sorted(hexkey() for _ in range(3))
    for i, k in enumerate(reversed(keys)):
        a.ok("dev_put mona %s sshkey sshd %d 1767139200 0" %
             (k, 1764547200 + i))
    got = a.ok("dev_get mona %s" % keys[0])
    assert got == ["%s:sshkey:sshd:1764547202:1767139200:0" % keys[0]]
    listed = a.ok("dev_list mona")[0].split(",")
    assert [x.split(":")[0] for x in listed] == keys
    # After an id (its first 8 bytes): the ones above it.
    after = a.ok("dev_list mona %s" % keys[0])[0].split(",")
    assert [x.split(":")[0] for x in after] == keys[1:]
    # A put again replaces it.
    a.ok("dev_put mona %s tty - 1764547200 1767139999 1764549999" %
         keys[1])
    assert a.ok("dev_get mona %s" % keys[1]) == \
        ["%s:tty:-:1764547200:1767139999:1764549999" % keys[1]]
    e = entry(fleet, "mfadDeviceId=%s,%s" % (keys[1], dn))
    assert e["mfadHost"] == ["host-a"]
    assert "mfadService" not in e
    assert a.ok("dev_del mona %s" % keys[1]) == []
    assert a.ask("dev_del mona %s" % keys[1]) == (False, NOTFOUND)
    assert a.ask("dev_get mona %s" % keys[1]) == (False, NOTFOUND)
    # Another host sees them (scope fleet).
    b = stores([fleet.b.url], host="host-b", bind=h.HOST_B_DN)
    h.wait_until(lambda: b.ok("dev_list mona") != ["-"] and
                 len(b.ok("dev_list mona")[0].split(",")) == 2, 10,
                 "devices on B")
    assert b.ok("dev_revoke mona") == ["2"]
    assert b.ok("dev_list mona") == ["-"]
    assert a.ok("dev_list nobody") == ["-"]
    assert a.ok("dev_revoke nobody") == ["0"]


def test_devices_stay_local_with_scope_host(fleet, stores):
    dn = add_person(fleet, "nina")
    a = stores(scope="host")
    assert put(a, "nina")[0]
    k = hexkey()
    a.ok("dev_put nina %s sshkey sshd 1764547200 1767139200 0" % k)
    assert a.ok("dev_get nina %s" % k)[0].startswith(k)
    assert children(fleet, dn) == []
    # The account's delete takes the local ones too.
    assert a.ok("del nina") == []
    assert a.ok("dev_list nina") == ["-"]


def test_list_and_count(fleet, stores):
    a = stores()
    for u in ("zed", "yan", "xia"):
        add_person(fleet, u)
        assert put(a, u)[0]
    n = int(a.ok("count")[0])
    names = []
    after = "-"
    while True:
        words = a.ok("list %s 2" % after)
        more = words[-1]
        page = [] if words[0] == "-" else words[0].split(",")
        assert len(page) <= 2
        names += page
        if more == "more=0":
            break
        after = page[-1]
    assert names == sorted(names)
    assert len(names) == n
    assert {"xia", "yan", "zed"} <= set(names)


def test_malformed_value_is_a_store_error(fleet, stores):
    dn = add_person(fleet, "olga")
    a = stores()
    assert put(a, "olga")[0]
    c = fleet.conn(fleet.a)
    assert c.modify(dn, {"mfadState": [(ldap3.MODIFY_REPLACE,
                                        ["sleeping"])]}), c.result
    c.unbind()
    assert a.ask("get olga") == (False, STORE)
    assert "uid=olga,%s: malformed mfadState" % h.PEOPLE in a.log()
    # The password hash never reaches the log.
    assert PWHASH not in a.log()


def test_sweep_takes_expired_devices_from_the_directory(both, stores):
    """One step of the directory's sweep (mfad_store_dir_sweep): the
    devices of any account whose mfadExpires is now or earlier go, from
    both providers, at most the budget at a time; the others stay. An
    expiry set in the directory itself counts as the store's own. A host
    that finds nothing left (another swept first) is fine, and with no
    provider the step fails UNAVAIL and works again later."""
    fleet = both
    now = int(time.time())
    dns = {u: add_person(fleet, u) for u in ("sven", "rosa")}
    a = stores()
    for u in dns:
        assert put(a, u)[0]
    # What earlier tests left expired goes first.
    assert a.ok("dev_sweep %d 1000" % now)[1] == "more=0"
    k = {n: hexkey() for n in ("gone1", "gone2", "now", "edited", "stay",
                               "other_gone", "other_stay")}
    dev = {n: "mfadDeviceId=%s,%s" % (
        key, dns["rosa" if n.startswith("other") else "sven"])
        for n, key in k.items()}
    for n, exp in (("gone1", now - 86400), ("gone2", now - 1), ("now", now),
                   ("edited", now + 86400 * 30), ("stay", now + 1),
                   ("other_gone", now - 5),
                   ("other_stay", now + 86400 * 30)):
        user = "rosa" if n.startswith("other") else "sven"
        a.ok("dev_put %s %s sshkey sshd %d %d 0" % (user, k[n], now - 90000,
                                                     exp))
    # Thirty days pass for one of them: its expiry written directly.
    c = fleet.conn(fleet.a)
    assert c.modify(dev["edited"], {"mfadExpires": [
        (ldap3.MODIFY_REPLACE, [str(now - 60)])]}), c.result
    c.unbind()
    gone = {"gone1", "gone2", "now", "edited", "other_gone"}
    for n in k:
        fleet.wait_replicated(dev[n])
    # A budget of 3 leaves 2 for the next step.
    assert a.ok("dev_sweep %d 3" % now) == ["3", "more=1"]
    assert a.ok("dev_sweep %d 3" % now) == ["2", "more=0"]
    assert a.ok("dev_sweep %d 3" % now) == ["0", "more=0"]
    for node in fleet.nodes:
        h.wait_until(lambda: all(entry(fleet, dev[n], node) is None
                                 for n in gone), 10,
                     "expired devices gone from %s" % node.url)
        for n in set(k) - gone:
            assert entry(fleet, dev[n], node) is not None, (n, node.url)
    assert a.ask("dev_get sven %s" % k["gone1"]) == (False, NOTFOUND)
    assert a.ok("dev_get sven %s" % k["stay"])[0].startswith(k["stay"])
    assert a.ok("dev_get rosa %s" % k["other_stay"])
    # Another host, on the other provider: nothing left to do.
    b = stores([fleet.b.url], host="host-b", bind=h.HOST_B_DN)
    assert b.ok("dev_sweep %d 100" % now) == ["0", "more=0"]
    # A second later the one at now + 1 expires too, on B this time.
    assert b.ok("dev_sweep %d 100" % (now + 1)) == ["1", "more=0"]
    h.wait_until(lambda: entry(fleet, dev["stay"], fleet.a) is None, 10,
                 "swept on B, gone from A")
    assert entry(fleet, dev["other_stay"], fleet.a) is not None
    assert entry(fleet, dev["edited"], fleet.b) is None
    # No provider: UNAVAIL, and the next step works once one is back.
    c = fleet.conn(fleet.a)
    assert c.modify(dev["other_stay"], {"mfadExpires": [
        (ldap3.MODIFY_REPLACE, [str(now - 60)])]}), c.result
    c.unbind()
    fleet.a.stop()
    fleet.b.stop()
    assert a.ask("dev_sweep %d 100" % now) == (False, UNAVAIL)
    fleet.a.start()
    assert a.ok("dev_sweep %d 100" % now) == ["1", "more=0"]
    assert entry(fleet, dev["other_stay"], fleet.a) is None


THROTTLE_OU = "ou=mfad-throttle," + h.PEOPLE


def throttle_entries(fleet, key, node=None):
    """The entries of key's record on node, as the administrator reads
    them: {dn: attributes}."""
    c = fleet.conn(node or fleet.a)
    try:
        c.search(THROTTLE_OU, "(mfadThrottleId=%s)" % key, ldap3.LEVEL,
                 attributes=["*"])
        return {e.entry_dn: e.entry_attributes_as_dict for e in c.entries}
    finally:
        c.unbind()


def throttle_values(fleet, key, node=None):
    """The send values of key's record on node, every entry's."""
    return sorted(v for attrs in throttle_entries(fleet, key, node).values()
                  for v in attrs.get("mfadThrottleSend", []))


def throttle(s, cmd):
    """The record a thr_ command answered: (count, [times])."""
    n, sends = s.ok(cmd)
    sends = sends.split("=", 1)[1]
    return (int(n.split("=", 1)[1]),
            [] if sends == "-" else [int(t) for t in sends.split(",")])


def test_throttle_records_across_providers(fleet, stores):
    """A record of the empty-password path: an entry per send, named by
    the key and the send (the container added by the first, the first
    time), the same record for both hosts through either provider; old
    sends deleted; no put, which would replace what the other host
    added."""
    a = stores([fleet.a.url])
    b = stores([fleet.b.url], host="host-b", bind=h.HOST_B_DN)
    key, now = hexkey(), int(time.time())
    assert a.ask("thr_get %s" % key) == (False, NOTFOUND)
    assert throttle(a, "thr_add %s %d" % (key, now - 4000)) == \
        (1, [now - 4000])
    [(dn, e)] = throttle_entries(fleet, key).items()
    assert e["mfadThrottleId"] == [key]
    assert e["objectClass"] == ["mfadThrottle"]
    [val] = e["mfadThrottleSend"]
    assert dn == "mfadThrottleId=%s+mfadThrottleSend=%s,%s" % (
        key, val, THROTTLE_OU)
    fleet.wait_replicated(dn)
    h.wait_until(lambda: b.ask("thr_get %s" % key)[0], 10, "record on B")
    # B's send counts in the same record; the one past the hour goes.
    assert throttle(b, "thr_add %s %d" % (key, now - 10)) == \
        (1, [now - 10])
    h.wait_until(lambda: throttle(a, "thr_get %s" % key) == (1, [now - 10]),
                 10, "B's send and prune on A")
    assert throttle(a, "thr_add %s %d" % (key, now)) == (2, [now - 10, now])
    ents = throttle_entries(fleet, key)
    assert len(ents) == 2
    assert all(len(e["mfadThrottleSend"]) == 1 for e in ents.values())
    vals = throttle_values(fleet, key)
    assert sorted(v.split(":")[1] for v in vals) == ["host-a", "host-b"]
    # The values are events: TIME_US:HOST:NONCE.
    assert all(int(v.split(":")[0]) // 1000000 in (now - 10, now)
               for v in vals)
    assert a.ask("thr_put %s" % key) == (False, -10)
    # Another key, another record.
    assert throttle(a, "thr_add %s %d" % (hexkey(), now)) == (1, [now])
    assert throttle(a, "thr_get %s" % key) == (2, [now - 10, now])


def test_concurrent_throttle_sends_all_counted(fleet, stores):
    """Sends at once through both providers, the first of them racing to
    add the entry: after replication every one is there."""
    a = stores([fleet.a.url])
    b = stores([fleet.b.url], host="host-b", bind=h.HOST_B_DN)
    key, n, now = hexkey(), 20, int(time.time())
    a.send("thr_many %s %d 4 %d" % (key, n, now))
    b.send("thr_many %s %d 4 %d" % (key, n, now))
    assert a.reply() == ["ok", "errors=0"], a.log()
    assert b.reply() == ["ok", "errors=0"], b.log()
    want = (2 * n, [now] * 2 * n)
    h.wait_until(lambda: throttle(a, "thr_get %s" % key) == want and
                 throttle(b, "thr_get %s" % key) == want, 15,
                 "%d sends on both" % (2 * n))
    for node in fleet.nodes:
        assert len(set(throttle_values(fleet, key, node))) == 2 * n


def test_throttle_sweep(fleet, stores):
    """The sweep deletes the sends past the window, and with them the
    records that have no other."""
    a = stores([fleet.a.url])
    old, live, now = hexkey(), hexkey(), int(time.time())
    a.ok("thr_add %s %d" % (old, now - 7200))
    a.ok("thr_add %s %d" % (live, now - 7200))
    a.ok("thr_add %s %d" % (live, now - 5))
    got = int(a.ok("sweep %d" % now)[0])
    assert got >= 1
    assert a.ask("thr_get %s" % old) == (False, NOTFOUND)
    assert throttle(a, "thr_get %s" % live) == (1, [now - 5])
    assert len(throttle_values(fleet, live)) == 1


def test_throttle_record_of_the_earlier_layout(fleet, stores):
    """An entry mfadThrottleId=HEX holding one value a send, as a fleet
    made them before each send had an entry, still counts; its old
    values go by value, then the entry with the last."""
    a = stores([fleet.a.url])
    key, now = hexkey(), int(time.time())
    a.ok("thr_add %s %d" % (hexkey(), now))     # the container
    dn = "mfadThrottleId=%s,%s" % (key, THROTTLE_OU)
    c = fleet.conn(fleet.a)
    try:
        assert c.add(dn, ["mfadThrottle"], {
            "mfadThrottleId": key,
            "mfadThrottleSend": ["%d:host-b:0000000a" % ((now - 4000) * 10**6),
                                 "%d:host-b:0000000b" % ((now - 20) * 10**6)],
        }), c.result
    finally:
        c.unbind()
    assert throttle(a, "thr_get %s" % key) == (2, [now - 4000, now - 20])
    assert throttle(a, "thr_add %s %d" % (key, now)) == (2, [now - 20, now])
    ents = throttle_entries(fleet, key)
    assert ents[dn]["mfadThrottleSend"] == [
        "%d:host-b:0000000b" % ((now - 20) * 10**6)]
    assert len(ents) == 2
    assert int(a.ok("sweep %d" % (now + 7200))[0]) >= 2
    assert a.ask("thr_get %s" % key) == (False, NOTFOUND)
    assert throttle_entries(fleet, key) == {}


def test_throttle_malformed_send_is_a_store_error(fleet, stores):
    """A record with a send mfad cannot read is refused, not counted
    short; the sweep leaves that entry alone and goes on."""
    a = stores([fleet.a.url])
    key, now = hexkey(), int(time.time())
    a.ok("thr_add %s %d" % (key, now))
    dn = "mfadThrottleId=%s+mfadThrottleSend=soon,%s" % (key, THROTTLE_OU)
    c = fleet.conn(fleet.a)
    try:
        assert c.add(dn, ["mfadThrottle"], {"mfadThrottleId": key,
                                            "mfadThrottleSend": "soon"}), \
            c.result
        assert a.ask("thr_get %s" % key) == (False, STORE)
        assert a.ask("thr_add %s %d" % (key, now)) == (False, STORE)
        assert "%s: malformed mfadThrottleSend" % dn in a.log()
        a.ok("sweep %d" % (now + 7200))
        assert list(throttle_entries(fleet, key)) == [dn]
    finally:
        c.delete(dn)
        c.unbind()


def test_throttle_fails_closed_when_down(both, stores):
    fleet = both
    a = stores()
    key = hexkey()
    a.ok("thr_add %s %d" % (key, int(time.time())))
    fleet.a.stop()
    fleet.b.stop()
    assert a.ask("thr_get %s" % key) == (False, UNAVAIL)
    assert a.ask("thr_add %s %d" % (key, int(time.time()))) == \
        (False, UNAVAIL)
    assert a.ask("sweep %d" % int(time.time())) == (False, UNAVAIL)
    fleet.a.start()
    assert throttle(a, "thr_get %s" % key)[0] == 1


# Past the size limit: last in the file, the accounts stay ----------------

# More accounts than slapd's default size limit (500), which the
# providers keep: list and count need their paged searches and the
# hosts' size.prtotal of conf/ldap/mfad-acl.conf.
MANY = 620


@pytest.fixture(scope="module")
def many(fleet):
    """MANY accounts as another host would have left them, on both."""
    names = ["pg%04d" % i for i in range(MANY)]
    c = fleet.conn(fleet.a)
    try:
        for u in names:
            dn, oc, attrs = h.person(u, mfadState="active",
                                     mfadCreated="1764547200")
            assert c.add(dn, oc, attrs), c.result
    finally:
        c.unbind()
    fleet.wait_replicated("uid=%s,%s" % (names[-1], h.PEOPLE))
    return names


def listed(s):
    """The account names from "pg" on of one `list` call (those before
    are other tests', one of them left unreadable), checked to be whole:
    sorted, each once, every one of the fixture's."""
    words = s.ok("list pf 100000")
    assert words[-1] == "more=0"
    names = words[0].split(",")
    assert names == sorted(set(names))
    assert [u for u in names if u.startswith("pg")] == \
        ["pg%04d" % i for i in range(MANY)]
    return names


@pytest.mark.slow
def test_list_and_count_past_the_size_limit(fleet, stores, many):
    for uris in ([fleet.a.url, fleet.b.url], [fleet.b.url]):
        s = stores(uris)
        assert int(s.ok("count")[0]) >= MANY
        assert set(many) <= set(listed(s))
        # A page of them as before.
        words = s.ok("list pg0299 3")
        assert words == ["pg0300,pg0301,pg0302", "more=1"]


class BreakOnce:
    """A TCP relay to a provider that closes its first connection when
    the client asks again after a large answer (a paged search's second
    page: the traffic is TLS, so sizes are all there is to see). Later
    connections pass through."""

    LARGE = 8192    # well above STARTTLS, handshake and bind; below a page

    def __init__(self, port):
        self.port = port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.url = "ldap://127.0.0.1:%d/" % self.lsock.getsockname()[1]
        self.broken = threading.Event()
        self.first = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.port))
            state = {"down": 0, "break": self.first}
            self.first = False
            for src, dst, down in ((up, c, True), (c, up, False)):
                threading.Thread(target=self._pump,
                                 args=(src, dst, down, state, c, up),
                                 daemon=True).start()

    def _pump(self, src, dst, down, state, c, up):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if down:
                    state["down"] += len(data)
                elif state["break"] and state["down"] > self.LARGE:
                    self.broken.set()
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sk in (c, up):
            try:
                sk.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.lsock.close()


@pytest.mark.slow
def test_connection_lost_between_pages_starts_over(fleet, stores, many):
    """The connection closed after the first page: the search starts
    again on a new one, and the list has each account once."""
    want = listed(stores([fleet.a.url]))
    relay = BreakOnce(fleet.a.port)
    try:
        s = stores([relay.url])
        assert listed(s) == want
        assert relay.broken.is_set()
        assert "directory: lost %s" % relay.url in s.log()
        assert int(s.ok("count")[0]) >= MANY
    finally:
        relay.close()


def test_many_accounts_at_once(fleet, stores):
    """get_many, by_email_many and put_many (an import's rows) answer
    each row as the function for one account does, past one search's
    share of names (100): exact names, a person without the class, a
    missing person, an address another account has, and an entry a put
    cut short (the class, no state) taken as no account and written
    whole."""
    a = stores()
    many = ["bulk%03d" % i for i in range(150)]
    c = fleet.conn(fleet.a)
    try:
        for u in many + ["bplain", "bhalf"]:
            dn, oc, attrs = h.person(u, mfad=False)
            assert c.add(dn, oc, attrs), c.result
        # What a put leaves when its connection is lost between its
        # class and its fields.
        assert c.modify("uid=bhalf," + h.PEOPLE, {"objectClass": [
            (ldap3.MODIFY_ADD, ["mfadAccount"])]}), c.result
    finally:
        c.unbind()
    fleet.wait_replicated("uid=bhalf," + h.PEOPLE)
    rows = " ".join("%s %s@example.org" % (u, u) for u in many)
    assert a.ok("put_many " + rows) == ["-"] * len(many)
    assert a.ok("put_many nobody-b nobody-b@example.org bplain "
                "bulk000@example.org bhalf bhalf@example.org") == \
        ["err:%d" % NOTFOUND, "err:%d" % EXISTS, "-"]
    assert a.acct("get bhalf")["state"] == "invited"
    assert a.ok("get_many " + " ".join(many)) == ["invited"] * len(many)
    assert a.ok("get_many Bulk000 bplain nobody-b bulk149 bhalf") == \
        ["err:%d" % NOTFOUND] * 3 + ["invited", "invited"]
    assert a.ok("by_email_many " + " ".join(
        "%s@EXAMPLE.org" % u for u in many)) == many
    assert a.ok("by_email_many none@example.org BHALF@example.org") == \
        ["err:%d" % NOTFOUND, "bhalf"]
    # The same through the functions for one account.
    assert a.ask("get Bulk000") == (False, NOTFOUND)
    assert a.ok("by_email bulk149@example.org") == ["bulk149"]
