"""Metrics (issue "What admins expect of an MFA module", point 10):
`mfadctl metrics` prints mfad's counters and gauges in the Prometheus
text format, for node_exporter's textfile collector: audited events
since mfad started (logins by result, codes sent, lockouts, throttled
answers, mails), the outbox's depth and oldest age, the workers' queue,
the store's map size and use. The counts are mfad's, shared by all
requests. Real logins through the real module, real mfad and mfadctl;
the text is read by prometheus_client's own parser."""

import pwd

import pytest

import mss_harness as h
from mss_harness import PAM_SUCCESS, PROMPT_EMAIL, PROMPT_PASSWORD

parser = pytest.importorskip("prometheus_client.parser")

WRONG = "wrong horse battery staple"


def _metrics(env):
    """{(name, labels): value} and the families, as Prometheus reads
    the output; every family typed, every sample of a known name."""
    text = env.ctl_ok("metrics")
    fams = list(parser.text_string_to_metric_families(text))
    out = {}
    for fam in fams:
        assert fam.type in ("counter", "gauge"), (fam.name, fam.type)
        assert fam.documentation, fam.name
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, out


def _event(m, event):
    return m[("mfad_events_total", (("event", event),))]


def _deny(env, user, rhost="192.0.2.7"):
    login = env.login(user, rhost=rhost)
    rc = login.run({PROMPT_EMAIL: "%s@example.org" % user,
                    PROMPT_PASSWORD: WRONG})
    assert rc != PAM_SUCCESS, login.dump()
    login.close()


@pytest.mark.mfad(lockout={"threshold": 2}, mfad={"map_size": "64M"})
def test_metrics_count_logins_mail_and_lockouts(env):
    """Each login, code, mail and lockout moves its counter by one, from
    one request to the next; the gauges show the outbox, the workers'
    queue and the store."""
    _, m0 = _metrics(env)
    assert _event(m0, "login_ok") == 0 and _event(m0, "code_sent") == 0
    env.add_user("bob")
    assert env.full_login() is not None
    _deny(env, "alice")
    _deny(env, "bob")
    _deny(env, "bob")          # the second failure locks bob
    _deny(env, "nobody1")
    h.wait_audited(env, "mail_sent")
    h.wait_status(env, lambda s: s["outbox"] == 0)
    text, m = _metrics(env)
    assert _event(m, "login_ok") == 1, text
    assert _event(m, "code_sent") == 1, text
    assert _event(m, "code_ok") == 0, text
    # alice's code and bob's lock notice.
    assert _event(m, "mail_sent") == 2, text
    assert _event(m, "login_denied") == 4, text
    assert _event(m, "account_locked") == 1, text
    assert _event(m, "throttled") == 0, text
    assert m[("mfad_accounts", ())] == 2, text
    assert m[("mfad_outbox_mails", ())] == 0, text
    assert m[("mfad_outbox_oldest_seconds", ())] == 0, text
    assert m[("mfad_worker_queue", ())] == 0, text
    assert m[("mfad_store_map_bytes", ())] == 64 * 1024 * 1024, text
    assert 0 < m[("mfad_store_used_bytes", ())] <= 64 * 1024 * 1024, text
    assert m[("mfad_uptime_seconds", ())] >= 0, text
    # One sample per line, nothing else: a textfile collector's input.
    for line in text.splitlines():
        assert line.startswith("# HELP mfad_") or \
            line.startswith("# TYPE mfad_") or line.startswith("mfad_"), line
    # The same numbers as JSON.
    js = env.ctl_json("metrics")
    got = {(x["name"], x["label"]): x["value"] for x in js}
    assert got[("mfad_events_total", 'event="login_denied"')] == 4, js
    assert {x["type"] for x in js} == {"counter", "gauge"}, js


def test_metrics_are_for_admins(env):
    """Like status, metrics are an admin command."""
    rc, out, err = env.ctl("metrics", as_nobody=True)
    assert rc == h.CTL_PERM, (rc, out, err)
    assert pwd.getpwnam("nobody")
