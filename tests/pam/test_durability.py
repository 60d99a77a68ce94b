"""Which replies wait for the disk (mfad(8), DURABILITY): a
remembered-device login whose only changes are its last use, the last
login and the audit copy of its success is answered before they are
synced, and they are committed with the next group commit; every change
that guards something (failure counts, code attempts, locks, ...) is on
disk before its reply. mfad is killed with SIGKILL right after such a
reply, then started again on the same store."""

import time
from datetime import datetime

import pytest

import mss_harness as h
from mss_harness import PAM_SUCCESS, PROMPT_CODE, PROMPT_EMAIL, \
    PROMPT_PASSWORD

ALICE = "alice@example.org"
RHOST = "192.0.2.7"
REQ_AUTH_START, REP_AUTH = 2, 101
AUTH_DENIED, AUTH_OK = 0, 1


def epoch(v):
    return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()


def last_used(env):
    devs = env.ctl_json("device", "list", "alice")
    if isinstance(devs, dict):
        devs = next(v for v in devs.values() if isinstance(v, list))
    assert len(devs) == 1, devs
    return epoch(devs[0]["last_used"])


def device_logins(env):
    return [r for r in env.ctl_json("audit", "--user", "alice",
                                    "--limit", "1000")
            if r.get("event") == "login_ok" and
            "method=device" in r.get("detail", "")]


def remembered_login(env):
    login = env.login("alice", rhost=RHOST)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    assert login.result() == PAM_SUCCESS, login.dump()
    assert not any(PROMPT_CODE in t for _, t in login.lines()), \
        login.dump()


def wrong_password(env):
    login = env.login("alice", rhost=RHOST)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD + "x")
    assert login.result() != PAM_SUCCESS, login.dump()


def raw_auth(env, password):
    """AUTH_START as pam_mss frames it (as root: a trusted PAM caller),
    from the remembered device; returns the result byte. No process to
    start: the next step follows the reply within milliseconds."""
    payload = b"".join(h.pstr(s) for s in (
        "mss-test", "alice", ALICE, password, "rhost:" + RHOST, RHOST, "",
        "en")) + (0).to_bytes(4, "big")
    rep = h.raw_request(env.sock, REQ_AUTH_START, payload)
    assert rep is not None and rep[0] == REP_AUTH, rep
    return rep[1][0]


def remember_device(env):
    env.full_login("alice", rhost=RHOST, remember="y")
    # Whole seconds in the store: the next use is in a later second.
    time.sleep(1.1)
    return last_used(env), len(device_logins(env))


def test_device_login_last_use_and_audit_seen_by_next_request(env):
    """The reply did not wait, but the next request (here an admin read,
    which runs after the carried changes are committed) sees them."""
    used, n = remember_device(env)
    remembered_login(env)
    assert last_used(env) > used
    assert len(device_logins(env)) == n + 1


def test_device_login_changes_survive_a_stop(env):
    """SIGTERM commits what is carried: nothing is lost by a stop."""
    used, n = remember_device(env)
    remembered_login(env)
    env.mfad.restart()
    assert last_used(env) > used
    assert len(device_logins(env)) == n + 1


def test_device_login_changes_committed_with_next_durable_reply(env):
    """A wrong password right after a remembered-device login: its reply
    waits for the sync of its batch, which holds the login's carried
    changes too (in order). SIGKILL right after it loses neither."""
    used, n = remember_device(env)
    remembered_login(env)
    wrong_password(env)
    env.mfad.kill()
    env.mfad.start()
    assert env.ctl_json("user", "show", "alice")["failures"] == 1
    assert last_used(env) > used
    assert len(device_logins(env)) == n + 1


def test_wrong_password_count_survives_sigkill(env):
    """A failure count is on disk before its reply."""
    for i in (1, 2):
        wrong_password(env)
        env.mfad.kill()
        env.mfad.start()
        assert env.ctl_json("user", "show", "alice")["failures"] == i


@pytest.mark.mfad(code={"max_attempts": 2})
def test_wrong_code_attempt_survives_sigkill(env):
    """A code attempt is on disk before its reply: after SIGKILL and a
    restart, the second wrong code spends the login's attempts, so the
    right code no longer works."""
    env.service("mss-test", ["tries=6"])
    login, code = env.start_login(rhost=RHOST)
    login.answer(h.wrong_code(code))
    login.expect("ERROR")
    login.expect("ECHO_ON", PROMPT_CODE)
    env.mfad.kill()
    env.mfad.start()
    login.answer(h.wrong_code(code))
    rc = login.run({PROMPT_CODE: code})
    assert rc != PAM_SUCCESS, login.dump()


def test_carried_login_commits_with_next_durable_reply_raw(env):
    """The same, with both requests as frames a few milliseconds apart:
    the device login is still carried when the wrong password comes, and
    SIGKILL follows that reply at once."""
    used, n = remember_device(env)
    assert raw_auth(env, h.PASSWORD) == AUTH_OK
    assert raw_auth(env, h.PASSWORD + "x") == AUTH_DENIED
    env.mfad.kill()
    env.mfad.start()
    assert env.ctl_json("user", "show", "alice")["failures"] == 1
    assert last_used(env) > used
    assert len(device_logins(env)) == n + 1


def test_wrong_password_count_survives_sigkill_at_once(env):
    """SIGKILL a few milliseconds after a wrong password's reply, well
    inside the window a carried change may wait: the count is there."""
    for i in (1, 2, 3):
        assert raw_auth(env, h.PASSWORD + "x") == AUTH_DENIED
        env.mfad.kill()
        env.mfad.start()
        assert env.ctl_json("user", "show", "alice")["failures"] == i


def test_device_login_clearing_failures_waits_for_disk(env):
    """A remembered-device login after a wrong password clears the
    account's failure count: that change guards something, so this login
    is not answered early (before its batch is on disk). SIGKILL right
    after its reply keeps the count at zero and the login's record."""
    used, n = remember_device(env)
    assert raw_auth(env, h.PASSWORD + "x") == AUTH_DENIED
    assert raw_auth(env, h.PASSWORD) == AUTH_OK
    env.mfad.kill()
    env.mfad.start()
    assert env.ctl_json("user", "show", "alice")["failures"] == 0
    assert last_used(env) > used
    assert len(device_logins(env)) == n + 1


def test_early_answers_recorded_in_order_with_a_later_failure(env):
    """Many remembered-device logins answered early, then a wrong
    password: SIGKILL right after its reply loses neither the count nor
    any of the records queued before it, each counted once."""
    used, n = remember_device(env)
    for _ in range(20):
        assert raw_auth(env, h.PASSWORD) == AUTH_OK
    assert raw_auth(env, h.PASSWORD + "x") == AUTH_DENIED
    env.mfad.kill()
    env.mfad.start()
    assert env.ctl_json("user", "show", "alice")["failures"] == 1
    assert last_used(env) > used
    assert len(device_logins(env)) == n + 20
