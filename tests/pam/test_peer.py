"""Unprivileged callers (a screen locker running as the user) and the
daemon's own command line: SIGHUP reload, `mfad -t` (SECURITY.md rule 22,
DESIGN.md sections 4 and 5)."""

import os
import pwd
import shutil
import subprocess

import mss_harness as h
from mss_harness import PAM_AUTH_ERR, PAM_SUCCESS, PROMPT_EMAIL
from test_daemon import _records

NOBODY = pwd.getpwnam("nobody")


def _as_nobody_service(env):
    """A PAM service whose module file nobody can read: a copy in the
    scratch directory, whatever the permissions of the build tree."""
    module = env.dir / "pam_mss.so"
    shutil.copy(h.PAM_MSS, module)
    os.chmod(module, 0o755)
    shutil.copy(h.PAM_DRIVER, env.dir / "pam_driver")
    os.chmod(env.dir / "pam_driver", 0o755)
    return env.service("mss-locker", module=module)


def _login_as_nobody(env, service, user):
    return env.login(user, service=service, as_uid=NOBODY.pw_uid,
                     as_gid=NOBODY.pw_gid, driver=env.dir / "pam_driver")


def test_unprivileged_caller_authenticates_only_itself(env):
    """SECURITY 22: a process running as a user may authenticate that
    user (a screen locker), and never another one."""
    service = _as_nobody_service(env)
    env.add_user("nobody", "nobody@example.org")

    other = _login_as_nobody(env, service, "alice")
    rc = other.run({PROMPT_EMAIL: "alice@example.org",
                    "Password": h.PASSWORD}, default="000000")
    assert rc == PAM_AUTH_ERR, other.dump()
    env.smtp.assert_no_mail("alice@example.org")
    recs = env.ctl_json("audit", "--user", "alice")
    assert any(r["event"] == "peer_denied" for r in recs), recs

    own = _login_as_nobody(env, service, "nobody")
    own.expect("ECHO_ON", PROMPT_EMAIL)
    own.answer("nobody@example.org")
    own.expect("ECHO_OFF", "Password")
    own.answer(h.PASSWORD)
    own.expect("INFO", h.mask_email("nobody@example.org"))
    own.expect("ECHO_ON", h.PROMPT_CODE)
    own.answer(env.smtp.wait_for_code("nobody@example.org"))
    own.expect("INFO")
    assert own.result() == PAM_SUCCESS, own.dump()


def test_sighup_reloads_config_and_keeps_it_on_error(env):
    """SIGHUP applies a new configuration; a broken one is refused with
    file:line in the log and the running one stays."""
    env.service("mss-test", ["tries=3"])
    env.config["device"] = {"remember_days": 0}
    h.write_ini(env.conf, env.config)
    env.mfad.proc.send_signal(1)
    h.wait_until(lambda: "configuration reloaded" in env.mfad.log_text())
    login, code = env.start_login(rhost="192.0.2.80")
    login.answer(code)
    # remember_days = 0: no remember question any more.
    login.expect("INFO", "succeeded")
    assert login.result() == PAM_SUCCESS

    with open(env.conf, "a") as f:
        f.write("[code]\nlength = 5\n")
    env.mfad.proc.send_signal(1)
    h.wait_until(lambda: "reload refused" in env.mfad.log_text())
    assert "%s:" % env.conf in env.mfad.log_text()
    assert env.mfad.running
    login, code = env.start_login()
    env.finish_login(login, code)


def test_mfad_t_checks_config(env, tmp_path):
    """`mfad -t`: 0 for a good file, 1 with file:line for a bad one."""
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(env.conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("[mfad]\nsocket = /run/x.sock\nbogus = 1\n")
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "%s:3:" % bad in r.stderr


def test_mfad_t_checks_database_permissions(env):
    """`mfad -t` refuses a database directory others can write to, and
    a key file others can read (issue: checks of mfad -t)."""
    def check():
        return subprocess.run([str(h.MFAD), "-t", "-c", str(env.conf)],
                              capture_output=True, text=True)
    os.chmod(env.db, 0o777)
    r = check()
    assert r.returncode == 1 and str(env.db) in r.stderr
    os.chmod(env.db, 0o700)
    os.chmod(env.db / "mfad.key", 0o644)
    r = check()
    assert r.returncode == 1 and "mfad.key" in r.stderr
    os.chmod(env.db / "mfad.key", 0o600)
    assert check().returncode == 0


def test_map_full_fails_closed_with_a_clear_log_line(make_env):
    """SECURITY 30: when the store is full, changes are refused (the
    import reports an error, nothing half-written), mfad says why in its
    log, and logins of existing accounts still work."""
    env = make_env({"mfad": {"map_size": "1M"}})
    env.add_user("alice")
    rows = "".join("user%05d,user%05d@example.org\n" % (i, i)
                   for i in range(20000))
    rc, out, err = env.ctl("import", "-", input=rows)
    assert rc != h.CTL_OK
    # The log is written by a thread of its own, after the reply.
    assert "map_size" in env.mfad.wait_log("store full")
    assert env.mfad.running
    login, code = env.start_login()
    env.finish_login(login, code)


ADMINS, ADMIN = "mss-test-admins", "mss-test-adm"


def _admin_user():
    """A user whose only tie to ADMINS is a supplementary membership."""
    subprocess.run(["groupadd", "-f", ADMINS], check=True)
    if subprocess.run(["id", ADMIN], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-M", "-N", "-g", "nogroup", "-G", ADMINS,
                        "-s", "/usr/sbin/nologin", ADMIN], check=True)
    else:
        subprocess.run(["gpasswd", "-a", ADMIN, ADMINS], check=True,
                       capture_output=True)


def test_admin_group_members_run_admin_commands(make_env):
    """DESIGN 4: admin commands are allowed to root and admin_group; a
    member (by a supplementary group) may run them and is named in the
    audit; a non-member gets exit 4; once the membership is removed and
    mfad reloads, the former member gets exit 4 too."""
    _admin_user()
    try:
        env = make_env({"mfad": {"admin_group": ADMINS}})
        rc, _, err = env.ctl("user", "add", "gina", "--email",
                             "gina@example.org", as_user=ADMIN)
        assert rc == h.CTL_OK, err
        events = env.ctl_json("audit", "--user", "gina")
        assert any(e["event"] == "user_added" and
                   ("by=%s" % ADMIN) in e["detail"] for e in
                   _records(events)), events
        assert env.ctl("status", as_nobody=True)[0] == h.CTL_PERM
        subprocess.run(["gpasswd", "-d", ADMIN, ADMINS], check=True,
                       capture_output=True)
        env.mfad.proc.send_signal(1)
        env.mfad.wait_log("configuration reloaded")
        rc, _, err = env.ctl("status", as_user=ADMIN)
        assert rc == h.CTL_PERM, err
    finally:
        subprocess.run(["userdel", ADMIN], capture_output=True)
        subprocess.run(["groupdel", ADMINS], capture_output=True)
