"""Helpdesk commands through the real mfadctl and mfad (mfadctl(8)):
user disable / user enable, user add for a name that exists, and the
warning for a name without a Unix account (user add, import)."""

import time

import mss_harness as h
from mss_harness import (CTL_OK, CTL_REFUSED, PAM_AUTH_ERR, PAM_SUCCESS,
                         PROMPT_CODE, PROMPT_EMAIL, PROMPT_PASSWORD)

ALICE = "alice@example.org"
RHOST = "192.0.2.41"
NO_UNIX = "no Unix account"


def _events(env, event):
    return [r for r in env.ctl_json("audit", "--limit", "100000")
            if r["event"] == event]


def _password_only(env, rhost=RHOST):
    """The right password from a remembered device: PAM's result, whether
    a code was asked for, and the number of code mails it caused."""
    sent = env.smtp.count(ALICE, h.has_code)
    login = env.login(rhost=rhost)
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD})
    asked = any(PROMPT_CODE in t for _, t in login.lines())
    time.sleep(1)
    return rc, asked, env.smtp.count(ALICE, h.has_code) - sent, login


def test_disable_refuses_login_and_remembered_device(env):
    env.full_login(rhost=RHOST, remember="y")
    rc, asked, mails, login = _password_only(env)
    assert rc == PAM_SUCCESS and not asked, login.dump()

    rc, out, err = env.ctl("user", "disable", "alice")
    assert rc == CTL_OK, err
    assert "disabled" in out
    assert env.ctl_json("user", "show", "alice")["state"] == "disabled"
    assert "disabled" in env.ctl_ok("user", "show", "alice")
    # The device is kept but skips nothing; no code is mailed.
    rc, asked, mails, login = _password_only(env)
    assert rc == PAM_AUTH_ERR, login.dump()
    assert ("ERROR", h.GENERIC_FAILURE) in login.lines("ERROR"), login.dump()
    assert not asked and mails == 0, login.dump()
    assert len(env.ctl_json("device", "list", "alice")) == 1
    # An admin unlock does not end it.
    env.ctl_ok("user", "unlock", "alice")
    assert env.ctl_json("user", "show", "alice")["state"] == "disabled"
    # The account phase refuses it too.
    login = env.login(acct=True)
    login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD})
    assert login.result("acct_mgmt") == h.PAM_PERM_DENIED, login.dump()

    rc, out, err = env.ctl("user", "enable", "alice")
    assert rc == CTL_OK, err
    assert env.ctl_json("user", "show", "alice")["state"] == "active"
    rc, asked, mails, login = _password_only(env)
    assert rc == PAM_SUCCESS and not asked, login.dump()

    for event in ("user_disabled", "user_enabled"):
        recs = _events(env, event)
        assert len(recs) == 1, recs
        assert recs[0]["user"] == "alice" and "by=root" in recs[0]["detail"]


def test_enable_of_an_invited_account_keeps_it_invited(env):
    env.ctl_ok("user", "add", "carol", "--email", "carol@example.org")
    env.ctl_ok("user", "disable", "carol")
    assert env.ctl_json("user", "show", "carol")["state"] == "disabled"
    assert "invited" in env.ctl_ok("user", "enable", "carol")
    assert env.ctl_json("user", "show", "carol")["state"] == "invited"


def test_disable_enable_unknown_user(env):
    for verb in ("disable", "enable"):
        rc, out, err = env.ctl("user", verb, "nobodyhere")
        assert rc == CTL_REFUSED, (out, err)
        assert "no such user" in err


def test_add_existing_user_says_so(env):
    # A short password used to be the answer for an existing name.
    for pw in ("short", h.PASSWORD):
        rc, out, err = env.ctl("user", "add", "alice", "--email",
                               "other@example.org", "--password-stdin",
                               input=pw + "\n")
        assert rc == CTL_REFUSED, (out, err)
        assert "user already exists" in err and "password" not in err, err
    rc, out, err = env.ctl("user", "add", "alice", "--email",
                           "other@example.org")
    assert rc == CTL_REFUSED and "user already exists" in err, err


def test_add_warns_about_a_name_without_unix_account(env):
    rc, out, err = env.ctl("user", "add", "nounixacct", "--email",
                           "nounixacct@example.org")
    assert rc == CTL_OK, err
    assert "nounixacct has no Unix account" in err, err
    # A name the host knows: no warning.
    rc, out, err = env.ctl("user", "add", "root", "--email",
                           "root@example.org")
    assert rc == CTL_OK, err
    assert NO_UNIX not in err, err
    # A refused add warns of nothing.
    rc, out, err = env.ctl("user", "add", "nounixacct", "--email",
                           "x@example.org")
    assert rc == CTL_REFUSED and NO_UNIX not in err, err


def test_import_warns_once_with_a_count(env):
    csv = ("root,root@example.org\n"
           "nounix1,nounix1@example.org\n"
           "nounix2,nounix2@example.org\n"
           "nounix3,nounix3@example.org\n")
    rc, out, err = env.ctl("import", "-", input=csv)
    assert rc == CTL_OK, (out, err)
    lines = [l for l in err.splitlines() if NO_UNIX in l]
    assert len(lines) == 1, err
    assert "3 users have %s" % NO_UNIX in lines[0], lines
    assert "nounix1" in lines[0], lines
    rc, out, err = env.ctl("import", "-", input="bin,bin@example.org\n")
    assert rc == CTL_OK and NO_UNIX not in err, err


def test_import_warns_only_for_lines_that_changed(env):
    csv = "nounix4,nounix4@example.org\nnounix5,nounix5@example.org\n"
    rc, out, err = env.ctl("import", "-", input=csv)
    assert rc == CTL_OK and "2 users have %s" % NO_UNIX in err, err
    # The same file again changes nothing: it was warned about already.
    rc, out, err = env.ctl("import", "-", input=csv)
    assert rc == CTL_OK and out.count(": unchanged") == 2, (out, err)
    assert NO_UNIX not in err, err
    # A changed line is looked up again.
    rc, out, err = env.ctl("import", "-", input=(
        "nounix4,nounix4@example.net\nnounix5,nounix5@example.org\n"))
    assert rc == CTL_OK and "1 user has %s" % NO_UNIX in err, err
    assert err.rstrip().endswith(": nounix4"), err


def test_import_stops_looking_up_after_100_unknown_names(env):
    csv = "".join("nounix%03d,nounix%03d@example.org\n" % (i, i)
                  for i in range(150))
    rc, out, err = env.ctl("import", "-", input=csv)
    assert rc == CTL_OK and out.count(": added") == 150, (out, err)
    lines = [l for l in err.splitlines() if NO_UNIX in l]
    assert len(lines) == 1, err
    assert "100 users have %s" % NO_UNIX in lines[0], lines
    assert "the first nounix000" in lines[0], lines
    assert "no more names were looked up" in lines[0], lines


def test_disable_enable_need_an_admin(env):
    for verb in ("disable", "enable"):
        rc, out, err = env.ctl("user", verb, "alice", as_nobody=True)
        assert rc == h.CTL_PERM, (verb, rc, out, err)
    assert env.ctl_json("user", "show", "alice")["state"] == "active"
    assert not _events(env, "user_disabled")
