"""The login conversation and the one-time code (DESIGN.md section 3,
SECURITY.md rules 1-6, 8 and 28)."""

import re
import time

import pytest

import mss_harness as h
from mss_harness import (PAM_SUCCESS, PROMPT_CODE, PROMPT_EMAIL,
                         PROMPT_PASSWORD, PROMPT_REMEMBER)

ALICE = "alice@example.org"


def test_happy_path_conversation_order_and_echo_flags(env):
    """DESIGN 3: email (echo on), password (echo off), a notice with the
    masked address and the validity in minutes, the code (echo on), then
    a success notice and PAM_SUCCESS."""
    login = env.login()
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    info = login.expect("INFO", "al*****@example*****")
    assert ALICE not in info
    assert re.search(r"\b5\b", info) and "minute" in info, info
    login.expect("ECHO_ON", PROMPT_CODE)
    msg = env.smtp.wait_for(ALICE, match=h.has_code)
    code = h.code_from(msg)
    assert len(code) == 6
    login.answer(code)
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS
    # Without a device identity there is no remember prompt.
    assert not any(PROMPT_REMEMBER in t for _, t in login.lines())


def test_code_mail_has_code_in_body_only(env):
    """SECURITY 28: the code is in the body, never in the Subject; the body
    is UTF-8 text; the mail goes to the account's address from the
    configured sender."""
    login, code = env.start_login()
    msg = [m for _, _, m in env.smtp.messages if code in h.body_text(m)][0]
    assert code not in str(msg["Subject"])
    assert msg["Subject"]
    assert code in h.body_text(msg)
    assert ALICE in str(msg["To"])
    assert "mfad@example.org" in str(msg["From"])
    part = msg.get_body(preferencelist=("plain",))
    assert part.get_content_charset() in ("utf-8", "us-ascii")
    for name, value in msg.items():
        if name.lower() != "subject":
            assert code not in str(value), name
    env.finish_login(login, code)


def test_code_is_random_per_login(env):
    """SECURITY 1: each login gets a fresh code of `length` digits."""
    codes = [env.full_login() for _ in range(4)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(set(codes)) > 1, codes


def test_wrong_code_then_right_code_succeeds(env):
    """DESIGN 3: a wrong code gives an error line and the prompt again."""
    login, code = env.start_login()
    login.answer(h.wrong_code(code))
    login.expect("ERROR")
    login.expect("ECHO_ON", PROMPT_CODE)
    env.finish_login(login, code)


def test_wrong_codes_exhaust_tries(env):
    """DESIGN 3: after `tries` wrong codes the login fails."""
    login, code = env.start_login()
    login.answer(h.wrong_code(code))
    rc = login.run({PROMPT_CODE: h.wrong_code(code)}, max_prompts=2)
    assert rc != PAM_SUCCESS
    assert rc in (h.PAM_AUTH_ERR, h.PAM_MAXTRIES), login.dump()


@pytest.mark.mfad(code={"ttl": 2})
def test_expired_code_is_refused(env):
    """SECURITY 2: a code is rejected once `ttl` has passed, however often
    it is tried."""
    login, code = env.start_login()
    time.sleep(3)
    login.answer(code)
    rc = login.run({PROMPT_CODE: code})
    assert rc != PAM_SUCCESS, login.dump()
    assert login.lines("ERROR"), login.dump()


def test_code_replay_fails(env):
    """SECURITY 2: a used code cannot be used again: login B answering with
    login A's code is refused, and B's own code still works."""
    code_a = env.full_login()
    login_b, code_b = env.start_login()
    h.need_distinct(code_a, code_b)
    login_b.answer(code_a)
    login_b.expect("ERROR")
    login_b.expect("ECHO_ON", PROMPT_CODE)
    env.finish_login(login_b, code_b)


def test_code_bound_to_its_login(env):
    """SECURITY 3: a live code mailed for login A is refused in a
    concurrent login B of the same user."""
    login_a, code_a = env.start_login()
    login_b, code_b = env.start_login()
    h.need_distinct(code_a, code_b)
    login_b.answer(code_a)
    login_b.expect("ERROR")
    login_b.expect("ECHO_ON", PROMPT_CODE)
    env.finish_login(login_b, code_b)
    login_a.close()


def test_code_bound_to_its_user(env):
    """SECURITY 3: a live code mailed to alice is refused in bob's login."""
    env.add_user("bob")
    login_a, code_a = env.start_login()
    login_b, code_b = env.start_login("bob")
    h.need_distinct(code_a, code_b)
    login_b.answer(code_a)
    login_b.expect("ERROR")
    login_b.expect("ECHO_ON", PROMPT_CODE)
    env.finish_login(login_b, code_b)
    login_a.close()


def test_resend_kills_old_code(env):
    """SECURITY 5, DESIGN 3: an empty answer mails a new code with a notice;
    the old code is then refused and the new one accepted."""
    env.service("mss-test", ["tries=5"])
    login, old = env.start_login()
    login.answer("")
    login.expect("INFO")
    login.expect("ECHO_ON", PROMPT_CODE)
    new = env.smtp.wait_for_code(ALICE)
    h.need_distinct(old, new)
    login.answer(old)
    login.expect("ERROR")
    login.expect("ECHO_ON", PROMPT_CODE)
    env.finish_login(login, new)


@pytest.mark.mfad(code={"max_attempts": 2})
def test_code_dead_after_max_attempts(env):
    """SECURITY 6: after `max_attempts` wrong entries even the right code
    fails (tries=5 leaves the module room to ask again)."""
    env.service("mss-test", ["tries=5"])
    login, code = env.start_login()
    login.answer(h.wrong_code(code))
    login.expect("ERROR")
    login.expect("ECHO_ON", PROMPT_CODE)
    login.answer(h.wrong_code(h.wrong_code(code)))
    rc = login.run({PROMPT_CODE: code})
    assert rc != PAM_SUCCESS, login.dump()


@pytest.mark.mfad(code={"max_attempts": 2})
def test_resend_does_not_reset_code_attempts(env):
    """SECURITY 8, DESIGN 5 ("a resend never resets failure counters"): one
    wrong code, a resend, one wrong code: the login's attempts are spent
    and the fresh code no longer works."""
    env.service("mss-test", ["tries=6"])
    login, code = env.start_login()
    login.answer(h.wrong_code(code))
    login.expect("ERROR")
    login.expect("ECHO_ON", PROMPT_CODE)
    login.answer("")
    login.expect("INFO")
    login.expect("ECHO_ON", PROMPT_CODE)
    new = env.smtp.wait_for_code(ALICE)
    login.answer(h.wrong_code(new))
    rc = login.run({PROMPT_CODE: new})
    assert rc != PAM_SUCCESS, login.dump()


def test_password_not_echoed_code_echoed(env):
    """DESIGN 3: the password is the only prompt with echo off."""
    env.full_login()
    login = env.logins[-1]
    prompts = login.lines("ECHO_ON", "ECHO_OFF")
    assert prompts == [("ECHO_ON", PROMPT_EMAIL),
                       ("ECHO_OFF", PROMPT_PASSWORD),
                       ("ECHO_ON", PROMPT_CODE)], login.dump()


def test_two_handles_in_one_process_at_once(env):
    """DESIGN 2 (the module holds no state between calls): two PAM handles
    in two threads of one process, interleaved, each finish with their
    own code; the other's code is refused."""
    env.service("mss-test")
    twin = h.TwinLogin(env.pamd, "mss-test", "alice")
    env.logins.append(twin)
    codes = {}
    for tid in (1, 2):
        twin.expect_of(tid, "ECHO_ON", PROMPT_EMAIL)
        twin.answer_to(tid, ALICE)
    for tid in (1, 2):
        twin.expect_of(tid, "ECHO_OFF", PROMPT_PASSWORD)
    for tid in (1, 2):
        # One at a time, so each mail is known to belong to its login.
        twin.answer_to(tid, h.PASSWORD)
        twin.expect_of(tid, "INFO", h.mask_email(ALICE))
        twin.expect_of(tid, "ECHO_ON", PROMPT_CODE)
        codes[tid] = env.smtp.wait_for_code(ALICE)
    h.need_distinct(codes[1], codes[2])
    twin.answer_to(2, codes[1])
    twin.expect_of(2, "ERROR")
    twin.expect_of(2, "ECHO_ON", PROMPT_CODE)
    twin.answer_to(1, codes[1])
    twin.answer_to(2, codes[2])
    for tid in (1, 2):
        twin.expect_of(tid, "INFO")
        assert twin.result_of(tid) == PAM_SUCCESS, twin.dump()
