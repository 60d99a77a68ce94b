"""Enrollment, forced re-enrollment, forgot password and passwd, through
the real module, a real mfad and the code read from the SMTP server
(DESIGN.md section 3; SECURITY.md rules 12, 15, 17-20)."""

import datetime
import os

import pytest

import mss_harness as h
from mss_harness import (PAM_AUTH_ERR, PAM_SUCCESS, PASSWORD, PROMPT_CODE,
                         PROMPT_EMAIL, PROMPT_PASSWORD, PROMPT_REMEMBER)

BOB = "bob@example.org"
NEW_PASSWORD = "a brand new passphrase"
PROMPT_NEW = "New password: "
PROMPT_AGAIN = "Repeat the new password: "
GENERIC = h.GENERIC_FAILURE


def invite(env, user="bob", addr=BOB, lang="en"):
    env.ctl_ok("user", "add", user, "--email", addr, "--lang", lang)
    return addr


def enroll(env, user="bob", addr=BOB, password=NEW_PASSWORD, rhost=None,
           remember=None, old=""):
    """Runs an enrollment to the end: email, an empty password (or the
    old one of a re-enrollment), the code, a new password twice;
    returns the login and the code mail."""
    login = env.login(user, rhost=rhost)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(addr)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(old)
    if old == "":
        login.expect("INFO", "reset")
    info = login.expect("INFO", h.mask_email(addr))
    assert addr not in info
    login.expect("ECHO_ON", PROMPT_CODE)
    msg = env.smtp.wait_for(addr, match=h.has_code)
    login.answer(h.code_from(msg))
    login.expect("INFO", "confirmed")
    login.expect("ECHO_OFF", PROMPT_NEW)
    login.answer(password)
    login.expect("ECHO_OFF", PROMPT_AGAIN)
    login.answer(password)
    login.expect("INFO", "Enrollment complete")
    if remember is not None:
        login.expect("ECHO_ON", PROMPT_REMEMBER)
        login.answer(remember)
    login.expect("INFO", "succeeded")
    assert login.result() == PAM_SUCCESS, login.dump()
    return login, msg


def login_with(env, user, addr, password, **kw):
    """A normal login to the code prompt; returns (login, code)."""
    return env.start_login(user, addr=addr, password=password, **kw)


def test_invited_user_enrolls_then_logs_in(env):
    """DESIGN 3: email, an empty password, mailed code, new password
    twice, then the login completes; the enrollment is confirmed by mail
    (SECURITY 19)."""
    invite(env)
    assert env.ctl_json("user", "show", "bob")["state"] == "invited"
    env.smtp.wait_for(BOB, match=h.is_notice)       # the invitation
    _, msg = enroll(env)
    assert h.code_from(msg) not in str(msg["Subject"])
    notice = env.smtp.wait_for(BOB, match=h.is_notice)
    assert notice is not None
    shown = env.ctl_json("user", "show", "bob")
    assert shown["state"] == "active" and shown["enrolled"]
    login, code = login_with(env, "bob", BOB, NEW_PASSWORD)
    env.finish_login(login, code)


@pytest.mark.parametrize("lang,subject,says", [
    ("en", "Your account on ", "Your account was set up"),
    ("fr", "Votre compte sur ", "Votre compte a été créé"),
])
def test_enrollment_mail_says_the_account_is_ready(env, lang, subject, says):
    """The enrollment's confirmation has its own mail, in the account's
    language, not the "password changed" one: the account is ready, from
    which service and when, and what to do if it was not you."""
    invite(env, lang=lang)
    env.smtp.wait_for(BOB, match=h.is_notice)       # the invitation
    enroll(env, rhost="192.0.2.61", remember="n")
    notice = env.smtp.wait_for(BOB, match=h.is_notice)
    subj = str(notice["Subject"])
    assert subj.startswith(subject) and "password" not in subj and \
        "passe" not in subj, subj
    assert subj.endswith(" is ready") or subj.endswith(" est prêt"), subj
    body = h.body_text(notice)
    assert says in body and "192.0.2.61" in body and "mss-test" in body, \
        body
    assert "UTC" in body, body


def test_invited_user_cannot_log_in_with_noenroll(env):
    """noenroll: an invited account gets the generic failure for any
    password, and an empty password a decoy: no code mail."""
    invite(env)
    env.smtp.wait_for(BOB, match=h.is_notice)       # the invitation
    env.service("mss-test", ["noenroll"])
    login = env.login("bob")
    rc = login.run({PROMPT_EMAIL: BOB, PROMPT_PASSWORD: "whatever it is"})
    assert rc == PAM_AUTH_ERR
    assert ("ERROR", GENERIC) in login.lines("ERROR")
    login = env.login("bob")
    rc = login.run({PROMPT_EMAIL: BOB, PROMPT_PASSWORD: "",
                    PROMPT_CODE: ["123456"] * 3})
    assert rc != PAM_SUCCESS
    assert PROMPT_NEW not in "\n".join(login.transcript)
    env.smtp.assert_no_mail(BOB, match=h.has_code)


def test_enrollment_with_wrong_email_mails_nothing(env):
    """The address must match the invitation; otherwise the same words as
    for any address, no mail to anyone, and no code can work."""
    invite(env)
    env.smtp.wait_for(BOB, match=h.is_notice)       # the invitation
    env.service("mss-test", ["tries=2"])
    login = env.login("bob")
    rc = login.run({PROMPT_EMAIL: "mallory@example.org",
                    PROMPT_PASSWORD: "", PROMPT_CODE: ["123456"] * 2})
    assert rc != PAM_SUCCESS
    env.smtp.assert_no_mail(match=h.has_code)
    assert env.ctl_json("user", "show", "bob")["state"] == "invited"


def test_enrollment_refuses_weak_passwords_then_accepts(make_env, tmp_path):
    """SECURITY 12: too short, blocklisted (case-insensitive), equal to
    the user name or the address's local part, and a mismatch each get a
    clear reason and another try; no composition rule."""
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text("# common passwords\nPassword1234\n")
    env = make_env({"password": {"blocklist": blocklist},
                    "code": {"max_attempts": 5}})
    env.service("mss-test", ["tries=6"])
    invite(env, "bobthebuilder1", "bob.longname@example.org")
    login = env.start_empty_password("bobthebuilder1",
                                     "bob.longname@example.org")
    login.answer(env.smtp.wait_for_code("bob.longname@example.org"))
    login.expect("INFO", "confirmed")
    attempts = [
        ("short", "short", "too short"),
        ("PASSWORD1234", "PASSWORD1234", "too common"),
        ("bobthebuilder1", "bobthebuilder1", "user name"),
        ("Bob.Longname", "Bob.Longname", "user name"),
        ("one passphrase here", "another passphrase", "differ"),
    ]
    for first, second, reason in attempts:
        login.expect("ECHO_OFF", PROMPT_NEW)
        login.answer(first)
        login.expect("ECHO_OFF", PROMPT_AGAIN)
        login.answer(second)
        assert reason in login.expect("ERROR")
    login.expect("ECHO_OFF", PROMPT_NEW)
    login.answer("all lowercase words no digits")
    login.expect("ECHO_OFF", PROMPT_AGAIN)
    login.answer("all lowercase words no digits")
    login.expect("INFO", "Enrollment complete")
    assert login.result() == PAM_SUCCESS, login.dump()


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def _backdated_user(make_env, config, user="alice", days=3):
    """An account enrolled `days` ago: mfad runs with libfaketime while
    the account is created, then normally. (env execs mfad, so SIGTERM
    reaches mfad itself; the faketime command would stand in between.)"""
    env = make_env(config, start=False)
    env.mfad.wrapper = ["env", "LD_PRELOAD=" + FAKETIME_LIB,
                        "FAKETIME=-%dd" % days]
    env.start()
    env.add_user(user)
    env.mfad.stop()
    env.mfad.wrapper = []
    env.start()
    return env


@pytest.mark.skipif(not os.path.exists(FAKETIME_LIB) or h.SANITIZED,
                    reason="libfaketime is not installed, or cannot be "
                    "preloaded in a sanitizer build")
def test_reenroll_policy_on_both_sides_of_the_date(make_env):
    """[policy] reenroll_before: an account enrolled before the date must
    enroll again once the date has come (its right password leads, after
    the mailed code, to a new password, and the login completes; an
    empty password enrolls as well); a date still to come, or an account
    enrolled after it, changes nothing."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    yesterday = (today - datetime.timedelta(days=1)).isoformat()
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()

    env = _backdated_user(make_env, {"policy": {"reenroll_before":
                                                tomorrow}})
    login, code = env.start_login()
    env.finish_login(login, code)

    env.config["policy"]["reenroll_before"] = yesterday
    h.write_ini(env.conf, env.config)
    env.mfad.restart()
    assert env.ctl_json("user", "show", "alice")["state"] == "reenroll"
    enroll(env, "alice", "alice@example.org", old=PASSWORD)
    assert env.ctl_json("user", "show", "alice")["state"] == "active"
    login, code = login_with(env, "alice", "alice@example.org",
                             NEW_PASSWORD)
    env.finish_login(login, code)

    env.add_user("carol")        # enrolled today, after the date
    login, code = env.start_login("carol")
    env.finish_login(login, code)


def test_reenroll_by_admin_revokes_devices_and_requires_enrollment(env):
    """`mfadctl user reenroll`: the next login enrolls again; remembered
    devices are revoked (SECURITY 17)."""
    env.full_login(rhost="192.0.2.30", remember="y")
    assert len(env.ctl_json("device", "list", "alice")) == 1
    env.ctl_ok("user", "reenroll", "alice")
    assert env.ctl_json("device", "list", "alice") == []
    # The right password: no device skips the code, then a new password.
    enroll(env, "alice", "alice@example.org", rhost="192.0.2.30",
           remember="n", old=PASSWORD)
    login, code = login_with(env, "alice", "alice@example.org",
                             NEW_PASSWORD, rhost="192.0.2.30")
    env.finish_login(login, code, remember="n")
    # Again, with an empty password this time.
    env.ctl_ok("user", "reenroll", "alice")
    enroll(env, "alice", "alice@example.org", password="a third passphrase",
           rhost="192.0.2.30", remember="n")
    login, code = login_with(env, "alice", "alice@example.org",
                             "a third passphrase")
    env.finish_login(login, code)


def _reset_transcript(env, user, addr):
    """Empty password: the reset notice, the code-sent line, the code
    prompt; a wrong code; returns the transcript lines so far."""
    login = env.start_empty_password(user, addr)
    login.answer("000000")
    style, text = login.next()
    login.close()
    return login.transcript[:-1] + [style + " " + text]


def test_reset_same_conversation_for_enrolled_and_unknown(env):
    """SECURITY 15: a reset answers the same whether the address is
    enrolled or not, and mails only the enrolled one."""
    env.add_user("mallory1", "mallory1@example.org")
    real = _reset_transcript(env, "alice", "alice@example.org")
    assert env.smtp.wait_for_code("alice@example.org")
    # Another user typing alice's address: a decoy, same words, no mail.
    decoy = _reset_transcript(env, "mallory1", "alice@example.org")
    ghost = _reset_transcript(env, "ghost", "alice@example.org")
    assert real == decoy == ghost, (real, decoy, ghost)
    env.smtp.assert_no_mail("mallory1@example.org")
    assert env.smtp.count("alice@example.org", h.has_code) == 1


def test_reset_changes_password_revokes_devices_and_fails_login(env):
    """SECURITY 17-19: reset needs the mailed code; afterwards the login
    fails with "log in again", remembered devices are gone, a notice is
    mailed, the old password no longer works and the new one does."""
    env.full_login(rhost="192.0.2.40", remember="y")
    assert len(env.ctl_json("device", "list", "alice")) == 1
    login = env.start_empty_password("alice")
    msg = env.smtp.wait_for("alice@example.org", match=h.has_code)
    login.answer(h.code_from(msg))
    login.expect("ECHO_OFF", PROMPT_NEW)
    login.answer(NEW_PASSWORD)
    login.expect("ECHO_OFF", PROMPT_AGAIN)
    login.answer(NEW_PASSWORD)
    login.expect("ERROR", "log in again")
    assert login.result() == PAM_AUTH_ERR
    assert env.ctl_json("device", "list", "alice") == []
    assert env.smtp.wait_for("alice@example.org", match=lambda m: (
        h.is_notice(m) and "password" in str(m["Subject"])))

    old = env.login("alice")
    assert old.run({PROMPT_EMAIL: "alice@example.org",
                    PROMPT_PASSWORD: PASSWORD}) == PAM_AUTH_ERR
    login, code = login_with(env, "alice", "alice@example.org",
                             NEW_PASSWORD)
    env.finish_login(login, code)


def test_reset_wrong_code_changes_nothing(env):
    """A reset without the right code sets no password."""
    env.service("mss-test", ["tries=2"])
    login = env.login("alice")
    rc = login.run({PROMPT_EMAIL: "alice@example.org", PROMPT_PASSWORD: "",
                    PROMPT_CODE: ["111111", "222222"]})
    assert rc != PAM_SUCCESS
    assert PROMPT_NEW not in "\n".join(login.transcript)
    env.smtp.wait_for_code("alice@example.org")     # the unused reset code
    login, code = login_with(env, "alice", "alice@example.org", PASSWORD)
    env.finish_login(login, code)


def test_noreset_empty_password_mails_nothing(env):
    """noreset: an empty password of an active account gets the words of
    any address and a decoy: no mail, no code can work."""
    env.service("mss-test", ["noreset", "tries=2"])
    login = env.login("alice")
    rc = login.run({PROMPT_EMAIL: "alice@example.org", PROMPT_PASSWORD: "",
                    PROMPT_CODE: ["123456"] * 2})
    assert rc != PAM_SUCCESS
    assert PROMPT_NEW not in "\n".join(login.transcript)
    env.smtp.assert_no_mail()


def test_noreset_noenroll_empty_password_is_generic_failure(env):
    """noreset and noenroll: an empty password is just a wrong one."""
    env.service("mss-test", ["noreset", "noenroll"])
    login = env.login("alice")
    rc = login.run({PROMPT_EMAIL: "alice@example.org", PROMPT_PASSWORD: ""})
    assert rc == PAM_AUTH_ERR
    assert ("ERROR", GENERIC) in login.lines("ERROR")
    env.smtp.assert_no_mail()


def _passwd(env, answers, user="alice"):
    login = env.login(user, extra_args=["-c"])
    n = 0
    while "chauthtok" not in login.results:
        style, text = login.next()
        if style in login.PROMPTS:
            n += 1
            assert n < 20, login.dump()
            for key, val in answers.items():
                if key in text:
                    login.answer(val.pop(0) if isinstance(val, list)
                                 else val)
                    break
            else:
                raise AssertionError("unexpected prompt %r\n%s" %
                                     (text, login.dump()))
    return login, login.results["chauthtok"]


def test_passwd_changes_password_with_policy(env):
    """pam_sm_chauthtok: the current password, then the new one twice,
    under the same policy; a notice is mailed (SECURITY 19)."""
    login, rc = _passwd(env, {"Current password": PASSWORD,
                              PROMPT_NEW: ["short", NEW_PASSWORD],
                              PROMPT_AGAIN: ["short", NEW_PASSWORD]})
    assert rc == PAM_SUCCESS, login.dump()
    assert any("too short" in t for _, t in login.lines("ERROR"))
    assert env.smtp.wait_for("alice@example.org", match=h.is_notice)
    login, code = login_with(env, "alice", "alice@example.org",
                             NEW_PASSWORD)
    env.finish_login(login, code)


def test_passwd_wrong_current_password_fails(env):
    """A wrong current password changes nothing."""
    login, rc = _passwd(env, {"Current password": "not my password",
                              PROMPT_NEW: NEW_PASSWORD,
                              PROMPT_AGAIN: NEW_PASSWORD})
    assert rc != PAM_SUCCESS
    login, code = login_with(env, "alice", "alice@example.org", PASSWORD)
    env.finish_login(login, code)


def test_admin_password_stdin_is_audited_and_never_shown(env):
    """SECURITY 20: --password-stdin sets a password for automation, is
    audited, and no admin command shows a password or its hash."""
    env.add_user("dave")
    recs = env.ctl_json("audit", "--user", "dave")
    assert any(r.get("event") == "password_set" for r in recs), recs
    shown = env.ctl_ok("--json", "user", "show", "dave")
    assert PASSWORD not in shown and "$argon2" not in shown
