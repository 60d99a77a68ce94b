"""Relay faults (issue 12 point 10; DESIGN 5: "retry within the code's
lifetime"; SECURITY 26: nothing in clear under tls=starttls).

The real mfad sends a login's code mail with libESMTP to FaultyRelay, an
SMTP relay written here that misbehaves at one step of its first session
and behaves afterwards. The real module runs the login through Linux-PAM.
Every assertion is about what can be seen from outside mfad (what the
relay received and answered, the audit trail, mfad's log, the login), so
that the rows hold however mfad's mail sender is built.

The rows named bdat-* (and the bdat case of the lost final reply) run
against a relay that offers CHUNKING, as Postfix and Exim do by default:
libESMTP then sends BDAT chunks instead of DATA, and the same rules hold.

For each row:
- no loss: after a temporary fault (4xx, a dropped connection, a timeout,
  a failed STARTTLS) the message is tried again and arrives once the relay
  behaves, and its code logs in;
- no more duplicates than SMTP allows: a message whose final dot got a
  2xx is never sent again (mail_sent is audited once, the outbox is empty,
  no session follows). A message whose reply to the final dot never came
  is sent again: the relay may then hold two copies, with the same
  Message-ID (RFC 5321 section 6.1 accepts that duplicate);
- a permanent failure (5xx to MAIL FROM, RCPT TO, DATA or the final dot)
  drops the message at once, audited as mail_failed with the relay's
  answer, without a second session;
- a clear line for each fault: the log line of each failed try names what
  the relay did, and so does the audit record of the outcome (mail_sent
  after failed tries, mail_failed).

Timings (mfad_outbox.c, mfad_smtp.c): a failed try is retried 2 s later
(then 4, 8, ... 60 s); libESMTP waits 15 s for each reply and 20 s for the
reply to the final dot. The slow rows answer in 5 s, a third of the
timeout, so they hold on a loaded machine; the relay that never answers
the final dot costs the 20 s once. The waits below are deadlines for
events, not sleeps.
"""

import email
import email.policy
import re
import socket
import ssl
import threading
import time

import pytest

import mss_harness as h
from mss_harness import PROMPT_CODE, PROMPT_EMAIL, PROMPT_PASSWORD

ALICE = "alice@example.org"

# The time a row may take to see its message arrive after a fault: the
# 2 s backoff, libESMTP's 20 s wait for a final reply, and margin for a
# loaded machine.
ARRIVAL = 60


# --------------------------------------------------------------------------
# The relay


class _Line:
    """A relay connection's socket, read line by line (CRLF)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.tls = False

    def _fill(self, enough):
        """Reads until enough(buf); False when the connection ends."""
        while not enough(self.buf):
            try:
                chunk = self.sock.recv(65536)
            except (OSError, ssl.SSLError):
                return False
            if not chunk:
                return False
            self.buf += chunk
        return True

    def readline(self):
        if not self._fill(lambda b: b"\r\n" in b):
            return None
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_exact(self, n):
        """n bytes (a BDAT chunk), or None when the connection ends."""
        if not self._fill(lambda b: len(b) >= n):
            return None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, text):
        try:
            self.sock.sendall(text.encode() + b"\r\n")
            return True
        except (OSError, ssl.SSLError):
            return False

    def drain(self, timeout):
        """Whatever the client still sends, until it closes."""
        got = self.buf
        self.buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
            except (OSError, ssl.SSLError):
                break
            if not chunk:
                break
            got += chunk
        return got


class Session:
    """What one SMTP session of the relay saw and answered."""

    def __init__(self, index):
        self.index = index
        self.commands = []      # (verb, inside TLS)
        self.messages = []      # {"data": bytes, "reply": int or None}
        self.tls = False        # STARTTLS completed
        self.tls_failed = False
        self.clear_after_tls = b""  # bytes after a failed handshake
        self.data_in_clear = False

    def clear_commands(self):
        return [v for v, tls in self.commands if not tls]


class FaultyRelay:
    """An SMTP relay on 127.0.0.1 that follows a script.

    sessions: one dict per session, in order, {step: action}; sessions
    past the list behave. Steps: greeting, ehlo, starttls, mail, rcpt,
    data (the DATA command), body (the message's lines), dot (the reply to
    the final dot), quit. Actions: a reply line ("451 4.3.0 ..."), "drop"
    (close without a reply), "hang" (never answer, keep the connection),
    ("delay", seconds) before the normal reply, and for starttls
    "garbage" (220, then bytes that are not TLS).

    A step may also be "drop_after": n, to close the connection right
    after the n-th message of the session was accepted.

    tls: None (no STARTTLS offered) or a list of server SSLContexts, one
    per session, the last for the sessions past the list.

    refuse: {address: reply line} answered to RCPT TO of that address in
    every session.

    chunking: offer CHUNKING (RFC 3030), as Postfix 3.4 and Exim 4.88 do
    by default: libESMTP then sends each message in BDAT chunks, the last
    with LAST, pipelined with RCPT TO. The data and body steps act on the
    first chunk, dot on the reply to the last; after a refused chunk, those
    that follow get the same reply until the last.

    max_open: at most that many connections open at once, as relays limit
    a client (Postfix's smtpd_client_connection_count_limit, Exim's
    smtp_accept_max_per_host): one more is greeted with TOO_MANY and
    closed, and counted in refused.

    active and max_active count the sessions open at once; connections
    counts every connection, bare ones (mfad's probe) included.

    mfad may reach the relay first with a bare connect (relay_probe() in
    mfad_smtp.c, when no session reached the relay in the last minute)
    that it closes before the greeting: a connection counts
    as a session from its first command, and sends the greeting of the
    next session in the script."""

    GREETING = "220 relay.test ESMTP fault-injecting relay"
    TOO_MANY = "421 4.7.0 relay.test Error: too many connections"

    def __init__(self, sessions=(), tls=None, refuse=None, max_open=None,
                 chunking=False):
        self.script = list(sessions)
        self.chunking = chunking
        self.max_open = max_open
        self.open = 0
        self.refused = 0
        self.tls = tls
        self.refuse = {a.lower(): r for a, r in (refuse or {}).items()}
        self.active = 0
        self.max_active = 0
        self.connections = 0
        self.port = h.free_port()
        self.sessions = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._conns = []
        self._threads = []
        self._listener = None

    # Harness interface (MssEnv reads .port) --------------------------

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        s.settimeout(0.2)
        self._listener = s
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self):
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        for t in self._threads:
            t.join(5)

    # What it saw -------------------------------------------------------

    def received(self):
        """Every message whose final dot the relay read."""
        with self._cond:
            return [m for s in self.sessions for m in s.messages]

    def accepted(self):
        """The messages whose final dot got a 2xx: handed over for good."""
        return [m for m in self.received()
                if m["reply"] is not None and m["reply"] // 100 == 2]

    def wait(self, pred, timeout=ARRIVAL, what="relay condition"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s not met within %ss" %
                                         (what, timeout))
                self._cond.wait(min(left, 0.5))

    def wait_accepted(self, n=1, timeout=ARRIVAL):
        self.wait(lambda: len(self.accepted()) >= n, timeout,
                  "%d message(s) accepted" % n)
        return self.accepted()

    # The server --------------------------------------------------------

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(60)
            with self._cond:
                self._conns.append(c)
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(c,),
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def _faults(self, index):
        return self.script[index] if index < len(self.script) else {}

    def _ctx(self, index):
        return self.tls[min(index, len(self.tls) - 1)]

    def _act(self, conn, action, normal):
        """Answers one step; False when the session is over."""
        if action is None:
            return conn.send(normal)
        if action == "drop":
            return False
        if action == "hang":
            while not self._stop.is_set() and conn.readline() is not None:
                pass
            return False
        if isinstance(action, tuple) and action[0] == "delay":
            if self._stop.wait(action[1]):
                return False
            return conn.send(normal)
        return conn.send(action)

    def _serve(self, sock):
        conn = _Line(sock)
        conn.counted = False
        with self._cond:
            self.open += 1
            over = self.max_open is not None and self.open > self.max_open
            self.refused += over
        try:
            if over:
                conn.send(self.TOO_MANY)
            else:
                self._session(conn)
        finally:
            with self._cond:
                self.open -= 1
                if conn.counted:
                    self.active -= 1
                self._cond.notify_all()
            try:
                conn.sock.close()
            except OSError:
                pass

    def _session(self, conn):
        with self._cond:
            faults = self._faults(len(self.sessions))
        if not self._act(conn, faults.get("greeting"), self.GREETING):
            return
        sess = None
        mail = False
        rcpts = 0
        chunks = []     # the BDAT chunks of the message so far
        while True:
            line = conn.readline()
            if line is None:
                return
            verb = re.split(rb"[ :]", line, 1)[0].upper().decode(
                errors="replace")
            if sess is None:
                with self._cond:
                    sess = Session(len(self.sessions))
                    self.sessions.append(sess)
                    conn.counted = True
                    self.active += 1
                    self.max_active = max(self.max_active, self.active)
                faults = self._faults(sess.index)
            with self._cond:
                sess.commands.append((verb, conn.tls))
            if verb in ("EHLO", "HELO"):
                caps = ["relay.test", "PIPELINING", "8BITMIME",
                        "ENHANCEDSTATUSCODES"]
                if self.chunking:
                    caps.append("CHUNKING")
                if self.tls is not None and not conn.tls:
                    caps.append("STARTTLS")
                normal = "\r\n".join("250-" + c for c in caps[:-1]) + \
                    "\r\n250 " + caps[-1]
                if not self._act(conn, faults.get("ehlo"), normal):
                    return
            elif verb == "STARTTLS":
                if not self._starttls(conn, sess, faults.get("starttls")):
                    return
            elif verb == "MAIL":
                action = faults.get("mail")
                if not self._act(conn, action, "250 2.1.0 Ok"):
                    return
                mail = action is None or isinstance(action, tuple)
                rcpts = 0
            elif verb == "RCPT":
                action = faults.get("rcpt")
                m = re.search(rb"<([^>]*)>", line)
                addr = m.group(1).decode(errors="replace").lower() \
                    if m else ""
                if addr in self.refuse:
                    action = self.refuse[addr]
                if not mail:
                    ok = conn.send("503 5.5.1 Error: need MAIL command")
                else:
                    ok = self._act(conn, action, "250 2.1.5 Ok")
                    if action is None or isinstance(action, tuple):
                        rcpts += 1
                if not ok:
                    return
            elif verb == "DATA":
                if not self._data(conn, sess, faults, mail, rcpts):
                    return
                mail = False
            elif verb == "BDAT" and self.chunking:
                ok, over = self._bdat(conn, sess, faults, line, mail, rcpts,
                                      chunks)
                if not ok:
                    return
                if over:
                    mail = False
                    chunks = []
            elif verb == "RSET":
                mail = False
                chunks = []
                if not conn.send("250 2.0.0 Ok"):
                    return
            elif verb == "NOOP":
                if not conn.send("250 2.0.0 Ok"):
                    return
            elif verb == "QUIT":
                self._act(conn, faults.get("quit"), "221 2.0.0 Bye")
                return
            else:
                if not conn.send("502 5.5.2 Error: command not "
                                 "recognized"):
                    return

    def _starttls(self, conn, sess, action):
        if action == "garbage":
            conn.send("220 2.0.0 Ready to start TLS")
            try:
                conn.sock.sendall(b"\x00\x01 this is not TLS \xff\r\n")
            except OSError:
                pass
            sess.tls_failed = True
            sess.clear_after_tls = conn.drain(5)
            return False
        if action is not None:
            return self._act(conn, action, "")
        if not conn.send("220 2.0.0 Ready to start TLS"):
            return False
        raw = conn.sock.dup()
        try:
            conn.sock = self._ctx(sess.index).wrap_socket(
                conn.sock, server_side=True)
        except (ssl.SSLError, OSError):
            # The client refused the handshake: whatever it sends after
            # is read from the plain socket.
            sess.tls_failed = True
            sess.clear_after_tls = _Line(raw).drain(5)
            raw.close()
            return False
        raw.close()
        conn.tls = sess.tls = True
        return True

    def _data(self, conn, sess, faults, mail, rcpts):
        if not mail:
            return conn.send("503 5.5.1 Error: need MAIL command")
        if rcpts == 0:
            # RFC 2920: what a relay answers a pipelined DATA when every
            # recipient was refused.
            return conn.send("554 5.5.1 Error: no valid recipients")
        action = faults.get("data")
        if not self._act(conn, action, "354 End data with <CR><LF>.<CR>"
                         "<LF>"):
            return False
        if action is not None and not isinstance(action, tuple):
            return True
        lines = []
        while True:
            line = conn.readline()
            if line is None:
                return False
            if line == b".":
                break
            lines.append(line[1:] if line.startswith(b".") else line)
            if faults.get("body") == "drop" and len(lines) >= 5:
                return False
        return self._received(conn, sess, faults,
                              b"\r\n".join(lines) + b"\r\n")

    def _bdat(self, conn, sess, faults, line, mail, rcpts, chunks):
        """One BDAT chunk: (session goes on, message over)."""
        m = re.match(rb"BDAT +(\d+)( +LAST)? *$", line, re.I)
        if m is None:
            return conn.send("501 5.5.4 Syntax: BDAT count [LAST]"), True
        data = conn.read_exact(int(m.group(1)))
        if data is None:
            return False, True
        last = m.group(2) is not None
        if not mail:
            return conn.send("503 5.5.1 Error: need MAIL command"), True
        if rcpts == 0:
            return conn.send("554 5.5.1 Error: no valid recipients"), True
        if chunks and chunks[0] is None:
            # A chunk before was refused: so is every one after it until
            # RSET (RFC 3030: the transaction failed).
            return conn.send(chunks[1]), last
        if not chunks and faults.get("body") == "drop":
            return False, True
        action = faults.get("data")
        if not chunks and isinstance(action, tuple) and \
                self._stop.wait(action[1]):
            return False, True
        if not chunks and isinstance(action, str) and action[:3].isdigit():
            chunks[:] = [None, action]
            return conn.send(action), last
        chunks.append(data)
        if not last:
            return conn.send("250 2.0.0 %d octets received" %
                             len(data)), False
        return self._received(conn, sess, faults, b"".join(chunks)), True

    def _received(self, conn, sess, faults, data):
        """The whole message read: recorded, and the reply to its end
        (the final dot, or BDAT LAST)."""
        msg = {"data": data, "reply": None}
        with self._cond:
            sess.messages.append(msg)
            if not conn.tls:
                sess.data_in_clear = True
            self._cond.notify_all()
        action = faults.get("dot")
        normal = "250 2.0.0 Ok: queued as %d" % len(self.received())
        if action is None or isinstance(action, tuple):
            reply = normal
        elif isinstance(action, str) and action[:3].isdigit():
            reply = action
        else:
            reply = None
        if not self._act(conn, action, normal):
            return False
        with self._cond:
            msg["reply"] = int(reply[:3])
            self._cond.notify_all()
        if "drop_after" in faults and \
                sum(1 for m in sess.messages if m["reply"] and
                    m["reply"] // 100 == 2) >= faults["drop_after"]:
            return False
        return True


# --------------------------------------------------------------------------
# Helpers


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def code_of(m):
    return h.code_from(parse(m["data"]))


def audit(env, event):
    return [r for r in env.ctl_json("audit", "--limit", "1000")
            if r["event"] == event]


def wait_audit(env, event, timeout=ARRIVAL):
    deadline = time.monotonic() + timeout
    while True:
        recs = audit(env, event)
        if recs:
            return recs
        if time.monotonic() > deadline:
            raise AssertionError("%s never audited:\n%s" %
                                 (event, env.mfad.log_text()))
        time.sleep(0.2)


def code_login(env):
    """A login up to the code prompt: the code mail is queued."""
    login = env.login("alice")
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    login.expect("INFO", h.mask_email(ALICE))
    login.expect("ECHO_ON", PROMPT_CODE)
    return login


def tries_logged(env):
    """The log lines of failed tries."""
    return re.findall(r"mail login_code for alice not sent \(try \d+.*",
                      env.mfad.log_text())


def assert_delivered_once(env, relay, login):
    """The code arrived, logs in, and will never be sent again. Returns
    the message accepted and the detail of its mail_sent record."""
    got = relay.wait_accepted(1)
    h.wait_status(env, lambda s: s["outbox"] == 0, timeout=ARRIVAL)
    sent = wait_audit(env, "mail_sent")
    env.finish_login(login, code_of(got[0]))
    # Out of the outbox and audited once: nothing can send it again.
    assert len(sent) == 1, sent
    assert len(relay.accepted()) == 1, relay.accepted()
    assert audit(env, "mail_failed") == []
    return got[0], sent[0]["detail"]


@pytest.fixture
def world(request):
    """world(relay, config) -> a started MssEnv mailing through relay,
    with user alice; both are stopped afterwards."""
    made = []

    def make(relay, config=None):
        missing = h.missing_binaries()
        if missing:
            pytest.fail("not built (set MSS_BUILDDIR): " + ", ".join(missing))
        relay.start()
        env = h.MssEnv(relay, config)
        made.append((relay, env))
        env.start()
        env.add_user("alice")
        return env

    yield make
    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    for relay, env in made:
        if failed:
            print("---- %s (kept) ----\n%s" % (env.log, env.mfad.log_text()))
        relay.stop()
        env.close(keep=failed)


# --------------------------------------------------------------------------
# Temporary faults: tried again, delivered once


TEMPORARY = [
    # (row, faults of the first session, what the log line must show)
    # mfad cannot tell this from a relay that read the whole message and
    # then lost the connection: the line says the relay may have it.
    ("drop-mid-data", {"body": "drop"},
     r"no answer to the end of the message .*may still deliver it"),
    ("greeting-421", {"greeting": "421 4.3.2 relay busy, come back later"},
     r"421 (4\.3\.2 )?relay busy"),
    ("ehlo-451", {"ehlo": "451 4.3.0 EHLO deferred"},
     r"451 (4\.3\.0 )?EHLO deferred"),
    ("mail-451", {"mail": "451 4.3.0 MAIL deferred"},
     r"451 (4\.3\.0 )?MAIL deferred"),
    # A refused AUTH shows as 530 to MAIL FROM (RFC 4954): the relay's
    # set-up, not this message, so it is retried like a 4xx.
    ("mail-530", {"mail": "530 5.7.0 Authentication required"},
     r"530 (5\.7\.0 )?Authentication required"),
    ("rcpt-450", {"rcpt": "450 4.2.1 mailbox busy"},
     r"450 (4\.2\.1 )?mailbox busy"),
    ("data-451", {"data": "451 4.3.0 DATA deferred"},
     r"451 (4\.3\.0 )?DATA deferred"),
    ("dot-452", {"dot": "452 4.3.1 insufficient system storage"},
     r"452 (4\.3\.1 )?insufficient system storage"),
    # The rows bdat-*: a relay that offers CHUNKING, as Postfix and Exim
    # do by default; libESMTP then sends BDAT chunks instead of DATA.
    ("bdat-first-451", {"data": "451 4.3.0 chunk deferred"},
     r"451 (4\.3\.0 )?chunk deferred"),
    ("bdat-last-452", {"dot": "452 4.3.1 insufficient system storage"},
     r"452 (4\.3\.1 )?insufficient system storage"),
    ("bdat-drop", {"body": "drop"},
     r"no answer to the end of the message .*may still deliver it"),
]


@pytest.mark.parametrize("row,faults,logged", TEMPORARY,
                         ids=[r[0] for r in TEMPORARY])
def test_temporary_fault_retried_and_delivered_once(world, row, faults,
                                                    logged):
    """A 4xx at each step, or a connection dropped in the middle of the
    message: the try fails with a log line naming the relay's answer, the
    message is sent again 2 s later and arrives once; its code logs in."""
    relay = FaultyRelay([faults], chunking=row.startswith("bdat-"))
    env = world(relay)
    login = code_login(env)
    _, detail = assert_delivered_once(env, relay, login)
    lines = tries_logged(env)
    assert len(lines) == 1, lines
    assert re.search(logged, lines[0]), lines[0]
    # The audit trail keeps the fault too.
    assert re.match(r"login_code to=%s after 1 failed try, the last: " %
                    re.escape(h.mask_email(ALICE)), detail), detail
    assert re.search(logged, detail), detail
    assert len(relay.sessions) == 2, [s.commands for s in relay.sessions]
    # The relay got the message's end once before, with a 4xx: that copy
    # was refused, so the one accepted is the only one.
    assert len(relay.received()) == \
        (2 if row in ("dot-452", "bdat-last-452") else 1)


# --------------------------------------------------------------------------
# Permanent faults: dropped at once, audited


PERMANENT = [
    ("mail-550", {"mail": "550 5.7.1 sender address rejected"},
     r"550 (5\.7\.1 )?sender address rejected"),
    ("rcpt-550", {"rcpt": "550 5.1.1 no such user here"},
     r"550 (5\.1\.1 )?no such user here"),
    ("data-554", {"data": "554 5.3.4 transaction refused"},
     r"554 (5\.3\.4 )?transaction refused"),
    ("dot-554", {"dot": "554 5.7.1 message rejected as spam"},
     r"554 (5\.7\.1 )?message rejected as spam"),
    ("bdat-last-554", {"dot": "554 5.7.1 message rejected as spam"},
     r"554 (5\.7\.1 )?message rejected as spam"),
]


@pytest.mark.parametrize("row,faults,answer", PERMANENT,
                         ids=[r[0] for r in PERMANENT])
def test_permanent_refusal_dropped_at_once(world, row, faults, answer):
    """A 5xx to MAIL FROM, RCPT TO, DATA or the final dot refuses this
    message for good: it is dropped after that one session, audited as
    mail_failed with the relay's answer, and never tried again (not kept
    until the code expires)."""
    relay = FaultyRelay([faults], chunking=row.startswith("bdat-"))
    env = world(relay)
    login = code_login(env)
    failed = wait_audit(env, "mail_failed", timeout=20)
    st = h.wait_status(env, lambda s: s["outbox"] == 0, timeout=10)
    assert st["outbox"] == 0
    assert len(failed) == 1, failed
    assert failed[0]["user"] == "alice", failed
    assert re.search(answer, failed[0]["detail"]), failed
    assert audit(env, "mail_sent") == []
    assert tries_logged(env) == []
    assert len(relay.sessions) == 1, [s.commands for s in relay.sessions]
    assert relay.accepted() == []
    login.close()


# --------------------------------------------------------------------------
# Slow relays and lost replies


@pytest.mark.parametrize("row,faults", [
    ("slow-greeting", {"greeting": ("delay", 5)}),
    ("slow-final-reply", {"dot": ("delay", 5)}),
], ids=["slow-greeting", "slow-final-reply"])
def test_slow_relay_within_timeouts_delivers_first_time(world, row, faults):
    """A relay 5 s slow to greet or to answer the final dot (libESMTP
    waits 15 s and 20 s): the first session delivers, nothing is retried
    or sent twice."""
    relay = FaultyRelay([faults])
    env = world(relay)
    login = code_login(env)
    _, detail = assert_delivered_once(env, relay, login)
    assert detail == "login_code to=" + h.mask_email(ALICE)
    assert tries_logged(env) == []
    assert len(relay.sessions) == 1
    assert len(relay.received()) == 1


@pytest.mark.parametrize("chunking", [False, True], ids=["data", "bdat"])
def test_final_reply_never_comes_sent_again_same_message_id(world,
                                                            chunking):
    """A relay that reads the whole message and never answers the final
    dot (or, with CHUNKING, BDAT LAST, after 250 to the chunks before):
    after libESMTP's 20 s, mfad cannot know whether the relay keeps the
    message, logs it and sends it again (SMTP allows this duplicate, RFC
    5321 section 6.1). The relay then holds two copies, one accepted,
    both with the same Message-ID so that a reader can tell it is one
    message; the code logs in."""
    relay = FaultyRelay([{"dot": "hang"}], chunking=chunking)
    env = world(relay)
    login = code_login(env)
    accepted, detail = assert_delivered_once(env, relay, login)
    copies = relay.received()
    assert len(copies) == 2, copies
    assert copies[0]["reply"] is None
    ids = {parse(m["data"])["Message-ID"] for m in copies}
    assert len(ids) == 1 and None not in ids, ids
    assert parse(accepted["data"])["Message-ID"] in ids
    lines = tries_logged(env)
    assert len(lines) == 1, lines
    for text in (lines[0], detail):
        assert re.search(r"no answer to the end of the message .*may "
                         r"still deliver it", text), text


def test_accepted_then_connection_lost_not_sent_again(world):
    """The relay accepts the final dot (250) and drops the connection
    instead of answering QUIT: the message was handed over, so it is
    recorded as sent and never sent again."""
    relay = FaultyRelay([{"quit": "drop"}])
    env = world(relay)
    login = code_login(env)
    _, detail = assert_delivered_once(env, relay, login)
    assert detail == "login_code to=" + h.mask_email(ALICE)
    assert tries_logged(env) == []
    assert len(relay.sessions) == 1
    assert len(relay.received()) == 1


# --------------------------------------------------------------------------
# STARTTLS failures: nothing in clear, delivered once the relay is right


def _tls_world(world, tmp_path, faults, bad=None):
    """A relay offering STARTTLS as `localhost` (certificate from a CA the
    config trusts) after a first session that fails as faults or bad
    says; mfad with tls=starttls."""
    good_dir, bad_dir = tmp_path / "good", tmp_path / "bad"
    good_dir.mkdir()
    bad_dir.mkdir()
    ca, cert, key = h.make_tls(good_dir, "localhost")
    ctxs = [h.server_tls_context(cert, key)]
    if bad == "other-host-name":
        # A CA that ca_file trusts too, so that only the name is wrong.
        ca2, c2, k2 = h.make_tls(bad_dir, "mail.example.net")
        ctxs.insert(0, h.server_tls_context(c2, k2))
        both = tmp_path / "cas.pem"
        both.write_bytes(ca.read_bytes() + ca2.read_bytes())
        ca = both
    elif bad == "unknown-ca":
        _, c2, k2 = h.make_tls(bad_dir, "localhost")
        ctxs.insert(0, h.server_tls_context(c2, k2))
    relay = FaultyRelay([faults], tls=ctxs)
    env = world(relay, {"mail": {"smtp": "localhost:%d" % relay.port,
                                 "tls": "starttls", "ca_file": ca}})
    return relay, env


TLS_ROWS = [
    # (row, faults, bad certificate, what the log line must show)
    ("starttls-454", {"starttls": "454 4.7.0 TLS not available"}, None,
     r"454 (4\.7\.0 )?TLS not available"),
    ("handshake-fails", {"starttls": "garbage"}, None,
     r"TLS failed: .*nothing sent"),
    ("other-host-name", {}, "other-host-name",
     r"certificate refused: .*host ?name mismatch"),
    ("unknown-ca", {}, "unknown-ca",
     r"certificate refused: unable to get local issuer"),
]


@pytest.mark.parametrize("row,faults,bad,logged", TLS_ROWS,
                         ids=[r[0] for r in TLS_ROWS])
def test_starttls_failure_nothing_in_clear(world, tmp_path, row, faults,
                                           bad, logged):
    """The relay offers STARTTLS, then refuses it, breaks the handshake or
    shows a certificate that does not verify: nothing of the message (no
    MAIL, RCPT, DATA, AUTH) goes in clear, the log line says why, and once
    the relay is right again the message arrives inside TLS, once."""
    relay, env = _tls_world(world, tmp_path, faults, bad)
    login = code_login(env)
    _, detail = assert_delivered_once(env, relay, login)
    first = relay.sessions[0]
    assert not first.tls, first.commands
    assert set(first.clear_commands()) <= {"EHLO", "STARTTLS", "QUIT"}, \
        first.commands
    assert not first.data_in_clear and first.messages == []
    for word in (b"MAIL FROM", b"RCPT TO", b"AUTH", b"Subject"):
        assert word not in first.clear_after_tls, first.clear_after_tls
    if row != "starttls-454":
        assert first.tls_failed
    second = relay.sessions[1]
    assert second.tls and not second.data_in_clear, second.commands
    lines = tries_logged(env)
    assert len(lines) == 1, lines
    assert re.search(logged, lines[0]), lines[0]
    assert re.search(logged, detail), detail
