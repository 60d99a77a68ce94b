"""Helpers for the PAM integration tests.

Everything here drives real programs: a real SMTP server (aiosmtpd) that
receives the mail mfad sends, a real mfad started from a scratch config,
the real mfadctl, and the real pam_mss.so loaded by Linux-PAM through
pam_driver (tests/pam/pam_driver.c). Nothing is mocked.

Binaries are looked up under $MSS_BUILDDIR (default: the source tree).
"""

import atexit
import configparser
import email
import email.policy
import importlib.util
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

TESTS_DIR = Path(__file__).resolve().parent
SRC_ROOT = TESTS_DIR.parent.parent
TEMPLATES = SRC_ROOT / "conf" / "templates"
BUILDDIR = Path(os.environ.get("MSS_BUILDDIR", str(SRC_ROOT))).resolve()

MFAD = BUILDDIR / "mfad" / "mfad"
# The build's directory module (fleet mode): mfad, "mfad -t" and the
# store driver load it from here, not from the install's module directory.
os.environ.setdefault("MFAD_MODULE_DIR", str(BUILDDIR / "mfad" / ".libs"))
MFADCTL = BUILDDIR / "mfad" / "mfadctl"
PAM_MSS = BUILDDIR / "pam_mss" / ".libs" / "pam_mss.so"
PAM_DRIVER = BUILDDIR / "tests" / "pam" / "pam_driver"

# Set by .ci/run for its ASan+UBSan build: programs built without the
# sanitizer (sshd, pamtester, pam_unix's helpers) cannot host pam_mss.so
# built with it, and libfaketime cannot be preloaded before ASan.
SANITIZED = os.environ.get("MSS_SANITIZED") == "1"

# mfad runs under its systemd unit's system-call filter (unit_filter.py):
# a call the unit forbids kills it here as on a production host. Not in
# the sanitizer build (its runtime makes calls of its own), nor without
# libseccomp's Python binding (tests/setup.sh installs it);
# MSS_UNIT_FILTER=0 turns it off.
UNIT_FILTER = TESTS_DIR / "unit_filter.py"
_unit_filter_list = []


def unit_filter():
    """The command prefix that runs a program under the unit's filter, or
    [] where it is off."""
    if SANITIZED or os.environ.get("MSS_UNIT_FILTER") == "0" or \
            shutil.which("systemd-analyze") is None:
        return []
    if importlib.util.find_spec("seccomp") is None:
        return []
    if not _unit_filter_list:
        fd, path = tempfile.mkstemp(prefix="mss-unit-filter-")
        os.close(fd)
        os.chmod(path, 0o644)   # mfad may start as another user
        atexit.register(os.unlink, path)
        subprocess.run(["/usr/bin/python3", str(UNIT_FILTER), "--list",
                        path], check=True)
        _unit_filter_list.append(path)
    return ["/usr/bin/python3", str(UNIT_FILTER), _unit_filter_list[0]]


# Linux-PAM return codes (security/_pam_types.h).
PAM_SUCCESS = 0
PAM_PERM_DENIED = 6
PAM_AUTH_ERR = 7
PAM_AUTHINFO_UNAVAIL = 9
PAM_USER_UNKNOWN = 10
PAM_MAXTRIES = 11
PAM_CONV_ERR = 19
PAM_IGNORE = 25

# mfadctl exit statuses (DESIGN.md section 4).
CTL_OK = 0
CTL_REFUSED = 1
CTL_USAGE = 2
CTL_UNREACHABLE = 3
CTL_PERM = 4

# Frame layout (common/mss_proto.h), for tests that speak to sockets.
PROTO_VERSION = 1
REQ_STATUS = 1
REP_RESULT = 100

PASSWORD = "correct horse battery staple"
WRONG_PASSWORD = "incorrect horse battery staple"
TIMEOUT = 15.0

GENERIC_FAILURE = "Invalid email address or password."
PROMPT_EMAIL = "Email address: "
PROMPT_PASSWORD = "Password: "
PROMPT_CODE = "Authentication code: "
PROMPT_REMEMBER = "Remember this device"

CODE_RE = re.compile(r"\b\d{6}\b")


def mask_email(addr):
    """The masked form mfad shows (common/mss_mask.c): at most half of the
    local part's characters, at most four, five stars, '@', the first
    label of the domain, five stars."""
    local, _, domain = addr.rpartition("@")
    show = min(len(local) // 2, 4)
    return local[:show] + "*****@" + domain.split(".")[0] + "*****"


def wrong_code(code):
    """A code of the same length that differs from code."""
    return "%0*d" % (len(code), (int(code) + 1) % 10 ** len(code))


def need_distinct(a, b):
    """Two random codes collide once in a million logins; the tests that
    tell them apart cannot run then."""
    if a == b:
        pytest.skip("two codes happen to be equal")


def frame(type_, payload=b"", version=PROTO_VERSION, length=None):
    """A protocol frame; length overrides the announced length."""
    n = len(payload) + 2 if length is None else length
    return n.to_bytes(4, "big") + bytes([version, type_]) + payload


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_binaries(daemon=True):
    need = [PAM_MSS, PAM_DRIVER] + ([MFAD, MFADCTL] if daemon else [])
    return [str(p) for p in need if not p.exists()]


# --------------------------------------------------------------------------
# SMTP


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        self.sink._store(envelope)
        return "250 OK"


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that keeps every message.

    stop() and start() keep the port, so a test can take the relay down
    and bring it back while mfad keeps its configuration."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.messages = []      # (mail_from, rcpt_tos, parsed message)
        self._taken = {}        # recipient -> indexes already returned
        self._cond = threading.Condition()
        self._controller = None

    def start(self):
        if self._controller is not None:
            return
        deadline = time.monotonic() + 10
        while True:
            c = Controller(_Handler(self), hostname="127.0.0.1",
                           port=self.port)
            try:
                c.start()
                break
            except Exception:
                # The port may linger briefly after a stop.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._controller = c

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self):
        return self._controller is not None

    def _store(self, envelope):
        msg = email.message_from_bytes(envelope.original_content or
                                       envelope.content,
                                       policy=email.policy.default)
        with self._cond:
            self.messages.append((envelope.mail_from,
                                  [r.lower() for r in envelope.rcpt_tos],
                                  msg))
            self._cond.notify_all()

    def count(self, to=None, match=None):
        with self._cond:
            return sum(1 for m in self.messages
                       if (to is None or to.lower() in m[1]) and
                       (match is None or match(m[2])))

    def wait_for(self, to, timeout=10, match=None):
        """Returns the next message for to (that match accepts) not
        returned before; messages match skips stay for later calls."""
        to = to.lower()
        deadline = time.monotonic() + timeout
        with self._cond:
            taken = self._taken.setdefault(to, set())
            while True:
                for i, (_, rcpts, msg) in enumerate(self.messages):
                    if (i not in taken and to in rcpts and
                            (match is None or match(msg))):
                        taken.add(i)
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "no mail for %s within %ss (%d messages in all)" %
                        (to, timeout, len(self.messages)))
                self._cond.wait(left)

    def wait_for_code(self, to, timeout=10):
        """The next code mail for to, skipping notices."""
        return code_from(self.wait_for(to, timeout, match=has_code))

    def assert_no_mail(self, to=None, wait=2.0, match=None):
        """Waits a little, since mail leaves mfad asynchronously."""
        time.sleep(wait)
        n = self.count(to, match)
        assert n == 0, "%d unexpected message(s) for %s" % (n, to)


def body_text(msg):
    """The decoded text/plain body (quoted-printable, UTF-8)."""
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None, "no text/plain part"
    return part.get_content()


def has_code(msg):
    return CODE_RE.search(body_text(msg)) is not None


def is_notice(msg):
    return not has_code(msg)


def code_from(msg):
    """The one code in a code mail's body."""
    codes = set(CODE_RE.findall(body_text(msg)))
    assert len(codes) == 1, "expected one code in the body, got %r" % codes
    return codes.pop()


# --------------------------------------------------------------------------
# mfad


def wait_until(pred, timeout=TIMEOUT, what="condition"):
    """Polls pred until it is true; AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("%s not met within %ss" % (what, timeout))
        time.sleep(0.05)


def write_ini(path, sections):
    lines = []
    for name, keys in sections.items():
        lines.append("[%s]" % name)
        for k, v in keys.items():
            lines.append("%s = %s" % (k, v))
        lines.append("")
    Path(path).write_text("\n".join(lines))


class Mfad:
    """One mfad process: -f (foreground) -d (debug), stderr to a log."""

    def __init__(self, conf, sock, log):
        self.conf, self.sock, self.log = conf, sock, log
        self.proc = None
        # A command to run mfad under, e.g. ["faketime", "-f", "-2d"].
        self.wrapper = []
        self.environ = {}       # added to mfad's environment

    def start(self, timeout=TIMEOUT):
        assert self.proc is None or self.proc.poll() is not None
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                self.wrapper +
                ([] if self._drops_privileges() else unit_filter()) +
                [str(MFAD), "-c", str(self.conf), "-f", "-d"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                env=dict(os.environ, **self.environ))
        finally:
            logf.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("mfad exited with %s:\n%s" %
                                     (self.proc.returncode, self.log_text()))
            if os.path.exists(self.sock):
                r = subprocess.run([str(MFADCTL), "-c", str(self.conf),
                                    "-s", str(self.sock), "status"],
                                   capture_output=True,
                                   timeout=timeout)
                if r.returncode == 0:
                    return
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("mfad did not answer status:\n%s" %
                                     self.log_text())
            time.sleep(0.05)

    def _drops_privileges(self):
        """Started as root with [mfad] user set, mfad becomes that user
        itself: a start the unit never makes (its User= starts mfad as
        that user), with calls its filter forbids (chown, setuid)."""
        if os.geteuid() != 0 or "setpriv" in self.wrapper:
            return False
        conf = configparser.ConfigParser(interpolation=None, strict=False)
        conf.read(self.conf)
        return bool(conf.get("mfad", "user", fallback=""))

    def stop(self, timeout=40):
        """SIGTERM and wait; returns the exit status. The wait covers a
        mail in flight to a relay that stopped answering (libESMTP's
        15 s reply timeout)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("mfad ignored SIGTERM for %ss" % timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        self.start()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_log(self, text, timeout=TIMEOUT):
        """mfad writes its log from a thread of its own, a moment after
        the event: waits until text is in it, and returns the log."""
        wait_until(lambda: text in self.log_text(), timeout,
                   what="%r in mfad's log" % text)
        return self.log_text()

    def log_text(self):
        try:
            return Path(self.log).read_text(errors="replace")
        except OSError:
            return "(no log)"


def _merge(base, extra):
    out = {k: dict(v) for k, v in base.items()}
    for sec, keys in (extra or {}).items():
        out.setdefault(sec, {}).update(keys)
        # None removes a key, to test a daemon default.
        out[sec] = {k: v for k, v in out[sec].items() if v is not None}
    return out


class MssEnv:
    """A scratch world: directory, mfad.conf, mfad, PAM services.

    The directory is made under /tmp rather than pytest's tmp_path because
    the socket's directory and its parents must be searchable by other
    users (the unprivileged-caller tests run as nobody) and the socket's
    directory must be root-owned and not group/other writable, which
    pam_mss checks before it trusts the socket."""

    def __init__(self, smtp, config=None):
        self.smtp = smtp
        self.dir = Path(tempfile.mkdtemp(prefix="mss-pam-"))
        os.chmod(self.dir, 0o755)
        self.sock = self.dir / "mfad.sock"
        self.db = self.dir / "db"
        self.conf = self.dir / "mfad.conf"
        self.log = self.dir / "mfad.log"
        self.pamd = self.dir / "pam.d"
        self.pamd.mkdir(mode=0o755)
        self.config = _merge({
            "mfad": {"socket": self.sock, "database": self.db},
            "code": {"ttl": 300, "max_attempts": 5, "resend_interval": 0,
                     "max_sends": 50},
            "password": {"opslimit": 1, "memlimit": "8K",
                         "min_length": 12},
            "lockout": {"threshold": 10},
            "mail": {"smtp": "127.0.0.1:%d" % smtp.port, "tls": "none",
                     "from": "mfad@example.org", "language": "en",
                     "templates": TEMPLATES},
        }, config)
        write_ini(self.conf, self.config)
        self.mfad = Mfad(self.conf, self.sock, self.log)
        self.logins = []

    def start(self):
        self.mfad.start()
        return self

    def close(self, keep=False):
        for login in self.logins:
            login.close()
        self.mfad.stop()
        if not keep and not os.environ.get("MSS_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # mfadctl ------------------------------------------------------------

    def ctl(self, *args, input=None, as_nobody=False, as_user=None,
            timeout=TIMEOUT):
        """Runs mfadctl -s SOCK ARGS; returns (status, stdout, stderr).
        as_user runs it as that user, with the groups /etc/group gives."""
        cmd = [str(MFADCTL), "-c", str(self.conf), "-s", str(self.sock)] + \
            [str(a) for a in args]
        if as_nobody:
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup",
                   "--clear-groups"] + cmd
        elif as_user is not None:
            cmd = ["setpriv", "--reuid=" + as_user, "--regid=nogroup",
                   "--init-groups"] + cmd
        r = subprocess.run(cmd, input=input, capture_output=True, text=True,
                           timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def ctl_ok(self, *args, input=None):
        rc, out, err = self.ctl(*args, input=input)
        assert rc == CTL_OK, "mfadctl %s: %d\n%s%s" % (
            " ".join(map(str, args)), rc, out, err)
        return out

    def ctl_json(self, *args):
        return json.loads(self.ctl_ok("--json", *args))

    def add_user(self, user="alice", addr=None, password=PASSWORD,
                 lang="en"):
        addr = addr or "%s@example.org" % user
        self.ctl_ok("user", "add", user, "--email", addr, "--lang", lang,
                    "--password-stdin", input=password + "\n")
        return addr

    # PAM ----------------------------------------------------------------

    def service(self, name="mss-test", args=(), sock=None, module=None):
        """Writes pam.d/NAME with pam_mss for auth and account."""
        module = module or PAM_MSS
        sock = sock or self.sock
        # mfad running as a user of its own owns its socket: named, as
        # pam_mss(8) asks, with socket_owner.
        owner = self.config["mfad"].get("user")
        where = "socket=%s%s" % (sock, " socket_owner=%s" % owner
                                 if owner else "")
        auth = [where, "lang=en", "tries=3"] + list(args)
        (self.pamd / name).write_text(
            "auth required %s %s\naccount required %s %s\n"
            "password required %s %s\n" %
            (module, " ".join(auth), module, where, module, " ".join(auth)))
        return name

    def login(self, user="alice", service=None, **kw):
        if service is None:
            service = "mss-test"
            if not (self.pamd / service).exists():
                self.service(service)
        login = Login(self.pamd, service, user, **kw)
        self.logins.append(login)
        return login

    def start_login(self, user="alice", addr=None, password=PASSWORD,
                    **kw):
        """Email, password, the code-sent notice and the code prompt.
        Returns (login, code) with the code read from the mail."""
        addr = addr or "%s@example.org" % user
        login = self.login(user, **kw)
        login.expect("ECHO_ON", PROMPT_EMAIL)
        login.answer(addr)
        login.expect("ECHO_OFF", PROMPT_PASSWORD)
        login.answer(password)
        info = login.expect("INFO", mask_email(addr))
        assert addr not in info, "the full address reached the module"
        login.expect("ECHO_ON", PROMPT_CODE)
        code = self.smtp.wait_for_code(addr)
        return login, code

    def start_empty_password(self, user="alice", addr=None, **kw):
        """Email, an empty password, the reset notice, the code-sent line
        and the code prompt (the same for every address). Returns the
        login at the code prompt."""
        addr = addr or "%s@example.org" % user
        login = self.login(user, **kw)
        login.expect("ECHO_ON", PROMPT_EMAIL)
        login.answer(addr)
        login.expect("ECHO_OFF", PROMPT_PASSWORD)
        login.answer("")
        login.expect("INFO", "reset")
        login.expect("INFO", mask_email(addr))
        login.expect("ECHO_ON", PROMPT_CODE)
        return login

    def finish_login(self, login, code, remember=None):
        """Answers the code (and the remember prompt when one is due);
        asserts success."""
        login.answer(code)
        if remember is not None:
            login.expect("ECHO_ON", PROMPT_REMEMBER)
            login.answer(remember)
        login.expect("INFO")
        assert login.result() == PAM_SUCCESS, login.dump()

    def full_login(self, user="alice", remember=None, **kw):
        login, code = self.start_login(user, **kw)
        self.finish_login(login, code, remember)
        return code


# --------------------------------------------------------------------------
# The PAM conversation


def _unescape(text):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(
        m.group(1), m.group(1)), text)


class Login:
    """pam_driver running one PAM transaction, spoken to line by line."""

    PROMPTS = ("ECHO_ON", "ECHO_OFF")

    def __init__(self, confdir, service, user, rhost=None, tty=None,
                 pamenv=(), acct=False, extra_args=(), as_uid=None,
                 as_gid=None, driver=None, wrap=()):
        cmd = [str(driver or PAM_DRIVER), "-D", str(confdir), "-s", service,
               "-u", user]
        if as_uid is not None:
            # An unprivileged PAM application, as a screen locker is.
            cmd = ["setpriv", "--reuid=%d" % as_uid,
                   "--regid=%d" % as_gid, "--clear-groups"] + cmd
        if rhost is not None:
            cmd += ["-r", rhost]
        if tty is not None:
            cmd += ["-t", tty]
        for e in pamenv:
            cmd += ["-e", e]
        if acct:
            cmd.append("-a")
        cmd += list(extra_args)
        # wrap: a prefix that runs the driver elsewhere (another namespace).
        cmd = list(wrap) + cmd
        self.cmd = cmd
        self.transcript = []    # every line seen, raw, in order
        self.results = {}
        self._lines = queue.Queue()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next(self, timeout=TIMEOUT):
        """The next (style, text), or AssertionError at EOF / timeout."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no output within %ss\n%s" %
                                 (timeout, self.dump()))
        if line is None:
            self._lines.put(None)
            raise AssertionError("pam_driver ended early\n%s" % self.dump())
        self.transcript.append(line)
        style, _, text = line.partition(" ")
        if style == "RESULT":
            step, _, rest = text.partition(" ")
            self.results[step] = int(rest.split(" ", 1)[0])
        return style, _unescape(text)

    def expect(self, style, substring=None, timeout=TIMEOUT):
        """The next line must have this style (and contain substring)."""
        got, text = self.next(timeout)
        assert got == style and (substring is None or substring in text), \
            "expected %s %r, got %s %r\n%s" % (style, substring, got, text,
                                               self.dump())
        return text

    def answer(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def result(self, step="authenticate", timeout=TIMEOUT):
        """Reads up to RESULT <step>; a prompt on the way is an error."""
        while step not in self.results:
            style, text = self.next(timeout)
            assert style not in self.PROMPTS, \
                "unexpected prompt %s %r\n%s" % (style, text, self.dump())
        return self.results[step]

    def run(self, answers, default=None, max_prompts=20, timeout=TIMEOUT):
        """Answers prompts by the first key of answers found in the prompt
        text (a value may be a list, used in turn) until RESULT
        authenticate; a prompt with no answer gets default, or ends the
        input if default is None. Returns the result."""
        answers = {k: (list(v) if isinstance(v, (list, tuple)) else v)
                   for k, v in answers.items()}
        n = 0
        while "authenticate" not in self.results:
            style, text = self.next(timeout)
            if style not in self.PROMPTS:
                continue
            n += 1
            assert n <= max_prompts, "too many prompts\n%s" % self.dump()
            reply = default
            for key, val in answers.items():
                if key in text:
                    if isinstance(val, list):
                        reply = val.pop(0) if val else default
                    else:
                        reply = val
                    break
            if reply is None:
                if not self.proc.stdin.closed:
                    self.proc.stdin.close()
            else:
                self.answer(reply)
        return self.results["authenticate"]

    def lines(self, *styles):
        out = []
        for line in self.transcript:
            style, _, text = line.partition(" ")
            if not styles or style in styles:
                out.append((style, _unescape(text)))
        return out

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)

    def dump(self):
        return "transcript of %s:\n  %s" % (" ".join(self.cmd),
                                            "\n  ".join(self.transcript))


# --------------------------------------------------------------------------
# Fake daemons, for what the module does when mfad misbehaves


def _read_frame(c, timeout):
    """Reads one whole request frame (or what comes before timeout), so
    that an answer never races the rest of a request the client is still
    writing."""
    c.settimeout(timeout)
    buf = b""
    try:
        while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "big"):
            chunk = c.recv(65536)
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        pass
    return buf


class FakeMfad:
    """A Unix socket server that answers every connection with reply
    (bytes; None means accept and never answer). A list of replies
    answers the connections in turn, its last one all that follow."""

    def __init__(self, path, reply):
        self.path = str(path)
        self.reply = reply
        self.connections = 0
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self._held = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            reply = self.reply
            if isinstance(reply, list):
                reply = reply[min(self.connections, len(reply)) - 1]
            if reply is None:
                self._held.append(c)
                continue
            try:
                _read_frame(c, 5)
                c.sendall(reply)
            except OSError:
                pass
            finally:
                c.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self._sock.close()
        for c in self._held:
            c.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class TwinLogin(Login):
    """pam_driver -T: two transactions at once in one process (two threads,
    two PAM handles). Lines carry the transaction number, 1 or 2."""

    def __init__(self, confdir, service, user, **kw):
        kw["extra_args"] = list(kw.get("extra_args", ())) + ["-T"]
        super().__init__(confdir, service, user, **kw)
        self.pending = {1: [], 2: []}
        self.twin_results = {}

    def _pull(self, timeout):
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no output within %ss\n%s" %
                                 (timeout, self.dump()))
        if line is None:
            self._lines.put(None)
            raise AssertionError("pam_driver ended early\n%s" % self.dump())
        self.transcript.append(line)
        tid, _, rest = line.partition(" ")
        style, _, text = rest.partition(" ")
        if style == "RESULT":
            step, _, code = text.partition(" ")
            self.twin_results[(int(tid), step)] = int(code.split(" ")[0])
        self.pending[int(tid)].append((style, _unescape(text)))

    def expect_of(self, tid, style, substring=None, timeout=TIMEOUT):
        """The next line of transaction tid, checked like expect()."""
        deadline = time.monotonic() + timeout
        while not self.pending[tid]:
            self._pull(max(0.1, deadline - time.monotonic()))
        got, text = self.pending[tid].pop(0)
        assert got == style and (substring is None or substring in text), \
            "[%d] expected %s %r, got %s %r\n%s" % (
                tid, style, substring, got, text, self.dump())
        return text

    def answer_to(self, tid, text):
        self.answer("%d %s" % (tid, text))

    def result_of(self, tid, step="authenticate", timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while (tid, step) not in self.twin_results:
            self._pull(max(0.1, deadline - time.monotonic()))
        return self.twin_results[(tid, step)]


# --------------------------------------------------------------------------
# Relays with STARTTLS, AUTH or a slow answer (tests/pam/test_mail.py)


def make_tls(directory, hostname="localhost"):
    """A CA and a server certificate for hostname, signed by that CA, made
    with the `cryptography` package. Returns (ca.pem, cert.pem, key.pem)
    paths inside directory; the CA's key is not kept."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = Path(directory)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), \
        now + datetime.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            "mss test CA")])
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                         critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=False, content_commitment=False,
              key_encipherment=False, data_encipherment=False,
              key_agreement=False, key_cert_sign=True, crl_sign=True,
              encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(
              ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False,
                                                 path_length=None),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier
                           .from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))

    paths = (directory / "ca.pem", directory / ("%s.pem" % hostname),
             directory / ("%s.key" % hostname))
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    os.chmod(paths[2], 0o600)
    return paths


def server_tls_context(cert, key):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class _SlowHandler(_Handler):
    def __init__(self, sink, delay):
        super().__init__(sink)
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        import asyncio
        with self.sink._cond:
            self.sink.in_data += 1
            self.sink._cond.notify_all()
        try:
            await asyncio.sleep(self.delay)
        finally:
            with self.sink._cond:
                self.sink.in_data -= 1
        return await super().handle_DATA(server, session, envelope)


class RelayServer(SmtpServer):
    """SmtpServer with the options of a real relay: tls_context (offers
    STARTTLS), require_starttls, credentials (user, password) for AUTH
    (then required, and only inside TLS) and a delay before each DATA
    answer. Also keeps each message's bytes as received (raw) and every
    AUTH attempt (auth_attempts: (user, accepted))."""

    def __init__(self, port=None, tls_context=None, require_starttls=False,
                 credentials=None, delay=0):
        super().__init__(port)
        self.tls_context = tls_context
        self.require_starttls = require_starttls
        self.credentials = credentials
        self.delay = delay
        self.raw = []
        self.auth_attempts = []
        self.in_data = 0    # messages held by the delay now

    def wait_in_data(self, n, timeout=30):
        """Waits until n messages are held by the delay at once."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.in_data >= n, timeout):
                raise AssertionError("%d of %d messages held by the "
                                     "relay within %ss" %
                                     (self.in_data, n, timeout))

    def _authenticate(self, server, session, envelope, mechanism, data):
        from aiosmtpd.smtp import AuthResult, LoginPassword
        ok = (isinstance(data, LoginPassword) and
              self.credentials is not None and
              (data.login, data.password) ==
              tuple(c.encode() for c in self.credentials))
        user = data.login.decode(errors="replace") \
            if isinstance(data, LoginPassword) else None
        with self._cond:
            self.auth_attempts.append((user, ok))
        return AuthResult(success=ok, handled=False)

    def start(self):
        if self._controller is not None:
            return
        kw = {}
        if self.tls_context is not None:
            kw["tls_context"] = self.tls_context
            kw["require_starttls"] = self.require_starttls
        if self.credentials is not None:
            kw["authenticator"] = self._authenticate
            kw["auth_required"] = True
            kw["auth_require_tls"] = True
        handler = _SlowHandler(self, self.delay) if self.delay else \
            _Handler(self)
        deadline = time.monotonic() + 10
        while True:
            c = Controller(handler, hostname="127.0.0.1", port=self.port,
                           **kw)
            try:
                c.start()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._controller = c

    def _store(self, envelope):
        with self._cond:
            self.raw.append(envelope.original_content or envelope.content)
        super()._store(envelope)


def status_json(env):
    """`mfadctl --json status` as a dict."""
    return env.ctl_json("status")


def wait_status(env, pred, timeout=30):
    """Polls status until pred(status) holds; returns that status."""
    deadline = time.monotonic() + timeout
    while True:
        st = status_json(env)
        if pred(st):
            return st
        if time.monotonic() > deadline:
            raise AssertionError("status never matched: %r\n%s" %
                                 (st, env.mfad.log_text()))
        time.sleep(0.25)


def audited(env, event):
    """True when mfad recorded event: in `mfadctl --json audit` when that
    command exists, else in mfad's log (audit records are logged too)."""
    rc, out, _ = env.ctl("--json", "audit", "--limit", "1000")
    if rc == CTL_OK and event in out:
        return True
    return re.search(r"\b%s\b" % re.escape(event),
                     env.mfad.log_text()) is not None


def wait_audited(env, event, timeout=30):
    deadline = time.monotonic() + timeout
    while not audited(env, event):
        if time.monotonic() > deadline:
            raise AssertionError("%s never audited:\n%s" %
                                 (event, env.mfad.log_text()))
        time.sleep(0.25)


def raw_exchange(sock, pieces, timeout=10):
    """Sends the byte strings of pieces to mfad's socket, 50 ms apart
    when there are several (so that mfad reads them apart); returns the
    reply's (type, payload), or None when mfad closed the connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(sock))
        for i, piece in enumerate(pieces):
            if i > 0:
                time.sleep(0.05)
            s.sendall(piece)
        data = b""
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4],
                                                             "big"):
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
    finally:
        s.close()
    n = int.from_bytes(data[:4], "big")
    return data[5], data[6:4 + n]


def raw_request(sock, type_, payload=b"", timeout=10):
    """Sends one frame to mfad's socket; returns (reply type, payload)
    or None when mfad closed the connection."""
    return raw_exchange(sock, [frame(type_, payload)], timeout)


def pstr(s):
    """A protocol string: u32 length, bytes."""
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(4, "big") + b
