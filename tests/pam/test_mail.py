"""Mail delivery as a mail administrator would accept it (issue 7;
SECURITY.md rules 10 and 26-28; DESIGN.md sections 4 and 5).

Every test runs its own aiosmtpd relay on 127.0.0.1 (mss_harness.RelayServer):
with STARTTLS and a certificate made by the test, with AUTH, without
STARTTLS, slow, or down for a while. mfad, mfadctl and pam_mss are the
real ones.
"""

import concurrent.futures
import json
import email
import email.policy
import email.utils
import os
import re
import socket
import subprocess
import time

import pytest

import mss_harness as h
from mss_harness import (PAM_SUCCESS, PROMPT_CODE, PROMPT_EMAIL,
                         PROMPT_PASSWORD)

ALICE = "alice@example.org"
FROM = "mfad@example.org"
CREDS = {PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD}


@pytest.fixture
def world(request, tmp_path):
    """world(relay=RelayServer(...), config={...}, start=True) -> MssEnv
    whose smtp is that relay (started unless relay_up=False), with user
    alice; the relay and mfad are stopped afterwards."""
    made = []

    def make(relay=None, config=None, start=True, relay_up=True,
             users=("alice",)):
        missing = h.missing_binaries(daemon=start)
        if missing:
            pytest.fail("not built (set MSS_BUILDDIR): " + ", ".join(missing))
        relay = relay or h.RelayServer()
        if relay_up:
            relay.start()
        env = h.MssEnv(relay, config)
        made.append((relay, env))
        if start:
            env.start()
            for u in users:
                env.add_user(u)
        return env

    make.tmp = tmp_path
    yield make
    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    for relay, env in made:
        if failed:
            print("---- %s (kept) ----\n%s" % (env.log, env.mfad.log_text()))
        env.close(keep=failed)
        relay.stop()


def tls_config(relay, ca=None, **mail):
    """[mail] for STARTTLS to the relay by the name localhost."""
    keys = {"smtp": "localhost:%d" % relay.port, "tls": "starttls"}
    if ca is not None:
        keys["ca_file"] = ca
    keys.update(mail)
    return {"mail": keys}


def tls_relay(tmp, hostname="localhost", **kw):
    ca, cert, key = h.make_tls(tmp, hostname)
    ctx = h.server_tls_context(cert, key)
    return h.RelayServer(tls_context=ctx, require_starttls=True, **kw), ca


def write_auth_file(path, user, password, mode=0o600):
    path.write_text("%s\n%s\n" % (user, password))
    os.chmod(path, mode)
    return path


def login_until_code_prompt(env, addr=ALICE, **kw):
    """Email, password, code-sent notice, code prompt; returns the login."""
    login = env.login(addr.split("@")[0], **kw)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(addr)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    login.expect("INFO", h.mask_email(addr))
    login.expect("ECHO_ON", PROMPT_CODE)
    return login


def fail_login(login):
    """At the code prompt: wrong codes until pam_mss gives up; returns the
    PAM result."""
    login.answer("000000")
    return login.run({PROMPT_CODE: "000000"}, default="000000", timeout=30)


def last_error(env):
    return h.status_json(env).get("last_mail_error") or ""


def wait_error(env, pattern, timeout=30):
    """Waits until status shows a last relay error matching pattern."""
    st = h.wait_status(env, lambda s: re.search(
        pattern, s.get("last_mail_error") or "", re.I) is not None, timeout)
    return st["last_mail_error"]


# --------------------------------------------------------------------------
# Transport security


def test_starttls_verified_mail_arrives_and_login_completes(world):
    """SECURITY 26: with tls=starttls and ca_file naming the test's CA, a
    relay whose certificate is for `localhost` gets the code mail over
    STARTTLS and the login completes."""
    relay, ca = tls_relay(world.tmp)
    env = world(relay, tls_config(relay, ca))
    env.full_login()
    assert relay.count(ALICE) >= 1
    assert last_error(env) == ""


def test_relay_without_starttls_nothing_sent(world):
    """SECURITY 26: a relay that does not offer STARTTLS gets nothing under
    tls=starttls; the login fails and `mfadctl status` names STARTTLS as
    the last relay error."""
    relay = h.RelayServer()
    env = world(relay, tls_config(relay))
    login = login_until_code_prompt(env)
    err = wait_error(env, r"STARTTLS")
    assert fail_login(login) != PAM_SUCCESS, login.dump()
    assert relay.count() == 0, err


@pytest.mark.parametrize("case", ["other-host-name", "unknown-ca"])
def test_bad_certificate_nothing_sent(world, case):
    """SECURITY 26: a certificate for another host name, or one from a CA
    that ca_file (or the system) does not trust, means nothing is sent and
    the last relay error speaks of the certificate."""
    if case == "other-host-name":
        relay, ca = tls_relay(world.tmp, "mail.example.net")
    else:
        relay, _ = tls_relay(world.tmp)
        ca = None
    env = world(relay, tls_config(relay, ca))
    login = login_until_code_prompt(env)
    wait_error(env, r"certificate|verify")
    assert fail_login(login) != PAM_SUCCESS, login.dump()
    relay.assert_no_mail(wait=1)


def test_auth_required_and_given_mail_arrives(world):
    """SECURITY 26 and issue 7 section 1: SMTP AUTH with the credentials of
    a 0600 auth_file, inside STARTTLS, to a relay that requires it: the
    code mail arrives and the login completes."""
    relay, ca = tls_relay(world.tmp, credentials=("mailer", "s3cret pa:ss"))
    auth = write_auth_file(world.tmp / "auth", "mailer", "s3cret pa:ss")
    env = world(relay, tls_config(relay, ca, auth_file=auth))
    env.full_login()
    assert ("mailer", True) in relay.auth_attempts
    assert "s3cret" not in env.mfad.wait_log("event=mail_sent")


def test_auth_file_without_tls_refused(world):
    """SMTP AUTH only inside STARTTLS: with tls = none an auth_file makes
    mfad -t fail and mfad refuse to start, with the file's line (PLAIN
    and LOGIN would show the password to anyone on the path, and Debian's
    libESMTP has no CRAM-MD5)."""
    relay = h.RelayServer()
    auth = write_auth_file(world.tmp / "auth", "mailer", "s3cret pa:ss")
    env = world(relay, {"mail": {"smtp": "127.0.0.1:%d" % relay.port,
                                 "tls": "none", "auth_file": auth}},
                start=False)
    line = next(n for n, text in enumerate(
        env.conf.read_text().splitlines(), 1)
        if text.startswith("auth_file"))
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(env.conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith("mfad: %s:%d: [mail] auth_file needs tls = "
                               "starttls" % (env.conf, line)), r.stderr
    with pytest.raises(AssertionError) as exc:
        env.start()
    assert "auth_file needs tls = starttls" in str(exc.value)


def test_auth_wrong_password_nothing_sent_and_logged(world):
    """SECURITY 26: a wrong AUTH password: the relay accepts nothing, mfad
    keeps the message for a retry and logs why (the relay's answer), and
    the password never appears in the log."""
    relay, ca = tls_relay(world.tmp, credentials=("mailer", "right one"))
    auth = write_auth_file(world.tmp / "auth", "mailer", "wrong one")
    env = world(relay, tls_config(relay, ca, auth_file=auth))
    login = login_until_code_prompt(env)
    err = wait_error(env, r"\b5\d\d\b")
    assert str(auth) in err, err
    assert fail_login(login) != PAM_SUCCESS, login.dump()
    assert relay.count() == 0
    assert ("mailer", False) in relay.auth_attempts
    h.wait_until(lambda: re.search(r"mail_failed|not sent \(try",
                                   env.mfad.log_text()), what="mail_failed")
    log = env.mfad.log_text()
    assert "wrong one" not in log and "right one" not in log


def test_auth_file_readable_by_others_refused(world):
    """Issue 7 section 1: an auth_file that group or others may read makes
    `mfad -t` fail and mfad refuse to start, naming the file."""
    relay, ca = tls_relay(world.tmp, credentials=("mailer", "pw"))
    auth = write_auth_file(world.tmp / "auth", "mailer", "pw", mode=0o644)
    env = world(relay, tls_config(relay, ca, auth_file=auth), start=False)
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(env.conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert str(auth) in r.stderr, r.stderr
    with pytest.raises(AssertionError) as exc:
        env.start()
    assert str(auth) in str(exc.value)
    assert not env.mfad.running

    os.chmod(auth, 0o600)
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(env.conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)


# --------------------------------------------------------------------------
# Durable outbox


def test_relay_down_then_up_code_still_works(world):
    """DESIGN 5: the relay is down for 10 s while a code is queued; the
    mail arrives once it is back, and the code still logs in."""
    env = world()
    env.smtp.stop()
    login = login_until_code_prompt(env)
    wait_error(env, r"refused|relay")
    time.sleep(10)
    assert env.smtp.count() == 0
    env.smtp.start()
    code = env.smtp.wait_for_code(ALICE, timeout=90)
    env.finish_login(login, code)
    h.wait_status(env, lambda s: s["outbox"] == 0)


def test_mail_expired_dropped_and_audited(world):
    """DESIGN 5, SECURITY 2: with ttl=5 and the relay down, the queued code
    mail is dropped once the code expires, audited as mail_expired, the
    outbox empties, and nothing is sent when the relay comes back."""
    env = world(config={"code": {"ttl": 5}})
    env.smtp.stop()
    login = login_until_code_prompt(env)
    h.wait_audited(env, "mail_expired", timeout=90)
    st = h.wait_status(env, lambda s: s["outbox"] == 0)
    assert st["outbox"] == 0
    login.close()
    env.smtp.start()
    env.smtp.assert_no_mail(wait=3)


def test_slow_relay_does_not_stall_logins(world):
    """DESIGN 2 (a slow relay never stalls a login), SECURITY 25: with a
    relay that takes 5 s per message, 50 code logins all get their code
    prompt (the mail is queued, not sent on the request's path) and
    remembered-device logins keep succeeding meanwhile. Only success is
    asserted; the times are printed for the record."""
    relay = h.RelayServer(delay=5)
    users = ["alice"] + ["user%d" % i for i in range(5)]
    env = world(relay, users=users)
    # A remembered device first (its code mail takes the relay's 5 s).
    login, code = env.start_login(rhost="192.0.2.7")
    env.finish_login(login, code, remember="y")

    def code_login(i):
        user = users[1 + i % 5]
        addr = "%s@example.org" % user
        lg = env.login(user, rhost="198.51.100.%d" % (i + 1))
        lg.expect("ECHO_ON", PROMPT_EMAIL, timeout=60)
        lg.answer(addr)
        lg.expect("ECHO_OFF", PROMPT_PASSWORD, timeout=60)
        lg.answer(h.PASSWORD)
        lg.expect("INFO", h.mask_email(addr), timeout=60)
        lg.expect("ECHO_ON", PROMPT_CODE, timeout=60)
        return lg

    n = int(os.environ.get("MSS_SLOW_LOGINS", "50"))
    fast = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        started = time.monotonic()
        futures = [pool.submit(code_login, i) for i in range(n)]
        for _ in range(5):
            t0 = time.monotonic()
            lg = env.login(rhost="192.0.2.7")
            assert lg.run(CREDS) == PAM_SUCCESS, lg.dump()
            assert not any(PROMPT_CODE in t for _, t in lg.lines())
            fast.append(time.monotonic() - t0)
        waiting = [f.result() for f in futures]
        spent = time.monotonic() - started
        # Each gives up after pam_mss's failure delay: end them together.
        list(pool.map(h.Login.close, waiting))
    assert len(waiting) == n
    depth = h.status_json(env)["outbox"]
    print("\nslow relay (5 s a message): %d code logins reached the code "
          "prompt in %.2f s; outbox depth then %d; remembered-device "
          "logins took %s s" % (n, spent, depth,
                                ", ".join("%.3f" % t for t in fast)))


def test_mail_test_reports_relay_answer(world):
    """Issue 7 section 7: `mfadctl mail test ADDR` sends now and reports
    the relay's answer: exit 0 and the message arrives; with the relay
    down, exit 1 and the error."""
    env = world()
    rc, out, err = env.ctl("mail", "test", "ops@example.org")
    assert rc == h.CTL_OK, (out, err)
    msg = env.smtp.wait_for("ops@example.org")
    assert "mfad" in msg["Subject"]
    env.smtp.stop()
    rc, out, err = env.ctl("mail", "test", "ops@example.org")
    assert rc == h.CTL_REFUSED, (out, err)
    assert re.search(r"relay|refused|connect", out + err, re.I), (out, err)


def test_relay_tests_leave_the_workers_to_logins(world):
    """`mfadctl mail test` waits on the relay on a thread of its own, not
    on a worker (mfad starts one worker a core): with two tests held by a
    relay that answers DATA after 5 s, a login gets past its password
    check to the code prompt before either test is answered, and both
    tests then succeed. On two cores the tests would hold every worker."""
    relay = h.RelayServer(delay=5)
    env = world(relay)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        tests = [pool.submit(env.ctl, "mail", "test", "ops%d@example.org" % i)
                 for i in range(2)]
        relay.wait_in_data(2)
        lg = env.login(rhost="198.51.100.1")
        lg.expect("ECHO_ON", PROMPT_EMAIL, timeout=60)
        lg.answer("alice@example.org")
        lg.expect("ECHO_OFF", PROMPT_PASSWORD, timeout=60)
        lg.answer(h.PASSWORD)
        lg.expect("INFO", h.mask_email("alice@example.org"), timeout=60)
        lg.expect("ECHO_ON", PROMPT_CODE, timeout=60)
        answered = [f.done() for f in tests]
        lg.close()
        results = [f.result() for f in tests]
    assert answered == [False, False], "a relay test was answered first"
    assert [r[0] for r in results] == [h.CTL_OK] * 2, results


# --------------------------------------------------------------------------
# Header safety


def test_header_injection_refused(world):
    """SECURITY 27: CR, LF or NUL in a header-bound value is refused: an
    enrollment address (by mfadctl and by mfad itself), a test address, the
    configured From; and a remote host name with a line break never turns
    into a header."""
    env = world()
    evil = "eve@example.org\r\nBcc: x@evil.example"
    for addr in (evil, "eve@example.org\nBcc: x@evil.example",
                 "eve@example.org\\r\\nBcc: x@evil.example"):
        rc, out, err = env.ctl("user", "add", "eve", "--email", addr)
        assert rc in (h.CTL_REFUSED, h.CTL_USAGE), (addr, rc, out, err)
    assert env.ctl("user", "show", "eve")[0] == h.CTL_REFUSED

    # The daemon refuses on its own, whatever the client checks.
    for addr in (evil, "eve@example.org\x00Bcc: x@evil.example"):
        rep = h.raw_request(env.sock, 20, h.pstr("eve") + h.pstr(addr) +
                            h.pstr("en") + h.pstr(""))
        assert rep is None or (rep[0] == h.REP_RESULT and
                               int.from_bytes(rep[1][:4], "big") != 0), rep
        rep = h.raw_request(env.sock, 29, h.pstr(addr))
        assert rep is None or (rep[0] == h.REP_RESULT and
                               int.from_bytes(rep[1][:4], "big") != 0), rep
    assert env.ctl("user", "show", "eve")[0] == h.CTL_REFUSED

    # A remote host name with a line break: no extra header, no extra
    # recipient, whatever happens to the login.
    login = env.login(rhost="192.0.2.1\r\nBcc: x@evil.example")
    login.run(CREDS, default="000000", timeout=30)
    time.sleep(2)
    for _, rcpts, msg in env.smtp.messages:
        assert rcpts == [ALICE], rcpts
        assert msg["Bcc"] is None and "evil" not in str(msg["Subject"])
    for raw in env.smtp.raw:
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert b"evil" not in head, head
    assert env.smtp.count("x@evil.example") == 0

    # From with a CR inside its line: a configuration error, file:line.
    env.mfad.stop()
    text = env.conf.read_text().replace(
        "from = %s" % FROM, "from = %s\rBcc: x@evil.example" % FROM)
    assert "\r" in text
    env.conf.write_text(text)
    r = subprocess.run([str(h.MFAD), "-t", "-c", str(env.conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(r"%s:\d+:" % re.escape(str(env.conf)), r.stderr), \
        r.stderr
    with pytest.raises(AssertionError):
        env.mfad.start()


# --------------------------------------------------------------------------
# Content


def expand(template, values):
    """The template's placeholders replaced as mfad does; "{{" is "{"."""
    return re.sub(r"\{\{|\{([a-z]+)\}",
                  lambda m: "{" if m.group(0) == "{{" else
                  values[m.group(1)], template)


TIME_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")


def test_french_accents_survive_round_trip(world):
    """Issue 7 section 3: a user with --lang fr gets the French template;
    the received message, decoded, is exactly the template's expansion,
    accents included, in the subject and the body."""
    env = world(users=())
    env.add_user("alice", lang="fr")
    login, code = env.start_login(rhost="192.0.2.9")
    msg = env.smtp.messages[-1][2]
    body = h.body_text(msg).replace("\r\n", "\n")
    env.finish_login(login, code, remember="n")

    tmpl = (h.TEMPLATES / "fr" / "login_code.txt").read_text("utf-8")
    subj_t, _, body_t = tmpl.partition("\n\n")
    assert subj_t.startswith("Subject: ")
    when = TIME_RE.search(body)
    assert when, body
    values = {"code": code, "minutes": "5", "duration": "5 minutes",
              "host": socket.gethostname(),
              "service": "mss-test", "rhost": "192.0.2.9", "user": "alice",
              "masked": h.mask_email(ALICE), "time": when.group(0)}
    assert str(msg["Subject"]) == expand(subj_t[len("Subject: "):], values)
    assert body.rstrip("\n") == expand(body_t, values).rstrip("\n")
    assert "à" in str(msg["Subject"]) and "été" in body and "Détails" in body


def test_message_format(world):
    """SECURITY 27, 28 and issue 7 section 3: Date, Message-ID, From, To,
    MIME-Version, an RFC 2047 Subject (non-ASCII here), text/plain;
    charset=UTF-8 in quoted-printable, Auto-Submitted: auto-generated,
    7-bit lines of at most 78 characters, and the code in the body only."""
    env = world(users=())
    env.add_user("alice", lang="fr")
    login, code = env.start_login()
    env.finish_login(login, code)
    raw = env.smtp.raw[-1]
    msg = email.message_from_bytes(raw, policy=email.policy.default)

    head, _, rawbody = raw.partition(b"\r\n\r\n")
    assert all(b < 0x80 for b in raw), "8-bit bytes in the message"
    for line in raw.split(b"\r\n"):
        assert len(line) <= 78, line
    names = [k.lower() for k, _ in msg.raw_items()]
    for name in ("date", "message-id", "from", "to", "mime-version",
                 "subject", "content-type", "content-transfer-encoding",
                 "auto-submitted"):
        assert names.count(name) == 1, (name, names)
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.org>", msg["Message-ID"])
    assert msg["From"] == FROM and msg["To"] == ALICE
    assert msg["MIME-Version"] == "1.0"
    raw_subject = dict((k.lower(), v) for k, v in msg.raw_items())["subject"]
    assert raw_subject.lstrip().startswith("=?UTF-8?B?"), raw_subject
    assert "à" in str(msg["Subject"])
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert msg["Auto-Submitted"] == "auto-generated"
    for k, v in msg.raw_items():
        assert code not in v and code not in str(msg[k]), (k, v)
    assert code in h.body_text(msg)
    assert code.encode() not in head
    if os.environ.get("MSS_SHOW_MAIL"):
        print("\n" + head.decode() + "\n\n" + h.body_text(msg))


# --------------------------------------------------------------------------
# Throttling


def test_global_ceiling_throttles_fourth_code(world):
    """SECURITY 10 and issue 7 section 6: with [mail] max_per_minute = 3,
    the 4th code request within a minute is refused with a clear message
    and nothing is queued: only 3 mails ever arrive."""
    env = world(config={"mail": {"max_per_minute": 3}})
    for _ in range(3):
        login, code = env.start_login()
        env.finish_login(login, code)
    login = env.login()
    assert login.run(CREDS, default="000000") != PAM_SUCCESS
    errors = [t for s, t in login.lines("ERROR")]
    assert any(re.search(r"too many|try again", t, re.I) for t in errors), \
        login.dump()
    assert not any(PROMPT_CODE in t for _, t in login.lines())
    assert h.status_json(env)["outbox"] == 0
    time.sleep(2)
    assert env.smtp.count(ALICE) == 3


def test_plain_smtp_to_a_remote_relay_is_warned(make_env):
    """Issue 7: tls = none is logged as a warning unless the relay is on
    loopback (the test relays are, so no warning there)."""
    env = make_env()
    assert "clear text" not in env.mfad.log_text()
    env.mfad.stop()
    env.config["mail"]["smtp"] = "relay.invalid:25"
    h.write_ini(env.conf, env.config)
    env.mfad.start()
    assert "tls = none: codes go in clear text to relay.invalid" in \
        env.mfad.log_text()


class _RefusingHandler:
    """A relay that refuses one recipient for good (550)."""

    def __init__(self, refused):
        self.refused = refused
        self.delivered = []

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address.lower() == self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.delivered.append(envelope.rcpt_tos)
        return "250 OK"


def test_permanent_refusal_is_dropped_and_audited(make_env):
    """Issue 7: a message the relay refuses for good (5xx on the
    recipient) is not retried: it is dropped and audited as mail_failed,
    and the person is told the code could not be delivered."""
    from aiosmtpd.controller import Controller
    port = h.free_port()
    handler = _RefusingHandler("alice@example.org")
    relay = Controller(handler, hostname="127.0.0.1", port=port)
    relay.start()
    try:
        env = make_env({"mail": {"smtp": "127.0.0.1:%d" % port}})
        env.add_user("alice")
        env.service("mss-test", ["tries=2"])
        login = env.login()
        login.expect("ECHO_ON", h.PROMPT_EMAIL)
        login.answer("alice@example.org")
        login.expect("ECHO_OFF", h.PROMPT_PASSWORD)
        login.answer(h.PASSWORD)
        login.expect("INFO")
        login.expect("ECHO_ON", h.PROMPT_CODE)
        h.wait_until(lambda: "event=mail_failed user=alice" in
                     env.mfad.log_text())
        status = json.loads(env.ctl_ok("--json", "status"))
        assert status["outbox"] == 0, status
        assert "550" in env.mfad.log_text()
        login.answer("000000")
        assert login.expect("ERROR") == "Wrong code."
        assert "could not be delivered" in login.expect("ERROR")
        login.close()
        assert handler.delivered == []
    finally:
        relay.stop()


# --------------------------------------------------------------------------
# The default sender and what `mfad -t` renders (issue 11 point 7)


def _under_hostname(name):
    """A command prefix that runs a program in a UTS namespace of its own
    whose host name is name (root only; the host keeps its own)."""
    if subprocess.run(["unshare", "--uts", "true"]).returncode != 0:
        pytest.skip("unshare --uts is not available here")
    return ["unshare", "--uts", "sh", "-c",
            'hostname "$0" && exec "$@"', name]


def _mfad_t(env, prefix=()):
    return subprocess.run(list(prefix) + [str(h.MFAD), "-t", "-c",
                                          str(env.conf)],
                          capture_output=True, text=True, timeout=30)


def test_default_from_on_short_hostname_refused_by_mfad_t(make_env):
    """Without [mail] from, on a host whose name has no domain, `mfad -t`
    fails and says which key to set (mfad@vm would be refused by every
    render); mfad does not start either."""
    env = make_env({"mail": {"from": None}}, start=False)
    r = _mfad_t(env, _under_hostname("bastion"))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "%s: [mail] from is not set" % env.conf in r.stderr, r.stderr
    assert '"bastion"' in r.stderr and "set [mail] from" in r.stderr
    env.mfad.wrapper = _under_hostname("bastion")
    with pytest.raises(AssertionError) as exc:
        env.mfad.start()
    assert "[mail] from is not set" in str(exc.value)


def test_default_from_on_full_hostname_passes_and_mails(make_env):
    """Without [mail] from, on a host name with a domain, `mfad -t`
    passes, and then a login's mail really leaves from mfad@HOST."""
    env = make_env({"mail": {"from": None}}, start=False)
    prefix = _under_hostname("bastion.example.net")
    r = _mfad_t(env, prefix)
    assert r.returncode == 0, (r.stdout, r.stderr)
    env.mfad.wrapper = prefix
    env.start()
    env.add_user("alice")
    login, code = env.start_login("alice")
    msg = env.smtp.messages[-1][2]
    assert env.smtp.messages[-1][0] == "mfad@bastion.example.net"
    assert "mfad@bastion.example.net" in msg["From"]
    env.finish_login(login, code)


def test_template_that_cannot_render_fails_mfad_t(make_env, tmp_path):
    """A template that parses but cannot render (its subject grows past
    the limit once the placeholders are filled in) makes `mfad -t` fail,
    naming the kind, the language and the file."""
    tdir = tmp_path / "templates"
    for lang in ("en", "fr"):
        (tdir / lang).mkdir(parents=True)
        for f in (h.TEMPLATES / lang).iterdir():
            (tdir / lang / f.name).write_bytes(f.read_bytes())
    env = make_env({"mail": {"templates": tdir}}, start=False)
    r = _mfad_t(env)
    assert r.returncode == 0, (r.stdout, r.stderr)
    (tdir / "fr" / "locked.txt").write_text(
        "Subject: " + "{time}" * 160 + "\n\nbody\n")
    r = _mfad_t(env)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "cannot render the locked mail in fr" in r.stderr, r.stderr
    assert str(tdir / "fr" / "locked.txt") in r.stderr, r.stderr
