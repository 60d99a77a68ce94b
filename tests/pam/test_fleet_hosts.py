"""Two hosts of a fleet: two real mfad, each with its own local store and
its own mfad.key, sharing one directory of two real OpenLDAP providers
(tests/fleet/fleet_harness.py) and one fleet key. What one host writes
holds on the other: an account, its recovery codes (keyed by the fleet
key), a device remembered with [device] scope = fleet. People come from
the directory: mfadctl refuses a user without a person entry. And with
both providers stopped, the hosts refuse logins as unavailable."""

import os
import sys
import time

import pytest

import mss_harness as h
from mss_harness import (PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS, PROMPT_CODE,
                         PROMPT_EMAIL, PROMPT_PASSWORD)

sys.path.insert(0, str(h.SRC_ROOT / "tests" / "fleet"))
import fleet_harness as fh  # noqa: E402

ALICE = "alice@example.org"
NO_PERSON = ("no person entry in the directory (people are created with "
             "the directory's own tools)")


@pytest.fixture
def fleet():
    missing = fh.missing_tools()
    if missing:
        pytest.skip("not installed: " + ", ".join(missing))
    f = fh.Fleet()
    try:
        f.start()
        c = f.conn(f.a)
        for uid in ("alice", "bob"):
            dn, oc, attrs = fh.person(uid, mfad=False)
            assert c.add(dn, oc, attrs), c.result
        c.unbind()
        f.wait_replicated("uid=bob," + fh.PEOPLE)
        yield f
    finally:
        f.close()


@pytest.fixture
def hosts(fleet, make_env):
    key = os.urandom(32)
    envs = []
    for name, dn, first, second in (
            ("host-a", fh.HOST_A_DN, fleet.a, fleet.b),
            ("host-b", fh.HOST_B_DN, fleet.b, fleet.a)):
        env = make_env(start=False)
        (env.dir / "fleet.key").write_bytes(key)
        (env.dir / "ldap.pw").write_text(fh.HOST_PW + "\n")
        for f in ("fleet.key", "ldap.pw"):
            os.chmod(env.dir / f, 0o600)
        env.config["device"] = {"scope": "fleet"}
        env.config["directory"] = {
            # Each host asks its own provider first, so that what one
            # writes reaches the other through replication.
            "uri": "%s %s" % (first.url, second.url),
            "base": fh.PEOPLE,
            "bind_dn": dn,
            "bind_pw_file": env.dir / "ldap.pw",
            "ca_file": fleet.ca,
            "key_file": env.dir / "fleet.key",
            "host": name,
            "timeout": "2",
        }
        h.write_ini(env.conf, env.config)
        env.start()
        envs.append(env)
    return envs


def _shown(env, user):
    rc, out, _ = env.ctl("--json", "user", "show", user)
    return rc == h.CTL_OK


def _to_code_prompt(env, rhost=None):
    login = env.login("alice", rhost=rhost)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    while True:
        style, text = login.next()
        if style == "ECHO_ON" and PROMPT_CODE in text:
            return login
        assert style not in login.PROMPTS and style != "RESULT", \
            login.dump()


def test_user_add_needs_a_person_entry(hosts):
    a, _ = hosts
    rc, out, err = a.ctl("user", "add", "carol", "--email",
                         "carol@example.org")
    assert rc == h.CTL_REFUSED, (rc, out, err)
    assert err == "mfadctl: user add: carol: %s\n" % NO_PERSON, err


def test_import_reports_a_missing_person_on_its_line(hosts):
    a, b = hosts
    rc, out, err = a.ctl("import", "-", input="bob,bob@example.org,en\n"
                         "carol,carol@example.org,en\n")
    assert rc == h.CTL_REFUSED, (rc, out, err)
    assert "carol: " + NO_PERSON in out + err, (out, err)
    # The line before it was done, on both hosts.
    h.wait_until(lambda: _shown(b, "bob"), what="bob on host B")


def test_account_added_on_one_host_logs_in_on_the_other(hosts):
    a, b = hosts
    a.add_user("alice")
    h.wait_until(lambda: _shown(b, "alice"), what="alice on host B")
    b.full_login("alice")
    assert "directory        answering" in b.ctl_ok("status")
    assert "mfad_directory_up 1" in b.ctl_ok("metrics").splitlines()


def test_recovery_code_made_on_one_host_works_on_the_other(hosts):
    a, b = hosts
    a.add_user("alice")
    codes = a.ctl_ok("user", "recovery", "alice", "--count", "2").split()
    assert len(codes) == 2
    h.wait_until(lambda: b.ctl_json("user", "show", "alice")
                 ["recovery_codes"] == 2, what="codes on host B")
    login = _to_code_prompt(b)
    login.answer(codes[0])
    login.expect("INFO")
    assert login.result() == PAM_SUCCESS, login.dump()
    # Used once, for the whole fleet.
    h.wait_until(lambda: a.ctl_json("user", "show", "alice")
                 ["recovery_codes"] == 1, what="one code left on host A")


def test_device_remembered_on_one_host_counts_on_the_other(hosts):
    a, b = hosts
    a.add_user("alice")
    a.full_login("alice", rhost="192.0.2.7", remember="y")
    h.wait_until(lambda: b.ctl_json("device", "list", "alice") != [],
                 what="the device on host B")
    n = a.smtp.count(ALICE, h.has_code)
    login = b.login("alice", rhost="192.0.2.7")
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    assert login.result() == PAM_SUCCESS, login.dump()
    assert not any(PROMPT_CODE in t for _, t in login.lines()), login.dump()
    time.sleep(0.5)
    assert a.smtp.count(ALICE, h.has_code) == n
    # Another device still gets a code.
    b.full_login("alice", rhost="192.0.2.8", remember="n")


def test_both_providers_down_refuses_then_recovers(fleet, hosts):
    a, b = hosts
    a.add_user("alice")
    for node in fleet.nodes:
        node.stop()
    login = b.login("alice")
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD})
    assert rc == PAM_AUTHINFO_UNAVAIL, login.dump()
    assert ("ERROR", "The authentication service is unavailable.") in \
        login.lines("ERROR"), login.dump()
    rc, out, err = a.ctl("user", "show", "alice")
    assert rc == h.CTL_UNREACHABLE and "the directory is unreachable" in err
    assert "directory        unreachable" in a.ctl_ok("status")
    # Back: the next request reconnects, nothing was counted meanwhile.
    for node in fleet.nodes:
        node.start()
    h.wait_until(lambda: _shown(b, "alice"), timeout=30,
                 what="host B reconnected")
    assert b.ctl_json("user", "show", "alice")["failures"] == 0
    b.full_login("alice")
