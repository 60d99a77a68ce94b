"""Recovery codes (`mfadctl user recovery`), through the real programs:
mfadctl and mfad, aiosmtpd as the relay, Linux-PAM with pam_mss.

A recovery code is accepted at the code prompt of a sign-in, once, for
its own account only, whatever happened to the mail (sent, taken over,
throttled, relay down); a wrong one counts as a wrong code; the owner is
mailed when a set is made and when one is used; no code reaches a log."""

import datetime
import os
import re
import time

import pytest

import mss_harness as h
from test_enroll import FAKETIME_LIB, NEW_PASSWORD, _backdated_user, enroll
from mss_harness import (CTL_OK, CTL_PERM, CTL_REFUSED, CTL_USAGE,
                         PAM_AUTH_ERR, PAM_MAXTRIES, PAM_SUCCESS,
                         PROMPT_CODE, PROMPT_EMAIL, PROMPT_PASSWORD)

ALICE = "alice@example.org"
BOB = "bob@example.org"
CODE_FORM = re.compile(r"^[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}-"
                       r"[2-9a-hjkmnp-z]{4}$")
WRONG = "Wrong code"
THROTTLED = "Too many codes were requested"
HINT = "recovery codes"


def is_used_notice(msg):
    return "completed with one of your recovery" in h.body_text(msg)


def is_set_notice(msg):
    return "new set of recovery codes" in h.body_text(msg)


def make_codes(env, user="alice", count=None):
    args = ["user", "recovery", user]
    if count is not None:
        args += ["--count", str(count)]
    codes = env.ctl_ok(*args).split()
    assert all(CODE_FORM.match(c) for c in codes), codes
    assert len(set(codes)) == len(codes), codes
    return codes


def left(env, user="alice"):
    return env.ctl_json("user", "show", user)["recovery_codes"]


def to_prompt(env, user="alice", addr=ALICE, password=h.PASSWORD,
              info=None):
    """Email and password; then every line up to the code prompt, which
    must come. Returns (login, the lines before the prompt)."""
    login = env.login(user)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(addr)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(password)
    seen = []
    while True:
        style, text = login.next()
        if style == "ECHO_ON" and PROMPT_CODE in text:
            return login, seen
        assert style not in login.PROMPTS and style != "RESULT", \
            "no code prompt\n%s" % login.dump()
        seen.append((style, text))


def wrong_again(login):
    """A wrong code: said so, and the prompt comes again."""
    login.expect("ERROR", WRONG)
    login.expect("ECHO_ON", PROMPT_CODE)


def typed(code):
    """What a person may type: upper case, no dashes."""
    return code.replace("-", "").upper()


def test_set_prints_distinct_codes_replaces_and_mails_the_owner(env):
    codes = make_codes(env)
    assert len(codes) == 10
    assert left(env) == 10
    env.smtp.wait_for(ALICE, match=is_set_notice)
    h.wait_audited(env, "recovery_set")

    data = env.ctl_json("user", "recovery", "alice", "--count", "3")
    new = data["codes"]
    assert data["user"] == "alice" and len(new) == 3
    assert all(CODE_FORM.match(c) for c in new) and not set(new) & set(codes)
    assert left(env) == 3
    env.smtp.wait_for(ALICE, match=is_set_notice)

    # The earlier set is gone: its code is a wrong code now.
    login, _ = to_prompt(env)
    login.answer(codes[0])
    wrong_again(login)
    login.answer(new[0])
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()


def test_code_logs_in_once_and_the_owner_hears_of_it(env):
    codes = make_codes(env, count=4)
    login, _ = to_prompt(env)
    login.answer(typed(codes[1]))
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()
    assert left(env) == 3
    msg = env.smtp.wait_for(ALICE, match=is_used_notice)
    assert "mss-test" in h.body_text(msg) and not h.has_code(msg)
    h.wait_audited(env, "recovery_used")
    audit = env.ctl_json("audit", "--user", "alice")
    used = [r for r in audit if r["event"] == "recovery_used"]
    assert used and "left=3" in used[0]["detail"], used
    ok = [r for r in audit if r["event"] == "login_ok"]
    assert ok and "method=recovery" in ok[0]["detail"], ok
    metrics = env.ctl_ok("metrics")
    assert 'mfad_events_total{event="recovery_used"} 1' in metrics, metrics

    # Used: the same code is a wrong code the second time.
    login, _ = to_prompt(env)
    login.answer(codes[1])
    wrong_again(login)
    login.answer(" %s " % codes[2].replace("-", " "))
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()
    assert left(env) == 2


def test_works_with_the_relay_down(env):
    codes = make_codes(env, count=2)
    env.smtp.wait_for(ALICE, match=is_set_notice)
    env.smtp.stop()
    login, _ = to_prompt(env)
    login.answer(codes[0])
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()
    assert left(env) == 1


@pytest.mark.mfad(code={"max_sends": 1})
def test_prompt_and_code_while_mail_is_throttled(env):
    """max_sends reached, no live code to take over: an account with
    recovery codes still gets the prompt, with a line that says why no
    code came; one without gets the plain refusal as before."""
    env.add_user("bob")
    env.full_login()
    env.full_login("bob")
    codes = make_codes(env)

    login, seen = to_prompt(env)
    assert any(THROTTLED in t for _, t in seen), seen
    assert any(HINT in t for _, t in seen), seen
    login.answer("")            # a resend is still throttled
    login.expect("INFO", "wait")
    login.expect("ECHO_ON", PROMPT_CODE)
    login.answer(codes[0])
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()

    login = env.login("bob")
    rc = login.run({"Email": BOB, "Password": h.PASSWORD})
    assert rc == PAM_AUTH_ERR, login.dump()
    assert not any(PROMPT_CODE in t for _, t in login.lines("ECHO_ON"))
    assert any(THROTTLED in t for _, t in login.lines("ERROR"))


@pytest.mark.mfad(code={"resend_interval": 120})
def test_code_in_a_login_that_took_a_code_over(env):
    codes = make_codes(env)
    env.smtp.wait_for(ALICE, match=is_set_notice)
    first, _ = env.start_login()
    login, seen = to_prompt(env)
    assert any("still valid" in t for _, t in seen), seen
    login.answer(codes[0])
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()
    first.close()


def test_another_accounts_code_fails(env):
    env.add_user("bob")
    bob_codes = make_codes(env, "bob")
    make_codes(env, "alice")
    login, _ = to_prompt(env)
    login.answer(bob_codes[0])
    wrong_again(login)
    login.close()
    assert left(env, "bob") == 10 and left(env) == 10


@pytest.mark.mfad(code={"max_attempts": 2}, lockout={"threshold": 3})
def test_wrong_recovery_code_counts_as_a_wrong_code(env):
    """max_attempts ends the login, the account's failures count, and the
    lockout threshold locks it; then even a right one is refused."""
    codes = make_codes(env)
    fake = "2345-6789-abcd"
    assert fake not in codes
    env.service("mss-test", ["tries=5"])
    login, _ = to_prompt(env)
    login.answer(fake)
    wrong_again(login)
    login.answer(fake.upper())
    login.expect("ERROR", "Too many wrong codes")
    assert login.result() == PAM_MAXTRIES, login.dump()
    assert env.ctl_json("user", "show", "alice")["failures"] == 2

    login, _ = to_prompt(env)
    login.answer(fake)
    login.expect("ERROR", "Too many wrong codes")
    assert login.result() == PAM_MAXTRIES, login.dump()
    show = env.ctl_json("user", "show", "alice")
    assert show["state"] == "locked" and show["failures"] == 3, show

    login = env.login("alice")
    rc = login.run({"Email": ALICE, "Password": h.PASSWORD},
                   default=codes[0])
    assert rc == PAM_AUTH_ERR, login.dump()
    assert left(env) == 10


def test_revoke(env):
    codes = make_codes(env)
    rc, out, err = env.ctl("user", "recovery", "alice", "--revoke")
    assert rc == CTL_OK, err
    assert left(env) == 0
    h.wait_audited(env, "recovery_revoked")
    login, _ = to_prompt(env)
    login.answer(codes[0])
    wrong_again(login)
    login.close()


def test_reenroll_and_del_drop_the_codes(env):
    make_codes(env)
    env.ctl_ok("user", "reenroll", "alice")
    assert left(env) == 0
    make_codes(env)
    env.ctl_ok("user", "del", "alice")
    env.add_user("alice")
    assert left(env) == 0


def test_access_usage_and_unknown_user(env):
    rc, out, _ = env.ctl("user", "recovery", "alice", as_nobody=True)
    assert rc == CTL_PERM and out == ""
    for bad in (["--count", "0"], ["--count", "101"], ["--count", "x"],
                ["--count"], ["--count", "2", "--revoke"], ["--bogus"]):
        rc, out, _ = env.ctl("user", "recovery", "alice", *bad)
        assert rc == CTL_USAGE and out == "", bad
    rc, _, err = env.ctl("user", "recovery", "ghost")
    assert rc == CTL_REFUSED and "no such user" in err
    assert len(make_codes(env, count=1)) == 1
    assert len(make_codes(env, count=100)) == 100
    assert left(env) == 100


def test_no_code_in_logs_or_audit(env):
    codes = make_codes(env, count=5)
    login, _ = to_prompt(env)
    login.answer(codes[0])
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()
    login, _ = to_prompt(env)
    login.answer(codes[0])          # a replay, logged as a wrong code
    wrong_again(login)
    login.close()
    h.wait_audited(env, "recovery_used")
    time.sleep(0.5)
    text = env.mfad.log_text() + env.ctl_ok("--json", "audit")
    for c in codes:
        for form in (c, c.replace("-", ""), typed(c)):
            assert form not in text, form


def test_long_answer_is_a_wrong_code(env):
    """The module bounds what it sends: an answer longer than any code
    is a wrong code, not a request mfad would refuse (which would end
    the login as "unavailable")."""
    codes = make_codes(env, count=1)
    login, _ = to_prompt(env)
    login.answer("x" * 65)
    wrong_again(login)
    login.answer(codes[0] + "-" * 40)   # 54 characters: still a code
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()


@pytest.mark.skipif(not os.path.exists(FAKETIME_LIB) or h.SANITIZED,
                    reason="libfaketime is not installed, or cannot be "
                    "preloaded in a sanitizer build")
def test_policy_reenrollment_drops_reset_keeps(make_env):
    """A password reset keeps the codes (they replace the mailbox, which
    the reset proved, not the password); a re-enrollment required by
    [policy] reenroll_before drops them when it completes, as `user
    reenroll` does at once."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    yesterday = (today - datetime.timedelta(days=1)).isoformat()
    env = _backdated_user(make_env, {})
    make_codes(env, count=3)

    login = env.start_empty_password()
    login.answer(env.smtp.wait_for_code(ALICE))
    login.expect("ECHO_OFF", "New password")
    login.answer(NEW_PASSWORD)
    login.expect("ECHO_OFF")
    login.answer(NEW_PASSWORD)
    assert login.result() == PAM_AUTH_ERR, login.dump()
    h.wait_audited(env, "password_reset")
    assert left(env) == 3

    env.config["policy"] = {"reenroll_before": yesterday}
    h.write_ini(env.conf, env.config)
    env.mfad.restart()
    assert env.ctl_json("user", "show", "alice")["state"] == "reenroll"
    enroll(env, "alice", ALICE, password=h.PASSWORD, old=NEW_PASSWORD)
    assert left(env) == 0


def test_not_for_a_reset(env):
    """A reset proves the mailbox: a recovery code is a wrong code at its
    prompt, and stays unused."""
    codes = make_codes(env, count=2)
    login = env.start_empty_password()
    login.answer(codes[0])
    wrong_again(login)
    login.close()
    assert left(env) == 2


def test_mails_in_french(make_env):
    env = make_env()
    env.add_user("alice", lang="fr")
    codes = make_codes(env, count=1)
    msg = env.smtp.wait_for(ALICE, match=lambda m: "codes de secours" in
                            h.body_text(m))
    assert "Nouveaux codes de secours" in msg["Subject"]
    login, _ = to_prompt(env)
    login.answer(codes[0])
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()
    msg = env.smtp.wait_for(ALICE, match=lambda m: "code de secours" in
                            str(m["Subject"]))
    assert "validée avec l'un de vos codes de" in h.body_text(msg)


@pytest.mark.mfad(mail={"max_per_minute": 2})
def test_full_mail_ceiling_fails_closed(env):
    """The owner must hear of a new set and of a use: while the host's
    mail ceiling is full, `user recovery` changes nothing (status 1), a
    recovery code at the prompt is refused and stays unused, and the
    right password of an account with codes reads the same "try later"
    as a wrong one (no prompt: SECURITY 36)."""
    env.add_user("bob")
    codes = make_codes(env, count=2)               # mail 1
    login, _ = to_prompt(env)                      # mail 2: full
    rc, out, err = env.ctl("user", "recovery", "alice")
    assert rc == CTL_REFUSED and out == "" and "ceiling" in err, err
    assert left(env) == 2
    login.answer(codes[0])
    assert login.result() == h.PAM_AUTHINFO_UNAVAIL, login.dump()
    assert left(env) == 2
    assert "recovery_used" not in env.ctl_ok("--json", "audit")

    def answer(password):
        login = env.login("alice")
        rc = login.run({"Email": ALICE, "Password": password},
                       default=codes[1])
        return [t for s, t in login.lines() if s != "RESULT"], rc

    assert answer(h.PASSWORD) == answer("a wrong password here")
    assert left(env) == 2
