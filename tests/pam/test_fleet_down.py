"""Fleet mode with the directory down: a real mfad whose [directory]
points at a port where nothing listens. Every login through the real
module is refused with the unavailable message and the result of
failmode (never a success, never a factor dropped, never a failure
counted), mfadctl's account commands exit 3 with "the directory is
unreachable", status still answers and says so, and mfad keeps running
and logs the refusals."""

import os

import pytest

import mss_harness as h
from mss_harness import (PAM_AUTHINFO_UNAVAIL, PROMPT_EMAIL,
                         PROMPT_PASSWORD)

ALICE = "alice@example.org"
CREDS = {PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD}
UNAVAIL_EN = "The authentication service is unavailable."
UNAVAIL_FR = "Le service d'authentification est indisponible."
DIR_DOWN = "the directory is unreachable"
# pam_debug answers PAM_MODULE_UNKNOWN: seen only when pam_mss said
# PAM_IGNORE and the stack went on (as in test_daemon.py).
PAM_MODULE_UNKNOWN = 28


@pytest.fixture
def denv(make_env):
    env = make_env(start=False)
    key = env.dir / "fleet.key"
    pw = env.dir / "ldap.pw"
    key.write_bytes(os.urandom(32))
    pw.write_text("secret\n")
    os.chmod(key, 0o600)
    os.chmod(pw, 0o600)
    env.config["device"] = {"scope": "fleet"}
    env.config["directory"] = {
        # Two providers, neither listening: both are tried, both fail.
        "uri": "ldap://127.0.0.1:%d ldap://127.0.0.1:%d" % (
            h.free_port(), h.free_port()),
        "base": "ou=people,dc=example,dc=org",
        "bind_dn": "cn=host1,ou=mfad,ou=services,dc=example,dc=org",
        "bind_pw_file": pw,
        "key_file": key,
        "timeout": "0.5",
    }
    h.write_ini(env.conf, env.config)
    env.start()
    return env


def _service(env, name, *args):
    (env.pamd / name).write_text(
        "auth required %s socket=%s tries=3 %s\n"
        "account required %s socket=%s\n" %
        (h.PAM_MSS, env.sock, " ".join(args), h.PAM_MSS, env.sock))
    return name


def _marker_service(env, name, failmode):
    (env.pamd / name).write_text(
        "auth [success=done ignore=ignore default=die] %s socket=%s "
        "lang=en failmode=%s\n"
        "auth required pam_debug.so auth=module_unknown\n" %
        (h.PAM_MSS, env.sock, failmode))
    return name


def _errors(login):
    return [text for _, text in login.lines("ERROR")]


def _audit(env):
    return env.ctl_json("audit", "--limit", "1000")


def test_login_refused_unavailable_failmode_secure(denv):
    login = denv.login(service=_service(denv, "fl-sec", "lang=en"))
    assert login.run(CREDS) == PAM_AUTHINFO_UNAVAIL, login.dump()
    assert UNAVAIL_EN in _errors(login), login.dump()
    # Refused before anything was decided: no code was mailed.
    denv.smtp.assert_no_mail(wait=0.5)
    denv.mfad.wait_log("auth from uid 0 refused: " + DIR_DOWN)
    assert denv.mfad.running


def test_login_refused_in_french(denv):
    login = denv.login(service=_service(denv, "fl-fr", "lang=fr"))
    rc = login.run({"": [ALICE, h.PASSWORD]})
    assert rc == PAM_AUTHINFO_UNAVAIL, login.dump()
    assert UNAVAIL_FR in _errors(login), login.dump()


def test_login_failmode_safe_is_ignore(denv):
    """failmode=safe: PAM_IGNORE, the stack goes on to the next module."""
    login = denv.login(service=_marker_service(denv, "fl-safe", "safe"))
    assert login.run(CREDS) == PAM_MODULE_UNKNOWN, login.dump()


def test_login_failmode_secure_stops_the_stack(denv):
    login = denv.login(service=_marker_service(denv, "fl-secs", "secure"))
    assert login.run(CREDS) == PAM_AUTHINFO_UNAVAIL, login.dump()


def test_wrong_password_is_not_a_denial(denv):
    """Not even a wrong password is answered as one: nothing can be
    checked, and nothing is counted against the account."""
    login = denv.login(service=_service(denv, "fl-wrong", "lang=en"))
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.WRONG_PASSWORD})
    assert rc == PAM_AUTHINFO_UNAVAIL, login.dump()
    assert h.GENERIC_FAILURE not in [t for _, t in login.lines()]
    events = [(r["event"], r["result"]) for r in _audit(denv)
              if r.get("user") == "alice"]
    assert not [e for e in events if e[1] == "failure"], events


def test_reset_refused_unavailable(denv):
    """The empty password (a reset by mailed code) is refused alike."""
    login = denv.login(service=_service(denv, "fl-reset", "lang=en"))
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: ""})
    assert rc == PAM_AUTHINFO_UNAVAIL, login.dump()
    assert UNAVAIL_EN in _errors(login), login.dump()
    denv.smtp.assert_no_mail(wait=0.5)


def test_device_login_refused(denv):
    """A login that names a device (here an SSH key in the environment)
    is refused too: no remembered device can be looked up."""
    login = denv.login(service=_service(denv, "fl-dev", "lang=en"),
                       rhost="192.0.2.7",
                       pamenv=["SSH_AUTH_INFO_0=publickey ssh-ed25519 "
                               "AAAAC3NzaC1lZDI1NTE5AAAAIFleet"])
    assert login.run(CREDS) == PAM_AUTHINFO_UNAVAIL, login.dump()


@pytest.mark.parametrize("args", [
    ("user", "add", "alice", "--email", ALICE),
    ("user", "show", "alice"),
    ("user", "lock", "alice"),
    ("user", "unlock", "alice"),
    ("user", "del", "alice"),
    ("user", "recovery", "alice"),
    ("user", "list"),
    ("device", "list", "alice"),
    ("device", "revoke", "alice", "--all"),
])
def test_mfadctl_refuses_with_status_3(denv, args):
    rc, out, err = denv.ctl(*args)
    assert rc == h.CTL_UNREACHABLE, (rc, out, err)
    assert err == "mfadctl: %s %s: %s\n" % (args[0], args[1], DIR_DOWN), \
        err
    assert out == ""
    assert denv.mfad.running


def test_mfadctl_user_add_message(denv):
    rc, out, err = denv.ctl("user", "add", "alice", "--email", ALICE)
    assert rc == h.CTL_UNREACHABLE
    assert err == "mfadctl: user add: %s\n" % DIR_DOWN


def test_mfadctl_import_refused(denv):
    rc, out, err = denv.ctl("import", "-", input="alice,%s,en\n" % ALICE)
    assert rc == h.CTL_UNREACHABLE, (rc, out, err)
    assert DIR_DOWN in err


def test_mfadctl_json_names_the_code(denv):
    rc, out, err = denv.ctl("--json", "user", "show", "alice")
    assert rc == h.CTL_UNREACHABLE, (rc, out, err)


def test_status_says_unreachable(denv):
    out = denv.ctl_ok("status")
    assert "directory        unreachable" in out, out
    assert "accounts         -" in out, out
    st = denv.ctl_json("status")
    assert st["directory"] == "unreachable"
    assert st["accounts"] is None


def test_metrics_say_the_directory_is_down(denv):
    out = denv.ctl_ok("metrics")
    lines = out.splitlines()
    assert "mfad_directory_up 0" in lines, out
    assert not [ln for ln in lines if ln.startswith("mfad_accounts")], out


def test_mfad_keeps_running_and_logs(denv):
    for _ in range(3):
        denv.ctl("user", "show", "alice")
        login = denv.login(service=_service(denv, "fl-run", "lang=en"))
        assert login.run(CREDS) == PAM_AUTHINFO_UNAVAIL
    assert denv.mfad.running
    log = denv.mfad.wait_log(DIR_DOWN)
    assert "refused: " + DIR_DOWN in log, log
    # The next start works alike: nothing was left half done.
    denv.mfad.restart()
    assert denv.ctl("user", "show", "alice")[0] == h.CTL_UNREACHABLE
