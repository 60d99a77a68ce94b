"""Command-line conventions of mfad and mfadctl (DESIGN.md section 4):
--version, --help on stdout with status 0, usage errors on stderr with
status 2, options after the command, and "--"."""

import json
import re
import subprocess

import mss_harness as h
from mss_harness import CTL_OK, CTL_USAGE


def _config_h(name):
    text = (h.BUILDDIR / "config.h").read_text()
    return re.search(r'#define %s "([^"]*)"' % name, text).group(1)


def _run(*cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True,
                       text=True, timeout=h.TIMEOUT)
    return r.returncode, r.stdout, r.stderr


def test_version_prints_package_and_version():
    want = "(%s) %s\n" % (_config_h("PACKAGE_NAME"),
                          _config_h("PACKAGE_VERSION"))
    for prog, name in ((h.MFAD, "mfad"), (h.MFADCTL, "mfadctl")):
        rc, out, err = _run(prog, "--version")
        assert (rc, out, err) == (0, "%s %s" % (name, want), ""), (prog, out)


def test_help_on_stdout_usage_errors_on_stderr():
    rc, out, err = _run(h.MFAD, "--help")
    assert rc == 0 and out.startswith("usage: mfad ") and err == ""
    rc, out, err = _run(h.MFAD, "--bogus")
    assert rc == 2 and out == "" and "usage: mfad " in err
    rc, out, err = _run(h.MFAD, "stray")
    assert rc == 2 and out == "" and "usage: mfad " in err
    for args in (["--help"], ["-h"]):
        rc, out, err = _run(h.MFADCTL, *args)
        assert rc == CTL_OK and err == "", err
        assert out.startswith("usage: mfadctl ") and "device revoke" in out
    rc, out, err = _run(h.MFADCTL, "user", "list", "--help")
    assert (rc, out, err) == (CTL_OK, "usage: mfadctl user list\n", "")
    rc, out, err = _run(h.MFADCTL, "user", "--help")
    assert rc == CTL_OK and "user show" in out and err == ""
    for args in (["--bogus"], ["bogus"], [], ["user", "list", "-c"],
                 ["user", "show", "a", "b"]):
        rc, out, err = _run(h.MFADCTL, *args)
        assert rc == CTL_USAGE and out == "" and "usage:" in err, args


def test_options_after_the_command(env):
    before = env.ctl_json("user", "list")
    cmd = [h.MFADCTL, "-c", env.conf]
    # The global options anywhere, in any order, before or after.
    for args in (["-s", env.sock, "user", "list", "--json"],
                 ["user", "list", "--json", "-s", env.sock],
                 ["user", "--json", "list", "-s%s" % env.sock]):
        rc, out, err = _run(*(cmd + args))
        assert rc == CTL_OK, (args, err)
        assert json.loads(out) == before
    rc, out, err = _run(h.MFADCTL, "user", "show", "alice", "-c", env.conf,
                        "-s", env.sock, "--json")
    assert rc == CTL_OK and json.loads(out)["user"] == "alice", err


def test_a_command_options_value_is_never_a_global_option(env):
    """`--lang -c` is a bad language, not -c: the value is the command's."""
    rc, out, err = env.ctl("user", "set", "alice", "--lang", "--json")
    assert rc == CTL_USAGE and out == "", out
    assert "--lang must be fr or en" in err, err
    # "-s" is the user filter (nobody has that name), not the socket.
    rc, out, err = env.ctl("--json", "audit", "--user", "-s")
    assert rc == CTL_OK, err
    assert "alice" not in out and json.loads(out) in ([], {}), out
    assert any(r["user"] == "alice" for r in env.ctl_json("audit"))


def test_double_dash_ends_the_options(env, tmp_path):
    """After "--", "--json" is an argument, not the option."""
    rc, out, err = env.ctl("user", "show", "--", "--json")
    assert rc == CTL_USAGE and "invalid user name" in err, err
    rc, out, err = env.ctl("--", "user", "show", "alice")
    assert rc == CTL_OK and "alice@example.org" in out, err
    # An address that starts with '-' reaches mfad as an address.
    rc, out, err = env.ctl("mail", "test", "--", "-x@example.org")
    assert rc == CTL_OK, err
    env.smtp.wait_for("-x@example.org")
