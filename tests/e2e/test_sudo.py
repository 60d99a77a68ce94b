"""sudo through the shipped stacks (conf/pam.d/sudo and sudo-i, README.md
"PAM stacks"): Debian's real sudo, run by an ordinary user in a shell on
a pseudo-terminal, with the built pam_mss.so and a real mfad and SMTP
server.

The stacks are the files of conf/pam.d with only pam_mss.so rewritten
(the built module, this test's socket), installed as the PAM services
mss-sudo-test and mss-sudo-i-test; a sudoers drop-in gives the test users
/usr/bin/id and root's shell (for sudo -i) as root, and points sudo at
those services for them alone (pam_service, pam_login_service), so that
nobody else's sudo on the machine changes while the tests run. The files
are removed when the tests end, and so are the users' sudo timestamps.

What is checked: sudo asks the caller's own address, password and the
mailed code, never the Unix password, and runs the command as root; its
own timestamp spares the next command on the same terminal (the README's
reason for device=none); -k asks again with a new code; sudo -i, which
reads its own PAM file, asks the same; wrong codes end in sudo's failure
without a Unix password prompt (sudo itself starts the login again,
passwd_tries times); a sudoer with no mfad account gets the same prompts,
no mail and no command.
"""

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import e2e_sshd
import mss_harness as h

USER = "mssuser1"
USERS = ("mssuser1", "mssuser2")	# the sudoers of the drop-in
ADDR = "mssuser1@example.org"
SERVICE = "mss-sudo-test"
LOGIN_SERVICE = "mss-sudo-i-test"
SUDOERS = Path("/etc/sudoers.d/mss-sudo-test")
SUDO = "/usr/bin/sudo"
TIMESTAMP_DIR = Path("/run/sudo/ts")
CONF = h.SRC_ROOT / "conf" / "pam.d"

EMAIL = "Email address: "
# sudo shows its own password prompt in place of a PAM prompt that is
# exactly "Password: " (sudoers(5), passprompt_override).
PASSWORD = "[sudo] password for %s: " % USER
SENT = "A code was sent to %s" % h.mask_email(ADDR)
CODE = "Authentication code: "
COMMAND = "sudo -- /usr/bin/id -u"


def _forget_timestamps():
    for user in USERS:
        try:
            (TIMESTAMP_DIR / user).unlink()
        except FileNotFoundError:
            pass


@pytest.fixture
def sudo_stack(env):
    """The shipped sudo and sudo-i stacks as mss-sudo-test and
    mss-sudo-i-test, and the sudoers drop-in that uses them for USERS;
    removed at the end, and their Unix passwords locked again (useradd's
    "!")."""
    if not os.path.exists(SUDO) or shutil.which("visudo") is None:
        pytest.fail("missing (Debian: sudo): " + SUDO)
    for f in ("common-auth", "common-account", "common-session",
              "common-session-noninteractive"):
        if not os.path.exists("/etc/pam.d/" + f):
            pytest.fail("no /etc/pam.d/%s to include" % f)
    for name, conf in ((SERVICE, "sudo"), (LOGIN_SERVICE, "sudo-i")):
        text = re.sub(r"(?<![\w/.])pam_mss\.so\b",
                      "%s socket=%s lang=en" % (h.PAM_MSS, env.sock),
                      (CONF / conf).read_text())
        e2e_sshd.write_pam_service(name, text)
    who = ",".join(USERS)
    rules = ("# written by tests/e2e/test_sudo.py; removed when it ends\n"
             "Defaults:%s pam_service=%s, pam_login_service=%s, "
             "lecture=never\n"
             "%s ALL=(root) /usr/bin/id, %s\n" %
             (who, SERVICE, LOGIN_SERVICE, who,
              pwd.getpwnam("root").pw_shell))
    tmp = SUDOERS.with_name(".mss-sudo-test.tmp")
    tmp.write_text(rules)
    os.chmod(tmp, 0o440)
    check = subprocess.run(["visudo", "-c", "-q", "-f", str(tmp)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    os.replace(tmp, SUDOERS)
    _forget_timestamps()
    yield SERVICE
    for user in USERS:
        subprocess.run(["usermod", "-p", "!", user], capture_output=True,
                       timeout=30)
    SUDOERS.unlink()
    e2e_sshd.remove_pam_service(SERVICE)
    e2e_sshd.remove_pam_service(LOGIN_SERVICE)
    _forget_timestamps()


def unix_password(user, password):
    """Sets user's Unix password until the end of the test (sudo_stack
    locks it again)."""
    subprocess.run(["chpasswd"], input="%s:%s\n" % (user, password),
                   text=True, check=True, capture_output=True, timeout=30)


def code_sudo(env, con, command=COMMAND):
    """sudo with the caller's address, password and mailed code; returns
    the terminal output."""
    con.run(command)
    con.expect(EMAIL)
    con.answer(ADDR)
    con.expect(PASSWORD)
    con.answer(h.PASSWORD)
    con.expect(SENT)
    con.expect(CODE)
    con.answer(env.smtp.wait_for_code(ADDR))
    assert con.status() == 0, con.transcript()
    return con.output()


def test_sudo_asks_address_password_and_code(env, sudo_stack, console):
    con = console(user=USER)
    out = code_sudo(env, con)
    assert re.search(r"^0\r?$", out, re.M), con.transcript()
    assert h.PASSWORD not in out, con.transcript()
    # device=none: never the remember question.
    assert "Remember this device" not in out, con.transcript()
    log = env.mfad.log_text()
    assert re.search(r"event=login_ok user=%s service=%s .*method=code"
                     % (USER, SERVICE), log), log[-2000:]


def test_sudo_timestamp_spares_the_next_command(env, sudo_stack, console):
    """README: sudo's own timestamp spares the next commands; -k asks
    again, with a new code."""
    con = console(user=USER)
    code_sudo(env, con)
    con.run(COMMAND)
    assert con.status() == 0, con.transcript()
    assert EMAIL not in con.output(), con.transcript()
    assert len(env.smtp.messages) == 1
    code_sudo(env, con, "sudo -k -- /usr/bin/id -u")
    codes = [h.code_from(m) for _, _, m in env.smtp.messages
             if h.has_code(m)]
    assert len(codes) == 2 and codes[0] != codes[1]


def test_sudo_login_shell_asks_the_same(env, sudo_stack, console):
    """sudo -i reads pam_login_service's file (Debian: /etc/pam.d/sudo-i),
    not sudo's: the shipped sudo-i asks the address, password and code
    too, and never the Unix password, here the same as mfad's."""
    unix_password(USER, h.PASSWORD)
    con = console(user=USER)
    out = code_sudo(env, con, "sudo -i -- /usr/bin/id -u")
    assert re.search(r"^0\r?$", out, re.M), con.transcript()
    log = env.mfad.log_text()
    assert re.search(r"event=login_ok user=%s service=%s .*method=code"
                     % (USER, LOGIN_SERVICE), log), log[-2000:]


def test_sudo_wrong_codes_fail_without_the_unix_password(env, sudo_stack,
                                                         console):
    """Three wrong codes end pam_mss's login; sudo then starts a new one
    (passwd_tries, 3 by default), each with a new code, and after the
    third fails without running the command. default=die: the login
    never goes on to common-auth, whose pam_unix would take the password
    already given, here the same as the Unix one."""
    unix_password(USER, h.PASSWORD)
    con = console(user=USER)
    con.run(COMMAND)
    for _ in range(3):
        con.expect(EMAIL)
        con.answer(ADDR)
        con.expect(PASSWORD)
        con.answer(h.PASSWORD)
        con.expect(SENT)
        for _ in range(3):
            con.expect(CODE)
            con.answer("000000")
    assert con.status() == 1, con.transcript()
    out = con.output()
    assert "3 incorrect password attempts" in out, con.transcript()
    assert not re.search(r"^0\r?$", out, re.M), con.transcript()
    assert out.count(PASSWORD) == 3, con.transcript()
    assert "Password:" not in out.replace(PASSWORD, ""), con.transcript()
    assert out.count(EMAIL) == 3, con.transcript()
    codes = [h.code_from(m) for _, _, m in env.smtp.messages
             if h.has_code(m)]
    assert len(codes) == 3, "one new code a round: %r" % codes
    # Nor is the command run on a later call without a login.
    con.run("sudo -n -- /usr/bin/id -u")
    assert con.status() == 1, con.transcript()


def test_sudo_without_mfad_account_runs_nothing(env, sudo_stack, console):
    """A sudoer mfad has no account for (unenrolled=deny, the default):
    the same prompts as anyone's, the same answer as a wrong password,
    no mail and no command."""
    env.ctl_ok("user", "del", "mssuser2")
    con = console(user="mssuser2")
    con.run(COMMAND)
    for _ in range(3):
        con.expect(EMAIL)
        con.answer("mssuser2@example.org")
        con.expect("[sudo] password for mssuser2: ")
        con.answer(h.PASSWORD)
        con.expect("Invalid email address or password.")
    assert con.status() == 1, con.transcript()
    out = con.output()
    assert "3 incorrect password attempts" in out, con.transcript()
    assert not re.search(r"^0\r?$", out, re.M), con.transcript()
    env.smtp.assert_no_mail("mssuser2@example.org")
