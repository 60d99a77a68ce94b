"""Failures that must look alike, and account lockout (SECURITY.md rules
7-9 and 13; DESIGN.md section 3)."""

import pytest

import mss_harness as h
from mss_harness import (GENERIC_FAILURE, PAM_AUTH_ERR, PAM_SUCCESS,
                         PROMPT_EMAIL, PROMPT_PASSWORD)

ALICE = "alice@example.org"


def failed_login(env, addr, password, **kw):
    """Email and password, then the one generic failure; the transcript."""
    login = env.login(**kw)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(addr)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(password)
    login.expect("ERROR", GENERIC_FAILURE)
    assert login.result() == PAM_AUTH_ERR, login.dump()
    return login.transcript


def test_unknown_email_and_wrong_password_identical(env):
    """SECURITY 13, DESIGN 3: an unknown address and a wrong password give
    the same conversation, line for line, and no mail for either."""
    unknown = failed_login(env, "nobody-here@example.org", h.PASSWORD)
    wrong = failed_login(env, ALICE, h.WRONG_PASSWORD)
    assert unknown == wrong
    env.smtp.assert_no_mail()


def test_email_of_another_account_is_generic_failure(env):
    """SECURITY 13: bob's address with bob's password does not log in as
    alice, and says nothing more than a wrong password would."""
    env.add_user("bob")
    other = failed_login(env, "bob@example.org", h.PASSWORD)
    wrong = failed_login(env, ALICE, h.WRONG_PASSWORD)
    assert other == wrong
    env.smtp.assert_no_mail()


def test_locked_account_same_message_as_wrong_password(env):
    """SECURITY 13: a locked account with the right password gets the same
    conversation as a wrong password, no mail, and account management
    refuses it (PAM_PERM_DENIED)."""
    wrong = failed_login(env, ALICE, h.WRONG_PASSWORD)
    env.ctl_ok("user", "lock", "alice")
    locked = failed_login(env, ALICE, h.PASSWORD)
    assert locked == wrong
    env.smtp.assert_no_mail()

    login = env.login(acct=True)
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD})
    assert rc == PAM_AUTH_ERR
    assert login.result("acct_mgmt") == h.PAM_PERM_DENIED, login.dump()


def test_unlocked_account_logs_in_again(env):
    """An admin unlock restores the account."""
    env.ctl_ok("user", "lock", "alice")
    failed_login(env, ALICE, h.PASSWORD)
    env.ctl_ok("user", "unlock", "alice")
    env.full_login()


def test_acct_mgmt_active_account_succeeds(env):
    """After a full login, account management accepts an active account."""
    env.full_login(acct=True)
    assert env.logins[-1].result("acct_mgmt") == PAM_SUCCESS


@pytest.mark.mfad(lockout={"threshold": 3})
def test_lockout_after_threshold_wrong_passwords(env):
    """SECURITY 7 and 9: three wrong passwords, each from a different
    address, lock the account: the right password then fails with the
    generic message and no mail; `mfadctl user unlock` restores it."""
    for i in range(3):
        failed_login(env, ALICE, h.WRONG_PASSWORD, rhost="192.0.2.%d" % i)
    failed_login(env, ALICE, h.PASSWORD, rhost="192.0.2.99")
    env.smtp.assert_no_mail(match=h.has_code)
    # The owner is told of the lockout (issue 7's "account locked" mail).
    notice = env.smtp.wait_for(ALICE, match=h.is_notice)
    assert "locked" in str(notice["Subject"])
    assert env.smtp.count(ALICE) == 1
    env.ctl_ok("user", "unlock", "alice")
    env.full_login()


@pytest.mark.mfad(lockout={"threshold": 3})
def test_lockout_counter_reset_by_success_only(env):
    """SECURITY 8: a success resets the failure count, so 2 + 2 failures
    around a success do not lock; 2 failures, an interrupted login (a new
    login is no success), 1 failure do."""
    for _ in range(2):
        failed_login(env, ALICE, h.WRONG_PASSWORD)
    env.full_login()
    for _ in range(2):
        failed_login(env, ALICE, h.WRONG_PASSWORD)
    # Right password, code mailed, login abandoned: not a success.
    login, _code = env.start_login()
    login.close()
    failed_login(env, ALICE, h.WRONG_PASSWORD)
    failed_login(env, ALICE, h.PASSWORD)


@pytest.mark.mfad(lockout={"threshold": 3})
def test_lockout_shows_in_user_show(env):
    """SECURITY 7: the lock is visible to the admin; below the threshold
    the account is not locked."""
    for _ in range(2):
        failed_login(env, ALICE, h.WRONG_PASSWORD)
    u = env.ctl_json("user", "show", "alice")
    assert u["state"] != "locked" and not u["locked_until"], u
    assert u["failures"] == 2, u
    failed_login(env, ALICE, h.WRONG_PASSWORD)
    u = env.ctl_json("user", "show", "alice")
    assert u["state"] == "locked" or u["locked_until"], u


def wait_unlocked(env):
    """Sleeps until alice's timed lock has run out."""
    import datetime
    import time
    u = env.ctl_json("user", "show", "alice")
    until = datetime.datetime.fromisoformat(
        u["locked_until"].replace("Z", "+00:00")).timestamp()
    time.sleep(max(0.0, until - time.time()) + 0.5)


def audit_events(env, event):
    return [r for r in env.ctl_json("audit", "--user", "alice")
            if r["event"] == event]


@pytest.mark.mfad(lockout={"threshold": 2, "duration": 3})
def test_lock_end_does_not_forgive(env):
    """SECURITY 37: when a lock runs out the failure count stays, so the
    next wrong password locks the account again, for twice as long; the
    owner is mailed at the first lock, not again within a day; only a
    success ends the streak."""
    for _ in range(2):
        failed_login(env, ALICE, h.WRONG_PASSWORD)
    env.smtp.wait_for(ALICE, match=h.is_notice)
    assert len(audit_events(env, "account_locked")) == 1
    wait_unlocked(env)
    failed_login(env, ALICE, h.WRONG_PASSWORD)
    locks = audit_events(env, "account_locked")
    assert len(locks) == 2, locks
    assert any("3 failures: locked for 6s" in r["detail"] for r in locks)
    u = env.ctl_json("user", "show", "alice")
    assert u["failures"] == 3 and u["locked_until"], u
    # Locked: the right password fails like a wrong one.
    failed_login(env, ALICE, h.PASSWORD)
    env.smtp.assert_no_mail(wait=0.5, match=h.has_code)
    assert env.smtp.count(ALICE) == 1   # one lock notice, not two
    wait_unlocked(env)
    env.full_login()
    assert env.ctl_json("user", "show", "alice")["failures"] == 0
