"""`mfadctl import`: batch enrollment from CSV (DESIGN.md section 4)."""

import json

import mss_harness as h

CSV = """user,email,lang
# staff of the north office
alice2,alice2@example.org,fr
bob,bob@example.org

carol,not-an-email
dave,dave@example.org,de
bob,bob@example.org
eve,alice2@example.org
too,many,fields,here
erin , erin@example.org , en
"""

FIRST = [
    (3, "alice2", "result", "added"),
    (4, "bob", "result", "added"),
    (6, "carol", "error", "invalid email address"),
    (7, "dave", "error", "language must be fr or en"),
    (8, "bob", "result", "unchanged"),
    (9, "eve", "error", "email address already used by alice2"),
    (10, None, "error", "expected USER,EMAIL[,LANG]"),
    (11, "erin", "result", "added"),
]


def _rows(out):
    return [(r["line"], r["user"], "result" if "result" in r else "error",
             r.get("result", r.get("error"))) for r in json.loads(out)]


def test_import_mixed_file_twice_is_idempotent(env, tmp_path):
    """Good, duplicate and malformed lines: one result per line with its
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
