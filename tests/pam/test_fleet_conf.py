"""Fleet mode's configuration through the real mfad -t: each required key
of [directory] missing, a bad URI scheme, [device] scope = fleet without a
directory, a bad timeout, a fleet key or bind password file that group or
others can read; each refused with file:line and the reason, and the
good file accepted."""

import os
import subprocess

import pytest

import mss_harness as h

FLEET_KEY = bytes(range(32))


def _fleet_files(env, key_mode=0o600, pw_mode=0o600):
    key = env.dir / "fleet.key"
    pw = env.dir / "ldap.pw"
    key.write_bytes(FLEET_KEY)
    pw.write_text("secret\n")
    os.chmod(key, key_mode)
    os.chmod(pw, pw_mode)
    return key, pw


def _directory(key, pw, **over):
    keys = {
        "uri": "ldaps://ldap1.example.org ldap://127.0.0.1:1",
        "base": "ou=people,dc=example,dc=org",
        "bind_dn": "cn=host1,ou=mfad,ou=services,dc=example,dc=org",
        "bind_pw_file": pw,
        "key_file": key,
    }
    keys.update(over)
    return {k: v for k, v in keys.items() if v is not None}


def _write(env, directory=None, device=None):
    config = {k: dict(v) for k, v in env.config.items()}
    if device is not None:
        config.setdefault("device", {}).update(device)
    if directory is not None:
        config["directory"] = directory
    h.write_ini(env.conf, config)


def _line_of(env, text):
    for n, line in enumerate(env.conf.read_text().splitlines(), 1):
        if line.startswith(text):
            return n
    raise AssertionError("%r not in %s" % (text, env.conf))


def _mfad_t(env):
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(env.conf)],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def _refused(env, line, reason):
    rc, out, err = _mfad_t(env)
    assert rc == 1, (rc, out, err)
    want = "mfad: %s:%d: " % (env.conf, line)
    assert err.startswith(want), (want, err)
    assert reason in err, (reason, err)


@pytest.fixture
def fenv(make_env):
    return make_env(start=False)


def test_good_fleet_config_is_accepted(fenv):
    key, pw = _fleet_files(fenv)
    _write(fenv, _directory(key, pw, timeout="0.5", host="host1"),
           device={"scope": "fleet"})
    rc, out, err = _mfad_t(fenv)
    assert rc == 0, err
    assert "configuration OK" in out


def test_fleet_mode_without_its_module_is_refused(fenv, tmp_path):
    """The directory module is what fleet mode runs on: "mfad -t" and
    the start refuse a [directory] whose module does not load, and say
    so; without [directory] the module is not needed at all."""
    key, pw = _fleet_files(fenv)
    _write(fenv, _directory(key, pw), device={"scope": "fleet"})
    empty = tmp_path / "modules"
    empty.mkdir()
    gone = dict(os.environ, MFAD_MODULE_DIR=str(empty))
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(fenv.conf)],
                       capture_output=True, text=True, timeout=30, env=gone)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "fleet mode needs its module, which does not load" in r.stderr
    assert str(empty / "mfad_store_dir.so") in r.stderr
    r = subprocess.run([str(h.MFAD), "-c", str(fenv.conf), "-f"],
                       capture_output=True, text=True, timeout=30, env=gone)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "fleet mode needs its module" in r.stderr
    # A module of another build (here: any other library) is refused.
    other = tmp_path / "other"
    other.mkdir()
    (other / "mfad_store_dir.so").symlink_to(
        h.BUILDDIR / "pam_mss" / ".libs" / "pam_mss.so")
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(fenv.conf)],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, MFAD_MODULE_DIR=str(other)))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "is not the module of this mfad" in r.stderr
    # Local mode needs no module.
    config = {k: dict(v) for k, v in fenv.config.items()}
    config.pop("directory", None)
    h.write_ini(fenv.conf, config)
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(fenv.conf)],
                       capture_output=True, text=True, timeout=30, env=gone)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("missing", ["uri", "base", "bind_dn",
                                     "bind_pw_file", "key_file"])
def test_each_required_key(fenv, missing):
    key, pw = _fleet_files(fenv)
    _write(fenv, _directory(key, pw, **{missing: None}))
    _refused(fenv, _line_of(fenv, "[directory]"),
             "[directory] %s is required" % missing)


@pytest.mark.parametrize("uri", ["ldapi:///", "http://ldap1.example.org",
                                 "ldaps://", "ldaps://h/dc=example,dc=org"])
def test_bad_uri(fenv, uri):
    key, pw = _fleet_files(fenv)
    _write(fenv, _directory(key, pw, uri="ldaps://ok.example " + uri))
    _refused(fenv, _line_of(fenv, "uri = "),
             "[directory] uri must be a list of ldaps://HOST[:PORT] or "
             "ldap://HOST[:PORT]")


def test_scope_fleet_needs_a_directory(fenv):
    _write(fenv, device={"scope": "fleet"})
    _refused(fenv, _line_of(fenv, "scope = "),
             "[device] scope = fleet needs a [directory] section")


@pytest.mark.parametrize("timeout", ["0", "0.05", "61", "2s", "1.2345"])
def test_bad_timeout(fenv, timeout):
    key, pw = _fleet_files(fenv)
    _write(fenv, _directory(key, pw, timeout=timeout))
    _refused(fenv, _line_of(fenv, "timeout = "),
             "[directory] timeout must be a number of seconds from 0.1 "
             "to 60")


def test_fleet_key_readable_by_others_refused(fenv):
    key, pw = _fleet_files(fenv, key_mode=0o644)
    _write(fenv, _directory(key, pw))
    _refused(fenv, _line_of(fenv, "key_file = "),
             "[directory] key_file: %s: accessible by group or others "
             "(mode 644); it must be 0600" % key)


def test_fleet_key_of_the_wrong_size_refused(fenv):
    key, pw = _fleet_files(fenv)
    key.write_bytes(b"short")
    _write(fenv, _directory(key, pw))
    _refused(fenv, _line_of(fenv, "key_file = "),
             "must hold 32 random bytes or 64 hex digits")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_bind_password_file_permissions(fenv, mode):
    key, pw = _fleet_files(fenv, pw_mode=mode)
    _write(fenv, _directory(key, pw))
    _refused(fenv, _line_of(fenv, "bind_pw_file = "),
             "[directory] bind_pw_file: %s: accessible by group or others "
             "(mode %03o)" % (pw, mode))


def test_bind_password_file_of_another_user_refused(fenv):
    key, pw = _fleet_files(fenv)
    os.chown(pw, 65534, -1)
    _write(fenv, _directory(key, pw))
    _refused(fenv, _line_of(fenv, "bind_pw_file = "),
             "owned by uid 65534; it must be owned by uid 0")


def test_missing_ca_file_refused(fenv):
    key, pw = _fleet_files(fenv)
    _write(fenv, _directory(key, pw, ca_file=fenv.dir / "nope.pem"))
    _refused(fenv, _line_of(fenv, "ca_file = "),
             "[directory] ca_file: cannot read")


def test_mfad_refuses_to_start_with_a_readable_fleet_key(fenv):
    """Not only -t: the start refuses the same file, naming the line."""
    key, pw = _fleet_files(fenv, key_mode=0o640)
    _write(fenv, _directory(key, pw))
    r = subprocess.run([str(h.MFAD), "-f", "-c", str(fenv.conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "%s:%d: [directory] key_file:" % (
        fenv.conf, _line_of(fenv, "key_file = ")) in r.stderr, r.stderr
    assert not fenv.sock.exists()
