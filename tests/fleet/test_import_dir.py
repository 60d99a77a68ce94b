"""`mfadctl import` into the directory, whose rows mfad reads and writes
together (mfad_store_dir_batch.c): hundreds of people imported on host
A are accounts on host B; a file of awkward rows gets, row for row, the
answers the local LMDB backend gives; a provider stopped in the middle
either leaves the import to the other provider or fails it closed,
reporting no row (test_import_dir_down.py, test_import_dir_failover.py:
each with two providers of its own, which a stopped and restarted
provider's catching up leaves to no other test)."""

import json
import threading
import time

import argon2
import ldap3
import fleet_harness as fh
import hosts_harness as hh
from hosts_harness import mh

PASSWORD = "correct horse battery staple"


def pw_hash():
    return argon2.PasswordHasher(time_cost=1, memory_cost=8,
                                 parallelism=1).hash(PASSWORD)


def add_many(fleet, uids):
    """Person entries as the directory's administrator adds them, one
    connection for all, waited for on provider B."""
    c = fleet.conn(fleet.a)
    try:
        for uid in uids:
            dn, oc, attrs = fh.person(uid, mfad=False)
            assert c.add(dn, oc, attrs), c.result
    finally:
        c.unbind()
    fleet.wait_replicated(hh.dn_of(uids[-1]), timeout=60)


def import_rows(env, text):
    rc, out, err = env.ctl("--json", "import", "-", input=text,
                           timeout=300)
    return rc, (json.loads(out) if out else []), err


def accounts_on(fleet, node, prefix):
    """The uids of the mfadAccount entries named prefix* on node that
    have their state (an entry with the class and no state is an account
    half written)."""
    c = fleet.conn(node)
    try:
        got = c.extend.standard.paged_search(
            fh.PEOPLE, "(&(objectClass=mfadAccount)(mfadState=*)"
            "(uid=%s*))" % prefix, ldap3.LEVEL, attributes=["uid"],
            paged_size=400, generator=False)
        return sorted(str(e["attributes"]["uid"][0]) for e in got
                      if e.get("type") == "searchResEntry")
    finally:
        c.unbind()


def wait_accounts(fleet, node, prefix, want=None, timeout=60):
    """accounts_on(), once it stops growing (or reaches want)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        got = accounts_on(fleet, node, prefix)
        if got == want or (want is None and got == last) or \
                time.monotonic() > deadline:
            return got
        last = got
        time.sleep(1)


def test_hundreds_imported_on_a_are_accounts_on_b(hosts):
    """300 people in one file on A, with a password hash: every row is
    added, B lists every one of them active, and some log in on B."""
    uids = ["many%03d" % i for i in range(300)]
    add_many(hosts.fleet, uids)
    q = '"%s"' % pw_hash()
    rc, rows, err = import_rows(hosts.a, "".join(
        "%s,%s@example.org,%s,%s\n" % (u, u, "fr" if i % 2 else "en", q)
        for i, u in enumerate(uids)))
    assert rc == mh.CTL_OK, (rc, rows, err)
    assert [(r["line"], r["user"], r.get("result")) for r in rows] == \
        [(i + 1, u, "added with a password") for i, u in enumerate(uids)]
    # Until B's provider has every row (an entry read between the class
    # and its fields replicating is refused as malformed for that long).
    assert wait_accounts(hosts.fleet, hosts.fleet.b, "many", uids) == uids
    rc, out, err = hosts.b.ctl("--json", "user", "list")
    assert rc == mh.CTL_OK, (rc, out, err)
    listed = {u["user"]: u for u in json.loads(out)
              if u["user"].startswith("many")}
    assert sorted(listed) == uids
    assert all(u["state"] == "active" for u in listed.values()), listed
    for u in (uids[0], uids[149], uids[299]):
        hosts.b.full_login(u)
    # Again: every row is as the file says already.
    rc, rows, err = import_rows(hosts.a, "".join(
        "%s,%s@example.org,%s,%s\n" % (u, u, "fr" if i % 2 else "en", q)
        for i, u in enumerate(uids)))
    assert rc == mh.CTL_OK, (rc, rows, err)
    assert {r.get("result") for r in rows} == {"unchanged"}, rows


# The rows of both runs, and what each gets from either backend: the
# second run's rows depend on each other as a row-by-row run sees them.
FIRST = "ann,ann@example.org,en\nbob,bob@example.org,fr\n"
SECOND = (
    "ann,ann@example.org,en\n"          # there already: unchanged
    "cat,bob@example.org,en\n"          # bob's address: refused
    "bob,bob2@example.org,en\n"         # bob moves to a new address,
    "dan,BOB@example.org,en\n"          # which frees his old one
    "eve,eve@example.org,en,%s\n"       # added with a password,
    "fay,Eve@Example.org,en\n"          # whose address is then taken
    "gus,not-an-address,en\n"           # no address at all
    "hal,hal@example.org,de\n"          # no such language
    "ann,ann@example.org,en\n")         # ann twice: nothing imported
THIRD = SECOND.rsplit("ann,", 1)[0]     # the same without the repeat
PEOPLE = ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal")


def run_cases(env, q):
    """The three imports on env: (exit status, rows) of each, and how the
    accounts stand after them."""
    got = []
    for text in (FIRST, SECOND % q, THIRD % q):
        rc, rows, _ = import_rows(env, text)
        got.append((rc, rows))
    shown = {}
    for u in PEOPLE:
        rc, out, _ = env.ctl("--json", "user", "show", u)
        if rc == mh.CTL_OK:
            a = json.loads(out)
            shown[u] = (a.get("email"), a.get("state"), a.get("lang"))
    return got, shown


def test_same_answers_as_the_local_backend(hosts):
    """One file of awkward rows imported into a local mfad and into the
    directory through host A: the same exit statuses, the same answer
    for each row, and the same accounts after."""
    hosts.add_people(*PEOPLE)
    q = '"%s"' % pw_hash()
    smtp = mh.SmtpServer()
    smtp.start()
    local = mh.MssEnv(smtp)
    try:
        local.start()
        want, want_shown = run_cases(local, q)
    finally:
        local.close()
        smtp.stop()
    got, got_shown = run_cases(hosts.a, q)
    assert got == want
    assert got_shown == want_shown
    # What the rows say, so that both being wrong the same way shows.
    rows = {r["user"]: r.get("result", "error: " + r.get("error", ""))
            for r in want[2][1]}
    assert rows["ann"] == "unchanged"
    assert rows["cat"] == "error: email address already used by bob"
    assert rows["bob"] == "email changed"
    assert rows["dan"] == "added"
    assert rows["eve"] == "added with a password"
    assert rows["fay"] == "error: email address already used by eve"
    assert rows["gus"].startswith("error: ")
    assert rows["hal"] == "error: language must be fr or en"
    assert want[1][0] == mh.CTL_REFUSED and want[1][1], want[1]
    assert want_shown["dan"][0] == "BOB@example.org"
    assert want_shown["bob"][0] == "bob2@example.org"


def stop_when_written(fleet, node, prefix, stop):
    """A thread that calls stop() as soon as node has the first account
    named prefix*: the import is then in its middle."""
    def run():
        c = fleet.conn(node)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                c.search(fh.PEOPLE, "(&(objectClass=mfadAccount)"
                         "(uid=%s*))" % prefix, ldap3.LEVEL,
                         attributes=[], size_limit=1)
                if c.entries:
                    break
        finally:
            c.unbind()
        stop()
    t = threading.Thread(target=run)
    t.start()
    return t
