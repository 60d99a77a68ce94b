"""mfad_dir (mfad/mfad_dir.c) through real slapd providers, driven by
tests/fleet/dir_driver: failover in URI order, reconnection after a lost
server, a clear error within the timeouts when none answers, TLS verified
(a wrong CA fails closed), and the bind password file's checks."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

import fleet_harness as h

BUILDDIR = Path(os.environ.get("MSS_BUILDDIR", h.SRC / "build"))
DRIVER = BUILDDIR / "tests" / "fleet" / "dir_driver"
NET_MS, OP_MS = 1000, 1000


class Driver(h.DriverProc):
    def __init__(self, fleet, uris, pw_file, ca=None, extra=()):
        args = ["-b", h.PEOPLE, "-D", h.HOST_A_DN,
                "-y", str(pw_file), "-c", str(ca or fleet.ca),
                "-n", str(NET_MS), "-t", str(OP_MS)]
        for u in uris:
            args += ["-u", u]
        super().__init__(fleet, DRIVER, args + list(extra),
                         "driver-%d" % time.monotonic_ns())

    def ask(self, cmd):
        """(ok, uri or code, elapsed ms)"""
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        words = self.proc.stdout.readline().split()
        assert words, "driver died:\n" + self.log()
        if words == ["ok"]:
            return True, None, 0
        if words[0] == "ok":
            return True, words[1], int(words[2])
        return False, int(words[1]), int(words[-1])


@pytest.fixture
def drivers():
    made = []
    yield made
    for d in made:
        d.close()


def dead_uri():
    """A port nothing listens on."""
    return "ldap://127.0.0.1:%d/" % h.free_port()


def test_first_uri_down_second_used(both, pw_file, drivers):
    d = Driver(both, [dead_uri(), both.a.url], pw_file)
    drivers.append(d)
    assert d.ask("connect")[:2] == (True, both.a.url)
    assert d.ask("check")[:2] == (True, both.a.url)
    assert "no provider" not in d.log()


def test_killed_server_mid_session_reconnects_to_other(both, pw_file,
                                                       drivers, capsys):
    d = Driver(both, [both.a.url, both.b.url], pw_file)
    drivers.append(d)
    assert d.ask("check")[:2] == (True, both.a.url)
    both.a.kill()
    ok, uri, ms = d.ask("check")
    assert (ok, uri) == (True, both.b.url)
    with capsys.disabled():
        print("\nfailover after a killed provider: %d ms" % ms)
    assert "lost " + both.a.url in d.log()


def test_both_down_fails_within_timeout_then_recovers(both, pw_file,
                                                      drivers):
    d = Driver(both, [both.a.url, both.b.url], pw_file)
    drivers.append(d)
    assert d.ask("check")[0]
    both.a.stop()
    both.b.stop()
    ok, code, ms = d.ask("check")
    assert not ok and code == -16          # MSS_ERR_UNAVAIL
    assert ms < 2 * NET_MS + OP_MS
    assert "no provider reachable" in d.log()
    both.b.start()
    assert d.ask("check")[:2] == (True, both.b.url)
    both.a.start()
    # The preferred provider again after a new connection.
    assert d.ask("close")[0]
    assert d.ask("check")[:2] == (True, both.a.url)


def test_silent_server_bounded_by_timeouts(both, pw_file, drivers):
    """A provider that accepts connections and never answers costs at
    most the operation timeout before the next one is tried."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = "ldap://127.0.0.1:%d/" % silent.getsockname()[1]
        d = Driver(both, [uri, both.b.url], pw_file)
        drivers.append(d)
        ok, got, ms = d.ask("connect")
        assert (ok, got) == (True, both.b.url)
        assert OP_MS * 0.8 <= ms < OP_MS + NET_MS + 1000, ms
        print(d.log())
        assert "%s: STARTTLS: Timed out" % uri in d.log()


def test_ldaps_verified(both, pw_file, drivers):
    d = Driver(both, [both.a.ldaps_url], pw_file)
    drivers.append(d)
    assert d.ask("check")[:2] == (True, both.a.ldaps_url)


def test_wrong_ca_fails_closed(both, pw_file, drivers):
    other_ca = h.make_ca(both.tmp / "other-ca", name="another CA")[0]
    d = Driver(both, [both.a.url, both.b.ldaps_url], pw_file, ca=other_ca)
    drivers.append(d)
    ok, code, _ = d.ask("connect")
    assert not ok and code == -16
    log = d.log()
    print(log)
    assert "%s: STARTTLS" % both.a.url in log
    assert "%s: connect or TLS handshake" % both.b.ldaps_url in log
    # No bind was tried in the clear after the failed STARTTLS.
    assert "%s: bind" % both.a.url not in log


def test_bind_pw_file_checks(both, pw_file, drivers):
    os.chmod(pw_file, 0o644)
    d = Driver(both, [both.a.url], pw_file)
    drivers.append(d)
    ok, code, _ = d.ask("connect")
    assert not ok and code == -15          # MSS_ERR_CONFIG
    assert "accessible by group or others" in d.log()
    os.chmod(pw_file, 0o600)
    os.chown(pw_file, 1, 1)
    ok, code, _ = d.ask("connect")
    assert not ok and code == -15
    assert "owned by uid 1" in d.log()
    os.chown(pw_file, 0, 0)
    link = both.tmp / "bind_pw_link"
    link.symlink_to(pw_file)
    d2 = Driver(both, [both.a.url], link)
    drivers.append(d2)
    assert d2.ask("connect")[:2] == (False, -15)
    # A wrong password: refused by the server, the configuration's fault.
    bad = both.tmp / "bad_pw"
    bad.write_text("not-the-password\n")
    os.chmod(bad, 0o600)
    d3 = Driver(both, [both.a.url, both.b.url], bad)
    drivers.append(d3)
    assert d3.ask("connect")[:2] == (False, -15)
    assert "Invalid credentials" in d3.log()
    # The password never reaches a log.
    for dr in (d, d2, d3):
        assert h.HOST_PW not in dr.log()
        assert "not-the-password" not in dr.log()
    assert d.ask("connect")[:2] == (True, both.a.url)


@pytest.mark.parametrize("uri", [
    "ldapi:///", "http://127.0.0.1/", "ldap://a/ ldap://b/",
    "ldap://a/,ldap://b/", "ldap//a"])
def test_bad_uri_refused(fleet, pw_file, uri):
    """Only ldaps:// and ldap:// (then STARTTLS), one URI each."""
    r = subprocess.run([str(DRIVER), "-b", h.PEOPLE, "-D", h.HOST_A_DN,
                        "-y", str(pw_file), "-u", uri], input="connect\n",
                       capture_output=True, text=True, timeout=10)
    assert r.stdout.split()[:2] == ["err", "-15"]
    assert "not an ldaps:// or ldap:// URI" in r.stderr
