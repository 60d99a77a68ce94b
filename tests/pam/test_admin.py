"""`mfadctl audit` and `mfadctl backup` (DESIGN.md section 4; SECURITY.md
rules 31-33): filters and paging of the audit trail, the directories a
backup refuses, and a backup that keeps remembered devices working."""

import json
import os
import socket
import stat
import subprocess
import time

import mss_harness as h
from mss_harness import (CTL_OK, CTL_PERM, CTL_REFUSED, CTL_USAGE,
                         PAM_SUCCESS, PROMPT_CODE, PROMPT_EMAIL,
                         PROMPT_PASSWORD)

ALICE = "alice@example.org"

# common/mss_proto.h and common/mss_err.h
REQ_AUDIT = 30
REQ_BACKUP = 31
REP_AUDIT_LIST = 108
ERR_INVAL = 10


def _str(s):
    b = s.encode()
    return len(b).to_bytes(4, "big") + b


def _request(env, type_, payload):
    """One raw request to mfad; returns (reply type, payload)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(h.TIMEOUT)
        s.connect(str(env.sock))
        s.sendall(h.frame(type_, payload))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert len(data) >= 6 and int.from_bytes(data[:4], "big") == \
        len(data) - 4, data[:16]
    return data[5], data[6:]


def _raw_backup(env, path):
    """BACKUP path, as a client that skips mfadctl's realpath; returns
    (code, message) of the RESULT."""
    rtype, p = _request(env, REQ_BACKUP, _str(path))
    assert rtype == h.REP_RESULT
    code = int.from_bytes(p[:4], "big")
    n = int.from_bytes(p[4:8], "big")
    assert len(p) == 8 + n
    return code, p[8:].decode()


def _events(env, *args):
    return env.ctl_json("audit", "--limit", "100000", *args)


def _wrong_password(env, user, rhost):
    login = env.login(user, rhost=rhost)
    login.run({PROMPT_EMAIL: "%s@example.org" % user,
               PROMPT_PASSWORD: h.WRONG_PASSWORD})


# ---------------------------------------------------------------- audit


def test_audit_user_filter(env):
    """--user shows that user's records and no one else's."""
    env.add_user("bob")
    _wrong_password(env, "alice", "192.0.2.11")
    _wrong_password(env, "bob", "192.0.2.12")
    recs = _events(env, "--user", "bob")
    assert recs and all(r["user"] == "bob" for r in recs), recs
    assert "192.0.2.12" in json.dumps(recs)
    assert "192.0.2.11" not in json.dumps(recs)
    out = env.ctl_ok("audit", "--user", "bob")
    assert "alice" not in out and "bob" in out
    assert env.ctl_json("audit", "--user", "carol") == []


def test_audit_since(env):
    """--since in the future shows nothing; an hour ago shows what was
    just done; a date long past shows everything."""
    everything = _events(env)
    assert everything
    assert env.ctl_json("audit", "--since", "2999-01-01") == []
    assert env.ctl_json("audit", "--since", "2999-01-01T00:00:00Z") == []
    out = env.ctl_ok("audit", "--since", "2999-12-31T23:59")
    assert out.splitlines()[0].split() == [
        "TIME", "EVENT", "USER", "SERVICE", "RHOST", "RESULT", "DETAIL"]
    assert len(out.splitlines()) == 1
    assert _events(env, "--since", "1h") == everything
    assert _events(env, "--since", "2000-01-01") == everything


def test_audit_limit_shows_newest_oldest_first(env):
    """--limit 2 shows exactly the two newest records, the older first,
    as the whole list ends."""
    env.ctl_ok("user", "lock", "alice")
    env.ctl_ok("user", "unlock", "alice")
    everything = _events(env)
    assert len(everything) >= 4
    two = env.ctl_json("audit", "--limit", "2")
    assert two == everything[-2:]
    assert [r["event"] for r in two] == ["user_locked", "user_unlocked"]
    lines = env.ctl_ok("audit", "--limit", "2").splitlines()
    assert len(lines) == 3
    assert "user_locked" in lines[1] and "user_unlocked" in lines[2]
    times = [r["time"] for r in everything]
    assert times == sorted(times)


def test_audit_bad_arguments_are_usage_errors(env):
    for args in (["--limit", "0"], ["--limit", "100001"], ["--limit", "x"],
                 ["--since", "yesterday"], ["--since", "2024-02-30"],
                 ["--since", "2024-01-01T25:00"], ["--since", "5w"],
                 ["--user"], ["--user", "a b"], ["--user", "x", "--user",
                                                 "y"], ["--bogus"],
                 ["extra"]):
        rc, out, err = env.ctl("audit", *args)
        assert rc == CTL_USAGE, (args, rc, out, err)
        assert "usage: mfadctl audit" in err and out == ""


def test_audit_pages_through_many_records(env):
    """More records than one reply holds (64 KiB): mfadctl asks page
    after page and gets each record once, in order."""
    n = 450
    long_dir = "/nonexistent/" + "d" * 900
    for _ in range(n):
        code, _ = _raw_backup(env, long_dir)
        assert code == ERR_INVAL
    # One page at most, straight from mfad.
    payload = _str("") + (0).to_bytes(8, "big") + (0).to_bytes(8, "big") + \
        (0).to_bytes(4, "big")
    rtype, p = _request(env, REQ_AUDIT, payload)
    assert rtype == REP_AUDIT_LIST
    assert 0 < int.from_bytes(p[:4], "big") < n and p[-1] == 1
    assert len(p) <= 64 * 1024
    recs = _events(env)
    backups = [r for r in recs if r["event"] == "backup"]
    assert len(backups) == n
    assert all(r["result"] == "failure" for r in backups)
    assert [r["time"] for r in recs] == sorted(r["time"] for r in recs)
    assert env.ctl_json("audit", "--limit", "300") == recs[-300:]
    out = env.ctl_ok("audit", "--limit", "100000")
    assert len(out.splitlines()) == len(recs) + 1


def test_audit_fields_are_escaped(env):
    """SECURITY 33: a control character in a recorded field reaches
    neither the terminal nor JSON as such."""
    code, _ = _raw_backup(env, "/nonexistent/\x1b[31mred\x07")
    assert code == ERR_INVAL
    out = env.ctl_ok("audit")
    assert "\x1b" not in out and "\x07" not in out
    assert "?[31mred?" in out
    text = env.ctl_ok("--json", "audit")
    assert "\x1b" not in text
    assert any("\x1b[31mred\x07" in r["detail"] for r in json.loads(text))


def test_audit_and_backup_need_an_admin(env):
    """SECURITY 22: nobody gets exit status 4, and no backup is made."""
    target = env.dir / "nobody-backup"
    target.mkdir(mode=0o700)
    assert env.ctl("audit", as_nobody=True)[0] == CTL_PERM
    assert env.ctl("backup", target, as_nobody=True)[0] == CTL_PERM
    assert os.listdir(target) == []


# --------------------------------------------------------------- backup


def _assert_refused(env, target, expect):
    rc, out, err = env.ctl("backup", target)
    assert rc == CTL_REFUSED, (rc, out, err)
    assert expect in err, err


def test_backup_refuses_relative_path(env):
    """mfad takes only an absolute DIR; mfadctl makes DIR absolute, and a
    DIR that does not exist is an error, not a new directory."""
    os.mkdir(env.dir / "rel", 0o700)
    code, msg = _raw_backup(env, "rel")
    assert code == ERR_INVAL and "absolute" in msg, msg
    assert os.listdir(env.dir / "rel") == []
    rc, out, err = env.ctl("backup", "no/such/dir")
    assert rc in (CTL_REFUSED, CTL_USAGE), (rc, out, err)
    assert not os.path.exists("no")


def test_backup_relative_dir_made_absolute_by_mfadctl(env):
    target = env.dir / "rel"
    target.mkdir(mode=0o700)
    r = subprocess.run([str(h.MFADCTL), "-s", str(env.sock), "backup",
                        "rel"], cwd=str(env.dir), capture_output=True,
                       text=True, timeout=h.TIMEOUT)
    assert r.returncode == CTL_OK, r.stderr
    assert str(target) in r.stdout
    assert sorted(os.listdir(target)) == ["data.mdb", "mfad.key"]


def test_backup_refuses_existing_store(env):
    """A directory already holding data.mdb is left alone."""
    target = env.dir / "full"
    target.mkdir(mode=0o700)
    (target / "data.mdb").write_bytes(b"keep me")
    _assert_refused(env, target, "data.mdb")
    assert (target / "data.mdb").read_bytes() == b"keep me"
    assert sorted(os.listdir(target)) == ["data.mdb"]


def test_backup_refuses_writable_directory(env):
    """A directory others (or the group) may write to is refused."""
    for mode in (0o777, 0o770, 0o1777):
        target = env.dir / ("open-%o" % mode)
        target.mkdir()
        os.chmod(target, mode)
        _assert_refused(env, target, "writable")
        assert os.listdir(target) == []


def test_backup_refuses_foreign_owner_symlink_and_file(env):
    """A directory of another user, a symbolic link and a plain file are
    refused."""
    other = env.dir / "nobodys"
    other.mkdir(mode=0o700)
    os.chown(other, 65534, 65534)
    _assert_refused(env, other, "owned")
    assert os.listdir(other) == []
    real = env.dir / "real"
    real.mkdir(mode=0o700)
    os.symlink(real, env.dir / "link")
    code, msg = _raw_backup(env, str(env.dir / "link"))
    assert code == ERR_INVAL and "symbolic link" in msg, msg
    assert os.listdir(real) == []
    _assert_refused(env, env.conf, "not a directory")


def test_backup_is_audited(env):
    target = env.dir / "audited"
    target.mkdir(mode=0o700)
    env.ctl_ok("backup", target)
    recs = [r for r in _events(env) if r["event"] == "backup"]
    assert len(recs) == 1 and recs[0]["result"] == "success"
    assert str(target) in recs[0]["detail"]


def test_backup_keeps_remembered_device(env):
    """SECURITY 31: the copy carries the key file (0600) with the store,
    so a device remembered before the backup still skips the code when
    mfad runs from the copy."""
    env.full_login(rhost="192.0.2.77", remember="y")
    target = env.dir / "backup"
    target.mkdir(mode=0o700)
    env.ctl_ok("backup", target)
    key = os.stat(target / "mfad.key")
    assert stat.S_IMODE(key.st_mode) == 0o600
    assert (target / "mfad.key").read_bytes() == \
        (env.db / "mfad.key").read_bytes()
    env.mfad.stop()
    env.config["mfad"]["database"] = target
    h.write_ini(env.conf, env.config)
    env.mfad.start()
    sent = env.smtp.count(ALICE, h.has_code)
    login = env.login(rhost="192.0.2.77")
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    assert login.result() == PAM_SUCCESS, login.dump()
    assert not any(PROMPT_CODE in t for _, t in login.lines()), login.dump()
    time.sleep(1)
    assert env.smtp.count(ALICE, h.has_code) == sent
    assert len(env.ctl_json("device", "list", "alice")) == 1


# --------------------------------------------------------------------------
# user set: an address change is told to both owners (issue 11 point 12)

NEW_ALICE = "alice.new@example.net"


def _email_changed(msg):
    return "email address" in str(msg["Subject"]).lower()


def test_user_set_email_mails_old_and_new_address(env):
    """`mfadctl user set USER --email` mails a notice to the old and the
    new address (masked new address, no code, no password), audits it,
    and the account then logs in with the new address; setting the same
    address again is "unchanged" and mails nothing."""
    rc, out, err = env.ctl("user", "set", "alice", "--email", NEW_ALICE)
    assert rc == CTL_OK, err
    assert "email changed" in out
    old = env.smtp.wait_for(ALICE, match=_email_changed)
    new = env.smtp.wait_for(NEW_ALICE, match=_email_changed)
    for msg in (old, new):
        text = h.body_text(msg)
        assert h.mask_email(NEW_ALICE) in text and "alice" in text
        assert NEW_ALICE not in text and h.PASSWORD not in text
        assert not h.has_code(msg)
    events = [(e["event"], e["detail"]) for e in
              json.loads(env.ctl_ok("--json", "audit", "--user", "alice"))]
    assert ("user_email_changed",
            "by=root notice to the old and the new address") in events
    assert env.ctl_json("user", "show", "alice")["email"] == NEW_ALICE
    login, code = env.start_login("alice", addr=NEW_ALICE)
    env.finish_login(login, code)

    rc, out, err = env.ctl("user", "set", "alice", "--email",
                           NEW_ALICE.upper())
    assert rc == CTL_OK, err
    assert "unchanged" in out
    time.sleep(1.5)     # mail leaves mfad asynchronously
    assert env.smtp.count(match=_email_changed) == 2


def test_user_set_lang_any_case_and_refusals(env):
    """--lang takes FR/EN in any case and mails nothing; a taken address,
    an unknown user, a bad address and nothing to set are refused."""
    rc, out, err = env.ctl("user", "set", "alice", "--lang", "FR")
    assert rc == CTL_OK, err
    assert "language changed" in out
    assert env.ctl_json("user", "show", "alice")["lang"] == "fr"
    env.ctl_ok("user", "add", "bob", "--email", "bob@example.org")
    rc, out, err = env.ctl("user", "set", "alice", "--email",
                           "bob@example.org")
    assert rc == CTL_REFUSED and "already used" in err + out
    rc, out, err = env.ctl("user", "set", "nobody2", "--email",
                           "n@example.org")
    assert rc == CTL_REFUSED, (out, err)
    for args in (["alice", "--email", "alice@vm"], ["alice"],
                 ["alice", "--lang", "de"]):
        rc, out, err = env.ctl("user", "set", *args)
        assert rc == CTL_USAGE, (args, out, err)
    assert env.ctl_json("user", "show", "alice")["email"] == ALICE
    time.sleep(1)
    assert env.smtp.count(match=_email_changed) == 0
