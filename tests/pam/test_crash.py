"""Crash test (issue "Hardening", point 9): mfad is killed with SIGKILL at
a random moment of a mixed load, then started again on the same store,
round after round. The load goes through the real module (loaded by
Linux-PAM in pam_driver), the real mfadctl and, for the replay check, raw
frames on the socket as a trusted PAM caller: logins with mailed codes,
wrong codes, resends, remembered devices, password resets, enrollments of
invited users, `mfadctl import` batches, admin lock and unlock. Each
caller writes down what it was told; after each restart:

- the store opens (mfad starts and answers status);
- every code announced to a caller ("A code was sent", "A new code was
  sent") reaches the relay, or its mail expired with a mail_expired audit
  record: distinct code mails (by Message-ID: a resend after a crash is
  the same message) are at least the announcements, and the outbox
  drains;
- no change reported done is missing: an import batch answered is there
  (and one unanswered is all there or not at all: one transaction), a
  password reset answered "Password changed" leaves the new password
  working, an enrollment answered "succeeded" leaves an active account
  with its password, a lock or unlock answered holds;
- no used code works again: every code accepted over raw frames is
  replayed on its login (never accepted), and a code the module had
  accepted is refused by the next login of that account.

MSS_LONG=1 runs 50 rounds (at least), the default 5. The figures of the
run are printed at the end (pytest -s shows them).
"""

import json
import os
import queue
import random
import threading
import time

import mss_harness as h
from mss_harness import (PAM_AUTH_ERR, PAM_SUCCESS, PASSWORD, PROMPT_CODE,
                         PROMPT_EMAIL, PROMPT_PASSWORD, PROMPT_REMEMBER)

LONG = os.environ.get("MSS_LONG") == "1"
ROUNDS = int(os.environ.get("MSS_CRASH_ROUNDS", 50 if LONG else 5))
# Load before the kill, seconds: long enough for every kind of step to be
# in flight at some kill, short enough for the default run (under two
# minutes with the machine loaded).
LOAD_MIN, LOAD_MAX = 0.3, 3.0
SETTLE = 60                     # seconds for the outbox to drain
# mfad mails an account at most 64 codes an hour, whatever max_sends
# says. The load stops picking an account once this many codes were
# announced to it, which leaves room for a step cut by the kill (a
# resend: two) and for the checks after the restart.
BUDGET = 56

PROMPT_NEW = "New password: "
PROMPT_AGAIN = "Repeat the new password: "
SENT = "code was sent to"       # "A code was sent", "A new code was sent"

REQ_AUTH_START, REQ_CODE = 2, 3
REP_AUTH, REP_CODE = 101, 102

CONFIG = {
    "code": {"ttl": 600, "max_attempts": 5, "resend_interval": 0,
             "max_sends": 64},
    "lockout": {"threshold": 100},
    "mail": {"max_per_minute": 100000},
}


class Killed(Exception):
    """mfad went down under this caller: its step ended unanswered."""


class Ledger:
    """What callers were told, kept under one lock by every worker."""

    def __init__(self):
        self.lock = threading.Lock()
        self.announced = {}     # address -> "code sent" lines shown
        self.module_used = {}   # user -> last code the module had accepted
        self.raw_used = []      # (login token, code) accepted on the wire
        self.password = {}      # user -> password reported in force
        self.maybe_password = {}  # user -> unanswered new password
        self.imports = []       # (rows, answered)
        self.enrolled = {}      # user -> password, enrollment reported
        self.invited = {}       # user -> address, invitation reported
        self.lock_state = {}    # user -> "locked"/"active" reported last
        self.lock_pending = {}  # user -> state asked, unanswered
        self.failures = []      # what went wrong while mfad was up
        self.steps = {}         # kind -> steps completed
        self.cut = {}           # kind -> steps the kill cut short
        self.reset_touched = set()  # users a reset ran for this round
        self.checks = {}        # kind -> checks made after restarts

    def count(self, table, kind, n=1):
        with self.lock:
            table[kind] = table.get(kind, 0) + n

    def announce(self, addr, n):
        if n:
            with self.lock:
                self.announced[addr] = self.announced.get(addr, 0) + n


class Round:
    def __init__(self, env, ledger, n):
        self.env, self.ledger, self.n = env, ledger, n
        self.killed = threading.Event()

    # ------------------------------------------------------------ helpers

    def pick(self, users):
        """One of users still within the code-mail budget, or None."""
        with self.ledger.lock:
            left = [u for u in users if self.ledger.announced.get(
                "%s@example.org" % u, 0) < BUDGET]
        return random.choice(left) if left else None

    def _check_alive(self):
        if self.killed.is_set():
            raise Killed()

    def code(self, addr, timeout=20):
        """The next code mail for addr, or Killed when mfad went down
        before sending it (it is then checked after the restart)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return h.code_from(self.env.smtp.wait_for(
                    addr, timeout=0.3, match=h.has_code))
            except AssertionError:
                self._check_alive()
                if time.monotonic() > deadline:
                    raise

    def finish(self, login, addr):
        """Ends the pam_driver process, reads every line it printed and
        counts the code-sent lines shown for addr."""
        login.close()
        while True:
            try:
                line = login._lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                login.transcript.append(line)
        n = sum(1 for t in login.transcript
                if t.startswith("INFO ") and SENT in t)
        self.ledger.announce(addr, n)

    def step(self, kind, fn, *args):
        """Runs one step; a failure while mfad is up is recorded."""
        try:
            fn(*args)
            self.ledger.count(self.ledger.steps, kind)
            return True
        except Killed:
            self.ledger.count(self.ledger.cut, kind)
            return False
        except Exception as e:          # noqa: BLE001 - recorded
            if not self.killed.is_set():
                self.ledger.failures.append("round %d, %s: %s" %
                                            (self.n, kind, e))
            else:
                self.ledger.count(self.ledger.cut, kind)
            return False

    def expect(self, login, style, text=None):
        try:
            return login.expect(style, text, timeout=20)
        except AssertionError:
            self._check_alive()
            raise

    # --------------------------------------------------------------- load

    def login_step(self, user, wrong, resend, remember):
        """Email, password, code (after a wrong one, after a resend), and
        the remember question when a device is known."""
        env, addr = self.env, "%s@example.org" % user
        rhost = "192.0.2.%d" % random.randint(1, 4)
        login = env.login(user, rhost=rhost)
        try:
            self.expect(login, "ECHO_ON", PROMPT_EMAIL)
            login.answer(addr)
            self.expect(login, "ECHO_OFF", PROMPT_PASSWORD)
            login.answer(self.ledger.password[user])
            style, text = login.next(20)
            if style == "INFO" and "succeeded" in text:
                # A remembered device: no code.
                assert login.result() == PAM_SUCCESS, login.dump()
                return
            assert style == "INFO" and SENT in text, login.dump()
            self.expect(login, "ECHO_ON", PROMPT_CODE)
            code = self.code(addr)
            if resend:
                login.answer("")
                self.expect(login, "INFO", SENT)
                self.expect(login, "ECHO_ON", PROMPT_CODE)
                code = self.code(addr)
            if wrong:
                login.answer(h.wrong_code(code))
                self.expect(login, "ERROR", "Wrong code")
                self.expect(login, "ECHO_ON", PROMPT_CODE)
            login.answer(code)
            style, text = login.next(20)
            if style == "ECHO_ON" and PROMPT_REMEMBER in text:
                login.answer("y" if remember else "n")
                style, text = login.next(20)
            assert style == "INFO" and "succeeded" in text, login.dump()
            assert login.result() == PAM_SUCCESS, login.dump()
            with self.ledger.lock:
                self.ledger.module_used[user] = code
        except AssertionError:
            self._check_alive()
            raise
        finally:
            self.finish(login, addr)

    def reset_step(self, user):
        """Forgot password: empty password, code, a new password twice;
        "Password changed" is the report that the change is done."""
        env, addr = self.env, "%s@example.org" % user
        new = "reset %d %d %s" % (self.n, random.randrange(10 ** 6), user)
        with self.ledger.lock:
            self.ledger.reset_touched.add(user)
        login = env.login(user)
        try:
            self.expect(login, "ECHO_ON", PROMPT_EMAIL)
            login.answer(addr)
            self.expect(login, "ECHO_OFF", PROMPT_PASSWORD)
            login.answer("")
            self.expect(login, "INFO", "reset")
            self.expect(login, "INFO", SENT)
            self.expect(login, "ECHO_ON", PROMPT_CODE)
            login.answer(self.code(addr))
            self.expect(login, "ECHO_OFF", PROMPT_NEW)
            login.answer(new)
            self.expect(login, "ECHO_OFF", PROMPT_AGAIN)
            with self.ledger.lock:
                self.ledger.maybe_password[user] = new
            login.answer(new)
            self.expect(login, "ERROR", "log in again")
            assert login.result() == PAM_AUTH_ERR, login.dump()
            with self.ledger.lock:
                self.ledger.password[user] = new
                del self.ledger.maybe_password[user]
        except AssertionError:
            self._check_alive()
            raise
        finally:
            self.finish(login, addr)

    def enroll_step(self, i):
        """An invitation by mfadctl, then the enrollment through the
        module; "succeeded" is the report that the account is active."""
        env = self.env
        user = "en%d_%d" % (self.n, i)
        addr = "%s@example.org" % user
        rc, _, err = env.ctl("user", "add", user, "--email", addr)
        if rc == h.CTL_UNREACHABLE:
            raise Killed()
        assert rc == h.CTL_OK, err
        with self.ledger.lock:
            self.ledger.invited[user] = addr
        password = "enrolled %s passphrase" % user
        login = env.login(user)
        try:
            self.expect(login, "ECHO_ON", PROMPT_EMAIL)
            login.answer(addr)
            self.expect(login, "ECHO_OFF", PROMPT_PASSWORD)
            login.answer("")
            self.expect(login, "INFO", "reset")
            self.expect(login, "INFO", SENT)
            self.expect(login, "ECHO_ON", PROMPT_CODE)
            login.answer(self.code(addr))
            self.expect(login, "INFO", "confirmed")
            self.expect(login, "ECHO_OFF", PROMPT_NEW)
            login.answer(password)
            self.expect(login, "ECHO_OFF", PROMPT_AGAIN)
            login.answer(password)
            self.expect(login, "INFO", "Enrollment complete")
            self.expect(login, "INFO", "succeeded")
            assert login.result() == PAM_SUCCESS, login.dump()
            with self.ledger.lock:
                self.ledger.enrolled[user] = password
        except AssertionError:
            self._check_alive()
            raise
        finally:
            self.finish(login, addr)

    def import_step(self, i):
        """One import request (at most 64 rows: one transaction)."""
        rows = ["im%d_%d_%d" % (self.n, i, j)
                for j in range(random.randint(1, 20))]
        text = "".join("%s,%s@example.org,en\n" % (u, u) for u in rows)
        entry = [rows, False]
        with self.ledger.lock:
            self.ledger.imports.append(entry)
        rc, out, err = self.env.ctl("--json", "import", "-", input=text)
        if rc == h.CTL_UNREACHABLE:
            raise Killed()
        assert rc == h.CTL_OK, (out, err)
        results = json.loads(out)
        assert [r.get("result") for r in results] == ["added"] * len(rows)
        entry[1] = True

    def lock_step(self, user):
        """Lock then unlock (unlock first if a crash left it locked),
        each answered or not."""
        steps = [("lock", "locked"), ("unlock", "active")]
        if self.ledger.lock_state.get(user) == "locked":
            steps = steps[1:] + steps
        for verb, state in steps:
            with self.ledger.lock:
                self.ledger.lock_pending[user] = state
            rc, _, err = self.env.ctl("user", verb, user)
            if rc == h.CTL_UNREACHABLE:
                raise Killed()
            assert rc == h.CTL_OK, err
            with self.ledger.lock:
                self.ledger.lock_state[user] = state
                del self.ledger.lock_pending[user]

    def raw_step(self, user):
        """AUTH_START and CODE as frames (pam_mss's requests, as root: a
        trusted PAM caller), keeping the login token for the replay."""
        addr = "%s@example.org" % user
        payload = b"".join(h.pstr(s) for s in (
            "mss-raw", user, addr, self.ledger.password[user], "", "", "",
            "en")) + (0).to_bytes(4, "big")
        rep = self._raw(REQ_AUTH_START, payload)
        assert rep is not None and rep[0] == REP_AUTH, rep
        body = rep[1]
        result = body[0]
        n = int.from_bytes(body[1:5], "big")
        token = body[5:5 + n].decode()
        assert result == 2, "AUTH result %d" % result
        self.ledger.announce(addr, 1)
        code = self.code(addr)
        if random.random() < 0.3:
            rep = self._raw(REQ_CODE, h.pstr(token) +
                            h.pstr(h.wrong_code(code)))
            assert rep is not None and rep[0] == REP_CODE and \
                rep[1][0] == 1, rep
        rep = self._raw(REQ_CODE, h.pstr(token) + h.pstr(code))
        assert rep is not None and rep[0] == REP_CODE, rep
        assert rep[1][0] == 0, "CODE result %d" % rep[1][0]
        with self.ledger.lock:
            self.ledger.raw_used.append((token, code))

    def _raw(self, type_, payload):
        try:
            rep = h.raw_request(self.env.sock, type_, payload, timeout=20)
        except OSError:
            self._check_alive()
            raise
        if rep is None:
            self._check_alive()
        return rep

    # ------------------------------------------------------------ workers

    def run(self, users):
        stop = threading.Event()
        counter = iter(range(10 ** 6))

        def loop(kind, pick, pause):
            while not stop.is_set() and not self.killed.is_set():
                picked = pick()
                if picked is None:
                    return              # every account used its budget
                fn, args = picked
                if not self.step(kind, fn, *args):
                    return
                # Admin commands take a few milliseconds: paced, so that
                # they do not crowd the logins out of the window.
                time.sleep(random.uniform(0, pause))

        def user_step(fn, group, *extra):
            def pick():
                user = self.pick(users[group])
                if user is None:
                    return None
                return fn, (user,) + tuple(f() for f in extra)
            return pick

        def chance():
            return random.random() < 0.3

        workers = [
            ("login", user_step(self.login_step, "login",
                                chance, chance, chance), 0),
            ("login", user_step(self.login_step, "login2",
                                chance, chance, chance), 0),
            ("reset", user_step(self.reset_step, "reset"), 0),
            ("enroll", lambda: (self.enroll_step, (next(counter),)), 0),
            ("import", lambda: (self.import_step, (next(counter),)), 0.3),
            ("lock", lambda u=users["lock"]: (self.lock_step,
                                             (random.choice(u),)), 0.3),
            ("raw", user_step(self.raw_step, "raw"), 0),
        ]
        threads = [threading.Thread(target=loop, args=w, daemon=True)
                   for w in workers]
        for t in threads:
            t.start()
        time.sleep(random.uniform(LOAD_MIN, LOAD_MAX))
        self.killed.set()
        self.env.mfad.proc.kill()       # SIGKILL
        self.env.mfad.proc.wait()
        stop.set()
        for t in threads:
            t.join(60)
            assert not t.is_alive(), "a worker did not stop"


# ---------------------------------------------------------------- checks


def _message_ids(smtp, addr):
    with smtp._cond:
        return {m["Message-ID"] for _, rcpts, m in smtp.messages
                if addr in rcpts and h.has_code(m)}


def _skip_mail(smtp):
    """Marks every mail received so far as read, so that a late copy
    never passes for the next login's code."""
    with smtp._cond:
        for i, (_, rcpts, _) in enumerate(smtp.messages):
            for r in rcpts:
                smtp._taken.setdefault(r, set()).add(i)


def _audit_count(env, event, user):
    rc, out, _ = env.ctl("--json", "audit", "--user", user)
    assert rc == h.CTL_OK
    return sum(1 for r in json.loads(out) if r["event"] == event)


def _state(env, user):
    rc, out, _ = env.ctl("--json", "user", "show", user)
    return json.loads(out)["state"] if rc == h.CTL_OK else None


def _login_works(env, ledger, user, password, used=None):
    """A full login with password; a used code answered first must be
    refused. Returns the code accepted."""
    addr = "%s@example.org" % user
    login, code = env.start_login(user, addr=addr, password=password)
    ledger.announce(addr, 1)
    if used is not None and used != code:
        login.answer(used)
        login.expect("ERROR", "Wrong code")
        login.expect("ECHO_ON", PROMPT_CODE)
    env.finish_login(login, code)
    return code


def _password_in_force(env, ledger, user, candidates):
    """Which of candidates opens the account (a code-sent answer)."""
    addr = "%s@example.org" % user
    for pw in candidates:
        login = env.login(user)
        login.expect("ECHO_ON", PROMPT_EMAIL)
        login.answer(addr)
        login.expect("ECHO_OFF", PROMPT_PASSWORD)
        login.answer(pw)
        style, text = login.next()
        if style == "INFO" and SENT in text:
            ledger.announce(addr, 1)
            # To the end: a login that fails waits out PAM's fail delay.
            login.expect("ECHO_ON", PROMPT_CODE)
            env.finish_login(login, env.smtp.wait_for_code(addr,
                                                            timeout=20))
            return pw
        login.close()
    return None


def check_mailed(env, L):
    """Every code announced so far, in the load or by a check, was
    mailed, or its mail expired with an audit record; the outbox is
    empty."""
    h.wait_status(env, lambda st: st["outbox"] == 0, timeout=SETTLE)
    for addr, n in sorted(L.announced.items()):
        user = addr.split("@")[0]
        deadline = time.monotonic() + 20
        while len(_message_ids(env.smtp, addr)) < n and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        got = len(_message_ids(env.smtp, addr))
        if got < n:
            got += _audit_count(env, "mail_expired", user)
        assert got >= n, "%s: %d codes announced, %d mailed" % (addr, n, got)


def check(env, ledger):
    L = ledger
    check_mailed(env, L)
    _skip_mail(env.smtp)

    # Used codes never work again: replayed on their own login...
    for token, code in L.raw_used:
        rep = h.raw_request(env.sock, REQ_CODE, h.pstr(token) + h.pstr(code))
        assert rep is not None and rep[0] == REP_CODE, rep
        assert rep[1][0] != 0, "a used code was accepted again"
        L.count(L.checks, "raw codes replayed", 1)
    # ... and answered to the next login of the account.
    for user, code in sorted(L.module_used.items()):
        _login_works(env, L, user, L.password[user], used=code)
        L.count(L.checks, "module codes refused", 1)
    L.module_used = {}

    # Passwords: a reported reset holds; an unanswered one is either.
    for user in sorted(L.reset_touched):
        cands = [L.password[user]]
        if user in L.maybe_password:
            cands.append(L.maybe_password.pop(user))
        pw = _password_in_force(env, L, user, cands)
        assert pw is not None, "%s: no password opens the account" % user
        L.password[user] = pw
        L.count(L.checks, "passwords in force", 1)
    L.reset_touched = set()
    _skip_mail(env.smtp)

    # Imports: an answered batch is there whole; an unanswered one is
    # there whole or not at all.
    for rows, answered in L.imports:
        states = [_state(env, u) for u in rows]
        there = sum(1 for s in states if s is not None)
        assert there in (0, len(rows)), \
            "an import half there: %d of %d" % (there, len(rows))
        assert not answered or there == len(rows), "an import is missing"
        assert all(s in (None, "invited") for s in states), states
        L.count(L.checks, "import rows", len(rows))
    L.imports = []

    # Enrollments reported: active, and the password opens the account.
    for user, pw in sorted(L.enrolled.items()):
        assert _state(env, user) == "active", user
        assert _password_in_force(env, L, user, [pw]) == pw, user
        L.count(L.checks, "enrollments", 1)
    for user in L.invited:
        assert _state(env, user) in ("invited", "active"), user
        L.count(L.checks, "invitations", 1)
    L.enrolled, L.invited = {}, {}
    _skip_mail(env.smtp)

    # Lock and unlock: the last answered holds unless one was in flight.
    for user, state in sorted(L.lock_state.items()):
        got = _state(env, user)
        pending = L.lock_pending.pop(user, None)
        assert got == state or got == pending, (user, state, pending, got)
        L.lock_state[user] = got
        L.count(L.checks, "lock states", 1)
    for user in list(L.lock_pending):
        L.lock_state[user] = _state(env, user)
        del L.lock_pending[user]


def test_kill_9_under_mixed_load(make_env):
    env = make_env(CONFIG)
    # mfad keeps at most 64 code mails an hour per account, whatever
    # max_sends says: the load that mails codes runs on new accounts each
    # round, and within BUDGET on each.
    users = {"lock": ["lk0"]}
    ledger = Ledger()
    stats = {"kills": 0, "rounds": 0}

    def add(user):
        env.add_user(user)
        ledger.password[user] = PASSWORD

    for group in users.values():
        for user in group:
            add(user)
    for user in users["lock"]:
        ledger.lock_state[user] = "active"
    env.service("mss-test")

    started = time.monotonic()
    for n in range(ROUNDS):
        for kind, prefix, count in (("login", "lo", 3), ("login2", "lp", 3),
                                    ("reset", "rs", 2), ("raw", "rw", 2)):
            users[kind] = ["%s%d_%d" % (prefix, n, i) for i in range(count)]
            for user in users[kind]:
                add(user)
        rnd = Round(env, ledger, n)
        rnd.run(users)
        stats["kills"] += 1
        assert not ledger.failures, "\n".join(ledger.failures)
        # The store opens every time.
        env.mfad.start()
        check(env, ledger)
        stats["rounds"] += 1
        assert not ledger.failures, "\n".join(ledger.failures)
    # The codes the last checks announced went out too.
    check_mailed(env, ledger)
    elapsed = time.monotonic() - started
    print("\ncrash test: %d rounds, %d kills (SIGKILL), %.0f s" %
          (stats["rounds"], stats["kills"], elapsed))
    print("  steps completed: %s" % json.dumps(ledger.steps, sort_keys=True))
    print("  steps cut by a kill: %s" % json.dumps(ledger.cut,
                                                   sort_keys=True))
    print("  checks after restarts: %s" %
          json.dumps(ledger.checks, sort_keys=True))
    print("  codes announced: %d, code mails received: %d (distinct "
          "messages), %d copies" % (
              sum(ledger.announced.values()),
              sum(len(_message_ids(env.smtp, a)) for a in ledger.announced),
              env.smtp.count(match=h.has_code)))
    assert stats["rounds"] >= ROUNDS
    # Every kind of step ran (else the load checked nothing of it).
    for kind in ("login", "reset", "enroll", "import", "lock", "raw"):
        assert ledger.steps.get(kind, 0) > 0 or ROUNDS < 5, kind
