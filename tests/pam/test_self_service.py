"""Self-service (DESIGN.md section 4): a plain user runs `mfadctl device
list`, `mfadctl device revoke ID` and `mfadctl user show` for their own
account, named by the uid mfad sees on the socket; another account's are
refused with exit 4 and audited; admins are unchanged."""

import json
import subprocess

import pytest

import mss_harness as h
from mss_harness import CTL_OK, CTL_PERM

ANN, BOB = "mss-self-ann", "mss-self-bob"


@pytest.fixture
def unix_users():
    """Two Unix users whose names are also mfad accounts."""
    made = []
    for user in (ANN, BOB):
        if subprocess.run(["id", user], capture_output=True).returncode:
            subprocess.run(["useradd", "-M", "-N", "-g", "nogroup", "-s",
                            "/usr/sbin/nologin", user], check=True)
            made.append(user)
    yield
    for user in made:
        subprocess.run(["userdel", user], capture_output=True)


def _ids(out):
    return sorted(d["id"] for d in json.loads(out))


def _audit(env, user):
    value = env.ctl_json("audit", "--user", user)
    return value if isinstance(value, list) else next(
        v for v in value.values() if isinstance(v, list))


def test_plain_user_lists_and_revokes_own_devices_only(env, unix_users):
    for user, rhosts in ((ANN, ("192.0.2.1", "192.0.2.2")),
                         (BOB, ("192.0.2.3",))):
        env.add_user(user)
        for rhost in rhosts:
            env.full_login(user, rhost=rhost, remember="y")
    ann_ids = _ids(env.ctl_ok("--json", "device", "list", ANN))
    bob_ids = _ids(env.ctl_ok("--json", "device", "list", BOB))
    assert len(ann_ids) == 2 and len(bob_ids) == 1

    # Own devices, with or without the name, options after the command.
    for args in (["device", "list", "--json"],
                 ["device", "list", ANN, "--json"]):
        rc, out, err = env.ctl(*args, as_user=ANN)
        assert rc == CTL_OK, err
        assert _ids(out) == ann_ids

    # Nobody else's: listed, revoked, shown, even with a known id.
    for args in (["device", "list", BOB],
                 ["device", "revoke", BOB, bob_ids[0]],
                 ["device", "revoke", BOB, "--all"],
                 ["user", "show", BOB]):
        rc, out, err = env.ctl(*args, as_user=ANN)
        assert rc == CTL_PERM, (args, rc, out, err)
        assert BOB + "@" not in out + err
    # An id of Bob's revoked as Ann's own is simply not hers.
    rc, out, err = env.ctl("device", "revoke", bob_ids[0], as_user=ANN)
    assert rc == h.CTL_REFUSED, err
    assert _ids(env.ctl_ok("--json", "device", "list", BOB)) == bob_ids

    # Her own, by id and then --all.
    rc, out, err = env.ctl("device", "revoke", ann_ids[0], as_user=ANN)
    assert rc == CTL_OK, err
    assert _ids(env.ctl_ok("--json", "device", "list", ANN)) == ann_ids[1:]
    rc, out, err = env.ctl("device", "revoke", ANN, "--all", as_user=ANN)
    assert rc == CTL_OK, err
    assert _ids(env.ctl_ok("--json", "device", "list", ANN)) == []

    # Audited, with the caller's uid.
    uid = int(subprocess.run(["id", "-u", ANN], capture_output=True,
                             text=True, check=True).stdout)
    revoked = [e["detail"] for e in _audit(env, ANN)
               if e["event"] == "device_revoked"]
    assert len(revoked) == 2, revoked
    assert all("by=%s" % ANN in d and "uid=%d" % uid in d for d in revoked)
    denied = [e for e in _audit(env, ANN) if e["event"] == "peer_denied"]
    assert denied and all("uid=%d" % uid in e["detail"] for e in denied), \
        denied


def test_plain_user_shows_own_account(env, unix_users):
    env.add_user(ANN)
    for args in (["user", "show"], ["user", "show", ANN]):
        rc, out, err = env.ctl("--json", *args, as_user=ANN)
        assert rc == CTL_OK, err
        assert json.loads(out)["user"] == ANN
    rc, out, err = env.ctl("user", "show", as_user=ANN)
    assert rc == CTL_OK and ("%s@example.org" % ANN) in out, err
    # Still no admin command, and no other account.
    assert env.ctl("user", "list", as_user=ANN)[0] == CTL_PERM
    assert env.ctl("user", "show", "alice", as_user=ANN)[0] == CTL_PERM
    assert env.ctl("user", "lock", ANN, as_user=ANN)[0] == CTL_PERM


def test_user_without_account_name_is_refused(env):
    """nobody has no mfad account: its own is "no such user", any other
    is refused."""
    rc, out, err = env.ctl("device", "list", as_nobody=True)
    assert rc == h.CTL_REFUSED, err
    assert env.ctl("device", "list", "alice", as_nobody=True)[0] == CTL_PERM


def test_admin_unchanged(env, unix_users):
    env.add_user(ANN)
    env.full_login(ANN, rhost="192.0.2.9", remember="y")
    assert env.ctl_json("user", "show", ANN)["user"] == ANN
    ids = _ids(env.ctl_ok("--json", "device", "list", ANN))
    assert len(ids) == 1
    env.ctl_ok("device", "revoke", ANN, ids[0])
    assert _ids(env.ctl_ok("device", "list", ANN, "--json")) == []
