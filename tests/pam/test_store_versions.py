"""A store of the previous record versions (accounts of version 4,
devices of version 3, audit events of version 1: doc/STORE.md) opens as
it is: the same accounts, devices and audit trail, the same logins; a
record written again is of the newest version. A login stored under the
key logins had before (the whole hash of its token) goes on."""

import base64
import hashlib
import os
import shutil
import subprocess
import time

import mss_harness as h
from test_device import (_dump, _load, _var, _word, device_v4_to_v3,
                         remembered_login)

REQ_AUTH_START, REQ_CODE = 2, 3
REP_AUTH, REP_CODE = 101, 102


def _u(v, n):
    return v.to_bytes(n, "big")


def _s32(b):
    return _u(len(b), 4) + b


def _text8(b, i):
    return b[i + 1:i + 1 + b[i]], i + 1 + b[i]


def account_v5_to_v4(user, v):
    """An account record of version 5 (compact, without its user) as
    version 4 wrote it."""
    assert v[0] == 5
    email, i = _text8(v, 1)
    lang, i = _text8(v, i)
    state, reenroll = v[i], v[i + 1]
    i += 2
    form = v[i]
    i += 1
    if form == 0:
        pw, i = _text8(v, i)
    else:
        assert form == 1
        m, i = _var(v, i)
        t, i = _var(v, i)
        p, i = _var(v, i)
        salt, hsh = v[i:i + 16], v[i + 16:i + 48]
        i += 48
        pw = b"$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s" % (
            m, t, p, base64.b64encode(salt).rstrip(b"="),
            base64.b64encode(hsh).rstrip(b"="))
    ints = []
    for _ in range(5):          # created .. locked_until
        x, i = _var(v, i)
        ints.append(x)
    nsends, i = _var(v, i)
    sends = []
    for _ in range(nsends):
        x, i = _var(v, i)
        sends.append(x)
    tn, i = _var(v, i)
    ln, i = _var(v, i)
    has_cur = v[i]
    i += 1
    cur = v[i:i + 32] if has_cur else b""
    i += len(cur)
    nrec, i = _var(v, i)
    rec = v[i:i + 32 * nrec]
    assert i + len(rec) == len(v)
    created, enrolled, last_login, failures, locked = ints
    return (b"\x04" + _s32(user) + _s32(email) + _s32(lang) +
            bytes([state, reenroll]) + _s32(pw) + _u(created, 8) +
            _u(enrolled, 8) + _u(last_login, 8) + _u(failures, 4) +
            _u(locked, 8) + _u(nsends, 4) +
            b"".join(_u(x, 8) for x in sends) + _u(tn, 8) + _u(ln, 8) +
            bytes([has_cur]) + cur + _u(nrec, 4) + rec)


def audit_v2_to_v1(key, v):
    """An audit event of version 2 as version 1 wrote it: the key's time
    first, every string with a 4-byte length."""
    assert v[0] == 2
    i = 1
    out = b"\x01" + key[:8]
    for field in (_word, _text8, _word, _text8, _word, _text8):
        s, i = field(v, i)
        if field is _word:
            s = s[1:]
        out += _s32(s)
    assert i == len(v)
    return out


def _names(db):
    return [line.split("Status of ", 1)[1] for line in subprocess.run(
        ["mdb_stat", "-a", str(db)], capture_output=True, text=True,
        check=True).stdout.splitlines() if line.startswith("Status of ")]


def _rebuild(db, tmp, change):
    """Writes the store in db again through mdb_load, each sub-database's
    (key, value) pairs as change(name, pairs) gives them."""
    tmp.mkdir()
    for name in _names(db):
        if name == "Main DB":
            continue
        pairs = change(name, _dump(db, name))
        _load(tmp, name, pairs, dupsort=name == "userdevices")
    for f in ("data.mdb", "lock.mdb"):
        (db / f).unlink(missing_ok=True)
    shutil.move(str(tmp / "data.mdb"), str(db / "data.mdb"))
    os.chmod(db / "data.mdb", 0o600)


def _to_previous_records(db, tmp):
    """Rewrites every account, device and audit event of the store in db
    as the previous versions wrote them."""
    def change(name, pairs):
        if name == "accounts":
            return [(k, account_v5_to_v4(k, v)) for k, v in pairs]
        if name == "userdevices":
            return [(k, device_v4_to_v3(v)) for k, v in pairs]
        if name == "audit":
            return [(k, audit_v2_to_v1(k, v)) for k, v in pairs]
        return pairs
    _rebuild(db, tmp, change)


def _versions(db, name):
    return sorted({v[32] if name == "userdevices" else v[0]
                   for _, v in _dump(db, name)})


def test_previous_records_open_and_log_in(env, tmp_path):
    env.full_login(rhost="192.0.2.7", remember="y")
    env.ctl_ok("user", "add", "bob", "--email", "bob@example.org")
    env.smtp.wait_for("bob@example.org")
    # The mails' own events come after them: the trail is read once it
    # stays the same for a second.
    before, deadline = None, time.monotonic() + 10
    while time.monotonic() < deadline:
        now = (env.ctl_json("user", "show", "alice"),
               env.ctl_json("user", "show", "bob"),
               env.ctl_json("device", "list", "alice"),
               env.ctl_json("audit", "--limit", "1000"),
               env.ctl_ok("audit", "--limit", "1000"))
        if now == before:
            break
        before = now
        time.sleep(1)
    assert before[2] and before[3]
    env.mfad.stop()
    _to_previous_records(env.db, tmp_path / "old")
    assert _versions(env.db, "accounts") == [4]
    assert _versions(env.db, "userdevices") == [3]
    assert _versions(env.db, "audit") == [1]
    env.mfad.start()
    after = (env.ctl_json("user", "show", "alice"),
             env.ctl_json("user", "show", "bob"),
             env.ctl_json("device", "list", "alice"),
             env.ctl_json("audit", "--limit", "1000"),
             env.ctl_ok("audit", "--limit", "1000"))
    assert after == before
    # The remembered device still skips the code; what the login wrote
    # again is of the newest version, next to the older ones. Its time
    # is written in the device alone: the account is left as it was,
    # until a login with a code writes it.
    remembered_login(env, rhost="192.0.2.7")
    events = env.ctl_json("audit", "--limit", "1000")
    assert len(events) > len(before[3])
    assert all(e in events for e in before[3])
    env.mfad.stop()
    accounts = dict(_dump(env.db, "accounts"))
    assert accounts[b"alice"][0] == 4 and accounts[b"bob"][0] == 4
    assert _versions(env.db, "userdevices") == [4]
    assert _versions(env.db, "audit") == [1, 2]
    env.mfad.start()
    env.full_login(rhost="192.0.2.8", remember="n")
    env.mfad.stop()
    accounts = dict(_dump(env.db, "accounts"))
    assert accounts[b"alice"][0] == 5 and accounts[b"bob"][0] == 4
    env.mfad.start()
    assert env.ctl_json("user", "show", "bob") == before[1]
    assert env.ctl_json("device", "list", "alice")[0]["id"] == \
        before[2][0]["id"]


def _raw_start(env, user, addr):
    """AUTH_START as pam_mss frames it (as root: a trusted PAM caller);
    the login token of the code sent."""
    payload = b"".join(h.pstr(s) for s in (
        "mss-test", user, addr, h.PASSWORD, "", "", "", "en")) + \
        (0).to_bytes(4, "big")
    rep = h.raw_request(env.sock, REQ_AUTH_START, payload)
    assert rep is not None and rep[0] == REP_AUTH, rep
    assert rep[1][0] == 2, "AUTH result %d" % rep[1][0]
    n = int.from_bytes(rep[1][1:5], "big")
    return rep[1][5:5 + n].decode()


def test_login_keyed_as_before_goes_on(env, tmp_path):
    addr = env.add_user("carol")
    first = int(time.time())
    token = _raw_start(env, "carol", addr)
    last = int(time.time())
    code = env.smtp.wait_for_code(addr)
    env.mfad.stop()
    # The key now: the token's start second, then 28 bytes of its hash.
    tok = bytes.fromhex(token)
    assert first <= int.from_bytes(tok[:4], "big") <= last
    whole = hashlib.blake2b(tok, digest_size=32).digest()
    key = tok[:4] + whole[:28]
    logins = _dump(env.db, "logins")
    assert key in [k for k, _ in logins]
    # Stored as before: under the whole hash, which the account names as
    # its newest sign-in too.
    def change(name, pairs):
        if name == "logins":
            return [(whole if k == key else k, v) for k, v in pairs]
        if name == "accounts":
            assert sum(key in v for _, v in pairs) == 1
            return [(k, v.replace(key, whole)) for k, v in pairs]
        return pairs
    _rebuild(env.db, tmp_path / "before", change)
    assert whole in [k for k, _ in _dump(env.db, "logins")]
    assert key not in [k for k, _ in _dump(env.db, "logins")]
    env.mfad.start()
    rep = h.raw_request(env.sock, REQ_CODE, h.pstr(token) + h.pstr(code))
    assert rep is not None and rep[0] == REP_CODE, rep
    assert rep[1][0] == 0, "CODE result %d" % rep[1][0]
    assert [e["event"] for e in env.ctl_json("audit", "--limit", "1")] == \
        ["login_ok"]
    # Used, as it was stored: the same code again is a replay.
    rep = h.raw_request(env.sock, REQ_CODE, h.pstr(token) + h.pstr(code))
    assert rep is not None and rep[0] == REP_CODE and rep[1][0] != 0, rep
