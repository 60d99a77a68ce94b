"""Password storage (SECURITY.md rules 11, 12, 20): argon2id hashes,
presets, the warning for cheap explicit limits, rehash on login, length
rules without truncation."""

import re
import signal
import subprocess
import time

import pytest

import mss_harness as h
from mss_harness import PAM_AUTH_ERR, PAM_SUCCESS, PROMPT_EMAIL
from test_device import _dump
from test_store_versions import account_v5_to_v4

ALICE = "alice@example.org"


def _accounts_text(db):
    """The account records, each as version 4 wrote it, with the password
    hash as libsodium's string: version 5 (doc/STORE.md) keeps that
    string as its costs, salt and hash in binary."""
    out = []
    for user, v in _dump(db, "accounts"):
        if v[0] == 5:
            v = account_v5_to_v4(user, v)
        out.append(v.decode("latin-1"))
    return "\n".join(out)


def test_hash_is_argon2id(env):
    """SECURITY 11: crypto_pwhash_str with argon2id."""
    raw = subprocess.run(["mdb_dump", "-p", "-s", "accounts",
                          str(env.db)], capture_output=True,
                         text=True).stdout
    assert h.PASSWORD not in raw
    text = _accounts_text(env.db)
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
    text = _accounts_text(env.db)
    params = text.split("$argon2id$v=19$m=", 1)[1].split("$", 1)[0]
    m, t = params.split(",t=")
    t = t.split(",", 1)[0]
    assert int(m) >= 19456 and int(t) >= 2, params


def test_rehash_on_login_when_parameters_change(env):
    """SECURITY 11: after the limits change (SIGHUP), the next good login
    stores a hash made with the new limits."""
    before = _accounts_text(env.db)
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
    after = _accounts_text(env.db)
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


# The words the module gives each of mfad's reasons for refusing a new
# password (common/mss_proto.h, enum mss_pw_reason), in both languages.
REFUSALS = {
    "en": {
        "old": "Current password: ",
        "new": "New password: ",
        "again": "Repeat the new password: ",
        "too_short": "This password is too short.",
        "too_long": "This password is too long.",
        "like_name": "The password must not be your user name or email "
                     "address.",
        "blocklisted": "This password is too common.",
        "same_as_old": "The new password must differ from the current "
                       "one.",
        "mismatch": "The two passwords differ.",
        "refused": "This password is refused by the password policy.",
        "changed": "Password changed.",
    },
    "fr": {
        "old": "Mot de passe actuel : ",
        "new": "Nouveau mot de passe : ",
        "again": "Confirmez le nouveau mot de passe : ",
        "too_short": "Ce mot de passe est trop court.",
        "too_long": "Ce mot de passe est trop long.",
        "like_name": "Le mot de passe ne doit pas être votre nom "
                     "d'utilisateur ni votre adresse e-mail.",
        "blocklisted": "Ce mot de passe est trop courant.",
        "same_as_old": "Le nouveau mot de passe doit être différent de "
                       "l'actuel.",
        "mismatch": "Les deux mots de passe diffèrent.",
        "refused": "Ce mot de passe est refusé par la politique des mots "
                   "de passe.",
        "changed": "Mot de passe changé.",
    },
}
NEW_PASSWORD = "a brand new passphrase"
REQ_CHANGE_PASSWORD = 10
REP_RESULT = 100
REP_ACCT = 103


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_each_refusal_in_the_users_language(make_env, tmp_path, lang):
    """passwd through the real module and mfad: each reason mfad gives
    for refusing a new password (and the module's own mismatch) shows
    its own words in the language of lang=, then a good one is taken."""
    t = REFUSALS[lang]
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text("Password1234\n")
    env = make_env({"password": {"blocklist": blocklist, "min_length": 12,
                                 "max_length": 64}})
    env.add_user("alice")
    service = env.service("mss-pw", ["lang=" + lang, "tries=7"])
    login = env.login("alice", service=service, extra_args=["-c"])
    assert login.expect("ECHO_OFF") == t["old"], login.dump()
    login.answer(h.PASSWORD)
    for first, second, reason in [
            ("short", "short", "too_short"),
            ("x" * 65, "x" * 65, "too_long"),
            ("Alice@Example.org", "Alice@Example.org", "like_name"),
            ("PASSWORD1234", "PASSWORD1234", "blocklisted"),
            (h.PASSWORD, h.PASSWORD, "same_as_old"),
            ("one passphrase here", "another passphrase", "mismatch")]:
        assert login.expect("ECHO_OFF") == t["new"], login.dump()
        login.answer(first)
        assert login.expect("ECHO_OFF") == t["again"], login.dump()
        login.answer(second)
        assert login.expect("ERROR") == t[reason], login.dump()
    assert login.expect("ECHO_OFF") == t["new"], login.dump()
    login.answer(NEW_PASSWORD)
    assert login.expect("ECHO_OFF") == t["again"], login.dump()
    login.answer(NEW_PASSWORD)
    assert login.expect("INFO") == t["changed"], login.dump()
    assert login.result("chauthtok") == PAM_SUCCESS, login.dump()


@pytest.mark.parametrize("text", ["", "# common passwords\n\n"])
def test_empty_blocklist_blocks_nothing(make_env, tmp_path, text):
    """A blocklist with no entry (an empty file, or only a comment and
    a blank line) is a list of none: mfad starts, says so, and a new
    password is taken."""
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text(text)
    env = make_env({"password": {"blocklist": blocklist}})
    env.add_user("alice")
    assert "password blocklist %s: 0 entries" % blocklist in \
        env.mfad.log_text()
    login = env.login("alice", service=env.service("mss-pw"),
                      extra_args=["-c"])
    login.expect("ECHO_OFF")
    login.answer(h.PASSWORD)
    for _ in range(2):
        login.expect("ECHO_OFF")
        login.answer(NEW_PASSWORD)
    login.expect("INFO")
    assert login.result("chauthtok") == PAM_SUCCESS, login.dump()


@pytest.mark.parametrize("impl", ["auto", "libargon2", "libsodium"])
def test_hashing_implementation(make_env, impl):
    """[password] implementation: mfad logs whose argon2id code it
    runs (auto: the faster of the two, with both times), and with each
    the old password is checked, the new one hashed, and that hash
    checked at the next change."""
    env = make_env({"password": {"implementation": impl}})
    env.add_user("alice")
    log = env.mfad.log_text()
    if impl == "auto":
        assert re.search(r"password hashing: (libargon2|libsodium), the "
                         r"faster here \(argon2id, \d+ passes, \d+ KiB: "
                         r"libargon2 [\d.]+ ms, libsodium [\d.]+ ms\)",
                         log), log
    else:
        assert "password hashing: %s (set by [password] implementation)" \
            % impl in log, log
    for old, new in ((h.PASSWORD, NEW_PASSWORD), (NEW_PASSWORD,
                                                  h.PASSWORD + "!")):
        login = env.login("alice", service=env.service("mss-pw"),
                          extra_args=["-c"])
        login.expect("ECHO_OFF")
        login.answer(old)
        for _ in range(2):
            login.expect("ECHO_OFF")
            login.answer(new)
        login.expect("INFO")
        assert login.result("chauthtok") == PAM_SUCCESS, login.dump()


def test_unreadable_blocklist_refuses_the_reload(make_env, tmp_path):
    """A blocklist that opens but cannot be read (a directory) is not an
    empty list of 0 entries: the reload is refused, naming the error."""
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text("Password1234\n")
    env = make_env({"password": {"blocklist": blocklist}})
    env.config["password"]["blocklist"] = tmp_path
    h.write_ini(env.conf, env.config)
    env.mfad.proc.send_signal(signal.SIGHUP)
    log = env.mfad.wait_log("reload refused: cannot hash, or the blocklist")
    assert "[password] blocklist %s: Is a directory" % tmp_path in log, log
    assert "password blocklist %s: 0 entries" % tmp_path not in log, log


def test_hashing_implementation_on_reload(make_env, tmp_path):
    """[password] implementation is read again on SIGHUP. A reload that
    is refused (here the blocklist is a directory) leaves the way as it
    was and logs nothing of the new one; the next, applied, logs it."""
    env = make_env({"password": {"implementation": "libargon2"}})
    env.add_user("alice")
    env.mfad.wait_log("password hashing: libargon2 (set by")
    env.config["password"]["implementation"] = "libsodium"
    env.config["password"]["blocklist"] = tmp_path
    h.write_ini(env.conf, env.config)
    env.mfad.proc.send_signal(signal.SIGHUP)
    env.mfad.wait_log("reload refused: cannot hash, or the blocklist")
    assert "password hashing: libsodium" not in env.mfad.log_text()
    del env.config["password"]["blocklist"]
    h.write_ini(env.conf, env.config)
    env.mfad.proc.send_signal(signal.SIGHUP)
    env.mfad.wait_log("configuration reloaded")
    env.mfad.wait_log("password hashing: libsodium (set by")
    login = env.login("alice")
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer("alice@example.org")
    login.expect("ECHO_OFF", h.PROMPT_PASSWORD)
    login.answer(h.WRONG_PASSWORD)
    assert login.result() == PAM_AUTH_ERR, login.dump()


def test_refusal_reason_is_a_number_on_the_wire(env):
    """doc/PROTOCOL.md: CHANGE_PASSWORD refused by the policy answers
    RESULT 19, the English message (for logs), then the reason as a u32
    (1: too short), then the account's language (the old password was
    right); nothing follows it."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    payload = b"".join(h.pstr(v) for v in ("passwd", "alice", h.PASSWORD,
                                           "short"))
    rtype, rep = h.raw_request(env.sock, REQ_CHANGE_PASSWORD, payload)
    assert rtype == REP_RESULT, (rtype, rep)
    assert int.from_bytes(rep[0:4], "big") == 19, rep
    n = int.from_bytes(rep[4:8], "big")
    assert rep[8:8 + n] == b"too short", rep
    assert rep[8 + n:] == (1).to_bytes(4, "big") + h.pstr("fr"), rep


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_unknown_reason_is_a_plain_refusal_and_no_reason_is_malformed(
        make_env, lang):
    """A reason the module does not know (a newer mfad's) shows the
    generic refusal in the user's language, never mfad's English words
    nor an empty line; a refusal without its reason is a malformed reply:
    mfad unavailable, nothing changed."""
    t = REFUSALS[lang]
    env = make_env(start=False)
    acct = h.frame(REP_ACCT, bytes([0]) + (0).to_bytes(8, "big"))
    unknown = h.frame(REP_RESULT, (19).to_bytes(4, "big") +
                      h.pstr("some newer rule") + (4096).to_bytes(4, "big"))
    bare = h.frame(REP_RESULT, (19).to_bytes(4, "big") + h.pstr("too short"))
    fake = h.FakeMfad(env.sock, [acct, unknown, bare])
    try:
        (env.pamd / "mss-fake").write_text(
            "password required %s socket=%s lang=%s tries=3\n" %
            (h.PAM_MSS, env.sock, lang))
        login = env.login("alice", service="mss-fake", extra_args=["-c"])
        assert login.expect("ECHO_OFF") == t["old"], login.dump()
        login.answer(h.PASSWORD)
        for answer in ("refused", None):
            assert login.expect("ECHO_OFF") == t["new"], login.dump()
            login.answer(NEW_PASSWORD)
            assert login.expect("ECHO_OFF") == t["again"], login.dump()
            login.answer(NEW_PASSWORD)
            error = login.expect("ERROR")
            if answer is not None:
                assert error == t[answer], login.dump()
            else:
                assert error not in (t["refused"], ""), login.dump()
        assert login.result("chauthtok") == h.PAM_AUTHINFO_UNAVAIL, \
            login.dump()
        errors = [x for _, x in login.lines("ERROR")]
        assert not any("newer rule" in x for x in errors), login.dump()
    finally:
        fake.close()


def _dontdump_kib(pid):
    """mfad's anonymous writable mappings marked not to be dumped, in KiB:
    the memory it keeps for password checks (mfad/mfad_argon2.c), and,
    in a sanitizer build, the sanitizer's own."""
    total, size, anon = 0, 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5:
                anon = len(head) == 5 and head[1].startswith("rw")
            elif head[0] == "Size:":
                size = int(head[1])
            elif head[0] == "VmFlags:" and anon and "dd" in head[1:]:
                total += size
    return total


def test_check_memory_kept_then_given_back(make_env):
    """A password check (or hash) leaves its memory mapped for the next
    one (no fresh pages a check) and mfad unmaps it once no check came
    for 2 s: an idle mfad holds no password memory. That memory is
    libargon2's way (libsodium allocates its own each time), so the test
    sets it: left to auto, mfad takes whichever is faster on the host."""
    env = make_env({"password": {"opslimit": 1, "memlimit": "40M",
                                 "implementation": "libargon2"}})
    pid = env.mfad.proc.pid
    # The start's dummy hash and enrollment's hash use the same memory:
    # mapped now, and given back within 4 s (an idle worker trims what
    # was unused for 2 s, and wakes every 2 s to look). What is left is
    # not password memory.
    env.add_user("alice")
    time.sleep(5)
    base = _dontdump_kib(pid)
    login = env.login("alice")
    login.expect("ECHO_ON", h.PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", h.PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    login.expect("INFO", h.mask_email(ALICE))
    # Just checked: still mapped.
    assert _dontdump_kib(pid) >= base + 40 * 1024
    login.expect("ECHO_ON", h.PROMPT_CODE)
    env.finish_login(login, env.smtp.wait_for_code(ALICE))
    h.wait_until(lambda: _dontdump_kib(pid) < base + 40 * 1024, timeout=15)
