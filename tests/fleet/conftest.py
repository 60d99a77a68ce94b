"""pytest fixtures for the fleet tests: two slapd providers (see
fleet_harness.py). Run as root, after building:

    MSS_BUILDDIR=/path/to/build /usr/bin/python3 -m pytest -p no:cacheprovider tests/fleet

MSS_KEEP=1 keeps the servers' directory (configuration, logs, databases).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fleet_harness as h  # noqa: E402


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session", autouse=True)
def _root():
    if os.geteuid() != 0:
        pytest.exit("the fleet tests run as root (file owners, slapd)", 2)


@pytest.fixture(scope="session", autouse=True)
def _tools():
    missing = h.missing_tools()
    if missing:
        pytest.fail("missing (tests/setup.sh installs them): " +
                    ", ".join(missing))


@pytest.fixture(scope="module")
def fleet():
    """Two started providers with the base entries, one per test file."""
    f = h.Fleet()
    f.start()
    yield f
    f.close(keep=os.environ.get("MSS_KEEP") == "1")


@pytest.fixture
def both(fleet):
    """The fleet with both providers running again after the test."""
    yield fleet
    for n in fleet.nodes:
        if not n.running:
            n.proc = None
            n.start()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "hosts(**sections): extra mfad.conf keys for both hosts")
    config.addinivalue_line(
        "markers", "slow: takes more than a few seconds")


@pytest.fixture
def make_hosts(request, fleet):
    """make_hosts(config) -> started Hosts (hosts_harness.py): mfad on
    host A and host B over the module's two providers, config merged
    into both mfad.conf. Both providers run again after the test."""
    import hosts_harness
    made = []

    def make(config=None, start=True):
        missing = hosts_harness.mh.missing_binaries()
        if missing:
            pytest.fail("not built (set MSS_BUILDDIR): " + ", ".join(missing))
        hs = hosts_harness.Hosts(fleet, config)
        made.append(hs)
        if start:
            hs.start()
        return hs

    yield make
    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    if failed and made:
        for n in fleet.nodes:
            print(n.report())
    for hs in made:
        hs.ensure_running()
        hs.close(keep=failed)


@pytest.fixture
def hosts(request, make_hosts):
    """Started Hosts; @pytest.mark.hosts(device={...}) adds mfad.conf
    keys to both."""
    marker = request.node.get_closest_marker("hosts")
    return make_hosts(marker.kwargs if marker else None)


@pytest.fixture
def pw_file(fleet):
    """The host-a service entry's bind password, in a file of mode 0600."""
    p = fleet.tmp / "bind_pw"
    p.write_text(h.HOST_PW + "\n")
    os.chmod(p, 0o600)
    return p
