"""International addresses: a domain typed in Unicode is kept, compared
and mailed to as its A-labels (IDNA2008, UTS #46 non-transitional); a
non-ASCII local part gets its own clear refusal (no SMTPUTF8 on the way
to the relay). Through the real mfadctl, mfad, pam_mss.so and SMTP."""

import json
import unicodedata

import mss_harness as h
from mss_harness import (PAM_AUTH_ERR, PAM_SUCCESS, PROMPT_CODE,
                         PROMPT_EMAIL, PROMPT_PASSWORD)

ULABEL = "melk@exämple.org"
ALABEL = "melk@xn--exmple-cua.org"
NFD = unicodedata.normalize("NFD", "MELK@EXÄMPLE.ORG")
MASK = "me*****@exämple*****"
NOT_SUPPORTED = "addresses with non-ASCII characters before the @ " \
    "are not supported"
REQ_USER_ADD = 20
ERR_INVAL, ERR_REFUSED = 10, 19


def _service(env, arg):
    """A service with one language argument (env.service adds lang=en)."""
    (env.pamd / "mss-idn").write_text(
        "auth required %s socket=%s tries=3 %s\n" % (h.PAM_MSS, env.sock,
                                                     arg))
    return "mss-idn"


def _add_melk(env, addr=ULABEL):
    env.ctl_ok("user", "add", "melk", "--email", addr, "--lang", "en",
               "--password-stdin", input=h.PASSWORD + "\n")


def _login(env, typed, user="melk"):
    """A login typing `typed` at the Email prompt; the code is read from
    the mail the SMTP server received for the A-label."""
    login = env.login(user)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(typed)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    info = login.expect("INFO", MASK)
    assert "xn--" not in info, info
    login.expect("ECHO_ON", PROMPT_CODE)
    msg = env.smtp.wait_for(ALABEL, match=h.has_code)
    env.finish_login(login, h.code_from(msg))
    return msg


def test_user_add_unicode_domain_stores_alabel(env):
    """`user add --email melk@exämple.org` stores the A-label; `user show`
    gives it with the Unicode form beside it, the masked form in Unicode;
    `user list` and --json give the A-label. The same domain typed
    decomposed and in capitals is the same address."""
    _add_melk(env)
    u = env.ctl_json("user", "show", "melk")
    assert u["email"] == ALABEL, u
    assert u["masked"] == MASK, u
    out = env.ctl_ok("user", "show", "melk")
    assert "email         %s (%s)\n" % (ALABEL, ULABEL) in out, out
    assert "masked        %s\n" % MASK in out, out
    assert {x["user"]: x["email"] for x in
            env.ctl_json("user", "list")}["melk"] == ALABEL
    assert ALABEL in env.ctl_ok("user", "list")
    # NFD and capitals: the same A-label, so already taken.
    rc, out, err = env.ctl("user", "add", "melk2", "--email", NFD)
    assert rc == h.CTL_REFUSED and "already used" in err, (rc, out, err)
    # Setting it again in another spelling changes nothing.
    rc, out, err = env.ctl("user", "set", "melk", "--email", NFD)
    assert rc == h.CTL_OK and "unchanged" in out, (rc, out, err)


def test_login_typing_unicode_or_alabel_reaches_same_account(env):
    """A login typing the Unicode address (composed, decomposed, any case)
    and one typing the A-label reach the same account; the code mail goes
    over SMTP to the A-label (RCPT TO and To:), the prompt shows the
    Unicode label masked."""
    _add_melk(env)
    for typed in (ULABEL, ALABEL, NFD):
        before = len(env.smtp.messages)
        msg = _login(env, typed)
        assert ALABEL in str(msg["To"]), msg["To"]
        rcpts = [r for _, r, _ in env.smtp.messages[before:]]
        assert rcpts and all(r == [ALABEL] for r in rcpts), rcpts


def test_invitation_and_reset_go_to_alabel(env):
    """An invitation made with a Unicode domain is mailed to the A-label;
    the enrollment typing the Unicode address gets its code there, with
    the Unicode label in the masked notice."""
    env.ctl_ok("user", "add", "ida", "--email", "ida@exämple.org")
    env.smtp.wait_for("ida@xn--exmple-cua.org")
    login = env.login("ida")
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer("ida@EXÄMPLE.org")
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer("")
    login.expect("INFO", "reset")
    login.expect("INFO", "i*****@exämple*****")
    login.expect("ECHO_ON", PROMPT_CODE)
    msg = env.smtp.wait_for("ida@xn--exmple-cua.org", match=h.has_code)
    login.answer(h.code_from(msg))
    login.expect("INFO", "confirmed")
    for _ in range(2):
        login.expect("ECHO_OFF")
        login.answer("a new password for ida")
    login.expect("INFO", "Enrollment complete")
    login.expect("INFO", "succeeded")
    assert login.result() == PAM_SUCCESS, login.dump()


def test_import_line_with_unicode_domain(env):
    """An import line with a Unicode domain adds the A-label; a line with
    a non-ASCII local part and one with a domain IDNA refuses each report
    their own reason; the batch goes on and exits 1."""
    rc, out, err = env.ctl(
        "--json", "import", "-",
        input="ida,ida@exämple.org,fr\n"
              "jo,jö@example.org\n"
              "kim,kim@ex☃mple.org\n"
              "lou,lou@EXAMPLE.org\n")
    assert rc == h.CTL_REFUSED, (out, err)
    rows = {r["line"]: r for r in json.loads(out)}
    assert rows[1].get("result") == "added", rows
    assert rows[2].get("error") == NOT_SUPPORTED, rows
    assert "disallowed character" in rows[3].get("error", ""), rows
    assert rows[4].get("result") == "added", rows
    assert env.ctl_json("user", "show", "ida")["email"] == \
        "ida@xn--exmple-cua.org"
    assert env.ctl_json("user", "show", "lou")["email"] == "lou@example.org"
    env.smtp.wait_for("ida@xn--exmple-cua.org")
    # The same file in the Unicode form again: unchanged.
    rc, out, err = env.ctl("import", "-", input="ida,ida@exämple.org,fr\n")
    assert rc == h.CTL_OK and "unchanged" in out, (out, err)


def test_non_ascii_local_part_refused_clearly(env):
    """mfadctl says why a non-ASCII local part is refused and exits 1
    (user add, user set, mail test); a domain IDNA refuses is a bad
    argument (2) with libidn2's reason, like any invalid address; mfad
    gives the same answers on its own."""
    for args in (("user", "add", "jo", "--email", "jö@example.org"),
                 ("user", "set", "alice", "--email", "ålice@example.org"),
                 ("mail", "test", "jö@exämple.org")):
        rc, out, err = env.ctl(*args)
        assert rc == h.CTL_REFUSED, (args, rc, out, err)
        assert NOT_SUPPORTED in err, (args, err)
    assert env.ctl("user", "show", "jo")[0] == h.CTL_REFUSED
    assert env.ctl_json("user", "show", "alice")["email"] == \
        "alice@example.org"
    rc, out, err = env.ctl("user", "add", "kim", "--email", "kim@ex☃mple.org")
    assert rc == h.CTL_USAGE, (rc, out, err)
    assert "invalid email address" in err and "disallowed" in err, err
    env.smtp.assert_no_mail(wait=1.0)

    # mfad, asked directly, refuses the same and converts the same.
    def add(user, addr):
        rep = h.raw_request(env.sock, REQ_USER_ADD, h.pstr(user) +
                            h.pstr(addr) + h.pstr("en") + h.pstr(""))
        assert rep is not None and rep[0] == h.REP_RESULT, rep
        return int.from_bytes(rep[1][:4], "big"), rep[1][8:].decode()

    code, text = add("jo", "jö@example.org")
    assert code == ERR_REFUSED and NOT_SUPPORTED in text, (code, text)
    code, text = add("kim", "kim@ex☃mple.org")
    assert code == ERR_INVAL and "disallowed" in text, (code, text)
    code, text = add("nia", "nia@EXÄMPLE.org")
    assert code == 0, text
    assert env.ctl_json("user", "show", "nia")["email"] == \
        "nia@xn--exmple-cua.org"


def test_prompt_non_ascii_local_part_same_for_every_account(env):
    """At the Email prompt a non-ASCII local part gets the clear message,
    no password prompt and no mail: the answer depends only on the typed
    text, the same for an existing account and an unknown name."""
    seen = []
    for user in ("alice", "nosuchuser"):
        login = env.login(user)
        login.expect("ECHO_ON", PROMPT_EMAIL)
        login.answer("ålice@example.org")
        text = login.expect("ERROR", "non-ASCII characters before the @")
        assert login.result() == PAM_AUTH_ERR, login.dump()
        seen.append([t for t in login.lines() if t[0] != "RESULT"])
        assert text == "Addresses with non-ASCII characters before the @ " \
            "are not supported."
    assert seen[0] == seen[1], seen
    env.smtp.assert_no_mail(wait=1.0)
    # French too.
    login = env.login("alice", service=_service(env, "lang=fr"))
    login.expect("ECHO_ON")
    login.answer("ålice@example.org")
    login.expect("ERROR", "caractères non ASCII avant le @")
    assert login.result() == PAM_AUTH_ERR
