"""conf/ldap/mfad-acl.conf: a host reads and writes mfad's attributes and
devices, a few of inetOrgPerson's, and nothing else; the monitor reads."""

import base64
import hashlib
import secrets

import ldap3

import fleet_harness as h

DENIED = "insufficientAccessRights"


def setup_people(fleet):
    admin = fleet.conn(fleet.a)
    for uid, mfad in (("erin", True), ("frank", False)):
        dn, oc, attrs = h.person(uid, mfad, userPassword="{SSHA}x-" + uid,
                                 **({"mfadRecoveryCode": "%064x" % 7}
                                    if mfad else {}))
        if not fleet.exists(admin, dn):
            assert admin.add(dn, oc, attrs), admin.result
    admin.unbind()
    return "uid=erin," + h.PEOPLE, "uid=frank," + h.PEOPLE


def attrs_of(c, dn, attrs=("*",)):
    if not c.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attrs):
        return None
    return c.entries[0].entry_attributes_as_dict


def modify(c, dn, attr, op, vals):
    c.modify(dn, {attr: [(op, vals)]})
    return c.result["description"]


def test_host_writes_mfad_attributes(fleet):
    erin, _ = setup_people(fleet)
    c = fleet.conn(fleet.a, h.HOST_A_DN, h.HOST_PW)
    R, A, D = ldap3.MODIFY_REPLACE, ldap3.MODIFY_ADD, ldap3.MODIFY_DELETE
    assert modify(c, erin, "mfadState", R, ["locked"]) == "success"
    assert modify(c, erin, "mfadLockedUntil", R, ["1764550000"]) == "success"
    assert modify(c, erin, "mfadFailure", A, ["1:host-a:00000001"]) == \
        "success"
    assert modify(c, erin, "mfadSend", A, ["1:host-a:00000002"]) == "success"
    assert modify(c, erin, "mfadRecoveryCode", D, ["%064x" % 7]) == "success"
    assert modify(c, erin, "mfadCurrentLogin", R, ["host-a:%064x" % 1]) == \
        "success"
    assert modify(c, erin, "mail", R, ["erin2@example.org"]) == "success"
    assert modify(c, erin, "preferredLanguage", R, ["en"]) == "success"
    assert modify(c, erin, "userPassword", R,
                  ["{ARGON2}$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$"
                   "aGFzaGhhc2hoYXNoaGFzaA"]) == "success"
    # It reads the hash back: mfad checks passwords itself.
    got = attrs_of(c, erin, ["userPassword", "mfadState", "uid"])
    assert got["userPassword"][0].startswith(b"{ARGON2}")
    assert got["mfadState"] == ["locked"]
    # Devices: add, change, delete.
    dev = "mfadDeviceId=%s,%s" % (secrets.token_hex(32), erin)
    assert c.add(dev, ["mfadDevice"], {
        "mfadDeviceKind": "tty", "mfadCreated": "1", "mfadExpires": "2",
        "mfadHost": "host-a"}), c.result
    assert modify(c, dev, "mfadLastUsed", R, ["3"]) == "success"
    assert c.delete(dev), c.result


def test_host_cannot_write_other_attributes(fleet):
    erin, frank = setup_people(fleet)
    c = fleet.conn(fleet.a, h.HOST_A_DN, h.HOST_PW)
    R, A = ldap3.MODIFY_REPLACE, ldap3.MODIFY_ADD
    for attr in ("cn", "sn", "uid", "telephoneNumber", "description"):
        assert modify(c, erin, attr, R, ["x"]) == DENIED, attr
    # Another class than mfadAccount on a person.
    assert modify(c, erin, "objectClass", A, ["pkiUser"]) == DENIED
    # A person without mfadAccount: no password, no address change.
    assert modify(c, frank, "userPassword", R, ["x"]) == DENIED
    assert modify(c, frank, "mail", R, ["x@example.org"]) == DENIED
    # No new people, no devices under a person that is not an account.
    dn, oc, attrs = h.person("mallory")
    assert not c.add(dn, oc, attrs)
    assert c.result["description"] == DENIED
    dev = "mfadDeviceId=%s,%s" % (secrets.token_hex(32), frank)
    assert not c.add(dev, ["mfadDevice"], {
        "mfadDeviceKind": "tty", "mfadCreated": "1", "mfadExpires": "2"})
    # Nothing outside ou=people: the other host's entry, the base.
    assert modify(c, h.HOST_B_DN, "userPassword", R, ["x"]) == DENIED
    assert modify(c, h.BASE, "o", R, ["x"]) == DENIED


def test_host_reads_only_what_mfad_needs(fleet):
    erin, frank = setup_people(fleet)
    admin = fleet.conn(fleet.a)
    modify(admin, erin, "mfadRecoveryCode", ldap3.MODIFY_ADD, ["%064x" % 8])
    fleet.wait_replicated(erin)
    c = fleet.conn(fleet.a, h.HOST_B_DN, h.HOST_PW)
    # A person who is no mfad account: found by name, no hash, no cn.
    got = attrs_of(c, frank, ["*"])
    assert got["uid"] == ["frank"] and got["mail"]
    assert "userPassword" not in got and "cn" not in got
    # The mfad account: its hash yes, its cn and sn no.
    got = attrs_of(c, erin, ["*"])
    assert "userPassword" in got and "mfadRecoveryCode" in got
    assert "cn" not in got and "sn" not in got
    # Service entries and the base are not readable at all.
    assert attrs_of(c, h.HOST_A_DN) is None
    assert attrs_of(c, h.BASE) is None


def test_monitor_reads_without_secrets(fleet):
    erin, _ = setup_people(fleet)
    w = fleet.conn(fleet.a, h.HOST_A_DN, h.HOST_PW)
    modify(w, erin, "mfadRecoveryCode", ldap3.MODIFY_ADD, ["%064x" % 9])
    m = fleet.conn(fleet.a, h.MONITOR_DN, h.MONITOR_PW)
    got = attrs_of(m, erin, ["*"])
    assert got["uid"] == ["erin"] and "mfadState" in got
    assert "userPassword" not in got and "mfadRecoveryCode" not in got
    assert modify(m, erin, "mfadState", ldap3.MODIFY_REPLACE, ["active"]) \
        == DENIED


def test_host_sweeps_expired_devices_monitor_cannot(fleet):
    """The sweep's search (every device under ou=people past a time, by
    the ordering of mfadExpires) and its delete: a host may, the monitor
    reads but deletes nothing."""
    erin, _ = setup_people(fleet)
    c = fleet.conn(fleet.a, h.HOST_A_DN, h.HOST_PW)
    dev = "mfadDeviceId=%s,%s" % (secrets.token_hex(32), erin)
    assert c.add(dev, ["mfadDevice"], {
        "mfadDeviceKind": "tty", "mfadCreated": "1", "mfadExpires": "1000",
        "mfadHost": "host-a"}), c.result

    def found(conn, t):
        conn.search(h.PEOPLE, "(&(objectClass=mfadDevice)(mfadExpires<=%d))"
                    % t, ldap3.SUBTREE, attributes=[])
        return [e.entry_dn for e in conn.entries]
    assert dev in found(c, 1000)
    assert dev not in found(c, 999)
    m = fleet.conn(fleet.a, h.MONITOR_DN, h.MONITOR_PW)
    assert dev in found(m, 1000)
    m.delete(dev)
    assert m.result["description"] == DENIED
    assert c.delete(dev), c.result
    assert dev not in found(c, 1000)


def test_host_writes_throttle_records_only_in_their_container(fleet):
    """The hosts add the container ou=mfad-throttle under the people once,
    and mfadThrottle entries in it, and nothing else there; the monitor
    reads them."""
    erin, _ = setup_people(fleet)
    c = fleet.conn(fleet.a, h.HOST_A_DN, h.HOST_PW)
    A, D = ldap3.MODIFY_ADD, ldap3.MODIFY_DELETE
    ou = "ou=mfad-throttle," + h.PEOPLE
    if not fleet.exists(c, ou):
        assert c.add(ou, ["organizationalUnit"], {"ou": "mfad-throttle"}), \
            c.result
    key = secrets.token_hex(32)
    rec = "mfadThrottleId=%s,%s" % (key, ou)
    assert c.add(rec, ["mfadThrottle"], {"mfadThrottleId": key}), c.result
    assert modify(c, rec, "mfadThrottleSend", A, ["1:host-a:00000001"]) == \
        "success"
    assert modify(c, rec, "mfadThrottleSend", A, ["2:host-a:00000002"]) == \
        "success"
    assert modify(c, rec, "mfadThrottleSend", D, ["1:host-a:00000001"]) == \
        "success"
    assert attrs_of(c, rec)["mfadThrottleSend"] == ["2:host-a:00000002"]
    m = fleet.conn(fleet.a, h.MONITOR_DN, h.MONITOR_PW)
    assert attrs_of(m, rec)["mfadThrottleSend"] == ["2:host-a:00000002"]
    assert modify(m, rec, "mfadThrottleSend", A, ["3:x:00000003"]) == DENIED
    assert not m.add("mfadThrottleId=%s,%s" % (secrets.token_hex(32), ou),
                     ["mfadThrottle"], {"mfadThrottleId": "00"})
    # No other class in the container, no other child of the people, no
    # record elsewhere (under the people, under an account).
    assert not c.add("cn=x," + ou, ["organizationalRole"], {"cn": "x"})
    assert c.result["description"] == DENIED
    assert not c.add("ou=other," + h.PEOPLE, ["organizationalUnit"],
                     {"ou": "other"})
    assert c.result["description"] == DENIED
    for parent in (h.PEOPLE, erin, "ou=services," + h.BASE):
        k = secrets.token_hex(32)
        assert not c.add("mfadThrottleId=%s,%s" % (k, parent),
                         ["mfadThrottle"], {"mfadThrottleId": k}), parent
        assert c.result["description"] == DENIED, parent
    # And no person removed through the people's children.
    assert not c.delete(erin)
    assert c.result["description"] == DENIED
    assert c.delete(rec), c.result


def ssha(pw):
    salt = secrets.token_bytes(8)
    return "{SSHA}" + base64.b64encode(
        hashlib.sha1(pw.encode() + salt).digest() + salt).decode()


def setup_mfad_data(fleet):
    """grace: an mfad account with every kind of state, a device and a
    mail throttle record; oscar: a person of the organisation, no mfad
    account. Both bind with a password under the organisation's rules."""
    admin = fleet.conn(fleet.a)
    grace = "uid=grace," + h.PEOPLE
    oscar = "uid=oscar," + h.PEOPLE
    if not fleet.exists(admin, grace):
        dn, oc, attrs = h.person(
            "grace", userPassword=ssha("grace-pw"),
            preferredLanguage="fr", mfadState="locked",
            mfadCreated="1", mfadEnrolled="2", mfadLastLogin="3",
            mfadLockedUntil="4", mfadFailure="1:host-a:00000001",
            mfadSend="1:host-a:00000002", mfadRecoveryCode="%064x" % 5,
            mfadCurrentLogin="host-a:%064x" % 6)
        assert admin.add(dn, oc, attrs), admin.result
    if not fleet.exists(admin, oscar):
        dn, oc, attrs = h.person("oscar", False,
                                 userPassword=ssha("oscar-pw"))
        assert admin.add(dn, oc, attrs), admin.result
    dev = "mfadDeviceId=%s,%s" % ("d" * 64, grace)
    if not fleet.exists(admin, dev):
        assert admin.add(dev, ["mfadDevice"], {
            "mfadDeviceKind": "tty", "mfadCreated": "1",
            "mfadExpires": "2", "mfadHost": "host-a"}), admin.result
    ou = "ou=mfad-throttle," + h.PEOPLE
    if not fleet.exists(admin, ou):
        assert admin.add(ou, ["organizationalUnit"],
                         {"ou": "mfad-throttle"}), admin.result
    rec = "mfadThrottleId=%s,%s" % ("e" * 64, ou)
    if not fleet.exists(admin, rec):
        assert admin.add(rec, ["mfadThrottle"], {
            "mfadThrottleId": "e" * 64,
            "mfadThrottleSend": "1:host-a:00000003"}), admin.result
    admin.unbind()
    return grace, oscar, dev, ou, rec


def found(c, filt, base=h.PEOPLE):
    c.search(base, filt, ldap3.SUBTREE, attributes=["*"])
    return [e.entry_dn for e in c.entries]


def test_others_see_nothing_of_mfad_under_permissive_rules(fleet):
    """The organisation's rules after mfad's end with "to * by * read"
    (Debian's): an anonymous bind and a person's own bind still read uid,
    mail and cn as those rules allow, and none of mfad's attributes, its
    devices or its throttle records, by reading, searching or comparing."""
    grace, oscar, dev, ou, rec = setup_mfad_data(fleet)
    fleet.wait_replicated(rec)
    server = ldap3.Server("127.0.0.1", port=fleet.a.port, connect_timeout=5)
    anon = ldap3.Connection(server, auto_bind=True, receive_timeout=10,
                            raise_exceptions=False)
    who = {"anonymous": anon,
           "oscar": fleet.conn(fleet.a, oscar, "oscar-pw"),
           "grace": fleet.conn(fleet.a, grace, "grace-pw")}
    for name, c in who.items():
        # The organisation's rule does give read: what mfad does not own.
        got = attrs_of(c, grace, ["*"])
        assert got is not None, name
        assert got["uid"] == ["grace"] and got["cn"] == ["Grace"], name
        assert got["mail"] == ["grace@example.org"], name
        assert got["preferredLanguage"] == ["fr"], name
        mfad = [a for a in got if a.lower().startswith("mfad")]
        assert not mfad, (name, mfad)
        got = attrs_of(c, grace, ["mfadState", "mfadRecoveryCode",
                                  "mfadCurrentLogin", "mfadFailure",
                                  "mfadSend", "mfadLockedUntil",
                                  "mfadLastLogin", "mfadCreated"])
        assert not [a for a in got if got[a]], (name, got)
        # No filter on them matches; no device, no throttle entry found.
        for filt in ("(mfadState=locked)", "(mfadRecoveryCode=*)",
                     "(mfadCurrentLogin=*)", "(mfadFailure=*)",
                     "(mfadSend=*)", "(mfadLockedUntil=*)",
                     "(objectClass=mfadDevice)", "(mfadExpires=*)",
                     "(objectClass=mfadThrottle)", "(ou=mfad-throttle)",
                     "(mfadThrottleSend=*)"):
            assert found(c, filt) == [], (name, filt)
        assert grace in found(c, "(uid=grace)"), name
        # Not by name either, nor under the entries themselves.
        for dn in (dev, ou, rec):
            assert attrs_of(c, dn) is None, (name, dn)
            assert found(c, "(objectClass=*)", dn) == [], (name, dn)
        # A compare tells nothing either.
        c.compare(grace, "mfadState", "locked")
        assert c.result["description"] != "compareTrue", name
        c.compare(grace, "mfadRecoveryCode", "%064x" % 5)
        assert c.result["description"] != "compareTrue", name
        # And no one writes them, the account's own person included.
        # (slapd answers an anonymous write "strongerAuthRequired".)
        no = (DENIED, "strongerAuthRequired")
        R, D = ldap3.MODIFY_REPLACE, ldap3.MODIFY_DELETE
        assert modify(c, grace, "mfadState", R, ["active"]) in no, name
        assert modify(c, grace, "mfadLockedUntil", D, []) in no, name
        assert modify(c, rec, "mfadThrottleSend", D, []) in no, name
        assert not c.delete(dev), name
        assert not c.add("mfadDeviceId=%s,%s" % ("f" * 64, grace),
                         ["mfadDevice"], {"mfadDeviceKind": "tty",
                                          "mfadCreated": "1",
                                          "mfadExpires": "2"}), name
        c.unbind()


def test_shared_attributes_stay_the_organisations(fleet):
    """What mfad shares with the organisation falls through to its rules:
    a person with an mfad account binds with the password (anonymous
    auth), changes it herself (self write) and reads it back."""
    grace, oscar, _, _, _ = setup_mfad_data(fleet)
    c = fleet.conn(fleet.a, grace, "grace-pw")
    pw = ssha("grace-pw")
    assert modify(c, grace, "userPassword", ldap3.MODIFY_REPLACE, [pw]) == \
        "success"
    assert attrs_of(c, grace, ["userPassword"])["userPassword"] == \
        [pw.encode()]
    # Another person does not: the organisation's rule says none.
    o = fleet.conn(fleet.a, oscar, "oscar-pw")
    assert not attrs_of(o, grace, ["userPassword"]).get("userPassword")
    c.unbind()
    o.unbind()


AUDITOR_DN = "cn=auditor,ou=services," + h.BASE
AUDITOR_PW = "auditor-secret"
# conf/ldap/README, "Access": an auditor's rules, before mfad's.
AUDITOR_RULES = """
access to dn.onelevel="%(people)s" filter=(objectClass=mfadAccount)
        attrs=mfadState,mfadCreated,mfadEnrolled,mfadReenroll,mfadLastLogin,mfadFailure,mfadLockedUntil,mfadSend,mfadThrottleNoticed,mfadLockNoticed,mfadRecoveryCode,mfadCurrentLogin
    by dn.exact="%(auditor)s" read
    by * break
access to dn.subtree="%(people)s"
        filter=(|(objectClass=mfadDevice)(objectClass=mfadThrottle)(ou=mfad-throttle))
    by dn.exact="%(auditor)s" read
    by * break
""" % {"people": h.PEOPLE, "auditor": AUDITOR_DN}


def test_auditor_rules_before_mfads(tmp_path):
    """An organisation's rules placed before mfad's let an auditor read
    mfad's data; the hosts keep their rights, everyone else sees nothing."""
    ca, cert, key = h.make_ca(tmp_path / "tls")
    port, sport = h.free_port(), h.free_port()
    conf = h.slapd_conf(tmp_path / "a", ["ldap://127.0.0.1:%d/" % port],
                        ca, cert, key)
    include = "include %s" % (h.LDAP_CONF / "mfad-acl.conf")
    assert include in conf
    # One provider alone: no syncrepl, so no multiprovider.
    conf = conf.replace(include, AUDITOR_RULES + include).replace(
        "multiprovider on\n", "")
    node = h.Slapd(tmp_path / "a", port, sport, conf)
    node.start()
    try:
        fleet = h.Fleet.__new__(h.Fleet)
        fleet.nodes = [node]
        fleet.a = fleet.b = node
        h.Fleet.populate(fleet)
        admin = fleet.conn(node)
        assert admin.add(AUDITOR_DN,
                         ["applicationProcess", "simpleSecurityObject"],
                         {"userPassword": AUDITOR_PW}), admin.result
        admin.unbind()
        grace, oscar, dev, ou, rec = setup_mfad_data(fleet)
        a = fleet.conn(node, AUDITOR_DN, AUDITOR_PW)
        got = attrs_of(a, grace, ["*"])
        assert got["mfadState"] == ["locked"]
        assert got["mfadRecoveryCode"] == ["%064x" % 5]
        assert got["mfadCurrentLogin"]
        assert attrs_of(a, dev)["mfadHost"] == ["host-a"]
        assert attrs_of(a, ou) is not None
        assert attrs_of(a, rec)["mfadThrottleSend"] == ["1:host-a:00000003"]
        assert modify(a, grace, "mfadState", ldap3.MODIFY_REPLACE,
                      ["active"]) == DENIED
        # The hosts go through the auditor's rules to mfad's.
        c = fleet.conn(node, h.HOST_A_DN, h.HOST_PW)
        assert modify(c, grace, "mfadState", ldap3.MODIFY_REPLACE,
                      ["active"]) == "success"
        assert attrs_of(c, rec)["mfadThrottleSend"]
        # Anyone else still gets nothing of mfad's.
        o = fleet.conn(node, oscar, "oscar-pw")
        got = attrs_of(o, grace, ["*"])
        assert got["uid"] == ["grace"]
        assert not [x for x in got if x.startswith("mfad")], got
        for dn in (dev, ou, rec):
            assert attrs_of(o, dn) is None, dn
    finally:
        node.stop()
