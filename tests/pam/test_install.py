"""`make install` into a DESTDIR, the man pages and the systemd unit, as a
sysadmin would check them (issue: operable by a sysadmin)."""

import os
import pwd
import re
import shutil
import subprocess

import pytest

import mss_harness as h

EXPECTED = {
    "etc/mfad/mfad.conf",
    "lib/security/pam_mss.so",
    "lib/pam_mss/mfad_store_dir.so",
    "lib/systemd/system/mfad.service",
    "lib/tmpfiles.d/mfad.conf",
    "lib/sysusers.d/mfad.conf",
    "bin/mfadctl",
    "sbin/mfad",
    "share/man/man5/mfad.conf.5",
    "share/man/man8/mfad.8",
    "share/man/man8/mfadctl.8",
    "share/man/man8/pam_mss.8",
    "share/pam_mss/pam.d/login",
    "share/pam_mss/pam.d/sshd",
    "share/pam_mss/pam.d/su",
    "share/pam_mss/pam.d/sudo",
    "share/pam_mss/pam.d/sudo-i",
    "share/bash-completion/completions/mfadctl",
    "share/pam_mss/fail2ban/filter.d/mfad.conf",
    "share/pam_mss/fail2ban/jail.d/mfad.conf",
    "share/pam_mss/ldap/README",
    "share/pam_mss/ldap/mfad.schema",
    "share/pam_mss/ldap/mfad.ldif",
    "share/pam_mss/ldap/mfad-acl.conf",
    "share/pam_mss/ldap/mfad-acl.ldif",
} | {"share/pam_mss/templates/%s/%s.txt" % (lang, kind)
     for lang in ("en", "fr")
     for kind in ("login_code", "enroll_code", "reset_code", "device",
                  "password_changed", "locked", "test", "email_changed",
                  "code_taken", "throttled", "invite", "recovery_used",
                  "recovery_set", "enrolled")}


def _expected():
    """EXPECTED, plus the compiled French catalogue when the build could
    make it (msgfmt is optional)."""
    mo = h.BUILDDIR / "po" / "fr" / "pam_mss.mo"
    return EXPECTED | ({"share/locale/fr/LC_MESSAGES/pam_mss.mo"}
                       if mo.exists() else set())


def _prefix():
    out = subprocess.run(["make", "-s", "-C", str(h.BUILDDIR),
                          "print-prefix"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else "/usr/local"


def _install(dest):
    r = subprocess.run(["make", "-s", "-C", str(h.BUILDDIR), "install",
                        "DESTDIR=%s" % dest], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _files(root):
    found = set()
    for d, _, names in os.walk(root):
        for n in names:
            found.add(os.path.relpath(os.path.join(d, n), root))
    return found


def test_install_file_list(tmp_path):
    """make install honours DESTDIR and puts each file where Debian
    expects it, with no libtool archive in the PAM directory nor beside
    mfad's directory module."""
    _install(tmp_path)
    prefix = _prefix().lstrip("/")
    found = _files(tmp_path / prefix)
    expected = _expected()
    assert found == expected, (sorted(found - expected),
                               sorted(expected - found))
    conf = tmp_path / prefix / "etc/mfad/mfad.conf"
    assert oct(conf.stat().st_mode & 0o777) == "0o640"


def test_install_keeps_an_existing_config(tmp_path):
    """A second install never overwrites the configuration."""
    _install(tmp_path)
    conf = tmp_path / _prefix().lstrip("/") / "etc/mfad/mfad.conf"
    conf.write_text("[mfad]\n# mine\n")
    _install(tmp_path)
    assert conf.read_text() == "[mfad]\n# mine\n"


def test_installed_templates_pass_mfad_t(tmp_path):
    """The installed sample config and templates pass `mfad -t`."""
    _install(tmp_path)
    root = tmp_path / _prefix().lstrip("/")
    conf = tmp_path / "mfad.conf"
    conf.write_text("[mail]\nfrom = mfad@example.org\ntemplates = %s\n" %
                    (root / "share/pam_mss/templates"))
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("page", ["pam_mss.8", "mfad.8", "mfadctl.8",
                                  "mfad.conf.5"])
def test_man_page_lints_clean(page):
    """mandoc -Tlint reports nothing at warning level or above."""
    if shutil.which("mandoc") is None:
        pytest.skip("mandoc is not installed")
    r = subprocess.run(["mandoc", "-Tlint", "-Wwarning",
                        str(h.SRC_ROOT / "man" / page)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_systemd_unit_verifies(tmp_path):
    """systemd-analyze verify finds nothing wrong in the unit (with the
    binary path pointed at the build, since nothing is installed)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (h.BUILDDIR / "conf/systemd/mfad.service").read_text()
    sbindir = os.path.join(_prefix(), "sbin")
    unit = unit.replace(sbindir + "/mfad", str(h.MFAD))
    path = tmp_path / "mfad.service"
    path.write_text(unit)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    for key in ("User=mfad", "RuntimeDirectory=mfad", "StateDirectory=mfad",
                "ProtectSystem=strict", "PrivateTmp=yes",
                "NoNewPrivileges=yes"):
        assert key in unit


SERVICE_USER = "mfadtest"


def _system_user(name):
    """A dedicated system user, as systemd-sysusers makes mfad's."""
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "-M", "-N", "-g", "nogroup",
                        "-s", "/usr/sbin/nologin", name], check=True)
    return pwd.getpwnam(name)


def test_mfad_t_as_root_accepts_the_database_of_the_units_user(tmp_path):
    """Issue 11 point 8: the README's edit, `mfad -t` as root, reload
    cycle. Under the unit mfad runs as its own user, which owns the
    database once mfad has run; the sample config names that user, so
    that `mfad -t` run by root accepts the directory. A directory of any
    other user is still refused."""
    unit = (h.SRC_ROOT / "conf/systemd/mfad.service.in").read_text()
    unit_user = re.search(r"^User=(\S+)$", unit, re.M).group(1)
    sample = (h.SRC_ROOT / "conf/mfad.conf").read_text()
    m = re.search(r"^user\s*=\s*(\S+)\s*$", sample, re.M)
    assert m is not None and m.group(1) == unit_user, \
        "the sample config must name the unit's user"
    # The dedicated user stands in for the unit's; the edits are the
    # README's (relay and sender) and the scratch paths.
    pw = _system_user(SERVICE_USER)
    try:
        os.chmod(tmp_path, 0o755)
        db = tmp_path / "db"
        db.mkdir(mode=0o700)
        (db / "data.mdb").write_bytes(b"")
        os.chmod(db / "data.mdb", 0o600)
        for p in (db, db / "data.mdb"):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        text = sample.replace(m.group(0), "user = %s" % SERVICE_USER)
        for old, new in (
                ("#database = /var/lib/mfad", "database = %s" % db),
                ("#smtp = localhost:25", "smtp = relay.example.org:587"),
                ("# e.g.  from = no-reply@example.org",
                 "from = no-reply@example.org"),
                ("#templates = /usr/share/pam_mss/templates",
                 "templates = %s" % h.TEMPLATES)):
            assert old in text, old
            text = text.replace(old, new)
        conf = tmp_path / "mfad.conf"
        conf.write_text(text)
        os.chmod(conf, 0o640)
        r = subprocess.run([str(h.MFAD), "-t", "-c", str(conf)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

        # Keeps the intent: a database of another user is refused.
        nobody = pwd.getpwnam("nobody")
        os.chown(db, nobody.pw_uid, nobody.pw_gid)
        r = subprocess.run([str(h.MFAD), "-t", "-c", str(conf)],
                           capture_output=True, text=True)
        assert r.returncode == 1 and str(db) in r.stderr, r.stderr
    finally:
        subprocess.run(["userdel", SERVICE_USER], capture_output=True)
