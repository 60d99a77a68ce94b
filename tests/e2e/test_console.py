"""Console logins on a real terminal (DESIGN.md sections 3 and 4:
device=tty, lang=fr; SECURITY.md rules 13 and 16).

pamtester runs in a shell on a pseudo-terminal (pexpect) and reads
/etc/pam.d/mss-console-test, which loads the built pam_mss.so by absolute
path. Its conversation is Linux-PAM's misc_conv: prompts and info lines
are written to the terminal, and the terminal's own echo shows what is
typed, except for PROMPT_ECHO_OFF, where misc_conv turns echo off. PAM_TTY
is only set when pamtester is given -I tty=/dev/pts/N.
"""

import json
import time

import mss_harness as h
from mss_harness import GENERIC_FAILURE

USER = "mssuser1"
ADDR = "mssuser1@example.org"
MASKED = h.mask_email(ADDR)

EN = {
    "email": "Email address: ",
    "password": "Password: ",
    "sent": "A code was sent to %s" % MASKED,
    "code": "Authentication code: ",
    "remember": "Remember this device for 30 days? [y/N] ",
    "success": "Authentication succeeded.",
}
FR = {
    "email": "Adresse e-mail : ",
    "password": "Mot de passe : ",
    "sent": "Un code a été envoyé à %s" % MASKED,
    "code": "Code d'authentification : ",
    "remember": "Se souvenir de cet appareil pendant 30 jours ? [o/N] ",
    "success": "Authentification réussie.",
}


def devices(env, user=USER):
    return json.loads(env.ctl_ok("--json", "device", "list", user))


def code_login(env, con, service, msgs=EN, remember=None, tty=True):
    """A full login with the mailed code; returns the terminal output."""
    con.login(service, USER, tty=tty)
    con.expect(msgs["email"])
    con.answer(ADDR)
    con.expect(msgs["password"])
    con.answer(h.PASSWORD)
    con.expect(msgs["sent"])
    con.expect(msgs["code"])
    con.answer(env.smtp.wait_for_code(ADDR))
    if remember is not None:
        con.expect(msgs["remember"])
        con.answer(remember)
    con.expect(msgs["success"])
    assert con.status() == 0, con.transcript()
    assert con.output().count(msgs["success"]) == 1, con.transcript()
    return con.output()


def remembered_login(con, service, msgs=EN):
    """Email and password only; returns the terminal output."""
    con.login(service, USER)
    con.expect(msgs["email"])
    con.answer(ADDR)
    con.expect(msgs["password"])
    con.answer(h.PASSWORD)
    before = con.expect(msgs["success"])
    assert msgs["code"] not in before and msgs["sent"] not in before, \
        con.transcript()
    assert con.status() == 0, con.transcript()
    assert con.output().count(msgs["success"]) == 1, con.transcript()
    return con.output()


def test_console_password_not_echoed_email_echoed(env, console_service,
                                                  console):
    """DESIGN 3 echo flags on a real terminal: what is typed for the email
    and the code shows on the screen, the password never does."""
    service = console_service(["device=tty"])
    con = console()
    out = code_login(env, con, service, remember="n")
    assert h.PASSWORD not in out, con.transcript()
    after_email = out.split(EN["email"], 1)[1]
    assert after_email.lstrip().startswith(ADDR), con.transcript()
    codes = [h.code_from(m) for _, _, m in env.smtp.messages
             if h.has_code(m)]
    assert len(codes) == 1
    code = codes[0]
    after_code = out.split(EN["code"], 1)[1]
    assert after_code.lstrip().startswith(code), con.transcript()
    assert ADDR + "\r\n" in out
    assert "successfully authenticated" in out
    assert "@example.org" not in out.replace(ADDR, "")


def test_console_tty_remembered_on_same_terminal_only(env, console_service,
                                                      console):
    """DESIGN 4 device=tty, SECURITY 16: PAM_TTY naming the terminal's
    device is the device; a second login on the same terminal skips the
    code, another terminal still gets one."""
    service = console_service(["device=tty"])
    con = console()
    code_login(env, con, service, remember="y")
    devs = devices(env)
    assert len(devs) == 1 and devs[0].get("kind", "tty") == "tty", devs
    sent = env.smtp.count(ADDR, h.has_code)

    remembered_login(con, service)
    time.sleep(2)               # mail leaves mfad asynchronously
    assert env.smtp.count(ADDR, h.has_code) == sent

    other = console()
    assert other.tty != con.tty
    code_login(env, other, service, remember="n")
    assert env.smtp.count(ADDR, h.has_code) == sent + 1


def test_console_without_pam_tty_never_asks_to_remember(env,
                                                        console_service,
                                                        console):
    """DESIGN 4: without PAM_TTY (pamtester sets none unless told) there
    is no device identity: the login works with no remember prompt."""
    service = console_service(["device=tty"])
    con = console()
    out = code_login(env, con, service, remember=None, tty=False)
    assert EN["remember"].split("?")[0] not in out, con.transcript()
    assert devices(env) == []


def test_console_wrong_password_fails_without_mail(env, console_service,
                                                   console):
    """DESIGN 3, SECURITY 13: a wrong password shows the generic message,
    pamtester fails, no code is mailed."""
    service = console_service(["device=tty"])
    con = console()
    con.login(service, USER)
    con.expect(EN["email"])
    con.answer(ADDR)
    con.expect(EN["password"])
    con.answer(h.WRONG_PASSWORD)
    con.expect(GENERIC_FAILURE)
    assert con.status() != 0
    out = con.output()
    assert EN["code"] not in out and h.WRONG_PASSWORD not in out
    assert "Authentication failure" in out, con.transcript()
    env.smtp.assert_no_mail(wait=2)


def test_console_french_prompts(env, console_service, console):
    """DESIGN 3 in French (lang=fr): "Adresse e-mail", "Mot de passe",
    "Code d'authentification", the remember question answered "oui",
    then the same terminal is remembered."""
    service = console_service(["device=tty"], lang="fr")
    con = console()
    out = code_login(env, con, service, msgs=FR, remember="oui")
    assert h.PASSWORD not in out
    assert "valable 5 minutes" in out, con.transcript()
    for key in ("Email address", "Password", "Authentication code"):
        assert key not in out, con.transcript()
    remembered_login(con, service, msgs=FR)
