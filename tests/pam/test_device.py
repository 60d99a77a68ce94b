"""Remembered devices (SECURITY.md rule 16; DESIGN.md sections 3 and 4:
device=sshkey,rhost,tty)."""

import json
import os
import shutil
import subprocess
import time
from datetime import datetime

import pytest

import mss_harness as h
from mss_harness import (PAM_SUCCESS, PROMPT_CODE, PROMPT_EMAIL,
                         PROMPT_PASSWORD)

ALICE = "alice@example.org"
KEY1 = "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1lmFHn7Yk1yLQ7" \
       "0Zf3x6M0wzJq0G8vN2c4Xh2p9mYb"
KEY2 = "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBz8Yq3kQm2nV7u1" \
       "Jt5c0pWd4Lr9sE6aHf2gN0xKcVyT"


def remembered_login(env, user="alice", **kw):
    """Email and password, then straight to success: no code asked."""
    addr = "%s@example.org" % user
    login = env.login(user, **kw)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(addr)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()
    assert not any(PROMPT_CODE in t for _, t in login.lines()), login.dump()
    return login


def test_remembered_device_skips_code_only_for_that_device(env):
    """SECURITY 16: after "y" the same rhost logs in with the password
    alone and no mail; another rhost still gets a code."""
    env.full_login(rhost="192.0.2.7", remember="y")
    n = env.smtp.count(ALICE, h.has_code)
    remembered_login(env, rhost="192.0.2.7")
    env.full_login(rhost="192.0.2.8", remember="n")
    time.sleep(1)
    assert env.smtp.count(ALICE, h.has_code) == n + 1


def test_remembered_device_still_needs_password(env):
    """DESIGN 1: a remembered device skips the code, never the password."""
    env.full_login(rhost="192.0.2.7", remember="y")
    login = env.login(rhost="192.0.2.7")
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.WRONG_PASSWORD})
    assert rc == h.PAM_AUTH_ERR
    assert login.lines("ERROR") == [("ERROR", h.GENERIC_FAILURE)]


def test_declined_remember_asks_code_next_time(env):
    """DESIGN 3: the default answer (N) remembers nothing."""
    env.full_login(rhost="192.0.2.7", remember="")
    env.full_login(rhost="192.0.2.7", remember="n")


@pytest.mark.parametrize("yes", ["y", "YES", "o", "Oui"])
def test_remember_accepts_yes_answers(env, yes):
    """DESIGN 3: o, oui, y, yes in any case mean yes."""
    env.full_login(rhost="192.0.2.7", remember=yes)
    remembered_login(env, rhost="192.0.2.7")


def test_remembered_device_is_per_user(env):
    """SECURITY 16: the identity is combined with the user: alice's
    remembered rhost does not spare bob the code."""
    env.add_user("bob")
    env.full_login(rhost="192.0.2.7", remember="y")
    env.full_login("bob", rhost="192.0.2.7", remember="n")


def _expiries(value):
    """Every 'expires' field anywhere in a JSON value, as epoch seconds."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "expires":
                if isinstance(v, str):
                    v = datetime.fromisoformat(v.replace("Z", "+00:00"))
                    v = v.timestamp()
                out.append(float(v))
            else:
                out += _expiries(v)
    elif isinstance(value, list):
        for v in value:
            out += _expiries(v)
    return out


@pytest.mark.mfad(device={"remember_days": 1})
def test_remembered_device_expires_and_is_listed(env):
    """SECURITY 16: a remembered device has an expiry `remember_days`
    ahead, shown by `mfadctl device list`."""
    before = time.time()
    env.full_login(rhost="192.0.2.7", remember="y")
    expiries = _expiries(env.ctl_json("device", "list", "alice"))
    assert len(expiries) == 1, expiries
    assert before + 86400 - 120 <= expiries[0] <= time.time() + 86400 + 120


def test_device_revoke_all_brings_code_back(env):
    """SECURITY 16: `mfadctl device revoke USER --all` forgets the device."""
    env.full_login(rhost="192.0.2.7", remember="y")
    remembered_login(env, rhost="192.0.2.7")
    env.ctl_ok("device", "revoke", "alice", "--all")
    out = json.loads(env.ctl_ok("--json", "device", "list", "alice"))
    assert not _expiries(out), out
    env.full_login(rhost="192.0.2.7", remember="n")


def _last_login(env):
    v = env.ctl_json("user", "show", "alice")["last_login"]
    if isinstance(v, str):
        v = datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    return v


def test_last_login_of_a_remembered_device_survives_revoke(env):
    """The last login `user show` gives counts remembered-device logins
    (their time is kept in the device), and stays once the device is
    revoked."""
    env.full_login(rhost="192.0.2.7", remember="y")
    first = _last_login(env)
    time.sleep(2.1)
    t1 = int(time.time())
    remembered_login(env, rhost="192.0.2.7")
    assert _last_login(env) >= t1 > first
    env.ctl_ok("device", "revoke", "alice", "--all")
    assert _last_login(env) >= t1


def test_last_login_of_a_remembered_device_survives_reset(env):
    """A password reset revokes the devices (SECURITY 17); the last
    login they carried stays in the account."""
    env.full_login(rhost="192.0.2.7", remember="y")
    time.sleep(2.1)
    t1 = int(time.time())
    remembered_login(env, rhost="192.0.2.7")
    login = env.start_empty_password("alice")
    msg = env.smtp.wait_for(ALICE, match=h.has_code)
    login.answer(h.code_from(msg))
    for _ in range(2):
        login.expect("ECHO_OFF")
        login.answer("a brand new passphrase")
    login.expect("ERROR", "log in again")
    assert env.ctl_json("device", "list", "alice") == []
    assert _last_login(env) >= t1


@pytest.mark.mfad(device={"remember_days": 0})
def test_remember_days_zero_never_asks(env):
    """DESIGN 3: remember_days = 0 turns remembering off: no prompt."""
    env.full_login(rhost="192.0.2.7", remember=None)


def test_ssh_key_is_the_device_before_rhost(env):
    """DESIGN 4: with device=sshkey,rhost,tty the key exposed by OpenSSH
    identifies the device: another key from the same rhost gets a code."""
    env.full_login(rhost="192.0.2.7", pamenv=["SSH_AUTH_INFO_0=" + KEY1],
                   remember="y")
    remembered_login(env, rhost="192.0.2.7",
                     pamenv=["SSH_AUTH_INFO_0=" + KEY1])
    env.full_login(rhost="192.0.2.7", pamenv=["SSH_AUTH_INFO_0=" + KEY2],
                   remember="n")


def test_pam_tty_ssh_is_not_a_device(env):
    """DESIGN 4: sshd's PAM_TTY=ssh names no device, so without rhost or
    key there is nothing to remember and no prompt."""
    env.full_login(tty="ssh", remember=None)


def test_device_none_never_remembers(env):
    """DESIGN 4: device=none: no identity, no remember prompt."""
    env.service("mss-none", ["device=none"])
    env.full_login(service="mss-none", rhost="192.0.2.7", remember=None)


def test_notice_mailed_when_device_remembered(env):
    """SECURITY 17: remembering a device mails a notice (without a code);
    declining mails none."""
    env.full_login(rhost="192.0.2.7", remember="n")
    env.smtp.assert_no_mail(ALICE, wait=2, match=h.is_notice)
    env.full_login(rhost="192.0.2.7", remember="y")
    notice = env.smtp.wait_for(ALICE, match=h.is_notice)
    assert notice["Subject"]


def _dump(db, name):
    """The (key, value) pairs of sub-database name, as bytes."""
    text = subprocess.run(["mdb_dump", "-s", name, str(db)],
                          capture_output=True, text=True, check=True).stdout
    lines = text.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0]
    vals = [bytes.fromhex(x.strip()) for x in lines.splitlines()]
    return list(zip(vals[0::2], vals[1::2]))


def _load(db, name, pairs, dupsort=False):
    text = "VERSION=3\nformat=bytevalue\ndatabase=%s\ntype=btree\n" % name
    if dupsort:
        text += "duplicates=1\ndupsort=1\n"
    text += "HEADER=END\n"
    for k, v in pairs:
        text += " %s\n %s\n" % (k.hex(), v.hex())
    text += "DATA=END\n"
    subprocess.run(["mdb_load", "-s", name, str(db)], input=text.encode(),
                   check=True)


def _var(b, i):
    """The variable-length integer of a compact record at b[i:]: (value,
    next offset)."""
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7f) << shift
        shift += 7
        if c < 0x80:
            return v, i


# The words of the compact records (mfad_store_codec.c, doc/STORE.md).
WORDS = ["rhost", "sshkey", "tty", "none", "mfadctl", "sshd", "login",
         "sudo", "su", "success", "failure", "login_ok", "login_denied",
         "user_added", "device_remembered", "password_set", "code_sent",
         "code_ok", "code_wrong"]


def _word(b, i):
    """A word field at b[i:] as text with a 1-byte length: (bytes, next
    offset)."""
    if b[i] >= 0x80:
        w = WORDS[b[i] - 0x80].encode()
        return bytes([len(w)]) + w, i + 1
    return b[i:i + 1 + b[i]], i + 1 + b[i]


def device_v4_to_v3(v):
    """A device duplicate (hash, record of version 4) as version 3 wrote
    it: the same strings, the times as three 8-byte integers."""
    assert v[32] == 4
    kind, i = _word(v, 33)
    service, i = _word(v, i)
    strings = kind + service
    created, i = _var(v, i)
    lead, i = _var(v, i)
    used, i = _var(v, i)
    assert i == len(v)
    expires = (created + lead) % 2 ** 64
    return (v[:32] + b"\x03" + strings + created.to_bytes(8, "big") +
            expires.to_bytes(8, "big") + used.to_bytes(8, "big"))


def _to_older_layout(db, tmp):
    """Rewrites the store in db as an mfad before device records of
    version 3 left it: devices (hash -> record of version 2, with its
    user) and userdevs (user -> hashes), no guard record."""
    names = [line.split("Status of ", 1)[1] for line in subprocess.run(
        ["mdb_stat", "-a", str(db)], capture_output=True, text=True,
        check=True).stdout.splitlines() if line.startswith("Status of ")]
    tmp.mkdir()
    devices, userdevs = [], []
    for user, v in _dump(db, "userdevices"):
        v = device_v4_to_v3(v)
        devices.append((v[:32], b"\x02" + bytes([len(user)]) + user +
                        v[33:]))
        userdevs.append((user, v[:32]))
    for name in names:
        if name not in ("Main DB", "userdevices"):
            _load(tmp, name, _dump(db, name))
    _load(tmp, "devices", sorted(devices))
    _load(tmp, "userdevs", userdevs, dupsort=True)
    for f in ("data.mdb", "lock.mdb"):
        (db / f).unlink(missing_ok=True)
    shutil.move(str(tmp / "data.mdb"), str(db / "data.mdb"))
    os.chmod(db / "data.mdb", 0o600)


def test_older_device_layout_is_migrated_at_start(env, tmp_path):
    """A store whose devices an older mfad kept by hash, with an index
    by user: mfad moves them under their users when it starts, and they
    still skip the code."""
    env.full_login(rhost="192.0.2.7", remember="y")
    env.full_login(rhost="192.0.2.9", remember="y")
    before = env.ctl_json("device", "list", "alice")
    assert len(_expiries(before)) == 2, before
    env.mfad.stop()
    _to_older_layout(env.db, tmp_path / "old")
    stat = subprocess.run(["mdb_stat", "-a", str(env.db)],
                          capture_output=True, text=True).stdout
    assert "Status of userdevs" in stat and "userdevices" not in stat
    env.mfad.start()
    assert "2 remembered devices moved" in env.mfad.log_text()
    assert env.ctl_json("device", "list", "alice") == before
    remembered_login(env, rhost="192.0.2.7")
    remembered_login(env, rhost="192.0.2.9")
    stat = subprocess.run(["mdb_stat", "-a", str(env.db)],
                          capture_output=True, text=True).stdout
    assert "Status of userdevs" not in stat
    assert "Status of devices" not in stat
