"""`mfadctl audit` and `mfadctl backup` (DESIGN.md section 4; SECURITY.md
rules 31-33): filters and paging of the audit trail, the directories a
backup refuses, and a backup that keeps remembered devices working."""

import datetime
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time

import pytest

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
    """SECURITY 22: nobody gets exit status 4, and no backup is made,
    whether mfadctl cannot create the files (root's directory) or mfad
    refuses the request (nobody's own directory: the files it made are
    removed)."""
    target = env.dir / "nobody-backup"
    target.mkdir(mode=0o700)
    assert env.ctl("audit", as_nobody=True)[0] == CTL_PERM
    assert env.ctl("backup", target, as_nobody=True)[0] == CTL_PERM
    assert os.listdir(target) == []
    nobody = pwd.getpwnam("nobody")
    os.chown(target, nobody.pw_uid, nobody.pw_gid)
    rc, _, err = env.ctl("backup", target, as_nobody=True)
    assert rc == CTL_PERM, err
    assert os.listdir(target) == []


# --------------------------------------------------------------- backup


def _assert_refused(env, target, expect):
    rc, out, err = env.ctl("backup", target)
    assert rc == CTL_REFUSED, (rc, out, err)
    assert expect in err, err


def _send_with_fds(env, type_, payload, fds):
    """One frame with descriptors (SCM_RIGHTS) on its first byte;
    returns (reply type, payload), or None when mfad dropped the
    connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(h.TIMEOUT)
        s.connect(str(env.sock))
        data = h.frame(type_, payload)
        socket.send_fds(s, [data[:1]], fds)
        data, rest = b"", data[1:]
        try:
            s.sendall(rest)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (BrokenPipeError, ConnectionResetError):
            return None     # dropped before the whole frame was in
    if not data:
        return None
    return data[5], data[6:]


def _closed_by_mfad(rfd):
    """True when the last write end of the pipe (given to mfad) is
    closed: its read end sees EOF."""
    import select
    r, _, _ = select.select([rfd], [], [], h.TIMEOUT)
    return bool(r) and os.read(rfd, 1) == b""


def test_backup_request_without_descriptors_is_refused(env):
    """BACKUP carries the files to write, never a path mfad would open:
    a request with only a path is refused and nothing is written there."""
    os.mkdir(env.dir / "plain", 0o700)
    code, msg = _raw_backup(env, str(env.dir / "plain"))
    assert code == ERR_INVAL and "files to write" in msg, msg
    assert os.listdir(env.dir / "plain") == []
    assert env.mfad.running


def test_descriptors_only_with_backup_and_always_closed(env):
    """The frame reader takes descriptors with BACKUP only: with any
    other request they are closed and the connection dropped; with
    BACKUP, descriptors that are not new private files are refused,
    and closed as well."""
    rfd, wfd = os.pipe()
    try:
        assert _send_with_fds(env, h.REQ_STATUS, b"", [wfd]) is None
        os.close(wfd)
        wfd = -1
        assert _closed_by_mfad(rfd)
    finally:
        os.close(rfd)
        if wfd >= 0:
            os.close(wfd)
    rfd, wfd = os.pipe()
    try:
        rtype, p = _send_with_fds(env, REQ_BACKUP, _str("/pipe"),
                                  [wfd, wfd])
        assert rtype == h.REP_RESULT
        assert int.from_bytes(p[:4], "big") == ERR_INVAL
        assert b"not a regular file" in p, p
        os.close(wfd)
        wfd = -1
        assert _closed_by_mfad(rfd)
    finally:
        os.close(rfd)
        if wfd >= 0:
            os.close(wfd)
    # Three descriptors: more than any request takes.
    fds = [os.open(env.dir / ("f%d" % i), os.O_WRONLY | os.O_CREAT, 0o600)
           for i in range(3)]
    try:
        assert _send_with_fds(env, REQ_BACKUP, _str("/x"), fds) is None
    finally:
        for fd in fds:
            os.close(fd)
    assert all(os.path.getsize(env.dir / ("f%d" % i)) == 0
               for i in range(3))
    env.ctl_ok("status")


def test_backup_relative_dir_made_absolute_by_mfadctl(env):
    target = env.dir / "rel"
    target.mkdir(mode=0o700)
    r = subprocess.run([str(h.MFADCTL), "-s", str(env.sock), "backup",
                        "rel"], cwd=str(env.dir), capture_output=True,
                       text=True, timeout=h.TIMEOUT)
    assert r.returncode == CTL_OK, r.stderr
    assert str(target) in r.stdout
    assert sorted(os.listdir(target)) == ["data.mdb", "mfad.key"]


def test_backup_makes_a_missing_directory(env):
    """A DIR that does not exist is made, mode 0700; one whose parent
    does not exist is an error, and nothing is made."""
    target = env.dir / "new"
    env.ctl_ok("backup", target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
    assert sorted(os.listdir(target)) == ["data.mdb", "mfad.key"]
    for name in ("data.mdb", "mfad.key"):
        assert stat.S_IMODE(os.stat(target / name).st_mode) == 0o600
    rc, out, err = env.ctl("backup", env.dir / "no" / "such")
    assert rc == CTL_REFUSED, (rc, out, err)
    assert not os.path.exists(env.dir / "no")


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


def test_backup_refuses_foreign_owner_and_file(env):
    """A directory of another user and a plain file are refused."""
    other = env.dir / "nobodys"
    other.mkdir(mode=0o700)
    os.chown(other, 65534, 65534)
    _assert_refused(env, other, "owned")
    assert os.listdir(other) == []
    rc, out, err = env.ctl("backup", env.conf)
    assert rc == CTL_REFUSED, (rc, out, err)


def test_backup_is_audited(env):
    target = env.dir / "audited"
    target.mkdir(mode=0o700)
    env.ctl_ok("backup", target)
    recs = [r for r in _events(env) if r["event"] == "backup"]
    assert len(recs) == 1 and recs[0]["result"] == "success"
    assert str(target) in recs[0]["detail"]


def _skips_the_code(env, rhost):
    sent = env.smtp.count(ALICE, h.has_code)
    login = env.login(rhost=rhost)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    assert login.result() == PAM_SUCCESS, login.dump()
    assert not any(PROMPT_CODE in t for _, t in login.lines()), login.dump()
    time.sleep(1)
    assert env.smtp.count(ALICE, h.has_code) == sent


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
    _skips_the_code(env, "192.0.2.77")
    assert len(env.ctl_json("device", "list", "alice")) == 1


def test_backup_by_mfad_as_its_own_user_into_root_directory_and_restore(
        make_env):
    """Issue 11 point 9: mfad runs as a user of its own (as under the
    shipped unit) and backs up into a root-only directory it could not
    open itself, because mfadctl makes the files and hands them over.
    Then the restore path end to end: stop mfad, put the copy in place
    as its database, start it, and a device remembered before the
    backup still skips the code."""
    from test_install import SERVICE_USER, _system_user
    pw = _system_user(SERVICE_USER)
    try:
        env = make_env({"mfad": {"user": SERVICE_USER}})
        env.add_user("alice")
        assert os.stat(env.db).st_uid == pw.pw_uid
        env.full_login(rhost="192.0.2.78", remember="y")
        backups = env.dir / "backups"
        backups.mkdir(mode=0o700)
        target = backups / "today"
        rc = subprocess.run(
            ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
             "--clear-groups", "test", "-w", str(backups)]).returncode
        assert rc != 0, "mfad's user must not be able to write there"
        env.ctl_ok("backup", target)
        assert sorted(os.listdir(target)) == ["data.mdb", "mfad.key"]
        for name in ("data.mdb", "mfad.key"):
            st = os.stat(target / name)
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)

        env.ctl_ok("user", "add", "bob", "--email", "bob@example.org")
        env.mfad.stop()
        # Restore as mfad(8) says: the copy into the database directory,
        # owned by the user mfad runs as, mode 0600.
        shutil.rmtree(env.db)
        os.mkdir(env.db, 0o700)
        os.chown(env.db, pw.pw_uid, pw.pw_gid)
        for name in ("data.mdb", "mfad.key"):
            shutil.copyfile(target / name, env.db / name)
            os.chmod(env.db / name, 0o600)
            os.chown(env.db / name, pw.pw_uid, pw.pw_gid)
        env.mfad.start()
        _skips_the_code(env, "192.0.2.78")
        # As it was at the backup: bob came later.
        assert env.ctl("user", "show", "bob")[0] == CTL_REFUSED
    finally:
        subprocess.run(["userdel", SERVICE_USER], capture_output=True)


# ------------------------------------------------------------ throttles


def _epoch(iso):
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def _throttled_login(env):
    """A login with the right password that gets no code mailed."""
    codes = env.smtp.count(ALICE, h.has_code)
    login = env.login()
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD})
    assert rc != PAM_SUCCESS, login.dump()
    time.sleep(1)
    assert env.smtp.count(ALICE, h.has_code) == codes


@pytest.mark.mfad(code={"resend_interval": 0, "max_sends": 2})
def test_user_show_shows_mail_throttles_and_unlock_clears_them(env):
    """Issue 11 point 11: an account throttled by real logins shows each
    throttle and its end in `user show` (text and --json); `user unlock`
    clears them, and the next login gets a code at once."""
    env.full_login()
    env.full_login()
    t0 = time.time()
    _throttled_login(env)
    u = env.ctl_json("user", "show", "alice")
    assert u["mails_last_hour"] == 2, u
    assert u["resend_until"] is None, u
    end = _epoch(u["max_sends_until"])
    assert t0 - 60 + 3600 <= end <= t0 + 3601, (u, t0)
    out = env.ctl_ok("user", "show", "alice")
    assert "mail limit    %s" % u["max_sends_until"] in out, out

    # The resend_interval wait, after the newest mail.
    env.config["code"]["resend_interval"] = 600
    h.write_ini(env.conf, env.config)
    env.mfad.proc.send_signal(1)
    env.mfad.wait_log("configuration reloaded")
    u = env.ctl_json("user", "show", "alice")
    assert t0 - 60 + 600 <= _epoch(u["resend_until"]) <= t0 + 601, u
    assert "resend after  %s" % u["resend_until"] in \
        env.ctl_ok("user", "show", "alice")

    assert "unlocked" in env.ctl_ok("user", "unlock", "alice")
    u = env.ctl_json("user", "show", "alice")
    assert (u["mails_last_hour"], u["resend_until"],
            u["max_sends_until"]) == (0, None, None), u
    recs = [r for r in _events(env, "--user", "alice")
            if r["event"] == "user_unlocked"]
    assert len(recs) == 1 and "mails_cleared=2" in recs[0]["detail"], recs
    login, code = env.start_login()
    env.finish_login(login, code)
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
