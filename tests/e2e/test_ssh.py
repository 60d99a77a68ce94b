"""SSH logins through a real OpenSSH sshd (keyboard-interactive, UsePAM)
with the built pam_mss.so, a real mfad and a real SMTP server (DESIGN.md
sections 3 and 4; SECURITY.md rules 5, 13, 16 and 23).

How OpenSSH 9.2 carries the PAM conversation over keyboard-interactive
(auth-pam.c), which these tests rely on and check:
  - each PAM prompt is one SSH_MSG_USERAUTH_INFO_REQUEST with one prompt,
    an empty name and empty instructions; the echo flag is kept;
  - PAM_TEXT_INFO and PAM_ERROR_MSG lines are held back and sent as the
    first lines of the next prompt's text ("line\\nAuthentication code: ");
  - lines pending when authentication fails are sent as the instructions
    of a last request with no prompts;
  - lines pending when it succeeds ("Authentication succeeded.") go into
    sshd's login message, printed at the start of a session with a pty.
"""

import json
import time

import pytest

import mss_harness as h
from mss_harness import (GENERIC_FAILURE, PROMPT_CODE, PROMPT_EMAIL,
                         PROMPT_PASSWORD, PROMPT_REMEMBER)

USER = "mssuser1"
ADDR = "mssuser1@example.org"
MASKED = h.mask_email(ADDR)             # mssu*****@example*****
CODE_KEY = PROMPT_CODE.strip()           # matched inside a prompt's text
SUCCESS = "Authentication succeeded."


def mailed_code(env, addr=ADDR):
    """A reply for the code prompt: the next code mailed to addr."""
    return lambda prompt: env.smtp.wait_for_code(addr)


def answers(env, addr=ADDR, password=h.PASSWORD, remember=None, code=None):
    a = {PROMPT_EMAIL.strip(): addr, PROMPT_PASSWORD.strip(): password,
         CODE_KEY: code if code is not None else mailed_code(env, addr)}
    if remember is not None:
        a[PROMPT_REMEMBER] = remember
    return a


def last_line(prompt):
    return prompt.splitlines()[-1] if prompt else prompt


def prompt_lines(handler):
    """(last line of each prompt, echo): the prompts without the info
    lines sshd puts in front of them."""
    return [(last_line(p), echo) for p, echo in handler.prompts()]


def devices(env, user=USER):
    return json.loads(env.ctl_ok("--json", "device", "list", user))


def assert_logged_in(client, user=USER):
    """The transport is authenticated and a command runs as the user."""
    assert client.authenticated
    status, out = client.run("id -un; echo ok")
    assert status == 0
    assert out.split() == [user, "ok"], out


def test_ssh_login_prompts_order_and_echo(env, make_sshd, connect):
    """DESIGN 3 over real sshd: email (echo on), password (echo off), the
    code (echo on) after the masked-address notice, remember (echo on);
    then the session runs as the user."""
    sshd = make_sshd(["device=rhost"])
    c = connect(sshd)
    hd, err = c.interactive(USER, answers(env, remember="n"))
    assert err is None, hd.transcript()
    assert hd.unexpected == []
    assert prompt_lines(hd) == [
        (PROMPT_EMAIL, True),
        (PROMPT_PASSWORD, False),
        (PROMPT_CODE, True),
        ("Remember this device for 30 days? [y/N] ", True),
    ], hd.transcript()
    # One request per prompt, nothing in name or instructions.
    assert all(len(ps) <= 1 and not name and not instr
               for name, instr, ps in hd.rounds), hd.transcript()
    assert_logged_in(c)
    assert env.smtp.count(ADDR, h.has_code) == 1


def test_ssh_masked_address_reaches_client_before_code_prompt(
        env, make_sshd, connect):
    """DESIGN 1 and 3: the code-sent notice (TEXT_INFO) arrives as the
    first line of the code prompt's text: masked address, validity in
    minutes, how to resend; the full address never reaches the client."""
    sshd = make_sshd(["device=rhost"])
    c = connect(sshd)
    hd, err = c.interactive(USER, answers(env, remember="n"))
    assert err is None, hd.transcript()
    code_prompts = [p for p, _ in hd.prompts() if CODE_KEY in p]
    assert len(code_prompts) == 1
    lines = code_prompts[0].split("\n")
    assert len(lines) == 2 and lines[1] == PROMPT_CODE, lines
    notice = lines[0]
    assert MASKED in notice and "5 minutes" in notice, notice
    assert "empty line" in notice, notice
    assert ADDR not in hd.text()
    assert "@example.org" not in hd.text()


def pty_shell_output(c):
    """What an interactive shell on a pty prints, sshd's login message
    first, for one command."""
    chan = c.transport.open_session(timeout=30)
    chan.settimeout(30)
    chan.get_pty()
    chan.invoke_shell()
    chan.send(b"echo SHELL-$((40+2)); exit\n")
    out = b""
    while True:
        data = chan.recv(4096)
        if not data:
            break
        out += data
    return out.decode("utf-8", "replace")


def test_ssh_success_line_shown_in_pty_session(env, make_sshd, connect):
    """DESIGN 3 "done" TEXT_INFO: sshd keeps it as its login message,
    which an interactive session with a pty prints first, once; with a
    remembered device too."""
    sshd = make_sshd(["device=rhost"])
    c = connect(sshd)
    hd, err = c.interactive(USER, answers(env, remember="y"))
    assert err is None, hd.transcript()
    assert SUCCESS not in hd.text()
    c2 = connect(sshd)
    hd2, err = c2.interactive(USER, answers(env))
    assert err is None, hd2.transcript()
    assert len(hd2.prompts()) == 2, hd2.transcript()
    text = pty_shell_output(c2)
    assert text.count(SUCCESS) == 1, text
    chan = c.transport.open_session(timeout=30)
    chan.settimeout(30)
    chan.get_pty()
    chan.invoke_shell()
    chan.send(b"echo SHELL-$((40+2)); exit\n")
    out = b""
    while True:
        data = chan.recv(4096)
        if not data:
            break
        out += data
    text = out.decode("utf-8", "replace")
    assert text.count(SUCCESS) == 1, text
    assert "SHELL-42" in text, text
    assert text.index(SUCCESS) < text.index("SHELL-42"), text


def test_ssh_wrong_code_then_right_code(env, make_sshd, connect):
    """DESIGN 3: a wrong code gives an error line (sent in front of the
    next code prompt) and the prompt again; the right one then works."""
    sshd = make_sshd(["device=rhost"])
    c = connect(sshd)
    codes = []

    def first(prompt):
        codes.append(env.smtp.wait_for_code(ADDR))
        return h.wrong_code(codes[0])

    hd, err = c.interactive(USER, answers(
        env, remember="n", code=[first, lambda p: codes[0]]))
    assert err is None, hd.transcript()
    code_prompts = [p for p, _ in hd.prompts() if CODE_KEY in p]
    assert len(code_prompts) == 2, hd.transcript()
    assert MASKED in code_prompts[0]
    assert code_prompts[1].split("\n") == ["Wrong code.", PROMPT_CODE], \
        hd.transcript()
    assert env.smtp.count(ADDR, h.has_code) == 1
    assert_logged_in(c)


def test_ssh_empty_code_resends_and_old_code_dies(env, make_sshd, connect):
    """DESIGN 3, SECURITY 5: an empty answer mails a new code with an
    info line; the first code is then refused and the new one accepted."""
    sshd = make_sshd(["device=rhost"])
    c = connect(sshd)
    codes = []

    def resend(prompt):
        codes.append(env.smtp.wait_for_code(ADDR))
        return ""

    def old(prompt):
        codes.append(env.smtp.wait_for_code(ADDR))
        return codes[0]

    hd, err = c.interactive(USER, answers(
        env, remember="n", code=[resend, old, lambda p: codes[1]]))
    assert len(codes) == 2, hd.transcript()
    h.need_distinct(*codes)
    assert err is None, hd.transcript()
    code_prompts = [p for p, _ in hd.prompts() if CODE_KEY in p]
    assert len(code_prompts) == 3, hd.transcript()
    resent = code_prompts[1].split("\n")
    assert resent[-1] == PROMPT_CODE
    assert "new code" in resent[0] and MASKED in resent[0], resent
    assert code_prompts[2].split("\n") == ["Wrong code.", PROMPT_CODE], \
        hd.transcript()
    assert env.smtp.count(ADDR, h.has_code) == 2
    assert_logged_in(c)


def test_ssh_remembered_rhost_skips_code(env, make_sshd, connect):
    """SECURITY 16 with device=rhost: after "y", a second connection from
    127.0.0.1 gives email and password only, and no code is mailed."""
    sshd = make_sshd(["device=rhost"])
    c = connect(sshd)
    hd, err = c.interactive(USER, answers(env, remember="y"))
    assert err is None, hd.transcript()
    assert_logged_in(c)
    devs = devices(env)
    assert len(devs) == 1 and devs[0].get("kind", "rhost") == "rhost", devs
    sent = env.smtp.count(ADDR, h.has_code)

    c2 = connect(sshd)
    hd2, err = c2.interactive(USER, answers(env))
    assert err is None, hd2.transcript()
    assert prompt_lines(hd2) == [(PROMPT_EMAIL, True),
                                 (PROMPT_PASSWORD, False)], hd2.transcript()
    assert_logged_in(c2)
    time.sleep(2)               # mail leaves mfad asynchronously
    assert env.smtp.count(ADDR, h.has_code) == sent


def test_ssh_remembered_rhost_is_per_user(env, make_sshd, connect):
    """SECURITY 16: the device identity is combined with the user:
    mssuser1's remembered 127.0.0.1 does not spare mssuser2 the code."""
    sshd = make_sshd(["device=rhost"])
    c = connect(sshd)
    hd, err = c.interactive(USER, answers(env, remember="y"))
    assert err is None, hd.transcript()
    addr2 = "mssuser2@example.org"
    c2 = connect(sshd)
    hd2, err = c2.interactive("mssuser2", answers(env, addr2, remember="n"))
    assert err is None, hd2.transcript()
    assert any(CODE_KEY in p for p, _ in hd2.prompts()), hd2.transcript()
    assert_logged_in(c2, "mssuser2")


def test_ssh_remembered_device_still_needs_password(env, make_sshd,
                                                     connect):
    """DESIGN 1: a remembered device skips the code, never the password."""
    sshd = make_sshd(["device=rhost"])
    hd, err = connect(sshd).interactive(USER, answers(env, remember="y"))
    assert err is None, hd.transcript()
    c = connect(sshd)
    hd, err = c.interactive(USER, answers(env, password=h.WRONG_PASSWORD))
    assert err is not None, hd.transcript()
    assert not c.authenticated


def test_sshd_pam_tty_is_not_a_device(env, make_sshd, connect):
    """DESIGN 4: sshd sets PAM_TTY=ssh, which names no device: with
    device=tty there is nothing to remember, so no remember prompt."""
    sshd = make_sshd(["device=tty"])
    c = connect(sshd)
    hd, err = c.interactive(USER, answers(env))
    assert err is None, hd.transcript()
    assert prompt_lines(hd) == [(PROMPT_EMAIL, True),
                                (PROMPT_PASSWORD, False),
                                (PROMPT_CODE, True)], hd.transcript()
    assert devices(env) == []
    assert 'PAM: setting PAM_TTY to "ssh"' in sshd.log_text()


@pytest.mark.parametrize("addr,password", [
    (ADDR, h.WRONG_PASSWORD),
    ("nobody.here@example.org", h.PASSWORD),
], ids=["wrong-password", "unknown-email"])
def test_ssh_denied_without_mail(env, make_sshd, connect, addr, password):
    """DESIGN 3, SECURITY 13: a wrong password or an unknown email fails
    the login with the same message (the instructions of sshd's last
    request) and no mail is sent."""
    sshd = make_sshd(["device=rhost"])
    c = connect(sshd)
    hd, err = c.interactive(USER, {PROMPT_EMAIL.strip(): addr,
                                   PROMPT_PASSWORD.strip(): password})
    assert err is not None, hd.transcript()
    assert not c.authenticated
    assert hd.unexpected == []
    assert prompt_lines(hd) == [(PROMPT_EMAIL, True),
                                (PROMPT_PASSWORD, False)], hd.transcript()
    name, instructions, prompts = hd.rounds[-1]
    assert prompts == [] and instructions.strip() == GENERIC_FAILURE, \
        hd.transcript()
    assert "Failed keyboard-interactive/pam for %s" % USER in \
        sshd.log_text()
    env.smtp.assert_no_mail(wait=2)


def test_ssh_mfad_down_denies(env, make_sshd, connect):
    """SECURITY 23: mfad unreachable with failmode=secure (the default):
    sshd refuses the login; nothing is mailed."""
    sshd = make_sshd(["device=rhost"])
    env.mfad.stop()
    c = connect(sshd)
    hd, err = c.interactive(USER, answers(env))
    assert err is not None, hd.transcript()
    assert not c.authenticated
    assert not any(CODE_KEY in p for p, _ in hd.prompts()), hd.transcript()
    assert "unavailable" in hd.rounds[-1][1], hd.transcript()
    env.smtp.assert_no_mail(wait=1)


# --------------------------------------------------------------------------
# device=sshkey: publickey first, then keyboard-interactive, ExposeAuthInfo


def key_login(env, connect, sshd, key, remember=None):
    c = connect(sshd)
    assert c.publickey(USER, key) == ["keyboard-interactive"], \
        "the key alone must not be enough"
    assert not c.authenticated
    hd, err = c.interactive(USER, answers(env, remember=remember))
    assert err is None, hd.transcript()
    assert_logged_in(c)
    return hd


def test_ssh_key_is_the_remembered_device(env, make_sshd, connect, keys):
    """DESIGN 4 device=sshkey, SECURITY 16: with AuthenticationMethods
    publickey,keyboard-interactive and ExposeAuthInfo yes, the key used
    is the device: key A remembered -> key A again skips the code; key B
    (also authorized, same address) must still give a code."""
    sshd = make_sshd(["device=sshkey"], methods="publickey,"
                     "keyboard-interactive", expose=True)
    hd = key_login(env, connect, sshd, keys["A"], remember="y")
    assert any(CODE_KEY in p for p, _ in hd.prompts())
    devs = devices(env)
    assert len(devs) == 1 and devs[0].get("kind", "sshkey") == "sshkey", \
        devs
    sent = env.smtp.count(ADDR, h.has_code)

    hd = key_login(env, connect, sshd, keys["A"])
    assert prompt_lines(hd) == [(PROMPT_EMAIL, True),
                                (PROMPT_PASSWORD, False)], hd.transcript()
    time.sleep(2)               # mail leaves mfad asynchronously
    assert env.smtp.count(ADDR, h.has_code) == sent

    hd = key_login(env, connect, sshd, keys["B"], remember="n")
    assert [l for l, _ in prompt_lines(hd)] == [
        PROMPT_EMAIL, PROMPT_PASSWORD, PROMPT_CODE,
        "Remember this device for 30 days? [y/N] "], hd.transcript()
    assert env.smtp.count(ADDR, h.has_code) == sent + 1


def test_ssh_key_required_before_keyboard_interactive(env, make_sshd,
                                                      connect):
    """With AuthenticationMethods publickey,keyboard-interactive sshd
    does not even start the PAM conversation without a key."""
    sshd = make_sshd(["device=sshkey"], methods="publickey,"
                     "keyboard-interactive", expose=True)
    c = connect(sshd)
    hd, err = c.interactive(USER, answers(env))
    assert err is not None
    assert hd.rounds == [] and not c.authenticated
    env.smtp.assert_no_mail(wait=1)


def test_ssh_login_in_french(env, make_sshd, connect):
    """Issue 4: the same SSH conversation in French (lang=fr): prompts,
    the masked-address line and the remember question answered "oui";
    the next connection from the same address skips the code."""
    sshd = make_sshd(["device=rhost"], lang="fr")
    c = connect(sshd)
    hd, err = c.interactive(USER, {
        "Adresse e-mail :": ADDR, "Mot de passe :": h.PASSWORD,
        "Code d'authentification :": mailed_code(env),
        "Se souvenir de cet appareil": "oui"})
    assert err is None, hd.transcript()
    assert [last_line(p) for p, _ in hd.prompts()] == [
        "Adresse e-mail : ", "Mot de passe : ",
        "Code d'authentification : ",
        "Se souvenir de cet appareil pendant 30 jours ? [o/N] "], \
        hd.transcript()
    assert "Un code a été envoyé à %s" % MASKED in hd.text()
    assert_logged_in(c)
    print("\n" + hd.transcript())

    again = connect(sshd)
    hd2, err = again.interactive(USER, {
        "Adresse e-mail :": ADDR, "Mot de passe :": h.PASSWORD})
    assert err is None, hd2.transcript()
    assert [last_line(p) for p, _ in hd2.prompts()] == [
        "Adresse e-mail : ", "Mot de passe : "]
    print(hd2.transcript())
