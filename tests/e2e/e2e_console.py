"""Console logins through a pseudo-terminal: an interactive /bin/sh under
pexpect runs pamtester, whose conversation is Linux-PAM's misc_conv on a
real terminal (echo turned off by the terminal for PROMPT_ECHO_OFF)."""

import io
import re

import pexpect

TIMEOUT = 30
PS1 = "mss-console$ "


class Console:
    """One shell on a fresh pseudo-terminal; several logins may run in
    turn on the same terminal. With user, the shell is that user's
    (runuser, which asks no password of root)."""

    def __init__(self, timeout=TIMEOUT, user=None):
        self.log = io.StringIO()
        argv = ["/bin/sh"]
        if user is not None:
            argv = ["/usr/sbin/runuser", "-u", user, "--"] + argv
        self.child = pexpect.spawn(
            argv[0], argv[1:],
            env={"PS1": PS1, "TERM": "dumb", "LANG": "C.UTF-8",
                 "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            encoding="utf-8", codec_errors="replace", timeout=timeout,
            echo=True)
        self.child.logfile_read = self.log
        self.child.expect_exact(PS1)
        self.child.sendline("tty")
        self.child.expect(r"(/dev/pts/\d+)\r?\n")
        self.tty = self.child.match.group(1)
        self.child.expect_exact(PS1)
        self.mark = 0

    def login(self, service, user, tty=True):
        """Starts pamtester authenticate; with tty, PAM_TTY is this
        terminal's device (pamtester -I tty=...), else it is not set."""
        item = '-I tty="$(tty)" ' if tty else ""
        self.child.sendline('pamtester -v %s%s %s authenticate; '
                            'echo "STATUS=$?"' % (item, service, user))
        self.child.expect_exact("performing operation - authenticate")
        self._mark()

    def run(self, command):
        """Runs command (shell text) and marks the start of its output;
        status() gives its exit status."""
        self.child.sendline('%s; echo "STATUS=$?"' % command)
        self.child.expect_exact('echo "STATUS=$?"')
        self._mark()

    def _mark(self):
        # pexpect may have read past the match: what it has not handed out
        # yet (buffer) is already in the log.
        self.mark = len(self.log.getvalue()) - len(self.child.buffer)

    def expect(self, text):
        """Waits for text (exact) in the terminal output; returns what
        came before it since the last expect."""
        self.child.expect_exact(text)
        return self.child.before

    def answer(self, text):
        self.child.sendline(text)

    def status(self):
        """The exit status of pamtester (login) or of the command
        (run), once it ends."""
        self.child.expect(r"STATUS=(\d+)")
        st = int(self.child.match.group(1))
        self.child.expect_exact(PS1)
        return st

    def output(self):
        """The terminal output of the current login (echo included)."""
        return self.log.getvalue()[self.mark:]

    def transcript(self):
        return self.log.getvalue().replace("\r\n", "\n")

    def close(self):
        if self.child.isalive():
            self.child.sendline("exit")
            try:
                self.child.expect(pexpect.EOF, timeout=5)
            except pexpect.ExceptionPexpect:
                pass
        self.child.close(force=True)


def lines(text):
    return [l for l in re.split(r"\r?\n", text) if l]
