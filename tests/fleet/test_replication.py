"""Two providers with delta-syncrepl: what one takes, the other gets, and
values added at the same time on both all survive."""

import secrets
import statistics
import threading
import time

import ldap3

import fleet_harness as h


def add_person(fleet, uid, **extra):
    c = fleet.conn(fleet.a)
    dn, oc, attrs = h.person(uid, **extra)
    assert c.add(dn, oc, attrs), c.result
    c.unbind()
    fleet.wait_replicated(dn)
    return dn


def read(c, dn, attr):
    if not c.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[attr]):
        return None
    return c.entries[0].entry_attributes_as_dict.get(attr, [])


def test_account_and_device_replicate(fleet):
    dn = add_person(fleet, "alice", preferredLanguage="fr",
                    mfadState="active", mfadCreated="1764547200",
                    mfadEnrolled="1764547300", mfadReenroll="FALSE",
                    mfadRecoveryCode=["%064x" % 1, "%064x" % 2])
    dev_id = secrets.token_hex(32)
    dev = "mfadDeviceId=%s,%s" % (dev_id, dn)
    host = fleet.conn(fleet.a, h.HOST_A_DN, h.HOST_PW)
    assert host.add(dev, ["mfadDevice"], {
        "mfadDeviceKind": "sshkey", "mfadService": "sshd",
        "mfadCreated": "1764547400", "mfadExpires": "1767139400",
        "mfadHost": "host-a"}), host.result
    fleet.wait_replicated(dev)
    b = fleet.conn(fleet.b)
    assert read(b, dn, "mfadState") == ["active"]
    assert read(b, dn, "preferredLanguage") == ["fr"]
    assert sorted(read(b, dn, "mfadRecoveryCode")) == \
        ["%064x" % 1, "%064x" % 2]
    assert read(b, dev, "mfadHost") == ["host-a"]
    assert read(b, dev, "mfadExpires") == [1767139400]
    # Deleted on B, gone from A.
    hb = fleet.conn(fleet.b, h.HOST_B_DN, h.HOST_PW)
    assert hb.delete(dev), hb.result
    a = fleet.conn(fleet.a)
    h.wait_until(lambda: not fleet.exists(a, dev), 10, "delete on A")


def failures_on_both(fleet, dn, n):
    """n failure values added at once, half through each provider, each
    by its own host connection; returns the values."""
    vals = ["%d:%s:%s" % (time.time_ns() // 1000, "host-%s" % "ab"[i % 2],
                          secrets.token_hex(4)) for i in range(n)]
    conns = [fleet.conn(fleet.nodes[i % 2], (h.HOST_A_DN, h.HOST_B_DN)[i % 2],
                        h.HOST_PW) for i in range(n)]
    start = threading.Barrier(n)
    errors = []

    def one(i):
        start.wait()
        if not conns[i].modify(dn, {"mfadFailure":
                                    [(ldap3.MODIFY_ADD, [vals[i]])]}):
            errors.append(conns[i].result)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.unbind()
    assert not errors
    return vals


def test_concurrent_failures_all_survive(fleet):
    dn = add_person(fleet, "bob")
    vals = failures_on_both(fleet, dn, 20)
    for node in fleet.nodes:
        c = fleet.conn(node)
        h.wait_until(lambda: len(read(c, dn, "mfadFailure")) >= 20, 10,
                     "20 failures on %s" % node.url)
        time.sleep(0.3)      # nothing more arrives, nothing goes
        assert sorted(read(c, dn, "mfadFailure")) == sorted(vals)
    # A success deletes the values it read, by value: one added on the
    # other provider meanwhile stays.
    a = fleet.conn(fleet.a, h.HOST_A_DN, h.HOST_PW)
    b = fleet.conn(fleet.b, h.HOST_B_DN, h.HOST_PW)
    late = "%d:host-b:%s" % (time.time_ns() // 1000, secrets.token_hex(4))
    assert a.modify(dn, {"mfadFailure": [(ldap3.MODIFY_DELETE, vals)]})
    assert b.modify(dn, {"mfadFailure": [(ldap3.MODIFY_ADD, [late])]})
    for node in fleet.nodes:
        c = fleet.conn(node)
        h.wait_until(lambda: read(c, dn, "mfadFailure") == [late], 10,
                     "only the late failure on %s" % node.url)


def test_replication_delay(fleet, capsys):
    """The time a modify takes to show on the other provider."""
    dn = add_person(fleet, "carol")
    delays = []
    for i in range(40):
        src, dst = (fleet.a, fleet.b) if i % 2 == 0 else (fleet.b, fleet.a)
        w = fleet.conn(src, h.HOST_A_DN, h.HOST_PW)
        r = fleet.conn(dst)
        t0 = time.monotonic()
        assert w.modify(dn, {"mfadLastLogin":
                             [(ldap3.MODIFY_REPLACE, [str(1000 + i)])]})
        while read(r, dn, "mfadLastLogin") != [1000 + i]:
            assert time.monotonic() - t0 < 10, "not replicated in 10 s"
            time.sleep(0.0005)
        delays.append((time.monotonic() - t0) * 1000)
        w.unbind()
        r.unbind()
    with capsys.disabled():      # in the run's output, as a measure
        print("\nreplication delay of a modify over %d writes: mean "
              "%.1f ms, median %.1f ms, max %.1f ms" % (
                  len(delays), statistics.mean(delays),
                  statistics.median(delays), max(delays)))
    assert statistics.median(delays) < 1000


def test_stopped_provider_catches_up(both, capsys):
    fleet = both
    dn = add_person(fleet, "dave")
    fleet.b.stop()
    a = fleet.conn(fleet.a, h.HOST_A_DN, h.HOST_PW)
    vals = ["%d:host-a:%s" % (time.time_ns() // 1000, secrets.token_hex(4))
            for _ in range(5)]
    for v in vals:
        assert a.modify(dn, {"mfadFailure": [(ldap3.MODIFY_ADD, [v])]})
    t0 = time.monotonic()
    fleet.b.start()
    b = fleet.conn(fleet.b)
    h.wait_until(lambda: sorted(read(b, dn, "mfadFailure") or []) ==
                 sorted(vals), 15, "B caught up")
    with capsys.disabled():
        print("\nrestarted provider caught up %.0f ms after its start" %
              ((time.monotonic() - t0) * 1000))
