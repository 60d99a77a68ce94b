"""The sign-in path leaks no password silently (SECURITY.md rule 36) and a
second login within `resend_interval` continues with the live code
(DESIGN.md section 3), through the real module, mfad and SMTP."""

import time

import pytest

import mss_harness as h
from mss_harness import (GENERIC_FAILURE, PAM_AUTH_ERR, PAM_SUCCESS,
                         PROMPT_CODE, PROMPT_EMAIL, PROMPT_PASSWORD)

ALICE = "alice@example.org"
THROTTLED = "Too many codes were requested"
STILL_VALID = "is still valid for"
MOVED = "A newer login is using this code"


def _subject(msg):
    return str(msg["Subject"])


def is_throttle_notice(msg):
    return "no code was sent" in _subject(msg)


def is_takeover_notice(msg):
    return "second sign-in" in _subject(msg)


def password_step(env, addr, password, user="alice"):
    """A login that has answered the email and password prompts."""
    login = env.login(user)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(addr)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(password)
    return login


def refused(env, addr, password, user="alice"):
    """Email and password, then one error line and a failure: (error
    text, result, whole transcript)."""
    login = password_step(env, addr, password, user)
    style, text = login.next()
    assert style == "ERROR", login.dump()
    rc = login.result()
    return text, rc, login.transcript


def take_over(env, user="alice", addr=ALICE):
    """A second login whose password step continues with the live code:
    the "still valid" line and the code prompt. Returns the login."""
    login = password_step(env, addr, h.PASSWORD, user)
    info = login.expect("INFO", STILL_VALID)
    assert h.mask_email(addr) in info and addr not in info, info
    login.expect("ECHO_ON", PROMPT_CODE)
    return login


# --------------------------------------------------------------------------
# Point 1: the per-account throttle tells the owner


@pytest.mark.parametrize("limit", [{"resend_interval": 120},
                                   {"max_sends": 1}],
                         ids=["resend_interval", "max_sends"])
def test_right_password_while_throttled_mails_the_owner(make_env, limit):
    """SECURITY 36: after a used code, inside the per-account limit, the
    right password is answered "throttled" and the owner gets a notice
    (with service, rhost and host); a second try within the hour gets no
    second notice; a wrong password in the same state is "invalid" and
    mails nothing."""
    env = make_env({"code": limit})
    env.add_user("alice")
    env.full_login()
    env.service("mss-test")

    text, rc, _ = refused(env, ALICE, h.PASSWORD)
    assert THROTTLED in text and rc == PAM_AUTH_ERR, text
    msg = env.smtp.wait_for(ALICE, match=is_throttle_notice)
    body = h.body_text(msg)
    assert "mss-test" in body and not h.has_code(msg), body
    assert "reset" in body.lower()
    h.wait_audited(env, "throttle_noticed")

    text, rc, _ = refused(env, ALICE, h.PASSWORD)
    assert THROTTLED in text and rc == PAM_AUTH_ERR, text
    before = len(env.smtp.messages)
    text, rc, _ = refused(env, ALICE, h.WRONG_PASSWORD)
    assert text == GENERIC_FAILURE and rc == PAM_AUTH_ERR, text
    time.sleep(2)
    assert len(env.smtp.messages) == before
    assert env.smtp.count(ALICE, is_throttle_notice) == 1
    assert env.smtp.count(ALICE, h.has_code) == 1


def test_throttle_notice_in_french(make_env):
    """Every mail in both languages: the notice follows the account's."""
    env = make_env({"code": {"resend_interval": 120}})
    env.add_user("alice", lang="fr")
    env.full_login()
    refused(env, ALICE, h.PASSWORD)
    msg = env.smtp.wait_for(ALICE, match=lambda m: not h.has_code(m))
    assert "sans envoi de code" in _subject(msg)
    assert "réinitialisez" in h.body_text(msg)


# --------------------------------------------------------------------------
# Point 1: the global ceiling is no oracle


def test_full_ceiling_answers_alike_whatever_the_password(make_env):
    """SECURITY 36: with [mail] max_per_minute reached, a wrong password,
    an unknown user and the right password get the same conversation,
    byte for byte, and the same PAM result; no mail goes out."""
    env = make_env({"mail": {"max_per_minute": 2}})
    env.add_user("alice")
    env.add_user("bob")
    env.full_login()
    env.full_login("bob")
    time.sleep(1)
    sent = len(env.smtp.messages)

    wrong = refused(env, ALICE, h.WRONG_PASSWORD)
    unknown = refused(env, "ghost@example.org", h.PASSWORD, user="ghost")
    right = refused(env, ALICE, h.PASSWORD)
    assert wrong[0].startswith(THROTTLED), wrong
    assert wrong == unknown == right
    assert wrong[1] == PAM_AUTH_ERR
    assert len(env.smtp.messages) == sent
    h.wait_audited(env, "throttled")


def test_full_ceiling_hides_a_takeover_too(make_env):
    """SECURITY 36: a login that would take a live code over gets the same
    "try later" as a wrong password while the ceiling is full."""
    env = make_env({"mail": {"max_per_minute": 2},
                    "code": {"resend_interval": 120}})
    env.add_user("alice")
    env.add_user("bob")
    env.full_login("bob")
    login_a, _ = env.start_login()
    wrong = refused(env, ALICE, h.WRONG_PASSWORD)
    right = refused(env, ALICE, h.PASSWORD)
    assert wrong == right and THROTTLED in wrong[0], (wrong, right)
    time.sleep(1)
    assert env.smtp.count(ALICE, is_takeover_notice) == 0
    login_a.close()


# --------------------------------------------------------------------------
# Point 2: a second login continues with the live code


@pytest.mark.mfad(code={"resend_interval": 120})
def test_second_login_takes_the_live_code_over(env):
    """DESIGN 3: a second (and a third) login within resend_interval
    continue with the code already mailed ("still valid"); the newest one
    logs in with it; the earlier prompts refuse it (MOVED); the owner gets
    exactly one takeover notice for the code; the code is single use."""
    env.service("mss-test", ["tries=5"])
    login_a, code = env.start_login()
    login_b = take_over(env)
    login_c = take_over(env)
    time.sleep(1)
    assert env.smtp.count(ALICE, h.has_code) == 1

    notice = env.smtp.wait_for(ALICE, match=is_takeover_notice)
    assert "mss-test" in h.body_text(notice) and not h.has_code(notice)
    h.wait_audited(env, "code_taken_over")

    login_a.answer(code)
    login_a.expect("ERROR", MOVED)
    assert login_a.result() == PAM_AUTH_ERR, login_a.dump()
    login_b.answer(code)
    login_b.expect("ERROR", MOVED)
    assert login_b.result() == PAM_AUTH_ERR, login_b.dump()
    env.finish_login(login_c, code)

    # Used: nothing left to take over; the next login is throttled.
    text, rc, _ = refused(env, ALICE, h.PASSWORD)
    assert THROTTLED in text and rc == PAM_AUTH_ERR, text
    time.sleep(1)
    assert env.smtp.count(ALICE, is_takeover_notice) == 1
    assert env.smtp.count(ALICE, h.has_code) == 1


@pytest.mark.mfad(code={"resend_interval": 120, "max_attempts": 3})
def test_takeover_keeps_the_wrong_code_count(env):
    """SECURITY 6 and 8: the wrong entries of a code go with it; taking it
    over does not give an attacker fresh tries."""
    env.service("mss-test", ["tries=5"])
    login_a, code = env.start_login()
    login_a.answer(h.wrong_code(code))
    login_a.expect("ERROR")
    login_a.expect("ECHO_ON", PROMPT_CODE)
    login_a.answer(h.wrong_code(h.wrong_code(code)))
    login_a.expect("ERROR")
    login_a.expect("ECHO_ON", PROMPT_CODE)
    login_b = take_over(env)
    login_b.answer(h.wrong_code(code))
    rc = login_b.run({PROMPT_CODE: code})
    assert rc != PAM_SUCCESS, login_b.dump()
    login_a.close()


@pytest.mark.mfad(code={"resend_interval": 120})
def test_code_of_another_login_still_fails(env):
    """SECURITY 3: a code works only in the login that holds it: alice's
    code (taken over by her second login) fails in bob's login, and bob's
    code fails in alice's; each works in its own."""
    env.add_user("bob")
    env.service("mss-test", ["tries=5"])
    login_a, code_a = env.start_login()
    login_a2 = take_over(env)
    login_b, code_b = env.start_login("bob")
    h.need_distinct(code_a, code_b)
    login_b.answer(code_a)
    login_b.expect("ERROR")
    login_b.expect("ECHO_ON", PROMPT_CODE)
    login_a2.answer(code_b)
    login_a2.expect("ERROR")
    login_a2.expect("ECHO_ON", PROMPT_CODE)
    env.finish_login(login_a2, code_a)
    env.finish_login(login_b, code_b)
    login_a.close()


@pytest.mark.mfad(code={"resend_interval": 120})
def test_takeover_in_french(env):
    """The "still valid" line and the MOVED refusal exist in French."""
    env.service("mss-test", ["tries=5"])
    (env.pamd / "mss-fr").write_text(
        (env.pamd / "mss-test").read_text().replace("lang=en", "lang=fr"))
    login_a, code = env.start_login()
    login_b = env.login(service="mss-fr")
    login_b.expect("ECHO_ON", "Adresse e-mail")
    login_b.answer(ALICE)
    login_b.expect("ECHO_OFF", "Mot de passe")
    login_b.answer(h.PASSWORD)
    login_b.expect("INFO", "est encore valable")
    login_b.expect("ECHO_ON", "Code")
    login_a.answer(code)
    login_a.expect("ERROR", MOVED)
    login_a.result()
    login_c = env.login(service="mss-fr")
    login_c.expect("ECHO_ON")
    login_c.answer(ALICE)
    login_c.expect("ECHO_OFF")
    login_c.answer(h.PASSWORD)
    login_c.expect("INFO", "est encore valable")
    login_c.expect("ECHO_ON")
    login_b.answer(code)
    login_b.expect("ERROR", "Une connexion plus récente utilise ce code")
    assert login_b.result() == PAM_AUTH_ERR
    login_c.close()
