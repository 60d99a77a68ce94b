"""`mfadctl import`: batch enrollment from CSV (DESIGN.md section 4), and
its bulk columns: a password hash made elsewhere and remembered devices."""

import json
import time

import argon2
import pytest

import mss_harness as h
from mss_harness import PAM_SUCCESS, PROMPT_CODE, PROMPT_EMAIL, \
    PROMPT_PASSWORD
from test_device import _expiries

CSV = """user,email,lang
# staff of the north office
alice2,alice2@example.org,fr
bob,bob@example.org

carol,not-an-email
dave,dave@example.org,de
frank,frank@example.org,FR
eve,alice2@example.org
too,many,fields,here
erin , erin@example.org , en
justone
"""

FIRST = [
    (3, "alice2", "result", "added"),
    (4, "bob", "result", "added"),
    (6, "carol", "error", "invalid email address"),
    (7, "dave", "error", "language must be fr or en"),
    (8, "frank", "result", "added"),
    (9, "eve", "error", "email address already used by alice2"),
    (10, "too", "error", "invalid email address"),
    (11, "erin", "result", "added"),
    (12, "justone", "error",
     "expected USER,EMAIL[,LANG[,PASSWORD_HASH[,DEVICE...]]]"),
]


def _rows(out):
    return [(r["line"], r["user"], "result" if "result" in r else "error",
             r.get("result", r.get("error"))) for r in json.loads(out)]


def test_import_mixed_file_twice_is_idempotent(env, tmp_path):
    """Good and malformed lines: one result per line with its
    number; a bad line never stops the batch; exit 1 when any failed; the
    same file again changes nothing."""
    path = tmp_path / "staff.csv"
    path.write_text(CSV)
    rc, out, err = env.ctl("--json", "import", path)
    assert rc == h.CTL_REFUSED, err
    assert _rows(out) == FIRST
    users = {u["user"]: u for u in env.ctl_json("user", "list")}
    assert users["alice2"]["state"] == "invited"
    assert users["alice2"]["lang"] == "fr"
    assert users["frank"]["lang"] == "fr"
    assert users["erin"]["email"] == "erin@example.org"
    assert "carol" not in users and "dave" not in users and "eve" not in users

    rc, out, _ = env.ctl("--json", "import", path)
    assert rc == h.CTL_REFUSED
    again = _rows(out)
    assert [r for r in again if r[2] == "error"] == \
        [r for r in FIRST if r[2] == "error"]
    assert all(r[3] == "unchanged" for r in again if r[2] == "result")
    assert {u["user"]: u for u in env.ctl_json("user", "list")} == users


def test_import_changes_email_from_stdin_text_output(env):
    """`-` reads standard input; a known user with a new address gets
    "email changed"; text output names each line; all good lines: exit 0."""
    rc, out, err = env.ctl("import", "-", input="bob,bob@example.org\n")
    assert rc == h.CTL_OK, err
    rc, out, err = env.ctl("import", "-", input="bob,bob@new.example.org\n")
    assert rc == h.CTL_OK, err
    assert out.strip() == "line 1: bob: email changed"
    assert env.ctl_json("user", "show", "bob")["email"] == \
        "bob@new.example.org"


def test_imported_user_enrolls(env):
    """An imported account is an invitation: it enrolls at its next
    login with the mailed code."""
    env.ctl_ok("import", "-", input="frank,frank@example.org,en\n")
    from test_enroll import enroll
    enroll(env, "frank", "frank@example.org")


def test_import_missing_file_and_unprivileged(env, tmp_path):
    """A missing file is refused (exit 1); an unprivileged caller gets
    exit 4 and nothing is added (SECURITY 22)."""
    rc, _, err = env.ctl("import", tmp_path / "nope.csv")
    assert rc == h.CTL_REFUSED and "nope.csv" in err
    rc, _, err = env.ctl("import", "-", input="gina,gina@example.org\n",
                         as_nobody=True)
    assert rc == h.CTL_PERM, err
    assert env.ctl("user", "show", "gina")[0] == h.CTL_REFUSED


# Bulk columns: USER,EMAIL,LANG,PASSWORD_HASH,DEVICE...


def argon2id(password=h.PASSWORD, t=1, m=8, p=1):
    """An argon2id string made by another implementation (argon2-cffi),
    as a portal the accounts come from would have stored it."""
    return argon2.PasswordHasher(time_cost=t, memory_cost=m,
                                 parallelism=p).hash(password)


def q(field):
    """A CSV field in double quotes: a hash holds commas (m=...,t=...)."""
    return '"%s"' % field.replace('"', '""')


def _import(env, text):
    rc, out, err = env.ctl("--json", "import", "-", input=text)
    return rc, _rows(out) if out else [], err


def _device_login(env, user, **kw):
    """Email and password, then success without a code prompt."""
    login = env.login(user, **kw)
    rc = login.run({PROMPT_EMAIL: "%s@example.org" % user,
                    PROMPT_PASSWORD: h.PASSWORD})
    assert rc == PAM_SUCCESS, login.dump()
    assert not any(PROMPT_CODE in t for _, t in login.lines()), \
        login.dump()


def test_import_hash_makes_an_active_account(env):
    """A row with an argon2id hash adds an active account: its password
    logs in (then the mailed code) at once, with no enrollment; a hash of
    other parameters (p=4, as argon2-cffi makes by default) works too."""
    rc, rows, err = _import(env, "hana,hana@example.org,fr,%s\n"
                            "ivan,ivan@example.org,,%s\n" %
                            (q(argon2id()), q(argon2id(t=2, m=1024, p=4))))
    assert rc == h.CTL_OK, (rows, err)
    assert rows == [(1, "hana", "result", "added with a password"),
                    (2, "ivan", "result", "added with a password")]
    show = env.ctl_json("user", "show", "hana")
    assert show["state"] == "active" and show["lang"] == "fr"
    env.full_login("hana")
    env.full_login("ivan")
    # Verified once with the old parameters, the hash is made again
    # with mfad.conf's.
    h.wait_until(lambda: "rehashed the password of ivan" in
                 env.mfad.log_text(), what="rehash")
    env.full_login("ivan")
    login = env.login("hana")
    rc = login.run({PROMPT_EMAIL: "hana@example.org",
                    PROMPT_PASSWORD: h.WRONG_PASSWORD})
    assert rc == h.PAM_AUTH_ERR


def test_import_devices_are_remembered(env):
    """Device columns are remembered for remember_days: that rhost or key
    logs in with the password alone, another one gets a code; the same
    file again is "unchanged"."""
    key = "sshkey:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1lmFHn7Yk1yLQ7" \
          "0Zf3x6M0wzJq0G8vN2c4Xh2p9mYb"
    text = "jade,jade@example.org,en,%s,rhost:192.0.2.7,%s\n" % (
        q(argon2id()), key)
    before = time.time()
    rc, rows, err = _import(env, text)
    assert rc == h.CTL_OK, (rows, err)
    assert rows == [(1, "jade", "result",
                     "added with a password, 2 devices remembered")]
    devices = env.ctl_json("device", "list", "jade")
    assert sorted(d["kind"] for d in devices) == ["rhost", "sshkey"]
    expiries = _expiries(devices)
    assert len(expiries) == 2
    for t in expiries:
        assert before + 30 * 86400 - 120 <= t <= \
            time.time() + 30 * 86400 + 120
    n = env.smtp.count()
    _device_login(env, "jade", rhost="192.0.2.7")
    _device_login(env, "jade", rhost="198.51.100.1",
                  pamenv=["SSH_AUTH_INFO_0=publickey " + key[7:]])
    time.sleep(1)
    assert env.smtp.count() == n, "a remembered device was sent a mail"
    env.full_login("jade", rhost="192.0.2.8", remember="n")
    rc, rows, err = _import(env, text)
    assert rc == h.CTL_OK, (rows, err)
    assert rows == [(1, "jade", "result", "unchanged")]
    assert len(env.ctl_json("device", "list", "jade")) == 2


def test_import_hash_never_replaces_a_password(env):
    """An active account keeps its password whatever hash the file has
    (its owner may have changed it); an invitation takes the hash; a
    device is added to an account that has a password."""
    env.add_user("nora")
    env.ctl_ok("user", "add", "kim", "--email", "kim@example.org")
    other = argon2id("another password entirely")
    rc, rows, err = _import(env, "nora,nora@example.org,en,%s\n"
                            "kim,kim@example.org,en,%s\n"
                            % (q(other), q(argon2id())))
    assert rc == h.CTL_OK, (rows, err)
    assert rows == [(1, "nora", "result", "unchanged"),
                    (2, "kim", "result", "password set")]
    # One row a user in a file: the device comes in a file of its own.
    rc, rows, err = _import(env, "nora,nora@example.org,,,rhost:192.0.2.9\n")
    assert rc == h.CTL_OK, (rows, err)
    assert rows == [(1, "nora", "result", "1 device remembered")]
    env.full_login("nora")
    _device_login(env, "nora", rhost="192.0.2.9")
    assert env.ctl_json("user", "show", "kim")["state"] == "active"
    env.full_login("kim")


def test_import_bad_hashes_and_devices_change_nothing(env):
    """Each bad hash or device gets its own error, and its row writes
    nothing (SECURITY: bad input gets a clear error)."""
    good = argon2id()
    argon2i = good.replace("$argon2id$", "$argon2i$")
    costly = argon2id().replace("m=8,", "m=2097152,")
    bad = [
        ("u1,u1@example.org,en,%s\n" % q(argon2i),
         "not an argon2id hash ($argon2id$v=19$m=...,t=...,p=...$...)"),
        ("u2,u2@example.org,en,%s\n" % q(good[:-6]),
         "not an argon2id hash ($argon2id$v=19$m=...,t=...,p=...$...)"),
        ("u3,u3@example.org,en,%s\n" % q(costly),
         "argon2id hash costs more than strength=sensitive"),
        ("u4,u4@example.org,en,%s,laptop:1\n" % q(good),
         "device 1: expected sshkey:TYPE KEY, rhost:HOST or tty:/dev/NAME"),
        ("u5,u5@example.org,en,%s,tty:/etc/passwd\n" % q(good),
         "device 1: expected sshkey:TYPE KEY, rhost:HOST or tty:/dev/NAME"),
        ("u6,u6@example.org,en,%s,rhost:a,rhost:a\n" % q(good),
         "device 2: listed twice"),
        ("u7,u7@example.org,en,,rhost:192.0.2.1\n",
         "devices need an account with a password (give its argon2id "
         "hash)"),
        ("u8,u8@example.org,en,%s,%s\n" % (q(good), ",".join(
            "rhost:10.0.0.%d" % i for i in range(17))),
         "too many devices (at most 16)"),
        ("u9,u9@example.org,en,%s,\n" % q(good), "device 1 is empty"),
        ("u10,u10@example.org,en,%s\n" % good,
         "put the password hash in double quotes: it holds commas"),
        ('u11,u11@example.org,en,"%s\n' % good, "unbalanced double quote"),
    ]
    rc, rows, err = _import(env, "".join(line for line, _ in bad))
    assert rc == h.CTL_REFUSED, err
    assert rows == [(i + 1, "u%d" % (i + 1), "error", why)
                    for i, (_, why) in enumerate(bad)]
    assert [u["user"] for u in env.ctl_json("user", "list")] == ["alice"]
    log = env.mfad.log_text()
    assert good not in log and good.split("$")[-1] not in log


@pytest.mark.mfad(device={"remember_days": 0})
def test_import_devices_refused_when_remembering_is_off(env):
    """remember_days = 0: a device column is refused, the row unchanged."""
    rc, rows, _ = _import(env, "lena,lena@example.org,en,%s,"
                          "rhost:192.0.2.7\n" % q(argon2id()))
    assert rc == h.CTL_REFUSED
    assert rows == [(1, "lena", "error", "remembered devices are off "
                     "([device] remember_days = 0)")]
    assert env.ctl("user", "show", "lena")[0] == h.CTL_REFUSED


def test_import_bulk_rows_are_audited_without_the_hash(env):
    """Each row that changes something is one audit record naming the
    import line and what it did; the hash appears nowhere in the audit."""
    hsh = argon2id()
    env.ctl_ok("import", "-", input="mona,mona@example.org,en,%s,"
               "rhost:192.0.2.7,rhost:192.0.2.8\n"
               "alice,alice@example.org,en,,rhost:192.0.2.9\n" % q(hsh))
    out = env.ctl_ok("--json", "audit", "--user", "mona")
    events = [(e["event"], e["detail"]) for e in json.loads(out)]
    assert events == [("user_added", "by=root import line 1, with a "
                       "password hash, 2 devices")]
    assert hsh not in out and hsh.split("$")[-1] not in out
    out = env.ctl_ok("--json", "audit", "--user", "alice")
    assert ("device_remembered", "by=root import line 2, 1 device") in \
        [(e["event"], e["detail"]) for e in json.loads(out)]


def test_import_many_rows_with_devices_spans_batches(env):
    """300 rows of a hash and a device each go to mfad in several
    requests (at most 128 rows and 256 devices a request): every row gets
    its answer, in order, and every device is remembered."""
    hsh = q(argon2id())
    text = "".join("b%03d,b%03d@example.org,en,%s,rhost:10.9.%d.%d\n" %
                   (i, i, hsh, i // 256, i % 256) for i in range(300))
    rc, rows, err = _import(env, text)
    assert rc == h.CTL_OK, err
    assert rows == [(i + 1, "b%03d" % i, "result",
                     "added with a password, 1 device remembered")
                    for i in range(300)]
    for u in ("b000", "b128", "b255", "b256", "b299"):
        assert len(env.ctl_json("device", "list", u)) == 1
    _device_login(env, "b299", rhost="10.9.1.43")


@pytest.mark.mfad(password={"strength": "interactive", "opslimit": None,
                            "memlimit": None})
def test_import_refuses_hashes_weaker_than_the_floor(env):
    """SECURITY 11: with a real strength, a hash that stands for less work
    than 7 MiB x 5 passes (the weakest argon2id setting OWASP lists) is
    refused; 19 MiB at t=2 (memory x passes 38 MiB) is taken, and made
    again with mfad's parameters at the first login."""
    rc, rows, _ = _import(env, "weak,weak@example.org,en,%s\n"
                          "owasp,owasp@example.org,en,%s\n" % (
                              q(argon2id(m=8192, t=2)),
                              q(argon2id(m=19456, t=2))))
    assert rc == h.CTL_REFUSED
    assert rows == [(1, "weak", "error", "argon2id hash too weak (memory x "
                     "passes below 7 MiB x 5)"),
                    (2, "owasp", "result", "added with a password")]


# --------------------------------------------------------------------------
# Address changes are told to both owners; duplicates; BOM; EN/FR


NEW_BOB = "bob@new.example.org"
MSS_REQ_USER_IMPORT = 32        # common/mss_proto.h
MSS_REP_RESULT = 100


def _email_changed(msg):
    return "email address" in str(msg["Subject"]).lower()


def _check_notice(msg, env, secrets):
    text = h.body_text(msg)
    assert h.mask_email(NEW_BOB) in text, text
    assert "bob" in text
    assert not h.has_code(msg), text
    for s in secrets:
        assert s not in text and s not in str(msg["Subject"])
    assert NEW_BOB not in text      # masked only


def test_import_email_change_mails_both_addresses(env, tmp_path):
    """An address change by import mails a notice to the old and to the
    new address (no code, no password, no hash), is audited, and the
    same file run again is a no-op: "unchanged", no audit, no mail."""
    env.add_user("bob")
    hsh = argon2id()
    path = tmp_path / "move.csv"
    path.write_text("bob,%s,en,%s\n" % (NEW_BOB, q(hsh)))
    rc, out, err = env.ctl("import", path)
    assert rc == h.CTL_OK, err
    assert out.strip() == "line 1: bob: email changed"
    old = env.smtp.wait_for("bob@example.org", match=_email_changed)
    new = env.smtp.wait_for(NEW_BOB, match=_email_changed)
    for msg in (old, new):
        _check_notice(msg, env, (h.PASSWORD, hsh, hsh.split("$")[-1]))
    audit = json.loads(env.ctl_ok("--json", "audit", "--user", "bob"))
    assert [e["detail"] for e in audit
            if e["event"] == "user_email_changed"] == \
        ["by=root import line 1"]
    assert env.ctl_json("user", "show", "bob")["email"] == NEW_BOB

    rc, out, err = env.ctl("import", path)
    assert rc == h.CTL_OK, err
    assert out.strip() == "line 1: bob: unchanged"
    audit2 = json.loads(env.ctl_ok("--json", "audit", "--user", "bob"))
    # The outbox audits each delivery later on: leave those aside.
    assert [e for e in audit2 if not e["event"].startswith("mail_")] == \
        [e for e in audit if not e["event"].startswith("mail_")]
    time.sleep(1.5)     # mail leaves mfad asynchronously
    assert env.smtp.count(match=_email_changed) == 2


def test_import_same_user_twice_names_both_lines_writes_nothing(env,
                                                                 tmp_path):
    """Two rows for one user: an error naming both lines, exit 1, and
    nothing of the file is written (not even its good rows)."""
    path = tmp_path / "dup.csv"
    path.write_text("user,email\nzed,zed@example.org\n"
                    "yves,yves@example.org\nzed,zed@other.example.org\n")
    rc, out, err = env.ctl("import", path)
    assert rc == h.CTL_REFUSED, (out, err)
    assert out.strip() == "line 4: zed: error: same user as line 2; " \
        "nothing was imported"
    rc, out, err = env.ctl("--json", "import", path)
    assert rc == h.CTL_REFUSED
    assert json.loads(out) == [{"line": 4, "user": "zed", "error":
                                "same user as line 2; nothing was "
                                "imported"}]
    users = {u["user"] for u in env.ctl_json("user", "list")}
    assert "zed" not in users and "yves" not in users
    env.smtp.assert_no_mail(to="zed@example.org", wait=0.5)


def test_import_same_user_twice_refused_by_mfad_too(env):
    """mfad itself refuses a batch holding one user twice, naming both
    lines, whoever sends it."""
    row = lambda line, user, addr: (line.to_bytes(4, "big") + h.pstr(user)
                                    + h.pstr(addr) + h.pstr("")
                                    + h.pstr("") + (0).to_bytes(4, "big"))
    payload = (3).to_bytes(4, "big") + row(1, "zed", "zed@example.org") + \
        row(2, "yves", "yves@example.org") + \
        row(7, "zed", "zed@other.example.org")
    rtype, rep = h.raw_request(env.sock, MSS_REQ_USER_IMPORT, payload)
    assert rtype == MSS_REP_RESULT
    assert b"line 7: user zed is also on line 1; nothing was imported" \
        in rep
    users = {u["user"] for u in env.ctl_json("user", "list")}
    assert "zed" not in users and "yves" not in users


def test_import_bom_and_upper_case_language(env, tmp_path):
    """A UTF-8 byte-order mark before the header row, and EN/FR in any
    case, as spreadsheets write them."""
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfuser,email,lang\r\n"
                     b"zoe,zoe@example.org,FR\r\nyan,yan@example.org,En\r\n")
    rc, out, err = env.ctl("--json", "import", path)
    assert rc == h.CTL_OK, (out, err)
    assert _rows(out) == [(2, "zoe", "result", "added"),
                          (3, "yan", "result", "added")]
    users = {u["user"]: u for u in env.ctl_json("user", "list")}
    assert users["zoe"]["lang"] == "fr" and users["yan"]["lang"] == "en"
    # Without a header row, the mark is not part of the first user name.
    path.write_bytes(b"\xef\xbb\xbfxia,xia@example.org,EN\n")
    rc, out, err = env.ctl("--json", "import", path)
    assert rc == h.CTL_OK, (out, err)
    assert _rows(out) == [(1, "xia", "result", "added")]
