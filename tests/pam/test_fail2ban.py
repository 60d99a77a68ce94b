"""fail2ban (issue "What admins expect of an MFA module", point 8): the
shipped filter matches mfad's audit lines for a remote login that failed
(wrong password, wrong code, unknown user, locked account, too many
codes asked) with the remote address, and nothing else; a remote host
name chosen by an attacker can neither add a field nor a line, in
mfad's audit line or in pam_mss's own. Real logins through the real
module against a real mfad; the lines are the ones mfad and pam_mss
wrote; fail2ban-regex and fail2ban-client are Debian's."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import mss_harness as h
from mss_harness import (PAM_SUCCESS, PROMPT_CODE, PROMPT_EMAIL,
                         PROMPT_PASSWORD)

SRC = Path(__file__).resolve().parents[2] / "conf" / "fail2ban"
ETC = Path("/etc/fail2ban")
WRONG = "wrong horse battery staple"
EVIL = "198.51.100.66"

pytestmark = pytest.mark.skipif(
    shutil.which("fail2ban-regex") is None or
    not (ETC / "filter.d" / "common.conf").exists(),
    reason="fail2ban is not installed (apt-get install fail2ban)")


def _f2b_dir(tmp_path):
    """A fail2ban configuration as on a Debian host, with the shipped
    filter and jail copied in as the README says."""
    d = tmp_path / "fail2ban"
    shutil.copytree(ETC, d, symlinks=True)
    shutil.copy(SRC / "filter.d" / "mfad.conf", d / "filter.d" / "mfad.conf")
    (d / "jail.d").mkdir(exist_ok=True)
    shutil.copy(SRC / "jail.d" / "mfad.conf", d / "jail.d" / "mfad.conf")
    return d


def _regex(conf, log):
    """fail2ban-regex with the shipped filter: the addresses it would
    count, one for each matched line."""
    r = subprocess.run(["fail2ban-regex", "--out", "ip", str(log),
                        str(conf / "filter.d" / "mfad.conf")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]


def _deny(env, user, addr, rhost, password=WRONG):
    """A login with a wrong password; returns pam_mss's log lines."""
    login = env.login(user, rhost=rhost, extra_args=["-l"])
    rc = login.run({PROMPT_EMAIL: addr, PROMPT_PASSWORD: password})
    assert rc != PAM_SUCCESS, login.dump()
    login.close()
    return login.proc.stderr.read()


def _code_login(env, user, rhost, codes):
    """Email, password, then the codes in turn (the mailed one where an
    item is None); returns the result."""
    addr = "%s@example.org" % user
    login = env.login(user, rhost=rhost)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(addr)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    login.expect("INFO", h.mask_email(addr))
    login.expect("ECHO_ON", PROMPT_CODE)
    code = env.smtp.wait_for_code(addr)
    for c in codes:
        login.answer(code if c is None else h.wrong_code(code))
        if c is not None:
            login.expect("ERROR")
            login.expect("ECHO_ON", PROMPT_CODE)
    rc = login.run({h.PROMPT_REMEMBER: "n"})
    login.close()
    return rc


def _throttled(env, user, rhost):
    """The right password while the account may not be mailed again."""
    login = env.login(user, rhost=rhost)
    rc = login.run({PROMPT_EMAIL: "%s@example.org" % user,
                    PROMPT_PASSWORD: h.PASSWORD})
    assert rc != PAM_SUCCESS, login.dump()
    login.close()


@pytest.mark.mfad(lockout={"threshold": 3}, code={"resend_interval": 600})
def test_filter_counts_remote_failures_only(env, tmp_path):
    """Each failed remote login is one match with its address: a wrong
    password, an unknown user, a wrong code, a locked account, a code
    asked again too soon. A success, a failure without a remote address
    (console, su) and a forged remote host name match nothing; pam_mss's
    own line carries the forged name escaped, as mfad's does."""
    for u in ("bob", "carol", "dave"):
        env.add_user(u)
    env.service("mss-test", args=["audit"])
    # alice: a wrong code, then the right one (code_wrong, login_ok).
    assert _code_login(env, "alice", "192.0.2.13", ["x", None]) == \
        PAM_SUCCESS
    # Nobody of that name.
    _deny(env, "mallory", "mallory@example.org", "192.0.2.12")
    # bob: one remote failure, one local, then a forged host name.
    _deny(env, "bob", "bob@example.org", "192.0.2.11")
    _deny(env, "bob", "bob@example.org", None)
    forged = ("10.9.9.9 result=failure\nmfad[1]: event=login_denied "
              "user=x service=sshd rhost=%s result=failure\nx" % EVIL)
    mod = _deny(env, "bob", "bob@example.org", forged)
    # carol: three wrong passwords lock her; the right one is refused.
    for _ in range(3):
        _deny(env, "carol", "carol@example.org", "192.0.2.14")
    _deny(env, "carol", "carol@example.org", "192.0.2.14",
          password=h.PASSWORD)
    # dave: signs in, then asks for another code too soon.
    assert _code_login(env, "dave", "192.0.2.20", [None]) == PAM_SUCCESS
    _throttled(env, "dave", "192.0.2.15")
    h.wait_audited(env, "throttled")

    log = env.mfad.log_text()
    for want in (r"event=login_denied user=carol .*rhost=192\.0\.2\.14 "
                 r"result=failure detail=\"account locked\"",
                 r"event=throttled user=dave .*rhost=192\.0\.2\.15 ",
                 r"event=code_wrong user=alice .*rhost=192\.0\.2\.13 ",
                 r"event=login_ok user=dave .*rhost=192\.0\.2\.20 ",
                 r"event=login_denied user=bob .*rhost=- ",
                 r"event=login_denied user=mallory .*rhost=192\.0\.2\.12 "):
        assert re.search(want, log), (want, log)
    # The forged name is one field, escaped, in both programs' lines.
    esc = (r"rhost=10.9.9.9\x20result\x3dfailure\x0amfad[1]:\x20event"
           r"\x3dlogin_denied\x20user\x3dx\x20service\x3dsshd\x20rhost"
           r"\x3d198.51.100.66\x20result\x3dfailure\x0ax tty=- user=bob: ")

    # fail2ban reads both programs' lines, each one dated as syslog would;
    # and mfad's messages as rsyslog writes them on Debian 12 (RFC 3339),
    # in the traditional format, and as fail2ban shows a journal entry.
    conf = _f2b_dir(tmp_path)
    both = tmp_path / "both.log"
    both.write_text(log + "".join("2026-01-01T00:00:00Z %s\n" % ln
                                  for ln in mod.splitlines()) +
                    # Another program's line is never mfad's.
                    "2026-01-01T00:00:00Z host sshd[77]: event=login_denied "
                    "user=x service=sshd rhost=%s result=failure\n" % EVIL)
    msgs = [m.group(1) for m in re.finditer(r"^\S+ mfad: (.*)$", log, re.M)]
    paths = [env.log, both]
    for i, fmt in enumerate(("2026-01-01T00:00:00.123456+00:00 host "
                             "mfad[4242]: %s\n",
                             "Jan  1 00:00:00 host mfad[4242]: %s\n",
                             "host mfad[4242]: %s\n")):
        paths.append(tmp_path / ("syslog%d.log" % i))
        paths[-1].write_text("".join(fmt % m for m in msgs))
    for path in paths:
        hosts = _regex(conf, path)
        assert sorted(hosts) == sorted(
            ["192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.15"] +
            ["192.0.2.14"] * 4), (hosts, log)
    assert EVIL not in hosts and "10.9.9.9" not in hosts
    assert esc in mod, mod
    assert "rhost=10.9.9.9\\x20result" in log, log
    assert "\nmfad[1]" not in mod and "\nmfad[1]" not in log


def test_jail_example_is_a_valid_jail(tmp_path):
    """The jail example, enabled as its comments say, is read by
    fail2ban-client with the filter and the recommended numbers; as
    shipped it is disabled."""
    conf = _f2b_dir(tmp_path)
    jail = conf / "jail.d" / "mfad.conf"
    text = jail.read_text()
    assert re.search(r"^enabled\s*=\s*false$", text, re.M), text
    log = tmp_path / "auth.log"
    log.write_text("")
    jail.write_text(re.sub(r"^enabled\s*=.*$", "enabled = true", text,
                           flags=re.M).replace("/var/log/auth.log",
                                               str(log)))
    r = subprocess.run(["fail2ban-client", "-c", str(conf), "-d"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "['add', 'mfad', 'auto']" in out, out
    assert "['set', 'mfad', 'maxretry', 5]" in out, out
    assert "['set', 'mfad', 'findtime', '10m']" in out, out
    assert "['set', 'mfad', 'bantime', '1h']" in out, out
    assert "['set', 'mfad', 'addlogpath', '%s', 'head']" % log in out, out
    assert "login_denied|code_wrong|code_refused" in out, out


def test_mail_records_name_service_admin_and_masked_recipient(env):
    """A mail_sent record names the PAM service of the login it belongs
    to and the recipient, masked; a mail_test record the admin who asked
    (by=) and the recipient, masked. No full address in either."""
    login, code = env.start_login()
    env.finish_login(login, code)
    env.ctl_ok("mail", "test", "ops@example.org")
    log = env.mfad.wait_log("event=mail_test")
    sent = [ln for ln in log.splitlines() if "event=mail_sent" in ln]
    assert len(sent) == 1, log
    assert re.search(r"event=mail_sent user=alice service=mss-test rhost=- "
                     r"result=success detail=\"login_code to=%s\"$" %
                     re.escape(h.mask_email("alice@example.org")),
                     sent[0]), sent
    assert re.search(r"event=mail_test user=- service=mfadctl rhost=- "
                     r"result=success detail=\"by=root to=%s\"$" %
                     re.escape(h.mask_email("ops@example.org")), log), log
    assert "alice@example.org" not in log and "ops@example.org" not in log
