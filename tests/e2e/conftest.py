"""pytest fixtures for the end-to-end tests: a real OpenSSH sshd on
127.0.0.1 (test_ssh.py), console logins through a pseudo-terminal with
pamtester (test_console.py) and Debian's sudo in a user's shell on one
(test_sudo.py), all with the built pam_mss.so, a real mfad and a real
SMTP server from tests/pam/mss_harness.py.

Run as root after building (Debian 12 packages: openssh-server,
openssh-client, python3-paramiko, python3-pexpect, pamtester, sudo):

    MSS_BUILDDIR=/path/to/build /usr/bin/python3 -m pytest \\
        -p no:cacheprovider -q tests/e2e

Outside the scratch directories the tests write, and remove when they
end (leftovers of an interrupted run are overwritten by the next one):
  /usr/local/sbin/sshd-mss-test   symlink to /usr/sbin/sshd
  /etc/pam.d/sshd-mss-test        its PAM service
  /etc/pam.d/mss-console-test     pamtester's PAM service
  /etc/pam.d/mss-sudo-test        sudo's PAM service for the test users
  /etc/pam.d/mss-sudo-i-test      and sudo -i's
  /etc/sudoers.d/mss-sudo-test    their sudo rule (test_sudo.py), and
                                  their timestamps in /run/sudo/ts
  users mssuser1, mssuser2        created with useradd -m, removed with
                                  userdel -r
  /run/sshd                       sshd's privilege separation directory,
                                  created when missing (and then removed)
MSS_KEEP=1 keeps the scratch directories.
"""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(E2E_DIR.parent / "pam"))
sys.path.insert(0, str(E2E_DIR))

import mss_harness as h  # noqa: E402
import e2e_console  # noqa: E402
import e2e_sshd  # noqa: E402

USERS = ("mssuser1", "mssuser2")
CONSOLE_SERVICE = "mss-console-test"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "mfad(**sections): extra mfad.conf keys for env")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture(scope="session", autouse=True)
def _prerequisites():
    if h.SANITIZED:
        pytest.skip("sshd and pamtester, built without ASan, cannot load "
                    "a pam_mss.so built with it", allow_module_level=True)
    if os.geteuid() != 0:
        pytest.exit("the end-to-end tests run as root (sshd, useradd, "
                    "/etc/pam.d)", 2)
    missing = [str(p) for p in (h.PAM_MSS, h.MFAD, h.MFADCTL)
               if not p.exists()]
    if missing:
        pytest.fail("not built (set MSS_BUILDDIR): " + ", ".join(missing))
    tools = [str(p) for p in (e2e_sshd.SSHD, e2e_sshd.SSH_KEYGEN)
             if not p.exists()]
    if shutil.which("pamtester") is None:
        tools.append("pamtester")
    if tools:
        pytest.fail("missing (Debian: openssh-server openssh-client "
                    "pamtester): " + ", ".join(tools))


@pytest.fixture(scope="session")
def os_users():
    """mssuser1 and mssuser2 exist for the session (sshd refuses unknown
    users before PAM is asked); an existing one is reused."""
    for user in USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "-m", "-s", "/bin/sh", user],
                           check=True, timeout=30)
    yield USERS
    for user in USERS:
        subprocess.run(["userdel", "-r", "-f", user], timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def keys():
    """A scratch directory with sshd's host key and two client keys, A and
    B, all ed25519."""
    d = Path(tempfile.mkdtemp(prefix="mss-e2e-keys-"))
    os.chmod(d, 0o755)
    k = {
        "host": e2e_sshd.keygen(d / "host_ed25519", "mss-e2e-host"),
        "A": e2e_sshd.keygen(d / "key_a", "mss-e2e-key-a"),
        "B": e2e_sshd.keygen(d / "key_b", "mss-e2e-key-b"),
    }
    yield k
    if not os.environ.get("MSS_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd_program():
    """The sshd-mss-test symlink and sshd's privilege separation directory;
    removes them, and the PAM service files, at the end."""
    e2e_sshd.install_link()
    made_privsep = not e2e_sshd.PRIVSEP_DIR.exists()
    if made_privsep:
        e2e_sshd.PRIVSEP_DIR.mkdir(mode=0o755)
    yield e2e_sshd.LINK
    e2e_sshd.remove_link()
    e2e_sshd.remove_pam_service(e2e_sshd.SERVICE)
    if made_privsep:
        try:
            e2e_sshd.PRIVSEP_DIR.rmdir()
        except OSError:
            pass


@pytest.fixture
def smtp():
    server = h.SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(request, smtp, os_users):
    """A started MssEnv (fresh database) with mssuser1 and mssuser2
    enrolled at mssuserN@example.org; @pytest.mark.mfad(...) adds
    mfad.conf keys."""
    marker = request.node.get_closest_marker("mfad")
    e = h.MssEnv(smtp, marker.kwargs if marker else None)
    try:
        e.start()
        for user in os_users:
            e.add_user(user, "%s@example.org" % user)
    except BaseException:
        print("---- %s ----\n%s" % (e.log, e.mfad.log_text()))
        e.close(keep=True)
        raise
    yield e
    failed = _failed(request)
    if failed:
        print("---- %s (kept) ----\n%s" % (e.log, e.mfad.log_text()))
    e.close(keep=failed)


@pytest.fixture
def make_sshd(request, env, keys, sshd_program):
    """make_sshd(args=(), methods=..., expose=False, lang="en") -> a
    started Sshd whose PAM service runs pam_mss with socket=env's socket
    and args; key A and key B are authorized for mssuser1."""
    started = []

    def make(args=(), methods="keyboard-interactive", expose=False,
             lang="en"):
        e2e_sshd.write_pam_service(
            e2e_sshd.SERVICE,
            e2e_sshd.pam_mss_stack(env.sock, args, lang=lang))
        sshd = e2e_sshd.Sshd(env.dir / ("sshd%d" % len(started)),
                             keys["host"], methods=methods, expose=expose,
                             authorized={"mssuser1": [keys["A"],
                                                      keys["B"]]})
        started.append(sshd)
        sshd.start()
        return sshd

    clients = []
    make.clients = clients
    yield make
    for c in clients:
        c.close()
    failed = _failed(request)
    for sshd in started:
        sshd.stop()
        if failed:
            print("---- %s ----\n%s" % (sshd.log, sshd.log_text()))
    for c in clients:
        for hd in c.handlers:
            print("---- keyboard-interactive, as the client saw it ----\n" +
                  hd.transcript())


@pytest.fixture
def connect(make_sshd):
    """connect(sshd) -> an e2e_sshd.Client, closed after the test."""
    def conn(sshd):
        c = e2e_sshd.Client(sshd)
        make_sshd.clients.append(c)
        return c
    return conn


@pytest.fixture
def console_service(env):
    """console_service(args=(), lang="en") writes /etc/pam.d/mss-console-test
    with pam_mss (socket=env's socket) and returns its name."""
    def write(args=(), lang="en"):
        e2e_sshd.write_pam_service(
            CONSOLE_SERVICE, e2e_sshd.pam_mss_stack(env.sock, args,
                                                    lang=lang))
        return CONSOLE_SERVICE
    yield write
    e2e_sshd.remove_pam_service(CONSOLE_SERVICE)


@pytest.fixture
def console():
    """console(user=None) -> an e2e_console.Console (a shell on a new
    pseudo-terminal, root's or user's); every one is closed after the
    test and its output printed (pytest shows it for a failed test, or
    with -rP)."""
    opened = []

    def open_console(user=None):
        c = e2e_console.Console(user=user)
        opened.append(c)
        return c
    yield open_console
    for c in opened:
        print("---- terminal %s ----\n%s" % (c.tty, c.transcript()))
        c.close()
