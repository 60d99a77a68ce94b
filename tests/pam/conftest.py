"""pytest fixtures for the PAM integration tests (see mss_harness.py).

Run from this directory, as root (mfad, the socket checks and pam_driver
need it), after building:

    MSS_BUILDDIR=/path/to/build /usr/bin/python3 -m pytest -p no:cacheprovider -v

MSS_KEEP=1 keeps each test's scratch directory (config, log, database).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mss_harness as h  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "mfad(**sections): extra mfad.conf keys for env")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session", autouse=True)
def _root():
    if os.geteuid() != 0:
        pytest.exit("the PAM tests run as root (mfad, socket checks)", 2)


@pytest.fixture
def smtp():
    server = h.SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_env(request, smtp):
    """make_env(config) -> a started MssEnv with config merged in."""
    envs = []

    def make(config=None, start=True):
        missing = h.missing_binaries(daemon=start)
        if missing:
            pytest.fail("not built (set MSS_BUILDDIR): " + ", ".join(missing))
        env = h.MssEnv(smtp, config)
        envs.append(env)
        if start:
            env.start()
        return env

    yield make
    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    for env in envs:
        if failed:
            print("---- %s (kept) ----\n%s" % (env.log, env.mfad.log_text()))
        env.close(keep=failed)


@pytest.fixture
def env(request, make_env):
    """A started MssEnv with user alice; @pytest.mark.mfad(code={...})
    adds mfad.conf keys."""
    marker = request.node.get_closest_marker("mfad")
    e = make_env(marker.kwargs if marker else None)
    e.add_user("alice")
    return e
