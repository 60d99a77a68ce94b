"""The recommended /etc/pam.d stacks (conf/pam.d/{sshd,login,su,sudo,
sudo-i}) and the exemption recipes, as README.md and pam_mss(8) show
them.

1. README.md and pam_mss(8) show each stack with the same module lines,
   in the same order with the same arguments, as the file in conf/pam.d
   (comments may differ), and the same sshd_config lines.
2. Each conf/pam.d file, run by the real Linux-PAM (pam_driver) against
   a real mfad and the real SMTP server: a full login with the mailed
   code succeeds, a wrong code fails without falling through to the Unix
   password, and su does not ask a root caller anything. Only pam_mss.so
   is rewritten (the built module, this test's socket); the @include
   lines are left alone and Linux-PAM reads them from the system's
   /etc/pam.d, as it does for sshd or login.
3. The exemption recipes, taken from README.md and inserted as it says:
   a member of the exempt group (a real group, real users) and a client
   in the exempt network get no code but the Unix password, and a wrong
   Unix password still fails; anybody else gets the code.
"""

import grp
import os
import pwd
import re
import subprocess

import pytest

import mss_harness as h
from mss_harness import (PAM_MAXTRIES, PAM_SUCCESS, PROMPT_CODE,
                         PROMPT_EMAIL, PROMPT_PASSWORD, PROMPT_REMEMBER)

README = h.SRC_ROOT / "README.md"
MAN_PAGE = h.SRC_ROOT / "man" / "pam_mss.8"
CONF = h.SRC_ROOT / "conf" / "pam.d"
STACKS = ("sshd", "login", "su", "sudo", "sudo-i")
SSHD_CONFIG = ("UsePAM yes", "KbdInteractiveAuthentication yes",
               "AuthenticationMethods publickey,keyboard-interactive",
               "ExposeAuthInfo yes")
EXEMPT_GROUP = "mfa-exempt"
ACCESS_FILE = "/etc/security/access-mss.conf"

# Test accounts: MEMBER is in the exempt group and has no mfad account,
# OTHER is not and has one (mfad's password differs from the Unix one).
GROUP = "mssstk-exempt"
MEMBER, OTHER = "mssstk-in", "mssstk-out"
OTHER_ADDR = "mssstk-out@example.org"
UNIX_PASSWORD = "the unix password of a test user"
INSIDE, OUTSIDE = "192.0.2.7", "198.51.100.7"
SSH_KEY = ("SSH_AUTH_INFO_0=publickey ssh-ed25519 "
           "AAAAC3NzaC1lZDI1NTE5AAAAIHZ0ZXN0a2V5Zm9ydGhlc3RhY2tzdGVzdHMx")


# --------------------------------------------------------------------------
# The stacks as text


def module_lines(text):
    """The lines Linux-PAM reads, each as its list of words: comments
    (from # to the end of the line) and blank lines dropped."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].split()
        if line:
            out.append(line)
    return out


def readme_blocks():
    return re.findall(r"^```[a-z]*\n(.*?)^```", README.read_text(),
                      re.M | re.S)


def man_blocks():
    """The .Bd -literal blocks of pam_mss(8), as text (\\e, \\& undone)."""
    blocks = re.findall(r"^\.Bd -literal[^\n]*\n(.*?)^\.Ed$",
                        MAN_PAGE.read_text(), re.M | re.S)
    return [b.replace("\\&", "").replace("\\e", "\\") for b in blocks]


def titled(blocks, title):
    """The one block whose first line is "# TITLE"."""
    found = [b for b in blocks if b.splitlines()[:1] == ["# " + title]]
    assert len(found) == 1, "%d blocks titled %r" % (len(found), title)
    return found[0]


@pytest.mark.parametrize("name", STACKS)
def test_docs_show_the_conf_stack(name):
    conf = module_lines((CONF / name).read_text())
    assert any(w == "pam_mss.so" for line in conf for w in line)
    for where, blocks in (("README.md", readme_blocks()),
                          ("pam_mss(8)", man_blocks())):
        shown = module_lines(titled(blocks, "/etc/pam.d/" + name))
        assert shown == conf, "%s shows another %s stack" % (where, name)


def test_docs_show_the_sshd_config_lines():
    texts = {
        "conf/pam.d/sshd": [ln.lstrip("#").strip() for ln in
                            (CONF / "sshd").read_text().splitlines()],
        "README.md": titled(readme_blocks(),
                            "/etc/ssh/sshd_config").splitlines(),
        "pam_mss(8)": titled(man_blocks(),
                             "/etc/ssh/sshd_config").splitlines(),
    }
    for where, lines in texts.items():
        lines = [" ".join(ln.split()) for ln in lines]
        for want in SSHD_CONFIG:
            assert want in lines, "%s: no %r" % (where, want)


def test_shipped_and_documented_alike():
    """Every stack of conf/pam.d is shown; no other /etc/pam.d stack with
    pam_mss is shown in the README (the recipes are fragments)."""
    assert sorted(p.name for p in CONF.iterdir()) == sorted(STACKS)
    for blocks in (readme_blocks(), man_blocks()):
        titles = sorted(b.splitlines()[0][len("# /etc/pam.d/"):]
                        for b in blocks
                        if b.startswith("# /etc/pam.d/"))
        assert titles == sorted(STACKS)


# --------------------------------------------------------------------------
# The stacks through Linux-PAM


def recipe(title):
    """The lines of a README recipe block, comments dropped."""
    return [" ".join(w) for w in module_lines(titled(readme_blocks(),
                                                     title))]


def with_recipe(text, lines):
    """Inserts each line of a recipe right before the pam_mss line of
    its type, as the README says."""
    out = text.splitlines()
    for line in lines:
        kind = line.split()[0]
        at = next(i for i, ln in enumerate(out)
                  if ln.split()[:1] == [kind] and "pam_mss.so" in ln)
        out.insert(at, line)
    return "\n".join(out) + "\n"


def install(env, name, text=None):
    """Writes the stack into the scratch pam.d with the built pam_mss.so
    on this test's socket."""
    text = (CONF / name).read_text() if text is None else text
    text = re.sub(r"(?<![\w/.])pam_mss\.so\b",
                  "%s socket=%s lang=en" % (h.PAM_MSS, env.sock), text)
    (env.pamd / name).write_text(text)
    return name


def _userdel(name):
    subprocess.run(["userdel", "-f", name], capture_output=True)


@pytest.fixture
def unix():
    """GROUP, MEMBER in it and OTHER not, both with UNIX_PASSWORD;
    removed at the end (leftovers of an interrupted run first)."""
    if h.SANITIZED:
        pytest.skip("pam_unix cannot run in a process built with ASan")
    for f in ("common-auth", "common-account", "common-session",
              "common-session-noninteractive", "common-password"):
        if not os.path.exists("/etc/pam.d/" + f):
            pytest.skip("no /etc/pam.d/%s to include" % f)

    def clean():
        for user in (MEMBER, OTHER):
            _userdel(user)
        subprocess.run(["groupdel", GROUP], capture_output=True)

    clean()
    try:
        subprocess.run(["groupadd", GROUP], check=True, capture_output=True)
        for user, extra in ((MEMBER, ["-G", GROUP]), (OTHER, [])):
            subprocess.run(["useradd", "-M", "-N", "-g", "nogroup", "-s",
                            "/usr/sbin/nologin"] + extra + [user],
                           check=True, capture_output=True)
        subprocess.run(["chpasswd"], text=True, check=True,
                       capture_output=True,
                       input="%s:%s\n%s:%s\n" % (MEMBER, UNIX_PASSWORD,
                                                 OTHER, UNIX_PASSWORD))
        assert MEMBER in grp.getgrnam(GROUP).gr_mem
        yield
    finally:
        clean()


@pytest.fixture
def senv(make_env, unix):
    env = make_env()
    env.add_user(OTHER, OTHER_ADDR)
    return env


def caller_driver(env, user):
    """pam_driver as su and sudo run: real uid the caller's, effective
    uid root (pam_rootok looks at the real one)."""
    path = env.dir / ("driver-" + user)
    path.write_text("#!/bin/sh\nexec setpriv --ruid=%d --euid=0 %s \"$@\"\n"
                    % (pwd.getpwnam(user).pw_uid, h.PAM_DRIVER))
    path.chmod(0o755)
    return path


def start(env, name, user, caller=MEMBER, **kw):
    """A login through stack name: sshd with a key and a client address,
    login on a console, su called by caller, sudo by user itself."""
    kw.setdefault("acct", True)
    if name == "sshd":
        kw.setdefault("rhost", OUTSIDE)
        kw.setdefault("pamenv", [SSH_KEY])
    elif name == "login":
        kw.setdefault("tty", "/dev/tty1")
    elif name == "su":
        kw.setdefault("driver", caller_driver(env, caller))
        kw.setdefault("tty", "/dev/pts/7")
    return env.login(user, service=name, **kw)


def prompts(login):
    return login.lines("ECHO_ON", "ECHO_OFF")


def mailed_code_login(env, name, login):
    """Email, mfad's password, the code; the remember question where the
    stack has a device identity. Returns the prompts seen."""
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(OTHER_ADDR)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    login.expect("INFO", h.mask_email(OTHER_ADDR))
    login.expect("ECHO_ON", PROMPT_CODE)
    login.answer(env.smtp.wait_for_code(OTHER_ADDR))
    if name in ("sshd", "login"):
        login.expect("ECHO_ON", PROMPT_REMEMBER)
        login.answer("n")
    assert login.result() == PAM_SUCCESS, login.dump()
    assert login.result("acct_mgmt") == PAM_SUCCESS, login.dump()
    return prompts(login)


def unix_password_only(env, login, password=UNIX_PASSWORD):
    """The Unix password and nothing else; returns the results."""
    rc = login.run({"Password": password})
    acct = login.result("acct_mgmt")
    assert prompts(login) == [("ECHO_OFF", "Password: ")], login.dump()
    return rc, acct


@pytest.mark.parametrize("name", STACKS)
def test_stack_mailed_code_login(senv, name):
    login = start(senv, install(senv, name), OTHER)
    seen = mailed_code_login(senv, name, login)
    assert [p for p in seen if p[1] == "Password: "] == \
        [("ECHO_OFF", PROMPT_PASSWORD)], "the Unix password was asked too"


@pytest.mark.parametrize("name", STACKS)
def test_stack_wrong_code_fails(senv, name):
    """Wrong codes end the login with pam_mss's failure: default=die, so
    common-auth's Unix password is never asked in its place."""
    login = start(senv, install(senv, name), OTHER)
    code = None

    def wrong():
        nonlocal code
        code = code or senv.smtp.wait_for_code(OTHER_ADDR)
        return h.wrong_code(code)

    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(OTHER_ADDR)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    for _ in range(3):
        while True:
            style, text = login.next()
            if style in login.PROMPTS:
                break
        assert (style, text) == ("ECHO_ON", PROMPT_CODE), login.dump()
        login.answer(wrong())
    assert login.result() == PAM_MAXTRIES, login.dump()
    assert len(prompts(login)) == 5, login.dump()


def test_su_root_caller_is_not_asked(senv):
    """pam_rootok first: root becomes anybody without a prompt and no
    mail leaves; a caller that is not root is asked (above)."""
    login = senv.login(OTHER, service=install(senv, "su"), acct=True)
    assert login.result() == PAM_SUCCESS, login.dump()
    assert login.result("acct_mgmt") == PAM_SUCCESS, login.dump()
    assert prompts(login) == [], login.dump()
    senv.smtp.assert_no_mail(OTHER_ADDR)


# --------------------------------------------------------------------------
# Exemptions


def group_recipe():
    lines = recipe("exempt group: before each pam_mss line")
    assert all(EXEMPT_GROUP in ln for ln in lines)
    return [ln.replace(EXEMPT_GROUP, GROUP) for ln in lines]


@pytest.mark.parametrize("name", STACKS)
def test_exempt_group_gets_the_unix_password_not_a_code(senv, name):
    """The member (without any mfad account) gives the Unix password
    alone, and a wrong one fails; the other user still gets the code."""
    text = with_recipe((CONF / name).read_text(), group_recipe())
    install(senv, name, text)
    caller = OTHER if name == "su" else MEMBER
    rc, acct = unix_password_only(
        senv, start(senv, name, MEMBER, caller=caller))
    assert (rc, acct) == (PAM_SUCCESS, PAM_SUCCESS)
    rc, _ = unix_password_only(
        senv, start(senv, name, MEMBER, caller=caller),
        password=h.WRONG_PASSWORD)
    assert rc not in (PAM_SUCCESS, h.PAM_IGNORE)
    mailed_code_login(senv, name, start(senv, name, OTHER))
    senv.smtp.assert_no_mail(MEMBER + "@example.org", wait=0)


def access_file(senv):
    path = senv.dir / "access-mss.conf"
    path.write_text(titled(readme_blocks(), ACCESS_FILE))
    return path


def network_recipe(senv):
    lines = recipe("exempt network: before each pam_mss line")
    assert all(ACCESS_FILE in ln for ln in lines)
    return [ln.replace(ACCESS_FILE, str(access_file(senv))) for ln in lines]


def test_exempt_network_gets_the_unix_password_not_a_code(senv):
    """sshd from inside the network: the Unix password alone (a wrong one
    fails); from outside: the code."""
    install(senv, "sshd", with_recipe((CONF / "sshd").read_text(),
                                      network_recipe(senv)))
    rc, acct = unix_password_only(senv, start(senv, "sshd", OTHER,
                                              rhost=INSIDE))
    assert (rc, acct) == (PAM_SUCCESS, PAM_SUCCESS)
    rc, _ = unix_password_only(senv, start(senv, "sshd", OTHER,
                                           rhost=INSIDE),
                               password=h.WRONG_PASSWORD)
    assert rc not in (PAM_SUCCESS, h.PAM_IGNORE)
    senv.smtp.assert_no_mail(OTHER_ADDR, wait=0)
    mailed_code_login(senv, "sshd", start(senv, "sshd", OTHER,
                                          rhost=OUTSIDE))


def test_both_exemptions_together(senv):
    """Both recipes, the group's first with its skip raised to 2 as the
    README says: either exemption spares the code, neither does not."""
    lines = recipe("both exemptions: before each pam_mss line")
    lines = [ln.replace(EXEMPT_GROUP, GROUP)
             .replace(ACCESS_FILE, str(access_file(senv))) for ln in lines]
    install(senv, "sshd", with_recipe((CONF / "sshd").read_text(), lines))
    for user, rhost in ((MEMBER, OUTSIDE), (OTHER, INSIDE)):
        rc, acct = unix_password_only(senv, start(senv, "sshd", user,
                                                  rhost=rhost))
        assert (rc, acct) == (PAM_SUCCESS, PAM_SUCCESS), (user, rhost)
    mailed_code_login(senv, "sshd", start(senv, "sshd", OTHER,
                                          rhost=OUTSIDE))


# --------------------------------------------------------------------------
# The documented options on the recommended stacks


def with_args(name, args):
    """The stack with args added to both pam_mss lines, as the README
    says for failmode=safe and unenrolled=ignore."""
    return re.sub(r"(pam_mss\.so[^\n]*)", r"\1 " + args,
                  (CONF / name).read_text())


def test_unenrolled_ignore_leaves_the_unix_password(senv):
    """unenrolled=ignore: a user without an mfad account gets the Unix
    password (common-auth), which still decides; a user with an account
    gets the code."""
    install(senv, "sshd", with_args("sshd", "unenrolled=ignore"))
    rc, acct = unix_password_only(senv, start(senv, "sshd", MEMBER))
    assert (rc, acct) == (PAM_SUCCESS, PAM_SUCCESS)
    rc, _ = unix_password_only(senv, start(senv, "sshd", MEMBER),
                               password=h.WRONG_PASSWORD)
    assert rc not in (PAM_SUCCESS, h.PAM_IGNORE)
    mailed_code_login(senv, "sshd", start(senv, "sshd", OTHER))


def test_failmode_safe_falls_back_to_the_unix_password(senv):
    """failmode=safe with mfad down: pam_mss asks its two questions,
    finds mfad unreachable and hands the password typed to common-auth,
    which checks it as the Unix password (no second prompt; a wrong one
    fails); failmode=secure (the stack as shipped) lets nobody in."""
    safe = install(senv, "sshd-safe", with_args("sshd", "failmode=safe"))
    shipped = install(senv, "sshd")
    senv.mfad.stop()
    for password, want in ((UNIX_PASSWORD, PAM_SUCCESS),
                           (h.WRONG_PASSWORD, h.PAM_AUTH_ERR)):
        login = senv.login(OTHER, service=safe, acct=True)
        rc = login.run({PROMPT_EMAIL: OTHER_ADDR,
                        PROMPT_PASSWORD: password})
        assert rc == want, login.dump()
        assert prompts(login) == [("ECHO_ON", PROMPT_EMAIL),
                                  ("ECHO_OFF", PROMPT_PASSWORD)], \
            login.dump()
    login = senv.login(OTHER, service=shipped)
    rc = login.run({PROMPT_EMAIL: OTHER_ADDR, PROMPT_PASSWORD: UNIX_PASSWORD})
    assert rc == h.PAM_AUTHINFO_UNAVAIL, login.dump()


RECIPES = ("exempt group: before each pam_mss line",
           "exempt network: before each pam_mss line",
           "both exemptions: before each pam_mss line")


def test_man_page_shows_the_readme_recipes():
    for title in RECIPES:
        assert module_lines(titled(man_blocks(), title)) == \
            module_lines(titled(readme_blocks(), title)), title
    assert titled(man_blocks(), ACCESS_FILE) == \
        titled(readme_blocks(), ACCESS_FILE)
