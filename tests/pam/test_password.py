"""Password storage (SECURITY.md rules 11, 12, 20): argon2id hashes,
presets, the warning for cheap explicit limits, rehash on login, length
rules without truncation."""

import subprocess

import pytest

import mss_harness as h
from mss_harness import PAM_AUTH_ERR, PROMPT_EMAIL

ALICE = "alice@example.org"


def test_hash_is_argon2id(env):
    """SECURITY 11: crypto_pwhash_str with argon2id."""
    text = subprocess.run(["mdb_dump", "-p", "-s", "accounts",
                           str(env.db)], capture_output=True,
                          text=True).stdout
    assert "$argon2id$v=19$" in text
    assert h.PASSWORD not in text


def test_cheap_explicit_limits_warn_at_start(env):
    """SECURITY 11: opslimit/memlimit under 19 MiB at t = 2 are accepted
    with a warning when mfad starts (the test setup uses them)."""
    assert "below 19 MiB" in env.mfad.log_text()


@pytest.mark.parametrize("strength", ["interactive", "moderate",
                                      "sensitive"])
def test_presets_are_at_least_19mib_t2(make_env, strength):
    """SECURITY 11: every strength preset is at least 19 MiB at t = 2:
    mfad prints no warning and stores hashes with m >= 19456, t >= 2."""
    env = make_env({"password": {"opslimit": None, "memlimit": None,
                                 "strength": strength}},
                   start=False)
    if strength == "sensitive":
        # One sensitive hash takes seconds and 1 GiB: check the start
        # only.
        env.start()
        assert "below 19 MiB" not in env.mfad.log_text()
        return
    env.start()
    assert "below 19 MiB" not in env.mfad.log_text()
    env.add_user("alice")
    text = subprocess.run(["mdb_dump", "-p", "-s", "accounts",
                           str(env.db)], capture_output=True,
                          text=True).stdout
    params = text.split("$argon2id$v=19$m=", 1)[1].split("$", 1)[0]
    m, t = params.split(",t=")
    t = t.split(",", 1)[0]
    assert int(m) >= 19456 and int(t) >= 2, params


def test_rehash_on_login_when_parameters_change(env):
    """SECURITY 11: after the limits change (SIGHUP), the next good login
    stores a hash made with the new limits."""
    before = subprocess.run(["mdb_dump", "-p", "-s", "accounts",
                             str(env.db)], capture_output=True,
                            text=True).stdout
    assert "m=8,t=1" in before
    env.config["password"]["opslimit"] = 2
    env.config["password"]["memlimit"] = "16K"
    h.write_ini(env.conf, env.config)
    env.mfad.proc.send_signal(1)
    h.wait_until(lambda: "configuration reloaded" in env.mfad.log_text())
    login, code = env.start_login()
    env.finish_login(login, code)
    h.wait_until(lambda: "rehashed the password of alice" in
                 env.mfad.log_text())
    after = subprocess.run(["mdb_dump", "-p", "-s", "accounts",
                            str(env.db)], capture_output=True,
                           text=True).stdout
    assert "m=16,t=2" in after and "m=8,t=1" not in after
    login, code = env.start_login()
    env.finish_login(login, code)


@pytest.mark.mfad(password={"min_length": 12, "max_length": 64})
def test_length_rules_without_truncation(env):
    """SECURITY 12: min_length .. max_length accepted, longer refused, no
    truncation: a password that only shares its first 64 characters with
    the real one is wrong."""
    long_pw = "x" * 64
    rc, _, err = env.ctl("user", "add", "bob", "--email", "bob@example.org",
                         "--password-stdin", input="y" * 65 + "\n")
    assert rc == h.CTL_REFUSED and "too long" in err
    rc, _, err = env.ctl("user", "add", "bob", "--email", "bob@example.org",
                         "--password-stdin", input="short\n")
    assert rc == h.CTL_REFUSED and "too short" in err
    env.ctl_ok("user", "add", "bob", "--email", "bob@example.org",
               "--password-stdin", input=long_pw + "\n")
    login = env.login("bob")
    rc = login.run({PROMPT_EMAIL: "bob@example.org",
                    "Password": long_pw + "zzz"})
    assert rc == PAM_AUTH_ERR
    login, code = env.start_login("bob", password=long_pw)
    env.finish_login(login, code)
