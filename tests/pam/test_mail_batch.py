"""Mail sent in sessions of several messages over parallel connections
([mail] connections, mfad(8) MAIL DELIVERY), each message with its own
outcome.

The real mfad sends the codes of logins started with pam_mss's own
request (AUTH_START frames, as a trusted PAM caller) to FaultyRelay
(tests/pam/test_relay_faults.py), which records every session and can
hold one up, refuse one recipient, drop the connection after some
messages or take only so many connections at once. To make a batch
certain rather than likely, the tests hold the only sender in a first
session whose greeting comes late, and queue the batch meanwhile: it is
then all due when that session, its first message answered, looks for
more, and follows in the same connection. No
assertion is about time: the waits are deadlines for events.
"""

import threading
import time

import pytest

import mss_harness as h
from test_relay_faults import ARRIVAL, FaultyRelay, audit, parse

REQ_AUTH_START, REP_AUTH, CODE_SENT = 2, 101, 2
HOLD = ("delay", 3)     # the greeting of the session that holds the sender


@pytest.fixture
def world(request):
    """world(relay, config, users) -> a started MssEnv mailing through
    relay, with those users (user@example.org)."""
    made = []

    def make(relay, config=None, users=()):
        missing = h.missing_binaries()
        if missing:
            pytest.fail("not built (set MSS_BUILDDIR): " + ", ".join(missing))
        relay.start()
        env = h.MssEnv(relay, config)
        made.append((relay, env))
        env.start()
        for u in users:
            env.add_user(u)
        return env

    yield make
    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    for relay, env in made:
        if failed:
            print("---- %s (kept) ----\n%s" % (env.log, env.mfad.log_text()))
        relay.stop()
        env.close(keep=failed)


def start(env, user):
    """A login of user up to "code sent": its code mail is queued."""
    payload = b"".join(h.pstr(s) for s in (
        "mss-batch", user, user + "@example.org", h.PASSWORD, "",
        "192.0.2.1", "", "en")) + (0).to_bytes(4, "big")
    rep = h.raw_request(env.sock, REQ_AUTH_START, payload, timeout=30)
    assert rep is not None and rep[0] == REP_AUTH, rep
    assert rep[1][0] == CODE_SENT, "AUTH result %d" % rep[1][0]


def start_all(env, users):
    """Logins of all users at once."""
    errors = []

    def one(u):
        try:
            start(env, u)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=one, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def hold_sender(env, relay):
    """A first login whose session the relay holds up (its greeting comes
    late): the only sender is busy while the next codes are queued."""
    start(env, "first")
    relay.wait(lambda: len(relay.sessions) >= 1 or
               any(True for _ in relay._conns), what="a first connection")


def accepted_to(relay):
    """The recipients of the accepted messages, one entry a message."""
    return sorted(parse(m["data"])["To"].lower() for m in relay.accepted())


def per_session(relay):
    with relay._cond:
        return [[parse(m["data"])["To"].lower() for m in s.messages
                 if m["reply"] and m["reply"] // 100 == 2]
                for s in relay.sessions]


def addr(u):
    return u + "@example.org"


def held_batch(world, users, chunking=False):
    """first's session held up (one sender), users' codes queued
    meanwhile; returns (relay, env) once every code was accepted."""
    relay = FaultyRelay([{"greeting": HOLD}], chunking=chunking)
    env = world(relay, {"mail": {"connections": 1}}, ["first"] + users)
    hold_sender(env, relay)
    start_all(env, users)
    relay.wait(lambda: len(relay.accepted()) >= len(users) + 1,
               what="every message accepted")
    h.wait_status(env, lambda s: s["outbox"] == 0, timeout=ARRIVAL)
    assert accepted_to(relay) == sorted(addr(u) for u in ["first"] + users)
    return relay, env


def test_queued_codes_share_a_session(world):
    """Codes queued while a session is at work go out in it, not in a
    session each: the session's last message answered, the six queued
    meanwhile follow in the same connection."""
    users = ["u%d" % i for i in range(6)]
    relay, env = held_batch(world, users)
    sessions = per_session(relay)
    # The first code, then the six queued meanwhile, in one session.
    assert len(sessions) == 1, sessions
    assert sessions[0][0] == addr("first"), sessions
    assert sorted(sessions[0][1:]) == sorted(addr(u) for u in users), \
        sessions
    assert len(audit(env, "mail_sent")) == 7


def burst(world, relay, connections, n):
    """n logins at once through relay with [mail] connections; returns
    env once every code was accepted, each once."""
    users = ["u%d" % i for i in range(n)]
    env = world(relay, {"mail": {"connections": connections}}, users)
    start_all(env, users)
    relay.wait(lambda: len(relay.accepted()) >= n,
               what="every message accepted")
    h.wait_status(env, lambda s: s["outbox"] == 0, timeout=ARRIVAL)
    assert accepted_to(relay) == sorted(addr(u) for u in users)
    return env


def test_at_most_connections_sessions_at_once(world):
    """[mail] connections = 2: a burst goes out over parallel sessions,
    never more than two at once."""
    # Every session slow at each message's end, so that they overlap.
    relay = FaultyRelay([{"dot": ("delay", 0.5)}] * 40)
    burst(world, relay, 2, 12)
    assert relay.max_active <= 2, relay.max_active
    assert relay.max_active == 2, "the sessions never overlapped"
    assert len(relay.sessions) < 12, per_session(relay)


def test_one_recipient_refused_others_delivered(world):
    """A 550 to one recipient of a session drops that message alone
    (mail_failed, not tried again); the others of the session arrive."""
    users = ["alice", "bob", "carol", "dave"]
    relay = FaultyRelay([{"greeting": HOLD}],
                        refuse={addr("bob"): "550 5.1.1 no such user"})
    env = world(relay, {"mail": {"connections": 1}}, ["first"] + users)
    hold_sender(env, relay)
    start_all(env, users)
    relay.wait(lambda: len(relay.accepted()) >= 4,
               what="four messages accepted")
    h.wait_status(env, lambda s: s["outbox"] == 0, timeout=ARRIVAL)
    failed = audit(env, "mail_failed")
    assert len(failed) == 1, failed
    assert failed[0]["user"] == "bob"
    assert "550" in failed[0]["detail"], failed[0]
    sessions = per_session(relay)
    # first, then the four queued meanwhile, in one session.
    assert len(sessions) == 1, sessions
    assert sorted(sessions[0][1:]) == [addr("alice"), addr("carol"),
                                       addr("dave")], sessions
    # bob's RCPT was refused once, and never tried again.
    assert relay.sessions[0].commands.count(("RCPT", False)) == 5
    assert sum(c.count(("RCPT", False)) for c in
               (s.commands for s in relay.sessions)) == 5
    assert len(audit(env, "mail_sent")) == 4
    assert "mail login_code for bob not sent" not in env.mfad.log_text()


def test_dropped_session_resends_only_what_was_not_accepted(world):
    """The relay drops the connection after accepting two messages of a
    batch of five (which followed a first one in the same session): those
    two are not sent again, the other three are, in the next session, and
    every code arrives once."""
    users = ["u%d" % i for i in range(5)]
    relay = FaultyRelay([{"greeting": HOLD, "drop_after": 3}])
    env = world(relay, {"mail": {"connections": 1}}, ["first"] + users)
    hold_sender(env, relay)
    start_all(env, users)
    relay.wait(lambda: len(relay.accepted()) >= 6,
               what="six messages accepted")
    h.wait_status(env, lambda s: s["outbox"] == 0, timeout=ARRIVAL)
    sessions = per_session(relay)
    assert sessions[0][0] == addr("first"), sessions
    assert len(sessions[0]) == 3, sessions
    assert sorted(sessions[0][1:] + sessions[1]) == sorted(
        addr(u) for u in users), sessions
    # Each address exactly once over all sessions: nothing twice.
    assert accepted_to(relay) == sorted(addr(u) for u in ["first"] + users)
    assert relay.received() == relay.accepted()
    sent = audit(env, "mail_sent")
    assert len(sent) == 6, sent
    retried = [r for r in sent if "after 1 failed try" in r["detail"]]
    assert sorted(r["user"] for r in retried) == sorted(
        u for u in users if addr(u) not in sessions[0]), sent


def test_lone_message_goes_at_once(world):
    """A single code is sent on its own, without waiting for others to
    fill a batch: it arrives while nothing else is queued."""
    relay = FaultyRelay()
    env = world(relay, None, ["alice"])
    start(env, "alice")
    relay.wait_accepted(1)
    h.wait_status(env, lambda s: s["outbox"] == 0, timeout=ARRIVAL)
    assert per_session(relay) == [[addr("alice")]]


def test_no_probe_connection_while_the_relay_answers(world):
    """The bare connection that bounds libESMTP's connect is made before
    a session only while no session reached the relay lately: mails
    sent one after the other cost one connection each, not two."""
    users = ["u%d" % i for i in range(4)]
    relay = FaultyRelay()
    env = world(relay, None, users)
    for i, u in enumerate(users):
        start(env, u)
        relay.wait_accepted(i + 1)
    h.wait_status(env, lambda s: s["outbox"] == 0, timeout=ARRIVAL)
    assert len(relay.sessions) == 4, per_session(relay)
    # The first session's probe, then none.
    assert relay.connections == 5, relay.connections


def test_stop_does_not_wait_for_a_slow_session(world):
    """A session to a relay that takes 8 s per message holds six after
    its first; a stop waits for it only up to mfad's grace (10 s), not
    for all six, says so, and the next start sends what that session had
    not recorded."""
    users = ["u%d" % i for i in range(6)]
    relay = FaultyRelay([{"greeting": HOLD, "dot": ("delay", 8)}, {}])
    env = world(relay, {"mail": {"connections": 1}}, ["first"] + users)
    hold_sender(env, relay)
    start_all(env, users)
    relay.wait(lambda: len(relay.sessions) >= 1 and
               len(relay.sessions[0].messages) >= 2,
               what="the slow session's second message")
    # Six messages at 8 s each: 48 s without the grace, about 10 with it.
    assert env.mfad.stop(timeout=30) == 0
    assert "still with the relay" in env.mfad.log_text()
    env.mfad.start()
    relay.wait(lambda: set(addr(u) for u in users) <=
               set(accepted_to(relay)), what="every code sent")
    # The first message's outcome was recorded as the session went on:
    # the next start did not send it again.
    assert accepted_to(relay).count(addr("first")) == 1, accepted_to(relay)


def test_a_session_carries_at_most_32_messages(world):
    """Mail keeps coming while a session is at work: it goes on in that
    session, but never past 32 messages, as many relays limit the
    messages of one connection; the rest go in the next session."""
    users = ["u%d" % i for i in range(40)]
    relay, env = held_batch(world, users)
    sessions = per_session(relay)
    assert [len(s) for s in sessions] == [32, 9], sessions
    assert sessions[0][0] == addr("first"), sessions
    assert len(audit(env, "mail_sent")) == 41



def test_relay_limit_on_sessions_is_learnt(world):
    """A relay that takes 3 connections at once from mfad and greets one
    more with 421, as Postfix and Exim do past their limit per client:
    mfad, at [mail] connections = 8, learns that from the sessions turned
    away, and the messages of those go with the 3 sessions that were
    taken, without a failed try (no retry warning, no "failed try" in
    the audit); every message arrives once."""
    # Every session slow at each message's end, so that they overlap.
    relay = FaultyRelay([{"dot": ("delay", 0.3)}] * 100, max_open=3)
    env = burst(world, relay, 8, 40)
    assert relay.refused > 0, "the relay never had to refuse a session"
    log = env.mfad.log_text()
    assert "the relay turned a session away" in log, log
    assert "not sent (try" not in log, log
    sent = audit(env, "mail_sent")
    assert len(sent) == 40, sent
    assert not [r for r in sent if "failed tr" in r.get("detail", "")], sent


@pytest.mark.skipif(h.SANITIZED, reason="a minute's wait for the outbox's "
                    "arithmetic, which the plain pass checks; ASan adds "
                    "nothing to it")
def test_sessions_widen_again_after_a_minute(world):
    """After the relay turned sessions away, mfad keeps to the sessions
    it took for a minute (mfad.conf(5), connections), then allows one
    more for each session that ends well: once the relay takes more
    again, so does mfad. Refusals that come together can teach it fewer
    sessions than the relay takes (a connection being turned away still
    counts at the relay): then widening takes one more round."""
    users = ["u%d" % i for i in range(60)]
    relay = FaultyRelay([{"dot": ("delay", 0.3)}] * 200, max_open=2)
    env = world(relay, {"mail": {"connections": 8}}, users)
    start_all(env, users[:20])
    relay.wait(lambda: len(relay.accepted()) >= 20,
               what="the first burst accepted")
    assert relay.refused > 0, "the relay never had to refuse a session"
    learnt = time.monotonic()
    with relay._cond:
        relay.max_open = None
    # The minute mfad keeps to what it learnt: a wait for a time, not
    # for an event.
    time.sleep(max(0, learnt + 62 - time.monotonic()))
    start_all(env, users[20:30])
    relay.wait(lambda: len(relay.accepted()) >= 30,
               what="the second burst accepted")
    h.wait_status(env, lambda s: s["outbox"] == 0, timeout=ARRIVAL)
    with relay._cond:
        relay.max_active = 0
    done = 30
    for first in (30, 45):
        start_all(env, users[first:first + 15])
        done += 15
        relay.wait(lambda: len(relay.accepted()) >= done,
                   what="a burst after the minute accepted")
        if relay.max_active > 2:
            break
    assert accepted_to(relay) == sorted(addr(u) for u in users[:done])
    assert relay.max_active > 2, relay.max_active


def test_chunking_relay_gets_each_code_in_bdat_chunks(world):
    """A relay that offers CHUNKING (Postfix and Exim do by default): the
    queued codes follow the first one in its session, each sent in BDAT
    chunks, never DATA, and each accepted once."""
    relay, env = held_batch(world, ["alice", "bob", "carol"],
                            chunking=True)
    assert per_session(relay)[0][0] == addr("first")
    assert sum(len(x) for x in per_session(relay)) == 4
    verbs = [v for s in relay.sessions for v, _ in s.commands]
    assert "BDAT" in verbs and "DATA" not in verbs, verbs
    assert len(audit(env, "mail_sent")) == 4
