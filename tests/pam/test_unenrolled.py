"""unenrolled=deny|ignore (pam_mss(8)): with ignore, a user mfad has no
account for gets PAM_IGNORE from auth and account, without a prompt, and
the rest of the stack decides; an account that exists, in any state, is
never ignored; the default (deny) is unchanged."""

import mss_harness as h
from mss_harness import (PAM_AUTH_ERR, PAM_PERM_DENIED, PAM_SUCCESS,
                         PAM_USER_UNKNOWN, PROMPT_EMAIL, PROMPT_PASSWORD)

ALICE = "alice@example.org"
IGNORED = "authentication ignored; service=%s"


def stack(env, name, last, args=("unenrolled=ignore",)):
    """pam_mss that skips on PAM_IGNORE, then LAST decides; the same
    for account."""
    line = " ".join(["socket=%s" % env.sock, "lang=en", "tries=3"] +
                    list(args))
    (env.pamd / name).write_text(
        "auth [success=done ignore=ignore default=die] %s %s\n"
        "auth required %s\n"
        "account [success=ok ignore=ignore default=die] %s %s\n"
        "account required %s\n" % (h.PAM_MSS, line, last, h.PAM_MSS, line,
                                   last))
    return name


def run(env, user, service, answers=None):
    """One transaction with account management and the module's log on
    stderr; returns (login, log)."""
    login = env.login(user, service=service, acct=True, extra_args=["-l"])
    login.run(answers or {}, default=None)
    login.result("acct_mgmt")
    login.close()
    return login, login.proc.stderr.read()


def test_unenrolled_user_falls_through_without_a_prompt(env):
    service = stack(env, "gradual-permit", "pam_permit.so")
    login, log = run(env, "bob", service)
    assert login.results["authenticate"] == PAM_SUCCESS, login.dump()
    assert login.results["acct_mgmt"] == PAM_SUCCESS, login.dump()
    assert not login.lines("ECHO_ON", "ECHO_OFF"), login.dump()
    # Logged each time, for auth and for account; the name only with
    # audit.
    assert log.count(IGNORED % service) == 1, log
    assert "account ignored; service=%s" % service in log, log
    assert "bob" not in log, log
    env.smtp.assert_no_mail(wait=0.5)


def test_unenrolled_user_then_pam_deny_is_refused(env):
    service = stack(env, "gradual-deny", "pam_deny.so")
    login, log = run(env, "bob", service)
    assert login.results["authenticate"] == PAM_AUTH_ERR, login.dump()
    assert not login.lines("ECHO_ON", "ECHO_OFF"), login.dump()
    assert IGNORED % service in log, log


def test_audit_names_the_ignored_user(env):
    service = stack(env, "gradual-audit", "pam_permit.so",
                    ("unenrolled=ignore", "audit"))
    login, log = run(env, "bob", service)
    assert login.results["authenticate"] == PAM_SUCCESS, login.dump()
    assert "user=bob: no account, unenrolled=ignore" in log, log


def test_enrolled_user_still_needs_the_code(env):
    service = stack(env, "gradual-code", "pam_permit.so")
    # A wrong code every time: pam_permit after the line must not let
    # the login through.
    login = env.login("alice", service=service, acct=True)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    code = env.smtp.wait_for_code(ALICE)
    rc = login.run({"code": h.wrong_code(code)})
    assert rc != PAM_SUCCESS, login.dump()
    # The right code still logs in.
    login, code = env.start_login("alice", service=service)
    env.finish_login(login, code)


def _refused_with_prompts(env, service, user, addr, password=h.PASSWORD):
    login, log = run(env, user, service,
                     {PROMPT_EMAIL: addr, PROMPT_PASSWORD: password})
    assert login.lines("ECHO_ON")[0][1] == PROMPT_EMAIL, login.dump()
    assert login.results["authenticate"] != PAM_SUCCESS, login.dump()
    assert "ignored;" not in log, log
    return login


def test_locked_account_is_not_ignored(env):
    env.ctl_ok("user", "lock", "alice")
    service = stack(env, "gradual-locked", "pam_permit.so")
    _refused_with_prompts(env, service, "alice", ALICE)


def test_invited_account_is_not_ignored(env):
    env.ctl_ok("user", "add", "carol", "--email", "carol@example.org")
    service = stack(env, "gradual-invited", "pam_permit.so")
    _refused_with_prompts(env, service, "carol", "carol@example.org")


def test_default_deny_is_unchanged(env):
    for name, args in (("gradual-default", ()),
                       ("gradual-explicit", ("unenrolled=deny",))):
        service = stack(env, name, "pam_permit.so", args)
        login, log = run(env, "bob", service,
                         {PROMPT_EMAIL: "bob@example.org",
                          PROMPT_PASSWORD: h.PASSWORD})
        assert login.lines("ECHO_ON")[0][1] == PROMPT_EMAIL, login.dump()
        assert login.results["authenticate"] == PAM_AUTH_ERR, login.dump()
        assert login.results["acct_mgmt"] == PAM_USER_UNKNOWN, login.dump()
        assert "ignored;" not in log, log


def test_bad_value_refuses_to_run(env):
    service = stack(env, "gradual-bad", "pam_permit.so",
                    ("unenrolled=maybe",))
    login, log = run(env, "bob", service)
    assert login.results["authenticate"] not in (PAM_SUCCESS,
                                                 PAM_PERM_DENIED), \
        login.dump()
    assert 'bad value in argument "unenrolled=maybe"' in log, log


def test_disabled_account_is_not_ignored(env):
    env.ctl_ok("user", "disable", "alice")
    service = stack(env, "gradual-disabled", "pam_permit.so")
    login = _refused_with_prompts(env, service, "alice", ALICE)
    assert login.results["acct_mgmt"] == PAM_PERM_DENIED, login.dump()
