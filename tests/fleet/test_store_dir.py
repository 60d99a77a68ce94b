"""mfad's store with its directory backend (mfad/mfad_store_dir*.c)
through two real slapd providers, driven by tests/fleet/store_driver: the
account's fields as conf/ldap/README maps them, one account per person
and per address, the counters as values that writes made at once on both
providers all keep, a recovery code used once, remembered devices as
child entries, and the store failing closed (MSS_ERR_UNAVAIL) while no
provider answers, then working again by itself."""

import os
import secrets
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


THROTTLE_OU = "ou=mfad-throttle," + h.PEOPLE


def throttle(s, cmd):
    """The record a thr_ command answered: (count, [times])."""
    n, sends = s.ok(cmd)
    sends = sends.split("=", 1)[1]
    return (int(n.split("=", 1)[1]),
            [] if sends == "-" else [int(t) for t in sends.split(",")])


def test_throttle_records_across_providers(fleet, stores):
    """A record of the empty-password path: added by its first send (the
    container too, the first time), one value per send, the same record
    for both hosts through either provider; old values deleted by value;
    no put, which would replace what the other host added."""
    a = stores([fleet.a.url])
    b = stores([fleet.b.url], host="host-b", bind=h.HOST_B_DN)
    key, now = hexkey(), int(time.time())
    assert a.ask("thr_get %s" % key) == (False, NOTFOUND)
    assert throttle(a, "thr_add %s %d" % (key, now - 4000)) == \
        (1, [now - 4000])
    dn = "mfadThrottleId=%s,%s" % (key, THROTTLE_OU)
    e = entry(fleet, dn)
    assert e["mfadThrottleId"] == [key]
    assert e["objectClass"] == ["mfadThrottle"]
    fleet.wait_replicated(dn)
    h.wait_until(lambda: b.ask("thr_get %s" % key)[0], 10, "record on B")
    # B's send goes into the same entry; the one past the hour goes.
    assert throttle(b, "thr_add %s %d" % (key, now - 10)) == \
        (1, [now - 10])
    h.wait_until(lambda: throttle(a, "thr_get %s" % key) == (1, [now - 10]),
                 10, "B's send and prune on A")
    assert throttle(a, "thr_add %s %d" % (key, now)) == (2, [now - 10, now])
    vals = entry(fleet, dn)["mfadThrottleSend"]
    assert len(vals) == 2
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
    vals = entry(fleet, "mfadThrottleId=%s,%s" % (key, THROTTLE_OU))
    assert len(set(vals["mfadThrottleSend"])) == 2 * n


def test_throttle_sweep(fleet, stores):
    """The sweep deletes the records with no send in the window and the
    old values of the others."""
    a = stores([fleet.a.url])
    old, live, now = hexkey(), hexkey(), int(time.time())
    a.ok("thr_add %s %d" % (old, now - 7200))
    a.ok("thr_add %s %d" % (live, now - 7200))
    a.ok("thr_add %s %d" % (live, now - 5))
    got = int(a.ok("sweep %d" % now)[0])
    assert got >= 1
    assert a.ask("thr_get %s" % old) == (False, NOTFOUND)
    assert throttle(a, "thr_get %s" % live) == (1, [now - 5])
    assert len(entry(fleet, "mfadThrottleId=%s,%s" %
                     (live, THROTTLE_OU))["mfadThrottleSend"]) == 1


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
