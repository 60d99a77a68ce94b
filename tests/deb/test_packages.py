"""The Debian packages, end to end, on this machine (as root): built from
a copy of the tree with dpkg-buildpackage, checked by lintian, installed
with apt-get, configured as an admin would, one mailed-code login through
the installed pam_mss.so and mfad, the pam-auth-update profile switched
on and off, then purged, with nothing of the packages left behind.

Run by .ci/run after the other suites; needs MSS_BUILDDIR for pam_driver:

  MSS_BUILDDIR=$PWD/build /usr/bin/python3 -m pytest -q tests/deb

The tests run in order and share the machine's state: each depends on
the ones before it. /etc/pam.d/common-* and /var/lib/pam (which
pam-auth-update rewrites) are saved first and put back at the end,
whatever happened; the packages are purged at the end too.
"""

import grp
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pam"))
import mss_harness as h  # noqa: E402

SRC = Path(__file__).resolve().parent.parent.parent
PACKAGES = ("libpam-mss", "mfad")
CONF = Path("/etc/mfad/mfad.conf")
UNIT = Path("/lib/systemd/system/mfad.service")
MODULE = Path("/lib/x86_64-linux-gnu/security/pam_mss.so")
PROFILE = Path("/usr/share/pam-configs/mss")
SERVICE = Path("/etc/pam.d/mss-pkgtest")
USER = "msspkgtest"
ADDR = "msspkgtest@example.org"
PAM_STATE = [Path("/etc/pam.d") / n for n in (
    "common-auth", "common-account", "common-password", "common-session",
    "common-session-noninteractive")]


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check:
        assert r.returncode == 0, "%s: %d\n%s%s" % (
            " ".join(map(str, cmd)), r.returncode, r.stdout, r.stderr)
    return r


def installed(pkg):
    r = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
    return r.returncode == 0 and "installed" in r.stdout.split()[-1:]


class State:
    """What the tests pass on to each other."""
    work = None         # the build's directory under /tmp
    debs = []
    changes = None
    files = []          # dpkg -L of both packages, before the purge
    smtp = None
    mfad = None
    mfad_log = None
    common_auth = None  # /etc/pam.d/common-auth before anything


S = State()


def _exists(lookup, name):
    try:
        lookup(name)
        return True
    except KeyError:
        return False


def _save_pam(where):
    saved = {}
    for p in PAM_STATE:
        if p.exists():
            saved[p] = p.read_bytes()
    if Path("/var/lib/pam").is_dir():
        shutil.copytree("/var/lib/pam", where / "var-lib-pam", symlinks=True)
    return saved


def _restore_pam(saved, where):
    for p in PAM_STATE:
        if p in saved:
            p.write_bytes(saved[p])
        elif p.exists():
            p.unlink()
    if (where / "var-lib-pam").is_dir():
        shutil.rmtree("/var/lib/pam", ignore_errors=True)
        shutil.copytree(where / "var-lib-pam", "/var/lib/pam", symlinks=True)


def _stop_mfad():
    if S.mfad is not None and S.mfad.poll() is None:
        S.mfad.terminate()
        try:
            S.mfad.wait(60)
        except subprocess.TimeoutExpired:
            S.mfad.kill()
            S.mfad.wait()
    return None if S.mfad is None else S.mfad.returncode


@pytest.fixture(scope="module", autouse=True)
def machine():
    """Refuses a machine where the packages are already installed (what
    would be the test's and what the admin's?); puts everything back
    afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for pkg in PACKAGES:
        assert not installed(pkg), "%s is installed already" % pkg
    assert not CONF.exists(), "%s exists already" % CONF
    users = [u for u in ("mfad",) if not _exists(pwd.getpwnam, u)]
    groups = [g for g in ("mfad", "mfa-admins")
              if not _exists(grp.getgrnam, g)]
    S.work = Path(tempfile.mkdtemp(prefix="mss-deb-"))
    saved = _save_pam(S.work)
    S.common_auth = Path("/etc/pam.d/common-auth").read_bytes()
    try:
        yield
    finally:
        _stop_mfad()
        if S.smtp is not None:
            S.smtp.stop()
        SERVICE.unlink(missing_ok=True)
        # dpkg, not apt-get: apt cannot find a package that is only in
        # the config-files state and in no archive.
        run(["dpkg", "--purge"] + list(PACKAGES), check=False)
        run(["userdel", "-r", USER], check=False)
        # The packages keep the users they made (test_purge checks it);
        # the test gives the machine back as it found it, since whether
        # the system has an mfad user changes what other tests see.
        for u in users:
            run(["userdel", u], check=False)
        for g in groups:
            if _exists(grp.getgrnam, g):
                run(["groupdel", g], check=False)
        _restore_pam(saved, S.work)
        shutil.rmtree(S.work, ignore_errors=True)


def test_build():
    """dpkg-buildpackage -us -uc -b in a copy of the tree (tracked and
    untracked files, none that git ignores: as a fresh clone), so the
    packaging leaves nothing in the repository."""
    before = run(["git", "-C", str(SRC), "status", "--porcelain",
                  "--ignored"]).stdout
    tree = S.work / "pam-mss"
    tree.mkdir()
    files = run(["git", "-C", str(SRC), "ls-files", "-co",
                 "--exclude-standard", "-z"]).stdout.split("\0")
    for f in filter(None, files):
        src = SRC / f
        if src.is_file():
            (tree / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tree / f)
    # No debug symbol packages: nothing here installs them.
    env = dict(os.environ, DEB_BUILD_OPTIONS="noddebs parallel=%d" %
               min(2, os.cpu_count() or 1))
    env.pop("MAKEFLAGS", None)
    r = run(["dpkg-buildpackage", "-us", "-uc", "-b"], check=False,
            cwd=tree, env=env)
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    # The unit tests ran in the build (override_dh_auto_test).
    assert re.search(r"^# PASS: +[1-9]", r.stdout, re.M), r.stdout[-3000:]
    S.debs = sorted(str(p) for p in S.work.glob("*.deb")
                    if "-dbgsym_" not in p.name)
    assert [Path(d).name.split("_")[0] for d in S.debs] == \
        ["libpam-mss", "mfad"], S.debs
    S.changes = next(S.work.glob("*.changes"))
    after = run(["git", "-C", str(SRC), "status", "--porcelain",
                 "--ignored"]).stdout
    assert before == after, "the build changed the tree"


def test_lintian():
    """No error and no warning that is not overridden (with its reason)
    in debian/*.lintian-overrides."""
    r = run(["lintian", "--show-overrides", str(S.changes)], check=False)
    print("lintian %s:\n%s%s" % (S.changes.name, r.stdout, r.stderr))
    bad = [line for line in r.stdout.splitlines()
           if re.match(r"^[EW]: ", line)]
    assert not bad, "\n".join(bad)
    assert r.returncode == 0, r.stdout + r.stderr


def _mode(path):
    st = os.stat(path)
    return (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name)


def test_install():
    """apt-get installs both; postinst made the users, the config's group,
    and did not start mfad (no relay named yet), saying so; the profile
    is not enabled."""
    r = run(["apt-get", "install", "-y", "-q"] + S.debs,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    for pkg in PACKAGES:
        assert installed(pkg), pkg
    # The files (not the directories, some shared with other packages).
    S.files = sorted({line for pkg in PACKAGES for line in
                      run(["dpkg", "-L", pkg]).stdout.splitlines()
                      if line.startswith("/") and not os.path.isdir(line)})
    assert str(MODULE) in S.files and str(CONF) in S.files
    assert "mfad: not started: edit /etc/mfad/mfad.conf" in r.stdout, \
        r.stdout
    pwd.getpwnam("mfad")
    grp.getgrnam("mfa-admins")
    grp.getgrnam("mfa-admins")
    assert _mode(CONF) == (0o640, "root", "mfad")
    assert MODULE.is_file() and PROFILE.is_file()
    for p in ("/usr/sbin/mfad", "/usr/bin/mfadctl"):
        assert os.access(p, os.X_OK), p
    assert Path("/etc/pam.d/common-auth").read_bytes() == S.common_auth


def _unit():
    """The [Service] keys of the installed unit (last one wins)."""
    keys, section = {}, None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            k, _, v = line.partition("=")
            keys[k.strip()] = v.strip()
    return keys


def _edit_conf(port):
    """An admin's edit: the relay (a local aiosmtpd, clear text) and the
    sender, in [mail]."""
    text = CONF.read_text()
    for old, new in (("#smtp = localhost:25", "smtp = 127.0.0.1:%d" % port),
                     ("#tls = starttls", "tls = none"),
                     ("# e.g.  from = no-reply@example.org",
                      "from = mfad@example.org")):
        assert old in text, old
        text = text.replace(old, new, 1)
    CONF.write_text(text)


def test_mfad_login():
    """mfad started as the package sets it up, a user enrolled with the
    installed mfadctl, and one complete mailed-code login through the
    installed module."""
    S.smtp = h.SmtpServer()
    S.smtp.start()
    _edit_conf(S.smtp.port)
    # postinst's condition to start mfad: now met (it starts nothing
    # where systemd does not run, and leaves the edited file as it is).
    r = run(["dpkg-reconfigure", "-fnoninteractive", "mfad"])
    assert "not started" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "smtp = 127.0.0.1:%d" % S.smtp.port in CONF.read_text()
    assert _mode(CONF) == (0o640, "root", "mfad")
    # No systemd here (PID 1 may be anything): mfad runs as the installed
    # unit would run it, read from the unit itself so that the test
    # follows the packaging: its User= and Group=, its UMask=, the
    # RuntimeDirectory= and StateDirectory= made as systemd makes them,
    # then ExecStartPre= and ExecStart= (both as User=, as systemd runs
    # them).
    unit = _unit()
    user, group = unit["User"], unit["Group"]
    uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    for kind, base in (("RuntimeDirectory", "/run"),
                       ("StateDirectory", "/var/lib")):
        d = Path(base) / unit[kind]
        d.mkdir(exist_ok=True)
        os.chown(d, uid, gid)
        os.chmod(d, int(unit.get(kind + "Mode", "0755"), 8))
    setpriv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
               "--init-groups", "--"]
    umask = int(unit.get("UMask", "0022"), 8)
    run(setpriv + shlex.split(unit["ExecStartPre"]),
        preexec_fn=lambda: os.umask(umask))
    S.mfad_log = S.work / "mfad.log"
    with open(S.mfad_log, "wb") as log:
        S.mfad = subprocess.Popen(setpriv + shlex.split(unit["ExecStart"]),
                                  stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=log,
                                  preexec_fn=lambda: os.umask(umask))
    h.wait_until(lambda: S.mfad.poll() is not None or
                 run(["/usr/bin/mfadctl", "status"],
                     check=False).returncode == 0,
                 what="mfad answering mfadctl status")
    assert S.mfad.poll() is None, S.mfad_log.read_text()
    # Its store and key, in the unit's state directory, owned by User=.
    state = Path("/var/lib") / unit["StateDirectory"]
    assert _mode(state) == (0o700, user, group)

    run(["useradd", "-M", "-s", "/usr/sbin/nologin", USER])
    run(["/usr/bin/mfadctl", "user", "add", USER, "--email", ADDR,
         "--lang", "en", "--password-stdin"], input=h.PASSWORD + "\n")
    # The module by name: Linux-PAM loads it from its own directory, the
    # one the package installed it into.
    SERVICE.write_text("auth required pam_mss.so lang=en\n"
                       "account required pam_mss.so\n")
    login = h.Login("/etc/pam.d", SERVICE.name, USER, acct=True)
    try:
        login.expect("ECHO_ON", h.PROMPT_EMAIL)
        login.answer(ADDR)
        login.expect("ECHO_OFF", h.PROMPT_PASSWORD)
        login.answer(h.PASSWORD)
        login.expect("INFO", h.mask_email(ADDR))
        login.expect("ECHO_ON", h.PROMPT_CODE)
        login.answer(S.smtp.wait_for_code(ADDR, timeout=30))
        assert login.result() == h.PAM_SUCCESS, login.dump()
        assert login.result("acct_mgmt") == h.PAM_SUCCESS, login.dump()
    finally:
        login.close()
    assert (state / "mfad.key").is_file()
    assert _stop_mfad() == 0, S.mfad_log.read_text()


def _lines(path):
    return Path(path).read_text().splitlines()


def _module(line):
    m = re.search(r"(pam_\w+\.so)", line)
    return m.group(1) if m else line


def test_pam_auth_update():
    """pam-auth-update --enable mss puts pam_mss first in the Primary
    block of common-auth and leaves every other line where it was; --remove
    gives back the file byte for byte."""
    auth = Path("/etc/pam.d/common-auth")
    before = auth.read_bytes()
    assert before == S.common_auth
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        run(["pam-auth-update", "--enable", "mss"], env=env)
        on = _lines(auth)
        mss = [i for i, line in enumerate(on) if "pam_mss.so" in line]
        assert len(mss) == 1, "\n".join(on)
        line = on[mss[0]]
        assert re.match(r"^auth\s+\[success=\d+ ignore=ignore default=die\]"
                        r"\s+pam_mss\.so unenrolled=ignore$", line), line
        rest = on[:mss[0]] + on[mss[0] + 1:]
        old = before.decode().splitlines()
        # Every line of before, in order. pam_unix's own line is the unix
        # profile's "Auth:" one now that it is not first (try_first_pass
        # added), as pam-auth-update(8) defines; its jump is unchanged.
        assert [_module(x) for x in rest] == [_module(x) for x in old]
        for a, b in zip(rest, old):
            if "pam_unix.so" in b:
                assert a == b + " try_first_pass", (a, b)
            else:
                assert a == b, (a, b)
        unix = next(i for i, x in enumerate(on) if "pam_unix.so" in x)
        assert mss[0] < unix
        # success= of pam_mss jumps over pam_unix and pam_deny, to the
        # pam_permit that ends the Primary block.
        rules = [x for x in on if x.strip() and not x.startswith("#")]
        at = rules.index(line)
        skip = int(re.search(r"success=(\d+)", line).group(1))
        assert "pam_permit.so" in rules[at + skip + 1], rules
        # Nothing of pam_mss in the other files: cron and daemons use
        # common-account.
        for p in PAM_STATE[1:]:
            if p.exists():
                assert "pam_mss" not in p.read_text(), p
    finally:
        run(["pam-auth-update", "--remove", "mss"], env=env)
    assert auth.read_bytes() == before


def _state():
    """The contents of /var/lib/mfad (the store, mfad.key)."""
    out = {}
    for d, _, names in os.walk("/var/lib/mfad"):
        for n in names:
            p = Path(d) / n
            out[str(p)] = p.read_bytes()
    return out


def test_upgrade_keeps_state():
    """Installing the packages again (dpkg runs postinst configure with
    the old version, as an upgrade does) keeps the store, mfad.key and
    the admin's configuration."""
    before, conf = _state(), CONF.read_text()
    assert any(p.endswith("mfad.key") for p in before), sorted(before)
    run(["dpkg", "-i"] + S.debs)
    assert _state() == before
    assert CONF.read_text() == conf
    assert _mode(CONF) == (0o640, "root", "mfad")


def test_remove_keeps_state():
    """apt-get remove takes the programs and keeps the configuration, the
    store and mfad.key; pam-auth-update forgets the profile."""
    before, conf = _state(), CONF.read_text()
    run(["apt-get", "remove", "-y", "-q"] + list(PACKAGES),
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert not MODULE.exists() and not PROFILE.exists()
    assert not Path("/usr/sbin/mfad").exists()
    assert _state() == before
    assert CONF.read_text() == conf
    assert Path("/etc/pam.d/common-auth").read_bytes() == S.common_auth
    # Installed again (apt cannot purge a package that is only in the
    # config-files state and in no archive): the admin's file is kept.
    run(["apt-get", "install", "-y", "-q"] + S.debs,
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert _state() == before
    assert CONF.read_text() == conf


def test_purge():
    """apt-get purge leaves nothing of the packages; the mfad user and
    groups stay, as Debian keeps system users (a file left with their uid
    would otherwise go to the next user given it)."""
    assert S.files
    run(["apt-get", "purge", "-y", "-q"] + list(PACKAGES),
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    for pkg in PACKAGES:
        assert run(["dpkg", "-s", pkg], check=False).returncode != 0, pkg
    left = [f for f in S.files if os.path.isfile(f) or os.path.islink(f)]
    assert not left, left
    for p in (Path("/etc/mfad"), Path("/var/lib/mfad"), PROFILE, MODULE,
              Path("/run/mfad")):
        assert not p.exists() and not p.is_symlink(), p
    assert not Path("/etc/systemd/system/multi-user.target.wants/"
                    "mfad.service").is_symlink()
    assert Path("/etc/pam.d/common-auth").read_bytes() == S.common_auth
    pwd.getpwnam("mfad")
    grp.getgrnam("mfa-admins")
