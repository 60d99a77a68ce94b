"""The module against a missing, restarted, hostile or misbehaving daemon,
the socket's trust rules, the mail relay going away, throttling, audit and
backup (SECURITY.md rules 10, 21-25, 29, 31-33)."""

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

import mss_harness as h
from mss_harness import (PAM_AUTHINFO_UNAVAIL, PAM_IGNORE, PAM_SUCCESS,
                         PROMPT_CODE, PROMPT_EMAIL, PROMPT_PASSWORD)

ALICE = "alice@example.org"
CREDS = {PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD}


def test_mfad_down_is_authinfo_unavail(env):
    """SECURITY 23: mfad unreachable with failmode=secure (the default)
    gives PAM_AUTHINFO_UNAVAIL, never success."""
    env.mfad.stop()
    login = env.login()
    assert login.run(CREDS) == PAM_AUTHINFO_UNAVAIL, login.dump()


# Linux-PAM turns a stack in which every module said PAM_IGNORE into
# PAM_PERM_DENIED, so the module's own PAM_IGNORE is made visible by a
# marker module after it: pam_debug answers PAM_MODULE_UNKNOWN (28), a
# code pam_mss never returns. IGNORE moves on to the marker, SUCCESS ends
# the stack with 0, anything else ends it with the module's code.
PAM_MODULE_UNKNOWN = 28


def _marker_service(env, name, failmode):
    (env.pamd / name).write_text(
        "auth [success=done ignore=ignore default=die] %s socket=%s "
        "lang=en failmode=%s\n"
        "auth required pam_debug.so auth=module_unknown\n" %
        (h.PAM_MSS, env.sock, failmode))
    return name


def test_failmode_safe_mfad_down_is_ignore(env):
    """SECURITY 23, DESIGN 4: failmode=safe turns mfad unreachable into
    PAM_IGNORE: the stack goes on to the next module (the marker)."""
    env.mfad.stop()
    login = env.login(service=_marker_service(env, "mss-safe", "safe"))
    assert login.run(CREDS) == PAM_MODULE_UNKNOWN, login.dump()


def test_failmode_secure_mfad_down_is_unavail_in_a_stack(env):
    """SECURITY 23: the same stack with failmode=secure stops at pam_mss
    with PAM_AUTHINFO_UNAVAIL (the control for the test above)."""
    env.mfad.stop()
    login = env.login(service=_marker_service(env, "mss-sec", "secure"))
    assert login.run(CREDS) == PAM_AUTHINFO_UNAVAIL, login.dump()


def test_failmode_safe_alone_is_never_success(env):
    """SECURITY 23: with pam_mss alone in the stack, failmode=safe and mfad
    down, the login is refused (Linux-PAM: PAM_PERM_DENIED)."""
    env.service("mss-safe", ["failmode=safe"])
    env.mfad.stop()
    login = env.login(service="mss-safe")
    rc = login.run(CREDS)
    assert rc in (PAM_IGNORE, h.PAM_PERM_DENIED), login.dump()


def test_failmode_safe_does_not_weaken_wrong_password(env):
    """failmode=safe only concerns an unreachable mfad: a wrong password
    with mfad up is still PAM_AUTH_ERR."""
    env.service("mss-safe", ["failmode=safe"])
    login = env.login(service="mss-safe")
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.WRONG_PASSWORD})
    assert rc == h.PAM_AUTH_ERR, login.dump()


def test_syslog_lines_carry_mfads_own_pid(make_env, tmp_path):
    """Every line mfad gives syslog, before its log thread starts and
    from it, reads "mfad[PID]: " with mfad's own pid, as syslog(3) makes
    it with LOG_PID. /dev/log is this test's socket (_dev_log_link)."""
    env, sink, path = _env_logging_to_a_sink(make_env, tmp_path)
    env.add_user("alice")
    env.full_login()
    lines = []
    while not any("event=login_ok" in x for x in lines):
        lines.append(sink.recv(65536).decode())
    sink.close()
    head = re.compile(r"^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d mfad\[(\d+)\]: ")
    for line in lines:
        m = head.match(line)
        assert m and int(m.group(1)) == env.mfad.proc.pid, line
    # The first line is the start's, logged inline; the login's come
    # from the log thread.
    assert "acceptable for tests only" in lines[0], lines[0]


def _dev_log_link(env, tmp_path, path):
    """mfad runs in a mount namespace of its own where /dev/log, on an
    overlay of /dev, is a symbolic link to path, as systemd's is to the
    journal's socket: the test can put another socket there, as a syslog
    daemon that restarts does."""
    for d in ("dev-upper", "dev-work"):
        (tmp_path / d).mkdir()
    env.mfad.wrapper = [
        "unshare", "-m", "--propagation", "private", "sh", "-c",
        'mount -t overlay overlay -o lowerdir=/dev,upperdir="$1",'
        'workdir="$2" /dev && rm -f /dev/log && ln -s "$0" /dev/log && '
        'shift 2 && exec "$@"',
        str(path), str(tmp_path / "dev-upper"), str(tmp_path / "dev-work")]


def _dgram_sink(path):
    """A datagram socket bound at path, as rsyslogd's or journald's."""
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(path))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sink.settimeout(h.TIMEOUT)
    return sink


def _env_logging_to_a_sink(make_env, tmp_path):
    """A started env whose mfad's /dev/log is a datagram socket of this
    test: (env, the socket, its path)."""
    path = tmp_path / "log.sock"
    sink = _dgram_sink(path)
    env = make_env(start=False)
    _dev_log_link(env, tmp_path, path)
    env.start()
    return env, sink, path


def _syslog_lines(sock, until):
    """Syslog records read from sock (a datagram each, or a stream of
    records each ended by a NUL) up to the first holding until."""
    lines, rest = [], b""
    while not any(until in x for x in lines):
        data = sock.recv(65536)
        assert data, "the syslog socket was closed"
        if sock.type == socket.SOCK_DGRAM:
            lines.append(data.decode())
            continue
        rest += data
        *done, rest = rest.split(b"\0")
        lines += [x.decode() for x in done]
    return lines


def test_syslog_reconnects_to_a_restarted_daemon_datagram_or_stream(
        make_env, tmp_path):
    """mfad sends its lines itself, many in one call: when the syslog
    daemon restarts it connects again, to a datagram socket (rsyslogd,
    journald) or a stream one (syslog-ng's unix-stream, where each line
    ends with a NUL, as syslog(3) sends them), and every line keeps the
    header "<PRI>Mmm dd hh:mm:ss mfad[PID]: "."""
    env, sink, path = _env_logging_to_a_sink(make_env, tmp_path)
    env.add_user("alice")
    head = re.compile(r"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d "
                      r"mfad\[(\d+)\]: ")

    def check(lines):
        # None lost at the change: the login's first line is there.
        assert any("event=code_sent user=alice" in x for x in lines), lines
        for line in lines:
            m = head.match(line)
            assert m and int(m.group(2)) == env.mfad.proc.pid, line
            if "event=login_ok" in line:
                # authpriv.info: the audit's facility.
                assert int(m.group(1)) == 10 * 8 + 6, line

    env.full_login()
    check(_syslog_lines(sink, "event=login_ok"))
    # The daemon restarts as a stream listener.
    sink.close()
    path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    listener.settimeout(h.TIMEOUT)
    env.full_login()
    conn, _ = listener.accept()
    conn.settimeout(h.TIMEOUT)
    check(_syslog_lines(conn, "event=login_ok"))
    # And again as a datagram socket: the stream's end is noticed.
    conn.close()
    listener.close()
    path.unlink()
    sink = _dgram_sink(path)
    env.full_login()
    check(_syslog_lines(sink, "event=login_ok"))
    sink.close()


def test_syslog_lines_of_a_burst_arrive_whole_and_in_order(make_env,
                                                          tmp_path):
    """An import of 500 accounts logs 500 lines at once, which the log
    thread sends in batches: every one reaches the syslog socket, in the
    order of the file, each a datagram of its own."""
    env, sink, path = _env_logging_to_a_sink(make_env, tmp_path)
    users = ["burst%03d" % i for i in range(500)]
    csv = tmp_path / "staff.csv"
    csv.write_text("".join("%s,%s@example.org,en\n" % (u, u)
                           for u in users))
    env.ctl_ok("import", csv)
    added = []
    while len(added) < len(users):
        line = sink.recv(65536).decode()
        assert line.count("mfad[") == 1, line
        m = re.search(r"event=user_added user=(\S+) ", line)
        if m:
            added.append(m.group(1))
    assert added == users
    sink.close()


def test_mfad_sigterm_exits_cleanly(env):
    """mfad stops on SIGTERM with status 0 and removes nothing it needs."""
    assert env.mfad.stop() == 0, env.mfad.log_text()
    env.mfad.start()
    env.full_login()


def test_mfad_runs_under_the_units_filter(env):
    """Every mfad of the suite runs under the system-call filter of its
    systemd unit (mss_harness.unit_filter), so that a call the unit
    forbids kills it here as it would on a production host."""
    if h.SANITIZED or os.environ.get("MSS_UNIT_FILTER") == "0":
        pytest.skip("the unit's filter is off for this build")
    prefix = h.unit_filter()
    assert prefix, "no unit filter here: tests/setup.sh installs " \
        "python3-seccomp and systemd"
    status = dict(line.split(":", 1) for line in open(
        "/proc/%d/status" % env.mfad.proc.pid).read().splitlines())
    assert status["Seccomp"].strip() == "2", status
    assert status["NoNewPrivs"].strip() == "1", status
    allowed = set(open(prefix[-1]).read().split())
    assert {"fdatasync", "epoll_wait", "sendmsg"} <= allowed
    assert not {"chown", "fchownat", "setuid", "chroot"} & allowed
    # And it still answers.
    assert env.ctl_json("status")["outbox"] == 0


def _mapped(pid):
    """The file names mapped into process pid."""
    names = set()
    for line in open("/proc/%d/maps" % pid):
        parts = line.split()
        if len(parts) >= 6:
            names.add(os.path.basename(parts[5]))
    return names


def test_local_mode_loads_no_directory_library(env):
    """Without [directory], mfad maps neither its directory module nor
    libldap and the TLS libraries under it: their pages are no part of
    a host's resident memory in local mode."""
    env.full_login()
    mapped = _mapped(env.mfad.proc.pid)
    assert any(n.startswith("liblmdb") for n in mapped), mapped
    assert not [n for n in mapped if n.startswith(
        ("mfad_store_dir", "libldap", "liblber", "libgnutls",
         "libp11-kit", "libsasl2"))], mapped


@pytest.mark.parametrize("abstract", [False, True])
def test_mfad_tells_systemd_ready_reloading_stopping(make_env, tmp_path,
                                                      abstract):
    """Type=notify: READY=1 once the socket answers, RELOADING=1 then
    READY=1 around a SIGHUP, STOPPING=1 on SIGTERM, to a NOTIFY_SOCKET
    path or abstract address (the protocol spoken without libsystemd)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = "mss-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
    listener.bind("\0" + name if abstract else str(tmp_path / "notify"))
    listener.settimeout(10)
    env = make_env(start=False)
    env.mfad.environ["NOTIFY_SOCKET"] = ("@" + name if abstract else
                                         str(tmp_path / "notify"))
    try:
        env.start()
        assert listener.recv(256) == b"READY=1"
        env.mfad.proc.send_signal(1)
        assert listener.recv(256) == b"RELOADING=1"
        assert listener.recv(256) == b"READY=1"
        env.add_user()
        env.full_login()
        assert env.mfad.stop() == 0
        assert listener.recv(256) == b"STOPPING=1"
    finally:
        listener.close()


def test_no_stderr_copy_when_stderr_is_the_journal(make_env):
    """Under systemd, stderr may be the journal (JOURNAL_STREAM), which
    gets the syslog lines already: mfad -f writes no second copy."""
    env = make_env(start=False)
    Path(env.mfad.log).touch()
    st = os.stat(env.mfad.log)
    env.mfad.environ["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    env.start()
    env.add_user()
    env.full_login()
    assert env.mfad.stop() == 0
    assert env.mfad.log_text() == ""


def test_code_survives_mfad_restart_and_stays_used(env):
    """SECURITY 29, DESIGN 5: login state lives in LMDB: a code mailed
    before a restart works after it, once; after another restart it is
    still used."""
    login, code = env.start_login()
    env.mfad.restart()
    env.finish_login(login, code)
    env.mfad.restart()
    login_b, code_b = env.start_login()
    h.need_distinct(code, code_b)
    login_b.answer(code)
    login_b.expect("ERROR")
    login_b.expect("ECHO_ON", PROMPT_CODE)
    env.finish_login(login_b, code_b)


def test_code_survives_mfad_crash(env):
    """SECURITY 29: after SIGKILL (no clean shutdown) the pending code is
    still valid, so nothing committed was lost."""
    login, code = env.start_login()
    env.mfad.kill()
    env.mfad.start()
    env.finish_login(login, code)


DELIVERY = re.compile(r"deliver|mail|send|sent", re.I)


def test_smtp_down_login_fails_with_delivery_message(env):
    """DESIGN 3, 5: with the relay down the login cannot succeed, and the
    user is told the code could not be delivered."""
    env.smtp.stop()
    login = env.login()
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    time.sleep(2)   # let mfad's mail sender fail at least once
    # Each answer after a pause, as a person gives it: the sender tries a
    # resent code's mail a moment after the answer that announced it.
    answers = ["", "000000", "", "000000", ""]
    while "authenticate" not in login.results:
        style, _ = login.next(timeout=30)
        if style in login.PROMPTS:
            time.sleep(0.5)
            login.answer(answers.pop(0) if answers else "000000")
    rc = login.results["authenticate"]
    assert rc != PAM_SUCCESS, login.dump()
    mask = h.mask_email(ALICE)
    told = [t for s, t in login.lines("ERROR", "INFO")
            if (s == "ERROR" or mask not in t) and DELIVERY.search(t)]
    assert told, login.dump()


def test_smtp_down_remembered_device_still_logs_in(env):
    """DESIGN 1: a remembered device needs no mail, so it logs in while the
    relay is down."""
    env.full_login(rhost="192.0.2.7", remember="y")
    env.smtp.stop()
    login = env.login(rhost="192.0.2.7")
    assert login.run(CREDS) == PAM_SUCCESS, login.dump()
    assert not any(PROMPT_CODE in t for _, t in login.lines())


def test_mail_retried_after_relay_returns(env):
    """DESIGN 5: mail is retried within the code's lifetime: a code queued
    while the relay was down arrives once it is back, and works."""
    env.smtp.stop()
    login = env.login()
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    login.expect("INFO")
    login.expect("ECHO_ON", PROMPT_CODE)
    time.sleep(2)
    env.smtp.start()
    code = env.smtp.wait_for_code(ALICE, timeout=120)
    env.finish_login(login, code)


def test_outbox_resumes_after_restart(env):
    """Issue 7: a message queued while the relay was down survives a
    restart of mfad and goes out once the relay is back; the code works."""
    env.smtp.stop()
    login = env.login()
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    login.expect("INFO")
    login.expect("ECHO_ON", PROMPT_CODE)
    h.wait_until(lambda: json.loads(env.ctl_ok("--json", "status"))
                 .get("outbox", 0) >= 1)
    env.mfad.restart()
    env.smtp.start()
    code = env.smtp.wait_for_code(ALICE, timeout=120)
    env.finish_login(login, code)


ADMIN_COMMANDS = [
    ["user", "add", "mallory", "--email", "mallory@example.org"],
    ["user", "lock", "alice"],
    ["user", "del", "alice"],
    ["user", "show", "alice"],
    ["user", "list"],
    ["user", "reenroll", "alice"],
    ["device", "list", "alice"],
    ["device", "revoke", "alice", "--all"],
    ["mail", "test", "mallory@example.org"],
]


def test_unprivileged_caller_cannot_run_admin_commands(env):
    """SECURITY 22: mfad checks the peer's uid: nobody gets exit status 4
    for every admin command, and nothing changes."""
    for cmd in ADMIN_COMMANDS:
        rc, out, err = env.ctl(*cmd, as_nobody=True)
        assert rc == h.CTL_PERM, (cmd, rc, out, err)
    rc, _, _ = env.ctl("user", "show", "mallory")
    assert rc == h.CTL_REFUSED
    env.smtp.assert_no_mail("mallory@example.org", wait=1)
    env.full_login()


def test_unprivileged_caller_cannot_read_password_hash(env):
    """SECURITY 20, 22: even root's `user show` never prints a hash."""
    out = env.ctl_ok("--json", "user", "show", "alice")
    assert "$argon2" not in out and h.PASSWORD not in out


def _connect(sock):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(sock))
    return s


def _closed_by_peer(s, timeout=15):
    """True when mfad drops the connection (EOF or reset) in time."""
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_garbage_on_socket_does_not_stop_login(env):
    """SECURITY 25, DESIGN 5: random bytes, an oversized length header, a
    stalled half frame and a silent client, all at once, do not delay a
    normal login; malformed frames make mfad drop the connection."""
    junk = _connect(env.sock)
    junk.sendall(os.urandom(4096))
    huge = _connect(env.sock)
    huge.sendall(h.frame(h.REQ_STATUS, length=0xFFFFFFFF))
    badver = _connect(env.sock)
    badver.sendall(h.frame(h.REQ_STATUS, version=99))
    unknown = _connect(env.sock)
    unknown.sendall(h.frame(250))
    trailing = _connect(env.sock)
    trailing.sendall(h.frame(h.REQ_STATUS, b"\0\0\0\0"))
    half = _connect(env.sock)
    half.sendall(h.frame(h.REQ_STATUS, length=100)[:6] + b"0123456789")
    silent = _connect(env.sock)
    started = time.monotonic()
    env.full_login()
    assert time.monotonic() - started < 8, "login delayed by junk clients"
    for s in (junk, huge, badver, unknown, trailing):
        assert _closed_by_peer(s), "mfad kept a malformed connection"
    assert env.mfad.running
    # The stalled clients are cut off by their deadline eventually.
    assert _closed_by_peer(half, timeout=60)
    assert _closed_by_peer(silent, timeout=60)
    for s in (junk, huge, badver, unknown, trailing, half, silent):
        s.close()
    env.ctl_ok("status")


def test_request_read_whole_in_pieces_or_followed_by_bytes(env):
    """DESIGN 5: mfad reads a request's header together with what
    follows it. A frame written at once, in pieces (the header split,
    part of the body with it), only once mfad has taken the connection
    (it reads a new connection at once, and finds nothing yet), larger
    than what mfad reads with the header, or followed by bytes past its
    end, gets the same answer; nothing past the frame is taken as a
    request."""
    auth = h.frame(2, b"".join(h.pstr(v) for v in (     # AUTH_START
        "mss-raw", "nobody", "nobody@example.org", "not the password", "",
        "192.0.2.7", "", "en")) + (0).to_bytes(4, "big"))

    # An import of 64 rows with long addresses, one user twice: refused
    # the same way each time, in a frame larger than what mfad reads
    # with the header.
    def row(line, user):
        addr = "%s.%s@%s.example.org" % (user, "x" * 50, "d" * 60)
        return (line.to_bytes(4, "big") + h.pstr(user) + h.pstr(addr) +
                h.pstr("") + h.pstr("") + (0).to_bytes(4, "big"))
    rows = [row(i + 1, "u%04d" % i) for i in range(63)] + [row(64, "u0000")]
    big = h.frame(32, (64).to_bytes(4, "big") + b"".join(rows))
    assert len(big) > 2 * 4096

    for f, rtype in ((auth, 101), (big, h.REP_RESULT)):   # AUTH, RESULT
        whole = h.raw_exchange(env.sock, [f])
        assert whole is not None and whole[0] == rtype, whole
        shapes = {
            "header split": [f[:3], f[3:9], f[9:]],
            "header alone": [f[:6], f[6:]],
            "after a pause": [b"", f],
            "body split": [f[:40], f[40:41], f[41:]],
            "bytes past it": [f + h.frame(2, b"") * 3 + b"junk"],
        }
        for name, pieces in shapes.items():
            assert h.raw_exchange(env.sock, pieces) == whole, name
    assert b"line 64: user u0000 is also on line 1" in whole[1], whole
    assert "u0001" not in {u["user"] for u in env.ctl_json("user", "list")}
    assert env.mfad.running
    env.full_login()


def test_many_stalled_clients_do_not_block_login(env):
    """SECURITY 25: a hundred idle connections leave room for a login."""
    idle = [_connect(env.sock) for _ in range(100)]
    try:
        env.full_login()
    finally:
        for s in idle:
            s.close()


@pytest.mark.parametrize("reply", [
    pytest.param(os.urandom(512), id="random-bytes"),
    pytest.param(h.frame(h.REP_RESULT, length=0xFFFFFFFF), id="oversized"),
    pytest.param(h.frame(h.REP_RESULT, version=9), id="bad-version"),
    pytest.param(h.frame(h.REP_RESULT)[:4], id="truncated"),
    pytest.param(h.frame(h.REP_RESULT, b"\0\0\0\0\0\0\0\0\0\0"),
                 id="trailing-bytes"),
    pytest.param(h.frame(220, b""), id="unknown-type"),
    pytest.param(b"", id="closed"),
])
def test_module_denies_when_daemon_answers_garbage(make_env, reply):
    """SECURITY 23: whatever a broken daemon answers, the module gives
    PAM_AUTHINFO_UNAVAIL and never PAM_SUCCESS."""
    env = make_env(start=False)
    fake = h.FakeMfad(env.sock, reply)
    try:
        login = env.login()
        rc = login.run(CREDS, default="123456")
        assert rc == PAM_AUTHINFO_UNAVAIL, login.dump()
        assert fake.connections >= 1
    finally:
        fake.close()


def test_module_denies_well_formed_reply_of_wrong_type(make_env):
    """SECURITY 23: a valid RESULT "0" frame is not an authentication
    answer; it must not read as success."""
    env = make_env(start=False)
    payload = (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    fake = h.FakeMfad(env.sock, h.frame(h.REP_RESULT, payload))
    try:
        login = env.login()
        rc = login.run(CREDS, default="123456")
        assert rc in (h.PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL), login.dump()
    finally:
        fake.close()


def test_module_denies_stalled_daemon(make_env):
    """SECURITY 23: a daemon that accepts and never answers is given up on
    at the I/O deadline: PAM_AUTHINFO_UNAVAIL."""
    env = make_env(start=False)
    fake = h.FakeMfad(env.sock, None)
    try:
        login = env.login()
        started = time.monotonic()
        rc = login.run(CREDS, default="123456", timeout=40)
        assert rc == PAM_AUTHINFO_UNAVAIL, login.dump()
        assert time.monotonic() - started < 35
    finally:
        fake.close()


@pytest.mark.parametrize("mode,owner,ok", [
    (0o755, 0, True),
    (0o777, 0, False),
    (0o1777, 0, False),
    (0o775, 0, False),
    (0o755, 65534, False),
])
def test_socket_directory_must_be_root_owned_and_private(env, mode, owner,
                                                         ok):
    """SECURITY 21, 24: the module trusts a socket only in a root-owned
    directory that group and others cannot write. The same socket (a hard
    link to mfad's) is reached from directories of each kind; only the
    safe one works."""
    d = env.dir / ("sockdir-%o-%d" % (mode, owner))
    d.mkdir()
    os.link(env.sock, d / "mfad.sock")
    os.chown(d, owner, -1)
    os.chmod(d, mode)
    env.service("mss-link", sock=d / "mfad.sock")
    login = env.login(service="mss-link")
    if ok:
        login.expect("ECHO_ON", PROMPT_EMAIL)
        login.answer(ALICE)
        login.expect("ECHO_OFF", PROMPT_PASSWORD)
        login.answer(h.PASSWORD)
        login.expect("INFO")
        login.expect("ECHO_ON", PROMPT_CODE)
        env.finish_login(login, env.smtp.wait_for_code(ALICE))
    else:
        assert login.run(CREDS, default="123456") == PAM_AUTHINFO_UNAVAIL, \
            login.dump()
        env.smtp.assert_no_mail(ALICE, wait=1)


def _mentions(text, secret):
    return re.search(r"(?<![0-9A-Za-z])%s(?![0-9A-Za-z])" %
                     re.escape(secret), text) is not None


def _secrets_of_a_login(env):
    """A login with a wrong code then the right one, and a wrong password;
    returns every secret typed."""
    login, code = env.start_login(rhost="192.0.2.7")
    bad = h.wrong_code(code)
    login.answer(bad)
    login.expect("ERROR")
    login.expect("ECHO_ON", PROMPT_CODE)
    env.finish_login(login, code, remember="n")
    wrong = env.login()
    wrong.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.WRONG_PASSWORD})
    return (h.PASSWORD, h.WRONG_PASSWORD, code, bad)


def test_no_password_or_code_in_debug_log(env):
    """SECURITY 33: neither passwords nor codes, right or wrong, reach
    mfad's log, even at debug level."""
    secrets = _secrets_of_a_login(env)
    # The wrong password is the last decision: the log has all of them.
    text = env.mfad.wait_log("event=login_denied")
    for secret in secrets:
        assert not _mentions(text, secret), secret


def test_no_password_or_code_in_audit(env):
    """SECURITY 33: nor do they reach `mfadctl audit`, text or JSON."""
    secrets = _secrets_of_a_login(env)
    for text in (env.ctl_ok("audit"), env.ctl_ok("--json", "audit")):
        for secret in secrets:
            assert not _mentions(text, secret), secret


def _records(value):
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for v in value.values():
            if isinstance(v, list):
                return v
    return []


def test_audit_records_each_decision(env):
    """SECURITY 32: a failed and a successful login both leave records for
    the user in `mfadctl audit`, with the service and rhost."""
    wrong = env.login(rhost="192.0.2.55")
    wrong.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.WRONG_PASSWORD})
    env.full_login(rhost="192.0.2.56", remember="n")
    recs = _records(env.ctl_json("audit", "--user", "alice"))
    assert len(recs) >= 2, recs
    text = json.dumps(recs)
    assert "alice" in text and "mss-test" in text
    assert "192.0.2.55" in text and "192.0.2.56" in text


@pytest.mark.mfad(code={"max_sends": 2})
def test_mail_sends_limited_per_account(env):
    """SECURITY 10: at most `max_sends` code mails per account per hour,
    whether asked by resend or by a new login."""
    env.service("mss-test", ["tries=5"])
    login, _ = env.start_login()
    login.answer("")
    login.expect("INFO")
    env.smtp.wait_for_code(ALICE)
    rc = login.run({PROMPT_CODE: ""})
    assert rc != PAM_SUCCESS
    again = env.login()
    assert again.run(CREDS, default="000000") != PAM_SUCCESS
    time.sleep(2)
    assert env.smtp.count(ALICE, h.has_code) == 2


@pytest.mark.mfad(code={"resend_interval": 30})
def test_resend_interval_enforced(env):
    """SECURITY 10: a resend within `resend_interval` sends nothing and
    leaves the first code valid."""
    env.service("mss-test", ["tries=5"])
    login, code = env.start_login()
    login.answer("")
    style, _ = login.next()
    assert style in ("INFO", "ERROR")
    login.expect("ECHO_ON", PROMPT_CODE)
    time.sleep(2)
    assert env.smtp.count(ALICE, h.has_code) == 1
    env.finish_login(login, code)


def test_backup_starts_a_working_mfad(env):
    """SECURITY 31: `mfadctl backup DIR` makes a copy mfad can start from,
    with the accounts in it."""
    backup = env.dir / "backup"
    backup.mkdir(mode=0o700)
    env.ctl_ok("backup", backup)
    env.mfad.stop()
    env.config["mfad"]["database"] = backup
    h.write_ini(env.conf, env.config)
    env.mfad.start()
    env.full_login()


NOBODY_PY = r"""
import socket, sys
user = b"alice"
payload = len(user).to_bytes(4, "big") + user
frame = (len(payload) + 2).to_bytes(4, "big") + bytes([1, 24]) + payload
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(frame)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except (socket.timeout, ConnectionResetError):
    pass
sys.stdout.write(data.hex())
"""


def test_unprivileged_raw_lock_request_refused_by_daemon(env):
    """SECURITY 22: the daemon itself, not only mfadctl, refuses an admin
    request (USER_LOCK) from an unprivileged peer: the answer is a
    permission error or a dropped connection, and alice is not locked."""
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--clear-groups", "/usr/bin/python3", "-c",
                        NOBODY_PY, str(env.sock)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    reply = bytes.fromhex(r.stdout)
    if reply:
        assert reply[4:6] == bytes([h.PROTO_VERSION, h.REP_RESULT]), reply
        code = int.from_bytes(reply[6:10], "big")
        assert code == 9, "expected MSS_ERR_PERM (9), got %d" % code
    env.full_login()
