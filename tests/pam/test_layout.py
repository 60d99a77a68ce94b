#!/usr/bin/python3
"""mfad's includes go downward only: no cycle among the headers of mfad/,
no handler that includes the transport (mfad_server.h) or the pool, and
the dispatch table (mfad_dispatch.c) the one file that sees every
handler. The store's LMDB backend stays behind its interface: only its
own files (mfad_store*.c, and the store's unit test) include lmdb.h or
mfad_store_lmdb.h, call mdb_* or name an MDB_ type, and no other header
names one. LDAP stays as low: only the directory connection (mfad_dir.c,
mfad_dir.h) and the store's directory backend (mfad_store_dir*.c and its
header mfad_store_dir_ldap.h) include ldap.h or mfad_dir.h, call ldap_*
or name an LDAP type. Run as a script, prints the include graph and the
findings.

  tests/pam/test_layout.py [SRC_ROOT]
"""

import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
INC = re.compile(r'^\s*#\s*include\s+"(mfad[\w]*\.h)"', re.M)

# Files that answer requests: they see the floor (mfad_ctx.h), never the
# transport, the pool or the table that calls them.
HANDLERS = ("mfad_admin.c", "mfad_audit.c", "mfad_auth.c", "mfad_enroll.c",
            "mfad_import.c", "mfad_outbox.c")
# Only these may include mfad_server.h: the transport and the main.
SERVER_USERS = ("mfad_server.c", "mfad.c")
UPPER = ("mfad_server.h", "mfad_pool.h", "mfad_dispatch.h")
# The handlers' prototypes: the dispatch table includes them all, the
# transport and the pool none.
PROTOS = ("mfad_admin.h", "mfad_auth.h", "mfad_enroll.h", "mfad_import.h")
ABOVE = ("mfad_server.c", "mfad_pool.c", "mfad_pool.h", "mfad_server.h")


def graph(root):
    """{file: [included mfad headers]} for mfad/*.c and mfad/*.h."""
    g = {}
    for p in sorted((root / "mfad").glob("mfad*.[ch]")):
        if p.name.startswith("mfadctl"):
            continue
        g[p.name] = sorted(set(INC.findall(p.read_text())))
    return g


def cycles(g):
    """Every include cycle among the headers, each once."""
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in g.get(n, []):
            if m not in g:
                continue
            if state.get(m) == 1:
                cyc = stack[stack.index(m):]
                k = cyc.index(min(cyc))
                cyc = cyc[k:] + cyc[:k]
                if cyc not in found:
                    found.append(cyc)
            elif state.get(m) is None:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(x for x in g if x.endswith(".h")):
        if state.get(n) is None:
            visit(n)
    return found


def unit(name):
    """The unit a file belongs to: x.c and x.h are one; the store's
    files, with its backend's own header, are one."""
    base = name.rsplit(".", 1)[0]
    return "mfad_store" if base.startswith("mfad_store") else base


def unit_graph(g):
    """{unit: [units whose headers it includes]}: x.c including y.h
    means x needs y."""
    u = {}
    for f, incs in g.items():
        edges = u.setdefault(unit(f), set())
        edges.update(unit(h) for h in incs if unit(h) != unit(f))
    return {k: sorted(v) for k, v in u.items()}


def unit_cycles(g):
    """Every cycle among units (a .c that needs a header whose own .c
    needs the first one back), each once."""
    ug = unit_graph(g)
    return cycles({k + ".h": [v + ".h" for v in vs] for k, vs in ug.items()})


def closure(g, name):
    """Headers name reaches, directly or not."""
    seen, todo = set(), list(g.get(name, []))
    while todo:
        h = todo.pop()
        if h in seen:
            continue
        seen.add(h)
        todo.extend(g.get(h, []))
    return seen


def problems(g):
    out = []
    for c in cycles(g):
        out.append("cycle: " + " -> ".join(c + [c[0]]))
    for c in unit_cycles(g):
        out.append("unit cycle: " + " -> ".join(
            x[:-2] for x in c + [c[0]]))
    for f in sorted(g):
        reach = closure(g, f)
        if f in HANDLERS or f in [h[:-1] + "h" for h in HANDLERS]:
            for u in UPPER:
                if u in reach:
                    out.append("handler %s reaches %s" % (f, u))
        elif "mfad_server.h" in reach and f not in SERVER_USERS:
            out.append("%s reaches mfad_server.h" % f)
    if "mfad_dispatch.c" in g:
        for h in PROTOS:
            if h not in g["mfad_dispatch.c"]:
                out.append("mfad_dispatch.c misses %s" % h)
        for f in ABOVE:
            for h in PROTOS:
                if h in g.get(f, []):
                    out.append("%s includes %s (only mfad_dispatch.c "
                               "may)" % (f, h))
    return out


# The LMDB backend's files, and the one test that writes past its codec.
BACKEND = re.compile(r"^mfad/mfad_store[\w]*\.c$")
BACKEND_HEADER = "mfad/mfad_store_lmdb.h"
BACKEND_TEST = "tests/unit/test_store.c"
LMDB_USE = (
    (re.compile(r"^\s*#\s*include\s*<lmdb\.h>", re.M), "includes lmdb.h"),
    (re.compile(r'^\s*#\s*include\s*"mfad_store_lmdb\.h"', re.M),
     "includes mfad_store_lmdb.h"),
    (re.compile(r"\bmdb_\w+\s*\("), "calls mdb_*"),
    (re.compile(r"\bMDB_\w+"), "names an MDB_ type or constant"),
)


def sources(root):
    """{relative path: text} of the C files that could reach LMDB."""
    out = {}
    for pat in ("mfad/*.[ch]", "tests/unit/*.[ch]", "tests/fuzz/*.[ch]"):
        for p in sorted(root.glob(pat)):
            out[p.relative_to(root).as_posix()] = p.read_text()
    return out


def lmdb_leaks(files):
    """Files outside the LMDB backend that use it, with what they do."""
    out = []
    for name in sorted(files):
        if BACKEND.match(name) or name in (BACKEND_HEADER, BACKEND_TEST):
            continue
        for pat, what in LMDB_USE:
            if pat.search(files[name]):
                out.append("%s %s" % (name, what))
    return out


# The files that may speak LDAP.
LDAP_OK = re.compile(r"^mfad/(mfad_dir\.[ch]|mfad_store_dir\w*\.c|"
                     r"mfad_store_dir_ldap\.h)$")
LDAP_USE = (
    (re.compile(r"^\s*#\s*include\s*<(ldap|lber)\.h>", re.M),
     "includes ldap.h"),
    (re.compile(r'^\s*#\s*include\s*"(mfad_dir|mfad_store_dir_ldap)\.h"',
                re.M), "includes the directory's own header"),
    (re.compile(r"\bldap_\w+\s*\("), "calls ldap_*"),
    (re.compile(r"\b(LDAP\w*|BerElement|BerValue)\s*\*|\bstruct\s+berval\b"),
     "names an LDAP type"),
)


def ldap_leaks(files):
    """Files outside the directory's layers that use LDAP."""
    out = []
    for name in sorted(files):
        if LDAP_OK.match(name):
            continue
        for pat, what in LDAP_USE:
            if pat.search(files[name]):
                out.append("%s %s" % (name, what))
    return out


def test_ldap_behind_the_directory_layers():
    assert ldap_leaks(sources(ROOT)) == []


def test_check_finds_ldap_above_the_store():
    files = {
        "mfad/mfad_auth.c": "#include <ldap.h>\n",
        "mfad/mfad_admin.c": "\tr = ldap_search_ext_s(ld, b);\n",
        "mfad/mfad_pool.h": "int f(LDAP *ld);\n",
        "mfad/mfad_enroll.c": '#include "mfad_dir.h"\n',
        "mfad/mfad_store_dir_acct.c": "#include <ldap.h>\nLDAP *ld;\n",
        "mfad/mfad_dir.h": "LDAPMessage *m;\n",
        "mfad/mfad_store_dir.h": "/* an LDAP directory, OpenLDAP */\n",
    }
    assert ldap_leaks(files) == [
        "mfad/mfad_admin.c calls ldap_*",
        "mfad/mfad_auth.c includes ldap.h",
        "mfad/mfad_enroll.c includes the directory's own header",
        "mfad/mfad_pool.h names an LDAP type",
    ]


def test_lmdb_behind_the_store():
    assert lmdb_leaks(sources(ROOT)) == []


def test_check_finds_lmdb_above_the_store():
    """The check itself: each kind of use is found outside the backend,
    none inside it."""
    files = {
        "mfad/mfad_auth.h": "int f(MDB_txn *txn);\n",
        "mfad/mfad_pool.c": "#include <lmdb.h>\n",
        "mfad/mfad_admin.c": "\tr = mdb_get(t, d, &k, &v);\n",
        "tests/fuzz/fuzz_x.c": '#include "mfad_store_lmdb.h"\n',
        "mfad/mfad_store_acct.c": "#include <lmdb.h>\nmdb_put(t);\n",
        "mfad/mfad_store_lmdb.h": "MDB_env *env;\n",
    }
    assert lmdb_leaks(files) == [
        "mfad/mfad_admin.c calls mdb_*",
        "mfad/mfad_auth.h names an MDB_ type or constant",
        "mfad/mfad_pool.c includes lmdb.h",
        "tests/fuzz/fuzz_x.c includes mfad_store_lmdb.h",
    ]


def test_no_cycle():
    assert cycles(graph(ROOT)) == []


def test_no_unit_cycle():
    """No two units need each other: the helpers that several handlers
    share sit in a unit below them (mfad_auth_shared), not in one of
    them."""
    assert unit_cycles(graph(ROOT)) == []


def test_downward_only():
    assert problems(graph(ROOT)) == []


def test_check_finds_a_cycle():
    """The check itself: a cycle and an upward include are reported."""
    g = {"a.h": ["b.h"], "b.h": ["a.h"], "mfad_auth.c": ["mfad_server.h"],
         "mfad_server.h": []}
    p = problems(g)
    assert "cycle: a.h -> b.h -> a.h" in p
    assert "handler mfad_auth.c reaches mfad_server.h" in p


def test_check_finds_a_unit_cycle():
    """The check itself: two units that include each other's header
    through their .c files are a cycle; the store's files are one."""
    g = {"mfad_x.c": ["mfad_x.h", "mfad_y.h"], "mfad_x.h": [],
         "mfad_y.c": ["mfad_y.h", "mfad_x.h"], "mfad_y.h": [],
         "mfad_store.c": ["mfad_store_lmdb.h"],
         "mfad_store_lmdb.h": ["mfad_store.h"], "mfad_store.h": []}
    assert unit_cycles(g) == [["mfad_x.h", "mfad_y.h"]]
    assert "unit cycle: mfad_x -> mfad_y -> mfad_x" in problems(g)


if __name__ == "__main__":
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    g = graph(root)
    for f, incs in g.items():
        print("%-18s -> %s" % (f, " ".join(incs)))
    p = problems(g) + lmdb_leaks(sources(root)) + ldap_leaks(sources(root))
    for line in p:
        print("FAIL", line)
    print("%d file(s), %d problem(s)" % (len(g), len(p)))
    sys.exit(1 if p else 0)
