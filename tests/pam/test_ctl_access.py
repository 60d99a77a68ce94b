"""How mfadctl finds mfad on an installed host (DESIGN.md section 4):
only [mfad] socket of the daemon's config when it can read the file,
else the default socket; an admin_group member runs it although the
file is 0640 root:mfad, a mistake elsewhere in the file does not stop
it, and a non-admin gets exit 4, never 2."""

import shlex
import subprocess

import mss_harness as h
from mss_harness import CTL_OK, CTL_PERM
from test_peer import ADMIN, ADMINS, _admin_user


def _sysconfdir():
    r = subprocess.run(["make", "-s", "-C", str(h.BUILDDIR), "--eval",
                        "print-sysconfdir: ; @echo $(sysconfdir)",
                        "print-sysconfdir"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def _installed_host(env, *runs):
    """Runs each (user or None for root, mfadctl arguments) as on an
    installed host: in a mount namespace of its own, env's socket
    directory is /run/mfad and env's config is the default config file,
    mode 0640 root:root (as 0640 root:mfad, for a caller not in group
    mfad). mfadctl gets no -c and no -s. Returns [(status, stderr)]."""
    etc = _sysconfdir()
    script = ["set -e", "mount -t tmpfs -o mode=0755 tmpfs /run",
              "mkdir -m 0755 /run/mfad",
              "mount --bind %s /run/mfad" % shlex.quote(str(env.dir)),
              "mount -t tmpfs -o mode=0755 tmpfs %s" % shlex.quote(etc),
              "mkdir -m 0755 %s/mfad" % shlex.quote(etc),
              "cp %s %s/mfad/mfad.conf" % (shlex.quote(str(env.conf)),
                                           shlex.quote(etc)),
              "chmod 0640 %s/mfad/mfad.conf" % shlex.quote(etc), "set +e"]
    for i, (user, args) in enumerate(runs):
        cmd = [str(h.MFADCTL)] + list(args)
        if user is not None:
            cmd = ["setpriv", "--reuid=" + user, "--regid=nogroup",
                   "--init-groups"] + cmd
        script.append("%s 2>%s/err%d; echo \"rc$?\"" % (
            " ".join(map(shlex.quote, cmd)), shlex.quote(str(env.dir)), i))
    r = subprocess.run(["unshare", "--mount", "--propagation", "private",
                        "sh", "-c", "\n".join(script)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    codes = [int(line[2:]) for line in r.stdout.splitlines()
             if line.startswith("rc")]
    assert len(codes) == len(runs), r.stdout + r.stderr
    return [(c, (env.dir / ("err%d" % i)).read_text())
            for i, c in enumerate(codes)]


def test_admin_group_member_runs_mfadctl_without_reading_the_config(
        make_env):
    """Issue 11 point 10: plain `mfadctl status` by an admin_group member
    who cannot read the daemon's config works (the default socket); a
    user outside admin_group gets exit 4 for an admin command, never 2
    (usage)."""
    _admin_user()
    try:
        env = make_env({"mfad": {"admin_group": ADMINS}})
        env.add_user("alice")
        (admin_status, err0), (admin_show, err1), (nobody_list, err2), \
            (nobody_status, err3) = _installed_host(
                env, (ADMIN, ["status"]),
                (ADMIN, ["--json", "user", "show", "alice"]),
                ("nobody", ["user", "list"]),
                ("nobody", ["status"]))
        assert admin_status == CTL_OK, err0
        assert admin_show == CTL_OK, err1
        assert nobody_list == CTL_PERM, err2
        assert nobody_status == CTL_PERM, err3
    finally:
        subprocess.run(["userdel", ADMIN], capture_output=True)
        subprocess.run(["groupdel", ADMINS], capture_output=True)


def test_a_mistake_elsewhere_in_the_config_does_not_stop_mfadctl(env):
    """Only [mfad] socket is read: an unknown key, a bad value and a bad
    line elsewhere are mfad's to report (`mfad -t`), and mfadctl still
    finds the socket the file names."""
    with open(env.conf, "a") as f:
        f.write("[code]\nlenght = 6\nttl = forever\n[mail]\nthis is not "
                "a key\n")
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(env.conf)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    for args in (["status"], ["--json", "user", "show", "alice"]):
        r = subprocess.run([str(h.MFADCTL), "-c", str(env.conf)] + args,
                           capture_output=True, text=True,
                           timeout=h.TIMEOUT)
        assert r.returncode == CTL_OK, r.stderr


def test_a_bad_socket_value_is_a_usage_error_with_its_line(env, tmp_path):
    """The one key mfadctl reads is still checked, with file:line."""
    conf = tmp_path / "bad.conf"
    conf.write_text("[code]\nlength = 6\n[mfad]\nsocket = relative.sock\n")
    r = subprocess.run([str(h.MFADCTL), "-c", str(conf), "status"],
                       capture_output=True, text=True, timeout=h.TIMEOUT)
    assert r.returncode == h.CTL_USAGE
    assert "%s:4:" % conf in r.stderr, r.stderr
    r = subprocess.run([str(h.MFADCTL), "-c", str(tmp_path / "none.conf"),
                        "status"], capture_output=True, text=True,
                       timeout=h.TIMEOUT)
    assert r.returncode == h.CTL_USAGE, r.stderr

