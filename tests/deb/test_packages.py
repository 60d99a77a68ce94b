"""The Debian packages, end to end, on this machine (as root): built from
a copy of the tree with dpkg-buildpackage, checked by lintian, installed
with apt-get, configured as an admin would, one mailed-code login through
the installed pam_mss.so and mfad, the installed unit run by systemd as
PID 1 (in a throwaway copy of this machine, systemd_box.py: mfad inside
the unit's sandbox, logging to the journal; then in fleet mode, with two
OpenLDAP providers in the box), the pam-auth-update profile
switched on and off, then purged, with nothing of the packages left
behind.

Run by .ci/run after the other suites; needs MSS_BUILDDIR for pam_driver:

  MSS_BUILDDIR=$PWD/build /usr/bin/python3 -m pytest -q tests/deb

The tests run in order and share the machine's state: each depends on
the ones before it. /etc/pam.d/common-* and /var/lib/pam (which
pam-auth-update rewrites) are saved first and put back at the end,
whatever happened; the packages are purged at the end too.
"""

import grp
import json
import os
import pwd
import queue
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pam"))
import mss_harness as h  # noqa: E402
# The installed mfad loads the installed module, not the build's.
os.environ.pop("MFAD_MODULE_DIR", None)
import systemd_box  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fleet"))
from fleet_harness import missing_tools as fh_missing  # noqa: E402
import unit_filter  # noqa: E402

SRC = Path(__file__).resolve().parent.parent.parent
PACKAGES = ("libpam-mss", "mfad")
CONF = Path("/etc/mfad/mfad.conf")
UNIT = Path("/lib/systemd/system/mfad.service")
MODULE = Path("/lib/x86_64-linux-gnu/security/pam_mss.so")
STORE_DIR_MODULE = Path("/usr/lib/x86_64-linux-gnu/pam_mss/mfad_store_dir.so")
PROFILE = Path("/usr/share/pam-configs/mss")
SERVICE = Path("/etc/pam.d/mss-pkgtest")
USER = "msspkgtest"
ADDR = "msspkgtest@example.org"
BOX_USER = "msspkgbox"          # only in the systemd box
BOX_ADDR = "msspkgbox@example.org"
BOX_RHOST = "192.0.2.7"
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
    return dict(unit_filter.service_settings(UNIT))


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


def _fleet_check(uid, gid):
    """With a [directory], the installed "mfad -t" loads the installed
    directory module (fleet mode's), from the package's directory."""
    assert str(STORE_DIR_MODULE) in S.files
    key, pw = S.work / "fleet.key", S.work / "ldap.pw"
    key.write_bytes(bytes(range(32)))
    pw.write_text("secret\n")
    for f in (key, pw):
        os.chown(f, uid, gid)
        os.chmod(f, 0o600)
    conf = S.work / "mfad-fleet.conf"
    conf.write_text(CONF.read_text() + (
        "\n[directory]\nuri = ldap://127.0.0.1:1\n"
        "base = ou=people,dc=example,dc=org\n"
        "bind_dn = cn=host1,ou=mfad,ou=services,dc=example,dc=org\n"
        "bind_pw_file = %s\nkey_file = %s\n" % (pw, key)))
    r = run(["/usr/sbin/mfad", "-t", "-c", str(conf)], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration OK" in r.stdout
    # Without it, fleet mode does not start, and says why.
    saved = STORE_DIR_MODULE.with_suffix(".moved")
    STORE_DIR_MODULE.rename(saved)
    try:
        r = run(["/usr/sbin/mfad", "-t", "-c", str(conf)], check=False)
    finally:
        saved.rename(STORE_DIR_MODULE)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "fleet mode needs its module" in r.stderr, r.stderr


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
    # Local mode: no directory module, nor libldap, in the running mfad.
    maps = Path("/proc/%d/maps" % S.mfad.pid).read_text()
    assert "/usr/sbin/mfad" in maps
    assert "mfad_store_dir" not in maps and "libldap" not in maps
    _fleet_check(uid, gid)
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


# The relay inside the box (which has a network of its own): the
# harness's aiosmtpd sink, printing each code mailed to argv[3].
_BOX_RELAY = r"""
import sys
sys.path.insert(0, sys.argv[1])
import mss_harness as h
s = h.SmtpServer(port=int(sys.argv[2]))
s.start()
print("ready", flush=True)
while True:
    try:
        print("code", s.wait_for_code(sys.argv[3], timeout=3600), flush=True)
    except AssertionError:
        pass
"""


def _lines_of(proc, split=True):
    """A queue of proc's output lines, read by a thread (None at EOF):
    each split into words, or whole."""
    q = queue.Queue()

    def read():
        for line in proc.stdout:
            q.put(line.split() if split else line.strip())
        q.put(None)
    threading.Thread(target=read, daemon=True).start()
    return q


def _box_relay(box):
    """The relay inside the box, started and ready: (its process, the
    queue of its output lines)."""
    relay = box.popen(["/usr/bin/python3", "-c", _BOX_RELAY,
                       "/mss-test/harness", S.smtp.port, BOX_ADDR],
                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT, text=True)
    out = _lines_of(relay)
    assert out.get(timeout=30) == ["ready"]
    return relay, out


def _status(box, pid):
    """/proc/PID/status of a process of the box, as {key: value}."""
    text = box.run(["cat", "/proc/%s/status" % pid]).stdout
    return dict((k, v.strip()) for k, _, v in
                (line.partition(":") for line in text.splitlines()))


def _show(box, *props):
    r = box.run(["systemctl", "show", "mfad", "-p", ",".join(props)])
    return dict(line.split("=", 1) for line in r.stdout.splitlines())


def _box_logins(box, relay_out):
    """In the box: a mailed-code login of BOX_USER that remembers the
    device, then one from the same host that the device lets through
    without a code; mfadctl then lists that one device, remembered for
    the remote host (mfad keeps only a keyed hash of it)."""
    for remembered in (False, True):
        login = h.Login("/etc/pam.d", SERVICE.name, BOX_USER, acct=True,
                        rhost=BOX_RHOST, driver="/mss-test/driver/pam_driver",
                        wrap=box.enter())
        try:
            login.expect("ECHO_ON", h.PROMPT_EMAIL)
            login.answer(BOX_ADDR)
            login.expect("ECHO_OFF", h.PROMPT_PASSWORD)
            login.answer(h.PASSWORD)
            if not remembered:
                login.expect("INFO", h.mask_email(BOX_ADDR))
                login.expect("ECHO_ON", h.PROMPT_CODE)
                line = relay_out.get(timeout=30)
                assert line[:1] == ["code"], line
                login.answer(line[1])
                login.expect("ECHO_ON", h.PROMPT_REMEMBER)
                login.answer("y")
            assert login.result() == h.PAM_SUCCESS, login.dump()
            assert login.result("acct_mgmt") == h.PAM_SUCCESS, login.dump()
            if remembered:
                assert not [t for _, t in login.lines()
                            if h.PROMPT_CODE in t], login.dump()
        finally:
            login.close()
    devices = box.run(["mfadctl", "device", "list", BOX_USER]).stdout
    rows = [r.split() for r in devices.splitlines()[1:]]
    assert [r[1:3] for r in rows] == [["rhost", SERVICE.name]], devices


def _sandboxed(box, unit, pid):
    """The unit's mfad (pid, in the box) runs as its User= and Group=,
    with no new privileges, no capabilities, the system-call filter on,
    and / read-only (ProtectSystem=strict)."""
    st = _status(box, pid)
    uid = str(pwd.getpwnam(unit["User"]).pw_uid)
    gid = str(grp.getgrnam(unit["Group"]).gr_gid)
    assert st["Uid"].split() == [uid] * 4, st["Uid"]
    assert st["Gid"].split() == [gid] * 4, st["Gid"]
    assert st["NoNewPrivs"] == "1", st
    assert st["Seccomp"] == "2", st
    assert int(st["CapBnd"], 16) == 0, st
    assert int(st["CapEff"], 16) == 0, st
    mounts = box.run(["cat", "/proc/%s/mountinfo" % pid]).stdout
    root = [m.split() for m in mounts.splitlines() if m.split()[4] == "/"]
    assert root and "ro" in root[-1][5].split(","), root


def test_unit_under_systemd():
    """The installed unit, run by systemd as PID 1 (in a throwaway copy of
    this machine: tests/deb/systemd_box.py): mfad starts as its User=,
    inside the unit's sandbox (no new privileges, no capabilities, the
    system-call filter), tells systemd it is ready, serves a complete
    mailed-code login through the installed module, logs to the journal,
    reloads and stops cleanly. A system call the filter forbids would
    kill it (SIGSYS) and fail this test."""
    driver = h.PAM_DRIVER.parent
    box = systemd_box.SystemdBox(binds=[
        (driver, "/mss-test/driver"),
        (Path(h.__file__).parent, "/mss-test/harness")])
    relay = None
    try:
        box.start()
        relay, relay_out = _box_relay(box)
        box.run(["systemctl", "start", "mfad"], timeout=90)
        unit = _unit()
        show = _show(box, "ActiveState", "SubState", "MainPID", "Type",
                     "NRestarts")
        assert (show["ActiveState"], show["SubState"], show["Type"]) == \
            ("active", "running", "notify"), show
        _sandboxed(box, unit, show["MainPID"])

        # A person enrolled in the box, by root with the installed
        # mfadctl (the password hashed by the sandboxed mfad).
        box.run(["mfadctl", "status"])
        box.run(["useradd", "-M", "-s", "/usr/sbin/nologin", BOX_USER])
        box.run(["mfadctl", "user", "add", BOX_USER, "--email", BOX_ADDR,
                 "--lang", "en", "--password-stdin"],
                input=h.PASSWORD + "\n")
        _box_logins(box, relay_out)

        box.run(["systemctl", "reload", "mfad"])
        h.wait_until(lambda: "configuration reloaded" in box.run(
            ["journalctl", "-u", "mfad", "-o", "cat", "--no-pager"]).stdout,
            what="the reload in the journal")
        box.run(["systemctl", "stop", "mfad"], timeout=90)
        show = _show(box, "ActiveState", "Result", "ExecMainStatus",
                     "NRestarts")
        assert show == {"ActiveState": "inactive", "Result": "success",
                        "ExecMainStatus": "0", "NRestarts": "0"}, show
        journal = box.run(["journalctl", "-u", "mfad", "-o", "cat",
                           "--no-pager"]).stdout
        limit = int(unit["LimitNOFILE"])
        for want in ("ready on /run/mfad/mfad.sock",
                     "(open-file limit %d)" % limit,
                     "configuration reloaded", "stopped"):
            assert want in journal, (want, journal)
    finally:
        if relay is not None:
            relay.kill()
        box.stop()


# Two OpenLDAP providers inside the box (tests/fleet/fleet_harness.py),
# with the person argv[2] in the directory, as an organisation's own
# tools would have added it. Prints the [directory] settings as JSON,
# then, for each "devices" line, the DNs of that person's device entries
# on each provider.
_BOX_FLEET = r"""
import json
import sys
sys.path.insert(0, sys.argv[1])
import ldap3
import fleet_harness as fh
fleet = fh.Fleet()
fleet.start()
dn, oc, attrs = fh.person(sys.argv[2], mfad=False)
c = fleet.conn(fleet.a)
assert c.add(dn, oc, attrs), c.result
c.unbind()
fleet.wait_replicated(dn)
print(json.dumps({"uri": " ".join(n.url.rstrip("/") for n in fleet.nodes),
                  "base": fh.PEOPLE, "bind_dn": fh.HOST_A_DN,
                  "pw": fh.HOST_PW, "ca": str(fleet.ca)}), flush=True)
for line in sys.stdin:
    out = []
    for node in fleet.nodes:
        c = fleet.conn(node)
        c.search(dn, "(objectClass=mfadDevice)", ldap3.LEVEL, attributes=[])
        out.append(sorted(e.entry_dn for e in c.entries))
        c.unbind()
    print(json.dumps(out), flush=True)
fleet.close()
"""


def _fleet_conf(box, settings):
    """The box's mfad.conf in fleet mode, as an admin sets a host up: the
    [directory] section, devices kept fleet-wide, and the host's bind
    password, the fleet key and the providers' CA under /etc/mfad (mfad's
    /tmp is its own: PrivateTmp=)."""
    unit = _unit()
    uid = pwd.getpwnam(unit["User"]).pw_uid
    gid = grp.getgrnam(unit["Group"]).gr_gid
    etc = box.path("/etc/mfad")
    files = {"ldap.pw": (settings["pw"] + "\n").encode(),
             "fleet.key": os.urandom(32),
             "ldap-ca.pem": box.path(settings["ca"]).read_bytes()}
    for name, data in files.items():
        f = etc / name
        f.write_bytes(data)
        os.chown(f, uid, gid)
        os.chmod(f, 0o600)
    text = CONF.read_text()
    assert "#scope = host" in text
    text = text.replace("#scope = host", "scope = fleet", 1) + (
        "\n[directory]\nuri = %s\nbase = %s\nbind_dn = %s\n"
        "bind_pw_file = /etc/mfad/ldap.pw\nca_file = /etc/mfad/ldap-ca.pem\n"
        "key_file = /etc/mfad/fleet.key\nhost = box\n" % (
            settings["uri"], settings["base"], settings["bind_dn"]))
    (etc / "mfad.conf").write_text(text)
    assert _mode(etc / "mfad.conf") == (0o640, "root", "mfad")


def test_fleet_unit_under_systemd():
    """Fleet mode under the installed unit, run by systemd in the box:
    mfad loads the installed directory module inside the sandbox, reaches
    two OpenLDAP providers over STARTTLS, and serves a person enrolled
    once in the directory: a mailed-code login that remembers the device
    (kept in the directory, so replicated to both providers), then a
    login that the device lets through."""
    missing = fh_missing()
    if missing:
        pytest.skip("fleet tools missing: %s" % ", ".join(missing))
    driver = h.PAM_DRIVER.parent
    box = systemd_box.SystemdBox(binds=[
        (driver, "/mss-test/driver"),
        (Path(h.__file__).parent, "/mss-test/harness"),
        (SRC, "/mss-test/src")])
    relay = fleet = None
    try:
        box.start()
        relay, relay_out = _box_relay(box)
        fleet = box.popen(["/usr/bin/python3", "-c", _BOX_FLEET,
                           "/mss-test/src/tests/fleet", BOX_USER],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
        fleet_out = _lines_of(fleet, split=False)
        line = fleet_out.get(timeout=60)
        assert line is not None and line.startswith("{"), line
        _fleet_conf(box, json.loads(line))

        box.run(["systemctl", "start", "mfad"], timeout=90)
        unit = _unit()
        show = _show(box, "ActiveState", "SubState", "MainPID")
        assert (show["ActiveState"], show["SubState"]) == \
            ("active", "running"), show
        pid = show["MainPID"]
        _sandboxed(box, unit, pid)
        # mfad loads the module at its first directory request.
        box.run(["useradd", "-M", "-s", "/usr/sbin/nologin", BOX_USER])
        box.run(["mfadctl", "user", "add", BOX_USER, "--email", BOX_ADDR,
                 "--lang", "en", "--password-stdin"],
                input=h.PASSWORD + "\n")
        maps = box.run(["cat", "/proc/%s/maps" % pid]).stdout
        assert str(STORE_DIR_MODULE) in maps, maps
        assert "libldap" in maps, maps
        _box_logins(box, relay_out)
        # The device is the directory's: an entry under the person's,
        # written on the first provider and replicated to the second.
        fleet.stdin.write("devices\n")
        fleet.stdin.flush()
        on = json.loads(fleet_out.get(timeout=30))
        assert len(on[0]) == 1 and on[1] == on[0], on

        box.run(["systemctl", "stop", "mfad"], timeout=90)
        show = _show(box, "ActiveState", "Result", "NRestarts")
        assert show == {"ActiveState": "inactive", "Result": "success",
                        "NRestarts": "0"}, show
        journal = box.run(["journalctl", "-u", "mfad", "-o", "cat",
                           "--no-pager"]).stdout
        assert "ready on /run/mfad/mfad.sock" in journal, journal
    finally:
        for proc in (relay, fleet):
            if proc is not None:
                proc.kill()
        box.stop()


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
