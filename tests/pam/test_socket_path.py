"""pam_mss trusts mfad's socket only on a safe path (issue "Hardening",
point 6): every directory from "/" down is a real directory (no symbolic
link), owned by root or by the user named with socket_owner=, writable by
nobody else (a root-owned sticky directory such as /tmp above the
socket's own excepted); the socket is root's or that user's. Otherwise the
login is denied, whatever failmode says, with a log line that names the
directory and the reason. Everything goes through the real module loaded
by Linux-PAM; pam_driver -l copies the module's syslog lines to its
standard error."""

import os
import pwd
import subprocess
import sys

import mss_harness as h
from mss_harness import PAM_AUTHINFO_UNAVAIL, PROMPT_EMAIL, PROMPT_PASSWORD

NOBODY = pwd.getpwnam("nobody")
ALICE = "alice@example.org"


def _service(env, name, sock, args=()):
    """A PAM service with pam_mss on sock, written as an admin would."""
    line = " ".join(["socket=%s" % sock, "lang=en", "tries=3"] + list(args))
    (env.pamd / name).write_text(
        "auth required %s %s\naccount required %s %s\n" %
        (h.PAM_MSS, line, h.PAM_MSS, line))
    return name


def _login(env, service):
    """One login with the right password; returns (result, transcript,
    the module's log lines)."""
    login = env.login(service=service, extra_args=["-l"])
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD})
    login.close()
    log = login.proc.stderr.read()
    return rc, login, log


def _denied(env, service, reason):
    rc, login, log = _login(env, service)
    assert rc == PAM_AUTHINFO_UNAVAIL, login.dump()
    assert ("ERROR", "The authentication service is unavailable.") in \
        login.lines("ERROR"), login.dump()
    assert "not trusted, login denied" in log and reason in log, log
    return log


def _moved_socket(env, sub):
    """Restarts mfad with its socket in env.dir/sub (root's, 0755)."""
    d = env.dir / sub
    d.mkdir(mode=0o755, exist_ok=True)
    env.mfad.stop()
    env.sock = env.mfad.sock = d / "mfad.sock"
    env.config["mfad"]["socket"] = env.sock
    h.write_ini(env.conf, env.config)
    env.mfad.start()
    return d


FAKE = r"""
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o666)
s.listen(8)
print("ready", flush=True)
# AUTH: result 1 (remembered device: done), empty login and mask.
body = bytes([1]) + b"\0" * 4 + b"\0" * 4 + b"\0" * 4 + b"\0" + b"\0" * 4
reply = (len(body) + 2).to_bytes(4, "big") + bytes([1, 101]) + body
while True:
    c, _ = s.accept()
    print("connection", flush=True)
    try:
        c.settimeout(2)
        c.recv(65536)
        c.sendall(reply)
    except OSError:
        pass
    c.close()
"""


def test_directory_of_another_user_with_its_own_daemon(env):
    """A local user's directory holding that user's socket, answered by
    that user's process claiming "remembered device": refused before any
    connection, the log naming the directory and its owner."""
    d = env.dir / "nobody"
    d.mkdir(mode=0o755)
    os.chown(d, NOBODY.pw_uid, NOBODY.pw_gid)
    script = env.dir / "fake.py"
    script.write_text(FAKE)
    os.chmod(script, 0o644)
    fake = subprocess.Popen(
        ["setpriv", "--reuid=%d" % NOBODY.pw_uid,
         "--regid=%d" % NOBODY.pw_gid, "--clear-groups", sys.executable,
         str(script), str(d / "mfad.sock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout.readline().strip() == "ready"
        service = _service(env, "mss-nobody", d / "mfad.sock")
        _denied(env, service, "%s is owned by uid %d, not by root" %
                (d, NOBODY.pw_uid))
        # The same with failmode=safe: an untrusted socket is no outage.
        service = _service(env, "mss-nobody-safe", d / "mfad.sock",
                           ["failmode=safe"])
        _denied(env, service, "owned by uid %d" % NOBODY.pw_uid)
    finally:
        fake.kill()
        out, _ = fake.communicate()
    assert "connection" not in out, "the module spoke to the impostor"
    # The real socket still works.
    env.full_login()


def test_group_writable_directory_above_the_socket(env):
    """A group-writable directory anywhere on the way, not only the
    socket's own, is refused; put back to 0755 the login works."""
    _moved_socket(env, "run")
    service = _service(env, "mss-run", env.sock)
    os.chmod(env.dir, 0o775)
    try:
        _denied(env, service, "%s is writable by group or others" %
                env.dir)
    finally:
        os.chmod(env.dir, 0o755)
    os.chmod(env.dir / "run", 0o775)
    try:
        _denied(env, service, "%s/run is writable by group or others" %
                env.dir)
    finally:
        os.chmod(env.dir / "run", 0o755)
    env.service("mss-test")
    env.full_login()


def test_symlinked_parent_is_refused(env):
    """A symbolic link on the way to the socket is refused, not
    followed, even when it points to the right directory."""
    _moved_socket(env, "real")
    os.symlink(env.dir / "real", env.dir / "link")
    service = _service(env, "mss-link", env.dir / "link" / "mfad.sock")
    _denied(env, service, "%s/link is a symbolic link" % env.dir)
    # mfadctl applies the same checks.
    r = subprocess.run([str(h.MFADCTL), "-c", str(env.conf), "-s",
                        str(env.dir / "link" / "mfad.sock"), "status"],
                       capture_output=True, text=True)
    assert r.returncode == h.CTL_UNREACHABLE
    assert "link is a symbolic link" in r.stderr, r.stderr
    env.service("mss-test")
    env.full_login()


def test_sticky_world_writable_root_directory_above_is_accepted(env):
    """/tmp-like: a root-owned sticky directory writable by all may be
    above the socket's directory (nobody else may rename or remove the
    root-owned entry in it); as the socket's own directory it is not."""
    os.chmod(env.dir, 0o1777)
    try:
        _moved_socket(env, "run")
        env.service("mss-test")
        env.full_login()
        service = _service(env, "mss-tmp", env.dir / "mfad.sock")
        # The socket's own directory: a sticky 1777 one is refused.
        os.link(env.sock, env.dir / "mfad.sock")
        _denied(env, service, "%s is writable by group or others" %
                env.dir)
    finally:
        os.chmod(env.dir, 0o755)


def _env_as(make_env, pw):
    """The shipped unit's shape: mfad runs as pw, which owns the socket's
    directory (systemd's RuntimeDirectory) and the socket."""
    env = make_env({"mfad": {"user": pw.pw_name}}, start=False)
    run = env.dir / "run"
    run.mkdir(mode=0o755)
    env.db.mkdir(mode=0o700)
    for p in (run, env.db):
        os.chown(p, pw.pw_uid, pw.pw_gid)
    os.chmod(env.conf, 0o644)
    env.sock = env.mfad.sock = run / "mfad.sock"
    env.config["mfad"]["socket"] = env.sock
    h.write_ini(env.conf, env.config)
    env.mfad.wrapper = ["setpriv", "--reuid=%d" % pw.pw_uid,
                        "--regid=%d" % pw.pw_gid, "--clear-groups"]
    env.start()
    assert os.stat(env.sock).st_uid == pw.pw_uid
    env.add_user("alice")
    return env, run


def test_socket_owner_names_the_user_mfad_runs_as(make_env):
    """mfad runs as a user of its own (not the unit's "mfad"). Without
    socket_owner= the module refuses its socket; with it the login works;
    mfadctl takes the user from the config's [mfad] user."""
    from test_install import SERVICE_USER, _system_user
    pw = _system_user(SERVICE_USER)
    try:
        env, run = _env_as(make_env, pw)
        service = _service(env, "mss-noowner", env.sock)
        _denied(env, service, "%s is owned by uid %d, not by root" %
                (run, pw.pw_uid))
        service = _service(env, "mss-owner", env.sock,
                           ["socket_owner=%s" % SERVICE_USER])
        login, code = env.start_login(service=service)
        env.finish_login(login, code)
        # By uid too; another user named is refused.
        service = _service(env, "mss-owner-uid", env.sock,
                           ["socket_owner=%d" % pw.pw_uid])
        login, code = env.start_login(service=service)
        env.finish_login(login, code)
        service = _service(env, "mss-owner-other", env.sock,
                           ["socket_owner=nobody"])
        _denied(env, service, "not by root or the socket owner")
        # mfadctl without the config naming the user: refused, saying why.
        r = subprocess.run([str(h.MFADCTL), "-c", "/nonexistent",
                            "-s", str(env.sock), "status"],
                           capture_output=True, text=True)
        assert r.returncode == h.CTL_UNREACHABLE
        assert "not trusted: %s is owned by uid %d" % (run, pw.pw_uid) \
            in r.stderr, r.stderr
    finally:
        if "env" in locals():
            env.mfad.stop()
        subprocess.run(["userdel", SERVICE_USER], capture_output=True)


def test_the_units_user_mfad_is_trusted_by_default(make_env):
    """With the unit's user "mfad" on the system, the stacks the README
    shows (no socket_owner=) work with mfad running as that user: an
    upgrade that turns the path checks on locks nobody out. Naming
    another owner still refuses it."""
    from test_install import _system_user
    existed = subprocess.run(["id", "mfad"],
                             capture_output=True).returncode == 0
    pw = _system_user("mfad")
    try:
        env, run = _env_as(make_env, pw)
        service = _service(env, "mss-default", env.sock)
        login, code = env.start_login(service=service)
        env.finish_login(login, code)
        service = _service(env, "mss-other", env.sock,
                           ["socket_owner=nobody"])
        _denied(env, service, "%s is owned by uid %d" % (run, pw.pw_uid))
    finally:
        if "env" in locals():
            env.mfad.stop()
        if not existed:
            subprocess.run(["userdel", "mfad"], capture_output=True)


def test_unknown_socket_owner_refuses_to_run(env):
    """socket_owner= naming no user is a bad argument: PAM_SERVICE_ERR,
    logged, as every bad argument."""
    service = _service(env, "mss-bad", env.sock,
                       ["socket_owner=no-such-user-here"])
    login = env.login(service=service, extra_args=["-l"])
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD})
    login.close()
    log = login.proc.stderr.read()
    assert rc == 3, login.dump()          # PAM_SERVICE_ERR
    assert 'bad value in argument "socket_owner=no-such-user-here"' in log
