"""A real OpenSSH sshd on 127.0.0.1 and a paramiko client, for the
end-to-end tests.

sshd is Debian's /usr/sbin/sshd started through the symlink
/usr/local/sbin/sshd-mss-test: OpenSSH names its PAM service after the
program (__progname), so every connection reads /etc/pam.d/sshd-mss-test,
which names the built pam_mss.so by absolute path. The system's
/etc/pam.d/sshd is never read or touched.
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import paramiko

import mss_harness as h

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = Path("/usr/bin/ssh-keygen")
SERVICE = "sshd-mss-test"
LINK = Path("/usr/local/sbin") / SERVICE
PAMD = Path("/etc/pam.d")
PRIVSEP_DIR = Path("/run/sshd")
TEMPLATE = Path(__file__).resolve().with_name("sshd_config.in")

TIMEOUT = 30.0


# --------------------------------------------------------------------------
# Files outside the scratch directory: /etc/pam.d and the symlink


def write_pam_service(name, text):
    """Writes /etc/pam.d/NAME (replacing a leftover of an earlier run)."""
    path = PAMD / name
    tmp = PAMD / (".%s.tmp" % name)
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def remove_pam_service(name):
    for p in (PAMD / name, PAMD / (".%s.tmp" % name)):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def pam_mss_stack(sock, args=(), lang="en", tries=3):
    """A PAM service text: pam_mss for auth and account, a session that
    always opens (sshd opens one to run a command)."""
    mod = h.PAM_MSS
    auth = ["socket=%s" % sock, "lang=%s" % lang, "tries=%d" % tries]
    auth += list(args)
    return ("# written by tests/e2e; removed when the tests end\n"
            "auth     required %s %s\n"
            "account  required %s socket=%s\n"
            "session  required pam_permit.so\n"
            "password required pam_deny.so\n" %
            (mod, " ".join(auth), mod, sock))


def install_link():
    """The symlink that gives sshd our program name; replaces leftovers."""
    if LINK.is_symlink() or LINK.exists():
        LINK.unlink()
    LINK.symlink_to(SSHD)


def remove_link():
    if LINK.is_symlink():
        LINK.unlink()


def keygen(path, comment="mss-e2e"):
    """A fresh ed25519 key pair at path and path.pub."""
    path = Path(path)
    for p in (path, path.with_name(path.name + ".pub")):
        if p.exists():
            p.unlink()
    subprocess.run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "",
                    "-C", comment, "-f", str(path)], check=True,
                   timeout=TIMEOUT)
    return path


def public_key(path):
    """The "TYPE BASE64" of a key pair's .pub file."""
    typ, b64 = Path(str(path) + ".pub").read_text().split()[:2]
    return "%s %s" % (typ, b64)


# --------------------------------------------------------------------------
# sshd


class Sshd:
    """One sshd -D -e on 127.0.0.1 and a free port, from sshd_config.in.

    methods is AuthenticationMethods; expose sets ExposeAuthInfo.
    authorized maps a user name to a list of key pair paths."""

    def __init__(self, workdir, hostkey, methods="keyboard-interactive",
                 expose=False, authorized=None):
        self.dir = Path(workdir)
        self.dir.mkdir(mode=0o755, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.hostkey = Path(hostkey)
        self.port = h.free_port()
        self.config = self.dir / "sshd_config"
        self.log = self.dir / "sshd.log"
        self.pidfile = self.dir / "sshd.pid"
        akdir = self.dir / "authorized_keys"
        akdir.mkdir(mode=0o755, exist_ok=True)
        for user, keys in (authorized or {}).items():
            f = akdir / user
            f.write_text("".join(public_key(k) + "\n" for k in keys))
            os.chmod(f, 0o644)
        text = TEMPLATE.read_text()
        for name, value in (("PORT", self.port),
                            ("HOSTKEY", self.hostkey),
                            ("DIR", self.dir),
                            ("METHODS", methods),
                            ("EXPOSE", "yes" if expose else "no")):
            text = text.replace("@%s@" % name, str(value))
        left = re.findall(r"^[^#\n]*@[A-Z]+@", text, re.M)
        assert not left, "unfilled in %s: %r" % (TEMPLATE, left)
        self.config.write_text(text)
        self.proc = None

    def check(self):
        """sshd -t: the configuration parses."""
        r = subprocess.run([str(LINK), "-t", "-f", str(self.config)],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, "sshd -t: %s%s" % (r.stdout, r.stderr)

    def start(self, timeout=TIMEOUT):
        self.check()
        logf = open(self.log, "ab")
        try:
            # argv[0] must be the absolute path of the link: sshd re-executes
            # itself with it, and takes its PAM service name from it.
            self.proc = subprocess.Popen(
                [str(LINK), "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                start_new_session=True)
        finally:
            logf.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("sshd exited with %s:\n%s" %
                                     (self.proc.returncode, self.log_text()))
            if "Server listening on" in self.log_text():
                try:
                    with socket.create_connection(("127.0.0.1", self.port),
                                                  timeout=2) as s:
                        if s.recv(64).startswith(b"SSH-2.0-"):
                            return self
                except OSError:
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("sshd did not listen:\n%s" %
                                     self.log_text())
            time.sleep(0.05)

    def stop(self, timeout=TIMEOUT):
        """SIGTERM to sshd's own process group (the listener and the
        per-connection processes it forked), then SIGKILL if needed."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Connection processes may outlive the listener for a moment.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def host_key_base64(self):
        return public_key(self.hostkey).split()[1]


# --------------------------------------------------------------------------
# The client


class KbdInteractive:
    """A paramiko keyboard-interactive handler.

    answers maps a key to a reply; each prompt gets the reply of the first
    key found in its text. A reply is a string, a callable (called with
    the prompt text, for values known only then, such as a mailed code),
    or a list used in turn. Every round the server sends is recorded, as
    the client received it."""

    MAX_ROUNDS = 30

    def __init__(self, answers):
        self.answers = {k: (list(v) if isinstance(v, (list, tuple)) else v)
                        for k, v in answers.items()}
        self.rounds = []        # (name, instructions, [(prompt, echo)])
        self.replies = []       # (prompt, reply) in order
        self.unexpected = []    # prompts nothing answered

    def _reply(self, prompt):
        for key, val in self.answers.items():
            if key in prompt:
                if isinstance(val, list):
                    if not val:
                        break
                    val = val.pop(0)
                return val(prompt) if callable(val) else val
        self.unexpected.append(prompt)
        return "\x01no answer\x01"

    def __call__(self, name, instructions, prompts):
        prompts = [(p, bool(e)) for p, e in prompts]
        self.rounds.append((name, instructions, prompts))
        if len(self.rounds) > self.MAX_ROUNDS:
            raise AssertionError("too many keyboard-interactive rounds")
        out = []
        for prompt, _ in prompts:
            reply = self._reply(prompt)
            self.replies.append((prompt, reply))
            out.append(reply)
        return out

    def prompts(self):
        """Every (prompt text, echo) in order."""
        return [p for _, _, ps in self.rounds for p in ps]

    def text(self):
        """Everything the client was shown, in order."""
        parts = []
        for name, instructions, prompts in self.rounds:
            parts += [name, instructions] + [p for p, _ in prompts]
        return "\n".join(x for x in parts if x)

    def transcript(self):
        """The rounds as the client received them, each with its replies
        (the password hidden)."""
        lines = []
        replies = iter(self.replies)
        for i, (name, instructions, prompts) in enumerate(self.rounds, 1):
            lines.append("round %d: name=%r instructions=%r prompts=%d" %
                         (i, name, instructions, len(prompts)))
            for p, echo in prompts:
                _, r = next(replies, (p, None))
                if not echo and r is not None:
                    r = "(%d characters, not shown)" % len(r)
                lines.append("  prompt (echo %s): %r" %
                             ("on" if echo else "off", p))
                lines.append("    answer: %r" % (r,))
        return "\n".join(lines)


class Client:
    """One SSH connection to 127.0.0.1:port with paramiko."""

    def __init__(self, sshd, timeout=TIMEOUT):
        self.sshd = sshd
        sock = socket.create_connection(("127.0.0.1", sshd.port), timeout)
        self.transport = paramiko.Transport(sock)
        self.transport.banner_timeout = timeout
        self.transport.auth_timeout = 120
        self.transport.start_client(timeout=timeout)
        key = self.transport.get_remote_server_key()
        assert key.get_base64() == sshd.host_key_base64(), \
            "not our sshd's host key"
        self.handlers = []

    def publickey(self, user, keyfile):
        """Returns the methods still required ([] when authenticated)."""
        key = paramiko.Ed25519Key.from_private_key_file(str(keyfile))
        return self.transport.auth_publickey(user, key)

    def interactive(self, user, answers):
        """Runs keyboard-interactive; returns (handler, error) where error
        is the paramiko exception (None on success)."""
        handler = KbdInteractive(answers)
        self.handlers.append(handler)
        try:
            remaining = self.transport.auth_interactive(user, handler)
        except paramiko.AuthenticationException as e:
            return handler, e
        assert remaining == [], "still required: %r" % (remaining,)
        return handler, None

    @property
    def authenticated(self):
        return self.transport.is_authenticated()

    def run(self, command, timeout=TIMEOUT):
        """Runs command in a session; returns (exit status, stdout)."""
        chan = self.transport.open_session(timeout=timeout)
        chan.settimeout(timeout)
        chan.exec_command(command)
        out = b""
        while True:
            data = chan.recv(65536)
            if not data:
                break
            out += data
        status = chan.recv_exit_status()
        chan.close()
        return status, out.decode("utf-8", "replace")

    def close(self):
        self.transport.close()
